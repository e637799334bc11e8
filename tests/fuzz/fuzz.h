/*
 * fuzz.h — what the libFuzzer targets of tests/fuzz/ share.
 *
 * Each fuzz_<target>.c feeds the bytes of one input to one decoder of
 * outside bytes and checks what that decoder promises. It is linked two
 * ways: with libFuzzer (clang -fsanitize=fuzzer, `make fuzz`), which
 * invents inputs, and with standalone.c (any compiler, `make test` and
 * `make asan`), which replays every file of the corpus and of the kept
 * crashes. A target never touches a database or the network, frees all
 * it allocates (leaks fail under ASan) and keeps no state between inputs
 * but read-only set-up made once in LLVMFuzzerInitialize.
 *
 * FUZZ_CHECK states an invariant. Unlike assert it is never compiled out,
 * and it names the broken promise before it aborts, so that libFuzzer
 * keeps the input and the replay fails on it.
 */
#ifndef CONVEYOR_FUZZ_H
#define CONVEYOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The staff-token keys of fuzz_token; make_seeds signs its seeds with them. */
#define FUZZ_JWT_KEY_1 "fuzz-secret-number-one-0123456789abcdef"
#define FUZZ_JWT_KEY_2 "fuzz-secret-number-two-0123456789abcdef"

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
    abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

/* Splits an input into a head and the rest: the first byte is the head's
 * length (cut short at the end of the input). How a target gets two
 * frames, or a topic and a payload, out of one input. */
static inline void fuzz_split(const uint8_t *data, size_t size, const uint8_t **head_out,
                              size_t *head_len_out, const uint8_t **rest_out, size_t *rest_len_out)
{
    size_t head_len = size > 0 ? data[0] : 0;
    const uint8_t *head = size > 0 ? data + 1 : data;
    size_t left = size > 0 ? size - 1 : 0;
    if (head_len > left)
        head_len = left;
    *head_out = head;
    *head_len_out = head_len;
    *rest_out = head + head_len;
    *rest_len_out = left - head_len;
}

/* Splits an input at its first newline: a text line (a topic, a mode) and
 * the bytes after it. -1 when there is no newline. */
static inline int fuzz_split_line(const uint8_t *data, size_t size, char *line_out,
                                  size_t line_size, const uint8_t **rest_out, size_t *rest_len_out)
{
    const uint8_t *newline = memchr(data, '\n', size);
    if (!newline || (size_t)(newline - data) >= line_size)
        return -1;
    size_t line_len = (size_t)(newline - data);
    memcpy(line_out, data, line_len);
    line_out[line_len] = '\0';
    *rest_out = newline + 1;
    *rest_len_out = size - line_len - 1;
    return 0;
}

/* A NUL-terminated copy of len bytes; caller owns the result. Aborts when
 * out of memory: a fuzz run has nothing better to do then. */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL);
    if (len)
        memcpy(text, data, len);
    text[len] = '\0';
    return text;
}

#endif
