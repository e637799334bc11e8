/*
 * code128.c — Code 128 encoding (code128.h): the symbol table, code set
 * B or C, the mod-103 check symbol and the stop pattern.
 */
#include "common/code128.h"

#include <stdbool.h>
#include <string.h>

/* The bar and space widths of symbols 0..105, six each (ISO/IEC 15417
 * table 1); every symbol is 11 modules. */
static const char symbols[106][7] = {
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232",
};
static const char stop_symbol[] = "2331112"; /* 13 modules, the final bar included */

enum { START_B = 104, START_C = 105 };

static void put_symbol(const char *pattern, uint8_t *widths, size_t *count, size_t *modules)
{
    for (const char *p = pattern; *p; p++) {
        widths[(*count)++] = (uint8_t)(*p - '0');
        *modules += (size_t)(*p - '0');
    }
}

int code128_encode(const char *text, uint8_t widths[CODE128_WIDTHS_MAX], size_t *count,
                   size_t *modules)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > CODE128_TEXT_MAX)
        return -1;
    bool digits = len % 2 == 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 32 || c > 126)
            return -1;
        digits = digits && c >= '0' && c <= '9';
    }
    int values[CODE128_TEXT_MAX + 1];
    size_t n = 0;
    values[n++] = digits ? START_C : START_B;
    if (digits)
        for (size_t i = 0; i < len; i += 2)
            values[n++] = (text[i] - '0') * 10 + (text[i + 1] - '0');
    else
        for (size_t i = 0; i < len; i++)
            values[n++] = (unsigned char)text[i] - 32;
    long check = values[0];
    for (size_t i = 1; i < n; i++)
        check += (long)values[i] * (long)i;
    *count = 0;
    *modules = 0;
    for (size_t i = 0; i < n; i++)
        put_symbol(symbols[values[i]], widths, count, modules);
    put_symbol(symbols[check % 103], widths, count, modules);
    put_symbol(stop_symbol, widths, count, modules);
    return 0;
}
