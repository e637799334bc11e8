/*
 * store.h — every SQL statement of the order service (STYLE.md "SQL").
 *
 * Functions run one prepared statement (or one small, fixed sequence) on
 * the caller's session, inside the caller's transaction, and return
 * db_status_t. Reads for the HTTP API come back as JSON built by
 * PostgreSQL (json_build_object), so the shape of an answer is written
 * once, next to the query that fills it. Rows the transaction never reads
 * back (order lines, history) go through bulk inserts (common/bulk.h).
 */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "common/page.h"
#include "common/pgarray.h"
#include "services/order/assign.h"
#include "services/order/submission.h"
#include "services/order/login.h"

/* Registers every statement on a session (the kit's db_setup). */
int store_setup(db_t *db, void *arg);

/* --- intake ------------------------------------------------------------ */

typedef struct {
    char order_id[37];
    uint64_t number;
    char body_sha256[65];
    char title[300];
} intake_key_t;

/* The order a key was first used for; *found false when none. */
db_status_t store_intake_find(db_t *db, const char *source, const char *external_id, bool *found,
                              intake_key_t *key_out);

/* Keeps a rejected submission (a repeat of the same body is counted on the
 * first row); rejection_id_out gets the row's id. */
db_status_t store_rejection_record(db_t *db, const char *new_id, const submission_t *sub,
                                   const char *body_sha256, intake_door_t door,
                                   const char *reasons_json, const char *submission_json,
                                   char rejection_id_out[37]);

typedef struct {
    char source[130];
    char default_channel[16];
    intake_trust_t trust; /* may_set_prices, max_discount_bp */
} intake_source_t;

/* The active source whose API key has this SHA-256; *found false when none. */
db_status_t store_source_by_key(db_t *db, const char *api_key_sha256, bool *found,
                                intake_source_t *source_out);
/* The active source of this name (the bus door's publisher, the source
 * staff file under); *found false when none: it is trusted with nothing. */
db_status_t store_source_by_name(db_t *db, const char *source, bool *found,
                                 intake_source_t *source_out);
db_status_t store_source_upsert(db_t *db, const char *source, const char *api_key_sha256,
                                const char *default_channel, const intake_trust_t *trust);

/* --- customers and orders -------------------------------------------- */

typedef struct {
    char id[37];
    char manager_id[37]; /* "" when none */
    char category[16];
} customer_t;

/* Finds the customer by E.164 phone (first) or lower-cased email, counting
 * the new order, or creates them. */
db_status_t store_customer_for_order(db_t *db, const char *new_id, const char *name,
                                     const char *phone_e164, const char *email_lower,
                                     customer_t *customer_out);

/* What store_intake_claim_customer needs: the key to claim for order_id,
 * and the customer to find (phone first, then email) or create as
 * customer_id. */
typedef struct {
    const char *source, *external_id, *body_sha256, *order_id;
    intake_door_t door;
    const char *customer_id, *customer_name, *phone_e164, *email_lower;
} intake_claim_t;

/* Claims (source, external_id) for a new order and, when claimed, finds
 * or creates the customer as store_customer_for_order does, in one round
 * trip: true in *claimed with the order's number; false when the key
 * exists (read it with store_intake_find), the customer untouched. */
db_status_t store_intake_claim_customer(db_t *db, const intake_claim_t *claim, bool *claimed,
                                        uint64_t *number_out, customer_t *customer_out);

/* One order of store_intake_claim_batch: its claim, and the answer. */
typedef struct {
    intake_claim_t claim; /* in */
    bool claimed;         /* out: false when the key existed (read it with store_intake_find) */
    bool customer_found;  /* out: customer filled */
    uint64_t number;      /* out: the order's number, when claimed */
    customer_t customer;  /* out */
} intake_claim_row_t;

/* store_intake_claim_customer for count orders in one statement (the
 * customers found counted once per order, those not found created). Their
 * phones and emails must differ from each other's: a customer created here
 * is not seen by another order of the same call. */
db_status_t store_intake_claim_batch(db_t *db, intake_claim_row_t *rows, size_t count);

/* How the customer is reached, as order.confirmed carries it (the
 * payment service's 54-FZ receipt goes to this email or phone). */
typedef struct {
    char name[256];
    char phone[32];  /* E.164, "" when none */
    char email[256]; /* lower-cased, "" when none */
} customer_contact_t;

