/*
 * catalogue.h — the event catalogue in code: which message each topic
 * carries (docs/events.md is the prose). It is contract code: it lives
 * with the .proto files and is built into libcontract, not the kit, so a
 * producer's new events touch proto/ only and the kit names no service.
 *
 * A consumer that handles many facts the same way (the order service's
 * payment and shipping facts), a tool that publishes or prints any event,
 * and the tests that keep docs/events.md honest look topics up here
 * instead of each keeping its own list.
 */
#ifndef CONVEYOR_CATALOGUE_H
#define CONVEYOR_CATALOGUE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct {
    const char *stream; /* the producer's stream, "ext" for outside systems */
    const char *type;   /* "payment.succeeded" */
    const ProtobufCMessageDescriptor *message;
} catalogue_topic_t;

/* The topic's entry, or NULL when the catalogue has no such topic. */
const catalogue_topic_t *catalogue_find(const char *stream, const char *type);

/* Every entry, in catalogue order; *count_out gets how many. */
const catalogue_topic_t *catalogue_all(size_t *count_out);

#endif
