/*
 * pdf.c — the document writer over libharu (pdf.h): fonts loaded with
 * UTF-8 encoding and embedded, a cursor flowing down pages, wrapping by
 * libharu's own text measure, tables, Code 128, saving to memory.
 *
 * libharu draws in points from the bottom left; the cursor (y) is the
 * top of the next content in points from the bottom. Text is drawn one
 * line at a time (BeginText, TextOut, EndText) so graphics and text never
 * interleave inside a text object.
 */
#include "common/pdf.h"

#include <errno.h>
#include <stdarg.h>
#include <hpdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/code128.h"
#include "common/log.h"
#include "common/utf8.h"

#define PT_PER_MM       (72.0 / 25.4)
#define TEXT_MAX        8192 /* bytes of one call's text drawn; the rest is cut */
#define LINE_MAX_BYTES  1024 /* bytes of one drawn line */
#define LINE_SPACING    1.25 /* line height over font size */
#define CELL_PAD_PT     2.5
#define FOOTER_SIZE_PT  7.0
#define ELLIPSIS        "\xE2\x80\xA6" /* U+2026 */
#define MAX_CELL_LINES  10
#define BARCODE_QUIET   10  /* modules each side */
#define BARCODE_MODULE  0.5 /* mm: the widest module drawn */
#define BARCODE_TEXT_PT 16.0

struct pdf_doc {
    HPDF_Doc pdf;
    HPDF_Font regular, bold;
    char error[256];
    bool failed, saved;
    char *footer; /* NULL: none */
    HPDF_Page pages[PDF_PAGES_MAX];
    size_t n_pages;
    /* the current page */
    double width, height, margin; /* points */
    double y;                     /* the cursor */
    /* the table under way */
    const pdf_column_t *columns;
    size_t n_columns;
    double column_x[PDF_TABLE_COLUMNS_MAX + 1];
    double table_size;
    int table_lines;
};

/* --- errors ---------------------------------------------------------------------------- */

/* Fails the document with the first reason given; -1. */
__attribute__((format(printf, 2, 3))) static int fail(pdf_doc_t *doc, const char *fmt, ...)
{
    if (!doc->failed) {
        doc->failed = true;
        va_list args;
        va_start(args, fmt);
        vsnprintf(doc->error, sizeof doc->error, fmt, args);
        va_end(args);
    }
    return -1;
}

/* libharu's error handler: the first error kept, the document failed;
 * libharu then returns the error code from the call that failed. */
static void on_hpdf_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
    pdf_doc_t *doc = user_data;
    if (!doc->failed) {
        doc->failed = true;
        snprintf(doc->error, sizeof doc->error, "libharu error 0x%04X (detail %u)",
                 (unsigned)error_no, (unsigned)detail_no);
    }
}

/* 0 when libharu's last call succeeded and nothing failed before. */
static int check(pdf_doc_t *doc, HPDF_STATUS status)
{
    if (status != HPDF_OK && !doc->failed)
        on_hpdf_error(status, 0, doc);
    return doc->failed ? -1 : 0;
}

static HPDF_Page page_of(const pdf_doc_t *doc)
{
    return doc->n_pages ? doc->pages[doc->n_pages - 1] : NULL;
}

/* --- fonts ---------------------------------------------------------------------------- */

static int fonts_load(pdf_doc_t *doc, const pdf_fonts_t *fonts)
{
    if (check(doc, HPDF_UseUTFEncodings(doc->pdf)) != 0 ||
        check(doc, HPDF_SetCurrentEncoder(doc->pdf, "UTF-8")) != 0)
        return -1;
    const char *paths[2] = {fonts->regular, fonts->bold};
    HPDF_Font *faces[2] = {&doc->regular, &doc->bold};
    for (size_t i = 0; i < 2; i++) {
        FILE *probe = fopen(paths[i], "rb");
        if (!probe) {
            char what[PDF_FONT_PATH_MAX + 64];
            snprintf(what, sizeof what, "%s: %s", paths[i], strerror(errno));
            return fail(doc, "cannot open the font %s", what);
        }
        fclose(probe);
        const char *name = HPDF_LoadTTFontFromFile(doc->pdf, paths[i], HPDF_TRUE);
        *faces[i] = name ? HPDF_GetFont(doc->pdf, name, "UTF-8") : NULL;
        if (!*faces[i]) {
            doc->failed = false; /* say which file, not only libharu's code */
            return fail(doc, "the font %s does not load as an embeddable TrueType font", paths[i]);
        }
    }
    return 0;
}

