#!/usr/bin/env bash
# Two (or more) builds of the hub side by side on a shared, noisy machine (docs/PERFORMANCE.md,
# "The write path"): each round runs every binary in turn on a fresh data dir — 50,000 parking
# spots loaded, then durable PATCH /entities/{id}/attrs for 8 s and GET /entities/{id} for 6 s,
# 32 connections — so that the builds see the same disturbances and their ratio means something.
#   ROUNDS=3 bench/run_write_path_ab.sh /tmp/cityhub-before build/release/cityhub
# Needs wrk. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN…]" >&2; exit 2; }
N=${BENCH_ENTITIES:-50000}
PORT=${BENCH_PORT:-18440}
export BENCH_ENTITIES=$N
WORK=$(mktemp -d /tmp/cityhub-ab-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh

rate_p99() { awk '/Requests\/sec/{r=$2} / 99%/{p=$2} END{print r " req/s, p99 " p}'; }
measure() {  # round, binary
  patch=$(wrk -t2 -c32 -d8s --latency -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$PORT" | rate_p99)
  get=$(wrk -t2 -c32 -d6s --latency -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT" | rate_p99)
  echo "round $1  $2  PATCH $patch  GET $get  steal $(top -b -n1 | awk -F, '/Cpu/{print $8}')"
}
ab_rounds measure "$@"
