/*
 * groupcommit.h — many small writes committed together, each answered
 * only after its batch committed.
 *
 * A write that must be durable before it is acknowledged (a bank's
 * callback: "stored before answering") costs a COMMIT, and a COMMIT with
 * fsync and synchronous_commit on costs a flush of the WAL. One COMMIT
 * per request caps a service at the disk's flush rate however many
 * threads it has. Batching is the lever, never durability: the requests'
 * threads hand their items to a queue and go on serving; a committer
 * thread takes every item waiting (up to batch_max) and applies them in
 * one transaction, then answers each. While one batch commits the next one
 * fills, so the batches grow with the load and a flush is shared by all
 * the items of a batch.
 *
 *     groupcommit_t *gc = groupcommit_new(&(groupcommit_config_t){
 *         .name = "payment_notices", .committers = 2, .batch_max = 128,
 *         .waiting_max = 2048, .commit = notices_commit, .arg = app});
 *     if (groupcommit_submit_take(gc, notice) != 0)  ... answer 429
 *
 * The module knows nothing of what an item is: the commit function gets
 * the batch, commits it as it sees fit (one transaction; deduplicated;
 * each item's outcome) and answers every item itself once the outcome is
 * known — an HTTP request deferred with http_defer is finished then.
 *
 * Admission: beyond waiting_max items waiting (not yet taken into a
 * batch), groupcommit_submit_take refuses: the caller answers "too many
 * requests, try again" instead of queueing without bound.
 *
 * Metrics (labels queue="<name>"): groupcommit_waiting (gauge),
 * groupcommit_items_total, groupcommit_batches_total,
 * groupcommit_refused_total, groupcommit_batch_duration_seconds.
 */
#ifndef CONVEYOR_GROUPCOMMIT_H
#define CONVEYOR_GROUPCOMMIT_H

#include <stddef.h>

/* Commits items[0..count) (1 <= count <= batch_max, in the order they
 * were submitted) and answers each of them; from here the items are the
 * function's (it frees them). Runs on a committer thread; with more than
 * one committer, batches run at the same time on several threads. */
typedef void (*groupcommit_fn)(void **items, size_t count, void *arg);

typedef struct {
    const char *name;    /* the queue's name, for metrics and logs */
    unsigned committers; /* threads taking batches; 0 means 1 */
    size_t batch_max;    /* most items in one batch; 0 means 64 */
    size_t waiting_max;  /* most items waiting before submit refuses; 0 means 1024 */
    groupcommit_fn commit;
    void *arg; /* passed to commit */
} groupcommit_config_t;

typedef struct groupcommit groupcommit_t;

/* Starts the committers. NULL (logged) on a missing commit function or
 * out of memory. Caller owns the result. */
groupcommit_t *groupcommit_new(const groupcommit_config_t *config);

/* Stops taking items, commits every item still waiting and joins the
 * committers; the queue stays allocated (submits are refused, -2) until
 * groupcommit_destroy. For a service's stop, while what the commit
 * function uses still exists. NULL-safe; idempotent; not concurrent with
 * itself or with destroy. */
void groupcommit_stop(groupcommit_t *gc);

/* groupcommit_stop, then frees; NULL-safe. */
void groupcommit_destroy(groupcommit_t **self_p);

/* Queues item for the next batch. 0: taken — the commit function will get
 * it exactly once; refused: -1 when waiting_max items already wait, -2
 * when the queue is stopping — the caller still owns item and answers
 * for it.
 * Never blocks on a commit. Thread-safe. */
int groupcommit_submit_take(groupcommit_t *gc, void *item);

/* Items waiting now (not yet in a batch). */
size_t groupcommit_waiting(groupcommit_t *gc);

#endif
