/*
 * session.c — one SMTP conversation of the fake server, RFC 5321 as the
 * adapters meet it: EHLO/HELO, STARTTLS (OpenSSL on the same socket),
 * AUTH PLAIN and LOGIN (only under TLS when TLS is required), MAIL FROM
 * with SIZE, RCPT TO (up to FAKE_RCPTS_MAX), DATA with dot-stuffing
 * undone and a size cap, RSET, NOOP, QUIT; the armed faults of
 * fakesmtp.h at each stage. Every line read is capped (FAKE_LINE_MAX) and
 * every session times out when idle.
 */
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/fakes/smtp/fakesmtp.h"

#define UNKNOWN_MAX 20 /* unknown commands before the server gives up */

typedef struct {
    int fd;
    SSL *ssl;
    char buf[8192];
    size_t start, end;
} conn_t;

typedef struct {
    fake_t *fake;
    conn_t conn;
    bool helo_done;
    bool authed;
    bool hide_starttls;
    char auth_user[64];
    char helo[128];
    fake_message_t *txn; /* after MAIL FROM */
} session_t;

static int conn_fill(conn_t *c)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof c->buf)
        return -1;
    int n = c->ssl ? SSL_read(c->ssl, c->buf + c->end, (int)(sizeof c->buf - c->end))
                   : (int)recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
    if (n <= 0)
        return -1;
    c->end += (size_t)n;
    return 0;
}

/* One line without its CRLF (or LF) into out (size > FAKE_LINE_MAX).
 * Returns its length, -1 at end or error, -2 for a line over
 * FAKE_LINE_MAX (read and thrown away). */
static long conn_line(conn_t *c, char *out)
{
    bool too_long = false;
    size_t len = 0;
    for (;;) {
        char *lf = memchr(c->buf + c->start, '\n', c->end - c->start);
        size_t avail = lf ? (size_t)(lf - (c->buf + c->start)) : c->end - c->start;
        if (!too_long) {
            if (len + avail > FAKE_LINE_MAX) {
                too_long = true;
            } else {
                memcpy(out + len, c->buf + c->start, avail);
                len += avail;
            }
        }
        if (lf) {
            c->start += avail + 1;
            if (too_long)
                return -2;
            if (len > 0 && out[len - 1] == '\r')
                len--;
            out[len] = '\0';
            return (long)len;
        }
        c->start = c->end;
        if (conn_fill(c) != 0)
            return -1;
    }
}

