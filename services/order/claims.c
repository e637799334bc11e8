/*
 * claims.c — the pure rules of claims (claims.h): types, names, the status
 * machine, the lines a claim may name, and its attachments read within
 * their bounds. Nothing here touches the database.
 */
#include "services/order/claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/base64url.h"
#include "services/order/calendar.h"

static bool one_of(const char *text, const char *const *list, size_t count)
{
    for (size_t i = 0; text && i < count; i++)
        if (strcmp(text, list[i]) == 0)
            return true;
    return false;
}

bool claims_type_valid(const char *type)
{
    static const char *const types[] = {"exchange", "refund", "repair"};
    return one_of(type, types, sizeof types / sizeof types[0]);
}

bool claims_reason_valid(const char *reason)
{
    static const char *const reasons[] = {
        "defect", "wrong_item", "not_as_described", "damaged_in_transit", "changed_mind", "other"};
    return one_of(reason, reasons, sizeof reasons / sizeof reasons[0]);
}

bool claims_status_valid(const char *status)
{
    static const char *const statuses[] = {"under_review", "needs_clarification", "approved",
                                           "rejected",     "in_repair",           "completed"};
    return one_of(status, statuses, sizeof statuses / sizeof statuses[0]);
}

void claims_name(const char *type, int64_t at_ms, char out[CLAIMS_NAME_SIZE])
{
    const char *title = !type                           ? NULL
                        : strcmp(type, "exchange") == 0 ? "Exchange"
                        : strcmp(type, "refund") == 0   ? "Refund"
                        : strcmp(type, "repair") == 0   ? "Repair"
                                                        : NULL;
    if (!title) {
        out[0] = '\0';
        return;
    }
    char day[11];
    calendar_format_day(calendar_day_of_ms(at_ms), day); /* YYYY-MM-DD */
    snprintf(out, CLAIMS_NAME_SIZE, "%s %.2s.%.2s.%.4s", title, day + 8, day + 5, day);
}

bool claims_is_decision(const char *to)
{
    return to && (strcmp(to, "approved") == 0 || strcmp(to, "rejected") == 0 ||
                  strcmp(to, "needs_clarification") == 0);
}

claim_move_t claims_move_check(const char *type, const char *from, const char *to, unsigned roles)
{
    const unsigned deciders = ROLE_MANAGER | ROLE_ADMIN;
    /* conveyor completes a refund claim when the bank gave the money back */
    const unsigned finishers = ROLE_MANAGER | ROLE_ADMIN | ROLE_WAREHOUSE | ROLE_SYSTEM;
    const unsigned staff = ROLE_ANY_STAFF;
    if (!type || !from || !to || !claims_type_valid(type))
        return CLAIM_MOVE_NOT_ALLOWED;
    bool repair = strcmp(type, "repair") == 0;
    unsigned who = 0;
    if ((strcmp(from, "under_review") == 0 || strcmp(from, "needs_clarification") == 0) &&
        claims_is_decision(to) && strcmp(from, to) != 0)
        who = deciders;
    else if (strcmp(from, "needs_clarification") == 0 && strcmp(to, "under_review") == 0)
        who = staff;
    else if (strcmp(from, "approved") == 0 && strcmp(to, "in_repair") == 0 && repair)
        who = staff;
    else if (strcmp(from, "approved") == 0 && strcmp(to, "completed") == 0 && !repair)
        who = finishers;
    else if (strcmp(from, "in_repair") == 0 && strcmp(to, "completed") == 0)
        who = finishers;
    if (!who)
        return CLAIM_MOVE_NOT_ALLOWED;
    return roles & who ? CLAIM_MOVE_OK : CLAIM_MOVE_FORBIDDEN;
}

/* A whole number in 1..max, or -1. */
static int64_t whole_in(const json_t *value, int64_t max)
{
    if (!json_is_integer(value))
        return -1;
    json_int_t n = json_integer_value(value);
    return n >= 1 && n <= max ? (int64_t)n : -1;
}

