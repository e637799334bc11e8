/*
 * peer.c — the workload, clock and report the peer clients share (peer.h).
 */
#include "tests/bench/peers/peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/numparse.h"

int peer_workload_parse(const char *count, const char *size, peer_workload_t *out)
{
    int64_t c, s;
    if (numparse_int_range(count, 1, 100000000, &c) != 0) {
        fprintf(stderr, "peer: COUNT '%s' is not a number from 1 to 100000000\n", count);
        return -1;
    }
    if (numparse_int_range(size, PEER_SIZE_MIN, PEER_SIZE_MAX, &s) != 0) {
        fprintf(stderr, "peer: SIZE '%s' is not a number from %d to %d\n", size, PEER_SIZE_MIN,
                PEER_SIZE_MAX);
        return -1;
    }
    out->count = c;
    out->size = (size_t)s;
    return 0;
}

int64_t peer_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void peer_payload_fill(unsigned char *buf, size_t size, int64_t n)
{
    uint64_t u = (uint64_t)n;
    memset(buf, 'x', size);
    memcpy(buf, &u, sizeof u);
}

void peer_payload_check(peer_result_t *result, const void *data, size_t len)
{
    uint64_t n = 0;
    if (len >= sizeof n)
        memcpy(&n, data, sizeof n);
    if (len < sizeof n || n != (uint64_t)result->received)
        result->out_of_order++;
    result->received++;
    result->last_receive_us = peer_now_us();
}

int peer_report(const char *system, const char *mode, const peer_workload_t *w,
                const peer_result_t *r)
{
    int64_t us = r->last_receive_us - r->first_send_us;
    int64_t rate = us > 0 ? (int64_t)((double)r->received * 1e6 / (double)us) : 0;
    printf("system=%s mode=%s count=%" PRId64 " size=%zu sent=%" PRId64 " received=%" PRId64
           " out_of_order=%" PRId64 " elapsed_ms=%" PRId64 " rate=%" PRId64 "\n",
           system, mode, w->count, w->size, r->sent, r->received, r->out_of_order, us / 1000, rate);
    fflush(stdout);
    if (r->sent != w->count || r->received != w->count || r->out_of_order != 0) {
        fprintf(stderr,
                "peer: %s %s: sent %" PRId64 ", received %" PRId64 " of %" PRId64 ", %" PRId64
                " out of order\n",
                system, mode, r->sent, r->received, w->count, r->out_of_order);
        return -1;
    }
    return 0;
}
