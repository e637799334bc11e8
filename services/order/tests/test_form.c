/*
 * test_form.c — reading site-builder order forms: url decoding (+, %XX in
 * either case, bad escapes and NULs refused); decimal roubles to kopecks
 * without floats; the field map (defaults, a custom map, malformed specs);
 * a realistic Tilda cart body with Cyrillic text, %5B-encoded brackets,
 * gaps in the line indexes, options and COOKIES left out; the `payment`
 * JSON variant with numbers and strings mixed; the test=test connection
 * probe; and hostile bodies (huge indexes, too many lines, duplicates,
 * missing and blank fields, broken JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#include "services/order/form.h"

#define UNTOUCHED 4242

static form_t parse_ok(const char *body)
{
    form_t form;
    if (form_parse(body, strlen(body), &form) != 0)
        fail_msg("\"%s\" did not parse", body);
    return form;
}

/* Percent-encodes text as a form value (every byte but [A-Za-z0-9_.-]).
 * Caller owns the result. */
static char *url_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(text);
    char *encoded = malloc(len * 3 + 1);
    size_t n = 0;
    assert_non_null(encoded);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-') {
            encoded[n++] = (char)c;
        } else {
            encoded[n++] = '%';
            encoded[n++] = hex[c >> 4];
            encoded[n++] = hex[c & 15];
        }
    }
    encoded[n] = '\0';
    return encoded;
}

/* Parses prefix + url_encode(json) into *form and reads it with the
 * default map; the order borrows from *form, which the caller frees. */
static int read_json_body(const char *prefix, const char *json, form_t *form, form_order_t *order)
{
    char *encoded = url_encode(json);
    size_t size = strlen(prefix) + strlen(encoded) + 1;
    char *body = malloc(size);
    assert_non_null(body);
    int n = snprintf(body, size, "%s%s", prefix, encoded);
    assert_true(n > 0 && (size_t)n < size);
    *form = parse_ok(body);
    int rc = form_order_read(form, NULL, order);
    free(body);
    free(encoded);
    return rc;
}

static void test_parse_decodes(void **state)
{
    (void)state;
    form_t form = parse_ok("a=1&b=two+words&c=%41%4a%4B%d0%98&flag&=empty-key&d=x=y"
                           "&e%3Df=g%26h&&a=second&");
    assert_int_equal(form.count, 8);
    assert_string_equal(form.pairs[0].key, "a");
    assert_string_equal(form.pairs[0].value, "1");
    assert_string_equal(form_get(&form, "b"), "two words");
    assert_string_equal(form_get(&form, "c"), "AJK\xD0\x98");
    assert_string_equal(form_get(&form, "flag"), "");
    assert_string_equal(form_get(&form, ""), "empty-key");
    assert_string_equal(form_get(&form, "d"), "x=y");
    assert_string_equal(form_get(&form, "e=f"), "g&h");
    assert_string_equal(form_get(&form, "a"), "1"); /* the first wins */
    assert_string_equal(form.pairs[7].value, "second");
    assert_null(form_get(&form, "A"));
    assert_null(form_get(&form, "missing"));
    assert_null(form_get(&form, NULL));
    assert_null(form_get(NULL, "a"));
    form_free(&form);
    assert_null(form.pairs);
    assert_int_equal(form.count, 0);
    form_free(&form); /* twice is harmless */
    form_free(NULL);

    form = parse_ok("");
    assert_int_equal(form.count, 0);
    form_free(&form);
    assert_int_equal(form_parse(NULL, 0, &form), 0);
    assert_int_equal(form.count, 0);
    form = parse_ok("&&&");
    assert_int_equal(form.count, 0);
    form_free(&form);

    /* len bounds the body: what follows is not read */
    assert_int_equal(form_parse("a=1&b=2", 3, &form), 0);
    assert_int_equal(form.count, 1);
    assert_string_equal(form_get(&form, "a"), "1");
    form_free(&form);
}

