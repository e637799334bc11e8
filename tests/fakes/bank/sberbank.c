/*
 * sberbank.c — the fake bank's Sberbank acquiring side (fakebank.h).
 *
 * POST /payment/rest/<call>.do, url-encoded, with userName and password:
 * register.do, registerPreAuth.do, getOrderStatusExtended.do, deposit.do,
 * reverse.do, refund.do and decline.do (an unpaid order made unpayable).
 * Like the bank, it answers every refusal with HTTP 200 and a string
 * errorCode with errorMessage:
 *   "1" a repeated orderNumber (never a replay), "3" a currency other than
 *   643, "4" a parameter missing, "5" access denied or a wrong value
 *   (a cart whose positions do not sum to the amount), "6" no such order,
 *   "7" the order is not in a state for this, or the refund is larger than
 *   what is left (the bank's "system error" code covers both).
 * orderStatus: 0 registered, 1 held (registerPreAuth.do, paid), 2
 * deposited, 3 reversed, 4 refunded in full, 6 declined (decline.do) or
 * expired (sessionTimeoutSecs). Amounts are kopecks. The orderBundle (the
 * 54-FZ cart) and each refund's refundItems are kept and shown under
 * /_fake/. Unverified against the bank's documentation (none was at
 * hand): the name refundItems for a refund's receipt lines, the exact
 * errorMessage texts, and that a partial refund leaves orderStatus at 2
 * (4 only once everything is refunded).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/numparse.h"
#include "tests/fakes/bank/fakebank.h"

#define DEFAULT_SESSION_S 1200 /* the bank's default: 20 minutes */
#define BUNDLE_MAX        (64 * 1024)

static json_t *error_reply(const char *code, const char *message)
{
    return json_pack("{s:s, s:s}", "errorCode", code, "errorMessage", message);
}

static json_t *ok_reply(void)
{
    return error_reply("0", "Успешно");
}

fake_sber_order_t *fake_sber_find(fake_t *fake, const char *md_order, const char *order_number)
{
    for (size_t i = 0; i < fake->order_count; i++) {
        fake_sber_order_t *order = fake->orders[i];
        if ((md_order && strcmp(order->md_order, md_order) == 0) ||
            (!md_order && order_number && strcmp(order->order_number, order_number) == 0))
            return order;
    }
    return NULL;
}

static const char *payment_state(int status)
{
    static const char *const states[] = {"CREATED",  "APPROVED", "DEPOSITED", "REVERSED",
                                         "REFUNDED", "STARTED",  "DECLINED"};
    return status >= 0 && status <= 6 ? states[status] : "CREATED";
}

json_t *fake_sber_order_json(const fake_sber_order_t *order)
{
    json_t *refunds = json_array();
    for (size_t i = 0; i < order->refund_count; i++)
        json_array_append_new(refunds, json_pack("{s:I, s:O*, s:I}", "amount",
                                                 (json_int_t)order->refunds[i].amount,
                                                 "refundItems", order->refunds[i].items, "at_ms",
                                                 (json_int_t)order->refunds[i].at_ms));
    return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:b, s:s, s:s, s:O*, s:o}", "mdOrder",
                     order->md_order, "orderNumber", order->order_number, "orderStatus",
                     order->status, "amount", (json_int_t)order->amount, "approvedAmount",
                     (json_int_t)order->approved, "depositedAmount", (json_int_t)order->deposited,
                     "refundedAmount", (json_int_t)order->refunded, "preauth", order->preauth,
                     "description", order->description, "callbackUrl", order->callback_url,
                     "orderBundle", order->bundle, "refunds", refunds);
}

void fake_sber_touch(fake_t *fake, fake_sber_order_t *order)
{
    if (order->status == 0 && clock_now_ms() > order->expires_ms) {
        order->status = 6;
        order->action_code = -2007;
        fake_notify_sber(fake, order, "declinedByTimeout", 1, order->amount);
    }
}

int fake_sber_pay(fake_t *fake, fake_sber_order_t *order, bool pay, int64_t amount)
{
    fake_sber_touch(fake, order);
    if (order->status != 0 && order->status != 5)
        return -1;
    if (amount <= 0 || amount > order->amount)
        amount = order->amount;
    const char *operation = order->preauth ? "approved" : "deposited";
    if (!pay) {
        order->status = 6;
        order->action_code = 116;
        fake_notify_sber(fake, order, operation, 0, amount);
        return 0;
    }
    order->approved = amount;
    if (order->preauth) {
        order->status = 1;
    } else {
        order->status = 2;
        order->deposited = amount;
    }
    fake_notify_sber(fake, order, operation, 1, amount);
    return 0;
}

