#!/usr/bin/env bash
# The same load on RocksDB (one hub), PostgreSQL with one hub, and PostgreSQL with three hubs
# behind HAProxy, one after the other in one run on this machine (issue 20: "one hub vs three hubs
# vs RocksDB, same run and machine: throughput, p99, CPU per request"). BENCH_ENTITIES parking
# spots are loaded, then wrk runs for BENCH_SECONDS each: durable PATCHes of two attributes of a
# random spot, and GETs of a random spot. For each, the rate, p50, p99 and the CPU milliseconds
# per request of the hubs, HAProxy and PostgreSQL (from /proc: user + system time of every
# process of each side, before and after). PostgreSQL here is the primary alone (no standby:
# bench/run_cluster_cost_bench.sh measures replication), fsync and synchronous_commit on, the
# defaults otherwise.
#   BENCH_ENTITIES=50000 BENCH_SECONDS=15 BENCH_CONNS=32 bench/run_backends_bench.sh
# Needs the release build, PostgreSQL 15, haproxy and wrk (scripts/setup.sh). All on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-50000}
DUR=${BENCH_SECONDS:-15}
CONNS=${BENCH_CONNS:-32}
WORK=$(mktemp -d /tmp/cityhub-backends-bench-XXXX)
chmod 755 "$WORK"  # PostgreSQL runs as `postgres` when this runs as root
export CITYHUB_BIN=${CITYHUB_BIN:-$PWD/build/release/cityhub}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HUB=
cleanup() {
  [ -n "$HUB" ] && kill "$HUB" 2>/dev/null || true
  for c in "$WORK"/pg1 "$WORK"/pg3; do scripts/cluster.sh stop "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
. bench/lib.sh

# CPU seconds (user + system) of the given pids.
cpu() { for p in "$@"; do [ -r "/proc/$p/stat" ] && awk '{print ($14 + $15)}' "/proc/$p/stat"; done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.3f", s / hz}'; }
# PostgreSQL's processes: the postmaster and its children (backends, WAL writer, checkpointer…).
pg_pids() { local pm; pm=$(head -1 "$1/primary/postmaster.pid"); echo "$pm" $(ps -o pid= --ppid "$pm"); }

# run CONFIG URL "HUB PIDS" "HAPROXY PID" "PG DIR": wrk PATCH then GET against URL.
run() {
  local config=$1 url=$2 hubs=$3 lb=$4 pgdir=$5
  # A short warm-up: connections pooled, statements prepared, caches filled.
  BENCH_ENTITIES=$N wrk -t2 -c"$CONNS" -d3s -s bench/wrk/patch_attrs.lua "$url" >/dev/null
  for load in patch_attrs get_entity; do
    local pg="" h0 l0 p0 out
    [ -n "$pgdir" ] && pg=$(pg_pids "$pgdir")
    h0=$(cpu $hubs); l0=$(cpu $lb); p0=$(cpu $pg)
    out=$(BENCH_ENTITIES=$N wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "bench/wrk/$load.lua" "$url")
    if echo "$out" | grep -q "Non-2xx"; then echo "$config $load: non-2xx answers, no figure" >&2; exit 1; fi
    python3 - "$config" "$load" "$h0" "$(cpu $hubs)" "$l0" "$(cpu $lb)" "$p0" "$(cpu $pg)" "$out" <<'PY'
import re, sys
config, load = sys.argv[1], sys.argv[2]
h, l, p = (float(sys.argv[i + 1]) - float(sys.argv[i]) for i in (3, 5, 7))
out = sys.argv[9]
n = int(re.search(r"(\d+) requests in", out).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
def pct(q):
    m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)\b", out)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
ms = lambda s: s * 1000 / n
print(f"{config:<22} {load:<12} {rate:>9.0f}/s  p50 {pct(50):7.2f} ms  p99 {pct(99):7.2f} ms  "
      f"CPU/request: hubs {ms(h):.3f} ms, HAProxy {ms(l):.3f} ms, PostgreSQL {ms(p):.3f} ms, total {ms(h + l + p):.3f} ms")
PY
  done
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; load generator, hubs, HAProxy and PostgreSQL share it"
echo "$N entities, wrk -c$CONNS, ${DUR} s a figure"

# 1. RocksDB, one hub.
"$CITYHUB_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/rocksdb" --log-level warn &
HUB=$!
wait_ready
python3 bench/load_entities.py --port "$PORT" --entities "$N" --batch 1000 --conns 2 >/dev/null
run "RocksDB, 1 hub" "http://127.0.0.1:$PORT" "$HUB" "" ""
kill "$HUB"; wait "$HUB" 2>/dev/null || true
HUB=

# 2 and 3. PostgreSQL with one hub (wrk to the hub), then three hubs (wrk to HAProxy).
for hubs in 1 3; do
  dir=$WORK/pg$hubs
  CLUSTER_HUBS=$hubs CLUSTER_STANDBY=0 CLUSTER_HUB_ARGS="--log-level warn" scripts/cluster.sh start "$dir" >/dev/null
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  first=${HUB_PORTS%%,*}
  python3 bench/load_entities.py --port "$first" --entities "$N" --batch 1000 --conns 2 >/dev/null
  url=$LB_URL
  ((hubs == 1)) && url=http://127.0.0.1:$first
  run "PostgreSQL, $hubs hub$( ((hubs > 1)) && echo s)" "$url" "$(cat "$dir"/hub*.pid)" "$(head -1 "$dir/haproxy.pid")" "$dir"
  scripts/cluster.sh stop "$dir" >/dev/null
done
