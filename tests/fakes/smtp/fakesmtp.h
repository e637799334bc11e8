/*
 * fakesmtp.h — the fake SMTP server's shared state (fakesmtp.c holds
 * main and the control API, session.c the SMTP conversation, mimeread.c
 * the decoding of a kept message for the listing).
 */
#ifndef CONVEYOR_FAKESMTP_H
#define CONVEYOR_FAKESMTP_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_FAULTS_MAX      32
#define FAKE_KEPT_MAX        2000 /* messages kept; later ones are counted */
#define FAKE_RCPTS_MAX       100  /* RCPT TO per message, as common servers allow */
#define FAKE_CONNECTIONS_MAX 32   /* sessions at once; more are told 421 */
#define FAKE_LINE_MAX        4096 /* a command or DATA line; RFC 5321 says 1000 */

/* A failure the next session(s) meet at one stage (fakesmtp.c's header). */
typedef struct {
    char stage[16];  /* connect ehlo starttls auth mail rcpt data end */
    char action[16]; /* reply (code, text), drop (end: close without a reply), hide (starttls),
                        hold (any stage but end: answer nothing for hold_ms, then go on) */
    int code;
    int hold_ms;
    char text[128];
    char match[128]; /* rcpt: only this address */
    bool keep;       /* end + drop: keep the message before dropping */
    int count;
} fake_fault_t;

typedef struct {
    uint64_t id;
    char *mail_from;
    char *rcpts[FAKE_RCPTS_MAX];
    size_t rcpt_count;
    char *raw; /* the message as received, dot-stuffing undone */
    size_t raw_len;
    bool tls;
    char auth_user[64];
    char helo[128];
    int64_t at_ms;
} fake_message_t;

typedef struct {
    pthread_mutex_t lock;
    /* settings */
    char *user; /* NULL: AUTH not required */
    char *password;
    char *eml_dir; /* NULL: messages are kept in memory only */
    size_t max_size;
    bool require_tls;
    int64_t idle_ms;
    int64_t latency_ms; /* how long the final reply of a message waits (a real server's work) */
    SSL_CTX *tls;
    int listen_fd;
    /* state */
    fake_fault_t faults[FAKE_FAULTS_MAX];
    fake_message_t *kept[FAKE_KEPT_MAX];
    size_t kept_count;
    uint64_t message_seq;
    unsigned active;
    struct {
        uint64_t connections, tls_sessions, auth_ok, auth_failed, mail_in_clear, auth_in_clear;
        uint64_t messages, not_kept, dropped_after_data, refused, held;
    } stats;
} fake_t;

/* Takes the next armed fault for stage (and address, for rcpt); true if one. Lock held. */
bool fake_fault_take(fake_t *fake, const char *stage, const char *address, fake_fault_t *out);

/* Keeps a message (takes ownership of *message, NULLs it); writes <id>.eml when a directory is
 * set. Lock not held. Returns the id. */
uint64_t fake_keep_take(fake_t *fake, fake_message_t **message);

void fake_message_free(fake_message_t *message);

/* Serves one accepted connection to the end (session.c); takes fd. */
void fake_session_run(fake_t *fake, int fd);

/* Describes a raw message (mimeread.c): headers decoded (RFC 2047), the
 * MIME tree's leaves decoded (base64, quoted-printable, RFC 2231 names),
 * and what the encoding got wrong ("problems"). Caller owns the result. */
json_t *fake_mime_describe(const char *raw, size_t len);

#endif
