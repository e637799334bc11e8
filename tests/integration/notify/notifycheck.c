/*
 * notifycheck.c — the notification channels' adapters
 * (services/notification/adapters/) against the fakes (tests/fakes/smtp,
 * sms, telegram), over loopback: driven by test_notify_channels.sh, one
 * channel per run (`notifycheck smtp|sms|telegram`), every result class
 * of channels.h reached the way the provider really produces it, and
 * what arrived read back from the fake's control API.
 *
 * Environment: NOTIFY_SMTP_URL, NOTIFY_SMTP_CONTROL, NOTIFY_SMTP_CA,
 * NOTIFY_SMTP_USER, NOTIFY_SMTP_PASSWORD; NOTIFY_SMS_URL, NOTIFY_SMS_API_ID;
 * NOTIFY_TELEGRAM_URL, NOTIFY_TELEGRAM_TOKEN. Exit 0 when every check held.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "services/notification/adapters/channels.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static const char *env(const char *name)
{
    const char *value = getenv(name);
    if (!value || !value[0]) {
        fprintf(stderr, "notifycheck: %s is not set\n", name);
        exit(2);
    }
    return value;
}

static size_t on_body(char *bytes, size_t size, size_t count, void *userdata)
{
    return strbuf_append(userdata, bytes, size * count) == 0 ? size * count : 0;
}

/* A control call to a fake; the JSON answer (caller owns it) or NULL. */
static json_t *control(const char *method, const char *base, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    strbuf_t reply;
    strbuf_init(&reply, 64 * 1024 * 1024);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json_t *out = code == CURLE_OK && status < 300
                      ? json_loadb(reply.ptr ? reply.ptr : "", reply.len, 0, NULL)
                      : NULL;
    if (!out)
        fprintf(stderr, "control %s %s: HTTP %ld, curl %d: %.300s\n", method, url, status, code,
                reply.ptr ? reply.ptr : "");
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    strbuf_release(&reply);
    return out;
}

static void arm(const char *base, const char *fault)
{
    json_t *answer = control("POST", base, "/_fake/faults", fault);
    CHECK(answer != NULL, "arming %s", fault);
    json_decref(answer);
}

static json_int_t stat_of(const char *base, const char *name)
{
    json_t *stats = control("GET", base, "/_fake/stats", NULL);
    json_int_t value = json_integer_value(json_object_get(stats, name));
    json_decref(stats);
    return value;
}

/* The fake's messages as an array (caller owns the container). */
static json_t *messages(const char *base)
{
    json_t *all = control("GET", base, "/_fake/messages", NULL);
    json_t *list = json_incref(json_object_get(all, "messages"));
    json_decref(all);
    return list ? list : json_array();
}

static const char *str(const json_t *object, const char *key)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : "";
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Whether base64 text decodes to exactly bytes. */
static int same_bytes(const char *text, const unsigned char *bytes, size_t len)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = text; *p && *p != '='; p++) {
        int v = b64_value(*p);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= len || bytes[n] != ((acc >> bits) & 0xFF))
                return 0;
            n++;
        }
    }
    return n == len;
}

/* --- SMTP ------------------------------------------------------------------- */

static const char long_subject[] =
    "Ваш заказ №1042 «Ромашка» передан в службу доставки: трек-номер и ссылка "
    "для отслеживания — в следующем письме. Спасибо, что выбрали нас! ёЁ 😀";

static notify_result_t smtp_try(const char *password, const notify_email_t *email,
                                notify_error_t *err)
{
    smtp_config_t config = {.url = env("NOTIFY_SMTP_URL"),
                            .user = env("NOTIFY_SMTP_USER"),
                            .password = password,
                            .ca_file = env("NOTIFY_SMTP_CA"),
                            .helo_domain = "shop.conveyor.test",
                            .limits = {.connect_timeout_ms = 2000, .timeout_ms = 4000}};
    smtp_client_t *client = smtp_client_new(&config);
    char message_id[NOTIFY_ID_SIZE];
    notify_result_t result = client ? smtp_send(client, email, message_id, err) : NOTIFY_TRANSIENT;
    smtp_client_destroy(&client);
    return result;
}

