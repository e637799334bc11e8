/*
 * code128.h — a Code 128 barcode as bar and space widths (ISO/IEC 15417).
 *
 * A parcel's sticker carries its tracking number as a barcode the
 * warehouse's scanner reads; drawing it is the document writer's job
 * (pdf.h), this only encodes: pure, so a test can check it without a PDF.
 * Code set C (two digits per symbol) for text of an even number of digits,
 * code set B (printable ASCII) otherwise.
 */
#ifndef CONVEYOR_CODE128_H
#define CONVEYOR_CODE128_H

#include <stddef.h>
#include <stdint.h>

/* The most characters encoded: a tracking number or an order number. */
#define CODE128_TEXT_MAX 64
/* Widths for CODE128_TEXT_MAX characters: start, data, check (6 each), stop (7). */
#define CODE128_WIDTHS_MAX ((CODE128_TEXT_MAX + 2) * 6 + 7)

/* Encodes text into widths (in modules; bar, space, bar ... ending with a
 * bar), *count of them and *modules their sum. 0 ok; -1 when text is
 * empty, longer than CODE128_TEXT_MAX or holds a byte outside printable
 * ASCII (32..126). The quiet zones (10 modules each side) are the
 * drawer's. */
int code128_encode(const char *text, uint8_t widths[CODE128_WIDTHS_MAX], size_t *count,
                   size_t *modules);

#endif
