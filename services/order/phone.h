/*
 * phone.h — phone numbers as the store writes them, in E.164.
 *
 * Customers are found by phone (F4), so "8 (912) 345-67-89", "+7 912 345
 * 67 89" and "9123456789" must all become "+79123456789". Russian habits
 * are the default (a leading 8 or a bare 10-digit number starting with 9
 * is +7); a number written with + and a country code is kept as written.
 */
#ifndef ORDER_PHONE_H
#define ORDER_PHONE_H

#include <stddef.h>

#define PHONE_E164_SIZE 17 /* "+" + up to 15 digits + NUL */

/* Normalises text to E.164 into out. Accepts digits with spaces, dashes,
 * dots, parentheses and one leading "+". 0 ok; -1 if it is not a phone
 * number (letters, too few or too many digits, a bad country prefix), and
 * out is then "". The exact rule is at the top of phone.c: with "+", 8..15
 * digits not starting with 0 (+7: exactly 10 after the 7); without, only
 * 8/7 + 10 digits or 10 digits starting with 9 (both become +7). */
int phone_normalize(const char *text, char out[PHONE_E164_SIZE]);

#endif
