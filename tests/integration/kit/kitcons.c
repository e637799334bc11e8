/*
 * kitcons.c — the kit's test consumer: a service built on
 * common/service.h that applies the "kitprod" stream and external
 * "ext/kit.external" events, recording every apply in kit_applied /
 * kit_external so the integration tests can prove exactly-once, in-order
 * delivery with SQL.
 *
 *   kit.tick       insert (stream, seq, n, correlation, pid, latency);
 *                  a tick with poison set is rejected (parked)
 *   kit.external   deduplicated by its correlation id as idempotency key,
 *                  then inserted into kit_external
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/service.h"
#include "conveyor/testing.pb-c.h"

extern const migration_set_t app_migrations;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static handler_result_t on_tick(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__KitTick *tick = conveyor__kit_tick__unpack(NULL, event->payload_len, event->payload);
    if (!tick)
        return inbox_reject(event, "bad_payload", "kit.tick payload does not unpack");
    handler_result_t result = HANDLER_OK;
    if (tick->poison) {
        result = inbox_reject(event, "poison", "tick %llu is poisoned on purpose",
                              (unsigned long long)tick->n);
        goto done;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event->stream);
    db_param_u64(&params, event->seq);
    db_param_u64(&params, tick->n);
    db_param_text(&params, event->correlation_id);
    db_param_i64(&params, getpid());
    db_param_i64(&params, tick->committed_at_us);
    db_param_i64(&params, now_us() - tick->committed_at_us);
    db_status_t status = db_run(event->db, "kitcons_applied", &params, NULL);
    if (status == DB_TRANSIENT)
        result = inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    else if (status != DB_OK)
        result = inbox_reject(event, "pg_error", "%s", db_errmsg(event->db));
done:
    conveyor__kit_tick__free_unpacked(tick, NULL);
    return result;
}

static handler_result_t on_external(inbox_event_t *event, void *arg)
{
    (void)arg;
    if (!event->correlation_id[0])
        return inbox_reject(event, "missing_key", "an external event needs a correlation id");
    int claimed = inbox_claim_key(event, "kit.external", event->correlation_id);
    if (claimed < 0)
        return inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    if (claimed == 0)
        return HANDLER_OK; /* seen before: the publisher repeated itself */
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event->correlation_id);
    db_param_text(&params, event->event_id);
    db_status_t status = db_run(event->db, "kitcons_external", &params, NULL);
    if (status == DB_TRANSIENT)
        return inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    if (status != DB_OK)
        return inbox_reject(event, "pg_error", "%s", db_errmsg(event->db));
    return HANDLER_OK;
}

static int prepare(db_t *db, void *arg)
{
    (void)arg;
    return db_prepare(db, "kitcons_applied",
                      "INSERT INTO kit_applied (stream, seq, n, correlation_id, applied_by, "
                      "produced_at_us, latency_us) VALUES ($1, $2, $3, $4, $5, $6, $7)") |
           db_prepare(db, "kitcons_external",
                      "INSERT INTO kit_external (key, event_id) VALUES ($1, $2)");
}

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "kitcons",
        .schema = "kitcons",
        .http_addr = "127.0.0.1:28092",
        .replay_addr = "tcp://127.0.0.1:25592",
        .migrations = &app_migrations,
        .db_setup = prepare,
    };
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    inbox_t *inbox = service_inbox(svc);
    if (inbox_on(inbox, "kitprod", "kit.tick", on_tick, NULL) != 0 ||
        inbox_on(inbox, "ext", "kit.external", on_external, NULL) != 0) {
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    return status;
}
