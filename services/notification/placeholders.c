/*
 * placeholders.c — the data templates are rendered with (placeholders.h),
 * and the sample of every placeholder that render_check holds a saved
 * template to (render.h).
 */
#include "services/notification/placeholders.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "services/notification/render.h"

/* Digits of value grouped by thousands with sep. */
static void group_digits(uint64_t value, const char *sep, char *out, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t at = 0;
    for (int i = 0; i < n && at + 4 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            at += (size_t)snprintf(out + at, size - at, "%s", sep);
        out[at++] = digits[i];
    }
    out[at < size ? at : size - 1] = '\0';
}

void placeholders_money(int64_t amount_minor, const char *currency, const char *language,
                        char out[MONEY_TEXT_SIZE])
{
    bool negative = amount_minor < 0;
    uint64_t magnitude = negative ? (uint64_t)0 - (uint64_t)amount_minor : (uint64_t)amount_minor;
    const char *code = currency && currency[0] ? currency : "RUB";
    bool ru = language && strcmp(language, "ru") == 0;
    char whole[40];
    /* ru: a narrow no-break space between thousands; en: a comma */
    group_digits(magnitude / 100, ru ? "\u202f" : ",", whole, sizeof whole);
    unsigned cents = (unsigned)(magnitude % 100);
    if (ru)
        snprintf(out, MONEY_TEXT_SIZE, "%s%s,%02u %s", negative ? "-" : "", whole, cents,
                 strcmp(code, "RUB") == 0 ? "₽" : code);
    else
        snprintf(out, MONEY_TEXT_SIZE, "%s%s.%02u %s", negative ? "-" : "", whole, cents, code);
}

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static void set_text(json_t *data, const char *key, const char *text)
{
    json_object_set_new(data, key, json_string(text ? text : ""));
}

static void set_money(json_t *data, const char *key, const json_t *amount, const char *currency,
                      const char *language)
{
    char text[MONEY_TEXT_SIZE] = "";
    if (json_is_integer(amount))
        placeholders_money(json_integer_value(amount), currency, language, text);
    set_text(data, key, text);
}

static json_t *items_of(const json_t *order, const char *currency, const char *language)
{
    json_t *items = json_array();
    size_t i;
    const json_t *line;
    json_array_foreach(json_object_get(order, "lines"), i, line)
    {
        json_t *item = json_object();
        if (!item)
            break;
        json_object_set(item, "line_no", json_object_get(line, "line_no"));
        set_text(item, "sku", text_of(line, "sku"));
        set_text(item, "name", text_of(line, text_of(line, "name")[0] ? "name" : "sku"));
        json_object_set(item, "quantity", json_object_get(line, "quantity"));
        set_money(item, "price", json_object_get(line, "unit_price_minor"), currency, language);
        set_money(item, "total", json_object_get(line, "total_minor"), currency, language);
        json_array_append_new(items, item);
    }
    return items;
}

static json_t *totals_of(const json_t *totals, const char *currency, const char *language)
{
    if (!json_is_integer(json_object_get(totals, "total_minor")))
        return json_false();
    json_t *out = json_object();
    set_money(out, "lines", json_object_get(totals, "lines_minor"), currency, language);
    set_money(out, "discount", json_object_get(totals, "discount_minor"), currency, language);
    set_money(out, "delivery", json_object_get(totals, "delivery_minor"), currency, language);
    set_money(out, "total", json_object_get(totals, "total_minor"), currency, language);
    return out;
}

/* the event's facts, then the order's kept extras, then "" */
static const char *fact(const placeholders_in_t *in, const char *key)
{
    const char *text = json_string_value(json_object_get(in->event, key));
    if (text && text[0])
        return text;
    return text_of(json_object_get(in->order, "extra"), key);
}

/* The payment link: the event's own (invoice.created), else the kept one
 * only while the order waits for the money — a message about an order
 * paid, shipped or cancelled offers no payment, whichever stream was
 * heard first. */
static const char *payment_url_of(const placeholders_in_t *in)
{
    const char *own = json_string_value(json_object_get(in->event, "payment_url"));
    if (own && own[0])
        return own;
    const char *status = json_string_value(json_object_get(in->event, "to_status"));
    if (!status || !status[0])
        status = text_of(in->order, "status");
    if (strcmp(status, "awaiting_payment") != 0 && strcmp(status, "payment_error") != 0)
        return "";
    return fact(in, "payment_url");
}