static bool digits_only(const char *text)
{
    return text && text[0] && strspn(text, "0123456789") == strlen(text);
}

/* The cart's itemAmount sum, or -1 when orderBundle is not the bank's shape. */
static int64_t bundle_total(const json_t *bundle)
{
    const json_t *items = json_object_get(json_object_get(bundle, "cartItems"), "items");
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > 100)
        return -1;
    int64_t total = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        const json_t *amount = json_object_get(item, "itemAmount");
        const json_t *tax = json_object_get(json_object_get(item, "tax"), "taxType");
        if (!json_is_string(json_object_get(item, "name")) || !json_is_integer(amount) ||
            json_integer_value(amount) <= 0 || !json_is_integer(tax) ||
            !json_is_object(json_object_get(item, "quantity")))
            return -1;
        total += json_integer_value(amount);
    }
    return total;
}

static json_t *do_register(fake_t *fake, const fake_form_t *form, bool preauth)
{
    const char *number = fake_form_get(form, "orderNumber");
    const char *amount_text = fake_form_get(form, "amount");
    const char *return_url = fake_form_get(form, "returnUrl");
    const char *currency = fake_form_get(form, "currency");
    const char *bundle_text = fake_form_get(form, "orderBundle");
    const char *timeout_text = fake_form_get(form, "sessionTimeoutSecs");
    int64_t amount = 0, timeout_s = DEFAULT_SESSION_S;
    if (!number || !number[0])
        return error_reply("4", "Номер заказа не может быть пуст");
    if (strlen(number) > 32)
        return error_reply("5", "Неверный номер заказа");
    if (!digits_only(amount_text) || numparse_int_range(amount_text, 1, INT64_MAX / 2, &amount))
        return error_reply("4", "Сумма заказа не может быть пустой");
    if (!return_url || !return_url[0])
        return error_reply("4", "URL возврата не может быть пуст");
    if (currency && strcmp(currency, "643") != 0)
        return error_reply("3", "Неизвестная валюта");
    if (timeout_text && numparse_int_range(timeout_text, 1, 86400 * 30, &timeout_s) != 0)
        return error_reply("5", "Неверное значение параметра sessionTimeoutSecs");
    if (fake_sber_find(fake, NULL, number))
        return error_reply("1", "Заказ с таким номером уже обработан");
    json_t *bundle = NULL;
    if (bundle_text) {
        bundle = strlen(bundle_text) <= BUNDLE_MAX ? json_loads(bundle_text, 0, NULL) : NULL;
        if (!json_is_object(bundle) || bundle_total(bundle) != amount) {
            json_decref(bundle);
            return error_reply("5", "Сумма позиций корзины не совпадает с суммой заказа");
        }
    } else if (fake->config.receipt_required) {
        return error_reply("4", "Не указана корзина заказа (orderBundle)");
    }
    if (fake->order_count == FAKE_OBJECTS_MAX) {
        json_decref(bundle);
        return error_reply("7", "Системная ошибка");
    }
    fake_sber_order_t **grown = realloc(fake->orders, (fake->order_count + 1) * sizeof *grown);
    fake_sber_order_t *order = calloc(1, sizeof *order);
    if (grown)
        fake->orders = grown;
    if (!grown || !order) {
        free(order);
        json_decref(bundle);
        return error_reply("7", "Системная ошибка");
    }
    fake_new_id(order->md_order);
    snprintf(order->order_number, sizeof order->order_number, "%s", number);
    order->amount = amount;
    order->preauth = preauth;
    order->bundle = bundle;
    const char *description = fake_form_get(form, "description");
    const char *fail_url = fake_form_get(form, "failUrl");
    const char *callback_url = fake_form_get(form, "dynamicCallbackUrl");
    snprintf(order->description, sizeof order->description, "%s", description ? description : "");
    snprintf(order->return_url, sizeof order->return_url, "%s", return_url);
    snprintf(order->fail_url, sizeof order->fail_url, "%s", fail_url ? fail_url : return_url);
    snprintf(order->callback_url, sizeof order->callback_url, "%s",
             callback_url ? callback_url : "");
    order->created_ms = clock_now_ms();
    order->expires_ms = order->created_ms + timeout_s * 1000;
    fake->orders[fake->order_count++] = order;
    char form_url[FAKE_TEXT_SIZE + 128];
    snprintf(form_url, sizeof form_url, "%s/payment/merchants/test/payment_ru.html?mdOrder=%s",
             fake->config.public_url, order->md_order);
    return json_pack("{s:s, s:s}", "orderId", order->md_order, "formUrl", form_url);
}

