/*
 * reserve.h — may every line of an order be held? All or nothing (F10).
 *
 * A pure decision over plain structs: the order's lines and the stock of
 * the products they name, as read under the products' row locks. It says
 * per line whether it can be held and, if not, why ("insufficient",
 * "unknown_sku", "inactive" — never guessed), and, when every line can,
 * what to take from each product and whether that crosses its low-stock
 * threshold. Lines naming the same SKU are summed: an order asking for
 * 3 + 3 of a SKU with 5 available is short on both lines.
 *
 * The database has the last word (store.c's reserve statement re-checks
 * every product in SQL and changes nothing unless all pass); this decides
 * what to tell the order service and lets the handler build its events.
 */
#ifndef INVENTORY_RESERVE_H
#define INVENTORY_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/inventory/stock.h"

/* An order line as asked for. */
typedef struct {
    uint32_t line_no;
    const char *sku;
    int64_t quantity;
} reserve_line_t;

/* A product named by the order, as it stands. */
typedef struct {
    const char *sku;
    bool active;
    stock_level_t level;
} reserve_product_t;

typedef enum {
    RESERVE_LINE_OK = 0,
    RESERVE_LINE_INSUFFICIENT, /* "insufficient" */
    RESERVE_LINE_UNKNOWN_SKU,  /* "unknown_sku" */
    RESERVE_LINE_INACTIVE,     /* "inactive" */
} reserve_verdict_t;

/* The stable reason of a verdict, as stock.shortage carries it. */
const char *reserve_reason(reserve_verdict_t verdict);

typedef struct {
    reserve_verdict_t verdict;
    int product;       /* index into the products, -1 for an unknown SKU */
    int64_t available; /* the product's available stock before this order; 0 if unknown */
} reserve_line_result_t;

/* What to take from one product when the order is held. */
typedef struct {
    int product; /* index into the products */
    int64_t quantity;
    stock_after_t after;
} reserve_take_t;

/* The decision. The caller provides the arrays: lines with line_count
 * slots, takes with line_count slots (at most one per distinct SKU). */
typedef struct {
    reserve_line_result_t *lines;
    reserve_take_t *takes;
    size_t take_count;
    size_t short_count;
    bool ok; /* every line can be held */
} reserve_plan_t;

/* Decides for lines against products (SKUs compared exactly; products in
 * any order, each SKU at most once). 0 with *plan filled; -1 if a line is
 * malformed (no SKU, quantity < 1) or the arrays are missing. */
int reserve_decide(const reserve_line_t *lines, size_t line_count,
                   const reserve_product_t *products, size_t product_count, reserve_plan_t *plan);

#endif
