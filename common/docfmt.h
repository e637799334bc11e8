/*
 * docfmt.h — how documents print amounts, weights, dates and addresses.
 *
 * The packing slip, the manifest, the order and the invoice (common/pdf.h
 * draws them) print the same things the same way: money from integer
 * minor units with its currency, grams as kilograms, a timestamp as the
 * day, an address object as one line. Pure functions over plain values.
 */
#ifndef CONVEYOR_DOCFMT_H
#define CONVEYOR_DOCFMT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* "3 490.00 RUB": thousands apart, two decimals (kopecks), the ISO code
 * after; negative amounts with a minus. currency NULL or "": no code. */
void docfmt_money(int64_t minor, const char *currency, char *out, size_t size);

/* "2.900" kilograms from grams; a negative weight prints as "0.000". */
void docfmt_kg(int64_t grams, char *out, size_t size);

/* "06.12.2026" from an ISO 8601 timestamp ("2026-12-06T19:44:20+00:00");
 * the text itself, cut to size, when it is not one. */
void docfmt_day(const char *timestamp, char *out, size_t size);

/* One line from an address object {postal_code, region, city, line1,
 * line2, text}: its parts joined by ", " (a region equal to the city
 * once; parts that do not fit in size are left off, never cut), or its
 * free text when it has no parts; "-" when empty. */
void docfmt_address(const json_t *address, char *out, size_t size);

#endif
