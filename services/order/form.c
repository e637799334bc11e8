/*
 * form.c — site-builder order forms (form.h): url-encoded bodies into
 * pairs, pairs into an order's plain fields, cart lines and analytics
 * attributes (F1, F3). What makes an order valid is submission.c's business;
 * this file only reads, and reads defensively, because anyone on the
 * internet can post to a form webhook:
 *   - escapes are strict (%XX only, no %00, no raw NUL);
 *   - duplicate keys: the first wins, everywhere;
 *   - cart indexes above FORM_MAX_INDEX are ignored and at most
 *     FORM_MAX_ITEMS lines are read, so memory stays proportional to the
 *     body and bounded in lines;
 *   - money is parsed from its decimal text into kopecks and never passes
 *     through a double: before jansson sees a `payment` JSON string, every
 *     number with a fraction or exponent is turned into a JSON string
 *     (1990.50 -> "1990.50") and parsed like the bracketed form's text.
 */
#include "services/order/form.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hex.h"
#include "common/numparse.h"

#define FORM_PRODUCTS_PREFIX "payment[products]["

/* --- the url-encoded body --------------------------------------------------- */

/* Decodes len bytes of one key or value ('+' is a space, %XX a byte) into
 * out, NUL-terminated; out has room for len + 1 bytes (decoding never
 * grows text). Returns the decoded length, or -1 on a bad escape or a NUL
 * (raw or %00). */
static long form_decode(const char *text, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int high = len - i >= 3 ? hex_value(text[i + 1]) : -1;
            int low = len - i >= 3 ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0)
                return -1;
            c = (char)(high * 16 + low);
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return (long)n;
}

/* Whether text is well-formed UTF-8 (no overlongs, no surrogates): a
 * form posted in another encoding is refused here, not in the database. */
static bool form_utf8(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        unsigned char c = *p;
        size_t extra = c < 0x80             ? 0
                       : (c & 0xe0) == 0xc0 ? 1
                       : (c & 0xf0) == 0xe0 ? 2
                       : (c & 0xf8) == 0xf0 ? 3
                                            : 9;
        if (extra == 9 || (extra == 1 && c < 0xc2) || (c == 0xf4 && p[1] > 0x8f) || c > 0xf4)
            return false;
        for (size_t i = 1; i <= extra; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90))
            return false;
        p += extra + 1;
    }
    return true;
}

int form_parse(const char *body, size_t len, form_t *form_out)
{
    int rc = -1;
    form_t form = {NULL, 0};
    size_t pair_count = 0;

    if (!form_out)
        return -1;
    memset(form_out, 0, sizeof *form_out);
    if (!body && len > 0)
        return -1;
    /* count the pairs first (empty segments are no pairs): the memory is
     * then the pairs' array, bounded by FORM_MAX_PAIRS, and one copy of
     * the text, never more than len + 2 bytes a pair */
    for (size_t i = 0; i < len; i++)
        if (body[i] != '&' && (i == 0 || body[i - 1] == '&') && ++pair_count > FORM_MAX_PAIRS)
            return -1;
    if (pair_count == 0)
        return 0;
    form.pairs = malloc(pair_count * sizeof *form.pairs + len + 2 * pair_count);
    if (!form.pairs)
        goto done;

    char *out = (char *)(form.pairs + pair_count); /* the text follows the array */
    size_t start = 0;
    while (start <= len) {
        const char *segment = body + start;
        const char *amp = memchr(segment, '&', len - start);
        size_t segment_len = amp ? (size_t)(amp - segment) : len - start;
        start += segment_len + 1;
        if (segment_len == 0)
            continue; /* "a=1&&b=2", a trailing '&' */
        const char *eq = memchr(segment, '=', segment_len);
        size_t key_len = eq ? (size_t)(eq - segment) : segment_len;
        form_pair_t *pair = &form.pairs[form.count];
        long decoded = form_decode(segment, key_len, out);
        if (decoded < 0 || !form_utf8(out))
            goto done;
        pair->key = out;
        out += decoded + 1;
        decoded =
            eq ? form_decode(eq + 1, segment_len - key_len - 1, out) : form_decode("", 0, out);
        if (decoded < 0 || !form_utf8(out))
            goto done;
        pair->value = out;
        out += decoded + 1;
        form.count++;
    }
    *form_out = form;
    memset(&form, 0, sizeof form);
    rc = 0;
done:
    form_free(&form);
    return rc;
}