static void check_smtp(void)
{
    const char *control_url = env("NOTIFY_SMTP_CONTROL");
    const char *password = env("NOTIFY_SMTP_PASSWORD");
    json_decref(control("POST", control_url, "/_fake/reset", "{}"));
    size_t pdf_len = 150 * 1024 + 7;
    unsigned char *pdf = malloc(pdf_len);
    memcpy(pdf, "%PDF-1.7\n", 9);
    for (size_t i = 9; i < pdf_len; i++)
        pdf[i] = (unsigned char)((i * 2654435761u) >> 13); /* every byte value, NULs too */
    static const unsigned char small[] = {'%', 'P', 'D', 'F', 0, 1, 2, '\r', '\n', '.', '\n'};
    notify_attachment_t attachments[] = {
        {"Счёт №1042 от 22.11.2026.pdf", "application/pdf", pdf, pdf_len},
        {"order-1042.pdf", "application/pdf", small, sizeof small}};
    notify_mailbox_t to[] = {
        {"Иван Петрович Сидоров-Длиннофамильный, отдел закупок ООО «Ромашка»", "ivan@example.test"},
        {"Plain \"Quoted\" Name", "plain@example.test"}};
    notify_mailbox_t cc[] = {{NULL, "manager@example.test"}};
    notify_mailbox_t bcc[] = {{"Архив", "archive@example.test"}};
    const char *text =
        "Здравствуйте, Иван!\n.a line that starts with a dot\n..two dots\n"
        "a long line "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxx that must be folded = and an equals sign \n"
        "trailing space \nend";
    const char *html = "<p>Здравствуйте, <b>Иван</b>!</p>\n<p>.dot</p>";
    notify_email_t email = {.from = {"Магазин «Ромашка»", "shop@conveyor.test"},
                            .to = to,
                            .to_count = 2,
                            .cc = cc,
                            .cc_count = 1,
                            .bcc = bcc,
                            .bcc_count = 1,
                            .subject = long_subject,
                            .text = text,
                            .html = html,
                            .unsubscribe_url = "https://shop.conveyor.test/optout?t=abc",
                            .attachments = attachments,
                            .attachment_count = 2};
    notify_error_t err;

    /* sent: everything arrives whole, decoded back exactly */
    smtp_config_t config = {.url = env("NOTIFY_SMTP_URL"),
                            .user = env("NOTIFY_SMTP_USER"),
                            .password = password,
                            .ca_file = env("NOTIFY_SMTP_CA"),
                            .helo_domain = "shop.conveyor.test",
                            .limits = {.connect_timeout_ms = 2000, .timeout_ms = 4000}};
    smtp_client_t *client = smtp_client_new(&config);
    char message_id[NOTIFY_ID_SIZE];
    notify_result_t result = smtp_send(client, &email, message_id, &err);
    CHECK(result == NOTIFY_SENT, "sent: %s %s %s", notify_result_name(result), err.code,
          err.message);
    json_t *list = messages(control_url);
    CHECK(json_array_size(list) == 1, "one message kept, not %zu", json_array_size(list));
    json_t *m = json_array_get(list, 0);
    json_t *headers = json_object_get(m, "headers");
    CHECK(strcmp(str(headers, "Subject"), long_subject) == 0, "subject came back as '%s'",
          str(headers, "Subject"));
    CHECK(strstr(str(headers, "From"), "Магазин «Ромашка»") != NULL, "From: %s",
          str(headers, "From"));
    CHECK(strstr(str(headers, "To"), to[0].name) != NULL, "To: %s", str(headers, "To"));
    CHECK(strstr(str(headers, "To"), "\"Plain \\\"Quoted\\\" Name\" <plain@example.test>") != NULL,
          "To: %s", str(headers, "To"));
    CHECK(json_object_get(headers, "Bcc") == NULL, "a Bcc header was written");
    CHECK(strcmp(str(headers, "Message-ID"), message_id) == 0, "Message-ID %s, told %s",
          str(headers, "Message-ID"), message_id);
    CHECK(strstr(str(headers, "List-Unsubscribe"), "optout") != NULL, "no List-Unsubscribe");
    CHECK(json_array_size(json_object_get(m, "problems")) == 0, "the fake found problems: %s",
          json_dumps(json_object_get(m, "problems"), 0));
    CHECK(json_is_true(json_object_get(m, "tls")), "the message did not come over TLS");
    CHECK(strcmp(str(m, "auth_user"), env("NOTIFY_SMTP_USER")) == 0, "auth user %s",
          str(m, "auth_user"));
    CHECK(strcmp(str(m, "mail_from"), "shop@conveyor.test") == 0, "MAIL FROM %s",
          str(m, "mail_from"));
    json_t *rcpts = json_object_get(m, "rcpts");
    CHECK(json_array_size(rcpts) == 4 &&
              strcmp(json_string_value(json_array_get(rcpts, 3)), "archive@example.test") == 0,
          "envelope: %s", json_dumps(rcpts, 0));
    const char *want_text =
        "Здравствуйте, Иван!\r\n.a line that starts with a dot\r\n..two dots\r\n"
        "a long line "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxx that must be folded = and an equals "
        "sign \r\ntrailing space \r\nend";
    CHECK(strcmp(str(m, "text"), want_text) == 0, "text came back as '%s'", str(m, "text"));
    CHECK(strcmp(str(m, "html"), "<p>Здравствуйте, <b>Иван</b>!</p>\r\n<p>.dot</p>") == 0,
          "html came back as '%s'", str(m, "html"));
    json_t *files = json_object_get(m, "attachments");
    CHECK(json_array_size(files) == 2, "%zu attachments", json_array_size(files));
    for (size_t i = 0; i < 2 && i < json_array_size(files); i++) {
        json_t *file = json_array_get(files, i);
        CHECK(strcmp(str(file, "filename"), attachments[i].filename) == 0, "filename %s",
              str(file, "filename"));
        CHECK(strcmp(str(file, "content_type"), "application/pdf") == 0, "type %s",
              str(file, "content_type"));
        CHECK(same_bytes(str(file, "base64"), attachments[i].bytes, attachments[i].len),
              "attachment %zu did not arrive intact (%lld bytes)", i,
              (long long)json_integer_value(json_object_get(file, "size")));
    }
    json_decref(list);

    /* the caller's Message-ID is kept (the service's dedup key) */
    email.message_id = "<notification-42@shop.conveyor.test>";
    result = smtp_send(client, &email, message_id, &err);
    CHECK(result == NOTIFY_SENT && strcmp(message_id, email.message_id) == 0, "own id: %s %s",
          notify_result_name(result), message_id);
    smtp_client_destroy(&client);

    /* transient: 421 at the greeting, 451 at MAIL, 451 after the final dot */
    struct {
        const char *fault;
        notify_result_t want;
        const char *code;
    } cases[] = {
        {"{\"stage\":\"connect\",\"code\":421,\"text\":\"4.3.2 Service shutting down\"}",
         NOTIFY_TRANSIENT, "421"},
        {"{\"stage\":\"mail\",\"code\":451,\"text\":\"4.3.0 Try again later\"}", NOTIFY_TRANSIENT,
         "451"},
        {"{\"stage\":\"rcpt\",\"code\":450,\"match\":\"manager@example.test\"}", NOTIFY_TRANSIENT,
         "450"},
        {"{\"stage\":\"end\",\"code\":451,\"text\":\"4.3.0 Queue full\"}", NOTIFY_TRANSIENT, "451"},
        {"{\"stage\":\"auth\",\"code\":454,\"text\":\"4.7.0 Temporary authentication failure\"}",
         NOTIFY_TRANSIENT, "454"},
        {"{\"stage\":\"rcpt\",\"code\":550,\"match\":\"plain@example.test\",\"text\":\"5.1.1 "
         "<plain@example.test>: Recipient address rejected\"}",
         NOTIFY_REJECTED, "550"},
        {"{\"stage\":\"end\",\"code\":554,\"text\":\"5.7.1 Message rejected as spam\"}",
         NOTIFY_REJECTED, "554"},
        {"{\"stage\":\"ehlo\",\"action\":\"hide\"}", NOTIFY_TRANSIENT, "tls_unavailable"},
        {"{\"stage\":\"starttls\",\"code\":454,\"text\":\"4.7.0 TLS not available\"}",
         NOTIFY_TRANSIENT, "tls_unavailable"},
        {"{\"stage\":\"end\",\"action\":\"drop\",\"keep\":true}", NOTIFY_UNKNOWN,
         "dropped_after_data"},
        {"{\"stage\":\"end\",\"action\":\"drop\",\"keep\":false}", NOTIFY_UNKNOWN,
         "dropped_after_data"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_int_t kept_before = stat_of(control_url, "kept");
        arm(control_url, cases[i].fault);
        result = smtp_try(password, &email, &err);
        CHECK(result == cases[i].want && strcmp(err.code, cases[i].code) == 0, "%s: got %s %s (%s)",
              cases[i].fault, notify_result_name(result), err.code, err.message);
        json_int_t kept_after = stat_of(control_url, "kept");
        bool kept_one = strstr(cases[i].fault, "\"keep\":true") != NULL;
        CHECK(kept_after == kept_before + (kept_one ? 1 : 0), "%s: kept %lld then %lld",
              cases[i].fault, (long long)kept_before, (long long)kept_after);
    }
    CHECK(stat_of(control_url, "mail_in_clear") == 0 && stat_of(control_url, "auth_in_clear") == 0,
          "the adapter said MAIL or AUTH in clear when STARTTLS was refused");
    /* the 550's words reach the caller */
    arm(control_url, "{\"stage\":\"rcpt\",\"code\":550,\"text\":\"5.1.1 No such user here\"}");
    result = smtp_try(password, &email, &err);
    CHECK(result == NOTIFY_REJECTED && strstr(err.message, "No such user") && err.status == 550,
          "550 words: %s %d '%s'", notify_result_name(result), err.status, err.message);

    /* rejected: a wrong password (535), refused before connecting: bad input */
    result = smtp_try("wrong-password", &email, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "535") == 0, "535: %s %s",
          notify_result_name(result), err.code);
    json_int_t connections = stat_of(control_url, "connections");
    notify_email_t bad = email;
    bad.subject = "broken \xD0 UTF-8";
    result = smtp_try(password, &bad, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "bad_request") == 0, "bad subject: %s",
          err.code);
    bad = email;
    bad.subject = "Header\r\nBcc: injected@example.test";
    result = smtp_try(password, &bad, &err);
    CHECK(result == NOTIFY_REJECTED, "a subject with CRLF was sent");
    notify_mailbox_t evil = {NULL, "a@b.c>\r\nRCPT TO:<x@y.z"};
    bad = email;
    bad.to = &evil;
    bad.to_count = 1;
    result = smtp_try(password, &bad, &err);
    CHECK(result == NOTIFY_REJECTED, "an address with CRLF was sent");
    CHECK(stat_of(control_url, "connections") == connections,
          "refused input still reached the server");

    /* transient: nobody listening */
    smtp_config_t nowhere = {.url = "smtp://127.0.0.1:1", .limits = {.connect_timeout_ms = 1000}};
    client = smtp_client_new(&nowhere);
    result = smtp_send(client, &email, message_id, &err);
    CHECK(result == NOTIFY_TRANSIENT && strcmp(err.code, "connect") == 0, "nobody: %s %s",
          notify_result_name(result), err.code);
    smtp_client_destroy(&client);
    free(pdf);
}

