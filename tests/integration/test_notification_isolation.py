"""Isolation (issue 4): a subscription whose endpoint accepts connections and never answers
must not slow the writes nor another subscriber. The same load runs with a second subscription
whose endpoint answers and with one whose endpoint never answers, in turn, nine times; in the
median round write throughput and the healthy subscriber's median latency stay within 10 % (plus
0.5 ms of timer noise on the latency). The comparison holds the number of subscriptions equal: a
second subscription costs its matching and queueing whatever its endpoint does (about 10 % of the
write rate on this 2-core machine, measured), and that is not what isolation is about; what a
black hole must not add is waiting. Timing-sensitive: ctest runs this module alone (RUN_SERIAL)."""
import statistics
import threading
import time
import unittest

from hub import Hub
from receiver import Receiver
from test_notification_guarantees import S, Writer, create_counters, received_values, subscribe, wait_until


class SlowSubscriberTest(unittest.TestCase):
    RUN_S = 2.0
    ROUNDS = 9  # odd: the median is one round; more rounds, a steadier median on a shared machine

    def run_load(self, hub, rx, sid, ids):
        """Writes for RUN_S seconds; returns (acknowledged writes per second, median latency in
        ms from acknowledgement to arrival at the healthy receiver)."""
        stop = threading.Event()
        writers = [Writer(hub.port, ids[k::4], stop) for k in range(4)]
        start = time.time()
        for w in writers:
            w.start()
        time.sleep(self.RUN_S)
        stop.set()
        for w in writers:
            w.join(10)
        elapsed = time.time() - start
        acked = sum(len(v) for w in writers for v in w.acked.values())
        ack_time = {k: t for w in writers for k, t in w.ack_time.items()}
        self.assertTrue(wait_until(lambda: all(
            set(v) <= set(received_values(rx, sid).get(eid, [])) for w in writers for eid, v in w.acked.items()), 20))
        latencies = []
        with rx.cond:
            for note in rx.received:
                body = note["body"]
                if body.get("subscriptionId") != sid:
                    continue
                for e in body["data"]:
                    t = ack_time.get((e["id"], e.get("n")))
                    if t is not None:
                        latencies.append(max(0.0, note["at"] - t) * 1000)
            rx.received.clear()
        return acked / elapsed, statistics.median(latencies)

    def test_a_black_hole_endpoint_slows_neither_writes_nor_other_subscribers(self):
        rx = Receiver().start()
        peer = Receiver().start()  # the second subscription's endpoint in the "without" runs
        hole = Receiver().start()
        hole.black_hole = True
        self.addCleanup(rx.stop)
        self.addCleanup(peer.stop)
        self.addCleanup(hole.stop)
        hub = Hub(extra_args=["--notify-timeout-ms", "60000"]).start()
        self.addCleanup(hub.cleanup)
        ids = [f"urn:ngsi-ld:Counter:slow-{i}" for i in range(8)]
        create_counters(hub, ids)
        sid = "urn:ngsi-ld:Subscription:healthy"
        subscribe(hub, rx.url("/healthy"), sid)
        # Rounds of (without, with) back to back; each round's ratio compares two runs seconds
        # apart, so a burst of load from elsewhere on the shared machine spoils one round, not
        # the verdict, which is the median round. Every other round runs "with" first, so that
        # what grows over the test (the store, its compactions) weighs on both sides alike; the
        # last round (even) ends with the black hole still subscribed, for the check below.
        # "Without" has a healthy second subscription in the black hole's place.
        assert self.ROUNDS % 2 == 1
        rounds = []

        def load_with(url, sub_id):
            subscribe(hub, url, sub_id)
            result = self.run_load(hub, rx, sid, ids)
            with peer.cond:
                peer.received.clear()
            return result

        for round_ in range(self.ROUNDS):
            hole_id = f"urn:ngsi-ld:Subscription:hole-{round_}"
            peer_id = f"urn:ngsi-ld:Subscription:peer-{round_}"
            if round_ % 2 == 0:
                base = load_with(peer.url("/peer"), peer_id)
                self.assertEqual(hub.delete(f"{S}/{peer_id}").status, 204)
                slow = load_with(hole.url("/hole"), hole_id)
            else:
                slow = load_with(hole.url("/hole"), hole_id)
                self.assertEqual(hub.delete(f"{S}/{hole_id}").status, 204)
                base = load_with(peer.url("/peer"), peer_id)
                self.assertEqual(hub.delete(f"{S}/{peer_id}").status, 204)
            if round_ % 2 == 0 and round_ < self.ROUNDS - 1:
                self.assertEqual(hub.delete(f"{S}/{hole_id}").status, 204)
            rounds.append((slow[0] / base[0], slow[1] - (1.1 * base[1] + 0.5), base, slow))
        rate_ratio = statistics.median(r for r, _, _, _ in rounds)
        latency_excess = statistics.median(e for _, e, _, _ in rounds)
        print("\nslow subscriber (writes/s and healthy subscriber's median ms, second subscription healthy -> a black hole): " +
              "; ".join(f"{b[0]:.0f} -> {w[0]:.0f}, {b[1]:.2f} -> {w[1]:.2f}" for _, _, b, w in rounds) +
              f"; median throughput ratio {rate_ratio:.2f}")
        self.assertGreaterEqual(rate_ratio, 0.9)
        # Within 10 %, plus 0.5 ms for timer noise at sub-millisecond latencies on a shared machine.
        self.assertLessEqual(latency_excess, 0.0)
        waiting = [l for l in hub.get("/metrics").body.splitlines() if l.startswith("cityhub_notifications_waiting ")]
        self.assertTrue(waiting and float(waiting[0].split()[1]) > 0, "the black hole's notifications should be waiting")


if __name__ == "__main__":
    unittest.main()
