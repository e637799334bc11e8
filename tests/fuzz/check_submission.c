/*
 * check_submission.c — the checks every intake door's target shares
 * (check_submission.h).
 */
#include "tests/fuzz/check_submission.h"

#include <string.h>

#include "tests/fuzz/fuzz.h"

static bool key_ok(const char *text)
{
    if (!text || !text[0] || strlen(text) > 128)
        return false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return false;
    return true;
}

/* Every problem is an object of three strings. */
static void check_problems(const problems_t *problems)
{
    size_t i;
    const json_t *problem;
    json_array_foreach(problems_errors(problems), i, problem)
    {
        FUZZ_CHECK(json_is_object(problem));
        FUZZ_CHECK(json_is_string(json_object_get(problem, "field")));
        FUZZ_CHECK(json_is_string(json_object_get(problem, "code")));
        FUZZ_CHECK(json_is_string(json_object_get(problem, "message")));
    }
}

/* What a submission without problems must hold. */
static void check_clean(const submission_t *sub)
{
    FUZZ_CHECK(key_ok(sub->source));
    FUZZ_CHECK(key_ok(sub->external_id));
    FUZZ_CHECK(sub->channel != NULL);
    FUZZ_CHECK(sub->customer_name != NULL);
    FUZZ_CHECK(sub->phone_e164[0] == '+' || sub->email_lower != NULL);
    FUZZ_CHECK(sub->method != METHOD_NONE);
    FUZZ_CHECK(sub->item_count > 0);
    for (size_t i = 0; i < sub->item_count; i++) {
        FUZZ_CHECK(key_ok(sub->items[i].sku));
        FUZZ_CHECK(sub->items[i].quantity > 0 && sub->items[i].quantity <= 100000);
        FUZZ_CHECK(!sub->items[i].has_price || sub->items[i].price_minor >= 0);
    }
    FUZZ_CHECK(sub->discount_bp >= 0 && sub->discount_bp <= 10000);
    FUZZ_CHECK(sub->region_key != NULL);
}

/* The canonical text and its hash; the caller frees *text_out. */
static void canonical(const submission_t *sub, char **text_out, char hash_out[65])
{
    json_t *json = submission_to_json(sub);
    FUZZ_CHECK(json != NULL);
    *text_out = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(*text_out != NULL);
    /* what rejections keep must read back as the same JSON */
    json_t *again = json_loads(*text_out, 0, NULL);
    FUZZ_CHECK(again != NULL && json_equal(json, again));
    json_decref(again);
    json_decref(json);
    FUZZ_CHECK(submission_hash(sub, hash_out) == 0);
    FUZZ_CHECK(strlen(hash_out) == 64);
}

/* The canonical form of a clean submission, read through the HTTP door
 * and validated, must be the same submission: the hash is what tells a
 * repeat from a reused idempotency key. */
static void check_fixed_point(const char *text, const char *hash)
{
    json_t *body = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(body));
    submission_t again;
    submission_init(&again);
    problems_t problems;
    FUZZ_CHECK(problems_init(&problems) == 0);
    FUZZ_CHECK(submission_from_json(body, &again, &problems) == 0);
    FUZZ_CHECK(problems_count(&problems) == 0);
    if (intake_validate(&again, NULL, &problems) != 0) {
        char *why = json_dumps(problems_errors(&problems), JSON_COMPACT);
        fprintf(stderr, "canonical:  %s\nrefused:    %s\n", text, why ? why : "?");
        free(why);
    }
    FUZZ_CHECK(problems_count(&problems) == 0);
    char *again_text = NULL;
    char again_hash[65];
    canonical(&again, &again_text, again_hash);
    if (strcmp(text, again_text) != 0)
        fprintf(stderr, "canonical:  %s\nread back:  %s\n", text, again_text);
    FUZZ_CHECK(strcmp(text, again_text) == 0);
    FUZZ_CHECK(strcmp(hash, again_hash) == 0);
    free(again_text);
    problems_release(&problems);
    submission_free(&again);
    json_decref(body);
}

void check_submission(submission_t *sub, const char *default_channel)
{
    problems_t problems;
    FUZZ_CHECK(problems_init(&problems) == 0);
    size_t added = intake_validate(sub, default_channel, &problems);
    FUZZ_CHECK(added == problems_count(&problems));
    check_problems(&problems);
    if (added == 0)
        check_clean(sub);

    char *text = NULL;
    char hash[65];
    canonical(sub, &text, hash);

    /* validating again changes neither the verdict nor the canonical form */
    problems_t second;
    FUZZ_CHECK(problems_init(&second) == 0);
    FUZZ_CHECK(intake_validate(sub, default_channel, &second) == added);
    char *text_again = NULL;
    char hash_again[65];
    canonical(sub, &text_again, hash_again);
    FUZZ_CHECK(strcmp(text, text_again) == 0);
    FUZZ_CHECK(strcmp(hash, hash_again) == 0);

    if (added == 0 && sub->item_count <= INTAKE_ITEMS_MAX)
        check_fixed_point(text, hash);

    free(text_again);
    free(text);
    problems_release(&second);
    problems_release(&problems);
}
