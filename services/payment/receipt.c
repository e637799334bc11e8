/*
 * receipt.c — building 54-FZ receipt lines whose sums are exact to the
 * kopeck (receipt.h says why lines are split).
 */
#include "services/payment/receipt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *receipt_refusal_code(receipt_refusal_t refusal)
{
    switch (refusal) {
    case RECEIPT_OK:
        return "ok";
    case RECEIPT_NO_LINES:
        return "receipt_empty";
    case RECEIPT_TOO_MANY:
        return "receipt_too_many_lines";
    case RECEIPT_BAD_LINE:
        return "receipt_bad_line";
    case RECEIPT_BAD_VAT:
        return "receipt_bad_vat";
    case RECEIPT_OVERFLOW:
        return "too_large";
    case RECEIPT_NO_MEMORY:
        return "out_of_memory";
    }
    return "unknown";
}

const char *receipt_subject_name(receipt_subject_t subject)
{
    switch (subject) {
    case RECEIPT_SUBJECT_COMMODITY:
        return "commodity";
    case RECEIPT_SUBJECT_SERVICE:
        return "service";
    case RECEIPT_SUBJECT_PAYMENT:
        return "payment";
    }
    return "unknown";
}

const char *receipt_method_name(receipt_method_t method)
{
    switch (method) {
    case RECEIPT_METHOD_FULL_PREPAYMENT:
        return "full_prepayment";
    case RECEIPT_METHOD_PARTIAL_PREPAYMENT:
        return "partial_prepayment";
    case RECEIPT_METHOD_FULL_PAYMENT:
        return "full_payment";
    }
    return "unknown";
}

/* The rates a Russian cash register knows for goods sold online. */
static bool vat_known(uint32_t vat_rate_bp)
{
    return vat_rate_bp == 0 || vat_rate_bp == 1000 || vat_rate_bp == 2000;
}

/* Copies name into out, cut to RECEIPT_NAME_MAX bytes without splitting
 * a UTF-8 character (continuation bytes are 10xxxxxx). */
static void copy_name(char out[RECEIPT_NAME_MAX + 1], const char *name)
{
    size_t len = strlen(name);
    if (len > RECEIPT_NAME_MAX) {
        len = RECEIPT_NAME_MAX;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, name, len);
    out[len] = '\0';
}

static receipt_line_t *push_line(receipt_t *receipt, const char *name, uint32_t quantity,
                                 int64_t price_minor, uint32_t vat_rate_bp,
                                 receipt_subject_t subject, receipt_method_t method)
{
    receipt_line_t *line = &receipt->lines[receipt->count++];
    copy_name(line->name, name);
    line->quantity = quantity;
    line->price_minor = price_minor;
    line->amount_minor = price_minor * (int64_t)quantity; /* checked by the caller */
    line->vat_rate_bp = vat_rate_bp;
    line->subject = subject;
    line->method = method;
    return line;
}

/* One order line as one or two receipt lines whose amounts add up to
 * its total: q - r units at total / q and r units a kopeck dearer. */
static receipt_refusal_t add_order_line(receipt_t *receipt, const receipt_order_line_t *line,
                                        receipt_method_t method)
{
    if (!line->name || !line->name[0] || line->quantity == 0 || line->total_minor < 0)
        return RECEIPT_BAD_LINE;
    if (!vat_known(line->vat_rate_bp))
        return RECEIPT_BAD_VAT;
    int64_t quantity = line->quantity;
    int64_t base = line->total_minor / quantity;
    int64_t dearer = line->total_minor % quantity;
    push_line(receipt, line->name, (uint32_t)(quantity - dearer), base, line->vat_rate_bp,
              RECEIPT_SUBJECT_COMMODITY, method);
    if (dearer > 0)
        push_line(receipt, line->name, (uint32_t)dearer, base + 1, line->vat_rate_bp,
                  RECEIPT_SUBJECT_COMMODITY, method);
    return RECEIPT_OK;
}

static receipt_refusal_t sum_lines(receipt_t *receipt)
{
    int64_t total = 0;
    for (size_t i = 0; i < receipt->count; i++)
        if (__builtin_add_overflow(total, receipt->lines[i].amount_minor, &total))
            return RECEIPT_OVERFLOW;
    receipt->total_minor = total;
    return RECEIPT_OK;
}

receipt_refusal_t receipt_for_order(const receipt_order_line_t *lines, size_t count,
                                    int64_t delivery_minor, uint32_t delivery_vat_bp,
                                    receipt_method_t method, receipt_t *receipt)
{
    memset(receipt, 0, sizeof *receipt);
    if (count == 0)
        return RECEIPT_NO_LINES;
    if (count > RECEIPT_ORDER_LINES_MAX)
        return RECEIPT_TOO_MANY;
    if (delivery_minor < 0)
        return RECEIPT_BAD_LINE;
    if (!vat_known(delivery_vat_bp))
        return RECEIPT_BAD_VAT;
    receipt->lines = calloc(2 * count + 1, sizeof *receipt->lines);
    if (!receipt->lines)
        return RECEIPT_NO_MEMORY;
    receipt_refusal_t refusal = RECEIPT_OK;
    for (size_t i = 0; i < count && refusal == RECEIPT_OK; i++)
        refusal = add_order_line(receipt, &lines[i], method);
    if (refusal == RECEIPT_OK && delivery_minor > 0)
        push_line(receipt, "Доставка", 1, delivery_minor, delivery_vat_bp, RECEIPT_SUBJECT_SERVICE,
                  method);
    if (refusal == RECEIPT_OK)
        refusal = sum_lines(receipt);
    if (refusal != RECEIPT_OK)
        receipt_clear(receipt);
    return refusal;
}

