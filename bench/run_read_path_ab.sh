#!/usr/bin/env bash
# Two (or more) builds of the hub side by side on the read path (docs/PERFORMANCE.md, "Reading
# from the stored text"): each round runs every binary in turn on a fresh data dir — 50,000
# parking spots loaded — then GET /entities/{id} (32 connections, 6 s), and the query of one
# parking site's spots, q=refParkingSite==…&limit=100, with one connection (latency, 6 s) and
# with 32 (throughput, 6 s); the builds see the same disturbances, so their ratio means something.
#   ROUNDS=3 bench/run_read_path_ab.sh /tmp/cityhub-before build/release/cityhub
# Needs wrk. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN…]" >&2; exit 2; }
N=${BENCH_ENTITIES:-50000}
PORT=${BENCH_PORT:-18460}
export BENCH_ENTITIES=$N
WORK=$(mktemp -d /tmp/cityhub-read-ab-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh

figures() { awk '/Non-2xx/{bad=1} /Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p=$2} END{if (bad) {print "non-2xx answers!"; exit 1} print r " req/s, p50 " p50 ", p99 " p}'; }
measure() {  # round, binary
  local get q1 q32
  get=$(wrk -t2 -c32 -d6s --latency -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT" | figures)
  q1=$(wrk -t1 -c1 -d6s --latency -s bench/wrk/query_site.lua "http://127.0.0.1:$PORT" | figures)
  q32=$(wrk -t2 -c32 -d6s --latency -s bench/wrk/query_site.lua "http://127.0.0.1:$PORT" | figures)
  echo "round $1  $2"
  echo "  GET by id, 32 conns        $get"
  echo "  query of a site, 1 conn    $q1"
  echo "  query of a site, 32 conns  $q32"
}
ab_rounds measure "$@"
