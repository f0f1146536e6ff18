"""Early warning end to end with real processes (issue 7): devices publish through mosquitto to
the hub's IoT agent; the warning service raises Smart Data Model Alert entities — river water
level through the four Korean stages, an earthquake only when three vibration sensors confirm
it (never for one noisy sensor) — and a subscriber receives them as notifications; each alert
is also served as CAP 1.2 XML."""
import subprocess
import time
import unittest

from alerting import AlertingTestCase
from mqtt_broker import MOSQUITTO_PUB


class WarningTest(AlertingTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        devices = [{"device_id": f"river-{n}", "entity_type": "WaterLevelSensor", "device_key": f"river-{n}-key-0123456789",
                    "attributes": [{"object_id": "l", "name": "waterLevel", "unitCode": "MTR"}],
                    "static_attributes": [{"name": "location", "type": "geo:json",
                                           "value": {"type": "Point", "coordinates": [128.8811, 35.2285]}}]} for n in (1, 2)]
        for i in range(4):
            devices.append({"device_id": f"vib-{i}", "entity_type": "VibrationSensor", "device_key": f"vib-{i}-key-0123456789",
                            "attributes": [{"object_id": "a", "name": "acceleration"}],
                            "static_attributes": [{"name": "location", "type": "geo:json",
                                                   "value": {"type": "Point", "coordinates": [128.88 + i / 100, 35.23]}}]})
        r = cls.hub.post("/iot/devices", {"devices": devices})
        assert r.status == 201, r.body

    def publish(self, device, payload):
        subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
                        "-t", f"/{device}-key-0123456789/{device}/attrs", "-m", payload], check=True, timeout=10)

    def alerts(self, sub_category, source=None):
        """Notified alert states of one kind (and source sensor), in arrival order."""
        return [d for d in self.notified_alerts()
                if d.get("subCategory") == sub_category and (source is None or d.get("alertSource") == source)]

    def wait_alerts(self, sub_category, count, source=None, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.alerts(sub_category, source)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        self.fail(f"{count} {sub_category} notifications expected, got {self.alerts(sub_category, source)}")

    def test_a_fast_rise_warns_before_any_threshold(self):
        # 20 cm in 10 minutes (the rise window): 1.2 m/h, well under the first threshold (2 m).
        self.publish("river-2", "2026-11-25T10:00:00Z|l|0.5")
        self.publish("river-2", "2026-11-25T10:05:00Z|l|0.6")
        self.publish("river-2", "2026-11-25T10:10:00Z|l|0.7")
        got = self.wait_alerts("flood", 1, "urn:ngsi-ld:WaterLevelSensor:river-2")
        self.assertEqual(got[0]["warningStage"], "caution")
        self.assertIn("rising 1.20 per hour", got[0]["description"])

    def test_flood_stages_reach_the_subscriber(self):
        # Slow rises (0.275 m/h, under the 0.5 m/h rate-of-rise rule): the thresholds decide.
        for t, level in [("10:00", 1.0), ("14:00", 2.1), ("18:00", 3.2), ("22:00", 4.4), ("23:00", 3.9), ("23:30", 3.6)]:
            self.publish("river-1", f"2026-11-26T{t}:00Z|l|{level}")
        river = "urn:ngsi-ld:WaterLevelSensor:river-1"
        got = self.wait_alerts("flood", 4, river)
        self.assertEqual([a["severity"] for a in got[:4]], ["low", "medium", "high", "medium"])  # 3.9: hysteresis
        self.assertEqual([a["warningStage"] for a in got[:4]], ["interest", "caution", "alert", "caution"])
        first = got[0]
        self.assertEqual(first["id"], "urn:ngsi-ld:Alert:flood:urn:ngsi-ld:WaterLevelSensor:river-1")
        self.assertEqual(first["category"], "naturalDisaster")
        self.assertEqual(first["location"]["coordinates"], [128.8811, 35.2285])
        self.assertIn("관심", first["description"])
        self.assertIn("waterLevel 2.1 reached the interest threshold 2", first["description"])
        self.assertEqual(first["dateIssued"], "2026-11-26T14:00:00.000Z")
        cap = self.hub.get(f"/cityhub/v1/alerts/{first['id']}/cap")
        self.assertEqual(cap.status, 200, cap.body)
        self.assertIn("application/cap+xml", cap.header("Content-Type"))
        self.assertIn("<event>Flood</event>", cap.body)
        self.assertIn("<msgType>Update</msgType>", cap.body)
        self.assertIn("<severity>Moderate</severity>", cap.body)
        self.publish("river-1", "2026-11-26T23:59:00Z|l|1.0")
        got = self.wait_alerts("flood", 5, river)
        self.assertEqual(got[4]["warningStage"], "cleared")
        self.assertIn("<msgType>Cancel</msgType>", self.hub.get(f"/cityhub/v1/alerts/{first['id']}/cap").body)

    def test_earthquake_needs_three_sensors(self):
        now = time.time()
        stamp = lambda dt: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + dt)) + "Z"
        for i in range(10):  # one noisy sensor, again and again
            self.publish("vib-0", f"{stamp(i * 0.1)}|a|0.5")
        time.sleep(1)
        self.assertEqual(self.alerts("earthquake"), [])
        self.publish("vib-1", f"{stamp(1)}|a|0.3")
        time.sleep(0.5)
        self.assertEqual(self.alerts("earthquake"), [])
        self.publish("vib-2", f"{stamp(2)}|a|0.4")
        got = self.wait_alerts("earthquake", 1)
        self.publish("vib-3", f"{stamp(2.5)}|a|0.6")  # the same event
        time.sleep(1)
        got = self.alerts("earthquake")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["severity"], "critical")
        self.assertEqual(got[0]["alertSource"], "urn:ngsi-ld:VibrationSensor:vib-0, urn:ngsi-ld:VibrationSensor:vib-1, "
                                                 "urn:ngsi-ld:VibrationSensor:vib-2")
        self.assertIn("지진", got[0]["description"])


if __name__ == "__main__":
    unittest.main()
