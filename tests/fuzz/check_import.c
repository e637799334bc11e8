/*
 * check_import.c — the checks both import targets share (check_import.h).
 */
#include "tests/fuzz/check_import.h"

#include <string.h>

#include "tests/fuzz/fuzz.h"

/* The catalogue as the transaction would have read it under lock. */
static const import_known_t known[] = {
    {"KT-1000", 12, 3},
    {"MUG-350", 0, 0},
    {"TEA-GREEN-100", 40, 40},
};
static const import_code_t codes[] = {
    {"00042", "KT-1000"},
    {"00077", "MUG-350"},
};

/* Row problems of a CSV import carry the row's "line"; problems of the
 * whole file ("the file is empty") may not. */
static void check_problems(const problems_t *problems, size_t from)
{
    const json_t *errors = problems_errors(problems);
    for (size_t i = from; i < json_array_size(errors); i++) {
        const json_t *problem = json_array_get(errors, i);
        FUZZ_CHECK(json_is_string(json_object_get(problem, "field")));
        FUZZ_CHECK(json_is_string(json_object_get(problem, "code")));
        FUZZ_CHECK(json_is_string(json_object_get(problem, "message")));
        const json_t *line = json_object_get(problem, "line");
        FUZZ_CHECK(!line || json_integer_value(line) >= 1);
    }
}

void check_import(import_t *import, int parsed, problems_t *problems, size_t problems_before)
{
    FUZZ_CHECK(parsed >= 0); /* -1 is out of memory only */
    size_t added = problems_count(problems) - problems_before;
    if ((size_t)parsed != added)
        fprintf(stderr, "import_parse_* said %d problems, added %zu\n", parsed, added);
    FUZZ_CHECK((size_t)parsed == added);
    check_problems(problems, problems_before);
    FUZZ_CHECK(import->count <= IMPORT_ROWS_MAX);
    unsigned last_line = 0;
    for (size_t i = 0; i < import->count; i++) {
        const import_row_t *row = &import->rows[i];
        FUZZ_CHECK(row->line > last_line);
        last_line = row->line;
        FUZZ_CHECK(row->label[0] != '\0');
        if (parsed == 0) {
            FUZZ_CHECK(row->input.given & PRODUCT_SKU);
            FUZZ_CHECK(catalogue_sku_valid(row->input.sku));
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(import->rows[j].input.sku, row->input.sku) != 0);
        }
    }
    if (import->count == 0)
        return;
    size_t before = problems_count(problems);
    size_t checked = import_check_catalogue(import, known, sizeof known / sizeof known[0], codes,
                                            sizeof codes / sizeof codes[0], problems);
    FUZZ_CHECK(checked == problems_count(problems) - before);
    check_problems(problems, before);
    for (size_t i = 0; i < import->count; i++) {
        const import_row_t *row = &import->rows[i];
        if (!row->exists)
            continue;
        bool found = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            found = found || strcmp(known[k].sku, row->input.sku) == 0;
        FUZZ_CHECK(found);
    }
}
