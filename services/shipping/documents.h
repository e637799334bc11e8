/*
 * documents.h — the warehouse's paper as PDF (DOMAIN.md F22, F27): the
 * packing slip and the sticker of one parcel, and the manifest of a
 * batch. Each is drawn from what the store reads for it
 * (store_parcel_document_json, store_batch_document_json) with the
 * kit's writer (common/pdf.h); nothing here touches the database.
 */
#ifndef SHIPPING_DOCUMENTS_H
#define SHIPPING_DOCUMENTS_H

#include <jansson.h>
#include <stddef.h>

#include "common/pdf.h"

#define DOCUMENT_WHY_SIZE 256

/* An A4 packing slip: the order's number, the customer and the delivery
 * address, carrier, service and tracking number, and its lines with
 * quantities and weights, totalled. */
int documents_packing_slip(const pdf_fonts_t *fonts, const json_t *parcel, unsigned char **pdf,
                           size_t *len, char why[DOCUMENT_WHY_SIZE]);

/* A 100x150 mm sticker: the order's number, the recipient and the
 * address in large type, carrier, service and weight, and the tracking
 * number as a Code 128 barcode (the order's number until a label is
 * bought). */
int documents_sticker(const pdf_fonts_t *fonts, const json_t *parcel, unsigned char **pdf,
                      size_t *len, char why[DOCUMENT_WHY_SIZE]);

/* An A4 manifest of a batch: every parcel (order, tracking number,
 * recipient, address, carrier and service, weight), the totals per
 * carrier and in all, and room for the hand-over signatures. */
int documents_manifest(const pdf_fonts_t *fonts, const json_t *batch, unsigned char **pdf,
                       size_t *len, char why[DOCUMENT_WHY_SIZE]);

#endif
