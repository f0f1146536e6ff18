#!/usr/bin/env python3
"""A generated city for the query benchmarks (docs/PERFORMANCE.md, "Query engine"): N entities
of four Smart Data Model-like types spread uniformly over 30 km x 30 km around Jeonju
(lon 127.0-127.33, lat 35.7-35.97), the same city for the same N and seed.

    load    upserts them into a running hub (POST /ngsi-ld/v1/entityOperations/upsert, BATCH
            entities a request over CONNS connections) and prints the sustained rate; the
            request bodies are generated once into a file under --cache-dir (/tmp) and reused;
    check   regenerates them, asks the hub sample queries of each benchmark scenario and
            compares its counts and ids with what the generator put there (exit 1 on a mismatch).

    bench/load_city.py load  --port 18027 --entities 1000000
    bench/load_city.py check --port 18027 --entities 1000000

Entity i (0 <= i < N) has id urn:ngsi-ld:<Type>:jeonju:<i as 7 digits>; i % 10 gives its type:
0-4 ParkingSpot (Point), 5-6 TrafficFlowObserved (a 40-120 m LineString), 7-8
AirQualityObserved (Point), 9 WaterObserved (Point). What the scenarios query:
  - WaterObserved.waterLevel: 0.3-2.5 m, except about 1 station in 1,000 in flood: 4.0-6.0 m;
  - ParkingSpot.refParkingSite: urn:ngsi-ld:OnStreetParking:jeonju:<p // 40 as 5 digits>, p the
    spot's number among the spots (40 spots a site);
  - location: uniform over the area.
bench/wrk/city.lua holds the same area and district shape for the wrk scripts.
"""
import argparse
import hashlib
import http.client
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
import urllib.parse

LON0, LON1, LAT0, LAT1 = 127.0, 127.33, 35.7, 35.97
KM_PER_DEG_LON = 90.25   # at latitude 35.835
KM_PER_DEG_LAT = 110.95
EARTH_RADIUS_M = 6_371_008.8
# A convex district of 9 km^2 (1 % of the area): vertices as (east, north) km from its centre.
DISTRICT_KM = [(1.934, 0.0), (0.89, 1.424), (-0.956, 1.797), (-1.814, 0.255), (-0.968, -1.434), (0.932, -1.752)]
CHUNK = 1000             # entities generated from one random stream
SPOTS_PER_SITE = 40
KINDS = ["ParkingSpot"] * 5 + ["TrafficFlowObserved"] * 2 + ["AirQualityObserved"] * 2 + ["WaterObserved"]


def entity_id(i, kind=None):
    return "urn:ngsi-ld:%s:jeonju:%07d" % (kind or KINDS[i % 10], i)


def spot_number(i):
    return i // 10 * 5 + i % 10


def site_id(site):
    return "urn:ngsi-ld:OnStreetParking:jeonju:%05d" % site


def observed_at(rng):
    return "2026-11-26T%02d:%02d:00Z" % (rng.randrange(6, 10), rng.randrange(60))


