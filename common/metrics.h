/*
 * metrics.h — counters, gauges and latency histograms in Prometheus text.
 *
 * One registry per process, like every Prometheus client library: a module
 * asks for its series once (at setup) and keeps the pointer; updates are
 * lock-free atomics and safe from any thread. The registry owns every
 * series; they live until metrics_shutdown() at exit. Labels are written
 * as Prometheus label text, e.g. "stream=\"order\",type=\"order.placed\"",
 * and a (name, labels) pair is one series: asking again returns the same
 * pointer.
 */
#ifndef CONVEYOR_METRICS_H
#define CONVEYOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_counter metrics_counter_t;
typedef struct metrics_gauge metrics_gauge_t;
typedef struct metrics_histogram metrics_histogram_t;

/* Registers (or finds) a series. labels may be NULL or "". Returns NULL
 * only on out of memory or when name is registered with another kind; the
 * update functions accept NULL and do nothing, so callers need not check. */
metrics_counter_t *metrics_counter(const char *name, const char *labels, const char *help);
metrics_gauge_t *metrics_gauge(const char *name, const char *labels, const char *help);

/* Latency histograms take microseconds and are exposed in seconds with
 * the default buckets 0.5ms .. 10s. */
metrics_histogram_t *metrics_histogram(const char *name, const char *labels, const char *help);

void metrics_counter_add(metrics_counter_t *counter, uint64_t n);
uint64_t metrics_counter_value(const metrics_counter_t *counter);
void metrics_gauge_set(metrics_gauge_t *gauge, int64_t value);
void metrics_gauge_add(metrics_gauge_t *gauge, int64_t delta);
int64_t metrics_gauge_value(const metrics_gauge_t *gauge);
void metrics_histogram_observe_us(metrics_histogram_t *histogram, uint64_t micros);

/* The exposition text of every series (HELP and TYPE once per name, series
 * grouped by name). Caller owns the result; NULL on out of memory. */
char *metrics_render(void);

/* Frees every series; pointers handed out before are invalid afterwards. */
void metrics_shutdown(void);

#endif
