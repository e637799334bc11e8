/*
 * service.c — configuration, migrations, start and orderly stop of the
 * parts every service has (service.h).
 */
#include "common/service.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/numparse.h"
#include "common/service_table.h"
#include "common/outbox.h"
#include "common/replay.h"

static const config_spec_t kit_specs[] = {
    {"DATABASE_URL", NULL, true, "PostgreSQL DSN of the service's runtime role (required)"},
    {"DATABASE_OWNER_URL", NULL, true,
     "DSN of the schema's owner role, used for migrations (default: DATABASE_URL)"},
    {"DB_SCHEMA", NULL, false, "the schema the service owns"},
    {"DB_POOL_SIZE", "8", false, "database sessions shared by HTTP handlers"},
    {"BUS_PUB_ENDPOINT", "tcp://127.0.0.1:5550", false, "busd's XSUB: where relays publish"},
    {"BUS_SUB_ENDPOINT", "tcp://127.0.0.1:5551", false, "busd's XPUB: where inboxes subscribe"},
    {"BUS_SECURITY", "curve", false, "curve, or off (only to measure what CURVE costs)"},
    {"BUS_CERT", NULL, false, "this service's certificate: the path of its NAME.key_secret"},
    {"BUS_SERVER_KEY", NULL, false, "busd's public key: Z85, or the path of busd's certificate"},
    {"BUS_KEYS_DIR", NULL, false,
     "the public certificates this service trusts (replay askers, replay peers)"},
    {"REPLAY_ADDR", NULL, false, "where this service serves its stream's history"},
    {"REPLAY_PEERS", "", false,
     "replay endpoints of consumed streams: order=tcp://order:5561,inventory=..."},
    {"REDIS_URL", "redis://127.0.0.1:6379/0", true, "Redis for locks"},
    {"REDIS_TIMEOUT", "500ms", false, "connect and command timeout for Redis"},
    {"AUTH_JWT_KEYS", NULL, true,
     "staff token keys, kid:secret[,kid:secret...] (the first signs; secrets >= 32 bytes)"},
    {"AUTH_AUDIENCE", "conveyor", false, "the aud claim of staff tokens"},
    {"AUTH_TOKEN_TTL", "15m", false, "lifetime of issued staff tokens"},
    {"HTTP_ADDR", NULL, false, "HTTP listen address"},
    {"HTTP_THREADS", "4", false, "HTTP worker threads"},
    {"HTTP_BODY_LIMIT", "1048576", false, "largest accepted request body, bytes"},
    {"HTTP_TRUSTED_PROXIES", "", false,
     "reverse proxies whose X-Forwarded-For is believed (addresses and CIDR blocks, "
     "comma-separated); empty: the TCP peer is the client"},
    {"STORE_TZ", "UTC", false, "the store's time zone: business days and batch dates"},
    {"LOG_LEVEL", "info", false, "debug, info, warn or error"},
    {"JOB_WORKERS", "2", false, "job worker threads"},
    {"JOB_LEASE", "60s", false, "how long a worker holds a job before another may take it"},
    {"JOB_POLL", "500ms", false, "how often idle workers look for due jobs"},
    {"JOB_BACKOFF_BASE", "1s", false, "first retry delay; doubles per attempt, with jitter"},
    {"JOB_BACKOFF_MAX", "1h", false, "longest retry delay"},
    {"APPLY_BATCH_MAX", NULL, false,
     "events applied per transaction at most (default: the service's, else 500)"},
    {"RELAY_BATCH_MAX", "1000", false, "events numbered per relay transaction at most"},
    {"OUTBOX_RETENTION", "7d", false, "published events are replayable this long"},
    {"CLOCK_TEST", "false", false, "allow tests to advance business time (never in production)"},
    {"FAULT_RELAY_KILL_AFTER_COMMITS", "0", false,
     "tests only: die between the relay's n-th commit and its publish"},
    CONFIG_SPEC_END,
};

