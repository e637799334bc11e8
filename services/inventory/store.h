/*
 * store.h — every SQL statement of the inventory service (STYLE.md).
 *
 * All statements are prepared (store_setup registers them on each
 * session the kit opens for the service) and take their values as
 * parameters; lists travel as binary arrays (pgarray.h) so that an order's
 * lines, or an import's thousands of rows, are one statement each.
 *
 * Locking discipline, which every writer of stock follows so that two
 * writers of the same stock serialise instead of deadlocking where it can
 * be avoided: an order's row first (store_order_lock, store_waiting_batch),
 * then the products' rows in SKU order (store_products_lock*, through the
 * transaction's stock cache, stockcache.h), then the writes — the stock of
 * every product a transaction changed in one statement at COMMIT
 * (store_stock_write), guarded by what was read under the lock. The
 * applier's batch transaction takes its products' row locks order by
 * order and holds them until it commits; a concurrent writer that locks
 * in another order is resolved by PostgreSQL's deadlock detection, which
 * the loser answers as a transient failure and retries.
 *
 * Every db_status_t follows db.h: DB_OK, DB_TRANSIENT (retry the whole
 * transaction later), DB_ERROR (db_sqlstate() says which constraint).
 */
#ifndef INVENTORY_STORE_H
#define INVENTORY_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "services/inventory/catalogue.h"
#include "services/inventory/stock.h"

/* Registers every statement on db (the kit's db_setup, service_def_t:
 * every session the kit opens for the service). arg unused. 0 ok, -1 out
 * of memory. */
int store_setup(db_t *db, void *arg);

/* SQLSTATEs of the constraint violations callers map to answers. */
#define STORE_UNIQUE_VIOLATION "23505"
#define STORE_CHECK_VIOLATION  "23514"
#define STORE_FK_VIOLATION     "23503"

/* ------------------------------------------------------------------ */
/* products                                                             */

/* One product as stored. Empty text means SQL NULL for the nullable
 * fields (the catalogue never stores empty text). */
typedef struct {
    char sku[CATALOGUE_SKU_MAX + 1];
    char external_code[CATALOGUE_CODE_MAX + 1];
    char name[CATALOGUE_NAME_CHARS * 4 + 1];
    char currency[4];
    char buyer_id[CATALOGUE_TEXT_MAX + 1];
    char buyer_name[CATALOGUE_TEXT_MAX + 1];
    char buyer_email[CATALOGUE_TEXT_MAX + 1];
    int64_t price_minor;
    int32_t vat_rate_bp;
    int32_t weight_g;
    bool active;
    stock_level_t level; /* on_hand, reserved, low_stock_threshold, low_alerted */
} product_row_t;

/* Locks the products named by skus (any order, duplicates allowed) in SKU
 * order, FOR UPDATE, and reads them into rows (capacity sku_count, sorted
 * by SKU); unknown SKUs are simply absent. */
db_status_t store_products_lock(db_t *db, const char *const *skus, size_t sku_count,
                                product_row_t *rows, size_t *count_out);

/* Inserts a new product (its on_hand as given, reserved 0). DB_ERROR with
 * STORE_UNIQUE_VIOLATION if the SKU or external code is taken. */
db_status_t store_product_insert(db_t *db, const product_row_t *product);

/* Writes every editable column and the low flag of a locked product. */
db_status_t store_product_write(db_t *db, const product_row_t *product);

/* The product as the API shows it (with available, low and the next
 * expected supply); *product_out NULL when there is none. Caller owns it. */
db_status_t store_product_json(db_t *db, const char *sku, json_t **product_out);

typedef struct {
    int active; /* -1 any, 0 inactive, 1 active */
    bool low_only;
    const char *query;     /* NULL, or text to find in sku, name or external code */
    const char *after_sku; /* NULL for the first page */
    int limit;
} product_filter_t;

/* A page of products in SKU order, as the API shows them. Caller owns
 * *items_out (a JSON array). */
