#!/usr/bin/env bash
# The foundation benchmarks (docs/PERFORMANCE.md): the HTTP ceilings and the entity API figures
# measured side by side in one run on this machine.
#   BENCH_ENTITIES=1000000 BENCH_SECONDS=10 bench/run_entity_bench.sh
# Needs the release build (scripts/setup.sh release) and wrk. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-1000000}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18026}
BIN=${BIN:-build/release/cityhub}  # BIN=… compares another build side by side
CEILING=build/release/bench/http_ceiling
DATA=$(mktemp -d /tmp/cityhub-bench-XXXX)
export BENCH_ENTITIES=$N
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DATA"' EXIT

. bench/lib.sh
rate() { grep -E "Requests/sec" | awk '{print $2}'; }
wrk_run() {  # label, args…
  local label=$1; shift
  local out; out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$@")
  printf '%-40s %10s req/s   p50 %s  p99 %s\n' "$label" "$(echo "$out" | rate)" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')"
  echo "$out" | grep -E "Non-2xx|errors:|Socket errors" || true
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r)"
ceilings() {  # label
  echo "== ceilings ($1): cityhub's HTTP stack (same server options, same allocator), trivial handlers"
  $CEILING --port $((PORT + 1)) 2>/dev/null & local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/trivial" >/dev/null && break; sleep 0.05; done
  wrk_run "ceiling (a) GET trivial" "http://127.0.0.1:$((PORT + 1))/trivial"
  wrk_run "ceiling (b) POST 327-byte JSON, parsed" -s bench/wrk/post_json.lua "http://127.0.0.1:$((PORT + 1))/parse"
  kill $pid; wait $pid 2>/dev/null || true
}
ceilings before

echo "== hub with $N entities"
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --log-level warn & HUB=$!
wait_ready $PORT
python3 bench/load_entities.py --port $PORT --entities "$N" --batch 1000 --conns 2
echo "RSS after load: $(awk '/VmRSS/{printf "%.0f MB", $2/1024}' /proc/$HUB/status)"
wrk_run "GET /entities/{id}" -s bench/wrk/get_entity.lua http://127.0.0.1:$PORT
wrk_run "PATCH /entities/{id}/attrs (durable)" -s bench/wrk/patch_attrs.lua http://127.0.0.1:$PORT
echo "RSS after reads and updates: $(awk '/VmRSS/{printf "%.0f MB", $2/1024}' /proc/$HUB/status)"

t0=$(date +%s.%N); kill -TERM $HUB; wait $HUB || true; t1=$(date +%s.%N)
echo "graceful stop: $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s"
bytes=$(du -sb "$DATA" | awk '{print $1}')
echo "disk: $((bytes / 1048576)) MB, $((bytes / N)) bytes per entity"

t0=$(date +%s.%N); $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --log-level warn & HUB=$!
wait_ready $PORT; t1=$(date +%s.%N)
echo "restart to ready (clean shutdown before): $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s"
# Dirty the memtables, then crash and time the WAL replay.
wrk -t2 -c"$CONNS" -d3s -s bench/wrk/patch_attrs.lua http://127.0.0.1:$PORT >/dev/null
kill -9 $HUB; wait $HUB 2>/dev/null || true
t0=$(date +%s.%N); $BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --log-level warn & HUB=$!
wait_ready $PORT; t1=$(date +%s.%N)
echo "restart to ready after kill -9: $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s"
kill -TERM $HUB; wait $HUB || true
ceilings after
