/*
 * intake_client.c — an outside system publishing orders on the bus, as
 * DESIGN.md's contract asks one to (`conveyor intake`).
 *
 * Reads orders as JSON lines (the shape of POST /v1/orders, plus
 * "external_id") or generates synthetic ones, publishes each as
 * ext/intake.order (seq 0, envelope stream = our source), listens on the
 * order stream for intake.accepted / intake.rejected naming (source,
 * external_id), and publishes again every 5 s what got no answer, up to 10
 * times. Prints one JSON line per answer and a summary. Subscribes before
 * publishing, so no answer is missed; waits until busd has told it about a
 * subscriber of ext/ before the first publish (a PUB would drop everything
 * sent before that: the slow joiner).
 */
#include "tools/intake_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/numparse.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"

#define RETRY_MS     5000
#define ATTEMPTS_MAX 10

typedef struct {
    char *external_id;
    uint8_t *envelope; /* packed, ready to send again */
    size_t envelope_len;
    int attempts;
    int64_t next_send_ms;
    int64_t first_sent_us; /* when it was first published */
    int64_t first_sent_ms; /* the same, wall clock (unix ms), printed for joins */
    int64_t answer_us;     /* from the first send to its answer */
    int answered;          /* 0 none, 1 accepted, 2 rejected */
} pending_t;

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* p-th percentile (0..100) of sorted values, nearest rank. */
static double percentile_ms(const int64_t *sorted_us, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted_us[rank - 1] / 1000.0;
}

static const char *text_of(const json_t *object, const char *key)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : "";
}

/* Packs one JSON order as an OrderSubmitted; caller frees *out. */
static int pack_submission(const json_t *order, const char *source, uint8_t **out, size_t *len_out)
{
    Conveyor__OrderSubmitted msg = CONVEYOR__ORDER_SUBMITTED__INIT;
    Conveyor__Customer customer = CONVEYOR__CUSTOMER__INIT;
    Conveyor__Delivery delivery = CONVEYOR__DELIVERY__INIT;
    Conveyor__Address address = CONVEYOR__ADDRESS__INIT;
    const json_t *who = json_object_get(order, "customer");
    const json_t *where = json_object_get(order, "delivery");
    const json_t *place = json_object_get(where, "address");
    msg.source = pb_lend(source);
    msg.external_id = pb_lend(text_of(order, "external_id"));
    msg.channel = pb_lend(text_of(order, "channel"));
    msg.comment = pb_lend(text_of(order, "comment"));
    msg.discount_bp = (uint32_t)json_integer_value(json_object_get(order, "discount_bp"));
    customer.name = pb_lend(text_of(who, "name"));
    customer.phone = pb_lend(text_of(who, "phone"));
    customer.email = pb_lend(text_of(who, "email"));
    msg.customer = &customer;
    static const char *const methods[] = {"", "courier", "post", "pickup_point", "self_pickup"};
    for (int i = 1; i <= 4; i++)
        if (strcmp(text_of(where, "method"), methods[i]) == 0)
            delivery.method = (Conveyor__DeliveryMethod)i;
    delivery.pickup_point_id = pb_lend(text_of(where, "pickup_point_id"));
    address.text = pb_lend(text_of(place, "text"));
    address.region = pb_lend(text_of(place, "region"));
    address.city = pb_lend(text_of(place, "city"));
    address.postal_code = pb_lend(text_of(place, "postal_code"));
    address.line1 = pb_lend(text_of(place, "line1"));
    delivery.address = &address;
    msg.delivery = &delivery;
    const json_t *items = json_object_get(order, "items");
    size_t count = json_array_size(items);
    Conveyor__SubmittedItem *lines = calloc(count ? count : 1, sizeof *lines);
    Conveyor__SubmittedItem **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    Conveyor__Money *prices = calloc(count ? count : 1, sizeof *prices);
    int rc = -1;
    if (!lines || !ptrs || !prices)
        goto done;
    for (size_t i = 0; i < count; i++) {
        const json_t *item = json_array_get(items, i);
        conveyor__submitted_item__init(&lines[i]);
        lines[i].sku = pb_lend(text_of(item, "sku"));
        lines[i].name = pb_lend(text_of(item, "name"));
        lines[i].quantity = (uint32_t)json_integer_value(json_object_get(item, "quantity"));
        if (json_is_integer(json_object_get(item, "price_minor"))) {
            conveyor__money__init(&prices[i]);
            prices[i].amount_minor = json_integer_value(json_object_get(item, "price_minor"));
            lines[i].price = &prices[i];
        }
        ptrs[i] = &lines[i];
    }
    msg.n_items = count;
    msg.items = ptrs;
    *len_out = conveyor__order_submitted__get_packed_size(&msg);
    *out = malloc(*len_out ? *len_out : 1);
    if (*out) {
        conveyor__order_submitted__pack(&msg, *out);
        rc = 0;
    }
done:
    free(lines);
    free(ptrs);
    free(prices);
    return rc;
}

