/*
 * zap.h — who may connect to a CURVE server socket: a ZAP handler
 * (ZeroMQ RFC 27) over the trusted keys (buskeys.h).
 *
 * libzmq asks the handler bound at inproc://zeromq.zap.01 in the socket's
 * context about every new connection, naming the socket's ZAP domain and
 * the client's public key. This handler answers 200 when the key is
 * trusted and the caller's policy allows its role in that domain, with the
 * Z85 public key as User-Id — libzmq then stamps it on every message of
 * that connection (zmq_msg_gets(msg, "User-Id")), which is how busd checks,
 * frame by frame, that a key publishes only what its role may. Anything
 * else is 400. A refused key is counted and logged once per key per
 * minute.
 *
 * The handler is not a thread: its owner polls zap_socket() in its own
 * loop and calls zap_serve() (busd's forwarding loop, the replay server's
 * thread), and refreshes the keys it lent (buskeys_refresh) there too.
 */
#ifndef CONVEYOR_ZAP_H
#define CONVEYOR_ZAP_H

#include <stdbool.h>

#include "common/buskeys.h"

/* May a key of this role connect in this domain? */
typedef bool (*zap_allow_fn)(const char *domain, const buskey_t *key, void *arg);

typedef struct zap zap_t;

/* Binds the ZAP endpoint of ctx (one handler per context). keys is
 * borrowed and must outlive the handler. owner names the program in logs
 * and metrics ("busd", "replay"). NULL (logged) on failure. Caller owns
 * the result. */
zap_t *zap_new(void *ctx, buskeys_t *keys, zap_allow_fn allow, void *allow_arg, const char *owner);
void zap_destroy(zap_t **self_p);

/* The socket to poll for ZMQ_POLLIN. */
void *zap_socket(zap_t *zap);

/* Answers every request waiting (never blocks). */
void zap_serve(zap_t *zap);

/* Requests answered 200 / 400 so far. */
unsigned long long zap_allowed(const zap_t *zap);
unsigned long long zap_refused(const zap_t *zap);

#endif
