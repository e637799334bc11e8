/*
 * replay.h — serving a stream's history to consumers that missed events.
 *
 * DESIGN.md "Replaying": every replica binds a ROUTER at REPLAY_ADDR and
 * answers (stream, epoch, from_seq) from its outbox, at most 1,000 events
 * per request, then an END naming the highest seq it holds. The wire
 * format is proto/conveyor/replay.proto. ZMQ_ROUTER_MANDATORY is set and a
 * batch stops (END status PARTIAL) as soon as the requester's pipe is
 * full, so a slow consumer never blocks the server. Below the oldest
 * retained row the answer is TRUNCATED; for another epoch EPOCH_CHANGED.
 *
 * The server is a thread with its own database session; any replica can
 * answer because all read the same outbox. Its endpoint is a CURVE server
 * (curve.h): the key pair is the service's own, so a consumer knows it
 * asks the real producer; only service and operator keys get in, and a
 * request from a key revoked since it connected is not served.
 */
#ifndef CONVEYOR_REPLAY_H
#define CONVEYOR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/curve.h"
#include "conveyor/replay.pb-c.h"

#define REPLAY_BATCH_MAX   1000
#define REPLAY_CMD_REQUEST "REPLAY"
#define REPLAY_CMD_EVENT   "EVENT"
#define REPLAY_CMD_END     "END"

typedef struct {
    const char *dsn;    /* the service's runtime role */
    const char *bind;   /* "tcp://0.0.0.0:5561" */
    const char *stream; /* the stream this service produces */
    const char *app_name;
    /* The service's bus keys (borrowed): the endpoint is a CURVE server
     * with the service's key pair and lets in the service and operator
     * keys of the trusted directory. NULL or off: plain. */
    const curve_t *curve;
    /* Answer every request "unavailable", without reading the database,
     * until replay_server_open: a service's schema may not be migrated when
     * its endpoint is first asked. */
    bool opens_later;
} replay_config_t;

typedef struct replay_server replay_server_t;

/* Asks a producer's replay endpoint for its stream's epoch and head (a
 * head_only request), as an operator's resync does rather than trust what
 * was heard on the bus. server_key is the producer's public key (Z85),
 * ignored with CURVE off. 0 with *end_out (caller frees it with
 * conveyor__replay_end__free_unpacked(*end_out, NULL)); -1 (logged) when no
 * answer came within timeout_ms. */
int replay_query_head(const curve_t *curve, const char *endpoint, const char *server_key,
                      const char *stream, int timeout_ms, Conveyor__ReplayEnd **end_out);

/* Why a request was not served: a stable code for logs and metrics. */
typedef enum {
    REPLAY_REQUEST_OK = 0,
    REPLAY_REQUEST_BAD_COMMAND, /* "bad_command": not ["REPLAY"][ReplayRequest] */
    REPLAY_REQUEST_TOO_LARGE,   /* "too_large": more than REPLAY_REQUEST_MAX bytes */
    REPLAY_REQUEST_BAD_PROTO,   /* "bad_request": does not unpack */
    REPLAY_REQUEST_BAD_STREAM,  /* "bad_stream": the stream is not a stream name */
    REPLAY_REQUEST_REVOKED,     /* "revoked": the asker's key is no longer trusted */
} replay_request_status_t;

#define REPLAY_REQUEST_MAX 4096 /* bytes in a request frame */

const char *replay_request_status_code(replay_request_status_t status);

/* Checks and unpacks the command and request frames a consumer sent (the
 * bytes are a stranger's until this says OK): the command is exactly
 * "REPLAY", the request at most REPLAY_REQUEST_MAX bytes, unpacks, and
 * names a valid stream (bus_name_ok), so nothing echoed back is unbounded.
 * On REPLAY_REQUEST_OK the caller owns *request_out
 * (conveyor__replay_request__free_unpacked(*request_out, NULL)). */
replay_request_status_t replay_request_decode(const void *command, size_t command_len,
                                              const void *request, size_t request_len,
                                              Conveyor__ReplayRequest **request_out);

/* Caller owns the result; binds and starts the thread. NULL (logged) if
 * the endpoint cannot be bound. */
replay_server_t *replay_server_new(const replay_config_t *config);

/* Serves from now on (a server made with opens_later). */
void replay_server_open(replay_server_t *server);

/* Stops the thread and frees; NULL-safe. */
void replay_server_destroy(replay_server_t **self_p);

#endif
