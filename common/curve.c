/*
 * curve.c — a program's bus keys and the CURVE setup of its sockets
 * (curve.h). Certificates are read and written with czmq's zcert.
 */
#include "common/curve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "common/certfile.h"
#include "common/clock.h"
#include "common/log.h"

struct curve {
    bool enabled;
    char public_key[BUSKEY_Z85_LEN + 1];
    char secret_key[BUSKEY_Z85_LEN + 1];
    char server_key[BUSKEY_Z85_LEN + 1]; /* busd's; "" when not needed */
    char *keys_dir;
};

static bool z85_key_ok(const char *text)
{
    uint8_t binary[32];
    return text && strlen(text) == BUSKEY_Z85_LEN && zmq_z85_decode(binary, text) != NULL &&
           strspn(text, "0") != BUSKEY_Z85_LEN;
}

/* The public key named by value: Z85 itself, or a certificate's path. */
static int read_public(const char *value, char out[BUSKEY_Z85_LEN + 1])
{
    if (z85_key_ok(value)) {
        memcpy(out, value, BUSKEY_Z85_LEN + 1);
        return 0;
    }
    struct stat st;
    certfile_t cert;
    if (!value || stat(value, &st) != 0 || !S_ISREG(st.st_mode) ||
        certfile_read(value, &cert) != 0 || !z85_key_ok(cert.public_key))
        return -1;
    memcpy(out, cert.public_key, BUSKEY_Z85_LEN + 1);
    return 0;
}

curve_t *curve_new(const curve_config_t *config)
{
    curve_t *curve = calloc(1, sizeof *curve);
    if (!curve)
        return NULL;
    const char *security = config->security && *config->security ? config->security : "curve";
    if (strcmp(security, "off") == 0) {
        log_warn("bus security is off (BUS_SECURITY=off): anyone who reaches the bus and replay "
                 "ports can read and publish; use this only to measure what CURVE costs",
                 LF_ERR("bus_insecure"));
        return curve;
    }
    if (strcmp(security, "curve") != 0) {
        log_error("BUS_SECURITY must be curve or off", LF_STR("value", security),
                  LF_ERR("bad_config"));
        goto fail;
    }
    curve->enabled = true;
    struct stat st;
    certfile_t cert;
    if (!config->cert || !*config->cert || stat(config->cert, &st) != 0 ||
        certfile_read(config->cert, &cert) != 0) {
        log_error("BUS_CERT does not name a readable certificate (this program's key pair; "
                  "conveyor key new makes one)",
                  LF_STR("path", config->cert ? config->cert : ""), LF_ERR("bad_config"));
        goto fail;
    }
    bool pair_ok = z85_key_ok(cert.public_key) && z85_key_ok(cert.secret_key);
    if (pair_ok) {
        memcpy(curve->public_key, cert.public_key, BUSKEY_Z85_LEN + 1);
        memcpy(curve->secret_key, cert.secret_key, BUSKEY_Z85_LEN + 1);
    }
    explicit_bzero(&cert, sizeof cert);
    if (!pair_ok) {
        log_error("BUS_CERT holds no secret key: name the NAME.key_secret file",
                  LF_STR("path", config->cert), LF_ERR("bad_config"));
        goto fail;
    }
    if (config->needs_server_key && read_public(config->server_key, curve->server_key) != 0) {
        log_error("BUS_SERVER_KEY is neither a Z85 public key nor the path of busd's public "
                  "certificate",
                  LF_ERR("bad_config"));
        goto fail;
    }
    if (config->keys_dir && *config->keys_dir) {
        if (stat(config->keys_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            log_error("BUS_KEYS_DIR is not a directory", LF_STR("path", config->keys_dir),
                      LF_ERR("bad_config"));
            goto fail;
        }
        curve->keys_dir = strdup(config->keys_dir);
        if (!curve->keys_dir)
            goto fail;
    } else if (config->needs_keys_dir) {
        log_error("BUS_KEYS_DIR is not set: the public keys this program trusts",
                  LF_ERR("bad_config"));
        goto fail;
    }
    return curve;
fail:
    curve_destroy(&curve);
    return NULL;
}

curve_t *curve_from_env(bool needs_server_key, bool needs_keys_dir)
{
    curve_config_t config = {
        .security = getenv("BUS_SECURITY"),
        .cert = getenv("BUS_CERT"),
        .server_key = getenv("BUS_SERVER_KEY"),
        .keys_dir = getenv("BUS_KEYS_DIR"),
        .needs_server_key = needs_server_key,
        .needs_keys_dir = needs_keys_dir,
    };
    return curve_new(&config);
}

void curve_destroy(curve_t **self_p)
{
    curve_t *curve = *self_p;
    if (!curve)
        return;
    explicit_bzero(curve->secret_key, sizeof curve->secret_key);
    free(curve->keys_dir);
    free(curve);
    *self_p = NULL;
}

bool curve_enabled(const curve_t *curve)
{
    return curve && curve->enabled;
}

const char *curve_public_key(const curve_t *curve)
{
    return curve_enabled(curve) ? curve->public_key : "";
}

const char *curve_keys_dir(const curve_t *curve)
{
    return curve ? curve->keys_dir : NULL;
}

static int set_key(void *socket, int option, const char *z85)
{
    return zmq_setsockopt(socket, option, z85, BUSKEY_Z85_LEN + 1);
}

int curve_client(const curve_t *curve, void *socket, const char *server_public)
{
    if (!curve_enabled(curve))
        return 0;
    const char *server = server_public ? server_public : curve->server_key;
    if (!z85_key_ok(server)) {
        log_error("no server key to connect with", LF_ERR("bad_config"));
        return -1;
    }
    if (set_key(socket, ZMQ_CURVE_SERVERKEY, server) != 0 ||
        set_key(socket, ZMQ_CURVE_PUBLICKEY, curve->public_key) != 0 ||
        set_key(socket, ZMQ_CURVE_SECRETKEY, curve->secret_key) != 0) {
        log_error("could not make a CURVE client socket", LF_STR("error", zmq_strerror(errno)),
                  LF_ERR("curve_failed"));
        return -1;
    }
    return 0;
}

int curve_server(const curve_t *curve, void *socket, const char *zap_domain)
{
    if (!curve_enabled(curve))
        return 0;
    int one = 1;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        set_key(socket, ZMQ_CURVE_SECRETKEY, curve->secret_key) != 0 ||
        zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) != 0) {
        log_error("could not make a CURVE server socket", LF_STR("domain", zap_domain),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("curve_failed"));
        return -1;
    }
    return 0;
}

