/*
 * stock.h — the rules of one product's stock, as a pure function.
 *
 * Every change of a product's stock — an order held, released or written
 * off, a supply received, an import, a correction — goes through
 * stock_change so that the rules live in one place and are unit-tested
 * without a database (tests/test_stock.c):
 *
 *   - on hand and reserved never go below zero, and reserved never exceeds
 *     on hand (the schema's CHECKs say the same; this is how the service
 *     knows before asking);
 *   - available = on hand - reserved;
 *   - low stock (F13): a product is low while available < its threshold
 *     (a threshold of 0 means never). stock.low is published once per
 *     crossing: when it becomes low and was not already alerted; the flag
 *     is cleared when available rises back to the threshold, so the next
 *     fall alerts again.
 *
 * Low stock is judged on available, not on hand: units held for orders are
 * as good as sold, and the person who buys needs to know what is free.
 */
#ifndef INVENTORY_STOCK_H
#define INVENTORY_STOCK_H

#include <stdbool.h>
#include <stdint.h>

/* A product's stock as it stands (read under its row lock). */
typedef struct {
    int64_t on_hand;
    int64_t reserved;
    int64_t low_threshold;
    bool low_alerted;
} stock_level_t;

/* The stock after a change. */
typedef struct {
    int64_t on_hand;
    int64_t reserved;
    bool low_alerted; /* the flag to store */
    bool low_alert;   /* it just fell below the threshold: publish stock.low */
} stock_after_t;

/* Why a change is refused (stable codes, see stock_refusal_code). */
typedef enum {
    STOCK_OK = 0,
    STOCK_ON_HAND_NEGATIVE,  /* "on_hand_negative" */
    STOCK_RESERVED_NEGATIVE, /* "reserved_negative" */
    STOCK_OVER_RESERVED,     /* "below_reserved": reserved would exceed on hand */
    STOCK_OVERFLOW,          /* "too_large" */
} stock_refusal_t;

const char *stock_refusal_code(stock_refusal_t refusal);

/* Available stock: on hand minus reserved. */
int64_t stock_available(const stock_level_t *level);

/* Whether the stock is low with this threshold and availability. */
bool stock_is_low(int64_t low_threshold, int64_t available);

/* Applies deltas to level into *after (untouched when refused). */
stock_refusal_t stock_change(const stock_level_t *level, int64_t on_hand_delta,
                             int64_t reserved_delta, stock_after_t *after);

/* The same for a new threshold (a catalogue change): *after keeps the
 * quantities and says whether the product just became low. */
void stock_rethreshold(const stock_level_t *level, int64_t new_threshold, stock_after_t *after);

#endif
