/*
 * catalogue.h — what a product is made of, read from outside (F9).
 *
 * Products reach the service three ways: POST/PATCH /v1/products (JSON),
 * and imports of many rows as JSON or CSV. All three go through
 * catalogue_input_parse, so a field means the same and is checked the same
 * everywhere, and every mistake of a request is reported at once
 * (problems.h) under a field path the caller chooses: "price_minor",
 * "products[6].price_minor" or "line 7: price".
 *
 * Values may be JSON numbers/booleans or text (a CSV cell is always text):
 *
 *   sku                 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit
 *   external_code       the accounting system's code (MoySklad's "code"), 1-64 bytes; null clears
 *   name                1-200 characters
 *   price_minor         kopecks, a whole number >= 0
 *   price               or the price as a decimal text: "1299", "1299.90", "1 299,90"
 *   currency            ISO 4217 letters, default RUB
 *   vat_rate_bp         basis points 0..10000 (2000 = 20 %)
 *   vat                 or percent: "20", "20%", "10", "0", "без НДС" (= 0)
 *   weight_g            grams, whole
 *   low_stock_threshold available below this is low stock (0: never)
 *   buyer_id, buyer_name, buyer_email   the person who buys it; null clears
 *   buyer               or {"id","name","email"} (JSON)
 *   active              true/false (also 1/0, yes/no, да/нет)
 *   on_hand             stock on hand (create and import only; a stock level, not a delta)
 *
 * Parsed values are borrowed from the JSON they came from.
 */
#ifndef INVENTORY_CATALOGUE_H
#define INVENTORY_CATALOGUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/problems.h"

#define CATALOGUE_SKU_MAX      64
#define CATALOGUE_NAME_CHARS   200
#define CATALOGUE_CODE_MAX     64
#define CATALOGUE_TEXT_MAX     200 /* buyer fields, bytes */
#define CATALOGUE_QUANTITY_MAX 1000000000LL
#define CATALOGUE_PRICE_MAX    100000000000LL /* a billion roubles in kopecks */
#define CATALOGUE_WEIGHT_MAX   10000000       /* ten tonnes */

/* Which fields an input carries (bits). */
enum {
    PRODUCT_SKU = 1u << 0,
    PRODUCT_EXTERNAL_CODE = 1u << 1,
    PRODUCT_NAME = 1u << 2,
    PRODUCT_PRICE = 1u << 3,
    PRODUCT_CURRENCY = 1u << 4,
    PRODUCT_VAT = 1u << 5,
    PRODUCT_WEIGHT = 1u << 6,
    PRODUCT_THRESHOLD = 1u << 7,
    PRODUCT_BUYER_ID = 1u << 8,
    PRODUCT_BUYER_NAME = 1u << 9,
    PRODUCT_BUYER_EMAIL = 1u << 10,
    PRODUCT_ACTIVE = 1u << 11,
    PRODUCT_ON_HAND = 1u << 12,
};

/* Fields a new product must have. */
#define PRODUCT_REQUIRED_NEW                                                                       \
    (PRODUCT_SKU | PRODUCT_NAME | PRODUCT_PRICE | PRODUCT_VAT | PRODUCT_WEIGHT)
/* Everything a person may edit with PATCH (stock changes are corrections). */
#define PRODUCT_EDITABLE                                                                           \
    (PRODUCT_EXTERNAL_CODE | PRODUCT_NAME | PRODUCT_PRICE | PRODUCT_CURRENCY | PRODUCT_VAT |       \
     PRODUCT_WEIGHT | PRODUCT_THRESHOLD | PRODUCT_BUYER_ID | PRODUCT_BUYER_NAME |                  \
     PRODUCT_BUYER_EMAIL | PRODUCT_ACTIVE)
#define PRODUCT_ALL (PRODUCT_EDITABLE | PRODUCT_SKU | PRODUCT_ON_HAND)

/* The nullable fields: given as null means "clear it". */
#define PRODUCT_NULLABLE                                                                           \
    (PRODUCT_EXTERNAL_CODE | PRODUCT_BUYER_ID | PRODUCT_BUYER_NAME | PRODUCT_BUYER_EMAIL)

typedef struct {
    unsigned present; /* fields the object names, valid or not */
    unsigned given;   /* fields present with a valid value or a clearing null */
    unsigned cleared; /* nullable fields given as null */
    const char *sku, *external_code, *name, *currency, *buyer_id, *buyer_name, *buyer_email;
    int64_t price_minor;
    int64_t low_stock_threshold;
    int64_t on_hand;
    int32_t vat_rate_bp;
    int32_t weight_g;
    bool active;
} product_input_t;

/* Reads a product from a JSON object whose members are fields (values as
 * JSON types or text). Fields outside `allowed` are refused ("read_only"
 * for known ones, "unknown" otherwise); each mistake is added to problems
 * under prefix + field name. Returns the number of problems added. */
size_t catalogue_input_parse(const json_t *object, unsigned allowed, const char *prefix,
                             product_input_t *input_out, problems_t *problems);

/* Adds a "required" problem for each of `required` that input does not
 * name at all, or clears; returns how many. (A field named with a bad value
 * already has its own problem.) */
size_t catalogue_input_require(const product_input_t *input, unsigned required, const char *prefix,
                               problems_t *problems);

/* The field name of one PRODUCT_* bit ("price_minor" for PRODUCT_PRICE). */
const char *catalogue_field_name(unsigned field);

/* Whether text is a valid SKU. */
bool catalogue_sku_valid(const char *sku);

/* "1299", "1299.9", "1299.90", "1 299,90" (spaces, thin spaces and
 * apostrophes as thousands separators) into kopecks. 0 ok, -1 otherwise. */
int catalogue_parse_price(const char *text, int64_t *minor_out);

/* "20", "20%", "10.5", "0", "без НДС"/"no vat" into basis points. */
int catalogue_parse_vat_percent(const char *text, int32_t *bp_out);

/* "true"/"false", "1"/"0", "yes"/"no", "да"/"нет" (any ASCII case). */
int catalogue_parse_bool(const char *text, bool *out);

/* Whether text is a calendar date written YYYY-MM-DD (2000..2999). */
bool catalogue_date_valid(const char *text);

/* Number of UTF-8 characters in text, or -1 if it is not valid UTF-8. */
long catalogue_utf8_length(const char *text);

#endif
