/*
 * test_rules.c — the notification service's pure rules (rules.h), the
 * template data (placeholders.h) and Mustache rendering with the check of
 * unknown placeholders (render.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "services/notification/placeholders.h"
#include "services/notification/render.h"
#include "services/notification/rules.h"

static json_t *parse(const char *text)
{
    json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(value);
    return value;
}

static bool holds(const char *condition, const char *facts)
{
    json_t *c = parse(condition), *f = parse(facts);
    bool result = rules_condition_holds(c, f);
    json_decref(c);
    json_decref(f);
    return result;
}

static void test_condition(void **state)
{
    (void)state;
    const char *facts = "{\"to_status\": \"delivered\", \"group\": \"complete\", "
                        "\"delivery_method\": \"courier\", \"reassigned\": false}";
    assert_true(holds("{}", facts));
    assert_true(holds("{\"to_status\": \"delivered\"}", facts));
    assert_true(holds("{\"to_status\": [\"new\", \"delivered\"]}", facts));
    assert_false(holds("{\"to_status\": [\"new\", \"confirmed\"]}", facts));
    assert_true(holds("{\"to_status\": \"delivered\", \"delivery_method\": \"courier\"}", facts));
    assert_false(holds("{\"to_status\": \"delivered\", \"delivery_method\": \"post\"}", facts));
    assert_false(holds("{\"region\": \"Moscow\"}", facts)); /* a fact the event lacks */
    assert_true(holds("{\"reassigned\": false}", facts));
    assert_false(holds("{\"reassigned\": true}", facts));
}

static void test_condition_valid(void **state)
{
    (void)state;
    char why[RULES_WHY_SIZE];
    json_t *ok = parse("{\"to_status\": [\"new\"], \"channel\": \"website\", \"n\": 1}");
    json_t *nested = parse("{\"to_status\": {\"in\": [\"new\"]}}");
    json_t *empty = parse("{\"to_status\": []}");
    json_t *array = parse("[1]");
    assert_int_equal(0, rules_condition_valid(ok, why));
    assert_int_equal(-1, rules_condition_valid(nested, why));
    assert_non_null(strstr(why, "to_status"));
    assert_int_equal(-1, rules_condition_valid(empty, why));
    assert_int_equal(-1, rules_condition_valid(array, why));
    json_decref(ok);
    json_decref(nested);
    json_decref(empty);
    json_decref(array);
}

static void test_dedup_key(void **state)
{
    (void)state;
    char a[RULES_DEDUP_SIZE], b[RULES_DEDUP_SIZE], c[RULES_DEDUP_SIZE], d[RULES_DEDUP_SIZE];
    rules_dedup_key("e1", "status.email", "email", "a@x.ru", a);
    rules_dedup_key("e1", "status.email", "email", "a@x.ru", b);
    rules_dedup_key("e1", "status.sms", "sms", "+7999", c);
    rules_dedup_key("e2", "status.email", "email", "a@x.ru", d);
    assert_string_equal(a, b); /* the same event heard twice: one message */
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_string_equal("e1/status.email/email:a@x.ru", a);
}

#define HOUR_MS (3600LL * 1000)

/* The process's zone, as service.c sets STORE_TZ. */
static void use_zone(const char *zone)
{
    setenv("TZ", zone, 1);
    tzset();
}

/* Unix ms of a UTC date and time. */
static int64_t utc_ms(int year, int month, int day, int hour, int minute)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute};
    return (int64_t)timegm(&tm) * 1000;
}

