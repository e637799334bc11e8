/*
 * document.c — the order as a PDF (document.h), laid out with
 * common/pdf.h and formatted with common/docfmt.h. A member the order
 * does not have yet (prices before the reservation, a manager before the
 * assignment) prints as "-".
 */
#include "services/order/document.h"

#include <stdbool.h>
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

/* Money of member of object, or "-" when it has none yet. */
static void money_of(const json_t *object, const char *member, const char *currency, char *out,
                     size_t size)
{
    const json_t *value = json_object_get(object, member);
    if (json_is_integer(value))
        docfmt_money((int64_t)json_integer_value(value), currency, out, size);
    else
        snprintf(out, size, "-");
}

static void lines_table(pdf_doc_t *doc, const json_t *order)
{
    static const pdf_column_t columns[] = {
        {"#", 0.5, PDF_RIGHT},     {"SKU", 1.8, PDF_LEFT},    {"Item", 4.2, PDF_LEFT},
        {"Qty", 0.8, PDF_RIGHT},   {"Price", 1.9, PDF_RIGHT}, {"Discount", 1.6, PDF_RIGHT},
        {"Total", 2.1, PDF_RIGHT}, {"VAT", 0.9, PDF_RIGHT},
    };
    pdf_table_begin(doc, columns, sizeof columns / sizeof columns[0], 8.5, 3);
    size_t i;
    const json_t *line;
    json_array_foreach(json_object_get(order, "lines"), i, line)
    {
        char no[24], qty[24], price[48], discount[48], total[48], vat[32];
        snprintf(no, sizeof no, "%lld",
                 (long long)json_integer_value(json_object_get(line, "line_no")));
        snprintf(qty, sizeof qty, "%lld",
                 (long long)json_integer_value(json_object_get(line, "quantity")));
        money_of(line, "unit_price_minor", NULL, price, sizeof price);
        money_of(line, "discount_minor", NULL, discount, sizeof discount);
        money_of(line, "total_minor", NULL, total, sizeof total);
        const json_t *rate = json_object_get(line, "vat_rate_bp");
        if (json_is_integer(rate))
            snprintf(vat, sizeof vat, "%lld%%", (long long)json_integer_value(rate) / 100);
        else
            snprintf(vat, sizeof vat, "-");
        const char *cells[] = {no,
                               or_dash(text_of(line, "sku")),
                               or_dash(text_of(line, "name")),
                               qty,
                               price,
                               discount,
                               total,
                               vat};
        pdf_table_row(doc, cells, false);
    }
    pdf_table_end(doc);
}

static void totals_block(pdf_doc_t *doc, const json_t *order, const char *currency)
{
    const json_t *totals = json_object_get(order, "totals");
    if (!json_is_object(totals)) {
        pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 9, PDF_RIGHT},
                 "Prices and totals are set when the stock is reserved.");
        return;
    }
    static const struct {
        const char *member, *label;
    } rows[] = {
        {"lines_minor", "Goods"}, {"discount_minor", "Discount"}, {"delivery_minor", "Delivery"},
        {"total_minor", "Total"}, {"vat_minor", "VAT included"},
    };
    pdf_keep(doc, 40);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char amount[64], line[160];
        money_of(totals, rows[i].member, currency, amount, sizeof amount);
        snprintf(line, sizeof line, "%s: %s", rows[i].label, amount);
        bool total = strcmp(rows[i].member, "total_minor") == 0;
        pdf_text(doc, &(pdf_style_t){total ? PDF_BOLD : PDF_REGULAR, total ? 12 : 10, PDF_RIGHT},
                 line);
    }
}

int order_document(const pdf_fonts_t *fonts, const json_t *order, unsigned char **pdf, size_t *len,
                   char why[ORDER_DOCUMENT_WHY_SIZE])
{
    long long number = (long long)json_integer_value(json_object_get(order, "number"));
    const char *currency = text_of(order, "currency") ? text_of(order, "currency") : "RUB";
    char title[64], footer[64], heading[64], day[32], address[1200];
    snprintf(title, sizeof title, "Order %lld", number);
    snprintf(footer, sizeof footer, "Order %lld", number);
    snprintf(heading, sizeof heading, "Order No. %lld", number);
    pdf_doc_t *doc = pdf_doc_new(fonts, title, footer);
    if (!doc) {
        snprintf(why, ORDER_DOCUMENT_WHY_SIZE, "no memory for a document");
        return -1;
    }
    const json_t *customer = json_object_get(order, "customer");
    const json_t *delivery = json_object_get(order, "delivery");
    docfmt_day(text_of(order, "placed_at"), day, sizeof day);
    docfmt_address(json_object_get(delivery, "address"), address, sizeof address);
    char placed[96];
    snprintf(placed, sizeof placed, "of %s, %s", day, or_dash(text_of(order, "status")));
    pdf_page_add(doc, PDF_A4_WIDTH_MM, PDF_A4_HEIGHT_MM, 15);
    pdf_text(doc, &(pdf_style_t){PDF_BOLD, 20, PDF_LEFT}, heading);
    pdf_text(doc, &(pdf_style_t){PDF_REGULAR, 11, PDF_LEFT}, placed);
    pdf_rule(doc);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Customer", or_dash(text_of(customer, "name")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Phone", or_dash(text_of(customer, "phone")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Email", or_dash(text_of(customer, "email")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Delivery", or_dash(text_of(order, "delivery_method")));
    if (text_of(delivery, "pickup_point_id"))
        pdf_field(doc, FIELD_PT, LABEL_MM, "Pickup point", text_of(delivery, "pickup_point_id"));
    else
        pdf_field(doc, FIELD_PT, LABEL_MM, "Address", address);
    pdf_field(doc, FIELD_PT, LABEL_MM, "Payment", or_dash(text_of(order, "payment_terms")));
    pdf_field(doc, FIELD_PT, LABEL_MM, "Manager",
              or_dash(text_of(json_object_get(order, "manager"), "name")));
    if (text_of(order, "comment"))
        pdf_field(doc, FIELD_PT, LABEL_MM, "Comment", text_of(order, "comment"));
    pdf_gap(doc, 5);
    lines_table(doc, order);
    totals_block(doc, order, currency);
    int rc = pdf_doc_save(doc, pdf, len);
    if (rc != 0)
        snprintf(why, ORDER_DOCUMENT_WHY_SIZE, "%s", pdf_doc_error(doc));
    pdf_doc_destroy(&doc);
    return rc;
}