/* The customer's name, phone and email; all "" for no such customer. */
db_status_t store_customer_contact(db_t *db, const char *customer_id, customer_contact_t *out);

/* The order's delivery as stored (the submission's canonical "delivery"
 * object: method, pickup_point_id, comment, address{...}); *json_out NULL
 * for no such order, else the caller frees it. */
db_status_t store_order_delivery(db_t *db, const char *order_id, char **json_out);

/* F4: a delivered order adds to what the customer spent (the sum stops at
 * bigint's top rather than failing the delivery); at the threshold they
 * become a VIP. */
db_status_t store_customer_spent(db_t *db, const char *customer_id, int64_t amount_minor,
                                 int64_t vip_threshold_minor);

typedef struct {
    char id[37];
    char name[210];
    char email[210];
    char phone[40];
} manager_contact_t;

typedef struct {
    const char *order_id;
    uint64_t number;
    const char *title;
    const submission_t *sub;
    const char *customer_id;
    const char *manager_id; /* whose slot to take; NULL: none */
    const char *delivery_json;
    const char *attributes_json;
    bool sender_prices;
    int64_t now_ms;
} order_insert_t;

/* Inserts the order (status new, version 1) and its lines, taking a slot
 * of manager_id as store_manager_take_slot does, in one statement. When
 * the slot is taken (*taken, contact_out filled) the order is theirs and
 * they become the customer's own manager if they have none yet; when it
 * is refused (full, off shift meanwhile) the order has no manager. */
db_status_t store_order_insert(db_t *db, const order_insert_t *order, bool *taken,
                               manager_contact_t *contact_out);

/* One order of store_order_insert_batch: the order, and the answer. */
typedef struct {
    order_insert_t order;      /* in */
    bool taken;                /* out: the manager's slot was taken, the order is theirs */
    manager_contact_t contact; /* out, when taken */
} order_insert_row_t;

/* store_order_insert for count orders in one statement. The slots of each
 * manager are taken together, all or none: a manager full, off shift or
 * gone meanwhile refuses all of that manager's orders of the batch (no
 * manager, as store_order_insert leaves a refused one). */
db_status_t store_order_insert_batch(db_t *db, order_insert_row_t *rows, size_t count);

/* The manager of an order store_order_insert left without one (its
 * version stays 1); they become the customer's own manager if they have
 * none yet. The caller took their slot. */
db_status_t store_order_first_manager(db_t *db, const char *order_id, const char *manager_id,
                                      const char *customer_id, int64_t now_ms);

/* --- the order as the domain sees it --------------------------------- */

typedef struct {
    char id[37];
    uint64_t number;
    char title[300];
    char status[32];
    char group[16];
    uint64_t version;
    char manager_id[37]; /* "" when unassigned */
    char customer_id[37];
    char channel[16];
    char source[130];
    char region[210];
    char method[16];
    char stock_state[16];
    char currency[4];
    uint32_t discount_bp;
    bool taken_up;
    bool has_totals;
    int64_t lines_minor, discount_minor, delivery_minor, vat_minor, total_minor, weight_g;
    int64_t delivery_override_minor; /* -1 when none */
    char payment_terms[16];          /* "" until confirmed */
    int64_t placed_at_ms;
    bool sender_prices;
    uint64_t lines_version; /* the version whose lines inventory answers (editing.c) */
} order_t;

/* Reads and locks the order (FOR UPDATE); *found false when unknown. An
 * order held by another transaction is waited for and read as that one
 * left it. */
db_status_t store_order_lock(db_t *db, const char *order_id, bool *found, order_t *order_out);

/* The status's group; "" when the status is unknown. */
db_status_t store_status_group(db_t *db, const char *status, char group_out[16]);

/* Whether any of roles (role_t bits) may move from -> to. */
db_status_t store_transition_allowed(db_t *db, const char *from, const char *to, unsigned roles,
                                     bool *allowed);

/* The moves roles may make from a status: a JSON array of
 * {to, name, group} (caller owns it). */
db_status_t store_transitions_from(db_t *db, const char *from, unsigned roles, json_t **moves_out);

/* Sets the status, bumps the version; *version_out gets the new one. */
db_status_t store_order_set_status(db_t *db, const char *order_id, const char *status,
                                   const char *cancel_reason, int64_t now_ms,
                                   uint64_t *version_out);

/* Marks the order taken up by its manager. */
db_status_t store_order_taken_up(db_t *db, const char *order_id, int64_t now_ms);

