#!/usr/bin/env bash
# The query engine benchmarks (docs/PERFORMANCE.md, "Query engine (issue 3)"): a generated city
# (bench/load_city.py) queried by type + q, near, within and idPattern, with the HTTP ceiling
# measured before and after in the same run.
#   BENCH_ENTITIES=1000000 BENCH_SECONDS=10 bench/run_query_bench.sh
# Each wrk scenario runs twice: with BENCH_CONNS (64) connections — throughput, and its share of
# the ceiling — and with 1 connection — the latency of a request that does not queue behind others.
# BIN / CEILING override the binaries (default: the release build); BENCH_HUB_ARGS adds flags to
# `cityhub serve` (e.g. --block-cache-mb 1024); BENCH_DATA=DIR keeps the loaded data there and
# reuses it on the next run (the load is skipped); BENCH_NO_ORDER=1 leaves out the orderBy
# scenarios (for binaries without orderBy). Needs wrk and curl; everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-1000000}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18027}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-11}
BIN=${BIN:-build/release/cityhub}
CEILING=${CEILING:-build/release/bench/http_ceiling}
if [[ -n "${BENCH_DATA:-}" ]]; then DATA=$BENCH_DATA; KEEP=1; mkdir -p "$DATA"; else DATA=$(mktemp -d /tmp/cityhub-qbench-XXXX); KEEP=0; fi
export BENCH_ENTITIES=$N BENCH_SEED=$SEED
trap 'kill $(jobs -p) 2>/dev/null || true; [[ $KEEP == 1 ]] || rm -rf "$DATA"' EXIT
URL=http://127.0.0.1:$PORT
CEILING_RATE=

