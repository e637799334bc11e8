/*
 * mime.h — an email as the bytes an SMTP server is given (RFC 5322 with
 * MIME, RFC 2045-2047 and 2231), for smtp.c.
 *
 * libcurl sends what it is handed and encodes no header value, so the
 * message is written here, as pure functions over plain structs that the
 * unit tests and a round-trip fuzzer can check without a server:
 *
 *   multipart/mixed                     (only when there are attachments)
 *     multipart/alternative
 *       text/plain; charset=UTF-8       quoted-printable
 *       text/html; charset=UTF-8        quoted-printable (when given)
 *     application/pdf; name=...         base64, Content-Disposition: attachment
 *
 * A Subject or display name that is not plain ASCII becomes RFC 2047
 * encoded-words =?UTF-8?B?...?=, each at most 75 characters, never
 * splitting a UTF-8 sequence, on lines of at most 76 folded with CRLF SP.
 */
#ifndef CONVEYOR_NOTIFICATION_MIME_H
#define CONVEYOR_NOTIFICATION_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"
#include "services/notification/adapters/channels.h"

#define MIME_WORD_MAX 75 /* an encoded-word's characters (RFC 2047 §2) */
#define MIME_LINE_MAX 76 /* a line holding encoded-words (§2), or quoted-printable (RFC 2045) */

/* Appends text as a header value that starts at column (the characters
 * already on the line, "Subject: " is 9): as it is when it is printable
 * ASCII without "=?" and fits in 78 columns, otherwise as encoded-words
 * folded so that no line passes MIME_LINE_MAX. text must be valid UTF-8
 * (outcall_text_ok). 0 ok, -1 over the buffer's cap. */
int mime_header_text(strbuf_t *out, const char *text, size_t column);

/* Appends len bytes as quoted-printable: LF and CRLF become CRLF line
 * breaks, lines of at most MIME_LINE_MAX with soft breaks; a line may
 * start with '.' (SMTP's dot-stuffing is the transport's job). */
int mime_qp(strbuf_t *out, const char *text, size_t len);

/* Appends len bytes as base64 in lines of 76 characters, each ended by CRLF. */
int mime_base64(strbuf_t *out, const unsigned char *bytes, size_t len);

/* Whether addr may be written into a header and the envelope: 3..254
 * printable ASCII characters, one '@' with text either side, none of
 * space, '<', '>', '(', ')', ',', ';', ':', '"', '\\'. */
int mime_address_ok(const char *addr);

/* Writes the whole message into out (its cap bounds the message):
 * headers, then the parts. message_id is written as given ("<x@y>"),
 * boundary_tag makes the boundaries unique ([A-Za-z0-9] only), date_unix
 * is the Date header. -1 with why filled (NOTIFY_MESSAGE_SIZE) when the
 * email breaks a rule (no recipient, a bad address, text that is not
 * UTF-8, too many recipients or attachments) or does not fit. */
int mime_build(strbuf_t *out, const notify_email_t *email, const char *message_id,
               const char *boundary_tag, int64_t date_unix, char *why);

#endif