/* Whether the order's parcel has left the store as this message sees it:
 * the event is the parcel's own (a shipment's), or the order is carried,
 * delivered or back, or was cancelled on its way. A parcel labelled and
 * cancelled before that had its label voided: its number names nothing. */
static bool parcel_out(const placeholders_in_t *in)
{
    if (json_string_value(json_object_get(in->event, "shipment_id")))
        return true;
    const char *status = text_of(in->event, "to_status");
    if (!status[0])
        status = text_of(in->event, "status");
    if (!status[0])
        status = text_of(in->order, "status");
    const char *from = text_of(in->event, "from_status");
    static const char *const out[] = {"handed_to_carrier", "rescheduled", "delivered", "completed",
                                      "returned"};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        if (strcmp(status, out[i]) == 0 ||
            (strcmp(status, "cancelled") == 0 && i < 2 && strcmp(from, out[i]) == 0))
            return true;
    return false;
}

/* The tracking number or link: the event's own, else the kept one while
 * the parcel is out. */
static const char *tracking_of(const placeholders_in_t *in, const char *key)
{
    const char *own = json_string_value(json_object_get(in->event, key));
    if (own && own[0])
        return own;
    return parcel_out(in) ? text_of(json_object_get(in->order, "extra"), key) : "";
}

json_t *placeholders_codes(const placeholders_in_t *in)
{
    json_t *codes = json_object();
    if (!codes)
        return NULL;
    const char *carrier = fact(in, "carrier");
    const char *tracking = text_of(in->event, "tracking_status");
    const char *method = text_of(in->order, "delivery_method");
    if (carrier[0])
        json_object_set_new(codes, "carrier", json_string(carrier));
    if (tracking[0])
        json_object_set_new(codes, "tracking_status", json_string(tracking));
    if (method[0])
        json_object_set_new(codes, "delivery_method", json_string(method));
    return codes;
}

/* The name of kind's code for people (the code when it has none), and the
 * code itself as <key>_code. */
static void set_named(json_t *data, const placeholders_in_t *in, const char *key, const char *code)
{
    const char *name = code[0] ? json_string_value(json_object_get(in->names, key)) : NULL;
    set_text(data, key, name && name[0] ? name : code);
    char code_key[64];
    snprintf(code_key, sizeof code_key, "%s_code", key);
    set_text(data, code_key, code);
}

/* order.changed's "changed" (lines, delivery, discount) as booleans. */
static void set_changed(json_t *data, const json_t *event)
{
    static const char *const what[] = {"lines", "delivery", "discount"};
    const json_t *changed = json_object_get(event, "changed");
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
        bool named = false;
        size_t j;
        const json_t *item;
        json_array_foreach(changed, j, item)
        {
            named =
                named || (json_is_string(item) && strcmp(json_string_value(item), what[i]) == 0);
        }
        char key[32];
        snprintf(key, sizeof key, "%s_changed", what[i]);
        json_object_set_new(data, key, json_boolean(named));
    }
}

static const json_t *fact_value(const placeholders_in_t *in, const char *key)
{
    const json_t *value = json_object_get(in->event, key);
    return value ? value : json_object_get(json_object_get(in->order, "extra"), key);
}

