/*
 * mimeread.c — what a kept message says, decoded, so a test can assert
 * the subject, the names, the text, the HTML and the attachments instead
 * of grepping raw base64 (fakesmtp.h, fake_mime_describe).
 *
 * It reads as a strict receiver would and reports what an encoder got
 * wrong under "problems" rather than papering over it: a header line
 * longer than 998 (or, holding encoded-words, 76) characters, an
 * encoded-word longer than 75 or not a whole UTF-8 text by itself, a
 * part whose boundary never closes, bad base64 or quoted-printable. It is
 * a fake's reader, independent of services/notification/adapters/mime.c,
 * which is what it checks. Bounded: MIME_DEPTH_MAX levels, MIME_PARTS_MAX
 * leaves, the message already capped by the server.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/strbuf.h"
#include "tests/fakes/smtp/fakesmtp.h"

#define MIME_DEPTH_MAX 5
#define MIME_PARTS_MAX 50

typedef struct {
    json_t *problems;
    json_t *parts;
} reader_t;

static void problem(reader_t *r, const char *what)
{
    if (json_array_size(r->problems) < 50)
        json_array_append_new(r->problems, json_string(what));
}

static bool utf8_whole(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t need = p[i] < 0x80             ? 0
                      : (p[i] & 0xE0) == 0xC0 ? 1
                      : (p[i] & 0xF0) == 0xE0 ? 2
                      : (p[i] & 0xF8) == 0xF0 ? 3
                                              : 9;
        if (need == 9 || i + need >= len + (need == 0 ? 1 : 0))
            return false;
        for (size_t k = 1; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += need + 1;
    }
    return true;
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

/* base64 ignoring white space; -1 on anything else. */
static int b64_decode(const char *text, size_t len, strbuf_t *out)
{
    unsigned acc = 0;
    int bits = 0;
    bool padded = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            padded = true;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || padded)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char byte = (char)((acc >> bits) & 0xFF);
            if (strbuf_append(out, &byte, 1) != 0)
                return -1;
        }
    }
    return 0;
}

static int qp_decode(const char *text, size_t len, strbuf_t *out, bool header)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (header && c == '_') {
            c = ' ';
        } else if (c == '=') {
            if (i + 2 < len && text[i + 1] == '\r' && text[i + 2] == '\n') {
                i += 2; /* soft line break */
                continue;
            }
            int high = i + 1 < len ? hex_value(text[i + 1]) : -1;
            int low = i + 2 < len ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0)
                return -1;
            c = (char)(high * 16 + low);
            i += 2;
        }
        if (strbuf_append(out, &c, 1) != 0)
            return -1;
    }
    return 0;
}

/* Decodes RFC 2047 words in an unfolded header value; white space between
 * two encoded-words is dropped (RFC 2047 §6.2). */
static char *decode_words(reader_t *r, const char *value)
{
    strbuf_t out;
    strbuf_init(&out, 64 * 1024);
    const char *p = value;
    bool last_was_word = false;
    while (*p) {
        const char *start = strstr(p, "=?");
        const char *q1 = start ? strchr(start + 2, '?') : NULL;
        const char *q2 = q1 && q1[1] && q1[2] == '?' ? q1 + 2 : NULL;
        const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
        if (!end) {
            strbuf_append_str(&out, p);
            break;
        }
        /* the text before the word, unless it is white space between two words */
        size_t gap = (size_t)(start - p);
        bool blank = strspn(p, " \t") >= gap;
        if (!(last_was_word && blank))
            strbuf_append(&out, p, gap);
        size_t word_len = (size_t)(end + 2 - start);
        if (word_len > 75)
            problem(r, "an encoded-word longer than 75 characters");
        char charset[32] = "";
        snprintf(charset, sizeof charset, "%.*s", (int)(q1 - start - 2), start + 2);
        char encoding = q1[1];
        strbuf_t bytes;
        strbuf_init(&bytes, 4096);
        int rc = (encoding == 'B' || encoding == 'b')
                     ? b64_decode(q2 + 1, (size_t)(end - q2 - 1), &bytes)
                 : (encoding == 'Q' || encoding == 'q')
                     ? qp_decode(q2 + 1, (size_t)(end - q2 - 1), &bytes, true)
                     : -1;
        if (rc != 0 || strcasecmp(charset, "UTF-8") != 0) {
            problem(r, "an encoded-word that does not decode as UTF-8 B or Q");
            strbuf_append(&out, start, word_len);
        } else {
            if (!utf8_whole((const unsigned char *)(bytes.ptr ? bytes.ptr : ""), bytes.len))
                problem(r, "an encoded-word that splits a UTF-8 sequence");
            strbuf_append(&out, bytes.ptr ? bytes.ptr : "", bytes.len);
        }
        strbuf_release(&bytes);
        p = end + 2;
        last_was_word = true;
    }
    char *text = strbuf_take(&out);
    return text;
}

