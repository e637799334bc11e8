/*
 * test_claims.c — the pure rules of claims (claims.h).
 *
 * Proves F30's rules: a claim is named by its type and the day in the
 * store's zone (late evening UTC is already tomorrow in Moscow); the
 * status machine allows each move only to the roles that make it and
 * only for the types it fits (a repair goes through in_repair, an
 * exchange or a refund does not; rejected and completed are final); the
 * lines a claim names are lines of the order, never more units than
 * remain unclaimed, each priced at its share of the line's total; and
 * attachments are judged by size before they are decoded, each and
 * together, with bad base64 and file names refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/auth.h"
#include "services/order/claims.h"

static void test_name_in_store_zone(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Moscow", 1);
    tzset();
    char name[CLAIMS_NAME_SIZE];
    /* 2026-12-04T22:30:00Z is 01:30 on the 5th in Moscow */
    claims_name("exchange", 1796423400000LL, name);
    assert_string_equal(name, "Exchange 05.12.2026");
    claims_name("refund", 1796423400000LL, name);
    assert_string_equal(name, "Refund 05.12.2026");
    setenv("TZ", "UTC", 1);
    tzset();
    claims_name("repair", 1796423400000LL, name);
    assert_string_equal(name, "Repair 04.12.2026");
    claims_name("swap", 1796423400000LL, name);
    assert_string_equal(name, "");
}

static void test_machine(void **state)
{
    (void)state;
    const unsigned manager = ROLE_MANAGER, admin = ROLE_ADMIN, warehouse = ROLE_WAREHOUSE;
    assert_int_equal(claims_move_check("refund", "under_review", "approved", manager),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("refund", "under_review", "rejected", admin), CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("refund", "under_review", "approved", warehouse),
                     CLAIM_MOVE_FORBIDDEN);
    assert_int_equal(claims_move_check("refund", "needs_clarification", "under_review", warehouse),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("refund", "needs_clarification", "approved", manager),
                     CLAIM_MOVE_OK);
    assert_int_equal(
        claims_move_check("refund", "needs_clarification", "needs_clarification", manager),
        CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("refund", "under_review", "completed", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("refund", "approved", "completed", warehouse),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("refund", "approved", "in_repair", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("repair", "approved", "completed", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("repair", "approved", "in_repair", warehouse),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("repair", "in_repair", "completed", warehouse),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("repair", "in_repair", "completed", ROLE_COURIER),
                     CLAIM_MOVE_FORBIDDEN);
    assert_int_equal(claims_move_check("exchange", "rejected", "approved", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("exchange", "completed", "under_review", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    assert_int_equal(claims_move_check("swap", "under_review", "approved", admin),
                     CLAIM_MOVE_NOT_ALLOWED);
    /* conveyor completes what the bank finished, and decides nothing */
    assert_int_equal(claims_move_check("refund", "approved", "completed", ROLE_SYSTEM),
                     CLAIM_MOVE_OK);
    assert_int_equal(claims_move_check("refund", "under_review", "approved", ROLE_SYSTEM),
                     CLAIM_MOVE_FORBIDDEN);
    assert_true(claims_is_decision("needs_clarification"));
    assert_false(claims_is_decision("completed"));
}

static void test_pick_lines(void **state)
{
    (void)state;
    json_t *order = json_loads("[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Lamp\",\"quantity\":3,"
                               "\"total_minor\":1000,\"vat_rate_bp\":2000},{\"line_no\":2,\"sku\":"
                               "\"SHADE\",\"name\":\"Shade\",\"quantity\":1,\"total_minor\":500,"
                               "\"vat_rate_bp\":0}]",
                               0, NULL);
    json_t *claimed = json_loads("{\"1\":1}", 0, NULL);
    json_t *want =
        json_loads("[{\"line_no\":1,\"quantity\":2},{\"line_no\":2,\"quantity\":1}]", 0, NULL);
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    json_t *lines = NULL;
    int64_t amount = 0;
    assert_int_equal(claims_pick_lines(order, claimed, want, &lines, &amount, &problems), 0);
    assert_int_equal(json_array_size(lines), 2);
    /* 1000 x 2 / 3 = 666 (rounded down) + 500 */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, 0), "total_minor")),
                     666);
    assert_int_equal(amount, 1166);
    json_decref(lines);

    json_t *bad = json_loads("[{\"line_no\":1,\"quantity\":3},{\"line_no\":7,\"quantity\":1},"
                             "{\"line_no\":2,\"quantity\":0},{\"line_no\":1,\"quantity\":1}]",
                             0, NULL);
    assert_int_equal(claims_pick_lines(order, claimed, bad, &lines, &amount, &problems), 4);
    assert_null(lines);
    const json_t *errors = problems_errors(&problems);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "code")),
                        "exceeds_ordered");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "code")),
                        "unknown");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 2), "code")),
                        "not_positive");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 3), "code")),
                        "repeated");
    json_t *none = json_array();
    assert_int_equal(claims_pick_lines(order, NULL, none, &lines, &amount, &problems), 1);
    problems_release(&problems);
    json_decref(none);
    json_decref(bad);
    json_decref(order);
    json_decref(claimed);
    json_decref(want);
}

