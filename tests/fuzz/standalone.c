/*
 * standalone.c — replays inputs through a fuzz target without libFuzzer.
 *
 * `make test` links every fuzz_<target>.c with this main instead of
 * libFuzzer, so that the corpus and every crash ever kept are run on each
 * change by any compiler (gcc in the plain build, AddressSanitizer and
 * UBSan in `make asan`): a fixed bug that comes back fails the tests.
 *
 *     fuzz_form tests/fuzz/corpus/form tests/fuzz/crashes/form
 *
 * Arguments are files or directories (their files, sorted, dot files
 * skipped). Each input is copied into a buffer of exactly its size, so a
 * read past the end is a sanitizer report, and its name is printed before
 * it runs, so a crash names its input. Exit 0 when every input ran.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* A target without set-up does not define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reads a whole file into a buffer of its exact size; caller owns
 * *bytes_out (NULL for an empty file). -1 if it cannot be read. */
static int read_input(const char *path, uint8_t **bytes_out, size_t *len_out)
{
    int rc = -1;
    uint8_t *bytes = NULL;
    FILE *file = fopen(path, "rb");
    struct stat st;
    *bytes_out = NULL;
    *len_out = 0;
    if (!file || fstat(fileno(file), &st) != 0 || st.st_size < 0)
        goto done;
    size_t len = (size_t)st.st_size;
    if (len > 0) {
        bytes = malloc(len);
        if (!bytes || fread(bytes, 1, len, file) != len)
            goto done;
    }
    *bytes_out = bytes;
    *len_out = len;
    bytes = NULL;
    rc = 0;
done:
    free(bytes);
    if (file)
        fclose(file);
    return rc;
}

static int run_file(const char *path, size_t *count)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (read_input(path, &bytes, &len) != 0) {
        fprintf(stderr, "fuzz replay: could not read %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(stderr, "  %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(bytes, len);
    free(bytes);
    (*count)++;
    return 0;
}

static int skip_dot(const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

static int run_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz replay: no such input %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, count);
    struct dirent **entries = NULL;
    int n = scandir(path, &entries, skip_dot, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz replay: could not list %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char child[4096];
        int written = snprintf(child, sizeof child, "%s/%s", path, entries[i]->d_name);
        if (written < 0 || (size_t)written >= sizeof child || run_path(child, count) != 0)
            rc = -1;
        free(entries[i]);
    }
    free(entries);
    return rc;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &count) != 0)
            rc = 1;
    printf("%s: %zu inputs replayed\n", argc > 0 ? argv[0] : "fuzz", count);
    return rc;
}
