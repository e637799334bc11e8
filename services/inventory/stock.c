/*
 * stock.c — the rules of one product's stock (stock.h).
 */
#include "services/inventory/stock.h"

#include <stddef.h>

const char *stock_refusal_code(stock_refusal_t refusal)
{
    switch (refusal) {
    case STOCK_OK:
        return "ok";
    case STOCK_ON_HAND_NEGATIVE:
        return "on_hand_negative";
    case STOCK_RESERVED_NEGATIVE:
        return "reserved_negative";
    case STOCK_OVER_RESERVED:
        return "below_reserved";
    case STOCK_OVERFLOW:
        return "too_large";
    }
    return "invalid";
}

int64_t stock_available(const stock_level_t *level)
{
    return level->on_hand - level->reserved;
}

bool stock_is_low(int64_t low_threshold, int64_t available)
{
    return low_threshold > 0 && available < low_threshold;
}

/* a + b into *sum; false on overflow */
static bool add_checked(int64_t a, int64_t b, int64_t *sum)
{
    return !__builtin_add_overflow(a, b, sum);
}

/* The low flag after the stock became `available`: set while low, cleared
 * when it rose back; an alert only on the way down. */
static void judge_low(bool alerted_before, int64_t threshold, int64_t available,
                      stock_after_t *after)
{
    bool low = stock_is_low(threshold, available);
    after->low_alert = low && !alerted_before;
    after->low_alerted = low;
}

stock_refusal_t stock_change(const stock_level_t *level, int64_t on_hand_delta,
                             int64_t reserved_delta, stock_after_t *after)
{
    int64_t on_hand = 0, reserved = 0;
    if (!add_checked(level->on_hand, on_hand_delta, &on_hand) ||
        !add_checked(level->reserved, reserved_delta, &reserved))
        return STOCK_OVERFLOW;
    if (on_hand < 0)
        return STOCK_ON_HAND_NEGATIVE;
    if (reserved < 0)
        return STOCK_RESERVED_NEGATIVE;
    if (reserved > on_hand)
        return STOCK_OVER_RESERVED;
    after->on_hand = on_hand;
    after->reserved = reserved;
    judge_low(level->low_alerted, level->low_threshold, on_hand - reserved, after);
    return STOCK_OK;
}

void stock_rethreshold(const stock_level_t *level, int64_t new_threshold, stock_after_t *after)
{
    after->on_hand = level->on_hand;
    after->reserved = level->reserved;
    judge_low(level->low_alerted, new_threshold, level->on_hand - level->reserved, after);
}
