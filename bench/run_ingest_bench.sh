#!/usr/bin/env bash
# IoT ingestion over MQTT (docs/PERFORMANCE.md, issue 7): devices publish UltraLight measures
# through a real mosquitto to the hub's IoT agent (bench/mqtt_load.cc); the hub's own counters
# (/metrics: cityhub_iot_measures_total, cityhub_iot_transactions_total) give the rate it
# wrote them durably, measured from the first to the last measure written. Meanwhile 10 river
# gauges alternately raise and clear a flood warning every 100 ms; the hub's Alert subscription
# notifies an MQTT topic the load tool listens to, which prints the publish -> notification
# latency of every alert under that load.
# Afterwards it prints where a message's time went, per ingestion lane and stage, and the early
# warning's stages, from the hub's histograms (cityhub_iot_stage_duration_seconds,
# cityhub_warning_stage_duration_seconds): count, mean and the bucket holding the p99.
#   BENCH_DEVICES=1000 BENCH_MEASURES=5 BENCH_SECONDS=10 [BENCH_RATE=10000] [BENCH_BIN=…] bench/run_ingest_bench.sh
# Needs the release build (scripts/setup.sh release) and mosquitto. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${BENCH_DEVICES:-1000}
MEASURES=${BENCH_MEASURES:-5}
DUR=${BENCH_SECONDS:-10}
RATE=${BENCH_RATE:-0}  # messages per second (0: as fast as the broker acknowledges)
PORT=${BENCH_PORT:-18148}
MQTT_PORT=${BENCH_MQTT_PORT:-18149}
BIN=${BENCH_BIN:-build/release/cityhub}
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
WORK=$(mktemp -d /tmp/cityhub-ingest-bench-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
. bench/lib.sh

printf 'listener %s 127.0.0.1\npersistence false\nmax_queued_messages 1000000\nallow_anonymous true\nuser %s\n' "$MQTT_PORT" "$(id -un)" > "$WORK/mosquitto.conf"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$MQTT_PORT) 2>/dev/null && break; sleep 0.05; done
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level error --mqtt "mqtt://127.0.0.1:$MQTT_PORT" --outbound-allow 127.0.0.0/8 \
  --context-dir ../shared/data/jsonld-contexts --remote-contexts false &
wait_ready

python3 - "$PORT" "$DEVICES" "$MQTT_PORT" <<'PY'
import json, sys, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
for start in range(0, n, 500):
    devices = [{"device_id": f"d{i}", "entity_type": "WaterLevelSensor", "device_key": f"bench-key-{i}-0123456789"}
               for i in range(start, min(n, start + 500))]
    req = urllib.request.Request(f"http://127.0.0.1:{port}/iot/devices", json.dumps({"devices": devices}).encode(),
                                 {"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
gauges = [{"device_id": f"r{i}", "entity_type": "WaterLevelSensor", "device_key": f"river-key-{i}-0123456789",
           "attributes": [{"object_id": "l", "name": "waterLevel"}]} for i in range(10)]
req = urllib.request.Request(f"http://127.0.0.1:{port}/iot/devices", json.dumps({"devices": gauges}).encode(),
                             {"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
sub = {"type": "Subscription", "entities": [{"type": "Alert"}],
       "notification": {"sysAttrs": True, "endpoint": {"uri": f"mqtt://127.0.0.1:{sys.argv[3]}/alerts"}}}
req = urllib.request.Request(f"http://127.0.0.1:{port}/ngsi-ld/v1/subscriptions", json.dumps(sub).encode(),
                             {"Content-Type": "application/json",
                              "Link": '<https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'})
urllib.request.urlopen(req).read()
PY
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
echo "machine: $(nproc) cores shared by mosquitto, the hub and the publisher; $DEVICES devices, $MEASURES measures a message, QoS 1"
build/release/bench/mqtt_load --port "$MQTT_PORT" --devices "$DEVICES" --measures "$MEASURES" --seconds "$DUR" --rate "$RATE" \
  --alert-sensors 10 --alert-interval-ms 100 --alert-topic alerts &
LOAD=$!
# Sample the hub's counter every 0.5 s while the load runs and until it stops growing.
python3 - "$PORT" <<'PY' &
import sys, time, urllib.request
port = int(sys.argv[1])
def value(name):
    for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0
samples = []
idle = 0
while idle < 6:
    samples.append((time.time(), value("cityhub_iot_measures_total"), value("cityhub_iot_transactions_total")))
    idle = idle + 1 if len(samples) > 1 and samples[-1][1] == samples[-2][1] and samples[-1][1] > 0 else 0
    time.sleep(0.5)
moving = [s for i, s in enumerate(samples) if i == 0 or s[1] != samples[i - 1][1]]
first = next(s for s in samples if s[1] > 0)
last = moving[-1]
span = last[0] - first[0]
print(f"hub wrote {last[1]:.0f} measures in {last[2]:.0f} transactions; "
      f"{(last[1] - first[1]) / span:,.0f} measures/s from its first to its last sample with new measures ({span:.1f} s)")
PY
SAMPLER=$!
wait $LOAD
wait $SAMPLER
# Where the time went (histograms of this run; p99 is the upper bound of its bucket).
curl -s "http://127.0.0.1:$PORT/metrics" | python3 -c '
import re, sys
hists = {}
for line in sys.stdin:
    m = re.match(r"(cityhub_(?:iot|warning)_stage_duration_seconds)_(bucket|sum|count)\{(.*)\} (\S+)", line)
    if not m:
        continue
    name, part, labels, value = m.groups()
    le = re.search(r"le=\"([^\"]+)\"", labels)
    key = (name.split("_")[1], re.sub(r",?le=\"[^\"]+\"", "", labels))
    h = hists.setdefault(key, {"buckets": []})
    if part == "bucket":
        h["buckets"].append((float(le.group(1)), float(value)))
    else:
        h[part] = float(value)
for (kind, labels), h in sorted(hists.items()):
    n = h.get("count", 0)
    if not n:
        continue
    p99 = next((le for le, c in sorted(h["buckets"]) if c >= 0.99 * n), float("inf"))
    mean = 1000 * h["sum"] / n
    print(f"  {kind} {labels}: {n:.0f}, mean {mean:.2f} ms, p99 <= {1000 * p99:g} ms")
'
