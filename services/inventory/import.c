/*
 * import.c — reading and checking a bulk import (import.h).
 *
 * CSV rows are turned into JSON objects of text ({"sku": "KT-1", "price":
 * "1299.90"}) so that both formats go through the one product reader,
 * catalogue_input_parse. Duplicates among thousands of rows are found by
 * sorting, not by comparing every pair.
 */
#include "services/inventory/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/inventory/csv.h"

/* Russian column names of a MoySklad export, and ours. */
static const char *const column_aliases[][2] = {
    {"артикул", "sku"},       {"Артикул", "sku"},        {"Код", "external_code"},
    {"Наименование", "name"}, {"Цена продажи", "price"}, {"НДС", "vat"},
    {"Остаток", "on_hand"},
};

/* Tags the problems added since `from` with the row's line (CSV). */
static void tag_line(problems_t *problems, size_t from, unsigned line)
{
    json_t *errors = (json_t *)(uintptr_t)problems_errors(problems);
    for (size_t i = from; i < json_array_size(errors); i++)
        json_object_set_new(json_array_get(errors, i), "line", json_integer(line));
}

static void add_row_problem(problems_t *problems, const import_row_t *row, bool csv,
                            const char *field, const char *code, const char *message)
{
    size_t before = problems_count(problems);
    char path[96];
    snprintf(path, sizeof path, "%s%s", row->label, field);
    problems_add(problems, path, code, "%s", message);
    if (csv)
        tag_line(problems, before, row->line);
}

/* Trims ASCII space around text in place. */
static char *trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';
    return text;
}

static int grow_rows(import_t *import, size_t *cap)
{
    if (import->count < *cap)
        return 0;
    size_t next = *cap ? *cap * 2 : 256;
    import_row_t *rows = realloc(import->rows, next * sizeof *rows);
    if (!rows)
        return -1;
    import->rows = rows;
    *cap = next;
    return 0;
}

/* ------------------------------------------------------------------ */
/* duplicates within the import                                         */

typedef struct {
    const char *key;
    const import_row_t *row;
} keyed_row_t;

static int compare_keyed(const void *a, const void *b)
{
    const keyed_row_t *x = a, *y = b;
    int by_key = strcmp(x->key, y->key);
    if (by_key != 0)
        return by_key;
    return x->row->line < y->row->line ? -1 : x->row->line > y->row->line;
}

/* Reports every row whose key (sku or external code) an earlier row has. */
static int report_duplicates(import_t *import, unsigned field, problems_t *problems, size_t *added)
{
    keyed_row_t *keyed = malloc((import->count ? import->count : 1) * sizeof *keyed);
    if (!keyed)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < import->count; i++) {
        const product_input_t *in = &import->rows[i].input;
        const char *key = field == PRODUCT_SKU ? in->sku : in->external_code;
        if ((in->given & field) && !(in->cleared & field) && key)
            keyed[n++] = (keyed_row_t){key, &import->rows[i]};
    }
    qsort(keyed, n, sizeof *keyed, compare_keyed);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keyed[i].key, keyed[i - 1].key) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(keyed[first - 1].key, keyed[i].key) == 0)
            first--;
        char message[160];
        snprintf(message, sizeof message, "%s %.64s is also on %s %u",
                 field == PRODUCT_SKU ? "sku" : "external_code", keyed[i].key,
                 import->csv ? "line" : "row", keyed[first].row->line);
        add_row_problem(problems, keyed[i].row, import->csv, catalogue_field_name(field),
                        "duplicate", message);
        (*added)++;
    }
    free(keyed);
    return 0;
}

/* Checks one row on its own: parsed, with a SKU. */
static size_t check_row(import_row_t *row, const json_t *object, bool csv, problems_t *problems)
{
    size_t before = problems_count(problems);
    size_t added = catalogue_input_parse(object, PRODUCT_ALL, row->label, &row->input, problems);
    added += catalogue_input_require(&row->input, PRODUCT_SKU, row->label, problems);
    if (csv)
        tag_line(problems, before, row->line);
    return added;
}

