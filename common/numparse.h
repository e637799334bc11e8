/*
 * numparse.h — strict number parsing for text from outside.
 *
 * atoi and friends are banned (lint.sh): they accept "12abc" and overflow
 * silently. These accept only a whole, in-range decimal number with no
 * surrounding space, and say so when they do not.
 */
#ifndef CONVEYOR_NUMPARSE_H
#define CONVEYOR_NUMPARSE_H

#include <stdint.h>

/* 0 ok, -1 if text is NULL, empty, not all digits (one leading '-' allowed
 * for the signed form) or out of range. *out is untouched on failure. */
int numparse_i64(const char *text, int64_t *out);
int numparse_u64(const char *text, uint64_t *out);
int numparse_int_range(const char *text, int64_t min, int64_t max, int64_t *out);

/* Durations: "250ms", "5s", "10m", "2h", "7d", or a bare number of
 * milliseconds. 0 ok, -1 otherwise. */
int numparse_duration_ms(const char *text, int64_t *out_ms);

#endif