static const json_t *line_of(const json_t *order_lines, int64_t line_no)
{
    size_t i;
    const json_t *line;
    json_array_foreach(order_lines, i, line)
    {
        if (json_integer_value(json_object_get(line, "line_no")) == line_no)
            return line;
    }
    return NULL;
}

int claims_pick_lines(const json_t *order_lines, const json_t *claimed, const json_t *requested,
                      json_t **lines_out, int64_t *amount_out, problems_t *problems)
{
    *lines_out = NULL;
    *amount_out = 0;
    size_t before = problems_count(problems);
    size_t count = json_array_size(requested);
    if (!json_is_array(requested) || count == 0) {
        problems_add(problems, "lines", "required", "name at least one line of the order");
        return (int)(problems_count(problems) - before);
    }
    if (count > CLAIMS_LINES_MAX) {
        problems_add(problems, "lines", "too_many", "at most %d lines", CLAIMS_LINES_MAX);
        return (int)(problems_count(problems) - before);
    }
    json_t *lines = json_array();
    if (!lines)
        return -1;
    int64_t amount = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *want = json_array_get(requested, i);
        char field[48];
        int64_t line_no = whole_in(json_object_get(want, "line_no"), INT32_MAX);
        int64_t quantity = whole_in(json_object_get(want, "quantity"), INT32_MAX);
        const json_t *line = line_no > 0 ? line_of(order_lines, line_no) : NULL;
        if (!line) {
            snprintf(field, sizeof field, "lines[%zu].line_no", i);
            problems_add(problems, field, "unknown", "not a line of this order");
            continue;
        }
        bool repeated = false;
        for (size_t j = 0; j < i; j++)
            repeated |= json_integer_value(
                            json_object_get(json_array_get(requested, j), "line_no")) == line_no;
        if (repeated) {
            snprintf(field, sizeof field, "lines[%zu].line_no", i);
            problems_add(problems, field, "repeated", "line %lld is named twice",
                         (long long)line_no);
            continue;
        }
        int64_t ordered = json_integer_value(json_object_get(line, "quantity"));
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)line_no);
        int64_t taken = claimed ? json_integer_value(json_object_get(claimed, key)) : 0;
        snprintf(field, sizeof field, "lines[%zu].quantity", i);
        if (quantity < 1) {
            problems_add(problems, field, "not_positive", "a whole number of units, at least 1");
            continue;
        }
        if (quantity > ordered - taken) {
            problems_add(problems, field, "exceeds_ordered",
                         "line %lld holds %lld units, %lld of them already claimed",
                         (long long)line_no, (long long)ordered, (long long)taken);
            continue;
        }
        int64_t total = json_integer_value(json_object_get(line, "total_minor"));
        int64_t share = ordered > 0 ? (int64_t)((__int128)total * quantity / ordered) : 0;
        if (__builtin_add_overflow(amount, share, &amount)) {
            problems_add(problems, "lines", "total_too_large", "the lines' totals do not fit");
            continue;
        }
        json_t *picked =
            json_pack("{s:I,s:s,s:s,s:I,s:I,s:I}", "line_no", (json_int_t)line_no, "sku",
                      json_string_value(json_object_get(line, "sku")) ?: "", "name",
                      json_string_value(json_object_get(line, "name")) ?: "", "quantity",
                      (json_int_t)quantity, "total_minor", (json_int_t)share, "vat_rate_bp",
                      json_integer_value(json_object_get(line, "vat_rate_bp")));
        if (!picked || json_array_append_new(lines, picked) != 0) {
            json_decref(lines);
            return -1;
        }
    }
    int added = (int)(problems_count(problems) - before);
    if (added) {
        json_decref(lines);
        return added;
    }
    *lines_out = lines;
    *amount_out = amount;
    return 0;
}

