/*
 * receipt.h — the 54-FZ receipt lines sent with an invoice or a refund.
 *
 * A Russian online store must hand the acquirer, with every payment and
 * refund, the receipt its online cash register prints (DOMAIN.md F38):
 * each line's name, quantity, unit price, VAT rate, payment subject
 * (goods, a service, a payment) and payment method (full prepayment,
 * partial prepayment, full payment). The cash register checks that
 * price x quantity is each line's amount to the kopeck and that the lines
 * add up to the payment, so the order's discount, already shared out per
 * line by the order service, cannot be carried as a per-unit price when it
 * does not divide: such a line is split in two (some units at the price,
 * the rest a kopeck dearer). The receipt's sum is then exactly the amount
 * charged. Pure functions over plain structs, unit-tested in
 * tests/test_receipt.c; the adapters map rates and subjects to each
 * bank's codes.
 */
#ifndef PAYMENT_RECEIPT_H
#define PAYMENT_RECEIPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line name an acquirer keeps (YooKassa: 128 characters); a
 * longer name is cut at a UTF-8 character boundary within this many bytes. */
#define RECEIPT_NAME_MAX 128
/* Most order lines in one receipt (two receipt lines each at most). */
#define RECEIPT_ORDER_LINES_MAX 500

typedef enum {
    RECEIPT_SUBJECT_COMMODITY = 0, /* "commodity": goods */
    RECEIPT_SUBJECT_SERVICE,       /* "service": delivery */
    RECEIPT_SUBJECT_PAYMENT,       /* "payment": an advance, not yet goods */
} receipt_subject_t;

typedef enum {
    RECEIPT_METHOD_FULL_PREPAYMENT = 0, /* "full_prepayment": paid in full before delivery */
    RECEIPT_METHOD_PARTIAL_PREPAYMENT,  /* "partial_prepayment": a part before delivery */
    RECEIPT_METHOD_FULL_PAYMENT,        /* "full_payment": paid when handed over */
} receipt_method_t;

/* A line of the order as confirmed (order.confirmed's PricedLine). */
typedef struct {
    const char *name;
    uint32_t quantity;
    int64_t total_minor;  /* after its share of the discount */
    uint32_t vat_rate_bp; /* 2000 = 20 %, 1000 = 10 %, 0 = no VAT */
} receipt_order_line_t;

/* A line of the receipt: price_minor x quantity == amount_minor. */
typedef struct {
    char name[RECEIPT_NAME_MAX + 1];
    uint32_t quantity;
    int64_t price_minor;
    int64_t amount_minor;
    uint32_t vat_rate_bp;
    receipt_subject_t subject;
    receipt_method_t method;
} receipt_line_t;

typedef struct {
    receipt_line_t *lines; /* owned */
    size_t count;
    int64_t total_minor; /* the sum of the lines' amounts */
} receipt_t;

/* Why a receipt cannot be made (stable codes, receipt_refusal_code). */
typedef enum {
    RECEIPT_OK = 0,
    RECEIPT_NO_LINES,  /* "receipt_empty" */
    RECEIPT_TOO_MANY,  /* "receipt_too_many_lines" */
    RECEIPT_BAD_LINE,  /* "receipt_bad_line": zero quantity, negative amount, no name */
    RECEIPT_BAD_VAT,   /* "receipt_bad_vat": a rate no cash register knows */
    RECEIPT_OVERFLOW,  /* "too_large" */
    RECEIPT_NO_MEMORY, /* "out_of_memory" */
} receipt_refusal_t;

const char *receipt_refusal_code(receipt_refusal_t refusal);
const char *receipt_subject_name(receipt_subject_t subject);
const char *receipt_method_name(receipt_method_t method);

/* The receipt for paying the whole order: its lines (split where the
 * total does not divide by the quantity) and, when delivery_minor > 0, a
 * delivery line ("Доставка", a service at delivery_vat_bp). method says
 * when it is paid. Lines with a total of 0 (a gift) are kept at price 0.
 * On RECEIPT_OK the caller owns *receipt (receipt_clear). */
receipt_refusal_t receipt_for_order(const receipt_order_line_t *lines, size_t count,
                                    int64_t delivery_minor, uint32_t delivery_vat_bp,
                                    receipt_method_t method, receipt_t *receipt);

/* The receipt for an advance of amount_minor > 0 that is not the whole
 * order (a part of it, or the rest after a part): one line named name, a
 * "payment" subject, partial prepayment, at vat_rate_bp. Caller owns
 * *receipt on RECEIPT_OK. */
receipt_refusal_t receipt_for_advance(const char *name, int64_t amount_minor, uint32_t vat_rate_bp,
                                      receipt_t *receipt);

/* The receipt as stored with an invoice or a refund: [{"name", "quantity",
 * "price_minor", "amount_minor", "vat_rate_bp", "subject", "method"}].
 * NULL when out of memory; caller owns the result. */
json_t *receipt_json(const receipt_t *receipt);

/* Reads back what receipt_json wrote (from the database, so checked as
 * any outside bytes: names, counts, amounts and that price x quantity is
 * the amount). On RECEIPT_OK the caller owns *receipt. */
receipt_refusal_t receipt_from_json(const json_t *lines, receipt_t *receipt);

/* Frees the lines and empties *receipt; accepts an empty one. */
void receipt_clear(receipt_t *receipt);

#endif
