/*
 * store.h — every SQL statement of the payment service (STYLE.md).
 *
 * All statements are prepared (store_setup registers them on each session
 * the kit opens for the service) and take their values as parameters.
 *
 * Locking discipline: an order's row first (store_order_lock), then its
 * invoices and refunds. Every movement of money — a payment reported by a
 * callback or a poll, cash collected, a refund landing — locks the order,
 * writes its ledger row (unique by the bank's id for the movement: a
 * second report writes nothing) and the order's sums in the same
 * transaction, so the sums are always the ledger's.
 *
 * Every db_status_t follows db.h: DB_OK, DB_TRANSIENT (retry the whole
 * transaction later), DB_ERROR (db_sqlstate() says which constraint).
 */
#ifndef PAYMENT_STORE_H
#define PAYMENT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/uuid.h"
#include "services/payment/ledger.h"

/* Registers every statement on db (service_def_t.db_setup). 0 ok, -1 OOM. */
int store_setup(db_t *db, void *arg);

#define STORE_UNIQUE_VIOLATION "23505"

#define STORE_REF_MAX      64   /* our_ref: Sberbank's orderNumber, YooKassa's Idempotence-Key */
#define STORE_BANK_ID_MAX  100  /* the bank's id of an invoice or refund */
#define STORE_URL_MAX      2000 /* a payment link */
#define STORE_CODE_MAX     64   /* a bank's error code, as we keep it */
#define STORE_REASON_MAX   300  /* a bank's words, as we keep them */
#define STORE_PROVIDER_MAX 15

/* ------------------------------------------------------------------ */
/* orders                                                               */

/* What payment knows of an order. */
typedef struct {
    char order_id[UUID_TEXT_SIZE];
    uint64_t version;
    int64_t number;
    char currency[4];
    char customer_email[201];
    char customer_name[401]; /* for the invoice's PDF; "" when none */
    char customer_phone[33];
    ledger_position_t position; /* terms, total, received, refunded, refunding, waived,
                                   cancelled */
    pay_status_t status;
} pay_order_t;

/* Writes the order as order.confirmed says (receipt: the receipt lines as
 * JSON, borrowed) unless a version at least as new is stored: *applied
 * false then, nothing written. Sums, status and cancelled stay as they
 * are on an existing row; status is set for a new one. */
db_status_t store_order_confirmed(db_t *db, const pay_order_t *order, const json_t *receipt,
                                  bool *applied_out);

/* Locks the order's row and reads it; *found false when payment never
 * heard of it. */
db_status_t store_order_lock(db_t *db, const char *order_id, pay_order_t *order_out,
                             bool *found_out);

/* Records a cancellation heard before the confirmation: a row with no
 * terms worth billing (total 0, cancelled), so a late confirmation of an
 * older version is ignored. No-op when the row exists. */
db_status_t store_order_cancelled_unknown(db_t *db, const char *order_id, uint64_t version,
                                          int64_t number);

/* Writes the locked order's sums (waived too), status, cancelled flag and version. */
db_status_t store_order_write(db_t *db, const pay_order_t *order);

/* The order's confirmed receipt lines (JSON array; caller owns *out). */
db_status_t store_order_receipt(db_t *db, const char *order_id, json_t **out);

/* ------------------------------------------------------------------ */
/* invoices                                                             */

typedef enum {
    INVOICE_REGISTERING = 0, /* written; the bank is being asked */
    INVOICE_OPEN,            /* the bank gave a payment link */
    INVOICE_PAID,
    INVOICE_EXPIRED,
    INVOICE_CANCELLED,
    INVOICE_FAILED,
} invoice_status_t;

const char *invoice_status_name(invoice_status_t status);
int invoice_status_parse(const char *name, invoice_status_t *status);
/* Whether an invoice may move from one status to the other (forward only). */
bool invoice_may_move(invoice_status_t from, invoice_status_t to);

typedef struct {
    char invoice_id[UUID_TEXT_SIZE];
    char order_id[UUID_TEXT_SIZE];
    uint64_t order_version;
    char provider[STORE_PROVIDER_MAX + 1];
    char our_ref[STORE_REF_MAX + 1];
    char bank_id[STORE_BANK_ID_MAX + 1]; /* "" until the bank answered */
    int64_t amount_minor;
    char currency[4];
    char payment_url[STORE_URL_MAX + 1];
    invoice_status_t status;
    int64_t expires_at_ms;
} invoice_row_t;

/* Inserts a new invoice in status registering (receipt borrowed). */
db_status_t store_invoice_insert(db_t *db, const invoice_row_t *invoice, const json_t *receipt);

/* Locks an invoice by our id; *found false when there is none. */
db_status_t store_invoice_lock(db_t *db, const char *invoice_id, invoice_row_t *out,
                               bool *found_out);
