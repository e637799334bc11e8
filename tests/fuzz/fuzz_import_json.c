/*
 * fuzz_import_json.c — JSON imports ({"products": [...]}) of
 * services/inventory/import.c, all that POST /v1/products/import does
 * with an application/json body before it locks rows in the database.
 *
 * Input: the request body, parsed as http_req_json parses it (duplicate
 * keys refused, an object only). Checks: check_import's promises.
 */
#include <stdint.h>

#include "services/inventory/import.h"
#include "tests/fuzz/check_import.h"
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
    problems_t problems;
    FUZZ_CHECK(problems_init(&problems) == 0);
    import_t import;
    int parsed = import_parse_json(body, &import, &problems);
    FUZZ_CHECK(!import.csv);
    check_import(&import, parsed, &problems, 0);
    import_release(&import);
    problems_release(&problems);
    json_decref(body);
    return 0;
}
