/*
 * fakesmtp.c — a fake SMTP server over loopback for the notification
 * service's smtp.c (tests/integration/test_notify_channels.sh) and the
 * sandboxes of `make run` and compose (profile `sandbox`), where it is
 * where the mail goes: a real server (session.c) that speaks STARTTLS with
 * a self-signed certificate made at start for FAKE_SMTP_TLS_NAMES (written
 * to FAKE_SMTP_CERT_OUT for the client to trust), AUTH
 * PLAIN/LOGIN, MAIL/RCPT/DATA, and keeps each message it queues: in
 * memory for the control API and, with FAKE_SMTP_DIR, as <id>.eml.
 *
 * Control API (HTTP on FAKE_SMTP_CONTROL_ADDR):
 *   POST /_fake/faults  {stage, action, code, text, match, keep, count}: the next count
 *        sessions meet, at stage
 *          connect   the greeting: reply code (421) and close
 *          ehlo      reply code instead of the capabilities; action "hide" instead: no
 *                    STARTTLS offered (and STARTTLS answered 502)
 *          starttls  reply code (454) instead of starting TLS
 *          auth      reply code (535, 454)
 *          mail      reply code (451, 452, 550)
 *          rcpt      reply code (550, 450) for the address match (any if empty)
 *          data      reply code instead of 354
 *          end       after the final dot: reply code (451, 554) and keep nothing, or
 *                    action "drop": close without a reply, having kept the message
 *                    (keep: true) or not — the duplicate risk
 *        or, at any stage but end, action "hold" with hold_ms (default 30000): answer
 *        nothing for that long, then go on as if no fault were armed (a client
 *        stopped there, before its message was whole, has certainly sent nothing)
 *   GET  /_fake/messages[?since=ID]  kept messages, envelope and decoded MIME (mimeread.c)
 *   GET  /_fake/messages/{id}        one;  GET /_fake/messages/{id}/raw  its RFC 5322 text
 *   GET  /_fake/stats                connections, TLS sessions, MAIL commands seen in clear ...
 *   POST /_fake/reset                forget messages, faults and counts
 * `fakesmtp --help` lists the settings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/numparse.h"
#include "tests/fakes/smtp/fakesmtp.h"

static const config_spec_t specs[] = {
    {"FAKE_SMTP_ADDR", "127.0.0.1:2525", false, "address the SMTP server listens on"},
    {"FAKE_SMTP_CONTROL_ADDR", "127.0.0.1:18093", false, "address of the HTTP control API"},
    {"FAKE_SMTP_USER", "conveyor", false, "AUTH user (empty: no AUTH required)"},
    {"FAKE_SMTP_PASSWORD", "conveyor-smtp-password", true, "AUTH password"},
    {"FAKE_SMTP_REQUIRE_TLS", "true", false, "refuse MAIL and AUTH before STARTTLS"},
    {"FAKE_SMTP_CERT_OUT", NULL, false, "where to write the generated certificate (PEM)"},
    {"FAKE_SMTP_TLS_NAMES", "DNS:localhost,IP:127.0.0.1,IP:::1", false,
     "the certificate's subjectAltName, e.g. DNS:fakesmtp,DNS:localhost (compose's sandbox)"},
    {"FAKE_SMTP_DIR", NULL, false, "a directory to write each kept message to as <id>.eml"},
    {"FAKE_SMTP_MAX_SIZE", "26214400", false, "the largest message taken, in bytes (SIZE)"},
    {"FAKE_SMTP_IDLE", "60s", false, "how long a silent session is kept"},
    {"FAKE_SMTP_LATENCY", "0ms", false,
     "how long the reply to a message's final dot waits (the bench: a server taking its time)"},
    {"LOG_LEVEL", "info", false, "debug, info, warn, error"},
    CONFIG_SPEC_END,
};

/* --- state ------------------------------------------------------------------ */

