#!/usr/bin/env bash
# The parking forecast benchmarks (docs/PERFORMANCE.md, issue 7):
#   1. its measured error on simulated car parks (bench/parking_forecast_bench.cc), beside the
#      persistence and usual-curve baselines of the same run;
#   2. the latency of the forecast endpoint on eight weeks of a busy car park's history, beside
#      the GET of the same entity (bench/forecast_latency.py).
#   bench/run_forecast_bench.sh          (BENCH_INTERVAL=30 seconds between history instances)
# Needs the release build (scripts/setup.sh release). Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18128}
WORK=$(mktemp -d /tmp/cityhub-forecast-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "== 1. measured error"
build/release/bench/parking_forecast_bench --seeds "${BENCH_SEEDS:-20}"
echo "== 2. latency"
build/release/cityhub serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn &
wait_ready
python3 bench/forecast_latency.py "$PORT" "${BENCH_INTERVAL:-30}" "${BENCH_RUNS:-50}"