struct service {
    service_def_t def;                 /* schema and addresses filled (service_table.h) */
    service_defaults_t table_defaults; /* what def's filled fields point into */
    config_t *config;
    const char *schema;
    const char *dsn;
    curve_t *curve;
    relay_t *relay;
    replay_server_t *replay;
    inbox_t *inbox;
    jobs_t *jobs;
    http_server_t *http;
    db_pool_t *pool;
    void (*on_stopping)(void *arg); /* service_on_stopping */
    void *on_stopping_arg;
    auth_t *auth;
    pthread_key_t locker_key; /* this thread's Redis connection */
    bool locker_key_made;
    int64_t redis_timeout_ms;
    int64_t started_ms;
    http_proxies_t proxies;
    /* until the database answered and the migrations ran: why not ready */
    pthread_mutex_t starting_lock;
    bool starting;
    char starting_reason[300];
    long long starting_attempts; /* to reach the database */
};

static void locker_free(void *locker)
{
    locker_t *doomed = locker;
    locker_destroy(&doomed);
}

/* ------------------------------------------------------------------ */

/* A job's completion committed: its events leave now. */
static void jobs_committed(db_t *db, void *arg)
{
    service_t *svc = arg;
    if (svc->relay)
        relay_committed(svc->relay, db);
}

static int pool_setup(db_t *db, void *arg)
{
    service_t *svc = arg;
    if (outbox_prepare(db) != 0)
        return -1;
    return svc->def.db_setup ? svc->def.db_setup(db, svc->def.db_setup_arg) : 0;
}

