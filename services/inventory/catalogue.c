/*
 * catalogue.c — reading and checking product fields from outside
 * (catalogue.h). Every function here is pure: no database, no logging.
 */
#include "services/inventory/catalogue.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/numparse.h"

#define BUYER_FIELDS (PRODUCT_BUYER_ID | PRODUCT_BUYER_NAME | PRODUCT_BUYER_EMAIL)

typedef struct {
    const char *name;
    unsigned bit; /* 0: a read-only field of the API's answers */
} field_t;

/* Every member a product object may have, the alternatives beside their
 * canonical name. */
static const field_t fields[] = {
    {"sku", PRODUCT_SKU},
    {"external_code", PRODUCT_EXTERNAL_CODE},
    {"name", PRODUCT_NAME},
    {"price_minor", PRODUCT_PRICE},
    {"price", PRODUCT_PRICE},
    {"currency", PRODUCT_CURRENCY},
    {"vat_rate_bp", PRODUCT_VAT},
    {"vat", PRODUCT_VAT},
    {"weight_g", PRODUCT_WEIGHT},
    {"low_stock_threshold", PRODUCT_THRESHOLD},
    {"buyer_id", PRODUCT_BUYER_ID},
    {"buyer_name", PRODUCT_BUYER_NAME},
    {"buyer_email", PRODUCT_BUYER_EMAIL},
    {"buyer", BUYER_FIELDS},
    {"active", PRODUCT_ACTIVE},
    {"on_hand", PRODUCT_ON_HAND},
    {"reserved", 0},
    {"available", 0},
    {"low", 0},
    {"next_supply", 0},
    {"created_at_ms", 0},
    {"updated_at_ms", 0},
};

const char *catalogue_field_name(unsigned field)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].bit == field)
            return fields[i].name;
    return "?";
}

/* ------------------------------------------------------------------ */
/* text                                                                 */

long catalogue_utf8_length(const char *text)
{
    long chars = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t extra;
        uint32_t cp;
        if (*p < 0x80) {
            p++;
            chars++;
            continue;
        } else if ((*p & 0xE0) == 0xC0) {
            extra = 1;
            cp = *p & 0x1F;
        } else if ((*p & 0xF0) == 0xE0) {
            extra = 2;
            cp = *p & 0x0F;
        } else if ((*p & 0xF8) == 0xF0) {
            extra = 3;
            cp = *p & 0x07;
        } else {
            return -1;
        }
        p++;
        for (size_t i = 0; i < extra; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | (*p & 0x3F);
        }
        /* overlong forms, surrogates and beyond U+10FFFF */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        chars++;
    }
    return chars;
}

bool catalogue_date_valid(const char *text)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    int year =
        (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    int month = (text[5] - '0') * 10 + (text[6] - '0');
    int day = (text[8] - '0') * 10 + (text[9] - '0');
    if (year < 2000 || year > 2999 || month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= days[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool catalogue_sku_valid(const char *sku)
{
    size_t len = sku ? strlen(sku) : 0;
    if (len < 1 || len > CATALOGUE_SKU_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = sku[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* Copies text without thousands separators (space, NBSP, thin space,
 * apostrophe) into out; -1 if it does not fit. */
static int strip_separators(const char *text, char *out, size_t out_size)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        if (*p == ' ' || *p == '\'') {
            p++;
            continue;
        }
        if (p[0] == 0xC2 && p[1] == 0xA0) { /* U+00A0 no-break space */
            p += 2;
            continue;
        }
        if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x89 || p[2] == 0xAF)) { /* thin spaces */
            p += 3;
            continue;
        }
        if (o + 1 >= out_size)
            return -1;
        out[o++] = (char)*p++;
    }
    out[o] = '\0';
    return 0;
}

/* "123", "123.4", "123,45" with at most `decimals` fraction digits into
 * value * 10^decimals. */
static int parse_fixed(const char *text, int decimals, int64_t max, int64_t *out)
{
    char plain[48];
    if (!text || strip_separators(text, plain, sizeof plain) != 0 || !plain[0])
        return -1;
    char *mark = strpbrk(plain, ".,");
    const char *fraction = "";
    if (mark) {
        *mark = '\0';
        fraction = mark + 1;
        if (strpbrk(fraction, ".,") || strlen(fraction) > (size_t)decimals || !fraction[0])
            return -1;
    }
    int64_t whole = 0, scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (numparse_int_range(plain, 0, max / scale, &whole) != 0)
        return -1;
    int64_t frac = 0;
    for (int i = 0; i < decimals; i++) {
        char c = fraction[i];
        if (c == '\0') {
            frac *= 10;
            for (int j = i + 1; j < decimals; j++)
                frac *= 10;
            break;
        }
        if (c < '0' || c > '9')
            return -1;
        frac = frac * 10 + (c - '0');
    }
    int64_t value = whole * scale + frac;
    if (value > max)
        return -1;
    *out = value;
    return 0;
}

int catalogue_parse_price(const char *text, int64_t *minor_out)
{
    return parse_fixed(text, 2, CATALOGUE_PRICE_MAX, minor_out);
}

int catalogue_parse_vat_percent(const char *text, int32_t *bp_out)
{
    if (!text)
        return -1;
    if (strcasecmp(text, "no vat") == 0 || strcmp(text, "без НДС") == 0 ||
        strcmp(text, "Без НДС") == 0) {
        *bp_out = 0;
        return 0;
    }
    char plain[32];
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof plain)
        return -1;
    memcpy(plain, text, len + 1);
    if (plain[len - 1] == '%')
        plain[len - 1] = '\0';
    int64_t bp = 0;
    if (parse_fixed(plain, 2, 10000, &bp) != 0)
        return -1;
    *bp_out = (int32_t)bp;
    return 0;
}

int catalogue_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "y", "да"};
    static const char *const no[] = {"false", "0", "no", "n", "нет"};
    if (!text)
        return -1;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* one field                                                            */