json_t *placeholders_data(const placeholders_in_t *in)
{
    json_t *data = json_object();
    if (!data)
        return NULL;
    const json_t *order = in->order;
    const json_t *totals = json_object_get(order, "totals");
    const char *currency = text_of(totals, "currency");
    const char *language = in->language ? in->language : "ru";
    json_t *number = json_object_get(order, "number");
    if (json_is_integer(number) && json_integer_value(number) > 0)
        json_object_set(data, "number", number);
    else
        set_text(data, "number", "");
    set_text(data, "title", text_of(order, "title"));
    set_text(data, "status", fact(in, "status")[0] ? fact(in, "status") : text_of(order, "status"));
    set_text(data, "status_label", in->status_label);
    set_text(data, "customer_name", text_of(order, "customer_name"));
    set_text(data, "customer_email", text_of(order, "customer_email"));
    set_text(data, "customer_phone", text_of(order, "customer_phone"));
    set_text(data, "manager_name", fact(in, "manager_name"));
    set_named(data, in, "delivery_method", text_of(order, "delivery_method"));
    set_text(data, "pickup_address", text_of(order, "pickup_address"));
    json_object_set_new(data, "items", items_of(order, currency, language));
    json_object_set_new(data, "totals", totals_of(totals, currency, language));
    set_text(data, "payment_url", payment_url_of(in));
    set_money(data, "invoice_amount", fact_value(in, "invoice_amount_minor"), currency, language);
    set_text(data, "tracking_number", tracking_of(in, "tracking_number"));
    set_text(data, "tracking_url", tracking_of(in, "tracking_url"));
    set_named(data, in, "carrier", fact(in, "carrier"));
    set_named(data, in, "tracking_status", text_of(in->event, "tracking_status"));
    set_changed(data, in->event);
    const json_t *short_items = json_object_get(in->event, "short_items");
    json_object_set_new(data, "short_items",
                        json_is_array(short_items) ? json_deep_copy(short_items) : json_array());
    set_text(data, "expected_date",
             text_of(json_array_get(short_items, 0), "expected_date")[0]
                 ? text_of(json_array_get(short_items, 0), "expected_date")
                 : fact(in, "expected_date"));
    set_text(data, "task_title", fact(in, "task_title"));
    set_text(data, "task_kind", fact(in, "task_kind"));
    set_text(data, "sku", fact(in, "sku"));
    set_text(data, "product_name", fact(in, "product_name"));
    json_t *on_hand = json_object_get(in->event, "on_hand");
    json_t *threshold = json_object_get(in->event, "threshold");
    json_object_set_new(data, "on_hand", on_hand ? json_incref(on_hand) : json_string(""));
    json_object_set_new(data, "threshold", threshold ? json_incref(threshold) : json_string(""));
    set_text(data, "buyer_name", fact(in, "buyer_name"));
    set_text(data, "claim_name", fact(in, "claim_name"));
    set_text(data, "claim_type", fact(in, "claim_type"));
    set_text(data, "claim_comment", fact(in, "claim_comment"));
    set_money(data, "claim_amount", json_object_get(in->event, "claim_amount_minor"), currency,
              language);
    set_text(data, "shop_name", in->shop_name);
    set_text(data, "unsubscribe_url", in->unsubscribe_url);
    return data;
}

json_t *render_sample(bool truthy)
{
    const char *t = truthy ? "x" : "";
    json_t *line = json_pack("{s:i,s:s,s:s,s:i,s:s,s:s}", "line_no", 1, "sku", t, "name", t,
                             "quantity", 1, "price", t, "total", t);
    json_t *short_line = json_pack("{s:s,s:i,s:i,s:s}", "sku", t, "requested", 1, "available", 0,
                                   "expected_date", t);
    json_t *totals = truthy ? json_pack("{s:s,s:s,s:s,s:s}", "lines", t, "discount", t, "delivery",
                                        t, "total", t)
                            : json_false();
    json_t *sample = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,"
        "s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
        "number", t, "title", t, "status", t, "status_label", t, "customer_name", t,
        "customer_email", t, "customer_phone", t, "manager_name", t, "delivery_method", t,
        "pickup_address", t, "items", truthy && line ? json_pack("[O]", line) : json_array(),
        "totals", totals ? totals : json_false(), "payment_url", t, "invoice_amount", t,
        "tracking_number", t, "tracking_url", t, "carrier", t, "short_items",
        truthy && short_line ? json_pack("[O]", short_line) : json_array(), "expected_date", t,
        "task_title", t, "task_kind", t, "sku", t, "product_name", t, "on_hand", t, "threshold", t,
        "buyer_name", t, "shop_name", t, "unsubscribe_url", t);
    if (sample) {
        json_object_set_new(sample, "claim_name", json_string(t));
        json_object_set_new(sample, "claim_type", json_string(t));
        json_object_set_new(sample, "claim_comment", json_string(t));
        json_object_set_new(sample, "claim_amount", json_string(t));
        static const char *const codes[] = {"carrier_code", "tracking_status",
                                            "tracking_status_code", "delivery_method_code"};
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            json_object_set_new(sample, codes[i], json_string(t));
        static const char *const flags[] = {"lines_changed", "delivery_changed",
                                            "discount_changed"};
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            json_object_set_new(sample, flags[i], json_boolean(truthy));
    }
    json_decref(line);
    json_decref(short_line);
    return sample;
}
