/*
 * test_strbuf.c — the capped buffer: appends up to the cap succeed and one
 * byte more fails leaving the content unchanged; appendf formats and obeys
 * the same cap; take hands over the content (or "" when empty) and leaves
 * the buffer reusable; reset keeps memory, release frees it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/strbuf.h"

static void test_append_up_to_the_cap_and_not_beyond(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 10);
    assert_null(buf.ptr);
    assert_int_equal(strbuf_append_str(&buf, "12345"), 0);
    assert_int_equal(strbuf_append(&buf, "67890", 5), 0);
    assert_int_equal(buf.len, 10);
    assert_string_equal(buf.ptr, "1234567890");
    /* one byte over the cap: refused, content unchanged */
    assert_int_equal(strbuf_append(&buf, "x", 1), -1);
    assert_int_equal(buf.len, 10);
    assert_string_equal(buf.ptr, "1234567890");
    /* appending nothing at the cap is fine */
    assert_int_equal(strbuf_append(&buf, "", 0), 0);
    assert_int_equal(buf.len, 10);
    strbuf_release(&buf);
    assert_null(buf.ptr);
    assert_int_equal(buf.len, 0);
}

static void test_a_huge_append_is_refused_without_overflow(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 100);
    assert_int_equal(strbuf_append_str(&buf, "abc"), 0);
    /* len + n would wrap around size_t: must still be refused */
    assert_int_equal(strbuf_append(&buf, "x", SIZE_MAX - 1), -1);
    assert_int_equal(strbuf_append(&buf, "x", 98), -1);
    assert_string_equal(buf.ptr, "abc");
    strbuf_release(&buf);
}

static void test_binary_content_and_growth(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 1 << 20);
    const char zeros[3] = {'a', '\0', 'b'};
    assert_int_equal(strbuf_append(&buf, zeros, 3), 0);
    assert_int_equal(buf.len, 3);
    assert_memory_equal(buf.ptr, zeros, 3);
    assert_int_equal(buf.ptr[3], '\0');
    /* many small appends grow the buffer and keep every byte */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(strbuf_append(&buf, "0123456789", 10), 0);
    assert_int_equal(buf.len, 3 + 10000);
    assert_true(buf.cap > buf.len);
    assert_int_equal(buf.ptr[buf.len], '\0');
    assert_memory_equal(buf.ptr + 3 + 9990, "0123456789", 10);
    strbuf_release(&buf);
}

static void test_appendf_formats_and_obeys_the_cap(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 16);
    assert_int_equal(strbuf_appendf(&buf, "%s=%d", "qty", 42), 0);
    assert_string_equal(buf.ptr, "qty=42");
    assert_int_equal(strbuf_appendf(&buf, ",%05d", 7), 0);
    assert_string_equal(buf.ptr, "qty=42,00007");
    assert_int_equal(buf.len, 12);
    /* 5 more bytes would make 17 > 16: refused, unchanged */
    assert_int_equal(strbuf_appendf(&buf, "%s", "abcde"), -1);
    assert_string_equal(buf.ptr, "qty=42,00007");
    assert_int_equal(buf.len, 12);
    /* exactly up to the cap */
    assert_int_equal(strbuf_appendf(&buf, "%s", "abcd"), 0);
    assert_int_equal(buf.len, 16);
    assert_string_equal(buf.ptr, "qty=42,00007abcd");
    /* an empty format on an empty buffer gives "" */
    strbuf_t empty;
    strbuf_init(&empty, 4);
    assert_int_equal(strbuf_appendf(&empty, "%s", ""), 0);
    assert_non_null(empty.ptr);
    assert_string_equal(empty.ptr, "");
    strbuf_release(&empty);
    strbuf_release(&buf);
}

static void test_take_hands_over_and_leaves_the_buffer_reusable(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 64);
    char *text = strbuf_take(&buf);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);

    assert_int_equal(strbuf_append_str(&buf, "hello"), 0);
    text = strbuf_take(&buf);
    assert_string_equal(text, "hello");
    assert_null(buf.ptr);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.cap, 0);
    assert_int_equal(buf.max, 64);
    /* the buffer is reusable and does not share memory with the result */
    assert_int_equal(strbuf_append_str(&buf, "again"), 0);
    assert_string_equal(buf.ptr, "again");
    assert_string_equal(text, "hello");
    free(text);
    strbuf_release(&buf);
}

static void test_reset_keeps_memory_and_release_frees(void **state)
{
    (void)state;
    strbuf_t buf;
    strbuf_init(&buf, 64);
    assert_int_equal(strbuf_append_str(&buf, "some text"), 0);
    char *memory = buf.ptr;
    size_t cap = buf.cap;
    strbuf_reset(&buf);
    assert_int_equal(buf.len, 0);
    assert_ptr_equal(buf.ptr, memory);
    assert_int_equal(buf.cap, cap);
    assert_string_equal(buf.ptr, "");
    /* after a reset the whole cap is available again */
    char full[64];
    memset(full, 'z', sizeof full);
    assert_int_equal(strbuf_append(&buf, full, sizeof full), 0);
    assert_int_equal(buf.len, 64);
    strbuf_release(&buf);
    assert_null(buf.ptr);
    assert_int_equal(buf.cap, 0);
    strbuf_release(&buf); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_up_to_the_cap_and_not_beyond),
        cmocka_unit_test(test_a_huge_append_is_refused_without_overflow),
        cmocka_unit_test(test_binary_content_and_growth),
        cmocka_unit_test(test_appendf_formats_and_obeys_the_cap),
        cmocka_unit_test(test_take_hands_over_and_leaves_the_buffer_reusable),
        cmocka_unit_test(test_reset_keeps_memory_and_release_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