typedef struct {
    const char *prefix;
    problems_t *problems;
    size_t added;
} reporter_t;

static void report(reporter_t *r, const char *field, const char *code, const char *message)
{
    char path[160];
    snprintf(path, sizeof path, "%s%s", r->prefix, field);
    problems_add(r->problems, path, code, "%s", message);
    r->added++;
}

/* A whole number from a JSON integer or text, within [min, max]. */
static int read_integer(reporter_t *r, const char *field, const json_t *value, int64_t min,
                        int64_t max, int64_t *out)
{
    char message[128];
    int64_t number = 0;
    bool parsed = false;
    if (json_is_integer(value)) {
        number = json_integer_value(value);
        parsed = true;
    } else if (json_is_string(value)) {
        parsed = numparse_i64(json_string_value(value), &number) == 0;
    }
    if (!parsed) {
        snprintf(message, sizeof message, "%s must be a whole number", field);
        report(r, field, "invalid", message);
        return -1;
    }
    if (number < min || number > max) {
        snprintf(message, sizeof message, "%s must be from %lld to %lld", field, (long long)min,
                 (long long)max);
        report(r, field, number < min ? "too_small" : "too_large", message);
        return -1;
    }
    *out = number;
    return 0;
}

/* A text of 1..max_bytes bytes (and max_chars characters when > 0). */
static int read_text(reporter_t *r, const char *field, const json_t *value, size_t max_bytes,
                     long max_chars, const char **out)
{
    char message[128];
    if (!json_is_string(value)) {
        snprintf(message, sizeof message, "%s must be text", field);
        report(r, field, "invalid", message);
        return -1;
    }
    const char *text = json_string_value(value);
    size_t len = strlen(text);
    if (len == 0) {
        snprintf(message, sizeof message, "%s must not be empty", field);
        report(r, field, "required", message);
        return -1;
    }
    long chars = catalogue_utf8_length(text);
    if (len > max_bytes || (max_chars > 0 && chars > max_chars)) {
        snprintf(message, sizeof message, "%s is longer than %ld characters", field,
                 max_chars > 0 ? max_chars : (long)max_bytes);
        report(r, field, "too_long", message);
        return -1;
    }
    *out = text;
    return 0;
}

static bool email_plausible(const char *text)
{
    const char *at = strchr(text, '@');
    return at && at != text && at[1] && !strchr(at + 1, '@') && !strpbrk(text, " \t\r\n");
}

/* Reads one nullable text field (buyer_*, external_code). */
static void read_nullable(reporter_t *r, const char *field, const json_t *value, unsigned bit,
                          size_t max_bytes, product_input_t *in, const char **out)
{
    if (json_is_null(value)) {
        in->given |= bit;
        in->cleared |= bit;
        return;
    }
    if (read_text(r, field, value, max_bytes, 0, out) != 0)
        return;
    if (bit == PRODUCT_BUYER_EMAIL && !email_plausible(*out)) {
        report(r, field, "invalid", "buyer_email is not an email address");
        return;
    }
    in->given |= bit;
}

