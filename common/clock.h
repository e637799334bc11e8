/*
 * clock.h — the service's notion of now.
 *
 * Business time (when a timer job is due, whether an invoice is three
 * business days old) is read through clock_now_ms() so that tests can move
 * it forward without sleeping: a test build enables the offset with
 * CLOCK_TEST=1 and advances it through the service's test endpoint.
 * Leases, timeouts and latency use the monotonic clock and are never
 * shifted.
 */
#ifndef CONVEYOR_CLOCK_H
#define CONVEYOR_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Wall-clock unix time in milliseconds, plus the test offset. */
int64_t clock_now_ms(void);

/* Monotonic milliseconds / microseconds for durations and deadlines. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);

/* Allows clock_advance_ms (tests only). */
void clock_enable_test_offset(bool enabled);
bool clock_test_offset_enabled(void);

/* Moves business time forward by delta_ms; -1 if the offset is not
 * enabled or delta is negative. Thread-safe. */
int clock_advance_ms(int64_t delta_ms);

/* Formats unix ms as RFC 3339 UTC with milliseconds
 * ("2026-11-22T10:00:00.123Z") into out (at least 25 bytes). */
void clock_format_ms(int64_t unix_ms, char *out, unsigned out_size);

/* Sleeps ms on the monotonic clock in steps of at most 50 ms, ending early
 * once *stop is set (NULL: never): a fake holding an answer for a minute
 * still stops within 50 ms of its SIGTERM. */
void clock_pause_ms(int64_t ms, const atomic_bool *stop);

#endif