void form_free(form_t *form)
{
    if (!form)
        return;
    free(form->pairs); /* the text with it */
    form->pairs = NULL;
    form->count = 0;
}

const char *form_get(const form_t *form, const char *key)
{
    if (!form || !key)
        return NULL;
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->pairs[i].key, key) == 0)
            return form->pairs[i].value;
    return NULL;
}

/* --- the field map ------------------------------------------------------------ */

static const struct {
    const char *ours;
    size_t offset;
    const char *theirs_by_default;
} form_fields[] = {
    {"name", offsetof(form_map_t, name), "Name"},
    {"phone", offsetof(form_map_t, phone), "Phone"},
    {"email", offsetof(form_map_t, email), "Email"},
    {"address", offsetof(form_map_t, address), "Address"},
    {"city", offsetof(form_map_t, city), "City"},
    {"region", offsetof(form_map_t, region), "Region"},
    {"postal_code", offsetof(form_map_t, postal_code), "Index"},
    {"delivery", offsetof(form_map_t, delivery), "Delivery"},
    {"pickup_point", offsetof(form_map_t, pickup_point), "Point"},
    {"comment", offsetof(form_map_t, comment), "Comment"},
    {"channel", offsetof(form_map_t, channel), "Channel"},
};
#define FORM_FIELD_COUNT (sizeof form_fields / sizeof form_fields[0])
#define FORM_NAME_SIZE   sizeof(((form_map_t *)0)->name)

static char *form_map_slot(form_map_t *map, size_t field)
{
    return (char *)map + form_fields[field].offset;
}

static bool form_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trims spaces off [*start, *start + *len). */
static void form_trim(const char **start, size_t *len)
{
    while (*len > 0 && form_is_space(**start)) {
        (*start)++;
        (*len)--;
    }
    while (*len > 0 && form_is_space((*start)[*len - 1]))
        (*len)--;
}

/* Applies one "ours=theirs" item; -1 if malformed, unknown or repeated. */
static int form_map_apply(form_map_t *map, bool *seen, const char *item, size_t item_len)
{
    const char *eq = memchr(item, '=', item_len);
    if (!eq)
        return -1;
    const char *ours = item, *theirs = eq + 1;
    size_t ours_len = (size_t)(eq - item);
    size_t theirs_len = item_len - ours_len - 1;
    form_trim(&ours, &ours_len);
    form_trim(&theirs, &theirs_len);
    if (theirs_len == 0 || theirs_len >= FORM_NAME_SIZE || memchr(theirs, '=', theirs_len))
        return -1;
    for (size_t field = 0; field < FORM_FIELD_COUNT; field++) {
        if (strlen(form_fields[field].ours) != ours_len ||
            memcmp(form_fields[field].ours, ours, ours_len) != 0)
            continue;
        if (seen[field])
            return -1;
        seen[field] = true;
        char *slot = form_map_slot(map, field);
        memcpy(slot, theirs, theirs_len);
        slot[theirs_len] = '\0';
        return 0;
    }
    return -1;
}

int form_map_parse(const char *spec, form_map_t *map_out)
{
    form_map_t map;
    bool seen[FORM_FIELD_COUNT] = {false};
    size_t spec_len = spec ? strlen(spec) : 0;
    const char *trimmed = spec;
    size_t trimmed_len = spec_len;

    if (!map_out)
        return -1;
    memset(&map, 0, sizeof map);
    if (trimmed)
        form_trim(&trimmed, &trimmed_len);
    bool defaults = trimmed_len == 0;
    /* fields the spec does not name keep the usual form names (Name, Phone ...) */
    for (size_t field = 0; field < FORM_FIELD_COUNT; field++) {
        const char *name = form_fields[field].theirs_by_default;
        size_t name_len = strlen(name); /* all shorter than FORM_NAME_SIZE */
        memcpy(form_map_slot(&map, field), name, name_len + 1);
    }
    for (size_t start = 0; !defaults && start <= spec_len;) {
        const char *item = spec + start;
        const char *comma = memchr(item, ',', spec_len - start);
        size_t item_len = comma ? (size_t)(comma - item) : spec_len - start;
        start += item_len + 1;
        const char *content = item;
        size_t content_len = item_len;
        form_trim(&content, &content_len);
        if (content_len == 0)
            continue; /* "a=b,,c=d" or a trailing comma */
        if (form_map_apply(&map, seen, item, item_len) != 0)
            return -1;
    }
    *map_out = map;
    return 0;
}

