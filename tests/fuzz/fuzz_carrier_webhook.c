/*
 * fuzz_carrier_webhook.c — the carrier's tracking webhook parser
 * (services/shipping/adapters/carrier.h: carrier_webhook_parse), which
 * reads bytes anyone can POST to the shipping service's webhook route.
 * Whatever it is fed, it must not crash, read out of bounds, or accept a
 * webhook whose fields are not terminated and bounded.
 */
#include <jansson.h>
#include <string.h>

#include "services/shipping/adapters/carrier.h"
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
    carrier_track_t event;
    if (carrier_webhook_parse((const char *)data, size, &event) == 0) {
        FUZZ_CHECK(memchr(event.tracking_number, '\0', sizeof event.tracking_number));
        FUZZ_CHECK(memchr(event.status_code, '\0', sizeof event.status_code));
        FUZZ_CHECK(memchr(event.event_id, '\0', sizeof event.event_id));
        FUZZ_CHECK(memchr(event.description, '\0', sizeof event.description));
        FUZZ_CHECK(event.tracking_number[0] != '\0' && strlen(event.status_code) == 2);
    }
    return 0;
}
