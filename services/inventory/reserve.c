/*
 * reserve.c — the all-or-nothing reservation decision (reserve.h).
 *
 * Orders have a handful of lines, so the matching is a plain nested scan:
 * no allocation, no hashing, easy to read.
 */
#include "services/inventory/reserve.h"

#include <string.h>

const char *reserve_reason(reserve_verdict_t verdict)
{
    switch (verdict) {
    case RESERVE_LINE_OK:
        return "ok";
    case RESERVE_LINE_INSUFFICIENT:
        return "insufficient";
    case RESERVE_LINE_UNKNOWN_SKU:
        return "unknown_sku";
    case RESERVE_LINE_INACTIVE:
        return "inactive";
    }
    return "invalid";
}

static int find_product(const reserve_product_t *products, size_t count, const char *sku)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(products[i].sku, sku) == 0)
            return (int)i;
    return -1;
}

/* The take of product p in the plan, created if new; NULL never (there
 * are at most line_count distinct products). */
static reserve_take_t *take_of(reserve_plan_t *plan, int product)
{
    for (size_t i = 0; i < plan->take_count; i++)
        if (plan->takes[i].product == product)
            return &plan->takes[i];
    reserve_take_t *take = &plan->takes[plan->take_count++];
    memset(take, 0, sizeof *take);
    take->product = product;
    return take;
}

int reserve_decide(const reserve_line_t *lines, size_t line_count,
                   const reserve_product_t *products, size_t product_count, reserve_plan_t *plan)
{
    if (!plan || !plan->lines || !plan->takes || (line_count > 0 && !lines))
        return -1;
    for (size_t i = 0; i < line_count; i++)
        if (!lines[i].sku || !lines[i].sku[0] || lines[i].quantity < 1)
            return -1;
    plan->take_count = 0;
    plan->short_count = 0;

    /* 1. what each product must give, over all the lines naming it */
    for (size_t i = 0; i < line_count; i++) {
        reserve_line_result_t *result = &plan->lines[i];
        result->product = find_product(products, product_count, lines[i].sku);
        result->available = 0;
        result->verdict = RESERVE_LINE_OK;
        if (result->product < 0) {
            result->verdict = RESERVE_LINE_UNKNOWN_SKU;
            continue;
        }
        const reserve_product_t *product = &products[result->product];
        result->available = stock_available(&product->level);
        if (!product->active) {
            result->verdict = RESERVE_LINE_INACTIVE;
            continue;
        }
        reserve_take_t *take = take_of(plan, result->product);
        if (__builtin_add_overflow(take->quantity, lines[i].quantity, &take->quantity))
            take->quantity = INT64_MAX;
    }

    /* 2. each product: can it give all of it? */
    for (size_t t = 0; t < plan->take_count; t++) {
        reserve_take_t *take = &plan->takes[t];
        const reserve_product_t *product = &products[take->product];
        if (stock_change(&product->level, 0, take->quantity, &take->after) == STOCK_OK)
            continue;
        for (size_t i = 0; i < line_count; i++)
            if (plan->lines[i].product == take->product &&
                plan->lines[i].verdict == RESERVE_LINE_OK)
                plan->lines[i].verdict = RESERVE_LINE_INSUFFICIENT;
    }

    for (size_t i = 0; i < line_count; i++)
        if (plan->lines[i].verdict != RESERVE_LINE_OK)
            plan->short_count++;
    plan->ok = plan->short_count == 0;
    return 0;
}
