/*
 * mime.c — writing an email's bytes: RFC 2047 encoded-words, quoted-
 * printable, base64 and the multipart tree (mime.h).
 */
#include "services/notification/adapters/mime.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "services/notification/adapters/outcall.h"

#define HEADER_FOLD_AT 78 /* RFC 5322's recommended line length */

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends base64 of len bytes, no line breaks. */
static int b64_plain(strbuf_t *out, const unsigned char *in, size_t len)
{
    char quad[4];
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        quad[0] = b64_digits[(v >> 18) & 63];
        quad[1] = b64_digits[(v >> 12) & 63];
        quad[2] = i + 1 < len ? b64_digits[(v >> 6) & 63] : '=';
        quad[3] = i + 2 < len ? b64_digits[v & 63] : '=';
        if (strbuf_append(out, quad, 4) != 0)
            return -1;
    }
    return 0;
}

int mime_base64(strbuf_t *out, const unsigned char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i += 57) { /* 57 bytes are 76 characters */
        size_t n = len - i < 57 ? len - i : 57;
        if (b64_plain(out, bytes + i, n) != 0 || strbuf_append(out, "\r\n", 2) != 0)
            return -1;
    }
    return 0;
}

/* The length of the UTF-8 sequence starting with lead (1 for a stray
 * byte, which valid input never has). */
static size_t seq_len(unsigned char lead)
{
    if (lead >= 0xF0)
        return 4;
    if (lead >= 0xE0)
        return 3;
    if (lead >= 0xC0)
        return 2;
    return 1;
}

static bool plain_ascii(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7E)
            return false;
    return strstr(text, "=?") == NULL;
}

int mime_header_text(strbuf_t *out, const char *text, size_t column)
{
    size_t len = strlen(text);
    if (len == 0)
        return 0;
    if (plain_ascii(text, len) && column + len <= HEADER_FOLD_AT)
        return strbuf_append(out, text, len);
    static const size_t overhead = 12; /* "=?UTF-8?B?" and "?=" */
    size_t line_room = column < MIME_LINE_MAX ? MIME_LINE_MAX - column : 0;
    bool fold_before = false; /* a word is on the line already */
    size_t pos = 0;
    while (pos < len) {
        /* the room for this word: a folded line starts with one space */
        size_t room = fold_before ? MIME_LINE_MAX - 1 : line_room;
        if (room > MIME_WORD_MAX)
            room = MIME_WORD_MAX;
        size_t max_bytes = room > overhead ? (room - overhead) / 4 * 3 : 0;
        if (max_bytes < 4) { /* no room for a 4-byte character here: fold first */
            if (strbuf_append(out, "\r\n ", 3) != 0)
                return -1;
            line_room = MIME_LINE_MAX - 1;
            continue;
        }
        size_t take = 0;
        while (pos + take < len) {
            size_t n = seq_len((unsigned char)text[pos + take]);
            if (pos + take + n > len || take + n > max_bytes)
                break;
            take += n;
        }
        if (take == 0)
            return -1; /* a sequence cut short at the end: not UTF-8 */
        if ((fold_before && strbuf_append(out, "\r\n ", 3) != 0) ||
            strbuf_append(out, "=?UTF-8?B?", 10) != 0 ||
            b64_plain(out, (const unsigned char *)text + pos, take) != 0 ||
            strbuf_append(out, "?=", 2) != 0)
            return -1;
        pos += take;
        fold_before = true;
    }
    return 0;
}

int mime_qp(strbuf_t *out, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t line = 0; /* characters on the current output line */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
            if (c == '\r')
                i++;
            if (strbuf_append(out, "\r\n", 2) != 0)
                return -1;
            line = 0;
            continue;
        }
        bool at_line_end = i + 1 == len || text[i + 1] == '\n' ||
                           (text[i + 1] == '\r' && i + 2 < len && text[i + 2] == '\n');
        bool literal =
            (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
        char piece[3] = {(char)c, 0, 0};
        size_t width = 1;
        if (!literal) {
            piece[0] = '=';
            piece[1] = hex[c >> 4];
            piece[2] = hex[c & 15];
            width = 3;
        }
        /* a soft break keeps the line, with its '=', within 76 */
        if (line + width > MIME_LINE_MAX - 1) {
            if (strbuf_append(out, "=\r\n", 3) != 0)
                return -1;
            line = 0;
        }
        if (strbuf_append(out, piece, width) != 0)
            return -1;
        line += width;
    }
    return 0;
}

int mime_address_ok(const char *addr)
{
    size_t len = addr ? strlen(addr) : 0;
    if (len < 3 || len > 254)
        return 0;
    const char *at = strchr(addr, '@');
    if (!at || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
        return 0;
    for (const char *p = addr; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7E || strchr("<>(),;:\"\\[]", *p))
            return 0;
    return 1;
}

/* Whether an ASCII display name can go bare (atext and spaces only). */
static bool name_is_atoms(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr(" !#$%&'*+-/=?^_`{|}~", *p)))
            return false;
    return true;
}