static json_t *do_status(fake_t *fake, const fake_form_t *form)
{
    const char *md_order = fake_form_get(form, "orderId");
    const char *number = fake_form_get(form, "orderNumber");
    if (!md_order && !number)
        return error_reply("4", "Номер заказа не указан");
    fake_sber_order_t *order = fake_sber_find(fake, md_order, number);
    if (!order)
        return error_reply("6", "Заказ не найден");
    fake_sber_touch(fake, order);
    return json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:s, s:I, s:s, s:[{s:s, s:s}], "
        "s:{s:s, s:I, s:I, s:I}}",
        "errorCode", "0", "errorMessage", "Успешно", "orderNumber", order->order_number,
        "orderStatus", order->status, "actionCode", order->action_code, "actionCodeDescription",
        order->status == 6
            ? (order->action_code == -2007 ? "Время сессии истекло" : "Недостаточно средств")
            : "",
        "amount", (json_int_t)order->amount, "currency", "643", "date",
        (json_int_t)order->created_ms, "orderDescription", order->description, "attributes", "name",
        "mdOrder", "value", order->md_order, "paymentAmountInfo", "paymentState",
        payment_state(order->status), "approvedAmount", (json_int_t)order->approved,
        "depositedAmount", (json_int_t)order->deposited, "refundedAmount",
        (json_int_t)order->refunded);
}

static fake_sber_order_t *order_of(fake_t *fake, const fake_form_t *form, json_t **error_out)
{
    const char *md_order = fake_form_get(form, "orderId");
    fake_sber_order_t *order = md_order ? fake_sber_find(fake, md_order, NULL) : NULL;
    if (!md_order)
        *error_out = error_reply("4", "Номер заказа не указан");
    else if (!order)
        *error_out = error_reply("6", "Неверный номер заказа");
    else
        fake_sber_touch(fake, order);
    return order;
}

static json_t *do_deposit(fake_t *fake, const fake_form_t *form)
{
    json_t *error = NULL;
    fake_sber_order_t *order = order_of(fake, form, &error);
    if (!order)
        return error;
    int64_t amount = 0;
    const char *amount_text = fake_form_get(form, "amount");
    if (!amount_text || numparse_int_range(amount_text, 0, INT64_MAX / 2, &amount) != 0)
        return error_reply("4", "Сумма не указана");
    if (order->status != 1)
        return error_reply("7", "Платёж должен быть в корректном состоянии");
    if (amount == 0)
        amount = order->approved;
    if (amount > order->approved)
        return error_reply("7", "Неверная сумма депозита");
    order->status = 2;
    order->deposited = amount;
    fake_notify_sber(fake, order, "deposited", 1, amount);
    return ok_reply();
}

static json_t *do_reverse(fake_t *fake, const fake_form_t *form)
{
    json_t *error = NULL;
    fake_sber_order_t *order = order_of(fake, form, &error);
    if (!order)
        return error;
    if ((order->status != 1 && order->status != 2) || order->refunded > 0)
        return error_reply("7", "Платёж должен быть в корректном состоянии");
    int64_t amount = order->status == 1 ? order->approved : order->deposited;
    order->status = 3;
    fake_notify_sber(fake, order, "reversed", 1, amount);
    return ok_reply();
}

/* decline.do: an unpaid order (0, or 5 mid 3-D Secure) is declined, its
 * page no longer pays; by orderId or orderNumber, with merchantLogin.
 * Unverified: whether the bank sends a callback for it (none is sent). */
static json_t *do_decline(fake_t *fake, const fake_form_t *form)
{
    const char *md_order = fake_form_get(form, "orderId");
    const char *number = fake_form_get(form, "orderNumber");
    const char *merchant = fake_form_get(form, "merchantLogin");
    if (!merchant || !merchant[0] || (!md_order && !number))
        return error_reply("4", "Не указан обязательный параметр");
    fake_sber_order_t *order = fake_sber_find(fake, md_order, number);
    if (!order)
        return error_reply("6", "Неверный номер заказа");
    fake_sber_touch(fake, order);
    if (order->status != 0 && order->status != 5)
        return error_reply("7", "Заказ должен быть в статусе неоплаченного");
    order->status = 6;
    order->action_code = -2006;
    return ok_reply();
}

