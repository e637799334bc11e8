/*
 * test_ledger.c — one order's money: a payment in full makes it paid, a
 * part leaves it partially paid with the rest due, money over the total
 * and money for a cancelled order come back as excess to refund, a refund
 * never exceeds what was paid and not already being refunded (so an
 * excess is not asked back twice), refusals leave the result untouched,
 * sums that would overflow are refused, F15's statuses follow from the
 * terms, and money given back on request (a return, a refund claim) is
 * no longer owed while an excess refunded owes nothing more or less; an
 * order cancelled with its parcel out holds what was paid (not excess)
 * until it is asked back on request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/payment/ledger.h"

static const ledger_position_t PREPAID_1000 = {.terms = PAY_TERMS_PREPAY, .total_minor = 1000};

static void test_full_payment_makes_it_paid(void **state)
{
    (void)state;
    ledger_after_t after;
    assert_int_equal(ledger_receive(&PREPAID_1000, 1000, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 1000);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.status, PAY_STATUS_PAID);
    assert_string_equal(pay_status_name(after.status), "paid");
}

static void test_part_leaves_the_rest_due(void **state)
{
    (void)state;
    ledger_after_t after;
    assert_int_equal(ledger_receive(&PREPAID_1000, 300, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 300);
    assert_int_equal(after.due_minor, 700);
    assert_int_equal(after.status, PAY_STATUS_PARTIALLY_PAID);
    ledger_position_t second = PREPAID_1000;
    second.received_minor = 300;
    assert_int_equal(ledger_receive(&second, 700, &after), LEDGER_OK);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.status, PAY_STATUS_PAID);
}

static void test_overpayment_is_excess(void **state)
{
    (void)state;
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 600;
    ledger_after_t after;
    assert_int_equal(ledger_receive(&position, 600, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 1200);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.excess_minor, 200);
    assert_int_equal(after.status, PAY_STATUS_PAID);
}

static void test_money_for_a_cancelled_order_is_all_excess(void **state)
{
    (void)state;
    ledger_position_t position = PREPAID_1000;
    position.cancelled = true;
    ledger_after_t after;
    assert_int_equal(ledger_receive(&position, 1000, &after), LEDGER_OK);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.excess_minor, 1000);
}

static void test_refund_in_flight_is_not_asked_twice(void **state)
{
    (void)state;
    /* 1,200 arrived for 1,000: 200 is being refunded already */
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 1200;
    position.refunding_minor = 200;
    ledger_after_t now;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.excess_minor, 0);
    assert_int_equal(now.due_minor, 0);
    assert_int_equal(now.paid_minor, 1200); /* until it lands */
    assert_int_equal(ledger_refundable(&position), 1000);

    /* it landed */
    position.refunding_minor = 0;
    position.refunded_minor = 200;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.paid_minor, 1000);
    assert_int_equal(now.excess_minor, 0);
    assert_int_equal(now.status, PAY_STATUS_PAID);
}

