#!/usr/bin/env bash
# Authorization cost (docs/PERFORMANCE.md): durable PATCH /entities/{id}/attrs and
# GET /entities/{id} throughput of three hubs on the same data, alternated, two rounds:
#   none       — no authentication;
#   jwt        — an ES256 Bearer JWT of a built-in writer (authenticated, unconditional rights);
#   rules      — a JWT of a custom role whose policy rules allow ParkingSpot only, and writes of
#                its `status` and `occupancy` only, with a privacy file in force: every read goes
#                through the caller's view and every write through the broker's per-entity
#                decision (stored types, changed attributes, classified attributes).
# The token is minted here (tests/integration/test_auth.py's Idp: openssl CLI), as a client
# would re-use it. Every answer must be 2xx (wrk_rate), and a wrong token must be refused.
#   BENCH_ENTITIES=10000 BENCH_SECONDS=8 BENCH_ROUNDS=2 bench/run_auth_bench.sh
# Needs the release build (scripts/setup.sh release), wrk and openssl. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_ENTITIES:-10000}
DUR=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNS:-64}
PORT=${BENCH_PORT:-18128}
BIN=build/release/cityhub
WORK=$(mktemp -d /tmp/cityhub-auth-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export BENCH_ENTITIES=$N

. bench/lib.sh
hub() { "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn --audit-log off "$@" & HUB=$!; wait_ready; }
{ read -r WRITER; read -r RULED; } < <(mint_tokens writer parking-app)
cat > "$WORK/policy.json" <<'JSON'
{"rules": [
  {"effect": "allow", "roles": ["parking-app"], "operations": ["read"], "types": ["ParkingSpot"]},
  {"effect": "allow", "roles": ["parking-app"], "operations": ["write"], "types": ["ParkingSpot"],
   "attrs": ["status", "occupancy"]},
  {"effect": "deny", "roles": ["parking-app"], "operations": ["read"], "types": ["Person"]}
]}
JSON
cat > "$WORK/privacy.json" <<'JSON'
{"types": {"Person": {"purpose": "citizen accounts", "attributes": {"name": "personal", "health": "sensitive"}}}}
JSON
AUTH=(--auth-jwks-file "$WORK/jwks.json" --auth-issuer "$AUTH_ISSUER" --auth-audience "$AUTH_AUDIENCE")

echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d${DUR}s, hub and wrk share it; $N entities"
hub
python3 bench/load_entities.py --port "$PORT" --entities "$N" --batch 1000 --conns 2 >/dev/null
stop_hub

# run LABEL TOKEN HUB-ARGS…: one hub, its PATCH then GET rates.
run() {
  local label=$1 token=$2
  shift 2
  hub "$@"
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  printf '%-6s PATCH attrs: ' "$label"
  wrk -t2 -c"$CONNS" -d"${DUR}s" "${auth[@]}" -s bench/wrk/patch_attrs.lua "http://127.0.0.1:$PORT" | wrk_rate
  printf '%-6s GET entity:  ' "$label"
  wrk -t2 -c"$CONNS" -d"${DUR}s" "${auth[@]}" -s bench/wrk/get_entity.lua "http://127.0.0.1:$PORT" | wrk_rate
  if [ -n "$token" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token}x" "http://127.0.0.1:$PORT/ngsi-ld/v1/types")
    [ "$code" = 401 ] || { echo "a bad token was not refused ($code)" >&2; exit 1; }
  fi
  stop_hub
}
for round in $(seq 1 "${BENCH_ROUNDS:-2}"); do
  echo "round $round"
  run none ""
  run jwt "$WRITER" "${AUTH[@]}"
  run rules "$RULED" "${AUTH[@]}" --auth-policy-file "$WORK/policy.json" --privacy-file "$WORK/privacy.json"
done
# The rules bind: the restricted role may not write another attribute.
hub "${AUTH[@]}" --auth-policy-file "$WORK/policy.json" --privacy-file "$WORK/privacy.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer $RULED" -H 'Content-Type: application/json' \
  -d '{"name":{"type":"Property","value":"x"}}' "http://127.0.0.1:$PORT/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:bench:0000001/attrs")
[ "$code" = 403 ] || { echo "the restricted role wrote a forbidden attribute ($code)" >&2; exit 1; }
stop_hub
echo "rules bind: PATCH of a forbidden attribute -> 403"
