/*
 * submission.c — reading, validating and hashing order submissions (submission.h).
 */
#include "services/order/submission.h"

#include "common/digest.h"
#include "conveyor/order.pb-c.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN    200
#define TEXT_MAX_LEN    500
#define COMMENT_MAX_LEN 2000
#define KEY_MAX_LEN     128
#define QUANTITY_MAX    100000

_Static_assert(FORM_MAX_ITEMS > INTAKE_ITEMS_MAX,
               "a form reads past the intake limit, or a longer cart would look complete");

static const char *const door_names[] = {"bus", "http", "form"};

const char *intake_door_name(intake_door_t door)
{
    return door <= DOOR_FORM ? door_names[door] : "unknown";
}

static const char *const method_names[] = {"", "courier", "post", "pickup_point", "self_pickup"};

delivery_method_t intake_method_parse(const char *text)
{
    for (int i = METHOD_COURIER; text && i <= METHOD_SELF_PICKUP; i++)
        if (strcmp(text, method_names[i]) == 0)
            return (delivery_method_t)i;
    return METHOD_NONE;
}

const char *intake_method_name(delivery_method_t method)
{
    return method >= METHOD_COURIER && method <= METHOD_SELF_PICKUP ? method_names[method] : "";
}

void submission_init(submission_t *sub)
{
    memset(sub, 0, sizeof *sub);
}

void submission_free(submission_t *sub)
{
    char **strings[] = {&sub->source,
                        &sub->external_id,
                        &sub->channel,
                        &sub->customer_name,
                        &sub->phone,
                        &sub->email,
                        &sub->method_text,
                        &sub->address_text,
                        &sub->country_code,
                        &sub->region,
                        &sub->city,
                        &sub->postal_code,
                        &sub->line1,
                        &sub->line2,
                        &sub->pickup_point_id,
                        &sub->delivery_comment,
                        &sub->comment,
                        &sub->currency,
                        &sub->email_lower,
                        &sub->region_key};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    for (size_t i = 0; i < sub->item_count; i++) {
        free(sub->items[i].sku);
        free(sub->items[i].name);
    }
    free(sub->items);
    json_decref(sub->attributes);
    submission_init(sub);
}

/* A copy of text with surrounding white space trimmed; NULL for NULL or
 * an all-space string. Sets *oom on allocation failure. */
static char *dup_trimmed(const char *text, bool *oom)
{
    if (!text)
        return NULL;
    while (*text && isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return NULL;
    char *copy = strndup(text, len);
    if (!copy)
        *oom = true;
    return copy;
}

/* ------------------------------------------------------------------ */
/* from JSON                                                            */

/* Reads a string member; a non-string is a problem at path. */
static char *json_text(const json_t *object, const char *key, const char *path,
                       problems_t *problems, bool *oom)
{
    const json_t *value = json_object_get(object, key);
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_string(value)) {
        problems_add(problems, path, "not_a_string", "%s must be a string", path);
        return NULL;
    }
    return dup_trimmed(json_string_value(value), oom);
}

/* Reads an integer member into *out (untouched when absent); false and a
 * problem when it is present but not an integer. */
static bool json_whole(const json_t *object, const char *key, const char *path,
                       problems_t *problems, int64_t *out)
{
    const json_t *value = json_object_get(object, key);
    if (!value || json_is_null(value))
        return false;
    if (!json_is_integer(value)) {
        problems_add(problems, path, "not_an_integer", "%s must be a whole number", path);
        return false;
    }
    *out = json_integer_value(value);
    return true;
}

static const json_t *json_member_object(const json_t *object, const char *key, const char *path,
                                        problems_t *problems)
{
    const json_t *value = json_object_get(object, key);
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_object(value)) {
        problems_add(problems, path, "not_an_object", "%s must be an object", path);
        return NULL;
    }
    return value;
}