typedef struct {
    char *name;
    char *value; /* unfolded */
} header_t;

#define HEADERS_MAX 64

/* Splits a header block (up to the empty line) into unfolded fields and
 * checks line lengths. Returns the offset of the body. */
static size_t read_headers(reader_t *r, const char *raw, size_t len, header_t *headers,
                           size_t *count)
{
    size_t pos = 0;
    *count = 0;
    while (pos < len) {
        const char *eol = memmem(raw + pos, len - pos, "\r\n", 2);
        size_t line_len = eol ? (size_t)(eol - (raw + pos)) : len - pos;
        if (line_len == 0)
            return pos + 2;
        const char *line = raw + pos;
        bool has_word = memmem(line, line_len, "=?", 2) != NULL;
        if (line_len > 998 || (has_word && line_len > 76))
            problem(r, has_word ? "a header line holding encoded-words is longer than 76"
                                : "a header line longer than 998");
        if ((line[0] == ' ' || line[0] == '\t') && *count > 0) {
            header_t *h = &headers[*count - 1];
            size_t old = strlen(h->value);
            char *joined = realloc(h->value, old + line_len + 1);
            if (joined) {
                memcpy(joined + old, line, line_len); /* unfolding drops only the CRLF */
                joined[old + line_len] = '\0';
                h->value = joined;
            }
        } else {
            const char *colon = memchr(line, ':', line_len);
            if (!colon) {
                problem(r, "a header line without a colon");
            } else if (*count < HEADERS_MAX) {
                header_t *h = &headers[(*count)++];
                h->name = strndup(line, (size_t)(colon - line));
                const char *v = colon + 1;
                while (v < line + line_len && *v == ' ')
                    v++;
                h->value = strndup(v, (size_t)(line + line_len - v));
            }
        }
        pos += line_len + (eol ? 2 : 0);
    }
    return len;
}

static void headers_release(header_t *headers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(headers[i].name);
        free(headers[i].value);
    }
}

static const char *header_get(const header_t *headers, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (headers[i].name && strcasecmp(headers[i].name, name) == 0)
            return headers[i].value;
    return NULL;
}

/* A parameter of a Content-Type or Content-Disposition value, decoded
 * (quoted strings; RFC 2231 name*=UTF-8''%XX). Caller owns the result. */
static char *param_of(const char *value, const char *name)
{
    if (!value)
        return NULL;
    size_t nlen = strlen(name);
    for (const char *p = strchr(value, ';'); p; p = strchr(p + 1, ';')) {
        const char *k = p + 1;
        while (*k == ' ' || *k == '\t')
            k++;
        if (strncasecmp(k, name, nlen) != 0)
            continue;
        const char *after = k + nlen;
        if (after[0] == '*' && after[1] == '=') {
            const char *v = strstr(after, "''");
            if (!v)
                return NULL;
            v += 2;
            size_t vlen = strcspn(v, "; \t");
            strbuf_t out;
            strbuf_init(&out, 1024);
            for (size_t i = 0; i < vlen; i++) {
                char c = v[i];
                if (c == '%' && i + 2 < vlen + 1 && hex_value(v[i + 1]) >= 0 &&
                    hex_value(v[i + 2]) >= 0) {
                    c = (char)(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
                    i += 2;
                }
                strbuf_append(&out, &c, 1);
            }
            return strbuf_take(&out);
        }
        if (after[0] != '=')
            continue;
        const char *v = after + 1;
        if (*v == '"') {
            strbuf_t out;
            strbuf_init(&out, 1024);
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1])
                    v++;
                strbuf_append(&out, v, 1);
            }
            return strbuf_take(&out);
        }
        return strndup(v, strcspn(v, "; \t"));
    }
    return NULL;
}

