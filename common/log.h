/*
 * log.h — one JSON object per line on stdout.
 *
 * Every conveyor process logs the same way so that ops can grep and ship
 * the lines unchanged: {"ts":"2026-11-22T10:00:00.123Z","level":"info",
 * "svc":"order","msg":"reserve failed","order_id":"...","err":"stock_short"}.
 * Fields are typed (string or integer) and passed as a list ending with
 * LF_END, which the macros add:
 *
 *     log_error("reserve failed", LF_STR("order_id", id), LF_ERR("pg_unavailable"));
 *
 * A line is written with one write(2) so lines of concurrent threads never
 * interleave. Never log secrets or full personal data (STYLE.md).
 */
#ifndef CONVEYOR_LOG_H
#define CONVEYOR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

typedef enum { LOG_FIELD_END = 0, LOG_FIELD_STR, LOG_FIELD_INT } log_field_kind_t;

typedef struct {
    log_field_kind_t kind;
    const char *key;
    const char *str; /* LOG_FIELD_STR; NULL is written as JSON null */
    long long num;   /* LOG_FIELD_INT */
} log_field_t;

#define LF_STR(k, v) ((log_field_t){LOG_FIELD_STR, (k), (v), 0})
#define LF_INT(k, v) ((log_field_t){LOG_FIELD_INT, (k), NULL, (long long)(v)})
#define LF_ERR(code) LF_STR("err", (code))
#define LF_END       ((log_field_t){LOG_FIELD_END, NULL, NULL, 0})

/* Sets the service name written in every line and the lowest level written.
 * Call once at start, before threads; defaults are "conveyor" and info. */
void log_init(const char *svc, log_level_t min_level);

/* Parses "debug", "info", "warn"/"warning", "error" (any case); -1 if unknown. */
int log_level_parse(const char *text, log_level_t *level_out);

/* Redirects output (tests). The stream is borrowed; NULL means stdout. */
void log_set_output(FILE *out);

bool log_enabled(log_level_t level);

/* Writes one line: level, message, then the fields up to the first
 * LOG_FIELD_END argument. Keys and string values are JSON-escaped; a line
 * longer than 16 KiB is cut and marked "truncated":true. */
void log_emitv(log_level_t level, const char *msg, ...);

/* The same with the fields in an array (a list built at run time, such as
 * the effective configuration). */
#define LOG_FIELDS_MAX 64
void log_emit_fields(log_level_t level, const char *msg, const log_field_t *fields, size_t count);

/* Keeps a line that an outsider can provoke (a refused frame, a bad
 * request) from flooding the log: at most one line per interval, and the
 * line says how many were held back since the one before. One per kind
 * of line and per thread that writes it (not thread-safe); zero it to
 * start. */
typedef struct {
    long long next_ms;
    unsigned long long held_back;
} log_throttle_t;

/* True when a line may be written now; *held_back_out is then how many
 * were suppressed since the last line written. False (and one more held
 * back) otherwise. */
bool log_throttle_allow(log_throttle_t *throttle, long long interval_ms,
                        unsigned long long *held_back_out);

/* The same per key (a bus key, a publisher, a source): at most one line
 * per key and interval, for up to LOG_THROTTLE_KEYS keys at once (the
 * longest quiet one makes room). Keys longer than 63 bytes are cut. */
#define LOG_THROTTLE_KEYS 256
typedef struct {
    struct {
        char key[64];
        long long next_ms;
        unsigned long long held_back;
    } slots[LOG_THROTTLE_KEYS];
} log_throttle_keyed_t;

bool log_throttle_keyed_allow(log_throttle_keyed_t *throttle, const char *key,
                              long long interval_ms, unsigned long long *held_back_out);

#define log_debug(...) log_emitv(LOG_DEBUG, __VA_ARGS__, LF_END)
#define log_info(...)  log_emitv(LOG_INFO, __VA_ARGS__, LF_END)
#define log_warn(...)  log_emitv(LOG_WARN, __VA_ARGS__, LF_END)
#define log_error(...) log_emitv(LOG_ERROR, __VA_ARGS__, LF_END)

#endif
