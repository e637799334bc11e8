# section_peers.sh — the bus beside the durable brokers (`make bench-peers`;
# sourced by tests/bench/run.sh with BENCH_SECTIONS naming this file).
#
# The same workload for every system: DURABLE_EVENTS (100,000) events of
# the bus's envelope size (~200 B, measured on the bus's first run), one
# producer, one consumer, rate from the first send to the last receipt.
# Interleaved over three rounds, each system once a round, all on this
# machine in one run; the table gives each one's median and conveyor's
# (CURVE on, as deployed) divided by it.
#
#   conveyor   kitprod's outbox -> relay -> busd -> kitcons' committed inbox
#              (tests/bench/durable.sh), CURVE on and off
#   rabbitmq   RabbitMQ (Debian's, under .run/bench/rabbitmq) through
#              peer_amqp: classic and quorum queues, durable, persistent
#              messages, publisher confirms (window 1,000), manual acks;
#              and a transient queue (no confirms), the client's ceiling
#   nats       NATS JetStream (Debian's nats-server -js) through peer_nats:
#              file storage as shipped (.run/bench/nats/file: written to the
#              page cache, fsynced in the background), and with every write
#              synced: NATS 2.9 has no option for that, so its store is an
#              ext4 image loop-mounted with -o sync (.run/bench/nats/sync.img)
#
# RabbitMQ and NATS listen on loopback in the bench's ports below; they run
# across the rounds (BENCH_KEEP) and stop at the section's end.

PEER_AMQP_PORT=24672
PEER_AMQP_DIST_PORT=24673
PEER_EPMD_PORT=24369
PEER_NATS_PORT=24222
PEER_NATS_SYNC_PORT=24223
BENCH_KEEP="epmd rabbitmq nats nats_sync"
BENCH_EXTRA_PORTS="$PEER_AMQP_PORT $PEER_AMQP_DIST_PORT $PEER_EPMD_PORT $PEER_NATS_PORT $PEER_NATS_SYNC_PORT"
PEER_DIR="$TEST_ROOT/peers"
PEER_TABLE="$TEST_ROOT/peers-table.txt"
source tests/bench/durable.sh

# peer_listening PORT: someone listens on it
peer_listening() {
    [ -n "$(bench_held "$1")" ]
}

# peer_rabbitmq_start: epmd on its own port, then the broker with its own
# node name, data, logs, config and cookie (HOME) under $PEER_DIR/rabbitmq
peer_rabbitmq_start() {
    local dir="$PEER_DIR/rabbitmq"
    rm -rf "$dir"
    mkdir -p "$dir/mnesia" "$dir/log" "$dir/home"
    printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users.guest = true\n' \
        "$PEER_AMQP_PORT" >"$dir/rabbitmq.conf"
    echo '[].' >"$dir/enabled_plugins"
    : >"$dir/rabbitmq-env.conf" # not the system's /etc/rabbitmq/rabbitmq-env.conf
    it_start epmd env HOME="$dir/home" epmd -port "$PEER_EPMD_PORT" -address 127.0.0.1
    it_wait_until 10 "epmd on $PEER_EPMD_PORT" peer_listening "$PEER_EPMD_PORT"
    it_start rabbitmq env HOME="$dir/home" ERL_EPMD_PORT="$PEER_EPMD_PORT" \
        RABBITMQ_NODENAME=bench@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$PEER_AMQP_PORT" RABBITMQ_DIST_PORT="$PEER_AMQP_DIST_PORT" \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" /usr/lib/rabbitmq/bin/rabbitmq-server
    it_wait_until 120 "RabbitMQ on $PEER_AMQP_PORT (its log: $dir/log)" peer_listening "$PEER_AMQP_PORT"
}

# peer_nats_start NAME PORT STORE: a JetStream server storing in STORE
peer_nats_start() {
    mkdir -p "$3"
    it_start "$1" nats-server -a 127.0.0.1 -p "$2" -js -sd "$3"
    it_wait_until 30 "NATS $1 on $2" peer_listening "$2"
}

# the synced store: an ext4 image mounted with -o sync under $PEER_DIR
PEER_SYNC_MNT="$PEER_DIR/nats/sync"
peer_sync_mount() {
    local img="$PEER_DIR/nats/sync.img"
    mkdir -p "$PEER_SYNC_MNT"
    rm -f "$img"
    truncate -s 1G "$img" && mkfs.ext4 -q -F "$img" &&
        mount -o loop,sync "$img" "$PEER_SYNC_MNT" ||
        it_fail "cannot mount an ext4 image with -o sync on $PEER_SYNC_MNT (root and a loop device are needed)"
}

# bench_section_cleanup (run.sh, after every process is stopped): the mount
bench_section_cleanup() {
    if mountpoint -q "$PEER_SYNC_MNT" 2>/dev/null; then
        umount "$PEER_SYNC_MNT" || bench_log "cannot unmount $PEER_SYNC_MNT"
    fi
    rm -f "$PEER_DIR/nats/sync.img"
}

# peer_run KEY CLIENT ARGS...: one run of a peer client; its line in
# $IT_RUN/peer-KEY.log, its rate in PEER_RATE
peer_run() {
    local key=$1 line
    shift
    line=$(timeout 900 "$@" 2>>"$IT_RUN/peer-$key.log") ||
        it_fail "$key: $(basename "$1") failed: $(tail -3 "$IT_RUN/peer-$key.log")"
    echo "$line" >>"$IT_RUN/peer-$key.log"
    PEER_RATE=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$line")
    bench_number "$PEER_RATE" "$key: events/s"
}