/* The nested form {"id","name","email"} of the buyer. */
static void read_buyer(reporter_t *r, const json_t *value, product_input_t *in)
{
    if (json_is_null(value)) {
        in->given |= BUYER_FIELDS;
        in->cleared |= BUYER_FIELDS;
        return;
    }
    if (!json_is_object(value)) {
        report(r, "buyer", "invalid", "buyer must be an object {id, name, email} or null");
        return;
    }
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)(uintptr_t)value, key, member)
    {
        if (strcmp(key, "id") == 0)
            read_nullable(r, "buyer.id", member, PRODUCT_BUYER_ID, CATALOGUE_TEXT_MAX, in,
                          &in->buyer_id);
        else if (strcmp(key, "name") == 0)
            read_nullable(r, "buyer.name", member, PRODUCT_BUYER_NAME, CATALOGUE_TEXT_MAX, in,
                          &in->buyer_name);
        else if (strcmp(key, "email") == 0)
            read_nullable(r, "buyer.email", member, PRODUCT_BUYER_EMAIL, CATALOGUE_TEXT_MAX, in,
                          &in->buyer_email);
        else
            report(r, "buyer", "unknown", "buyer has only id, name and email");
    }
}

static void read_field(reporter_t *r, const char *key, const json_t *value, product_input_t *in)
{
    char message[160];
    int64_t number = 0;
    if (strcmp(key, "sku") == 0) {
        if (read_text(r, key, value, CATALOGUE_SKU_MAX, 0, &in->sku) != 0)
            return;
        if (!catalogue_sku_valid(in->sku)) {
            report(r, key, "invalid",
                   "sku must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit");
            return;
        }
        in->given |= PRODUCT_SKU;
    } else if (strcmp(key, "external_code") == 0) {
        read_nullable(r, key, value, PRODUCT_EXTERNAL_CODE, CATALOGUE_CODE_MAX, in,
                      &in->external_code);
    } else if (strcmp(key, "name") == 0) {
        if (read_text(r, key, value, CATALOGUE_NAME_CHARS * 4, CATALOGUE_NAME_CHARS, &in->name) ==
            0)
            in->given |= PRODUCT_NAME;
    } else if (strcmp(key, "price_minor") == 0) {
        if (read_integer(r, key, value, 0, CATALOGUE_PRICE_MAX, &in->price_minor) == 0)
            in->given |= PRODUCT_PRICE;
    } else if (strcmp(key, "price") == 0) {
        if (!json_is_string(value) ||
            catalogue_parse_price(json_string_value(value), &in->price_minor) != 0) {
            report(r, key, "invalid",
                   "price must be a decimal text in roubles, such as \"1299.90\" (or give "
                   "price_minor in kopecks)");
            return;
        }
        in->given |= PRODUCT_PRICE;
    } else if (strcmp(key, "currency") == 0) {
        const char *text = json_string_value(value);
        if (!text || strlen(text) != 3 || strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
            report(r, key, "invalid", "currency must be three capital letters (ISO 4217), RUB");
            return;
        }
        in->currency = text;
        in->given |= PRODUCT_CURRENCY;
    } else if (strcmp(key, "vat_rate_bp") == 0) {
        if (read_integer(r, key, value, 0, 10000, &number) == 0) {
            in->vat_rate_bp = (int32_t)number;
            in->given |= PRODUCT_VAT;
        }
    } else if (strcmp(key, "vat") == 0) {
        int32_t bp = 0;
        if (json_is_integer(value) && json_integer_value(value) >= 0 &&
            json_integer_value(value) <= 100)
            bp = (int32_t)json_integer_value(value) * 100;
        else if (!json_is_string(value) ||
                 catalogue_parse_vat_percent(json_string_value(value), &bp) != 0) {
            report(r, key, "invalid",
                   "vat must be a percent from 0 to 100 (\"20\", \"10\", \"0\", \"без НДС\")");
            return;
        }
        in->vat_rate_bp = bp;
        in->given |= PRODUCT_VAT;
    } else if (strcmp(key, "weight_g") == 0) {
        if (read_integer(r, key, value, 0, CATALOGUE_WEIGHT_MAX, &number) == 0) {
            in->weight_g = (int32_t)number;
            in->given |= PRODUCT_WEIGHT;
        }
    } else if (strcmp(key, "low_stock_threshold") == 0) {
        if (read_integer(r, key, value, 0, CATALOGUE_QUANTITY_MAX, &in->low_stock_threshold) == 0)
            in->given |= PRODUCT_THRESHOLD;
    } else if (strcmp(key, "buyer_id") == 0) {
        read_nullable(r, key, value, PRODUCT_BUYER_ID, CATALOGUE_TEXT_MAX, in, &in->buyer_id);
    } else if (strcmp(key, "buyer_name") == 0) {
        read_nullable(r, key, value, PRODUCT_BUYER_NAME, CATALOGUE_TEXT_MAX, in, &in->buyer_name);
    } else if (strcmp(key, "buyer_email") == 0) {
        read_nullable(r, key, value, PRODUCT_BUYER_EMAIL, CATALOGUE_TEXT_MAX, in, &in->buyer_email);
    } else if (strcmp(key, "buyer") == 0) {
        read_buyer(r, value, in);
    } else if (strcmp(key, "active") == 0) {
        bool flag = false;
        if (json_is_boolean(value))
            flag = json_is_true(value);
        else if (!json_is_string(value) || catalogue_parse_bool(json_string_value(value), &flag)) {
            snprintf(message, sizeof message, "active must be true or false");
            report(r, key, "invalid", message);
            return;
        }
        in->active = flag;
        in->given |= PRODUCT_ACTIVE;
    } else if (strcmp(key, "on_hand") == 0) {
        if (read_integer(r, key, value, 0, CATALOGUE_QUANTITY_MAX, &in->on_hand) == 0)
            in->given |= PRODUCT_ON_HAND;
    }
}