static int finish(import_t *import, problems_t *problems, size_t added)
{
    if (report_duplicates(import, PRODUCT_SKU, problems, &added) != 0 ||
        report_duplicates(import, PRODUCT_EXTERNAL_CODE, problems, &added) != 0)
        return -1;
    return (int)(added > INT32_MAX ? INT32_MAX : added);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                  */

/* The header: column i names columns[i] (canonical), or NULL. */
static size_t read_header(const csv_record_t *record, const char **columns, problems_t *problems)
{
    size_t added = 0;
    bool has_sku = false;
    for (size_t i = 0; i < record->count; i++) {
        const char *name = trim(record->fields[i]);
        for (size_t a = 0; a < sizeof column_aliases / sizeof column_aliases[0]; a++)
            if (strcmp(name, column_aliases[a][0]) == 0)
                name = column_aliases[a][1];
        columns[i] = name;
        char field[96];
        snprintf(field, sizeof field, "line %u: %.60s", record->line, name[0] ? name : "(empty)");
        if (!name[0]) {
            problems_add(problems, field, "invalid", "column %zu has no name", i + 1);
            tag_line(problems, problems_count(problems) - 1, record->line);
            added++;
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (columns[j] && strcmp(columns[j], name) == 0) {
                problems_add(problems, field, "duplicate", "column %.60s appears twice", name);
                tag_line(problems, problems_count(problems) - 1, record->line);
                added++;
            }
        has_sku = has_sku || strcmp(name, "sku") == 0;
    }
    if (!has_sku) {
        char field[32];
        snprintf(field, sizeof field, "line %u: sku", record->line);
        problems_add(problems, field, "required", "the header has no sku column");
        tag_line(problems, problems_count(problems) - 1, record->line);
        added++;
    }
    return added;
}

int import_parse_csv(const char *text, size_t len, import_t *import_out, problems_t *problems)
{
    memset(import_out, 0, sizeof *import_out);
    import_out->csv = true;
    import_out->source = json_array();
    csv_reader_t *csv = csv_reader_new(text, len);
    if (!import_out->source || !csv) {
        csv_reader_destroy(&csv);
        return -1;
    }
    size_t added = 0, cap = 0, header_count = 0;
    const char *columns[CSV_FIELDS_MAX];
    json_t *header_names = json_array(); /* keeps the header's names alive */
    csv_record_t record;
    csv_status_t status = csv_next(csv, &record);
    int result = -1;
    if (!header_names)
        goto done;
    if (status == CSV_END) {
        problems_add(problems, "line 1", "required", "the file is empty: a header and rows");
        added++;
        result = (int)added;
        goto done;
    }
    if (status == CSV_RECORD) {
        size_t header_problems = read_header(&record, columns, problems);
        added += header_problems;
        header_count = record.count;
        for (size_t i = 0; i < header_count; i++) {
            json_t *name = json_string(columns[i]);
            if (!name) {
                char field[32];
                snprintf(field, sizeof field, "line %u", record.line);
                problems_add(problems, field, "invalid",
                             "the file is not UTF-8 text: save it as CSV UTF-8");
                tag_line(problems, problems_count(problems) - 1, record.line);
                added++;
                result = (int)added;
                goto done;
            }
            json_array_append_new(header_names, name);
            columns[i] = json_string_value(name);
        }
        if (header_problems > 0) {
            result = (int)added; /* rows cannot be read without their columns */
            goto done;
        }
        status = csv_next(csv, &record);
    }
    while (status == CSV_RECORD) {
        if (import_out->count == IMPORT_ROWS_MAX) {
            char field[32];
            snprintf(field, sizeof field, "line %u", record.line);
            problems_add(problems, field, "too_many", "an import holds at most %d rows",
                         IMPORT_ROWS_MAX);
            tag_line(problems, problems_count(problems) - 1, record.line);
            added++;
            break;
        }
        if (grow_rows(import_out, &cap) != 0)
            goto done;
        import_row_t *row = &import_out->rows[import_out->count++];
        memset(row, 0, sizeof *row);
        row->line = record.line;
        snprintf(row->label, sizeof row->label, "line %u: ", record.line);
        json_t *object = json_object();
        if (!object || json_array_append_new(import_out->source, object) != 0)
            goto done;
        bool readable = true;
        if (record.count > header_count) {
            add_row_problem(problems, row, true, "", "invalid",
                            "the row has more fields than the header has columns");
            added++;
            readable = false;
        }
        for (size_t i = 0; readable && i < record.count && i < header_count; i++) {
            char *cell = trim(record.fields[i]);
            if (!cell[0])
                continue; /* not given */
            json_t *value = json_string(cell);
            if (!value) {
                add_row_problem(problems, row, true, columns[i], "invalid",
                                "not UTF-8 text: save the file as CSV UTF-8");
                added++;
                readable = false;
                break;
            }
            json_object_set_new(object, columns[i], value);
        }
        if (readable)
            added += check_row(row, object, true, problems);
        status = csv_next(csv, &record);
    }
    if (status == CSV_ERROR) {
        char field[32];
        snprintf(field, sizeof field, "line %u", csv_error_line(csv));
        problems_add(problems, field, "malformed", "%s", csv_error(csv));
        tag_line(problems, problems_count(problems) - 1, csv_error_line(csv));
        added++;
    }
    if (import_out->count == 0 && status != CSV_ERROR && added == 0) {
        problems_add(problems, "line 2", "required", "the file has a header but no rows");
        added++;
    }
    result = finish(import_out, problems, added);
done:
    json_decref(header_names);
    csv_reader_destroy(&csv);
    return result;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

int import_parse_json(const json_t *body, import_t *import_out, problems_t *problems)
{
    memset(import_out, 0, sizeof *import_out);
    const json_t *products = json_object_get(body, "products");
    size_t added = 0, cap = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)(uintptr_t)body, key, value)
    {
        if (strcmp(key, "products") != 0) {
            problems_add(problems, key, "unknown", "an import has only \"products\"");
            added++;
        }
    }
    if (!json_is_array(products) || json_array_size(products) == 0) {
        problems_add(problems, "products", "required",
                     "products must be a non-empty array of products");
        return (int)added + 1;
    }
    if (json_array_size(products) > IMPORT_ROWS_MAX) {
        problems_add(problems, "products", "too_many", "an import holds at most %d rows",
                     IMPORT_ROWS_MAX);
        return (int)added + 1;
    }
    for (size_t i = 0; i < json_array_size(products); i++) {
        if (grow_rows(import_out, &cap) != 0)
            return -1;
        import_row_t *row = &import_out->rows[import_out->count++];
        memset(row, 0, sizeof *row);
        row->line = (unsigned)i + 1;
        snprintf(row->label, sizeof row->label, "products[%zu].", i);
        added += check_row(row, json_array_get(products, i), false, problems);
    }
    return finish(import_out, problems, added);
}

void import_release(import_t *import)
{
    json_decref(import->source);
    free(import->rows);
    memset(import, 0, sizeof *import);
}

/* ------------------------------------------------------------------ */
/* against the catalogue                                                */

static int compare_known(const void *a, const void *b)
{
    return strcmp(((const import_known_t *)a)->sku, ((const import_known_t *)b)->sku);
}

static int compare_code(const void *a, const void *b)
{
    return strcmp(((const import_code_t *)a)->external_code,
                  ((const import_code_t *)b)->external_code);
}

/* Whether this import gives product sku another external code (so its
 * current one is freed). */
static bool recoded_here(const import_t *import, const char *sku, const char *code)
{
    for (size_t i = 0; i < import->count; i++) {
        const product_input_t *in = &import->rows[i].input;
        if (in->sku && strcmp(in->sku, sku) == 0)
            return (in->given & PRODUCT_EXTERNAL_CODE) &&
                   ((in->cleared & PRODUCT_EXTERNAL_CODE) || strcmp(in->external_code, code) != 0);
    }
    return false;
}

size_t import_check_catalogue(import_t *import, const import_known_t *known, size_t known_count,
                              const import_code_t *codes, size_t code_count, problems_t *problems)
{
    size_t added = 0;
    import_known_t *sorted = malloc((known_count ? known_count : 1) * sizeof *sorted);
    import_code_t *sorted_codes = malloc((code_count ? code_count : 1) * sizeof *sorted_codes);
    if (!sorted || !sorted_codes) {
        free(sorted);
        free(sorted_codes);
        problems_add(problems, "", "out_of_memory", "the import could not be checked");
        return 1;
    }
    if (known_count)
        memcpy(sorted, known, known_count * sizeof *sorted);
    if (code_count)
        memcpy(sorted_codes, codes, code_count * sizeof *sorted_codes);
    qsort(sorted, known_count, sizeof *sorted, compare_known);
    qsort(sorted_codes, code_count, sizeof *sorted_codes, compare_code);

    for (size_t i = 0; i < import->count; i++) {
        import_row_t *row = &import->rows[i];
        const product_input_t *in = &row->input;
        if (!(in->given & PRODUCT_SKU))
            continue; /* the row has its own problem already */
        import_known_t probe = {.sku = in->sku};
        const import_known_t *found =
            bsearch(&probe, sorted, known_count, sizeof *sorted, compare_known);
        row->exists = found != NULL;
        row->old_on_hand = found ? found->on_hand : 0;
        row->old_reserved = found ? found->reserved : 0;
        size_t before = problems_count(problems);
        if (!found)
            added += catalogue_input_require(in, PRODUCT_REQUIRED_NEW, row->label, problems);
        if (found && (in->given & PRODUCT_ON_HAND) && in->on_hand < found->reserved) {
            char message[160];
            snprintf(message, sizeof message,
                     "on_hand %lld is below the %lld units reserved for orders",
                     (long long)in->on_hand, (long long)found->reserved);
            char path[96];
            snprintf(path, sizeof path, "%son_hand", row->label);
            problems_add(problems, path, "below_reserved", "%s", message);
            added++;
        }
        if ((in->given & PRODUCT_EXTERNAL_CODE) && !(in->cleared & PRODUCT_EXTERNAL_CODE)) {
            import_code_t code_probe = {.external_code = in->external_code};
            const import_code_t *holder =
                bsearch(&code_probe, sorted_codes, code_count, sizeof *sorted_codes, compare_code);
            if (holder && strcmp(holder->sku, in->sku) != 0 &&
                !recoded_here(import, holder->sku, in->external_code)) {
                char path[96];
                snprintf(path, sizeof path, "%sexternal_code", row->label);
                problems_add(problems, path, "duplicate",
                             "external_code %.64s belongs to product %.64s", in->external_code,
                             holder->sku);
                added++;
            }
        }
        if (import->csv)
            tag_line(problems, before, row->line);
    }
    free(sorted);
    free(sorted_codes);
    return added;
}
