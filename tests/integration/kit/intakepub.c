/*
 * intakepub.c — one ext/intake.order published as an outside system
 * would, with the envelope's stream and the payload's source given apart,
 * so that the order service's bus door can be shown a payload that names
 * another source than its publisher.
 *
 *   intakepub ENVELOPE_STREAM PAYLOAD_SOURCE EXTERNAL_ID
 *
 * PAYLOAD_SOURCE "" leaves the payload's source empty. The order is a
 * valid self-pickup order of one MUG-1. Exits 0 once it is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/curve.h"
#include "common/envelope.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: intakepub ENVELOPE_STREAM PAYLOAD_SOURCE EXTERNAL_ID\n");
        return 2;
    }
    Conveyor__SubmittedItem item = CONVEYOR__SUBMITTED_ITEM__INIT;
    item.sku = "MUG-1";
    item.quantity = 1;
    Conveyor__SubmittedItem *items[] = {&item};
    Conveyor__Customer customer = CONVEYOR__CUSTOMER__INIT;
    customer.name = "Bus Customer";
    customer.email = "bus@example.ru";
    Conveyor__Delivery delivery = CONVEYOR__DELIVERY__INIT;
    delivery.method = CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_SELF_PICKUP;
    Conveyor__OrderSubmitted msg = CONVEYOR__ORDER_SUBMITTED__INIT;
    msg.source = argv[2];
    msg.external_id = argv[3];
    msg.customer = &customer;
    msg.delivery = &delivery;
    msg.n_items = 1;
    msg.items = items;
    size_t payload_len = conveyor__order_submitted__get_packed_size(&msg);
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (!payload)
        return 1;
    conveyor__order_submitted__pack(&msg, payload);

    char event_id[UUID_TEXT_SIZE];
    if (uuid_v4(event_id) != 0)
        return 1;
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = event_id;
    env.stream = argv[1];
    env.type = "intake.order";
    env.occurred_at_ms = clock_now_ms();
    env.correlation_id = argv[3];
    env.schema_version = 1;
    env.payload.data = payload;
    env.payload.len = payload_len;
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    if (envelope_pack_alloc(&env, &envelope, &envelope_len) != 0)
        return 1;

    /* an XPUB waits for busd to pass on a subscription: a PUB would drop
     * what it sends before that (the slow joiner) */
    const char *endpoint = getenv("BUS_PUB_ENDPOINT");
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int linger = 2000, timeout = 10000, rc = 1;
    char subscription[256];
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    /* the publisher's key (BUS_CERT): busd lets a source publish under its own name */
    curve_t *curve = curve_from_env(true, false);
    if (!curve || curve_client(curve, pub, NULL) != 0) {
        curve_destroy(&curve);
        goto done;
    }
    curve_destroy(&curve);
    if (zmq_connect(pub, endpoint ? endpoint : "tcp://127.0.0.1:5550") != 0 ||
        zmq_recv(pub, subscription, sizeof subscription, 0) < 1) {
        fprintf(stderr, "intakepub: no subscriber reached us\n");
        goto done;
    }
    const char *topic = "ext/intake.order";
    if (zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE) < 0 ||
        zmq_send(pub, envelope, envelope_len, 0) < 0)
        goto done;
    printf("published %s under stream %s, payload source \"%s\"\n", argv[3], argv[1], argv[2]);
    rc = 0;
done:
    zmq_close(pub);
    zmq_ctx_term(ctx);
    free(envelope);
    free(payload);
    return rc;
}