/* Appends one mailbox at column: name <addr>. */
static int append_mailbox(strbuf_t *out, const notify_mailbox_t *box, size_t column)
{
    const char *name = box->name;
    size_t name_len = name ? strlen(name) : 0;
    if (name_len == 0)
        return strbuf_appendf(out, "<%s>", box->addr);
    if (plain_ascii(name, name_len) &&
        column + name_len + strlen(box->addr) + 3 <= HEADER_FOLD_AT) {
        if (name_is_atoms(name))
            return strbuf_appendf(out, "%s <%s>", name, box->addr);
        if (strbuf_append(out, "\"", 1) != 0)
            return -1;
        for (const char *p = name; *p; p++) {
            if ((*p == '"' || *p == '\\') && strbuf_append(out, "\\", 1) != 0)
                return -1;
            if (strbuf_append(out, p, 1) != 0)
                return -1;
        }
        return strbuf_appendf(out, "\" <%s>", box->addr);
    }
    if (mime_header_text(out, name, column) != 0)
        return -1;
    return strbuf_appendf(out, "\r\n <%s>", box->addr);
}

static int append_mailbox_list(strbuf_t *out, const char *field, const notify_mailbox_t *boxes,
                               size_t count)
{
    if (count == 0)
        return 0;
    if (strbuf_appendf(out, "%s: ", field) != 0)
        return -1;
    size_t column = strlen(field) + 2;
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            if (strbuf_append(out, ",\r\n ", 4) != 0)
                return -1;
            column = 1;
        }
        if (append_mailbox(out, &boxes[i], column) != 0)
            return -1;
    }
    return strbuf_append(out, "\r\n", 2);
}

static int check_boxes(const notify_mailbox_t *boxes, size_t count, const char *what, char *why)
{
    if (count > 0 && !boxes) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "%s: %zu recipients but no list", what, count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (!mime_address_ok(boxes[i].addr)) {
            snprintf(why, NOTIFY_MESSAGE_SIZE, "%s %zu: not an address we can send to", what,
                     i + 1);
            return -1;
        }
        if (boxes[i].name && (!outcall_text_ok(boxes[i].name, strlen(boxes[i].name)) ||
                              strpbrk(boxes[i].name, "\r\n") || strlen(boxes[i].name) > 256)) {
            snprintf(why, NOTIFY_MESSAGE_SIZE, "%s %zu: the name is not one line of UTF-8", what,
                     i + 1);
            return -1;
        }
    }
    return 0;
}

static int check_email(const notify_email_t *email, char *why)
{
    size_t rcpts = email->to_count + email->cc_count + email->bcc_count;
    if (rcpts == 0 || rcpts > NOTIFY_EMAIL_RCPTS_MAX) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "an email needs 1 to %d recipients, not %zu",
                 NOTIFY_EMAIL_RCPTS_MAX, rcpts);
        return -1;
    }
    if (check_boxes(&email->from, 1, "from", why) != 0 ||
        check_boxes(email->to, email->to_count, "to", why) != 0 ||
        check_boxes(email->cc, email->cc_count, "cc", why) != 0 ||
        check_boxes(email->bcc, email->bcc_count, "bcc", why) != 0)
        return -1;
    if (email->reply_to && !mime_address_ok(email->reply_to)) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "reply_to is not an address");
        return -1;
    }
    const char *subject = email->subject ? email->subject : "";
    if (!outcall_text_ok(subject, strlen(subject)) || strpbrk(subject, "\r\n\t") ||
        strlen(subject) > 998) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "the subject is not one line of UTF-8 (998 bytes)");
        return -1;
    }
    if (!email->text || !outcall_text_ok(email->text, strlen(email->text)) ||
        (email->html && !outcall_text_ok(email->html, strlen(email->html)))) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "the text part is missing, or a part is not UTF-8");
        return -1;
    }
    if (email->attachment_count > NOTIFY_EMAIL_ATTACHMENTS_MAX ||
        (email->attachment_count > 0 && !email->attachments)) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "at most %d attachments", NOTIFY_EMAIL_ATTACHMENTS_MAX);
        return -1;
    }
    for (size_t i = 0; i < email->attachment_count; i++) {
        const notify_attachment_t *a = &email->attachments[i];
        const char *ct = a->content_type ? a->content_type : "";
        bool ct_ok = strchr(ct, '/') && strlen(ct) < 100;
        for (const char *p = ct; *p && ct_ok; p++)
            ct_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("/.+-", *p);
        if (!a->filename || !a->filename[0] || strlen(a->filename) > 200 ||
            !outcall_text_ok(a->filename, strlen(a->filename)) || strpbrk(a->filename, "\r\n\t") ||
            !ct_ok || (a->len > 0 && !a->bytes)) {
            snprintf(why, NOTIFY_MESSAGE_SIZE,
                     "attachment %zu: a filename and a type/subtype are required", i + 1);
            return -1;
        }
    }
    if (email->message_id && (strlen(email->message_id) >= NOTIFY_ID_SIZE ||
                              email->message_id[0] != '<' || strpbrk(email->message_id, " \r\n"))) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "message_id must be <id@domain>, one word");
        return -1;
    }
    if (email->unsubscribe_url &&
        (strpbrk(email->unsubscribe_url, " \r\n<>") || strlen(email->unsubscribe_url) > 900)) {
        snprintf(why, NOTIFY_MESSAGE_SIZE, "unsubscribe_url is not one URL");
        return -1;
    }
    return 0;
}

