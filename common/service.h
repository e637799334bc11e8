/*
 * service.h — the wiring every conveyor service shares.
 *
 * A service's main.c is wiring only (DESIGN.md "One service, inside"):
 *
 *     service_t *svc = service_new(&def, argc, argv);   config, logs, migrations
 *     inbox_on(service_inbox(svc), "inventory", "stock.reserved", on_reserved, &ctx);
 *     jobs_register(service_jobs(svc), "send_sms", job_send_sms, &ctx);
 *     http_route(service_http(svc), "POST", "/v1/orders", api_create_order, &ctx);
 *     return service_run(svc);                            until SIGTERM
 *
 * service_new reads the kit's environment (BUS_PUB_ENDPOINT, DATABASE_URL,
 * ... DESIGN.md "Ports and environment") plus the service's own specs,
 * prints the effective configuration with secrets masked, and builds the
 * relay, replay server, inbox, job workers and HTTP server; it touches no
 * database. service_run starts HTTP at once (/healthz, /readyz, /metrics;
 * every other route answers 503 "starting" meanwhile), then waits for the
 * database — with backoff, /readyz saying why, a log line when the wait
 * begins and once a minute while it lasts, never giving up on a
 * transient failure — and applies the kit's and the service's migrations
 * as the schema's owner; only then the relay, inbox and job workers start
 * and the routes open. On SIGTERM or SIGINT (also while waiting) it stops
 * them in order: HTTP stops accepting, the applier finishes the
 * transaction in hand, job workers finish their calls and give back their
 * leases, the relay publishes what is committed, and the process exits 0.
 * A migration that fails for good (an edited migration, an error in its
 * SQL) stops the start: exit 1.
 */
#ifndef CONVEYOR_SERVICE_H
#define CONVEYOR_SERVICE_H

#include "common/auth.h"
#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/inbox.h"
#include "common/jobs.h"
#include "common/lock.h"
#include "common/migrate.h"
#include "common/relay.h"
#include "common/tx.h"

typedef struct {
    const char *name; /* the service and its stream: "order" */
    /* Defaults of DB_SCHEMA, HTTP_ADDR and REPLAY_ADDR. Leave them NULL: a
     * NULL one is taken from the row of deploy/services.tsv named `name`
     * (built into the kit, common/service_table.h): its schema,
     * "0.0.0.0:<http>", "tcp://0.0.0.0:<replay>". A service that leaves
     * one NULL and has no row does not start (unknown_service). */
    const char *schema;
    const char *http_addr;
    const char *replay_addr;
    const config_spec_t *config;       /* the service's own variables, or NULL */
    const migration_set_t *migrations; /* the service's own (app_migrations), or NULL */
    /* Registers the service's statements on every session the kit opens
     * for its code: the applier's, the job workers', the HTTP pool's. */
    db_setup_fn db_setup;
    void *db_setup_arg;
    /* Refuse to start without AUTH_JWT_KEYS (every service with a staff API). */
    bool requires_auth;
    /* Per-service defaults the environment may still override: */
    int apply_batch_max;    /* APPLY_BATCH_MAX when unset; 0: the kit's 500 */
    const char *pg_options; /* settings of every session, "-c name=value ...", added to
                               PGOPTIONS unless the operator's PGOPTIONS sets the name */
} service_def_t;

typedef struct service service_t;

/* Everything up to but not including starting threads. NULL (logged) on a
 * bad configuration or failed migrations; `--help` prints the variables
 * and exits 0. Caller owns the result. */
service_t *service_new(const service_def_t *def, int argc, char **argv);
void service_destroy(service_t **self_p);

/* The parts, for wiring (borrowed; valid until service_destroy). */
const config_t *service_config(const service_t *svc);
inbox_t *service_inbox(service_t *svc);
jobs_t *service_jobs(service_t *svc);
http_server_t *service_http(service_t *svc);
relay_t *service_relay(service_t *svc);
db_pool_t *service_db_pool(service_t *svc); /* sessions for HTTP handlers */
const char *service_name(const service_t *svc);

/* Staff token verification (and issuing), from AUTH_JWT_KEYS; NULL when
 * not configured (only kit test programs run so). */
const auth_t *service_auth(const service_t *svc);

/* HTTP_TRUSTED_PROXIES: the reverse proxies whose X-Forwarded-For names
 * the client (http_req_client). */
const http_proxies_t *service_proxies(const service_t *svc);

/* The calling thread's Redis locker for REDIS_URL, created on first use and
 * destroyed when the thread ends. Borrowed; NULL on out of memory. */
locker_t *service_locker(service_t *svc);
const char *service_schema(const service_t *svc);

/* After a transaction that appended outbox rows committed on db (an HTTP
 * handler's, say): publish now, and wake the job workers if it enqueued
 * jobs. */
void service_committed(service_t *svc, db_t *db);

/* Runs body in a transaction on db by the one retry policy (tx.h), then
 * publishes what it appended. DB_OK: committed (or abandoned: see
 * tx_out); anything else is the failure to answer for
 * (service_answer_db_failure). tx_out may be NULL. */
db_status_t service_tx(service_t *svc, db_t *db, tx_body_fn body, void *arg, tx_t *tx_out);

/* How long a route waits for a free session: one wait for every service. */
#define SERVICE_SESSION_WAIT_MS 3000

/* A session from the HTTP pool for a route, waiting up to wait_ms; NULL
 * once it answered 503 pg_unavailable (Retry-After) when none is free. The
 * caller owns it until service_session_release. */
db_t *service_session(service_t *svc, http_response_t *res, int wait_ms);
void service_session_release(service_t *svc, db_t **db_p);

/* Answers a failed database call on an HTTP response by db_failure_of:
 * 503 with Retry-After when transient (pg_unavailable, out_of_memory;
 * outcome_unknown says the change may have been made: read it back before
 * trying again), 422 for overflow and bad_data, 409 for constraint, 500
 * pg_error; logs once with `what` (the operation), the code and the
 * database's message. */
void service_answer_db_failure(http_response_t *res, const db_t *db, db_status_t status,
                               const char *what);

/* Starts everything and blocks until SIGTERM/SIGINT; returns the process
 * exit status. */
int service_run(service_t *svc);

/* fn(arg) is called once when service_run hears its stop signal, before
 * the kit takes its parts down: a program's own threads that call into
 * the service (service_tx, service_committed: a group commit's committers,
 * a producer) end there, while the relay, the pool and the HTTP server
 * they use still exist. One per service; set it before service_run. */
void service_on_stopping(service_t *svc, void (*fn)(void *arg), void *arg);

#endif
