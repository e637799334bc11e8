/*
 * test_page.c — keyset page cursors (page.h) read from real requests, the
 * validation collector (problems.h) and SHA-256 / random hex (digest.h).
 *
 * Proves: a cursor made by page_cursor comes back through a real HTTP
 * request (http.h on port 0, called with libcurl) as the same sort key and
 * row id, whatever bytes the key holds, up to the longest key a page_t can
 * carry; no limit means the default and any limit from 1 to the maximum is
 * taken; a limit that is not a whole number in range, and a cursor that is
 * not one page_cursor could have made (not base64url, no key/id split, a
 * NUL inside, too long), are each answered 400 problem+json with a stable
 * code, before the route does anything else; problems keeps every reason
 * in order with field, code and formatted message, a message cut at the
 * size limit inside a multi-byte character included, and take hands the
 * array over and leaves an empty, usable collector; SHA-256 matches the
 * FIPS 180-2 vectors for "" and "abc" and hashes bytes, not strings;
 * random hex has the right length, only lower-case hex digits, differs
 * from call to call, and a request beyond the source's size is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "common/base64url.h"
#include "common/digest.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/page.h"
#include "common/problems.h"

static http_server_t *server;
static unsigned port;
static int route_calls; /* how often the route got past page_from_request */

/* --- the route under test: parses a page and answers what it parsed -------- */

static void route_list(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    page_t page;
    if (page_from_request(req, res, 20, 100, &page) != 0)
        return;
    __atomic_add_fetch(&route_calls, 1, __ATOMIC_SEQ_CST);
    http_res_json_take(res, 200,
                       json_pack("{s:i,s:s,s:s,s:b}", "limit", page.limit, "after_key",
                                 page.after_key, "after_id", page.after_id, "has_cursor",
                                 page.has_cursor));
}

/* --- a small libcurl client ------------------------------------------------ */

typedef struct {
    char body[4096];
    size_t len;
    char content_type[128];
    long status;
} reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    reply_t *reply = arg;
    size_t bytes = size * n;
    if (reply->len + bytes < sizeof reply->body) {
        memcpy(reply->body + reply->len, data, bytes);
        reply->len += bytes;
        reply->body[reply->len] = '\0';
    }
    return bytes;
}

/* GET /v1/things?<query> (query is sent as given: callers escape). */
static void get(const char *query, reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/things%s%s", port, query ? "?" : "",
             query ? query : "");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(reply->content_type, sizeof reply->content_type, "%s", type ? type : "");
    curl_easy_cleanup(curl);
}

/* The parsed page the route answered; the reply must be a 200. */
static void get_page(const char *query, page_t *page)
{
    reply_t reply;
    get(query, &reply);
    if (reply.status != 200)
        fail_msg("GET ?%s: %ld %s", query ? query : "", reply.status, reply.body);
    json_error_t error;
    json_t *body = json_loads(reply.body, 0, &error);
    assert_non_null(body);
    memset(page, 0, sizeof *page);
    const char *key = NULL, *id = NULL;
    int has_cursor = 0;
    assert_int_equal(json_unpack(body, "{s:i,s:s,s:s,s:b}", "limit", &page->limit, "after_key",
                                 &key, "after_id", &id, "has_cursor", &has_cursor),
                     0);
    snprintf(page->after_key, sizeof page->after_key, "%s", key);
    snprintf(page->after_id, sizeof page->after_id, "%s", id);
    page->has_cursor = has_cursor;
    json_decref(body);
}

/* The request must be refused with 400 problem+json carrying code, and
 * the route must not have run. */
static void assert_refused(const char *query, const char *code)
{
    int calls_before = __atomic_load_n(&route_calls, __ATOMIC_SEQ_CST);
    reply_t reply;
    get(query, &reply);
    if (reply.status != 400)
        fail_msg("GET ?%s: expected 400, got %ld %s", query, reply.status, reply.body);
    assert_string_equal(reply.content_type, "application/problem+json");
    json_error_t error;
    json_t *body = json_loads(reply.body, 0, &error);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "code")), code);
    assert_int_equal(json_integer_value(json_object_get(body, "status")), 400);
    json_decref(body);
    assert_int_equal(__atomic_load_n(&route_calls, __ATOMIC_SEQ_CST), calls_before);
}

/* "cursor=<c>" for a cursor made from key and id. */
static void cursor_query(const char *key, const char *id, char *query, size_t size)
{
    char cursor[PAGE_CURSOR_SIZE];
    page_cursor(key, id, cursor);
    for (const char *p = cursor; *p; p++) /* base64url needs no escaping */
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    snprintf(query, size, "cursor=%s", cursor);
}

/* A cursor made by hand from "<id>\n<key>": what page_cursor refuses to make. */
static void forged_query(const char *key, const char *id, char *query, size_t size)
{
    char plain[2048], cursor[3000];
    int n = snprintf(plain, sizeof plain, "%s\n%s", id, key);
    assert_true(n > 0 && (size_t)n < sizeof plain);
    assert_true(base64url_encode(plain, (size_t)n, cursor, sizeof cursor) > 0);
    snprintf(query, size, "cursor=%s", cursor);
}

