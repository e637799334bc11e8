/*
 * page.c — opaque keyset cursors (page.h): base64url of "<key>\n<id>".
 */
#include "common/page.h"

#include <stdio.h>
#include <string.h>

#include "common/base64url.h"
#include "common/numparse.h"

void page_cursor(const char *key, const char *id, char out[PAGE_CURSOR_SIZE])
{
    char plain[PAGE_KEY_MAX + 64 + 2];
    int n = snprintf(plain, sizeof plain, "%s\n%s", key ? key : "", id ? id : "");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof plain)
        n = (int)sizeof plain - 1;
    base64url_encode(plain, (size_t)n, out, PAGE_CURSOR_SIZE);
}

int page_from_request(const http_request_t *req, http_response_t *res, int default_limit,
                      int max_limit, page_t *page_out)
{
    memset(page_out, 0, sizeof *page_out);
    page_out->limit = default_limit;
    const char *limit = http_req_query(req, "limit");
    int64_t value = 0;
    if (limit) {
        if (numparse_int_range(limit, 1, max_limit, &value) != 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "limit must be a whole number from 1 to %d", max_limit);
            http_res_problem(res, 400, "bad_limit", "limit is out of range", detail);
            return -1;
        }
        page_out->limit = (int)value;
    }
    const char *cursor = http_req_query(req, "cursor");
    if (!cursor || !cursor[0])
        return 0;
    unsigned char plain[PAGE_KEY_MAX + 64 + 2];
    size_t len = 0;
    const char *newline = NULL;
    if (strlen(cursor) >= PAGE_CURSOR_SIZE ||
        base64url_decode(cursor, strlen(cursor), plain, sizeof plain, &len) != 0 ||
        !(newline = memchr(plain, '\n', len)) ||
        (size_t)((const unsigned char *)newline - plain) >= PAGE_KEY_MAX ||
        strlen(newline + 1) >= sizeof page_out->after_id || memchr(plain, '\0', len)) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out",
                         "start again without a cursor");
        return -1;
    }
    size_t key_len = (size_t)((const unsigned char *)newline - plain);
    memcpy(page_out->after_key, plain, key_len);
    page_out->after_key[key_len] = '\0';
    snprintf(page_out->after_id, sizeof page_out->after_id, "%s", newline + 1);
    page_out->has_cursor = 1;
    return 0;
}