static int items_from_json(const json_t *items, submission_t *sub, problems_t *problems, bool *oom)
{
    if (!items || json_is_null(items))
        return 0;
    if (!json_is_array(items)) {
        problems_add(problems, "items", "not_an_array", "items must be an array");
        return 0;
    }
    size_t count = json_array_size(items);
    if (count > INTAKE_ITEMS_MAX) {
        sub->items_over_max = count; /* none read: intake_validate says so */
        return 0;
    }
    sub->items = calloc(count ? count : 1, sizeof *sub->items);
    if (!sub->items)
        return -1;
    sub->item_count = count;
    for (size_t i = 0; i < count; i++) {
        const json_t *item = json_array_get(items, i);
        intake_item_t *out = &sub->items[i];
        out->quantity = 0;
        char path[64];
        if (!json_is_object(item)) {
            snprintf(path, sizeof path, "items[%zu]", i);
            problems_add(problems, path, "not_an_object", "%s must be an object", path);
            continue;
        }
        snprintf(path, sizeof path, "items[%zu].sku", i);
        out->sku = json_text(item, "sku", path, problems, oom);
        snprintf(path, sizeof path, "items[%zu].name", i);
        out->name = json_text(item, "name", path, problems, oom);
        snprintf(path, sizeof path, "items[%zu].quantity", i);
        json_whole(item, "quantity", path, problems, &out->quantity);
        snprintf(path, sizeof path, "items[%zu].price_minor", i);
        out->has_price = json_whole(item, "price_minor", path, problems, &out->price_minor);
    }
    return 0;
}

