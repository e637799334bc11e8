/*
 * log.c — JSON-lines logging (see log.h).
 *
 * Each line is built in a stack buffer and written with a single write(2),
 * so concurrent threads never interleave inside a line and no lock is
 * needed. The level and service name are set once at start.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define LOG_LINE_MAX 16384

static const char *log_svc = "conveyor";
static log_level_t log_min_level = LOG_INFO;
static FILE *log_out = NULL;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *svc, log_level_t min_level)
{
    if (svc && *svc)
        log_svc = svc;
    log_min_level = min_level;
}

int log_level_parse(const char *text, log_level_t *level_out)
{
    if (!text)
        return -1;
    if (strcasecmp(text, "debug") == 0)
        *level_out = LOG_DEBUG;
    else if (strcasecmp(text, "info") == 0)
        *level_out = LOG_INFO;
    else if (strcasecmp(text, "warn") == 0 || strcasecmp(text, "warning") == 0)
        *level_out = LOG_WARN;
    else if (strcasecmp(text, "error") == 0)
        *level_out = LOG_ERROR;
    else
        return -1;
    return 0;
}

void log_set_output(FILE *out)
{
    log_out = out;
}

bool log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

/* A line under construction; once full, further text is dropped and the
 * line is marked truncated. To keep a cut line valid JSON, it remembers
 * where the field being written began and whether the cut fell inside a
 * string value (which is then closed) or elsewhere in the field (which is
 * then dropped whole). */
typedef struct {
    char text[LOG_LINE_MAX];
    size_t len;
    size_t field_start; /* offset of the "," that begins the current field */
    bool in_value;      /* writing the inside of a string value */
    bool truncated;
    bool cut_in_value; /* the first refused text was inside a string value */
} line_t;

static void line_put(line_t *line, const char *bytes, size_t n)
{
    /* keep room for the closing `","truncated":true}\n` */
    const size_t reserve = 24;
    if (line->truncated || line->len + n > sizeof line->text - reserve) {
        if (!line->truncated)
            line->cut_in_value = line->in_value;
        line->truncated = true;
        return;
    }
    memcpy(line->text + line->len, bytes, n);
    line->len += n;
}

static void line_puts(line_t *line, const char *text)
{
    line_put(line, text, strlen(text));
}

/* The length of the UTF-8 sequence starting at p if it is a whole
 * multi-byte character, else 1. */
static size_t utf8_sequence_len(const unsigned char *p)
{
    size_t n = *p >= 0xf0 && *p <= 0xf4   ? 4
               : *p >= 0xe0 && *p <= 0xef ? 3
               : *p >= 0xc2 && *p <= 0xdf ? 2
                                          : 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

/* Writes text as the inside of a JSON string: quotes, backslashes and
 * control characters escaped; other bytes (UTF-8) passed through, a
 * multi-byte character whole or not at all so that a cut never splits one. */
static void line_put_escaped(line_t *line, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            line_put(line, "\\\"", 2);
            break;
        case '\\':
            line_put(line, "\\\\", 2);
            break;
        case '\n':
            line_put(line, "\\n", 2);
            break;
        case '\r':
            line_put(line, "\\r", 2);
            break;
        case '\t':
            line_put(line, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                line_put(line, esc, 6);
            } else {
                size_t n = utf8_sequence_len(p);
                line_put(line, (const char *)p, n);
                p += n - 1;
            }
        }
    }
}

static void line_put_string_field(line_t *line, const char *key, const char *value)
{
    if (!line->truncated)
        line->field_start = line->len;
    line_puts(line, ",\"");
    line_put_escaped(line, key);
    if (!value) {
        line_puts(line, "\":null");
        return;
    }
    line_puts(line, "\":\"");
    line->in_value = true;
    line_put_escaped(line, value);
    line_puts(line, "\"");
    line->in_value = false; /* cut_in_value keeps what it was at the cut */
}

void log_emitv(log_level_t level, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    log_field_t fields[LOG_FIELDS_MAX];
    size_t count = 0;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        log_field_t field = va_arg(ap, log_field_t);
        if (field.kind == LOG_FIELD_END)
            break;
        if (count < LOG_FIELDS_MAX)
            fields[count++] = field;
    }
    va_end(ap);
    log_emit_fields(level, msg, fields, count);
}