static void test_refund_bounded_by_what_was_paid(void **state)
{
    (void)state;
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 1000;
    position.refunded_minor = 300;
    position.refunding_minor = 200;
    ledger_after_t after = {.paid_minor = 4242};
    assert_int_equal(ledger_refund(&position, 501, &after), LEDGER_OVER_REFUND);
    assert_int_equal(after.paid_minor, 4242);
    assert_string_equal(ledger_refusal_code(LEDGER_OVER_REFUND), "refund_exceeds_paid");
    assert_int_equal(ledger_refund(&position, 500, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 700);
    assert_int_equal(after.due_minor, 1000); /* everything kept goes back */
    assert_int_equal(ledger_refund(&position, 0, &after), LEDGER_NOT_POSITIVE);
    assert_int_equal(ledger_refund(&position, -5, &after), LEDGER_NOT_POSITIVE);
}

static void test_cancelled_and_refunded_owes_nothing(void **state)
{
    (void)state;
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 1000;
    position.cancelled = true;
    ledger_after_t after;
    assert_int_equal(ledger_state(&position, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 1000);
    assert_int_equal(ledger_refund(&position, 1000, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.due_minor, 0);
}

static void test_cancelled_with_parcel_out_holds_the_money(void **state)
{
    (void)state;
    /* 1,000 paid; cancelled while the parcel is with the carrier: nothing
     * to refund by itself until the parcel is back */
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 1000;
    position.cancelled = true;
    position.awaiting_return = true;
    ledger_after_t after;
    assert_int_equal(ledger_state(&position, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.paid_minor, 1000);
    assert_int_equal(ledger_refundable(&position), 1000);

    /* money beyond the total still goes back at once */
    assert_int_equal(ledger_receive(&position, 300, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 300);
    assert_int_equal(after.due_minor, 0);

    /* the parcel received: 600 of it asked back on request, 400 held */
    assert_int_equal(ledger_refund_waived(&position, 600, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.due_minor, 0);
    position.refunding_minor = 600;
    position.waived_minor = 600;
    assert_int_equal(ledger_state(&position, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 0);

    /* the rest asked back too: nothing held, nothing excess, nothing due */
    assert_int_equal(ledger_refund_waived(&position, 400, &after), LEDGER_OK);
    assert_int_equal(after.excess_minor, 0);
    position.refunding_minor = 0;
    position.refunded_minor = 1000;
    position.waived_minor = 1000;
    assert_int_equal(ledger_state(&position, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 0);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.due_minor, 0);
}

static void test_requested_refund_of_part_leaves_nothing_due(void **state)
{
    (void)state;
    /* 3,000 paid in full; a return of 1,000 is refunded on request */
    ledger_position_t position = {.terms = PAY_TERMS_PREPAY, .total_minor = 3000};
    position.received_minor = 3000;
    ledger_after_t after = {.paid_minor = 4242};
    assert_int_equal(ledger_refund_waived(&position, 3001, &after), LEDGER_OVER_REFUND);
    assert_int_equal(after.paid_minor, 4242);
    assert_int_equal(ledger_refund_waived(&position, 1000, &after), LEDGER_OK);
    assert_int_equal(after.paid_minor, 3000); /* until it lands */
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.status, PAY_STATUS_PAID);

    /* in flight, as the store keeps it */
    position.refunding_minor = 1000;
    position.waived_minor = 1000;
    ledger_after_t now;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.due_minor, 0);
    assert_int_equal(now.excess_minor, 0);
    assert_int_equal(now.status, PAY_STATUS_PAID);

    /* it landed: 2,000 stays paid, nothing is owed */
    position.refunding_minor = 0;
    position.refunded_minor = 1000;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.paid_minor, 2000);
    assert_int_equal(now.due_minor, 0);
    assert_int_equal(now.excess_minor, 0);
    assert_int_equal(now.status, PAY_STATUS_PAID);
    assert_string_equal(pay_status_name(now.status), "paid");

    /* had it failed, the customer keeps the money and owes it again:
     * nothing due either, since it was paid */
    position.refunded_minor = 0;
    position.waived_minor = 0;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.paid_minor, 3000);
    assert_int_equal(now.due_minor, 0);

    /* waived beyond the total owes nothing, never less than nothing */
    position.waived_minor = 5000;
    assert_int_equal(ledger_state(&position, &now), LEDGER_OK);
    assert_int_equal(now.due_minor, 0);
    position.waived_minor = -1;
    assert_int_equal(ledger_state(&position, &now), LEDGER_BAD_POSITION);
}

static void test_excess_refund_leaves_what_is_owed(void **state)
{
    (void)state;
    /* 1,300 arrived for 1,000: the 300 over goes back and 1,000 stays owed */
    ledger_position_t position = PREPAID_1000;
    position.received_minor = 1300;
    ledger_after_t after;
    assert_int_equal(ledger_refund(&position, 300, &after), LEDGER_OK);
    assert_int_equal(after.due_minor, 0);
    assert_int_equal(after.excess_minor, 0);
    assert_int_equal(after.status, PAY_STATUS_PAID);
    /* asking back more than the excess leaves that much due: nothing is waived */
    position.received_minor = 1000;
    assert_int_equal(ledger_refund(&position, 300, &after), LEDGER_OK);
    assert_int_equal(after.due_minor, 300);
    assert_int_equal(after.status, PAY_STATUS_PARTIALLY_PAID);
}

static void test_overflow_and_bad_positions_refused(void **state)
{
    (void)state;
    ledger_position_t position = PREPAID_1000;
    position.received_minor = INT64_MAX - 5;
    ledger_after_t after = {.paid_minor = 4242};
    assert_int_equal(ledger_receive(&position, 10, &after), LEDGER_OVERFLOW);
    assert_int_equal(after.paid_minor, 4242);
    assert_int_equal(ledger_receive(&PREPAID_1000, 0, &after), LEDGER_NOT_POSITIVE);

    ledger_position_t bad = PREPAID_1000;
    bad.refunded_minor = 10; /* more refunded than received */
    assert_int_equal(ledger_state(&bad, &after), LEDGER_BAD_POSITION);
    assert_int_equal(ledger_receive(&bad, 10, &after), LEDGER_BAD_POSITION);
    assert_int_equal(ledger_refundable(&bad), 0);
    bad = PREPAID_1000;
    bad.total_minor = -1;
    assert_int_equal(ledger_state(&bad, &after), LEDGER_BAD_POSITION);
}

static void test_statuses_follow_the_terms(void **state)
{
    (void)state;
    ledger_after_t now;
    assert_int_equal(ledger_state(&PREPAID_1000, &now), LEDGER_OK);
    assert_int_equal(now.status, PAY_STATUS_UNPAID);
    assert_int_equal(now.due_minor, 1000);

    ledger_position_t cod = {.terms = PAY_TERMS_ON_DELIVERY, .total_minor = 1000};
    assert_int_equal(ledger_state(&cod, &now), LEDGER_OK);
    assert_int_equal(now.status, PAY_STATUS_PAY_ON_DELIVERY);
    assert_int_equal(ledger_receive(&cod, 1000, &now), LEDGER_OK); /* the courier collected */
    assert_int_equal(now.status, PAY_STATUS_PAID);

    ledger_position_t free_order = {.terms = PAY_TERMS_NONE, .total_minor = 0};
    assert_int_equal(ledger_state(&free_order, &now), LEDGER_OK);
    assert_int_equal(now.status, PAY_STATUS_NO_PAYMENT_REQUIRED);
    assert_string_equal(pay_status_name(now.status), "no_payment_required");

    pay_terms_t terms;
    assert_int_equal(pay_terms_parse("on_delivery", &terms), 0);
    assert_int_equal(terms, PAY_TERMS_ON_DELIVERY);
    assert_int_equal(pay_terms_parse("barter", &terms), -1);
    assert_int_equal(pay_terms_parse(NULL, &terms), -1);
    assert_string_equal(pay_terms_name(PAY_TERMS_PREPAY), "prepay");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_payment_makes_it_paid),
        cmocka_unit_test(test_part_leaves_the_rest_due),
        cmocka_unit_test(test_overpayment_is_excess),
        cmocka_unit_test(test_money_for_a_cancelled_order_is_all_excess),
        cmocka_unit_test(test_refund_in_flight_is_not_asked_twice),
        cmocka_unit_test(test_refund_bounded_by_what_was_paid),
        cmocka_unit_test(test_cancelled_and_refunded_owes_nothing),
        cmocka_unit_test(test_cancelled_with_parcel_out_holds_the_money),
        cmocka_unit_test(test_requested_refund_of_part_leaves_nothing_due),
        cmocka_unit_test(test_excess_refund_leaves_what_is_owed),
        cmocka_unit_test(test_overflow_and_bad_positions_refused),
        cmocka_unit_test(test_statuses_follow_the_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
