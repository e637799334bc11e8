/*
 * fuzz_smsru_reply.c — the SMS gateway's answer to /sms/send
 * (services/notification/adapters/smsru.c: smsru_parse_send_reply), bytes
 * a stranger on the network path or a broken gateway can send us.
 *
 * Input: the reply body, read for two fixed numbers. Checks: every
 * number gets a result of the four classes; a number is NOTIFY_SENT only
 * with an sms_id, and only when the request is; a request that is not
 * NOTIFY_SENT gives every number its class; strings stay NUL-terminated
 * within their fields.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "services/notification/adapters/channels.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const numbers[] = {"79991234567", "79997654321"};
    smsru_number_result_t per[2];
    notify_error_t err;
    memset(&err, 0, sizeof err);
    notify_result_t result =
        smsru_parse_send_reply((const char *)data, size, numbers, 2, per, &err);
    FUZZ_CHECK(result >= NOTIFY_SENT && result <= NOTIFY_UNKNOWN);
    FUZZ_CHECK(memchr(err.code, '\0', sizeof err.code) != NULL);
    FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
    for (size_t i = 0; i < 2; i++) {
        FUZZ_CHECK(per[i].result >= NOTIFY_SENT && per[i].result <= NOTIFY_UNKNOWN);
        FUZZ_CHECK(strcmp(per[i].number, numbers[i]) == 0);
        FUZZ_CHECK(memchr(per[i].sms_id, '\0', sizeof per[i].sms_id) != NULL);
        FUZZ_CHECK(memchr(per[i].message, '\0', sizeof per[i].message) != NULL);
        if (per[i].result == NOTIFY_SENT)
            FUZZ_CHECK(result == NOTIFY_SENT && per[i].sms_id[0] != '\0');
        if (result != NOTIFY_SENT)
            FUZZ_CHECK(per[i].result == result);
    }
    return 0;
}
