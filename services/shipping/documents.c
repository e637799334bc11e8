/*
 * documents.c — the packing slip, the sticker and the manifest
 * (documents.h), laid out with common/pdf.h. The parcels come as the
 * store read them (JSON); a member that is missing prints as "-".
 */
#include "services/shipping/documents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/docfmt.h"

#define ADDRESS_MAX 1200
#define FIELD_PT    10.0
#define LABEL_MM    38.0

static const char *text_of(const json_t *object, const char *member)
{
    const char *text = json_string_value(json_object_get(object, member));
    return text && text[0] ? text : NULL;
}

static const char *or_dash(const char *text)
{
    return text ? text : "-";
}

static long long int_of(const json_t *object, const char *member)
{
    return (long long)json_integer_value(json_object_get(object, member));
}

/* The parcel's address on one line: the carrier's correction when it made
 * one, the order's otherwise, and its pickup point. */
static void address_line(const json_t *parcel, char *out, size_t size)
{
    const json_t *address = json_object_get(parcel, "matched_address");
    if (!json_is_object(address) || !text_of(address, "line1"))
        address = json_object_get(parcel, "address");
    docfmt_address(address, out, size);
    const char *point = text_of(json_object_get(parcel, "address"), "pickup_point_id");
    size_t used = strlen(out);
    if (point && used + 16 < size)
        snprintf(out + used, size - used, "; pickup point %s", point);
}

static void carrier_line(const json_t *parcel, char *out, size_t size)
{
    snprintf(out, size, "%s / %s / %s", or_dash(text_of(parcel, "carrier")),
             or_dash(text_of(parcel, "service")), or_dash(text_of(parcel, "package")));
}

/* Saves doc into *pdf, or says why; destroys it either way. */
static int finish(pdf_doc_t **doc_p, unsigned char **pdf, size_t *len, char *why)
{
    int rc = pdf_doc_save(*doc_p, pdf, len);
    if (rc != 0)
        snprintf(why, DOCUMENT_WHY_SIZE, "%s", pdf_doc_error(*doc_p));
    pdf_doc_destroy(doc_p);
    return rc;
}

static pdf_doc_t *start(const pdf_fonts_t *fonts, const char *title, const char *footer,
                        double width_mm, double height_mm, double margin_mm, char *why)
{
    pdf_doc_t *doc = pdf_doc_new(fonts, title, footer);
    if (!doc) {
        snprintf(why, DOCUMENT_WHY_SIZE, "no memory for a document");
        return NULL;
    }
    if (pdf_page_add(doc, width_mm, height_mm, margin_mm) != 0) {
        snprintf(why, DOCUMENT_WHY_SIZE, "%s", pdf_doc_error(doc));
        pdf_doc_destroy(&doc);
    }
    return doc;
}

/* The parcel's people and places, as label/value fields. */
static void parcel_fields(pdf_doc_t *doc, const json_t *parcel, double size_pt, double label_mm)
{
    const json_t *recipient = json_object_get(parcel, "recipient");
    char address[ADDRESS_MAX], carrier[200], weight[32], kg[40];
    address_line(parcel, address, sizeof address);
    carrier_line(parcel, carrier, sizeof carrier);
    docfmt_kg(int_of(parcel, "weight_g"), weight, sizeof weight);
    snprintf(kg, sizeof kg, "%s kg", weight);
    pdf_field(doc, size_pt, label_mm, "Customer", or_dash(text_of(recipient, "name")));
    pdf_field(doc, size_pt, label_mm, "Phone", or_dash(text_of(recipient, "phone")));
    pdf_field(doc, size_pt, label_mm, "Deliver to", address);
    pdf_field(doc, size_pt, label_mm, "Method", or_dash(text_of(parcel, "method")));
    pdf_field(doc, size_pt, label_mm, "Carrier", carrier);
    pdf_field(doc, size_pt, label_mm, "Tracking", or_dash(text_of(parcel, "tracking_number")));
    pdf_field(doc, size_pt, label_mm, "Weight", kg);
}

