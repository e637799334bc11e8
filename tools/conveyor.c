/*
 * conveyor — the operator's command-line tool.
 *
 *   conveyor token --sub ID [--name NAME] --roles admin,manager
 *       prints a staff token signed with AUTH_JWT_KEYS (the first key),
 *       for scripts, demos and tests; it is what POST /v1/auth/token hands
 *       out, without a password.
 *
 *   conveyor intake [--source S] [--generate N --rate R --regions a,b --skus x,y]
 *                   [--quiet] < orders.jsonl
 *       publishes orders on the bus as ext/intake.order, the way an outside
 *       system must (retrying unanswered ones every 5 s, 10 times), and
 *       prints the answers (intake_client.c); BUS_PUB_ENDPOINT and
 *       BUS_SUB_ENDPOINT name busd.
 *
 *   conveyor resync --stream S [--from-seq N]
 *       restarts a consumer's halted stream (DESIGN.md "Consuming" 4): after
 *       the producer's database was restored or replaced (a new epoch) or
 *       its history was purged below the consumer (TRUNCATED), the
 *       consumer stops that stream until an operator decides; this follows
 *       the epoch the consumer saw, from --from-seq (default: the start of
 *       that epoch). DATABASE_URL names the consumer's database (its
 *       runtime or owner role; search_path is its schema). The running
 *       service picks the change up within seconds.
 *
 * More commands (tail, replay, lag, dead letters) join as the operations
 * issue needs them (F34, F36).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/db.h"
#include "common/log.h"
#include "common/numparse.h"
#include "tools/intake_client.h"

static int usage(void)
{
    fprintf(stderr, "usage: conveyor token --sub ID [--name NAME] --roles ROLE[,ROLE...] "
                    "[--ttl-seconds N]\n"
                    "       conveyor intake [--source S] [--generate N] [--rate R] "
                    "[--regions a,b] [--skus x,y] [--quiet] < orders.jsonl\n"
                    "       conveyor resync --stream S [--from-seq N]   (DATABASE_URL: the "
                    "consumer's)\n"
                    "  roles: admin, manager, warehouse, courier, system\n"
                    "  environment: AUTH_JWT_KEYS (kid:secret,...), AUTH_AUDIENCE\n");
    return 2;
}

static int cmd_token(int argc, char **argv)
{
    const char *sub = NULL, *name = "", *roles_text = NULL;
    int64_t ttl_s = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sub") == 0)
            sub = argv[i + 1];
        else if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--roles") == 0)
            roles_text = argv[i + 1];
        else if (strcmp(argv[i], "--ttl-seconds") == 0 &&
                 numparse_int_range(argv[i + 1], 1, 366LL * 24 * 3600, &ttl_s) == 0)
            continue;
        else
            return usage();
    }
    if (argc % 2 != 0 || !sub || !roles_text)
        return usage();
    unsigned roles = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", roles_text);
    char *save = NULL;
    for (char *role = strtok_r(list, ",", &save); role; role = strtok_r(NULL, ",", &save)) {
        unsigned bit = auth_role_parse(role);
        if (!bit) {
            fprintf(stderr, "conveyor: unknown role %s\n", role);
            return 2;
        }
        roles |= bit;
    }
    auth_config_t config = {
        .keys = getenv("AUTH_JWT_KEYS"),
        .audience = getenv("AUTH_AUDIENCE"),
        .ttl_ms = ttl_s * 1000,
    };
    log_init("conveyor", LOG_WARN);
    auth_t *auth = auth_new(&config);
    if (!auth)
        return 1;
    char *token = auth_issue(auth, sub, name, roles);
    auth_destroy(&auth);
    if (!token)
        return 1;
    printf("%s\n", token);
    free(token);
    return 0;
}

static int cmd_intake(int argc, char **argv)
{
    const char *pub = getenv("BUS_PUB_ENDPOINT"), *sub = getenv("BUS_SUB_ENDPOINT");
    intake_client_options_t options = {
        .pub_endpoint = pub ? pub : "tcp://127.0.0.1:5550",
        .sub_endpoint = sub ? sub : "tcp://127.0.0.1:5551",
        .source = "cli",
        .input = stdin,
    };
    for (int i = 0; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quiet") == 0) {
            options.quiet = true;
            continue;
        }
        if (!value)
            return usage();
        if (strcmp(argv[i], "--source") == 0)
            options.source = value;
        else if (strcmp(argv[i], "--regions") == 0)
            options.regions = value;
        else if (strcmp(argv[i], "--skus") == 0)
            options.skus = value;
        else if (strcmp(argv[i], "--generate") == 0 &&
                 numparse_int_range(value, 1, 10000000, &options.generate) == 0)
            ;
        else if (strcmp(argv[i], "--rate") == 0 &&
                 numparse_int_range(value, 0, 1000000, &options.rate) == 0)
            ;
        else
            return usage();
        i++;
    }
    return intake_client_run(&options);
}

static int cmd_resync(int argc, char **argv)
{
    const char *stream = NULL;
    int64_t from_seq = 1;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--stream") == 0)
            stream = argv[i + 1];
        else if (strcmp(argv[i], "--from-seq") == 0 &&
                 numparse_int_range(argv[i + 1], 1, INT64_MAX, &from_seq) == 0)
            continue;
        else
            return usage();
    }
    const char *dsn = getenv("DATABASE_URL");
    if (argc % 2 != 0 || !stream || !dsn) {
        fprintf(stderr, "conveyor: resync needs --stream and DATABASE_URL\n");
        return 2;
    }
    log_init("conveyor", LOG_WARN);
    db_t *db = db_new(dsn, "conveyor-resync");
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, stream);
    db_param_i64(&params, from_seq - 1);
    PGresult *res = NULL;
    db_status_t status =
        db ? db_run_sql(db,
                        "UPDATE inbox_offsets SET epoch = halted_epoch, last_seq = $2, "
                        "halted_reason = NULL, halted_epoch = NULL, halted_at = NULL, "
                        "updated_at = now() WHERE stream = $1 AND halted_reason IS NOT NULL "
                        "AND halted_epoch IS NOT NULL RETURNING epoch",
                        &params, &res)
           : DB_ERROR;
    int rc = 1;
    if (status != DB_OK)
        fprintf(stderr, "conveyor: resync failed: %s\n", db ? db_errmsg(db) : "out of memory");
    else if (PQntuples(res) != 1)
        fprintf(stderr, "conveyor: stream %s is not halted with a new epoch: nothing to do\n",
                stream);
    else {
        printf("stream %s now follows epoch %s from seq %lld\n", stream, db_value(res, 0, 0),
               (long long)from_seq);
        rc = 0;
    }
    PQclear(res);
    db_destroy(&db);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "resync") == 0)
        return cmd_resync(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return cmd_token(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "intake") == 0)
        return cmd_intake(argc - 2, argv + 2);
    return usage();
}
