#!/usr/bin/env python3
"""Loads N ParkingSpot-like entities (~400 bytes each) into a running hub with batch upserts
(POST /ngsi-ld/v1/entityOperations/upsert, BATCH entities a request, CONNS connections), and
prints the sustained rate. Ids are urn:ngsi-ld:ParkingSpot:bench:0000000 … so that the wrk
scripts in bench/wrk/ can address them; --first loads a later slice of the same numbering
(e.g. one half of the city on each of two hubs).

    bench/load_entities.py --port 1026 --entities 1000000 --batch 1000 --conns 2
"""
import argparse
import http.client
import sys
import threading
import time

TEMPLATE = (
    '{"id":"urn:ngsi-ld:ParkingSpot:bench:%07d","type":"ParkingSpot",'
    '"name":{"type":"Property","value":"Spot %d"},'
    '"status":{"type":"Property","value":"%s","observedAt":"2026-11-26T09:%02d:00Z"},'
    '"category":{"type":"Property","value":["onStreet"]},'
    '"occupancy":{"type":"Property","value":%d,"unitCode":"P1"},'
    '"refParkingSite":{"type":"Relationship","object":"urn:ngsi-ld:OffStreetParking:bench:%03d"},'
    '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}}}'
)


def body(start, count):
    items = []
    for i in range(start, start + count):
        lon = 128.75 + (i % 1000) * 0.00033
        lat = 35.15 + (i // 1000 % 1000) * 0.00027
        items.append(TEMPLATE % (i, i, "free" if i % 3 else "occupied", i % 60, i % 100, i % 500, lon, lat))
    return ("[" + ",".join(items) + "]").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1026)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--first", type=int, default=0, help="number of the first entity")
    args = ap.parse_args()

    next_start = [args.first]
    end = args.first + args.entities
    lock = threading.Lock()
    failures = []

    def worker():
        conn = http.client.HTTPConnection(args.host, args.port, timeout=120)
        while True:
            with lock:
                start = next_start[0]
                if start >= end:
                    break
                next_start[0] += args.batch
            data = body(start, min(args.batch, end - start))
            conn.request("POST", "/ngsi-ld/v1/entityOperations/upsert", body=data,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status not in (201, 204):
                failures.append(r.status)
        conn.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    print(f"loaded {args.entities} entities in {elapsed:.1f} s: {args.entities / elapsed:,.0f} entities/s "
          f"(batch {args.batch}, {args.conns} connections, {len(failures)} failed requests)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
