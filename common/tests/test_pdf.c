/*
 * test_pdf.c — the document writer (common/pdf.h) and Code 128
 * (common/code128.h), read back by other programs: a document with
 * Cyrillic text is a PDF ("%PDF-" ... "%%EOF") with its TrueType font
 * embedded, and poppler's pdftotext finds the Cyrillic in it; a long
 * table breaks onto pages with its header repeated and its last row
 * there; a cell too long for its lines ends in an ellipsis; a barcode,
 * rasterised by pdftoppm, is read by zbarimg as the text it encodes (code
 * sets B and C); failures are return codes with a reason (no page yet,
 * a missing font, text a barcode cannot hold, too many pages), and text
 * that is not UTF-8 is drawn repaired, not refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/code128.h"
#include "common/pdf.h"

static pdf_fonts_t fonts = {PDF_FONT_DEFAULT, PDF_FONT_BOLD_DEFAULT};

/* Saves doc into a temporary file; its path in path. */
static void save_to(pdf_doc_t *doc, char path[64], unsigned char **bytes, size_t *len)
{
    assert_int_equal(pdf_doc_save(doc, bytes, len), 0);
    snprintf(path, 64, "/tmp/test_pdf_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, *bytes, *len), (ssize_t)*len);
    close(fd);
}

/* The output of a shell command (the paths are ours: no quoting needed). */
static char *run(const char *command)
{
    FILE *out = popen(command, "r");
    assert_non_null(out);
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n;
    while ((n = fread(text + len, 1, cap - 1 - len, out)) > 0)
        len += n;
    text[len] = '\0';
    pclose(out);
    return text;
}

static char *pdftotext(const char *path, const char *pages)
{
    char command[512];
    snprintf(command, sizeof command, "pdftotext -q -layout %s %s - 2>/dev/null", pages, path);
    return run(command);
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static bool contains(const unsigned char *bytes, size_t len, const char *needle)
{
    return memmem(bytes, len, needle, strlen(needle)) != NULL;
}

static void test_cyrillic_text_is_embedded_and_reads_back(void **state)
{
    (void)state;
    pdf_doc_t *doc = pdf_doc_new(&fonts, "Упаковочный лист", "order 10234");
    assert_non_null(doc);
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 15), 0);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_BOLD, 18, PDF_LEFT}, "Заказ № 10234"), 0);
    assert_int_equal(pdf_field(doc, 10, 35, "Получатель", "Иван Петров"), 0);
    assert_int_equal(pdf_field(doc, 10, 35, "Адрес", "Москва, ул. Тверская, д. 7, кв. 12"), 0);
    assert_int_equal(pdf_rule(doc), 0);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_RIGHT}, "Итого: 2 шт."), 0);
    assert_string_equal(pdf_doc_error(doc), "");
    unsigned char *bytes = NULL;
    size_t len = 0;
    char path[64];
    save_to(doc, path, &bytes, &len);
    assert_true(len > 1000);
    assert_memory_equal(bytes, "%PDF-", 5);
    assert_true(contains(bytes + len - 16, 16, "%%EOF"));
    assert_true(contains(bytes, len, "/FontFile2")); /* the TrueType program embedded */
    assert_true(contains(bytes, len, "DejaVuSans"));
    char *text = pdftotext(path, "");
    assert_non_null(strstr(text, "Заказ № 10234"));
    assert_non_null(strstr(text, "Иван Петров"));
    assert_non_null(strstr(text, "Тверская"));
    assert_non_null(strstr(text, "Итого: 2 шт."));
    assert_non_null(strstr(text, "order 10234 · page 1 of 1"));
    char *fonts_used = NULL;
    char command[256];
    snprintf(command, sizeof command, "pdffonts %s 2>/dev/null", path);
    fonts_used = run(command);
    assert_non_null(strstr(fonts_used, "DejaVuSans-Bold"));
    assert_non_null(strstr(fonts_used, "yes yes")); /* embedded, subset */
    free(fonts_used);
    free(text);
    free(bytes);
    unlink(path);
    pdf_doc_destroy(&doc);
    assert_null(doc);
}