static void test_quiet_hours(void **state)
{
    (void)state;
    quiet_hours_t quiet;
    assert_int_equal(0, rules_quiet_parse("22:00-09:00", &quiet));
    assert_int_equal(22 * 60, quiet.start_min);
    assert_int_equal(9 * 60, quiet.end_min);
    assert_int_equal(-1, rules_quiet_parse("25:00-09:00", &quiet));
    assert_int_equal(-1, rules_quiet_parse("22-9", &quiet));
    assert_int_equal(-1, rules_quiet_parse("22:00-09:60", &quiet));
    assert_int_equal(0, rules_quiet_parse("22:00-09:00", &quiet));
    use_zone("Europe/Moscow");            /* UTC+3 all year */
    int64_t day = 20000LL * 24 * HOUR_MS; /* a UTC midnight */
    /* 12:00 in Moscow (09:00 UTC): not quiet */
    assert_true(rules_quiet_release(&quiet, day + 9 * HOUR_MS) == day + 9 * HOUR_MS);
    /* 23:30 in Moscow (20:30 UTC): held until 09:00 Moscow next day (06:00 UTC) */
    assert_true(rules_quiet_release(&quiet, day + 20 * HOUR_MS + HOUR_MS / 2) ==
                day + 24 * HOUR_MS + 6 * HOUR_MS);
    /* 02:00 in Moscow (23:00 UTC the day before): held until 09:00 Moscow (06:00 UTC) */
    assert_true(rules_quiet_release(&quiet, day - HOUR_MS) == day + 6 * HOUR_MS);
    /* exactly 09:00 Moscow: free; exactly 22:00: quiet */
    assert_true(rules_quiet_release(&quiet, day + 6 * HOUR_MS) == day + 6 * HOUR_MS);
    assert_true(rules_quiet_release(&quiet, day + 19 * HOUR_MS) == day + 30 * HOUR_MS);
    /* Yekaterinburg, UTC+5: 23:30 there is 18:30 UTC, held until 09:00 there (04:00 UTC) */
    use_zone("Asia/Yekaterinburg");
    assert_true(rules_quiet_release(&quiet, day + 18 * HOUR_MS + HOUR_MS / 2) ==
                day + 24 * HOUR_MS + 4 * HOUR_MS);
    /* a window within one day */
    use_zone("UTC");
    assert_int_equal(0, rules_quiet_parse("13:00-14:00", &quiet));
    assert_true(rules_quiet_release(&quiet, day + 13 * HOUR_MS + 60000) == day + 14 * HOUR_MS);
    /* none */
    assert_int_equal(0, rules_quiet_parse("off", &quiet));
    assert_true(rules_quiet_release(&quiet, day + 23 * HOUR_MS) == day + 23 * HOUR_MS);
    use_zone("UTC");
}

/* A window that ends on the far side of a change of offset ends at its
 * wall-clock time in the new offset: Berlin moves from CET (+1) to CEST
 * (+2) at 02:00 on 29 March 2026 and back at 03:00 on 25 October 2026. */
static void test_quiet_hours_dst(void **state)
{
    (void)state;
    quiet_hours_t quiet;
    assert_int_equal(0, rules_quiet_parse("21:00-09:00", &quiet));
    use_zone("Europe/Berlin");
    /* 22:00 CET on 28 March (21:00 UTC): held until 09:00 CEST on 29 March, 07:00 UTC, not
     * 08:00 UTC (10:00 CEST) as the evening's offset would say */
    assert_true(rules_quiet_release(&quiet, utc_ms(2026, 3, 28, 21, 0)) ==
                utc_ms(2026, 3, 29, 7, 0));
    /* 22:00 CEST on 24 October (20:00 UTC): held until 09:00 CET on 25 October, 08:00 UTC,
     * not 07:00 UTC (08:00 CET, still quiet) */
    assert_true(rules_quiet_release(&quiet, utc_ms(2026, 10, 24, 20, 0)) ==
                utc_ms(2026, 10, 25, 8, 0));
    /* 02:30 CEST on 25 October, the hour lived twice (00:30 UTC): 09:00 CET, 08:00 UTC */
    assert_true(rules_quiet_release(&quiet, utc_ms(2026, 10, 25, 0, 30)) ==
                utc_ms(2026, 10, 25, 8, 0));
    /* 09:30 CEST on 29 March (07:30 UTC): free */
    assert_true(rules_quiet_release(&quiet, utc_ms(2026, 3, 29, 7, 30)) ==
                utc_ms(2026, 3, 29, 7, 30));
    /* a window ending inside the hour that does not exist (02:00-03:00 on 29 March):
     * released at the first wall-clock time after the jump, never held for a day */
    assert_int_equal(0, rules_quiet_parse("23:00-02:30", &quiet));
    int64_t release = rules_quiet_release(&quiet, utc_ms(2026, 3, 28, 23, 0));
    assert_true(release > utc_ms(2026, 3, 28, 23, 0));
    assert_true(release <= utc_ms(2026, 3, 29, 1, 30));
    use_zone("UTC");
}

