/*
 * test_groupcommit.c — batches of items committed by committer threads
 * (groupcommit.h), with a commit function that records what it got.
 *
 * Proves: every item submitted from many threads reaches the commit
 * function exactly once, in batches of at most batch_max, and the batches
 * grow while a commit is slow (that is the point); submitting never waits
 * for a commit; beyond waiting_max waiting items a submit is refused and
 * the caller keeps its item, and once the committers catch up it is
 * taken again; several committers commit at the same time; destroy
 * commits everything still waiting before it returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/groupcommit.h"
#include "common/log.h"
#include "common/metrics.h"

#define SUBMITTERS 8
#define PER_THREAD 500
#define ITEMS      (SUBMITTERS * PER_THREAD)

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int seen[ITEMS];      /* times each item was committed */
    size_t batches;       /* batches committed */
    size_t biggest;       /* the largest batch */
    size_t committed;     /* items committed */
    int running, busiest; /* commits running now, and at most */
    int sleep_us;         /* a slow commit */
    bool gate_closed;     /* commits wait while it is */
} ledger_t;

static ledger_t ledger;

static void ledger_reset(int sleep_us, bool gate_closed)
{
    pthread_mutex_lock(&ledger.lock);
    memset(ledger.seen, 0, sizeof ledger.seen);
    ledger.batches = ledger.biggest = ledger.committed = 0;
    ledger.running = ledger.busiest = 0;
    ledger.sleep_us = sleep_us;
    ledger.gate_closed = gate_closed;
    pthread_mutex_unlock(&ledger.lock);
}

static void gate_open(void)
{
    pthread_mutex_lock(&ledger.lock);
    ledger.gate_closed = false;
    pthread_cond_broadcast(&ledger.changed);
    pthread_mutex_unlock(&ledger.lock);
}

/* Items are ints (index + 1) smuggled in pointers: nothing to free. */
static void commit_batch(void **items, size_t count, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ledger.lock);
    ledger.running++;
    if (ledger.running > ledger.busiest)
        ledger.busiest = ledger.running;
    while (ledger.gate_closed)
        pthread_cond_wait(&ledger.changed, &ledger.lock);
    pthread_mutex_unlock(&ledger.lock);
    if (ledger.sleep_us)
        usleep((useconds_t)ledger.sleep_us); /* the COMMIT's flush */
    pthread_mutex_lock(&ledger.lock);
    for (size_t i = 0; i < count; i++) {
        intptr_t index = (intptr_t)items[i] - 1;
        assert_true(index >= 0 && index < ITEMS);
        ledger.seen[index]++;
    }
    ledger.batches++;
    ledger.committed += count;
    if (count > ledger.biggest)
        ledger.biggest = count;
    ledger.running--;
    pthread_cond_broadcast(&ledger.changed);
    pthread_mutex_unlock(&ledger.lock);
}

/* Waits up to 10 s until `count` items are committed. */
static void wait_committed(size_t count)
{
    int64_t deadline = clock_mono_ms() + 10000;
    pthread_mutex_lock(&ledger.lock);
    while (ledger.committed < count && clock_mono_ms() < deadline) {
        pthread_mutex_unlock(&ledger.lock);
        usleep(1000);
        pthread_mutex_lock(&ledger.lock);
    }
    size_t committed = ledger.committed;
    pthread_mutex_unlock(&ledger.lock);
    assert_int_equal(committed, count);
}

/* Waits until `running` commits are under way. */
static void wait_running(int running)
{
    int64_t deadline = clock_mono_ms() + 10000;
    for (;;) {
        pthread_mutex_lock(&ledger.lock);
        int now = ledger.running;
        pthread_mutex_unlock(&ledger.lock);
        if (now >= running)
            return;
        assert_true(clock_mono_ms() < deadline);
        usleep(1000);
    }
}

typedef struct {
    groupcommit_t *gc;
    int first;
} submitter_t;

static void *submit_many(void *arg)
{
    submitter_t *s = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        intptr_t item = s->first + i + 1;
        while (groupcommit_submit_take(s->gc, (void *)item) != 0)
            usleep(100); /* full: a caller would answer 429; the test tries again */
    }
    return NULL;
}