static void test_a_long_table_breaks_pages_and_repeats_its_header(void **state)
{
    (void)state;
    pdf_doc_t *doc = pdf_doc_new(&fonts, "manifest", "batch 20261205001");
    assert_non_null(doc);
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 12), 0);
    static const pdf_column_t columns[] = {{"No.", 1, PDF_RIGHT},
                                           {"Трек-номер", 3, PDF_LEFT},
                                           {"Получатель", 4, PDF_LEFT},
                                           {"Вес, кг", 2, PDF_RIGHT}};
    assert_int_equal(pdf_table_begin(doc, columns, 4, 9, 2), 0);
    for (int i = 1; i <= 150; i++) {
        char no[16], track[32];
        snprintf(no, sizeof no, "%d", i);
        snprintf(track, sizeof track, "TRK%06d", i);
        const char *cells[] = {no, track, i == 150 ? "Последний Получатель" : "Мария Иванова",
                               "1,450"};
        assert_int_equal(pdf_table_row(doc, cells, false), 0);
    }
    assert_int_equal(pdf_table_end(doc), 0);
    size_t pages = pdf_doc_pages(doc);
    assert_true(pages >= 3);
    unsigned char *bytes = NULL;
    size_t len = 0;
    char path[64];
    save_to(doc, path, &bytes, &len);
    char *all = pdftotext(path, "");
    assert_int_equal(count_of(all, "Трек-номер"), pages); /* the header on every page */
    assert_int_equal(count_of(all, "TRK"), 150);          /* every row once */
    char last[32];
    snprintf(last, sizeof last, "-f %zu -l %zu", pages, pages);
    char *tail = pdftotext(path, last);
    assert_non_null(strstr(tail, "TRK000150"));
    assert_non_null(strstr(tail, "Последний Получатель"));
    char footer[64];
    snprintf(footer, sizeof footer, "page %zu of %zu", pages, pages);
    assert_non_null(strstr(tail, footer));
    free(tail);
    free(all);
    free(bytes);
    unlink(path);
    pdf_doc_destroy(&doc);
}

static void test_long_cells_wrap_then_end_in_an_ellipsis(void **state)
{
    (void)state;
    pdf_doc_t *doc = pdf_doc_new(&fonts, "cells", NULL);
    assert_non_null(doc);
    assert_int_equal(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5), 0);
    static const pdf_column_t columns[] = {{"Товар", 3, PDF_LEFT}, {"Кол-во", 1, PDF_RIGHT}};
    assert_int_equal(pdf_table_begin(doc, columns, 2, 8, 2), 0);
    const char *cells[] = {"Чайник электрический стеклянный с подсветкой и фильтром от накипи, "
                           "1,7 литра, 2200 Вт, белый, гарантия два года КОНЕЦСТРОКИ",
                           "2"};
    assert_int_equal(pdf_table_row(doc, cells, false), 0);
    /* one word longer than the column is cut inside the word */
    const char *word[] = {"ОченьДлинноеСловоБезПробеловКотороеНеПомещаетсяВКолонкуНиКак", "1"};
    assert_int_equal(pdf_table_row(doc, word, true), 0);
    assert_int_equal(pdf_table_end(doc), 0);
    /* a paragraph of one huge word wraps over several lines */
    char huge[1200];
    size_t used = 0;
    for (int i = 0; i < 100; i++, used += strlen("Слово"))
        memcpy(huge + used, "Слово", strlen("Слово"));
    huge[used] = '\0';
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 9, PDF_LEFT}, huge), 0);
    unsigned char *bytes = NULL;
    size_t len = 0;
    char path[64];
    save_to(doc, path, &bytes, &len);
    char *text = pdftotext(path, "");
    assert_non_null(strstr(text, "Чайник"));
    assert_non_null(strstr(text, "…"));
    assert_null(strstr(text, "КОНЕЦСТРОКИ"));
    assert_non_null(strstr(text, "ОченьДлинное"));
    assert_true(count_of(text, "Слово") >= 90); /* all of it drawn, over several lines */
    free(text);
    free(bytes);
    unlink(path);
    pdf_doc_destroy(&doc);
}