def gen_chunk(c, seed):
    """The records of entities [c*CHUNK, (c+1)*CHUNK): dicts with i, kind, lon, lat, end (the
    LineString's other end or None) and the attribute values."""
    rng = random.Random(seed * 1_000_003 + c)
    out = []
    for i in range(c * CHUNK, (c + 1) * CHUNK):
        kind = KINDS[i % 10]
        r = {"i": i, "kind": kind, "lon": LON0 + rng.random() * (LON1 - LON0),
             "lat": LAT0 + rng.random() * (LAT1 - LAT0), "end": None, "at": observed_at(rng)}
        if kind == "ParkingSpot":
            p = spot_number(i)
            r.update(site=p // SPOTS_PER_SITE, slot=p % SPOTS_PER_SITE,
                     status=rng.choices(("free", "occupied", "closed"), (55, 43, 2))[0],
                     width=round(2.3 + 0.3 * rng.random(), 2), length=round(5.0 + rng.random(), 2))
        elif kind == "TrafficFlowObserved":
            bearing, length_m = rng.random() * 2 * math.pi, 40 + 80 * rng.random()
            r["end"] = (r["lon"] + length_m / 1000 * math.sin(bearing) / KM_PER_DEG_LON,
                        r["lat"] + length_m / 1000 * math.cos(bearing) / KM_PER_DEG_LAT)
            speed = 5 + 75 * rng.random()
            r.update(intensity=rng.randrange(0, 1800), occupancy=round(rng.random(), 2),
                     speed=round(speed, 1), vlength=round(4 + 8 * rng.random(), 2),
                     headway=round(0.5 + 9.5 * rng.random(), 1), congested=speed < 15,
                     lane=rng.randrange(1, 5), direction=rng.choice(("forward", "backward")),
                     segment=i // 10 * 2 + i % 10 - 5)
        elif kind == "AirQualityObserved":
            aqi = rng.randrange(10, 181)
            level = ("good" if aqi <= 50 else "moderate" if aqi <= 100
                     else "unhealthyForSensitiveGroups" if aqi <= 150 else "unhealthy")
            r.update(aqi=aqi, level=level, pm10=rng.randrange(5, 150), pm25=rng.randrange(2, 90),
                     no2=rng.randrange(5, 80), o3=rng.randrange(10, 120), co=rng.randrange(200, 900),
                     so2=rng.randrange(1, 20), temperature=round(-5 + 30 * rng.random(), 1),
                     humidity=round(0.2 + 0.75 * rng.random(), 2), station=i // 10 * 2 + i % 10 - 7)
        else:  # WaterObserved
            flood = rng.random() < 0.001
            level = 4.0 + 2.0 * rng.random() if flood else 0.3 + 2.2 * rng.random() ** 2
            r.update(level=round(level, 3), flow=round(level * (3 + 6 * rng.random()), 2), station=i // 10)
        out.append(r)
    return out


PARKING_SPOT = (
    '{"id":"%s","type":"ParkingSpot","name":{"type":"Property","value":"JJ-%05d-%02d"},'
    '"category":{"type":"Property","value":["onStreet"]},'
    '"status":{"type":"Property","value":"%s","observedAt":"%s"},'
    '"width":{"type":"Property","value":%s,"unitCode":"MTR"},"length":{"type":"Property","value":%s,"unitCode":"MTR"},'
    '"refParkingSite":{"type":"Relationship","object":"%s"},'
    '"refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:jeonju:ps-%07d"},'
    '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}}}')
TRAFFIC_FLOW = (
    '{"id":"%s","type":"TrafficFlowObserved",'
    '"dateObserved":{"type":"Property","value":{"@type":"DateTime","@value":"%s"}},'
    '"dateObservedFrom":{"type":"Property","value":{"@type":"DateTime","@value":"%s00:00Z"}},'
    '"dateObservedTo":{"type":"Property","value":{"@type":"DateTime","@value":"%s"}},'
    '"intensity":{"type":"Property","value":%d,"observedAt":"%s"},'
    '"occupancy":{"type":"Property","value":%s,"observedAt":"%s"},'
    '"averageVehicleSpeed":{"type":"Property","value":%s,"unitCode":"KMH","observedAt":"%s"},'
    '"averageVehicleLength":{"type":"Property","value":%s,"unitCode":"MTR"},'
    '"averageHeadwayTime":{"type":"Property","value":%s,"unitCode":"SEC"},'
    '"congested":{"type":"Property","value":%s},"laneId":{"type":"Property","value":%d},'
    '"laneDirection":{"type":"Property","value":"%s"},"reversedLane":{"type":"Property","value":false},'
    '"refRoadSegment":{"type":"Relationship","object":"urn:ngsi-ld:RoadSegment:jeonju:%06d"},'
    '"location":{"type":"GeoProperty","value":{"type":"LineString","coordinates":[[%.6f,%.6f],[%.6f,%.6f]]}}}')
AIR_QUALITY = (
    '{"id":"%s","type":"AirQualityObserved",'
    '"dateObserved":{"type":"Property","value":{"@type":"DateTime","@value":"%s"}},'
    '"airQualityIndex":{"type":"Property","value":%d,"observedAt":"%s"},'
    '"airQualityLevel":{"type":"Property","value":"%s"},'
    '"pm10":{"type":"Property","value":%d,"unitCode":"GQ"},"pm25":{"type":"Property","value":%d,"unitCode":"GQ"},'
    '"no2":{"type":"Property","value":%d,"unitCode":"GQ"},"o3":{"type":"Property","value":%d,"unitCode":"GQ"},'
    '"co":{"type":"Property","value":%d,"unitCode":"GP"},"so2":{"type":"Property","value":%d,"unitCode":"GQ"},'
    '"temperature":{"type":"Property","value":%s,"unitCode":"CEL"},"relativeHumidity":{"type":"Property","value":%s},'
    '"typeOfLocation":{"type":"Property","value":"outdoor"},'
    '"address":{"type":"Property","value":{"addressCountry":"KR","addressLocality":"Jeonju",'
    '"streetAddress":"Station %05d","type":"PostalAddress"}},'
    '"refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:jeonju:aq-%06d"},'
    '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}}}')
WATER = (
    '{"id":"%s","type":"WaterObserved","name":{"type":"Property","value":"JJ-WL-%06d"},'
    '"dateObserved":{"type":"Property","value":{"@type":"DateTime","@value":"%s"}},'
    '"waterLevel":{"type":"Property","value":%s,"unitCode":"MTR","observedAt":"%s"},'
    '"flow":{"type":"Property","value":%s,"unitCode":"MQS","observedAt":"%s"},'
    '"refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:jeonju:wl-%06d"},'
    '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}}}')


def render(r):
    """The entity as NGSI-LD normalized JSON (Smart Data Model attribute names and units)."""
    i, kind, at, lon, lat = r["i"], r["kind"], r["at"], r["lon"], r["lat"]
    eid = entity_id(i, kind)
    if kind == "ParkingSpot":
        return PARKING_SPOT % (eid, r["site"], r["slot"], r["status"], at, r["width"], r["length"],
                               site_id(r["site"]), i, lon, lat)
    if kind == "TrafficFlowObserved":
        return TRAFFIC_FLOW % (eid, at, at[:14], at, r["intensity"], at, r["occupancy"], at, r["speed"], at,
                               r["vlength"], r["headway"], "true" if r["congested"] else "false", r["lane"],
                               r["direction"], r["segment"], lon, lat, r["end"][0], r["end"][1])
    if kind == "AirQualityObserved":
        return AIR_QUALITY % (eid, at, r["aqi"], at, r["level"], r["pm10"], r["pm25"], r["no2"], r["o3"], r["co"],
                              r["so2"], r["temperature"], r["humidity"], r["station"], r["station"], lon, lat)
    return WATER % (eid, r["station"], at, r["level"], at, r["flow"], at, r["station"], lon, lat)


def records(start, count, seed):
    out = []
    for c in range(start // CHUNK, (start + count + CHUNK - 1) // CHUNK):
        out.extend(r for r in gen_chunk(c, seed) if start <= r["i"] < start + count)
    return out


# --- load -----------------------------------------------------------------------------------

def render_batch(job):
    start, count, seed = job
    return "[" + ",".join(render(r) for r in records(start, count, seed)) + "]\n"


def cache_path(args):
    """Request bodies are generated once per (N, seed, batch, generator version) into a file, so
    that loading measures the hub rather than this script's JSON formatting."""
    with open(__file__, "rb") as f:
        version = hashlib.sha1(f.read()).hexdigest()[:8]
    return os.path.join(args.cache_dir, f"cityhub-city-{args.entities}-s{args.seed}-b{args.batch}-{version}.jsonl")


def ensure_cache(args):
    path = cache_path(args)
    if os.path.exists(path):
        return path
    t0 = time.time()
    jobs = [(s, min(args.batch, args.entities - s), args.seed) for s in range(0, args.entities, args.batch)]
    with multiprocessing.Pool(os.cpu_count()) as pool, open(path + ".tmp", "w") as out:
        for body in pool.imap(render_batch, jobs, chunksize=4):
            out.write(body)
    os.replace(path + ".tmp", path)
    print(f"generated {args.entities} entities into {path} in {time.time() - t0:.1f} s")
    return path


def load(args):
    path = ensure_cache(args)
    lock = threading.Lock()
    failures = []
    sent = [0, 0]  # entities, bytes

    with open(path, "rb") as source:
        def worker():
            conn = http.client.HTTPConnection(args.host, args.port, timeout=300)
            while True:
                with lock:
                    data = source.readline().rstrip(b"\n")
                    if not data:
                        break
                    sent[0] += data.count(b'{"id":')
                    sent[1] += len(data)
                conn.request("POST", "/ngsi-ld/v1/entityOperations/upsert", body=data,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                text = resp.read()
                if resp.status not in (201, 204):
                    failures.append((resp.status, text[:300]))
            conn.close()

        t0 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(args.conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
    n = sent[0]
    print(f"loaded {n} entities in {elapsed:.1f} s: {n / elapsed:,.0f} entities/s (batch {args.batch}, "
          f"{args.conns} connections, {sent[1] / max(n, 1):.0f} bytes of JSON an entity, "
          f"{len(failures)} failed requests)")
    for status, text in failures[:3]:
        print(f"  failed: {status} {text!r}")
    return 1 if failures or n != args.entities else 0


# --- check ----------------------------------------------------------------------------------

def haversine_m(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def segment_distance_m(lon, lat, a, b):
    """Distance from (lon, lat) to the segment a-b (a few hundred metres: local plane)."""
    kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat))
    ky = math.radians(1) * EARTH_RADIUS_M
    ax, ay, bx, by = (a[0] - lon) * kx, (a[1] - lat) * ky, (b[0] - lon) * kx, (b[1] - lat) * ky
    dx, dy = bx - ax, by - ay
    t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
    return math.hypot(ax + t * dx, ay + t * dy)


def district(clon, clat):
    ring = [(round(clon + x / KM_PER_DEG_LON, 6), round(clat + y / KM_PER_DEG_LAT, 6)) for x, y in DISTRICT_KM]
    return ring + ring[:1]


def inside(ring, lon, lat):  # ray casting; the ring is closed
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def positions(r):
    """The entity's positions as stored (rounded to 6 decimals like the JSON)."""
    pts = [(round(r["lon"], 6), round(r["lat"], 6))]
    if r["end"]:
        pts.append((round(r["end"][0], 6), round(r["end"][1], 6)))
    return pts


def query(conn, params):
    path = "/ngsi-ld/v1/entities?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")
    t0 = time.time()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    ms = (time.time() - t0) * 1000
    if resp.status != 200:
        raise RuntimeError(f"{resp.status} for {path}: {body[:300]!r}")
    count = resp.getheader("NGSILD-Results-Count")
    return (int(count) if count is not None else None), [e["id"] for e in json.loads(body)], ms


def check(args):
    rng = random.Random(args.seed + 99)
    t0 = time.time()
    city = [r for c in range((args.entities + CHUNK - 1) // CHUNK) for r in gen_chunk(c, args.seed)
            if r["i"] < args.entities]
    print(f"regenerated {len(city)} entities in {time.time() - t0:.1f} s")
    conn = http.client.HTTPConnection(args.host, args.port, timeout=300)
    failures = 0

    def compare(label, params, expected):
        nonlocal failures
        expected = sorted(expected)
        count, ids, ms = query(conn, dict(params, count="true", limit="1000"))
        ok = count == len(expected) and ids == expected[:1000]
        failures += not ok
        print(f"  {'ok ' if ok else 'BAD'} {label}: NGSILD-Results-Count {count}, expected {len(expected)}; "
              f"{len(ids)} ids returned{'' if ids == expected[:1000] else ' DIFFER'}; {ms:.1f} ms")

    water = [r for r in city if r["kind"] == "WaterObserved"]
    print("1a type=WaterObserved&q=waterLevel>X")
    for x in (4.0, 4.8, round(rng.uniform(4.0, 5.5), 2), 2.4):
        compare(f"X={x}", {"type": "WaterObserved", "q": f"waterLevel>{x}"},
                [entity_id(r["i"]) for r in water if r["level"] > x])
    spots = [r for r in city if r["kind"] == "ParkingSpot"]
    sites = (len(spots) + SPOTS_PER_SITE - 1) // SPOTS_PER_SITE
    print("1b type=ParkingSpot&q=refParkingSite==<site>")
    for site in (0, rng.randrange(sites), sites - 1):
        compare(f"site {site}", {"type": "ParkingSpot", "q": f'refParkingSite=="{site_id(site)}"'},
                [entity_id(r["i"]) for r in spots if r["site"] == site])
    def near(lon, lat, kinds):
        expected = []
        for r in city:
            if r["kind"] not in kinds or abs(r["lat"] - lat) > 0.006 or abs(r["lon"] - lon) > 0.008:
                continue
            pts = positions(r)
            d = haversine_m(lon, lat, *pts[0]) if len(pts) == 1 else segment_distance_m(lon, lat, pts[0], pts[1])
            if d <= 500:
                expected.append(entity_id(r["i"]))
        return expected

    print("1c type=WaterObserved&q=refDevice==<device>")
    for r in (water[0], water[rng.randrange(len(water))], water[-1]):
        device = "urn:ngsi-ld:Device:jeonju:wl-%06d" % r["station"]
        compare(device, {"type": "WaterObserved", "q": f'refDevice=="{device}"'}, [entity_id(r["i"])])
    print("2  near;maxDistance==500 (all types; then ParkingSpot only)")
    for k in range(4):
        lon, lat = round(rng.uniform(LON0 + 0.006, LON1 - 0.006), 6), round(rng.uniform(LAT0 + 0.005, LAT1 - 0.005), 6)
        params = {"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": json.dumps([lon, lat])}
        kinds = set(KINDS) if k < 3 else {"ParkingSpot"}
        if k == 3:
            params["type"] = "ParkingSpot"
        compare(f"({lon}, {lat}){'' if k < 3 else ' type=ParkingSpot'}", params, near(lon, lat, kinds))
    print("3  within a 9 km2 district (all types; then ParkingSpot only)")
    for k in range(4):
        clon = rng.uniform(LON0 + 2.0 / KM_PER_DEG_LON, LON1 - 2.0 / KM_PER_DEG_LON)
        clat = rng.uniform(LAT0 + 2.0 / KM_PER_DEG_LAT, LAT1 - 2.0 / KM_PER_DEG_LAT)
        ring = district(clon, clat)
        params = {"georel": "within", "geometry": "Polygon", "coordinates": json.dumps([[list(p) for p in ring]])}
        kinds = set(KINDS) if k < 3 else {"ParkingSpot"}
        if k == 3:
            params["type"] = "ParkingSpot"
        expected = [entity_id(r["i"]) for r in city
                    if r["kind"] in kinds and all(inside(ring, *p) for p in positions(r))]
        compare(f"centre ({clon:.4f}, {clat:.4f}){'' if k < 3 else ' type=ParkingSpot'}", params, expected)
    print("4  idPattern (all types)")
    for prefix in (0, rng.randrange(max(args.entities // 100, 1))):
        pattern = "^urn:ngsi-ld:[A-Za-z]+:jeonju:%05d[0-9]{2}$" % prefix
        compare(pattern, {"idPattern": pattern},
                [entity_id(r["i"]) for r in city if r["i"] // 100 == prefix])
    print("check: " + ("all answers as generated" if failures == 0 else f"{failures} answers differ"))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("load", "check"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1026)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-dir", default="/tmp", help="where generated request bodies are kept")
    args = ap.parse_args()
    return load(args) if args.command == "load" else check(args)


if __name__ == "__main__":
    sys.exit(main())