static void test_every_item_once_in_growing_batches(void **state)
{
    (void)state;
    ledger_reset(2000, false);
    groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){
        .name = "t_once", .committers = 1, .batch_max = 50, .commit = commit_batch});
    assert_non_null(gc);
    pthread_t threads[SUBMITTERS];
    submitter_t submitters[SUBMITTERS];
    for (int t = 0; t < SUBMITTERS; t++) {
        submitters[t] = (submitter_t){.gc = gc, .first = t * PER_THREAD};
        assert_int_equal(pthread_create(&threads[t], NULL, submit_many, &submitters[t]), 0);
    }
    for (int t = 0; t < SUBMITTERS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    wait_committed(ITEMS);
    groupcommit_destroy(&gc);
    assert_null(gc);
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(ledger.seen[i], 1);
    assert_true(ledger.biggest <= 50);
    /* 4,000 items at 2 ms a commit one by one would take 8 s: batched */
    assert_true(ledger.biggest > 1);
    assert_true(ledger.batches < ITEMS / 4);
}

static void test_full_queue_refuses_then_takes(void **state)
{
    (void)state;
    ledger_reset(0, true);
    groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){.name = "t_full",
                                                                .committers = 1,
                                                                .batch_max = 4,
                                                                .waiting_max = 10,
                                                                .commit = commit_batch});
    assert_non_null(gc);
    /* the first is taken into a batch that waits at the gate ... */
    assert_int_equal(groupcommit_submit_take(gc, (void *)(intptr_t)1), 0);
    wait_running(1);
    /* ... ten more wait; the eleventh is refused, and submitting never
     * waited for the commit held at the gate */
    for (intptr_t i = 2; i <= 11; i++)
        assert_int_equal(groupcommit_submit_take(gc, (void *)i), 0);
    assert_int_equal(groupcommit_waiting(gc), 10);
    assert_int_equal(groupcommit_submit_take(gc, (void *)(intptr_t)12), -1);
    assert_int_equal(ledger.committed, 0);
    gate_open();
    wait_committed(11);
    assert_int_equal(groupcommit_submit_take(gc, (void *)(intptr_t)12), 0);
    wait_committed(12);
    assert_int_equal(groupcommit_waiting(gc), 0);
    assert_true(ledger.biggest <= 4);
    groupcommit_destroy(&gc);
    for (int i = 0; i < 12; i++)
        assert_int_equal(ledger.seen[i], 1);
}

static void test_committers_run_together(void **state)
{
    (void)state;
    ledger_reset(0, true);
    groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){
        .name = "t_many", .committers = 3, .batch_max = 1, .commit = commit_batch});
    assert_non_null(gc);
    for (intptr_t i = 1; i <= 3; i++)
        assert_int_equal(groupcommit_submit_take(gc, (void *)i), 0);
    wait_running(3); /* three batches held at the gate at once */
    gate_open();
    wait_committed(3);
    assert_int_equal(ledger.busiest, 3);
    groupcommit_destroy(&gc);
}

static void test_destroy_commits_what_waits(void **state)
{
    (void)state;
    ledger_reset(1000, false);
    groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){
        .name = "t_drain", .committers = 2, .batch_max = 3, .commit = commit_batch});
    assert_non_null(gc);
    for (intptr_t i = 1; i <= 200; i++)
        assert_int_equal(groupcommit_submit_take(gc, (void *)i), 0);
    groupcommit_destroy(&gc);
    assert_int_equal(ledger.committed, 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(ledger.seen[i], 1);
    groupcommit_destroy(&gc); /* NULL-safe */
    groupcommit_destroy(NULL);
    assert_null(groupcommit_new(&(groupcommit_config_t){.name = "t_none"}));
}

/* a service's stop: what waits is committed before stop returns, and
 * what comes after is refused as "stopping" (-2), not as "full" */
static void test_stop_commits_then_refuses(void **state)
{
    (void)state;
    ledger_reset(1000, false);
    groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){
        .name = "t_stop", .committers = 2, .batch_max = 3, .commit = commit_batch});
    assert_non_null(gc);
    for (intptr_t i = 1; i <= 50; i++)
        assert_int_equal(groupcommit_submit_take(gc, (void *)i), 0);
    groupcommit_stop(gc);
    assert_int_equal(ledger.committed, 50);
    assert_int_equal(groupcommit_submit_take(gc, (void *)(intptr_t)51), -2);
    groupcommit_stop(gc); /* idempotent */
    groupcommit_destroy(&gc);
    assert_int_equal(ledger.committed, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(ledger.seen[i], 1);
    groupcommit_stop(NULL);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    pthread_mutex_init(&ledger.lock, NULL);
    pthread_cond_init(&ledger.changed, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once_in_growing_batches),
        cmocka_unit_test(test_full_queue_refuses_then_takes),
        cmocka_unit_test(test_committers_run_together),
        cmocka_unit_test(test_destroy_commits_what_waits),
        cmocka_unit_test(test_stop_commits_then_refuses),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    return failed;
}
