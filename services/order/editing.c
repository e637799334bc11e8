/*
 * editing.c — a manager's edit of an order (editing.h).
 *
 * An edit changes what the order is, never where it stands: the status
 * does not move. What the order costs is recomputed here by the totals rule
 * from the prices the order already has (a kept line keeps its reserved
 * price; a new line has none until inventory prices it with stock.reserved
 * of the new version, which stock.c turns into order.reserved with the
 * final totals). A new delivery for the same lines is announced with
 * order.reserved at once, so that the shipping service quotes it again
 * (it re-quotes a newer order.reserved until the shipment is created).
 */
#include "services/order/editing.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "services/order/assignment.h"
#include "services/order/events.h"
#include "services/order/funnel.h"
#include "services/order/rules.h"
#include "services/order/store.h"
#include "services/order/totals.h"

int editing_read(const json_t *body, submission_t *sub, order_edit_t *edit, json_t **errors_out)
{
    *errors_out = NULL;
    const json_t *lines = json_object_get(body, "lines");
    const json_t *delivery = json_object_get(body, "delivery");
    const json_t *discount = json_object_get(body, "discount_bp");
    const json_t *reason = json_object_get(body, "reason");
    edit->has_lines = lines && !json_is_null(lines);
    edit->has_delivery = delivery && !json_is_null(delivery);
    edit->has_discount = discount && !json_is_null(discount);
    edit->contents = sub;
    edit->reason = json_string_value(reason);
    problems_t found;
    json_t *shaped = json_object();
    if (!shaped || problems_init(&found) != 0) {
        json_decref(shaped);
        return -1;
    }
    if (reason && !json_is_null(reason) && (!edit->reason || strlen(edit->reason) > 1000))
        problems_add(&found, "reason", "invalid", "reason is a text of at most 1000 bytes");
    if (!edit->has_lines && !edit->has_delivery && !edit->has_discount)
        problems_add(&found, "lines", "required",
                     "give at least one of lines, delivery or discount_bp");
    if (edit->has_lines)
        json_object_set(shaped, "items", (json_t *)(uintptr_t)lines);
    if (edit->has_delivery)
        json_object_set(shaped, "delivery", (json_t *)(uintptr_t)delivery);
    if (edit->has_discount)
        json_object_set(shaped, "discount_bp", (json_t *)(uintptr_t)discount);
    int rc = submission_from_json(shaped, sub, &found);
    json_decref(shaped);
    if (rc == 0)
        intake_validate_contents(sub, edit->has_lines, edit->has_delivery, &found);
    json_t *errors = problems_take(&found);
    problems_release(&found);
    if (rc != 0 || !errors) {
        json_decref(errors);
        return -1;
    }
    size_t i;
    json_t *error;
    json_array_foreach(errors, i, error)
    {
        const char *field = json_string_value(json_object_get(error, "field"));
        if (!field || strncmp(field, "items", 5) != 0)
            continue;
        char renamed[160];
        snprintf(renamed, sizeof renamed, "lines%s", field + 5);
        json_object_set_new(error, "field", json_string(renamed));
    }
    *errors_out = errors;
    return 0;
}

static const order_line_t *line_of_sku(const order_line_t *rows, size_t count, const char *sku)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(rows[i].sku, sku) == 0)
            return &rows[i];
    return NULL;
}

/* The new lines from the edit's items: a SKU the order has keeps its line
 * number, name, prices; a new SKU takes the next number above every line
 * the order had. *changed_out: the set of (sku, quantity) differs. -1 when
 * a SKU repeats (*repeated_out names it), -2 on out of memory. */