/* --- money and counts ------------------------------------------------------ */

static bool form_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int form_parse_money(const char *text, int64_t *minor_out)
{
    int64_t units = 0, cents = 0;
    const char *p = text;

    if (!text || !minor_out || !form_is_digit(*p))
        return -1;
    for (; form_is_digit(*p); p++) {
        int digit = *p - '0';
        if (units > (INT64_MAX - digit) / 10)
            return -1;
        units = units * 10 + digit;
    }
    if (*p == '.' || *p == ',') {
        p++;
        if (!form_is_digit(*p))
            return -1;
        cents = (*p++ - '0') * 10;
        if (form_is_digit(*p))
            cents += *p++ - '0';
    }
    if (*p != '\0' || units > (INT64_MAX - cents) / 100)
        return -1;
    *minor_out = units * 100 + cents;
    return 0;
}

/* A whole non-negative count, or -1. */
static int64_t form_quantity_of_text(const char *text)
{
    int64_t quantity;
    if (numparse_int_range(text, 0, INT64_MAX, &quantity) != 0)
        return -1;
    return quantity;
}

/* Kopecks of decimal text, or -1. */
static int64_t form_money_of_text(const char *text)
{
    int64_t minor;
    if (form_parse_money(text, &minor) != 0)
        return -1;
    return minor;
}

/* A missing unit price is the line's amount over its quantity when that
 * divides exactly; otherwise it stays missing. */
static int64_t form_price_from_amount(int64_t amount_minor, int64_t quantity)
{
    if (amount_minor < 0 || quantity <= 0 || amount_minor % quantity != 0)
        return -1;
    return amount_minor / quantity;
}

/* NULL for a missing value or one of spaces only, so that "Email=" reads
 * as no email. */
static const char *form_nonblank(const char *value)
{
    if (!value)
        return NULL;
    for (const char *p = value; *p; p++)
        if (!form_is_space(*p))
            return value;
    return NULL;
}

/* A copy of a non-blank value; *copy_out NULL for a blank one. -1 out of
 * memory. */
static int form_copy_nonblank(const char *value, char **copy_out)
{
    *copy_out = NULL;
    if (!form_nonblank(value))
        return 0;
    *copy_out = strdup(value);
    return *copy_out ? 0 : -1;
}

/* --- the cart as bracketed keys -------------------------------------------- */

/* One line's raw texts, borrowed from the form; the first of each wins. */
typedef struct {
    long index;
    const char *name, *quantity, *price, *amount, *sku, *externalid;
} form_raw_item_t;

/* If key is payment[products][<index>][<field>] with a field we read,
 * sets *index_out and *field_out (pointing into key, *field_len_out long)
 * and returns 0; -1 for any other key, options included. */
static int form_product_key(const char *key, long *index_out, const char **field_out,
                            size_t *field_len_out)
{
    size_t prefix_len = sizeof FORM_PRODUCTS_PREFIX - 1;
    if (strncmp(key, FORM_PRODUCTS_PREFIX, prefix_len) != 0)
        return -1;
    const char *p = key + prefix_len;
    long line_index = 0;
    int digits = 0;
    for (; form_is_digit(*p); p++, digits++) {
        if (digits == 9)
            return -1; /* far beyond FORM_MAX_INDEX anyway */
        line_index = line_index * 10 + (*p - '0');
    }
    if (digits == 0 || line_index > FORM_MAX_INDEX || p[0] != ']' || p[1] != '[')
        return -1;
    const char *field = p + 2;
    const char *close = strchr(field, ']');
    if (!close || close[1] != '\0')
        return -1;
    *index_out = line_index;
    *field_out = field;
    *field_len_out = (size_t)(close - field);
    return 0;
}

