#!/usr/bin/env python3
"""Latency of GET /cityhub/v1/parking/{id}/forecast on a busy car park's history, beside the GET
of the same small entity (the ceiling of the same HTTP stack and store), one request at a time
over one keep-alive connection. The history: eight weeks of occupancy, one instance every
INTERVAL seconds (default 30: a 200-spot car park whose count changes twice a minute), loaded
through the temporal API. Usage: forecast_latency.py PORT [INTERVAL] [RUNS]"""
import http.client
import json
import math
import statistics
import sys
import time

port = int(sys.argv[1])
interval = int(sys.argv[2]) if len(sys.argv) > 2 else 30
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
site = "urn:ngsi-ld:OffStreetParking:bench:busy"
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)


def request(method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return data


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


now = time.time()
request("POST", "/ngsi-ld/v1/entities", {"id": site, "type": "OffStreetParking",
                                         "totalSpotNumber": {"type": "Property", "value": 200},
                                         "occupancy": {"type": "Property", "value": 0.5}})
start = now - 56 * 86400
count = int(56 * 86400 / interval)
t0 = time.time()
for first in range(0, count, 10000):
    chunk = []
    for k in range(first, min(count, first + 10000)):
        t = start + k * interval
        hour = (t % 86400) / 3600
        occ = 0.5 + 0.4 * math.sin(2 * math.pi * (hour - 6) / 24) + 0.05 * math.sin(k)
        chunk.append({"type": "Property", "value": round(min(1, max(0, occ)), 3), "observedAt": iso(t)})
    request("POST", f"/ngsi-ld/v1/temporal/entities/{site}/attrs", {"occupancy": chunk})
print(f"history: {count:,} instances over 56 days (one per {interval} s), loaded in {time.time() - t0:.1f} s")


def timed(path):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        request("GET", path)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


forecast = json.loads(request("GET", f"/cityhub/v1/parking/{site}/forecast"))
print(f"model: {forecast['model']}, backtest points {forecast['measuredError']['points']}")
for name, path in [("GET entity (ceiling)", f"/ngsi-ld/v1/entities/{site}"),
                   ("GET forecast", f"/cityhub/v1/parking/{site}/forecast")]:
    p50, p99 = timed(path)
    print(f"{name:24} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   ({runs} requests)")