static int new_lines(const order_line_t *old, size_t old_count, const submission_t *contents,
                     order_line_t **lines_out, bool *changed_out, const char **repeated_out)
{
    size_t count = contents->item_count;
    order_line_t *rows = calloc(count ? count : 1, sizeof *rows);
    if (!rows)
        return -2;
    uint32_t next_no = 0;
    for (size_t i = 0; i < old_count; i++)
        if (old[i].line_no > next_no)
            next_no = old[i].line_no;
    bool changed = count != old_count;
    for (size_t i = 0; i < count; i++) {
        const intake_item_t *item = &contents->items[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(contents->items[j].sku, item->sku) == 0) {
                *repeated_out = item->sku;
                free(rows);
                return -1;
            }
        const order_line_t *kept = line_of_sku(old, old_count, item->sku);
        order_line_t *row = &rows[i];
        if (kept) {
            *row = *kept;
            changed = changed || kept->quantity != item->quantity;
        } else {
            memset(row, 0, sizeof *row);
            row->line_no = ++next_no;
            snprintf(row->sku, sizeof row->sku, "%s", item->sku);
            row->sender_price_minor = -1;
            row->unit_price_minor = -1;
            changed = true;
        }
        row->quantity = item->quantity;
        if (item->name && item->name[0])
            snprintf(row->name, sizeof row->name, "%s", item->name);
    }
    *lines_out = rows;
    *changed_out = changed;
    return 0;
}

/* The lines' amounts and the order's totals by the totals rule: a line
 * without a price yet counts at 0 (inventory prices it later); delivery
 * by the override or the price list. *fits false when a sum would not fit
 * int64 (nothing else is then set). */
static db_status_t recompute(db_t *db, const order_t *order, const char *method, const char *region,
                             uint32_t discount_bp, order_line_t *rows, size_t count,
                             order_totals_row_t *out, bool *fits)
{
    *fits = false;
    totals_line_t *calc = calloc(count ? count : 1, sizeof *calc);
    if (!calc)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not price the edit of order %s",
                       order->id);
    for (size_t i = 0; i < count; i++) {
        int64_t price = rows[i].unit_price_minor;
        if (order->sender_prices && rows[i].sender_price_minor >= 0)
            price = rows[i].sender_price_minor;
        calc[i] = (totals_line_t){.line_no = rows[i].line_no,
                                  .unit_price_minor = price > 0 ? price : 0,
                                  .quantity = rows[i].quantity,
                                  .vat_rate_bp = rows[i].vat_rate_bp,
                                  .unit_weight_g = rows[i].unit_weight_g};
    }
    totals_t totals;
    int rc = totals_compute(calc, count, discount_bp, 0, &totals);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (rows[i].unit_price_minor < 0)
            continue; /* stored without amounts until priced */
        rows[i].amount_minor = calc[i].amount_minor;
        rows[i].discount_minor = calc[i].discount_minor;
        rows[i].total_minor = calc[i].total_minor;
        rows[i].vat_minor = calc[i].vat_minor;
    }
    free(calc);
    if (rc != 0)
        return DB_OK;
    int64_t goods = totals.lines_minor - totals.discount_minor;
    int64_t delivery = order->delivery_override_minor;
    db_status_t status = DB_OK;
    if (delivery < 0)
        status = store_delivery_price(db, method, region, goods, &delivery);
    int64_t total = 0;
    if (status != DB_OK || __builtin_add_overflow(goods, delivery, &total))
        return status;
    *out = (order_totals_row_t){.lines_minor = totals.lines_minor,
                                .discount_minor = totals.discount_minor,
                                .delivery_minor = delivery,
                                .vat_minor = totals.vat_minor,
                                .total_minor = total,
                                .weight_g = totals.weight_g};
    *fits = true;
    return DB_OK;
}

/* The history row's detail: what changed, and the order before and after. */
static char *edit_detail(const edit_result_t *result, const order_t *before,
                         const order_line_t *lines, size_t count, const char *delivery_json,
                         uint32_t discount_bp)
{
    json_t *changed = json_array();
    json_t *after_lines = json_array();
    for (size_t i = 0; changed && i < result->changed_count; i++)
        json_array_append_new(changed, json_string(result->changed[i]));
    for (size_t i = 0; after_lines && i < count; i++)
        json_array_append_new(after_lines,
                              json_pack("{s:i,s:s,s:I}", "line_no", (int)lines[i].line_no, "sku",
                                        lines[i].sku, "quantity", (json_int_t)lines[i].quantity));
    json_t *detail =
        json_pack("{s:o*,s:I,s:I,s:{s:i,s:I},s:{s:o*,s:i,s:I,s:o*}}", "changed", changed,
                  "from_version", (json_int_t)before->version, "version",
                  (json_int_t)result->version, "before", "discount_bp", (int)before->discount_bp,
                  "total_minor", (json_int_t)before->total_minor, "after", "lines", after_lines,
                  "discount_bp", (int)discount_bp, "total_minor", (json_int_t)result->total_minor,
                  "delivery", delivery_json ? json_loads(delivery_json, 0, NULL) : NULL);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    return text;
}

