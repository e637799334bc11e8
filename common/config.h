/*
 * config.h — configuration from the environment, and nothing else.
 *
 * DESIGN.md: "Configuration is environment only; every service prints its
 * effective configuration (secrets masked) at start." A program declares
 * what it reads as tables of config_spec_t (the kit's own table comes from
 * service.c, the service adds its own), loads them once, and logs the
 * result. Values are read once at load; later changes to the environment
 * are not seen.
 */
#ifndef CONVEYOR_CONFIG_H
#define CONVEYOR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name;          /* environment variable, e.g. "DATABASE_URL" */
    const char *default_value; /* NULL: unset unless the environment sets it */
    bool secret;               /* masked when printed: "***", or a URL's password */
    const char *help;          /* one line, for --help */
} config_spec_t;

/* The end of a spec table. */
#define CONFIG_SPEC_END                                                                            \
    {                                                                                              \
        NULL, NULL, false, NULL                                                                    \
    }

typedef struct config config_t;

/* An empty configuration; caller owns the result (config_destroy). */
config_t *config_new(void);
void config_destroy(config_t **self_p);

/* Declares the variables of a table ending with CONFIG_SPEC_END and reads
 * them from the environment. A name declared twice keeps its first spec.
 * 0 ok, -1 out of memory. The table is borrowed and must outlive cfg. */
int config_declare(config_t *cfg, const config_spec_t *specs);

/* The value: the environment's if set (even to ""), else the default, else
 * NULL. Borrowed; lives as long as cfg. NULL for a name never declared. */
const char *config_get(const config_t *cfg, const char *name);

/* Typed getters: 0 ok; -1 if the value is missing or does not parse or is
 * out of range, after logging which variable and why. */
int config_get_int(const config_t *cfg, const char *name, int64_t min, int64_t max, int64_t *out);
int config_get_duration_ms(const config_t *cfg, const char *name, int64_t *out_ms);
int config_get_bool(const config_t *cfg, const char *name,
                    bool *out); /* 1/0 true/false yes/no on/off */

/* Logs one line "effective configuration" with every declared variable and
 * its value, secrets masked. */
void config_log(const config_t *cfg);

/* Prints the declared variables with defaults and help (for --help). */
void config_print_help(const config_t *cfg);

/* A URL with its password replaced by "***"
 * ("postgres://u:***@h:5432/db"); a non-URL secret becomes "***".
 * Caller owns the result. */
char *config_mask_secret(const char *value);

#endif
