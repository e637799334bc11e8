/*
 * test_mime.c — the pure half of the email adapter (adapters/mime.c):
 * RFC 2047 encoded-words (limits, folding, never a split character,
 * decoded back exactly by an independent reader), quoted-printable and
 * base64 lines, addresses that may go into a header and the envelope, and
 * the multipart tree (alternative alone, mixed with attachments, no Bcc
 * header, input refused with a reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/notification/adapters/mime.h"
#include "tests/fuzz/check_rfc2047.h"

static char *header(const char *text, size_t column)
{
    static char written[8192];
    strbuf_t out;
    strbuf_init(&out, sizeof written - 1);
    assert_int_equal(mime_header_text(&out, text, column), 0);
    snprintf(written, sizeof written, "%s", out.ptr ? out.ptr : "");
    strbuf_release(&out);
    return written;
}

static void round_trip(const char *text, size_t column)
{
    char decoded[4096];
    const char *written = header(text, column);
    const char *broken = check_rfc2047_decode(written, column, decoded, sizeof decoded);
    if (broken)
        fail_msg("%s in: %s", broken, written);
    assert_string_equal(decoded, text);
}

static void test_plain_subject_stays(void **state)
{
    (void)state;
    assert_string_equal(header("Order 1042 shipped", 9), "Order 1042 shipped");
    assert_string_equal(header("", 9), "");
    /* looks like a word: encoded, so a reader cannot misread it */
    assert_non_null(strstr(header("see =?x?=", 9), "=?UTF-8?B?"));
    round_trip("see =?x?=", 9);
}

static void test_cyrillic_subject(void **state)
{
    (void)state;
    const char *subject = "Ваш заказ №1042 передан в службу доставки СДЭК: трек-номер и ссылка "
                          "для отслеживания будут в следующем письме";
    const char *written = header(subject, 9);
    /* 45 bytes a word after the first line: 22 Cyrillic letters */
    assert_non_null(strstr(written, "\r\n =?UTF-8?B?"));
    for (const char *line = written; line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        assert_true(len + (line == written ? 9 : 0) <= 76);
        line = eol ? eol + 2 : NULL;
    }
    round_trip(subject, 9);
    for (size_t column = 0; column < 90; column++)
        round_trip(subject, column);
}

static void test_no_split_characters(void **state)
{
    (void)state;
    round_trip("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", 9);
    round_trip("a😀bж€c😀😀ёЁ€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€", 70);
    round_trip("ж", 75);
    /* a long ASCII line is encoded rather than run past 78 */
    char long_ascii[200];
    memset(long_ascii, 'x', sizeof long_ascii - 1);
    long_ascii[sizeof long_ascii - 1] = '\0';
    round_trip(long_ascii, 9);
}