/* Reads (without a lock) an invoice by the bank's id or by our reference,
 * to learn its order: lock the order, then the invoice by id. */
db_status_t store_invoice_find_by_bank(db_t *db, const char *provider, const char *bank_id,
                                       invoice_row_t *out, bool *found_out);
db_status_t store_invoice_find_by_ref(db_t *db, const char *our_ref, invoice_row_t *out,
                                      bool *found_out);

/* The invoice's receipt lines (caller owns *out). */
db_status_t store_invoice_receipt(db_t *db, const char *invoice_id, json_t **out);

/* The bank registered the invoice: its id and link, status open. *moved
 * false when it was no longer registering (nothing written). */
db_status_t store_invoice_registered(db_t *db, const char *invoice_id, const char *bank_id,
                                     const char *payment_url, bool *moved_out);

/* Moves a locked invoice to status (the caller checked invoice_may_move),
 * with the bank's code and words for a failure (may be NULL). */
db_status_t store_invoice_move(db_t *db, const char *invoice_id, invoice_status_t status,
                               const char *failure_code, const char *failure_reason);

/* The bank's id of an invoice that was not registering any more when the
 * bank was found to hold it (cancelled or expired while its registration's
 * answer was lost or late): kept so that its void names it. A no-op when
 * the invoice has one. */
db_status_t store_invoice_found_at_bank(db_t *db, const char *invoice_id, const char *bank_id);

/* A new reference for an invoice still registering (Sberbank refuses a
 * repeated orderNumber: a registration whose answer was lost and that the
 * bank did take is abandoned and registered again under another). */
db_status_t store_invoice_rereference(db_t *db, const char *invoice_id, const char *our_ref);

/* How many of the order's invoices failed (declined at the bank, or
 * refused at registration): the bound on new links after a decline. */
db_status_t store_invoices_failed_count(db_t *db, const char *order_id, int64_t *count_out);

/* The ids of the order's invoices still registering or open (capacity
 * max; *count_out how many). */
db_status_t store_invoices_live(db_t *db, const char *order_id, char (*ids)[UUID_TEXT_SIZE],
                                size_t max, size_t *count_out);

/* A paid invoice and what of it may still be asked back. */
typedef struct {
    char invoice_id[UUID_TEXT_SIZE];
    char provider[STORE_PROVIDER_MAX + 1];
    char bank_id[STORE_BANK_ID_MAX + 1];
    int64_t refundable_minor; /* its payments - its refunds, pending ones included */
    int64_t whole_minor;      /* the invoice's amount, paid once and nothing refunded yet */
} refundable_invoice_t;

/* The order's invoices with money left to refund, oldest first (capacity
 * max). */
db_status_t store_invoices_refundable(db_t *db, const char *order_id, refundable_invoice_t *out,
                                      size_t max, size_t *count_out);

/* ------------------------------------------------------------------ */
/* the ledger                                                           */

typedef enum {
    LEDGER_KIND_PAYMENT = 0, /* "payment": from the bank */
    LEDGER_KIND_COLLECTED,   /* "collected": cash on delivery */
    LEDGER_KIND_MANUAL,      /* "manual": recorded by a person */
    LEDGER_KIND_REFUND,      /* "refund": went back */
} ledger_kind_t;

typedef struct {
    const char *order_id;
    const char *invoice_id; /* NULL for cash collected and manual records */
    ledger_kind_t kind;
    const char *provider;     /* "sberbank", "yookassa", "courier", "manual" ... */
    const char *movement_ref; /* the bank's id for the movement, or ours */
    int64_t amount_minor;
    const char *currency;
    int64_t paid_minor; /* the order's figures right after it */
    int64_t due_minor;
    const char *actor; /* who reported it; NULL for the bank */
    int64_t at_ms;
} ledger_entry_t;

/* Appends the entry; *recorded false when (provider, movement_ref) was
 * already recorded (a repeated report: nothing written). */
db_status_t store_ledger_append(db_t *db, const ledger_entry_t *entry, bool *recorded_out);

/* A batch of payments in two statements instead of several each (the
 * callbacks' group commit, money_paid_many): */

/* An invoice and its order, both locked. */
typedef struct {
    invoice_row_t invoice;
    pay_order_t order;
} paid_locked_t;

/* Locks the invoices of provider named by bank_ids (count of them; a name
 * may repeat) with their orders, the orders in the order of their ids and
 * each before its invoice; out (capacity count) gets those found, in that
 * order, *count_out how many. */
db_status_t store_paid_lock_many(db_t *db, const char *provider, const char *const *bank_ids,
                                 size_t count, paid_locked_t *out, size_t *count_out);

/* A payment of a batch: its ledger row (kind payment) and, if that row is
 * new, what follows from it. */
typedef struct {
    ledger_entry_t entry;
    bool invoice_paid;      /* move the (locked) invoice to paid */
    int64_t received_minor; /* the (locked) order's received sum after it */
    pay_status_t status;    /* and its status */
} paid_record_t;