/* A sticker's barcode, rasterised and scanned, is the text. */
static void scan_back(const char *code)
{
    pdf_doc_t *doc = pdf_doc_new(&fonts, "sticker", NULL);
    assert_non_null(doc);
    assert_int_equal(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5), 0);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_BOLD, 14, PDF_CENTER}, "Заказ 10234"), 0);
    assert_int_equal(pdf_barcode(doc, code, 22), 0);
    unsigned char *bytes = NULL;
    size_t len = 0;
    char path[64], command[512];
    save_to(doc, path, &bytes, &len);
    snprintf(command, sizeof command,
             "pdftoppm -r 200 -gray -png %s %s.scan 2>/dev/null && zbarimg -q --raw %s.scan-1.png "
             "2>/dev/null; "
             "rm -f %s.scan-1.png",
             path, path, path, path);
    char *read = run(command);
    char expected[80];
    snprintf(expected, sizeof expected, "%s\n", code);
    assert_string_equal(read, expected);
    char *text = pdftotext(path, "");
    assert_non_null(strstr(text, code)); /* and in large type under it */
    free(text);
    free(read);
    free(bytes);
    unlink(path);
    pdf_doc_destroy(&doc);
}

static void test_a_barcode_scans_back(void **state)
{
    (void)state;
    scan_back("CD123456789RU");          /* code set B */
    scan_back("20261205001");            /* odd digits: B */
    scan_back("9400111899223197428490"); /* even digits: code set C */
}

static void test_code128_symbols(void **state)
{
    (void)state;
    uint8_t widths[CODE128_WIDTHS_MAX];
    size_t count = 0, modules = 0;
    /* "PJJ123C": start B, 7 data, check (879 mod 103 = 55), stop */
    assert_int_equal(code128_encode("PJJ123C", widths, &count, &modules), 0);
    assert_int_equal(count, 9 * 6 + 7);
    assert_int_equal(modules, 9 * 11 + 13);
    static const uint8_t start_b[] = {2, 1, 1, 2, 1, 4}, check_55[] = {3, 1, 1, 3, 2, 1},
                         stop[] = {2, 3, 3, 1, 1, 1, 2};
    assert_memory_equal(widths, start_b, 6);
    assert_memory_equal(widths + 8 * 6, check_55, 6);
    assert_memory_equal(widths + 9 * 6, stop, 7);
    /* "1234": start C, 12, 34, check (105 + 12 + 68 = 185 mod 103 = 82) */
    assert_int_equal(code128_encode("1234", widths, &count, &modules), 0);
    assert_int_equal(count, 4 * 6 + 7);
    static const uint8_t start_c[] = {2, 1, 1, 2, 3, 2}, check_82[] = {1, 2, 1, 2, 4, 1};
    assert_memory_equal(widths, start_c, 6);
    assert_memory_equal(widths + 3 * 6, check_82, 6);
    /* what it cannot hold */
    assert_int_equal(code128_encode("", widths, &count, &modules), -1);
    assert_int_equal(code128_encode("Иван", widths, &count, &modules), -1);
    assert_int_equal(code128_encode("tab\there", widths, &count, &modules), -1);
    char longer[CODE128_TEXT_MAX + 2];
    memset(longer, 'A', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(code128_encode(longer, widths, &count, &modules), -1);
    longer[CODE128_TEXT_MAX] = '\0';
    assert_int_equal(code128_encode(longer, widths, &count, &modules), 0);
    assert_true(count <= CODE128_WIDTHS_MAX);
}

static void test_failures_are_return_codes(void **state)
{
    (void)state;
    /* a missing font: no document, and a reason naming the file */
    pdf_fonts_t missing = {"/nonexistent/NoSuchFont.ttf", PDF_FONT_BOLD_DEFAULT};
    char why[600];
    assert_int_equal(pdf_fonts_check(&missing, why, sizeof why), -1);
    assert_non_null(strstr(why, "/nonexistent/NoSuchFont.ttf"));
    pdf_doc_t *doc = pdf_doc_new(&missing, "x", NULL); /* failed, not NULL: it says why */
    assert_non_null(doc);
    assert_non_null(strstr(pdf_doc_error(doc), "/nonexistent/NoSuchFont.ttf"));
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 10), -1);
    pdf_doc_destroy(&doc);
    /* a file that is not a font */
    pdf_fonts_t not_font = {PDF_FONT_DEFAULT, "/etc/hostname"};
    assert_int_equal(pdf_fonts_check(&not_font, why, sizeof why), -1);
    assert_non_null(strstr(why, "/etc/hostname"));
    assert_int_equal(pdf_fonts_check(&fonts, why, sizeof why), 0);

    /* drawing before a page: -1 and a reason; the document stays failed */
    doc = pdf_doc_new(&fonts, "x", NULL);
    assert_non_null(doc);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_LEFT}, "x"), -1);
    assert_non_null(strstr(pdf_doc_error(doc), "no page"));
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 10), -1);
    unsigned char *bytes = (unsigned char *)"x";
    size_t len = 1;
    assert_int_equal(pdf_doc_save(doc, &bytes, &len), -1);
    assert_null(bytes);
    assert_int_equal(len, 0);
    pdf_doc_destroy(&doc);

    /* text a barcode cannot hold */
    doc = pdf_doc_new(&fonts, "x", NULL);
    assert_int_equal(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5), 0);
    assert_int_equal(pdf_barcode(doc, "Трек", 20), -1);
    assert_non_null(strstr(pdf_doc_error(doc), "Code 128"));
    pdf_doc_destroy(&doc);

    /* bounds: sizes and pages */
    doc = pdf_doc_new(&fonts, "x", NULL);
    assert_int_equal(pdf_page_add(doc, 5, 5, 1), -1);
    pdf_doc_destroy(&doc);
    doc = pdf_doc_new(&fonts, "x", NULL);
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 10), 0);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 200, PDF_LEFT}, "x"), -1);
    pdf_doc_destroy(&doc);
    doc = pdf_doc_new(&fonts, "x", NULL);
    int rc = 0;
    for (int i = 0; i < PDF_PAGES_MAX && rc == 0; i++)
        rc = pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5);
    assert_int_equal(rc, 0);
    assert_int_equal(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5), -1);
    assert_non_null(strstr(pdf_doc_error(doc), "too many pages"));
    pdf_doc_destroy(&doc);

    /* saved once; a second save or a write after it fails */
    doc = pdf_doc_new(&fonts, "x", NULL);
    assert_int_equal(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5), 0);
    assert_int_equal(pdf_doc_save(doc, &bytes, &len), 0);
    free(bytes);
    assert_int_equal(pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_LEFT}, "x"), -1);
    pdf_doc_destroy(&doc);
    pdf_doc_destroy(&doc); /* NULL-safe */
}

