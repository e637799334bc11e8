/*
 * test_import.c — bulk imports read and checked before anything is
 * written: CSV columns by name (and MoySklad's Russian names), empty cells
 * as "not given", every bad row named by its line with the reason (and a
 * "line" member), a SKU or an external code twice, rows that cannot be
 * read at all, the JSON form with its paths; then the check against the
 * catalogue: what a new product lacks, stock below what is reserved, an
 * external code another product holds (unless this import moves it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/inventory/import.h"

static bool named(const problems_t *problems, const char *field, const char *code, int line)
{
    const json_t *errors = problems_errors(problems);
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
            strcmp(json_string_value(json_object_get(e, "code")), code) == 0 &&
            (line == 0 || json_integer_value(json_object_get(e, "line")) == line))
            return true;
    }
    return false;
}

static int parse_csv(const char *text, import_t *import, problems_t *problems)
{
    assert_int_equal(problems_init(problems), 0);
    return import_parse_csv(text, strlen(text), import, problems);
}

static void test_columns_by_name(void **state)
{
    (void)state;
    import_t import;
    problems_t problems;
    assert_int_equal(parse_csv("Артикул;Наименование;Цена продажи;НДС;weight_g;Остаток\n"
                               "KT-1; Чайник ;3 490,00;20%;1450;5\n"
                               "KT-2;;;;;7\n",
                               &import, &problems),
                     0);
    assert_int_equal(import.count, 2);
    const product_input_t *a = &import.rows[0].input;
    assert_string_equal(a->sku, "KT-1");
    assert_string_equal(a->name, "Чайник"); /* trimmed */
    assert_int_equal(a->price_minor, 349000);
    assert_int_equal(a->vat_rate_bp, 2000);
    assert_int_equal(a->on_hand, 5);
    assert_int_equal(import.rows[0].line, 2);
    const product_input_t *b = &import.rows[1].input;
    assert_int_equal(b->given, PRODUCT_SKU | PRODUCT_ON_HAND); /* empty cells: not given */
    import_release(&import);
    problems_release(&problems);
}

static void test_bad_rows_are_named_by_line(void **state)
{
    (void)state;
    import_t import;
    problems_t problems;
    int found = parse_csv("sku,price_minor,on_hand,external_code\n"
                          "A-1,100,1,X1\n"
                          "A-2,abc,1,X2\n"
                          ",100,1,\n"
                          "\n"
                          "A-1,100,-3,X1\n"
                          "A-5,\"1\n00\",1,\n",
                          &import, &problems);
    assert_true(found > 0);
    assert_int_equal((size_t)found, problems_count(&problems));
    assert_true(named(&problems, "line 3: price_minor", "invalid", 3));
    assert_true(named(&problems, "line 4: sku", "required", 4));
    assert_true(named(&problems, "line 6: on_hand", "too_small", 6));
    assert_true(named(&problems, "line 6: sku", "duplicate", 6));
    assert_true(named(&problems, "line 6: external_code", "duplicate", 6));
    /* a quoted line break: the record starts on line 7 */
    assert_true(named(&problems, "line 7: price_minor", "invalid", 7));
    assert_false(named(&problems, "line 2: sku", "duplicate", 0));
    import_release(&import);
    problems_release(&problems);
}

static void test_unreadable_files(void **state)
{
    (void)state;
    import_t import;
    problems_t problems;
    assert_true(parse_csv("", &import, &problems) > 0);
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("name,price\nKettle,1\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 1: sku", "required", 1));
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("sku,colour\nA,red\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 2: colour", "unknown", 2));
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("sku,sku\nA,B\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 1: sku", "duplicate", 1));
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("sku,name\nA,\xD7\xE0\xE9\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 2: name", "invalid", 2));
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("sku\nA,extra\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 2: ", "invalid", 2));
    import_release(&import);
    problems_release(&problems);

    assert_true(parse_csv("sku,name\nA,\"open\n", &import, &problems) > 0);
    assert_true(named(&problems, "line 2", "malformed", 2));
    import_release(&import);
    problems_release(&problems);
}

static void test_json_rows(void **state)
{
    (void)state;
    json_error_t error;
    json_t *body = json_loads("{\"products\":[{\"sku\":\"J-1\",\"vat\":\"x\"},"
                              "{\"sku\":\"J-2\",\"on_hand\":4},{\"price_minor\":1}],\"x\":1}",
                              0, &error);
    assert_non_null(body);
    import_t import;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    assert_true(import_parse_json(body, &import, &problems) > 0);
    assert_true(named(&problems, "products[0].vat", "invalid", 0));
    assert_true(named(&problems, "products[2].sku", "required", 0));
    assert_true(named(&problems, "x", "unknown", 0));
    assert_int_equal(import.count, 3);
    assert_int_equal(import.rows[1].input.on_hand, 4);
    import_release(&import);
    problems_release(&problems);
    json_decref(body);
}

static void test_checks_against_the_catalogue(void **state)
{
    (void)state;
    import_t import;
    problems_t problems;
    assert_int_equal(parse_csv("sku,name,on_hand,external_code,price_minor\n"
                               "OLD-1,,2,,\n"       /* 2 < 3 reserved */
                               "NEW-1,Mug,1,,\n"    /* a new product without price... */
                               "OLD-2,,,CODE-9,\n"  /* CODE-9 is OLD-3's */
                               "OLD-4,,,CODE-5,\n"  /* CODE-5 moves from OLD-5 ... */
                               "OLD-5,,,CODE-6,\n", /* ... which takes another */
                               &import, &problems),
                     0);
    import_known_t known[] = {
        {"OLD-5", 0, 0},
        {"OLD-1", 10, 3},
        {"OLD-2", 1, 0},
        {"OLD-4", 0, 0},
    };
    import_code_t codes[] = {{"CODE-9", "OLD-3"}, {"CODE-5", "OLD-5"}};
    size_t added = import_check_catalogue(&import, known, 4, codes, 2, &problems);
    assert_true(named(&problems, "line 2: on_hand", "below_reserved", 2));
    assert_true(named(&problems, "line 3: price_minor", "required", 3));
    assert_true(named(&problems, "line 3: vat_rate_bp", "required", 3));
    assert_true(named(&problems, "line 3: weight_g", "required", 3));
    assert_true(named(&problems, "line 4: external_code", "duplicate", 4));
    assert_false(named(&problems, "line 5: external_code", "duplicate", 0));
    assert_int_equal(added, 5);
    assert_true(import.rows[0].exists);
    assert_int_equal(import.rows[0].old_reserved, 3);
    assert_false(import.rows[1].exists);
    import_release(&import);
    problems_release(&problems);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_by_name),
        cmocka_unit_test(test_bad_rows_are_named_by_line),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_json_rows),
        cmocka_unit_test(test_checks_against_the_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
