/*
 * page.c — opaque keyset cursors (page.h): base64url of "<id>\n<key>".
 *
 * The id comes first because ids never hold a newline while a sort key
 * (a name, say) might; a key or id too long for page_t is refused when the
 * cursor is made, never silently cut.
 */
#include "common/page.h"

#include <stdio.h>
#include <string.h>

#include "common/base64url.h"
#include "common/numparse.h"

void page_cursor(const char *key, const char *id, char out[PAGE_CURSOR_SIZE])
{
    char plain[PAGE_KEY_MAX + PAGE_ID_MAX + 2];
    key = key ? key : "";
    id = id ? id : "";
    out[0] = '\0';
    if (strlen(key) >= PAGE_KEY_MAX || strlen(id) >= PAGE_ID_MAX || strchr(id, '\n'))
        return; /* no cursor: the list ends here rather than at a wrong place */
    int n = snprintf(plain, sizeof plain, "%s\n%s", id, key);
    if (n > 0)
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
    unsigned char plain[PAGE_KEY_MAX + PAGE_ID_MAX + 2];
    size_t len = 0;
    const char *newline = NULL;
    if (strlen(cursor) >= PAGE_CURSOR_SIZE ||
        base64url_decode(cursor, strlen(cursor), plain, sizeof plain, &len) != 0 ||
        memchr(plain, '\0', len) || !(newline = memchr(plain, '\n', len)) ||
        (size_t)((const unsigned char *)newline - plain) >= PAGE_ID_MAX ||
        strlen(newline + 1) >= PAGE_KEY_MAX) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out",
                         "start again without a cursor");
        return -1;
    }
    size_t id_len = (size_t)((const unsigned char *)newline - plain);
    memcpy(page_out->after_id, plain, id_len);
    page_out->after_id[id_len] = '\0';
    snprintf(page_out->after_key, sizeof page_out->after_key, "%s", newline + 1);
    page_out->has_cursor = 1;
    return 0;
}

void page_answer_take(http_response_t *res, json_t *items, const char *next_cursor)
{
    json_t *body = json_object();
    if (!body || !items || json_object_set_new(body, "items", items) != 0 ||
        json_object_set_new(body, "next_cursor",
                            next_cursor ? json_string(next_cursor) : json_null()) != 0) {
        json_decref(body);
        http_res_problem(res, 500, "out_of_memory", "could not build the page", NULL);
        return;
    }
    http_res_json_take(res, 200, body);
}
