/*
 * fuzz_intake_bus.c — ext/intake.order's payload (an OrderSubmitted from
 * any outside system) read into a submission and validated, as the order
 * service's handler does before it opens a transaction
 * (services/order/handlers.c, intake.c).
 *
 * Input: the payload bytes. Checks: whatever unpacks reads into a
 * submission without failing (memory aside), an empty source takes the
 * envelope's, and the submission keeps every promise of check_submission.
 */
#include <stdint.h>
#include <string.h>

#include "conveyor/order.pb-c.h"
#include "services/order/submission.h"
#include "tests/fuzz/check_submission.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Conveyor__OrderSubmitted *msg = conveyor__order_submitted__unpack(NULL, size, data);
    if (!msg)
        return 0;
    submission_t sub;
    submission_init(&sub);
    FUZZ_CHECK(submission_from_proto(msg, &sub) == 0);
    FUZZ_CHECK(sub.item_count == msg->n_items);
    if (!sub.source)
        sub.source = strdup("site-main"); /* the envelope's stream, as on_intake_order does */
    FUZZ_CHECK(sub.source != NULL);
    check_submission(&sub, "website");
    submission_free(&sub);
    conveyor__order_submitted__free_unpacked(msg, NULL);
    return 0;
}