static int append_date(strbuf_t *out, int64_t date_unix)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)date_unix;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    return strbuf_appendf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                          tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                          tm.tm_sec);
}

/* After a ';': " filename="x.pdf"", or RFC 2231's filename*=UTF-8''%D0%A1... on a
 * folded line when not ASCII. */
static int append_filename(strbuf_t *out, const char *param, const char *filename)
{
    size_t len = strlen(filename);
    bool ascii = plain_ascii(filename, len) && !strpbrk(filename, "\"\\");
    if (ascii)
        return strbuf_appendf(out, " %s=\"%s\"", param, filename);
    if (strbuf_appendf(out, "\r\n %s*=UTF-8''", param) != 0)
        return -1;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)filename; *p; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p);
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (keep ? strbuf_append(out, p, 1) : strbuf_append(out, esc, 3))
            return -1;
    }
    /* 200 bytes escaped stay within 998 characters: no RFC 2231 continuations */
    return 0;
}

static int append_alternative(strbuf_t *out, const notify_email_t *email, const char *boundary)
{
    if (strbuf_appendf(out,
                       "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                       boundary) != 0 ||
        mime_qp(out, email->text, strlen(email->text)) != 0 || strbuf_append(out, "\r\n", 2) != 0)
        return -1;
    if (email->html &&
        (strbuf_appendf(out,
                        "--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                        "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                        boundary) != 0 ||
         mime_qp(out, email->html, strlen(email->html)) != 0 || strbuf_append(out, "\r\n", 2) != 0))
        return -1;
    return strbuf_appendf(out, "--%s--\r\n", boundary);
}

int mime_build(strbuf_t *out, const notify_email_t *email, const char *message_id,
               const char *boundary_tag, int64_t date_unix, char *why)
{
    if (check_email(email, why) != 0)
        return -1;
    char alt[96], mixed[96];
    snprintf(alt, sizeof alt, "=_alt_%s", boundary_tag);
    snprintf(mixed, sizeof mixed, "=_mix_%s", boundary_tag);
    bool attached = email->attachment_count > 0;
    const char *subject = email->subject ? email->subject : "";
    int rc = -1;
    if (append_mailbox_list(out, "From", &email->from, 1) != 0 ||
        append_mailbox_list(out, "To", email->to, email->to_count) != 0 ||
        append_mailbox_list(out, "Cc", email->cc, email->cc_count) != 0 ||
        (email->reply_to && strbuf_appendf(out, "Reply-To: <%s>\r\n", email->reply_to) != 0) ||
        strbuf_append_str(out, "Subject: ") != 0 || mime_header_text(out, subject, 9) != 0 ||
        strbuf_append(out, "\r\n", 2) != 0 || append_date(out, date_unix) != 0 ||
        strbuf_appendf(out, "Message-ID: %s\r\nMIME-Version: 1.0\r\n", message_id) != 0 ||
        (email->unsubscribe_url &&
         strbuf_appendf(out, "List-Unsubscribe: <%s>\r\n", email->unsubscribe_url) != 0))
        goto done;
    if (!attached) {
        if (strbuf_appendf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
                           alt) != 0 ||
            append_alternative(out, email, alt) != 0)
            goto done;
        rc = 0;
        goto done;
    }
    if (strbuf_appendf(out,
                       "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
                       "--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
                       mixed, mixed, alt) != 0 ||
        append_alternative(out, email, alt) != 0)
        goto done;
    for (size_t i = 0; i < email->attachment_count; i++) {
        const notify_attachment_t *a = &email->attachments[i];
        if (strbuf_appendf(out, "--%s\r\nContent-Type: %s;", mixed, a->content_type) != 0 ||
            append_filename(out, "name", a->filename) != 0 ||
            strbuf_append_str(out, "\r\nContent-Transfer-Encoding: base64\r\n"
                                   "Content-Disposition: attachment;") != 0 ||
            append_filename(out, "filename", a->filename) != 0 ||
            strbuf_append(out, "\r\n\r\n", 4) != 0 || mime_base64(out, a->bytes, a->len) != 0)
            goto done;
    }
    if (strbuf_appendf(out, "--%s--\r\n", mixed) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && why[0] == '\0')
        snprintf(why, NOTIFY_MESSAGE_SIZE, "the message is larger than %zu bytes", out->max);
    return rc;
}