receipt_refusal_t receipt_for_advance(const char *name, int64_t amount_minor, uint32_t vat_rate_bp,
                                      receipt_t *receipt)
{
    memset(receipt, 0, sizeof *receipt);
    if (!name || !name[0] || amount_minor <= 0)
        return RECEIPT_BAD_LINE;
    if (!vat_known(vat_rate_bp))
        return RECEIPT_BAD_VAT;
    receipt->lines = calloc(1, sizeof *receipt->lines);
    if (!receipt->lines)
        return RECEIPT_NO_MEMORY;
    push_line(receipt, name, 1, amount_minor, vat_rate_bp, RECEIPT_SUBJECT_PAYMENT,
              RECEIPT_METHOD_PARTIAL_PREPAYMENT);
    receipt->total_minor = amount_minor;
    return RECEIPT_OK;
}

json_t *receipt_json(const receipt_t *receipt)
{
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < receipt->count; i++) {
        const receipt_line_t *line = &receipt->lines[i];
        json_t *item =
            json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:s}", "name", line->name, "quantity",
                      (json_int_t)line->quantity, "price_minor", (json_int_t)line->price_minor,
                      "amount_minor", (json_int_t)line->amount_minor, "vat_rate_bp",
                      (json_int_t)line->vat_rate_bp, "subject", receipt_subject_name(line->subject),
                      "method", receipt_method_name(line->method));
        if (!item || json_array_append_new(lines, item) != 0) {
            json_decref(lines);
            return NULL;
        }
    }
    return lines;
}

static int parse_subject(const char *name, receipt_subject_t *out)
{
    for (int s = RECEIPT_SUBJECT_COMMODITY; s <= RECEIPT_SUBJECT_PAYMENT; s++)
        if (strcmp(name, receipt_subject_name((receipt_subject_t)s)) == 0) {
            *out = (receipt_subject_t)s;
            return 0;
        }
    return -1;
}

static int parse_method(const char *name, receipt_method_t *out)
{
    for (int m = RECEIPT_METHOD_FULL_PREPAYMENT; m <= RECEIPT_METHOD_FULL_PAYMENT; m++)
        if (strcmp(name, receipt_method_name((receipt_method_t)m)) == 0) {
            *out = (receipt_method_t)m;
            return 0;
        }
    return -1;
}

static receipt_refusal_t read_line(const json_t *item, receipt_line_t *line)
{
    const char *name = NULL, *subject = NULL, *method = NULL;
    json_int_t quantity = 0, price = 0, amount = 0, vat = 0;
    if (json_unpack((json_t *)(uintptr_t)item, "{s:s,s:I,s:I,s:I,s:I,s:s,s:s}", "name", &name,
                    "quantity", &quantity, "price_minor", &price, "amount_minor", &amount,
                    "vat_rate_bp", &vat, "subject", &subject, "method", &method) != 0)
        return RECEIPT_BAD_LINE;
    if (!name[0] || strlen(name) > RECEIPT_NAME_MAX || quantity <= 0 || quantity > UINT32_MAX ||
        price < 0 || parse_subject(subject, &line->subject) != 0 ||
        parse_method(method, &line->method) != 0)
        return RECEIPT_BAD_LINE;
    if (vat < 0 || vat > UINT32_MAX || !vat_known((uint32_t)vat))
        return RECEIPT_BAD_VAT;
    int64_t product;
    if (__builtin_mul_overflow((int64_t)price, (int64_t)quantity, &product))
        return RECEIPT_OVERFLOW;
    if (product != amount)
        return RECEIPT_BAD_LINE;
    memcpy(line->name, name, strlen(name) + 1);
    line->quantity = (uint32_t)quantity;
    line->price_minor = price;
    line->amount_minor = amount;
    line->vat_rate_bp = (uint32_t)vat;
    return RECEIPT_OK;
}

receipt_refusal_t receipt_from_json(const json_t *lines, receipt_t *receipt)
{
    memset(receipt, 0, sizeof *receipt);
    if (!json_is_array(lines) || json_array_size(lines) == 0)
        return RECEIPT_NO_LINES;
    size_t count = json_array_size(lines);
    if (count > 2 * RECEIPT_ORDER_LINES_MAX + 1)
        return RECEIPT_TOO_MANY;
    receipt->lines = calloc(count, sizeof *receipt->lines);
    if (!receipt->lines)
        return RECEIPT_NO_MEMORY;
    receipt_refusal_t refusal = RECEIPT_OK;
    for (size_t i = 0; i < count && refusal == RECEIPT_OK; i++) {
        refusal = read_line(json_array_get(lines, i), &receipt->lines[i]);
        receipt->count = i + 1;
    }
    if (refusal == RECEIPT_OK)
        refusal = sum_lines(receipt);
    if (refusal != RECEIPT_OK)
        receipt_clear(receipt);
    return refusal;
}

void receipt_clear(receipt_t *receipt)
{
    if (!receipt)
        return;
    free(receipt->lines);
    memset(receipt, 0, sizeof *receipt);
}