/* ------------------------------------------------------------------ */
/* attachments                                                          */

void claims_attachments_free(claim_attachment_t **items_p, size_t count)
{
    if (!items_p || !*items_p)
        return;
    for (size_t i = 0; i < count; i++) {
        free((*items_p)[i].filename);
        free((*items_p)[i].content_type);
        free((*items_p)[i].data);
    }
    free(*items_p);
    *items_p = NULL;
}

bool claims_filename_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > CLAIMS_FILENAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '"')
            return false;
    }
    return true;
}

/* "type/subtype" of printable ASCII without spaces, quotes or separators
 * a header could be split on. */
static bool content_type_ok(const char *type)
{
    size_t len = type ? strlen(type) : 0;
    if (len < 3 || len > CLAIMS_CONTENT_TYPE_MAX || !strchr(type, '/'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)type[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\')
            return false;
    }
    return true;
}

/* Decoded size of base64 text of len characters (padding stripped). */
static size_t decoded_size(size_t len)
{
    return len / 4 * 3 + (len % 4 == 3 ? 2 : len % 4 == 2 ? 1 : 0);
}

/* Standard or URL-safe base64, padding optional -> bytes. -1 invalid. */
static int decode_any(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
    while (len > 0 && text[len - 1] == '=')
        len--;
    char *url = malloc(len + 1);
    size_t room = decoded_size(len) + 1;
    unsigned char *bytes = malloc(room);
    if (!url || !bytes) {
        free(url);
        free(bytes);
        return -2;
    }
    for (size_t i = 0; i < len; i++)
        url[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
    url[len] = '\0';
    int rc = base64url_decode(url, len, bytes, room, out_len);
    free(url);
    if (rc != 0) {
        free(bytes);
        return -1;
    }
    *out = bytes;
    return 0;
}

claims_attach_t claims_read_attachments(const json_t *attachments, const claims_limits_t *limits,
                                        claim_attachment_t **out, size_t *count_out,
                                        problems_t *problems, char *why, size_t why_size)
{
    *out = NULL;
    *count_out = 0;
    why[0] = '\0';
    if (!attachments || json_is_null(attachments))
        return CLAIMS_ATTACH_OK;
    if (!json_is_array(attachments)) {
        problems_add(problems, "attachments", "invalid",
                     "an array of {filename, content_type, data}");
        return CLAIMS_ATTACH_INVALID;
    }
    size_t count = json_array_size(attachments);
    if (count > limits->max_count) {
        problems_add(problems, "attachments", "too_many", "at most %zu attachments",
                     limits->max_count);
        return CLAIMS_ATTACH_INVALID;
    }
    /* sizes first, from the text alone: nothing is decoded past a limit */
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const char *data =
            json_string_value(json_object_get(json_array_get(attachments, i), "data"));
        size_t len = data ? strlen(data) : 0;
        size_t size = decoded_size(len);
        if (size > limits->max_bytes + 2) { /* +2: padding, judged exactly after decoding */
            snprintf(why, why_size, "attachment %zu is about %zu bytes, more than %zu", i, size,
                     limits->max_bytes);
            return CLAIMS_ATTACH_TOO_LARGE;
        }
        total += size;
    }
    if (total > limits->max_total + 2 * count) {
        snprintf(why, why_size, "the attachments add up to about %zu bytes, more than %zu", total,
                 limits->max_total);
        return CLAIMS_ATTACH_TOTAL_TOO_LARGE;
    }
    claim_attachment_t *items = calloc(count ? count : 1, sizeof *items);
    if (!items)
        return CLAIMS_ATTACH_NO_MEMORY;
    size_t before = problems_count(problems);
    total = 0;
    claims_attach_t verdict = CLAIMS_ATTACH_OK;
    for (size_t i = 0; i < count && verdict == CLAIMS_ATTACH_OK; i++) {
        const json_t *item = json_array_get(attachments, i);
        const char *filename = json_string_value(json_object_get(item, "filename"));
        const char *type = json_string_value(json_object_get(item, "content_type"));
        const char *data = json_string_value(json_object_get(item, "data"));
        char field[48];
        if (!claims_filename_valid(filename)) {
            snprintf(field, sizeof field, "attachments[%zu].filename", i);
            problems_add(problems, field, "invalid",
                         "1 to 255 bytes, no path separator or control character");
        }
        if (type && !content_type_ok(type)) {
            snprintf(field, sizeof field, "attachments[%zu].content_type", i);
            problems_add(problems, field, "invalid", "a media type such as image/jpeg");
        }
        snprintf(field, sizeof field, "attachments[%zu].data", i);
        unsigned char *bytes = NULL;
        size_t len = 0;
        int rc = data && data[0] ? decode_any(data, strlen(data), &bytes, &len) : -1;
        if (rc == -2) {
            verdict = CLAIMS_ATTACH_NO_MEMORY;
            break;
        }
        if (rc != 0) {
            problems_add(problems, field, "invalid", "the file's bytes in base64, not empty");
            continue;
        }
        items[i].data = bytes;
        items[i].len = len;
        total += len;
        if (len > limits->max_bytes) {
            snprintf(why, why_size, "attachment %zu is %zu bytes, more than %zu", i, len,
                     limits->max_bytes);
            verdict = CLAIMS_ATTACH_TOO_LARGE;
        } else if (total > limits->max_total) {
            snprintf(why, why_size, "the attachments add up to %zu bytes, more than %zu", total,
                     limits->max_total);
            verdict = CLAIMS_ATTACH_TOTAL_TOO_LARGE;
        }
        items[i].filename = strdup(filename ? filename : "");
        items[i].content_type = strdup(type ? type : "application/octet-stream");
        if (!items[i].filename || !items[i].content_type)
            verdict = CLAIMS_ATTACH_NO_MEMORY;
    }
    if (verdict == CLAIMS_ATTACH_OK && problems_count(problems) > before)
        verdict = CLAIMS_ATTACH_INVALID;
    if (verdict != CLAIMS_ATTACH_OK) {
        claims_attachments_free(&items, count);
        return verdict;
    }
    *out = items;
    *count_out = count;
    return CLAIMS_ATTACH_OK;
}

bool claims_media_type_allowed(const char *allowed, const char *header, char *type_out,
                               size_t type_size)
{
    if (type_size == 0)
        return false;
    type_out[0] = '\0';
    if (!header || !allowed)
        return false;
    while (*header == ' ' || *header == '\t')
        header++;
    size_t len = strcspn(header, ";");
    while (len > 0 && (header[len - 1] == ' ' || header[len - 1] == '\t'))
        len--;
    char type[CLAIMS_CONTENT_TYPE_MAX + 1];
    if (len == 0 || len > CLAIMS_CONTENT_TYPE_MAX || len >= type_size)
        return false;
    for (size_t i = 0; i < len; i++)
        type[i] = (char)(header[i] >= 'A' && header[i] <= 'Z' ? header[i] + 32 : header[i]);
    type[len] = '\0';
    const char *slash = strchr(type, '/');
    if (!content_type_ok(type) || !slash || slash == type || !slash[1] || strchr(slash + 1, '/'))
        return false;
    size_t major = (size_t)(slash - type) + 1; /* "image/" */
    for (const char *item = allowed; *item;) {
        while (*item == ' ' || *item == ',')
            item++;
        size_t n = strcspn(item, ",");
        size_t end = n;
        while (end > 0 && item[end - 1] == ' ')
            end--;
        bool whole =
            end == major + 1 && item[end - 1] == '*' && strncasecmp(item, type, major) == 0;
        if (end > 0 && (whole || (end == len && strncasecmp(item, type, len) == 0))) {
            memcpy(type_out, type, len + 1);
            return true;
        }
        item += n;
    }
    return false;
}