# the rows of the table, in order: key, system, settings
PEER_ROWS=(
    "conveyor|conveyor bus|outbox -> relay -> busd (CURVE) -> committed inbox; PostgreSQL fsync, synchronous_commit on"
    "conveyor_plain|conveyor bus|the same, CURVE off"
    "rabbitmq_classic|RabbitMQ 3.10|classic queue, durable, persistent, confirms (window 1,000), manual acks"
    "rabbitmq_quorum|RabbitMQ 3.10|quorum queue (1 node), persistent, confirms (window 1,000), manual acks"
    "rabbitmq_transient|RabbitMQ 3.10|transient: non-durable queue, no confirms (the client's ceiling)"
    "nats_file|NATS JetStream 2.9|file storage as shipped (fsync in the background), async publish (window 1,000), explicit acks"
    "nats_sync|NATS JetStream 2.9|file storage, every write synced (ext4 -o sync), same client"
)
declare -A PEER_RATES=()

echo "== peers: the bus beside RabbitMQ and NATS JetStream, $DURABLE_EVENTS events per run, 3 rounds, interleaved"
mkdir -p "$PEER_DIR"
peer_rabbitmq_start
peer_nats_start nats "$PEER_NATS_PORT" "$PEER_DIR/nats/file"
peer_sync_mount
peer_nats_start nats_sync "$PEER_NATS_SYNC_PORT" "$PEER_SYNC_MNT"
size=200
for round in 1 2 3; do
    for security in curve off; do
        bench_busd "$security"
        durable_run "p$round$security" "$security"
        size=$DURABLE_SIZE
        key=conveyor
        [ "$security" = off ] && key=conveyor_plain
        PEER_RATES[$key]+="$DURABLE_RATE "
        echo "   round $round, $key: $DURABLE_RATE events/s ($size B envelopes)"
    done
    bench_busd curve
    for mode in classic quorum transient; do
        peer_run "rabbitmq_$mode" "$IT_BIN/peer_amqp" 127.0.0.1 "$PEER_AMQP_PORT" "$mode" \
            "bench-$mode-$round" "$DURABLE_EVENTS" "$size"
        PEER_RATES[rabbitmq_$mode]+="$PEER_RATE "
        echo "   round $round, rabbitmq_$mode: $PEER_RATE events/s"
    done
    peer_run nats_file "$IT_BIN/peer_nats" "nats://127.0.0.1:$PEER_NATS_PORT" file \
        "bench_file_$round" "$DURABLE_EVENTS" "$size"
    PEER_RATES[nats_file]+="$PEER_RATE "
    echo "   round $round, nats_file: $PEER_RATE events/s"
    peer_run nats_sync "$IT_BIN/peer_nats" "nats://127.0.0.1:$PEER_NATS_SYNC_PORT" sync \
        "bench_sync_$round" "$DURABLE_EVENTS" "$size"
    PEER_RATES[nats_sync]+="$PEER_RATE "
    echo "   round $round, nats_sync: $PEER_RATE events/s"
done
it_stop nats_sync
it_stop nats
it_stop rabbitmq
it_stop epmd
bench_section_cleanup
BENCH_KEEP=

# the table: one row a system; conveyor ÷ peer against the bus as deployed
ours=$(tr ' ' '\n' <<<"${PEER_RATES[conveyor]}" | grep . | median)
{
    echo
    echo "== conveyor beside the durable brokers: $DURABLE_EVENTS events of $size B, one producer, one consumer, events/s"
    printf '%-20s %-100s %10s  %-26s %s\n' system settings median runs "conveyor ÷ peer"
    for row in "${PEER_ROWS[@]}"; do
        IFS='|' read -r key system settings <<<"$row"
        runs=${PEER_RATES[$key]% }
        med=$(tr ' ' '\n' <<<"$runs" | grep . | median) || it_fail "peers: no median for $key"
        ratio=$(awk -v o="$ours" -v p="$med" 'BEGIN { printf "%.2f", o / p }')
        [ "$key" = conveyor ] && ratio="1.00"
        printf '%-20s %-100s %10s  %-26s %s\n' "$system" "$settings" "$med" "${runs// /, }" "$ratio"
    done
    cat <<'NOTE'

What is equivalent: the same number of events of the same size, one producer and one
consumer each on its own connection, on this machine in one run, rounds interleaved;
in every durable row an event the producer holds an acknowledgement for survives the loss
of the machine (NATS as shipped: only up to its last background fsync); each consumer
receives every event once, in order (the clients check it). What is not: conveyor's
figure is commit to commit — the producer's outbox transaction, the relay's numbering
and the consumer's inbox and applied rows are PostgreSQL commits with fsync, so both
ends write to a database; the brokers' producers hand bytes to the broker and their
consumers write nothing, they only ack. conveyor's consumer commits per batch, the
RabbitMQ consumer acks once per 100 deliveries, the NATS consumer acks each message.
The brokers run without TLS; the first conveyor row has CURVE on (as deployed).
NOTE
} | tee "$PEER_TABLE" | tee -a "$RESULTS"
for row in "${PEER_ROWS[@]}"; do
    IFS='|' read -r key _ _ <<<"$row"
    runs=${PEER_RATES[$key]% }
    figure "peers.$key.events_per_s" "$(tr ' ' '\n' <<<"$runs" | grep . | median) (median of ${runs// /, })"
done
