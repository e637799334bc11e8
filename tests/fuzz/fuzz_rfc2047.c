/*
 * fuzz_rfc2047.c — the email header writer (services/notification/
 * adapters/mime.c: mime_header_text), by round trip: what a customer's
 * name or a template's subject can be, encoded and read back.
 *
 * Input: a first byte giving the column the value starts at (mod 80),
 * then the text. Only valid UTF-8 without controls is written (the
 * adapter refuses the rest before writing, outcall_text_ok). Checks: the
 * writer never fails on such text, every line and word keeps RFC 2047's
 * limits, no word splits a UTF-8 sequence (check_rfc2047.c), and the
 * words decode to exactly the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/notification/adapters/mime.h"
#include "services/notification/adapters/outcall.h"
#include "tests/fuzz/check_rfc2047.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    size_t column = data[0] % 80;
    char *text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t len = strlen(text);
    if (!outcall_text_ok(text, len) || strpbrk(text, "\r\n\t")) {
        free(text);
        return 0;
    }
    strbuf_t out;
    strbuf_init(&out, 64 * 1024);
    FUZZ_CHECK(mime_header_text(&out, text, column) == 0);
    char *decoded = malloc(len + 1);
    FUZZ_CHECK(decoded != NULL);
    const char *broken = check_rfc2047_decode(out.ptr ? out.ptr : "", column, decoded, len + 1);
    if (broken) {
        fprintf(stderr, "rule broken: %s\nwritten: %s\n", broken, out.ptr ? out.ptr : "");
        FUZZ_CHECK(broken == NULL);
    }
    FUZZ_CHECK(strcmp(decoded, text) == 0);
    free(decoded);
    strbuf_release(&out);
    free(text);
    return 0;
}
