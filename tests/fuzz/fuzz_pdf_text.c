/*
 * fuzz_pdf_text.c — text from outside (a customer's name, an address, a
 * line's name) laid out by the kit's document writer (common/pdf.h):
 * made well-formed UTF-8, wrapped, cut with an ellipsis in table cells,
 * drawn in the embedded font, on as many pages as it takes.
 *
 * Input: a mode byte (page size, font size, lines per cell), then the
 * text; tabs split it into the cells of a table row. Checks: whatever the
 * text, the document saves and is a PDF ("%PDF-"), never more than
 * PDF_PAGES_MAX pages; a barcode of the text either draws or fails with a
 * reason (text that is not printable ASCII), never crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pdf.h"
#include "tests/fuzz/fuzz.h"

#define TEXT_CAP 20000

static pdf_fonts_t fonts = {PDF_FONT_DEFAULT, PDF_FONT_BOLD_DEFAULT};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > TEXT_CAP)
        return 0;
    uint8_t mode = data[0];
    char *text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    bool label = mode & 1;
    double font = 5 + (mode >> 1 & 7) * 3; /* 5..26 pt */
    int lines = 1 + (mode >> 4 & 3);

    pdf_doc_t *doc = pdf_doc_new(&fonts, text, text);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(pdf_page_add(doc, label ? PDF_LABEL_WIDTH_MM : PDF_A4_WIDTH_MM,
                            label ? PDF_LABEL_HEIGHT_MM : PDF_A4_HEIGHT_MM, 5) == 0);
    FUZZ_CHECK(pdf_text(doc, &(pdf_style_t){PDF_BOLD, font, PDF_CENTER}, text) == 0);
    FUZZ_CHECK(pdf_field(doc, 9, 25, text, text) == 0);
    const char *cells[4] = {NULL, NULL, NULL, NULL};
    char *cursor = text;
    for (size_t c = 0; c < 4 && cursor; c++) {
        cells[c] = cursor;
        cursor = strchr(cursor, '\t');
        if (cursor)
            *cursor++ = '\0';
    }
    static const pdf_column_t columns[] = {
        {"#", 1, PDF_RIGHT}, {"Текст", 4, PDF_LEFT}, {"Ещё", 2, PDF_CENTER}, {"Kg", 1, PDF_RIGHT}};
    FUZZ_CHECK(pdf_table_begin(doc, columns, 4, font > 12 ? 12 : font, lines) == 0);
    FUZZ_CHECK(pdf_table_row(doc, cells, mode & 0x40) == 0);
    FUZZ_CHECK(pdf_table_end(doc) == 0);
    unsigned char *pdf = NULL;
    size_t len = 0;
    FUZZ_CHECK(pdf_doc_save(doc, &pdf, &len) == 0);
    FUZZ_CHECK(len > 5 && memcmp(pdf, "%PDF-", 5) == 0);
    FUZZ_CHECK(pdf_doc_pages(doc) >= 1 && pdf_doc_pages(doc) <= PDF_PAGES_MAX);
    free(pdf);
    pdf_doc_destroy(&doc);

    doc = pdf_doc_new(&fonts, "barcode", NULL);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(pdf_page_add(doc, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5) == 0);
    if (pdf_barcode(doc, text, 20) != 0)
        FUZZ_CHECK(pdf_doc_error(doc)[0] != '\0');
    pdf_doc_destroy(&doc);
    free(text);
    return 0;
}
