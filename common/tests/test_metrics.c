/*
 * test_metrics.c — the registry behind /metrics: exact Prometheus text
 * (HELP/TYPE once per name, series grouped, histogram buckets cumulative
 * with +Inf, _sum in seconds, _count), one pointer per series, kind
 * clashes refused, and counters exact under concurrent updates.
 *
 * The registry is process-wide, so every test ends with metrics_shutdown()
 * and starts from an empty registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "common/metrics.h"

static int reset_registry(void **state)
{
    (void)state;
    metrics_shutdown();
    return 0;
}

/* Asserts the whole exposition text and frees it. */
static void assert_render(const char *expected)
{
    char *text = metrics_render();
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void test_empty_registry_renders_nothing(void **state)
{
    (void)state;
    assert_render("");
}

static void test_counter_and_gauge_render_exactly(void **state)
{
    (void)state;
    metrics_counter_t *placed = metrics_counter("orders_total", "kind=\"placed\"", "Orders seen.");
    metrics_gauge_t *depth = metrics_gauge("queue_depth", NULL, "Jobs waiting.");
    /* registered after another name: still rendered with its own name */
    metrics_counter_t *failed = metrics_counter("orders_total", "kind=\"failed\"", "ignored");
    assert_non_null(placed);
    assert_non_null(depth);
    assert_non_null(failed);
    metrics_counter_add(placed, 3);
    metrics_counter_add(placed, 4);
    metrics_counter_add(failed, 1);
    metrics_gauge_set(depth, 10);
    metrics_gauge_add(depth, -12);
    assert_int_equal(metrics_counter_value(placed), 7);
    assert_int_equal(metrics_gauge_value(depth), -2);
    assert_render("# HELP orders_total Orders seen.\n"
                  "# TYPE orders_total counter\n"
                  "orders_total{kind=\"placed\"} 7\n"
                  "orders_total{kind=\"failed\"} 1\n"
                  "# HELP queue_depth Jobs waiting.\n"
                  "# TYPE queue_depth gauge\n"
                  "queue_depth -2\n");
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    metrics_histogram_t *latency =
        metrics_histogram("handler_duration_seconds", "topic=\"a\"", "Handler time.");
    assert_non_null(latency);
    metrics_histogram_observe_us(latency, 400);      /* <= 0.5ms */
    metrics_histogram_observe_us(latency, 500);      /* exactly 0.5ms: le is inclusive */
    metrics_histogram_observe_us(latency, 501);      /* 1ms bucket */
    metrics_histogram_observe_us(latency, 3000);     /* 5ms bucket */
    metrics_histogram_observe_us(latency, 10000000); /* exactly 10s */
    metrics_histogram_observe_us(latency, 20000000); /* only +Inf */
    assert_render("# HELP handler_duration_seconds Handler time.\n"
                  "# TYPE handler_duration_seconds histogram\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.0005\"} 2\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.001\"} 3\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.0025\"} 3\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.005\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.01\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.025\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.05\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.1\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.25\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"0.5\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"1\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"2.5\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"5\"} 4\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"10\"} 5\n"
                  "handler_duration_seconds_bucket{topic=\"a\",le=\"+Inf\"} 6\n"
                  "handler_duration_seconds_sum{topic=\"a\"} 30.004401\n"
                  "handler_duration_seconds_count{topic=\"a\"} 6\n");
}

static void test_histogram_without_labels(void **state)
{
    (void)state;
    metrics_histogram_t *latency = metrics_histogram("tick_seconds", "", NULL);
    metrics_histogram_observe_us(latency, 120000); /* 0.25 bucket */
    char *text = metrics_render();
    assert_non_null(text);
    /* no HELP without help text; le alone in the braces; plain _sum/_count */
    assert_non_null(strstr(text, "# TYPE tick_seconds histogram\n"));
    assert_null(strstr(text, "# HELP"));
    assert_non_null(strstr(text, "tick_seconds_bucket{le=\"0.1\"} 0\n"));
    assert_non_null(strstr(text, "tick_seconds_bucket{le=\"0.25\"} 1\n"));
    assert_non_null(strstr(text, "tick_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "tick_seconds_sum 0.120000\n"));
    assert_non_null(strstr(text, "tick_seconds_count 1\n"));
    free(text);
}

static void test_help_is_escaped(void **state)
{
    (void)state;
    metrics_counter("weird_total", NULL, "a \\ b\nc");
    assert_render("# HELP weird_total a \\\\ b\\nc\n"
                  "# TYPE weird_total counter\n"
                  "weird_total 0\n");
}

static void test_same_series_same_pointer(void **state)
{
    (void)state;
    metrics_counter_t *a = metrics_counter("events_total", "stream=\"order\"", "Events.");
    metrics_counter_t *b = metrics_counter("events_total", "stream=\"order\"", "Events.");
    metrics_counter_t *other = metrics_counter("events_total", "stream=\"stock\"", "Events.");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, other);
    /* NULL and "" are the same, unlabelled series */
    metrics_gauge_t *g1 = metrics_gauge("leader", NULL, "Leader.");
    metrics_gauge_t *g2 = metrics_gauge("leader", "", "Leader.");
    assert_ptr_equal(g1, g2);
    metrics_histogram_t *h1 = metrics_histogram("lat_seconds", "x=\"1\"", "L.");
    assert_ptr_equal(h1, metrics_histogram("lat_seconds", "x=\"1\"", "L."));
}

static void test_kind_clash_returns_null(void **state)
{
    (void)state;
    assert_non_null(metrics_counter("jobs_total", NULL, "Jobs."));
    assert_null(metrics_gauge("jobs_total", NULL, "Jobs."));
    assert_null(metrics_histogram("jobs_total", "other=\"1\"", "Jobs."));
    assert_non_null(metrics_histogram("wait_seconds", NULL, "Wait."));
    assert_null(metrics_counter("wait_seconds", NULL, "Wait."));
    /* a name Prometheus cannot parse is refused rather than breaking scrapes */
    assert_null(metrics_counter("bad name", NULL, "x"));
    assert_null(metrics_counter("9lives", NULL, "x"));
    assert_null(metrics_counter(NULL, NULL, "x"));
    assert_render("# HELP jobs_total Jobs.\n"
                  "# TYPE jobs_total counter\n"
                  "jobs_total 0\n"
                  "# HELP wait_seconds Wait.\n"
                  "# TYPE wait_seconds histogram\n"
                  "wait_seconds_bucket{le=\"0.0005\"} 0\n"
                  "wait_seconds_bucket{le=\"0.001\"} 0\n"
                  "wait_seconds_bucket{le=\"0.0025\"} 0\n"
                  "wait_seconds_bucket{le=\"0.005\"} 0\n"
                  "wait_seconds_bucket{le=\"0.01\"} 0\n"
                  "wait_seconds_bucket{le=\"0.025\"} 0\n"
                  "wait_seconds_bucket{le=\"0.05\"} 0\n"
                  "wait_seconds_bucket{le=\"0.1\"} 0\n"
                  "wait_seconds_bucket{le=\"0.25\"} 0\n"
                  "wait_seconds_bucket{le=\"0.5\"} 0\n"
                  "wait_seconds_bucket{le=\"1\"} 0\n"
                  "wait_seconds_bucket{le=\"2.5\"} 0\n"
                  "wait_seconds_bucket{le=\"5\"} 0\n"
                  "wait_seconds_bucket{le=\"10\"} 0\n"
                  "wait_seconds_bucket{le=\"+Inf\"} 0\n"
                  "wait_seconds_sum 0.000000\n"
                  "wait_seconds_count 0\n");
}

static void test_null_series_are_ignored(void **state)
{
    (void)state;
    metrics_counter_add(NULL, 1);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe_us(NULL, 1);
    assert_int_equal(metrics_counter_value(NULL), 0);
    assert_int_equal(metrics_gauge_value(NULL), 0);
}

static void test_shutdown_forgets_everything(void **state)
{
    (void)state;
    metrics_counter_add(metrics_counter("gone_total", NULL, "Gone."), 5);
    metrics_shutdown();
    assert_render("");
    /* the name is free again, even for another kind */
    metrics_gauge_t *gauge = metrics_gauge("gone_total", NULL, "Back.");
    assert_non_null(gauge);
    assert_int_equal(metrics_gauge_value(gauge), 0);
}

#define THREADS    8
#define ITERATIONS 100000

typedef struct {
    metrics_counter_t *counter;
    metrics_gauge_t *gauge;
    metrics_histogram_t *histogram;
} shared_series_t;

/* Each thread also registers a series of its own and looks up the shared
 * one, so registration races with updates and with rendering. */
static void *hammer(void *arg)
{
    const shared_series_t *shared = arg;
    for (int i = 0; i < ITERATIONS; i++) {
        metrics_counter_add(shared->counter, 1);
        metrics_gauge_add(shared->gauge, 1);
        metrics_gauge_add(shared->gauge, -1);
        metrics_histogram_observe_us(shared->histogram, (uint64_t)(i % 2000));
        if (i % 10000 == 0) {
            metrics_counter_t *again = metrics_counter("hammer_total", "t=\"shared\"", "H.");
            if (again != shared->counter)
                return (void *)1;
            char *text = metrics_render();
            free(text);
        }
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void **state)
{
    (void)state;
    shared_series_t shared = {
        .counter = metrics_counter("hammer_total", "t=\"shared\"", "H."),
        .gauge = metrics_gauge("hammer_inflight", NULL, "H."),
        .histogram = metrics_histogram("hammer_seconds", NULL, "H."),
    };
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &shared), 0);
    for (int i = 0; i < THREADS; i++) {
        void *result = (void *)1;
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_null(result);
    }
    assert_int_equal(metrics_counter_value(shared.counter), (uint64_t)THREADS * ITERATIONS);
    assert_int_equal(metrics_gauge_value(shared.gauge), 0);
    char *text = metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "hammer_total{t=\"shared\"} 800000\n"));
    assert_non_null(strstr(text, "hammer_seconds_count 800000\n"));
    assert_non_null(strstr(text, "hammer_seconds_bucket{le=\"+Inf\"} 800000\n"));
    /* i % 2000 <= 500 for 501 of every 2000 values */
    assert_non_null(strstr(text, "hammer_seconds_bucket{le=\"0.0005\"} 200400\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_empty_registry_renders_nothing, reset_registry),
        cmocka_unit_test_teardown(test_counter_and_gauge_render_exactly, reset_registry),
        cmocka_unit_test_teardown(test_histogram_buckets_are_cumulative, reset_registry),
        cmocka_unit_test_teardown(test_histogram_without_labels, reset_registry),
        cmocka_unit_test_teardown(test_help_is_escaped, reset_registry),
        cmocka_unit_test_teardown(test_same_series_same_pointer, reset_registry),
        cmocka_unit_test_teardown(test_kind_clash_returns_null, reset_registry),
        cmocka_unit_test_teardown(test_null_series_are_ignored, reset_registry),
        cmocka_unit_test_teardown(test_shutdown_forgets_everything, reset_registry),
        cmocka_unit_test_teardown(test_concurrent_updates_are_exact, reset_registry),
    };
    return cmocka_run_group_tests(tests, NULL, reset_registry);
}
