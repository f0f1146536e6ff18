#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang with ASan + UBSan) and runs each for
# SECONDS (default 60) — or only the targets named — with seed corpora: Smart Data Model
# examples from ../shared/data for the entity parser, hand-written seeds for the others. The
# corpora grow under build/fuzz/corpus/ and are reused by the next run. Exits non-zero on the
# first finding (the crashing input is left in build/fuzz/ as crash-*).
#   scripts/fuzz.sh [SECONDS] [target…]      e.g. scripts/fuzz.sh 600 qlang jwt
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(entity qlang geo jwt history measures registration gtfs_csv gtfs_rt)

scripts/setup.sh fuzz
CORPUS=build/fuzz/corpus
mkdir -p "$CORPUS"/{entity,qlang,geo,jwt,history,measures,registration,gtfs_csv,gtfs_rt}

# Seeds (written once; libFuzzer adds what it finds).
if [ -d ../shared/data ] && [ -z "$(ls -A "$CORPUS/entity")" ]; then
  find ../shared/data -name 'example-normalized.json*' | head -200 | while read -r f; do
    cp "$f" "$CORPUS/entity/$(echo "$f" | md5sum | cut -c1-16)"
  done
fi
seed() { printf '%b' "$2" > "$CORPUS/$1/seed-$(printf '%b' "$2" | md5sum | cut -c1-12)"; }
seed entity '{"id":"urn:ngsi-ld:T:1","type":"T","a":{"type":"Property","value":1,"observedAt":"2026-01-01T00:00:00Z"}}'
seed qlang 'level>4;(name=="a"|name~=".*b")\n/gimhae/#;/a/b'
seed qlang 'level.quality=="good";owner=="urn:ngsi-ld:Org:1"\n/a|/b'
seed qlang 'tags==1..5;meta[a.b]==2;level.observedAt>=2026-01-01T00:00:00Z\n/#'
seed geo 'near;maxDistance==2000\nPoint\n[128.88,35.23]'
seed geo 'within\nPolygon\n[[[128,35],[129,35],[129,36],[128,35]]]'
seed geo 'intersects\nLineString\n[[128,35],[129,36]]'
seed jwt 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJleHAiOjE3OTAwMDAzMDAsImlzcyI6Imh0dHBzOi8vaWRwIn0.AAAA'
seed jwt '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}'
seed history '\x0a\x10\x00\x0a\x00\x00\x00\x00\x00\x00\xf0\x3f\x00'
seed measures '\x002026-11-26T10:00:00Z|l|1.25|r|3#l|1.5|TimeInstant|2026-11-26T10:00:01Z'
seed measures '\x01{"t":23.5,"s":"open","loc":{"type":"Point","coordinates":[128.8,35.2]},"TimeInstant":"2026-11-26T10:00:00Z"}'
seed measures '\x01[{"l":1},{"l":2}]'
seed measures '\x02t\n21.5'
seed registration '{"type":"ContextSourceRegistration","information":[{"entities":[{"id":"urn:a:1","type":"Room"}],"propertyNames":["t"]}],"endpoint":"http://a.example","mode":"exclusive","tier":3}'
seed registration '{"type":"ContextSourceRegistration","information":[{"entities":[{"idPattern":"^urn:b:.*","type":["A","B"]}]}],"endpoint":"https://b.example","observationInterval":{"startAt":"2020-01-01T00:00:00Z"},"operations":["retrieveOps","updateOps"],"location":{"type":"Point","coordinates":[127,37]}}'
seed gtfs_csv '\x03\xef\xbb\xbfstop_id,stop_name,stop_lat,stop_lon\r\nS1,"Main St, ""North""",35.2,128.8\r\nS2,"two\nlines",35.3,128.9\n'
seed gtfs_csv '\x85trip_id,arrival_time,departure_time,stop_id,stop_sequence\nT1,25:10:00,25:10:00,S1,1\nT1,,,S2\n"open,1\n'
# GTFS-Realtime: the real binary files (first byte 0: binary) and a text feed naming the
# fuzz target's own trips (first byte 1: text format).
for f in bart_tripupdates_20161229.pb google_trip-updates-full.pb; do
  [ -f "../shared/data/gtfs-rt/$f" ] && { printf '\x00'; cat "../shared/data/gtfs-rt/$f"; } > "$CORPUS/gtfs_rt/seed-$f"
done
seed gtfs_rt '\x01header { timestamp: 1715731200 }\nentity { id: "a" trip_update { trip { trip_id: "T1" } delay: 60 stop_time_update { stop_sequence: 2 arrival { delay: 600 } } stop_time_update { stop_id: "D" schedule_relationship: SKIPPED } stop_time_update { stop_sequence: 4 departure { delay: -900 } } } }\nentity { id: "b" trip_update { trip { trip_id: "X" schedule_relationship: ADDED } stop_time_update { stop_id: "A" departure { time: 1715731200 } } stop_time_update { stop_id: "E" arrival { time: 1715734800 } } } }\nentity { id: "c" trip_update { trip { trip_id: "FREQ" start_time: "07:00:00" } } }'

status=0
for t in "${TARGETS[@]}"; do
  echo "== fuzz_$t for ${SECONDS_EACH}s"
  out=$(cd build/fuzz && ./fuzz/fuzz_"$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=1 "corpus/$t" 2>&1) || status=1
  echo "$out" | grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs|ERROR|SUMMARY" || true
  if [ $status -ne 0 ]; then echo "$out" | tail -40; exit 1; fi
done
