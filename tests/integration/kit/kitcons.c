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
 *                  then inserted into kit_external; one whose correlation
 *                  id starts with "reject-" is rejected (parked)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bulk.h"
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

/* The applied ticks go to kit_applied in one COPY per apply transaction
 * (bulk.h), the way a busy service records per-event history. */
static const bulk_spec_t applied_spec = {
    .stmt = "kitcons_applied",
    .copy = "COPY kit_applied (stream, seq, n, correlation_id, applied_by, produced_at_us, "
            "latency_us) FROM STDIN (FORMAT binary)",
    .column_oids = {PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT, PG_OID_INT4, PG_OID_INT8,
                    PG_OID_INT8},
    .column_count = 7,
};

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
    bulk_t *rows = bulk_of(event->db, &applied_spec);
    if (!rows) {
        result = inbox_retry(event, "out_of_memory", "no room to record tick %llu",
                             (unsigned long long)tick->n);
        goto done;
    }
    if (pg_array_add_text(bulk_column(rows, 0), event->stream) != 0 ||
        pg_array_add_i64(bulk_column(rows, 1), (int64_t)event->seq) != 0 ||
        pg_array_add_i64(bulk_column(rows, 2), (int64_t)tick->n) != 0 ||
        pg_array_add_text(bulk_column(rows, 3), event->correlation_id) != 0 ||
        pg_array_add_i32(bulk_column(rows, 4), (int32_t)getpid()) != 0 ||
        pg_array_add_i64(bulk_column(rows, 5), tick->committed_at_us) != 0 ||
        pg_array_add_i64(bulk_column(rows, 6), now_us() - tick->committed_at_us) != 0) {
        bulk_row_abandon(rows);
        result = inbox_retry(event, "out_of_memory", "no room to record tick %llu",
                             (unsigned long long)tick->n);
        goto done;
    }
    db_status_t status = bulk_row_done(event->db, rows);
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
    if (strncmp(event->correlation_id, "reject-", 7) == 0)
        return inbox_reject(event, "rejected_on_purpose", "external event %s is refused on purpose",
                            event->correlation_id);
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
    return db_prepare(db, "kitcons_external",
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
