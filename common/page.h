/*
 * page.h — keyset paging for list endpoints.
 *
 * Lists (orders, products, tasks) are read in pages by "everything after
 * the last row I saw", never by OFFSET, so that a page costs the same deep
 * in the list and rows inserted meanwhile do not shift it. The position is
 * handed to the client as an opaque cursor: the sort key and the row id of
 * the last row, base64url-encoded, which the next request sends back.
 */
#ifndef CONVEYOR_PAGE_H
#define CONVEYOR_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"

#define PAGE_KEY_MAX 520 /* a sort key of up to 128 characters of any script */
#define PAGE_ID_MAX  132

typedef struct {
    int limit;                    /* rows wanted (1..max) */
    char after_key[PAGE_KEY_MAX]; /* "" on the first page */
    char after_id[PAGE_ID_MAX];
    int has_cursor;
} page_t;

/* Reads ?limit= and ?cursor= from the request. On a bad value answers 400
 * problem+json on res and returns -1. */
int page_from_request(const http_request_t *req, http_response_t *res, int default_limit,
                      int max_limit, page_t *page_out);

/* The cursor after a row with this sort key and id, into out (at least
 * PAGE_CURSOR_SIZE bytes). */
#define PAGE_CURSOR_SIZE 900
void page_cursor(const char *key, const char *id, char out[PAGE_CURSOR_SIZE]);

/* The one answer of a list page: 200 {"items": [...], "next_cursor": ...},
 * next_cursor being the cursor to ask for the next page, or null on the
 * last one (always present, so a client loops on it). Takes items. */
void page_answer_take(http_response_t *res, json_t *items, const char *next_cursor);

#endif
