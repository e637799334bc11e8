/*
 * test_russianpost.c — Russian Post's operation history read into the
 * tracking codes every parcel uses: the latest operation wins (by its
 * date, whatever the order of the records), 1 AC, 2 DE, 3 and 5 EX, 8 IT,
 * 12 AT; an empty history is NY, one of only unknown operations UN; the
 * two faults are told apart; anything else is not a reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/shipping/adapters/russianpost.h"

#define HEAD                                                                                       \
    "<?xml version=\"1.0\"?><S:Envelope xmlns:S=\"http://www.w3.org/2003/05/soap-envelope\">"      \
    "<S:Body><ns7:getOperationHistoryResponse><ns3:OperationHistoryData>"
#define TAIL "</ns3:OperationHistoryData></ns7:getOperationHistoryResponse></S:Body></S:Envelope>"
#define RECORD(id, name, date)                                                                     \
    "<ns3:historyRecord><ns3:OperationParameters><ns3:OperType><ns3:Id>" id                        \
    "</ns3:Id><ns3:Name>" name "</ns3:Name></ns3:OperType><ns3:OperDate>" date "</ns3:OperDate>"   \
    "</ns3:OperationParameters></ns3:historyRecord>"

static int parse(const char *body, carrier_track_t *track, carrier_error_t *err)
{
    memset(track, 0, sizeof *track);
    memset(err, 0, sizeof *err);
    return russianpost_reply_parse(body, strlen(body), track, err);
}

static void test_latest_operation(void **state)
{
    (void)state;
    carrier_track_t track;
    carrier_error_t err;
    assert_int_equal(0, parse(HEAD RECORD("1", "Приём", "2015-01-08T14:20:00.000+03:00")
                                  RECORD("8", "Обработка", "2015-01-09T10:00:00.000+03:00")
                                      RECORD("2", "Вручение", "2015-01-10T11:00:00+03:00") TAIL,
                              &track, &err));
    assert_string_equal("DE", track.status_code);
    assert_string_equal("Вручение", track.description);
    assert_int_equal(1420876800000LL, track.at_ms); /* 08:00 UTC */
}

static void test_out_of_order_records(void **state)
{
    (void)state;
    carrier_track_t track;
    carrier_error_t err;
    assert_int_equal(0, parse(HEAD RECORD("12", "Неудачная попытка", "2015-01-10T11:00:00Z")
                                  RECORD("8", "Обработка", "2015-01-09T10:00:00Z") TAIL,
                              &track, &err));
    assert_string_equal("AT", track.status_code);
}

static void test_codes(void **state)
{
    (void)state;
    static const struct {
        long id;
        const char *code;
    } cases[] = {{1, "AC"}, {2, "DE"}, {3, "EX"}, {5, "EX"}, {8, "IT"}, {12, "AT"}, {4, NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *code = russianpost_code_of(cases[i].id);
        if (cases[i].code)
            assert_string_equal(cases[i].code, code);
        else
            assert_null(code);
    }
}

static void test_empty_and_unknown(void **state)
{
    (void)state;
    carrier_track_t track;
    carrier_error_t err;
    assert_int_equal(0, parse(HEAD TAIL, &track, &err));
    assert_string_equal("NY", track.status_code);
    assert_int_equal(
        0, parse(HEAD RECORD("6", "Хранение", "2015-01-09T10:00:00Z") TAIL, &track, &err));
    assert_string_equal("UN", track.status_code);
}

static void test_faults(void **state)
{
    (void)state;
    carrier_track_t track;
    carrier_error_t err;
    assert_int_equal(
        1, parse("<S:Envelope><S:Body><S:Fault><S:Reason><S:Text>Authorization &amp; failed"
                 "</S:Text></S:Reason><S:Detail><ns3:AuthorizationFault>x</ns3:AuthorizationFault>"
                 "</S:Detail></S:Fault></S:Body></S:Envelope>",
                 &track, &err));
    assert_string_equal("authorization_fault", err.code);
    assert_string_equal("Authorization & failed", err.message);
    assert_int_equal(
        1, parse("<S:Fault><S:Detail><OperationHistoryFault/></S:Detail></S:Fault>", &track, &err));
    assert_string_equal("operation_history_fault", err.code);
}

static void test_not_a_reply(void **state)
{
    (void)state;
    carrier_track_t track;
    carrier_error_t err;
    assert_int_equal(-1, parse("", &track, &err));
    assert_int_equal(-1, parse("{\"status\":\"DE\"}", &track, &err));
    assert_int_equal(-1, parse(HEAD, &track, &err)); /* cut short */
    assert_int_equal(-1, parse("<getOperationHistoryResponse><OperationHistoryData>"
                               "<historyRecord>",
                               &track, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_operation),
        cmocka_unit_test(test_out_of_order_records),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_empty_and_unknown),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_not_a_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
