/*
 * smtp.c — email over SMTP with libcurl (channels.h): STARTTLS required
 * (CURLUSESSL_ALL: a server that does not offer it, or refuses it, is
 * never sent a message in clear), AUTH PLAIN/LOGIN as the server offers,
 * every recipient in the envelope, the message written by mime.c and
 * handed over as it is (libcurl dot-stuffs it).
 *
 * The class of a failure comes from the last SMTP reply, which libcurl
 * reports as the response code and which its debug stream lets us quote:
 * 4xx is transient, 5xx permanent (notes, "SMTP with libcurl"). One case
 * is neither: the whole message went out with its final dot and no reply
 * came (a drop, a timeout). The server may have queued it, and SMTP has
 * no way to ask, so that is NOTIFY_UNKNOWN — the duplicate risk the
 * service reports instead of sending again.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "services/notification/adapters/channels.h"
#include "services/notification/adapters/mime.h"
#include "services/notification/adapters/outcall.h"

struct smtp_client {
    char *url; /* with the EHLO domain as its path */
    char *user;
    char *password;
    char *ca_file;
    char *helo_domain;
    notify_limits_t limits;
    /* kept between sends (curl_easy_reset keeps its connection cache): the
     * next message goes over the same session, STARTTLS and AUTH done once */
    CURL *curl;
};

/* One transfer's state, for libcurl's callbacks. */
typedef struct {
    const char *message;
    size_t len;
    size_t offset;
    bool body_done;               /* the read callback said EOF: the final dot follows */
    int (*on_handing)(void *arg); /* the email's: before the body's end leaves */
    void *handing_arg;
    bool handed;         /* on_handing was called (and agreed) */
    bool handing_failed; /* on_handing refused: the transfer was stopped before the end */
    bool reply_after;    /* a server reply came after that */
    char last_reply[NOTIFY_MESSAGE_SIZE]; /* the last 4xx or 5xx line: QUIT's 221 follows it */
} transfer_t;

static char *dup_or_null(const char *text)
{
    return text && text[0] ? strdup(text) : NULL;
}

smtp_client_t *smtp_client_new(const smtp_config_t *config)
{
    const char *url = config->url ? config->url : "";
    bool smtps = strncmp(url, "smtps://", 8) == 0;
    if (!smtps && strncmp(url, "smtp://", 7) != 0) {
        log_error("smtp client not configured", LF_ERR("config_invalid"),
                  LF_STR("need", "an smtp:// or smtps:// URL"));
        return NULL;
    }
    const char *helo =
        config->helo_domain && config->helo_domain[0] ? config->helo_domain : "localhost";
    const char *host = url + (smtps ? 8 : 7);
    if (strchr(host, '/') || strlen(url) > 512 || strlen(helo) > 200 || strpbrk(helo, "/ \r\n")) {
        log_error("smtp client not configured", LF_ERR("config_invalid"),
                  LF_STR("need", "a URL without a path and a one-word EHLO domain"));
        return NULL;
    }
    smtp_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t url_size = strlen(url) + strlen(helo) + 2;
    self->url = malloc(url_size);
    if (self->url)
        snprintf(self->url, url_size, "%s/%s", url, helo);
    self->user = dup_or_null(config->user);
    self->password = dup_or_null(config->password);
    self->ca_file = dup_or_null(config->ca_file);
    self->helo_domain = strdup(helo);
    self->limits = config->limits;
    if (!self->url || !self->helo_domain || (config->user && config->user[0] && !self->user)) {
        smtp_client_destroy(&self);
        return NULL;
    }
    return self;
}

void smtp_client_destroy(smtp_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    smtp_client_t *self = *self_p;
    free(self->url);
    free(self->user);
    if (self->password) {
        explicit_bzero(self->password, strlen(self->password));
        free(self->password);
    }
    free(self->ca_file);
    free(self->helo_domain);
    curl_easy_cleanup(self->curl);
    free(self);
    *self_p = NULL;
}

static size_t on_read(char *buffer, size_t size, size_t count, void *userdata)
{
    transfer_t *t = userdata;
    size_t room = size * count;
    size_t left = t->len - t->offset;
    size_t n = left < room ? left : room;
    if (n == left && !t->handed) {
        /* the body's end (and the final dot after it) is about to leave */
        if (t->on_handing && t->on_handing(t->handing_arg) != 0) {
            t->handing_failed = true;
            return CURL_READFUNC_ABORT;
        }
        t->handed = true;
    }
    memcpy(buffer, t->message + t->offset, n);
    t->offset += n;
    if (n == 0)
        t->body_done = true;
    return n;
}

/* Keeps the server's last refusal, and whether any reply came after the body. */
static int on_debug(CURL *curl, curl_infotype type, char *bytes, size_t size, void *userdata)
{
    (void)curl;
    transfer_t *t = userdata;
    if (type != CURLINFO_HEADER_IN || size == 0)
        return 0;
    while (size > 0 && (bytes[size - 1] == '\n' || bytes[size - 1] == '\r'))
        size--;
    if (t->body_done || t->handed)
        t->reply_after = true;
    if (bytes[0] != '4' && bytes[0] != '5')
        return 0;
    if (size >= sizeof t->last_reply)
        size = sizeof t->last_reply - 1;
    memcpy(t->last_reply, bytes, size);
    t->last_reply[size] = '\0';
    return 0;
}

