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
 * prints the effective configuration with secrets masked, applies the
 * kit's and the service's migrations as the schema's owner, and builds the
 * relay, replay server, inbox, job workers and HTTP server. service_run
 * starts them, serves /healthz, /readyz and /metrics, and on SIGTERM or
 * SIGINT stops them in order: HTTP stops accepting, the applier finishes
 * the transaction in hand, job workers finish their calls and give back
 * their leases, the relay publishes what is committed, and the process
 * exits 0.
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

typedef struct {
    const char *name;                  /* the service and its stream: "order" */
    const char *schema;                /* default DB_SCHEMA: "orders" */
    const char *http_addr;             /* default HTTP_ADDR: "0.0.0.0:8081" */
    const char *replay_addr;           /* default REPLAY_ADDR: "tcp://0.0.0.0:5561" */
    const config_spec_t *config;       /* the service's own variables, or NULL */
    const migration_set_t *migrations; /* the service's own (app_migrations), or NULL */
    /* Registers the service's statements on every session the kit opens
     * for its code: the applier's, the job workers', the HTTP pool's. */
    db_setup_fn db_setup;
    void *db_setup_arg;
    /* Refuse to start without AUTH_JWT_KEYS (every service with a staff API). */
    bool requires_auth;
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

/* The calling thread's Redis locker for REDIS_URL, created on first use and
 * destroyed when the thread ends. Borrowed; NULL on out of memory. */
locker_t *service_locker(service_t *svc);
const char *service_schema(const service_t *svc);

/* After a transaction that appended outbox rows committed on db (an HTTP
 * handler's, say): publish now. */
void service_committed(service_t *svc, db_t *db);

/* A session from the HTTP pool for a route, waiting up to wait_ms; NULL
 * once it answered 503 pg_unavailable (Retry-After) when none is free. The
 * caller owns it until service_session_release. */
db_t *service_session(service_t *svc, http_response_t *res, int wait_ms);
void service_session_release(service_t *svc, db_t **db_p);

/* Answers a failed database call on an HTTP response: 503 pg_unavailable
 * with Retry-After when transient, else 500 database_error; logs once with
 * `what` (the operation) and the database's message. */
void service_answer_db_failure(http_response_t *res, const db_t *db, db_status_t status,
                               const char *what);

/* Starts everything and blocks until SIGTERM/SIGINT; returns the process
 * exit status. */
int service_run(service_t *svc);

#endif
