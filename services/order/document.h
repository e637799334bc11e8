/*
 * document.h — the order as a PDF (DOMAIN.md F32): what the customer
 * ordered, for whom, where to and for how much, for a manager to send or
 * print. Drawn with the kit's writer (common/pdf.h) from the order as
 * store_order_json reads it; nothing here touches the database.
 */
#ifndef ORDER_DOCUMENT_H
#define ORDER_DOCUMENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/pdf.h"

#define ORDER_DOCUMENT_WHY_SIZE 256

/* An A4 document: the order's number, day and status, the customer, the
 * delivery and its address, the manager, the payment terms, every line
 * (SKU, name, quantity, price, discount, total, VAT rate) and the totals.
 * 0 with *pdf (caller owns the result; free) of *len bytes, or -1 with
 * why. */
int order_document(const pdf_fonts_t *fonts, const json_t *order, unsigned char **pdf, size_t *len,
                   char why[ORDER_DOCUMENT_WHY_SIZE]);

#endif