/* "<hex.ms@domain>" and a boundary tag from the same random bytes. */
static int make_ids(const smtp_client_t *self, char *message_id, char *tag, size_t tag_size)
{
    unsigned char random_bytes[12];
    if (getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes)
        return -1;
    char hex[2 * sizeof random_bytes + 1];
    for (size_t i = 0; i < sizeof random_bytes; i++)
        snprintf(hex + 2 * i, 3, "%02x", random_bytes[i]);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(tag, tag_size, "%s", hex);
    int n = snprintf(message_id, NOTIFY_ID_SIZE, "<%s.%lld@%s>", hex, (long long)now.tv_sec,
                     self->helo_domain);
    return n > 0 && n < NOTIFY_ID_SIZE ? 0 : -1;
}

static struct curl_slist *envelope(const notify_email_t *email)
{
    struct curl_slist *list = NULL;
    const notify_mailbox_t *groups[] = {email->to, email->cc, email->bcc};
    size_t counts[] = {email->to_count, email->cc_count, email->bcc_count};
    char line[300];
    for (size_t g = 0; g < 3; g++) {
        for (size_t i = 0; i < counts[g]; i++) {
            snprintf(line, sizeof line, "<%s>", groups[g][i].addr);
            struct curl_slist *next = curl_slist_append(list, line);
            if (!next) {
                curl_slist_free_all(list);
                return NULL;
            }
            list = next;
        }
    }
    return list;
}

static notify_result_t classify(CURLcode code, long reply, const transfer_t *t,
                                const char *curl_error, notify_error_t *err)
{
    char words[NOTIFY_MESSAGE_SIZE];
    char reply_code[16];
    snprintf(reply_code, sizeof reply_code, "%ld", reply);
    snprintf(words, sizeof words, "%s", t->last_reply[0] ? t->last_reply : curl_error);
    if (t->handing_failed)
        return outcall_fail(err, NOTIFY_TRANSIENT, 0, "handing_unrecorded",
                            "the send stopped before the message's end: its handing over "
                            "could not be recorded");
    if (code == CURLE_USE_SSL_FAILED)
        return outcall_fail(err, NOTIFY_TRANSIENT, (int)reply, "tls_unavailable", curl_error);
    if (code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION ||
        code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CERTPROBLEM)
        return outcall_fail(err, NOTIFY_TRANSIENT, 0, "tls_failed", curl_error);
    if ((t->body_done || t->handed) && !t->reply_after)
        return outcall_fail(err, NOTIFY_UNKNOWN, 0,
                            code == CURLE_OPERATION_TIMEDOUT ? "timeout" : "dropped_after_data",
                            curl_error);
    if (reply >= 400 && reply < 500)
        return outcall_fail(err, NOTIFY_TRANSIENT, (int)reply, reply_code, words);
    if (reply >= 500 && reply < 600)
        return outcall_fail(err, NOTIFY_REJECTED, (int)reply, reply_code, words);
    if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
        return outcall_fail(err, NOTIFY_TRANSIENT, 0, "connect", curl_error);
    /* a drop or a timeout before the message was whole: nothing was queued */
    return outcall_fail(err, NOTIFY_TRANSIENT, (int)reply,
                        code == CURLE_OPERATION_TIMEDOUT ? "timeout" : "no_answer", curl_error);
}

notify_result_t smtp_send(smtp_client_t *self, const notify_email_t *email, char *message_id_out,
                          notify_error_t *err)
{
    memset(err, 0, sizeof *err);
    message_id_out[0] = '\0';
    notify_result_t result = NOTIFY_TRANSIENT;
    strbuf_t message;
    strbuf_init(&message, NOTIFY_EMAIL_BYTES_MAX);
    struct curl_slist *rcpts = NULL;
    CURL *curl = NULL;
    char made_id[NOTIFY_ID_SIZE], tag[32], why[NOTIFY_MESSAGE_SIZE] = "";
    if (make_ids(self, made_id, tag, sizeof tag) != 0) {
        result = outcall_fail(err, NOTIFY_TRANSIENT, 0, "no_random", "getrandom failed");
        goto done;
    }
    const char *message_id = email->message_id ? email->message_id : made_id;
    if (mime_build(&message, email, message_id, tag, (int64_t)time(NULL), why) != 0) {
        result = outcall_fail(err, NOTIFY_REJECTED, 0, "bad_request", why);
        goto done;
    }
    outcall_copy(message_id_out, NOTIFY_ID_SIZE, message_id);
    rcpts = envelope(email);
    if (self->curl)
        curl_easy_reset(self->curl);
    else
        self->curl = curl_easy_init();
    curl = self->curl;
    if (!rcpts || !curl) {
        result = outcall_fail(err, NOTIFY_TRANSIENT, 0, "out_of_memory", "out of memory");
        goto done;
    }
    transfer_t t = {.message = message.ptr,
                    .len = message.len,
                    .on_handing = email->on_handing,
                    .handing_arg = email->handing_arg};
    char from[300], curl_error[CURL_ERROR_SIZE] = "";
    snprintf(from, sizeof from, "<%s>", email->from.addr);
    curl_easy_setopt(curl, CURLOPT_URL, self->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (self->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, self->ca_file);
    if (self->user) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, self->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, self->password ? self->password : "");
    }
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)message.len);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L); /* for on_debug: the server's words */
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &t);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, outcall_connect_ms(&self->limits));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, outcall_total_ms(&self->limits));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode code = curl_easy_perform(curl);
    long reply = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
    if (code == CURLE_OK) {
        result = NOTIFY_SENT;
        err->status = (int)reply;
        goto done;
    }
    if (!curl_error[0])
        outcall_copy(curl_error, sizeof curl_error, curl_easy_strerror(code));
    result = classify(code, reply, &t, curl_error, err);
done:
    if (curl && result != NOTIFY_SENT) {
        /* after a failure the session's state is not known: start afresh */
        curl_easy_cleanup(self->curl);
        self->curl = NULL;
    }
    curl_slist_free_all(rcpts);
    strbuf_release(&message);
    return result;
}
