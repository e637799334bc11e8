/*
 * fuzz_telegram_reply.c — the Bot API's answer to sendMessage
 * (services/notification/adapters/telegram.c: telegram_parse_reply).
 *
 * Input: a first byte choosing the HTTP status it came with (200, 400,
 * 403, 429, 500, 502), then the body. Checks: a class of the four;
 * NOTIFY_SENT only for a 200 and with a message_id of digits;
 * retry_after only within a day; strings NUL-terminated in their fields.
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
    static const long statuses[] = {200, 400, 403, 429, 500, 502};
    if (size < 1)
        return 0;
    long status = statuses[data[0] % 6];
    char message_id[NOTIFY_ID_SIZE];
    notify_error_t err;
    memset(&err, 0, sizeof err);
    notify_result_t result =
        telegram_parse_reply(status, (const char *)data + 1, size - 1, message_id, &err);
    FUZZ_CHECK(result >= NOTIFY_SENT && result <= NOTIFY_UNKNOWN);
    FUZZ_CHECK(memchr(message_id, '\0', sizeof message_id) != NULL);
    FUZZ_CHECK(memchr(err.code, '\0', sizeof err.code) != NULL);
    FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
    FUZZ_CHECK(err.retry_after_ms >= 0 && err.retry_after_ms <= 86400000);
    if (result == NOTIFY_SENT) {
        FUZZ_CHECK(status == 200);
        FUZZ_CHECK(message_id[0] != '\0');
        FUZZ_CHECK(strspn(message_id, "-0123456789") == strlen(message_id));
    }
    return 0;
}
