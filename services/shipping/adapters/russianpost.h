/*
 * russianpost.h — the shipping service's client of Russian Post's tracking
 * API (../shared/notes/external-apis.md, "Russian Post tracking"): SOAP 1.2
 * getOperationHistory{Barcode, MessageType 0, Language} with login and
 * password in an AuthorizationHeader. Parcels of the russian_post carrier
 * are followed through it when it is configured (F28), their operations
 * mapped to the same ShipEngine-style codes as every other parcel's:
 * OperType 1 accepted AC, 2 handed over DE, 3 return EX, 5 not delivered
 * EX, 8 processing IT, 12 failed attempt AT; an empty history is NY.
 *
 * The reply is read by a small bounded scanner (no XML library in the
 * tree): every byte is untrusted, so russianpost_reply_parse has a fuzz
 * target (tests/fuzz/fuzz_russianpost_reply.c).
 */
#ifndef CONVEYOR_SHIPPING_RUSSIANPOST_H
#define CONVEYOR_SHIPPING_RUSSIANPOST_H

#include <stddef.h>

#include "services/shipping/adapters/carrier.h"

#define RUSSIANPOST_REPLY_MAX (256 * 1024) /* bytes of a history we read */

typedef struct {
    const char *url; /* "https://tracking.russianpost.ru/rtm34" */
    const char *login;
    const char *password;
    long connect_timeout_ms;
    long timeout_ms;
} russianpost_config_t;

/* The latest operation of a parcel as a tracking status (NY before the
 * first). A fault is CARRIER_REFUSED with err->code "authorization_fault"
 * or "operation_history_fault"; no answer, 5xx or an unreadable one is
 * CARRIER_TRANSIENT (reading changes nothing at the post). */
carrier_result_t russianpost_track(const russianpost_config_t *config, const char *barcode,
                                   carrier_track_t *out, carrier_error_t *err);

/* Reads a getOperationHistory reply (at most RUSSIANPOST_REPLY_MAX bytes):
 * 0 with *out the latest known operation (NY when none), 1 a SOAP fault
 * (err->code, err->message), -1 not a reply. out->tracking_number is left
 * as it was. */
int russianpost_reply_parse(const char *body, size_t len, carrier_track_t *out,
                            carrier_error_t *err);

/* The ShipEngine-style code of an OperType id; NULL for one we do not map. */
const char *russianpost_code_of(long oper_type);

#endif