/* Sets the manager (NULL: none) and bumps the version. */
db_status_t store_order_set_manager(db_t *db, const char *order_id, const char *manager_id,
                                    int64_t now_ms, uint64_t *version_out);

/* Appends a history row (bulk: visible after commit). detail_json may be NULL. */
db_status_t store_history_add(db_t *db, const char *order_id, int64_t at_ms, const char *kind,
                              const char *from_status, const char *to_status, const char *actor_id,
                              const char *actor_role, const char *reason, const char *detail_json);

/* --- stock and totals -------------------------------------------------- */

typedef struct {
    uint32_t line_no;
    char sku[130];
    char name[210];
    int64_t quantity;
    int64_t sender_price_minor; /* -1 when none */
    int64_t unit_price_minor;   /* -1 until priced */
    uint32_t vat_rate_bp;
    uint32_t unit_weight_g;
    int64_t amount_minor, discount_minor, total_minor, vat_minor;
} order_line_t;

/* The order's lines in line order; caller frees *lines_out. */
db_status_t store_lines_get(db_t *db, const char *order_id, order_line_t **lines_out,
                            size_t *count_out);

/* store_lines_get, the order's delivery (store_order_delivery) and its
 * customer's contact (store_customer_contact) in one round trip; the
 * caller frees *lines_out and *delivery_json_out. */
db_status_t store_lines_reach(db_t *db, const char *order_id, order_line_t **lines_out,
                              size_t *count_out, char **delivery_json_out,
                              customer_contact_t *contact_out);

/* Locks and reads the orders of order_ids (each once) as
 * store_order_lock_reach would, in one round trip, for the run of stock
 * answers about to be applied: store_order_lock_reach then hands each of
 * them out once, without asking, until the transaction ends or rolls back
 * to a savepoint. An order not found, or changed while the run waited
 * for it, is asked for again as usual. */
db_status_t store_orders_lock_reach_ahead(db_t *db, const char *const *order_ids, size_t count);

/* store_order_lock and store_lines_reach in one round trip: the order
 * locked, its lines, delivery and customer's contact, all as committed when
 * the lock was had (a second round trip when the order changed while it
 * was waited for); when !*found nothing is returned, else the caller frees
 * *lines_out and *delivery_json_out. */
db_status_t store_order_lock_reach(db_t *db, const char *order_id, bool *found, order_t *order,
                                   order_line_t **lines_out, size_t *count_out,
                                   char **delivery_json_out, customer_contact_t *contact_out);

/* Writes prices and computed amounts of every line. */
db_status_t store_lines_set_amounts(db_t *db, const char *order_id, const order_line_t *lines,
                                    size_t count);

typedef struct {
    int64_t lines_minor, discount_minor, delivery_minor, vat_minor, total_minor, weight_g;
} order_totals_row_t;

db_status_t store_order_set_stock(db_t *db, const char *order_id, const char *stock_state,
                                  const order_totals_row_t *totals, uint64_t *version_out);

/* store_lines_set_amounts and store_order_set_stock(..., "reserved",
 * totals, ...) in one statement. */
db_status_t store_order_set_reserved(db_t *db, const char *order_id, const order_line_t *lines,
                                     size_t count, const order_totals_row_t *totals,
                                     uint64_t *version_out);

/* Reservations written at once: a run of stock.reserved adds each order it
 * priced (locked by this transaction and read at `version`, not written
 * since) and store_orders_set_reserved writes them all as
 * store_order_set_reserved would have, each to version + 1; it fails (not
 * transiently) unless every order was still at its version. The arrays
 * are the caller's, released by store_reserved_many_release. */
#define STORE_RESERVED_ORDER_COLUMNS 8  /* id, version, the six totals */
#define STORE_RESERVED_LINE_COLUMNS  10 /* order id, the lines' nine columns */
typedef struct {
    pg_array_t orders[STORE_RESERVED_ORDER_COLUMNS];
    pg_array_t lines[STORE_RESERVED_LINE_COLUMNS];
    size_t count;
} store_reserved_many_t;

void store_reserved_many_init(store_reserved_many_t *many);
/* 0 added, -1 out of memory (the run is then not to be written). */
int store_reserved_many_add(store_reserved_many_t *many, const char *order_id, uint64_t version,
                            const order_line_t *lines, size_t count,
                            const order_totals_row_t *totals);
