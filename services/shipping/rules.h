/*
 * rules.h — the shipping service's pure rules over plain structs,
 * unit-tested without a database (tests/test_rules.c): which weight rule
 * picks the carrier, service and package of a parcel (F24), a parcel's
 * weight from its lines, how far along a tracking status is (so a late or
 * repeated event never moves a parcel back), and a batch's number.
 */
#ifndef SHIPPING_RULES_H
#define SHIPPING_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_MAX 128

typedef struct {
    int priority;
    char method[16];
    char region[128]; /* lower-cased, "*" for any */
    int64_t min_weight_g;
    int64_t max_weight_g; /* -1: no upper bound (inclusive bound otherwise) */
    char carrier[33];
    char carrier_id[33]; /* "" for a carrier without an API */
    char service[49];
    char package[33];
    int64_t fixed_cost_minor; /* -1: the carrier's rate */
    int days_min, days_max;
} weight_rule_t;

/* The first rule (rules sorted by priority) for method, region (any case)
 * and weight; NULL when none. */
const weight_rule_t *rules_pick(const weight_rule_t *rules, size_t count, const char *method,
                                const char *region, int64_t weight_g);

/* The parcel's weight: sum of unit weight x quantity. -1 on overflow past
 * INT32_MAX grams. */
int64_t rules_weight(const uint32_t *unit_weights_g, const uint32_t *quantities, size_t count);

/* How far along a tracking status is: NY/UN 0, AC 1, IT 2, AT/EX 3, SP 4,
 * DE 5; -1 for an unknown code. A status applies only when its rank is
 * above the parcel's (AT and EX also at rank 3 again, a second attempt). */
int rules_tracking_rank(const char *code);
bool rules_tracking_applies(int current_rank, const char *current_code, const char *code);

/* "20261205" + "001" -> "20261205001" (seq 1..999 three digits, more as is). */
int rules_batch_number(const char *yyyymmdd, int seq, char *out, size_t size);

#endif
