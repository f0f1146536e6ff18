"""Durability under kill -9.

Client threads create entities and PATCH /entities/{id}/attrs them concurrently; each update
writes two attributes (`a` and `b`) holding the same, per-entity increasing counter. Every
write is recorded before it is sent (attempted) and after a 2xx (acknowledged). After a random
0.2-1 s the hub gets SIGKILL and is restarted on the same data dir. Then:
  - every acknowledged create exists, and nothing exists that was never attempted;
  - each entity is whole: type Counter, `a` and `b` Properties with integer values, a == b
    (an update is applied atomically or not at all);
  - last acknowledged counter <= stored counter <= last attempted counter.
After the check the observed state becomes the new baseline and the next round writes on top
of it, so later rounds also check entities written in earlier rounds.
"""
import http.client
import json
import os
import random
import shutil
import tempfile
import threading
import time
import unittest

from hub import Hub

E = "/ngsi-ld/v1/entities"
ROUNDS = int(os.environ.get("CITYHUB_CRASH_ROUNDS", "20"))
THREADS = 6
TOTAL_BUDGET_S = 90


class Ledger:
    """What the clients attempted and what the hub acknowledged. Entities are owned by one
    thread each, so per-entity writes are sequential and counters increase."""

    def __init__(self):
        self.lock = threading.Lock()
        self.create_attempted = set()
        self.create_acked = set()
        self.attempted = {}  # id -> highest counter sent
        self.acked = {}      # id -> highest counter acknowledged
        self.acked_writes = 0


def counter_attrs(n):
    return {"a": {"type": "Property", "value": n}, "b": {"type": "Property", "value": n}}


class Client(threading.Thread):
    def __init__(self, port, ledger, owned, prefix, stop):
        super().__init__(daemon=True)
        self.port, self.ledger, self.owned, self.prefix, self.stop = port, ledger, owned, prefix, stop
        self.conn = None
        self.rng = random.Random()

    def send(self, method, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self.conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None

    def run(self):
        created = 0
        while not self.stop.is_set():
            if not self.owned or self.rng.random() < 0.25:
                eid = f"urn:ngsi-ld:Counter:{self.prefix}-{created}"
                created += 1
                with self.ledger.lock:
                    self.ledger.create_attempted.add(eid)
                    self.ledger.attempted[eid] = 0
                status = self.send("POST", E, dict({"id": eid, "type": "Counter"}, **counter_attrs(0)))
                if status is None:
                    return  # the hub is gone; this create stays in flight
                if status != 201:
                    raise AssertionError(f"create {eid}: HTTP {status}")
                with self.ledger.lock:
                    self.ledger.create_acked.add(eid)
                    self.ledger.acked[eid] = 0
                    self.ledger.acked_writes += 1
                self.owned.append(eid)
            else:
                eid = self.rng.choice(self.owned)
                with self.ledger.lock:
                    n = self.ledger.attempted[eid] + 1
                    self.ledger.attempted[eid] = n
                status = self.send("PATCH", f"{E}/{eid}/attrs", counter_attrs(n))
                if status is None:
                    return
                if status != 204:
                    raise AssertionError(f"update {eid} to {n}: HTTP {status}")
                with self.ledger.lock:
                    self.ledger.acked[eid] = n
                    self.ledger.acked_writes += 1


def read_all(hub):
    out = {}
    offset = 0
    while True:
        r = hub.get(f"{E}?type=Counter&limit=1000&offset={offset}")
        if r.status != 200:
            raise AssertionError(f"query after restart: {r}")
        page = r.json()
        for e in page:
            out[e["id"]] = e
        if len(page) < 1000:
            return out
        offset += 1000


class TestCrash(unittest.TestCase):
    def test_kill9_loses_nothing_acknowledged(self):
        data_dir = tempfile.mkdtemp(prefix="cityhub-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        ledger = Ledger()
        owned = [[] for _ in range(THREADS)]
        rng = random.Random(int(os.environ.get("CITYHUB_CRASH_SEED", time.time())))
        began = time.monotonic()
        ready_times, checked_total, entities_seen = [], 0, 0
        hub = Hub(data_dir=data_dir)
        t0 = time.monotonic()
        hub.start()
        first_ready = time.monotonic() - t0
        try:
            for rnd in range(ROUNDS):
                stop = threading.Event()
                clients = [Client(hub.port, ledger, owned[i], f"r{rnd}t{i}", stop) for i in range(THREADS)]
                for c in clients:
                    c.start()
                time.sleep(rng.uniform(0.2, 1.0))
                hub.kill()
                stop.set()
                for c in clients:
                    c.join(15)
                    self.assertFalse(c.is_alive(), "a client thread hung after the kill")

                hub = Hub(data_dir=data_dir)
                t0 = time.monotonic()
                hub.start()
                ready_times.append(time.monotonic() - t0)

                stored = read_all(hub)
                checked_total += self.check(ledger, stored)
                entities_seen = len(stored)
                self.assertLess(time.monotonic() - began, TOTAL_BUDGET_S, f"too slow: {rnd + 1} rounds")
        finally:
            hub.cleanup()
        print(f"\ncrash test: {ROUNDS} kill -9 rounds, {ledger.acked_writes} acknowledged writes, "
              f"{checked_total} acknowledged entity states checked, {entities_seen} entities at the end; "
              f"first start {first_ready:.2f}s, restart-to-ready min {min(ready_times):.2f}s "
              f"median {sorted(ready_times)[len(ready_times) // 2]:.2f}s max {max(ready_times):.2f}s; "
              f"total {time.monotonic() - began:.1f}s")
        self.assertGreater(ledger.acked_writes, ROUNDS * 10, "the load generator barely wrote anything")
        self.assertLess(max(ready_times), 5.0, "restart-to-ready after kill -9 must stay within seconds")

    def check(self, ledger, stored):
        """Checks `stored` against the ledger, then makes it the new baseline. Returns the
        number of acknowledged entities checked."""
        with ledger.lock:
            missing = ledger.create_acked - stored.keys()
            self.assertFalse(missing, f"acknowledged creates lost: {sorted(missing)[:5]}")
            phantom = stored.keys() - ledger.create_attempted
            self.assertFalse(phantom, f"entities nobody created: {sorted(phantom)[:5]}")
            for eid, e in stored.items():
                self.assertEqual(e.get("type"), "Counter", e)
                self.assertEqual(set(e) - {"id", "type"}, {"a", "b"}, e)
                a, b = e["a"], e["b"]
                self.assertEqual(a.get("type"), "Property", e)
                self.assertEqual(b.get("type"), "Property", e)
                self.assertIsInstance(a.get("value"), int, e)
                self.assertEqual(a["value"], b["value"], f"half-applied update: {e}")
                lo, hi = ledger.acked.get(eid, 0), ledger.attempted[eid]
                self.assertTrue(lo <= a["value"] <= hi,
                                f"{eid}: counter {a['value']} outside [acked {lo}, attempted {hi}]")
            # The observed state is durable now: it is the baseline for the next round.
            for eid, e in stored.items():
                ledger.create_acked.add(eid)
                ledger.acked[eid] = ledger.attempted[eid] = e["a"]["value"]
            for eid in ledger.create_attempted - stored.keys():
                ledger.attempted.pop(eid, None)
            ledger.create_attempted &= stored.keys()
            return len(stored)


if __name__ == "__main__":
    unittest.main()
