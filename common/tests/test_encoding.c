/*
 * test_encoding.c — hex (hex.h) and base64url (base64url.h).
 *
 * Proves: hex digits read in either case and nothing else; bytes encode to
 * lower-case hex; base64url matches RFC 4648's test vectors without
 * padding, round-trips every length of arbitrary bytes, and its decoder
 * refuses characters outside the alphabet, padding, impossible lengths and
 * a buffer too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64url.h"
#include "common/hex.h"

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(hex_value('0'), 0);
    assert_int_equal(hex_value('9'), 9);
    assert_int_equal(hex_value('a'), 10);
    assert_int_equal(hex_value('F'), 15);
    assert_int_equal(hex_value('g'), -1);
    assert_int_equal(hex_value(' '), -1);
    assert_int_equal(hex_value('\0'), -1);
    char out[9];
    hex_encode("\x00\x7f\xab\xff", 4, out);
    assert_string_equal(out, "007fabff");
    hex_encode("", 0, out);
    assert_string_equal(out, "");
}

static void test_base64url_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char out[16];
        assert_int_equal(base64url_encode(plain[i], strlen(plain[i]), out, sizeof out),
                         strlen(coded[i]));
        assert_string_equal(out, coded[i]);
        unsigned char back[16];
        size_t len = 99;
        assert_int_equal(base64url_decode(coded[i], strlen(coded[i]), back, sizeof back, &len), 0);
        assert_int_equal(len, strlen(plain[i]));
        assert_memory_equal(back, plain[i], len);
    }
    /* the URL-safe characters */
    char out[8];
    base64url_encode("\xfb\xff", 2, out, sizeof out);
    assert_string_equal(out, "-_8");
}

static void test_base64url_round_trips_bytes(void **state)
{
    (void)state;
    unsigned char bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof bytes; len++) {
        char coded[100];
        size_t n = base64url_encode(bytes, len, coded, sizeof coded);
        assert_true(len == 0 || n > 0);
        unsigned char back[70];
        size_t got = 0;
        assert_int_equal(base64url_decode(coded, n, back, sizeof back, &got), 0);
        assert_int_equal(got, len);
        assert_memory_equal(back, bytes, len);
    }
}

static void test_base64url_refuses(void **state)
{
    (void)state;
    unsigned char back[16];
    assert_int_equal(base64url_decode("Zm9v=", 5, back, sizeof back, NULL), -1); /* padding */
    assert_int_equal(base64url_decode("Zm+v", 4, back, sizeof back, NULL), -1);  /* not URL-safe */
    assert_int_equal(base64url_decode("Zm9vY", 5, back, sizeof back, NULL), -1); /* length */
    assert_int_equal(base64url_decode("Zm9vYmFy", 8, back, 4, NULL), -1);        /* too small */
    char small[4];
    assert_int_equal(base64url_encode("foobar", 6, small, sizeof small), 0);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64url_vectors),
        cmocka_unit_test(test_base64url_round_trips_bytes),
        cmocka_unit_test(test_base64url_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