static void route_healthz(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

static void route_metrics(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    char *text = metrics_render();
    if (!text) {
        http_res_problem(res, 500, "out_of_memory", "could not render metrics", NULL);
        return;
    }
    http_res_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

/* Ready: the database answers and no consumed stream is halted. A halted
 * stream makes the service "degraded" (503) with the reason per stream,
 * so an orchestrator and an operator both see it. */
/* Why the service is not ready yet, for /readyz and the log. */
static void set_starting(service_t *svc, bool starting, const char *reason, long long attempts)
{
    pthread_mutex_lock(&svc->starting_lock);
    svc->starting = starting;
    svc->starting_attempts = attempts;
    snprintf(svc->starting_reason, sizeof svc->starting_reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&svc->starting_lock);
}

static void route_readyz(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    service_t *svc = arg;
    pthread_mutex_lock(&svc->starting_lock);
    bool starting = svc->starting;
    char reason[sizeof svc->starting_reason];
    memcpy(reason, svc->starting_reason, sizeof reason);
    long long attempts = svc->starting_attempts;
    pthread_mutex_unlock(&svc->starting_lock);
    if (!starting && svc->inbox && !inbox_settled(svc->inbox)) {
        starting = true;
        snprintf(reason, sizeof reason, "%s",
                 "the applier is taking its place (leading, or standing by for another replica)");
    }
    if (starting) {
        http_res_json_take(res, 503,
                           json_pack("{s:s,s:s,s:s,s:I}", "status", "starting", "service",
                                     svc->def.name, "reason", reason, "attempts",
                                     (json_int_t)attempts));
        return;
    }
    bool database_ok = false;
    db_t *db = db_pool_acquire(svc->pool, 2000);
    if (db) {
        database_ok = db_run_sql(db, "SELECT 1", NULL, NULL) == DB_OK;
        db_pool_release(svc->pool, &db);
    }
    json_t *streams = json_array();
    bool halted = false;
    if (svc->inbox) {
        inbox_stream_status_t status[16];
        size_t count = inbox_status(svc->inbox, status, 16);
        for (size_t i = 0; i < count && i < 16; i++) {
            halted |= status[i].halted;
            json_t *item = json_pack("{s:s,s:I,s:I,s:I,s:b,s:b}", "stream", status[i].stream,
                                     "epoch", (json_int_t)status[i].epoch, "applied_seq",
                                     (json_int_t)status[i].applied_seq, "head_seq",
                                     (json_int_t)status[i].head_seq, "catching_up",
                                     status[i].catching_up, "halted", status[i].halted);
            if (item && status[i].halted)
                json_object_set_new(item, "reason", json_string(status[i].halted_reason));
            json_array_append_new(streams, item);
        }
    }
    const char *state = !database_ok ? "unavailable" : halted ? "degraded" : "ready";
    json_t *body =
        json_pack("{s:s,s:s,s:b,s:I,s:s,s:o}", "status", state, "service", svc->def.name, "leader",
                  relay_is_leader(svc->relay), "epoch", (json_int_t)relay_epoch(svc->relay),
                  "database", database_ok ? "ok" : "unreachable", "streams", streams);
    http_res_json_take(res, database_ok && !halted ? 200 : 503, body);
}

/* Tests only (CLOCK_TEST=true): POST /v1/test/clock {"advance_ms": n}. */
static void route_test_clock(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *advance = json_object_get(body, "advance_ms");
    if (!json_is_integer(advance) || json_integer_value(advance) < 0) {
        http_res_problem(res, 422, "invalid", "advance_ms must be a non-negative integer", NULL);
        return;
    }
    if (clock_advance_ms(json_integer_value(advance)) != 0) {
        http_res_problem(res, 409, "clock_fixed", "the test clock is not enabled", NULL);
        return;
    }
    http_res_json_take(res, 200, json_pack("{s:I}", "now_ms", (json_int_t)clock_now_ms()));
}

/* ------------------------------------------------------------------ */

static int get_int(const config_t *config, const char *name, int64_t min, int64_t max, int64_t *out)
{
    return config_get_int(config, name, min, max, out);
}

/* Adds each "-c name=value" of options to PGOPTIONS (libpq passes it to
 * every session) unless the operator's PGOPTIONS already sets that name.
 * Before any thread exists. */
static int add_pg_options(const char *options)
{
    const char *current = getenv("PGOPTIONS");
    char merged[1024];
    int n = snprintf(merged, sizeof merged, "%s", current ? current : "");
    char copy[512];
    snprintf(copy, sizeof copy, "%s", options);
    char *save = NULL;
    for (char *word = strtok_r(copy, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
        if (strcmp(word, "-c") == 0)
            continue;
        size_t name_len = strcspn(word, "=");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)name_len, word);
        if (current && strstr(current, name))
            continue; /* the operator's own wins */
        n += snprintf(merged + n, sizeof merged - (size_t)n, "%s-c %s", n > 0 ? " " : "", word);
        if (n < 0 || (size_t)n >= sizeof merged) {
            log_error("PGOPTIONS would be too long", LF_ERR("bad_config"));
            return -1;
        }
    }
    return setenv("PGOPTIONS", merged, 1);
}

service_t *service_new(const service_def_t *def, int argc, char **argv)
{
    /* SIGTERM/SIGINT are taken by service_run's sigwait: block them before
     * any thread exists so every thread inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a service runs a dozen threads that each allocate a little: glibc's
     * default of up to 8 arenas per core keeps memory a small service
     * never needs (MALLOC_ARENA_MAX in the environment still wins) */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);

    service_t *svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    svc->def = *def;
    pthread_mutex_init(&svc->starting_lock, NULL);
    svc->starting = true;
    snprintf(svc->starting_reason, sizeof svc->starting_reason, "not started");
    svc->started_ms = clock_now_ms();
    svc->config = config_new();
    if (!svc->config || config_declare(svc->config, kit_specs) != 0 ||
        (def->config && config_declare(svc->config, def->config) != 0))
        goto fail;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s — conveyor's %s service. Configuration (environment):\n", argv[0], def->name);
        config_print_help(svc->config);
        exit(0);
    }

    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(svc->config, "LOG_LEVEL"), &level) != 0)
        fprintf(stderr, "LOG_LEVEL is not one of debug, info, warn, error; using info\n");
    log_init(def->name, level);
    config_log(svc->config);
    /* the schema and ports main.c does not name are its row's in
     * deploy/services.tsv, built into the kit; the environment still
     * overrides them below */
    if (service_table_fill(&service_table, def->name, &svc->table_defaults, &svc->def.schema,
                           &svc->def.http_addr, &svc->def.replay_addr) != 0) {
        log_error("service is not in the table of services and names no schema or ports",
                  LF_STR("service", def->name), LF_STR("table", "deploy/services.tsv"),
                  LF_STR("hint", "add its row to deploy/services.tsv and rebuild, or set .schema, "
                                 ".http_addr and .replay_addr in its service_def_t"),
                  LF_ERR("unknown_service"));
        goto fail;
    }
    /* business days and batch dates are the store's: local time is STORE_TZ
     * (set before any thread exists; logs stay in UTC) */
    const char *store_tz = config_get(svc->config, "STORE_TZ");
    if (store_tz && *store_tz) {
        setenv("TZ", store_tz, 1);
        tzset();
    }

    svc->dsn = config_get(svc->config, "DATABASE_URL");
    if (!svc->dsn || !*svc->dsn) {
        log_error("DATABASE_URL is not set", LF_ERR("bad_config"));
        goto fail;
    }
    svc->schema = config_get(svc->config, "DB_SCHEMA");
    if (!svc->schema || !*svc->schema)
        svc->schema = svc->def.schema;
    bool clock_test = false;
    if (config_get_bool(svc->config, "CLOCK_TEST", &clock_test) != 0)
        goto fail;
    clock_enable_test_offset(clock_test);

    int64_t pool_size, http_threads, body_limit, workers, apply_batch = 0, relay_batch, fault;
    int64_t redis_timeout_ms, token_ttl_ms;
    int64_t retention_ms, job_lease_ms, job_poll_ms, job_backoff_base_ms, job_backoff_max_ms;
    if (get_int(svc->config, "DB_POOL_SIZE", 1, 256, &pool_size) != 0 ||
        get_int(svc->config, "HTTP_THREADS", 1, 256, &http_threads) != 0 ||
        get_int(svc->config, "HTTP_BODY_LIMIT", 1024, 64 * 1024 * 1024, &body_limit) != 0 ||
        get_int(svc->config, "JOB_WORKERS", 0, 256, &workers) != 0 ||
        (config_get(svc->config, "APPLY_BATCH_MAX") &&
         get_int(svc->config, "APPLY_BATCH_MAX", 1, 10000, &apply_batch) != 0) ||
        get_int(svc->config, "RELAY_BATCH_MAX", 1, 10000, &relay_batch) != 0 ||
        get_int(svc->config, "FAULT_RELAY_KILL_AFTER_COMMITS", 0, INT32_MAX, &fault) != 0 ||
        config_get_duration_ms(svc->config, "OUTBOX_RETENTION", &retention_ms) != 0 ||
        config_get_duration_ms(svc->config, "JOB_LEASE", &job_lease_ms) != 0 ||
        config_get_duration_ms(svc->config, "JOB_POLL", &job_poll_ms) != 0 ||
        config_get_duration_ms(svc->config, "JOB_BACKOFF_BASE", &job_backoff_base_ms) != 0 ||
        config_get_duration_ms(svc->config, "JOB_BACKOFF_MAX", &job_backoff_max_ms) != 0 ||
        config_get_duration_ms(svc->config, "REDIS_TIMEOUT", &redis_timeout_ms) != 0 ||
        config_get_duration_ms(svc->config, "AUTH_TOKEN_TTL", &token_ttl_ms) != 0)
        goto fail;
    svc->redis_timeout_ms = redis_timeout_ms;
    if (apply_batch == 0)
        apply_batch = def->apply_batch_max > 0 ? def->apply_batch_max : 500;
    if (http_proxies_parse(config_get(svc->config, "HTTP_TRUSTED_PROXIES"), &svc->proxies) != 0) {
        log_error("HTTP_TRUSTED_PROXIES is not a list of addresses and CIDR blocks",
                  LF_ERR("bad_config"));
        goto fail;
    }
    if (def->pg_options && add_pg_options(def->pg_options) != 0)
        goto fail;
    if (pthread_key_create(&svc->locker_key, locker_free) != 0)
        goto fail;
    svc->locker_key_made = true;

    const char *jwt_keys = config_get(svc->config, "AUTH_JWT_KEYS");
    if (jwt_keys && *jwt_keys) {
        auth_config_t auth_config = {
            .keys = jwt_keys,
            .audience = config_get(svc->config, "AUTH_AUDIENCE"),
            .ttl_ms = token_ttl_ms,
        };
        svc->auth = auth_new(&auth_config);
        if (!svc->auth)
            goto fail;
    } else if (def->requires_auth) {
        log_error("AUTH_JWT_KEYS is not set: staff tokens cannot be verified",
                  LF_ERR("bad_config"));
        goto fail;
    }

    curve_config_t curve_config = {
        .security = config_get(svc->config, "BUS_SECURITY"),
        .cert = config_get(svc->config, "BUS_CERT"),
        .server_key = config_get(svc->config, "BUS_SERVER_KEY"),
        .keys_dir = config_get(svc->config, "BUS_KEYS_DIR"),
        .needs_server_key = true,
        .needs_keys_dir = true,
    };
    svc->curve = curve_new(&curve_config);
    if (!svc->curve)
        goto fail;

    relay_config_t relay_config = {
        .dsn = svc->dsn,
        .schema = svc->schema,
        .stream = def->name,
        .pub_endpoint = config_get(svc->config, "BUS_PUB_ENDPOINT"),
        .curve = svc->curve,
        .app_name = def->name,
        .batch_max = (int)relay_batch,
        .retention_ms = retention_ms,
        .fault_kill_after_commits = (int)fault,
    };
    svc->relay = relay_new(&relay_config);

    const char *replay_addr = config_get(svc->config, "REPLAY_ADDR");
    replay_config_t replay_config = {
        .dsn = svc->dsn,
        .bind = replay_addr && *replay_addr ? replay_addr : svc->def.replay_addr,
        .stream = def->name,
        .app_name = def->name,
        .curve = svc->curve,
        .opens_later = true, /* once migrated (service_run) */
    };
    svc->replay = replay_server_new(&replay_config);

    inbox_config_t inbox_config = {
        .dsn = svc->dsn,
        .schema = svc->schema,
        .app_name = def->name,
        .own_stream = def->name,
        .sub_endpoint = config_get(svc->config, "BUS_SUB_ENDPOINT"),
        .replay_peers = config_get(svc->config, "REPLAY_PEERS"),
        .curve = svc->curve,
        .relay = svc->relay,
        .batch_max = (int)apply_batch,
        .db_setup = def->db_setup,
        .db_setup_arg = def->db_setup_arg,
    };
    svc->inbox = svc->relay ? inbox_new(&inbox_config) : NULL;

    jobs_config_t jobs_config = {
        .dsn = svc->dsn,
        .schema = svc->schema,
        .app_name = def->name,
        .workers = (int)workers,
        .lease_ms = job_lease_ms,
        .poll_ms = job_poll_ms,
        .backoff_base_ms = job_backoff_base_ms,
        .backoff_max_ms = job_backoff_max_ms,
        .on_commit = jobs_committed,
        .on_commit_arg = svc,
        .db_setup = def->db_setup,
        .db_setup_arg = def->db_setup_arg,
    };
    svc->jobs = jobs_new(&jobs_config);

    const char *http_addr = config_get(svc->config, "HTTP_ADDR");
    http_config_t http_config = {
        .addr = http_addr && *http_addr ? http_addr : svc->def.http_addr,
        .body_limit = (size_t)body_limit,
        .threads = (unsigned)http_threads,
        .svc = def->name,
    };
    svc->http = http_server_new(&http_config);
    svc->pool = db_pool_new(svc->dsn, def->name, (int)pool_size, pool_setup, svc);
    if (!svc->relay || !svc->replay || !svc->inbox || !svc->jobs || !svc->http || !svc->pool)
        goto fail;

    if (http_route_probe(svc->http, "GET", "/healthz", route_healthz, svc) != 0 ||
        http_route_probe(svc->http, "GET", "/readyz", route_readyz, svc) != 0 ||
        http_route_probe(svc->http, "GET", "/metrics", route_metrics, svc) != 0 ||
        (clock_test && http_route(svc->http, "POST", "/v1/test/clock", route_test_clock, svc) != 0))
        goto fail;
    return svc;
