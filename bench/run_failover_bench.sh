#!/usr/bin/env bash
# Failover time (docs/PERFORMANCE.md, issue 20): the cluster of scripts/cluster.sh under write
# load (six writers through HAProxy), the primary's postmaster killed with -9, the standby
# promoted as soon as every hub reports the primary lost; per round the time from the kill to
# the first acknowledged write sent after it, then the median and the maximum over the rounds.
#   BENCH_ROUNDS=5 bench/run_failover_bench.sh
# Needs the release build, PostgreSQL 15 and haproxy (scripts/setup.sh). Everything on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-5}
WORK=$(mktemp -d /tmp/cityhub-failover-bench-XXXX)
chmod 755 "$WORK"  # PostgreSQL runs as `postgres` when this runs as root
trap 'scripts/cluster.sh stop "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
export CITYHUB_BIN=${CITYHUB_BIN:-$PWD/build/release/cityhub}
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo); PostgreSQL ×2, hubs ×3, HAProxy and the writers share it"
python3 - "$WORK/cluster" "$ROUNDS" <<'PY'
import statistics, sys
sys.path.insert(0, "tests/integration")
import failover
directory, rounds = sys.argv[1], int(sys.argv[2])
to_ack, to_promoted, to_not_ready = [], [], []
for r in range(rounds):
    failover.cluster("start", directory)
    env = failover.cluster_env(directory)
    hubs = [f"http://127.0.0.1:{p}" for p in env["HUB_PORTS"].split(",")]
    try:
        run = failover.run_failover(directory, hubs)
    finally:
        failover.cluster("stop", directory)
    acked = sum(1 for a in run.answers if a.status == 201)
    refused = sum(1 for a in run.answers if a.status == 503)
    other = sum(1 for a in run.answers if a.status not in (201, 503))
    print(f"round {r + 1}: hubs not ready after {run.hubs_not_ready:.2f} s, promoted after {run.promoted:.2f} s, "
          f"first acknowledged write after {run.first_acknowledged:.2f} s "
          f"({acked} acknowledged, {refused} answered 503, {other} other or unanswered)", flush=True)
    to_ack.append(run.first_acknowledged)
    to_promoted.append(run.promoted)
    to_not_ready.append(run.hubs_not_ready)
print(f"kill -> every hub not ready: median {statistics.median(to_not_ready):.2f} s, max {max(to_not_ready):.2f} s")
print(f"kill -> standby promoted:    median {statistics.median(to_promoted):.2f} s, max {max(to_promoted):.2f} s")
print(f"kill -> first acknowledged write: median {statistics.median(to_ack):.2f} s, max {max(to_ack):.2f} s ({rounds} rounds)")
PY
