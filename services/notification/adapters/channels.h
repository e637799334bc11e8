/*
 * channels.h — what the notification service's send jobs ask of the
 * outside world: an email over SMTP, an SMS through an SMS.ru-style
 * gateway, a Telegram message to a member of staff (DOMAIN.md F21;
 * issue 12, item 3).
 *
 * Three adapters speak it: smtp.c (libcurl's SMTP with STARTTLS required,
 * the message assembled by mime.c), smsru.c and telegram.c (libcurl's
 * HTTP through outcall.c). A job builds a plain struct, calls one send
 * function and acts on the class of the result:
 *
 *   NOTIFY_SENT        the provider took the message; the out-parameter
 *                      holds its id (SMS.ru's sms_id, Telegram's
 *                      message_id; SMTP: the Message-ID we wrote).
 *   NOTIFY_REJECTED    refused for good (a 5xx SMTP reply such as 550 or
 *                      535, SMS.ru's 201/202/204/231..., Telegram's 400 or
 *                      403, or our own check before sending): never retry;
 *                      the error holds the provider's code and words.
 *   NOTIFY_TRANSIENT   nothing was delivered (not reached, a 4xx SMTP
 *                      reply, SMS.ru's 220/500, Telegram's 429, a server
 *                      that will not do TLS): retry with backoff, after
 *                      retry_after_ms when the provider gave one.
 *   NOTIFY_UNKNOWN     it may have been delivered (a timeout after the
 *                      request left, the connection dropped after the
 *                      message's final dot, a 5xx from a gateway, a reply
 *                      we cannot read): record outcome_unknown and report
 *                      it for a decision — none of the three providers
 *                      deduplicates, so sending again may send twice.
 *
 * No database, no protobuf: plain structs in, plain structs out. Every
 * call blocks (libcurl with the configured timeouts): call it from a job
 * worker, never from the thread that reads the bus. A client is used by
 * one thread at a time; make one per worker. Text is UTF-8; anything
 * that is not is refused before sending (NOTIFY_REJECTED, "bad_request").
 */
#ifndef CONVEYOR_NOTIFICATION_CHANNELS_H
#define CONVEYOR_NOTIFICATION_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_CODE_SIZE    64  /* a provider's code ("550", "202", "429") or ours */
#define NOTIFY_MESSAGE_SIZE 256 /* a provider's words, cut at a character */
#define NOTIFY_ID_SIZE      128 /* sms_id, message_id, a Message-ID */

typedef enum { NOTIFY_SENT = 0, NOTIFY_REJECTED, NOTIFY_TRANSIENT, NOTIFY_UNKNOWN } notify_result_t;

/* What went wrong, for the delivery log and the job's error. code is the
 * provider's ("550", "535", "231", "429", "403") or ours when it said
 * nothing usable: "timeout", "connect", "no_answer", "dropped_after_data",
 * "tls_unavailable", "bad_reply", "http_<status>", "bad_request". */
typedef struct {
    char code[NOTIFY_CODE_SIZE];
    char message[NOTIFY_MESSAGE_SIZE];
    int status;             /* the SMTP reply code or HTTP status; 0 when none came */
    int64_t retry_after_ms; /* the provider's hint (Telegram's retry_after), 0 if none */
} notify_error_t;

/* "sent", "rejected", "transient", "unknown". */
const char *notify_result_name(notify_result_t result);

/* Timeouts shared by the three clients. */
typedef struct {
    long connect_timeout_ms; /* 0: 5000 */
    long timeout_ms;         /* the whole call; 0: 30000 */
} notify_limits_t;

/* --- email (smtp.c, mime.c) ---------------------------------------------- */

#define NOTIFY_EMAIL_RCPTS_MAX       100
#define NOTIFY_EMAIL_ATTACHMENTS_MAX 10
#define NOTIFY_EMAIL_BYTES_MAX       (20 * 1024 * 1024) /* the whole message as sent */

typedef struct {
    const char *name; /* display name, UTF-8, may be NULL */
    const char *addr; /* local@domain, ASCII, no spaces or angle brackets */
} notify_mailbox_t;

typedef struct {
    const char *filename;     /* UTF-8; written with RFC 2231 when not ASCII */
    const char *content_type; /* "application/pdf" */
    const unsigned char *bytes;
    size_t len;
} notify_attachment_t;

typedef struct {
    notify_mailbox_t from;
    const notify_mailbox_t *to; /* headers and envelope */
    size_t to_count;            /* at least one of to, cc, bcc */
    const notify_mailbox_t *cc; /* headers and envelope */
    size_t cc_count;
    const notify_mailbox_t *bcc; /* envelope only, never in a header */
    size_t bcc_count;
    const char *reply_to;        /* an address, or NULL */
    const char *subject;         /* UTF-8, RFC 2047 encoded when not plain ASCII */
    const char *text;            /* the text/plain part (required) */
    const char *html;            /* the text/html part, or NULL: text only */
    const char *message_id;      /* "<id@domain>" the service keeps; NULL: one is made */
    const char *unsubscribe_url; /* List-Unsubscribe (opt-out, issue 12 item 5), or NULL */
    const notify_attachment_t *attachments;
    size_t attachment_count;
    /* Called once, when the message is about to leave whole (its last bytes
     * and the final dot): until then the server cannot have it, from then on
     * it may. The caller records that (a send found interrupted later is
     * outcome_unknown only past this point). Non-zero: the send stops there,
     * nothing handed over (NOTIFY_TRANSIENT, "handing_unrecorded"). NULL: none. */
    int (*on_handing)(void *arg);
    void *handing_arg;
} notify_email_t;