fail:
    log_error("service could not start", LF_STR("service", def->name), LF_ERR("start_failed"));
    service_destroy(&svc);
    return NULL;
}

const config_t *service_config(const service_t *svc)
{
    return svc->config;
}

inbox_t *service_inbox(service_t *svc)
{
    return svc->inbox;
}

jobs_t *service_jobs(service_t *svc)
{
    return svc->jobs;
}

http_server_t *service_http(service_t *svc)
{
    return svc->http;
}

relay_t *service_relay(service_t *svc)
{
    return svc->relay;
}

db_pool_t *service_db_pool(service_t *svc)
{
    return svc->pool;
}

const auth_t *service_auth(const service_t *svc)
{
    return svc->auth;
}

const http_proxies_t *service_proxies(const service_t *svc)
{
    return &svc->proxies;
}

locker_t *service_locker(service_t *svc)
{
    locker_t *locker = pthread_getspecific(svc->locker_key);
    if (locker)
        return locker;
    locker = locker_new(config_get(svc->config, "REDIS_URL"), (int)svc->redis_timeout_ms);
    if (locker && pthread_setspecific(svc->locker_key, locker) != 0)
        locker_destroy(&locker);
    return locker;
}

const char *service_name(const service_t *svc)
{
    return svc->def.name;
}

