/*
 * document.h — the invoice as a PDF (DOMAIN.md F32): what the customer
 * is asked to pay for which order, line by line as the 54-FZ receipt
 * will print it, until when, and where. Drawn with the kit's writer
 * (common/pdf.h) from store_invoice_document_json; nothing here touches
 * the database.
 */
#ifndef PAYMENT_DOCUMENT_H
#define PAYMENT_DOCUMENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/pdf.h"

#define INVOICE_DOCUMENT_WHY_SIZE 256

/* An A4 invoice: its reference and day, the order's number, the
 * customer's contacts, the status and expiry, every receipt line (name,
 * quantity, price, amount, VAT rate) with the total, and the payment
 * link while it is open. 0 with *pdf (caller owns the result; free) of
 * *len bytes, or -1 with why. */
int invoice_document(const pdf_fonts_t *fonts, const json_t *invoice, unsigned char **pdf,
                     size_t *len, char why[INVOICE_DOCUMENT_WHY_SIZE]);

#endif
