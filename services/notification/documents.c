/*
 * documents.c — the order's and the invoice's PDF fetched from the
 * service that owns each, for an email that asks for them (documents.h).
 */
#include "services/notification/documents.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/httpcall.h"
#include "common/log.h"
#include "common/uuid.h"
#include <stdint.h>

#define CONNECT_MS 5000L

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

bool documents_kind_ok(const char *kind)
{
    return kind && (strcmp(kind, "order") == 0 || strcmp(kind, "invoice") == 0);
}

/* vsnprintf: the words are cut to fit, as an error's words are */
static void say(char *out, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    (void)vsnprintf(out, size, format, args);
    va_end(args);
}

static notify_result_t failed(notify_error_t *err, notify_result_t result, const char *code,
                              const char *kind, const char *what)
{
    say(err->code, sizeof err->code, "%s", code);
    say(err->message, sizeof err->message, "the %s's PDF: %s", kind, what);
    return result;
}

/* One document of kind (the owner's base URL, the object's id) into docs. */
static notify_result_t fetch_one(const notification_app_t *app, const char *kind,
                                 const json_t *delivery, documents_t *docs, notify_error_t *err)
{
    bool order = strcmp(kind, "order") == 0;
    const char *base = order ? app->order_url : app->payment_url;
    const char *id = text_of(delivery, order ? "order_id" : "invoice_id");
    if (!base[0])
        return failed(err, NOTIFY_TRANSIENT, "attachment_unavailable", kind,
                      order ? "NOTIFY_ORDER_URL is not set" : "NOTIFY_PAYMENT_URL is not set");
    if (!uuid_valid(id))
        return failed(err, NOTIFY_REJECTED, "attachment_missing", kind,
                      "the message names no such document");
    char url[512], auth_header[2048];
    snprintf(url, sizeof url, "%s/v1/%s/%s/document.pdf", base, order ? "orders" : "invoices", id);
    char *token =
        auth_issue(service_auth(app->svc), "notification", "the notification service", ROLE_SYSTEM);
    if (!token)
        return failed(err, NOTIFY_TRANSIENT, "attachment_unavailable", kind,
                      "no service token could be made");
    snprintf(auth_header, sizeof auth_header, "Authorization: Bearer %s", token);
    free(token);
    const char *headers[] = {auth_header, "Accept: application/pdf", NULL};
    httpcall_request_t request = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .connect_timeout_ms = CONNECT_MS,
        .timeout_ms = (long)app->send_timeout_ms,
        .max_response = DOCUMENT_BYTES_MAX,
    };
    httpcall_response_t response;
    httpcall_response_init(&response);
    notify_result_t result = NOTIFY_SENT;
    char what[NOTIFY_MESSAGE_SIZE];
    if (httpcall_perform(&request, &response) != 0) {
        say(what, sizeof what, "%s from %s: %s", httpcall_failure_name(response.failure), url,
            response.error);
        result = failed(err, NOTIFY_TRANSIENT, "attachment_unavailable", kind, what);
    } else if (response.status == 404) {
        say(what, sizeof what, "%s answered 404", url);
        result = failed(err, NOTIFY_REJECTED, "attachment_missing", kind, what);
    } else if (response.status != 200 || response.body.len < 5 ||
               memcmp(response.body.ptr, "%PDF-", 5) != 0) {
        say(what, sizeof what, "%s answered %ld%s", url, response.status,
            response.status == 200 ? " with no PDF" : "");
        result = failed(err, NOTIFY_TRANSIENT, "attachment_unavailable", kind, what);
    } else {
        size_t i = docs->count;
        size_t len = response.body.len;
        unsigned char *bytes = (unsigned char *)strbuf_take(&response.body);
        if (!bytes) {
            result = failed(err, NOTIFY_TRANSIENT, "attachment_unavailable", kind, "out of memory");
        } else {
            snprintf(docs->filenames[i], sizeof docs->filenames[i], "%s.pdf", kind);
            docs->items[i] =
                (notify_attachment_t){docs->filenames[i], "application/pdf", bytes, len};
            docs->count++;
        }
    }
    httpcall_response_release(&response);
    return result;
}

notify_result_t documents_fetch(const notification_app_t *app, const json_t *delivery,
                                documents_t *docs, notify_error_t *err)
{
    memset(docs, 0, sizeof *docs);
    const json_t *kinds = json_object_get(delivery, "attachments");
    size_t i;
    const json_t *kind;
    json_array_foreach(kinds, i, kind)
    {
        notify_result_t result = NOTIFY_SENT;
        if (docs->count == DOCUMENTS_MAX || !documents_kind_ok(json_string_value(kind)))
            result = failed(err, NOTIFY_REJECTED, "attachment_missing", "unknown document",
                            "not one this service attaches");
        else
            result = fetch_one(app, json_string_value(kind), delivery, docs, err);
        if (result != NOTIFY_SENT) {
            log_warn("an email's document could not be had", LF_STR("code", err->code),
                     LF_STR("why", err->message),
                     LF_STR("delivery_id", text_of(delivery, "delivery_id")));
            documents_release(docs);
            return result;
        }
    }
    return NOTIFY_SENT;
}

void documents_release(documents_t *docs)
{
    for (size_t i = 0; i < docs->count; i++)
        free((void *)(uintptr_t)docs->items[i].bytes);
    memset(docs, 0, sizeof *docs);
}
