/*
 * test_carrier_batch_webhook.c — the carrier's batch webhook read into the id of
 * the carrier's batch it names (carrier_batch_webhook_parse): ShipEngine's
 * API_BATCH (and the fake's BATCH) with a resource_url ending in
 * /v1/batches/{id}; a tracking webhook, another resource, an id too long
 * or a body that is not JSON is not one (the webhook route then tries a
 * tracking event, and refuses what is neither).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/shipping/adapters/carrier.h"

static int parse(const char *body, char id[CARRIER_ID_SIZE])
{
    memset(id, 'x', CARRIER_ID_SIZE);
    return carrier_batch_webhook_parse(body, strlen(body), id);
}

static void test_batch_webhook(void **state)
{
    (void)state;
    char id[CARRIER_ID_SIZE];
    assert_int_equal(0, parse("{\"resource_url\":\"https://api.shipengine.com/v1/batches/"
                              "se-1013119\",\"resource_type\":\"API_BATCH\"}",
                              id));
    assert_string_equal("se-1013119", id);
    assert_int_equal(0, parse("{\"resource_url\":\"http://127.0.0.1:1/v1/batches/se-batch-42\","
                              "\"resource_type\":\"BATCH\"}",
                              id));
    assert_string_equal("se-batch-42", id);
}

static void test_not_a_batch_webhook(void **state)
{
    (void)state;
    char id[CARRIER_ID_SIZE];
    /* a tracking webhook */
    assert_int_equal(-1, parse("{\"resource_url\":\"https://api.shipengine.com/v1/tracking?"
                               "carrier_code=usps&tracking_number=1\",\"resource_type\":"
                               "\"API_TRACK\",\"data\":{}}",
                               id));
    assert_string_equal("", id);
    /* a batch type naming no batch, or something under it */
    assert_int_equal(-1, parse("{\"resource_url\":\"https://x/v1/labels/se-1\","
                               "\"resource_type\":\"API_BATCH\"}",
                               id));
    assert_int_equal(-1, parse("{\"resource_url\":\"https://x/v1/batches/\","
                               "\"resource_type\":\"API_BATCH\"}",
                               id));
    assert_int_equal(-1, parse("{\"resource_url\":\"https://x/v1/batches/se-1/errors\","
                               "\"resource_type\":\"API_BATCH\"}",
                               id));
    assert_int_equal(-1, parse("{\"resource_type\":\"API_BATCH\"}", id));
    assert_int_equal(-1, parse("{\"resource_url\":7,\"resource_type\":\"API_BATCH\"}", id));
    assert_int_equal(-1, parse("not json", id));
    assert_int_equal(-1, carrier_batch_webhook_parse(NULL, 0, id));
    /* an id longer than any the service keeps */
    char body[512];
    char longid[CARRIER_ID_SIZE + 8];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    snprintf(body, sizeof body,
             "{\"resource_url\":\"https://x/v1/batches/%s\",\"resource_type\":\"API_BATCH\"}",
             longid);
    assert_int_equal(-1, parse(body, id));
    assert_string_equal("", id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_webhook),
        cmocka_unit_test(test_not_a_batch_webhook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
