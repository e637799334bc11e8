#!/usr/bin/env bash
# Parking: an event whose handler fails permanently and a frame that does
# not parse are parked in dead_letters with the reason; the stream goes
# on, while a later event about the same order waits behind the parked
# one. An operator's retry runs today's handler, in order. External
# (seq-less) events published three times take effect once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

kit_dbs
kit_start_busd
kit_start_cons cons 2
kit_start_prod prod
it_wait_until 20 "kitcons ready" kit_http_ok 28092 /readyz
it_wait_until 20 "kitprod ready" kit_http_ok 28091 /readyz

kit_produce 1 order-A poison >/dev/null    # seq 1: rejected by the handler
kit_produce 1 order-A >/dev/null           # seq 2: same order, must wait behind seq 1
kit_produce 1 order-B >/dev/null           # seq 3: another order, applies
BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_CERT=$(it_key service kitprod) \
    "$IT_BIN/kitprod" publish-raw kitprod/kit.tick >/dev/null
kit_produce 1 order-C >/dev/null           # seq 4: the stream goes on after the bad frame

offset() {
    it_psql "SELECT last_seq FROM kitcons.inbox_offsets WHERE stream = 'kitprod'"
}
offset_is() {
    [ "$(offset)" = "$1" ]
}
letters_are() {
    [ "$(it_psql "SELECT count(*) FROM kitcons.dead_letters")" = "$1" ]
}
it_wait_until 20 "all four events passed" offset_is 4
it_wait_until 20 "three dead letters" letters_are 3
it_assert_eq "order-B order-C" "$(it_psql "SELECT string_agg(correlation_id, ' ' ORDER BY seq)
    FROM kitcons.kit_applied")" "events applied"
it_assert_eq "1 poison open" "$(it_psql "SELECT seq || ' ' || err || ' ' || status FROM kitcons.dead_letters
    WHERE correlation_id = 'order-A' AND held_behind IS NULL")" "the rejected event"
poisoned_id=$(it_psql "SELECT id FROM kitcons.dead_letters WHERE err = 'poison'")
it_assert_eq "2 held_behind $poisoned_id" "$(it_psql "SELECT seq || ' ' || err || ' ' || held_behind
    FROM kitcons.dead_letters WHERE held_behind IS NOT NULL")" "the event held behind it"
it_assert_eq "bad_envelope 1" "$(it_psql "SELECT err || ' ' || count(*) FROM kitcons.dead_letters
    WHERE seq IS NULL AND frame_hash IS NOT NULL GROUP BY err")" "the frame that does not parse"
grep -q '"err":"poison"' "$IT_RUN/cons.log" || it_fail "the rejection was not logged with its code"

# retrying the held event while the poisoned one is still open changes nothing
held_id=$(it_psql "SELECT id FROM kitcons.dead_letters WHERE err = 'held_behind'")
it_psql "UPDATE kitcons.dead_letters SET status = 'retry' WHERE id = $held_id" >/dev/null
# the operator discards the poisoned event; the held one is then retried and applies
it_psql "UPDATE kitcons.dead_letters SET status = 'discarded', resolved_at = now() WHERE id = $poisoned_id" >/dev/null
resolved() {
    [ "$(it_psql "SELECT status FROM kitcons.dead_letters WHERE id = $held_id")" = resolved ]
}
it_wait_until 20 "the held event retried and resolved" resolved
it_assert_eq "order-A" "$(it_psql "SELECT correlation_id FROM kitcons.kit_applied ORDER BY id DESC LIMIT 1")" \
    "the held event applied last"

# an external, seq-less event published three times takes effect once
before=$(kit_metric 28092 inbox_external_total)
BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_CERT=$(it_key source kitsource) \
    "$IT_BIN/kitprod" publish-external key-42 3 >/dev/null
handled_three() {
    [ "$(kit_metric 28092 inbox_external_total)" -ge $((before + 3)) ]
}
it_wait_until 20 "the three deliveries handled" handled_three
it_assert_eq 1 "$(it_psql "SELECT count(*) FROM kitcons.kit_external WHERE key = 'key-42'")" \
    "effects of one external event delivered three times"
