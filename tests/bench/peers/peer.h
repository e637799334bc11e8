/*
 * peer.h — what the peer clients of `make bench-peers` share
 * (tests/bench/peers/peers.sh): the workload (COUNT messages of SIZE bytes,
 * numbered in their first 8 bytes, one producer, one consumer, each on its
 * own connection and thread), the clock and the one line of results, so
 * that RabbitMQ and NATS are measured by the same rules as the bus.
 */
#ifndef CONVEYOR_PEER_H
#define CONVEYOR_PEER_H

#include <stddef.h>
#include <stdint.h>

#define PEER_SIZE_MIN 16
#define PEER_SIZE_MAX 65536

typedef struct {
    int64_t count; /* messages */
    size_t size;   /* bytes each */
} peer_workload_t;

typedef struct {
    int64_t sent, received;
    int64_t out_of_order; /* received numbers that were not the next one */
    int64_t first_send_us, last_receive_us;
} peer_result_t;

/* peer_workload_parse: COUNT and SIZE from the command line; 0 or -1 with
 * a message saying which argument is wrong */
int peer_workload_parse(const char *count, const char *size, peer_workload_t *out);

int64_t peer_now_us(void);

/* peer_payload_fill: message number N in BUF (SIZE bytes) */
void peer_payload_fill(unsigned char *buf, size_t size, int64_t n);

/* peer_payload_check: counts a received message into RESULT (its number
 * must be the next one); LEN below 8 counts as out of order */
void peer_payload_check(peer_result_t *result, const void *data, size_t len);

/* peer_report: the one line of key=value pairs; 0 when every message
 * arrived once, in order, or -1 */
int peer_report(const char *system, const char *mode, const peer_workload_t *w,
                const peer_result_t *r);

#endif
