/*
 * rules.c — the shipping service's pure rules (rules.h).
 */
#include "services/shipping/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const weight_rule_t *rules_pick(const weight_rule_t *rules, size_t count, const char *method,
                                const char *region, int64_t weight_g)
{
    for (size_t i = 0; i < count; i++) {
        const weight_rule_t *rule = &rules[i];
        if (strcmp(rule->method, method ? method : "") != 0)
            continue;
        if (strcmp(rule->region, "*") != 0 && strcasecmp(rule->region, region ? region : "") != 0)
            continue;
        if (weight_g < rule->min_weight_g ||
            (rule->max_weight_g >= 0 && weight_g > rule->max_weight_g))
            continue;
        return rule;
    }
    return NULL;
}

int64_t rules_weight(const uint32_t *unit_weights_g, const uint32_t *quantities, size_t count)
{
    int64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t product = (uint64_t)unit_weights_g[i] * (uint64_t)quantities[i];
        if (product > INT32_MAX)
            return -1;
        int64_t line = (int64_t)product;
        if (total > INT32_MAX - line)
            return -1;
        total += line;
    }
    return total;
}

int rules_tracking_rank(const char *code)
{
    static const struct {
        const char *code;
        int rank;
    } ranks[] = {{"NY", 0}, {"UN", 0}, {"AC", 1}, {"IT", 2},
                 {"AT", 3}, {"EX", 3}, {"SP", 4}, {"DE", 5}};
    for (size_t i = 0; code && i < sizeof ranks / sizeof ranks[0]; i++)
        if (strcmp(ranks[i].code, code) == 0)
            return ranks[i].rank;
    return -1;
}

bool rules_tracking_applies(int current_rank, const char *current_code, const char *code)
{
    int rank = rules_tracking_rank(code);
    if (rank < 0)
        return false;
    if (rank > current_rank)
        return true;
    /* a second failed attempt or exception after the first: news too */
    return rank == 3 && current_rank == 3 && current_code && strcmp(current_code, code) != 0;
}

int rules_batch_number(const char *yyyymmdd, int seq, char *out, size_t size)
{
    if (!yyyymmdd || strlen(yyyymmdd) != 8 || seq < 1)
        return -1;
    for (int i = 0; i < 8; i++)
        if (!isdigit((unsigned char)yyyymmdd[i]))
            return -1;
    int n = snprintf(out, size, "%s%03d", yyyymmdd, seq);
    return n > 0 && (size_t)n < size ? 0 : -1;
}
