/*
 * test_receipt.c — 54-FZ receipt lines: each line's price x quantity is
 * its amount and the lines add up to the order to the kopeck (a discount
 * that does not divide splits the line), delivery is a service line, a
 * long Cyrillic name is cut on a character boundary, an advance is one
 * "payment" line, and bad lines, unknown VAT rates and overflows are
 * refused with their codes and nothing to free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/payment/receipt.h"

static void assert_exact(const receipt_t *receipt)
{
    int64_t sum = 0;
    for (size_t i = 0; i < receipt->count; i++) {
        const receipt_line_t *line = &receipt->lines[i];
        assert_int_equal(line->price_minor * (int64_t)line->quantity, line->amount_minor);
        sum += line->amount_minor;
    }
    assert_int_equal(sum, receipt->total_minor);
}

static void test_divisible_lines_stay_whole(void **state)
{
    (void)state;
    const receipt_order_line_t lines[] = {
        {.name = "Чайник", .quantity = 2, .total_minor = 300000, .vat_rate_bp = 2000},
        {.name = "Кружка", .quantity = 1, .total_minor = 49900, .vat_rate_bp = 2000},
    };
    receipt_t receipt;
    assert_int_equal(receipt_for_order(lines, 2, 0, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_OK);
    assert_int_equal(receipt.count, 2);
    assert_int_equal(receipt.lines[0].price_minor, 150000);
    assert_int_equal(receipt.lines[0].quantity, 2);
    assert_string_equal(receipt_subject_name(receipt.lines[0].subject), "commodity");
    assert_string_equal(receipt_method_name(receipt.lines[0].method), "full_prepayment");
    assert_int_equal(receipt.total_minor, 349900);
    assert_exact(&receipt);
    receipt_clear(&receipt);
    assert_null(receipt.lines);
}

static void test_discount_that_does_not_divide_splits_the_line(void **state)
{
    (void)state;
    /* 3 x 1,000.00 less a 10 % discount shared out as 299.99 off: 2,700.01 */
    const receipt_order_line_t lines[] = {
        {.name = "Фен", .quantity = 3, .total_minor = 270001, .vat_rate_bp = 2000},
    };
    receipt_t receipt;
    assert_int_equal(
        receipt_for_order(lines, 1, 35000, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
        RECEIPT_OK);
    assert_int_equal(receipt.count, 3);
    assert_int_equal(receipt.lines[0].quantity, 2);
    assert_int_equal(receipt.lines[0].price_minor, 90000);
    assert_int_equal(receipt.lines[1].quantity, 1);
    assert_int_equal(receipt.lines[1].price_minor, 90001);
    assert_string_equal(receipt.lines[2].name, "Доставка");
    assert_int_equal(receipt.lines[2].subject, RECEIPT_SUBJECT_SERVICE);
    assert_int_equal(receipt.lines[2].amount_minor, 35000);
    assert_int_equal(receipt.total_minor, 270001 + 35000);
    assert_exact(&receipt);
    receipt_clear(&receipt);
}

static void test_long_name_cut_on_a_character(void **state)
{
    (void)state;
    /* "A", then 100 two-byte letters: byte 128 falls inside a letter */
    char name[400];
    size_t at = 0;
    name[at++] = 'A';
    for (int i = 0; i < 100; i++) {
        memcpy(name + at, "Ж", 2);
        at += 2;
    }
    name[at] = '\0';
    const receipt_order_line_t lines[] = {
        {.name = name, .quantity = 1, .total_minor = 100, .vat_rate_bp = 0},
    };
    receipt_t receipt;
    assert_int_equal(receipt_for_order(lines, 1, 0, 0, RECEIPT_METHOD_FULL_PAYMENT, &receipt),
                     RECEIPT_OK);
    size_t len = strlen(receipt.lines[0].name);
    assert_int_equal(len, 127); /* "A" and 63 letters, not half a letter */
    assert_int_equal(receipt.lines[0].name[0], 'A');
    assert_int_not_equal((unsigned char)receipt.lines[0].name[len - 1], 0xD0);
    receipt_clear(&receipt);
}