static json_t *do_refund(fake_t *fake, const fake_form_t *form)
{
    json_t *error = NULL;
    fake_sber_order_t *order = order_of(fake, form, &error);
    if (!order)
        return error;
    int64_t amount = 0;
    const char *amount_text = fake_form_get(form, "amount");
    if (!digits_only(amount_text) || numparse_int_range(amount_text, 1, INT64_MAX / 2, &amount))
        return error_reply("4", "Сумма возврата не указана");
    if (order->status != 2)
        return error_reply("7", "Платёж должен быть в корректном состоянии");
    if (amount > order->deposited - order->refunded)
        return error_reply("7", "Сумма возврата превышает сумму списания");
    const char *items_text = fake_form_get(form, "refundItems");
    json_t *items =
        items_text && strlen(items_text) <= BUNDLE_MAX ? json_loads(items_text, 0, NULL) : NULL;
    if (items_text && !json_is_object(items)) {
        json_decref(items);
        return error_reply("5", "Неверный формат refundItems");
    }
    fake_sber_refund_t *grown = realloc(order->refunds, (order->refund_count + 1) * sizeof *grown);
    if (!grown || order->refund_count >= 100) {
        if (grown)
            order->refunds = grown;
        json_decref(items);
        return error_reply("7", "Системная ошибка");
    }
    order->refunds = grown;
    order->refunds[order->refund_count++] =
        (fake_sber_refund_t){.amount = amount, .items = items, .at_ms = clock_now_ms()};
    order->refunded += amount;
    if (order->refunded == order->deposited)
        order->status = 4;
    fake_notify_sber(fake, order, "refunded", 1, amount);
    return ok_reply();
}

/* POST /payment/rest/{call} */
static void on_rest(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *call = http_req_param(req, "call");
    char op[32];
    size_t call_len = strlen(call);
    if (call_len < 4 || call_len >= sizeof op || strcmp(call + call_len - 3, ".do") != 0) {
        http_res_text(res, 404, "text/html", "<html><body>Not Found</body></html>");
        return;
    }
    snprintf(op, sizeof op, "%.*s", (int)(call_len - 3), call);
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    fake_form_t form;
    memset(&form, 0, sizeof form);
    json_t *reply = NULL;
    int status = 200;
    int64_t hold_ms = 0;
    fake_fault_t fault;
    bool faulty = false;

    pthread_mutex_lock(&fake->lock);
    fake_request_t *record = fake_record(fake, "sberbank", op, req, NULL);
    if (fake_form_parse(body, len, &form) != 0) {
        reply = error_reply("5", "Неверный формат запроса");
        goto answer;
    }
    const char *user = fake_form_get(&form, "userName");
    const char *password = fake_form_get(&form, "password");
    if (!user || !password || strcmp(user, fake->config.sber_user) != 0 ||
        strcmp(password, fake->config.sber_password) != 0) {
        reply = error_reply("5", "Доступ запрещён");
        goto answer;
    }
    faulty = fake_fault_take(fake, "sberbank", op, &fault);
    if (faulty && strcmp(fault.kind, "error_code") == 0) {
        reply = error_reply(fault.error_code,
                            fault.error_message[0] ? fault.error_message : "Системная ошибка");
        goto answer;
    }
    if (faulty && strcmp(fault.kind, "http") == 0 && !fault.apply) {
        status = fault.http_status;
        goto answer;
    }
    if (strcmp(op, "register") == 0 || strcmp(op, "registerPreAuth") == 0)
        reply = do_register(fake, &form, strcmp(op, "registerPreAuth") == 0);
    else if (strcmp(op, "getOrderStatusExtended") == 0)
        reply = do_status(fake, &form);
    else if (strcmp(op, "deposit") == 0)
        reply = do_deposit(fake, &form);
    else if (strcmp(op, "reverse") == 0)
        reply = do_reverse(fake, &form);
    else if (strcmp(op, "decline") == 0)
        reply = do_decline(fake, &form);
    else if (strcmp(op, "refund") == 0)
        reply = do_refund(fake, &form);
    else
        status = 404;
    if (faulty && strcmp(fault.kind, "http") == 0)
        status = fault.http_status; /* done, and the answer says otherwise */
    if (faulty && strcmp(fault.kind, "lose_reply") == 0)
        hold_ms = fault.delay_ms > 0 ? fault.delay_ms : fake->config.lose_reply_ms;
answer:
    record->status = status;
    pthread_mutex_unlock(&fake->lock);
    fake_form_release(&form);
    /* the bank's own latency, then a "lost" reply held past the client's timeout */
    fake_pause_ms(fake->config.latency_ms + hold_ms);
    if (status == 200 && reply)
        http_res_json_take(res, 200, reply);
    else {
        json_decref(reply);
        char page[128];
        snprintf(page, sizeof page, "<html><body><h1>%d</h1></body></html>", status);
        if (status == 429)
            http_res_header(res, "Retry-After", "1");
        http_res_text(res, status == 200 ? 500 : status, "text/html", page);
    }
}

int fake_sber_routes(http_server_t *server, fake_t *fake)
{
    return http_route(server, "POST", "/payment/rest/{call}", on_rest, fake);
}