static claims_attach_t read_one(const char *json, claim_attachment_t **items, size_t *count,
                                problems_t *problems)
{
    static const claims_limits_t limits = {.max_count = 2, .max_bytes = 6, .max_total = 9};
    char why[160];
    json_t *value = json_loads(json, 0, NULL);
    assert_non_null(value);
    claims_attach_t verdict =
        claims_read_attachments(value, &limits, items, count, problems, why, sizeof why);
    json_decref(value);
    return verdict;
}

static void test_attachments(void **state)
{
    (void)state;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    claim_attachment_t *items = NULL;
    size_t count = 0;
    /* "hello!" standard base64 with padding, and "a?" with '/' and '=' */
    assert_int_equal(read_one("[{\"filename\":\"a.txt\",\"content_type\":\"text/plain\",\"data\":"
                              "\"aGVsbG8h\"},{\"filename\":\"b\",\"data\":\"YT8=\"}]",
                              &items, &count, &problems),
                     CLAIMS_ATTACH_OK);
    assert_int_equal(count, 2);
    assert_int_equal(items[0].len, 6);
    assert_memory_equal(items[0].data, "hello!", 6);
    assert_string_equal(items[1].content_type, "application/octet-stream");
    assert_int_equal(items[1].len, 2);
    claims_attachments_free(&items, count);
    assert_null(items);
    /* seven bytes: one too many */
    assert_int_equal(
        read_one("[{\"filename\":\"a\",\"data\":\"aGVsbG8hIQ\"}]", &items, &count, &problems),
        CLAIMS_ATTACH_TOO_LARGE);
    /* 6 + 6 > 9 together */
    assert_int_equal(read_one("[{\"filename\":\"a\",\"data\":\"aGVsbG8h\"},{\"filename\":\"b\","
                              "\"data\":\"aGVsbG8h\"}]",
                              &items, &count, &problems),
                     CLAIMS_ATTACH_TOTAL_TOO_LARGE);
    assert_null(items);
    assert_int_equal(read_one("[{\"filename\":\"a\",\"data\":\"a\"},{\"filename\":\"b\",\"data\":"
                              "\"a\"},{\"filename\":\"c\",\"data\":\"a\"}]",
                              &items, &count, &problems),
                     CLAIMS_ATTACH_INVALID); /* three: too many */
    problems_release(&problems);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(read_one("[{\"filename\":\"../x\",\"content_type\":\"a b\",\"data\":\"a*b\"}]",
                              &items, &count, &problems),
                     CLAIMS_ATTACH_INVALID);
    assert_int_equal(problems_count(&problems), 3);
    problems_release(&problems);
}

/* A raw upload's Content-Type against the allowed list: parameters and
 * case dropped, a whole type by "type/ *", anything else refused. */
static void test_media_types(void **state)
{
    (void)state;
    const char *allowed = "image/jpeg, image/png,application/pdf , video/*";
    char type[CLAIMS_CONTENT_TYPE_MAX + 1];
    assert_true(claims_media_type_allowed(allowed, "image/jpeg", type, sizeof type));
    assert_string_equal(type, "image/jpeg");
    assert_true(claims_media_type_allowed(allowed, " Image/PNG ; name=x", type, sizeof type));
    assert_string_equal(type, "image/png");
    assert_true(claims_media_type_allowed(allowed, "application/pdf", type, sizeof type));
    assert_true(claims_media_type_allowed(allowed, "video/mp4", type, sizeof type));
    assert_string_equal(type, "video/mp4");
    assert_false(claims_media_type_allowed(allowed, "image/gif", type, sizeof type));
    assert_string_equal(type, "");
    assert_false(claims_media_type_allowed(allowed, "image/jpegx", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "image/jpe", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "text/html", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "video/", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "/mp4", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "image/jpeg/x", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "image/\"jpeg", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, "", type, sizeof type));
    assert_false(claims_media_type_allowed(allowed, NULL, type, sizeof type));
    assert_false(claims_media_type_allowed("", "image/jpeg", type, sizeof type));
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "image/", 6);
    assert_false(claims_media_type_allowed("image/*", big, type, sizeof type));
    char small[6];
    assert_false(claims_media_type_allowed(allowed, "image/jpeg", small, sizeof small));
    assert_true(claims_filename_valid("photo 1.jpg"));
    assert_false(claims_filename_valid("../x"));
    assert_false(claims_filename_valid("a\"b"));
    assert_false(claims_filename_valid(""));
    assert_false(claims_filename_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_in_store_zone), cmocka_unit_test(test_machine),
        cmocka_unit_test(test_pick_lines),         cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_media_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
