/*
 * intake_client.h — `conveyor intake`: publish orders on the bus as an
 * outside system would, and wait for their answers (intake_client.c).
 */
#ifndef TOOLS_INTAKE_CLIENT_H
#define TOOLS_INTAKE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/curve.h"

typedef struct {
    const char *pub_endpoint; /* busd's XSUB */
    const char *sub_endpoint; /* busd's XPUB */
    const char *source;       /* our registered source name */
    const curve_t *curve;     /* our source key and busd's (borrowed; off: plain) */
    FILE *input;              /* JSON lines, when not generating */
    int64_t generate;         /* > 0: this many synthetic orders instead */
    int64_t rate;             /* orders per second; 0: as fast as possible */
    const char *regions;      /* synthetic: comma-separated regions, cycled */
    const char *skus;         /* synthetic: comma-separated SKUs, cycled */
    bool quiet;               /* no line per answer, only the summary */
} intake_client_options_t;

/* 0 when every order got an answer, 3 when some did not, 1 on failure. */
int intake_client_run(const intake_client_options_t *options);

#endif
