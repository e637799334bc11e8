/*
 * render.h — templates rendered with a real Mustache implementation
 * (F20; issue 12 item 2): kainjow's mustache.hpp (Debian
 * libkainjow-mustache-dev, header-only C++11), behind this C interface in
 * render.cc. Debian ships no C Mustache library; this one is the spec's
 * (sections, inverted sections, lists, comments, set delimiters).
 *
 * The data is a JSON object (jansson): strings and numbers are values,
 * arrays are lists, objects are sections, false/null/"" are falsy.
 *
 * A template that names a placeholder the service does not provide is
 * refused when saved (render_check): it is rendered twice against the
 * sample of every placeholder (render_sample), once with every section
 * taken and once with none, and any name the template looks up and the
 * sample lacks is reported.
 */
#ifndef NOTIFICATION_RENDER_H
#define NOTIFICATION_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RENDER_WHY_SIZE 256
#define RENDER_OUT_MAX  (256 * 1024) /* a rendered message's bytes */

typedef enum {
    RENDER_TEXT = 0, /* {{x}} inserted as it is (plain text, SMS, Telegram) */
    RENDER_HTML,     /* {{x}} HTML-escaped, {{{x}}} as it is */
} render_mode_t;

/* Renders tmpl with data. *out_take is a new NUL-terminated string the
 * caller frees. -1 with why filled (the parser's message, or out of
 * memory, or longer than RENDER_OUT_MAX). */
int render_template(const char *tmpl, const json_t *data, render_mode_t mode, char **out_take,
                    char why[RENDER_WHY_SIZE]);

/* 0 when tmpl parses and names only placeholders of the sample; -1 with
 * why ("unknown placeholder: foo" or the parse error). */
int render_check(const char *tmpl, char why[RENDER_WHY_SIZE]);

/* Every placeholder a template may name, with sample values (a new
 * object; truthy = every section taken). Defined in placeholders.c. */
json_t *render_sample(bool truthy);

#ifdef __cplusplus
}
#endif

#endif
