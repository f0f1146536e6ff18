#!/usr/bin/env bash
# History on the two storage backends side by side in one run (docs/PERFORMANCE.md "History on
# PostgreSQL", issue 20: bytes per instance and P1D aggregation within 2x of RocksDB):
#   1. a year of minute data on one attribute (525,600 instances): daily aggregates (P1D) and
#      lastN=100, with the GET of a small entity as the ceiling of the same hub;
#   2. ingestion of BENCH_ENTITIES entities x a day of minute data (POST /temporal/entities), then
#      the bytes per instance;
#   3. history recorded one instance per write: BENCH_SECONDS of PATCHes (notify_bench
#      throughput, 10,000 entities, 16 connections), then the bytes per instance — on PostgreSQL
#      as written (a row per instance) and after the hub's background fold.
# Bytes: RocksDB, the data dir after a clean stop; PostgreSQL, the default tenant's tables with
# their indexes and TOAST after VACUUM (space that later writes reuse is not counted as free:
# the plain VACUUM leaves the files their size) and after VACUUM FULL.
#   BENCH_ENTITIES=2000 BENCH_SECONDS=20 bench/run_history_backends_bench.sh
# Needs the release build and PostgreSQL 15 (scripts/setup.sh). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18131}
ENTITIES=${BENCH_ENTITIES:-2000}
PATCH_SECONDS=${BENCH_SECONDS:-20}
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
per_instance() { awk -v b="$1" -v n="$2" 'BEGIN{printf "%.1f", b/n}'; }
bytes() {  # backend, name, instances: prints the bytes per instance
  local backend=$1 name=$2 n=$3
  if [ "$backend" = rocksdb ]; then
    local b; b=$(du -sb "$WORK/$name" | cut -f1)
    echo "  rocksdb: $b bytes = $(per_instance "$b" "$n") bytes per instance"
  else
    sql "$name" "VACUUM" >/dev/null
    local b; b=$(sql "$name" "$TABLES")
    sql "$name" "VACUUM FULL" >/dev/null
    local f; f=$(sql "$name" "$TABLES")
    echo "  postgres: $b bytes = $(per_instance "$b" "$n") bytes per instance after VACUUM; $f = $(per_instance "$f" "$n") after VACUUM FULL"
  fi
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg); load generator, hub and PostgreSQL share it"
for backend in rocksdb postgres; do
  echo "== $backend: 1. a year of minute data, P1D aggregates and lastN=100"
  hub "$backend" "year_$backend"
  "$BENCH" --hub-port "$PORT" --mode year --runs 20
  stop_hub
done

for backend in rocksdb postgres; do
  echo "== $backend: 2. ingestion, $ENTITIES entities x 1,440 instances"
  hub "$backend" "ingest_$backend"
  "$BENCH" --hub-port "$PORT" --mode ingest --entities "$ENTITIES" --conns 4
  stop_hub
  bytes "$backend" "ingest_$backend" $((ENTITIES * 1440))
done

# Instances recorded by the PATCH load: one per acknowledged PATCH (the hub's /metrics) plus one per
# entity notify_bench created (each has the one attribute it PATCHes).
recorded() {
  curl -sf "http://127.0.0.1:$PORT/metrics" |
    awk '/^cityhub_http_requests_total/ && /method="PATCH"/ && /status="204"/ {s += $2} END {printf "%d", s + 10000}'
}
for backend in rocksdb postgres; do
  echo "== $backend: 3. one instance per write, 2 x $PATCH_SECONDS s of PATCHes"
  hub "$backend" "patch_$backend"
  "$NOTIFY" --hub-port "$PORT" --mode throughput --entities 10000 --subscriptions 0 --conns 16 --seconds "$PATCH_SECONDS"
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
  hub postgres "patch_$backend"  # the hub folds once at start, then every minute
  for _ in $(seq 1 600); do
    [ "$(sql "patch_$backend" "SELECT count(*) FROM tenant_default.history")" -le "$blocks" ] && break
    sleep 0.1
  done
  stop_hub
  echo "  after the fold: $(sql "patch_$backend" "SELECT count(*) FROM tenant_default.history") rows"
  bytes postgres "patch_$backend" "$instances"
done