/* Where a field's text goes in raw, or NULL for a field we do not read. */
static const char **form_raw_slot(form_raw_item_t *raw, const char *field, size_t field_len)
{
    static const struct {
        const char *name;
        size_t offset;
    } slots[] = {
        {"name", offsetof(form_raw_item_t, name)},
        {"quantity", offsetof(form_raw_item_t, quantity)},
        {"price", offsetof(form_raw_item_t, price)},
        {"amount", offsetof(form_raw_item_t, amount)},
        {"sku", offsetof(form_raw_item_t, sku)},
        {"externalid", offsetof(form_raw_item_t, externalid)},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if (strlen(slots[i].name) == field_len && memcmp(slots[i].name, field, field_len) == 0)
            return (const char **)((char *)raw + slots[i].offset);
    return NULL;
}

static int form_raw_item_cmp(const void *left, const void *right)
{
    const form_raw_item_t *a = left;
    const form_raw_item_t *b = right;
    return (a->index > b->index) - (a->index < b->index);
}

/* Turns raw texts into an owned line. -1 out of memory (item half-filled,
 * freed by the caller). */
static int form_item_of_raw(const form_raw_item_t *raw, form_item_t *item)
{
    item->quantity = raw->quantity ? form_quantity_of_text(raw->quantity) : -1;
    if (raw->price)
        item->price_minor = form_money_of_text(raw->price);
    else if (raw->amount)
        item->price_minor = form_price_from_amount(form_money_of_text(raw->amount), item->quantity);
    else
        item->price_minor = -1;
    if (form_copy_nonblank(raw->name, &item->name) != 0)
        return -1;
    return form_copy_nonblank(form_nonblank(raw->sku) ? raw->sku : raw->externalid, &item->sku);
}

static void form_items_free(form_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(items[i].sku);
        free(items[i].name);
    }
    free(items);
}

static int form_read_bracket_cart(const form_t *form, form_order_t *order)
{
    int rc = -1;
    int32_t *slot_of_index = NULL; /* index -> position in raw, -1 for none yet */
    form_raw_item_t *raw = NULL;
    size_t raw_count = 0;

    for (size_t i = 0; i < form->count; i++) {
        long line_index;
        const char *field;
        size_t field_len;
        if (form_product_key(form->pairs[i].key, &line_index, &field, &field_len) != 0)
            continue;
        if (!slot_of_index) {
            slot_of_index = malloc((FORM_MAX_INDEX + 1) * sizeof *slot_of_index);
            raw = calloc(FORM_MAX_ITEMS, sizeof *raw);
            if (!slot_of_index || !raw)
                goto done;
            for (size_t k = 0; k <= FORM_MAX_INDEX; k++)
                slot_of_index[k] = -1;
        }
        int32_t slot = slot_of_index[line_index];
        if (slot < 0) {
            if (raw_count == FORM_MAX_ITEMS || !form_raw_slot(&raw[0], field, field_len))
                continue; /* past the cap, or a field we do not read */
            slot = (int32_t)raw_count++;
            slot_of_index[line_index] = slot;
            raw[slot].index = line_index;
        }
        const char **text = form_raw_slot(&raw[slot], field, field_len);
        if (text && !*text)
            *text = form->pairs[i].value;
    }

    if (raw_count > 0) {
        qsort(raw, raw_count, sizeof *raw, form_raw_item_cmp);
        order->items = calloc(raw_count, sizeof *order->items);
        if (!order->items)
            goto done;
        for (size_t k = 0; k < raw_count; k++) {
            order->item_count++;
            if (form_item_of_raw(&raw[k], &order->items[k]) != 0)
                goto done;
        }
    }

    const char *discount = form_nonblank(form_get(form, "payment[discount]"));
    order->discount_minor = discount ? form_money_of_text(discount) : 0;
    if (form_copy_nonblank(form_get(form, "payment[promocode]"), &order->promocode) != 0)
        goto done;
    rc = 0;
done:
    free(raw);
    free(slot_of_index);
    return rc;
}

/* --- the cart as a JSON string --------------------------------------------- */

/* A copy of JSON text in which every number with a fraction or exponent
 * is a string instead ({"price": 1990.50} -> {"price": "1990.50"}), so
 * that jansson keeps its digits rather than a double. Strings are copied
 * untouched. Caller owns the result; NULL out of memory or when the text
 * holds more than FORM_MAX_JSON_VALUES values (counted by the ',', ':',
 * '[' and '{' outside strings that every value but the first follows):
 * jansson spends tens of bytes a value, and "[0,0,0,...]" must not turn a
 * body into ten times its size. */