static void test_verdict(void **state)
{
    (void)state;
    assert_int_equal(SEND_SENT, rules_send_verdict(NOTIFY_SENT, false, 1, 8));
    assert_int_equal(SEND_FAILED, rules_send_verdict(NOTIFY_REJECTED, false, 1, 8));
    assert_int_equal(SEND_RETRY, rules_send_verdict(NOTIFY_TRANSIENT, false, 1, 8));
    assert_int_equal(SEND_FAILED, rules_send_verdict(NOTIFY_TRANSIENT, false, 8, 8));
    assert_int_equal(SEND_OUTCOME_UNKNOWN, rules_send_verdict(NOTIFY_UNKNOWN, false, 1, 8));
    /* claimed before and never finished: never sent again */
    assert_int_equal(SEND_OUTCOME_UNKNOWN, rules_send_verdict(NOTIFY_SENT, true, 2, 8));
    assert_int_equal(SEND_OUTCOME_UNKNOWN, rules_send_verdict(NOTIFY_TRANSIENT, true, 2, 8));
}

static void test_money(void **state)
{
    (void)state;
    char out[MONEY_TEXT_SIZE];
    placeholders_money(250000, "RUB", "ru", out);
    assert_string_equal("2\u202f500,00 ₽", out);
    placeholders_money(123456789, "RUB", "en", out);
    assert_string_equal("1,234,567.89 RUB", out);
    placeholders_money(-5, "", "en", out);
    assert_string_equal("-0.05 RUB", out);
    placeholders_money(99900, "EUR", "ru", out);
    assert_string_equal("999,00 EUR", out);
}

static void test_render(void **state)
{
    (void)state;
    json_t *order =
        parse("{\"number\": 10234, \"customer_name\": \"Иван Петров\", "
              "\"lines\": [{\"line_no\": 1, \"name\": \"Лампа <LED>\", \"quantity\": 2, "
              "\"total_minor\": 500000}], "
              "\"totals\": {\"total_minor\": 530000, \"currency\": \"RUB\"}, "
              "\"extra\": {\"tracking_number\": \"RA123\"}}");
    json_t *event = parse("{\"status\": \"delivered\"}");
    placeholders_in_t in = {order, event, "ru", "доставлен", "Магазин", "http://x/optout", NULL};
    json_t *data = placeholders_data(&in);
    assert_non_null(data);
    char *out = NULL, why[RENDER_WHY_SIZE];
    assert_int_equal(0, render_template("Заказ №{{number}} {{status_label}}: "
                                        "{{#items}}{{name}} × {{quantity}}{{/items}}"
                                        "{{#tracking_number}}, трек {{tracking_number}}"
                                        "{{/tracking_number}}{{^payment_url}}.{{/payment_url}}",
                                        data, RENDER_TEXT, &out, why));
    assert_string_equal("Заказ №10234 доставлен: Лампа <LED> × 2, трек RA123.", out);
    free(out);
    assert_int_equal(
        0, render_template("<b>{{#items}}{{name}}{{/items}}</b>", data, RENDER_HTML, &out, why));
    assert_string_equal("<b>Лампа &lt;LED&gt;</b>", out);
    free(out);
    assert_int_equal(-1, render_template("{{#items}}unclosed", data, RENDER_TEXT, &out, why));
    assert_null(out);
    json_decref(data);
    json_decref(order);
    json_decref(event);
}

/* A claim's own placeholders come from its event, the money in the
 * order's currency and the template's language. */
static void test_claim_placeholders(void **state)
{
    (void)state;
    json_t *order = parse("{\"number\": 77, \"totals\": {\"total_minor\": 1, \"currency\": "
                          "\"RUB\"}}");
    json_t *event = parse("{\"claim_name\": \"Refund 05.12.2026\", \"claim_comment\": "
                          "\"ok\", \"claim_amount_minor\": 250000}");
    placeholders_in_t in = {order, event, "en", "", "Shop", "", NULL};
    json_t *data = placeholders_data(&in);
    assert_non_null(data);
    char *out = NULL, why[RENDER_WHY_SIZE];
    assert_int_equal(0, render_template("{{claim_name}} of No. {{number}}: {{claim_amount}} "
                                        "({{claim_comment}}){{^claim_type}}.{{/claim_type}}",
                                        data, RENDER_TEXT, &out, why));
    assert_string_equal("Refund 05.12.2026 of No. 77: 2,500.00 RUB (ok).", out);
    free(out);
    assert_int_equal(0, render_check("{{claim_name}} {{claim_amount}} {{claim_comment}}", why));
    json_decref(data);
    json_decref(order);
    json_decref(event);
}

/* The tracking number of a label voided with an order cancelled before
 * its parcel left is not told; a parcel out (or the parcel's own event)
 * is. */
