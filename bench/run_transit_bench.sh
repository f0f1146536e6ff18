#!/usr/bin/env bash
# The journey planner over HTTP (docs/PERFORMANCE.md, "Journey planning (issue 19)"): a hub with
# the NYC subway + bus feed imported (`cityhub import gtfs`, timed), restarted from its saved
# snapshot (timed), then GET /mobility/v1/plan between random stops at random times of
# Wednesday 2026-09-16 with BENCH_CONNS (64) connections and with 1, next to the HTTP ceiling
# (cityhub's HTTP stack serving a trivial GET) measured in the same run.
#   BENCH_SECONDS=10 bench/run_transit_bench.sh
# FEED overrides the zip; BIN / CEILING the binaries. Needs wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18037}
BIN=${BIN:-build/release/cityhub}
CEILING=${CEILING:-build/release/bench/http_ceiling}
FEED=${FEED:-../shared/data/gtfs/mta_nyc_subway_bus_20260526-20270102.zip}
WORK=$(mktemp -d /tmp/cityhub-tbench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh
export BENCH_PLAN_STOPS=$WORK/stops.txt BENCH_PLAN_DATE=2026-09-16 BENCH_PLAN_OFFSET=-04:00

wrk_run() {  # label, connections, threads, wrk args…
  local label=$1 conns=$2 threads=$3; shift 3
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${DUR}s" --timeout 30s --latency "$@")
  LAST_RATE=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  printf '%-44s %10s req/s   p50 %-8s p99 %-8s non-2xx %s\n' "$label" "$LAST_RATE" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/{print $NF}' | grep . || echo 0)"
}
rss() { awk '/VmRSS/{printf "%.0f MB", $2/1024}' /proc/$1/status; }
ceiling() {
  $CEILING --port $((PORT + 1)) 2>/dev/null & local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/trivial" >/dev/null && break; sleep 0.05; done
  wrk_run "ceiling ($1): GET trivial, $CONNS conns" "$CONNS" 2 "http://127.0.0.1:$((PORT + 1))/trivial"
  kill $pid; wait $pid 2>/dev/null || true
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binaries: $BIN (built $(date -r "$BIN" '+%F %T')); checkout at $(git log -1 --format='%h %s' | cut -c1-60)"
# 500 random stops that trips call at, as "lat,lon".
python3 - "$FEED" "$BENCH_PLAN_STOPS" <<'PY'
import csv, io, random, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
served = set()
with z.open("stop_times.txt") as f:
    for row in csv.DictReader(io.TextIOWrapper(f, "utf-8-sig")):
        served.add(row["stop_id"])
stops = []
with z.open("stops.txt") as f:
    for row in csv.DictReader(io.TextIOWrapper(f, "utf-8-sig")):
        if row["stop_id"] in served:
            stops.append(f'{float(row["stop_lat"]):.6f},{float(row["stop_lon"]):.6f}')
random.seed(1)
open(sys.argv[2], "w").write("\n".join(random.sample(stops, min(500, len(stops)))) + "\n")
PY

ceiling before
CEILING_RATE=$LAST_RATE
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --log-level info > "$WORK/hub.log" 2>&1 & HUB=$!
wait_ready "$PORT"
start=$(date +%s.%N)
$BIN import gtfs "$FEED" --listen 127.0.0.1:$PORT | head -1
echo "import (upload, read, validate, build, save): $(echo "$(date +%s.%N) - $start" | bc) s; hub RSS $(rss $HUB), peak $(awk '/VmHWM/{printf "%.0f MB", $2/1024}' /proc/$HUB/status)"
kill -TERM $HUB; wait $HUB || true
start=$(date +%s.%N)
$BIN serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --log-level info > "$WORK/hub2.log" 2>&1 & HUB=$!
wait_ready "$PORT"
echo "restart until ready: $(echo "$(date +%s.%N) - $start" | bc) s ($(grep -o 'loaded from its snapshot in [0-9]* ms' "$WORK/hub2.log"))"
wrk -t2 -c"$CONNS" -d2s --timeout 30s -s bench/wrk/plan.lua "http://127.0.0.1:$PORT" >/dev/null  # warm-up: the day's timetable
wrk_run "plan, random stops and times, $CONNS conns" "$CONNS" 2 -s bench/wrk/plan.lua "http://127.0.0.1:$PORT"
echo "   = $(awk "BEGIN{printf \"%.2f %%\", 100 * $LAST_RATE / $CEILING_RATE}") of the ceiling measured before"
wrk_run "plan, random stops and times, 1 conn" 1 1 -s bench/wrk/plan.lua "http://127.0.0.1:$PORT"
echo "hub RSS after: $(rss $HUB)"
kill -TERM $HUB; wait $HUB || true
ceiling after