bool fake_fault_take(fake_t *fake, const char *stage, const char *address, fake_fault_t *out)
{
    for (size_t i = 0; i < FAKE_FAULTS_MAX; i++) {
        fake_fault_t *f = &fake->faults[i];
        if (f->count <= 0 || strcmp(f->stage, stage) != 0 ||
            (f->match[0] && (!address || strcasecmp(f->match, address) != 0)))
            continue;
        *out = *f;
        f->count--;
        return true;
    }
    return false;
}

void fake_message_free(fake_message_t *message)
{
    if (!message)
        return;
    free(message->mail_from);
    for (size_t i = 0; i < message->rcpt_count; i++)
        free(message->rcpts[i]);
    free(message->raw);
    free(message);
}

uint64_t fake_keep_take(fake_t *fake, fake_message_t **message_p)
{
    fake_message_t *message = *message_p;
    pthread_mutex_lock(&fake->lock);
    message->id = ++fake->message_seq;
    fake->stats.messages++;
    bool kept = fake->kept_count < FAKE_KEPT_MAX;
    if (kept) {
        fake->kept[fake->kept_count++] = message;
        *message_p = NULL;
    } else {
        fake->stats.not_kept++;
    }
    uint64_t id = message->id;
    pthread_mutex_unlock(&fake->lock);
    if (fake->eml_dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%llu.eml", fake->eml_dir, (unsigned long long)id);
        FILE *file = fopen(path, "wb");
        if (!file || fwrite(message->raw, 1, message->raw_len, file) != message->raw_len)
            log_warn("could not write the message", LF_STR("path", path), LF_ERR("eml_write"));
        if (file)
            fclose(file);
    }
    return id;
}

/* --- TLS: a certificate for FAKE_SMTP_TLS_NAMES (localhost and 127.0.0.1), made now */

static SSL_CTX *tls_context(const char *cert_out, const char *names)
{
    SSL_CTX *ctx = NULL;
    X509_EXTENSION *ext = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    if (!key || !cert)
        goto done;
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)(time(NULL) & 0x7FFFFFFF));
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    const struct {
        int nid;
        const char *value;
    } exts[] = {{NID_subject_alt_name, names}, {NID_basic_constraints, "critical,CA:TRUE"}};
    for (size_t i = 0; i < 2; i++) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        if (!ext || X509_add_ext(cert, ext, -1) != 1)
            goto done;
        X509_EXTENSION_free(ext);
        ext = NULL;
    }
    if (X509_sign(cert, key, EVP_sha256()) == 0)
        goto done;
    if (cert_out) {
        FILE *file = fopen(cert_out, "w");
        bool written = file && PEM_write_X509(file, cert) == 1;
        if (file)
            fclose(file);
        if (!written) {
            log_error("could not write the certificate", LF_STR("path", cert_out),
                      LF_ERR("cert_write"));
            goto done;
        }
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
done:
    X509_EXTENSION_free(ext);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

/* --- the listener ------------------------------------------------------------- */

typedef struct {
    fake_t *fake;
    int fd;
} accepted_t;

static void *session_thread(void *arg)
{
    accepted_t *a = arg;
    fake_session_run(a->fake, a->fd);
    pthread_mutex_lock(&a->fake->lock);
    a->fake->active--;
    pthread_mutex_unlock(&a->fake->lock);
    free(a);
    return NULL;
}

static void *accept_thread(void *arg)
{
    fake_t *fake = arg;
    for (;;) {
        int fd = accept(fake->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            return NULL; /* the listener was shut down */
        }
        pthread_mutex_lock(&fake->lock);
        bool room = fake->active < FAKE_CONNECTIONS_MAX;
        fake->stats.connections++;
        if (room)
            fake->active++;
        pthread_mutex_unlock(&fake->lock);
        accepted_t *a = room ? malloc(sizeof *a) : NULL;
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (a) {
            a->fake = fake;
            a->fd = fd;
        }
        if (!a || pthread_create(&thread, &attr, session_thread, a) != 0) {
            static const char busy[] = "421 4.3.2 Too many connections\r\n";
            ssize_t ignored = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            (void)ignored;
            close(fd);
            if (a) {
                free(a);
                pthread_mutex_lock(&fake->lock);
                fake->active--;
                pthread_mutex_unlock(&fake->lock);
            }
        }
        pthread_attr_destroy(&attr);
    }
}

static int listen_on(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    int64_t port = 0;
    if (!colon || (size_t)(colon - addr) >= sizeof host ||
        numparse_int_range(colon + 1, 1, 65535, &port) != 0)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* --- control ------------------------------------------------------------------ */

static json_t *message_json(const fake_message_t *m, bool described)
{
    json_t *rcpts = json_array();
    for (size_t i = 0; i < m->rcpt_count; i++)
        json_array_append_new(rcpts, json_string(m->rcpts[i]));
    json_t *out = json_pack("{s:I, s:s, s:o, s:b, s:s, s:s, s:I, s:I}", "id", (json_int_t)m->id,
                            "mail_from", m->mail_from ? m->mail_from : "", "rcpts", rcpts, "tls",
                            m->tls, "auth_user", m->auth_user, "helo", m->helo, "size",
                            (json_int_t)m->raw_len, "at_ms", (json_int_t)m->at_ms);
    if (out && described) {
        json_t *mime = fake_mime_describe(m->raw, m->raw_len);
        if (mime)
            json_object_update(out, mime);
        json_decref(mime);
    }
    return out;
}

static void on_messages(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    int64_t since = 0;
    const char *since_text = http_req_query(req, "since");
    if (since_text && numparse_int_range(since_text, 0, INT64_MAX, &since) != 0) {
        http_res_problem(res, 400, "bad_since", "since is a message id", NULL);
        return;
    }
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->kept_count; i++)
        if ((int64_t)fake->kept[i]->id > since)
            json_array_append_new(list, message_json(fake->kept[i], true));
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "messages", list));
}

