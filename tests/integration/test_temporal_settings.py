"""History settings over real restarts: --history off records nothing; entities written while
it was off (or before history existed) are found once it is back on; --retention hides expired
instances at once and the purge removes them from the store, per type and tenant."""
import time
import unittest
from datetime import datetime, timedelta, timezone

from hub import Hub

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


class HistorySwitchTest(unittest.TestCase):
    def test_history_off_records_nothing_and_entities_from_then_are_found_when_on(self):
        hub = Hub(extra_args=["--history", "false"]).start()
        try:
            r = hub.post(E, {"id": "urn:ngsi-ld:Gauge:sw1", "type": "Gauge", "level": {"type": "Property", "value": 1}})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(hub.patch(f"{E}/urn:ngsi-ld:Gauge:sw1/attrs", {"level": {"type": "Property", "value": 2}}).status, 204)
            self.assertEqual(hub.get(f"{T}/urn:ngsi-ld:Gauge:sw1").status, 404)  # nothing recorded
            hub.stop()
            hub.extra_args = ["--history", "true"]
            hub.start()
            # Only changes from now on are history, but the entity is found by type at once.
            self.assertEqual(hub.patch(f"{E}/urn:ngsi-ld:Gauge:sw1/attrs", {"level": {"type": "Property", "value": 3}}).status, 204)
            r = hub.get(f"{T}/urn:ngsi-ld:Gauge:sw1")
            self.assertEqual(r.status, 200, r)
            self.assertEqual([i["value"] for i in r.json()["level"]], [3])
            r = hub.get(f"{T}?type=Gauge&timerel=before&timeAt=2100-01-01T00:00:00Z&timeproperty=createdAt")
            self.assertEqual(r.status, 200, r)
            self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Gauge:sw1"])
        finally:
            hub.cleanup()


class RetentionTest(unittest.TestCase):
    def test_expired_instances_disappear_newer_ones_and_current_state_stay(self):
        hub = Hub(extra_args=["--retention", "*=P2D,CctvEvent=P1D,jeju/*=PT6H", "--retention-check-s", "1"]).start()
        try:
            now = datetime.now(timezone.utc).replace(microsecond=0)
            ages_h = [100, 49, 30, 20, 3, 0]
            for tenant in ("", "jeju"):
                headers = {"NGSILD-Tenant": tenant} if tenant else None
                for kind in ("Sensor", "CctvEvent"):
                    eid = f"urn:ngsi-ld:{kind}:r1"
                    body = {"id": eid, "type": kind,
                            "v": {"type": "Property", "value": -1, "observedAt": iso(now)}}
                    self.assertEqual(hub.post(E, body, headers=headers).status, 201)
                    hist = {"id": eid, "type": kind,
                            "v": [{"type": "Property", "value": a, "observedAt": iso(now - timedelta(hours=a))} for a in ages_h]}
                    self.assertIn(hub.post(T, hist, headers=headers).status, (201, 204))

            def kept(tenant, kind):
                headers = {"NGSILD-Tenant": tenant} if tenant else None
                r = hub.get(f"{T}/urn:ngsi-ld:{kind}:r1?format=temporalValues", headers=headers)
                self.assertEqual(r.status, 200, r)
                return sorted((v[0] for v in r.json()["v"]["values"]), reverse=True)

            # -1 is the entity's own value (recorded when it was created). In jeju a CctvEvent keeps
            # its type's day: a type rule is more specific than a tenant rule.
            expected = {("", "Sensor"): [30, 20, 3, 0, -1], ("", "CctvEvent"): [20, 3, 0, -1],
                        ("jeju", "Sensor"): [3, 0, -1], ("jeju", "CctvEvent"): [20, 3, 0, -1]}
            for (tenant, kind), want in expected.items():
                with self.subTest(tenant=tenant, kind=kind):
                    self.assertEqual(kept(tenant, kind), sorted(want, reverse=True))
            # The purge (every second here) takes the expired blocks out of the store: after a
            # restart without rules they are still gone, except those sharing the boundary hour.
            time.sleep(2.5)
            self.assertIn("history retention", hub.read_log())
            hub.stop()
            hub.extra_args = []
            hub.start()
            for (tenant, kind), want in expected.items():
                with self.subTest(tenant=tenant, kind=kind, after="purge"):
                    got = kept(tenant, kind)
                    self.assertNotIn(100, got)
                    self.assertTrue(set(want) <= set(got), (got, want))
            self.assertNotIn(49, kept("", "Sensor"))
            # Current state is untouched.
            r = hub.get(f"{E}/urn:ngsi-ld:Sensor:r1")
            self.assertEqual(r.json()["v"]["value"], -1)
        finally:
            hub.cleanup()

    def test_bad_rules_stop_the_start_with_a_clear_message(self):
        hub = Hub(extra_args=["--retention", "Sensor=30 days"])
        with self.assertRaises(RuntimeError) as failed:
            hub.start(timeout=5)
        self.assertIn("retention", str(failed.exception))
        hub.cleanup()


if __name__ == "__main__":
    unittest.main()
