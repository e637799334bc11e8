/*
 * test_curve.c — bus keys (certfile, buskeys, curve, zap) with real
 * certificate files in a directory of this run's own and real CURVE
 * sockets over loopback TCP.
 *
 * Proves: a key pair is written as czmq certificates (public and secret,
 * the secret mode 0600) and never over an existing file; the trusted
 * directory yields one entry per public certificate with exactly one role
 * of a valid name, skipping secret files, garbage, two-role and badly
 * named certificates; a key added or removed is seen after a refresh;
 * a service's keys are listed in file order (a rotation's two);
 * curve_new refuses a missing certificate, a public-only one, a bad server
 * key and a missing keys directory, and reads the server key as Z85 or a
 * path; off means plain sockets. Through a CURVE server with the ZAP
 * handler: a trusted key whose role the policy allows gets in and its
 * messages carry its public key as User-Id; a role the policy refuses, an
 * unknown key and a client without CURVE get nothing through; and a
 * client refused because its key was not trusted yet gets in by itself
 * once it is (curve_watch reconnects).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "common/buskeys.h"
#include "common/certfile.h"
#include "common/clock.h"
#include "common/curve.h"
#include "common/zap.h"

static char root[128], trusted[160], secret[160];

static void path_of(char *out, size_t size, const char *dir, const char *file)
{
    snprintf(out, size, "%s/%s", dir, file);
}

/* Issues NAME with role into trusted/ (public) and secret/ (secret). */
static void issue(const char *role, const char *name, const char *file, char public_out[41])
{
    char public_path[256], secret_path[256], file_key[96], file_secret[96];
    snprintf(file_key, sizeof file_key, "%s.key", file);
    snprintf(file_secret, sizeof file_secret, "%s.key_secret", file);
    path_of(public_path, sizeof public_path, trusted, file_key);
    path_of(secret_path, sizeof secret_path, secret, file_secret);
    char ignored[41];
    assert_int_equal(
        curve_cert_create(role, name, public_path, secret_path, public_out ? public_out : ignored),
        0);
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[256];
    path_of(path, sizeof path, dir, file);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_curve_%d", (int)getpid());
    snprintf(trusted, sizeof trusted, "%s/trusted", root);
    snprintf(secret, sizeof secret, "%s/secret", root);
    mkdir(root, 0700);
    mkdir(trusted, 0700);
    mkdir(secret, 0700);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char command[256];
    snprintf(command, sizeof command, "rm -rf %s", root);
    return system(command) == 0 ? 0 : -1;
}

static void test_cert_files(void **state)
{
    (void)state;
    char public_key[41];
    issue("service", "order", "order", public_key);
    char path[256];
    certfile_t cert;
    path_of(path, sizeof path, secret, "order.key_secret");
    assert_int_equal(certfile_read(path, &cert), 0);
    assert_string_equal(cert.public_key, public_key);
    assert_int_equal(strlen(cert.secret_key), 40);
    assert_true(cert.has_service);
    assert_string_equal(cert.service, "order");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the public file has no secret */
    path_of(path, sizeof path, trusted, "order.key");
    assert_int_equal(certfile_read(path, &cert), 0);
    assert_string_equal(cert.secret_key, "");
    /* never over an existing file */
    char public_path[256], secret_path[256], again[41];
    path_of(public_path, sizeof public_path, trusted, "order.key");
    path_of(secret_path, sizeof secret_path, secret, "other.key_secret");
    assert_int_equal(curve_cert_create("service", "order", public_path, secret_path, again), -1);
    path_of(path, sizeof path, trusted, "nothing-here.key");
    assert_int_equal(certfile_read(path, &cert), -1);
}

