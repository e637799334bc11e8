/*
 * clock.c — wall, monotonic and test-adjustable business time (clock.h).
 */
#include "common/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_bool test_offset_enabled = false;
static _Atomic int64_t test_offset_ms = 0;

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&test_offset_ms);
}

int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_enable_test_offset(bool enabled)
{
    atomic_store(&test_offset_enabled, enabled);
}

bool clock_test_offset_enabled(void)
{
    return atomic_load(&test_offset_enabled);
}

int clock_advance_ms(int64_t delta_ms)
{
    if (!atomic_load(&test_offset_enabled) || delta_ms < 0)
        return -1;
    atomic_fetch_add(&test_offset_ms, delta_ms);
    return 0;
}

void clock_format_ms(int64_t unix_ms, char *out, unsigned out_size)
{
    time_t secs = (time_t)(unix_ms / 1000);
    int millis = (int)(unix_ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

void clock_pause_ms(int64_t ms, const atomic_bool *stop)
{
    int64_t until = clock_mono_ms() + ms;
    for (int64_t left = ms; left > 0 && !(stop && atomic_load(stop));
         left = until - clock_mono_ms()) {
        int64_t step = left < 50 ? left : 50;
        struct timespec pause = {.tv_sec = step / 1000, .tv_nsec = (step % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
}
