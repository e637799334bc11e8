-- One row per carrier event, whichever way it came: a webhook and the
-- tracking poll report the same scan under different ids (the webhook's
-- event id, "poll:..." for a poll), and a poll that ran before the webhook
-- arrived kept the scan twice. The carrier's own identity of a scan is the
-- parcel, the status and the moment the carrier gives it; a repeat from
-- either source now changes nothing. Events without a carrier time (none
-- today) keep their event id as their only identity.
DELETE FROM tracking_events AS later
 USING tracking_events AS first
 WHERE later.tracking_number = first.tracking_number
   AND later.status_code = first.status_code
   AND later.occurred_at = first.occurred_at
   AND (later.received_at, later.event_id) > (first.received_at, first.event_id);

CREATE UNIQUE INDEX tracking_events_scan
    ON tracking_events (tracking_number, status_code, occurred_at)
    WHERE occurred_at IS NOT NULL;