static void test_tracking_told_once_out(void **state)
{
    (void)state;
    json_t *order = parse("{\"number\": 5, \"status\": \"cancelled\", "
                          "\"extra\": {\"tracking_number\": \"RA1\", \"carrier\": \"cdek\"}}");
    static const struct {
        const char *event, *want;
    } cases[] = {
        {"{\"to_status\": \"cancelled\", \"from_status\": \"assembled\"}", ""},
        {"{\"to_status\": \"cancelled\", \"from_status\": \"prepare_for_delivery\"}", ""},
        {"{\"to_status\": \"cancelled\", \"from_status\": \"handed_to_carrier\"}", "RA1"},
        {"{\"to_status\": \"delivered\", \"from_status\": \"handed_to_carrier\"}", "RA1"},
        {"{\"to_status\": \"assembled\"}", ""},
        {"{\"shipment_id\": \"S1\", \"carrier\": \"cdek\"}", "RA1"},
        {"{\"tracking_number\": \"RA2\"}", "RA2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *event = parse(cases[i].event);
        placeholders_in_t in = {order, event, "ru", "", "", "", NULL};
        json_t *data = placeholders_data(&in);
        assert_non_null(data);
        assert_string_equal(cases[i].want,
                            json_string_value(json_object_get(data, "tracking_number")));
        json_decref(data);
        json_decref(event);
    }
    json_decref(order);
}

/* Codes named for people when a name is known, kept as <key>_code; an
 * edit's changes as booleans. */
static void test_names_and_changes(void **state)
{
    (void)state;
    json_t *order = parse("{\"number\": 5, \"delivery_method\": \"courier\", "
                          "\"extra\": {\"carrier\": \"city_courier\"}}");
    json_t *event = parse("{\"tracking_status\": \"IT\", \"changed\": [\"lines\", "
                          "\"discount\"]}");
    placeholders_in_t in = {order, event, "ru", "", "", "", NULL};
    json_t *codes = placeholders_codes(&in);
    assert_non_null(codes);
    assert_string_equal("city_courier", json_string_value(json_object_get(codes, "carrier")));
    assert_string_equal("IT", json_string_value(json_object_get(codes, "tracking_status")));
    assert_string_equal("courier", json_string_value(json_object_get(codes, "delivery_method")));
    json_decref(codes);
    in.names = parse("{\"carrier\": \"курьерская служба магазина\", \"tracking_status\": "
                     "\"в пути\"}");
    json_t *data = placeholders_data(&in);
    assert_non_null(data);
    char *out = NULL, why[RENDER_WHY_SIZE];
    assert_int_equal(0, render_template("{{carrier}} ({{carrier_code}}), {{tracking_status}}, "
                                        "{{delivery_method}}{{#lines_changed}}, L{{/lines_changed}}"
                                        "{{#delivery_changed}}, D{{/delivery_changed}}"
                                        "{{#discount_changed}}, S{{/discount_changed}}",
                                        data, RENDER_TEXT, &out, why));
    assert_string_equal("курьерская служба магазина (city_courier), в пути, courier, L, S", out);
    free(out);
    assert_int_equal(0, render_check("{{carrier_code}} {{tracking_status_code}} "
                                     "{{delivery_method_code}}{{#lines_changed}}{{/lines_changed}}",
                                     why));
    json_decref((json_t *)(uintptr_t)in.names);
    json_decref(data);
    json_decref(order);
    json_decref(event);
}

static void test_check(void **state)
{
    (void)state;
    char why[RENDER_WHY_SIZE];
    assert_int_equal(0, render_check("Заказ №{{number}}: {{#items}}{{name}} {{total}}{{/items}}"
                                     "{{#totals}}{{total}}{{/totals}}{{! a comment }}",
                                     why));
    assert_int_equal(-1, render_check("Hello {{customer_nmae}}", why));
    assert_non_null(strstr(why, "unknown placeholder: customer_nmae"));
    /* inside a section, and inside an inverted one */
    assert_int_equal(-1, render_check("{{#items}}{{colour}}{{/items}}", why));
    assert_non_null(strstr(why, "colour"));
    assert_int_equal(-1, render_check("{{^payment_url}}{{bank_name}}{{/payment_url}}", why));
    assert_non_null(strstr(why, "bank_name"));
    assert_int_equal(-1, render_check("{{> partial}}", why));
    assert_int_equal(-1, render_check("{{#items}}", why)); /* does not parse */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_condition),
        cmocka_unit_test(test_condition_valid),
        cmocka_unit_test(test_dedup_key),
        cmocka_unit_test(test_quiet_hours),
        cmocka_unit_test(test_quiet_hours_dst),
        cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_claim_placeholders),
        cmocka_unit_test(test_tracking_told_once_out),
        cmocka_unit_test(test_names_and_changes),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
