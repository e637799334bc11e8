/*
 * test_pbjson.c — protobuf-c messages to JSON and back (pbjson.h).
 *
 * Proves: a JSON order with nested messages, repeated messages, an enum by
 * name and 64-bit amounts becomes the message a sender would have packed,
 * survives the wire, and comes back as the same JSON; enums read by number
 * too and are written by name; bytes go as base64url; every field appears
 * with its default; unknown fields, wrong types, negative unsigned numbers
 * and unknown enum names are refused with the path of the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/pbjson.h"
#include "conveyor/order.pb-c.h"
#include "conveyor/payment.pb-c.h"
#include "conveyor/testing.pb-c.h"

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *json = json_loads(text, 0, &error);
    assert_non_null(json);
    return json;
}

static void test_order_round_trip(void **state)
{
    (void)state;
    json_t *in = parse("{\"source\": \"site\", \"external_id\": \"A-1\","
                       " \"customer\": {\"name\": \"Ivan Petrov\", \"phone\": \"+79161234567\"},"
                       " \"delivery\": {\"method\": \"DELIVERY_METHOD_POST\","
                       "   \"address\": {\"city\": \"Kazan\", \"postal_code\": \"420000\"}},"
                       " \"items\": [{\"sku\": \"KETTLE\", \"quantity\": 2,"
                       "   \"price\": {\"amount_minor\": 9007199254740993, \"currency\": \"RUB\"}},"
                       "  {\"sku\": \"MUG\", \"quantity\": 1}],"
                       " \"discount_bp\": 1050}");
    char why[256] = "";
    ProtobufCMessage *msg =
        pbjson_to_message(&conveyor__order_submitted__descriptor, in, why, sizeof why);
    assert_non_null(msg);
    Conveyor__OrderSubmitted *order = (Conveyor__OrderSubmitted *)msg;
    assert_string_equal(order->source, "site");
    assert_string_equal(order->customer->phone, "+79161234567");
    assert_int_equal(order->delivery->method, CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_POST);
    assert_string_equal(order->delivery->address->city, "Kazan");
    assert_int_equal(order->n_items, 2);
    assert_int_equal(order->items[0]->quantity, 2);
    assert_true(order->items[0]->price->amount_minor == 9007199254740993LL);
    assert_null(order->items[1]->price);
    assert_int_equal(order->discount_bp, 1050);
    assert_string_equal(order->comment, "");

    /* over the wire and back */
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *wire = malloc(len);
    assert_non_null(wire);
    protobuf_c_message_pack(msg, wire);
    protobuf_c_message_free_unpacked(msg, NULL);
    Conveyor__OrderSubmitted *back = conveyor__order_submitted__unpack(NULL, len, wire);
    free(wire);
    assert_non_null(back);
    json_t *out = pbjson_from_message(&back->base);
    conveyor__order_submitted__free_unpacked(back, NULL);
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "external_id")), "A-1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "delivery"), "method")),
        "DELIVERY_METHOD_POST");
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_true(
        json_integer_value(json_object_get(json_object_get(json_array_get(items, 0), "price"),
                                           "amount_minor")) == 9007199254740993LL);
    assert_true(json_is_null(json_object_get(json_array_get(items, 1), "price")));
    /* defaults are written too */
    assert_string_equal(json_string_value(json_object_get(out, "comment")), "");
    assert_true(json_is_array(json_object_get(out, "attributes")));
    json_decref(out);
    json_decref(in);
}

static void test_enum_by_number_and_bytes(void **state)
{
    (void)state;
    json_t *in = parse("{\"method\": 3}");
    ProtobufCMessage *msg = pbjson_to_message(&conveyor__delivery__descriptor, in, NULL, 0);
    assert_non_null(msg);
    assert_int_equal(((Conveyor__Delivery *)msg)->method,
                     CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_PICKUP_POINT);
    json_t *out = pbjson_from_message(msg);
    assert_string_equal(json_string_value(json_object_get(out, "method")),
                        "DELIVERY_METHOD_PICKUP_POINT");
    json_decref(out);
    protobuf_c_message_free_unpacked(msg, NULL);
    json_decref(in);

    Conveyor__KitTick tick = CONVEYOR__KIT_TICK__INIT;
    tick.n = 7;
    tick.poison = 1;
    tick.filler.data = (uint8_t *)"\x00\xff\x10";
    tick.filler.len = 3;
    out = pbjson_from_message(&tick.base);
    assert_string_equal(json_string_value(json_object_get(out, "filler")), "AP8Q");
    assert_true(json_is_true(json_object_get(out, "poison")));
    msg = pbjson_to_message(&conveyor__kit_tick__descriptor, out, NULL, 0);
    assert_non_null(msg);
    Conveyor__KitTick *again = (Conveyor__KitTick *)msg;
    assert_int_equal(again->n, 7);
    assert_int_equal(again->filler.len, 3);
    assert_memory_equal(again->filler.data, "\x00\xff\x10", 3);
    protobuf_c_message_free_unpacked(msg, NULL);
    json_decref(out);
}

static void refused(const ProtobufCMessageDescriptor *desc, const char *text,
                    const char *why_expected)
{
    json_t *in = parse(text);
    char why[256] = "";
    ProtobufCMessage *msg = pbjson_to_message(desc, in, why, sizeof why);
    json_decref(in);
    assert_null(msg);
    assert_string_equal(why, why_expected);
}

static void test_refusals(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *order = &conveyor__order_submitted__descriptor;
    refused(order, "{\"sauce\": \"x\"}", "sauce: is not a field of OrderSubmitted");
    refused(order, "{\"source\": 5}", "source: must be a string");
    refused(order,
            "{\"items\": [{\"sku\": \"A\", \"quantity\": 1}, {\"sku\": \"B\", \"quantity\": -1}]}",
            "items[1].quantity: must be a non-negative integer within 32 bits");
    refused(order, "{\"items\": {\"sku\": \"A\"}}", "items: must be an array");
    refused(order, "{\"delivery\": {\"method\": \"DELIVERY_METHOD_DRONE\"}}",
            "delivery.method: is not a value of its enum");
    refused(order, "{\"discount_bp\": 4294967296}",
            "discount_bp: must be a non-negative integer within 32 bits");
    refused(order, "[1, 2]", "OrderSubmitted: must be a JSON object");
    refused(&conveyor__payment_succeeded__descriptor, "{\"paid_minor\": \"100\"}",
            "paid_minor: must be an integer");
    refused(&conveyor__kit_tick__descriptor, "{\"filler\": \"AP8Q=\"}",
            "filler: is not base64url without padding");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_round_trip),
        cmocka_unit_test(test_enum_by_number_and_bytes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
