/*
 * pdf.h — documents as PDF: a small flowing writer over libharu.
 *
 * Several services hand people paper: the warehouse's packing slip,
 * sticker and manifest (shipping), the order and the invoice (order,
 * payment). They all need the same few things, so they live here once:
 * pages of a given size (A4, a 100x150 mm label), text in a TrueType font
 * embedded with its Cyrillic (libharu's UTF-8 encoder, DejaVu Sans from
 * Debian's fonts-dejavu-core by default), paragraphs that wrap, simple
 * tables whose long cells wrap or are cut with an ellipsis and whose
 * long lists break onto new pages under a repeated header, a Code 128
 * barcode with its text in large type, and the finished file in memory
 * for an HTTP answer (application/pdf).
 *
 * The writer keeps a cursor that moves down the page: each call puts its
 * content under the previous one and starts a new page (of the same
 * size) when the content would cross the bottom margin.
 *
 * libharu reports errors through a handler; this one records the first
 * error and every later call on the document returns -1 and does
 * nothing, so a failure is a return code, never an abort: the caller
 * answers 500 with pdf_doc_error(). A layout may therefore make its
 * calls one after another and look only at pdf_doc_save's answer. Text from outside is made
 * well-formed UTF-8 and its control characters spaces before it is drawn.
 *
 * A document belongs to one thread at a time; documents do not share
 * state, so HTTP worker threads render side by side.
 */
#ifndef CONVEYOR_PDF_H
#define CONVEYOR_PDF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

#define PDF_FONT_DEFAULT      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define PDF_FONT_BOLD_DEFAULT "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

/* The settings of a service that renders documents: put in its
 * config_spec_t table (before CONFIG_SPEC_END). */
#define PDF_CONFIG_SPECS                                                                           \
    {"PDF_FONT", PDF_FONT_DEFAULT, false,                                                          \
     "the TrueType font documents are written in, embedded (needs Cyrillic)"},                     \
    {                                                                                              \
        "PDF_FONT_BOLD", PDF_FONT_BOLD_DEFAULT, false, "the bold face of PDF_FONT"                 \
    }

#define PDF_FONT_PATH_MAX 512

typedef struct {
    char regular[PDF_FONT_PATH_MAX];
    char bold[PDF_FONT_PATH_MAX];
} pdf_fonts_t;

/* Checks that both fonts load into a document (readable TrueType files
 * libharu can embed): 0, or -1 with why (which face, which path, what
 * to do) written into why. */
int pdf_fonts_check(const pdf_fonts_t *fonts, char *why, size_t why_size);

/* Reads PDF_FONT and PDF_FONT_BOLD and checks them (pdf_fonts_check) at
 * a service's start: 0, or -1 with the reason logged once (config_invalid). */
int pdf_fonts_from_config(const config_t *cfg, pdf_fonts_t *out);

/* Page sizes in millimetres. */
#define PDF_A4_WIDTH_MM     210.0
#define PDF_A4_HEIGHT_MM    297.0
#define PDF_LABEL_WIDTH_MM  100.0
#define PDF_LABEL_HEIGHT_MM 150.0

/* A document holds at most this many pages: a list that would need more
 * fails (pdf_doc_error: too many pages) rather than grow without bound. */
#define PDF_PAGES_MAX 500

typedef struct pdf_doc pdf_doc_t;

/* A new empty document in fonts, titled title (its properties); when
 * footer is not NULL every page ends with "footer · page n of N". NULL
 * only on out of memory; a document whose fonts do not load comes back
 * failed (pdf_doc_error names the file; every call on it returns -1).
 * Nothing is logged: the caller says what failed where it handles it.
 * Caller owns the result (pdf_doc_destroy). */
pdf_doc_t *pdf_doc_new(const pdf_fonts_t *fonts, const char *title, const char *footer);
void pdf_doc_destroy(pdf_doc_t **self_p);

/* Starts a page of width x height mm with margin mm on every side; the
 * cursor at its top. Later pages started by the flow take the same. */
int pdf_page_add(pdf_doc_t *doc, double width_mm, double height_mm, double margin_mm);

typedef enum { PDF_REGULAR, PDF_BOLD } pdf_face_t;
typedef enum { PDF_LEFT, PDF_CENTER, PDF_RIGHT } pdf_align_t;

typedef struct {
    pdf_face_t face;
    double size_pt; /* 4..72 */
    pdf_align_t align;
} pdf_style_t;

/* A paragraph: text wrapped at the page's width ('\n' starts a new line),
 * under the cursor, onto new pages as needed. */
int pdf_text(pdf_doc_t *doc, const pdf_style_t *style, const char *text);

/* "label  value": the label in bold in a column label_mm wide, the value
 * wrapped in the rest. */
int pdf_field(pdf_doc_t *doc, double size_pt, double label_mm, const char *label,
              const char *value);

/* Empty space (to the bottom of the page at most). */
int pdf_gap(pdf_doc_t *doc, double mm);

/* A thin horizontal line across the page, and a little space. */
int pdf_rule(pdf_doc_t *doc);

/* Starts a new page when less than mm are left on this one: keeps a
 * block (totals and signatures) together. */
int pdf_keep(pdf_doc_t *doc, double mm);

/* A table's column: its title, its share of the width (any positive
 * weights; they are scaled to the page) and how its cells align. */
typedef struct {
    const char *title;
    double weight;
    pdf_align_t align;
} pdf_column_t;

#define PDF_TABLE_COLUMNS_MAX 12

/* Starts a table of n columns (borrowed until pdf_table_end) in size_pt:
 * draws the header row. A cell takes up to max_lines lines (1..10); a
 * longer one is cut with an ellipsis. A row that does not fit starts a
 * new page, the header repeated on it. */
int pdf_table_begin(pdf_doc_t *doc, const pdf_column_t *columns, size_t n, double size_pt,
                    int max_lines);
/* One row: n cells (NULL: empty); bold draws it in the bold face (totals). */
int pdf_table_row(pdf_doc_t *doc, const char *const *cells, bool bold);
int pdf_table_end(pdf_doc_t *doc);

/* A Code 128 barcode of text (printable ASCII, up to CODE128_TEXT_MAX),
 * height_mm tall, centred, its quiet zones kept, and the text under it in
 * large bold type. Text that cannot be encoded is an error. */
int pdf_barcode(pdf_doc_t *doc, const char *text, double height_mm);

/* The finished document: *bytes (caller owns the result; free) of *len
 * bytes, starting "%PDF-". Footers are drawn first. 0, or -1 (see
 * pdf_doc_error). The document may not be written to afterwards. */
int pdf_doc_save(pdf_doc_t *doc, unsigned char **bytes, size_t *len);

/* What failed first ("" when nothing did); borrowed from doc. */
const char *pdf_doc_error(const pdf_doc_t *doc);
size_t pdf_doc_pages(const pdf_doc_t *doc);

#endif
