/*
 * test_clock.c — business time: clock_advance_ms moves clock_now_ms only
 * while the test offset is enabled and never backwards; the monotonic
 * clocks agree with each other and do not go back; clock_format_ms writes
 * known instants (the epoch, a leap day, milliseconds, before 1970) as
 * RFC 3339 UTC and never overruns a short buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"

static void test_advance_only_when_enabled(void **state)
{
    (void)state;
    clock_enable_test_offset(false);
    assert_false(clock_test_offset_enabled());
    int64_t before = clock_now_ms();
    assert_int_equal(clock_advance_ms(3600 * 1000), -1);
    int64_t after = clock_now_ms();
    /* not moved: far less than the hour it would have jumped */
    assert_true(after - before < 60 * 1000);

    clock_enable_test_offset(true);
    assert_true(clock_test_offset_enabled());
    before = clock_now_ms();
    assert_int_equal(clock_advance_ms(3600 * 1000), 0);
    after = clock_now_ms();
    assert_true(after - before >= 3600 * 1000);
    assert_true(after - before < 3600 * 1000 + 60 * 1000);
    /* never backwards */
    assert_int_equal(clock_advance_ms(-1), -1);
    assert_true(clock_now_ms() >= after);
    assert_int_equal(clock_advance_ms(0), 0);
    clock_enable_test_offset(false);
    /* disabling stops further moves; what was added stays */
    assert_int_equal(clock_advance_ms(1000), -1);
}

static void test_monotonic_clocks_agree(void **state)
{
    (void)state;
    int64_t ms = clock_mono_ms();
    int64_t us = clock_mono_us();
    assert_true(us / 1000 >= ms);
    assert_true(us / 1000 - ms < 1000);
    int64_t later = clock_mono_us();
    assert_true(later >= us);
}

static void test_format_known_instants(void **state)
{
    (void)state;
    char out[32];
    clock_format_ms(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    /* python3: datetime.fromtimestamp(1795341600.123, timezone.utc) */
    clock_format_ms(1795341600123LL, out, sizeof out);
    assert_string_equal(out, "2026-11-22T10:00:00.123Z");
    /* a leap day */
    clock_format_ms(1709164800007LL, out, sizeof out);
    assert_string_equal(out, "2024-02-29T00:00:00.007Z");
    /* one millisecond before the epoch */
    clock_format_ms(-1, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    clock_format_ms(-1000, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:59.000Z");
    assert_int_equal(strlen(out), 24);
}

static void test_format_never_overruns(void **state)
{
    (void)state;
    char out[12];
    memset(out, 'x', sizeof out);
    clock_format_ms(0, out, 10);
    assert_string_equal(out, "1970-01-0");
    assert_int_equal(out[10], 'x');
    assert_int_equal(out[11], 'x');
}

static atomic_bool stop_flag;

static void *set_stop_later(void *arg)
{
    (void)arg;
    struct timespec wait = {0, 100 * 1000000L};
    nanosleep(&wait, NULL);
    atomic_store(&stop_flag, true);
    return NULL;
}

/* A pause lasts its time, or ends soon after its stop flag is set (a fake
 * holding an answer for a minute, told to stop). */
static void test_pause_lasts_or_ends_on_stop(void **state)
{
    (void)state;
    int64_t started = clock_mono_ms();
    clock_pause_ms(30, NULL);
    assert_true(clock_mono_ms() - started >= 30);

    atomic_store(&stop_flag, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, set_stop_later, NULL), 0);
    started = clock_mono_ms();
    clock_pause_ms(60000, &stop_flag);
    int64_t took = clock_mono_ms() - started;
    pthread_join(thread, NULL);
    assert_true(took >= 100);
    assert_true(took < 10000); /* 60 s asked: ended by the flag, not the time */

    started = clock_mono_ms();
    clock_pause_ms(60000, &stop_flag); /* already set: no pause at all */
    assert_true(clock_mono_ms() - started < 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_advance_only_when_enabled),
        cmocka_unit_test(test_monotonic_clocks_agree),
        cmocka_unit_test(test_format_known_instants),
        cmocka_unit_test(test_format_never_overruns),
        cmocka_unit_test(test_pause_lasts_or_ends_on_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
