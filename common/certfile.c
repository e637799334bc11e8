/*
 * certfile.c — czmq certificate files (certfile.h): written with zcert,
 * read with a small reader of our own (see parse_cert).
 */
#include "common/certfile.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERT_TEXT_MAX (64 * 1024)

/* Copies a ZPL value (quoted, or bare up to white space or a comment) into
 * out; false when it does not fit or is not closed. */
static bool zpl_value(const char *text, char *out, size_t size)
{
    text += strspn(text, " \t");
    size_t len;
    if (*text == '"' || *text == '\'') {
        const char *close = strchr(text + 1, *text);
        if (!close)
            return false;
        len = (size_t)(close - text - 1);
        text++;
    } else {
        len = strcspn(text, " \t#");
    }
    if (len >= size)
        return false;
    memcpy(out, text, len);
    out[len] = '\0';
    return true;
}

/* Reads the ZPL of a czmq certificate (ZeroMQ RFC 4: sections at column 0,
 * "name = value" indented under them). Ours, not zconfig_load: that one
 * leaks on a file that does not parse, and the trusted directory is read
 * again and again. */
static int parse_cert(const char *text, certfile_t *out)
{
    char section[32] = "";
    bool have_public = false;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char buf[512];
        if (len >= sizeof buf)
            return -1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[len - 1] = '\0';
        line += len + (line[len] == '\n');
        const char *content = buf + strspn(buf, " \t");
        if (*content == '\0' || *content == '#')
            continue;
        if (content == buf) { /* a section */
            if (snprintf(section, sizeof section, "%.*s", (int)strcspn(buf, " \t#"), buf) >=
                (int)sizeof section)
                return -1;
            continue;
        }
        const char *eq = strchr(content, '=');
        if (!eq)
            return -1;
        char name[64];
        size_t name_len = strcspn(content, " \t=");
        if (name_len >= sizeof name)
            return -1;
        memcpy(name, content, name_len);
        name[name_len] = '\0';
        char value[CERTFILE_NAME_MAX + CERTFILE_KEY_LEN];
        if (!zpl_value(eq + 1, value, sizeof value))
            return -1;
        if (strcmp(section, "curve") == 0 && strcmp(name, "public-key") == 0) {
            if (strlen(value) != CERTFILE_KEY_LEN)
                return -1;
            memcpy(out->public_key, value, CERTFILE_KEY_LEN + 1);
            have_public = true;
        } else if (strcmp(section, "curve") == 0 && strcmp(name, "secret-key") == 0) {
            /* czmq writes forty zeros where there is none */
            if (strlen(value) == CERTFILE_KEY_LEN && strspn(value, "0") != CERTFILE_KEY_LEN)
                memcpy(out->secret_key, value, CERTFILE_KEY_LEN + 1);
        } else if (strcmp(section, "metadata") == 0) {
            bool *has = strcmp(name, "service") == 0    ? &out->has_service
                        : strcmp(name, "source") == 0   ? &out->has_source
                        : strcmp(name, "operator") == 0 ? &out->has_operator
                                                        : NULL;
            char *role = has == &out->has_service  ? out->service
                         : has == &out->has_source ? out->source
                         : has                     ? out->operator_name
                                                   : NULL;
            if (has) {
                *has = true;
                if (strlen(value) < CERTFILE_NAME_MAX)
                    memcpy(role, value, strlen(value) + 1);
            }
        }
    }
    return have_public ? 0 : -1;
}

/* Reads a whole file of at most CERT_TEXT_MAX bytes; caller frees. */
static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return NULL;
    char *text = malloc(CERT_TEXT_MAX + 1);
    size_t got = text ? fread(text, 1, CERT_TEXT_MAX + 1, file) : 0;
    fclose(file);
    if (!text || got > CERT_TEXT_MAX || memchr(text, '\0', got)) {
        free(text);
        return NULL;
    }
    text[got] = '\0';
    return text;
}

int certfile_read(const char *path, certfile_t *out)
{
    memset(out, 0, sizeof *out);
    if (!path || strlen(path) >= 240)
        return -1;
    /* as czmq does: NAME.key_secret beside NAME.key holds both keys */
    char secret_path[256];
    snprintf(secret_path, sizeof secret_path, "%s_secret", path);
    char *text = read_text(secret_path);
    if (!text)
        text = read_text(path);
    if (!text)
        return -1;
    int rc = parse_cert(text, out);
    explicit_bzero(text, strlen(text));
    free(text);
    if (rc != 0)
        memset(out, 0, sizeof *out);
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
