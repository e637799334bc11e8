/*
 * placeholders.h — the data a template is rendered with (F20): the
 * order's facts as the service keeps them, plus what the event itself
 * brings, shaped into the placeholders templates may name. Pure: JSON
 * in, JSON out, unit-tested (tests/test_rules.c).
 *
 *   number title status status_label customer_name customer_email
 *   customer_phone manager_name delivery_method pickup_address
 *   items[] {line_no sku name quantity price total}
 *   totals {lines discount delivery total}
 *   payment_url invoice_amount tracking_number tracking_url carrier
 *   tracking_status (a carrier's status), and carrier_code,
 *   tracking_status_code and delivery_method_code: the codes of the names
 *   lines_changed delivery_changed discount_changed (order.changed)
 *   short_items[] {sku requested available expected_date} expected_date
 *   task_title task_kind sku product_name on_hand threshold buyer_name
 *   shop_name unsubscribe_url
 *   claim_name claim_type claim_comment claim_amount (claim.* events)
 *
 * Money is written for people in the template's language: "2 500,00 ₽"
 * (ru), "2,500.00 RUB" (en); carriers, tracking statuses and delivery
 * methods by their names (placeholders_codes says which codes to name).
 * A parcel's tracking number and link are told only once it left the
 * store: a label voided with an order cancelled before that names nothing.
 */
#ifndef NOTIFICATION_PLACEHOLDERS_H
#define NOTIFICATION_PLACEHOLDERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MONEY_TEXT_SIZE 48

/* Writes amount_minor of currency (ISO 4217; "" is RUB) for language. */
void placeholders_money(int64_t amount_minor, const char *currency, const char *language,
                        char out[MONEY_TEXT_SIZE]);

typedef struct {
    const json_t *order;         /* the orders row as JSON (store_order_json), or NULL */
    const json_t *event;         /* the event's own facts (dispatch.h), or NULL */
    const char *language;        /* "ru", "en" */
    const char *status_label;    /* the status for people, or "" */
    const char *shop_name;       /* NOTIFY_SHOP_NAME */
    const char *unsubscribe_url; /* the recipient's opt-out link, or "" */
    const json_t *names;         /* kind -> name of placeholders_codes' codes, or NULL */
} placeholders_in_t;

/* The codes the message shows, to be named for people: a new object of
 * kind -> code (carrier, tracking_status, delivery_method; the unknown
 * left out); NULL out of memory. */
json_t *placeholders_codes(const placeholders_in_t *in);

/* A new object with every placeholder (empty where unknown); NULL out of
 * memory. */
json_t *placeholders_data(const placeholders_in_t *in);

#endif