. bench/lib.sh
# Waits until the hub uses < 10 % of a core over 2 s (flushes and compactions after the load done).
wait_idle() {  # pid
  local t0=$(date +%s) a b
  while (( $(date +%s) - t0 < 300 )); do
    a=$(awk '{print $14 + $15}' /proc/$1/stat); sleep 2; b=$(awk '{print $14 + $15}' /proc/$1/stat)
    (( (b - a) * 100 / $(getconf CLK_TCK) < 20 )) && { echo "hub idle after $(( $(date +%s) - t0 )) s"; return 0; }
  done
  echo "hub still busy after 300 s"
}
# One wrk run: label, connections, threads, wrk args… Prints req/s, p50, p99, non-2xx and (with
# more than one connection) the share of the ceiling measured before.
wrk_run() {
  local label=$1 conns=$2 threads=$3; shift 3
  local out rate
  out=$(wrk -t"$threads" -c"$conns" -d"${DUR}s" --timeout 30s --latency "$@")
  rate=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  printf '%-46s %10s req/s   p50 %-8s p99 %-8s non-2xx %s%s\n' "$label" "$rate" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/{print $NF}' | grep . || echo 0)" \
    "$( [[ -n $CEILING_RATE && $conns -gt 1 ]] && awk "BEGIN{printf \"   (%.1f %% of ceiling before)\", 100 * $rate / $CEILING_RATE}")"
  echo "$out" | grep -E "Socket errors" || true
  LAST_RATE=$rate
}
rss() { awk '/VmRSS/{printf "%.0f MB", $2/1024}' /proc/$1/status; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binaries: $BIN (built $(date -r "$BIN" '+%F %T')), $CEILING; checkout at $(git log -1 --format='%h %s' | cut -c1-60)"
ceiling() {  # label
  echo "== ceiling ($1): cityhub's HTTP stack, trivial GET (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  $CEILING --port $((PORT + 1)) 2>/dev/null & local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/trivial" >/dev/null && break; sleep 0.05; done
  wrk_run "ceiling (a) GET trivial, $CONNS connections" "$CONNS" 2 "http://127.0.0.1:$((PORT + 1))/trivial"
  kill $pid; wait $pid 2>/dev/null || true
}
ceiling before
CEILING_RATE=$LAST_RATE

echo "== hub with $N entities (data: $DATA)"
# shellcheck disable=SC2086
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --log-level warn ${BENCH_HUB_ARGS:-} & HUB=$!
wait_ready "$PORT" 6000  # a hub whose index version changed rebuilds its indexes first: ~1 min a million
MARK="$DATA/.bench-city-$N-s$SEED"
if [[ -f $MARK ]]; then
  echo "reusing the city loaded before ($MARK)"
else
  python3 bench/load_city.py load --port $PORT --entities "$N" --seed "$SEED" --batch 1000 --conns 2
  touch "$MARK"
  echo "RSS after load: $(rss $HUB)"
fi
wait_idle $HUB

echo "== answers: sample queries of each scenario against what the generator put there"
python3 bench/load_city.py check --port $PORT --entities "$N" --seed "$SEED"

scenario() {  # label, script[, entity type for BENCH_QUERY_TYPE]
  export BENCH_QUERY_TYPE=${3:-}
  wrk -t2 -c"$CONNS" -d2s --timeout 30s -s "$2" $URL >/dev/null  # warm-up
  wait_idle $HUB >/dev/null  # requests wrk left in flight are finished
  wrk_run "$1, $CONNS conns" "$CONNS" 2 -s "$2" $URL
  wait_idle $HUB >/dev/null
  wrk_run "$1, 1 conn" 1 1 -s "$2" $URL
  unset BENCH_QUERY_TYPE
}
echo "== scenarios (wrk, random parameters per request, BENCH_SEED=$SEED)"
scenario "1a type=WaterObserved&q=waterLevel>X" bench/wrk/query_q_range.lua
export BENCH_LIMIT=20
scenario "1a' same, default page (limit=20)" bench/wrk/query_q_range.lua
unset BENCH_LIMIT
scenario "1b type=ParkingSpot&q=refParkingSite==S" bench/wrk/query_q_equal.lua
scenario "1c type=WaterObserved&q=refDevice==D (1)" bench/wrk/query_q_one.lua
scenario "2  near;maxDistance==500, limit=100" bench/wrk/query_near.lua
scenario "2b near, type=ParkingSpot, limit=100" bench/wrk/query_near.lua ParkingSpot
if [[ -z ${BENCH_NO_ORDER:-} ]]; then  # orderBy (v1.9.1 §4.23): the same queries, ordered
  export BENCH_QUERY_EXTRA="orderBy=waterLevel;desc"
  scenario "1a+ same, orderBy=waterLevel;desc" bench/wrk/query_q_range.lua
  export BENCH_QUERY_EXTRA="orderBy=location;dist-asc"
  scenario "2+ near, orderBy=location;dist-asc" bench/wrk/query_near.lua
  export BENCH_QUERY_EXTRA="orderBy=refParkingSite"
  scenario "3b+ within ParkingSpot, orderBy=refParkingSite" bench/wrk/query_within.lua ParkingSpot
  unset BENCH_QUERY_EXTRA
fi
scenario "3  within 9 km2 district, count=true" bench/wrk/query_within.lua
scenario "3b within, type=ParkingSpot, count=true" bench/wrk/query_within.lua ParkingSpot

# Scenario 4: idPattern over all entities (no type), single requests one after another.
id_pattern_runs() {  # label, extra parameters
  local times=() first=
  RANDOM=$SEED
  for _ in $(seq 1 "$RUNS"); do
    local prefix=$(( (RANDOM * 32768 + RANDOM) % (N / 100 > 0 ? N / 100 : 1) ))
    local pattern=$(printf '^urn:ngsi-ld:[A-Za-z]+:jeonju:%05d[0-9]{2}$' $prefix)
    local enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$pattern")
    local out=$(curl -s -o /tmp/qbench-body.$$ -D /tmp/qbench-head.$$ -w '%{http_code} %{time_total}' \
                "$URL/ngsi-ld/v1/entities?idPattern=$enc$2")
    times+=("$(echo "$out" | awk '{printf "%.1f", $2 * 1000}')")
    if [[ -z $first ]]; then
      first="sample: $pattern -> HTTP ${out% *}, NGSILD-Results-Count $(awk 'tolower($1)=="ngsild-results-count:"{c=$2} END{print c == "" ? "-" : c}' /tmp/qbench-head.$$ | tr -d '\r'), $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' /tmp/qbench-body.$$) entities in the body"
    fi
  done
  rm -f /tmp/qbench-body.$$ /tmp/qbench-head.$$
  local sorted=($(printf '%s\n' "${times[@]}" | sort -g))
  printf '%-46s median %s ms   max %s ms   (%d runs: %s)\n' "$1" "${sorted[$(( ${#sorted[@]} / 2 ))]}" \
    "${sorted[-1]}" "$RUNS" "${times[*]}"
  echo "   $first"
}
echo "== scenario 4: idPattern over all entities, $RUNS single requests"
id_pattern_runs "4a idPattern, count=true (full scan)" "&count=true"
id_pattern_runs "4b idPattern, first page (limit=20)" ""

echo "RSS after queries: $(rss $HUB)"
kill -TERM $HUB; wait $HUB || true
bytes=$(du -sb "$DATA" | awk '{print $1}')
echo "disk: $((bytes / 1048576)) MB, $((bytes / N)) bytes per entity"
ceiling after