static char *form_json_quote_decimals(const char *text)
{
    size_t len = strlen(text);
    size_t values = 1;
    if (len > (SIZE_MAX - 1) / 2)
        return NULL;
    char *quoted = malloc(len * 2 + 1); /* a number grows by 2 and is at least 2 long */
    size_t n = 0;
    bool in_string = false, escaped = false;
    if (!quoted)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!in_string && (c == ',' || c == ':' || c == '[' || c == '{') &&
            ++values > FORM_MAX_JSON_VALUES) {
            free(quoted);
            return NULL;
        }
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            quoted[n++] = c;
        } else if (c == '"') {
            in_string = true;
            quoted[n++] = c;
        } else if (c == '-' || form_is_digit(c)) {
            size_t end = i;
            bool decimal = false;
            while (end < len && (form_is_digit(text[end]) || strchr("+-.eE", text[end]))) {
                decimal = decimal || text[end] == '.' || text[end] == 'e' || text[end] == 'E';
                end++;
            }
            if (decimal)
                quoted[n++] = '"';
            memcpy(quoted + n, text + i, end - i);
            n += end - i;
            if (decimal)
                quoted[n++] = '"';
            i = end - 1;
        } else {
            quoted[n++] = c;
        }
    }
    quoted[n] = '\0';
    return quoted;
}

/* Kopecks of a JSON value: an integer of roubles or a decimal string; -1
 * for anything else or an amount past int64. */
static int64_t form_money_of_json(const json_t *value)
{
    if (json_is_integer(value)) {
        json_int_t roubles = json_integer_value(value);
        if (roubles < 0 || roubles > INT64_MAX / 100)
            return -1;
        return (int64_t)roubles * 100;
    }
    if (json_is_string(value))
        return form_money_of_text(json_string_value(value));
    return -1;
}

static int64_t form_quantity_of_json(const json_t *value)
{
    if (json_is_integer(value))
        return json_integer_value(value) >= 0 ? (int64_t)json_integer_value(value) : -1;
    if (json_is_string(value))
        return form_quantity_of_text(json_string_value(value));
    return -1;
}

/* An owned copy of a JSON string or integer (an SKU may be either); NULL
 * in *copy_out for anything else or a blank string. -1 out of memory. */