void log_emit_fields(log_level_t level, const char *msg, const log_field_t *fields, size_t count)
{
    if (!log_enabled(level))
        return;
    line_t line;
    line.len = 0;
    line.field_start = 0;
    line.in_value = false;
    line.truncated = false;
    line.cut_in_value = false;

    char ts[32];
    clock_format_ms(clock_now_ms(), ts, sizeof ts);
    line_puts(&line, "{\"ts\":\"");
    line_puts(&line, ts);
    line_puts(&line, "\"");
    line_put_string_field(&line, "level", level_names[level]);
    line_put_string_field(&line, "svc", log_svc);
    line_put_string_field(&line, "msg", msg ? msg : "");

    for (size_t i = 0; i < count; i++) {
        log_field_t field = fields[i];
        if (!field.key)
            continue;
        if (field.kind == LOG_FIELD_STR) {
            line_put_string_field(&line, field.key, field.str);
        } else {
            char num[32];
            int n = snprintf(num, sizeof num, "%lld", field.num);
            if (!line.truncated)
                line.field_start = line.len;
            line_puts(&line, ",\"");
            line_put_escaped(&line, field.key);
            line_puts(&line, "\":");
            line_put(&line, num, (size_t)n);
        }
    }

    if (line.truncated) {
        /* close a cut string value (escapes and characters are written
         * whole, so it ends cleanly); drop a field cut anywhere else */
        if (line.cut_in_value)
            line.text[line.len++] = '"';
        else
            line.len = line.field_start;
        const char *tail = ",\"truncated\":true}\n";
        memcpy(line.text + line.len, tail, strlen(tail));
        line.len += strlen(tail);
    } else {
        line.text[line.len++] = '}';
        line.text[line.len++] = '\n';
    }
    FILE *out = log_out ? log_out : stdout;
    if (out == stdout) {
        /* one write(2): lines of concurrent threads never interleave */
        ssize_t written = write(STDOUT_FILENO, line.text, line.len);
        (void)written; /* nowhere left to report a failed log write */
    } else {
        fwrite(line.text, 1, line.len, out);
        fflush(out);
    }
}

bool log_throttle_allow(log_throttle_t *throttle, long long interval_ms,
                        unsigned long long *held_back_out)
{
    long long now = clock_mono_ms();
    if (throttle->next_ms != 0 && now < throttle->next_ms) {
        throttle->held_back++;
        return false;
    }
    *held_back_out = throttle->held_back;
    throttle->held_back = 0;
    throttle->next_ms = now + (interval_ms > 0 ? interval_ms : 1);
    return true;
}

bool log_throttle_keyed_allow(log_throttle_keyed_t *throttle, const char *key,
                              long long interval_ms, unsigned long long *held_back_out)
{
    size_t found = LOG_THROTTLE_KEYS, oldest = 0;
    char cut[sizeof throttle->slots[0].key];
    snprintf(cut, sizeof cut, "%s", key ? key : "");
    for (size_t i = 0; i < LOG_THROTTLE_KEYS && found == LOG_THROTTLE_KEYS; i++) {
        if (throttle->slots[i].next_ms != 0 && strcmp(throttle->slots[i].key, cut) == 0)
            found = i;
        else if (throttle->slots[i].next_ms < throttle->slots[oldest].next_ms)
            oldest = i;
    }
    if (found == LOG_THROTTLE_KEYS) {
        found = oldest;
        memset(&throttle->slots[found], 0, sizeof throttle->slots[found]);
        memcpy(throttle->slots[found].key, cut, sizeof cut);
    }
    log_throttle_t one = {.next_ms = throttle->slots[found].next_ms,
                          .held_back = throttle->slots[found].held_back};
    bool allowed = log_throttle_allow(&one, interval_ms, held_back_out);
    throttle->slots[found].next_ms = one.next_ms;
    throttle->slots[found].held_back = one.held_back;
    return allowed;
}
