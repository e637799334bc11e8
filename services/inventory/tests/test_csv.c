/*
 * test_csv.c — CSV as spreadsheets and accounting systems write it: the
 * delimiter guessed from the header (',', ';', tab), a byte-order mark
 * skipped, CRLF and LF, quoted fields holding delimiters, quotes and line
 * breaks, blank lines skipped, and every record and every error carrying
 * the line it starts on; malformed input (an unclosed quote, text after a
 * closing quote, a NUL byte, a field over the cap, too many fields) is
 * refused with the line instead of read wrongly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/inventory/csv.h"

static csv_reader_t *reader_of(const char *text)
{
    csv_reader_t *csv = csv_reader_new(text, strlen(text));
    assert_non_null(csv);
    return csv;
}

static void expect_record(csv_reader_t *csv, unsigned line, size_t count, ...)
{
    csv_record_t record;
    assert_int_equal(csv_next(csv, &record), CSV_RECORD);
    assert_int_equal(record.line, line);
    assert_int_equal(record.count, count);
    va_list ap;
    va_start(ap, count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(record.fields[i], va_arg(ap, const char *));
    va_end(ap);
}

static void test_plain_commas(void **state)
{
    (void)state;
    csv_reader_t *csv = reader_of("sku,name,price\nA-1,Mug,100\nA-2,,5");
    assert_int_equal(csv_delimiter(csv), ',');
    expect_record(csv, 1, 3, "sku", "name", "price");
    expect_record(csv, 2, 3, "A-1", "Mug", "100");
    expect_record(csv, 3, 3, "A-2", "", "5");
    csv_record_t record;
    assert_int_equal(csv_next(csv, &record), CSV_END);
    assert_int_equal(csv_next(csv, &record), CSV_END);
    csv_reader_destroy(&csv);
    assert_null(csv);
}

static void test_excel_semicolons_bom_and_crlf(void **state)
{
    (void)state;
    csv_reader_t *csv = reader_of("\xEF\xBB\xBFsku;name;price\r\nK-1;\"Чайник, 1,7 л\";1 299,90\r\n"
                                  "\r\nK-2;Кружка;490\r\n");
    assert_int_equal(csv_delimiter(csv), ';');
    expect_record(csv, 1, 3, "sku", "name", "price");
    expect_record(csv, 2, 3, "K-1", "Чайник, 1,7 л", "1 299,90");
    expect_record(csv, 4, 3, "K-2", "Кружка", "490"); /* line 3 was blank */
    csv_record_t record;
    assert_int_equal(csv_next(csv, &record), CSV_END);
    csv_reader_destroy(&csv);
}

static void test_tabs(void **state)
{
    (void)state;
    csv_reader_t *csv = reader_of("sku\tname\nT-1\ta,b;c\n");
    assert_int_equal(csv_delimiter(csv), '\t');
    expect_record(csv, 1, 2, "sku", "name");
    expect_record(csv, 2, 2, "T-1", "a,b;c");
    csv_reader_destroy(&csv);
}

static void test_quotes_and_line_breaks_inside_fields(void **state)
{
    (void)state;
    csv_reader_t *csv = reader_of("sku,name,comment\n"
                                  "Q-1,\"Set \"\"Chef\"\" 3 pcs\",\"two\nlines\"\n"
                                  "Q-2,\"\",\"\"\"\"\n"
                                  "Q-3,plain \"inner\" quotes,x");
    expect_record(csv, 1, 3, "sku", "name", "comment");
    expect_record(csv, 2, 3, "Q-1", "Set \"Chef\" 3 pcs", "two\nlines");
    /* the record after a two-line field starts on line 4 */
    expect_record(csv, 4, 3, "Q-2", "", "\"");
    expect_record(csv, 5, 3, "Q-3", "plain \"inner\" quotes", "x");
    csv_reader_destroy(&csv);
}

static void expect_error(const char *text, size_t len, unsigned line, const char *words)
{
    csv_reader_t *csv = csv_reader_new(text, len);
    assert_non_null(csv);
    csv_record_t record;
    csv_status_t status;
    while ((status = csv_next(csv, &record)) == CSV_RECORD)
        ;
    assert_int_equal(status, CSV_ERROR);
    assert_int_equal(csv_error_line(csv), line);
    assert_non_null(strstr(csv_error(csv), words));
    assert_int_equal(csv_next(csv, &record), CSV_ERROR);
    csv_reader_destroy(&csv);
}

static void test_malformed_input_names_its_line(void **state)
{
    (void)state;
    const char *unclosed = "a,b\n1,2\n3,\"never\nclosed\n";
    expect_error(unclosed, strlen(unclosed), 3, "never closed");
    const char *after = "a,b\n1,\"x\"y\n";
    expect_error(after, strlen(after), 2, "after a closing quote");
    const char nul[] = "a,b\n1,2\n3,\0\n";
    expect_error(nul, sizeof nul - 1, 3, "NUL");

    char *huge = malloc(CSV_FIELD_MAX + 32);
    assert_non_null(huge);
    memcpy(huge, "a\n", 2);
    memset(huge + 2, 'x', CSV_FIELD_MAX + 1);
    huge[CSV_FIELD_MAX + 3] = '\0';
    expect_error(huge, strlen(huge), 2, "longer than");
    free(huge);

    char wide[CSV_FIELDS_MAX + 8] = "a\n";
    memset(wide + 2, ',', CSV_FIELDS_MAX + 1); /* 66 empty fields */
    wide[CSV_FIELDS_MAX + 3] = '\0';
    expect_error(wide, strlen(wide), 2, "too many fields");
}

static void test_empty_text(void **state)
{
    (void)state;
    csv_reader_t *csv = reader_of("");
    csv_record_t record;
    assert_int_equal(csv_next(csv, &record), CSV_END);
    csv_reader_destroy(&csv);
    csv = reader_of("\n\n\r\n");
    assert_int_equal(csv_next(csv, &record), CSV_END);
    csv_reader_destroy(&csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_commas),
        cmocka_unit_test(test_excel_semicolons_bom_and_crlf),
        cmocka_unit_test(test_tabs),
        cmocka_unit_test(test_quotes_and_line_breaks_inside_fields),
        cmocka_unit_test(test_malformed_input_names_its_line),
        cmocka_unit_test(test_empty_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
