#!/usr/bin/env bash
# The metropolitan scenario: a Gyeongbuk provincial hub over two city hubs, Gimcheon and Andong,
# all on loopback. Each city keeps its own data, classifies its residents' personal attributes
# (privacy file) and gives the province an API key of its own with the reader role; the
# province registers both cities as context sources (GS CIM 009 §5.9.2) and answers one query
# with the data of both — the residents' names arrive pseudonymised by the city that holds
# them, their health never leaves the city, and each city's audit log names the province.
#
#   scripts/federation-demo.sh           # runs the scenario, prints each step, stops the hubs
#   KEEP=1 scripts/federation-demo.sh    # … and keeps the three hubs running until Ctrl-C
#
# Needs the release build (scripts/setup.sh release) and curl, python3. Ports: BASE_PORT (19026)
# for the province, the next two for the cities.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/release/cityhub}
BASE_PORT=${BASE_PORT:-19026}
[[ -x $BIN ]] || { echo "no $BIN: build it first (scripts/setup.sh release)" >&2; exit 1; }
DIR=$(mktemp -d /tmp/cityhub-federation-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
. bench/lib.sh  # wait_ready

PROVINCE=$BASE_PORT
declare -A PORT=([gimcheon]=$((BASE_PORT + 1)) [andong]=$((BASE_PORT + 2)))
say() { printf '\n== %s\n' "$*"; }
# show MODE [CITY]: prints the JSON on stdin — registrations, spots, people, or audit lines.
cat > "$DIR/show.py" <<'EOF'
import json, sys
mode = sys.argv[1]
if mode == "audit":
    for line in sys.stdin:
        r = json.loads(line)
        print(f"  {sys.argv[2]}: {r['time']} {r['event']} by {r['subject']} {r['method']} {r['path']}"
              f" -> {r['status']} ({r['detail']})")
    sys.exit(0)
doc = json.load(sys.stdin)
if mode == "registrations":
    for r in doc:
        print(f"  {r['id']}  {r['registrationName']} -> {r['endpoint']}")
elif mode == "spots":
    for e in doc:
        print(f"  {e['id']:40} {e['status']}")
else:
    print(json.dumps(doc, ensure_ascii=False, indent=1))
EOF
show() { python3 "$DIR/show.py" "$@"; }

# --- the two city hubs -------------------------------------------------------------------------
cat > "$DIR/privacy.json" <<'EOF'
{"types": {"Person": {"purpose": "resident services", "retention": "P365D",
                      "attributes": {"name": "personal", "phone": "personal", "health": "sensitive"}}}}
EOF
city_data() {  # city, dong
  python3 - "$1" "$2" <<'EOF'
import json, sys
city, dong = sys.argv[1], sys.argv[2]
lon, lat = {"gimcheon": (128.198, 36.139), "andong": (128.729, 36.568)}[city]
spots = [{"id": f"urn:ngsi-ld:ParkingSpot:{city}:{i}", "type": "ParkingSpot",
          "status": {"type": "Property", "value": "free" if i % 2 else "occupied"},
          "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon + i / 1000, lat]}}}
         for i in range(1, 4)]
people = [{"id": f"urn:ngsi-ld:Person:{city}:{i}", "type": "Person",
           "name": {"type": "Property", "value": name}, "phone": {"type": "Property", "value": f"010-{i:04d}-0000"},
           "health": {"type": "Property", "value": "diabetes"}, "district": {"type": "Property", "value": dong}}
          for i, name in enumerate(["Kim Minji", "Park Jisoo"], start=1)]
print(json.dumps(spots + people))
EOF
}
for city in gimcheon andong; do
  mkdir -p "$DIR/$city"
  # The city's operator key (admin, privacy-officer: writes residents' data) and the key the
  # province reads with (reader: classified attributes pseudonymised or omitted).
  $BIN keys create --file "$DIR/$city/keys.json" --name "$city-operator" --role admin --role privacy-officer \
    > "$DIR/$city/operator.key" 2>/dev/null
  $BIN keys create --file "$DIR/$city/keys.json" --name gyeongbuk-province --role reader > "$DIR/$city/province.key" 2>/dev/null
  $BIN serve --listen "127.0.0.1:${PORT[$city]}" --data-dir "$DIR/$city/data" --api-keys-file "$DIR/$city/keys.json" \
    --privacy-file "$DIR/privacy.json" --audit-log "$DIR/$city/audit.log" --log-level warn &
  PIDS+=($!)
done
for city in gimcheon andong; do
  wait_ready "${PORT[$city]}"
  dong=$([[ $city == gimcheon ]] && echo Jisan-dong || echo Myeongnyun-dong)
  city_data "$city" "$dong" | curl -sf -o /dev/null -X POST "http://127.0.0.1:${PORT[$city]}/ngsi-ld/v1/entityOperations/upsert" \
    -H "X-API-Key: $(cat "$DIR/$city/operator.key")" -H 'Content-Type: application/json' --data-binary @-
done
say "two city hubs: Gimcheon on :${PORT[gimcheon]}, Andong on :${PORT[andong]} (3 parking spots and 2 residents each)"

# --- the provincial hub ------------------------------------------------------------------------
creds="http://127.0.0.1:${PORT[gimcheon]}=header:X-API-Key:$DIR/gimcheon/province.key"
creds+=";http://127.0.0.1:${PORT[andong]}=header:X-API-Key:$DIR/andong/province.key"
$BIN serve --listen "127.0.0.1:$PROVINCE" --data-dir "$DIR/province" --outbound-allow 127.0.0.0/8 \
  --federation-credentials "$creds" --log-level warn &
PIDS+=($!)
wait_ready "$PROVINCE"
for city in gimcheon andong; do
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$PROVINCE/ngsi-ld/v1/csourceRegistrations" -H 'Content-Type: application/json' -d '{
    "type": "ContextSourceRegistration", "registrationName": "'"$city"' city data hub",
    "information": [{"entities": [{"type": "ParkingSpot"}, {"type": "Person"}]}],
    "endpoint": "http://127.0.0.1:'"${PORT[$city]}"'", "mode": "inclusive"}'
done
say "provincial hub (Gyeongbuk) on :$PROVINCE, both cities registered as context sources:"
curl -sf "http://127.0.0.1:$PROVINCE/ngsi-ld/v1/csourceRegistrations" | show registrations

say "GET /entities?type=ParkingSpot at the province: one answer from both cities"
curl -sf "http://127.0.0.1:$PROVINCE/ngsi-ld/v1/entities?type=ParkingSpot&options=keyValues&count=true" \
  -D "$DIR/headers" | show spots
grep -i "^NGSILD-Results-Count" "$DIR/headers" | sed 's/^/  /'

say "GET /entities?type=Person at the province: names pseudonymised by each city, health omitted"
curl -sf "http://127.0.0.1:$PROVINCE/ngsi-ld/v1/entities?type=Person&options=keyValues" | show people

say "what the cities recorded (audit log: the province's reads, by its own key)"
sleep 0.3  # the audit writer syncs every 100 ms
for city in gimcheon andong; do
  { grep '"federated-read"' "$DIR/$city/audit.log" || true; } | show audit "$city"
done

if [[ -n ${KEEP:-} ]]; then
  say "hubs running: province http://127.0.0.1:$PROVINCE, Gimcheon :${PORT[gimcheon]}, Andong :${PORT[andong]} — Ctrl-C stops them"
  wait
fi
