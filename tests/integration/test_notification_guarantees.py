"""What subscribers can rely on, shown with a real hub, a real receiver and real failures.

- Crash: writes run while the receiver refuses everything (503), so notifications pile up in
  the outbox; the hub gets SIGKILL mid-write and is restarted on the same data dir with the
  receiver healthy. Every acknowledged write's notification must arrive (duplicates are
  allowed and counted; losses must be zero).
- Outage: the receiver is down (port closed) for 60 s while writes go on; once it is back it
  must hold every notification, each entity's values in the order they were written.
(The slow-subscriber test is in test_notification_isolation.py, run alone.)
"""
import http.client
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from hub import Hub
from receiver import Receiver

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
OUTAGE_S = float(os.environ.get("CITYHUB_OUTAGE_SECONDS", "60"))


def subscribe(hub, uri, sid, entity_type="Counter"):
    r = hub.post(S, {"id": sid, "type": "Subscription", "entities": [{"type": entity_type}],
                     "notification": {"format": "keyValues", "attributes": ["n", "t"], "endpoint": {"uri": uri}}})
    assert r.status == 201, r


class Writer(threading.Thread):
    """PATCHes n = 1, 2, 3, … onto its own entities in turn; records what was acknowledged."""

    def __init__(self, port, ids, stop, pause=0.0):
        super().__init__(daemon=True)
        self.port, self.ids, self.stop, self.pause = port, ids, stop, pause
        self.acked = {i: [] for i in ids}  # id -> values acknowledged, in order
        self.ack_time = {}                 # (id, n) -> time.time() at the acknowledgement
        self.conn = None

    def patch(self, eid, n):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = json.dumps({"n": {"type": "Property", "value": n}, "t": {"type": "Property", "value": time.time()}})
        try:
            self.conn.request("PATCH", f"{E}/{eid}/attrs", body=body, headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None

    def run(self):
        try:
            self.write_until_stopped()
        finally:
            if self.conn:
                self.conn.close()

    def write_until_stopped(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            for eid in self.ids:
                status = self.patch(eid, n)
                if status is None:
                    return  # the hub is gone
                if status == 204:
                    self.acked[eid].append(n)
                    self.ack_time[(eid, n)] = time.time()
            if self.pause:
                time.sleep(self.pause)


def create_counters(hub, ids):
    r = hub.post("/ngsi-ld/v1/entityOperations/create",
                 [{"id": i, "type": "Counter", "n": {"type": "Property", "value": 0}, "t": {"type": "Property", "value": 0}}
                  for i in ids])
    assert r.status == 201, r


def received_values(rx, sid):
    """entity id -> values notified for subscription `sid`, in arrival order (duplicates kept)."""
    out = {}
    with rx.cond:
        for note in rx.received:
            body = note["body"]
            if not body or body.get("subscriptionId") != sid:
                continue
            for e in body["data"]:
                out.setdefault(e["id"], []).append(e.get("n"))
    return out


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class CrashTest(unittest.TestCase):
    def test_every_acknowledged_write_is_notified_after_kill_9(self):
        data_dir = tempfile.mkdtemp(prefix="cityhub-notify-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        rx.status = 503  # nothing is delivered before the crash: everything waits in the outbox
        args = ["--notify-retry-initial-ms", "50", "--notify-retry-max-ms", "200"]
        hub = Hub(data_dir=data_dir, extra_args=args).start()
        self.addCleanup(hub.stop)
        ids = [f"urn:ngsi-ld:Counter:crash-{i}" for i in range(12)]
        create_counters(hub, ids)
        subscribe(hub, rx.url("/crash"), "urn:ngsi-ld:Subscription:crash")
        stop = threading.Event()
        writers = [Writer(hub.port, ids[k::4], stop) for k in range(4)]
        for w in writers:
            w.start()
        time.sleep(1.5)
        hub.kill()
        stop.set()
        for w in writers:
            w.join(10)
        acked = {eid: vals for w in writers for eid, vals in w.acked.items()}
        total = sum(len(v) for v in acked.values())
        self.assertGreater(total, 200, "the writers should have been acknowledged a few hundred writes")

        rx.status = 200
        hub = Hub(data_dir=data_dir, extra_args=args).start()
        self.addCleanup(hub.stop)

        def all_arrived():
            got = received_values(rx, "urn:ngsi-ld:Subscription:crash")
            return all(set(vals) <= set(got.get(eid, [])) for eid, vals in acked.items())

        arrived = wait_until(all_arrived, 60)
        got = received_values(rx, "urn:ngsi-ld:Subscription:crash")
        lost = sum(len(set(vals) - set(got.get(eid, []))) for eid, vals in acked.items())
        duplicates = sum(len(v) - len(set(v)) for v in got.values())
        print(f"\ncrash: {total} acknowledged writes, {lost} lost, {duplicates} duplicates, "
              f"{sum(len(v) for v in got.values())} entity notifications received")
        self.assertTrue(arrived, f"{lost} acknowledged writes were never notified")
        self.assertEqual(lost, 0)


class OutageTest(unittest.TestCase):
    def test_a_subscriber_down_for_a_minute_gets_everything_in_order(self):
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        hub = Hub(extra_args=["--notify-retry-max-ms", "2000"]).start()
        self.addCleanup(hub.cleanup)
        ids = [f"urn:ngsi-ld:Counter:outage-{i}" for i in range(4)]
        create_counters(hub, ids)
        sid = "urn:ngsi-ld:Subscription:outage"
        subscribe(hub, rx.url("/outage"), sid)
        stop = threading.Event()
        writer = Writer(hub.port, ids, stop, pause=0.05)
        writer.start()
        time.sleep(1)
        rx.stop()  # the subscriber goes down: connections are refused
        down_at = time.time()
        time.sleep(OUTAGE_S)
        rx.start()
        time.sleep(1)
        stop.set()
        writer.join(10)
        written_while_down = sum(1 for (eid, n), t in writer.ack_time.items() if down_at <= t <= down_at + OUTAGE_S)
        self.assertGreater(written_while_down, 100)

        def complete():
            got = received_values(rx, sid)
            return all(set(vals) <= set(got.get(eid, [])) for eid, vals in writer.acked.items())

        self.assertTrue(wait_until(complete, 30), "notifications written during the outage are missing")
        got = received_values(rx, sid)
        for eid, vals in writer.acked.items():
            firsts = []
            for v in got[eid]:
                if v not in firsts:
                    firsts.append(v)
            self.assertEqual(firsts, sorted(firsts), f"{eid}: values arrived out of order")
        status = hub.get(f"{S}/{sid}").json()["notification"]
        self.assertGreater(status["timesFailed"], 0)
        self.assertEqual(status["status"], "ok")
        print(f"\noutage: {written_while_down} writes during {OUTAGE_S:.0f} s down, all delivered in order; "
              f"{status['timesFailed']} failed attempts")


if __name__ == "__main__":
    unittest.main()
