#!/usr/bin/env bash
# Sberbank callbacks arriving together, as they do under load: the group
# commit takes them in batches, and a batch records most payments in a few
# statements for all (money_paid_many) and the rest one by one. Whatever a
# batch holds, each callback ends as if it had come alone: full payments
# paid; a part paid leaves the rest billed; money beyond the total goes
# back (a refund opened); the same callback five times, and three pieces
# of news of one payment (approved, deposited with and without its amount:
# two payments of one order in a batch), record one payment; a
# signed callback about nothing of ours is answered 200 and not kept; a
# forged one is refused. Everything sent again changes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 sberbank
new_id() { cat /proc/sys/kernel/random/uuid; }

# sber_callback MDORDER ORDER_NUMBER OPERATION STATUS [AMOUNT]: a callback
# URL signed with the shop's key as Sberbank signs it (the parameters sorted
# by name, "name;value;" each, HMAC-SHA256, upper-case hex)
sber_callback() {
    local sum
    sum=$(printf '%smdOrder;%s;operation;%s;orderNumber;%s;status;%s;' "${5:+amount;$5;}" "$1" "$3" "$2" "$4" |
        openssl dgst -sha256 -hmac "$SBER_KEY" | awk '{ print toupper($NF) }')
    echo "$PAY_URL/v1/webhooks/sberbank?mdOrder=$1&orderNumber=$2&operation=$3&status=$4${5:+&amount=$5}&checksum=$sum"
}

N=12
declare -a o
for i in $(seq 1 $N); do
    o[i]=$(new_id)
    confirm "${o[i]}" $((20000 + i))
done
for i in $(seq 1 $N); do
    it_wait_until 30 "invoice $i registered" invoice_is "${o[i]}" open
done

# paid at the bank, every callback of the bank's kept back, to be sent at once
fake_notice_fault "{\"provider\":\"sberbank\",\"kind\":\"drop\",\"count\":$N}"
for i in $(seq 1 $N); do
    if [ "$i" = 9 ]; then pay_at_bank "${o[i]}" pay 100000; else pay_at_bank "${o[i]}"; fi
done
declare -a url
for i in $(seq 1 $N); do
    ref=$(invoice_field "${o[i]}" our_ref)
    url[i]=$(fake_get "/_fake/notices?provider=sberbank" |
        jq -r --arg ref "$ref" '[.notices[] | select(.fault == "drop" and (.url | contains($ref)))][0].url')
    [ -n "${url[i]}" ] && [ "${url[i]}" != null ] || it_fail "no kept callback for order $i"
done
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.ledger")" "nothing recorded before the callbacks"

# order 10: the bank says 500.00 more than the total
bank10=$(invoice_field "${o[10]}" bank_id)
ref10=$(invoice_field "${o[10]}" our_ref)
url[10]=$(sber_callback "$bank10" "$ref10" deposited 1 355001)
# order 12: approved, then deposited
bank12=$(invoice_field "${o[12]}" bank_id)
ref12=$(invoice_field "${o[12]}" our_ref)
approved12=$(sber_callback "$bank12" "$ref12" approved 1 305001)
# and deposited again, this time not saying how much: another event, the
# same payment
unsaid12=$(sber_callback "$bank12" "$ref12" deposited 1)
unknown=$(sber_callback "$(new_id)" "nobody-$RANDOM" deposited 1 305001)
forged="${url[1]%%&checksum=*}&checksum=$(printf '%064d' 0)"

send_all() { # FILE: every callback at once; FILE gets "code url" a line
    {
        for i in $(seq 1 $N); do echo "${url[i]}"; done
        for _ in 1 2 3 4; do echo "${url[11]}"; done
        echo "$approved12"
        echo "$unsaid12"
        echo "$unknown"
        echo "$forged"
    } | awk '{
        if (NR > 1) print "next"
        printf "url = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code} %%{url}\\n\"\n", $0
    }' >"$IT_RUN/batch.curl"
    curl -s --parallel --parallel-max 64 -K "$IT_RUN/batch.curl" >"$1"
    it_assert_eq 20 "$(wc -l <"$1")" "answers"
    it_assert_eq 19 "$(grep -c '^200 ' "$1")" "callbacks answered 200"
    it_assert_eq 1 "$(grep -c "^400 .*checksum=0000" "$1")" "the forged callback refused"
}

# check: what the callbacks must have done, however often they came
check() {
    local i
    for i in 1 2 3 4 5 6 7 8 11 12; do
        it_assert_eq "paid 305001 1 1 paid" \
            "$(order_money "${o[i]}" "concat_ws(' ', status, received_minor,
                (SELECT count(*) FROM payment.ledger l WHERE l.order_id = orders.order_id AND kind = 'payment'),
                (SELECT count(*) FROM payment.outbox x WHERE x.correlation_id = orders.order_id::text
                   AND type = 'payment.succeeded'),
                (SELECT string_agg(status, ',') FROM payment.invoices i WHERE i.order_id = orders.order_id))")" \
            "order $i: paid once"
    done
    it_assert_eq "partially_paid 100000 205001 1 1" \
        "$(order_money "${o[9]}" "concat_ws(' ', status, received_minor, total_minor - received_minor,
            (SELECT count(*) FROM payment.ledger l WHERE l.order_id = orders.order_id AND kind = 'payment'),
            (SELECT count(*) FROM payment.outbox x WHERE x.correlation_id = orders.order_id::text
               AND type = 'payment.succeeded'))")" \
        "order 9: a part paid once"
    it_assert_eq "355001 1 1 50000 excess" \
        "$(order_money "${o[10]}" "concat_ws(' ', received_minor,
            (SELECT count(*) FROM payment.ledger l WHERE l.order_id = orders.order_id AND kind = 'payment'),
            (SELECT count(*) FROM payment.outbox x WHERE x.correlation_id = orders.order_id::text
               AND type = 'payment.succeeded'),
            (SELECT string_agg(amount_minor || ' ' || reason, ',') FROM payment.refunds r
               WHERE r.order_id = orders.order_id))")" \
        "order 10: paid once, the excess going back"
    it_assert_eq $N "$(pay_sql "SELECT count(*) FROM payment.ledger WHERE kind = 'payment'")" \
        "payments in the ledger"
}

send_all "$IT_RUN/batch1.codes"
it_wait_until 30 "the rest of order 9 billed" bash -c \
    "[ \"\$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM payment.invoices
        WHERE order_id = '${o[9]}' AND status = 'open' AND amount_minor = 205001\")\" = 1 ]"
check
batches=$(curl -fsS "$PAY_URL/metrics" | awk '/^groupcommit_batches_total\{queue="payment_notices"\}/ {print $2}')
it_log "19 callbacks in ${batches:-?} batches"

# all of it again: nothing changes
send_all "$IT_RUN/batch2.codes"
check
# (the bank's own callback of order 10's refund may have come meanwhile)
it_assert_eq $((N + 2)) "$(pay_sql "SELECT count(*) FROM payment.callbacks WHERE event_id NOT LIKE '%:refunded:%'")" \
    "callbacks kept: one per event (a payment each, order 12's approval and its second deposit), none about nothing of ours"
it_assert_eq 10 "$(pay_sql "SELECT times_received FROM payment.callbacks WHERE event_id LIKE '%$(invoice_field "${o[11]}" bank_id)%'")" \
    "order 11's callback: five times, twice"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.callbacks WHERE applied_at IS NULL")" \
    "every kept callback applied"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters"
it_log "callbacks in batches: each applied once, as if alone"
