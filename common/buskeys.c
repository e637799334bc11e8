/*
 * buskeys.c — the trusted key directory (buskeys.h).
 *
 * Certificate files are read with czmq's zcert, the format's own reader.
 * The set is kept twice: in file name order (what buskeys_of_service
 * promises) and sorted by public key, so that busd's lookup per frame is
 * a binary search.
 */
#include "common/buskeys.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/certfile.h"
#include "common/clock.h"
#include "common/log.h"

#define CERT_FILE_MAX  (64 * 1024) /* bytes: a certificate is a few hundred */
#define KEYS_MAX       4096
#define PATH_MAX_BYTES 240 /* certfile_read builds "<path>_secret" in 256 bytes */

struct buskeys {
    char *dir;
    buskey_t *by_file; /* file name order */
    buskey_t *by_key;  /* sorted by public_key */
    size_t count;
    uint64_t signature; /* of the directory's entries when last read */
    int64_t next_look_ms;
    int64_t last_look_ms;
    struct timespec dir_mtime; /* the directory's when last read: a key added since changes it */
    uint64_t generation;
    uint64_t revocations;
};

/* The directory's modification time (a key file added, renamed in or
 * removed changes it); zero when it cannot be read. */
static struct timespec dir_mtime(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return (struct timespec){0, 0};
    return st.st_mtim;
}

const char *buskey_role_name(buskey_role_t role)
{
    switch (role) {
    case BUSKEY_SERVICE:
        return "service";
    case BUSKEY_SOURCE:
        return "source";
    case BUSKEY_OPERATOR:
        return "operator";
    }
    return "unknown";
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_keys(const void *a, const void *b)
{
    return memcmp(((const buskey_t *)a)->public_key, ((const buskey_t *)b)->public_key,
                  BUSKEY_Z85_LEN);
}

static bool is_candidate(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && !(len > 7 && strcmp(name + len - 7, "_secret") == 0);
}

static uint64_t fnv1a(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < len; i++) {
        hash ^= bytes[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

/* The sorted file names of the directory that may be certificates, and a
 * signature of their names, sizes and modification times. Caller frees
 * names and each name. -1 if the directory cannot be read. */
static int list_dir(const char *dir, char ***names_out, size_t *count_out, uint64_t *signature_out)
{
    DIR *handle = opendir(dir);
    if (!handle)
        return -1;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    int rc = 0;
    while ((entry = readdir(handle)) != NULL) {
        if (!is_candidate(entry->d_name))
            continue;
        if (count == KEYS_MAX)
            break;
        if (count == cap) {
            size_t grown = cap ? cap * 2 : 16;
            char **bigger = realloc(names, grown * sizeof *names);
            if (!bigger) {
                rc = -1;
                break;
            }
            names = bigger;
            cap = grown;
        }
        names[count] = strdup(entry->d_name);
        if (!names[count]) {
            rc = -1;
            break;
        }
        count++;
    }
    closedir(handle);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        return -1;
    }
    if (count > 0)
        qsort(names, count, sizeof *names, compare_names);
    uint64_t signature = 14695981039346656037ULL;
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX_BYTES + 16];
        struct stat st;
        signature = fnv1a(signature, names[i], strlen(names[i]) + 1);
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path &&
            stat(path, &st) == 0) {
            int64_t facts[4] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                                (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ino};
            signature = fnv1a(signature, facts, sizeof facts);
        }
    }
    *names_out = names;
    *count_out = count;
    *signature_out = signature;
    return 0;
}

/* Reads one certificate file into *key; false (with the reason) if it is
 * not a trusted public key of exactly one role. */
static bool read_cert(const char *dir, const char *name, buskey_t *key, const char **why)
{
    char path[PATH_MAX_BYTES + 16];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= PATH_MAX_BYTES) {
        *why = "path too long";
        return false;
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return false;
    }
    if (st.st_size > CERT_FILE_MAX) {
        *why = "larger than a certificate can be";
        return false;
    }
    certfile_t cert;
    if (certfile_read(path, &cert) != 0) {
        *why = "not a certificate";
        return false;
    }
    bool ok = false;
    bool has[3] = {cert.has_service, cert.has_source, cert.has_operator};
    const char *roles[3] = {cert.service, cert.source, cert.operator_name};
    int found = 0, which = -1;
    for (int i = 0; i < 3; i++)
        if (has[i]) {
            found++;
            which = i;
        }
    if (strspn(cert.public_key, "0") == BUSKEY_Z85_LEN) {
        *why = "no public key";
    } else if (found != 1) {
        *why = "metadata must name exactly one of service, source, operator";
    } else if (!bus_name_ok(roles[which])) {
        *why = "the role's name is not a stream name ([a-z0-9_.-], under 64 bytes)";
    } else {
        memcpy(key->public_key, cert.public_key, BUSKEY_Z85_LEN + 1);
        key->role = (buskey_role_t)(which + 1);
        snprintf(key->name, sizeof key->name, "%s", roles[which]);
        ok = true;
    }
    explicit_bzero(&cert, sizeof cert);
    return ok;
}