/* --- SMS ---------------------------------------------------------------------- */

static smsru_client_t *sms_client(const char *api_id, bool test, long timeout_ms)
{
    smsru_config_t config = {.base_url = env("NOTIFY_SMS_URL"),
                             .api_id = api_id,
                             .from = "conveyor",
                             .test = test,
                             .limits = {.connect_timeout_ms = 1000, .timeout_ms = timeout_ms}};
    return smsru_client_new(&config);
}

static json_int_t sms_requests(void)
{
    json_t *all = control("GET", env("NOTIFY_SMS_URL"), "/_fake/messages", NULL);
    json_int_t n = json_integer_value(json_object_get(all, "requests"));
    json_decref(all);
    return n;
}

static void check_sms(void)
{
    const char *base = env("NOTIFY_SMS_URL");
    json_decref(control("POST", base, "/_fake/reset", "{}"));
    smsru_client_t *client = sms_client(env("NOTIFY_SMS_API_ID"), false, 1500);
    const char *text = "Заказ №1042 собран и ждёт вас в пункте выдачи до 25.11. Код: 4711";
    const char *numbers[] = {"+79991234567", "79997654321"};
    smsru_message_t message = {.numbers = numbers, .count = 2, .text = text};
    smsru_number_result_t per[SMSRU_NUMBERS_MAX];
    notify_error_t err;

    notify_result_t result = smsru_send(client, &message, per, &err);
    CHECK(result == NOTIFY_SENT && per[0].result == NOTIFY_SENT && per[1].result == NOTIFY_SENT &&
              per[0].sms_id[0] && strcmp(per[0].sms_id, per[1].sms_id) != 0,
          "sent: %s %s / %s %s", notify_result_name(result), err.code,
          notify_result_name(per[0].result), per[0].sms_id);
    json_t *list = messages(base);
    CHECK(json_array_size(list) == 2 && strcmp(str(json_array_get(list, 0), "text"), text) == 0 &&
              strcmp(str(json_array_get(list, 0), "number"), "79991234567") == 0 &&
              strcmp(str(json_array_get(list, 0), "from"), "conveyor") == 0,
          "the gateway holds %s", json_dumps(list, 0));
    json_decref(list);
    int delivery = 0;
    result = smsru_status(client, per[0].sms_id, &delivery, &err);
    CHECK(result == NOTIFY_SENT && delivery == 103, "status: %s %d", notify_result_name(result),
          delivery);

    /* one number fails in an OK request */
    arm(base, "{\"kind\":\"number\",\"number\":\"79997654321\",\"status_code\":207}");
    result = smsru_send(client, &message, per, &err);
    CHECK(result == NOTIFY_SENT && per[0].result == NOTIFY_SENT &&
              per[1].result == NOTIFY_REJECTED && per[1].status_code == 207,
          "one failing: %s / %s %d", notify_result_name(result), notify_result_name(per[1].result),
          per[1].status_code);
    /* a number the gateway cannot route (202, per number) */
    const char *odd[] = {"7999123456789", "79991234567"};
    smsru_message_t odd_message = {.numbers = odd, .count = 2, .text = "x"};
    arm(base, "{\"kind\":\"number\",\"number\":\"7999123456789\",\"status_code\":202}");
    result = smsru_send(client, &odd_message, per, &err);
    CHECK(result == NOTIFY_SENT && per[0].result == NOTIFY_REJECTED && per[0].status_code == 202 &&
              per[1].result == NOTIFY_SENT,
          "202 per number: %s %s", notify_result_name(result), notify_result_name(per[0].result));

    /* the request refused: permanent and transient codes */
    struct {
        int code;
        notify_result_t want;
    } codes[] = {{201, NOTIFY_REJECTED}, {202, NOTIFY_REJECTED},  {204, NOTIFY_REJECTED},
                 {231, NOTIFY_REJECTED}, {220, NOTIFY_TRANSIENT}, {500, NOTIFY_TRANSIENT}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char fault[96], code[16];
        snprintf(fault, sizeof fault, "{\"kind\":\"error\",\"status_code\":%d}", codes[i].code);
        snprintf(code, sizeof code, "%d", codes[i].code);
        arm(base, fault);
        result = smsru_send(client, &message, per, &err);
        CHECK(result == codes[i].want && strcmp(err.code, code) == 0 &&
                  per[0].result == codes[i].want && per[1].result == codes[i].want,
              "code %d: %s %s", codes[i].code, notify_result_name(result), err.code);
    }
    /* the gateway's own checks: a bad api_id, a sender it does not know */
    smsru_client_t *wrong = sms_client("not-the-api-id", false, 1500);
    result = smsru_send(wrong, &message, per, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "200") == 0, "bad api_id: %s %s",
          notify_result_name(result), err.code);
    smsru_client_destroy(&wrong);
    smsru_config_t unapproved = {
        .base_url = base, .api_id = env("NOTIFY_SMS_API_ID"), .from = "NotApproved"};
    wrong = smsru_client_new(&unapproved);
    result = smsru_send(wrong, &message, per, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "204") == 0, "sender: %s %s",
          notify_result_name(result), err.code);
    smsru_client_destroy(&wrong);
    /* more than 8 parts: 205 */
    char long_text[1201];
    for (size_t i = 0; i + 2 <= 1200; i += 2)
        memcpy(long_text + i, "ж", 2);
    long_text[1200] = '\0';
    smsru_message_t too_long = {.numbers = numbers, .count = 1, .text = long_text};
    result = smsru_send(client, &too_long, per, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "205") == 0, "600 letters: %s %s",
          notify_result_name(result), err.code);

    /* refused here, before any request */
    json_int_t before = sms_requests();
    const char *bad_numbers[] = {"8 (999) 123-45-67"};
    smsru_message_t bad = {.numbers = bad_numbers, .count = 1, .text = "x"};
    result = smsru_send(client, &bad, per, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "bad_request") == 0 &&
              per[0].result == NOTIFY_REJECTED,
          "bad number: %s", err.code);
    smsru_message_t not_utf8 = {.numbers = numbers, .count = 1, .text = "\xFF\xFE"};
    result = smsru_send(client, &not_utf8, per, &err);
    CHECK(result == NOTIFY_REJECTED, "bad text: %s", notify_result_name(result));
    CHECK(sms_requests() == before, "refused input reached the gateway");

    /* unknown: a timeout after sending (the SMS was sent), a 502 after sending */
    size_t kept = json_array_size(list = messages(base));
    json_decref(list);
    arm(base, "{\"kind\":\"timeout\"}");
    result = smsru_send(client, &message, per, &err);
    CHECK(result == NOTIFY_UNKNOWN && strcmp(err.code, "timeout") == 0 &&
              per[0].result == NOTIFY_UNKNOWN,
          "timeout: %s %s", notify_result_name(result), err.code);
    list = messages(base);
    CHECK(json_array_size(list) == kept + 2, "the timed-out SMS was not sent by the gateway");
    json_decref(list);
    arm(base, "{\"kind\":\"http\",\"http_status\":502,\"apply\":true}");
    result = smsru_send(client, &message, per, &err);
    CHECK(result == NOTIFY_UNKNOWN && strcmp(err.code, "http_502") == 0, "502: %s %s",
          notify_result_name(result), err.code);
    arm(base, "{\"kind\":\"http\",\"http_status\":503}");
    result = smsru_send(client, &message, per, &err);
    CHECK(result == NOTIFY_TRANSIENT, "503: %s %s", notify_result_name(result), err.code);

    /* test=1: checked, kept as a test */
    smsru_client_t *tester = sms_client(env("NOTIFY_SMS_API_ID"), true, 1500);
    result = smsru_send(tester, &message, per, &err);
    list = messages(base);
    CHECK(result == NOTIFY_SENT && json_is_true(json_object_get(
                                       json_array_get(list, json_array_size(list) - 1), "test")),
          "test=1: %s", notify_result_name(result));
    json_decref(list);
    smsru_client_destroy(&tester);

    /* transient: nobody listening */
    smsru_config_t nowhere = {
        .base_url = "http://127.0.0.1:1", .api_id = "x", .limits = {.connect_timeout_ms = 1000}};
    smsru_client_t *lost = smsru_client_new(&nowhere);
    result = smsru_send(lost, &message, per, &err);
    CHECK(result == NOTIFY_TRANSIENT && strcmp(err.code, "connect") == 0, "nobody: %s %s",
          notify_result_name(result), err.code);
    smsru_client_destroy(&lost);
    smsru_client_destroy(&client);
}