const char *service_schema(const service_t *svc)
{
    return svc->schema;
}

db_t *service_session(service_t *svc, http_response_t *res, int wait_ms)
{
    db_t *db = db_pool_acquire(svc->pool, wait_ms);
    if (!db) {
        http_res_header(res, "Retry-After", "1");
        http_res_problem(res, 503, "pg_unavailable", "no database session is free",
                         "nothing was changed; try again in a moment");
    }
    return db;
}

void service_session_release(service_t *svc, db_t **db_p)
{
    db_pool_release(svc->pool, db_p);
}

void service_answer_db_failure(http_response_t *res, const db_t *db, db_status_t status,
                               const char *what)
{
    db_failure_t failure = db_failure_of(db, status);
    if (status == DB_UNKNOWN) {
        log_error("the outcome of a commit is unknown", LF_STR("what", what),
                  LF_STR("pg", db_errmsg(db)), LF_ERR(failure.code));
        http_res_header(res, "Retry-After", "5");
        http_res_problem(res, 503, failure.code, "the database did not say whether it was saved",
                         "the change may or may not have been made: read it back before trying "
                         "again");
        return;
    }
    if (failure.transient) {
        log_warn("database unavailable", LF_STR("what", what), LF_STR("pg", db_errmsg(db)),
                 LF_ERR(failure.code));
        http_res_header(res, "Retry-After", "1");
        http_res_problem(res, 503, failure.code, "the database is unavailable",
                         "nothing was changed; try again in a moment");
        return;
    }
    log_error("database error", LF_STR("what", what), LF_STR("pg", db_errmsg(db)),
              LF_STR("sqlstate", db_sqlstate(db)), LF_ERR(failure.code));
    int code = strcmp(failure.code, "constraint") == 0 ? 409
               : strcmp(failure.code, "overflow") == 0 || strcmp(failure.code, "bad_data") == 0
                   ? 422
                   : 500;
    http_res_problem(res, code, failure.code,
                     code == 500 ? "the request failed in the database"
                                 : "the database refused the values of this request",
                     "nothing was changed; the error is in the service's log");
}

