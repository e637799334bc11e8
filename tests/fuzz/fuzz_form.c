/*
 * fuzz_form.c — the site-builder form webhook (services/order/form.c),
 * through to a validated submission (intake.c), as POST /v1/intake/form
 * reads a body before it looks at the database.
 *
 * Input: the url-encoded body, as Tilda posts it. Checks: a parsed body
 * holds NUL-free UTF-8 keys and values, no more pairs than segments, and
 * reads back the same when its pairs are encoded again; form_parse_money
 * keeps the digits it is given; an order read from the form (with the
 * default field map and with a custom one) keeps its bounds (lines,
 * attributes, -1 for a missing quantity or price and never below); the
 * submission keeps every promise of check_submission.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "services/order/form.h"
#include "services/order/submission.h"
#include "tests/fuzz/check_submission.h"
#include "tests/fuzz/fuzz.h"

static form_map_t custom_map;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    FUZZ_CHECK(form_map_parse(" name = Имя , phone=tel,email=E-mail,address=addr,delivery=ship",
                              &custom_map) == 0);
    return 0;
}

/* Appends text percent-encoded (every byte but [A-Za-z0-9_.-]) at *n. */
static void encode_into(char *out, size_t *n, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == '-') {
            out[(*n)++] = (char)*p;
        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[*p >> 4];
            out[(*n)++] = hex[*p & 15];
        }
    }
}

/* The pairs encoded again as a body must parse to the same pairs. */
static void check_reencoded(const form_t *form)
{
    size_t size = 1;
    for (size_t i = 0; i < form->count; i++)
        size += 3 * strlen(form->pairs[i].key) + 3 * strlen(form->pairs[i].value) + 2;
    char *body = malloc(size);
    FUZZ_CHECK(body != NULL);
    size_t n = 0;
    for (size_t i = 0; i < form->count; i++) {
        if (i > 0)
            body[n++] = '&';
        encode_into(body, &n, form->pairs[i].key);
        body[n++] = '=';
        encode_into(body, &n, form->pairs[i].value);
    }
    body[n] = '\0';
    form_t again;
    FUZZ_CHECK(form_parse(body, n, &again) == 0);
    /* a pair with an empty key and value encodes as "=", which is kept */
    FUZZ_CHECK(again.count == form->count);
    for (size_t i = 0; i < form->count; i++) {
        FUZZ_CHECK(strcmp(again.pairs[i].key, form->pairs[i].key) == 0);
        FUZZ_CHECK(strcmp(again.pairs[i].value, form->pairs[i].value) == 0);
    }
    form_free(&again);
    free(body);
}

/* An amount that parses prints back and parses to the same kopecks. */
static void check_money(const char *text)
{
    int64_t minor = -42;
    if (form_parse_money(text, &minor) != 0) {
        FUZZ_CHECK(minor == -42);
        return;
    }
    FUZZ_CHECK(minor >= 0);
    char printed[48];
    snprintf(printed, sizeof printed, "%" PRId64 ",%02" PRId64, minor / 100, minor % 100);
    int64_t again = -1;
    FUZZ_CHECK(form_parse_money(printed, &again) == 0);
    FUZZ_CHECK(again == minor);
}

static bool blank(const char *text)
{
    return text[strspn(text, " \t\r\n")] == '\0';
}

static void check_order(const form_order_t *order)
{
    FUZZ_CHECK(order->item_count <= FORM_MAX_ITEMS);
    FUZZ_CHECK(order->item_count == 0 || order->items != NULL);
    for (size_t i = 0; i < order->item_count; i++) {
        const form_item_t *item = &order->items[i];
        FUZZ_CHECK(item->quantity >= -1);
        FUZZ_CHECK(item->price_minor >= -1);
        FUZZ_CHECK(!item->sku || !blank(item->sku));
        FUZZ_CHECK(!item->name || !blank(item->name));
    }
    FUZZ_CHECK(order->discount_minor >= -1);
    FUZZ_CHECK(!order->is_test || !order->tranid);
    FUZZ_CHECK(order->attribute_count <= FORM_MAX_ATTRIBUTES);
    for (size_t i = 0; i < order->attribute_count; i++) {
        const char *key = order->attributes[i].key;
        FUZZ_CHECK((strncmp(key, "utm_", 4) == 0 && key[4]) || strcmp(key, "formid") == 0 ||
                   strcmp(key, "formname") == 0);
        FUZZ_CHECK(!blank(order->attributes[i].value));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(order->attributes[j].key, key) != 0);
    }
}

/* Reads the order with map and takes it through intake as the route does. */
static void read_order(const form_t *form, const form_map_t *map)
{
    form_order_t order;
    if (form_order_read(form, map, &order) != 0) {
        FUZZ_CHECK(order.items == NULL && order.item_count == 0 && order.attributes == NULL);
        return;
    }
    check_order(&order);
    if (!order.is_test) {
        submission_t sub;
        submission_init(&sub);
        problems_t read_errors;
        FUZZ_CHECK(problems_init(&read_errors) == 0);
        FUZZ_CHECK(submission_from_form(&order, &sub, &read_errors) == 0);
        sub.source = strdup("tilda-landing");
        sub.external_id = order.tranid ? strdup(order.tranid) : NULL;
        FUZZ_CHECK(sub.source && (!order.tranid || sub.external_id));
        check_submission(&sub, "landing");
        problems_release(&read_errors);
        submission_free(&sub);
    }
    form_order_free(&order);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    form_t form;
    if (form_parse((const char *)data, size, &form) != 0) {
        FUZZ_CHECK(form.pairs == NULL && form.count == 0);
        return 0;
    }
    size_t segments = 1;
    for (size_t i = 0; i < size; i++)
        segments += data[i] == '&';
    FUZZ_CHECK(form.count <= segments);
    for (size_t i = 0; i < form.count; i++) {
        FUZZ_CHECK(form.pairs[i].key != NULL && form.pairs[i].value != NULL);
        FUZZ_CHECK(form_get(&form, form.pairs[i].key) != NULL);
        check_money(form.pairs[i].value);
    }
    check_reencoded(&form);
    read_order(&form, NULL);
    read_order(&form, &custom_map);
    form_free(&form);
    return 0;
}