/* Re-reads every certificate; replaces the set only when that worked. */
static int load(buskeys_t *keys, char **names, size_t count, uint64_t signature)
{
    buskey_t *by_file = calloc(count ? count : 1, sizeof *by_file);
    buskey_t *by_key = calloc(count ? count : 1, sizeof *by_key);
    if (!by_file || !by_key) {
        free(by_file);
        free(by_key);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        const char *why = NULL;
        if (!read_cert(keys->dir, names[i], &by_file[kept], &why)) {
            log_warn("skipped a file in the bus keys directory", LF_STR("dir", keys->dir),
                     LF_STR("file", names[i]), LF_STR("reason", why), LF_ERR("bad_key_file"));
            continue;
        }
        bool duplicate = false;
        for (size_t j = 0; j < kept && !duplicate; j++)
            duplicate = strcmp(by_file[j].public_key, by_file[kept].public_key) == 0;
        if (duplicate) {
            log_warn("skipped a second file holding the same public key", LF_STR("dir", keys->dir),
                     LF_STR("file", names[i]), LF_ERR("bad_key_file"));
            continue;
        }
        kept++;
    }
    memcpy(by_key, by_file, kept * sizeof *by_key);
    if (kept > 0)
        qsort(by_key, kept, sizeof *by_key, compare_keys);
    bool revoked = false;
    for (size_t i = 0; i < keys->count && !revoked; i++)
        revoked = !bsearch(&keys->by_key[i], by_key, kept, sizeof *by_key, compare_keys);
    if (revoked)
        keys->revocations++;
    free(keys->by_file);
    free(keys->by_key);
    keys->by_file = by_file;
    keys->by_key = by_key;
    keys->count = kept;
    keys->signature = signature;
    keys->generation++;
    return 0;
}

static int look(buskeys_t *keys, bool force)
{
    char **names = NULL;
    size_t count = 0;
    uint64_t signature = 0;
    if (list_dir(keys->dir, &names, &count, &signature) != 0)
        return -1;
    int rc = 0;
    if (force || signature != keys->signature) {
        rc = load(keys, names, count, signature) == 0 ? 1 : -1;
        if (rc == 1)
            log_info("bus keys loaded", LF_STR("dir", keys->dir),
                     LF_INT("keys", (long long)keys->count));
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

buskeys_t *buskeys_new(const char *dir)
{
    if (!dir || !*dir || strlen(dir) > PATH_MAX_BYTES - 64) {
        log_error("the bus keys directory is not set or too long", LF_ERR("bad_config"));
        return NULL;
    }
    buskeys_t *keys = calloc(1, sizeof *keys);
    if (!keys)
        return NULL;
    keys->dir = strdup(dir);
    if (keys->dir)
        keys->dir_mtime = dir_mtime(keys->dir);
    if (!keys->dir || look(keys, true) != 1) {
        log_error("could not read the bus keys directory", LF_STR("dir", dir),
                  LF_ERR("bad_config"));
        buskeys_destroy(&keys);
        return NULL;
    }
    keys->next_look_ms = clock_mono_ms() + 1000;
    return keys;
}

void buskeys_destroy(buskeys_t **self_p)
{
    buskeys_t *keys = *self_p;
    if (!keys)
        return;
    free(keys->dir);
    free(keys->by_file);
    free(keys->by_key);
    free(keys);
    *self_p = NULL;
}

static int refresh_at(buskeys_t *keys, int64_t now)
{
    keys->next_look_ms = now + 1000;
    keys->last_look_ms = now;
    keys->dir_mtime = dir_mtime(keys->dir); /* before reading: a later change is seen next time */
    int rc = look(keys, false);
    if (rc < 0)
        log_warn("could not re-read the bus keys directory; the keys in hand stay",
                 LF_STR("dir", keys->dir), LF_ERR("bad_config"));
    return rc;
}

int buskeys_refresh(buskeys_t *keys)
{
    int64_t now = clock_mono_ms();
    return now < keys->next_look_ms ? 0 : refresh_at(keys, now);
}

int buskeys_refresh_now(buskeys_t *keys)
{
    int64_t now = clock_mono_ms();
    if (now - keys->last_look_ms >= 100)
        return refresh_at(keys, now);
    /* within 100 ms of the last look, only when the directory changed since:
     * a key issued right after a look is believed at once, and an unknown
     * key knocking again and again costs one stat() */
    struct timespec mtime = dir_mtime(keys->dir);
    if (mtime.tv_sec == keys->dir_mtime.tv_sec && mtime.tv_nsec == keys->dir_mtime.tv_nsec)
        return 0;
    return refresh_at(keys, now);
}

bool buskeys_find(const buskeys_t *keys, const char *public_z85, buskey_t *out)
{
    if (!public_z85 || strlen(public_z85) != BUSKEY_Z85_LEN || keys->count == 0)
        return false;
    buskey_t probe = {.role = BUSKEY_SERVICE};
    memcpy(probe.public_key, public_z85, BUSKEY_Z85_LEN + 1);
    const buskey_t *found =
        bsearch(&probe, keys->by_key, keys->count, sizeof *keys->by_key, compare_keys);
    if (!found)
        return false;
    if (out)
        *out = *found;
    return true;
}

size_t buskeys_of_service(const buskeys_t *keys, const char *name, char out[][BUSKEY_Z85_LEN + 1],
                          size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < keys->count; i++) {
        const buskey_t *key = &keys->by_file[i];
        if (key->role != BUSKEY_SERVICE || strcmp(key->name, name) != 0)
            continue;
        if (count < max)
            memcpy(out[count], key->public_key, BUSKEY_Z85_LEN + 1);
        count++;
    }
    return count;
}

size_t buskeys_count(const buskeys_t *keys)
{
    return keys->count;
}

uint64_t buskeys_revocations(const buskeys_t *keys)
{
    return keys->revocations;
}

uint64_t buskeys_generation(const buskeys_t *keys)
{
    return keys->generation;
}
