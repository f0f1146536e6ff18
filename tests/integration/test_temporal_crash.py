"""Durability of temporal history under kill -9.

Client threads POST batches of history as fast as they can, each thread to its own entity:
the first batch with POST /temporal/entities (201), later ones alternately with POST
/temporal/entities (204, append) and POST /temporal/entities/{id}/attrs (204). Batch k holds
200 instances: 100 of attribute `a` and 100 of `b`, observed at BASE + (100 k + j) s for
j = 0..99 (every observedAt unique per attribute), a = 100 k + j and b = -(100 k + j).

After ~2 s the hub gets SIGKILL and is restarted on the same data dir. Then, per entity, an
aggregation with aggrPeriodDuration=PT100S from BASE gives one period per batch:
  - every acknowledged batch is there whole: totalCount 100 and the exact sum, in a and in b;
  - the batch in flight at the kill is there whole or not at all (a and b alike);
  - nothing else is there.
A second round writes on top of what survived and checks again.
"""
import http.client
import json
import shutil
import tempfile
import threading
import time
import unittest
from datetime import datetime, timezone
from urllib.parse import urlencode

from hub import Hub

T = "/ngsi-ld/v1/temporal/entities"
THREADS = 3
PER_ATTR = 100
ROUNDS = 2
RUN_SECONDS = 2.0
BASE = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def iso(t_ms):
    d = datetime.fromtimestamp(t_ms // 1000, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{t_ms % 1000:03d}Z"


def batch_attrs(k):
    a, b = [], []
    for j in range(PER_ATTR):
        n = k * PER_ATTR + j
        t = iso(BASE + n * 1000)
        a.append({"type": "Property", "value": n, "observedAt": t})
        b.append({"type": "Property", "value": -n, "observedAt": t})
    return {"a": a, "b": b}


def batch_sum(k):
    return sum(range(k * PER_ATTR, (k + 1) * PER_ATTR))


class Writer(threading.Thread):
    """Writes batches next, next + 1, … to one entity, one at a time."""

    def __init__(self, port, eid, next_batch, created, stop):
        super().__init__(daemon=True)
        self.port, self.eid, self.next, self.created, self.stop = port, eid, next_batch, created, stop
        self.acked = []       # batch numbers acknowledged (201/204) in this round
        self.in_flight = None  # the batch sent when the hub died, if any
        self.error = None
        self.conn = None

    def send(self, method, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self.conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            text = r.read()
            return r.status, text
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None, None

    def run(self):
        try:
            while not self.stop.is_set():
                k = self.next
                attrs = batch_attrs(k)
                if not self.created:
                    path, body, ok = T, dict({"id": self.eid, "type": "Series"}, **attrs), 201
                elif k % 2:
                    path, body, ok = T, dict({"id": self.eid, "type": "Series"}, **attrs), 204
                else:
                    path, body, ok = f"{T}/{self.eid}/attrs", attrs, 204
                self.in_flight = k
                status, text = self.send("POST", path, body)
                if status is None:
                    return  # the hub is gone; batch k stays in flight
                if status != ok:
                    raise AssertionError(f"POST {path} batch {k}: HTTP {status} (expected {ok}) {text[:300]!r}")
                self.in_flight = None
                self.created = True
                self.acked.append(k)
                self.next = k + 1
        except BaseException as e:  # reported by the test
            self.error = e


class TemporalCrashTest(unittest.TestCase):
    def stored_batches(self, hub, eid):
        """{batch: {attr: (totalCount, sum)}} as the hub has them, or None if it has no history."""
        params = urlencode(dict(format="aggregatedValues", aggrMethods="totalCount,sum", aggrPeriodDuration="PT100S",
                                timerel="after", timeAt=iso(BASE)))
        r = hub.get(f"{T}/{eid}?{params}")
        if r.status == 404:
            return None
        self.assertEqual(r.status, 200, r)
        got = r.json()
        self.assertLessEqual(set(got) - {"id", "type"}, {"a", "b"}, got)
        out = {}
        for attr in ("a", "b"):
            if attr not in got:
                continue
            counts, sums = got[attr]["totalCount"], got[attr]["sum"]
            self.assertEqual(len(counts), len(sums))
            for (count, start, end), (total, s2, e2) in zip(counts, sums):
                self.assertEqual((start, end), (s2, e2))
                t = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000
                k, rest = divmod(round(t) - BASE, PER_ATTR * 1000)
                self.assertEqual(rest, 0, f"period not aligned on a batch: {start}")
                out.setdefault(k, {})[attr] = (count, total)
        return out

    def test_kill9_keeps_every_acknowledged_instance(self):
        data_dir = tempfile.mkdtemp(prefix="cityhub-tcrash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        eids = [f"urn:ngsi-ld:Series:w{i}" for i in range(THREADS)]
        done = {eid: set() for eid in eids}  # batches known durable
        next_batch = {eid: 0 for eid in eids}
        created = {eid: False for eid in eids}
        acked_posts = acked_instances = 0
        in_flight_kept = in_flight_lost = 0
        hub = Hub(data_dir=data_dir).start()
        try:
            for rnd in range(ROUNDS):
                stop = threading.Event()
                writers = [Writer(hub.port, eid, next_batch[eid], created[eid], stop) for eid in eids]
                for w in writers:
                    w.start()
                time.sleep(RUN_SECONDS)
                hub.kill()
                stop.set()
                for w in writers:
                    w.join(15)
                    self.assertFalse(w.is_alive(), "a writer hung after the kill")
                    if w.error:
                        raise w.error
                hub = Hub(data_dir=data_dir).start()
                for w in writers:
                    acked_posts += len(w.acked)
                    acked_instances += len(w.acked) * 2 * PER_ATTR
                    stored = self.stored_batches(hub, w.eid)
                    must = done[w.eid] | set(w.acked)
                    if stored is None:
                        self.assertFalse(must, f"{w.eid}: history lost, {len(must)} batches acknowledged")
                        continue
                    whole = {k: {"a": (PER_ATTR, batch_sum(k)), "b": (PER_ATTR, -batch_sum(k))} for k in stored}
                    missing = sorted(must - stored.keys())
                    self.assertFalse(missing, f"{w.eid}: acknowledged batches lost: {missing[:10]}")
                    may = must | ({w.in_flight} if w.in_flight is not None else set())
                    extra = sorted(stored.keys() - may)
                    self.assertFalse(extra, f"{w.eid}: batches nobody sent: {extra[:10]}")
                    for k in sorted(stored):
                        self.assertEqual(stored[k], whole[k], f"{w.eid}: batch {k} not whole (acknowledged: {k in must})")
                    if w.in_flight is not None:
                        if w.in_flight in stored:
                            in_flight_kept += 1
                        else:
                            in_flight_lost += 1
                    done[w.eid] = set(stored)
                    next_batch[w.eid] = max(stored) + 1 if stored else 0
                    created[w.eid] = True
                # the history is whole as instances too (one entity, newest batch)
                eid = max(eids, key=lambda e: len(done[e]))
                if done[eid]:
                    k = max(done[eid])
                    params = urlencode(dict(timerel="between", timeAt=iso(BASE + k * PER_ATTR * 1000),
                                            endTimeAt=iso(BASE + (k + 1) * PER_ATTR * 1000)))
                    r = hub.get(f"{T}/{eid}?{params}")
                    self.assertEqual(r.status, 200, r)
                    got = r.json()
                    self.assertEqual([i["value"] for i in got["a"]], list(range(k * PER_ATTR, (k + 1) * PER_ATTR)))
                    self.assertEqual([i["value"] for i in got["b"]], [-n for n in range(k * PER_ATTR, (k + 1) * PER_ATTR)])
                    self.assertEqual(len({i["instanceId"] for i in got["a"] + got["b"]}), 2 * PER_ATTR)
        finally:
            hub.cleanup()
        print(f"\ntemporal crash test: {ROUNDS} kill -9 rounds, {acked_posts} acknowledged POSTs "
              f"({acked_instances} instances) all present after restart; in-flight batches kept whole "
              f"{in_flight_kept}, lost whole {in_flight_lost}")
        self.assertGreater(acked_posts, 10 * ROUNDS, "the writers barely wrote anything")


if __name__ == "__main__":
    unittest.main()