void service_committed(service_t *svc, db_t *db)
{
    relay_committed(svc->relay, db);
    /* every worker woken after every commit would each ask the database
     * for nothing: only when the transaction enqueued (NOTIFY wakes them
     * too, a round trip later) */
    if (jobs_enqueued_take(db))
        jobs_wake(svc->jobs);
}

db_status_t service_tx(service_t *svc, db_t *db, tx_body_fn body, void *arg, tx_t *tx_out)
{
    tx_t tx;
    db_status_t status = tx_run(db, body, arg, &tx);
    if (status == DB_OK && !tx.abandoned)
        service_committed(svc, db);
    if (tx_out)
        *tx_out = tx;
    return status;
}

/* Waits for the database and applies the migrations. 0 done; 1 a stop
 * signal came meanwhile (*signal_out); -1 a migration failed for good. */
static int wait_and_migrate(service_t *svc, const sigset_t *stop_signals, int *signal_out)
{
    const char *owner_dsn = config_get(svc->config, "DATABASE_OWNER_URL");
    db_t *owner = db_new(owner_dsn && *owner_dsn ? owner_dsn : svc->dsn, svc->def.name);
    if (!owner)
        return -1;
    const migration_set_t *sets[2] = {&kit_migrations, svc->def.migrations};
    int64_t backoff_ms = 250, waiting_since = 0, next_log = 0;
    long long attempts = 0;
    int rc = -1;
    for (;;) {
        set_starting(svc, true, "applying migrations", attempts);
        int migrated = migrate_run(owner, svc->schema, sets, svc->def.migrations ? 2 : 1);
        if (migrated == MIGRATE_OK) {
            if (attempts > 0)
                log_info("the database answers: started after waiting",
                         LF_INT("waited_ms", clock_mono_ms() - waiting_since),
                         LF_INT("attempts", attempts));
            rc = 0;
            break;
        }
        if (migrated == MIGRATE_FAILED)
            break;
        int64_t now = clock_mono_ms();
        if (attempts++ == 0)
            waiting_since = now;
        char reason[300];
        snprintf(reason, sizeof reason, "waiting for the database: %s", db_errmsg(owner));
        set_starting(svc, true, reason, attempts);
        if (now >= next_log) {
            log_warn("waiting for the database (not ready until it answers)",
                     LF_STR("pg", db_errmsg(owner)), LF_INT("attempts", attempts),
                     LF_INT("waited_ms", now - waiting_since), LF_ERR("pg_unavailable"));
            next_log = now + 60000;
        }
        struct timespec pause = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000};
        int signal_number = sigtimedwait(stop_signals, NULL, &pause);
        if (signal_number > 0) {
            *signal_out = signal_number;
            rc = 1;
            break;
        }
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
    db_destroy(&owner);
    return rc;
}