static int make_envelope(const char *source, const char *external_id, const uint8_t *payload,
                         size_t payload_len, pending_t *pending)
{
    char event_id[UUID_TEXT_SIZE];
    if (uuid_v4(event_id) != 0)
        return -1;
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = event_id;
    env.stream = pb_lend(source);
    env.type = pb_lend("intake.order");
    env.occurred_at_ms = clock_now_ms();
    env.correlation_id = pb_lend(external_id);
    env.schema_version = 1;
    env.payload.data = (uint8_t *)(uintptr_t)payload;
    env.payload.len = payload_len;
    return envelope_pack_alloc(&env, &pending->envelope, &pending->envelope_len);
}

/* A synthetic order n (for load): 1-3 lines over the given SKUs. */
static json_t *synthetic(int64_t n, const char *run_id, const char *regions, const char *skus)
{
    char external_id[96], phone[32], name[64], region[64] = "", sku[64] = "SKU-1";
    snprintf(external_id, sizeof external_id, "%s-%lld", run_id, (long long)n);
    snprintf(phone, sizeof phone, "+7900%07lld", (long long)(n % 10000000));
    snprintf(name, sizeof name, "Customer %lld", (long long)n);
    /* the n-th comma-separated item of a list, cycling */
    const char *lists[2] = {regions, skus};
    char *outs[2] = {region, sku};
    for (int l = 0; l < 2; l++) {
        if (!lists[l] || !lists[l][0])
            continue;
        int items = 1;
        for (const char *p = lists[l]; *p; p++)
            items += *p == ',';
        int want = (int)(n % items);
        const char *start = lists[l];
        for (int i = 0; i < want; i++)
            start = strchr(start, ',') + 1;
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        snprintf(outs[l], 64, "%.*s", (int)len, start);
    }
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:{s:s,s:s,s:s}},s:[{s:s,s:i}]}", "external_id",
                     external_id, "channel", "website", "customer", "name", name, "phone", phone,
                     "delivery", "method", "courier", "address", "region", region, "city",
                     region[0] ? region : "Moscow", "line1", "Lenina 1", "items", "sku", sku,
                     "quantity", 1);
}

