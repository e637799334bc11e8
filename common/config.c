/*
 * config.c — configuration read once from the environment (config.h).
 *
 * The values are copied at declaration, so later changes to the
 * environment (or a test's setenv) never change a running service's view.
 */
#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/numparse.h"
#include "common/strbuf.h"

typedef struct {
    const config_spec_t *spec;
    char *value; /* NULL: unset */
} entry_t;

struct config {
    entry_t *entries;
    size_t count, cap;
};

config_t *config_new(void)
{
    return calloc(1, sizeof(config_t));
}

void config_destroy(config_t **self_p)
{
    config_t *cfg = *self_p;
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->count; i++)
        free(cfg->entries[i].value);
    free(cfg->entries);
    free(cfg);
    *self_p = NULL;
}

static const entry_t *find_entry(const config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->count; i++)
        if (strcmp(cfg->entries[i].spec->name, name) == 0)
            return &cfg->entries[i];
    return NULL;
}

int config_declare(config_t *cfg, const config_spec_t *specs)
{
    for (const config_spec_t *spec = specs; spec->name; spec++) {
        if (find_entry(cfg, spec->name))
            continue;
        if (cfg->count == cfg->cap) {
            size_t cap = cfg->cap ? cfg->cap * 2 : 32;
            entry_t *grown = realloc(cfg->entries, cap * sizeof *grown);
            if (!grown)
                return -1;
            cfg->entries = grown;
            cfg->cap = cap;
        }
        const char *env = getenv(spec->name);
        const char *value = env ? env : spec->default_value;
        entry_t *entry = &cfg->entries[cfg->count];
        entry->spec = spec;
        entry->value = value ? strdup(value) : NULL;
        if (value && !entry->value)
            return -1;
        cfg->count++;
    }
    return 0;
}

const char *config_get(const config_t *cfg, const char *name)
{
    const entry_t *entry = find_entry(cfg, name);
    return entry ? entry->value : NULL;
}

int config_get_int(const config_t *cfg, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *value = config_get(cfg, name);
    if (numparse_int_range(value, min, max, out) != 0) {
        char range[64];
        snprintf(range, sizeof range, "%lld..%lld", (long long)min, (long long)max);
        log_error("configuration variable is not a whole number in range", LF_STR("name", name),
                  LF_STR("value", value), LF_STR("range", range), LF_ERR("bad_config"));
        return -1;
    }
    return 0;
}

int config_get_duration_ms(const config_t *cfg, const char *name, int64_t *out_ms)
{
    const char *value = config_get(cfg, name);
    if (numparse_duration_ms(value, out_ms) != 0) {
        log_error("configuration variable is not a duration (250ms, 5s, 10m, 2h, 7d)",
                  LF_STR("name", name), LF_STR("value", value), LF_ERR("bad_config"));
        return -1;
    }
    return 0;
}

int config_get_bool(const config_t *cfg, const char *name, bool *out)
{
    const char *value = config_get(cfg, name);
    static const char *const truths[] = {"1", "true", "yes", "on"};
    static const char *const lies[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; value && i < sizeof truths / sizeof truths[0]; i++) {
        if (strcasecmp(value, truths[i]) == 0) {
            *out = true;
            return 0;
        }
    }
    for (size_t i = 0; value && i < sizeof lies / sizeof lies[0]; i++) {
        if (strcasecmp(value, lies[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    log_error("configuration variable is not a boolean (true/false, 1/0, yes/no, on/off)",
              LF_STR("name", name), LF_STR("value", value), LF_ERR("bad_config"));
    return -1;
}

/* A copy of a libpq key=value string with the value of every password
 * key, quoted ('a b', with \' escapes) or not, replaced by "***"; NULL if
 * there is no password key or memory ran out. */
static char *mask_keyword_password(const char *value)
{
    static const char key[] = "password=";
    strbuf_t out;
    strbuf_init(&out, strlen(value) + 64);
    bool masked_any = false;
    const char *p = value;
    const char *hit;
    while ((hit = strstr(p, key)) != NULL) {
        const char *v = hit + strlen(key);
        if (strbuf_append(&out, p, (size_t)(v - p)) != 0)
            goto fail;
        p = v;
        if (hit != value && hit[-1] != ' ')
            continue; /* "mypassword=": not the key */
        if (*v == '\'') {
            for (v++; *v && *v != '\''; v++)
                if (*v == '\\' && v[1])
                    v++;
            if (*v)
                v++;
        } else {
            v += strcspn(v, " ");
        }
        if (strbuf_append_str(&out, "***") != 0)
            goto fail;
        masked_any = true;
        p = v;
    }
    if (!masked_any || strbuf_append_str(&out, p) != 0)
        goto fail;
    return strbuf_take(&out);
fail:
    strbuf_release(&out);
    return NULL;
}

char *config_mask_secret(const char *value)
{
    if (!value)
        return NULL;
    const char *scheme = strstr(value, "://");
    if (scheme) {
        /* The last '@' ends the credentials, as the redis client reads
         * them (a password may hold '@' or '/'); masking too much is
         * better than showing part of a password. */
        const char *userinfo = scheme + 3;
        const char *at = strrchr(userinfo, '@');
        const char *colon = at ? memchr(userinfo, ':', (size_t)(at - userinfo)) : NULL;
        char *masked;
        if (colon) {
            size_t head = (size_t)(colon + 1 - value);
            size_t len = head + 3 + strlen(at) + 1;
            masked = malloc(len);
            if (!masked)
                return NULL;
            memcpy(masked, value, head);
            snprintf(masked + head, len - head, "***%s", at);
        } else {
            masked = strdup(value); /* no password, or a user name only */
            if (!masked)
                return NULL;
        }
        /* the query may carry credentials as key=value parameters */
        if (strstr(masked, "password=") || strstr(masked, "token=") || strstr(masked, "key=")) {
            free(masked);
            return strdup("***");
        }
        return masked;
    }
    /* libpq key=value form: mask the password values only */
    if (strstr(value, "password=")) {
        char *masked = mask_keyword_password(value);
        if (masked)
            return masked;
    }
    return strdup(value[0] ? "***" : "");
}

void config_log(const config_t *cfg)
{
    log_field_t fields[LOG_FIELDS_MAX] = {{0}};
    char *masked[LOG_FIELDS_MAX] = {NULL};
    size_t count = 0;
    for (size_t i = 0; i < cfg->count && count < LOG_FIELDS_MAX; i++) {
        const entry_t *entry = &cfg->entries[i];
        const char *shown = entry->value;
        if (entry->spec->secret && entry->value) {
            masked[count] = config_mask_secret(entry->value);
            shown = masked[count] ? masked[count] : "***";
        }
        fields[count++] = LF_STR(entry->spec->name, shown);
    }
    log_emit_fields(LOG_INFO, "effective configuration", fields, count);
    for (size_t i = 0; i < count; i++)
        free(masked[i]);
}

void config_print_help(const config_t *cfg)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const config_spec_t *spec = cfg->entries[i].spec;
        printf("  %-32s %s", spec->name, spec->help ? spec->help : "");
        if (spec->default_value && spec->default_value[0])
            printf(" [default: %s]", spec->secret ? "***" : spec->default_value);
        printf("\n");
    }
}
