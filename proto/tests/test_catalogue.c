/*
 * test_catalogue.c — the event catalogue in code (catalogue.h).
 *
 * Proves: topics are found by stream and type and nothing else is; no
 * topic is listed twice; and the code and docs/events.md agree — every
 * topic in code has its row in the document naming the same message, so
 * the prose an integrator reads cannot drift from what is published.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/conveyor/catalogue.h"

static void test_find(void **state)
{
    (void)state;
    const catalogue_topic_t *topic = catalogue_find("payment", "payment.succeeded");
    assert_non_null(topic);
    assert_string_equal(topic->message->short_name, "PaymentSucceeded");
    assert_string_equal(catalogue_find("ext", "intake.order")->message->short_name,
                        "OrderSubmitted");
    assert_null(catalogue_find("order", "payment.succeeded")); /* wrong stream */
    assert_null(catalogue_find("payment", "payment.refunded"));
    assert_null(catalogue_find(NULL, "order.placed"));
}

static void test_no_duplicates(void **state)
{
    (void)state;
    size_t count = 0;
    const catalogue_topic_t *all = catalogue_all(&count);
    assert_true(count >= 30);
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            assert_false(strcmp(all[i].stream, all[j].stream) == 0 &&
                         strcmp(all[i].type, all[j].type) == 0);
}

static void test_documented(void **state)
{
    (void)state;
    FILE *doc = fopen("docs/events.md", "r");
    assert_non_null(doc); /* the tests run from the repository's top */
    static char text[256 * 1024];
    size_t len = fread(text, 1, sizeof text - 1, doc);
    fclose(doc);
    text[len] = '\0';
    size_t count = 0;
    const catalogue_topic_t *all = catalogue_all(&count);
    for (size_t i = 0; i < count; i++) {
        char type[96], message[96];
        snprintf(type, sizeof type, "`%s`", all[i].type);
        snprintf(message, sizeof message, "`%s`", all[i].message->short_name);
        bool found = false;
        for (char *line = text; line && *line && !found;) {
            char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line) : strlen(line);
            char row[2048];
            snprintf(row, sizeof row, "%.*s", (int)(n < sizeof row ? n : sizeof row - 1), line);
            found = row[0] == '|' && strstr(row, type) && strstr(row, message);
            line = end ? end + 1 : NULL;
        }
        if (!found)
            fail_msg("docs/events.md has no row for %s/%s with %s", all[i].stream, all[i].type,
                     message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_no_duplicates),
        cmocka_unit_test(test_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
