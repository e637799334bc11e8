# section_payment.sh — the payment service (sourced by tests/bench/run.sh).
#
#   payment.callbacks.per_s        Sberbank callbacks verified (HMAC-SHA256) and applied
#                                  (the payment recorded, its events emitted) per second,
#                                  BENCH_PAY_PARALLEL at once; target >= 2,000/s; with the
#                                  group commit's batches (how many, how big on average)
#   payment.callbacks.cpu_us       the CPU those callbacks cost, per callback: the service's
#                                  and PostgreSQL's (its postmaster and every child), which a
#                                  busy machine stretches less than the rate; BENCH_PAY_PERF=FILE
#                                  records their profile meanwhile (perf record -g)
#   payment.invoices.per_s.wN      invoices registered per second against a bank that answers
#                                  every call in BENCH_PAY_LATENCY_MS, with N job workers (the
#                                  median of BENCH_PAY_ROUNDS rounds), the ceiling N / latency
#                                  of one blocking call per worker, and the ratio to it; target
#                                  ratio > 1 (each worker sends PAYMENT_REGISTER_BATCH at once)
#   payment.rss.idle.kb            the service's resident memory, idle after start and again
#                                  after the callbacks
#
# The callbacks: BENCH_PAY_CALLBACKS invoices are opened (order.confirmed
# from factfeed, registered at the fake bank), paid on the fake's page with
# its callbacks dropped (the fake keeps their signed URLs), then every
# stored URL is fired at the service at once with curl --parallel; the
# figure is callbacks over the wall-clock time of that curl, every answer
# 200 and every payment in the ledger. The clients must outnumber what one
# batch takes for the group commit to have batches to make: 64 at once by
# default (the service keeps them all waiting on its 4 HTTP threads). The
# invoices: a fresh schema,
# BENCH_PAY_INVOICES confirmed orders published at once and their invoices
# made while the bank is away (each registration fails to connect, nothing
# sent, and waits its backoff); the service stopped, every registration
# made due again as never tried, the fake bank started answering in
# BENCH_PAY_LATENCY_MS (FAKE_BANK_LATENCY) and the service started again.
# A round's rate is the invoices over the time from the first
# registration's start to the last one's commit — the registrations alone,
# not how fast order.confirmed becomes an invoice — and the figure the
# median of the rounds' (each on a fresh schema).

source tests/integration/payment/payment.sh

BENCH_PAY_CALLBACKS=${BENCH_PAY_CALLBACKS:-2000}
BENCH_PAY_PARALLEL=${BENCH_PAY_PARALLEL:-64}
BENCH_PAY_INVOICES=${BENCH_PAY_INVOICES:-400}
BENCH_PAY_LATENCY_MS=${BENCH_PAY_LATENCY_MS:-50}
BENCH_PAY_WORKERS=${BENCH_PAY_WORKERS:-2 8}
BENCH_PAY_ROUNDS=${BENCH_PAY_ROUNDS:-3}
# BENCH_PAY_INV_ENV: more settings of the service under the invoices (PAYMENT_REGISTER_BATCH=1 ...)
# BENCH_PAY_ENV: more settings of the service under the callbacks
# (PAYMENT_NOTICE_COMMITTERS=4 PAYMENT_NOTICE_BATCH_MAX=64 ...)

