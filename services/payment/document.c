/*
 * document.c — the invoice as a PDF (document.h), laid out with
 * common/pdf.h and formatted with common/docfmt.h.
 */
#include "services/payment/document.h"

#include <stdio.h>
#include <string.h>

#include "common/docfmt.h"

#define FIELD_PT 10.0
#define LABEL_MM 38.0

static const char *text_of(const json_t *object, const char *member)
{
    const char *text = json_string_value(json_object_get(object, member));
    return text && text[0] ? text : NULL;
}

static const char *or_dash(const char *text)
{
    return text ? text : "-";
}

static int64_t int_of(const json_t *object, const char *member)
{
    return (int64_t)json_integer_value(json_object_get(object, member));
}

static void receipt_table(pdf_doc_t *doc, const json_t *invoice)
{
    static const pdf_column_t columns[] = {
        {"#", 0.5, PDF_RIGHT},   {"Item", 5.5, PDF_LEFT},    {"Qty", 0.8, PDF_RIGHT},
        {"Price", 2, PDF_RIGHT}, {"Amount", 2.2, PDF_RIGHT}, {"VAT", 0.9, PDF_RIGHT},
    };
    pdf_table_begin(doc, columns, sizeof columns / sizeof columns[0], 9, 3);
    size_t i;
    const json_t *line;
    json_array_foreach(json_object_get(invoice, "receipt"), i, line)
    {
        char no[24], qty[24], price[48], amount[48], vat[32];
        snprintf(no, sizeof no, "%zu", i + 1);
        snprintf(qty, sizeof qty, "%lld", (long long)int_of(line, "quantity"));
        docfmt_money(int_of(line, "price_minor"), NULL, price, sizeof price);
        docfmt_money(int_of(line, "amount_minor"), NULL, amount, sizeof amount);
        snprintf(vat, sizeof vat, "%lld%%", (long long)int_of(line, "vat_rate_bp") / 100);
        const char *cells[] = {no, or_dash(text_of(line, "name")), qty, price, amount, vat};
        pdf_table_row(doc, cells, false);
    }
    char total[64];
    docfmt_money(int_of(invoice, "amount_minor"), text_of(invoice, "currency"), total,
                 sizeof total);
    const char *totals[] = {"", "Total to pay", "", "", total, ""};
    pdf_table_row(doc, totals, true);
    pdf_table_end(doc);
}

int invoice_document(const pdf_fonts_t *fonts, const json_t *invoice, unsigned char **pdf,
                     size_t *len, char why[INVOICE_DOCUMENT_WHY_SIZE])
{
    long long number = (long long)int_of(invoice, "order_number");
    const char *reference = or_dash(text_of(invoice, "reference"));
    char title[96], footer[96], heading[96], order[64], day[32], expires[32];
    snprintf(title, sizeof title, "Invoice %.60s", reference);
    snprintf(footer, sizeof footer, "Invoice %.60s", reference);
    snprintf(heading, sizeof heading, "Invoice %.60s", reference);
    snprintf(order, sizeof order, "No. %lld", number);
    docfmt_day(text_of(invoice, "created_at"), day, sizeof day);
    docfmt_day(text_of(invoice, "expires_at"), expires, sizeof expires);
    pdf_doc_t *doc = pdf_doc_new(fonts, title, footer);
    if (!doc) {
        snprintf(why, INVOICE_DOCUMENT_WHY_SIZE, "no memory for a document");
        return -1;
    }
    char of_day[64];
    snprintf(of_day, sizeof of_day, "of %s", day);
    pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 15);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 20, PDF_LEFT}, heading);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 11, PDF_LEFT}, of_day);
    pdf_rule(doc);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Order", order);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Customer", or_dash(text_of(invoice, "customer_name")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Email", or_dash(text_of(invoice, "customer_email")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Phone", or_dash(text_of(invoice, "customer_phone")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Status", or_dash(text_of(invoice, "status")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Pay by", expires);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Bank", or_dash(text_of(invoice, "provider")));
    pdf_gap(doc, 5);
    receipt_table(doc, invoice);
    const char *link = text_of(invoice, "payment_url");
    const char *status = text_of(invoice, "status");
    if (link && status && strcmp(status, "open") == 0) {
        pdf_keep(doc, 20);
        pdf_text(doc, &(pdf_style_t){PDF_BOLD, 10, PDF_LEFT}, "Pay online:");
        pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 9, PDF_LEFT}, link);
    }
    int rc = pdf_doc_save(doc, pdf, len);
    if (rc != 0)
        snprintf(why, INVOICE_DOCUMENT_WHY_SIZE, "%s", pdf_doc_error(doc));
    pdf_doc_destroy(&doc);
    return rc;
}