static json_t *base64_json(const char *bytes, size_t len)
{
    static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return json_null();
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)bytes[i] << 16;
        v |= i + 1 < len ? (unsigned)(unsigned char)bytes[i + 1] << 8 : 0;
        v |= i + 2 < len ? (unsigned char)bytes[i + 2] : 0;
        out[n++] = d[(v >> 18) & 63];
        out[n++] = d[(v >> 12) & 63];
        out[n++] = i + 1 < len ? d[(v >> 6) & 63] : '=';
        out[n++] = i + 2 < len ? d[v & 63] : '=';
    }
    out[n] = '\0';
    json_t *text = json_string(out);
    free(out);
    return text;
}

static void read_entity(reader_t *r, const char *raw, size_t len, int depth);

static void read_multipart(reader_t *r, const char *body, size_t len, const char *boundary,
                           int depth)
{
    char delim[300];
    int dlen = snprintf(delim, sizeof delim, "--%s", boundary);
    if (dlen <= 2 || (size_t)dlen >= sizeof delim) {
        problem(r, "a multipart without a usable boundary");
        return;
    }
    const char *part = NULL;
    size_t pos = 0;
    bool closed = false;
    while (pos < len) {
        const char *eol = memmem(body + pos, len - pos, "\r\n", 2);
        size_t line_len = eol ? (size_t)(eol - (body + pos)) : len - pos;
        const char *line = body + pos;
        if (line_len >= (size_t)dlen && memcmp(line, delim, (size_t)dlen) == 0) {
            if (part) /* the part ends before the CRLF that precedes the delimiter */
                read_entity(r, part, (size_t)(line - part) >= 2 ? (size_t)(line - part) - 2 : 0,
                            depth + 1);
            if (line_len >= (size_t)dlen + 2 && line[dlen] == '-' && line[dlen + 1] == '-') {
                closed = true;
                break;
            }
            part = eol ? eol + 2 : body + len;
        }
        pos += line_len + (eol ? 2 : 0);
    }
    if (!closed)
        problem(r, "a multipart whose closing boundary never comes");
}

