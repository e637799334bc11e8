/*
 * certfile.h — reading and writing czmq certificate files (the format of
 * bus keys, DESIGN.md "Bus keys"), without czmq in the reader's includes.
 *
 * czmq's headers pull in <syslog.h>, whose LOG_INFO and friends collide
 * with common/log.h; this file is the one place that includes czmq (to
 * write certificates with zcert), so buskeys.c and curve.c stay on the
 * kit's logging. No logging here: the
 * callers say what failed and why.
 */
#ifndef CONVEYOR_CERTFILE_H
#define CONVEYOR_CERTFILE_H

#include <stdbool.h>

#define CERTFILE_KEY_LEN  40 /* Z85 characters */
#define CERTFILE_NAME_MAX 64

/* What a certificate file holds. A role value longer than
 * CERTFILE_NAME_MAX-1 bytes is kept empty with its flag set. */
typedef struct {
    char public_key[CERTFILE_KEY_LEN + 1];
    char secret_key[CERTFILE_KEY_LEN + 1]; /* "" in a public certificate */
    bool has_service, has_source, has_operator;
    char service[CERTFILE_NAME_MAX], source[CERTFILE_NAME_MAX], operator_name[CERTFILE_NAME_MAX];
} certfile_t;

/* Reads path as czmq's zcert_load would (NAME.key_secret when it exists
 * beside NAME.key, else path itself), with a strict reader of its own: at
 * most 64 KiB, a curve section with a 40-character public key. 0 ok; -1
 * when it is not a certificate. */
int certfile_read(const char *path, certfile_t *out);

/* A fresh key pair with metadata role = name: the public certificate to
 * public_path, the secret one (both keys) to secret_path with mode 0600.
 * Refuses (-1, errno EEXIST) to overwrite either file. The public key goes
 * to public_out. */
int certfile_create(const char *role, const char *name, const char *public_path,
                    const char *secret_path, char public_out[CERTFILE_KEY_LEN + 1]);

#endif