static void test_text_that_is_not_utf8_is_repaired(void **state)
{
    (void)state;
    pdf_doc_t *doc = pdf_doc_new(&fonts, "\xff title", NULL);
    assert_non_null(doc);
    assert_int_equal(pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 10), 0);
    assert_int_equal(
        pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_LEFT}, "Иван\xff\xfe\x01Петров\xd0"), 0);
    const char *cells[] = {"\xc3", NULL};
    static const pdf_column_t columns[] = {{"a", 1, PDF_LEFT}, {"b", 1, PDF_LEFT}};
    assert_int_equal(pdf_table_begin(doc, columns, 2, 9, 1), 0);
    assert_int_equal(pdf_table_row(doc, cells, false), 0);
    assert_int_equal(pdf_table_end(doc), 0);
    unsigned char *bytes = NULL;
    size_t len = 0;
    char path[64];
    save_to(doc, path, &bytes, &len);
    char *text = pdftotext(path, "");
    assert_non_null(strstr(text, "Иван"));
    assert_non_null(strstr(text, "Петров"));
    free(text);
    free(bytes);
    unlink(path);
    pdf_doc_destroy(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyrillic_text_is_embedded_and_reads_back),
        cmocka_unit_test(test_a_long_table_breaks_pages_and_repeats_its_header),
        cmocka_unit_test(test_long_cells_wrap_then_end_in_an_ellipsis),
        cmocka_unit_test(test_a_barcode_scans_back),
        cmocka_unit_test(test_code128_symbols),
        cmocka_unit_test(test_failures_are_return_codes),
        cmocka_unit_test(test_text_that_is_not_utf8_is_repaired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