static void test_quoted_printable(void **state)
{
    (void)state;
    strbuf_t out;
    strbuf_init(&out, 4096);
    const char *text = "a=b\n.dot \r\nж\ttab";
    assert_int_equal(mime_qp(&out, text, strlen(text)), 0);
    assert_string_equal(out.ptr, "a=3Db\r\n.dot=20\r\n=D0=B6\ttab");
    strbuf_reset(&out);
    char line[300];
    memset(line, 'y', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    assert_int_equal(mime_qp(&out, line, strlen(line)), 0);
    for (const char *p = out.ptr; p;) {
        const char *eol = strstr(p, "\r\n");
        assert_true((eol ? (size_t)(eol - p) : strlen(p)) <= MIME_LINE_MAX);
        p = eol ? eol + 2 : NULL;
    }
    strbuf_release(&out);
}

static void test_base64_lines(void **state)
{
    (void)state;
    strbuf_t out;
    strbuf_init(&out, 4096);
    assert_int_equal(mime_base64(&out, (const unsigned char *)"hello", 5), 0);
    assert_string_equal(out.ptr, "aGVsbG8=\r\n");
    strbuf_reset(&out);
    unsigned char bytes[200] = {0};
    assert_int_equal(mime_base64(&out, bytes, sizeof bytes), 0);
    assert_int_equal(strstr(out.ptr, "\r\n") - out.ptr, 76);
    strbuf_release(&out);
}

static void test_addresses(void **state)
{
    (void)state;
    assert_true(mime_address_ok("ivan@example.test"));
    assert_true(mime_address_ok("a+tag@b.c"));
    assert_false(mime_address_ok("no-at-sign"));
    assert_false(mime_address_ok("@b.c"));
    assert_false(mime_address_ok("a@"));
    assert_false(mime_address_ok("a@b@c"));
    assert_false(mime_address_ok("a b@c.d"));
    assert_false(mime_address_ok("a@b.c>\r\nRCPT TO:<x@y.z"));
    assert_false(mime_address_ok("иван@example.test"));
    assert_false(mime_address_ok(NULL));
}

static notify_mailbox_t to[] = {{"Иван", "ivan@example.test"}};
static notify_mailbox_t bcc[] = {{NULL, "archive@example.test"}};

static int build(const notify_email_t *email, strbuf_t *out, char *why)
{
    why[0] = '\0';
    strbuf_reset(out);
    return mime_build(out, email, "<1@t>", "T0", 1796532215, why);
}

static void test_build(void **state)
{
    (void)state;
    strbuf_t out;
    strbuf_init(&out, 1024 * 1024);
    char why[NOTIFY_MESSAGE_SIZE];
    notify_email_t email = {.from = {"Shop", "shop@example.test"},
                            .to = to,
                            .to_count = 1,
                            .bcc = bcc,
                            .bcc_count = 1,
                            .subject = "Заказ",
                            .text = "text",
                            .html = "<p>html</p>"};
    assert_int_equal(build(&email, &out, why), 0);
    assert_non_null(strstr(out.ptr, "Content-Type: multipart/alternative; boundary=\"=_alt_T0\""));
    assert_null(strstr(out.ptr, "multipart/mixed"));
    assert_null(strstr(out.ptr, "archive@"));
    assert_non_null(strstr(out.ptr, "Date: Sun, 06 Dec 2026 "));
    assert_non_null(strstr(out.ptr, "From: Shop <shop@example.test>\r\n"));
    assert_non_null(strstr(out.ptr, "--=_alt_T0--\r\n"));
    static const unsigned char pdf[] = "%PDF";
    notify_attachment_t files[] = {{"счёт.pdf", "application/pdf", pdf, 4}};
    email.attachments = files;
    email.attachment_count = 1;
    assert_int_equal(build(&email, &out, why), 0);
    assert_non_null(strstr(out.ptr, "multipart/mixed; boundary=\"=_mix_T0\""));
    assert_non_null(strstr(out.ptr, "filename*=UTF-8''%D1%81%D1%87%D1%91%D1%82.pdf"));
    assert_non_null(strstr(out.ptr, "JVBERg==\r\n--=_mix_T0--\r\n"));

    /* refused, with a reason */
    notify_email_t bad = email;
    bad.to_count = 0;
    bad.bcc_count = 0;
    assert_int_equal(build(&bad, &out, why), -1);
    assert_non_null(strstr(why, "recipients"));
    bad = email;
    bad.subject = "a\r\nBcc: x@y.z";
    assert_int_equal(build(&bad, &out, why), -1);
    bad = email;
    bad.text = "\xC3";
    assert_int_equal(build(&bad, &out, why), -1);
    bad = email;
    bad.text = NULL;
    assert_int_equal(build(&bad, &out, why), -1);
    notify_attachment_t nameless[] = {{"", "application/pdf", pdf, 4}};
    bad = email;
    bad.attachments = nameless;
    assert_int_equal(build(&bad, &out, why), -1);
    notify_attachment_t odd_type[] = {{"a.pdf", "application/pdf\r\nX: y", pdf, 4}};
    bad.attachments = odd_type;
    assert_int_equal(build(&bad, &out, why), -1);
    bad = email;
    bad.message_id = "no-brackets";
    assert_int_equal(build(&bad, &out, why), -1);

    /* too large for the buffer: refused, not cut */
    strbuf_t small;
    strbuf_init(&small, 200);
    why[0] = '\0';
    assert_int_equal(mime_build(&small, &email, "<1@t>", "T0", 0, why), -1);
    assert_non_null(strstr(why, "larger"));
    strbuf_release(&small);
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_subject_stays),
        cmocka_unit_test(test_cyrillic_subject),
        cmocka_unit_test(test_no_split_characters),
        cmocka_unit_test(test_quoted_printable),
        cmocka_unit_test(test_base64_lines),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
