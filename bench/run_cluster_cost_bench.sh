#!/usr/bin/env bash
# What a durable update costs on the highly available cluster (docs/OPERATIONS.md capacity plan):
# scripts/cluster.sh (primary + synchronous standby, three hubs, HAProxy), BENCH_ENTITIES
# parking spots loaded, then (1) wrk PATCHes random ones for BENCH_SECONDS through HAProxy, (2) all
# are upserted again in batches of 1,000 (as the IoT agent writes). Prints for each
# the rate, latency, and CPU milliseconds per update spent by the hubs, HAProxy, the primary and
# the standby (from /proc: each process's user + system time before and after), and the WAL
# bytes per update (what replication and archiving carry).
#   BENCH_ENTITIES=50000 BENCH_SECONDS=20 BENCH_CONNS=32 bench/run_cluster_cost_bench.sh
# Needs the release build, PostgreSQL 15, haproxy and wrk (scripts/setup.sh). All on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-50000}
DUR=${BENCH_SECONDS:-20}
CONNS=${BENCH_CONNS:-32}
WORK=$(mktemp -d /tmp/cityhub-cluster-bench-XXXX)
chmod 755 "$WORK"  # PostgreSQL runs as `postgres` when this runs as root
trap 'scripts/cluster.sh stop "$WORK/c" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
export CITYHUB_BIN=${CITYHUB_BIN:-$PWD/build/release/cityhub}
CLUSTER_HUB_ARGS="--log-level warn" scripts/cluster.sh start "$WORK/c"
. "$WORK/c/cluster.env"
HUB1=${HUB_PORTS%%,*}
python3 bench/load_entities.py --port "$HUB1" --entities "$N" --batch 1000 --conns 2 >/dev/null

postmaster() { head -1 "$WORK/c/$1/postmaster.pid"; }
# CPU seconds (user + system, children that ended excluded) of the given pids.
cpu() { for p in "$@"; do [ -r "/proc/$p/stat" ] && awk '{print ($14 + $15)}' "/proc/$p/stat"; done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.3f", s / hz}'; }
server_pids() { local pm; pm=$(postmaster "$1"); echo "$pm" $(ps -o pid= --ppid "$pm"); }
hub_pids() { cat "$WORK"/c/hub*.pid; }
lsn() { runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U cityhub -d postgres -tAc "$1"; }

echo "machine: $(nproc) cores; the load generator, HAProxy, three hubs and both PostgreSQL servers share it"
# A short warm-up: every hub's pool connected, the statements prepared.
wrk -t2 -c"$CONNS" -d3s -s bench/wrk/patch_attrs.lua "$LB_URL" >/dev/null
P=$(server_pids primary); S=$(server_pids standby); H=$(hub_pids); A=$(head -1 "$WORK/c/haproxy.pid")

# measure LABEL UPDATES-COMMAND…: runs the command (which prints the number of updates it made
# on its last line) and prints CPU and WAL per update.
measure() {
  local label=$1
  shift
  local bp bs bh ba wal_before out n
  bp=$(cpu $P); bs=$(cpu $S); bh=$(cpu $H); ba=$(cpu $A)
  wal_before=$(lsn "SELECT pg_current_wal_lsn()")
  out=$("$@")
  n=$(echo "$out" | tail -1)
  echo "== $label"
  echo "$out" | sed '$d'
  python3 - "$n" "$bh" "$(cpu $H)" "$ba" "$(cpu $A)" "$bp" "$(cpu $P)" "$bs" "$(cpu $S)" \
    "$(lsn "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_before')")" <<'PY'
import sys
n = int(sys.argv[1])
h, a, p, s = (float(sys.argv[i + 1]) - float(sys.argv[i]) for i in (2, 4, 6, 8))
ms = lambda cpu: cpu * 1000 / n
print(f"CPU per update: hubs {ms(h):.3f} ms, HAProxy {ms(a):.3f} ms, primary {ms(p):.3f} ms, standby {ms(s):.3f} ms; "
      f"total {ms(h + a + p + s):.3f} ms")
print(f"WAL per update: {float(sys.argv[10]) / n:.0f} bytes")
PY
}

patches() {
  local out
  out=$(BENCH_ENTITIES=$N wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s bench/wrk/patch_attrs.lua "$LB_URL")
  echo "$out" | grep -E "Requests/sec|  50%|  99%|errors"
  if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers: not figures of durable updates" >&2; exit 1; fi
  echo "$out" | awk '/requests in/{print $1}'
}
batches() {  # the N entities again, 1,000 a request (as the IoT agent writes): updates
  python3 bench/load_entities.py --port "$LB_PORT" --entities "$N" --batch 1000 --conns 2
  echo "$N"
}
measure "PATCH /entities/{id}/attrs, one entity a request, $CONNS connections, ${DUR} s" patches
measure "POST /entityOperations/upsert, 1,000 entities a request, 2 connections" batches