/* --- page ------------------------------------------------------------------ */

static void test_limit_defaults_and_range(void **state)
{
    (void)state;
    page_t page;
    get_page(NULL, &page);
    assert_int_equal(page.limit, 20);
    assert_int_equal(page.has_cursor, 0);
    assert_string_equal(page.after_key, "");
    assert_string_equal(page.after_id, "");
    get_page("limit=1", &page);
    assert_int_equal(page.limit, 1);
    get_page("limit=100", &page);
    assert_int_equal(page.limit, 100);
    get_page("limit=37&cursor=", &page); /* an empty cursor is the first page */
    assert_int_equal(page.limit, 37);
    assert_int_equal(page.has_cursor, 0);
}

static void test_bad_limit_is_400(void **state)
{
    (void)state;
    const char *bad[] = {
        "limit=0", "limit=101", "limit=-1",   "limit=abc", "limit=5x",
        "limit=",  "limit=+5",  "limit=%205", "limit=1e2", "limit=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i], "bad_limit");
    /* a good cursor does not rescue a bad limit */
    char query[512];
    cursor_query("k", "1", query, sizeof query);
    char both[600];
    snprintf(both, sizeof both, "limit=0&%s", query);
    assert_refused(both, "bad_limit");
}

static void test_cursor_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *key, *id;
    } cases[] = {
        {"2025-11-23T10:00:00.000Z", "5b0a4a3e-8d7c-4f7e-9a51-0c6f0d1a2b3c"},
        {"", "42"},
        {"Молоко 3,2 % — 1 л", "sku-17"},       /* multi-byte key */
        {"a/b?c=d&e#f %20+", "id with spaces"}, /* URL-ish bytes stay bytes */
        {"x", ""},                              /* lengths 1, 2, 3 mod 3 */
        {"line one\nline two", "id-9"},         /* a newline inside a key */
        {"xy", "1"},
        {"xyz", "12"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char query[2048];
        cursor_query(cases[i].key, cases[i].id, query, sizeof query);
        char with_limit[2100];
        snprintf(with_limit, sizeof with_limit, "%s&limit=7", query);
        page_t page;
        get_page(with_limit, &page);
        assert_int_equal(page.has_cursor, 1);
        assert_int_equal(page.limit, 7);
        assert_string_equal(page.after_key, cases[i].key);
        assert_string_equal(page.after_id, cases[i].id);
    }
    /* the longest key and id a page_t holds */
    char key[PAGE_KEY_MAX], id[PAGE_ID_MAX];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    memset(id, '9', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    char query[2048];
    cursor_query(key, id, query, sizeof query);
    page_t page;
    get_page(query, &page);
    assert_string_equal(page.after_key, key);
    assert_string_equal(page.after_id, id);
}

static void test_bad_cursor_is_400(void **state)
{
    (void)state;
    char query[4096];
    /* not base64url at all; standard base64's own letters; padding */
    assert_refused("cursor=%21%21%21", "bad_cursor");
    assert_refused("cursor=a%2Bb%2Fc", "bad_cursor");
    assert_refused("cursor=YQo%3D", "bad_cursor");
    /* base64url of "no-newline-here": no key/id split */
    assert_refused("cursor=bm8tbmV3bGluZS1oZXJl", "bad_cursor");
    /* base64url of "a\0b\nid": a NUL inside */
    assert_refused("cursor=YQBiCmlk", "bad_cursor");
    /* a key one byte longer than a page_t holds: page_cursor makes none,
     * and one made by hand is refused */
    char key[PAGE_KEY_MAX + 1];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char none[PAGE_CURSOR_SIZE];
    page_cursor(key, "1", none);
    assert_string_equal(none, "");
    forged_query(key, "1", query, sizeof query);
    assert_refused(query, "bad_cursor");
    /* an id longer than a page_t holds */
    char id[PAGE_ID_MAX + 1];
    memset(id, '7', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    page_cursor("k", id, none);
    assert_string_equal(none, "");
    forged_query("k", id, query, sizeof query);
    assert_refused(query, "bad_cursor");
    /* far too long */
    char longest[PAGE_CURSOR_SIZE + 20];
    memset(longest, 'A', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    snprintf(query, sizeof query, "cursor=%s", longest);
    assert_refused(query, "bad_cursor");
}

/* --- problems -------------------------------------------------------------- */

static void assert_problem(const json_t *errors, size_t index, const char *field, const char *code,
                           const char *message)
{
    const json_t *item = json_array_get(errors, index);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "field")), field);
    assert_string_equal(json_string_value(json_object_get(item, "code")), code);
    assert_string_equal(json_string_value(json_object_get(item, "message")), message);
}