static void test_advance_is_one_payment_line(void **state)
{
    (void)state;
    receipt_t receipt;
    assert_int_equal(receipt_for_advance("Оплата заказа 10234", 50000, 2000, &receipt), RECEIPT_OK);
    assert_int_equal(receipt.count, 1);
    assert_int_equal(receipt.lines[0].subject, RECEIPT_SUBJECT_PAYMENT);
    assert_int_equal(receipt.lines[0].method, RECEIPT_METHOD_PARTIAL_PREPAYMENT);
    assert_string_equal(receipt_method_name(receipt.lines[0].method), "partial_prepayment");
    assert_int_equal(receipt.total_minor, 50000);
    receipt_clear(&receipt);
    assert_int_equal(receipt_for_advance("x", 0, 2000, &receipt), RECEIPT_BAD_LINE);
    assert_int_equal(receipt_for_advance("x", 10, 1800, &receipt), RECEIPT_BAD_VAT);
}

static void test_bad_input_refused(void **state)
{
    (void)state;
    receipt_t receipt;
    receipt_order_line_t line = {
        .name = "Чайник", .quantity = 0, .total_minor = 100, .vat_rate_bp = 2000};
    assert_int_equal(receipt_for_order(&line, 1, 0, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_BAD_LINE);
    assert_null(receipt.lines);
    line.quantity = 1;
    line.vat_rate_bp = 1800; /* the old 18 %, gone since 2019 */
    assert_int_equal(receipt_for_order(&line, 1, 0, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_BAD_VAT);
    assert_string_equal(receipt_refusal_code(RECEIPT_BAD_VAT), "receipt_bad_vat");
    line.vat_rate_bp = 2000;
    line.name = "";
    assert_int_equal(receipt_for_order(&line, 1, 0, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_BAD_LINE);
    assert_int_equal(receipt_for_order(&line, 0, 0, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_NO_LINES);
    line.name = "Чайник";
    assert_int_equal(
        receipt_for_order(&line, 1, -1, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
        RECEIPT_BAD_LINE);

    const receipt_order_line_t huge[] = {
        {.name = "a", .quantity = 1, .total_minor = INT64_MAX, .vat_rate_bp = 0},
        {.name = "b", .quantity = 1, .total_minor = 1, .vat_rate_bp = 0},
    };
    assert_int_equal(receipt_for_order(huge, 2, 0, 0, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_OVERFLOW);
    assert_null(receipt.lines);
    assert_int_equal(receipt_for_order(huge, RECEIPT_ORDER_LINES_MAX + 1, 0, 0,
                                       RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
                     RECEIPT_TOO_MANY);
}

static void test_json_round_trip_and_tampering(void **state)
{
    (void)state;
    const receipt_order_line_t lines[] = {
        {.name = "Фен", .quantity = 3, .total_minor = 270001, .vat_rate_bp = 2000},
    };
    receipt_t receipt, back;
    assert_int_equal(
        receipt_for_order(lines, 1, 35000, 2000, RECEIPT_METHOD_FULL_PREPAYMENT, &receipt),
        RECEIPT_OK);
    json_t *stored = receipt_json(&receipt);
    assert_non_null(stored);
    assert_int_equal(receipt_from_json(stored, &back), RECEIPT_OK);
    assert_int_equal(back.count, receipt.count);
    assert_int_equal(back.total_minor, receipt.total_minor);
    for (size_t i = 0; i < back.count; i++) {
        assert_string_equal(back.lines[i].name, receipt.lines[i].name);
        assert_int_equal(back.lines[i].subject, receipt.lines[i].subject);
        assert_int_equal(back.lines[i].amount_minor, receipt.lines[i].amount_minor);
    }
    receipt_clear(&back);

    /* an amount that is not price x quantity is refused */
    json_object_set_new(json_array_get(stored, 0), "amount_minor", json_integer(1));
    assert_int_equal(receipt_from_json(stored, &back), RECEIPT_BAD_LINE);
    assert_null(back.lines);
    json_object_set_new(json_array_get(stored, 0), "amount_minor", json_integer(180000));
    json_object_set_new(json_array_get(stored, 0), "subject", json_string("bitcoin"));
    assert_int_equal(receipt_from_json(stored, &back), RECEIPT_BAD_LINE);
    json_t *empty = json_array();
    assert_int_equal(receipt_from_json(empty, &back), RECEIPT_NO_LINES);
    json_decref(empty);
    json_decref(stored);
    receipt_clear(&receipt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_divisible_lines_stay_whole),
        cmocka_unit_test(test_discount_that_does_not_divide_splits_the_line),
        cmocka_unit_test(test_long_name_cut_on_a_character),
        cmocka_unit_test(test_advance_is_one_payment_line),
        cmocka_unit_test(test_bad_input_refused),
        cmocka_unit_test(test_json_round_trip_and_tampering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