static const fake_message_t *find(const fake_t *fake, const char *id_text)
{
    int64_t id = 0;
    if (numparse_int_range(id_text, 1, INT64_MAX, &id) != 0)
        return NULL;
    for (size_t i = 0; i < fake->kept_count; i++)
        if ((int64_t)fake->kept[i]->id == id)
            return fake->kept[i];
    return NULL;
}

static void on_message(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    const fake_message_t *m = find(fake, http_req_param(req, "id"));
    json_t *out = m ? message_json(m, true) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (out)
        http_res_json_take(res, 200, out);
    else
        http_res_problem(res, 404, "not_found", "no such message", NULL);
}

static void on_raw(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    const fake_message_t *m = find(fake, http_req_param(req, "id"));
    if (m)
        http_res_text(res, 200, "message/rfc822", m->raw);
    pthread_mutex_unlock(&fake->lock);
    if (!m)
        http_res_problem(res, 404, "not_found", "no such message", NULL);
}

static void on_faults(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        http_res_problem(res, 400, "bad_json", "the body is not a JSON object", NULL);
        return;
    }
    fake_fault_t f = {.count = 1};
    const char *stage = json_string_value(json_object_get(in, "stage"));
    const char *action = json_string_value(json_object_get(in, "action"));
    const char *text = json_string_value(json_object_get(in, "text"));
    const char *match = json_string_value(json_object_get(in, "match"));
    snprintf(f.stage, sizeof f.stage, "%s", stage ? stage : "");
    snprintf(f.action, sizeof f.action, "%s", action ? action : "reply");
    snprintf(f.text, sizeof f.text, "%s", text ? text : "");
    snprintf(f.match, sizeof f.match, "%s", match ? match : "");
    json_t *v;
    if (json_is_integer(v = json_object_get(in, "code")))
        f.code = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "count")))
        f.count = (int)json_integer_value(v);
    f.keep = json_is_true(json_object_get(in, "keep"));
    f.hold_ms = 30000;
    if (json_is_integer(v = json_object_get(in, "hold_ms")))
        f.hold_ms = json_integer_value(v) >= 0 && json_integer_value(v) <= 600000
                        ? (int)json_integer_value(v)
                        : -1;
    json_decref(in);
    static const char *const stages[] = {"connect", "ehlo", "starttls", "auth",
                                         "mail",    "rcpt", "data",     "end"};
    bool stage_ok = false;
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
        stage_ok = stage_ok || strcmp(f.stage, stages[i]) == 0;
    bool action_ok =
        (strcmp(f.action, "reply") == 0 && f.code >= 400 && f.code <= 599) ||
        (strcmp(f.action, "drop") == 0 && strcmp(f.stage, "end") == 0) ||
        (strcmp(f.action, "hide") == 0 && strcmp(f.stage, "ehlo") == 0) ||
        (strcmp(f.action, "hold") == 0 && strcmp(f.stage, "end") != 0 && f.hold_ms >= 0);
    if (!stage_ok || !action_ok || f.count < 1 || f.count > 1000 || strpbrk(f.text, "\r\n")) {
        http_res_problem(res, 422, "bad_fault", "unknown stage or action, or a bad code", NULL);
        return;
    }
    bool armed = false;
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < FAKE_FAULTS_MAX && !armed; i++)
        if (fake->faults[i].count <= 0) {
            fake->faults[i] = f;
            armed = true;
        }
    pthread_mutex_unlock(&fake->lock);
    if (armed)
        http_res_json_take(res, 201, json_pack("{s:b}", "armed", true));
    else
        http_res_problem(res, 409, "too_many_faults", "every fault slot is armed", NULL);
}