static void test_problems_collect_every_reason(void **state)
{
    (void)state;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(problems_count(&problems), 0);
    assert_true(json_is_array(problems_errors(&problems)));
    problems_add(&problems, "customer.phone", "required", "a phone number is required");
    problems_add(&problems, "items[2].quantity", "not_positive", "quantity %d is not positive", -3);
    problems_add(&problems, "comment", "too_long", "%s is longer than %zu characters", "comment",
                 (size_t)500);
    assert_int_equal(problems_count(&problems), 3);
    const json_t *errors = problems_errors(&problems);
    assert_problem(errors, 0, "customer.phone", "required", "a phone number is required");
    assert_problem(errors, 1, "items[2].quantity", "not_positive", "quantity -3 is not positive");
    assert_problem(errors, 2, "comment", "too_long", "comment is longer than 500 characters");

    /* take hands the array over and leaves an empty collector that works */
    json_t *taken = problems_take(&problems);
    assert_non_null(taken);
    assert_int_equal(json_array_size(taken), 3);
    assert_problem(taken, 1, "items[2].quantity", "not_positive", "quantity -3 is not positive");
    assert_int_equal(problems_count(&problems), 0);
    assert_true(json_is_array(problems_errors(&problems)));
    problems_add(&problems, "customer.name", "required", "a name is required");
    assert_int_equal(problems_count(&problems), 1);
    assert_int_equal(json_array_size(taken), 3); /* the taken array is no longer shared */
    json_decref(taken);
    problems_release(&problems);
    assert_null(problems.errors);
}

static void test_problems_keep_a_long_multibyte_message(void **state)
{
    (void)state;
    /* a message cut at the collector's size limit must still be kept, even
     * when the cut falls inside a two-, three- or four-byte character */
    static const char *const characters[] = {"я", "€", "😀"};
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    char texts[3][601];
    for (size_t c = 0; c < 3; c++) {
        size_t width = strlen(characters[c]);
        size_t len = 0;
        while (len + width < sizeof texts[c]) {
            memcpy(texts[c] + len, characters[c], width);
            len += width;
        }
        texts[c][len] = '\0';
        problems_add(&problems, "customer.name", "too_long", "%s", texts[c]);
        problems_add(&problems, "customer.name", "too_long", "x%s", texts[c]);
    }
    problems_add(&problems, "customer.phone", "required", "a phone number is required");
    assert_int_equal(problems_count(&problems), 7);
    for (size_t i = 0; i < 6; i++) {
        const char *text = texts[i / 2];
        size_t width = strlen(characters[i / 2]), skip = i % 2;
        const char *message = json_string_value(
            json_object_get(json_array_get(problems_errors(&problems), i), "message"));
        assert_non_null(message);
        assert_true(strlen(message) > 290);
        assert_true(strlen(message) < 300);
        /* a prefix of what was given, whole characters only */
        assert_int_equal(strncmp(message + skip, text, strlen(message + skip)), 0);
        assert_int_equal(strlen(message + skip) % width, 0);
    }
    problems_release(&problems);
}

/* --- digest ---------------------------------------------------------------- */

static void test_sha256_known_vectors(void **state)
{
    (void)state;
    char hex[DIGEST_HEX_SIZE];
    assert_int_equal(digest_sha256_hex("", 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(digest_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(
        digest_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex), 0);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* bytes, not a C string: an embedded NUL counts */
    char with_nul[DIGEST_HEX_SIZE];
    assert_int_equal(digest_sha256_hex("abc\0", 4, with_nul), 0);
    assert_string_not_equal(with_nul, hex);
    assert_int_equal(strlen(with_nul), 64);
}

static void assert_lower_hex(const char *text, size_t len)
{
    assert_int_equal(strlen(text), len);
    for (size_t i = 0; i < len; i++)
        assert_non_null(strchr("0123456789abcdef", text[i]));
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[129], b[129];
    assert_int_equal(digest_random_hex(16, a), 0);
    assert_int_equal(digest_random_hex(16, b), 0);
    assert_lower_hex(a, 32);
    assert_lower_hex(b, 32);
    assert_string_not_equal(a, b);
    assert_int_equal(digest_random_hex(64, a), 0);
    assert_lower_hex(a, 128);
    assert_int_equal(digest_random_hex(0, a), 0);
    assert_string_equal(a, "");
    memcpy(b, "untouched", 10);
    assert_int_equal(digest_random_hex(65, b), -1);
    assert_string_equal(b, "untouched");
}

/* --- fixtures -------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    log_init("test_page", LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    http_config_t config = {.addr = "127.0.0.1:0", .svc = "test_page"};
    server = http_server_new(&config);
    if (!server || http_route(server, "GET", "/v1/things", route_list, NULL) != 0 ||
        http_server_start(server) != 0)
        return -1;
    port = http_server_port(server);
    return port ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_destroy(&server);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_defaults_and_range),
        cmocka_unit_test(test_bad_limit_is_400),
        cmocka_unit_test(test_cursor_round_trips),
        cmocka_unit_test(test_bad_cursor_is_400),
        cmocka_unit_test(test_problems_collect_every_reason),
        cmocka_unit_test(test_problems_keep_a_long_multibyte_message),
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_random_hex),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    metrics_shutdown();
    return failed;
}