int submission_from_json(const json_t *body, submission_t *sub, problems_t *problems)
{
    bool oom = false;
    sub->source = json_text(body, "source", "source", problems, &oom);
    sub->external_id = json_text(body, "external_id", "external_id", problems, &oom);
    sub->channel = json_text(body, "channel", "channel", problems, &oom);
    sub->comment = json_text(body, "comment", "comment", problems, &oom);
    sub->currency = json_text(body, "currency", "currency", problems, &oom);
    json_whole(body, "discount_bp", "discount_bp", problems, &sub->discount_bp);

    const json_t *customer = json_member_object(body, "customer", "customer", problems);
    if (customer) {
        sub->customer_name = json_text(customer, "name", "customer.name", problems, &oom);
        sub->phone = json_text(customer, "phone", "customer.phone", problems, &oom);
        sub->email = json_text(customer, "email", "customer.email", problems, &oom);
    }
    const json_t *delivery = json_member_object(body, "delivery", "delivery", problems);
    if (delivery) {
        sub->method_text = json_text(delivery, "method", "delivery.method", problems, &oom);
        sub->method = intake_method_parse(sub->method_text);
        sub->pickup_point_id =
            json_text(delivery, "pickup_point_id", "delivery.pickup_point_id", problems, &oom);
        sub->delivery_comment = json_text(delivery, "comment", "delivery.comment", problems, &oom);
        const json_t *address =
            json_member_object(delivery, "address", "delivery.address", problems);
        if (address) {
            sub->address_text = json_text(address, "text", "delivery.address.text", problems, &oom);
            sub->country_code =
                json_text(address, "country_code", "delivery.address.country_code", problems, &oom);
            sub->region = json_text(address, "region", "delivery.address.region", problems, &oom);
            sub->city = json_text(address, "city", "delivery.address.city", problems, &oom);
            sub->postal_code =
                json_text(address, "postal_code", "delivery.address.postal_code", problems, &oom);
            sub->line1 = json_text(address, "line1", "delivery.address.line1", problems, &oom);
            sub->line2 = json_text(address, "line2", "delivery.address.line2", problems, &oom);
        }
    }
    if (items_from_json(json_object_get(body, "items"), sub, problems, &oom) != 0)
        return -1;
    const json_t *attributes = json_object_get(body, "attributes");
    sub->attributes = json_object();
    if (!sub->attributes)
        return -1;
    if (attributes && !json_is_null(attributes)) {
        if (!json_is_object(attributes)) {
            problems_add(problems, "attributes", "not_an_object",
                         "attributes must be an object of strings");
        } else {
            const char *key;
            json_t *value;
            json_object_foreach((json_t *)(uintptr_t)attributes, key, value)
            {
                if (!json_is_string(value)) {
                    char path[KEY_MAX_LEN + 16];
                    snprintf(path, sizeof path, "attributes.%.100s", key);
                    problems_add(problems, path, "not_a_string", "%s must be a string", path);
                    continue;
                }
                json_object_set_new(sub->attributes, key, json_string(json_string_value(value)));
            }
        }
    }
    return oom ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* from the bus                                                         */

int submission_from_proto(const Conveyor__OrderSubmitted *msg, submission_t *sub)
{
    bool oom = false;
    sub->source = dup_trimmed(msg->source, &oom);
    sub->external_id = dup_trimmed(msg->external_id, &oom);
    sub->channel = dup_trimmed(msg->channel, &oom);
    sub->comment = dup_trimmed(msg->comment, &oom);
    sub->discount_bp = msg->discount_bp;
    if (msg->customer) {
        sub->customer_name = dup_trimmed(msg->customer->name, &oom);
        sub->phone = dup_trimmed(msg->customer->phone, &oom);
        sub->email = dup_trimmed(msg->customer->email, &oom);
    }
    if (msg->delivery) {
        const Conveyor__Delivery *delivery = msg->delivery;
        sub->method =
            delivery->method >= CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_COURIER &&
                    delivery->method <= CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_SELF_PICKUP
                ? (delivery_method_t)delivery->method
                : METHOD_NONE;
        if (delivery->method != CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_UNSPECIFIED &&
            sub->method == METHOD_NONE) {
            char text[32];
            snprintf(text, sizeof text, "%d", (int)delivery->method);
            sub->method_text = dup_trimmed(text, &oom);
        }
        sub->pickup_point_id = dup_trimmed(delivery->pickup_point_id, &oom);
        sub->delivery_comment = dup_trimmed(delivery->comment, &oom);
        if (delivery->address) {
            const Conveyor__Address *address = delivery->address;
            sub->address_text = dup_trimmed(address->text, &oom);
            sub->country_code = dup_trimmed(address->country_code, &oom);
            sub->region = dup_trimmed(address->region, &oom);
            sub->city = dup_trimmed(address->city, &oom);
            sub->postal_code = dup_trimmed(address->postal_code, &oom);
            sub->line1 = dup_trimmed(address->line1, &oom);
            sub->line2 = dup_trimmed(address->line2, &oom);
        }
    }
    size_t count = msg->n_items;
    if (count > INTAKE_ITEMS_MAX) {
        sub->items_over_max = count;
        count = 0;
    }
    sub->items = calloc(count ? count : 1, sizeof *sub->items);
    if (!sub->items)
        return -1;
    sub->item_count = count;
    for (size_t i = 0; i < count; i++) {
        const Conveyor__SubmittedItem *item = msg->items[i];
        sub->items[i].sku = dup_trimmed(item->sku, &oom);
        sub->items[i].name = dup_trimmed(item->name, &oom);
        sub->items[i].quantity = item->quantity;
        if (item->price) {
            sub->items[i].has_price = true;
            sub->items[i].price_minor = item->price->amount_minor;
            if (item->price->currency && item->price->currency[0] && !sub->currency)
                sub->currency = dup_trimmed(item->price->currency, &oom);
        }
    }
    sub->attributes = json_object();
    if (!sub->attributes)
        return -1;
    for (size_t i = 0; i < msg->n_attributes; i++) {
        const Conveyor__OrderSubmitted__AttributesEntry *entry = msg->attributes[i];
        if (entry->key && entry->value)
            json_object_set_new(sub->attributes, entry->key, json_string(entry->value));
    }
    return oom ? -1 : 0;
}

int intake_bus_source(submission_t *sub, const char *publisher, problems_t *problems)
{
    if (!publisher)
        publisher = "";
    if (sub->source && strcmp(sub->source, publisher) != 0)
        problems_add(problems, "source", "mismatch",
                     "the payload names another source than its publisher (the envelope's "
                     "stream): a publisher files orders under its own source only");
    free(sub->source);
    sub->source = NULL;
    if (!publisher[0])
        return 0;
    sub->source = strdup(publisher);
    return sub->source ? 0 : -1;
}

/* OrderSubmitted's items are field 6, length-delimited (order.proto). */
#define PROTO_ITEMS_FIELD 6
#define PROTO_WIRE_VARINT 0
#define PROTO_WIRE_I64    1
#define PROTO_WIRE_LEN    2
#define PROTO_WIRE_I32    5

/* Reads a varint at *pos; -1 past the end or longer than 10 bytes. */
static int proto_varint(const uint8_t *bytes, size_t len, size_t *pos, uint64_t *value_out)
{
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t byte = bytes[(*pos)++];
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value_out = value;
            return 0;
        }
    }
    return -1;
}

