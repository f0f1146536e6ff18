"""The demo city end to end with real processes (issue 7): `cityhub simulate` provisions its
devices and car parks on the hub and publishes one scripted cycle through a real mosquitto; the
hub's IoT agent ingests every measure, the warning service raises exactly the scripted alerts —
each bollard its own stage, the underpass through all four, one earthquake confirmed by several
sensors, nothing for the lone noisy sensor — a subscriber receives every one as a notification,
and each car park's free spaces equal the simulator's own count and a recount of its spots."""
import datetime
import re
import subprocess
import time
import unittest

from alerting import AlertingTestCase
from hub import BIN
START = "2026-07-15T09:00:00Z"
SERIOUS = ["interest", "caution", "alert", "serious", "alert", "caution", "interest", "cleared"]
# What one cycle raises from a fresh hub under the default rules (DemoScript::ExpectedStages).
EXPECTED = {
    "urn:ngsi-ld:WaterLevelSensor:haeban-0": SERIOUS,
    "urn:ngsi-ld:WaterLevelSensor:haeban-1": ["interest", "caution", "alert", "caution", "interest", "cleared"],
    "urn:ngsi-ld:WaterLevelSensor:haeban-2": ["interest", "caution", "interest", "cleared"],
    "urn:ngsi-ld:WaterLevelSensor:haeban-3": ["interest", "cleared"],
    "urn:ngsi-ld:UnderpassFloodSensor:underpass-1": SERIOUS,
}


def at(seconds):
    t = datetime.datetime.strptime(START, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class DemoCityTest(AlertingTestCase):
    def metric(self, name, labels=""):
        text = self.hub.get("/metrics").body
        m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    def test_one_scripted_cycle(self):
        run = subprocess.run([BIN, "simulate", "--listen", f"127.0.0.1:{self.hub.port}",
                              "--mqtt", f"mqtt://127.0.0.1:{self.broker.port}", "--speed", "30", "--cycles", "1",
                              "--start", START], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        # The terminal shows the city alive: reports every 5 simulated seconds, alerts among them.
        reports = [l for l in run.stdout.splitlines() if l.startswith("t=")]
        self.assertEqual(len(reports), 36, run.stdout)
        self.assertTrue(any(re.search(r"active alerts: flood [1-9]", l) for l in reports), run.stdout)
        summary = re.search(r"published (\d+) measures in (\d+) messages \(0 failed\); free spots: "
                            r"city-hall=(\d+) market=(\d+) station=(\d+)", run.stdout)
        self.assertIsNotNone(summary, run.stdout)
        measures, messages = int(summary.group(1)), int(summary.group(2))
        self.assertEqual(measures, 200 + 26 * 180)  # the spots' first states, then 26 measures a second
        self.assertEqual(messages, 200 + 20 * 180)

        # Every measure is ingested, none refused or lost.
        self.wait_for("every measure", lambda: self.metric("cityhub_iot_measures_total") == measures)
        self.assertEqual(self.metric("cityhub_iot_messages_total", '{result="accepted"}'), messages)
        self.assertEqual(self.metric("cityhub_iot_write_failures_total"), 0)
        self.assertEqual(self.metric("cityhub_iot_messages_total", '{result="rejected"}'), 0)

        # Exactly the scripted alerts reach the subscriber, in order per alert.
        total = sum(len(v) for v in EXPECTED.values()) + 2
        self.wait_for(f"{total} alert notifications", lambda: len(self.notified_alerts()) >= total)
        time.sleep(1)  # nothing more may come
        alerts = self.notified_alerts()
        self.assertEqual(len(alerts), total, alerts)
        floods = {}
        for a in alerts:
            if a["subCategory"] == "flood":
                floods.setdefault(a["alertSource"], []).append(a["warningStage"])
        self.assertEqual(floods, EXPECTED)  # haeban-4 (1.5 m) raised nothing
        quakes = [a for a in alerts if a["subCategory"] == "earthquake"]
        self.assertEqual([q["warningStage"] for q in quakes], ["serious", "cleared"])
        self.assertEqual({q["id"] for q in quakes}, {quakes[0]["id"]})
        self.assertEqual(quakes[0]["severity"], "critical")
        self.assertEqual(quakes[0]["dateIssued"], at(90))  # confirmed by the third shaken sensor
        sources = quakes[0]["alertSource"]
        self.assertNotIn("vibration-5", sources)  # the lone noisy sensor of 10 s is not part of it
        self.assertEqual(sources.count("urn:ngsi-ld:VibrationSensor:vibration-"), 3)
        # Sixty seconds after the last shake by the sensors' clock (at the reading of 151 s, or a
        # little later if the hub went idle for a second and advanced that clock itself).
        self.assertGreaterEqual(quakes[1]["validTo"], at(151))
        self.assertLess(quakes[1]["validTo"], at(153))
        cap = self.hub.get(f"/cityhub/v1/alerts/{quakes[0]['id']}/cap")
        self.assertIn("<msgType>Cancel</msgType>", cap.body)
        self.assertIn("<event>Earthquake</event>", cap.body)

        # Each car park's free spaces: the simulator's own count, and a recount of its spots.
        expected_free = {"city-hall": int(summary.group(3)), "market": int(summary.group(4)),
                         "station": int(summary.group(5))}

        def free_now():
            out = {}
            for name in expected_free:
                r = self.hub.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:gimhae:{name}?options=keyValues")
                out[name] = r.json().get("availableSpotNumber")
            return out
        self.wait_for("exact car park counts", lambda: free_now() == expected_free, timeout=15)
        for name, free in expected_free.items():
            site = f"urn:ngsi-ld:OffStreetParking:gimhae:{name}"
            r = self.hub.get(f'/ngsi-ld/v1/entities?type=ParkingSpot&q=status=="free";refParkingSite=="{site}"'
                             f'&count=true&limit=0')
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(int(r.header("NGSILD-Results-Count")), free, name)


if __name__ == "__main__":
    unittest.main()
