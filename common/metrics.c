/*
 * metrics.c — the process-wide registry behind metrics.h.
 *
 * Series are looked up (and created) rarely — at setup, or per HTTP status
 * the first time it is seen — and updated constantly from every thread. So
 * the two paths are split: registration and rendering take one mutex; an
 * update is a single relaxed C11 atomic on memory that never moves (each
 * series is allocated once and freed only by metrics_shutdown()).
 *
 * The registry is a list of families (one per metric name, with its kind
 * and HELP text) each holding its series in registration order, which is
 * exactly the shape of the Prometheus text format: HELP and TYPE once per
 * name, then that name's series together.
 *
 * Histograms keep one counter per bucket (not cumulative) plus an overflow
 * slot; rendering sums them up, so the +Inf bucket and _count are always
 * equal even while observations race with a scrape.
 */
#include "common/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"

/* The exposition text never grows beyond this (a sanity cap, not a
 * budget: a few thousand series render to well under 1 MiB). */
#define METRICS_RENDER_MAX (64u * 1024 * 1024)

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind_t;

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

/* Default latency buckets: upper bounds in microseconds and as the `le`
 * label text (seconds, as Prometheus expects). */
#define HISTOGRAM_BUCKETS 14
static const uint64_t bucket_bounds_us[HISTOGRAM_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const char *const bucket_le[HISTOGRAM_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

struct metrics_counter {
    _Atomic uint64_t value;
};

struct metrics_gauge {
    _Atomic int64_t value;
};

struct metrics_histogram {
    _Atomic uint64_t bucket_counts[HISTOGRAM_BUCKETS + 1]; /* last: above 10s */
    _Atomic uint64_t sum_us;
};

typedef struct series {
    struct series *next;
    char *labels; /* "" when the series has none */
    union {
        struct metrics_counter counter;
        struct metrics_gauge gauge;
        struct metrics_histogram histogram;
    } u;
} series_t;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    metric_kind_t kind;
    series_t *series_head;
    series_t *series_tail;
} family_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static family_t *families_head = NULL;
static family_t *families_tail = NULL;

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. A bad name would
 * make every scrape of the process fail, so it is refused up front. */
static bool name_is_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        bool digit = *p >= '0' && *p <= '9';
        if (!alpha && !(digit && p != name))
            return false;
    }
    return true;
}

static char *copy_text(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, text, len + 1);
    return copy;
}

static family_t *family_find(const char *name)
{
    for (family_t *family = families_head; family; family = family->next)
        if (strcmp(family->name, name) == 0)
            return family;
    return NULL;
}

static family_t *family_add(const char *name, metric_kind_t kind, const char *help)
{
    family_t *family = calloc(1, sizeof *family);
    if (!family)
        return NULL;
    family->name = copy_text(name);
    family->help = copy_text(help ? help : "");
    if (!family->name || !family->help) {
        free(family->name);
        free(family->help);
        free(family);
        return NULL;
    }
    family->kind = kind;
    if (families_tail)
        families_tail->next = family;
    else
        families_head = family;
    families_tail = family;
    return family;
}

static series_t *series_find_or_add(family_t *family, const char *labels)
{
    for (series_t *series = family->series_head; series; series = series->next)
        if (strcmp(series->labels, labels) == 0)
            return series;
    series_t *series = calloc(1, sizeof *series);
    if (!series)
        return NULL;
    series->labels = copy_text(labels);
    if (!series->labels) {
        free(series);
        return NULL;
    }
    if (family->series_tail)
        family->series_tail->next = series;
    else
        family->series_head = series;
    family->series_tail = series;
    return series;
}

/* Finds or creates the series (name, labels) of the given kind; NULL on a
 * bad name, a kind clash (logged) or out of memory. */
static series_t *registry_get(const char *name, const char *labels, const char *help,
                              metric_kind_t kind)
{
    if (!name_is_valid(name)) {
        log_error("invalid metric name", LF_STR("metric", name), LF_ERR("metric_name"));
        return NULL;
    }
    series_t *series = NULL;
    pthread_mutex_lock(&registry_lock);
    family_t *family = family_find(name);
    if (family && family->kind != kind) {
        log_error("metric registered with another kind", LF_STR("metric", name),
                  LF_STR("kind", kind_names[family->kind]), LF_STR("requested", kind_names[kind]),
                  LF_ERR("metric_kind_clash"));
        goto done;
    }
    if (!family)
        family = family_add(name, kind, help);
    if (family)
        series = series_find_or_add(family, labels ? labels : "");
done:
    pthread_mutex_unlock(&registry_lock);
    return series;
}

metrics_counter_t *metrics_counter(const char *name, const char *labels, const char *help)
{
    series_t *series = registry_get(name, labels, help, KIND_COUNTER);
    return series ? &series->u.counter : NULL;
}

metrics_gauge_t *metrics_gauge(const char *name, const char *labels, const char *help)
{
    series_t *series = registry_get(name, labels, help, KIND_GAUGE);
    return series ? &series->u.gauge : NULL;
}

