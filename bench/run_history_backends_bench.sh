#!/usr/bin/env bash
# History on the two storage backends side by side in one run (docs/PERFORMANCE.md "History on
# PostgreSQL", issue 20: bytes per instance and P1D aggregation within 2x of RocksDB):
#   1. a year of minute data on one attribute (525,600 instances): daily aggregates (P1D) and
#      lastN=100, with the GET of a small entity as the ceiling of the same hub;
#   2. ingestion of BENCH_ENTITIES entities x a day of minute data (POST /temporal/entities), then
#      the bytes per instance;
#   3. history recorded one instance per write: BENCH_SECONDS of PATCHes (notify_bench
#      throughput, 100 entities, 16 connections), then the bytes per instance — on PostgreSQL
#      as written (a row per instance) and after the hub's background fold.
# On PostgreSQL every figure is taken after the hub's background fold (history_folding.h: a hub
# folds at start and then every minute; the script restarts the hub and waits for the fold), and
# for scenario 3 as written too.
# Bytes: RocksDB, the data dir after a clean stop; PostgreSQL, the default tenant's tables with
# their indexes and TOAST after VACUUM (space that later writes reuse is not counted as free:
# the plain VACUUM leaves the files their size) and after VACUUM FULL; both less what the same
# hub's store holds empty (measured first), so fixed costs are not charged to the instances.
#   BENCH_ENTITIES=2000 BENCH_SECONDS=20 bench/run_history_backends_bench.sh
# Needs the release build and PostgreSQL 15 (scripts/setup.sh). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18131}
ENTITIES=${BENCH_ENTITIES:-2000}
PATCH_SECONDS=${BENCH_SECONDS:-20}
PATCH_ENTITIES=100  # few entities, many instances each: the history, not the entities, is measured
BIN=build/release/cityhub
BENCH=build/release/bench/temporal_bench
NOTIFY=build/release/bench/notify_bench
WORK=$(mktemp -d /tmp/cityhub-history-backends-XXXX)
PG=$WORK/pg
trap 'kill $(jobs -p) 2>/dev/null || true; scripts/pg-test-cluster.sh stop "$PG" || true; rm -rf "$WORK"' EXIT
chmod 755 "$WORK"

. bench/lib.sh
scripts/pg-test-cluster.sh start "$PG"
SERVER=$(sed 's#/postgres$##' "$PG/conninfo")  # postgresql://cityhub@127.0.0.1:PORT
sql() {  # database, statement
  psql -X -q -t -A "$SERVER/$1" -c "$2"
}
hub() {  # backend, name, extra flags…
  local backend=$1 name=$2; shift 2
  local store=()
  if [ "$backend" = postgres ]; then
    sql postgres "CREATE DATABASE $name" 2>/dev/null || true
    store=(--store "$SERVER/$name")
  fi
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/$name" "${store[@]}" --log-level warn "$@" &
  HUB=$!
  wait_ready
}
TABLES="SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'tenant_default' AND c.relkind = 'r'"
per_instance() { awk -v b="$1" -v e="$2" -v n="$3" 'BEGIN{printf "%.1f", (b - e)/n}'; }
store_bytes() {  # backend, name, [full]: the store's size (PostgreSQL: after VACUUM, or VACUUM FULL)
  if [ "$1" = rocksdb ]; then
    du -sb "$WORK/$2" | cut -f1
  else
    sql "$2" "VACUUM ${3:+FULL}" >/dev/null
    sql "$2" "$TABLES"
  fi
}
bytes() {  # backend, name, instances: prints the bytes per instance
  local backend=$1 name=$2 n=$3
  if [ "$backend" = rocksdb ]; then
    local b; b=$(store_bytes rocksdb "$name")
    echo "  rocksdb: $b bytes (empty: $EMPTY_rocksdb) = $(per_instance "$b" "$EMPTY_rocksdb" "$n") bytes per instance"
  else
    local b; b=$(store_bytes postgres "$name")
    local f; f=$(store_bytes postgres "$name" full)
    echo "  postgres: $b bytes (empty: $EMPTY_postgres) = $(per_instance "$b" "$EMPTY_postgres" "$n") bytes per instance" \
         "after VACUUM; $f = $(per_instance "$f" "$EMPTY_postgres" "$n") after VACUUM FULL"
  fi
}
fold() {  # name: restarts the PostgreSQL hub of `name` and waits for its fold at start
  local top
  top=$(sql "$1" "SELECT coalesce(max(part), 0) FROM tenant_default.history")
  hub postgres "$1"
  for _ in $(seq 1 1200); do
    [ "$(sql "$1" "SELECT horizon FROM tenant_default.history_fold")" -ge "$top" ] && break
    sleep 0.1
  done
  stop_hub
  echo "  folded: $(sql "$1" "SELECT count(*), count(*) FILTER (WHERE compressed) FROM tenant_default.history" | tr '|' ' ') rows (all, compressed)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg); load generator, hub and PostgreSQL share it"
for backend in rocksdb postgres; do  # what an empty hub's store holds
  hub "$backend" "empty_$backend"
  stop_hub
  declare "EMPTY_$backend=$(store_bytes "$backend" "empty_$backend" full)"
done

for backend in rocksdb postgres; do
  echo "== $backend: 1. a year of minute data, P1D aggregates and lastN=100"
  hub "$backend" "year_$backend"
  "$BENCH" --hub-port "$PORT" --mode year --runs 20
  stop_hub
  if [ "$backend" = postgres ]; then
    fold "year_$backend"
    hub postgres "year_$backend"
    "$BENCH" --hub-port "$PORT" --mode year-queries --runs 20
    stop_hub
  fi
done

for backend in rocksdb postgres; do
  echo "== $backend: 2. ingestion, $ENTITIES entities x 1,440 instances"
  hub "$backend" "ingest_$backend"
  "$BENCH" --hub-port "$PORT" --mode ingest --entities "$ENTITIES" --conns 4
  stop_hub
  [ "$backend" = postgres ] && fold "ingest_$backend"
  bytes "$backend" "ingest_$backend" $((ENTITIES * 1440))
done

# Instances recorded by the PATCH load: one per acknowledged PATCH (the hub's /metrics) plus one per
# entity notify_bench created (each has the one attribute it PATCHes).
recorded() {
  curl -sf "http://127.0.0.1:$PORT/metrics" |
    awk -v n="$PATCH_ENTITIES" '/^cityhub_http_requests_total/ && /method="PATCH"/ && /status="204"/ {s += $2} END {printf "%d", s + n}'
}
for backend in rocksdb postgres; do
  echo "== $backend: 3. one instance per write, 2 x $PATCH_SECONDS s of PATCHes"
  hub "$backend" "patch_$backend"
  "$NOTIFY" --hub-port "$PORT" --mode throughput --entities "$PATCH_ENTITIES" --subscriptions 0 --conns 16 --seconds "$PATCH_SECONDS"
  instances=$(recorded)
  stop_hub
  echo "  $instances instances recorded"
  if [ "$backend" = rocksdb ]; then
    bytes rocksdb "patch_$backend" "$instances"
    continue
  fi
  rows=$(sql "patch_$backend" "SELECT count(*) FROM tenant_default.history")
  blocks=$(sql "patch_$backend" "SELECT count(*) FROM (SELECT DISTINCT entity_id, attr, block FROM tenant_default.history) b")
  echo "  as written: $rows rows in $blocks blocks"
  bytes postgres "patch_$backend" "$instances"
  fold "patch_$backend"
  bytes postgres "patch_$backend" "$instances"
done