/* Walks the top-level fields of a packed message: counts the items and,
 * when out is given, copies every other field to it. */
static int proto_walk(const uint8_t *payload, size_t len, uint8_t *out, size_t *out_len,
                      size_t *count_out)
{
    size_t pos = 0, written = 0, count = 0;
    if (!payload && len > 0)
        return -1;
    while (pos < len) {
        size_t start = pos;
        uint64_t key = 0, value = 0;
        if (proto_varint(payload, len, &pos, &key) != 0 || (key >> 3) == 0)
            return -1;
        switch (key & 7) {
        case PROTO_WIRE_VARINT:
            if (proto_varint(payload, len, &pos, &value) != 0)
                return -1;
            break;
        case PROTO_WIRE_I64:
        case PROTO_WIRE_I32: {
            size_t width = (key & 7) == PROTO_WIRE_I64 ? 8 : 4;
            if (len - pos < width)
                return -1;
            pos += width;
            break;
        }
        case PROTO_WIRE_LEN:
            if (proto_varint(payload, len, &pos, &value) != 0 || value > len - pos)
                return -1;
            pos += (size_t)value;
            break;
        default:
            return -1; /* groups (3, 4) and the unknown wire types */
        }
        bool item = (key >> 3) == PROTO_ITEMS_FIELD && (key & 7) == PROTO_WIRE_LEN;
        count += item;
        if (out && !item) {
            memcpy(out + written, payload + start, pos - start);
            written += pos - start;
        }
    }
    if (out_len)
        *out_len = written;
    *count_out = count;
    return 0;
}

int intake_proto_item_count(const uint8_t *payload, size_t len, size_t *count_out)
{
    return proto_walk(payload, len, NULL, NULL, count_out);
}

int intake_proto_without_items(const uint8_t *payload, size_t len, uint8_t *out, size_t *out_len)
{
    size_t count = 0;
    return out ? proto_walk(payload, len, out, out_len, &count) : -1;
}

/* ------------------------------------------------------------------ */
/* from a form                                                          */

