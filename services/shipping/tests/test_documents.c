/*
 * test_documents.c — the warehouse's paper without a database, read back
 * with pdftotext: a manifest of 120 parcels of two carriers runs over
 * numbered pages with every parcel once and the right totals, in all and
 * per carrier; a sticker without a tracking number carries the order's
 * number instead; a packing slip of an order whose lines were never kept
 * says so rather than printing an empty table; a recipient's name longer
 * than its manifest cell is cut, not spilled.
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

#include "services/shipping/documents.h"

static pdf_fonts_t fonts = {PDF_FONT_DEFAULT, PDF_FONT_BOLD_DEFAULT};

/* The text pdftotext reads from pdf (freed by the caller). */
static char *text_of(unsigned char *pdf, size_t len)
{
    char path[] = "/tmp/test_documents_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pdf, len), (ssize_t)len);
    close(fd);
    char command[128];
    snprintf(command, sizeof command, "pdftotext -q -layout %s - 2>/dev/null", path);
    FILE *out = popen(command, "r");
    assert_non_null(out);
    size_t cap = 1 << 21, used = 0, n;
    char *text = malloc(cap);
    assert_non_null(text);
    while ((n = fread(text + used, 1, cap - 1 - used, out)) > 0)
        used += n;
    text[used] = '\0';
    pclose(out);
    unlink(path);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static json_t *parcel(int i, const char *carrier, const char *name, const char *tracking)
{
    return json_pack("{s:s, s:I, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:I, s:s, s:s, s:s?, s:[]}",
                     "order_id", "2f1c0d5e-8f5b-4f3a-9a43-0c1d2e3f4a5b", "order_number",
                     (json_int_t)(10000 + i), "method", "courier", "address", "postal_code",
                     "125009", "city", "Москва", "line1", "ул. Тверская, д. 7", "recipient", "name",
                     name, "phone", "+79123456789", "weight_g", (json_int_t)(1000 + i), "carrier",
                     carrier, "service", "box", "tracking_number", tracking, "lines");
}

static void test_a_long_manifest_pages_and_totals(void **state)
{
    (void)state;
    json_t *parcels = json_array();
    long long grams = 0;
    for (int i = 1; i <= 120; i++) {
        char tracking[32];
        snprintf(tracking, sizeof tracking, "TRK%05d", i);
        const char *name = i == 7 ? "Константин Константинопольский-Длинноименный Третий" : "Ольга";
        json_array_append_new(parcels, parcel(i, i % 3 ? "cdek" : "russian_post", name, tracking));
        grams += 1000 + i;
    }
    json_t *batch = json_pack("{s:s, s:s, s:s, s:o}", "number", "20261205001", "status", "open",
                              "created_at", "05.12.2026 10:00", "parcels", parcels);
    unsigned char *pdf = NULL;
    size_t len = 0;
    char why[DOCUMENT_WHY_SIZE] = "";
    assert_int_equal(documents_manifest(&fonts, batch, &pdf, &len, why), 0);
    assert_memory_equal(pdf, "%PDF-", 5);
    char *text = text_of(pdf, len);
    assert_non_null(strstr(text, "Manifest: batch 20261205001"));
    assert_int_equal(count_of(text, "TRK"), 120);
    assert_non_null(strstr(text, "TRK00120"));
    assert_non_null(strstr(text, "Manifest 20261205001 · page 2 of")); /* more than one page */
    assert_int_equal(grams, 127260);                                   /* 120 x 1000 + 7260 */
    assert_non_null(strstr(text, "120 parcels"));
    assert_non_null(strstr(text, "127.260"));
    assert_non_null(strstr(text, "80 parcels, 84.800 kg")); /* cdek: i % 3 != 0 */
    assert_non_null(strstr(text, "40 parcels, 42.460 kg")); /* russian_post */
    assert_null(strstr(text, "Длинноименный Третий"));      /* cut in its cell */
    assert_non_null(strstr(text, "Константин"));
    free(text);
    free(pdf);
    json_decref(batch);
}

static void test_a_sticker_without_a_label_carries_the_order_number(void **state)
{
    (void)state;
    json_t *one = parcel(1, "cdek", "Иван Петров", NULL);
    unsigned char *pdf = NULL;
    size_t len = 0;
    char why[DOCUMENT_WHY_SIZE] = "";
    assert_int_equal(documents_sticker(&fonts, one, &pdf, &len, why), 0);
    char *text = text_of(pdf, len);
    assert_non_null(strstr(text, "Иван Петров"));
    assert_non_null(strstr(text, "No label yet"));
    assert_int_equal(count_of(text, "10001"), 2); /* the heading and under the barcode */
    free(text);
    free(pdf);
    /* a slip of an order whose lines were not kept says so */
    assert_int_equal(documents_packing_slip(&fonts, one, &pdf, &len, why), 0);
    text = text_of(pdf, len);
    assert_non_null(strstr(text, "were not kept"));
    assert_non_null(strstr(text, "Order No. 10001"));
    free(text);
    free(pdf);
    json_decref(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_long_manifest_pages_and_totals),
        cmocka_unit_test(test_a_sticker_without_a_label_carries_the_order_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
