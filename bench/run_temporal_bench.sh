#!/usr/bin/env bash
# The temporal benchmarks (docs/PERFORMANCE.md, issue 5), side by side in one run:
#   1. a year of minute data on one attribute: daily aggregates (P1D) and lastN=100, with the
#      GET of a small current entity as the ceiling of the same HTTP stack and store;
#   2. ingestion: BENCH_ENTITIES (10,000) entities x a day of minute data via
#      POST /temporal/entities, then the bytes on disk per instance (after a clean stop, which
#      flushes the memtables);
#   3. PATCH /entities/{id}/attrs throughput with history recording on and off, alternating.
#   bench/run_temporal_bench.sh
# Needs the release build (scripts/setup.sh release). Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18127}
ENTITIES=${BENCH_ENTITIES:-10000}
BIN=build/release/cityhub
BENCH=build/release/bench/temporal_bench
NOTIFY=build/release/bench/notify_bench
WORK=$(mktemp -d /tmp/cityhub-temporal-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

. bench/lib.sh
hub() {  # data dir name, extra flags…
  local dir=$1; shift
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/$dir" --log-level warn "$@" &
  HUB=$!
  wait_ready
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r); load generator and hub share it"
echo "== 1. a year of minute data (525,600 instances of one attribute)"
hub year
"$BENCH" --hub-port "$PORT" --mode year --runs 20
stop_hub

echo "== 2. ingestion: $ENTITIES entities x 1,440 instances, POST /temporal/entities"
hub ingest
"$BENCH" --hub-port "$PORT" --mode ingest --entities "$ENTITIES" --conns 4
stop_hub  # a clean stop flushes the memtables: what remains is what a restart would find
bytes=$(du -sb "$WORK/ingest" | cut -f1)
echo "on disk after a clean stop: $bytes bytes = $(awk -v b="$bytes" -v n="$ENTITIES" 'BEGIN{printf "%.1f", b/(n*1440)}') bytes per instance (everything in the data dir counted)"

echo "== 3. PATCH throughput, history recording off and on (64 connections, 10,000 entities, 10 s each, alternating)"
for round in 1 2; do
  for history in false true; do
    hub "patch-$history-$round" --history "$history"
    printf 'history %-5s ' "$history"
    "$NOTIFY" --hub-port "$PORT" --mode throughput --entities 10000 --subscriptions 0 --conns 64 --seconds 10 | sed 's/ with 0 .*//'
    stop_hub
  done
done