static int conn_write(conn_t *c, const char *text)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        int n = c->ssl ? SSL_write(c->ssl, text + done, (int)(len - done))
                       : (int)send(c->fd, text + done, len - done, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static int reply(session_t *s, int code, const char *text)
{
    char line[300];
    snprintf(line, sizeof line, "%d %s\r\n", code, text);
    return conn_write(&s->conn, line);
}

/* An armed fault for stage: answers it; true if one was met. *close_out: the session ends. */
static bool fault_at(session_t *s, const char *stage, const char *address, bool *close_out)
{
    fake_fault_t f;
    pthread_mutex_lock(&s->fake->lock);
    bool met = fake_fault_take(s->fake, stage, address, &f);
    bool hold = met && strcmp(f.action, "hold") == 0;
    if (hold)
        s->fake->stats.held++;
    else if (met)
        s->fake->stats.refused++;
    pthread_mutex_unlock(&s->fake->lock);
    if (!met)
        return false;
    if (hold) {
        struct timespec wait = {.tv_sec = f.hold_ms / 1000,
                                .tv_nsec = (f.hold_ms % 1000) * 1000000L};
        while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
            ;
        return false; /* the stage goes on as if nothing were armed */
    }
    if (strcmp(f.action, "hide") == 0) {
        s->hide_starttls = true;
        return false; /* EHLO goes on, without STARTTLS */
    }
    reply(s, f.code, f.text[0] ? f.text : "fault injected by the fake");
    *close_out = f.code == 421 || strcmp(f.action, "drop") == 0;
    return true;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes base64 text into out (size bytes, NUL-terminated); length or -1. */
static long b64_decode(const char *text, char *out, size_t size)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = text; *p && *p != '='; p++) {
        int v = b64_value(*p);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[n] = '\0';
    return (long)n;
}

static bool credentials_ok(const fake_t *fake, const char *user, const char *password)
{
    return fake->user && strcmp(user, fake->user) == 0 && strcmp(password, fake->password) == 0;
}

/* AUTH PLAIN [initial] | AUTH LOGIN [initial]. false: the session ends. */
static bool do_auth(session_t *s, const char *args, char *line)
{
    bool close_now = false;
    fake_t *fake = s->fake;
    if (!s->conn.ssl) {
        pthread_mutex_lock(&fake->lock);
        fake->stats.auth_in_clear++;
        pthread_mutex_unlock(&fake->lock);
        if (fake->require_tls)
            return reply(s, 538,
                         "5.7.11 Encryption required for requested authentication "
                         "mechanism") == 0;
    }
    if (s->authed)
        return reply(s, 503, "5.5.1 Already authenticated") == 0;
    if (fault_at(s, "auth", NULL, &close_now))
        return !close_now;
    char mech[16] = "", initial[FAKE_LINE_MAX + 1] = "";
    sscanf(args, "%15s %4096s", mech, initial);
    char user[256] = "", password[256] = "", decoded[1024];
    if (strcasecmp(mech, "PLAIN") == 0) {
        if (!initial[0]) {
            if (reply(s, 334, "") != 0 || conn_line(&s->conn, line) < 0)
                return false;
            snprintf(initial, sizeof initial, "%s", line);
        }
        long n = b64_decode(initial, decoded, sizeof decoded);
        /* authzid \0 authcid \0 password */
        const char *authcid = n > 0 ? memchr(decoded, '\0', (size_t)n) : NULL;
        const char *pass =
            authcid ? memchr(authcid + 1, '\0', (size_t)(decoded + n - authcid - 1)) : NULL;
        if (!pass)
            return reply(s, 501, "5.5.2 Cannot decode AUTH PLAIN") == 0;
        snprintf(user, sizeof user, "%s", authcid + 1);
        snprintf(password, sizeof password, "%.*s", (int)(decoded + n - pass - 1), pass + 1);
    } else if (strcasecmp(mech, "LOGIN") == 0) {
        if (!initial[0]) {
            if (reply(s, 334, "VXNlcm5hbWU6") != 0 || conn_line(&s->conn, line) < 0)
                return false;
            snprintf(initial, sizeof initial, "%s", line);
        }
        if (b64_decode(initial, user, sizeof user) < 0 || reply(s, 334, "UGFzc3dvcmQ6") != 0 ||
            conn_line(&s->conn, line) < 0)
            return false;
        if (b64_decode(line, password, sizeof password) < 0)
            return reply(s, 501, "5.5.2 Cannot decode the password") == 0;
    } else {
        return reply(s, 504, "5.5.4 Unrecognized authentication type") == 0;
    }
    bool ok = credentials_ok(fake, user, password);
    pthread_mutex_lock(&fake->lock);
    if (ok)
        fake->stats.auth_ok++;
    else
        fake->stats.auth_failed++;
    pthread_mutex_unlock(&fake->lock);
    if (!ok)
        return reply(s, 535, "5.7.8 Authentication credentials invalid") == 0;
    s->authed = true;
    size_t user_len = strnlen(user, sizeof s->auth_user - 1); /* kept cut, for the listing */
    memcpy(s->auth_user, user, user_len);
    s->auth_user[user_len] = '\0';
    return reply(s, 235, "2.7.0 Authentication successful") == 0;
}

/* The address between < and > after "FROM:" / "TO:"; NULL if malformed. */
static char *path_of(const char *args, const char *keyword)
{
    size_t klen = strlen(keyword);
    if (strncasecmp(args, keyword, klen) != 0)
        return NULL;
    const char *p = args + klen;
    while (*p == ' ')
        p++;
    const char *close = *p == '<' ? strchr(p, '>') : NULL;
    if (!close || close - p > 300)
        return NULL;
    return strndup(p + 1, (size_t)(close - p - 1));
}

static void txn_reset(session_t *s)
{
    fake_message_free(s->txn);
    s->txn = NULL;
}

/* DATA to the final dot. false: the session ends. */
static bool do_data(session_t *s, char *line)
{
    bool close_now = false;
    fake_t *fake = s->fake;
    if (!s->txn || s->txn->rcpt_count == 0)
        return reply(s, 503, "5.5.1 RCPT first") == 0;
    if (fault_at(s, "data", NULL, &close_now))
        return !close_now;
    if (reply(s, 354, "End data with <CR><LF>.<CR><LF>") != 0)
        return false;
    size_t cap = fake->max_size, len = 0, size = 64 * 1024;
    char *raw = malloc(size);
    bool too_big = false, line_too_long = false;
    for (;;) {
        long n = conn_line(&s->conn, line);
        if (n == -1) {
            free(raw);
            return false;
        }
        if (n == -2) {
            line_too_long = true;
            continue;
        }
        if (strcmp(line, ".") == 0)
            break;
        const char *text = line[0] == '.' ? line + 1 : line; /* dot-stuffing undone */
        size_t tlen = (size_t)n - (line[0] == '.');
        if (too_big || !raw || len + tlen + 2 > cap) {
            too_big = true;
            continue;
        }
        while (len + tlen + 3 > size) {
            char *bigger = realloc(raw, size * 2);
            if (!bigger) {
                too_big = true;
                break;
            }
            raw = bigger;
            size *= 2;
        }
        if (too_big)
            continue;
        memcpy(raw + len, text, tlen);
        len += tlen;
        raw[len++] = '\r';
        raw[len++] = '\n';
    }
    if (too_big || line_too_long) {
        free(raw);
        txn_reset(s);
        return reply(s, too_big ? 552 : 500,
                     too_big ? "5.3.4 Message size exceeds fixed maximum message size"
                             : "5.5.2 Line too long") == 0;
    }
    raw[len] = '\0';
    fake_message_t *message = s->txn;
    s->txn = NULL;
    message->raw = raw;
    message->raw_len = len;
    message->tls = s->conn.ssl != NULL;
    snprintf(message->auth_user, sizeof message->auth_user, "%s", s->auth_user);
    snprintf(message->helo, sizeof message->helo, "%s", s->helo);
    message->at_ms = clock_now_ms();
    fake_fault_t f;
    pthread_mutex_lock(&fake->lock);
    bool met = fake_fault_take(fake, "end", NULL, &f);
    if (met && strcmp(f.action, "drop") == 0)
        fake->stats.dropped_after_data++;
    pthread_mutex_unlock(&fake->lock);
    if (met && strcmp(f.action, "drop") == 0) {
        if (f.keep)
            fake_keep_take(fake, &message);
        fake_message_free(message);
        return false; /* the connection closes without a reply */
    }
    if (met) {
        fake_message_free(message);
        return reply(s, f.code, f.text[0] ? f.text : "fault injected by the fake") == 0 &&
               f.code != 421;
    }
    uint64_t id = fake_keep_take(fake, &message);
    if (fake->latency_ms > 0) {
        struct timespec wait = {.tv_sec = (time_t)(fake->latency_ms / 1000),
                                .tv_nsec = (long)(fake->latency_ms % 1000) * 1000000L};
        nanosleep(&wait, NULL);
    }
    char text[96];
    snprintf(text, sizeof text, "2.0.0 Ok: queued as %llu", (unsigned long long)id);
    return reply(s, 250, text) == 0;
}

static bool do_ehlo(session_t *s, const char *args, bool extended)
{
    bool close_now = false;
    if (fault_at(s, "ehlo", NULL, &close_now))
        return !close_now;
    txn_reset(s);
    snprintf(s->helo, sizeof s->helo, "%s", args);
    s->helo_done = true;
    if (!extended)
        return reply(s, 250, "fakesmtp") == 0;
    char text[512];
    bool offer_tls = !s->conn.ssl && !s->hide_starttls && s->fake->tls;
    bool offer_auth = s->fake->user && (s->conn.ssl || !s->fake->require_tls);
    snprintf(text, sizeof text,
             "250-fakesmtp greets %.100s\r\n250-SIZE %zu\r\n250-8BITMIME\r\n%s%s"
             "250 ENHANCEDSTATUSCODES\r\n",
             args, s->fake->max_size, offer_tls ? "250-STARTTLS\r\n" : "",
             offer_auth ? "250-AUTH PLAIN LOGIN\r\n" : "");
    return conn_write(&s->conn, text) == 0;
}

static bool do_starttls(session_t *s)
{
    bool close_now = false;
    if (s->conn.ssl)
        return reply(s, 503, "5.5.1 TLS already active") == 0;
    if (s->hide_starttls || !s->fake->tls)
        return reply(s, 502, "5.5.1 STARTTLS not offered") == 0;
    if (fault_at(s, "starttls", NULL, &close_now))
        return !close_now;
    if (reply(s, 220, "2.0.0 Ready to start TLS") != 0)
        return false;
    if (s->conn.start != s->conn.end)
        return false; /* bytes pipelined before the handshake: a STARTTLS injection */
    s->conn.ssl = SSL_new(s->fake->tls);
    if (!s->conn.ssl || SSL_set_fd(s->conn.ssl, s->conn.fd) != 1 || SSL_accept(s->conn.ssl) != 1)
        return false;
    pthread_mutex_lock(&s->fake->lock);
    s->fake->stats.tls_sessions++;
    pthread_mutex_unlock(&s->fake->lock);
    s->helo_done = false; /* RFC 3207: forget everything, EHLO again */
    s->authed = false;
    txn_reset(s);
    return true;
}

static bool do_mail(session_t *s, const char *args)
{
    bool close_now = false;
    fake_t *fake = s->fake;
    if (!s->conn.ssl) {
        pthread_mutex_lock(&fake->lock);
        fake->stats.mail_in_clear++;
        pthread_mutex_unlock(&fake->lock);
    }
    if (!s->helo_done)
        return reply(s, 503, "5.5.1 EHLO/HELO first") == 0;
    if (!s->conn.ssl && fake->require_tls)
        return reply(s, 530, "5.7.0 Must issue a STARTTLS command first") == 0;
    if (fake->user && !s->authed)
        return reply(s, 530, "5.7.0 Authentication required") == 0;
    if (s->txn)
        return reply(s, 503, "5.5.1 Nested MAIL command") == 0;
    char *from = path_of(args, "FROM:");
    if (!from)
        return reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>") == 0;
    const char *size = strcasestr(args, "SIZE=");
    if (size && strtoull(size + 5, NULL, 10) > fake->max_size) {
        free(from);
        return reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size") == 0;
    }
    if (fault_at(s, "mail", NULL, &close_now)) {
        free(from);
        return !close_now;
    }
    s->txn = calloc(1, sizeof *s->txn);
    if (!s->txn) {
        free(from);
        return reply(s, 452, "4.3.1 Insufficient system storage") == 0;
    }
    s->txn->mail_from = from;
    return reply(s, 250, "2.1.0 Ok") == 0;
}

static bool do_rcpt(session_t *s, const char *args)
{
    bool close_now = false;
    if (!s->txn)
        return reply(s, 503, "5.5.1 MAIL first") == 0;
    char *to = path_of(args, "TO:");
    if (!to)
        return reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>") == 0;
    if (s->txn->rcpt_count == FAKE_RCPTS_MAX) {
        free(to);
        return reply(s, 452, "4.5.3 Too many recipients") == 0;
    }
    if (fault_at(s, "rcpt", to, &close_now)) {
        free(to);
        return !close_now;
    }
    s->txn->rcpts[s->txn->rcpt_count++] = to;
    return reply(s, 250, "2.1.5 Ok") == 0;
}

void fake_session_run(fake_t *fake, int fd)
{
    session_t s = {.fake = fake, .conn = {.fd = fd}};
    char *line = malloc(FAKE_LINE_MAX + 1);
    struct timeval idle = {.tv_sec = fake->idle_ms / 1000,
                           .tv_usec = (fake->idle_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof idle);
    bool close_now = false;
    if (!line || fault_at(&s, "connect", NULL, &close_now) ||
        reply(&s, 220, "fakesmtp ESMTP conveyor's fake") != 0)
        goto done;
    int unknown = 0;
    bool going = true;
    while (going) {
        long n = conn_line(&s.conn, line);
        if (n == -1)
            break;
        if (n == -2) {
            going = reply(&s, 500, "5.5.2 Line too long") == 0;
            continue;
        }
        char verb[16] = "";
        size_t vlen = strcspn(line, " ");
        snprintf(verb, sizeof verb, "%.*s", (int)(vlen < 15 ? vlen : 15), line);
        const char *args = line + vlen + (line[vlen] == ' ');
        if (strcasecmp(verb, "EHLO") == 0 || strcasecmp(verb, "HELO") == 0)
            going = do_ehlo(&s, args, strcasecmp(verb, "EHLO") == 0);
        else if (strcasecmp(verb, "STARTTLS") == 0)
            going = do_starttls(&s);
        else if (strcasecmp(verb, "AUTH") == 0)
            going = s.helo_done ? do_auth(&s, args, line)
                                : reply(&s, 503, "5.5.1 EHLO/HELO first") == 0;
        else if (strcasecmp(verb, "MAIL") == 0)
            going = do_mail(&s, args);
        else if (strcasecmp(verb, "RCPT") == 0)
            going = do_rcpt(&s, args);
        else if (strcasecmp(verb, "DATA") == 0)
            going = do_data(&s, line);
        else if (strcasecmp(verb, "RSET") == 0) {
            txn_reset(&s);
            going = reply(&s, 250, "2.0.0 Ok") == 0;
        } else if (strcasecmp(verb, "NOOP") == 0)
            going = reply(&s, 250, "2.0.0 Ok") == 0;
        else if (strcasecmp(verb, "VRFY") == 0)
            going = reply(&s, 252, "2.5.2 Cannot VRFY user") == 0;
        else if (strcasecmp(verb, "QUIT") == 0) {
            reply(&s, 221, "2.0.0 Bye");
            going = false;
        } else {
            going = ++unknown < UNKNOWN_MAX ? reply(&s, 500, "5.5.2 Command not recognized") == 0
                                            : (reply(&s, 421, "4.7.0 Too many errors"), false);
        }
    }
done:
    txn_reset(&s);
    if (s.conn.ssl) {
        SSL_shutdown(s.conn.ssl);
        SSL_free(s.conn.ssl);
    }
    close(fd);
    free(line);
    ERR_clear_error();
}