int documents_packing_slip(const pdf_fonts_t *fonts, const json_t *parcel, unsigned char **pdf,
                           size_t *len, char why[DOCUMENT_WHY_SIZE])
{
    char title[64], footer[64];
    long long number = int_of(parcel, "order_number");
    snprintf(title, sizeof title, "Packing slip, order %lld", number);
    snprintf(footer, sizeof footer, "Packing slip %lld", number);
    pdf_doc_t *doc = start(fonts, title, footer, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 15, why);
    if (!doc)
        return -1;
    char heading[64];
    snprintf(heading, sizeof heading, "Order No. %lld", number);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 20, PDF_LEFT}, heading);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 11, PDF_LEFT}, "Packing slip");
    pdf_rule(doc);
    parcel_fields(doc, parcel, FIELD_PT, LABEL_MM);
    if (text_of(parcel, "batch_number"))
        pdf_field(doc, FIELD_PT, LABEL_MM, "Batch", text_of(parcel, "batch_number"));
    pdf_gap(doc, 5);
    static const pdf_column_t columns[] = {
        {"#", 0.5, PDF_RIGHT},       {"SKU", 2, PDF_LEFT},         {"Item", 5, PDF_LEFT},
        {"Qty", 1, PDF_RIGHT},       {"Unit, kg", 1.4, PDF_RIGHT}, {"Weight, kg", 1.6, PDF_RIGHT},
        {"Packed", 1.3, PDF_CENTER},
    };
    pdf_table_begin(doc, columns, sizeof columns / sizeof columns[0], 9, 3);
    const json_t *lines = json_object_get(parcel, "lines");
    long long items = 0, grams = 0;
    size_t i;
    const json_t *line;
    json_array_foreach(lines, i, line)
    {
        long long qty = int_of(line, "quantity"), unit = int_of(line, "unit_weight_g");
        char no[24], quantity[24], unit_kg[32], line_kg[32];
        snprintf(no, sizeof no, "%lld", int_of(line, "line_no"));
        snprintf(quantity, sizeof quantity, "%lld", qty);
        docfmt_kg(unit, unit_kg, sizeof unit_kg);
        docfmt_kg(unit * qty, line_kg, sizeof line_kg);
        const char *cells[] = {no,
                               or_dash(text_of(line, "sku")),
                               or_dash(text_of(line, "name")),
                               quantity,
                               unit_kg,
                               line_kg,
                               "[  ]"};
        pdf_table_row(doc, cells, false);
        items += qty;
        grams += unit * qty;
    }
    if (json_array_size(lines) == 0) {
        const char *cells[] = {"", "", "(the order's lines were not kept for this parcel)", "", "",
                               "", ""};
        pdf_table_row(doc, cells, false);
    }
    char total_items[24], total_kg[32];
    snprintf(total_items, sizeof total_items, "%lld", items);
    docfmt_kg(grams, total_kg, sizeof total_kg);
    const char *totals[] = {"", "", "Total", total_items, "", total_kg, ""};
    pdf_table_row(doc, totals, true);
    pdf_table_end(doc);
    pdf_keep(doc, 30);
    pdf_gap(doc, 8);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_LEFT},
             "Packed by: ______________________    Checked by: ______________________");
    return finish(&doc, pdf, len, why);
}

int documents_sticker(const pdf_fonts_t *fonts, const json_t *parcel, unsigned char **pdf,
                      size_t *len, char why[DOCUMENT_WHY_SIZE])
{
    char title[64], number[32];
    long long order_number = int_of(parcel, "order_number");
    snprintf(number, sizeof number, "%lld", order_number);
    snprintf(title, sizeof title, "Sticker, order %s", number);
    pdf_doc_t *doc = start(fonts, title, NULL, PDF_LABEL_WIDTH_MM, PDF_LABEL_HEIGHT_MM, 5, why);
    if (!doc)
        return -1;
    char heading[64];
    snprintf(heading, sizeof heading, "Order No. %s", number);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 18, PDF_CENTER}, heading);
    pdf_rule(doc);
    const json_t *recipient = json_object_get(parcel, "recipient");
    char address[ADDRESS_MAX], carrier[200], weight[32], kg[48];
    address_line(parcel, address, sizeof address);
    carrier_line(parcel, carrier, sizeof carrier);
    docfmt_kg(int_of(parcel, "weight_g"), weight, sizeof weight);
    snprintf(kg, sizeof kg, "%s kg", weight);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 8, PDF_LEFT}, "To:");
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 14, PDF_LEFT}, or_dash(text_of(recipient, "name")));
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 11, PDF_LEFT}, address);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 11, PDF_LEFT}, or_dash(text_of(recipient, "phone")));
    pdf_gap(doc, 2);
    pdf_rule(doc);
    pdf_field(doc, 9, 20, "Carrier", carrier);
    pdf_field(doc, 9, 20, "Weight", kg);
    if (text_of(parcel, "batch_number"))
        pdf_field(doc, 9, 20, "Batch", text_of(parcel, "batch_number"));
    pdf_gap(doc, 3);
    const char *tracking = text_of(parcel, "tracking_number");
    if (tracking) {
        pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 8, PDF_CENTER}, "Tracking number");
        pdf_barcode(doc, tracking, 22);
    } else {
        pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 8, PDF_CENTER},
                 "No label yet: the order's number");
        pdf_barcode(doc, number, 22);
    }
    return finish(&doc, pdf, len, why);
}

