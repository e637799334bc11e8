/*
 * fuzz_russianpost_reply.c — Russian Post's getOperationHistory reply
 * reader (services/shipping/adapters/russianpost.h:
 * russianpost_reply_parse), which scans whatever bytes the post's server
 * (or anything posing as it) answers. Whatever it is fed, it must not
 * crash or read past the bytes, and what it accepts must be terminated,
 * bounded and one of the tracking codes.
 */
#include <string.h>

#include "services/shipping/adapters/russianpost.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    carrier_track_t track;
    carrier_error_t err;
    memset(&track, 0, sizeof track);
    memset(&err, 0, sizeof err);
    int rc = russianpost_reply_parse((const char *)data, size, &track, &err);
    if (rc == 0) {
        FUZZ_CHECK(memchr(track.status_code, '\0', sizeof track.status_code));
        FUZZ_CHECK(memchr(track.description, '\0', sizeof track.description));
        FUZZ_CHECK(strlen(track.status_code) == 2);
        FUZZ_CHECK(strstr("NY UN AC IT DE EX AT", track.status_code) != NULL);
    } else if (rc == 1) {
        FUZZ_CHECK(memchr(err.code, '\0', sizeof err.code));
        FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message));
        FUZZ_CHECK(err.code[0] != '\0');
    }
    return 0;
}