# pay_bench_confirm TAG COUNT: COUNT order.confirmed (the test's lamp order)
# published through factfeed, 250 to a call; ids made of TAG and the index
pay_bench_confirm() {
    local tag=$1 count=$2 from=1 to
    while [ "$from" -le "$count" ]; do
        to=$((from + 249 > count ? count : from + 249))
        awk -v tag="$tag" -v from="$from" -v to="$to" 'BEGIN {
            printf "{\"events\":["
            for (i = from; i <= to; i++)
                printf "%s{\"type\":\"order.confirmed\",\"payload\":{\"order_id\":\"%08x-0000-4000-8000-%012x\",\"version\":3,\"number\":%d,\"customer\":{\"name\":\"Bench Customer\",\"email\":\"bench@example.ru\"},\"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Лампа настольная\",\"quantity\":2,\"unit_price_minor\":150000,\"vat_rate_bp\":2000,\"amount_minor\":300000,\"discount_minor\":0,\"total_minor\":300000}],\"totals\":{\"lines_minor\":300000,\"discount_minor\":0,\"delivery_minor\":35000,\"total_minor\":335000,\"currency\":\"RUB\"},\"payment_terms\":\"PAYMENT_TERMS_PREPAY\",\"due_minor\":335000}}",
                    (i > from ? "," : ""), tag, i, tag * 100000 + i
            printf "]}"
        }' >"$IT_RUN/confirm.json"
        curl -fsS -o /dev/null --max-time 60 -H 'Content-Type: application/json' \
            --data-binary @"$IT_RUN/confirm.json" "http://127.0.0.1:$ORDERFEED_HTTP/v1/publish" ||
            it_fail "publishing order.confirmed $from..$to"
        from=$((to + 1))
    done
}

# pay_bench_open COUNT: waits until COUNT invoices are open
pay_bench_open() {
    it_wait_until 900 "$1 invoices open" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM payment.invoices WHERE status = 'open'\") -ge $1 ]"
}

# pay_metric NAME: the payment service's counter NAME (queue="payment_notices")
pay_metric() {
    curl -fsS --max-time 5 "http://127.0.0.1:$PAY_HTTP/metrics" |
        awk -v name="$1" 'index($0, name "{queue=\"payment_notices\"}") == 1 {print $2}'
}

# pay_cpu_ticks NAME: clock ticks of CPU (user + system) the process NAME
# used so far, then those of the bench's PostgreSQL (the postmaster and its
# children alive now: the service's sessions live through the run)
pay_cpu_ticks() {
    local pg pids
    pg=$(head -1 "$TEST_ROOT/pg/data/postmaster.pid" 2>/dev/null)
    pids="$pg $(pgrep -P "$pg" 2>/dev/null | tr '\n' ' ')"
    awk '{ print $14 + $15 }' "/proc/$(it_pid "$1")/stat"
    for pid in $pids; do cat "/proc/$pid/stat" 2>/dev/null; done |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

pay_rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$(it_pid "$1")/status"
}

# pay_bench_stop NAME...: stops the run's processes and waits for its ports
pay_bench_stop() {
    local name
    for name in "$@"; do it_stop "$name"; done
    bench_settle "payment run"
}

# --- callbacks verified and applied per second ------------------------------------
pay_dbs
pay_start_fake LOG_LEVEL=warn
pay_start_orderfeed
pay_start pay-cb sberbank LOG_LEVEL=warn JOB_WORKERS=8 ${BENCH_PAY_ENV:-}
# idle: ready, its first jobs poll done; nothing has come yet
it_wait_until 10 "the payment service idle" kit_http_ok "$PAY_HTTP" /readyz
rss_start=$(pay_rss_kb pay-cb)
pay_bench_confirm 1 "$BENCH_PAY_CALLBACKS"
pay_bench_open "$BENCH_PAY_CALLBACKS"
left=$BENCH_PAY_CALLBACKS
while [ "$left" -gt 0 ]; do # a fault covers at most 1,000 notifications
    n=$((left > 1000 ? 1000 : left))
    fake_notice_fault "{\"provider\":\"sberbank\",\"kind\":\"drop\",\"count\":$n}"
    left=$((left - n))
done
pay_sql "SELECT bank_id FROM payment.invoices WHERE status = 'open'" |
    awk -v url="$FAKE_BANK_URL/_fake/pay" '{
        if (NR > 1) print "next"
        printf "url = \"%s\"\nrequest = \"POST\"\nheader = \"Content-Type: application/json\"\n", url
        printf "data = \"{\\\"provider\\\":\\\"sberbank\\\",\\\"id\\\":\\\"%s\\\",\\\"action\\\":\\\"pay\\\"}\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", $1
    }' >"$IT_RUN/pay.curl"
# one transfer a block, "next" between them: a config's options would be
# global otherwise, and an option after -K applies to its last block only
curl -sS --parallel --parallel-max 16 -K "$IT_RUN/pay.curl" >"$IT_RUN/pay.codes" ||
    it_fail "paying at the fake"