/* Parcels and kilograms per carrier, for the manifest's totals. */
typedef struct {
    char carrier[40];
    long long parcels, grams;
} carrier_total_t;

int documents_manifest(const pdf_fonts_t *fonts, const json_t *batch, unsigned char **pdf,
                       size_t *len, char why[DOCUMENT_WHY_SIZE])
{
    const char *number = or_dash(text_of(batch, "number"));
    char title[64], footer[64];
    snprintf(title, sizeof title, "Manifest, batch %s", number);
    snprintf(footer, sizeof footer, "Manifest %s", number);
    pdf_doc_t *doc = start(fonts, title, footer, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 12, why);
    if (!doc)
        return -1;
    char heading[64];
    snprintf(heading, sizeof heading, "Manifest: batch %s", number);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 18, PDF_LEFT}, heading);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Created", or_dash(text_of(batch, "created_at")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Status", or_dash(text_of(batch, "status")));
    if (text_of(batch, "manifest_id")) /* processed: the carrier's own manifest */
        pdf_field(doc, FIELD_PT, LABEL_MM, "Carrier manifest", text_of(batch, "manifest_id"));
    pdf_rule(doc);
    static const pdf_column_t columns[] = {
        {"#", 0.6, PDF_RIGHT},        {"Order", 1.3, PDF_LEFT},   {"Tracking", 2.6, PDF_LEFT},
        {"Recipient", 2.6, PDF_LEFT}, {"Address", 3.9, PDF_LEFT}, {"Carrier", 2.2, PDF_LEFT},
        {"Kg", 1.4, PDF_RIGHT},
    };
    pdf_table_begin(doc, columns, sizeof columns / sizeof columns[0], 8, 3);
    const json_t *parcels = json_object_get(batch, "parcels");
    carrier_total_t totals[16];
    size_t n_totals = 0;
    long long grams = 0;
    size_t i;
    const json_t *parcel;
    json_array_foreach(parcels, i, parcel)
    {
        char no[24], order[24], address[ADDRESS_MAX], carrier[120], kg[32];
        snprintf(no, sizeof no, "%zu", i + 1);
        snprintf(order, sizeof order, "%lld", int_of(parcel, "order_number"));
        address_line(parcel, address, sizeof address);
        snprintf(carrier, sizeof carrier, "%s / %s", or_dash(text_of(parcel, "carrier")),
                 or_dash(text_of(parcel, "service")));
        long long weight = int_of(parcel, "weight_g");
        docfmt_kg(weight, kg, sizeof kg);
        const char *cells[] = {no,
                               order,
                               or_dash(text_of(parcel, "tracking_number")),
                               or_dash(text_of(json_object_get(parcel, "recipient"), "name")),
                               address,
                               carrier,
                               kg};
        pdf_table_row(doc, cells, false);
        grams += weight;
        const char *name = or_dash(text_of(parcel, "carrier"));
        size_t t = 0;
        while (t < n_totals && strcmp(totals[t].carrier, name) != 0)
            t++;
        if (t == n_totals && n_totals < sizeof totals / sizeof totals[0]) {
            snprintf(totals[t].carrier, sizeof totals[t].carrier, "%s", name);
            totals[t].parcels = totals[t].grams = 0;
            n_totals++;
        }
        if (t < n_totals) {
            totals[t].parcels++;
            totals[t].grams += weight;
        }
    }
    char count[24], kg[32];
    snprintf(count, sizeof count, "%zu parcel%s", json_array_size(parcels),
             json_array_size(parcels) == 1 ? "" : "s");
    docfmt_kg(grams, kg, sizeof kg);
    const char *total_row[] = {"", "Total", count, "", "", "", kg};
    pdf_table_row(doc, total_row, true);
    pdf_table_end(doc);
    pdf_keep(doc, 25 + 6 * (double)n_totals);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 10, PDF_LEFT}, "By carrier");
    for (size_t t = 0; t < n_totals; t++) {
        char line[120], carrier_kg[32];
        docfmt_kg(totals[t].grams, carrier_kg, sizeof carrier_kg);
        snprintf(line, sizeof line, "%lld parcel%s, %s kg", totals[t].parcels,
                 totals[t].parcels == 1 ? "" : "s", carrier_kg);
        pdf_field(doc, 9, 40, totals[t].carrier, line);
    }
    pdf_gap(doc, 10);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 10, PDF_LEFT},
             "Handed over by: ______________________    Received by (carrier): "
             "______________________");
    return finish(&doc, pdf, len, why);
}
