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