/* Handles one answer frame; returns the index it answered or -1. */
static int on_answer(const zmq_msg_t *topic, const zmq_msg_t *body, const char *source,
                     pending_t *pending, size_t count, bool quiet)
{
    bus_frame_t frame;
    if (bus_frame_parse(zmq_msg_data((zmq_msg_t *)(uintptr_t)topic),
                        zmq_msg_size((zmq_msg_t *)(uintptr_t)topic),
                        zmq_msg_data((zmq_msg_t *)(uintptr_t)body),
                        zmq_msg_size((zmq_msg_t *)(uintptr_t)body), &frame) != FRAME_OK)
        return -1;
    int index = -1;
    bool accepted = strcmp(frame.topic_type, "intake.accepted") == 0;
    bool rejected = strcmp(frame.topic_type, "intake.rejected") == 0;
    json_t *line = NULL;
    const char *answer_source = NULL, *external_id = NULL;
    Conveyor__IntakeAccepted *ok = NULL;
    Conveyor__IntakeRejected *no = NULL;
    if (accepted) {
        ok = conveyor__intake_accepted__unpack(NULL, frame.env->payload.len,
                                               frame.env->payload.data);
        if (ok) {
            answer_source = ok->source;
            external_id = ok->external_id;
            line = json_pack("{s:s,s:s,s:s,s:I,s:s}", "external_id", ok->external_id, "status",
                             "accepted", "order_id", ok->order_id, "number", (json_int_t)ok->number,
                             "title", ok->title);
        }
    } else if (rejected) {
        no = conveyor__intake_rejected__unpack(NULL, frame.env->payload.len,
                                               frame.env->payload.data);
        if (no) {
            answer_source = no->source;
            external_id = no->external_id;
            json_t *reasons = json_array();
            for (size_t i = 0; i < no->n_reasons; i++)
                json_array_append_new(
                    reasons, json_pack("{s:s,s:s,s:s}", "field", no->reasons[i]->field, "code",
                                       no->reasons[i]->code, "message", no->reasons[i]->message));
            line = json_pack("{s:s,s:s,s:s,s:o}", "external_id", no->external_id, "status",
                             "rejected", "rejection_id", no->rejection_id, "reasons", reasons);
        }
    }
    if (answer_source && strcmp(answer_source, source) == 0) {
        for (size_t i = 0; i < count; i++) {
            if (!pending[i].answered && strcmp(pending[i].external_id, external_id) == 0) {
                pending[i].answered = accepted ? 1 : 2;
                index = (int)i;
                break;
            }
        }
    }
    if (index >= 0 && line && !quiet) {
        json_object_set_new(line, "sent_ms", json_integer(pending[index].first_sent_ms));
        char *text = json_dumps(line, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        free(text);
    }
    json_decref(line);
    if (ok)
        conveyor__intake_accepted__free_unpacked(ok, NULL);
    if (no)
        conveyor__intake_rejected__free_unpacked(no, NULL);
    bus_frame_clear(&frame);
    return index;
}

int intake_client_run(const intake_client_options_t *options)
{
    int rc = 1;
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    pending_t *pending = NULL;
    size_t count = 0, cap = 0;
    int hwm = 1000000, linger = 2000, timeout = 10000;
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* a source key hears the intake answers and nothing else of the order stream */
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "order/intake.", 13);
    if (curve_client(options->curve, sub, NULL) != 0 ||
        curve_client(options->curve, pub, NULL) != 0)
        goto done;
    if (zmq_connect(sub, options->sub_endpoint) != 0 ||
        zmq_connect(pub, options->pub_endpoint) != 0) {
        fprintf(stderr, "conveyor: cannot connect to the bus (%s, %s)\n", options->pub_endpoint,
                options->sub_endpoint);
        goto done;
    }
    /* busd's subscription reaches us once it has let our key in */
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char subscription[256];
    bool heard = false;
    while (!heard) {
        int len = zmq_recv(pub, subscription, sizeof subscription, 0);
        if (len < 0) {
            fprintf(stderr, "conveyor: busd did not let us publish: is it running "
                            "and is our key (BUS_CERT) in its BUS_KEYS_DIR?\n");
            goto done;
        }
        /* busd subscribes to everything ("") once it lets us in */
        heard = len >= 1 && subscription[0] == 1 &&
                (len == 1 || (len >= 5 && memcmp(subscription + 1, "ext/", 4) == 0));
    }
    int zero = 0;
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &zero, sizeof zero);
    usleep(100000); /* our SUB's subscription travels to busd too: give it a beat */

    /* read or generate every order first: the clock starts with the first send */
    char run_id[16];
    snprintf(run_id, sizeof run_id, "%08x", (unsigned)(clock_now_ms() & 0xffffffff));
    for (int64_t n = 0;; n++) {
        json_t *order = NULL;
        if (options->generate > 0) {
            if (n >= options->generate)
                break;
            order = synthetic(n, run_id, options->regions, options->skus);
        } else {
            char *line = NULL;
            size_t line_cap = 0;
            ssize_t got = getline(&line, &line_cap, options->input);
            if (got <= 0) {
                free(line);
                break;
            }
            json_error_t error;
            order = json_loads(line, 0, &error);
            free(line);
            if (!json_is_object(order)) {
                fprintf(stderr, "conveyor: line %lld is not a JSON object: %s\n", (long long)n + 1,
                        error.text);
                json_decref(order);
                goto done;
            }
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 256;
            pending_t *grown = realloc(pending, cap * sizeof *grown);
            if (!grown)
                goto done;
            pending = grown;
        }
        pending_t *item = &pending[count];
        memset(item, 0, sizeof *item);
        uint8_t *payload = NULL;
        size_t payload_len = 0;
        item->external_id = strdup(text_of(order, "external_id"));
        int packed = pack_submission(order, options->source, &payload, &payload_len);
        if (packed == 0)
            packed = make_envelope(options->source, item->external_id, payload, payload_len, item);
        free(payload);
        json_decref(order);
        if (packed != 0 || !item->external_id)
            goto done;
        count++;
    }

    int64_t started = clock_mono_ms(), started_wall_ms = clock_now_ms(), sent = 0;
    size_t answered = 0, accepted = 0, rejected = 0, next = 0;
    int64_t deadline = 0;
    while (answered < count) {
        int64_t now = clock_mono_ms();
        /* first sends, paced; then resends of what got no answer */
        while (next < count &&
               (options->rate <= 0 || sent * 1000 / options->rate <= now - started)) {
            pending[next].attempts = 1;
            pending[next].next_send_ms = now + RETRY_MS;
            pending[next].first_sent_us = clock_mono_us();
            pending[next].first_sent_ms = clock_now_ms();
            zmq_send(pub, "ext/intake.order", 16, ZMQ_SNDMORE);
            zmq_send(pub, pending[next].envelope, pending[next].envelope_len, 0);
            next++;
            sent++;
        }
        for (size_t i = 0; i < next; i++) {
            pending_t *item = &pending[i];
            if (item->answered || item->next_send_ms > now || item->attempts >= ATTEMPTS_MAX)
                continue;
            item->attempts++;
            item->next_send_ms = now + RETRY_MS;
            zmq_send(pub, "ext/intake.order", 16, ZMQ_SNDMORE);
            zmq_send(pub, item->envelope, item->envelope_len, 0);
        }
        if (next == count && !deadline)
            deadline = now + (int64_t)RETRY_MS * (ATTEMPTS_MAX + 1);
        if (deadline && now > deadline)
            break;
        zmq_pollitem_t items[1] = {{sub, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, 1, next < count ? 1 : 100);
        for (int k = 0; k < 10000; k++) {
            zmq_msg_t topic, body;
            zmq_msg_init(&topic);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&topic);
                zmq_msg_close(&body);
                break;
            }
            if (zmq_msg_more(&topic) && zmq_msg_recv(&body, sub, 0) >= 0) {
                int index =
                    on_answer(&topic, &body, options->source, pending, next, options->quiet);
                if (index >= 0) {
                    pending[index].answer_us = clock_mono_us() - pending[index].first_sent_us;
                    answered++;
                    accepted += pending[index].answered == 1;
                    rejected += pending[index].answered == 2;
                }
            }
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
        }
    }
    int64_t took = clock_mono_ms() - started;
    int64_t *latencies = calloc(answered ? answered : 1, sizeof *latencies);
    size_t measured = 0;
    for (size_t i = 0; latencies && i < count; i++)
        if (pending[i].answered)
            latencies[measured++] = pending[i].answer_us;
    if (latencies)
        qsort(latencies, measured, sizeof *latencies, compare_i64);
    /* orders sent more than once, and the first of them: a lost answer at
     * the start is a late subscription, one in the middle a loss */
    size_t resent = 0;
    long long first_resent = -1;
    for (size_t i = 0; i < count; i++)
        if (pending[i].attempts > 1 && resent++ == 0)
            first_resent = (long long)i;
    fprintf(stderr,
            "conveyor: published=%zu accepted=%zu rejected=%zu unanswered=%zu resent=%zu "
            "first_resent=%lld started_ms=%lld ms=%lld "
            "rate_per_s=%.0f latency_ms_p50=%.1f latency_ms_p99=%.1f latency_ms_max=%.1f\n",
            count, accepted, rejected, count - answered, resent, first_resent,
            (long long)started_wall_ms, (long long)took,
            took > 0 ? (double)answered * 1000.0 / (double)took : 0.0,
            latencies ? percentile_ms(latencies, measured, 50) : 0.0,
            latencies ? percentile_ms(latencies, measured, 99) : 0.0,
            latencies && measured ? (double)latencies[measured - 1] / 1000.0 : 0.0);
    free(latencies);
    rc = answered == count ? 0 : 3;
done:
    for (size_t i = 0; i < count; i++) {
        free(pending[i].external_id);
        free(pending[i].envelope);
    }
    free(pending);
    zmq_close(pub);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return rc;
}
