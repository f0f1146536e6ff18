#!/usr/bin/env bash
# The notification benchmarks (docs/PERFORMANCE.md, issue 4), side by side in one run:
#   1. ceiling: PATCH round trip with no subscription (the same load, nothing notified);
#   2. latency from an update's acknowledgement to its arrival at an HTTP subscriber, at
#      BENCH_RATE updates/s with 1,000 subscriptions;
#   3. the same through mosquitto (MQTT QoS 0 and 1);
#   4. PATCH throughput with 10,000 subscriptions vs none: (a) every update notified, (b) every
#      update matched and its subscription's q evaluated, none notified.
#   BENCH_RATE=5000 BENCH_SECONDS=10 bench/run_notify_bench.sh
# Needs the release build (scripts/setup.sh release) and mosquitto. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${BENCH_RATE:-5000}
DUR=${BENCH_SECONDS:-10}
PORT=${BENCH_PORT:-18126}
BIN=build/release/cityhub
BENCH=build/release/bench/notify_bench
WORK=$(mktemp -d /tmp/cityhub-notify-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

. bench/lib.sh
hub() {  # name: a fresh hub on an empty data dir
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/$1" --log-level warn --outbound-allow 127.0.0.0/8 &
  HUB=$!
  wait_ready "$PORT"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r); load generator, hub and subscriber share it"
echo "== 1. ceiling: the same PATCH load, no subscriptions"
hub ceiling
"$BENCH" --hub-port "$PORT" --mode latency --entities 1000 --subscriptions 0 --rate "$RATE" --seconds "$DUR" | grep -E "^updates"
stop_hub

echo "== 2. HTTP subscriber: 1,000 subscriptions (one per entity), $RATE updates/s"
hub http
"$BENCH" --hub-port "$PORT" --mode latency --entities 1000 --subscriptions 1000 --rate "$RATE" --seconds "$DUR"
stop_hub

# set_tcp_nodelay: without it mosquitto's small packets (PUBACKs, deliveries) wait on Nagle's
# algorithm and the subscriber's delayed ACKs (tens of ms); recommended for alerting anyway.
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nuser %s\n' $((PORT + 2)) "$(id -un)" > "$WORK/mosquitto.conf"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
sleep 0.5
for qos in 0 1; do
  echo "== 3. MQTT subscriber through mosquitto, QoS $qos: 1,000 subscriptions, $RATE updates/s"
  hub "mqtt$qos"
  "$BENCH" --hub-port "$PORT" --mode latency --entities 1000 --subscriptions 1000 --rate "$RATE" --seconds "$DUR" \
    --mqtt "127.0.0.1:$((PORT + 2))" --qos "$qos"
  stop_hub
done

echo "== 4a. PATCH throughput with 10,000 subscriptions (one per entity), every update notified, vs none"
echo "   (subscriber on cityhub's HTTP stack, then a one-thread epoll subscriber: the subscriber shares the cores)"
for receiver in hub lean; do
  hub "throughput-$receiver"
  "$BENCH" --hub-port "$PORT" --mode throughput --entities 10000 --subscriptions 10000 --conns 64 --seconds "$DUR" \
    --receiver "$receiver"
  stop_hub
done
echo "== 4b. the same, the subscriptions' q evaluated on every update but never true (matching without delivery)"
hub matching
"$BENCH" --hub-port "$PORT" --mode throughput --entities 10000 --subscriptions 10000 --conns 64 --seconds "$DUR" --q "seq<0"
stop_hub
