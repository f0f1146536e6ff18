#!/usr/bin/env bash
# Audit log cost (docs/PERFORMANCE.md, issue 6): durable PATCH /entities/{id}/attrs throughput
# with the hash-chained audit log on vs off, both with JWT authentication (ES256, writer role),
# on the same data, alternating hubs, three rounds. Every PATCH is a write: one audit record each.
#   BENCH_ENTITIES=10000 BENCH_SECONDS=10 bench/run_audit_bench.sh
# Needs the release build (scripts/setup.sh release), wrk and openssl. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-10000}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18138}
BIN=build/release/cityhub
WORK=$(mktemp -d /tmp/cityhub-audit-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export BENCH_ENTITIES=$N

. bench/lib.sh
AUTH=(--auth-jwks-file "$WORK/jwks.json" --auth-issuer "$AUTH_ISSUER" --auth-audience "$AUTH_AUDIENCE")
hub() { "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn "${AUTH[@]}" "$@" & HUB=$!; wait_ready; }
TOKEN=$(mint_tokens admin)

echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d${DUR}s PATCH (durable), hub and wrk share it; $N entities"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn & HUB=$!; wait_ready
python3 bench/load_entities.py --port "$PORT" --entities "$N" --batch 1000 --conns 2 >/dev/null
stop_hub
for round in 1 2 3; do
  hub --audit-log off
  printf 'round %s, audit log off: ' "$round"
  wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $TOKEN" -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$PORT" | wrk_rate
  stop_hub
  hub --audit-log "$WORK/audit.log"
  printf 'round %s, audit log on:  ' "$round"
  wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $TOKEN" -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$PORT" | wrk_rate
  stop_hub
done
printf 'audit log: %s lines; ' "$(wc -l < "$WORK/audit.log")"
"$BIN" audit verify "$WORK/audit.log"