/* --- Telegram ------------------------------------------------------------------- */

static telegram_client_t *tg_client(const char *token)
{
    telegram_config_t config = {.base_url = env("NOTIFY_TELEGRAM_URL"),
                                .token = token,
                                .limits = {.connect_timeout_ms = 1000, .timeout_ms = 1500}};
    return telegram_client_new(&config);
}

static void check_telegram(void)
{
    const char *base = env("NOTIFY_TELEGRAM_URL");
    json_decref(control("POST", base, "/_fake/reset", "{}"));
    telegram_client_t *client = tg_client(env("NOTIFY_TELEGRAM_TOKEN"));
    char id[NOTIFY_ID_SIZE];
    notify_error_t err;
    const char *text = "Новый заказ <b>№1042</b> на 12 990,00 ₽ — <a "
                       "href=\"https://crm.test/orders/1042\">открыть</a> &amp; назначить";
    telegram_message_t message = {.chat_id = "1001", .text = text, .parse_mode = TELEGRAM_HTML};
    notify_result_t result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_SENT && id[0], "sent: %s %s %s", notify_result_name(result), err.code,
          err.message);
    json_t *list = messages(base);
    json_t *m = json_array_get(list, 0);
    CHECK(strcmp(str(m, "text"), text) == 0 && strcmp(str(m, "parse_mode"), "HTML") == 0 &&
              strcmp(str(m, "chat_id"), "1001") == 0,
          "the fake holds %s", json_dumps(list, 0));
    json_decref(list);

    /* 4096 UTF-16 units are allowed; emoji count twice */
    char *big = malloc(4 * 2049 + 1);
    for (size_t i = 0; i < 2048; i++)
        memcpy(big + 4 * i, "😀", 4);
    big[4 * 2048] = '\0';
    telegram_message_t edge = {.chat_id = "1001", .text = big};
    result = telegram_send(client, &edge, id, &err);
    CHECK(result == NOTIFY_SENT, "4096 units: %s %s", notify_result_name(result), err.message);
    json_t *counted = control("GET", base, "/_fake/messages", NULL);
    json_int_t requests = json_integer_value(json_object_get(counted, "requests"));
    json_decref(counted);
    memcpy(big + 4 * 2048, "😀", 4);
    big[4 * 2049] = '\0';
    result = telegram_send(client, &edge, id, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "bad_request") == 0, "4098 units: %s",
          notify_result_name(result));
    telegram_message_t empty = {.chat_id = "1001", .text = ""};
    result = telegram_send(client, &empty, id, &err);
    CHECK(result == NOTIFY_REJECTED, "empty text: %s", notify_result_name(result));
    counted = control("GET", base, "/_fake/messages", NULL);
    CHECK(json_integer_value(json_object_get(counted, "requests")) == requests,
          "refused input reached Telegram");
    json_decref(counted);
    free(big);

    /* 429 with retry_after */
    arm(base, "{\"kind\":\"error\",\"error_code\":429,\"retry_after\":7,"
              "\"description\":\"Too Many Requests: retry after 7\"}");
    result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_TRANSIENT && err.retry_after_ms == 7000 && strcmp(err.code, "429") == 0,
          "429: %s %s %lld", notify_result_name(result), err.code, (long long)err.retry_after_ms);
    /* 403 blocked, 400 chat not found, 400 bad HTML, 401 bad token */
    telegram_message_t blocked = {.chat_id = "666", .text = "hello"};
    result = telegram_send(client, &blocked, id, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "403") == 0 &&
              strstr(err.message, "blocked"),
          "403: %s %s %s", notify_result_name(result), err.code, err.message);
    telegram_message_t nobody = {.chat_id = "424242", .text = "hello"};
    result = telegram_send(client, &nobody, id, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "400") == 0 &&
              strstr(err.message, "chat not found"),
          "400: %s %s %s", notify_result_name(result), err.code, err.message);
    telegram_message_t broken = {
        .chat_id = "1001", .text = "<b>unclosed & so on", .parse_mode = TELEGRAM_HTML};
    result = telegram_send(client, &broken, id, &err);
    CHECK(result == NOTIFY_REJECTED && strstr(err.message, "can't parse entities"),
          "bad HTML: %s %s", notify_result_name(result), err.message);
    telegram_client_t *stranger = tg_client("999:not-the-token");
    result = telegram_send(stranger, &message, id, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "401") == 0, "401: %s %s",
          notify_result_name(result), err.code);
    telegram_client_destroy(&stranger);
    arm(base, "{\"kind\":\"error\",\"error_code\":403}");
    result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_REJECTED && strcmp(err.code, "403") == 0, "injected 403: %s",
          notify_result_name(result));

    /* unknown: a timeout after sending (it was sent), a 5xx after sending */
    list = messages(base);
    size_t kept = json_array_size(list);
    json_decref(list);
    arm(base, "{\"kind\":\"timeout\"}");
    result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_UNKNOWN && strcmp(err.code, "timeout") == 0, "timeout: %s %s",
          notify_result_name(result), err.code);
    list = messages(base);
    CHECK(json_array_size(list) == kept + 1, "the timed-out message was not sent");
    json_decref(list);
    arm(base, "{\"kind\":\"http\",\"http_status\":502,\"apply\":true}");
    result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_UNKNOWN, "502: %s %s", notify_result_name(result), err.code);
    arm(base, "{\"kind\":\"error\",\"error_code\":500}");
    result = telegram_send(client, &message, id, &err);
    CHECK(result == NOTIFY_UNKNOWN && strcmp(err.code, "500") == 0, "500: %s %s",
          notify_result_name(result), err.code);

    telegram_config_t nowhere = {
        .base_url = "http://127.0.0.1:1", .token = "1:x", .limits = {.connect_timeout_ms = 1000}};
    telegram_client_t *lost = telegram_client_new(&nowhere);
    result = telegram_send(lost, &message, id, &err);
    CHECK(result == NOTIFY_TRANSIENT && strcmp(err.code, "connect") == 0, "nobody: %s %s",
          notify_result_name(result), err.code);
    telegram_client_destroy(&lost);
    telegram_client_destroy(&client);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: notifycheck smtp|sms|telegram\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "smtp") == 0)
        check_smtp();
    else if (strcmp(argv[1], "sms") == 0)
        check_sms();
    else if (strcmp(argv[1], "telegram") == 0)
        check_telegram();
    else
        return 2;
    curl_global_cleanup();
    printf("notifycheck %s: %d checks, %d failed\n", argv[1], checks, failures);
    return failures ? 1 : 0;
}
