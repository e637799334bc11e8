/*
 * documents.h — the PDFs an email carries (DOMAIN.md F32; issue 12 item 3,
 * issue 14 item 4): the order's and the invoice's, attached where the
 * trigger asks for them (its `attachments`).
 *
 * Why fetched, not drawn here: each document belongs to the service that
 * owns its facts — the order service draws the order (GET
 * /v1/orders/{id}/document.pdf), the payment service the invoice (GET
 * /v1/invoices/{id}/document.pdf) — from facts this service never holds
 * (the address, the manager, VAT, the bank's reference). Asking the owner
 * gives the customer the very document staff download, with one layout in
 * one place. The call carries a short-lived token of the kit's keys with
 * the `system` role (conveyor itself, never a person) and is bounded in
 * time (NOTIFY_SEND_TIMEOUT) and in size.
 *
 * An email is never sent without a document its trigger asks for: an
 * owner not reached, slow or failing is NOTIFY_TRANSIENT
 * ("attachment_unavailable"), so the send job backs off and tries again
 * (NOTIFY_MAX_ATTEMPTS, then the message fails); an owner that says the
 * document does not exist (404), or a delivery that names no invoice, is
 * NOTIFY_REJECTED ("attachment_missing"): failed at once, reported.
 */
#ifndef CONVEYOR_NOTIFICATION_DOCUMENTS_H
#define CONVEYOR_NOTIFICATION_DOCUMENTS_H

#include <jansson.h>
#include <stddef.h>

#include "services/notification/adapters/channels.h"
#include "services/notification/notification.h"

#define DOCUMENT_BYTES_MAX (8 * 1024 * 1024) /* a PDF larger than this is refused */
#define DOCUMENTS_MAX      2                 /* "order", "invoice" */

/* The documents of one email; documents_release frees them. */
typedef struct {
    notify_attachment_t items[DOCUMENTS_MAX];
    size_t count;
    char filenames[DOCUMENTS_MAX][64];
} documents_t;

/* Whether kind is a document this service can attach ("order", "invoice"). */
bool documents_kind_ok(const char *kind);

/* Fetches every document delivery's "attachments" names (its "order_id",
 * "invoice_id") into *docs. NOTIFY_SENT when all came (or none is asked
 * for); otherwise err says which and why, and *docs holds nothing. */
notify_result_t documents_fetch(const notification_app_t *app, const json_t *delivery,
                                documents_t *docs, notify_error_t *err);

void documents_release(documents_t *docs);

#endif
