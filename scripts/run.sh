#!/usr/bin/env bash
# Sets everything up (Debian packages, release build) and runs the hub on 127.0.0.1:1026 with its
# data in ./data, together with an MQTT broker for its IoT agent (mosquitto on 127.0.0.1:1883,
# unless one already listens there) and the demo city (`cityhub simulate`: a Gimhae-like city's
# sensors, a scripted flood and earthquake), whose live view this terminal shows. Logs go to
# ./run/. Ctrl-C stops everything.
#   scripts/run.sh             hub + mosquitto + demo city (extra arguments go to `cityhub serve`)
#   scripts/run.sh --no-demo   the hub alone, in the foreground
# Subscriptions may notify only public addresses unless told otherwise: for receivers on this
# machine add `--outbound-allow 127.0.0.0/8,::1` (docs/OPERATIONS.md "Outbound connections").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
context_args=()
[ -d ../shared/data/jsonld-contexts ] && context_args=(--context-dir ../shared/data/jsonld-contexts)
if [ "${1:-}" = "--no-demo" ]; then
  shift
  exec build/release/cityhub serve --listen 127.0.0.1:1026 --data-dir ./data "${context_args[@]}" "$@"
fi
mkdir -p run
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
trap 'exit 0' INT TERM
if ! (echo > /dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n' "$(id -un)" > run/mosquitto.conf
  "$MOSQUITTO" -c run/mosquitto.conf > run/mosquitto.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.05; done
fi
# The demo city's bus network (a GTFS feed the hub generates), for the journey planner; imported
# on the first run, then kept with the hub's data.
build/release/cityhub demo-transit-feed run/demo-transit.zip
build/release/cityhub serve --listen 127.0.0.1:1026 --data-dir ./data "${context_args[@]}" \
  --mqtt mqtt://127.0.0.1:1883 --gtfs-feed run/demo-transit.zip "$@" > run/cityhub.log 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:1026/health >/dev/null && break; sleep 0.05; done
curl -sf http://127.0.0.1:1026/health >/dev/null || { echo "the hub did not start: see run/cityhub.log" >&2; exit 1; }
echo "hub on http://127.0.0.1:1026 (log: run/cityhub.log), MQTT on 127.0.0.1:1883; the demo city runs below (Ctrl-C stops all)"
echo "journeys: curl 'http://127.0.0.1:1026/mobility/v1/plan?from=35.2288,128.8890&to=35.2570,128.8720&lang=en'"
echo "bus stop board: curl 'http://127.0.0.1:1026/mobility/v1/stops/city-hall/departures?lang=ko'"
build/release/cityhub simulate --listen 127.0.0.1:1026 --mqtt mqtt://127.0.0.1:1883
