/*
 * receipt.c — building 54-FZ receipt lines whose sums are exact to the
 * kopeck (receipt.h says why lines are split).
 */
#include "services/payment/receipt.h"

#include <stdbool.h>
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

void receipt_clear(receipt_t *receipt)
{
    if (!receipt)
        return;
    free(receipt->lines);
    memset(receipt, 0, sizeof *receipt);
}