metrics_histogram_t *metrics_histogram(const char *name, const char *labels, const char *help)
{
    series_t *series = registry_get(name, labels, help, KIND_HISTOGRAM);
    return series ? &series->u.histogram : NULL;
}

void metrics_counter_add(metrics_counter_t *counter, uint64_t n)
{
    if (counter)
        atomic_fetch_add_explicit(&counter->value, n, memory_order_relaxed);
}

uint64_t metrics_counter_value(const metrics_counter_t *counter)
{
    return counter ? atomic_load_explicit(&counter->value, memory_order_relaxed) : 0;
}

void metrics_gauge_set(metrics_gauge_t *gauge, int64_t value)
{
    if (gauge)
        atomic_store_explicit(&gauge->value, value, memory_order_relaxed);
}

void metrics_gauge_add(metrics_gauge_t *gauge, int64_t delta)
{
    if (gauge)
        atomic_fetch_add_explicit(&gauge->value, delta, memory_order_relaxed);
}

int64_t metrics_gauge_value(const metrics_gauge_t *gauge)
{
    return gauge ? atomic_load_explicit(&gauge->value, memory_order_relaxed) : 0;
}

void metrics_histogram_observe_us(metrics_histogram_t *histogram, uint64_t micros)
{
    if (!histogram)
        return;
    size_t slot = 0;
    while (slot < HISTOGRAM_BUCKETS && micros > bucket_bounds_us[slot])
        slot++;
    atomic_fetch_add_explicit(&histogram->bucket_counts[slot], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->sum_us, micros, memory_order_relaxed);
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static int render_help(strbuf_t *out, const family_t *family)
{
    if (!*family->help)
        return 0;
    if (strbuf_appendf(out, "# HELP %s ", family->name) != 0)
        return -1;
    for (const char *p = family->help; *p; p++) {
        int rc = *p == '\\'   ? strbuf_append(out, "\\\\", 2)
                 : *p == '\n' ? strbuf_append(out, "\\n", 2)
                              : strbuf_append(out, p, 1);
        if (rc != 0)
            return -1;
    }
    return strbuf_append_str(out, "\n");
}

/* "{labels}" or nothing. */
static int render_labels(strbuf_t *out, const char *labels)
{
    return *labels ? strbuf_appendf(out, "{%s}", labels) : 0;
}

static int render_histogram(strbuf_t *out, const char *name, const series_t *series)
{
    const struct metrics_histogram *histogram = &series->u.histogram;
    const char *sep = *series->labels ? "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= HISTOGRAM_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&histogram->bucket_counts[i], memory_order_relaxed);
        const char *le = i < HISTOGRAM_BUCKETS ? bucket_le[i] : "+Inf";
        if (strbuf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, series->labels, sep,
                           le, cumulative) != 0)
            return -1;
    }
    uint64_t sum_us = atomic_load_explicit(&histogram->sum_us, memory_order_relaxed);
    if (strbuf_appendf(out, "%s_sum", name) != 0 || render_labels(out, series->labels) != 0 ||
        strbuf_appendf(out, " %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000, sum_us % 1000000) !=
            0 ||
        strbuf_appendf(out, "%s_count", name) != 0 || render_labels(out, series->labels) != 0 ||
        strbuf_appendf(out, " %" PRIu64 "\n", cumulative) != 0)
        return -1;
    return 0;
}

static int render_series(strbuf_t *out, const family_t *family, const series_t *series)
{
    if (family->kind == KIND_HISTOGRAM)
        return render_histogram(out, family->name, series);
    if (strbuf_append_str(out, family->name) != 0 || render_labels(out, series->labels) != 0)
        return -1;
    if (family->kind == KIND_COUNTER)
        return strbuf_appendf(out, " %" PRIu64 "\n",
                              atomic_load_explicit(&series->u.counter.value, memory_order_relaxed));
    return strbuf_appendf(out, " %" PRId64 "\n",
                          atomic_load_explicit(&series->u.gauge.value, memory_order_relaxed));
}

char *metrics_render(void)
{
    strbuf_t out;
    strbuf_init(&out, METRICS_RENDER_MAX);
    char *text = NULL;
    pthread_mutex_lock(&registry_lock);
    for (const family_t *family = families_head; family; family = family->next) {
        if (render_help(&out, family) != 0 ||
            strbuf_appendf(&out, "# TYPE %s %s\n", family->name, kind_names[family->kind]) != 0)
            goto done;
        for (const series_t *series = family->series_head; series; series = series->next)
            if (render_series(&out, family, series) != 0)
                goto done;
    }
    text = strbuf_take(&out);
done:
    pthread_mutex_unlock(&registry_lock);
    strbuf_release(&out);
    return text;
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&registry_lock);
    family_t *family = families_head;
    families_head = NULL;
    families_tail = NULL;
    pthread_mutex_unlock(&registry_lock);
    while (family) {
        family_t *next_family = family->next;
        series_t *series = family->series_head;
        while (series) {
            series_t *next_series = series->next;
            free(series->labels);
            free(series);
            series = next_series;
        }
        free(family->name);
        free(family->help);
        free(family);
        family = next_family;
    }
}