void service_on_stopping(service_t *svc, void (*fn)(void *arg), void *arg)
{
    svc->on_stopping = fn;
    svc->on_stopping_arg = arg;
}

int service_run(service_t *svc)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    int signal_number = 0;
    /* the probes answer from the first moment; the rest once migrated */
    http_server_hold(svc->http, true);
    if (http_server_start(svc->http) != 0) {
        log_error("service could not start HTTP", LF_STR("service", svc->def.name),
                  LF_ERR("start_failed"));
        return 1;
    }
    int waited = wait_and_migrate(svc, &stop_signals, &signal_number);
    if (waited < 0) {
        log_error("service could not start: a migration failed", LF_STR("service", svc->def.name),
                  LF_ERR("start_failed"));
        return 1;
    }
    if (waited == 0) {
        replay_server_open(svc->replay);
        if (relay_start(svc->relay) != 0 || inbox_start(svc->inbox) != 0 ||
            jobs_start(svc->jobs) != 0) {
            log_error("service could not start its parts", LF_STR("service", svc->def.name),
                      LF_ERR("start_failed"));
            return 1;
        }
        set_starting(svc, false, NULL, 0);
        http_server_hold(svc->http, false);
        log_info("service started", LF_STR("service", svc->def.name), LF_STR("schema", svc->schema),
                 LF_INT("http_port", (long long)http_server_port(svc->http)));
        while (sigwait(&stop_signals, &signal_number) != 0)
            ;
    }
    log_info("stopping", LF_STR("service", svc->def.name),
             LF_STR("signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
    if (svc->on_stopping)
        svc->on_stopping(svc->on_stopping_arg);
    /* the order matters: stop taking work, finish what is in hand, publish */
    http_server_destroy(&svc->http);
    inbox_destroy(&svc->inbox);
    jobs_destroy(&svc->jobs);
    relay_destroy(&svc->relay);
    replay_server_destroy(&svc->replay);
    log_info("stopped", LF_STR("service", svc->def.name));
    return 0;
}

void service_destroy(service_t **self_p)
{
    service_t *svc = *self_p;
    if (!svc)
        return;
    http_server_destroy(&svc->http);
    inbox_destroy(&svc->inbox);
    jobs_destroy(&svc->jobs);
    relay_destroy(&svc->relay);
    replay_server_destroy(&svc->replay);
    db_pool_destroy(&svc->pool);
    auth_destroy(&svc->auth);
    curve_destroy(&svc->curve);
    if (svc->locker_key_made) {
        locker_t *locker = pthread_getspecific(svc->locker_key);
        locker_destroy(&locker);
        pthread_setspecific(svc->locker_key, NULL);
        pthread_key_delete(svc->locker_key);
    }
    config_destroy(&svc->config);
    pthread_mutex_destroy(&svc->starting_lock);
    free(svc);
    *self_p = NULL;
    metrics_shutdown();
}
