/*
 * csv.h — reading CSV from outside: catalogue and stock imports (F9).
 *
 * What accounting systems and spreadsheets export: RFC 4180 (quoted
 * fields, "" for a quote, line breaks inside quotes), CRLF or LF line
 * ends, an optional UTF-8 byte-order mark, and a delimiter that is ','
 * or — as Russian Excel and MoySklad write it — ';' (or a tab), guessed
 * from the header line. Blank lines are skipped. Every record knows the
 * line it starts on, so an import can name the bad row the way the person
 * sees it in their editor.
 *
 * The reader refuses, with the line, what it cannot read honestly: an
 * unterminated quote, text after a closing quote, a NUL byte, a field over
 * the size cap, too many fields. It never allocates beyond the caps.
 *
 *     csv_reader_t *csv = csv_reader_new(text, len);
 *     csv_record_t record;
 *     while (csv_next(csv, &record) == CSV_RECORD) ...
 *     csv_reader_destroy(&csv);
 */
#ifndef INVENTORY_CSV_H
#define INVENTORY_CSV_H

#include <stddef.h>

#define CSV_FIELD_MAX  4096 /* bytes per field */
#define CSV_FIELDS_MAX 64   /* fields per record */

typedef struct {
    char **fields; /* NUL-terminated; owned by the reader, valid until the next call */
    size_t count;
    unsigned line; /* the line the record starts on, from 1 */
} csv_record_t;

typedef enum { CSV_END = 0, CSV_RECORD = 1, CSV_ERROR = -1 } csv_status_t;

typedef struct csv_reader csv_reader_t;

/* A reader over text (borrowed; must outlive the reader). Caller owns the
 * result; NULL on out of memory. */
csv_reader_t *csv_reader_new(const char *text, size_t len);
void csv_reader_destroy(csv_reader_t **self_p);

/* The next non-blank record. On CSV_ERROR, csv_error() says what and
 * csv_error_line() where; reading further is not possible. */
csv_status_t csv_next(csv_reader_t *reader, csv_record_t *record_out);

const char *csv_error(const csv_reader_t *reader);
unsigned csv_error_line(const csv_reader_t *reader);

/* The delimiter in use: ',', ';' or '\t'. */
char csv_delimiter(const csv_reader_t *reader);

#endif