/* order.reserved at the edit's version: the held lines priced, the new
 * delivery, the recipient. */
static db_status_t requote(const emitter_t *em, const order_t *order, const char *delivery_json)
{
    db_t *db = emitter_db(em);
    order_line_t *lines = NULL;
    size_t count = 0;
    customer_contact_t contact;
    db_status_t status = funnel_priced_lines(db, order, &lines, &count);
    if (status == DB_OK)
        status = store_customer_contact(db, order->customer_id, &contact);
    if (status == DB_OK)
        status = events_reserved(em, order, lines, count, delivery_json, &contact);
    free(lines);
    return status;
}

/* F14: a discount an edit raises stays within what the order's source may
 * give (intake_sources.max_discount_bp, the ceiling intake held it to),
 * whoever edits: a larger one is refused with the ceiling named, never cut
 * down. EDIT_DISCOUNT_NOT_ALLOWED in result when above it. */
static db_status_t check_discount_ceiling(db_t *db, const order_t *order, uint32_t discount_bp,
                                          edit_result_t *result)
{
    intake_source_t source = {.trust = {.may_set_prices = false, .max_discount_bp = 0}};
    bool found = false;
    db_status_t status = store_source_by_name(db, order->source, &found, &source);
    if (status != DB_OK)
        return status;
    int64_t ceiling = found ? source.trust.max_discount_bp : 0;
    if ((int64_t)discount_bp <= ceiling)
        return DB_OK;
    result->outcome = EDIT_DISCOUNT_NOT_ALLOWED;
    snprintf(result->source, sizeof result->source, "%s", order->source);
    result->max_discount_bp = ceiling;
    result->discount_bp = discount_bp;
    if (ceiling <= 0)
        snprintf(result->detail, sizeof result->detail,
                 "orders of source %.60s may carry no discount (max_discount_bp 0), not "
                 "%u.%02u %%",
                 order->source, discount_bp / 100, discount_bp % 100);
    else
        snprintf(result->detail, sizeof result->detail,
                 "orders of source %.60s may carry at most %lld.%02lld %% discount "
                 "(max_discount_bp %lld), not %u.%02u %%",
                 order->source, (long long)(ceiling / 100), (long long)(ceiling % 100),
                 (long long)ceiling, discount_bp / 100, discount_bp % 100);
    return DB_OK;
}

static const char *actor_role(const actor_t *actor)
{
    return auth_role_name(actor->roles & ROLE_ADMIN ? ROLE_ADMIN : ROLE_MANAGER);
}

