/*
 * pgcut.c — a TCP proxy in front of PostgreSQL that loses a connection on
 * cue, for the tests of "a transaction runs once" (common/tx.h, issue 10):
 * the one failure a retry cannot settle by itself is a COMMIT that reached
 * the server but whose answer did not come back.
 *
 *   pgcut LISTEN_PORT PG_PORT CONTROL_FILE
 *
 * It forwards every connection on 127.0.0.1:LISTEN_PORT to
 * 127.0.0.1:PG_PORT, reading the frontend's messages (a server without
 * TLS, as the test clusters are: an SSL request is answered "no"). The control file says what to do
 * next, once:
 *
 *   drop-commit-answer   the next COMMIT goes to the server; its answer
 *                        does not come back: the connection is closed
 *                        after the server had time to commit
 *   drop-before TEXT     the next message carrying TEXT (a statement of
 *                        the transaction) is not sent: the connection is
 *                        closed before COMMIT could be
 *   drop-commit-answer-after TEXT
 *                        as drop-commit-answer, for the COMMIT of the
 *                        connection that executed a statement carrying
 *                        TEXT (a prepared statement's name, in a Bind):
 *                        one transaction of one process among the many
 *                        sessions a service holds (its routes, its
 *                        applier, its job workers)
 *
 * When it has acted it empties the file, so a test waits for that. One
 * thread per connection; it never exits by itself (the test stops it).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/numparse.h"

static int pg_port;
static const char *control_path;
static pthread_mutex_t control_lock = PTHREAD_MUTEX_INITIALIZER;

/* The cue in the control file ("" when none); copied into out. */
static void read_cue(char *out, size_t size)
{
    out[0] = '\0';
    FILE *file = fopen(control_path, "r");
    if (!file)
        return;
    if (fgets(out, (int)size, file))
        out[strcspn(out, "\r\n")] = '\0';
    fclose(file);
}

static void clear_cue(void)
{
    FILE *file = fopen(control_path, "w");
    if (file)
        fclose(file);
}

static int dial_postgres(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pg_port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static bool write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

typedef struct {
    int client, server;
    uint8_t *pending; /* frontend bytes not yet a whole message */
    size_t pending_len, pending_cap;
    bool started; /* the startup message (no type byte) has passed */
    bool armed;   /* drop-commit-answer-after: this connection ran TEXT */
} link_t;

/* Forwards the whole frontend messages in pending, acting on a cue.
 * false: the connection is to be closed now. */
static bool forward_messages(link_t *link)
{
    size_t at = 0;
    for (;;) {
        size_t header = link->started ? 5 : 4;
        if (link->pending_len - at < header)
            break;
        const uint8_t *msg = link->pending + at;
        uint32_t body_len;
        memcpy(&body_len, msg + header - 4, 4);
        body_len = ntohl(body_len);
        size_t total = (link->started ? 1 : 0) + body_len;
        if (body_len < 4 || link->pending_len - at < total)
            break;
        char cue[256];
        pthread_mutex_lock(&control_lock);
        read_cue(cue, sizeof cue);
        bool is_commit = link->started && msg[0] == 'Q' && total >= 12 &&
                         memmem(msg + 5, total - 5, "COMMIT", 6) != NULL;
        bool drop_before = strncmp(cue, "drop-before ", 12) == 0 && link->started &&
                           memmem(msg, total, cue + 12, strlen(cue + 12)) != NULL;
        static const char after[] = "drop-commit-answer-after ";
        bool after_cue = strncmp(cue, after, sizeof after - 1) == 0;
        if (after_cue && link->started && msg[0] == 'B' &&
            memmem(msg, total, cue + sizeof after - 1, strlen(cue + sizeof after - 1)) != NULL)
            link->armed = true;
        if (link->started && msg[0] == 'Q' && memmem(msg + 5, total - 5, "ROLLBACK", 8) != NULL)
            link->armed = false; /* that transaction ended without a COMMIT */
        bool drop_answer =
            is_commit && (strcmp(cue, "drop-commit-answer") == 0 || (after_cue && link->armed));
        if (drop_before || drop_answer)
            clear_cue();
        pthread_mutex_unlock(&control_lock);
        if (drop_before)
            return false;
        if (!write_all(link->server, msg, total))
            return false;
        if (drop_answer) {
            /* the server commits; its answer never reaches the client */
            usleep(300 * 1000);
            return false;
        }
        /* an SSL or GSS encryption request comes before the startup
         * message, without a type byte too; the server says no (N) */
        uint32_t code = 0;
        if (!link->started && total >= 8) {
            memcpy(&code, msg + 4, 4);
            code = ntohl(code);
        }
        if (code != 80877103 && code != 80877104)
            link->started = true;
        at += total;
    }
    memmove(link->pending, link->pending + at, link->pending_len - at);
    link->pending_len -= at;
    return true;
}

static void *serve(void *arg)
{
    link_t *link = arg;
    link->server = dial_postgres();
    uint8_t buf[65536];
    while (link->server >= 0) {
        struct pollfd fds[2] = {{link->client, POLLIN, 0}, {link->server, POLLIN, 0}};
        if (poll(fds, 2, -1) <= 0)
            break;
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(link->server, buf, sizeof buf);
            if (n <= 0 || !write_all(link->client, buf, (size_t)n))
                break;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(link->client, buf, sizeof buf);
            if (n <= 0)
                break;
            if (link->pending_len + (size_t)n > link->pending_cap) {
                size_t cap = (link->pending_len + (size_t)n) * 2;
                uint8_t *grown = realloc(link->pending, cap);
                if (!grown)
                    break;
                link->pending = grown;
                link->pending_cap = cap;
            }
            memcpy(link->pending + link->pending_len, buf, (size_t)n);
            link->pending_len += (size_t)n;
            if (!forward_messages(link))
                break;
        }
    }
    close(link->client);
    if (link->server >= 0)
        close(link->server);
    free(link->pending);
    free(link);
    return NULL;
}

int main(int argc, char **argv)
{
    int64_t listen_port = 0, port = 0;
    if (argc != 4 || numparse_int_range(argv[1], 1, 65535, &listen_port) != 0 ||
        numparse_int_range(argv[2], 1, 65535, &port) != 0) {
        fprintf(stderr, "usage: pgcut LISTEN_PORT PG_PORT CONTROL_FILE\n");
        return 2;
    }
    pg_port = (int)port;
    control_path = argv[3];
    clear_cue();
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 64) != 0) {
        perror("pgcut: listen");
        return 1;
    }
    printf("pgcut: 127.0.0.1:%d -> 127.0.0.1:%d, cues in %s\n", (int)listen_port, pg_port,
           control_path);
    fflush(stdout);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0)
            continue;
        link_t *link = calloc(1, sizeof *link);
        pthread_t thread;
        if (!link) {
            close(client);
            continue;
        }
        link->client = client;
        if (pthread_create(&thread, NULL, serve, link) != 0) {
            close(client);
            free(link);
            continue;
        }
        pthread_detach(thread);
    }
}
