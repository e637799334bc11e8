/*
 * import.h — a bulk import of products and stock levels, read and checked
 * (F9): thousands of rows per call, all or nothing, every bad row reported
 * with its line and the reason.
 *
 * Two formats carry the same fields (catalogue.h):
 *
 *   text/csv          a header naming the columns (in any order; a few
 *                     MoySklad column names are understood too: Артикул,
 *                     Код, Наименование, Цена продажи, НДС, Остаток), then
 *                     one product per row. An empty cell means "not given".
 *   application/json  {"products": [{...}, ...]}
 *
 * A row names a product by sku. A new SKU is created (name, price, VAT and
 * weight required); a known one is updated in the fields the row gives
 * and keeps the others. on_hand, when given, is the new stock level (the
 * difference goes to the ledger as an import movement).
 *
 * Checking happens in two steps, both pure: import_parse_* reads and
 * checks each row on its own and against the other rows (a SKU or an
 * external code twice); import_check_catalogue then checks the rows
 * against the catalogue as it stands (read by the caller under row locks):
 * what a new product lacks, stock below what is reserved, an external
 * code another product holds. Problems name the row: "line 7: price" (CSV,
 * with "line": 7 in the problem) or "products[6].price" (JSON).
 */
#ifndef INVENTORY_IMPORT_H
#define INVENTORY_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/problems.h"
#include "services/inventory/catalogue.h"

#define IMPORT_ROWS_MAX 20000

typedef struct {
    unsigned line;  /* CSV line, or JSON index + 1 */
    char label[32]; /* the field prefix of this row: "line 7: ", "products[6]." */
    product_input_t input;
    bool exists; /* set by import_check_catalogue */
    int64_t old_on_hand;
    int64_t old_reserved;
} import_row_t;

typedef struct {
    bool csv;       /* the format, for the record */
    json_t *source; /* owns the values the rows borrow */
    import_row_t *rows;
    size_t count;
} import_t;

/* Reads CSV text. Returns 0 when every row is well formed (problems
 * untouched), the number of problems added otherwise, -1 on out of memory.
 * *import_out is filled either way; release it with import_release. */
int import_parse_csv(const char *text, size_t len, import_t *import_out, problems_t *problems);

/* Reads {"products": [...]}; the same contract. body is borrowed and must
 * outlive the import. */
int import_parse_json(const json_t *body, import_t *import_out, problems_t *problems);

void import_release(import_t *import);

/* A product of the catalogue that an import row names (read under lock). */
typedef struct {
    const char *sku;
    int64_t on_hand;
    int64_t reserved;
} import_known_t;

/* An external code the catalogue already gives to some product. */
typedef struct {
    const char *external_code;
    const char *sku;
} import_code_t;

/* Marks which rows update a known product and checks the rows against the
 * catalogue. Returns the number of problems added. */
size_t import_check_catalogue(import_t *import, const import_known_t *known, size_t known_count,
                              const import_code_t *codes, size_t code_count, problems_t *problems);

#endif