db_status_t store_products_page(db_t *db, const product_filter_t *filter, json_t **items_out);

/* ------------------------------------------------------------------ */
/* orders and reservations                                              */

typedef struct {
    bool found;
    int64_t version;
    char status[16];
} order_state_t;

/* Locks the order's row (FOR UPDATE) and reads it; found false if
 * inventory has never heard of the order. */
db_status_t store_order_lock(db_t *db, const char *order_id, order_state_t *state_out);

typedef struct {
    const char *order_id;
    uint64_t version;
    uint64_t number;
    const char *currency;
} order_ref_t;

/* The longest SKU an order line may name (a line naming a SKU the
 * catalogue cannot hold is simply unknown; past this it is malformed). */
#define STORE_ORDER_SKU_MAX 200

/* An order line with what holding it needs. */
typedef struct {
    uint32_t line_no;
    char sku[STORE_ORDER_SKU_MAX + 1];
    int64_t quantity;
    int64_t unit_price_minor;
    int32_t vat_rate_bp;
    int32_t weight_g;
} order_line_t;

/* What one product gives or gets back, and its low flag afterwards. */
typedef struct {
    const char *sku;
    int64_t quantity;
    bool low_alerted;
} sku_change_t;

/* Records the held order at the end of the transaction (bulk.h): its
 * row (reserved, at this version; a waiting order's waiting lines go) and
 * one reservation row per line. The products' stock is written by the
 * stock cache (stockcache.h). */
db_status_t store_hold_deferred(db_t *db, const order_ref_t *order, const order_line_t *lines,
                                size_t line_count);

/* A product's stock as a transaction leaves it, and as it found it. */
typedef struct {
    const char *sku;
    int64_t on_hand, reserved;
    bool low_alerted;
    int64_t was_on_hand, was_reserved;
} stock_write_t;

/* Writes the stock of many products in one statement — only where each
 * still has the stock it was read with (the rows are locked, so anything
 * else is a bug) — and says how many it wrote. The CHECKs on products are
 * the last guard: reserved never above on hand, neither below zero. */
db_status_t store_stock_write(db_t *db, const stock_write_t *rows, size_t count,
                              int64_t *written_out);

/* Marks the order waiting for stock (keeping its place if it already
 * waited) with its lines. */
db_status_t store_wait(db_t *db, const order_ref_t *order, const order_line_t *lines,
                       size_t line_count);

/* Records the order at this version with a status that holds no stock
 * ("cancelled", "delivered", or the status it already has), dropping any
 * waiting lines. */
db_status_t store_order_record(db_t *db, const order_ref_t *order, const char *status);

/* An edit (order.changed) replaces what the order holds or waits with:
 * its held reservation rows go (the ledger keeps their release), or its
 * waiting lines go (the order keeps its place). */
db_status_t store_reservations_drop(db_t *db, const char *order_id);
db_status_t store_waiting_lines_drop(db_t *db, const char *order_id);

/* The order version its held reservation was made for; 0 when it holds
 * nothing. */
db_status_t store_held_version(db_t *db, const char *order_id, uint64_t *version_out);

/* The order's held reservation lines, by line number (capacity cap). */
db_status_t store_held_lines(db_t *db, const char *order_id, order_line_t *lines, size_t cap,
                             size_t *count_out);

/* Closes the order's held reservations (released, or committed when
 * written off) and records the order's new status and version. The
 * products' stock is the caller's (the stock cache). */
db_status_t store_reservations_close(db_t *db, const order_ref_t *order, bool write_off,
                                     const char *status, int64_t *closed_out);

/* The next expected supply of each SKU that has one. */
typedef struct {
    char sku[CATALOGUE_SKU_MAX + 1];
    char expected_date[11]; /* YYYY-MM-DD */
    int64_t supply_id;
} next_supply_t;

db_status_t store_next_supplies(db_t *db, const char *const *skus, size_t sku_count,
                                next_supply_t *out, size_t *count_out);