int curve_cert_create(const char *role, const char *name, const char *public_path,
                      const char *secret_path, char public_out[BUSKEY_Z85_LEN + 1])
{
    if (certfile_create(role, name, public_path, secret_path, public_out) == 0)
        return 0;
    if (errno == EEXIST)
        log_error("a key file exists already: revoke or move it first",
                  LF_STR("public", public_path), LF_STR("secret", secret_path),
                  LF_ERR("key_exists"));
    else
        log_error("could not write the key files", LF_STR("public", public_path),
                  LF_STR("secret", secret_path), LF_STR("error", strerror(errno)),
                  LF_ERR("key_write_failed"));
    return -1;
}

struct curve_watch {
    void *socket;  /* borrowed: the watched client */
    void *monitor; /* PAIR receiving the socket's handshake events */
    char endpoint[256];
    char what[32];
    int64_t reconnect_at_ms; /* 0: nothing due */
    int64_t backoff_ms;
    unsigned long long refusals;
    log_throttle_t log;
};

curve_watch_t *curve_watch_new(const curve_t *curve, void *ctx, void *socket, const char *endpoint,
                               const char *what)
{
    if (!curve_enabled(curve))
        return NULL;
    curve_watch_t *watch = calloc(1, sizeof *watch);
    if (!watch)
        return NULL;
    watch->socket = socket;
    snprintf(watch->endpoint, sizeof watch->endpoint, "%s", endpoint);
    snprintf(watch->what, sizeof watch->what, "%s", what);
    char monitor_endpoint[64];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://curve-watch-%p", (void *)watch);
    int linger = 0;
    if (zmq_socket_monitor(socket, monitor_endpoint,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        !(watch->monitor = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(watch->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(watch->monitor, monitor_endpoint) != 0) {
        log_error("could not watch a bus connection", LF_STR("what", what),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("curve_failed"));
        curve_watch_destroy(&watch);
        return NULL;
    }
    return watch;
}

bool curve_watch_check(curve_watch_t *watch)
{
    if (!watch)
        return false;
    for (;;) {
        zmq_msg_t event, address;
        zmq_msg_init(&event);
        zmq_msg_init(&address);
        if (zmq_msg_recv(&event, watch->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&event);
            zmq_msg_close(&address);
            break;
        }
        if (zmq_msg_more(&event))
            zmq_msg_recv(&address, watch->monitor, 0);
        uint16_t id = 0;
        if (zmq_msg_size(&event) >= 2)
            memcpy(&id, zmq_msg_data(&event), sizeof id);
        zmq_msg_close(&event);
        zmq_msg_close(&address);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            watch->backoff_ms = 0;
            continue;
        }
        watch->refusals++;
        watch->backoff_ms = watch->backoff_ms ? watch->backoff_ms * 2 : 1000;
        if (watch->backoff_ms > 30000)
            watch->backoff_ms = 30000;
        watch->reconnect_at_ms = clock_mono_ms() + watch->backoff_ms;
        unsigned long long held_back = 0;
        if (log_throttle_allow(&watch->log, 60000, &held_back))
            log_error(id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          ? "the server refused our bus key (is BUS_CERT's public key in the "
                            "server's BUS_KEYS_DIR?): connecting again"
                          : "the bus handshake failed (busd restarting, or is BUS_SERVER_KEY "
                            "the server's?): connecting again",
                      LF_STR("what", watch->what), LF_STR("endpoint", watch->endpoint),
                      LF_INT("retry_in_ms", (long long)watch->backoff_ms),
                      LF_INT("refused_since_last_line", (long long)held_back),
                      LF_ERR("bus_key_refused"));
    }
    if (watch->reconnect_at_ms != 0 && clock_mono_ms() >= watch->reconnect_at_ms) {
        watch->reconnect_at_ms = 0;
        return true;
    }
    return false;
}

void curve_watch_inherit(curve_watch_t *watch, const curve_watch_t *previous)
{
    if (!watch || !previous)
        return;
    watch->backoff_ms = previous->backoff_ms;
    watch->refusals = previous->refusals;
    watch->log = previous->log;
}

unsigned long long curve_watch_refusals(const curve_watch_t *watch)
{
    return watch ? watch->refusals : 0;
}

void curve_watch_destroy(curve_watch_t **self_p)
{
    curve_watch_t *watch = *self_p;
    if (!watch)
        return;
    zmq_socket_monitor(watch->socket, NULL, 0);
    if (watch->monitor)
        zmq_close(watch->monitor);
    free(watch);
    *self_p = NULL;
}
