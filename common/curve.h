/*
 * curve.h — a program's identity on the bus: its CurveZMQ key pair, the key
 * of the busd it talks to, and the directory of keys it trusts.
 *
 * DESIGN.md "Bus keys". Every ZeroMQ socket that crosses a process is
 * encrypted and authenticated: clients (a relay's PUB, an inbox's SUB and
 * replay DEALERs, outside publishers) prove their key and check the
 * server's; servers (busd's two ports, every replay endpoint) ask a ZAP
 * handler (zap.h) who may connect. The configuration is environment only:
 *
 *   BUS_SECURITY    "curve" (the default) or "off" — off is for measuring
 *                   what CURVE costs and for nothing else; it is logged as
 *                   a warning at start
 *   BUS_CERT        this program's certificate: the path of NAME.key_secret
 *                   (or NAME.key beside it); czmq's format
 *   BUS_SERVER_KEY  busd's public key: 40 characters of Z85, or the path of
 *                   busd's public certificate
 *   BUS_KEYS_DIR    the public certificates this program trusts (buskeys.h)
 *
 * Keys are read from files or the environment at start, never built into
 * an image. A curve_t does not change after curve_new, so every thread of
 * a process may share one.
 */
#ifndef CONVEYOR_CURVE_H
#define CONVEYOR_CURVE_H

#include <stdbool.h>

#include "common/buskeys.h"

typedef struct {
    const char *security;   /* BUS_SECURITY */
    const char *cert;       /* BUS_CERT */
    const char *server_key; /* BUS_SERVER_KEY */
    const char *keys_dir;   /* BUS_KEYS_DIR */
    bool needs_server_key;  /* the program connects to busd */
    bool needs_keys_dir;    /* the program serves (ZAP) or asks replay peers */
} curve_config_t;

typedef struct curve curve_t;

/* Reads and checks the keys; NULL (logged, naming the variable and why)
 * when one is missing or wrong. Caller owns the result. */
curve_t *curve_new(const curve_config_t *config);
void curve_destroy(curve_t **self_p);

/* The same from the process environment (BUS_SECURITY, BUS_CERT,
 * BUS_SERVER_KEY, BUS_KEYS_DIR), for tools that are not services: the CLI,
 * test and bench programs. */
curve_t *curve_from_env(bool needs_server_key, bool needs_keys_dir);

/* False when BUS_SECURITY=off: the socket functions below do nothing. */
bool curve_enabled(const curve_t *curve);

/* This program's public key (Z85), "" when off. */
const char *curve_public_key(const curve_t *curve);

/* BUS_KEYS_DIR, or NULL when not set. */
const char *curve_keys_dir(const curve_t *curve);

/* Makes socket a CURVE client of the server whose public key is
 * server_public (Z85; NULL means busd's). Before connect. 0 ok, -1
 * (logged). */
int curve_client(const curve_t *curve, void *socket, const char *server_public);

/* Makes socket a CURVE server with this program's secret key; every
 * connection is put to the ZAP handler of the socket's context under
 * zap_domain ("publish", "subscribe", "replay"). Before bind. */
int curve_server(const curve_t *curve, void *socket, const char *zap_domain);

/* A client connection the server refused (a key busd does not trust yet,
 * or any more) is dead for good in libzmq 4.3: the session ends and never
 * reconnects. A watch sees the handshake fail (zmq_socket_monitor), logs
 * it once a minute, and tells its owner when to make the socket anew,
 * with backoff (1 s, then doubling to 30 s), so a key trusted later, or
 * busd's directory read a moment late, heals without a restart. The
 * owner closes the socket (and the watch) and opens a new one: a
 * zmq_disconnect/zmq_connect on the live socket would instead terminate a
 * pipe libzmq may be in the middle of reading a two-frame message from,
 * which libzmq 4.3.4 answers with abort() (fq.cpp: !_more). Owned by the
 * thread that owns the socket; ctx is the socket's context. */
typedef struct curve_watch curve_watch_t;

/* Starts watching socket, connected (or about to be) to endpoint. what
 * names the connection in logs ("relay", "inbox"). NULL with CURVE off
 * (nothing to watch) or on failure. Caller owns the result. */
curve_watch_t *curve_watch_new(const curve_t *curve, void *ctx, void *socket, const char *endpoint,
                               const char *what);

/* Reads what the monitor reported; never blocks. True when the socket is
 * to be made anew now (the owner closes it and this watch, and opens
 * both again). Call it from the owner's loop at least once a second.
 * NULL-safe. */
bool curve_watch_check(curve_watch_t *watch);

/* A watch for a socket made anew keeps its predecessor's backoff and log
 * throttle: copy them over before destroying the old one. */
void curve_watch_inherit(curve_watch_t *watch, const curve_watch_t *previous);

/* Handshakes refused so far. */
unsigned long long curve_watch_refusals(const curve_watch_t *watch);

/* Stops the monitor; before the socket is closed. NULL-safe. */
void curve_watch_destroy(curve_watch_t **self_p);

/* Writes a fresh key pair as czmq certificates: the public one to
 * public_path, the secret one (both keys, mode 0600) to secret_path;
 * metadata role = name (role "service", "source", "operator" or "server").
 * The public key goes to public_out (41 bytes). 0 ok, -1 (logged). */
int curve_cert_create(const char *role, const char *name, const char *public_path,
                      const char *secret_path, char public_out[BUSKEY_Z85_LEN + 1]);

#endif
