/*
 * order.h — what the parts of the order service share: the application
 * (its settings) and the entry points main.c wires up.
 *
 * The order service (DOMAIN.md F1–F8, F14, F15, F31) files orders from
 * every door, gives them to managers, moves them through the status
 * funnel as people and the other services' facts ask, opens tasks and
 * runs timers. The files (docs/adding-a-service.md):
 *
 *   main.c          wiring: settings, statements, handlers, routes, jobs
 *   order.c         the application: its settings, read once at start
 *   handlers.c      the one table of consumed topics; wire -> plain structs
 *   events.c        plain structs -> the order stream's messages, emitted
 *   placing.c       the intake transaction: a submission becomes an order
 *   assignment.c    who works an order: picking a manager, reassigning,
 *                   the waiting queue, taking an order up, shifts
 *   funnel.c        status moves, by people and by conveyor itself
 *   stock.c         the inventory stream's facts (held, short, released)
 *   facts.c         the payment and shipping streams' facts
 *   returning.c     a cancelled order's refund waiting for its parcel
 *   editing.c       a manager's edit of an order before it is assembled
 *   tasks.c         tasks for people and the timers that open them
 *   history.c       the order's history: who did what, and the actors
 *   claiming.c      claims (F30): filing, decisions, completion, the
 *                   effects of approval (claims.c: their pure rules)
 *   identity.c      staff sign-in: rate limit, lockouts, refresh tokens
 *   api.c           HTTP routes
 *   jobs.c          the timers' job kinds
 *   store.c         every SQL statement
 *   submission.c, form.c, phone.c
 *                   reading a submission from each door (outside bytes)
 *   assign.c, rules.c, totals.c, calendar.c, login.c, claims.c
 *                   pure rules, unit-tested in tests/
 *
 * No include circles: main.c includes order.h and store.h; api.c,
 * handlers.c and jobs.c include the domain headers and order.h; domain
 * files include store.h, events.h, history.h, tasks.h and the rules, and
 * each other's headers downwards (stock and facts -> funnel -> assignment
 * -> tasks); store.c includes nothing of the service's but store.h and
 * the plain structs it fills. Wire types (Conveyor__*) appear only in
 * handlers.c (in) and events.c (out), and in submission.c's reader of the
 * bus door's OrderSubmitted, which sits beside the other doors' readers
 * and is fuzzed with them (submission.h only names the type).
 */
#ifndef ORDER_ORDER_H
#define ORDER_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/pdf.h"
#include "common/service.h"
#include "services/order/claims.h"
#include "services/order/form.h"
#include "services/order/login.h"

typedef struct {
    service_t *svc;
    char local_region[64];     /* STORE_REGION, lower-cased: on-delivery payment allowed */
    int64_t assign_timeout_ms; /* reassign an order nobody took up after this */
    int64_t new_order_task_ms; /* the new-order task is due this long after assignment */
    int assign_lock_ttl_ms;
    int assign_lock_wait_ms;
    int reminder_business_days;  /* unpaid invoice and undelivered parcel checks */
    int64_t vip_threshold_minor; /* F4: a customer who spent this much is a VIP */
    int64_t invoice_grace_ms;    /* an unpaid order cancels itself this long after its
                                    invoice expired */
    form_map_t form_map;         /* INTAKE_FORM_FIELDS */
    size_t form_max_bytes;       /* INTAKE_FORM_MAX_BYTES: the form webhook's body limit */
    login_policy_t login;        /* LOGIN_*: the rate limit and the lockout */
    int64_t refresh_ttl_ms;      /* REFRESH_TOKEN_TTL */
    char dummy_hash[160];        /* an unknown or locked login is checked against this: same cost */
    pdf_fonts_t fonts;           /* PDF_FONT, PDF_FONT_BOLD: the order's PDF (checked at start) */
    claims_limits_t claim_limits; /* CLAIM_ATTACHMENT_MAX_BYTES, CLAIM_ATTACHMENTS_MAX_TOTAL,
                                     CLAIM_ATTACHMENTS_MAX_COUNT */
    char claim_types[512];        /* CLAIM_ATTACHMENT_TYPES: media types an upload may have */
} order_app_t;

/* order.c: reads the service's settings (main.c's specs) from svc's
 * configuration. NULL (logged) when one is malformed. Caller owns the
 * result; svc is borrowed and must outlive it. */
order_app_t *order_app_new(service_t *svc);
void order_app_destroy(order_app_t **self_p);

/* The stream the service's own events go to ("order"). */
const char *order_stream(const order_app_t *app);

/* handlers.c: one handler per consumed topic. 0 ok, -1 (logged). */
int handlers_register(inbox_t *inbox, order_app_t *app);

/* api.c: every HTTP route. 0 ok, -1 on out of memory. */
int api_register(http_server_t *http, order_app_t *app);

/* jobs.c: every job kind. 0 ok, -1 on out of memory. (Not jobs_register:
 * that is the kit's, registering one kind.) */
int order_jobs_register(jobs_t *jobs, order_app_t *app);

#endif