db_status_t store_orders_set_reserved(db_t *db, store_reserved_many_t *many);
void store_reserved_many_release(store_reserved_many_t *many);

/* --- editing (editing.c) ---------------------------------------------- */

/* Replaces every line of the order with lines (line_no, sku, name,
 * quantity, sender price, and the price, VAT, weight and amounts when
 * unit_price_minor >= 0; NULL otherwise, until inventory prices them). */
db_status_t store_lines_replace(db_t *db, const char *order_id, const order_line_t *lines,
                                size_t count);

typedef struct {
    const char *delivery_json; /* NULL: unchanged */
    const char *method;        /* with delivery_json */
    const char *region;        /* with delivery_json */
    uint32_t discount_bp;
    const char *stock_state;
    const order_totals_row_t *totals;
    bool lines_changed; /* lines_version becomes the new version */
} order_edit_row_t;

/* Writes an edit onto the order; *version_out the new version. */
db_status_t store_order_edit(db_t *db, const char *order_id, const order_edit_row_t *edit,
                             uint64_t *version_out);

/* The delivery price for method x region x lines total (delivery_prices). */
db_status_t store_delivery_price(db_t *db, const char *method, const char *region,
                                 int64_t total_minor, int64_t *price_out);

db_status_t store_order_set_terms(db_t *db, const char *order_id, const char *payment_terms,
                                  const order_totals_row_t *totals);

/* Merges a JSON object into the order's payment or shipment state
 * (stream "payment"; "shipping", or "inventory" for a return, the parcel's
 * way back): latest fact wins per key. */
db_status_t store_order_merge_state(db_t *db, const char *order_id, const char *stream,
                                    const char *state_json);

/* The invoice the order's payment state names ("" when none). */
db_status_t store_order_invoice(db_t *db, const char *order_id, char *out, size_t out_size);

/* What the payment service last said was paid for the order (net of
 * refunds); 0 when it said nothing. */
db_status_t store_order_paid(db_t *db, const char *order_id, int64_t *paid_out);

/* A refund of the order as the payment service reported it (issue 11
 * item 4). refund_key: its refund id, or "request:<id>" for a request
 * refused before any refund was opened. Strings may be NULL (""). */
typedef struct {
    const char *order_id;
    const char *refund_key;
    bool succeeded; /* refund.succeeded; false: refund.failed */
    int64_t amount_minor;
    const char *reason; /* why it was asked: cancelled, excess, requested */
    const char *reason_code;
    const char *reason_text;
    int64_t at_ms;
} order_refund_t;

/* Records the refund once: *applied false when it is news already heard
 * (the same refund reported again, or a failure of a refund that
 * succeeded); a failure followed by its success is applied. */
db_status_t store_order_refund_claim(db_t *db, const order_refund_t *refund, bool *applied);

/* A paid order cancelled with its parcel out (returning.c): what the
 * payment service holds until the parcel is received; kept once. */
db_status_t store_refund_hold_open(db_t *db, const char *order_id, int64_t held_minor);

/* Locks the order's hold; *found false when it has none. */
db_status_t store_refund_hold_lock(db_t *db, const char *order_id, bool *found, int64_t *held_minor,
                                   int64_t *asked_minor);

/* Records the refund asked for a received return (request_id, amount)
 * and adds it to the hold's asked sum: *claimed false when that return
 * asked before (nothing written). */
db_status_t store_return_refund_claim(db_t *db, const char *order_id, const char *return_id,
                                      const char *request_id, int64_t amount_minor, bool *claimed);

/* --- staff and assignment ----------------------------------------------- */

/* Managers who could take an order in region_key now; caller frees. */
db_status_t store_candidates(db_t *db, const char *region_key, assign_candidate_t **out,
                             size_t *count_out);

/* Takes one capacity slot of the manager (refused by the database when
 * full, off shift or inactive): *taken false then. */
db_status_t store_manager_take_slot(db_t *db, const char *staff_id, int64_t now_ms, bool *taken,
                                    manager_contact_t *contact_out);
db_status_t store_manager_free_slot(db_t *db, const char *staff_id);
/* Whether the staff member serves region_key (by name, or every region);
 * false when there is no such person. */
db_status_t store_manager_serves(db_t *db, const char *staff_id, const char *region_key,
                                 bool *serves_out);

/* Orders waiting for a manager, oldest first (ids into out, up to max). */
db_status_t store_unassigned(db_t *db, int max, char (*ids_out)[37], int *count_out);