static void read_entity(reader_t *r, const char *raw, size_t len, int depth)
{
    header_t headers[HEADERS_MAX];
    size_t count = 0;
    if (depth > MIME_DEPTH_MAX || json_array_size(r->parts) >= MIME_PARTS_MAX) {
        problem(r, "too deep or too many parts");
        return;
    }
    size_t body_at = read_headers(r, raw, len, headers, &count);
    const char *body = raw + body_at;
    size_t body_len = len - body_at;
    const char *ctype = header_get(headers, count, "Content-Type");
    char type[100] = "text/plain";
    if (ctype)
        snprintf(type, sizeof type, "%.*s", (int)strcspn(ctype, "; \t"), ctype);
    if (strncasecmp(type, "multipart/", 10) == 0) {
        char *boundary = param_of(ctype, "boundary");
        if (boundary)
            read_multipart(r, body, body_len, boundary, depth);
        else
            problem(r, "a multipart without a boundary");
        free(boundary);
        headers_release(headers, count);
        return;
    }
    const char *cte = header_get(headers, count, "Content-Transfer-Encoding");
    const char *disposition = header_get(headers, count, "Content-Disposition");
    strbuf_t decoded;
    strbuf_init(&decoded, 64 * 1024 * 1024);
    int rc = 0;
    if (cte && strcasecmp(cte, "base64") == 0)
        rc = b64_decode(body, body_len, &decoded);
    else if (cte && strcasecmp(cte, "quoted-printable") == 0)
        rc = qp_decode(body, body_len, &decoded, false);
    else
        rc = strbuf_append(&decoded, body, body_len);
    if (rc != 0)
        problem(r, "a part whose transfer encoding does not decode");
    char *charset = param_of(ctype, "charset");
    char *filename = param_of(disposition, "filename");
    if (!filename)
        filename = param_of(ctype, "name");
    char *filename_text = filename ? decode_words(r, filename) : NULL;
    const char *bytes = decoded.ptr ? decoded.ptr : "";
    json_t *part = json_pack(
        "{s:s, s:s, s:s, s:I}", "content_type", type, "encoding", cte ? cte : "7bit", "disposition",
        disposition ? (strncasecmp(disposition, "attachment", 10) == 0 ? "attachment" : "inline")
                    : "inline",
        "size", (json_int_t)decoded.len);
    if (part && charset)
        json_object_set_new(part, "charset", json_string(charset));
    if (part && filename_text)
        json_object_set_new(part, "filename", json_string(filename_text));
    bool textual = strncasecmp(type, "text/", 5) == 0 && !filename &&
                   utf8_whole((const unsigned char *)bytes, decoded.len) &&
                   strlen(bytes) == decoded.len;
    if (part)
        json_object_set_new(part, textual ? "text" : "base64",
                            textual ? json_stringn(bytes, decoded.len)
                                    : base64_json(bytes, decoded.len));
    if (part)
        json_array_append_new(r->parts, part);
    free(charset);
    free(filename);
    free(filename_text);
    strbuf_release(&decoded);
    headers_release(headers, count);
}

json_t *fake_mime_describe(const char *raw, size_t len)
{
    reader_t r = {.problems = json_array(), .parts = json_array()};
    reader_t scratch = {.problems = json_array()}; /* read_entity reports the lines once */
    header_t headers[HEADERS_MAX];
    size_t count = 0;
    read_headers(&scratch, raw, len, headers, &count);
    json_decref(scratch.problems);
    json_t *fields = json_object();
    static const char *const decoded_fields[] = {"Subject", "From", "To", "Cc", "Reply-To"};
    for (size_t i = 0; i < sizeof decoded_fields / sizeof decoded_fields[0]; i++) {
        const char *value = header_get(headers, count, decoded_fields[i]);
        char *text = value ? decode_words(&r, value) : NULL;
        if (text && utf8_whole((const unsigned char *)text, strlen(text)))
            json_object_set_new(fields, decoded_fields[i], json_string(text));
        free(text);
    }
    static const char *const plain_fields[] = {
        "Message-ID", "Date", "MIME-Version", "Content-Type", "List-Unsubscribe", "Bcc"};
    for (size_t i = 0; i < sizeof plain_fields / sizeof plain_fields[0]; i++) {
        const char *value = header_get(headers, count, plain_fields[i]);
        if (value && utf8_whole((const unsigned char *)value, strlen(value)))
            json_object_set_new(fields, plain_fields[i], json_string(value));
    }
    headers_release(headers, count);
    read_entity(&r, raw, len, 0);
    json_t *text = NULL, *html = NULL, *attachments = json_array();
    size_t i;
    json_t *part;
    json_array_foreach(r.parts, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "content_type"));
        bool attached = json_object_get(part, "filename") != NULL;
        if (attached)
            json_array_append(attachments, part);
        else if (!text && type && strcasecmp(type, "text/plain") == 0)
            text = json_object_get(part, "text");
        else if (!html && type && strcasecmp(type, "text/html") == 0)
            html = json_object_get(part, "text");
    }
    json_t *out = json_pack("{s:o, s:O, s:O, s:o, s:o, s:o}", "headers", fields, "text",
                            text ? text : json_null(), "html", html ? html : json_null(),
                            "attachments", attachments, "parts", r.parts, "problems", r.problems);
    return out;
}
