# Helpers of the bench/run_*.sh scripts (sourced after they set PORT, and BIN, WORK where used).

# wait_ready [PORT [TRIES]]: waits until the hub answers /health (TRIES × 50 ms; default 30 s).
wait_ready() {
  local port=${1:-$PORT} tries=${2:-600}
  for _ in $(seq 1 "$tries"); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0; sleep 0.05; done
  echo "the hub on port $port is not ready" >&2
  return 1
}

# stop_hub: stops the hub whose pid is $HUB and waits for it.
stop_hub() { kill "$HUB"; wait "$HUB" 2>/dev/null || true; }

# wrk_rate: wrk's requests per second from its report on stdin, failing if any answer was not
# 2xx (a refused request is cheaper than a served one and would flatter the figure).
wrk_rate() { awk '/Non-2xx/{bad=1} /Requests\/sec/{r=$2} END{if (bad) {print "non-2xx answers!"; exit 1} print r " req/s"}'; }

# mint_tokens ROLE…: an identity provider of our own (tests/integration/test_auth.py's Idp, the
# openssl CLI): writes its key set to $WORK/jwks.json and prints one ES256 token per ROLE (holding
# that realm role), each valid for an hour for issuer $AUTH_ISSUER and audience $AUTH_AUDIENCE.
AUTH_ISSUER=https://idp.example/realms/city
AUTH_AUDIENCE=cityhub
mint_tokens() {
  (cd tests/integration && python3 - "$WORK" "$AUTH_ISSUER" "$AUTH_AUDIENCE" "$@" <<'PY'
import json, sys, time
from test_auth import Idp
work, iss, aud, roles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
idp = Idp(work, 'bench')
with open(f'{work}/jwks.json', 'w') as f:
    json.dump({'keys': [idp.jwk]}, f)
for role in roles:
    print(idp.token(exp=int(time.time()) + 3600, iss=iss, aud=aud, realm_access={'roles': [role]}))
PY
  )
}

# ab_rounds MEASURE BIN…: builds side by side (the run_*_ab.sh scripts). ROUNDS (default 3)
# rounds; in each, every BIN in turn serves a fresh hub on $PORT from $WORK/hub, loaded with
# $BENCH_ENTITIES parking spots, then `MEASURE ROUND BIN` runs against it and the hub stops.
ab_rounds() {
  local measure=$1; shift
  echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
  for round in $(seq 1 "${ROUNDS:-3}"); do
    for bin in "$@"; do
      rm -rf "$WORK/hub"
      "$bin" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/hub" --log-level warn & HUB=$!
      wait_ready $PORT
      python3 bench/load_entities.py --port $PORT --entities "$BENCH_ENTITIES" --batch 1000 --conns 2 >/dev/null
      "$measure" "$round" "$bin"
      stop_hub
    done
  done
}
