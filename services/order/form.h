/*
 * form.h — the url-encoded order forms that site builders post (F1).
 *
 * Tilda and its kind POST application/x-www-form-urlencoded bodies with
 * the store's own field names (Name, Phone, Email ...), a submission id
 * `tranid`, and the cart as bracketed keys:
 * payment[products][0][name], payment[products][0][quantity],
 * payment[products][0][price] (decimal roubles), payment[products][0][sku],
 * payment[amount], payment[discount] ... — or `payment` as one JSON string.
 * A connection check posts only test=test. This module turns such a body
 * into plain fields, through a configurable map from our field names to
 * the form's, without deciding whether the order is valid (submission.c does).
 */
#ifndef ORDER_FORM_H
#define ORDER_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a hostile body can make us hold: pairs in a body, cart
 * lines read at most (one more than an order holds, INTAKE_ITEMS_MAX, so
 * that a longer cart is seen as too long without reading the rest), the
 * highest cart index looked at (payment[products][i] with a larger i is
 * ignored), attributes kept at most, values in a `payment` JSON string. */
#define FORM_MAX_PAIRS       8192
#define FORM_MAX_ITEMS       201
#define FORM_MAX_INDEX       10000
#define FORM_MAX_ATTRIBUTES  64
#define FORM_MAX_JSON_VALUES 16384

/* One decoded key=value pair. */
typedef struct {
    char *key;
    char *value;
} form_pair_t;

/* pairs is one allocation: the array, then every key and value it points
 * to, decoded and NUL-terminated. */
typedef struct {
    form_pair_t *pairs;
    size_t count;
} form_t;

/* Decodes an application/x-www-form-urlencoded body (+ as space, %XX in
 * either case, keys and values NUL-free), keeping every pair in order,
 * duplicates included. Empty segments ("a=1&&b=2", a trailing '&') are
 * skipped; "flag" without '=' is the pair flag="". 0 ok; -1 on a
 * malformed escape ("%4", "%zz"), a NUL (raw or %00), text that is not
 * UTF-8, more than FORM_MAX_PAIRS pairs or out of memory, and *form_out is
 * then empty. What a body makes us hold is proportional to it: the pairs'
 * array (16 bytes a pair, at most FORM_MAX_PAIRS) and one decoded copy of
 * the text, nothing more. Caller owns *form_out (form_free). */
int form_parse(const char *body, size_t len, form_t *form_out);
void form_free(form_t *form);

/* The value of the first pair named key (exact, case-sensitive), or NULL. */
const char *form_get(const form_t *form, const char *key);

/* The form field names for our fields, e.g. from
 * INTAKE_FORM_FIELDS="name=Name,phone=Phone,email=Email,address=Address,
 * city=City,region=Region,postal_code=Index,delivery=Delivery,
 * pickup_point=Point,comment=Comment,channel=Channel" — those are also the
 * defaults, which fields the spec does not name keep. */
typedef struct {
    char name[64], phone[64], email[64], address[64], city[64], region[64], postal_code[64],
        delivery[64], pickup_point[64], comment[64], channel[64];
} form_map_t;

/* Fills map from "ours=theirs,..." (NULL or "" gives the defaults above);
 * -1 if an item is malformed (no '=', an empty name, theirs of 64 bytes
 * or more or containing '='), names an unknown field of ours or one named
 * before; *map_out is untouched then. Spaces around names and empty items
 * are ignored. */
int form_map_parse(const char *spec, form_map_t *map_out);

/* One cart line. */
typedef struct {
    char *sku;           /* payment[products][i][sku], else [externalid]; may be NULL */
    char *name;          /* may be NULL */
    int64_t quantity;    /* -1 when missing or not a whole number */
    int64_t price_minor; /* -1 when missing or not a decimal amount */
} form_item_t;

typedef struct {
    /* our fields, through the map; NULL when absent, empty or spaces only */
    const char *name, *phone, *email, *address, *city, *region, *postal_code, *delivery,
        *pickup_point, *comment, *channel;
    const char *tranid;
    const char *formid;
    bool is_test; /* test=test and no tranid: Tilda's connection check */
    form_item_t *items;
    size_t item_count;
    /* payment[discount] in kopecks: 0 when absent, -1 when not a decimal amount */
    int64_t discount_minor;
    char *promocode; /* payment[promocode], owned; NULL when absent */
    /* attributes kept for analytics: utm_* fields, formid, formname (owned copies) */
    form_pair_t *attributes;
    size_t attribute_count;
} form_order_t;

/* Reads an order out of a parsed form (map NULL: the default map).
 * Pointers into form stay valid while form does; items, promocode and
 * attributes are owned by order (form_order_free). Duplicate keys: the
 * first wins.
 *
 * The cart is `payment` as a JSON string when that pair is present and
 * not blank — {"products": [{"name", "quantity", "price", "sku" or
 * "externalid", "amount"}], "discount", "promocode"}, numbers or strings
 * alike, money never through a double — and the bracketed keys otherwise.
 * Lines come sorted by their bracket index (gaps are fine) or in JSON
 * order; a line without a price but with an amount that its quantity
 * divides gets amount / quantity as its price. At most FORM_MAX_ITEMS
 * lines are read.
 *
 * Attributes: the utm_* fields, formid and formname (not COOKIES or
 * anything else), non-blank, at most FORM_MAX_ATTRIBUTES. 0 ok, -1 out of
 * memory or a `payment` JSON that does not parse as an object; *order_out
 * is then empty. */
int form_order_read(const form_t *form, const form_map_t *map, form_order_t *order_out);
void form_order_free(form_order_t *order);

/* "1990.5" / "1990,50" / "1990" roubles -> kopecks; -1 if not a
 * non-negative amount with at most 2 decimals (no sign, spaces, exponent,
 * thousands separators, missing digits on either side of the point) or
 * past int64; *minor_out is untouched then. */
int form_parse_money(const char *text, int64_t *minor_out);

#endif