/* A waiting order, oldest first. */
typedef struct {
    char order_id[37];
    int64_t version;
    int64_t waiting_no;
    char currency[4];
} waiting_order_t;

/* Locks (FOR UPDATE) up to limit waiting orders after waiting_no
 * after_no, oldest first, that wait for any of skus (all waiting orders
 * when sku_count is 0). */
db_status_t store_waiting_batch(db_t *db, const char *const *skus, size_t sku_count,
                                int64_t after_no, int limit, waiting_order_t *out,
                                size_t *count_out);

/* The lines a waiting order waits with. */
db_status_t store_waiting_lines(db_t *db, const char *order_id, order_line_t *lines, size_t cap,
                                size_t *count_out);

/* The order's reservations and status, as the API shows them; *out NULL
 * when inventory does not know the order. Caller owns it. */
db_status_t store_order_json(db_t *db, const char *order_id, json_t **out);

/* Waiting orders, oldest first, as the API shows them. */
db_status_t store_waiting_json(db_t *db, int limit, json_t **out);

/* ------------------------------------------------------------------ */
/* supplies                                                             */

typedef struct {
    char sku[CATALOGUE_SKU_MAX + 1];
    int64_t quantity;
} supply_line_t;

/* Records an expected supply; *id_out is its id. */
db_status_t store_supply_insert(db_t *db, const char *expected_date, const char *supplier,
                                const char *comment, const char *actor, const supply_line_t *lines,
                                size_t line_count, int64_t *id_out);

/* Of skus, those that are not in the catalogue. Caller owns *missing_out
 * (a JSON array of strings). */
db_status_t store_unknown_skus(db_t *db, const char *const *skus, size_t sku_count,
                               json_t **missing_out);

/* Locks a supply and reads its status ("" when there is none) and lines
 * (capacity cap, by SKU). */
db_status_t store_supply_lock(db_t *db, int64_t id, char status_out[16], supply_line_t *lines,
                              size_t cap, size_t *count_out);

/* Marks the supply received by actor with these quantities. */
db_status_t store_supply_received(db_t *db, int64_t id, const char *actor,
                                  const supply_line_t *lines, size_t line_count);

/* How many orders wait for each of skus; counts_out[i] for skus[i]. */
db_status_t store_waiting_counts(db_t *db, const char *const *skus, size_t sku_count,
                                 int64_t *counts_out);

/* One supply, or a page of supplies (newest first, before id before_id
 * when > 0; status NULL for all), as the API shows them. */
db_status_t store_supply_json(db_t *db, int64_t id, json_t **out);
db_status_t store_supplies_page(db_t *db, const char *status, const char *sku, int64_t before_id,
                                int limit, json_t **items_out);

/* ------------------------------------------------------------------ */
/* imports                                                              */

/* An import row made ready for SQL; strings NULL where not given. */
typedef struct {
    const char *sku, *external_code, *name, *currency, *buyer_id, *buyer_name, *buyer_email;
    bool clear_external_code, clear_buyer_id, clear_buyer_name, clear_buyer_email;
    bool has_price, has_vat, has_weight, has_threshold, has_active, has_on_hand;
    int64_t price_minor, low_stock_threshold, on_hand;
    int32_t vat_rate_bp, weight_g;
    bool active;
    bool low_alerted; /* the low flag to store */
} import_sql_row_t;

/* The products an import names, locked in SKU order; the same as
 * store_products_lock but for thousands of SKUs at once. Caller owns
 * *rows_out (free()). */
db_status_t store_products_lock_many(db_t *db, const char *const *skus, size_t sku_count,
                                     product_row_t **rows_out, size_t *count_out);

/* The same, for an order being placed: also says whether inventory
 * already knows the order (its row is not locked: only the applier creates
 * orders), in the same round trip. */