static void test_parse_refuses_malformed_bodies(void **state)
{
    (void)state;
    const char *bad[] = {"a=%", "a=%4", "a=%4g", "a=%zz", "a=%00", "%00=a", "a=1&b=%", "a=%D0%9",
                         "a=%%41", "a=%+41", "a=%-1", "%G0=1", "a=%0", "k%2=v&x=1",
                         /* not UTF-8: cp1251 "Анна", a lone continuation, an overlong
                          * slash, a surrogate, a truncated sequence */
                         "Name=%C0%ED%ED%E0", "a=%80", "a=%C0%AF", "a=%ED%A0%80", "a=%D0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static form_pair_t dummy;
        form_t form = {&dummy, UNTOUCHED};
        if (form_parse(bad[i], strlen(bad[i]), &form) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_null(form.pairs);
        assert_int_equal(form.count, 0);
    }
    form_t form;
    static const char with_nul[] = "a=1\0&b=2";
    assert_int_equal(form_parse(with_nul, sizeof with_nul - 1, &form), -1);
    assert_int_equal(form_parse(NULL, 3, &form), -1);
    assert_int_equal(form_parse("a=1", 3, NULL), -1);
}

static void test_money(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int64_t minor;
    } good[] = {
        {"1990", 199000},    {"1990.5", 199050}, {"1990.50", 199050},
        {"1990,50", 199050}, {"0", 0},           {"0.01", 1},
        {"0,9", 90},         {"007.05", 705},    {"92233720368547758.07", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t minor = UNTOUCHED;
        assert_int_equal(form_parse_money(good[i].text, &minor), 0);
        assert_true(minor == good[i].minor);
    }
    const char *bad[] = {"",
                         "-1",
                         "+1",
                         "1.234",
                         "abc",
                         "1990.",
                         ".50",
                         ",5",
                         " 1990",
                         "1990 ",
                         "1 990",
                         "1e3",
                         "1.5e2",
                         "0x10",
                         "1,5,0",
                         "1..5",
                         "1990.5 ",
                         "1990₽",
                         "92233720368547758.08",
                         "100000000000000000000",
                         "1990,500"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t minor = UNTOUCHED;
        if (form_parse_money(bad[i], &minor) != -1)
            fail_msg("\"%s\" was taken as money", bad[i]);
        assert_true(minor == UNTOUCHED);
    }
    int64_t minor = UNTOUCHED;
    assert_int_equal(form_parse_money(NULL, &minor), -1);
    assert_int_equal(form_parse_money("1", NULL), -1);
}

static void test_field_map(void **state)
{
    (void)state;
    form_map_t map;
    assert_int_equal(form_map_parse(NULL, &map), 0);
    assert_string_equal(map.name, "Name");
    assert_string_equal(map.phone, "Phone");
    assert_string_equal(map.postal_code, "Index");
    assert_string_equal(map.pickup_point, "Point");
    assert_string_equal(map.channel, "Channel");
    memset(&map, 0, sizeof map);
    assert_int_equal(form_map_parse("  ", &map), 0);
    assert_string_equal(map.email, "Email");

    /* spaces and newlines around items, an empty item, a trailing comma;
     * what is not named keeps the usual form name */
    assert_int_equal(
        form_map_parse(" name = fio,phone=tel ,\n email=mail,,delivery=Dostavka[type],", &map), 0);
    assert_string_equal(map.name, "fio");
    assert_string_equal(map.phone, "tel");
    assert_string_equal(map.email, "mail");
    assert_string_equal(map.delivery, "Dostavka[type]");
    assert_string_equal(map.address, "Address");
    assert_string_equal(map.postal_code, "Index");

    char long_name[100];
    memset(long_name, 'x', sizeof long_name);
    memcpy(long_name, "name=", 5);
    long_name[5 + 63] = '\0'; /* 63 bytes fit */
    assert_int_equal(form_map_parse(long_name, &map), 0);
    assert_int_equal(strlen(map.name), 63);
    long_name[5 + 63] = 'x';
    long_name[5 + 64] = '\0'; /* 64 do not */

    const char *bad[] = {"name",
                         "name=",
                         "=Name",
                         "nick=Nick",
                         "name=a,name=b",
                         "name=a=b",
                         "phone=Phone,emial=Email",
                         "Name=Name",
                         long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&map, 'u', sizeof map);
        if (form_map_parse(bad[i], &map) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(map.name[0], 'u'); /* untouched */
    }
    assert_int_equal(form_map_parse(NULL, NULL), -1);
}

/* A cart as Tilda posts it: brackets %5B-encoded, lines 0, 5 and 2 (a gap,
 * out of order), an option, the second line by externalid, COOKIES. */
static const char tilda_body[] =
    "Name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2"
    "&Phone=%2B7+%28912%29+345-67-89"
    "&Email=ivan%40example.ru"
    "&Delivery=courier"
    "&Address=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0%2C+%D1%83%D0%BB.+%D0%A2%D0%B2%D0%B5%D1%80%D1%81"
    "%D0%BA%D0%B0%D1%8F%2C+%D0%B4.+1%2C+%D0%BA%D0%B2.+2"
    "&Comment=%D0%9F%D0%BE%D0%B7%D0%B2%D0%BE%D0%BD%D0%B8%D1%82%D0%B5+%D0%BF%D0%BE%D1%81%D0%BB%D0%B5"
    "+18%3A00"
    "&Index=&City=+"
    "&tranid=3407817%3A6539187&formid=form412233344&formname=Cart"
    "&utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&utm_content="
    "&COOKIES=_ym_uid%3D1%3B+TILDAUTM%3Dutm_source%253Dyandex"
    "&payment%5Bsys%5D=none&payment%5Borderid%5D=1734567&payment%5Bamount%5D=4769.50"
    "&payment%5Bproducts%5D%5B0%5D%5Bname%5D=%D0%A7%D0%B0%D0%B9+%D1%83%D0%BB%D1%83%D0%BD+%C2%AB%D0"
    "%9C%D0%BE%D0%BB%D0%BE%D1%87%D0%BD%D1%8B%D0%B9%C2%BB%2C+100+%D0%B3"
    "&payment%5Bproducts%5D%5B0%5D%5Bquantity%5D=2"
    "&payment%5Bproducts%5D%5B0%5D%5Bamount%5D=3981"
    "&payment%5Bproducts%5D%5B0%5D%5Bprice%5D=1990.50"
    "&payment%5Bproducts%5D%5B0%5D%5Bsku%5D=TEA-OOLONG-100"
    "&payment%5Bproducts%5D%5B0%5D%5Boptions%5D%5B0%5D%5Boption%5D=Size"
    "&payment%5Bproducts%5D%5B0%5D%5Boptions%5D%5B0%5D%5Bvariant%5D=100"
    "&payment%5Bproducts%5D%5B5%5D%5Bname%5D=%D0%9A%D1%80%D1%83%D0%B6%D0%BA%D0%B0"
    "&payment%5Bproducts%5D%5B5%5D%5Bquantity%5D=1"
    "&payment%5Bproducts%5D%5B5%5D%5Bprice%5D=350"
    "&payment%5Bproducts%5D%5B5%5D%5Bsku%5D="
    "&payment%5Bproducts%5D%5B5%5D%5Bexternalid%5D=mug-0005"
    "&payment%5Bproducts%5D%5B2%5D%5Bname%5D=Gift+box"
    "&payment%5Bproducts%5D%5B2%5D%5Bquantity%5D=3"
    "&payment%5Bproducts%5D%5B2%5D%5Bamount%5D=1500"
    "&payment%5Bpromocode%5D=%D0%B2%D0%B5%D1%81%D0%BD%D0%B0"
    "&payment%5Bdiscount%5D=100,50";

static void test_tilda_cart(void **state)
{
    (void)state;
    form_t form = parse_ok(tilda_body);
    form_order_t order;
    assert_int_equal(form_order_read(&form, NULL, &order), 0);

    assert_string_equal(order.name, "Иван Петров");
    assert_string_equal(order.phone, "+7 (912) 345-67-89");
    assert_string_equal(order.email, "ivan@example.ru");
    assert_string_equal(order.delivery, "courier");
    assert_string_equal(order.address, "Москва, ул. Тверская, д. 1, кв. 2");
    assert_string_equal(order.comment, "Позвоните после 18:00");
    assert_null(order.postal_code); /* Index= */
    assert_null(order.city);        /* City=+ is a space */
    assert_null(order.region);
    assert_null(order.pickup_point);
    assert_null(order.channel);
    assert_string_equal(order.tranid, "3407817:6539187");
    assert_string_equal(order.formid, "form412233344");
    assert_false(order.is_test);

    assert_int_equal(order.item_count, 3);
    assert_string_equal(order.items[0].name, "Чай улун «Молочный», 100 г");
    assert_string_equal(order.items[0].sku, "TEA-OOLONG-100");
    assert_true(order.items[0].quantity == 2);
    assert_true(order.items[0].price_minor == 199050);
    /* index 2 before index 5; no price, so amount / quantity */
    assert_string_equal(order.items[1].name, "Gift box");
    assert_null(order.items[1].sku);
    assert_true(order.items[1].quantity == 3);
    assert_true(order.items[1].price_minor == 50000);
    assert_string_equal(order.items[2].name, "Кружка");
    assert_string_equal(order.items[2].sku, "mug-0005"); /* sku blank: externalid */
    assert_true(order.items[2].quantity == 1);
    assert_true(order.items[2].price_minor == 35000);

    assert_true(order.discount_minor == 10050);
    assert_string_equal(order.promocode, "весна");

    /* utm_content is blank, COOKIES is never kept */
    assert_int_equal(order.attribute_count, 5);
    assert_string_equal(order.attributes[0].key, "formid");
    assert_string_equal(order.attributes[0].value, "form412233344");
    assert_string_equal(order.attributes[1].key, "formname");
    assert_string_equal(order.attributes[1].value, "Cart");
    assert_string_equal(order.attributes[2].key, "utm_source");
    assert_string_equal(order.attributes[2].value, "yandex");
    assert_string_equal(order.attributes[3].key, "utm_medium");
    assert_string_equal(order.attributes[4].key, "utm_campaign");
    assert_string_equal(order.attributes[4].value, "spring_sale");

    form_order_free(&order);
    assert_null(order.items);
    assert_int_equal(order.item_count, 0);
    form_order_free(&order);
    form_order_free(NULL);
    form_free(&form);
}

static void test_custom_field_map(void **state)
{
    (void)state;
    form_map_t map;
    assert_int_equal(form_map_parse("name=fio,phone=tel,email=mail,delivery=dostavka,"
                                    "pickup_point=pvz,channel=istochnik",
                                    &map),
                     0);
    form_t form = parse_ok("Name=Wrong&fio=%D0%90%D0%BD%D0%BD%D0%B0&tel=89123456789&Phone=0"
                           "&dostavka=pickup_point&pvz=MSK-123&istochnik=landing&Address=unused"
                           "&payment[products][0][name]=Tea&payment[products][0][quantity]=1"
                           "&payment[products][0][price]=100");
    form_order_t order;
    assert_int_equal(form_order_read(&form, &map, &order), 0);
    assert_string_equal(order.name, "Анна");
    assert_string_equal(order.phone, "89123456789");
    assert_null(order.email);
    assert_string_equal(order.delivery, "pickup_point");
    assert_string_equal(order.pickup_point, "MSK-123");
    assert_string_equal(order.channel, "landing");
    assert_string_equal(order.address, "unused"); /* unmapped: the usual form name */
    assert_null(order.tranid);
    assert_false(order.is_test);
    assert_int_equal(order.item_count, 1); /* raw brackets work as well as %5B */
    assert_true(order.items[0].price_minor == 10000);
    assert_true(order.discount_minor == 0);
    assert_null(order.promocode);
    assert_int_equal(order.attribute_count, 0);
    assert_null(order.attributes);
    form_order_free(&order);
    form_free(&form);
}

static void test_json_payment(void **state)
{
    (void)state;
    form_t form;
    form_order_t order;
    /* numbers and strings mixed; a fraction as a number never becomes a
     * double; text that looks like numbers inside strings is left alone;
     * bracketed keys are ignored when `payment` is JSON */
    const char *json =
        "{\"products\": ["
        "{\"name\": \"Чай улун 1.5 \\\"кг\\\" 2e3\", \"quantity\": 2, \"price\": 1990.50,"
        " \"sku\": \"TEA-1\"},"
        "{\"name\": \"Кружка\", \"quantity\": \"1\", \"price\": \"350\", \"externalid\": \"MUG\"},"
        "{\"name\": \"Box\", \"quantity\": 3, \"price\": 10, \"sku\": 12345},"
        "{\"name\": \"Odd\", \"quantity\": 1.5, \"price\": 1.234},"
        "{\"quantity\": -2, \"price\": -1, \"sku\": \"\", \"externalid\": \"X-1\"},"
        "{\"quantity\": 4, \"amount\": 12.40},"
        "{\"quantity\": 1, \"price\": 1e30},"
        "7"
        "], \"discount\": 100.5, \"promocode\": \"SPRING\", \"amount\": 4321.5}";
    assert_int_equal(read_json_body("tranid=77&Name=Ann&payment%5Bproducts%5D%5B0%5D%5Bname%5D=X"
                                    "&payment=",
                                    json, &form, &order),
                     0);
    assert_string_equal(order.tranid, "77");
    assert_string_equal(order.name, "Ann");
    assert_int_equal(order.item_count, 8);
    assert_string_equal(order.items[0].name, "Чай улун 1.5 \"кг\" 2e3");
    assert_string_equal(order.items[0].sku, "TEA-1");
    assert_true(order.items[0].quantity == 2);
    assert_true(order.items[0].price_minor == 199050);
    assert_string_equal(order.items[1].sku, "MUG");
    assert_true(order.items[1].quantity == 1);
    assert_true(order.items[1].price_minor == 35000);
    assert_string_equal(order.items[2].sku, "12345");
    assert_true(order.items[2].price_minor == 1000);
    assert_true(order.items[3].quantity == -1);    /* not whole */
    assert_true(order.items[3].price_minor == -1); /* three decimals */
    assert_null(order.items[4].name);
    assert_string_equal(order.items[4].sku, "X-1");
    assert_true(order.items[4].quantity == -1);
    assert_true(order.items[4].price_minor == -1);
    assert_true(order.items[5].price_minor == 310); /* 12.40 / 4 */
    assert_true(order.items[6].price_minor == -1);  /* 1e30 is no amount */
    assert_null(order.items[7].name);               /* not an object: an empty line */
    assert_null(order.items[7].sku);
    assert_true(order.items[7].quantity == -1);
    assert_true(order.items[7].price_minor == -1);
    assert_true(order.discount_minor == 10050);
    assert_string_equal(order.promocode, "SPRING");
    form_order_free(&order);
    form_free(&form);

    /* no products, a string discount; an integer price at the int64 edge */
    assert_int_equal(read_json_body("payment=", "{\"discount\": \"99,90\"}", &form, &order), 0);
    assert_int_equal(order.item_count, 0);
    assert_true(order.discount_minor == 9990);
    form_order_free(&order);
    form_free(&form);
    assert_int_equal(
        read_json_body("payment=",
                       "{\"products\": [{\"quantity\": 1, \"price\": 92233720368547758},"
                       "{\"quantity\": 1, \"price\": 92233720368547759}],"
                       " \"discount\": -5}",
                       &form, &order),
        0);
    assert_true(order.items[0].price_minor == 9223372036854775800LL);
    assert_true(order.items[1].price_minor == -1);
    assert_true(order.discount_minor == -1);
    form_order_free(&order);
    form_free(&form);

    /* JSON that does not parse, or is not an object */
    const char *bad[] = {"{\"products\": [",
                         "[1, 2]",
                         "abc",
                         "{\"a\": 1.2.3",
                         "{\"name\": \"\\u0000\"}",
                         "{\"products\": [{\"price\": 1.}]} x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&order, 'u', sizeof order);
        if (read_json_body("tranid=1&payment=", bad[i], &form, &order) != -1)
            fail_msg("%s was read", bad[i]);
        assert_null(order.items);
        assert_null(order.tranid);
        assert_int_equal(order.attribute_count, 0);
        form_free(&form);
    }
    /* a blank `payment` is no JSON: the brackets are read */
    form = parse_ok("payment=+&payment[products][3][quantity]=1");
    assert_int_equal(form_order_read(&form, NULL, &order), 0);
    assert_int_equal(order.item_count, 1);
    assert_true(order.items[0].quantity == 1);
    assert_true(order.items[0].price_minor == -1);
    form_order_free(&order);
    form_free(&form);
}

static void test_connection_probe(void **state)
{
    (void)state;
    form_order_t order;
    form_t form = parse_ok("test=test");
    assert_int_equal(form_order_read(&form, NULL, &order), 0);
    assert_true(order.is_test);
    assert_int_equal(order.item_count, 0);
    assert_null(order.name);
    form_order_free(&order);
    form_free(&form);

    const char *not_probes[] = {"test=test&tranid=123:456", "test=Test", "test=", "tests=test",
                                "Name=test"};
    for (size_t i = 0; i < sizeof not_probes / sizeof not_probes[0]; i++) {
        form = parse_ok(not_probes[i]);
        assert_int_equal(form_order_read(&form, NULL, &order), 0);
        assert_false(order.is_test);
        form_order_free(&order);
        form_free(&form);
    }
}

static void test_hostile_carts(void **state)
{
    (void)state;
    form_order_t order;
    /* huge, negative, empty, nested and malformed indexes; duplicates */
    form_t form = parse_ok("Name=First&Name=Second"
                           "&payment[products][10001][name]=too+far"
                           "&payment[products][99999999999999999999][name]=overflow"
                           "&payment[products][-1][name]=negative"
                           "&payment[products][][name]=empty"
                           "&payment[products][+1][name]=signed"
                           "&payment[products][1][name]extra=tail"
                           "&payment[products][1]=no+field"
                           "&payment[products][1][colour]=unknown+field"
                           "&payment[products][10000][name]=last+allowed"
                           "&payment[products][7][name]=first"
                           "&payment[products][7][name]=second"
                           "&payment[products][7][quantity]=-1"
                           "&payment[products][8][quantity]=2.0"
                           "&payment[products][8][price]=-5"
                           "&payment[products][8][amount]=10"
                           "&payment[products][9][quantity]=0"
                           "&payment[products][9][amount]=10"
                           "&payment[products][09][price]=1"
                           "&payment[discount]=lots"
                           "&payment[promocode]=+"
                           "&utm_source=a&utm_source=b&utm_=x&UTM_SOURCE=c&COOKIES=d");
    assert_int_equal(form_order_read(&form, NULL, &order), 0);
    assert_string_equal(order.name, "First");
    assert_int_equal(order.item_count, 4);
    assert_string_equal(order.items[0].name, "first");
    assert_true(order.items[0].quantity == -1);
    assert_true(order.items[0].price_minor == -1);
    assert_null(order.items[1].name);
    assert_true(order.items[1].quantity == -1);
    assert_true(order.items[1].price_minor == -1); /* an invalid price is not replaced */
    assert_true(order.items[2].quantity == 0);
    assert_true(order.items[2].price_minor == 100); /* "09" is line 9: the first price */
    assert_string_equal(order.items[3].name, "last allowed");
    assert_true(order.discount_minor == -1);
    assert_null(order.promocode);
    assert_int_equal(order.attribute_count, 1);
    assert_string_equal(order.attributes[0].value, "a");
    form_order_free(&order);
    form_free(&form);

    /* 1500 lines: only the first FORM_MAX_ITEMS are read; 100 utm fields:
     * FORM_MAX_ATTRIBUTES are kept */
    size_t size = 1500 * 64 + 100 * 32 + 1;
    char *body = malloc(size);
    assert_non_null(body);
    size_t used = 0;
    for (int i = 0; i < 100; i++) {
        int n = snprintf(body + used, size - used, "utm_%d=%d&", i, i);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    for (int i = 1499; i >= 0; i--) {
        int n = snprintf(body + used, size - used, "payment[products][%d][quantity]=%d&", i, i + 1);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    form = parse_ok(body);
    assert_int_equal(form_order_read(&form, NULL, &order), 0);
    assert_int_equal(order.item_count, FORM_MAX_ITEMS);
    /* lines 1499 down to 1500 - FORM_MAX_ITEMS were seen first; sorted, the
     * lowest of them comes first */
    assert_true(order.items[0].quantity == 1500 - FORM_MAX_ITEMS + 1);
    assert_true(order.items[FORM_MAX_ITEMS - 1].quantity == 1500);
    assert_int_equal(order.attribute_count, FORM_MAX_ATTRIBUTES);
    assert_string_equal(order.attributes[FORM_MAX_ATTRIBUTES - 1].key, "utm_63");
    form_order_free(&order);
    form_free(&form);
    free(body);

    /* the JSON cart is capped the same way */
    size = 1200 * 24 + 64;
    char *json = malloc(size);
    assert_non_null(json);
    used = (size_t)snprintf(json, size, "{\"products\": [");
    for (int i = 0; i < 1200; i++) {
        int n = snprintf(json + used, size - used, "%s{\"quantity\": %d}", i ? "," : "", i);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    assert_true(used + 3 < size);
    memcpy(json + used, "]}", 3);
    assert_int_equal(read_json_body("payment=", json, &form, &order), 0);
    assert_int_equal(order.item_count, FORM_MAX_ITEMS);
    assert_true(order.items[FORM_MAX_ITEMS - 1].quantity == FORM_MAX_ITEMS - 1);
    form_order_free(&order);
    form_free(&form);
    free(json);

    assert_int_equal(form_order_read(NULL, NULL, &order), -1);
    assert_int_equal(form_order_read(&form, NULL, NULL), -1);
}

/* Bytes the heap holds now (small blocks and mmap'd large ones). */
static size_t heap_in_use(void)
{
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/* body holds `repeat` copies of piece; caller frees. */
static char *repeated(const char *piece, size_t repeat, size_t *len_out)
{
    size_t piece_len = strlen(piece);
    char *body = malloc(piece_len * repeat + 1);
    assert_non_null(body);
    for (size_t i = 0; i < repeat; i++)
        memcpy(body + i * piece_len, piece, piece_len);
    body[piece_len * repeat] = '\0';
    *len_out = piece_len * repeat;
    return body;
}

/* What a parsed body holds is proportional to it: a megabyte of '&'
 * once held a 16-byte slot for every one of them (16 MiB), and every
 * pair two allocations of its own. Now: the pairs that are there (at
 * most FORM_MAX_PAIRS) and one copy of the text. */
static void test_memory_is_proportional_to_the_body(void **state)
{
    (void)state;
    size_t len = 0;
    form_t form;

    char *body = repeated("&", 1024 * 1024, &len);
    size_t before = heap_in_use();
    assert_int_equal(form_parse(body, len, &form), 0);
    assert_int_equal(form.count, 0);
    assert_true(heap_in_use() - before < 4096);
    form_free(&form);
    free(body);

    body = repeated("a=1&", FORM_MAX_PAIRS, &len);
    before = heap_in_use();
    assert_int_equal(form_parse(body, len, &form), 0);
    assert_int_equal(form.count, FORM_MAX_PAIRS);
    size_t held = heap_in_use() - before;
    if (held > len + FORM_MAX_PAIRS * (sizeof(form_pair_t) + 2) + 4096)
        fail_msg("%zu pairs in %zu bytes hold %zu bytes", form.count, len, held);
    assert_string_equal(form.pairs[FORM_MAX_PAIRS - 1].value, "1");
    form_free(&form);
    free(body);

    body = repeated("a=1&", FORM_MAX_PAIRS + 1, &len);
    before = heap_in_use();
    assert_int_equal(form_parse(body, len, &form), -1);
    assert_null(form.pairs);
    assert_true(heap_in_use() - before < 4096);
    free(body);

    /* one long value: one copy of it */
    body = repeated("x", 1024 * 1024, &len);
    memcpy(body, "comment=", 8);
    before = heap_in_use();
    assert_int_equal(form_parse(body, len, &form), 0);
    held = heap_in_use() - before;
    if (held > len + 4096)
        fail_msg("a %zu-byte body holds %zu bytes", len, held);
    form_free(&form);
    free(body);

    /* a payment JSON of tiny values is refused, not handed to jansson */
    form_order_t order;
    for (size_t values = FORM_MAX_JSON_VALUES - 3; values <= FORM_MAX_JSON_VALUES - 2; values++) {
        body = repeated("0,", values - 1, &len);
        char *prefixed = malloc(len + 32);
        assert_non_null(prefixed);
        snprintf(prefixed, len + 32, "payment={\"products\":[%s0]}", body);
        form = parse_ok(prefixed);
        /* the object, its member and the array count too: values + 3 */
        assert_int_equal(form_order_read(&form, NULL, &order),
                         values + 3 > FORM_MAX_JSON_VALUES ? -1 : 0);
        form_order_free(&order);
        form_free(&form);
        free(prefixed);
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_decodes),
        cmocka_unit_test(test_parse_refuses_malformed_bodies),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_field_map),
        cmocka_unit_test(test_tilda_cart),
        cmocka_unit_test(test_custom_field_map),
        cmocka_unit_test(test_json_payment),
        cmocka_unit_test(test_connection_probe),
        cmocka_unit_test(test_hostile_carts),
        cmocka_unit_test(test_memory_is_proportional_to_the_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