/* --- tasks -------------------------------------------------------------- */

typedef struct {
    const char *id;
    const char *kind;
    const char *order_id;    /* may be NULL */
    const char *assignee_id; /* may be NULL */
    const char *title;
    int64_t due_at_ms;
    const char *dedup_key; /* may be NULL */
    int64_t now_ms;
} task_insert_t;

/* Inserts a task with the transaction's deferred rows (no round trip),
 * skipped at COMMIT if its dedup key exists: for a task known to be new
 * (its key names a row this transaction made). */
db_status_t store_task_insert_deferred(db_t *db, const task_insert_t *task);

/* Inserts a task unless its dedup key exists: *created tells. */
db_status_t store_task_insert(db_t *db, const task_insert_t *task, bool *created);
db_status_t store_task_done(db_t *db, const char *task_id, const char *staff_id, bool admin,
                            int64_t now_ms, bool *done);
db_status_t store_tasks_json(db_t *db, const char *assignee_id, const char *status,
                             const page_t *page, json_t **out);

/* Business calendar exceptions (holidays, worked weekends) as days since
 * the epoch; caller frees. */
typedef struct {
    int32_t day;
    bool workday;
} calendar_row_t;
db_status_t store_calendar(db_t *db, calendar_row_t **rows_out, size_t *count_out);

/* --- staff administration and login ------------------------------------- */

typedef struct {
    char id[37];
    char name[210];
    char role[16];
    bool active;
    char password_hash[160];
} staff_login_t;

db_status_t store_staff_by_login(db_t *db, const char *login, bool *found, staff_login_t *out);
db_status_t store_staff_by_id(db_t *db, const char *id, bool *found, staff_login_t *out);

/* The login rate limit's state of a client (login.h): *tat_ms_out gets
 * its theoretical arrival time (now_ms for a client never seen), and the
 * row stays locked until the transaction ends. */
db_status_t store_login_throttle_take(db_t *db, const char *client, int64_t now_ms,
                                      int64_t *tat_ms_out);
db_status_t store_login_throttle_set(db_t *db, const char *client, int64_t tat_ms);

/* The failures under login from client and from every client (zero when
 * none were counted). lock: create the rows that are missing and hold
 * both until the transaction ends (now_ms is their provisional expiry). */
db_status_t store_login_guards(db_t *db, const char *login, const char *client, bool lock,
                               int64_t now_ms, login_guard_t *pair_out, login_guard_t *all_out);
/* client "" is every client's row; expires_ms when it may be deleted. */
db_status_t store_login_guard_set(db_t *db, const char *login, const char *client,
                                  const login_guard_t *guard, int64_t expires_ms);
db_status_t store_login_guard_clear(db_t *db, const char *login, const char *client);

/* Deletes a few rows of both tables that mean nothing any more. */
db_status_t store_login_purge(db_t *db, int64_t now_ms);
db_status_t store_refresh_insert(db_t *db, const char *token_sha256, const char *staff_id,
                                 int64_t expires_at_ms);
/* Uses a refresh token once: *staff_id_out gets its owner, "" when the
 * token is unknown, used or expired. */
db_status_t store_refresh_use(db_t *db, const char *token_sha256, int64_t now_ms,
                              char staff_id_out[37]);

typedef struct {
    const char *id;
    const char *login;
    const char *name;
    const char *email;
    const char *phone;
    const char *role;
    const char *regions_json; /* JSON array of strings */
    int64_t capacity;
    const char *password_hash;       /* may be NULL */
    const char *intake_sources_json; /* JSON array: the sources they may file under; NULL none */
} staff_insert_t;

/* *conflict true when the login is taken. */
db_status_t store_staff_insert(db_t *db, const staff_insert_t *staff, bool *conflict);
db_status_t store_staff_patch(db_t *db, const char *id, const char *patch_json, bool *found);
db_status_t store_staff_set_shift(db_t *db, const char *id, bool on_shift, int64_t now_ms,
                                  bool *found);
db_status_t store_staff_json(db_t *db, const char *id, json_t **out); /* NULL: not found */
/* Whether an active staff member was granted filing orders under source
 * (staff.intake_sources). */
db_status_t store_staff_may_file(db_t *db, const char *staff_id, const char *source, bool *may_out);
db_status_t store_staff_list_json(db_t *db, json_t **out);

/* --- reading ------------------------------------------------------------ */