db_status_t store_products_lock_for_order(db_t *db, const char *const *skus, size_t sku_count,
                                          const char *order_id, product_row_t **rows_out,
                                          size_t *count_out, bool *order_known_out);

/* Whether inventory knows the order at all (no lock). */
db_status_t store_order_known(db_t *db, const char *order_id, bool *known_out);

/* External codes held by products, among codes. Caller owns *out (free
 * the array and its strings with store_codes_free). */
typedef struct {
    char *external_code;
    char *sku;
} store_code_t;
db_status_t store_codes_held(db_t *db, const char *const *codes, size_t code_count,
                             store_code_t **out, size_t *count_out);
void store_codes_free(store_code_t *codes, size_t count);

/* New products (all required fields present) and updates of known ones
 * (NULL fields keep their value), each one statement. */
db_status_t store_import_insert(db_t *db, const import_sql_row_t *rows, size_t count);
db_status_t store_import_update(db_t *db, const import_sql_row_t *rows, size_t count);

/* Records the import; *id_out is its id. */
db_status_t store_import_record(db_t *db, bool csv, int rows, int created, int updated,
                                int stock_changed, const char *actor, int64_t *id_out);

/* ------------------------------------------------------------------ */
/* returns                                                              */

/* The order a return id was recorded for, if any. */
db_status_t store_return_order(db_t *db, const char *return_id, char *order_id_out, size_t cap,
                               bool *found_out);

/* A shipped order line — written off at delivery, or still held for a
 * parcel not delivered: how many shipped, how many of them earlier returns
 * brought back. */
typedef struct {
    uint32_t line_no;
    char sku[STORE_ORDER_SKU_MAX + 1];
    int64_t shipped;
    int64_t returned;
} returnable_line_t;

/* The order's committed lines (held: its held lines, a parcel that was
 * not delivered) by line number (capacity cap). */
db_status_t store_returnable_lines(db_t *db, const char *order_id, bool held,
                                   returnable_line_t *lines, size_t cap, size_t *count_out);

/* A line of a return as received. */
typedef struct {
    uint32_t line_no;
    char sku[STORE_ORDER_SKU_MAX + 1]; /* filled from the order line */
    int64_t quantity;
    bool damaged;
    const char *reason; /* damaged: why; "" otherwise */
} return_line_t;

typedef struct {
    const char *return_id;
    const char *order_id;
    const char *kind; /* refused, returned, brought_back */
    const char *actor;
    const char *comment;
    const return_line_t *lines;
    size_t line_count;
    bool whole; /* with it every unit shipped has come back */
} return_record_t;

/* The order's returns, oldest first, with their lines (sellable before
 * damaged), as the API shows them; *out NULL when inventory has not heard
 * of the order. Caller owns *out. */
db_status_t store_returns_json(db_t *db, const char *order_id, json_t **out);

/* Records the return and its lines (the primary key refuses a second
 * record of the same return id). */
db_status_t store_return_record(db_t *db, const return_record_t *record);

/* ------------------------------------------------------------------ */
/* the ledger and reconciliation                                        */

typedef struct {
    const char *sku;
    int64_t on_hand_delta;
    int64_t reserved_delta;
    const char *cause; /* order, supply, import, correction */
    const char *kind;  /* reserve, release, write_off, receive, import, correction */
    const char *ref;
    uint32_t line_no; /* 0: none */
    const char *actor;
    const char *note;
} movement_t;

/* Adds a ledger row to the transaction's bulk insert (written just before
 * COMMIT, in one statement with the transaction's other movements). */
db_status_t store_movement_add(db_t *db, const movement_t *movement);

/* Per product: on hand and reserved against the ledger's sums and the
 * open reservations; plus orders whose status and reservations disagree.
 * Caller owns *report_out: {"clean", "products_checked", "mismatches":
 * [...], "orders": [...], "products": [...] (all when all_products)}. */
db_status_t store_reconciliation(db_t *db, bool all_products, json_t **report_out);

#endif
