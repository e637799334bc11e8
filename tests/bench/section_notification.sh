# section_notification.sh — the notification service (sourced by tests/bench/run.sh).
#
#   notification.email.per_s.wN   customer emails rendered (Mustache, in the inbox's
#                                 transaction), recorded and handed to the fake SMTP server
#                                 per second, the server answering each message's final dot
#                                 in BENCH_NT_LATENCY_MS, with N job workers (N sends in
#                                 flight, one SMTP connection each: the ceiling is
#                                 N x 1000 / BENCH_NT_LATENCY_MS), each taking up to the
#                                 service's NOTIFY_SEND_BATCH (16) at once; target >= 500/s
#   notification.email.per_s.wN.b1  the same, one message per job (NOTIFY_SEND_BATCH=1: a
#                                 claim, a start and a completion transaction each, as
#                                 before batches), in the same run: the ratio is the lever's
#   notification.delay.p50_ms     from an order.status_changed's commit (its occurred_at)
#   notification.delay.p99_ms     to its email kept by the fake SMTP server, at
#                                 BENCH_NT_RATE orders/s for BENCH_NT_SECONDS
#                                 (.b1: NOTIFY_SEND_BATCH=1, in the same run)
#
# factfeed stands in for the order stream: BENCH_NT_EMAILS order.placed
# (a customer with an email, no phone: one message per status) are applied
# first, then as many order.status_changed "new" are published at once;
# the figure is emails over the time from the first one's recording to the
# last one's "sent". The delay run paces its order.status_changed at
# BENCH_NT_RATE a second (a batch every 100 ms) and reads each email's
# arrival at the fake by its Message-ID (<delivery_id@...>).

source tests/integration/payment/payment.sh
source tests/integration/notify/notify.sh

BENCH_NT_EMAILS=${BENCH_NT_EMAILS:-1500}
BENCH_NT_LATENCY_MS=${BENCH_NT_LATENCY_MS:-20}
BENCH_NT_WORKERS=${BENCH_NT_WORKERS:-8 32}
BENCH_NT_BATCHES=${BENCH_NT_BATCHES:-1 16} # 16: the service's default, named without .bN
BENCH_NT_RATE=${BENCH_NT_RATE:-50}
BENCH_NT_SECONDS=${BENCH_NT_SECONDS:-20}

# nt_bench_publish FILE: one factfeed publish of the events in FILE
nt_bench_publish() {
    curl -fsS -o /dev/null --max-time 60 -H 'Content-Type: application/json' \
        --data-binary @"$1" "http://127.0.0.1:$ORDERFEED_HTTP/v1/publish" || it_fail "publishing $1"
}

# nt_bench_placed TAG COUNT: COUNT orders placed, 250 a publish, waited for
nt_bench_placed() {
    local from=1 to
    while [ "$from" -le "$2" ]; do
        to=$(($from + 249 > $2 ? $2 : $from + 249))
        nt_feed_events order.placed "$1" "$from" "$to" "$IT_RUN/placed.json"
        nt_bench_publish "$IT_RUN/placed.json"
        from=$((to + 1))
    done
    it_wait_until 300 "$2 orders known to notification" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM notification.orders\") -ge $2 ]"
}

nt_bench_sent() { # COUNT: waits until COUNT deliveries ended
    it_wait_until 600 "$1 emails ended" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM notification.deliveries WHERE status <> 'pending'\") -ge $1 ]"
}

nt_bench_stop() {
    local name
    for name in "$@"; do it_stop "$name"; done
    bench_settle "notification run"
}

nt_bench_start() { # NAME WORKERS [VAR=VALUE ...]
    nt_dbs
    pay_dbs
    pay_start_orderfeed
    it_start fakesmtp env FAKE_SMTP_ADDR="127.0.0.1:$NT_SMTP_PORT" \
        FAKE_SMTP_CONTROL_ADDR="${NT_SMTP_CONTROL#http://}" FAKE_SMTP_CERT_OUT="$NT_SMTP_CA" \
        FAKE_SMTP_USER="$NT_SMTP_USER" FAKE_SMTP_PASSWORD="$NT_SMTP_PASSWORD" \
        FAKE_SMTP_LATENCY="${BENCH_NT_LATENCY_MS}ms" LOG_LEVEL=warn "$IT_BIN/fakesmtp"
    it_wait_until 20 "the fake SMTP server up" curl -fsS -o /dev/null --max-time 2 "$NT_SMTP_CONTROL/healthz"
    nt_start "$1" REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY LOG_LEVEL=warn \
        JOB_WORKERS="$2" JOB_POLL=500ms JOB_LEASE=60s NOTIFY_SEND_TIMEOUT=10s DB_POOL_SIZE=4 \
        "${@:3}"
}

