#!/usr/bin/env bash
# Authentication cost (docs/PERFORMANCE.md, issue 6): GET /entities/{id} throughput with a
# Bearer JWT (ES256, verified against a JWKS; the hub caches verified tokens) vs without
# authentication, on the same data, alternating hubs, two rounds. The token is minted here
# (tests/integration/test_auth.py's Idp: openssl CLI), as a client would re-use it.
#   BENCH_ENTITIES=10000 BENCH_SECONDS=10 bench/run_auth_bench.sh
# Needs the release build (scripts/setup.sh release), wrk and openssl. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-10000}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18128}
BIN=build/release/cityhub
WORK=$(mktemp -d /tmp/cityhub-auth-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export BENCH_ENTITIES=$N

. bench/lib.sh
hub() { "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn "$@" & HUB=$!; wait_ready; }
TOKEN=$(mint_token)

echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d${DUR}s, hub and wrk share it; $N entities"
hub
python3 bench/load_entities.py --port "$PORT" --entities "$N" --batch 1000 --conns 2 >/dev/null
stop_hub
for round in 1 2; do
  hub
  printf 'round %s, no authentication:   ' "$round"
  wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT" | wrk_rate
  stop_hub
  hub --auth-jwks-file "$WORK/jwks.json" --auth-issuer "$AUTH_ISSUER" --auth-audience "$AUTH_AUDIENCE"
  printf 'round %s, Bearer JWT (ES256):  ' "$round"
  wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $TOKEN" -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT" | wrk_rate
  # Every request was authenticated: a wrong token is refused.
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" "http://127.0.0.1:$PORT/ngsi-ld/v1/types")
  [ "$code" = 401 ] || { echo "a bad token was not refused ($code)" >&2; exit 1; }
  stop_hub
done
