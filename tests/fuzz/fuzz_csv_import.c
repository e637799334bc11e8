/*
 * fuzz_csv_import.c — CSV imports from accounting systems and
 * spreadsheets (services/inventory/csv.c, the CSV half of import.c), all
 * that POST /v1/products/import does with a text/csv body before it
 * locks rows in the database.
 *
 * Input: the CSV text (MoySklad's `;` and decimal commas, a BOM, quotes).
 * Checks of the reader: records have 1..CSV_FIELDS_MAX fields of at most
 * CSV_FIELD_MAX bytes without NUL, start on ascending lines, and once an
 * error is reported it stays (with its line); the records written back as
 * quoted CSV read back the same. Then the import: check_import's promises.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "services/inventory/csv.h"
#include "services/inventory/import.h"
#include "tests/fuzz/check_import.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    return 0;
}

/* The records read so far, written back as CSV: every field quoted, ""
 * for a quote, the reader's delimiter, LF line ends. */
typedef struct {
    char *text;
    size_t len, cap;
} rewrite_t;

static void put(rewrite_t *out, const char *bytes, size_t n)
{
    if (out->len + n + 1 > out->cap) {
        size_t cap = (out->len + n + 1) * 2;
        char *text = realloc(out->text, cap);
        FUZZ_CHECK(text != NULL);
        out->text = text;
        out->cap = cap;
    }
    memcpy(out->text + out->len, bytes, n);
    out->len += n;
    out->text[out->len] = '\0';
}

static void put_record(rewrite_t *out, const csv_record_t *record, char delimiter)
{
    for (size_t i = 0; i < record->count; i++) {
        if (i > 0)
            put(out, &delimiter, 1);
        put(out, "\"", 1);
        for (const char *p = record->fields[i]; *p; p++) {
            if (*p == '"')
                put(out, "\"\"", 2);
            else
                put(out, p, 1);
        }
        put(out, "\"", 1);
    }
    put(out, "\n", 1);
}

/* Reads text with the reader, checking its promises; the records are
 * written into *rewrite (when not NULL) and their fields into *fields_out
 * joined, to compare. Returns the number of records. */
static size_t read_all(const char *text, size_t len, rewrite_t *rewrite, rewrite_t *fields_out,
                       char *delimiter_out, bool *failed_out)
{
    csv_reader_t *csv = csv_reader_new(text, len);
    FUZZ_CHECK(csv != NULL);
    char delimiter = csv_delimiter(csv);
    FUZZ_CHECK(delimiter == ',' || delimiter == ';' || delimiter == '\t');
    csv_record_t record;
    csv_status_t status;
    unsigned last_line = 0;
    size_t records = 0;
    while ((status = csv_next(csv, &record)) == CSV_RECORD) {
        FUZZ_CHECK(record.count >= 1 && record.count <= CSV_FIELDS_MAX);
        FUZZ_CHECK(record.line > last_line);
        last_line = record.line;
        FUZZ_CHECK(!(record.count == 1 && record.fields[0][0] == '\0')); /* blank: skipped */
        for (size_t i = 0; i < record.count; i++) {
            size_t field_len = strlen(record.fields[i]);
            FUZZ_CHECK(field_len <= CSV_FIELD_MAX);
            if (fields_out) {
                put(fields_out, record.fields[i], field_len);
                put(fields_out, "\x1f", 1);
            }
        }
        if (fields_out)
            put(fields_out, "\x1e", 1);
        if (rewrite)
            put_record(rewrite, &record, delimiter);
        records++;
    }
    *failed_out = status == CSV_ERROR;
    if (status == CSV_ERROR) {
        FUZZ_CHECK(csv_error(csv)[0] != '\0');
        FUZZ_CHECK(csv_error_line(csv) >= 1);
        FUZZ_CHECK(csv_next(csv, &record) == CSV_ERROR); /* no reading past an error */
    } else {
        FUZZ_CHECK(csv_next(csv, &record) == CSV_END);
    }
    *delimiter_out = delimiter;
    csv_reader_destroy(&csv);
    FUZZ_CHECK(csv == NULL);
    return records;
}

static void check_reader(const char *text, size_t len)
{
    rewrite_t rewrite = {NULL, 0, 0}, fields = {NULL, 0, 0}, fields_again = {NULL, 0, 0};
    char delimiter, delimiter_again;
    bool failed, failed_again;
    size_t records = read_all(text, len, &rewrite, &fields, &delimiter, &failed);
    if (records > 0) {
        size_t again = read_all(rewrite.text, rewrite.len, NULL, &fields_again, &delimiter_again,
                                &failed_again);
        /* the delimiter is guessed from the first line: a first record of
         * one field says nothing about it */
        if (delimiter_again == delimiter) {
            FUZZ_CHECK(!failed_again);
            FUZZ_CHECK(again == records);
            FUZZ_CHECK(fields.len == fields_again.len &&
                       memcmp(fields.text, fields_again.text, fields.len) == 0);
        }
    }
    free(rewrite.text);
    free(fields.text);
    free(fields_again.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_reader((const char *)data, size);

    problems_t problems;
    FUZZ_CHECK(problems_init(&problems) == 0);
    import_t import;
    int parsed = import_parse_csv((const char *)data, size, &import, &problems);
    FUZZ_CHECK(import.csv);
    check_import(&import, parsed, &problems, 0);
    import_release(&import);
    problems_release(&problems);
    return 0;
}
