/*
 * page.c — the fake bank's payment pages, where the customer of an order
 * (a person in the `make run` sandbox, or a test with curl) pays or
 * declines.
 *
 * The URLs are the banks' own shapes, so that a link in a confirmation
 * email looks right: Sberbank's formUrl
 * /payment/merchants/<merchant>/payment_ru.html?mdOrder=<id>, YooKassa's
 * confirmation_url /checkout/payments/v2/contract?orderId=<id>. A GET shows
 * the amount, the description and the receipt lines with two buttons; a
 * POST (form: action=pay|decline, optionally amount=<kopecks> to pay only
 * a part) moves the payment, sends the callback or webhook, and redirects
 * (303) to the shop's return URL (Sberbank: failUrl on a decline), as the
 * banks send the customer back. A payment no longer waiting answers 409.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/numparse.h"
#include "common/strbuf.h"
#include "tests/fakes/bank/fakebank.h"

#define PAGE_MAX (64 * 1024)

static void append_escaped(strbuf_t *page, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        const char *entity = *p == '<'    ? "&lt;"
                             : *p == '>'  ? "&gt;"
                             : *p == '&'  ? "&amp;"
                             : *p == '"'  ? "&quot;"
                             : *p == '\'' ? "&#39;"
                                          : NULL;
        if (entity)
            strbuf_append_str(page, entity);
        else
            strbuf_append(page, p, 1);
    }
}

/* The receipt's lines as a list: Sberbank's cartItems or YooKassa's items. */
static void append_lines(strbuf_t *page, const json_t *items, bool sberbank)
{
    strbuf_append_str(page, "<ul>");
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *name =
            json_string_value(json_object_get(item, sberbank ? "name" : "description"));
        strbuf_append_str(page, "<li>");
        append_escaped(page, name);
        strbuf_append_str(page, "</li>");
    }
    strbuf_append_str(page, "</ul>");
}

static void answer_page(http_response_t *res, const char *bank, const char *id, int64_t amount,
                        const char *description, const char *status, const json_t *items,
                        bool sberbank)
{
    strbuf_t page;
    strbuf_init(&page, PAGE_MAX);
    strbuf_appendf(&page,
                   "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s: "
                   "payment</title></head><body><h1>%s (fake)</h1><p>Amount: %" PRId64 ".%02" PRId64
                   " RUB</p><p>",
                   bank, bank, amount / 100, amount % 100);
    append_escaped(&page, description);
    strbuf_appendf(&page, "</p><p>Status: %s</p>", status);
    append_lines(&page, items, sberbank);
    strbuf_append_str(&page, "<form method=\"post\"><input type=\"hidden\" name=\"id\" value=\"");
    append_escaped(&page, id);
    strbuf_append_str(&page,
                      "\"><label>Amount in kopecks (empty: all) <input name=\"amount\"></label> "
                      "<button name=\"action\" value=\"pay\">Pay</button> "
                      "<button name=\"action\" value=\"decline\">Decline</button></form>"
                      "</body></html>");
    http_res_text(res, 200, "text/html; charset=utf-8", page.ptr ? page.ptr : "");
    strbuf_release(&page);
}

/* Reads action and amount from the POSTed form; -1 when they are wrong. */
static int read_choice(const http_request_t *req, bool *pay_out, int64_t *amount_out)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    fake_form_t form;
    if (fake_form_parse(body ? body : "", len, &form) != 0)
        return -1;
    const char *action = fake_form_get(&form, "action");
    const char *amount = fake_form_get(&form, "amount");
    int rc = 0;
    *amount_out = 0;
    if (!action || (strcmp(action, "pay") != 0 && strcmp(action, "decline") != 0))
        rc = -1;
    else if (amount && amount[0] && numparse_int_range(amount, 1, INT64_MAX / 2, amount_out) != 0)
        rc = -1;
    *pay_out = action && strcmp(action, "pay") == 0;
    fake_form_release(&form);
    return rc;
}

static void redirect(http_response_t *res, const char *url, const char *param, const char *id)
{
    char location[FAKE_TEXT_SIZE + 128];
    snprintf(location, sizeof location, "%s%s%s=%s", url, strchr(url, '?') ? "&" : "?", param, id);
    http_res_header(res, "Location", location);
    http_res_text(res, 303, "text/html", "<html><body>Back to the shop</body></html>");
}

static void on_sber_page(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *id = http_req_query(req, "mdOrder");
    bool post = strcmp(http_req_method(req), "POST") == 0;
    bool pay = false;
    int64_t amount = 0;
    if (post && read_choice(req, &pay, &amount) != 0) {
        http_res_text(res, 400, "text/html", "<html><body>action=pay|decline</body></html>");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fake_sber_order_t *order = id ? fake_sber_find(fake, id, NULL) : NULL;
    if (!order) {
        http_res_text(res, 404, "text/html", "<html><body>No such order</body></html>");
    } else if (!post) {
        fake_sber_touch(fake, order);
        char status[8];
        snprintf(status, sizeof status, "%d", order->status);
        answer_page(res, "Sberbank", order->md_order, order->amount, order->description, status,
                    json_object_get(json_object_get(order->bundle, "cartItems"), "items"), true);
    } else if (fake_sber_pay(fake, order, pay, amount) != 0) {
        http_res_text(res, 409, "text/html", "<html><body>The order is not waiting</body></html>");
    } else {
        redirect(res, pay ? order->return_url : order->fail_url, "orderId", order->md_order);
    }
    pthread_mutex_unlock(&fake->lock);
}

static void on_yoo_page(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *id = http_req_query(req, "orderId");
    bool post = strcmp(http_req_method(req), "POST") == 0;
    bool pay = false;
    int64_t amount = 0;
    if (post && read_choice(req, &pay, &amount) != 0) {
        http_res_text(res, 400, "text/html", "<html><body>action=pay|decline</body></html>");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fake_yoo_payment_t *payment = id ? fake_yoo_find(fake, id) : NULL;
    const json_t *request = payment ? payment->request : NULL;
    const char *return_url =
        json_string_value(json_object_get(json_object_get(request, "confirmation"), "return_url"));
    if (!payment) {
        http_res_text(res, 404, "text/html", "<html><body>No such payment</body></html>");
    } else if (!post) {
        answer_page(res, "YooKassa", payment->id, payment->amount,
                    json_string_value(json_object_get(request, "description")), payment->status,
                    json_object_get(json_object_get(request, "receipt"), "items"), false);
    } else if (fake_yoo_pay(fake, payment, pay, amount) != 0) {
        http_res_text(res, 409, "text/html",
                      "<html><body>The payment is not waiting</body></html>");
    } else {
        redirect(res, return_url ? return_url : fake->config.public_url, "paymentId", payment->id);
    }
    pthread_mutex_unlock(&fake->lock);
}

int fake_page_routes(http_server_t *server, fake_t *fake)
{
    static const char sber_page[] = "/payment/merchants/{merchant}/payment_ru.html";
    static const char yoo_page[] = "/checkout/payments/v2/contract";
    return http_route(server, "GET", sber_page, on_sber_page, fake) != 0 ||
                   http_route(server, "POST", sber_page, on_sber_page, fake) != 0 ||
                   http_route(server, "GET", yoo_page, on_yoo_page, fake) != 0 ||
                   http_route(server, "POST", yoo_page, on_yoo_page, fake) != 0
               ? -1
               : 0;
}