paid=$(grep -c '^200$' "$IT_RUN/pay.codes")
[ "$paid" -eq "$BENCH_PAY_CALLBACKS" ] || it_fail "$paid of $BENCH_PAY_CALLBACKS invoices paid at the fake"
fake_get "/_fake/notices?provider=sberbank" |
    jq -r '.notices[] | select(.fault == "drop") | "url = \"\(.url)\"\noutput = \"/dev/null\"\nwrite-out = \"%{http_code}\\n\"\nnext"' | sed '$d' >"$IT_RUN/callbacks.curl"
stored=$(grep -c '^url' "$IT_RUN/callbacks.curl")
[ "$stored" -eq "$BENCH_PAY_CALLBACKS" ] || it_fail "$stored callback URLs kept by the fake, expected $BENCH_PAY_CALLBACKS"
[ "$(pay_sql "SELECT count(*) FROM payment.ledger")" -eq 0 ] || it_fail "a callback was not dropped"
# BENCH_PAY_PERF=FILE: the CPU profile (perf record -g) of the service and
# PostgreSQL (its processes alive now) under the callbacks
if [ -n "${BENCH_PAY_PERF:-}" ]; then
    pg=$(head -1 "$TEST_ROOT/pg/data/postmaster.pid")
    perf record -g -o "$BENCH_PAY_PERF" -p "$(echo "$(it_pid pay-cb)" "$pg" $(pgrep -P "$pg") | tr ' ' ,)" \
        2>"$IT_RUN/perf.log" &
    perf_pid=$!
    # with pg_stat_statements loaded (shared_preload_libraries), FILE.sql
    # gets the statements run meanwhile (their planning too with
    # pg_stat_statements.track_planning on)
    pay_sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" \
        >/dev/null 2>&1 || true
    sleep 1
fi
read -r svc_ticks0 pg_ticks0 < <(pay_cpu_ticks pay-cb | paste -sd ' ')
start_ns=$(date +%s%N)
curl -s --parallel --parallel-max "$BENCH_PAY_PARALLEL" -K "$IT_RUN/callbacks.curl" >"$IT_RUN/callbacks.codes"
end_ns=$(date +%s%N)
read -r svc_ticks1 pg_ticks1 < <(pay_cpu_ticks pay-cb | paste -sd ' ')
if [ -n "${BENCH_PAY_PERF:-}" ]; then
    kill -INT "$perf_pid" && wait "$perf_pid"
    pay_sql "SELECT calls, plans, rows, round(total_exec_time::numeric, 1) AS exec_ms,
                    round(total_plan_time::numeric, 1) AS plan_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 150)
             FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 40" >"$BENCH_PAY_PERF.sql" 2>&1 || true
