/*
 * phone.c — phone numbers to E.164 (phone.h), so that one customer typing
 * "8 (912) 345-67-89" today and "+7 912 345 67 89" tomorrow is found as the
 * same person (F4).
 *
 * The rule, in order:
 *   1. Only digits, spaces, '-', '.', '(' and ')' may appear, plus one '+'
 *      that must come before everything but leading spaces.
 *   2. With '+': the digits are the country code and the number, kept as
 *      written; the first digit may not be 0; 8 to 15 digits in all, and a
 *      +7 number (Russia, Kazakhstan) has exactly 10 digits after the 7.
 *   3. Without '+', Russian habits: 11 digits starting with 8 or 7 are +7
 *      and the rest; 10 digits starting with 9 (a mobile without its trunk
 *      prefix) are +7 and those digits. Anything else without '+' has no
 *      country code we could trust and is refused.
 * Country codes are not checked against the ITU list: "+8 912 ..." (a
 * common slip for 8 or +7) passes as +89..., which no customer will have.
 */
#include "services/order/phone.h"

#include <stdbool.h>
#include <string.h>

#define PHONE_MAX_DIGITS  15 /* E.164 */
#define PHONE_MIN_DIGITS  8  /* the shortest numbers in use, country code included */
#define PHONE_RU_NATIONAL 10 /* digits after +7 */

static bool phone_is_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

int phone_normalize(const char *text, char out[PHONE_E164_SIZE])
{
    char digits[PHONE_MAX_DIGITS + 1];
    size_t count = 0;
    bool plus = false;
    bool started = false; /* a digit or a separator other than space was seen */

    if (out)
        out[0] = '\0';
    if (!text || !out)
        return -1;
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (c >= '0' && c <= '9') {
            if (count == PHONE_MAX_DIGITS)
                return -1; /* too long */
            digits[count++] = c;
            started = true;
        } else if (c == '+') {
            if (plus || started)
                return -1; /* a second '+', or '+' after the number began */
            plus = true;
            started = true;
        } else if (phone_is_separator(c)) {
            if (c != ' ')
                started = true;
        } else {
            return -1; /* letters, other punctuation, control or non-ASCII bytes */
        }
    }
    digits[count] = '\0';

    const char *national = digits; /* what follows "+7" when the number is Russian */
    bool russian;
    if (plus) {
        if (count == 0 || digits[0] == '0')
            return -1;
        russian = digits[0] == '7';
        if (russian) {
            if (count != 1 + PHONE_RU_NATIONAL)
                return -1;
            national = digits + 1;
        } else if (count < PHONE_MIN_DIGITS) {
            return -1;
        }
    } else {
        russian = true;
        if (count == 1 + PHONE_RU_NATIONAL && (digits[0] == '8' || digits[0] == '7'))
            national = digits + 1;
        else if (count == PHONE_RU_NATIONAL && digits[0] == '9')
            national = digits;
        else
            return -1;
    }

    if (russian) {
        out[0] = '+';
        out[1] = '7';
        memcpy(out + 2, national, PHONE_RU_NATIONAL);
        out[2 + PHONE_RU_NATIONAL] = '\0';
    } else {
        out[0] = '+';
        memcpy(out + 1, digits, count + 1); /* with the NUL */
    }
    return 0;
}
