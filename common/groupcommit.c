/*
 * groupcommit.c — a bounded queue drained in batches by committer threads
 * (groupcommit.h).
 *
 * The waiting items sit in a ring of waiting_max slots under one mutex.
 * A committer sleeps until something waits, takes everything waiting up
 * to batch_max in one go, and runs the commit function outside the lock:
 * whatever arrives meanwhile waits for the next batch, which is how the
 * batches grow with the load. Stopping lets the committers drain the ring
 * before they exit, so no item that was taken is ever lost unanswered.
 */
#include "common/groupcommit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"

#define GC_DEFAULT_BATCH_MAX   64
#define GC_DEFAULT_WAITING_MAX 1024
#define GC_LABELS_MAX          128

struct groupcommit {
    char name[64];
    size_t batch_max;
    size_t waiting_max;
    groupcommit_fn commit;
    void *arg;

    pthread_mutex_t lock;
    pthread_cond_t more; /* an item arrived, or stopping */
    void **ring;         /* waiting_max slots */
    size_t head, count;
    bool stopping;

    pthread_t *threads;
    unsigned n_threads; /* started */

    metrics_gauge_t *waiting;
    metrics_counter_t *items_total;
    metrics_counter_t *batches_total;
    metrics_counter_t *refused_total;
    metrics_histogram_t *batch_duration;
};

/* Takes up to batch_max waiting items into batch; 0 once stopping and
 * drained. Blocks while nothing waits. */
static size_t take_batch(groupcommit_t *gc, void **batch)
{
    pthread_mutex_lock(&gc->lock);
    while (gc->count == 0 && !gc->stopping)
        pthread_cond_wait(&gc->more, &gc->lock);
    size_t n = gc->count < gc->batch_max ? gc->count : gc->batch_max;
    for (size_t i = 0; i < n; i++) {
        batch[i] = gc->ring[gc->head];
        gc->ring[gc->head] = NULL;
        gc->head = (gc->head + 1) % gc->waiting_max;
    }
    gc->count -= n;
    metrics_gauge_set(gc->waiting, (int64_t)gc->count);
    pthread_mutex_unlock(&gc->lock);
    return n;
}

static void *committer_main(void *arg)
{
    groupcommit_t *gc = arg;
    void **batch = malloc(sizeof *batch * gc->batch_max);
    if (!batch) {
        log_error("a committer could not start", LF_STR("queue", gc->name),
                  LF_ERR("out_of_memory"));
        return NULL;
    }
    size_t n;
    while ((n = take_batch(gc, batch)) > 0) {
        int64_t started = clock_mono_us();
        gc->commit(batch, n, gc->arg);
        metrics_histogram_observe_us(gc->batch_duration, (uint64_t)(clock_mono_us() - started));
        metrics_counter_add(gc->batches_total, 1);
        metrics_counter_add(gc->items_total, n);
    }
    free(batch);
    return NULL;
}

groupcommit_t *groupcommit_new(const groupcommit_config_t *config)
{
    if (!config || !config->commit) {
        log_error("a group commit needs a commit function", LF_ERR("bad_config"));
        return NULL;
    }
    groupcommit_t *gc = calloc(1, sizeof *gc);
    if (!gc) {
        log_error("could not allocate a group commit", LF_ERR("out_of_memory"));
        return NULL;
    }
    snprintf(gc->name, sizeof gc->name, "%s", config->name ? config->name : "groupcommit");
    gc->batch_max = config->batch_max ? config->batch_max : GC_DEFAULT_BATCH_MAX;
    gc->waiting_max = config->waiting_max ? config->waiting_max : GC_DEFAULT_WAITING_MAX;
    gc->commit = config->commit;
    gc->arg = config->arg;
    unsigned committers = config->committers ? config->committers : 1;
    pthread_mutex_init(&gc->lock, NULL);
    pthread_cond_init(&gc->more, NULL);
    gc->ring = calloc(gc->waiting_max, sizeof *gc->ring);
    gc->threads = calloc(committers, sizeof *gc->threads);
    if (!gc->ring || !gc->threads) {
        log_error("could not allocate a group commit", LF_STR("queue", gc->name),
                  LF_ERR("out_of_memory"));
        goto fail;
    }
    char labels[GC_LABELS_MAX];
    snprintf(labels, sizeof labels, "queue=\"%s\"", gc->name);
    gc->waiting = metrics_gauge("groupcommit_waiting", labels, "Items waiting for a batch.");
    gc->items_total =
        metrics_counter("groupcommit_items_total", labels, "Items committed in batches.");
    gc->batches_total = metrics_counter("groupcommit_batches_total", labels, "Batches committed.");
    gc->refused_total = metrics_counter("groupcommit_refused_total", labels,
                                        "Items refused: too many waiting, or stopping.");
    gc->batch_duration = metrics_histogram("groupcommit_batch_duration_seconds", labels,
                                           "Time to commit and answer one batch.");
    for (unsigned i = 0; i < committers; i++) {
        if (pthread_create(&gc->threads[i], NULL, committer_main, gc) != 0) {
            log_error("could not start a committer", LF_STR("queue", gc->name),
                      LF_ERR("thread_failed"));
            goto fail;
        }
        gc->n_threads++;
    }
    return gc;
fail:
    groupcommit_destroy(&gc);
    return NULL;
}

void groupcommit_stop(groupcommit_t *gc)
{
    if (!gc)
        return;
    pthread_mutex_lock(&gc->lock);
    gc->stopping = true;
    pthread_cond_broadcast(&gc->more);
    pthread_mutex_unlock(&gc->lock);
    for (unsigned i = 0; i < gc->n_threads; i++)
        pthread_join(gc->threads[i], NULL);
    gc->n_threads = 0;
    /* no committer ran (none started): what waits is committed here */
    void *item;
    while (gc->count > 0 && gc->ring) {
        item = gc->ring[gc->head];
        gc->head = (gc->head + 1) % gc->waiting_max;
        gc->count--;
        gc->commit(&item, 1, gc->arg);
    }
}

void groupcommit_destroy(groupcommit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    groupcommit_t *gc = *self_p;
    groupcommit_stop(gc);
    pthread_cond_destroy(&gc->more);
    pthread_mutex_destroy(&gc->lock);
    free(gc->threads);
    free(gc->ring);
    free(gc);
    *self_p = NULL;
}

int groupcommit_submit_take(groupcommit_t *gc, void *item)
{
    pthread_mutex_lock(&gc->lock);
    bool stopping = gc->stopping;
    bool taken = !stopping && gc->count < gc->waiting_max;
    if (taken) {
        gc->ring[(gc->head + gc->count) % gc->waiting_max] = item;
        gc->count++;
        metrics_gauge_set(gc->waiting, (int64_t)gc->count);
        pthread_cond_signal(&gc->more);
    }
    pthread_mutex_unlock(&gc->lock);
    if (!taken)
        metrics_counter_add(gc->refused_total, 1);
    return taken ? 0 : stopping ? -2 : -1;
}

size_t groupcommit_waiting(groupcommit_t *gc)
{
    pthread_mutex_lock(&gc->lock);
    size_t count = gc->count;
    pthread_mutex_unlock(&gc->lock);
    return count;
}