# --- emails rendered and handed to the SMTP server per second ------------------------
tag=1
for workers in $BENCH_NT_WORKERS; do
    for batch in $BENCH_NT_BATCHES; do
        nt_bench_start nt-rate "$workers" NOTIFY_SEND_BATCH="$batch"
        nt_bench_placed "$tag" "$BENCH_NT_EMAILS"
        from=1
        while [ "$from" -le "$BENCH_NT_EMAILS" ]; do
            to=$((from + 499 > BENCH_NT_EMAILS ? BENCH_NT_EMAILS : from + 499))
            nt_feed_events order.status_changed "$tag" "$from" "$to" "$IT_RUN/status-$from.json"
            from=$((to + 1))
        done
        for body in "$IT_RUN"/status-*.json; do nt_bench_publish "$body"; done
        nt_bench_sent "$BENCH_NT_EMAILS"
        read -r sent seconds finishes <<<"$(nt_sql "SELECT count(*) FILTER (WHERE status = 'sent'),
            extract(epoch from max(finished_at) - min(created_at)), count(DISTINCT finished_at)
            FROM notification.deliveries" | tr '|' ' ')"
        [ "$sent" -eq "$BENCH_NT_EMAILS" ] || echo "   (!) $sent of $BENCH_NT_EMAILS emails sent" >&2
        at_fake=$(curl -fsS "$NT_SMTP_CONTROL/_fake/stats" | jq -r '.messages // empty')
        rate=$(awk -v n="$sent" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
        ceiling=$((workers * 1000 / BENCH_NT_LATENCY_MS))
        verdict=$([ "$rate" -ge 500 ] && echo "target >= 500/s met" || echo "TARGET >= 500/s MISSED")
        name="notification.email.per_s.w$workers"
        [ "$batch" = 16 ] || name="$name.b$batch"
        figure "$name" \
            "$rate emails/s ($sent in ${seconds}s, ${at_fake:-?} at the fake, ends recorded in $finishes transactions; $workers workers taking up to $batch each, the server answering in ${BENCH_NT_LATENCY_MS} ms: ceiling $ceiling/s; $verdict)"
        rm -f "$IT_RUN"/status-*.json
        nt_bench_stop nt-rate orderfeed fakesmtp
        tag=$((tag + 1))
    done
done

# --- the delay from order.status_changed to the email at the server, at 50 orders/s ---
# once per NOTIFY_SEND_BATCH of BENCH_NT_BATCHES: a worker sends the due messages
# it took one after another, so batches trade some delay for throughput
total=$((BENCH_NT_RATE * BENCH_NT_SECONDS))
for send_batch in $BENCH_NT_BATCHES; do
    suffix=""
    [ "$send_batch" = 16 ] || suffix=".b$send_batch"
    nt_bench_start nt-delay "${BENCH_NT_DELAY_WORKERS:-16}" NOTIFY_SEND_BATCH="$send_batch"
    nt_bench_placed "$tag" "$total"
    batch=$((BENCH_NT_RATE / 10))
    [ "$batch" -ge 1 ] || batch=1
    start_ns=$(date +%s%N)
    from=1
    step=0
    while [ "$from" -le "$total" ]; do
        to=$((from + batch - 1 > total ? total : from + batch - 1))
        nt_feed_events order.status_changed "$tag" "$from" "$to" "$IT_RUN/paced.json"
        nt_bench_publish "$IT_RUN/paced.json"
        from=$((to + 1))
        step=$((step + 1))
        # the next batch at start + step x 100 ms
        wait_ns=$((start_ns + step * 100000000 - $(date +%s%N)))
        [ "$wait_ns" -gt 0 ] && sleep "$(awk -v ns="$wait_ns" 'BEGIN { printf "%.3f", ns / 1e9 }')"
    done
    published_s=$(awk -v ns=$(($(date +%s%N) - start_ns)) 'BEGIN { printf "%.1f", ns / 1e9 }')
    nt_bench_sent "$total"
    curl -fsS "$NT_SMTP_CONTROL/_fake/messages" |
        jq -r '.messages[] | "\(.headers["Message-ID"] | ltrimstr("<") | split("@")[0]) \(.at_ms)"' >"$IT_RUN/arrived.txt"
    nt_sql "SELECT delivery_id, (extract(epoch from event_at) * 1000)::bigint FROM notification.deliveries" |
        tr '|' ' ' >"$IT_RUN/events.txt"
    read -r n p50 p99 <<<"$(awk 'NR == FNR { at[$1] = $2; next } ($1 in at) { print at[$1] - $2 }' \
        "$IT_RUN/arrived.txt" "$IT_RUN/events.txt" | sort -n |
        awk '{ d[NR] = $1 } END { if (NR == 0) { print 0, 0, 0; exit }
            i50 = int(NR * 0.50 + 0.5); i99 = int(NR * 0.99 + 0.5); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
            print NR, d[i50], d[i99] }')"
    [ "$n" -ge "$((total * 9 / 10))" ] || it_fail "only $n of $total emails matched at the fake"
    figure "notification.delay.p50_ms$suffix" "$p50 ms from order.status_changed to the email at the server ($n emails, $total orders published in ${published_s}s)"
    figure "notification.delay.p99_ms$suffix" "$p99 ms (the same run)"
    nt_bench_stop nt-delay orderfeed fakesmtp
    tag=$((tag + 1))
done