static void on_stats(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    json_t *out = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connections",
        (json_int_t)fake->stats.connections, "tls_sessions", (json_int_t)fake->stats.tls_sessions,
        "auth_ok", (json_int_t)fake->stats.auth_ok, "auth_failed",
        (json_int_t)fake->stats.auth_failed, "mail_in_clear", (json_int_t)fake->stats.mail_in_clear,
        "auth_in_clear", (json_int_t)fake->stats.auth_in_clear, "messages",
        (json_int_t)fake->stats.messages, "kept", (json_int_t)fake->kept_count, "not_kept",
        (json_int_t)fake->stats.not_kept, "dropped_after_data",
        (json_int_t)fake->stats.dropped_after_data, "refused", (json_int_t)fake->stats.refused,
        "held", (json_int_t)fake->stats.held);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, out);
}

static void reset(fake_t *fake)
{
    for (size_t i = 0; i < fake->kept_count; i++)
        fake_message_free(fake->kept[i]);
    fake->kept_count = 0;
    memset(fake->faults, 0, sizeof fake->faults);
    memset(&fake->stats, 0, sizeof fake->stats);
}

static void on_reset(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    reset(fake);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:b}", "reset", true));
}

static void on_health(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

static char *setting(const config_t *cfg, const char *name)
{
    const char *value = config_get(cfg, name);
    return value && value[0] ? strdup(value) : NULL;
}

int main(int argc, char **argv)
{
    int status = 1;
    http_server_t *server = NULL;
    pthread_t acceptor;
    bool accepting = false;
    fake_t *fake = calloc(1, sizeof *fake);
    config_t *cfg = config_new();
    if (!fake || !cfg || config_declare(cfg, specs) != 0)
        goto done;
    fake->listen_fd = -1;
    pthread_mutex_init(&fake->lock, NULL);
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        config_print_help(cfg);
        status = 0;
        goto done;
    }
    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(cfg, "LOG_LEVEL"), &level) != 0)
        level = LOG_INFO;
    log_init("fakesmtp", level);
    config_log(cfg);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t max_size = 0;
    bool require_tls = true;
    if (config_get_int(cfg, "FAKE_SMTP_MAX_SIZE", 1024, 1024L * 1024 * 1024, &max_size) != 0 ||
        config_get_bool(cfg, "FAKE_SMTP_REQUIRE_TLS", &require_tls) != 0 ||
        config_get_duration_ms(cfg, "FAKE_SMTP_IDLE", &fake->idle_ms) != 0 ||
        config_get_duration_ms(cfg, "FAKE_SMTP_LATENCY", &fake->latency_ms) != 0)
        goto done;
    fake->max_size = (size_t)max_size;
    fake->require_tls = require_tls;
    fake->user = setting(cfg, "FAKE_SMTP_USER");
    fake->password = setting(cfg, "FAKE_SMTP_PASSWORD");
    fake->eml_dir = setting(cfg, "FAKE_SMTP_DIR");
    if (fake->user && !fake->password)
        fake->password = strdup("");
    fake->tls =
        tls_context(config_get(cfg, "FAKE_SMTP_CERT_OUT"), config_get(cfg, "FAKE_SMTP_TLS_NAMES"));
    if (!fake->tls) {
        log_error("could not make the TLS certificate", LF_ERR("tls_setup"));
        goto done;
    }
    fake->listen_fd = listen_on(config_get(cfg, "FAKE_SMTP_ADDR"));
    if (fake->listen_fd < 0) {
        log_error("could not listen", LF_STR("addr", config_get(cfg, "FAKE_SMTP_ADDR")),
                  LF_ERR("listen_failed"));
        goto done;
    }
    http_config_t http = {.addr = config_get(cfg, "FAKE_SMTP_CONTROL_ADDR"),
                          .body_limit = 16 * 1024,
                          .threads = 4,
                          .timeout_s = 30,
                          .svc = "fakesmtp"};
    server = http_server_new(&http);
    if (!server || http_route(server, "POST", "/_fake/faults", on_faults, fake) != 0 ||
        http_route(server, "GET", "/_fake/messages", on_messages, fake) != 0 ||
        http_route(server, "GET", "/_fake/messages/{id}", on_message, fake) != 0 ||
        http_route(server, "GET", "/_fake/messages/{id}/raw", on_raw, fake) != 0 ||
        http_route(server, "GET", "/_fake/stats", on_stats, fake) != 0 ||
        http_route(server, "POST", "/_fake/reset", on_reset, fake) != 0 ||
        http_route_probe(server, "GET", "/healthz", on_health, fake) != 0 ||
        http_route_probe(server, "GET", "/readyz", on_health, fake) != 0 ||
        http_server_start(server) != 0)
        goto done;
    if (pthread_create(&acceptor, NULL, accept_thread, fake) != 0)
        goto done;
    accepting = true;
    log_info("fake smtp listening", LF_STR("smtp", config_get(cfg, "FAKE_SMTP_ADDR")),
             LF_STR("control", http.addr));
    int signal_number = 0;
    sigwait(&stop, &signal_number);
    status = 0;
done:
    if (accepting) {
        shutdown(fake->listen_fd, SHUT_RDWR);
        pthread_join(acceptor, NULL);
    }
    http_server_destroy(&server);
    if (fake) {
        if (fake->listen_fd >= 0)
            close(fake->listen_fd);
        pthread_mutex_lock(&fake->lock);
        bool sessions_live = accepting && fake->active > 0;
        pthread_mutex_unlock(&fake->lock);
        if (sessions_live) {
            /* a client's session still holds the state (a stop while a
             * connection is open): end here, without the exit handlers,
             * whose leak check would report what that session holds */
            config_destroy(&cfg);
            fflush(NULL);
            _exit(status);
        }
        /* sessions still running hold the state: the process ends here anyway */
        if (!accepting || fake->active == 0)
            reset(fake);
        SSL_CTX_free(fake->tls);
        free(fake->user);
        free(fake->password);
        free(fake->eml_dir);
        if (!accepting || fake->active == 0) {
            pthread_mutex_destroy(&fake->lock);
            free(fake);
        }
    }
    config_destroy(&cfg);
    return status;
}