typedef struct {
    const char *url;      /* "smtp://host:587" (STARTTLS, required) or "smtps://host:465" */
    const char *user;     /* AUTH PLAIN/LOGIN; NULL: no AUTH */
    const char *password; /* with user */
    const char *ca_file;  /* a CA bundle to trust instead of the system's (the fake's) */
    const char
        *helo_domain; /* the name said in EHLO and used in made Message-IDs; NULL: "localhost" */
    notify_limits_t limits;
} smtp_config_t;

typedef struct smtp_client smtp_client_t;

/* Caller owns the result (smtp_client_destroy). NULL if the URL is not
 * smtp:// or smtps:// (logged) or out of memory. Strings are copied. */
smtp_client_t *smtp_client_new(const smtp_config_t *config);
void smtp_client_destroy(smtp_client_t **self_p);

/* Assembles the message (mime.h) and sends it to every envelope recipient
 * (to, cc, bcc). The connection is refused in clear: a server that does
 * not offer STARTTLS, or refuses it, gets nothing but EHLO
 * (NOTIFY_TRANSIENT, "tls_unavailable"). Any recipient refused fails the
 * whole message (nothing is sent). message_id_out (NOTIFY_ID_SIZE) gets
 * the Message-ID written, whatever the class. */
notify_result_t smtp_send(smtp_client_t *self, const notify_email_t *email, char *message_id_out,
                          notify_error_t *err);

/* --- SMS (smsru.c) ----------------------------------------------------------- */

#define SMSRU_NUMBERS_MAX 100  /* SMS.ru's limit per request */
#define SMSRU_TEXT_MAX    1600 /* bytes of text we send (8 parts of Cyrillic is 536 chars) */

typedef struct {
    const char *const *numbers; /* digits, an optional leading '+': "79991234567" */
    size_t count;               /* 1..SMSRU_NUMBERS_MAX */
    const char *text;           /* UTF-8 */
} smsru_message_t;

/* What the gateway said about one number, in the order given. */
typedef struct {
    char number[24];
    notify_result_t result; /* NOTIFY_SENT, or why not */
    int status_code;        /* SMS.ru's per-number code (100 accepted, 202 ...) */
    char sms_id[NOTIFY_ID_SIZE];
    char message[NOTIFY_MESSAGE_SIZE]; /* status_text */
} smsru_number_result_t;

typedef struct {
    const char *base_url; /* "https://sms.ru" */
    const char *api_id;
    const char *from; /* an approved sender name, or NULL: the account's default */
    bool test;        /* test=1: the gateway checks everything and sends nothing */
    notify_limits_t limits;
} smsru_config_t;

typedef struct smsru_client smsru_client_t;

smsru_client_t *smsru_client_new(const smsru_config_t *config);
void smsru_client_destroy(smsru_client_t **self_p);

/* Sends one text to message->count numbers. The class is the request's:
 * NOTIFY_SENT means the gateway took the request, and then each number's
 * own result says whether it was accepted (one number can fail in an OK
 * request); any other class applies to every number, and per_number is
 * filled with it. per_number has room for message->count entries. */
notify_result_t smsru_send(smsru_client_t *self, const smsru_message_t *message,
                           smsru_number_result_t *per_number, notify_error_t *err);

/* The delivery status of a sent SMS (SMS.ru's /sms/status): *status_code
 * is 100..108 (103 delivered, 104..108 undeliverable). */
notify_result_t smsru_status(smsru_client_t *self, const char *sms_id, int *status_code,
                             notify_error_t *err);

/* Reads a /sms/send reply (json=1) for the numbers asked, in their
 * order; exposed for the fuzzer. Never trusts the reply's shape: a
 * missing, repeated or unknown number is a per-number NOTIFY_UNKNOWN. */
notify_result_t smsru_parse_send_reply(const char *body, size_t len, const char *const *numbers,
                                       size_t count, smsru_number_result_t *per_number,
                                       notify_error_t *err);

/* --- Telegram (telegram.c) ----------------------------------------------------- */

#define TELEGRAM_TEXT_MAX 4096 /* UTF-16 code units, as Telegram counts */

typedef enum { TELEGRAM_PLAIN = 0, TELEGRAM_HTML, TELEGRAM_MARKDOWN_V2 } telegram_parse_mode_t;

typedef struct {
    const char *chat_id; /* "123456789", "-100123..." or "@channel" */
    const char *text;    /* 1..TELEGRAM_TEXT_MAX */
    telegram_parse_mode_t parse_mode;
    bool silent; /* disable_notification (quiet hours) */
} telegram_message_t;

typedef struct {
    const char *base_url; /* "https://api.telegram.org" */
    const char *token;    /* the bot's; it is part of every URL: never logged */
    notify_limits_t limits;
} telegram_config_t;

typedef struct telegram_client telegram_client_t;

telegram_client_t *telegram_client_new(const telegram_config_t *config);
void telegram_client_destroy(telegram_client_t **self_p);

/* sendMessage. message_id_out (NOTIFY_ID_SIZE) gets Telegram's
 * message_id on NOTIFY_SENT. */
notify_result_t telegram_send(telegram_client_t *self, const telegram_message_t *message,
                              char *message_id_out, notify_error_t *err);

/* Reads a Bot API reply with its HTTP status; exposed for the fuzzer. */
notify_result_t telegram_parse_reply(long http_status, const char *body, size_t len,
                                     char *message_id_out, notify_error_t *err);

#endif