static int form_copy_json_text(const json_t *value, char **copy_out)
{
    *copy_out = NULL;
    if (json_is_string(value))
        return form_copy_nonblank(json_string_value(value), copy_out);
    if (json_is_integer(value)) {
        char digits[32];
        int n = snprintf(digits, sizeof digits, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        if (n < 0 || (size_t)n >= sizeof digits)
            return 0;
        *copy_out = strdup(digits);
        return *copy_out ? 0 : -1;
    }
    return 0;
}

static int form_item_of_json(const json_t *product, form_item_t *item)
{
    item->quantity = form_quantity_of_json(json_object_get(product, "quantity"));
    const json_t *price = json_object_get(product, "price");
    const json_t *amount = json_object_get(product, "amount");
    if (price && !json_is_null(price))
        item->price_minor = form_money_of_json(price);
    else if (amount && !json_is_null(amount))
        item->price_minor = form_price_from_amount(form_money_of_json(amount), item->quantity);
    else
        item->price_minor = -1;
    if (form_copy_json_text(json_object_get(product, "name"), &item->name) != 0 ||
        form_copy_json_text(json_object_get(product, "sku"), &item->sku) != 0)
        return -1;
    if (!item->sku && form_copy_json_text(json_object_get(product, "externalid"), &item->sku) != 0)
        return -1;
    return 0;
}

static int form_read_json_cart(const char *payment, form_order_t *order)
{
    int rc = -1;
    json_error_t error;
    json_t *root = NULL;
    char *quoted = form_json_quote_decimals(payment);

    if (!quoted)
        goto done;
    root = json_loads(quoted, 0, &error);
    if (!json_is_object(root))
        goto done;

    const json_t *products = json_object_get(root, "products");
    size_t count = json_is_array(products) ? json_array_size(products) : 0;
    if (count > FORM_MAX_ITEMS)
        count = FORM_MAX_ITEMS;
    if (count > 0) {
        order->items = calloc(count, sizeof *order->items);
        if (!order->items)
            goto done;
        for (size_t i = 0; i < count; i++) {
            order->item_count++;
            /* a product that is not an object reads as a line with nothing
             * in it, for intake to reject, rather than vanishing */
            if (form_item_of_json(json_array_get(products, i), &order->items[i]) != 0)
                goto done;
        }
    }

    const json_t *discount = json_object_get(root, "discount");
    if (!discount || json_is_null(discount) ||
        (json_is_string(discount) && !form_nonblank(json_string_value(discount))))
        order->discount_minor = 0;
    else
        order->discount_minor = form_money_of_json(discount);
    if (form_copy_json_text(json_object_get(root, "promocode"), &order->promocode) != 0)
        goto done;
    rc = 0;
done:
    json_decref(root);
    free(quoted);
    return rc;
}

/* --- attributes ---------------------------------------------------------------- */

static bool form_is_attribute(const char *key)
{
    return (strncmp(key, "utm_", 4) == 0 && key[4] != '\0') || strcmp(key, "formid") == 0 ||
           strcmp(key, "formname") == 0;
}

static bool form_has_attribute(const form_order_t *order, const char *key)
{
    for (size_t i = 0; i < order->attribute_count; i++)
        if (strcmp(order->attributes[i].key, key) == 0)
            return true;
    return false;
}

static int form_read_attributes(const form_t *form, form_order_t *order)
{
    for (size_t i = 0; i < form->count && order->attribute_count < FORM_MAX_ATTRIBUTES; i++) {
        const form_pair_t *pair = &form->pairs[i];
        if (!form_is_attribute(pair->key) || !form_nonblank(pair->value) ||
            form_has_attribute(order, pair->key))
            continue;
        if (!order->attributes) {
            order->attributes = calloc(FORM_MAX_ATTRIBUTES, sizeof *order->attributes);
            if (!order->attributes)
                return -1;
        }
        form_pair_t *copy = &order->attributes[order->attribute_count];
        copy->key = strdup(pair->key);
        copy->value = strdup(pair->value);
        order->attribute_count++; /* counted now so that form_order_free frees a half copy */
        if (!copy->key || !copy->value)
            return -1;
    }
    return 0;
}

/* --- the order ------------------------------------------------------------------ */

int form_order_read(const form_t *form, const form_map_t *map, form_order_t *order_out)
{
    int rc = -1;
    form_order_t order;
    form_map_t defaults;

    memset(&order, 0, sizeof order);
    if (!order_out)
        return -1;
    memset(order_out, 0, sizeof *order_out);
    if (!form)
        return -1;
    if (!map) {
        if (form_map_parse(NULL, &defaults) != 0)
            return -1;
        map = &defaults;
    }

    order.name = form_nonblank(form_get(form, map->name));
    order.phone = form_nonblank(form_get(form, map->phone));
    order.email = form_nonblank(form_get(form, map->email));
    order.address = form_nonblank(form_get(form, map->address));
    order.city = form_nonblank(form_get(form, map->city));
    order.region = form_nonblank(form_get(form, map->region));
    order.postal_code = form_nonblank(form_get(form, map->postal_code));
    order.delivery = form_nonblank(form_get(form, map->delivery));
    order.pickup_point = form_nonblank(form_get(form, map->pickup_point));
    order.comment = form_nonblank(form_get(form, map->comment));
    order.channel = form_nonblank(form_get(form, map->channel));
    order.tranid = form_nonblank(form_get(form, "tranid"));
    order.formid = form_nonblank(form_get(form, "formid"));
    const char *test = form_get(form, "test");
    order.is_test = test && strcmp(test, "test") == 0 && !order.tranid;

    const char *payment = form_nonblank(form_get(form, "payment"));
    if ((payment ? form_read_json_cart(payment, &order) : form_read_bracket_cart(form, &order)) !=
        0)
        goto done;
    if (form_read_attributes(form, &order) != 0)
        goto done;

    *order_out = order;
    memset(&order, 0, sizeof order);
    rc = 0;
done:
    form_order_free(&order);
    return rc;
}

void form_order_free(form_order_t *order)
{
    if (!order)
        return;
    form_items_free(order->items, order->item_count);
    free(order->promocode);
    for (size_t i = 0; i < order->attribute_count; i++) {
        free(order->attributes[i].key);
        free(order->attributes[i].value);
    }
    free(order->attributes);
    memset(order, 0, sizeof *order);
}
