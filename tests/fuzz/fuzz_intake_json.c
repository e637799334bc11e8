/*
 * fuzz_intake_json.c — POST /v1/orders' body (services/order/intake.c):
 * JSON from outside read into a submission and validated, everything the
 * route does before it opens a transaction.
 *
 * Input: the request body. It is parsed as http_req_json parses it
 * (duplicate keys refused, an object only); then, as the route does, the
 * Idempotency-Key replaces external_id and the API key's source replaces
 * source. Checks: reading never fails but for memory, adds only
 * well-formed problems, and the submission keeps every promise of
 * check_submission (validation, canonical form, hash, fixed point).
 */
#include <stdint.h>
#include <string.h>

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
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    submission_t sub;
    submission_init(&sub);
    problems_t read_errors;
    FUZZ_CHECK(problems_init(&read_errors) == 0);
    FUZZ_CHECK(submission_from_json(body, &sub, &read_errors) == 0);
    FUZZ_CHECK(sub.attributes != NULL);
    FUZZ_CHECK(sub.item_count <= INTAKE_ITEMS_MAX);
    size_t i;
    json_t *problem;
    json_array_foreach(problems_errors(&read_errors), i, problem)
        FUZZ_CHECK(json_is_string(json_object_get(problem, "field")));

    /* the header's key and the caller's source win, as in route_orders_create */
    free(sub.external_id);
    sub.external_id = strdup("A-10234");
    free(sub.source);
    sub.source = strdup("site-main");
    FUZZ_CHECK(sub.external_id && sub.source);
    check_submission(&sub, "website");

    problems_release(&read_errors);
    submission_free(&sub);
    json_decref(body);
    return 0;
}
