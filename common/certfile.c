/*
 * certfile.c — czmq certificate files (certfile.h), through zcert.
 */
#include "common/certfile.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void copy_role(zcert_t *cert, const char *role, bool *has, char *out)
{
    const char *value = zcert_meta(cert, role);
    *has = value != NULL;
    out[0] = '\0';
    if (value && strlen(value) < CERTFILE_NAME_MAX)
        memcpy(out, value, strlen(value) + 1);
}

int certfile_read(const char *path, certfile_t *out)
{
    memset(out, 0, sizeof *out);
    if (!path || strlen(path) >= 240)
        return -1;
    zcert_t *cert = zcert_load(path);
    if (!cert)
        return -1;
    const char *public_txt = zcert_public_txt(cert);
    const char *secret_txt = zcert_secret_txt(cert);
    int rc = -1;
    if (public_txt && strlen(public_txt) == CERTFILE_KEY_LEN) {
        memcpy(out->public_key, public_txt, CERTFILE_KEY_LEN + 1);
        /* czmq reads a public certificate's missing secret as forty zeros */
        if (secret_txt && strlen(secret_txt) == CERTFILE_KEY_LEN &&
            strspn(secret_txt, "0") != CERTFILE_KEY_LEN)
            memcpy(out->secret_key, secret_txt, CERTFILE_KEY_LEN + 1);
        copy_role(cert, "service", &out->has_service, out->service);
        copy_role(cert, "source", &out->has_source, out->source);
        copy_role(cert, "operator", &out->has_operator, out->operator_name);
        rc = 0;
    }
    zcert_destroy(&cert);
    return rc;
}

int certfile_create(const char *role, const char *name, const char *public_path,
                    const char *secret_path, char public_out[CERTFILE_KEY_LEN + 1])
{
    if (access(public_path, F_OK) == 0 || access(secret_path, F_OK) == 0) {
        errno = EEXIST;
        return -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert)
        return -1;
    zcert_set_meta(cert, role, "%s", name);
    int rc = zcert_save_public(cert, public_path);
    if (rc == 0) {
        mode_t old = umask(077);
        rc = zcert_save_secret(cert, secret_path);
        umask(old);
        if (rc == 0)
            rc = chmod(secret_path, 0600);
    }
    if (rc == 0)
        memcpy(public_out, zcert_public_txt(cert), CERTFILE_KEY_LEN + 1);
    zcert_destroy(&cert);
    return rc == 0 ? 0 : -1;
}