fi
ok=$(grep -c '^200$' "$IT_RUN/callbacks.codes")
batches=$(pay_metric groupcommit_batches_total)
per_batch=$(awk -v items="$(pay_metric groupcommit_items_total)" -v b="${batches:-0}" 'BEGIN { printf "%.1f", (b > 0 ? items / b : 0) }')
recorded=$(pay_sql "SELECT count(*) FROM payment.ledger WHERE kind = 'payment'")
[ "$ok" -eq "$BENCH_PAY_CALLBACKS" ] || echo "   (!) $ok of $BENCH_PAY_CALLBACKS callbacks answered 200" >&2
[ "$recorded" -eq "$BENCH_PAY_CALLBACKS" ] || echo "   (!) $recorded of $BENCH_PAY_CALLBACKS payments recorded" >&2
rate=$(awk -v n="$recorded" -v ns=$((end_ns - start_ns)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
verdict=$([ "$rate" -ge 2000 ] && echo "target >= 2,000/s met" || echo "TARGET >= 2,000/s MISSED")
figure payment.callbacks.per_s "$rate callbacks/s ($recorded applied, $BENCH_PAY_PARALLEL at once, ${batches:-?} batches of $per_batch on average; $verdict)"
# the CPU a callback costs, which a busy machine slows but does not change
cpu_us() { awk -v t="$1" -v n="$recorded" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }'; }
figure payment.callbacks.cpu_us "$(cpu_us $((svc_ticks1 - svc_ticks0 + pg_ticks1 - pg_ticks0))) us of CPU per callback: the service $(cpu_us $((svc_ticks1 - svc_ticks0))) us, PostgreSQL $(cpu_us $((pg_ticks1 - pg_ticks0))) us (the client's not counted)"
# idle again: every job of the load done
it_wait_until 120 "the payment service's jobs done" bash -c \
    "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM payment.jobs WHERE state NOT IN ('done', 'dead') AND run_at <= now()\") -eq 0 ]"
rss_after=$(pay_rss_kb pay-cb)
figure payment.rss.idle.kb "$rss_start kB idle after start; $rss_after kB idle after $BENCH_PAY_CALLBACKS invoices and callbacks"
pay_bench_stop pay-cb orderfeed fakebank

# --- invoices registered per second, the bank answering in 50 ms --------------------
tag=2
for workers in $BENCH_PAY_WORKERS; do
    : >"$IT_RUN/inv.rates"
    calls=0
    for round in $(seq 1 "$BENCH_PAY_ROUNDS"); do
        pay_dbs
        pay_start_orderfeed
        # the invoices first, the bank away
        pay_start pay-inv sberbank LOG_LEVEL=error JOB_WORKERS="$workers" ${BENCH_PAY_INV_ENV:-}
        pay_bench_confirm "$tag" "$BENCH_PAY_INVOICES"
        it_wait_until 300 "$BENCH_PAY_INVOICES invoices made" bash -c \
            "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM payment.invoices WHERE status = 'registering'\") -ge $BENCH_PAY_INVOICES ]"
        it_stop pay-inv
        waiting=$(pay_sql "WITH due AS (UPDATE payment.jobs SET run_at = now(), attempts = 0,
            last_error = NULL, last_error_detail = NULL
            WHERE kind = 'invoice_register' AND state = 'queued' RETURNING 1) SELECT count(*) FROM due")
        [ "$waiting" -eq "$BENCH_PAY_INVOICES" ] || it_fail "$waiting registrations waiting, not $BENCH_PAY_INVOICES"
        # then the bank, and the service again: the registrations alone
        pay_start_fake LOG_LEVEL=warn FAKE_BANK_LATENCY="${BENCH_PAY_LATENCY_MS}ms" FAKE_BANK_THREADS=64
        pay_start pay-inv sberbank LOG_LEVEL=warn JOB_WORKERS="$workers" ${BENCH_PAY_INV_ENV:-}
        pay_bench_open "$BENCH_PAY_INVOICES"
        round_rate=$(pay_sql "SELECT round(count(*) / extract(epoch FROM max(pg_xact_commit_timestamp(i.xmin)) -
                (SELECT min(started_at) FROM payment.jobs WHERE kind = 'invoice_register')), 1)
            FROM payment.invoices i WHERE status = 'open'")
        echo "$round_rate" >>"$IT_RUN/inv.rates"
        calls=$((calls + $(fake_requests sberbank register)))
        bench_log "invoices, $workers workers, round $round: $round_rate/s"
        pay_bench_stop pay-inv orderfeed fakebank
        tag=$((tag + 1))
    done
    rate=$(median <"$IT_RUN/inv.rates")
    ceiling=$(awk -v w="$workers" -v l="$BENCH_PAY_LATENCY_MS" 'BEGIN { printf "%.1f", w * 1000 / l }')
    ratio=$(awk -v r="$rate" -v c="$ceiling" 'BEGIN { printf "%.2f", r / c }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r > 1) ? "target > 1 met" : "TARGET > 1 MISSED" }')
    figure "payment.invoices.per_s.w$workers" "$rate invoices/s (median of $BENCH_PAY_ROUNDS); ${BENCH_PAY_LATENCY_MS} ms bank, $workers job workers: ceiling $ceiling/s, ratio $ratio ($verdict; $calls register calls for $((BENCH_PAY_INVOICES * BENCH_PAY_ROUNDS)) invoices)"
done
