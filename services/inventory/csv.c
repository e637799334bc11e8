/*
 * csv.c — an RFC 4180 reader with line numbers and caps (csv.h).
 *
 * A small state machine over the whole text, one field at a time into a
 * capped strbuf; each record's fields are copied out so that they stay
 * valid while the caller reads the record.
 */
#include "services/inventory/csv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

struct csv_reader {
    const char *text;
    size_t len;
    size_t pos;
    unsigned line; /* the line pos is on */
    char delimiter;
    strbuf_t field;
    char *fields[CSV_FIELDS_MAX];
    size_t count;
    bool failed;
    unsigned error_line;
    char error[160];
};

/* The delimiter of the first line outside quotes: the most frequent of
 * ';', ',' and tab (',' when none). */
static char guess_delimiter(const char *text, size_t len)
{
    size_t commas = 0, semicolons = 0, tabs = 0;
    bool quoted = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && (c == '\n' || c == '\r'))
            break;
        else if (!quoted && c == ',')
            commas++;
        else if (!quoted && c == ';')
            semicolons++;
        else if (!quoted && c == '\t')
            tabs++;
    }
    if (semicolons > commas && semicolons >= tabs)
        return ';';
    if (tabs > commas && tabs > semicolons)
        return '\t';
    return ',';
}

csv_reader_t *csv_reader_new(const char *text, size_t len)
{
    csv_reader_t *reader = calloc(1, sizeof *reader);
    if (!reader)
        return NULL;
    reader->text = text ? text : "";
    reader->len = text ? len : 0;
    if (reader->len >= 3 && memcmp(reader->text, "\xEF\xBB\xBF", 3) == 0)
        reader->pos = 3; /* the byte-order mark Excel writes before UTF-8 */
    reader->line = 1;
    reader->delimiter = guess_delimiter(reader->text + reader->pos, reader->len - reader->pos);
    strbuf_init(&reader->field, CSV_FIELD_MAX);
    return reader;
}

static void clear_fields(csv_reader_t *reader)
{
    for (size_t i = 0; i < reader->count; i++)
        free(reader->fields[i]);
    reader->count = 0;
}

void csv_reader_destroy(csv_reader_t **self_p)
{
    csv_reader_t *reader = *self_p;
    if (!reader)
        return;
    clear_fields(reader);
    strbuf_release(&reader->field);
    free(reader);
    *self_p = NULL;
}

static csv_status_t fail(csv_reader_t *reader, unsigned line, const char *message)
{
    reader->failed = true;
    reader->error_line = line;
    snprintf(reader->error, sizeof reader->error, "%s", message);
    clear_fields(reader);
    return CSV_ERROR;
}

/* Ends the field being built and adds it to the record. */
static csv_status_t push_field(csv_reader_t *reader, unsigned line)
{
    if (reader->count == CSV_FIELDS_MAX)
        return fail(reader, line, "too many fields in one row");
    char *copy = strdup(reader->field.ptr ? reader->field.ptr : "");
    if (!copy)
        return fail(reader, line, "out of memory");
    reader->fields[reader->count++] = copy;
    strbuf_reset(&reader->field);
    return CSV_RECORD;
}

static csv_status_t append(csv_reader_t *reader, unsigned line, char c)
{
    if (c == '\0')
        return fail(reader, line, "the file holds a NUL byte: it is not text");
    if (strbuf_append(&reader->field, &c, 1) != 0) {
        char message[80];
        snprintf(message, sizeof message, "a field is longer than %d bytes", CSV_FIELD_MAX);
        return fail(reader, line, message);
    }
    return CSV_RECORD;
}

/* Consumes one line end at pos (\r\n, \n or \r); true if there was one. */
static bool eat_line_end(csv_reader_t *reader)
{
    const char *t = reader->text;
    if (reader->pos < reader->len && t[reader->pos] == '\r') {
        reader->pos++;
        if (reader->pos < reader->len && t[reader->pos] == '\n')
            reader->pos++;
        reader->line++;
        return true;
    }
    if (reader->pos < reader->len && t[reader->pos] == '\n') {
        reader->pos++;
        reader->line++;
        return true;
    }
    return false;
}

/* Reads one record (possibly blank) starting at pos. */
static csv_status_t read_record(csv_reader_t *reader, unsigned *start_line)
{
    const char *t = reader->text;
    *start_line = reader->line;
    clear_fields(reader);
    strbuf_reset(&reader->field);
    for (;;) {
        /* one field */
        if (reader->pos < reader->len && t[reader->pos] == '"') {
            unsigned quote_line = reader->line;
            reader->pos++;
            for (;;) {
                if (reader->pos >= reader->len)
                    return fail(reader, quote_line, "a quoted field is never closed");
                char c = t[reader->pos];
                if (c == '"') {
                    if (reader->pos + 1 < reader->len && t[reader->pos + 1] == '"') {
                        if (append(reader, reader->line, '"') != CSV_RECORD)
                            return CSV_ERROR;
                        reader->pos += 2;
                        continue;
                    }
                    reader->pos++;
                    break;
                }
                if (c == '\r' || c == '\n') {
                    /* a line break inside quotes belongs to the field */
                    size_t before = reader->pos;
                    eat_line_end(reader);
                    for (size_t i = before; i < reader->pos; i++)
                        if (append(reader, reader->line, t[i]) != CSV_RECORD)
                            return CSV_ERROR;
                    continue;
                }
                if (append(reader, reader->line, c) != CSV_RECORD)
                    return CSV_ERROR;
                reader->pos++;
            }
            if (reader->pos < reader->len && t[reader->pos] != reader->delimiter &&
                t[reader->pos] != '\r' && t[reader->pos] != '\n')
                return fail(reader, reader->line, "text after a closing quote");
        } else {
            while (reader->pos < reader->len) {
                char c = t[reader->pos];
                if (c == reader->delimiter || c == '\r' || c == '\n')
                    break;
                if (append(reader, reader->line, c) != CSV_RECORD)
                    return CSV_ERROR;
                reader->pos++;
            }
        }
        if (push_field(reader, reader->line) != CSV_RECORD)
            return CSV_ERROR;
        /* what ends the field */
        if (reader->pos < reader->len && t[reader->pos] == reader->delimiter) {
            reader->pos++;
            continue;
        }
        eat_line_end(reader);
        return CSV_RECORD;
    }
}

csv_status_t csv_next(csv_reader_t *reader, csv_record_t *record_out)
{
    if (reader->failed)
        return CSV_ERROR;
    while (reader->pos < reader->len) {
        unsigned line = 0;
        if (read_record(reader, &line) != CSV_RECORD)
            return CSV_ERROR;
        if (reader->count == 1 && reader->fields[0][0] == '\0')
            continue; /* a blank line */
        record_out->fields = reader->fields;
        record_out->count = reader->count;
        record_out->line = line;
        return CSV_RECORD;
    }
    clear_fields(reader);
    return CSV_END;
}

const char *csv_error(const csv_reader_t *reader)
{
    return reader->error;
}

unsigned csv_error_line(const csv_reader_t *reader)
{
    return reader->error_line;
}

char csv_delimiter(const csv_reader_t *reader)
{
    return reader->delimiter;
}