int submission_from_form(const form_order_t *form, submission_t *sub, problems_t *problems)
{
    bool oom = false;
    sub->channel = dup_trimmed(form->channel, &oom);
    sub->customer_name = dup_trimmed(form->name, &oom);
    sub->phone = dup_trimmed(form->phone, &oom);
    sub->email = dup_trimmed(form->email, &oom);
    sub->comment = dup_trimmed(form->comment, &oom);
    sub->address_text = dup_trimmed(form->address, &oom);
    sub->city = dup_trimmed(form->city, &oom);
    sub->region = dup_trimmed(form->region, &oom);
    sub->postal_code = dup_trimmed(form->postal_code, &oom);
    sub->pickup_point_id = dup_trimmed(form->pickup_point, &oom);
    sub->method_text = dup_trimmed(form->delivery ? form->delivery : "courier", &oom);
    sub->method = intake_method_parse(sub->method_text);
    size_t count = form->item_count;
    if (count > INTAKE_ITEMS_MAX) {
        sub->items_over_max = count; /* the form reads one line past the limit at most */
        count = 0;
    }
    sub->items = calloc(count ? count : 1, sizeof *sub->items);
    if (!sub->items)
        return -1;
    sub->item_count = count;
    int64_t lines_minor = 0;
    bool lines_fit = true; /* the sum fits int64; intake_validate refuses it when not */
    for (size_t i = 0; i < count; i++) {
        const form_item_t *item = &form->items[i];
        intake_item_t *out = &sub->items[i];
        char path[64];
        out->sku = dup_trimmed(item->sku, &oom);
        out->name = dup_trimmed(item->name, &oom);
        out->quantity = item->quantity;
        if (item->quantity < 0) {
            snprintf(path, sizeof path, "items[%zu].quantity", i);
            problems_add(problems, path, "not_an_integer", "%s must be a whole number", path);
            out->quantity = 0;
        }
        if (item->price_minor >= 0) {
            int64_t amount_minor;
            out->has_price = true;
            out->price_minor = item->price_minor;
            if (__builtin_mul_overflow(item->price_minor, out->quantity, &amount_minor) ||
                __builtin_add_overflow(lines_minor, amount_minor, &lines_minor))
                lines_fit = false;
        }
    }
    /* a form states its discount in money: keep it as basis points of the cart */
    if (form->discount_minor < 0)
        problems_add(problems, "payment[discount]", "invalid",
                     "the discount is not an amount of money");
    if (form->discount_minor > 0 && lines_fit && lines_minor > 0) {
        __int128 bp = (__int128)form->discount_minor * 10000 + lines_minor / 2;
        bp /= lines_minor;
        /* a discount above the cart is out of range for intake_validate, not wrapped into it */
        sub->discount_bp = bp > INT64_MAX ? INT64_MAX : (int64_t)bp;
    }
    sub->attributes = json_object();
    if (!sub->attributes)
        return -1;
    for (size_t i = 0; i < form->attribute_count; i++)
        json_object_set_new(sub->attributes, form->attributes[i].key,
                            json_string(form->attributes[i].value));
    if (form->promocode)
        json_object_set_new(sub->attributes, "promocode", json_string(form->promocode));
    return oom ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* validation                                                           */

static bool valid_key(const char *text)
{
    if (!text || !text[0] || strlen(text) > KEY_MAX_LEN)
        return false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return false;
    return true;
}

static bool valid_email(const char *email)
{
    const char *at = strchr(email, '@');
    if (!at || at == email || strchr(at + 1, '@') || strlen(email) > 254)
        return false;
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || !dot[1])
        return false;
    for (const char *p = email; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return false;
    return true;
}

static char *lower_copy(const char *text)
{
    char *copy = strdup(text);
    for (char *p = copy; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return copy;
}

static void check_length(problems_t *problems, const char *field, const char *text, size_t max)
{
    if (text && strlen(text) > max)
        problems_add(problems, field, "too_long", "%s is longer than %zu characters", field, max);
}

/* Text from the bus is not checked by protobuf-c (JSON and forms are
 * UTF-8 by the time they get here): a field that is not UTF-8 would vanish
 * from the canonical form, and so from its hash, and the database would
 * refuse it. */
static void check_utf8(problems_t *problems, const char *field, const char *text)
{
    if (!text)
        return;
    json_t *probe = json_string(text);
    if (!probe)
        problems_add(problems, field, "invalid", "%s is not UTF-8 text", field);
    json_decref(probe);
}

static bool known_channel(const char *channel)
{
    static const char *const channels[] = {"website", "landing", "phone", "marketplace"};
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        if (strcmp(channel, channels[i]) == 0)
            return true;
    return false;
}

static void validate_items(submission_t *sub, problems_t *problems)
{
    if (sub->items_over_max) {
        problems_add(problems, "items", "too_many", "an order holds at most %d items, not %zu",
                     INTAKE_ITEMS_MAX, sub->items_over_max);
        return;
    }
    if (sub->item_count == 0) {
        problems_add(problems, "items", "required", "an order needs at least one item");
        return;
    }
    for (size_t i = 0; i < sub->item_count; i++) {
        const intake_item_t *item = &sub->items[i];
        char path[64];
        snprintf(path, sizeof path, "items[%zu].sku", i);
        check_utf8(problems, path, item->sku);
        if (!item->sku)
            problems_add(problems, path, "required", "every item needs a sku");
        else if (!valid_key(item->sku))
            problems_add(problems, path, "invalid",
                         "a sku is 1 to 128 printable characters without spaces");
        snprintf(path, sizeof path, "items[%zu].quantity", i);
        if (item->quantity <= 0)
            problems_add(problems, path, "not_positive", "quantity must be greater than 0");
        else if (item->quantity > QUANTITY_MAX)
            problems_add(problems, path, "too_large", "quantity must be at most %d", QUANTITY_MAX);
        snprintf(path, sizeof path, "items[%zu].price_minor", i);
        if (item->has_price && item->price_minor < 0)
            problems_add(problems, path, "negative", "a price cannot be negative");
        snprintf(path, sizeof path, "items[%zu].name", i);
        check_utf8(problems, path, item->name);
        check_length(problems, path, item->name, NAME_MAX_LEN);
    }
}

/* The sender's line amounts, summed as totals.c will sum them: a sum past
 * int64 is refused at intake, with a reason, rather than failing later. */
static void validate_sums(const submission_t *sub, problems_t *problems)
{
    int64_t lines_minor = 0;
    for (size_t i = 0; i < sub->item_count; i++) {
        const intake_item_t *item = &sub->items[i];
        int64_t amount_minor;
        if (!item->has_price || item->price_minor < 0 || item->quantity <= 0)
            continue; /* refused by validate_items */
        if (__builtin_mul_overflow(item->price_minor, item->quantity, &amount_minor) ||
            __builtin_add_overflow(lines_minor, amount_minor, &lines_minor)) {
            problems_add(problems, "items", "total_too_large",
                         "the items' prices times their quantities add up to more than %lld "
                         "kopecks",
                         (long long)INT64_MAX);
            return;
        }
    }
}

static void validate_delivery(submission_t *sub, problems_t *problems)
{
    if (sub->method == METHOD_NONE) {
        if (sub->method_text)
            problems_add(problems, "delivery.method", "invalid",
                         "delivery.method must be courier, post, pickup_point or self_pickup");
        else
            problems_add(problems, "delivery.method", "required", "a delivery method is required");
        return;
    }
    bool has_address = sub->address_text || (sub->city && sub->line1);
    if ((sub->method == METHOD_COURIER || sub->method == METHOD_POST) && !has_address)
        problems_add(problems, "delivery.address", "required",
                     "%s needs an address (text, or city and line1)",
                     intake_method_name(sub->method));
    if (sub->method == METHOD_POST && has_address && !sub->postal_code && !sub->address_text)
        problems_add(problems, "delivery.address.postal_code", "required",
                     "post needs a postal code");
    if (sub->method == METHOD_PICKUP_POINT && !sub->pickup_point_id)
        problems_add(problems, "delivery.pickup_point_id", "required",
                     "pickup_point needs a pickup point id");
    if (sub->country_code &&
        (strlen(sub->country_code) != 2 || !isupper((unsigned char)sub->country_code[0]) ||
         !isupper((unsigned char)sub->country_code[1])))
        problems_add(problems, "delivery.address.country_code", "invalid",
                     "country_code is two capital letters (ISO 3166-1)");
    check_length(problems, "delivery.address.text", sub->address_text, TEXT_MAX_LEN);
    check_length(problems, "delivery.address.city", sub->city, NAME_MAX_LEN);
    check_length(problems, "delivery.address.region", sub->region, NAME_MAX_LEN);
    check_length(problems, "delivery.address.line1", sub->line1, TEXT_MAX_LEN);
    check_length(problems, "delivery.address.line2", sub->line2, TEXT_MAX_LEN);
    check_length(problems, "delivery.address.postal_code", sub->postal_code, 16);
    check_length(problems, "delivery.pickup_point_id", sub->pickup_point_id, KEY_MAX_LEN);
    check_length(problems, "delivery.comment", sub->delivery_comment, COMMENT_MAX_LEN);
}

size_t intake_validate(submission_t *sub, const char *default_channel, problems_t *problems)
{
    size_t before = problems_count(problems);
    if (!sub->source)
        problems_add(problems, "source", "required", "the sender's source is required");
    else if (!valid_key(sub->source))
        problems_add(problems, "source", "invalid", "a source is 1 to 128 printable characters");
    if (!sub->external_id)
        problems_add(problems, "external_id", "required",
                     "the sender's own order id (idempotency key) is required");
    else if (!valid_key(sub->external_id))
        problems_add(problems, "external_id", "invalid",
                     "external_id is 1 to 128 printable characters without spaces");
    if (!sub->channel && default_channel)
        sub->channel = strdup(default_channel);
    if (!sub->channel || !known_channel(sub->channel))
        problems_add(problems, "channel", "invalid",
                     "channel must be website, landing, phone or marketplace");

    if (!sub->customer_name)
        problems_add(problems, "customer.name", "required", "the customer's name is required");
    check_length(problems, "customer.name", sub->customer_name, NAME_MAX_LEN);
    if (!sub->phone && !sub->email)
        problems_add(problems, "customer.phone", "required",
                     "a phone or an email is required to reach the customer");
    sub->phone_e164[0] = '\0';
    if (sub->phone && phone_normalize(sub->phone, sub->phone_e164) != 0)
        problems_add(problems, "customer.phone", "invalid",
                     "the phone is not a number we can call (e.g. +7 912 345-67-89)");
    free(sub->email_lower);
    sub->email_lower = NULL;
    if (sub->email) {
        if (!valid_email(sub->email))
            problems_add(problems, "customer.email", "invalid", "the email is not an address");
        else
            sub->email_lower = lower_copy(sub->email);
    }

    validate_delivery(sub, problems);
    validate_items(sub, problems);
    validate_sums(sub, problems);
    if (sub->discount_bp < 0 || sub->discount_bp > 10000)
        problems_add(problems, "discount_bp", "out_of_range",
                     "discount_bp is 0 to 10000 (hundredths of a percent)");
    if (sub->currency && strcmp(sub->currency, "RUB") != 0)
        problems_add(problems, "currency", "unsupported", "the store takes orders in RUB");
    check_length(problems, "comment", sub->comment, COMMENT_MAX_LEN);
    const struct {
        const char *field, *text;
    } texts[] = {
        {"source", sub->source},
        {"external_id", sub->external_id},
        {"customer.name", sub->customer_name},
        {"customer.email", sub->email},
        {"delivery.address.text", sub->address_text},
        {"delivery.address.region", sub->region},
        {"delivery.address.city", sub->city},
        {"delivery.address.postal_code", sub->postal_code},
        {"delivery.address.line1", sub->line1},
        {"delivery.address.line2", sub->line2},
        {"delivery.pickup_point_id", sub->pickup_point_id},
        {"delivery.comment", sub->delivery_comment},
        {"comment", sub->comment},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_utf8(problems, texts[i].field, texts[i].text);
    if (json_object_size(sub->attributes) > 50)
        problems_add(problems, "attributes", "too_many", "at most 50 attributes are kept");

    free(sub->region_key);
    const char *region = sub->region ? sub->region : sub->city ? sub->city : "";
    sub->region_key = lower_copy(region);
    return problems_count(problems) - before;
}

size_t intake_validate_contents(submission_t *sub, bool check_items, bool check_delivery,
                                problems_t *problems)
{
    size_t before = problems_count(problems);
    if (check_delivery) {
        validate_delivery(sub, problems);
        const struct {
            const char *field, *text;
        } texts[] = {
            {"delivery.address.text", sub->address_text},
            {"delivery.address.region", sub->region},
            {"delivery.address.city", sub->city},
            {"delivery.address.postal_code", sub->postal_code},
            {"delivery.address.line1", sub->line1},
            {"delivery.address.line2", sub->line2},
            {"delivery.pickup_point_id", sub->pickup_point_id},
            {"delivery.comment", sub->delivery_comment},
        };
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            check_utf8(problems, texts[i].field, texts[i].text);
        free(sub->region_key);
        const char *region = sub->region ? sub->region : sub->city ? sub->city : "";
        sub->region_key = lower_copy(region);
    }
    if (check_items) {
        validate_items(sub, problems);
        validate_sums(sub, problems);
    }
    if (sub->discount_bp < 0 || sub->discount_bp > 10000)
        problems_add(problems, "discount_bp", "out_of_range",
                     "discount_bp is 0 to 10000 (hundredths of a percent)");
    return problems_count(problems) - before;
}

size_t intake_check_trust(const submission_t *sub, const intake_trust_t *trust,
                          problems_t *problems)
{
    int64_t allowed = trust ? trust->max_discount_bp : 0;
    if (sub->discount_bp <= allowed || sub->discount_bp > 10000)
        return 0; /* within what it may give, or out of range anyway */
    if (allowed <= 0)
        problems_add(problems, "discount_bp", "not_allowed",
                     "this source may not give discounts: an admin sets how far each source is "
                     "trusted (max_discount_bp)");
    else
        problems_add(problems, "discount_bp", "not_allowed",
                     "this source may give at most %lld.%02lld %% (%lld basis points), not "
                     "%lld.%02lld %%",
                     (long long)(allowed / 100), (long long)(allowed % 100), (long long)allowed,
                     (long long)(sub->discount_bp / 100), (long long)(sub->discount_bp % 100));
    return 1;
}

/* ------------------------------------------------------------------ */
/* canonical form                                                       */

static void set_text(json_t *object, const char *key, const char *value)
{
    if (value)
        json_object_set_new(object, key, json_string(value));
}

json_t *submission_to_json(const submission_t *sub)
{
    json_t *root = json_object();
    json_t *customer = json_object();
    json_t *delivery = json_object();
    json_t *address = json_object();
    json_t *items = json_array();
    if (!root || !customer || !delivery || !address || !items) {
        json_decref(root);
        json_decref(customer);
        json_decref(delivery);
        json_decref(address);
        json_decref(items);
        return NULL;
    }
    set_text(root, "source", sub->source);
    set_text(root, "external_id", sub->external_id);
    set_text(root, "channel", sub->channel);
    set_text(root, "comment", sub->comment);
    set_text(root, "currency", sub->currency ? sub->currency : "RUB");
    json_object_set_new(root, "discount_bp", json_integer(sub->discount_bp));
    set_text(customer, "name", sub->customer_name);
    set_text(customer, "phone", sub->phone_e164[0] ? sub->phone_e164 : sub->phone);
    set_text(customer, "email", sub->email_lower ? sub->email_lower : sub->email);
    json_object_set_new(root, "customer", customer);
    set_text(delivery, "method",
             sub->method != METHOD_NONE ? intake_method_name(sub->method) : sub->method_text);
    set_text(delivery, "pickup_point_id", sub->pickup_point_id);
    set_text(delivery, "comment", sub->delivery_comment);
    set_text(address, "text", sub->address_text);
    set_text(address, "country_code", sub->country_code);
    set_text(address, "region", sub->region);
    set_text(address, "city", sub->city);
    set_text(address, "postal_code", sub->postal_code);
    set_text(address, "line1", sub->line1);
    set_text(address, "line2", sub->line2);
    json_object_set_new(delivery, "address", address);
    json_object_set_new(root, "delivery", delivery);
    for (size_t i = 0; i < sub->item_count; i++) {
        const intake_item_t *item = &sub->items[i];
        json_t *line = json_object();
        set_text(line, "sku", item->sku);
        set_text(line, "name", item->name);
        json_object_set_new(line, "quantity", json_integer(item->quantity));
        if (item->has_price)
            json_object_set_new(line, "price_minor", json_integer(item->price_minor));
        json_array_append_new(items, line);
    }
    json_object_set_new(root, "items", items);
    if (sub->items_over_max) /* what was refused unread: how many there were */
        json_object_set_new(root, "items_sent", json_integer((json_int_t)sub->items_over_max));
    json_object_set(root, "attributes", sub->attributes ? sub->attributes : json_object());
    return root;
}

int submission_hash(const submission_t *sub, char out[65])
{
    json_t *canonical = submission_to_json(sub);
    char *text = canonical ? json_dumps(canonical, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(canonical);
    if (!text)
        return -1;
    int rc = digest_sha256_hex(text, strlen(text), out);
    free(text);
    return rc;
}

void intake_title(uint64_t number, const char *customer_name, char *out, size_t size)
{
    snprintf(out, size, "No. %llu \xe2\x80\x93 %s", (unsigned long long)number,
             customer_name ? customer_name : "");
}