static const field_t *find_field(const char *key)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, key) == 0)
            return &fields[i];
    return NULL;
}

/* Two spellings of one field in the same object. */
static bool spelled_twice(const json_t *object, const char *a, const char *b)
{
    return json_object_get(object, a) && json_object_get(object, b);
}

size_t catalogue_input_parse(const json_t *object, unsigned allowed, const char *prefix,
                             product_input_t *input_out, problems_t *problems)
{
    reporter_t r = {.prefix = prefix ? prefix : "", .problems = problems};
    memset(input_out, 0, sizeof *input_out);
    if (!json_is_object(object)) {
        report(&r, "", "invalid", "a product must be a JSON object");
        return r.added;
    }
    static const char *const pairs[][2] = {
        {"price", "price_minor"}, {"vat", "vat_rate_bp"},   {"buyer", "buyer_id"},
        {"buyer", "buyer_name"},  {"buyer", "buyer_email"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (spelled_twice(object, pairs[i][0], pairs[i][1])) {
            char message[96];
            snprintf(message, sizeof message, "give either %s or %s, not both", pairs[i][0],
                     pairs[i][1]);
            report(&r, pairs[i][0], "conflict", message);
        }

    const char *key;
    json_t *value;
    json_object_foreach((json_t *)(uintptr_t)object, key, value)
    {
        const field_t *field = find_field(key);
        char message[200];
        if (!field) {
            snprintf(message, sizeof message, "a product has no field \"%.60s\"", key);
            report(&r, key, "unknown", message);
            continue;
        }
        if (field->bit == 0 || (field->bit & allowed) != field->bit) {
            if (field->bit == PRODUCT_ON_HAND)
                snprintf(message, sizeof message,
                         "on_hand cannot be set here: post a correction to "
                         "/v1/stock/{sku}/corrections");
            else if (field->bit == PRODUCT_SKU)
                snprintf(message, sizeof message, "the sku of a product cannot change");
            else
                snprintf(message, sizeof message, "%s is computed by the service", key);
            report(&r, key, "read_only", message);
            continue;
        }
        input_out->present |= field->bit;
        read_field(&r, key, value, input_out);
    }
    if (!(input_out->given & PRODUCT_CURRENCY))
        input_out->currency = "RUB";
    return r.added;
}

size_t catalogue_input_require(const product_input_t *input, unsigned required, const char *prefix,
                               problems_t *problems)
{
    reporter_t r = {.prefix = prefix ? prefix : "", .problems = problems};
    static const unsigned order[] = {PRODUCT_SKU, PRODUCT_NAME, PRODUCT_PRICE, PRODUCT_VAT,
                                     PRODUCT_WEIGHT};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        unsigned bit = order[i];
        if (!(required & bit) || ((input->present & bit) && !(input->cleared & bit)))
            continue;
        char message[96];
        snprintf(message, sizeof message, "%s is required for a new product",
                 catalogue_field_name(bit));
        report(&r, catalogue_field_name(bit), "required", message);
    }
    return r.added;
}
