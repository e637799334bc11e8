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
 *   conveyor resync --stream S [--from-seq N] [--peer ENDPOINT] [--force]
 *       restarts a consumer's halted stream (DESIGN.md "Consuming" 4): after
 *       the producer's database was restored or replaced (a new epoch) or
 *       its history was purged below the consumer (TRUNCATED), the
 *       consumer stops that stream until an operator decides. This asks
 *       the producer's replay endpoint (--peer, else the stream's entry in
 *       REPLAY_PEERS) for its current epoch, head and oldest retained seq —
 *       never what was heard on the bus — and makes the consumer follow
 *       that epoch from --from-seq (default: the oldest event the producer
 *       still holds). DATABASE_URL names the consumer's database (its
 *       runtime or owner role; search_path is its schema); BUS_CERT (an
 *       operator's or the consumer's key), BUS_KEYS_DIR (where the
 *       producer's public key is) and BUS_SECURITY as for a service. The
 *       running service picks the change up within seconds.
 *
 *   conveyor key new|server|revoke|list ...
 *       issues and revokes bus keys (key_cli.c).
 *
 * More commands (tail, replay, lag, dead letters) join as the operations
 * issue needs them (F34, F36).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/certfile.h"
#include "common/curve.h"
#include "common/db.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/replay.h"
#include "tools/intake_client.h"
#include "tools/key_cli.h"

static int usage(void)
{
    fprintf(stderr, "usage: conveyor token --sub ID [--name NAME] --roles ROLE[,ROLE...] "
                    "[--ttl-seconds N]\n"
                    "       conveyor intake [--source S] [--generate N] [--rate R] "
                    "[--regions a,b] [--skus x,y] [--quiet] < orders.jsonl\n"
                    "       conveyor resync --stream S [--from-seq N] [--peer ENDPOINT] [--force]\n"
                    "                       (DATABASE_URL: the consumer's; REPLAY_PEERS, BUS_*)\n"
                    "       conveyor key new|server|revoke|list ...\n"
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
    log_init("conveyor", LOG_WARN);
    curve_t *curve = curve_from_env(true, false);
    if (!curve)
        return 2;
    /* a source key names its source: the default */
    certfile_t cert;
    const char *cert_path = getenv("BUS_CERT");
    bool named = curve_enabled(curve) && certfile_read(cert_path, &cert) == 0 && cert.has_source;
    intake_client_options_t options = {
        .pub_endpoint = pub ? pub : "tcp://127.0.0.1:5550",
        .sub_endpoint = sub ? sub : "tcp://127.0.0.1:5551",
        .source = named ? cert.source : "cli",
        .curve = curve,
        .input = stdin,
    };
    for (int i = 0; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quiet") == 0) {
            options.quiet = true;
            continue;
        }
        if (!value) {
            curve_destroy(&curve);
            return usage();
        }
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
        else {
            curve_destroy(&curve);
            return usage();
        }
        i++;
    }
    int rc = intake_client_run(&options);
    curve_destroy(&curve);
    return rc;
}

/* The producer's replay endpoint: --peer, else the stream's REPLAY_PEERS
 * entry. Copies it into out; -1 if neither names one. */
static int find_peer(const char *stream, const char *given, char *out, size_t size)
{
    if (given) {
        snprintf(out, size, "%s", given);
        return 0;
    }
    const char *peers = getenv("REPLAY_PEERS");
    size_t stream_len = strlen(stream);
    for (const char *item = peers; item && *item;) {
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        if (len > stream_len + 1 && strncmp(item, stream, stream_len) == 0 &&
            item[stream_len] == '=' && len - stream_len - 1 < size) {
            memcpy(out, item + stream_len + 1, len - stream_len - 1);
            out[len - stream_len - 1] = '\0';
            return 0;
        }
        item = end ? end + 1 : NULL;
    }
    return -1;
}

/* Asks the producer, with each of its trusted keys in turn (two during a
 * rotation), for its epoch and head. */
static Conveyor__ReplayEnd *ask_producer(const curve_t *curve, const char *endpoint,
                                         const char *stream)
{
    Conveyor__ReplayEnd *end = NULL;
    if (!curve_enabled(curve)) {
        replay_query_head(curve, endpoint, NULL, stream, 5000, &end);
        return end;
    }
    buskeys_t *keys = buskeys_new(curve_keys_dir(curve));
    if (!keys)
        return NULL;
    char candidates[4][BUSKEY_Z85_LEN + 1];
    size_t count = buskeys_of_service(keys, stream, candidates, 4);
    if (count == 0)
        fprintf(stderr, "conveyor: no key of service %s in %s: cannot check whom we ask\n", stream,
                curve_keys_dir(curve));
    for (size_t i = 0; i < count && i < 4 && !end; i++)
        replay_query_head(curve, endpoint, candidates[i], stream, 5000, &end);
    buskeys_destroy(&keys);
    return end;
}

static int cmd_resync(int argc, char **argv)
{
    const char *stream = NULL, *peer = NULL;
    int64_t from_seq = 0;
    bool force = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--stream") == 0)
            stream = argv[++i];
        else if (strcmp(argv[i], "--peer") == 0)
            peer = argv[++i];
        else if (strcmp(argv[i], "--from-seq") == 0 &&
                 numparse_int_range(argv[i + 1], 1, INT64_MAX, &from_seq) == 0)
            i++;
        else
            return usage();
    }
    const char *dsn = getenv("DATABASE_URL");
    char endpoint[256];
    if (!stream || !dsn || !bus_name_ok(stream) ||
        find_peer(stream, peer, endpoint, sizeof endpoint) != 0) {
        fprintf(stderr, "conveyor: resync needs --stream, DATABASE_URL and the producer's "
                        "replay endpoint (--peer or REPLAY_PEERS)\n");
        return 2;
    }
    log_init("conveyor", LOG_WARN);
    curve_t *curve = curve_from_env(false, true);
    if (!curve)
        return 2;
    int rc = 1;
    db_t *db = NULL;
    Conveyor__ReplayEnd *end = ask_producer(curve, endpoint, stream);
    if (!end)
        goto done;
    if (end->status != CONVEYOR__REPLAY_END__STATUS__OK) {
        fprintf(stderr, "conveyor: the producer answered status %d for stream %s: try again\n",
                (int)end->status, stream);
        goto done;
    }
    uint64_t oldest = end->purged_through + 1;
    if (from_seq == 0)
        from_seq = (int64_t)oldest;
    if ((uint64_t)from_seq < oldest) {
        fprintf(stderr,
                "conveyor: the producer holds stream %s from seq %llu only (purged through "
                "%llu): --from-seq %lld is gone\n",
                stream, (unsigned long long)oldest, (unsigned long long)end->purged_through,
                (long long)from_seq);
        goto done;
    }
    db = db_new(dsn, "conveyor-resync");
    int moved = db ? inbox_resync(db, stream, end->epoch, (uint64_t)from_seq - 1, force) : -1;
    if (moved < 0)
        fprintf(stderr, "conveyor: resync failed: %s\n", db ? db_errmsg(db) : "out of memory");
    else if (moved == 0)
        fprintf(stderr,
                "conveyor: stream %s is not halted: nothing to do (--force moves it "
                "anyway)\n",
                stream);
    else {
        printf("stream %s now follows epoch %llu from seq %lld (the producer's head is %llu)\n",
               stream, (unsigned long long)end->epoch, (long long)from_seq,
               (unsigned long long)end->head_seq);
        rc = 0;
    }
done:
    if (end)
        conveyor__replay_end__free_unpacked(end, NULL);
    db_destroy(&db);
    curve_destroy(&curve);
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
    if (argc >= 2 && strcmp(argv[1], "key") == 0)
        return key_cli_run(argc - 2, argv + 2);
    return usage();
}
