/*
 * buskeys.h — the bus keys a process trusts, and what each may do.
 *
 * DESIGN.md "Bus keys": every program on the bus has a CurveZMQ key pair
 * kept as czmq certificate files; the public halves that busd and the
 * replay servers trust live in one directory (BUS_KEYS_DIR), one file per
 * key, whose metadata names the key's role:
 *
 *     service = "order"        publishes the stream "order", reads anything,
 *                              asks replay; its key is also the server key
 *                              of the service's replay endpoint
 *     source = "site-main"     an outside system: publishes ext/intake.order
 *                              under its own name, hears intake answers
 *     operator = "alice"       a person's tools: reads, asks replay,
 *                              publishes nothing
 *
 * The set is re-read when the directory changes (a key added for a
 * rotation, a key revoked), so no process restarts to learn it. Lookups
 * are by the Z85 public key the ZAP handler and the User-Id of a message
 * carry. One buskeys_t per thread that reads it: it is not thread-safe.
 */
#ifndef CONVEYOR_BUSKEYS_H
#define CONVEYOR_BUSKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

#define BUSKEY_Z85_LEN 40 /* characters of a Z85 CURVE key */

typedef enum {
    BUSKEY_SERVICE = 1,
    BUSKEY_SOURCE,
    BUSKEY_OPERATOR,
} buskey_role_t;

/* "service", "source" or "operator". */
const char *buskey_role_name(buskey_role_t role);

/* One trusted key. */
typedef struct {
    char public_key[BUSKEY_Z85_LEN + 1]; /* Z85 */
    buskey_role_t role;
    char name[BUS_NAME_MAX]; /* the service, source or operator */
} buskey_t;

typedef struct buskeys buskeys_t;

/* Reads the directory now. A file that is not a public certificate with
 * exactly one role of a valid name is skipped with a warning. NULL (logged)
 * when the directory cannot be read. Caller owns the result. */
buskeys_t *buskeys_new(const char *dir);
void buskeys_destroy(buskeys_t **self_p);

/* Looks at the directory at most once a second and re-reads it when a file
 * was added, removed or changed. 1 re-read, 0 unchanged or not yet time,
 * -1 the directory could not be read (the set in hand stays). */
int buskeys_refresh(buskeys_t *keys);

/* The same now, unless the directory was looked at in the last 100 ms:
 * for a key that is not trusted yet, which may have been added a moment
 * ago (a refused connection does not come back by itself). */
int buskeys_refresh_now(buskeys_t *keys);

/* The entry of a Z85 public key; false when it is not trusted (now). */
bool buskeys_find(const buskeys_t *keys, const char *public_z85, buskey_t *out);

/* The public keys whose role is service = name, in file name order (the
 * server keys a replay peer of that stream may hold during a rotation).
 * Copies up to max into out; returns how many there are. */
size_t buskeys_of_service(const buskeys_t *keys, const char *name, char out[][BUSKEY_Z85_LEN + 1],
                          size_t max);

/* Keys trusted now. */
size_t buskeys_count(const buskeys_t *keys);

/* Counts re-reads after which a key trusted before was not any more: a
 * server that let it in cuts its connections when this moves. */
uint64_t buskeys_revocations(const buskeys_t *keys);

/* Counts re-reads that changed the set: a cache may key on it. */
uint64_t buskeys_generation(const buskeys_t *keys);

#endif
