/*
 * fuzz_template.c — a template as an admin saves it (PUT
 * /v1/templates/..., services/notification/render.cc: render_check, then
 * render_template over kainjow's mustache.hpp), Mustache text from outside
 * the service that is parsed when saved and rendered for every message.
 *
 * Input: a mode byte (even: text, odd: HTML), then the template, at most
 * the API's 64 KiB. Checks: a refusal says why; a template that is
 * accepted renders against the sample of every placeholder with every
 * section taken and with none (or says why not, only for being longer than
 * a message may be), into a NUL-terminated text within RENDER_OUT_MAX, the
 * same text twice; and whatever the check said, rendering never crashes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/notification/render.h"
#include "tests/fuzz/fuzz.h"

#define TEMPLATE_MAX 65536 /* api.c: a body of at most 64 KiB */

static json_t *sample_all, *sample_none;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    sample_all = render_sample(true);
    sample_none = render_sample(false);
    FUZZ_CHECK(sample_all != NULL && sample_none != NULL);
    return 0;
}

/* Renders tmpl with data; checks what comes back. */
static void render_checked(const char *tmpl, const json_t *data, render_mode_t mode, bool accepted)
{
    char *out = NULL, *again = NULL;
    char why[RENDER_WHY_SIZE] = "";
    int rc = render_template(tmpl, data, mode, &out, why);
    if (rc != 0) {
        FUZZ_CHECK(out == NULL && why[0] != '\0');
        FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
        if (accepted)
            FUZZ_CHECK(strstr(why, "over") != NULL); /* too long, never unparsable */
        return;
    }
    FUZZ_CHECK(out != NULL && strlen(out) <= RENDER_OUT_MAX);
    char why_again[RENDER_WHY_SIZE] = "";
    FUZZ_CHECK(render_template(tmpl, data, mode, &again, why_again) == 0);
    FUZZ_CHECK(strcmp(out, again) == 0);
    free(out);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size - 1 > TEMPLATE_MAX)
        return 0;
    render_mode_t mode = data[0] % 2 ? RENDER_HTML : RENDER_TEXT;
    char *tmpl = fuzz_strndup(data + 1, size - 1);
    char why[RENDER_WHY_SIZE] = "";
    bool accepted = render_check(tmpl, why) == 0;
    if (!accepted)
        FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof why) != NULL);
    render_checked(tmpl, sample_all, mode, accepted);
    render_checked(tmpl, sample_none, mode, accepted);
    free(tmpl);
    return 0;
}
