/*
 * test_uuid.c — event ids: random ones are well-formed and distinct;
 * name-based ones match RFC 4122 (checked against Python's uuid5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/uuid.h"

static void test_v4_is_version_4_and_distinct(void **state)
{
    (void)state;
    char a[UUID_TEXT_SIZE], b[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(a), 0);
    assert_int_equal(uuid_v4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    uint8_t bytes[16];
    assert_int_equal(uuid_parse(a, bytes), 0);
}

/* Ids come from a pool of random bytes (uuid.c): a child after fork()
 * must not hand out the ids its parent hands out next. */
static void test_v4_after_fork_differs_from_parent(void **state)
{
    (void)state;
    char first[UUID_TEXT_SIZE], parent_next[UUID_TEXT_SIZE], child_next[UUID_TEXT_SIZE] = "";
    assert_int_equal(uuid_v4(first), 0); /* the pool is filled now */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char id[UUID_TEXT_SIZE];
        int rc = uuid_v4(id);
        ssize_t n = write(fds[1], id, sizeof id);
        _exit(rc == 0 && n == (ssize_t)sizeof id ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], child_next, sizeof child_next), (ssize_t)sizeof child_next);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(uuid_v4(parent_next), 0);
    assert_string_not_equal(parent_next, child_next);
    assert_string_not_equal(first, child_next);
}

/* Many ids in a row (several pools' worth) are all distinct. */
static void test_v4_many_distinct(void **state)
{
    (void)state;
    enum { COUNT = 2000 };
    static char ids[COUNT][UUID_TEXT_SIZE];
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(uuid_v4(ids[i]), 0);
        assert_int_equal(ids[i][14], '4');
    }
    for (int i = 0; i < COUNT; i++)
        for (int j = i + 1; j < COUNT; j++)
            assert_string_not_equal(ids[i], ids[j]);
}

static void test_v5_matches_rfc_4122(void **state)
{
    (void)state;
    char out[UUID_TEXT_SIZE];
    /* python3: uuid.uuid5(uuid.NAMESPACE_DNS, "7") */
    assert_int_equal(uuid_v5_index("6ba7b810-9dad-11d1-80b4-00c04fd430c8", 7, out), 0);
    assert_string_equal(out, "a9f96b98-dd44-5216-ab0d-dbfc6b262edf");
    assert_int_equal(uuid_v5_index("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", 0, out), 0);
    assert_string_equal(out, "6af613b6-569c-5c22-9c37-2ed93f31d3af");
}

static void test_v5_is_stable_per_cause_and_index(void **state)
{
    (void)state;
    char cause[UUID_TEXT_SIZE], first[UUID_TEXT_SIZE], again[UUID_TEXT_SIZE],
        second[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(cause), 0);
    assert_int_equal(uuid_v5_index(cause, 0, first), 0);
    assert_int_equal(uuid_v5_index(cause, 0, again), 0);
    assert_int_equal(uuid_v5_index(cause, 1, second), 0);
    assert_string_equal(first, again);
    assert_string_not_equal(first, second);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    uint8_t bytes[16];
    assert_int_equal(uuid_parse(NULL, bytes), -1);
    assert_int_equal(uuid_parse("", bytes), -1);
    assert_int_equal(uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c", bytes), -1);
    assert_int_equal(uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8x", bytes), -1);
    assert_int_equal(uuid_parse("6ba7b810x9dad-11d1-80b4-00c04fd430c8", bytes), -1);
    assert_int_equal(uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430cg", bytes), -1);
    char out[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v5_index("not-a-uuid", 1, out), -1);
}

static void test_format_round_trips(void **state)
{
    (void)state;
    const char *text = "0123abcd-4567-89ef-0123-456789abcdef";
    uint8_t bytes[16];
    char out[UUID_TEXT_SIZE];
    assert_int_equal(uuid_parse(text, bytes), 0);
    assert_int_equal(bytes[0], 0x01);
    assert_int_equal(bytes[15], 0xef);
    uuid_format(bytes, out);
    assert_string_equal(out, text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_is_version_4_and_distinct),
        cmocka_unit_test(test_v4_after_fork_differs_from_parent),
        cmocka_unit_test(test_v4_many_distinct),
        cmocka_unit_test(test_v5_matches_rfc_4122),
        cmocka_unit_test(test_v5_is_stable_per_cause_and_index),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_format_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