db_status_t editing_apply(order_app_t *app, const emitter_t *em, const char *order_id,
                          const order_edit_t *edit, const actor_t *actor, uint64_t expected_version,
                          edit_result_t *result)
{
    db_t *db = emitter_db(em);
    memset(result, 0, sizeof *result);
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK)
        return status;
    if (!found) {
        result->outcome = EDIT_NOT_FOUND;
        return DB_OK;
    }
    result->version = order.version;
    snprintf(result->status, sizeof result->status, "%s", order.status);
    snprintf(result->stock_state, sizeof result->stock_state, "%s", order.stock_state);
    if (expected_version != order.version) {
        result->outcome = EDIT_STALE;
        snprintf(result->detail, sizeof result->detail,
                 "the order is at version %llu now, not %llu", (unsigned long long)order.version,
                 (unsigned long long)expected_version);
        return DB_OK;
    }
    const char *why = rules_edit_refusal(order.status);
    if (why) {
        result->outcome = EDIT_NOT_EDITABLE;
        snprintf(result->detail, sizeof result->detail, "%s", why);
        return DB_OK;
    }

    order_line_t *old = NULL, *rows = NULL;
    size_t old_count = 0, count = 0;
    char *current_delivery = NULL, *new_delivery = NULL, *detail = NULL;
    status = store_lines_get(db, order.id, &old, &old_count);
    if (status == DB_OK)
        status = store_order_delivery(db, order.id, &current_delivery);
    if (status != DB_OK)
        goto done;
    bool lines_changed = false;
    if (edit->has_lines) {
        const char *repeated = NULL;
        int rc = new_lines(old, old_count, edit->contents, &rows, &lines_changed, &repeated);
        if (rc == -2) {
            status =
                db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the lines of order %s", order.id);
            goto done;
        }
        if (rc == -1) {
            result->outcome = EDIT_INVALID;
            snprintf(result->detail, sizeof result->detail,
                     "SKU %.100s is named twice: give each SKU once with its whole quantity",
                     repeated);
            goto done;
        }
        count = edit->contents->item_count;
    } else {
        rows = old;
        count = old_count;
        old = NULL;
    }
    bool delivery_changed = false;
    const char *method = order.method, *region = order.region;
    if (edit->has_delivery) {
        json_t *canonical = submission_to_json(edit->contents);
        new_delivery = canonical ? json_dumps(json_object_get(canonical, "delivery"),
                                              JSON_COMPACT | JSON_SORT_KEYS)
                                 : NULL;
        json_decref(canonical);
        if (!new_delivery) {
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the delivery of order %s",
                             order.id);
            goto done;
        }
        json_t *was = current_delivery ? json_loads(current_delivery, 0, NULL) : NULL;
        json_t *now = json_loads(new_delivery, 0, NULL);
        delivery_changed = !json_equal(was, now);
        json_decref(was);
        json_decref(now);
        method = intake_method_name(edit->contents->method);
        region = edit->contents->region_key ? edit->contents->region_key : "";
    }
    uint32_t discount_bp = order.discount_bp;
    bool discount_changed = false;
    if (edit->has_discount) {
        discount_bp = (uint32_t)edit->contents->discount_bp;
        discount_changed = discount_bp != order.discount_bp;
    }
    if (discount_changed && discount_bp > order.discount_bp) {
        status = check_discount_ceiling(db, &order, discount_bp, result);
        if (status != DB_OK || result->outcome != EDIT_OK)
            goto done;
    }
    if (lines_changed)
        result->changed[result->changed_count++] = "lines";
    if (delivery_changed)
        result->changed[result->changed_count++] = "delivery";
    if (discount_changed)
        result->changed[result->changed_count++] = "discount";
    if (result->changed_count == 0) {
        result->outcome = EDIT_UNCHANGED;
        result->total_minor = order.total_minor;
        goto done;
    }

    order_totals_row_t totals;
    bool fits = false;
    status = recompute(db, &order, method, region, discount_bp, rows, count, &totals, &fits);
    if (status != DB_OK)
        goto done;
    if (!fits) {
        result->outcome = EDIT_INVALID;
        snprintf(result->detail, sizeof result->detail,
                 "the lines and the delivery add up to more than %lld kopecks",
                 (long long)INT64_MAX);
        goto done;
    }
    if (funnel_was_confirmed(&order)) {
        /* new lines are unpriced yet: the terms' "nothing to pay" is not
         * decided by them */
        int64_t judged = lines_changed && totals.total_minor <= 0 ? 1 : totals.total_minor;
        const char *terms = rules_payment_terms(method, region, app->local_region, judged);
        int64_t paid = 0;
        if (strcmp(terms, order.payment_terms) != 0)
            status = store_order_paid(db, order.id, &paid);
        if (status != DB_OK)
            goto done;
        /* unpaid, it is simply paid the new way once confirmed again
         * (funnel_reconfirm); money taken is never turned into a debt on
         * the doorstep */
        if (paid > 0) {
            result->outcome = EDIT_TERMS_CHANGE;
            snprintf(result->detail, sizeof result->detail,
                     "%lld.%02lld is paid already for this %s order; with this change it would "
                     "be paid %s: keep how it is paid, or cancel it (the money goes back) and "
                     "file it again",
                     (long long)(paid / 100), (long long)(paid % 100), order.payment_terms, terms);
            goto done;
        }
    }
    /* changed lines are held again by inventory; until it answers for this
     * version the order cannot be confirmed */
    const char *stock_state = lines_changed ? "pending" : order.stock_state;
    order_edit_row_t row = {.delivery_json = delivery_changed ? new_delivery : NULL,
                            .method = method,
                            .region = region,
                            .discount_bp = discount_bp,
                            .stock_state = stock_state,
                            .totals = &totals,
                            .lines_changed = lines_changed};
    uint64_t version = 0;
    if (lines_changed || discount_changed)
        status = store_lines_replace(db, order.id, rows, count);
    if (status == DB_OK)
        status = store_order_edit(db, order.id, &row, &version);
    if (status != DB_OK)
        goto done;
    result->outcome = EDIT_OK;
    result->version = version;
    snprintf(result->stock_state, sizeof result->stock_state, "%s", stock_state);
    result->lines_minor = totals.lines_minor;
    result->discount_minor = totals.discount_minor;
    result->delivery_minor = totals.delivery_minor;
    result->vat_minor = totals.vat_minor;
    result->total_minor = totals.total_minor;

    const char *delivery_now = delivery_changed ? new_delivery : current_delivery;
    detail = edit_detail(result, &order, rows, count, delivery_now, discount_bp);
    status = history_add(db, order.id, "edit", NULL, NULL, actor, edit->reason, detail);
    if (status != DB_OK)
        goto done;
    order.version = version;
    order.discount_bp = discount_bp;
    char from_region[sizeof order.region];
    snprintf(from_region, sizeof from_region, "%s", order.region);
    if (delivery_changed) { /* method and region point into the edit then, not the order */
        snprintf(order.method, sizeof order.method, "%s", method);
        snprintf(order.region, sizeof order.region, "%s", region);
    }
    if (lines_changed) /* stock_state is the order's own otherwise */
        snprintf(order.stock_state, sizeof order.stock_state, "%s", stock_state);
    order.lines_minor = totals.lines_minor;
    order.discount_minor = totals.discount_minor;
    order.delivery_minor = totals.delivery_minor;
    order.vat_minor = totals.vat_minor;
    order.total_minor = totals.total_minor;
    order.weight_g = totals.weight_g;
    order_change_t change = {.order = &order,
                             .lines = rows,
                             .line_count = count,
                             .delivery_json = delivery_now,
                             .actor_id = actor->id,
                             .actor_role = actor_role(actor),
                             .changed = result->changed,
                             .changed_count = result->changed_count,
                             .reason = edit->reason,
                             .at_ms = clock_now_ms()};
    status = events_changed(em, &change);
    /* managers are assigned by region (F5): another region may be another
     * manager's, as at intake; a delivery without a region (self pickup,
     * a pickup point given by id) stays with whoever works the order */
    if (status == DB_OK && order.region[0] && strcmp(from_region, order.region) != 0)
        status = assignment_region_changed(app, em, &order, from_region);
    /* a new delivery for the same held lines: order.reserved again, so that
     * shipping quotes the new address (new lines get it from stock.c) */
    if (status == DB_OK && delivery_changed && !lines_changed &&
        strcmp(order.stock_state, "reserved") == 0)
        status = requote(em, &order, delivery_now);
    /* a confirmed order whose lines stay is billed again now; new lines
     * once inventory priced them (stock.c) */
    if (status == DB_OK && !lines_changed && funnel_was_confirmed(&order))
        status = funnel_reconfirm(app, em, &order);
    if (status == DB_OK) {
        result->total_minor = order.total_minor;
        result->version = order.version; /* a new manager or new terms moved it on */
        snprintf(result->status, sizeof result->status, "%s", order.status);
    }
done:
    free(detail);
    free(new_delivery);
    free(current_delivery);
    free(rows);
    free(old);
    return status;
}
