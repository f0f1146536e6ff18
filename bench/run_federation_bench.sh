#!/usr/bin/env bash
# Distributed operations (docs/PERFORMANCE.md, "Federation"): the same queries answered by one
# hub holding all the data ("local") and by a hub holding none that forwards them to two source
# hubs holding half each ("federated"), side by side in one run, with the HTTP ceiling.
#   BENCH_ENTITIES=100000 BENCH_SECONDS=10 bench/run_federation_bench.sh
# Scenarios: (q) the spots of one parking site — BENCH_ENTITIES / 500 matches spread over both
# sources; (r) one entity by id — one source has it, the other answers 404. Each runs with one
# connection (latency: p50, p99 — the overhead is the difference) and with BENCH_CONNS (64)
# connections (throughput: the federated share of the local rate). All four hubs and wrk share
# the machine's cores, so the federated figures pay for three hubs' work on the same CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-100000}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18040}
BIN=${BIN:-build/release/cityhub}
CEILING=${CEILING:-build/release/bench/http_ceiling}
DATA=$(mktemp -d /tmp/cityhub-fedbench-XXXX)
export BENCH_ENTITIES=$N
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$DATA"' EXIT
. bench/lib.sh

ALL=$PORT SRC_A=$((PORT + 1)) SRC_B=$((PORT + 2)) FED=$((PORT + 3))
serve() {  # port, name, extra args…
  local port=$1 name=$2; shift 2
  $BIN serve --listen "127.0.0.1:$port" --data-dir "$DATA/$name" --log-level warn "$@" &
  wait_ready "$port"
}
wrk_run() {  # label, connections, threads, wrk args…; sets RATE P50 P99 (ms)
  local label=$1 conns=$2 threads=$3; shift 3
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${DUR}s" --timeout 30s --latency "$@")
  RATE=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  P50=$(echo "$out" | awk '/ 50%/{print $2}'); P99=$(echo "$out" | awk '/ 99%/{print $2}')
  printf '%-52s %10s req/s   p50 %-8s p99 %-8s non-2xx %s\n' "$label" "$RATE" "$P50" "$P99" \
    "$(echo "$out" | awk '/Non-2xx/{print $NF}' | grep . || echo 0)"
}
ms() { awk -v t="$1" 'BEGIN{ if (t ~ /us$/) {sub(/us$/, "", t); print t / 1000} else if (t ~ /ms$/) {sub(/ms$/, "", t); print t} else {sub(/s$/, "", t); print t * 1000} }'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binaries: $BIN (built $(date -r "$BIN" '+%F %T')); checkout at $(git log -1 --format='%h %s' | cut -c1-60)"
echo "== ceiling: cityhub's HTTP stack, trivial GET"
$CEILING --port $((PORT + 9)) 2>/dev/null & CEIL=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 9))/trivial" >/dev/null && break; sleep 0.05; done
wrk_run "ceiling GET trivial, $CONNS conns" "$CONNS" 2 "http://127.0.0.1:$((PORT + 9))/trivial"
kill $CEIL; wait $CEIL 2>/dev/null || true

echo "== hubs: local (all $N entities), source A and B (half each), federated (none; both registered)"
serve $ALL all
serve $SRC_A a
serve $SRC_B b
# The federated hub may keep as many requests open to a source as wrk keeps to it (the default,
# --federation-max-in-flight 8, would skip a source beyond 8 and answer without it).
# shellcheck disable=SC2086
serve $FED fed --outbound-allow 127.0.0.0/8 ${BENCH_FED_ARGS:---federation-max-in-flight $CONNS}
python3 bench/load_entities.py --port $ALL --entities "$N" --batch 1000 --conns 2
python3 bench/load_entities.py --port $SRC_A --entities $((N / 2)) --batch 1000 --conns 2
python3 bench/load_entities.py --port $SRC_B --first $((N / 2)) --entities $((N - N / 2)) --batch 1000 --conns 2
for src in $SRC_A $SRC_B; do
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$FED/ngsi-ld/v1/csourceRegistrations" -H 'Content-Type: application/json' \
    -d '{"type": "ContextSourceRegistration", "information": [{"entities": [{"type": "ParkingSpot"}]}],
         "endpoint": "http://127.0.0.1:'"$src"'", "mode": "inclusive"}'
done

echo "== answers: the federated answer equals the local one"
python3 - "$ALL" "$FED" <<'EOF'
import json, sys, urllib.parse, urllib.request
local, fed = sys.argv[1:3]
def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
        return json.load(r), r.headers.get("NGSILD-Results-Count")
for site in (0, 137, 499):
    q = urllib.parse.quote(f'refParkingSite=="urn:ngsi-ld:OffStreetParking:bench:{site:03d}"')
    path = f"/ngsi-ld/v1/entities?type=ParkingSpot&limit=1000&count=true&q={q}"
    (a, ca), (b, cb) = get(local, path), get(fed, path)
    ok = sorted(json.dumps(e, sort_keys=True) for e in a) == sorted(json.dumps(e, sort_keys=True) for e in b)
    print(f"  site {site}: local {len(a)} entities (count {ca}), federated {len(b)} (count {cb}): {'equal' if ok and ca == cb else 'DIFFERENT'}")
    if not ok or ca != cb: sys.exit(1)
EOF

declare -A R
for scenario in q r; do
  script=$([[ $scenario == q ]] && echo bench/wrk/query_site.lua || echo bench/wrk/get_entity.lua)
  label=$([[ $scenario == q ]] && echo "(q) spots of one site, limit=100" || echo "(r) GET /entities/{id}")
  for hub in local federated; do
    port=$([[ $hub == local ]] && echo $ALL || echo $FED)
    wrk -t1 -c1 -d2s -s "$script" "http://127.0.0.1:$port" >/dev/null  # warm-up
    wrk_run "$label, $hub, 1 conn" 1 1 -s "$script" "http://127.0.0.1:$port"
    R[$scenario-$hub-p50]=$(ms "$P50"); R[$scenario-$hub-p99]=$(ms "$P99")
    wrk_run "$label, $hub, $CONNS conns" "$CONNS" 2 -s "$script" "http://127.0.0.1:$port"
    R[$scenario-$hub-rate]=$RATE
  done
  awk -v a="${R[$scenario-local-p50]}" -v b="${R[$scenario-federated-p50]}" -v c="${R[$scenario-local-p99]}" \
      -v d="${R[$scenario-federated-p99]}" -v e="${R[$scenario-local-rate]}" -v f="${R[$scenario-federated-rate]}" -v l="$label" \
      'BEGIN{printf "   => %s: federation adds %.2f ms at p50, %.2f ms at p99 (1 conn); federated throughput %.0f %% of local\n", l, b - a, d - c, 100 * f / e}'
done
