#!/usr/bin/env bash
# Issue 20, point 5: the hub's write and read path against the hardware's ceilings, side by side
# in one run (docs/PERFORMANCE.md, "The write path: the hardware's ceilings"):
#   (1) bench/bare_http: Beast alone, a GET and a PATCH whose JSON body is parsed;
#   (2) bench/bare_rocksdb: RocksDB alone, durable single-document updates from CONNS writers;
#   (3) the hub: durable PATCH of two attributes and GET by id on N loaded parking spots.
#   BENCH_ENTITIES=1000000 BENCH_SECONDS=8 BENCH_CONNS=32 bench/run_write_path_bench.sh
# Needs the release build (scripts/setup.sh release) and wrk. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-50000}
DUR=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNS:-32}
PORT=${BENCH_PORT:-18410}
BIN=${BIN:-build/release/cityhub}  # BIN=… compares another build side by side
HUB_ARGS=${HUB_ARGS:-}             # extra `cityhub serve` options, e.g. "--worker-threads 64"
WORK=$(mktemp -d /tmp/cityhub-wpath-XXXX)
export BENCH_ENTITIES=$N
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh

wrk_run() {  # label, args…
  local label=$1; shift
  local out; out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$@")
  printf '%-46s %10s   p50 %-8s p99 %s\n' "$label" "$(echo "$out" | wrk_rate)" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
echo "== ceilings"
build/release/bench/bare_http --port $((PORT + 1)) --threads "$(nproc)" >/dev/null 2>&1 & BARE=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/x" >/dev/null && break; sleep 0.05; done
wrk_run "bare Beast GET" "http://127.0.0.1:$((PORT + 1))/x"
wrk_run "bare Beast PATCH, body parsed" -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$((PORT + 1))"
kill $BARE; wait $BARE 2>/dev/null || true
build/release/bench/bare_rocksdb --dir "$WORK/bare" --entities "$N" --threads "$CONNS" --seconds "$DUR" |
  sed "s/^/bare RocksDB, $CONNS writers: /"
rm -rf "$WORK/bare"

echo "== hub with $N parking spots ($HUB_ARGS)"
# shellcheck disable=SC2086
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$WORK/hub" --log-level warn $HUB_ARGS & HUB=$!
wait_ready $PORT
python3 bench/load_entities.py --port $PORT --entities "$N" --batch 1000 --conns 2 >/dev/null
wrk_run "hub PATCH /entities/{id}/attrs (durable)" -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$PORT"
wrk_run "hub GET /entities/{id}" -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT"
echo "hub RSS: $(awk '/VmRSS/{printf "%.0f MB", $2/1024}' /proc/$HUB/status)"
stop_hub