/* Appends every record's ledger row; for each one new (recorded_out[i]),
 * moves its invoice to paid if asked and writes its order's received sum
 * and status. Each record must be of another order. One statement. */
db_status_t store_paid_record_many(db_t *db, const paid_record_t *records, size_t count,
                                   bool *recorded_out);

/* ------------------------------------------------------------------ */
/* refunds                                                              */

typedef enum {
    REFUND_PENDING = 0,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
    REFUND_UNKNOWN,
} refund_status_t;

const char *refund_status_name(refund_status_t status);
int refund_status_parse(const char *name, refund_status_t *status);

typedef struct {
    char refund_id[UUID_TEXT_SIZE];
    char order_id[UUID_TEXT_SIZE];
    char invoice_id[UUID_TEXT_SIZE];
    char our_ref[STORE_REF_MAX + 1];
    char bank_refund_id[STORE_BANK_ID_MAX + 1];
    int64_t amount_minor;
    char reason[16];       /* cancelled, excess, requested */
    char claim_id[101];    /* "" when none */
    char request_ref[201]; /* refund.requested's request_id; "" when none */
    refund_status_t status;
} refund_row_t;

/* Inserts a pending refund (receipt borrowed). *created false when a
 * refund for the same request_ref exists (nothing written). */
db_status_t store_refund_insert(db_t *db, const refund_row_t *refund, const json_t *receipt,
                                bool *created_out);
/* Whether refunds were opened for this refund.requested's request_id
 * (their request_ref "<request_id>/<part>"). */
db_status_t store_refund_request_known(db_t *db, const char *request_id, bool *known_out);
db_status_t store_refund_lock(db_t *db, const char *refund_id, refund_row_t *out, bool *found_out);
db_status_t store_refund_receipt(db_t *db, const char *refund_id, json_t **out);
/* The refund the bank knows by bank_refund_id; *found false when none. */
db_status_t store_refund_find_by_bank(db_t *db, const char *bank_refund_id,
                                      char refund_id[UUID_TEXT_SIZE], bool *found_out);
/* What was refunded on the invoice, succeeded, but for refund_id. */
db_status_t store_refunded_before(db_t *db, const char *invoice_id, const char *refund_id,
                                  int64_t *amount_out);
/* Moves a locked refund (bank_refund_id, code and reason may be NULL). */
db_status_t store_refund_move(db_t *db, const char *refund_id, refund_status_t status,
                              const char *bank_refund_id, const char *failure_code,
                              const char *failure_reason);

/* ------------------------------------------------------------------ */
/* callbacks                                                            */

/* One accepted callback of a batch, kept by its event id before it is
 * answered. */
typedef struct {
    const char *event_id; /* distinct within a batch */
    const char *body;
    int times;    /* deliveries of it in the batch (times_received grows by it) */
    bool applied; /* out: an earlier delivery was applied already */
    bool fresh;   /* out: stored now for the first time, marked applied */
} callback_keep_t;

/* Keeps a batch of believed callbacks in one statement: stored the first
 * time, counted again after; each one's applied says whether an earlier
 * delivery was applied (a concurrent transaction keeping the same event
 * is waited for). A fresh one is stored marked applied, which saves a
 * statement: the caller applies it or forgets it in the same transaction
 * (a stored row was always applied, or it was forgotten); one stored
 * before and never applied (none is) is marked by store_callbacks_applied
 * once applied. */
db_status_t store_callbacks_keep(db_t *db, const char *provider, callback_keep_t *callbacks,
                                 size_t count);
/* Marks kept callbacks applied. */
db_status_t store_callbacks_applied(db_t *db, const char *provider, const char *const *event_ids,
                                    size_t count);
/* Forgets kept callbacks not applied before: verified, but about nothing
 * of ours (anyone's signed news must not fill the table). */
db_status_t store_callbacks_forget(db_t *db, const char *provider, const char *const *event_ids,
                                   size_t count);

/* ------------------------------------------------------------------ */
/* what the API shows                                                   */

/* {"order_id", "payment_status", "terms", "total_minor", "paid_minor",
 *  "due_minor", "refunding_minor", "currency", "cancelled",
 *  "invoices": [...], "ledger": [...], "refunds": [...]}; *out NULL when
 * payment never heard of the order. Caller owns it. */
db_status_t store_order_money_json(db_t *db, const char *order_id, json_t **out);

/* One invoice as the API shows it (receipt included); NULL when none. */
db_status_t store_invoice_json(db_t *db, const char *invoice_id, json_t **out);
/* What the invoice's PDF prints (document.h): the invoice with its order's
 * number and the customer's contacts; NULL *out when there is none. */
db_status_t store_invoice_document_json(db_t *db, const char *invoice_id, json_t **out);

#endif