static void test_trusted_directory(void **state)
{
    (void)state;
    char order[41], site[41], ops[41], order2[41];
    issue("service", "order", "order", order);
    issue("source", "site-main", "site-main", site);
    issue("operator", "alice", "alice", ops);
    /* what must be skipped: garbage, a secret file, two roles, a bad name */
    write_file(trusted, "garbage.key", "this is no certificate\n");
    char secret_copy[512];
    snprintf(secret_copy, sizeof secret_copy, "cp %s/alice.key_secret %s/", secret, trusted);
    assert_int_equal(system(secret_copy), 0);
    write_file(trusted, "two-roles.key",
               "metadata\n    service = \"order\"\n    source = \"order\"\ncurve\n"
               "    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n");
    write_file(trusted, "bad-name.key",
               "metadata\n    source = \"Site Main\"\ncurve\n"
               "    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n");
    buskeys_t *keys = buskeys_new(trusted);
    assert_non_null(keys);
    assert_int_equal(buskeys_count(keys), 3);
    buskey_t key;
    assert_true(buskeys_find(keys, order, &key));
    assert_int_equal(key.role, BUSKEY_SERVICE);
    assert_string_equal(key.name, "order");
    assert_true(buskeys_find(keys, site, &key));
    assert_int_equal(key.role, BUSKEY_SOURCE);
    assert_string_equal(key.name, "site-main");
    assert_true(buskeys_find(keys, ops, &key));
    assert_int_equal(key.role, BUSKEY_OPERATOR);
    assert_false(buskeys_find(keys, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", &key));
    assert_false(buskeys_find(keys, NULL, &key));
    assert_false(buskeys_find(keys, "short", &key));

    /* a rotation: a second key of the service; then the first revoked */
    issue("service", "order", "order-2", order2);
    int64_t deadline = clock_mono_ms() + 3000;
    while (buskeys_refresh_now(keys) != 1)
        assert_true(clock_mono_ms() < deadline);
    char listed[4][BUSKEY_Z85_LEN + 1];
    assert_int_equal(buskeys_of_service(keys, "order", listed, 4), 2);
    /* file name order: "order-2.key" sorts before "order.key" */
    assert_string_equal(listed[0], order2);
    assert_string_equal(listed[1], order);
    char path[256];
    path_of(path, sizeof path, trusted, "order.key");
    assert_int_equal(unlink(path), 0);
    deadline = clock_mono_ms() + 3000;
    while (buskeys_refresh_now(keys) != 1)
        assert_true(clock_mono_ms() < deadline);
    assert_false(buskeys_find(keys, order, &key));
    assert_true(buskeys_find(keys, order2, &key));
    assert_int_equal(buskeys_of_service(keys, "order", listed, 4), 1);
    buskeys_destroy(&keys);
    assert_null(keys);
    assert_null(buskeys_new("/nonexistent/keys"));
}

static void test_curve_config(void **state)
{
    (void)state;
    char busd[41];
    issue("service", "order", "order", NULL);
    char busd_public[256], busd_secret[256];
    path_of(busd_public, sizeof busd_public, secret, "busd.key");
    path_of(busd_secret, sizeof busd_secret, secret, "busd.key_secret");
    assert_int_equal(curve_cert_create("server", "busd", busd_public, busd_secret, busd), 0);
    char cert[256], public_only[256];
    path_of(cert, sizeof cert, secret, "order.key_secret");
    path_of(public_only, sizeof public_only, trusted, "order.key");

    curve_config_t config = {.cert = cert,
                             .server_key = busd,
                             .keys_dir = trusted,
                             .needs_server_key = true,
                             .needs_keys_dir = true};
    curve_t *curve = curve_new(&config);
    assert_non_null(curve);
    assert_true(curve_enabled(curve));
    assert_int_equal(strlen(curve_public_key(curve)), 40);
    curve_destroy(&curve);
    config.server_key = busd_public; /* a path works too */
    curve = curve_new(&config);
    assert_non_null(curve);
    curve_destroy(&curve);

    curve_config_t wrong = config;
    wrong.cert = "/nonexistent.key_secret";
    assert_null(curve_new(&wrong));
    wrong = config;
    wrong.cert = public_only;
    assert_null(curve_new(&wrong)); /* no secret key */
    wrong = config;
    wrong.server_key = "not a key";
    assert_null(curve_new(&wrong));
    wrong = config;
    wrong.keys_dir = NULL;
    assert_null(curve_new(&wrong));
    wrong = config;
    wrong.security = "sometimes";
    assert_null(curve_new(&wrong));

    curve_config_t off = {.security = "off"};
    curve = curve_new(&off);
    assert_non_null(curve);
    assert_false(curve_enabled(curve));
    assert_string_equal(curve_public_key(curve), "");
    curve_destroy(&curve);
}

/* --- through real sockets ------------------------------------------------------------ */

static bool services_only(const char *domain, const buskey_t *key, void *arg)
{
    (void)arg;
    return strcmp(domain, "publish") == 0 && key->role == BUSKEY_SERVICE;
}

typedef struct {
    void *ctx;
    buskeys_t *keys;
    zap_t *zap;
    curve_t *server;
    void *pull;
    char endpoint[64];
} rig_t;

static void rig_open(rig_t *rig)
{
    memset(rig, 0, sizeof *rig);
    char busd_public[256], busd_secret[256], busd[41];
    path_of(busd_public, sizeof busd_public, secret, "busd.key");
    path_of(busd_secret, sizeof busd_secret, secret, "busd.key_secret");
    assert_int_equal(curve_cert_create("server", "busd", busd_public, busd_secret, busd), 0);
    curve_config_t config = {.cert = busd_secret, .keys_dir = trusted, .needs_keys_dir = true};
    rig->server = curve_new(&config);
    assert_non_null(rig->server);
    rig->ctx = zmq_ctx_new();
    rig->keys = buskeys_new(trusted);
    assert_non_null(rig->keys);
    rig->zap = zap_new(rig->ctx, rig->keys, services_only, NULL, "test");
    assert_non_null(rig->zap);
    rig->pull = zmq_socket(rig->ctx, ZMQ_PULL);
    assert_int_equal(curve_server(rig->server, rig->pull, "publish"), 0);
    assert_int_equal(zmq_bind(rig->pull, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof rig->endpoint;
    assert_int_equal(zmq_getsockopt(rig->pull, ZMQ_LAST_ENDPOINT, rig->endpoint, &len), 0);
}

static void rig_close(rig_t *rig)
{
    zmq_close(rig->pull);
    zap_destroy(&rig->zap);
    buskeys_destroy(&rig->keys);
    zmq_ctx_term(rig->ctx);
    curve_destroy(&rig->server);
}

/* A client of the rig with the key in secret/FILE.key_secret (NULL: no
 * CURVE at all). */
static curve_t *client_curve(const char *file)
{
    char cert[256], busd_public[256], name[96];
    snprintf(name, sizeof name, "%s.key_secret", file ? file : "none");
    path_of(cert, sizeof cert, secret, name);
    path_of(busd_public, sizeof busd_public, secret, "busd.key");
    curve_config_t config = {.security = file ? "curve" : "off",
                             .cert = cert,
                             .server_key = busd_public,
                             .needs_server_key = true};
    curve_t *curve = curve_new(&config);
    assert_non_null(curve);
    return curve;
}

/* Serves ZAP and reads the rig's PULL for up to ms; the User-Id of the
 * first message received into user_id (when given), or false. */
static bool rig_receive(rig_t *rig, int ms, char *user_id, size_t size)
{
    int64_t deadline = clock_mono_ms() + ms;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return false;
        zmq_pollitem_t items[2] = {{rig->pull, 0, ZMQ_POLLIN, 0},
                                   {zap_socket(rig->zap), 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, 2, (long)(left < 50 ? left : 50));
        if (items[1].revents & ZMQ_POLLIN)
            zap_serve(rig->zap);
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            assert_true(zmq_msg_recv(&msg, rig->pull, 0) >= 0);
            const char *sender = zmq_msg_gets(&msg, "User-Id");
            if (user_id)
                snprintf(user_id, size, "%s", sender ? sender : "");
            zmq_msg_close(&msg);
            return true;
        }
    }
}

static void *client_push(rig_t *rig, const curve_t *curve)
{
    void *push = zmq_socket(rig->ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(curve_client(curve, push, NULL), 0);
    assert_int_equal(zmq_connect(push, rig->endpoint), 0);
    zmq_send(push, "hello", 5, ZMQ_DONTWAIT);
    return push;
}

static void test_zap_lets_in_what_the_policy_allows(void **state)
{
    (void)state;
    char order[41];
    issue("service", "order", "order", order);
    issue("source", "site-main", "site-main", NULL);
    rig_t rig;
    rig_open(&rig);
    /* a key whose role may not publish, an untrusted key, no CURVE */
    curve_t *source = client_curve("site-main");
    void *refused = client_push(&rig, source);
    char stranger_public[256], stranger_secret[256], ignored[41];
    path_of(stranger_public, sizeof stranger_public, root, "stranger.key");
    path_of(stranger_secret, sizeof stranger_secret, secret, "stranger.key_secret");
    assert_int_equal(
        curve_cert_create("service", "order", stranger_public, stranger_secret, ignored), 0);
    curve_t *stranger = client_curve("stranger");
    void *unknown = client_push(&rig, stranger);
    curve_t *plain = client_curve(NULL);
    void *naked = client_push(&rig, plain);
    assert_false(rig_receive(&rig, 700, NULL, 0));
    assert_true(zap_refused(rig.zap) >= 2);
    assert_int_equal(zap_allowed(rig.zap), 0);

    /* the service key gets in, and says who it is on every message */
    curve_t *service = client_curve("order");
    void *allowed = client_push(&rig, service);
    char user_id[64];
    assert_true(rig_receive(&rig, 3000, user_id, sizeof user_id));
    assert_string_equal(user_id, order);
    assert_int_equal(zap_allowed(rig.zap), 1);
    assert_false(rig_receive(&rig, 300, NULL, 0)); /* nothing of the others came after */

    zmq_close(refused);
    zmq_close(unknown);
    zmq_close(naked);
    zmq_close(allowed);
    curve_destroy(&source);
    curve_destroy(&stranger);
    curve_destroy(&plain);
    curve_destroy(&service);
    rig_close(&rig);
}

/* A refused client's socket, and its watch, made anew when the watch says
 * so (what an owner of a bus socket does). */
static void *watched_push(rig_t *rig, const curve_t *curve, curve_watch_t **watch_p)
{
    void *push = zmq_socket(rig->ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(curve_client(curve, push, NULL), 0);
    curve_watch_t *watch = curve_watch_new(curve, rig->ctx, push, rig->endpoint, "test");
    assert_non_null(watch);
    curve_watch_inherit(watch, *watch_p);
    curve_watch_destroy(watch_p);
    *watch_p = watch;
    assert_int_equal(zmq_connect(push, rig->endpoint), 0);
    zmq_send(push, "hello", 5, ZMQ_DONTWAIT);
    return push;
}

/* libzmq never reconnects a refused client by itself: the watch says when
 * to make the socket anew, so a key trusted a moment after the first
 * attempt gets in. */
static void test_watch_reconnects_a_refused_client(void **state)
{
    (void)state;
    rig_t rig;
    rig_open(&rig);
    /* the key exists but is not trusted yet: its public file is elsewhere */
    char public_path[256], secret_path[256], public_key[41];
    path_of(public_path, sizeof public_path, root, "late.key");
    path_of(secret_path, sizeof secret_path, secret, "late.key_secret");
    assert_int_equal(curve_cert_create("service", "late", public_path, secret_path, public_key), 0);
    curve_t *late = client_curve("late");
    curve_watch_t *watch = NULL;
    void *push = watched_push(&rig, late, &watch);
    int64_t deadline = clock_mono_ms() + 3000;
    while (curve_watch_refusals(watch) == 0) {
        assert_true(clock_mono_ms() < deadline);
        rig_receive(&rig, 50, NULL, 0);
        assert_false(curve_watch_check(watch)); /* not yet: the backoff runs */
    }
    /* now it is trusted (and the ZAP handler has looked before) */
    char moved[512];
    snprintf(moved, sizeof moved, "mv %s %s/late.key", public_path, trusted);
    assert_int_equal(system(moved), 0);
    deadline = clock_mono_ms() + 6000;
    char user_id[64] = "";
    int reopened = 0;
    while (!rig_receive(&rig, 100, user_id, sizeof user_id)) {
        assert_true(clock_mono_ms() < deadline);
        if (curve_watch_check(watch)) {
            zmq_close(push);
            push = watched_push(&rig, late, &watch);
            reopened++;
        }
    }
    assert_true(reopened >= 1);
    assert_true(curve_watch_refusals(watch) >= 1); /* inherited */
    assert_string_equal(user_id, public_key);
    curve_watch_destroy(&watch);
    zmq_close(push);
    curve_destroy(&late);
    rig_close(&rig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cert_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zap_lets_in_what_the_policy_allows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_reconnects_a_refused_client, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