typedef struct {
    const char *status, *group, *manager_id, *delivery_method, *channel, *source;
    int64_t from_ms, to_ms; /* 0: open */
} order_filter_t;

db_status_t store_orders_json(db_t *db, const order_filter_t *filter, const page_t *page,
                              json_t **out);
db_status_t store_order_json(db_t *db, const char *order_id, json_t **out); /* NULL: not found */
db_status_t store_rejections_json(db_t *db, const char *source, const page_t *page, json_t **out);
db_status_t store_statuses_json(db_t *db, json_t **out);
db_status_t store_transitions_json(db_t *db, json_t **out);

/* by: "region", "manager", "channel" or "source". */
db_status_t store_report_sales_json(db_t *db, const char *by, int64_t from_ms, int64_t to_ms,
                                    json_t **out);
db_status_t store_report_people_json(db_t *db, int64_t from_ms, int64_t to_ms, json_t **out);

/* --- claims (F30; claims.h, claiming.c) --------------------------------- */

/* The order a claim is filed for, locked: {id, number, status,
 * customer_id, channel, lines: [{line_no, sku, name, quantity,
 * total_minor, vat_rate_bp}], claimed: {"<line_no>": units named by its
 * claims that were not rejected}}; *out NULL for no such order. */
db_status_t store_claim_order_json(db_t *db, const char *order_id, json_t **out);

typedef struct {
    const char *id, *order_id, *name, *type, *reason, *comment;
    const char *lines_json;
    int64_t amount_minor;
    const char *created_by;
    int64_t at_ms;
} claim_row_t;

db_status_t store_claim_insert(db_t *db, const claim_row_t *row);
db_status_t store_claim_attachment_add(db_t *db, const char *id, const char *claim_id,
                                       const char *filename, const char *content_type,
                                       const unsigned char *data, size_t len, int64_t at_ms);
/* How many attachments the claim holds and their bytes together. */
db_status_t store_claim_attachment_totals(db_t *db, const char *claim_id, int64_t *count_out,
                                          int64_t *bytes_out);
/* The order card's claims: [{id, name, type, reason, status, created_at,
 * decided_at, completed_at}], oldest first, at most `limit`; *out an
 * empty array for none. */
db_status_t store_order_claims_json(db_t *db, const char *order_id, int64_t limit, json_t **out);
db_status_t store_claim_history_add(db_t *db, const char *claim_id, int64_t at_ms, const char *from,
                                    const char *to, const char *actor_id, const char *actor_role,
                                    const char *comment);

/* The claim, locked, as the events carry it: {id, order_id, order_number,
 * customer_id, channel, name, type, reason, comment, status, lines,
 * amount_minor, decision, replacement_order_id, refund_request_id};
 * *out NULL for no such claim. */
db_status_t store_claim_lock_json(db_t *db, const char *claim_id, json_t **out);

/* A move of the claim to status at at_ms. decision (NULL: none) and its
 * comment are kept; approved and rejected stamp decided_at, completed
 * completed_at; replacement_order_id and refund_request_id (NULL: kept)
 * are set. */
typedef struct {
    const char *claim_id, *status, *decision, *comment;
    const char *replacement_order_id, *refund_request_id;
    int64_t at_ms;
} claim_move_row_t;
db_status_t store_claim_move(db_t *db, const claim_move_row_t *row);

/* The claim for the API: everything, its attachments' names and sizes and
 * its history; NULL when none. */
db_status_t store_claim_json(db_t *db, const char *claim_id, json_t **out);

typedef struct {
    const char *order_id, *status, *type; /* NULL: any */
} claim_filter_t;
/* A page of claims, newest first: {items, last}. */
db_status_t store_claims_json(db_t *db, const claim_filter_t *filter, const page_t *page,
                              json_t **out);

/* One attachment's bytes; *found false when the claim has no such one. */
db_status_t store_claim_attachment(db_t *db, const char *claim_id, const char *attachment_id,
                                   bool *found, char *filename, size_t filename_size,
                                   char *content_type, size_t content_type_size,
                                   unsigned char **data_out, size_t *len_out);

/* F30's report over claims created in [from, to): counts by type, reason
 * and status; median and mean hours to the decision and to completion. */
db_status_t store_report_claims_json(db_t *db, int64_t from_ms, int64_t to_ms, json_t **out);

/* An exchange's replacement order is free: no delivery price either. */
db_status_t store_order_free_delivery(db_t *db, const char *order_id);

#endif