/* --- the document --------------------------------------------------------------------- */

/* A copy of text fit to draw: at most TEXT_MAX bytes, cut on a character,
 * well-formed UTF-8, control characters but '\n' made spaces. Caller owns
 * the result; NULL on out of memory. */
static char *clean_copy(const char *text)
{
    if (!text)
        text = "";
    size_t len = strnlen(text, TEXT_MAX + 1);
    if (len > TEXT_MAX) {
        len = TEXT_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    utf8_repair(copy);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n')
            *p = ' ';
    return copy;
}

pdf_doc_t *pdf_doc_new(const pdf_fonts_t *fonts, const char *title, const char *footer)
{
    pdf_doc_t *doc = calloc(1, sizeof *doc);
    if (!doc)
        return NULL;
    doc->pdf = HPDF_New(on_hpdf_error, doc);
    if (!doc->pdf || (footer && !(doc->footer = clean_copy(footer)))) {
        pdf_doc_destroy(&doc);
        return NULL;
    }
    /* a font that does not load leaves the document failed, saying which */
    if (check(doc, HPDF_SetCompressionMode(doc->pdf, HPDF_COMP_ALL)) != 0 ||
        fonts_load(doc, fonts) != 0)
        return doc;
    char *clean = clean_copy(title);
    if (clean) {
        (void)check(doc, HPDF_SetInfoAttr(doc->pdf, HPDF_INFO_TITLE, clean));
        (void)check(doc, HPDF_SetInfoAttr(doc->pdf, HPDF_INFO_CREATOR, "conveyor"));
    }
    free(clean);
    return doc;
}

void pdf_doc_destroy(pdf_doc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pdf_doc_t *doc = *self_p;
    if (doc->pdf)
        HPDF_Free(doc->pdf);
    free(doc->footer);
    free(doc);
    *self_p = NULL;
}

int pdf_fonts_check(const pdf_fonts_t *fonts, char *why, size_t why_size)
{
    pdf_doc_t *doc = pdf_doc_new(fonts, "check", NULL);
    int rc = doc && !doc->failed ? 0 : -1;
    if (why_size)
        snprintf(why, why_size, "%s", !doc ? "no memory for a document" : doc->error);
    pdf_doc_destroy(&doc);
    return rc;
}

int pdf_fonts_from_config(const config_t *cfg, pdf_fonts_t *out)
{
    const char *regular = config_get(cfg, "PDF_FONT");
    const char *bold = config_get(cfg, "PDF_FONT_BOLD");
    if (!regular || !regular[0])
        regular = PDF_FONT_DEFAULT;
    if (!bold || !bold[0])
        bold = PDF_FONT_BOLD_DEFAULT;
    if (strlen(regular) >= sizeof out->regular || strlen(bold) >= sizeof out->bold) {
        log_error("a document font's path is too long", LF_ERR("config_invalid"),
                  LF_STR("setting", "PDF_FONT, PDF_FONT_BOLD"));
        return -1;
    }
    snprintf(out->regular, sizeof out->regular, "%s", regular);
    snprintf(out->bold, sizeof out->bold, "%s", bold);
    char why[PDF_FONT_PATH_MAX + 128];
    if (pdf_fonts_check(out, why, sizeof why) != 0) {
        log_error("the documents' fonts do not load", LF_ERR("config_invalid"), LF_STR("why", why),
                  LF_STR("setting", "PDF_FONT, PDF_FONT_BOLD"),
                  LF_STR("hint", "install fonts-dejavu-core or point the settings at TrueType "
                                 "fonts with Cyrillic"));
        return -1;
    }
    return 0;
}

const char *pdf_doc_error(const pdf_doc_t *doc)
{
    return doc ? doc->error : "no document";
}

size_t pdf_doc_pages(const pdf_doc_t *doc)
{
    return doc ? doc->n_pages : 0;
}

static int usable(pdf_doc_t *doc)
{
    if (!doc)
        return -1;
    if (doc->saved)
        return fail(doc, "the document was saved already");
    return doc->failed ? -1 : 0;
}

/* A page of the current size, the cursor at its top. */
static int page_new(pdf_doc_t *doc)
{
    if (doc->n_pages >= PDF_PAGES_MAX)
        return fail(doc, "too many pages");
    HPDF_Page page = HPDF_AddPage(doc->pdf);
    if (!page)
        return check(doc, HPDF_GetError(doc->pdf)) == 0 ? fail(doc, "no page") : -1;
    doc->pages[doc->n_pages++] = page;
    if (check(doc, HPDF_Page_SetWidth(page, (HPDF_REAL)doc->width)) != 0 ||
        check(doc, HPDF_Page_SetHeight(page, (HPDF_REAL)doc->height)) != 0)
        return -1;
    doc->y = doc->height - doc->margin;
    return 0;
}

int pdf_page_add(pdf_doc_t *doc, double width_mm, double height_mm, double margin_mm)
{
    if (usable(doc) != 0)
        return -1;
    if (width_mm < 20 || width_mm > 1000 || height_mm < 20 || height_mm > 1000 || margin_mm < 0 ||
        margin_mm * 2 > width_mm - 10 || margin_mm * 2 > height_mm - 10)
        return fail(doc, "a page size out of range");
    doc->width = width_mm * PT_PER_MM;
    doc->height = height_mm * PT_PER_MM;
    doc->margin = margin_mm * PT_PER_MM;
    return page_new(doc);
}

/* The lowest the cursor may go: the margin, and room for the footer. */
static double bottom_of(const pdf_doc_t *doc)
{
    return doc->margin + (doc->footer ? FOOTER_SIZE_PT * 2 : 0);
}

/* Makes room for height points under the cursor: a new page when they do
 * not fit (content taller than a whole page is drawn anyway, cut). */
static int room_for(pdf_doc_t *doc, double height)
{
    if (!page_of(doc))
        return fail(doc, "no page was started");
    if (doc->y - height >= bottom_of(doc) || doc->y >= doc->height - doc->margin - 0.01)
        return 0;
    return page_new(doc);
}

/* --- text ----------------------------------------------------------------------------- */

static HPDF_Font font_of(const pdf_doc_t *doc, pdf_face_t face)
{
    return face == PDF_BOLD ? doc->bold : doc->regular;
}

static double width_of(HPDF_Font font, double size, const char *text)
{
    HPDF_TextWidth tw = HPDF_Font_TextWidth(font, (const HPDF_BYTE *)text, (HPDF_UINT)strlen(text));
    return (double)tw.width * size / 1000.0;
}

/* How many bytes of text (NUL-terminated) fit in width: at a space when
 * wrap and one fits, else as many characters as fit, at least one. */
static size_t fit_bytes(pdf_doc_t *doc, HPDF_Font font, double size, const char *text, double width,
                        bool wrap)
{
    size_t len = strlen(text);
    HPDF_REAL real = 0;
    HPDF_UINT n = 0;
    if (wrap)
        n = HPDF_Font_MeasureText(font, (const HPDF_BYTE *)text, (HPDF_UINT)len, (HPDF_REAL)width,
                                  (HPDF_REAL)size, 0, 0, HPDF_TRUE, &real);
    if (n == 0)
        n = HPDF_Font_MeasureText(font, (const HPDF_BYTE *)text, (HPDF_UINT)len, (HPDF_REAL)width,
                                  (HPDF_REAL)size, 0, 0, HPDF_FALSE, &real);
    if (doc->failed)
        return 0;
    while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;                 /* a count inside a character: back to its start */
    if (n == 0 && len > 0) { /* not even one character fits: draw one anyway */
        n = 1;
        while (n < len && ((unsigned char)text[n] & 0xC0) == 0x80)
            n++;
    }
    return n;
}

typedef struct {
    char text[LINE_MAX_BYTES];
} line_t;

/* Cuts line (holding its first bytes of a longer text) so that it and an
 * ellipsis fit in width. */
static void line_ellipsis(pdf_doc_t *doc, HPDF_Font font, double size, line_t *line, double width)
{
    double room = width - width_of(font, size, ELLIPSIS);
    size_t keep = room > 0 ? fit_bytes(doc, font, size, line->text, room, false) : 0;
    if (keep > sizeof line->text - sizeof ELLIPSIS)
        keep = sizeof line->text - sizeof ELLIPSIS;
    while (keep > 0 && ((unsigned char)line->text[keep] & 0xC0) == 0x80)
        keep--;
    while (keep > 0 && line->text[keep - 1] == ' ')
        keep--;
    memcpy(line->text + keep, ELLIPSIS, sizeof ELLIPSIS);
}

/* Splits text (clean) into lines of at most width; max_lines 0: any
 * number (up to max, the array's size); the last line kept ends with an
 * ellipsis when text needed more. *count lines written. */
static void wrap(pdf_doc_t *doc, HPDF_Font font, double size, const char *text, double width,
                 line_t *lines, size_t max, size_t *count)
{
    *count = 0;
    const char *p = text;
    while (*p && *count < max && !doc->failed) {
        const char *end = strchr(p, '\n');
        size_t para = end ? (size_t)(end - p) : strlen(p);
        char buf[TEXT_MAX + 1];
        memcpy(buf, p, para);
        buf[para] = '\0';
        const char *q = buf;
        do {
            size_t n = *q ? fit_bytes(doc, font, size, q, width, true) : 0;
            if (n >= sizeof lines[0].text)
                n = sizeof lines[0].text - 1;
            while (n > 0 && ((unsigned char)q[n] & 0xC0) == 0x80)
                n--;
            line_t *line = &lines[(*count)++];
            memcpy(line->text, q, n);
            line->text[n] = '\0';
            q += n;
            while (*q == ' ')
                q++;
        } while (*q && *count < max && !doc->failed);
        bool more = *q || (end && end[1]);
        if (*count == max && more) {
            line_t *last = &lines[*count - 1];
            size_t have = strlen(last->text);
            if (*q && have + 2 < sizeof last->text) { /* the next word shows the cut */
                size_t rest = strlen(q), room = sizeof last->text - have - 2;
                size_t take = rest < room ? rest : room;
                while (take > 0 && take < rest && ((unsigned char)q[take] & 0xC0) == 0x80)
                    take--; /* whole characters only */
                last->text[have] = ' ';
                memcpy(last->text + have + 1, q, take);
                last->text[have + 1 + take] = '\0';
            }
            line_ellipsis(doc, font, size, last, width);
            return;
        }
        p = end ? end + 1 : p + para;
    }
}

/* Draws one line with its baseline at y, aligned in [x, x + width]. */
static int draw_line(pdf_doc_t *doc, HPDF_Font font, double size, pdf_align_t align, double x,
                     double width, double y, const char *text)
{
    if (!text[0])
        return 0;
    double w = width_of(font, size, text);
    if (align == PDF_RIGHT)
        x += width - w;
    else if (align == PDF_CENTER)
        x += (width - w) / 2;
    HPDF_Page page = page_of(doc);
    if (check(doc, HPDF_Page_BeginText(page)) != 0 ||
        check(doc, HPDF_Page_SetFontAndSize(page, font, (HPDF_REAL)size)) != 0 ||
        check(doc, HPDF_Page_TextOut(page, (HPDF_REAL)x, (HPDF_REAL)y, text)) != 0)
        return -1;
    return check(doc, HPDF_Page_EndText(page));
}

static bool size_ok(double size)
{
    return size >= 4 && size <= 72;
}

/* A paragraph in [x, x + width], from the cursor down, page by page. */
static int paragraph(pdf_doc_t *doc, HPDF_Font font, double size, pdf_align_t align, double x,
                     double width, const char *text)
{
    char *clean = clean_copy(text);
    if (!clean)
        return fail(doc, "no memory for text");
    enum { PARAGRAPH_LINES_MAX = 200 };
    line_t *lines = malloc(sizeof *lines * PARAGRAPH_LINES_MAX);
    size_t count = 0;
    int rc = -1;
    if (!lines) {
        fail(doc, "no memory for text");
        goto done;
    }
    wrap(doc, font, size, clean, width, lines, PARAGRAPH_LINES_MAX, &count);
    double step = size * LINE_SPACING;
    for (size_t i = 0; i < count; i++) {
        if (room_for(doc, step) != 0 ||
            draw_line(doc, font, size, align, x, width, doc->y - size, lines[i].text) != 0)
            goto done;
        doc->y -= step;
    }
    rc = doc->failed ? -1 : 0;
done:
    free(lines);
    free(clean);
    return rc;
}

int pdf_text(pdf_doc_t *doc, const pdf_style_t *style, const char *text)
{
    if (usable(doc) != 0)
        return -1;
    if (!style || !size_ok(style->size_pt))
        return fail(doc, "a text size out of range");
    if (!page_of(doc))
        return fail(doc, "no page was started");
    return paragraph(doc, font_of(doc, style->face), style->size_pt, style->align, doc->margin,
                     doc->width - 2 * doc->margin, text);
}

int pdf_field(pdf_doc_t *doc, double size_pt, double label_mm, const char *label, const char *value)
{
    if (usable(doc) != 0)
        return -1;
    double label_w = label_mm * PT_PER_MM, full = doc->width - 2 * doc->margin;
    if (!size_ok(size_pt) || label_w < 0 || label_w > full - 20)
        return fail(doc, "a field out of range");
    if (room_for(doc, size_pt * LINE_SPACING) != 0)
        return -1;
    line_t head;
    size_t n = 0;
    char *clean = clean_copy(label);
    if (!clean)
        return fail(doc, "no memory for text");
    wrap(doc, doc->bold, size_pt, clean, label_w, &head, 1, &n);
    free(clean);
    if (n && draw_line(doc, doc->bold, size_pt, PDF_LEFT, doc->margin, label_w, doc->y - size_pt,
                       head.text) != 0)
        return -1;
    return paragraph(doc, doc->regular, size_pt, PDF_LEFT, doc->margin + label_w, full - label_w,
                     value && value[0] ? value : "-");
}

int pdf_gap(pdf_doc_t *doc, double mm)
{
    if (usable(doc) != 0)
        return -1;
    if (!page_of(doc))
        return fail(doc, "no page was started");
    doc->y -= mm * PT_PER_MM;
    if (doc->y < bottom_of(doc))
        doc->y = bottom_of(doc);
    return 0;
}

static int hline(pdf_doc_t *doc, double x0, double x1, double y, double width)
{
    HPDF_Page page = page_of(doc);
    if (check(doc, HPDF_Page_SetLineWidth(page, (HPDF_REAL)width)) != 0 ||
        check(doc, HPDF_Page_MoveTo(page, (HPDF_REAL)x0, (HPDF_REAL)y)) != 0 ||
        check(doc, HPDF_Page_LineTo(page, (HPDF_REAL)x1, (HPDF_REAL)y)) != 0)
        return -1;
    return check(doc, HPDF_Page_Stroke(page));
}

int pdf_rule(pdf_doc_t *doc)
{
    if (usable(doc) != 0 || room_for(doc, 6) != 0)
        return -1;
    if (hline(doc, doc->margin, doc->width - doc->margin, doc->y - 2, 0.6) != 0)
        return -1;
    doc->y -= 6;
    return 0;
}

int pdf_keep(pdf_doc_t *doc, double mm)
{
    if (usable(doc) != 0)
        return -1;
    return room_for(doc, mm * PT_PER_MM);
}

/* --- tables ---------------------------------------------------------------------------- */

/* Lays out one row's cells and draws it under the cursor (a new page
 * with the header first when it does not fit, unless header itself). */
static int table_draw(pdf_doc_t *doc, const char *const *cells, HPDF_Font font, bool header)
{
    size_t n = doc->n_columns;
    double size = doc->table_size, step = size * LINE_SPACING;
    size_t per = header ? 2 : (size_t)doc->table_lines;
    line_t *lines = calloc(n * per, sizeof *lines);
    size_t counts[PDF_TABLE_COLUMNS_MAX] = {0};
    int rc = -1;
    if (!lines)
        return fail(doc, "no memory for a table row");
    size_t tallest = 1;
    for (size_t c = 0; c < n; c++) {
        double w = doc->column_x[c + 1] - doc->column_x[c] - 2 * CELL_PAD_PT;
        char *clean = clean_copy(cells[c]);
        if (!clean) {
            fail(doc, "no memory for a table cell");
            goto done;
        }
        wrap(doc, font, size, clean, w > 1 ? w : 1, lines + c * per, per, &counts[c]);
        free(clean);
        if (counts[c] > tallest)
            tallest = counts[c];
    }
    double height = (double)tallest * step + 2 * CELL_PAD_PT;
    if (doc->y - height < bottom_of(doc)) {
        if (page_new(doc) != 0)
            goto done;
        if (!header) {
            const char *titles[PDF_TABLE_COLUMNS_MAX] = {0};
            for (size_t c = 0; c < n; c++)
                titles[c] = doc->columns[c].title;
            if (table_draw(doc, titles, doc->bold, true) != 0)
                goto done;
        }
    }
    for (size_t c = 0; c < n; c++) {
        double x = doc->column_x[c] + CELL_PAD_PT;
        double w = doc->column_x[c + 1] - doc->column_x[c] - 2 * CELL_PAD_PT;
        for (size_t i = 0; i < counts[c]; i++)
            if (draw_line(doc, font, size, doc->columns[c].align, x, w,
                          doc->y - CELL_PAD_PT - size - (double)i * step,
                          lines[c * per + i].text) != 0)
                goto done;
    }
    doc->y -= height;
    rc = hline(doc, doc->column_x[0], doc->column_x[n], doc->y, header ? 0.8 : 0.25);
done:
    free(lines);
    return rc;
}

int pdf_table_begin(pdf_doc_t *doc, const pdf_column_t *columns, size_t n, double size_pt,
                    int max_lines)
{
    if (usable(doc) != 0)
        return -1;
    if (!page_of(doc))
        return fail(doc, "no page was started");
    if (!columns || n == 0 || n > PDF_TABLE_COLUMNS_MAX || !size_ok(size_pt) || max_lines < 1 ||
        max_lines > MAX_CELL_LINES)
        return fail(doc, "a table out of range");
    double total = 0;
    for (size_t c = 0; c < n; c++) {
        if (!(columns[c].weight > 0))
            return fail(doc, "a table column without a width");
        total += columns[c].weight;
    }
    double full = doc->width - 2 * doc->margin;
    doc->column_x[0] = doc->margin;
    for (size_t c = 0; c < n; c++)
        doc->column_x[c + 1] = doc->column_x[c] + full * columns[c].weight / total;
    doc->columns = columns;
    doc->n_columns = n;
    doc->table_size = size_pt;
    doc->table_lines = max_lines;
    const char *titles[PDF_TABLE_COLUMNS_MAX];
    for (size_t c = 0; c < n; c++)
        titles[c] = columns[c].title;
    /* the header and one row together: a header alone at a page's foot is useless */
    if (room_for(doc, 4 * size_pt * LINE_SPACING + 4 * CELL_PAD_PT) != 0)
        return -1;
    return table_draw(doc, titles, doc->bold, true);
}

int pdf_table_row(pdf_doc_t *doc, const char *const *cells, bool bold)
{
    if (usable(doc) != 0)
        return -1;
    if (!doc->columns)
        return fail(doc, "a table row outside a table");
    return table_draw(doc, cells, bold ? doc->bold : doc->regular, false);
}

int pdf_table_end(pdf_doc_t *doc)
{
    if (usable(doc) != 0)
        return -1;
    doc->columns = NULL;
    doc->n_columns = 0;
    doc->y -= 4;
    return 0;
}

/* --- barcodes ---------------------------------------------------------------------------- */

int pdf_barcode(pdf_doc_t *doc, const char *text, double height_mm)
{
    if (usable(doc) != 0)
        return -1;
    uint8_t widths[CODE128_WIDTHS_MAX];
    size_t count = 0, modules = 0;
    if (code128_encode(text, widths, &count, &modules) != 0)
        return fail(doc, "\"%.64s\" cannot be a Code 128 barcode", text);
    if (height_mm < 5 || height_mm > 100)
        return fail(doc, "a barcode height out of range");
    double full = doc->width - 2 * doc->margin;
    double module = full / (double)(modules + 2 * BARCODE_QUIET);
    if (module > BARCODE_MODULE * PT_PER_MM)
        module = BARCODE_MODULE * PT_PER_MM;
    double bar_h = height_mm * PT_PER_MM;
    if (room_for(doc, bar_h + BARCODE_TEXT_PT * LINE_SPACING + 4) != 0)
        return -1;
    HPDF_Page page = page_of(doc);
    double x = doc->margin + (full - module * (double)modules) / 2;
    double y = doc->y - bar_h;
    if (check(doc, HPDF_Page_SetGrayFill(page, 0)) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        double w = module * widths[i];
        if (i % 2 == 0 && check(doc, HPDF_Page_Rectangle(page, (HPDF_REAL)x, (HPDF_REAL)y,
                                                         (HPDF_REAL)w, (HPDF_REAL)bar_h)) != 0)
            return -1;
        x += w;
    }
    if (check(doc, HPDF_Page_Fill(page)) != 0)
        return -1;
    doc->y = y - 3;
    return paragraph(doc, doc->bold, BARCODE_TEXT_PT, PDF_CENTER, doc->margin, full, text);
}

/* --- saving ------------------------------------------------------------------------------ */

static int footers(pdf_doc_t *doc)
{
    if (!doc->footer)
        return 0;
    for (size_t i = 0; i < doc->n_pages; i++) {
        char text[600];
        snprintf(text, sizeof text, "%.400s \xC2\xB7 page %zu of %zu", doc->footer, i + 1,
                 doc->n_pages);
        HPDF_Page page = doc->pages[i];
        double width = HPDF_Page_GetWidth(page), margin = doc->margin;
        if (check(doc, HPDF_Page_BeginText(page)) != 0 ||
            check(doc, HPDF_Page_SetFontAndSize(page, doc->regular, FOOTER_SIZE_PT)) != 0)
            return -1;
        double w = width_of(doc->regular, FOOTER_SIZE_PT, text);
        if (check(doc, HPDF_Page_TextOut(page, (HPDF_REAL)(width - margin - w), (HPDF_REAL)(margin),
                                         text)) != 0 ||
            check(doc, HPDF_Page_EndText(page)) != 0)
            return -1;
    }
    return 0;
}

int pdf_doc_save(pdf_doc_t *doc, unsigned char **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    if (usable(doc) != 0)
        return -1;
    if (!doc->n_pages)
        return fail(doc, "a document without pages");
    if (footers(doc) != 0 || check(doc, HPDF_SaveToStream(doc->pdf)) != 0)
        return -1;
    doc->saved = true;
    HPDF_UINT32 size = HPDF_GetStreamSize(doc->pdf);
    unsigned char *out = size ? malloc(size) : NULL;
    if (!out)
        return fail(doc, "no memory for the saved document");
    size_t got = 0;
    while (got < size) { /* HPDF_ReadFromStream answers HPDF_STREAM_EOF with the last bytes */
        HPDF_UINT32 chunk = (HPDF_UINT32)(size - got);
        HPDF_STATUS status = HPDF_ReadFromStream(doc->pdf, out + got, &chunk);
        got += chunk;
        if (status == HPDF_STREAM_EOF || chunk == 0)
            break;
        if (status != HPDF_OK) {
            free(out);
            return check(doc, status);
        }
    }
    if (doc->failed && HPDF_GetError(doc->pdf) == HPDF_STREAM_EOF) {
        doc->failed = false; /* the end of the stream is not an error */
        doc->error[0] = '\0';
        HPDF_ResetError(doc->pdf);
    }
    if (got != size || doc->failed) {
        free(out);
        return fail(doc, "the saved document was cut short");
    }
    *bytes = out;
    *len = got;
    return 0;
}
