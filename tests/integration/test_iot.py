"""The IoT agent over real HTTP (issue 7): FIWARE-style provisioning of service groups and
devices, UltraLight 2.0 and JSON measures becoming NGSI-LD attributes (observedAt, unitCode),
one key per device, and bad device input — wrong key, unknown device, garbage UltraLight,
10 MB of JSON, 10,000 measures in one message — each refused with a clear status while the
hub keeps ingesting the others. A subscription sees measures as they arrive."""
import json
import subprocess
import time
import unittest

from hub import Hub, HubTestCase
from mqtt_broker import MOSQUITTO_PUB, Mosquitto
from receiver import Receiver

TENANT = {"Fiware-Service": "mqtt"}



class IotTest(HubTestCase):
    def setUp(self):
        self.tenant = {"Fiware-Service": self._testMethodName[5:35]}  # a tenant per test
        self.key2 = "bollard-2-key-" + self._testMethodName  # keys are unique across tenants

    def provision(self):
        r = self.hub.post("/iot/groups", {"groups": [{
            "apikey": "river", "resource": "/iot/d", "entity_type": "WaterLevelSensor",
            "attributes": [{"object_id": "l", "name": "waterLevel", "type": "Number",
                            "metadata": {"unitCode": {"type": "Text", "value": "MTR"}}}],
            "static_attributes": [{"name": "location", "type": "geo:json",
                                   "value": {"type": "Point", "coordinates": [128.88, 35.23]}}]}]}, headers=self.tenant)
        self.assertEqual(r.status, 201, r.body)
        r = self.hub.post("/iot/devices", {"devices": [
            {"device_id": "bollard-1", "apikey": "river"},
            {"device_id": "bollard-2", "apikey": "river", "device_key": self.key2,
             "attributes": [{"object_id": "r", "name": "riseRate", "type": "Number", "unitCode": "MMT"}]},
            {"device_id": "air-1", "entity_type": "AirQualityObserved", "protocol": "IoTA-JSON", "transport": "MQTT"}]},
            headers=self.tenant)
        self.assertEqual(r.status, 201, r.body)
        keys = {d["device_id"]: d.get("device_key") for d in r.json()["devices"]}
        self.assertIsNone(keys["bollard-2"])  # given, so not echoed
        self.assertTrue(keys["bollard-1"].startswith("dk_"))
        keys["bollard-2"] = self.key2
        return keys

    def measure(self, key, device, body, resource="/iot/d", t=None, headers=None):
        q = f"?k={key}&i={device}" + (f"&t={t}" if t else "")
        ct = "text/plain" if resource == "/iot/d" else "application/json"
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.hub.request("POST", resource + q, body=data, content_type=ct, headers=headers)

    def entity(self, eid):
        return self.hub.get(f"/ngsi-ld/v1/entities/{eid}", headers=self.tenant)

    def test_provisioning_and_measures(self):
        keys = self.provision()
        # The device's entity exists from provisioning, with the group's static attribute.
        e = self.entity("urn:ngsi-ld:WaterLevelSensor:bollard-1").json()
        self.assertEqual(e["type"], "WaterLevelSensor")
        self.assertEqual(e["location"]["value"]["coordinates"], [128.88, 35.23])
        r = self.measure(keys["bollard-1"], "bollard-1", "2026-11-26T10:00:00Z|l|1.25|x|on")
        self.assertEqual(r.status, 200, r.body)
        e = self.entity("urn:ngsi-ld:WaterLevelSensor:bollard-1").json()
        self.assertEqual(e["waterLevel"]["value"], 1.25)
        self.assertEqual(e["waterLevel"]["unitCode"], "MTR")
        self.assertEqual(e["waterLevel"]["observedAt"], "2026-11-26T10:00:00Z")  # as the device wrote it
        self.assertEqual(e["x"]["value"], "on")
        r = self.measure(keys["bollard-2"], "bollard-2", "l|2.5|r|12", t="2026-11-26T10:01:00Z")
        self.assertEqual(r.status, 200, r.body)
        e = self.entity("urn:ngsi-ld:WaterLevelSensor:bollard-2").json()
        self.assertEqual((e["riseRate"]["value"], e["riseRate"]["unitCode"]), (12, "MMT"))
        self.assertEqual(e["waterLevel"]["observedAt"], "2026-11-26T10:01:00Z")
        r = self.measure(keys["air-1"], "air-1", {"no2": 41, "pm10": 23.5, "TimeInstant": "2026-11-26T10:02:00Z"}, "/iot/json")
        self.assertEqual(r.status, 200, r.body)
        e = self.entity("urn:ngsi-ld:AirQualityObserved:air-1").json()
        self.assertEqual((e["no2"]["value"], e["pm10"]["value"]), (41, 23.5))
        self.assertEqual(e["no2"]["observedAt"], "2026-11-26T10:02:00Z")
        # An offset is turned into UTC; the fraction keeps its digits.
        r = self.measure(keys["air-1"], "air-1", {"no2": 42, "TimeInstant": "2026-11-26T19:03:00.5+09:00"}, "/iot/json")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.entity("urn:ngsi-ld:AirQualityObserved:air-1").json()["no2"]["observedAt"],
                         "2026-11-26T10:03:00.5Z")
        # History: each measure is an instance.
        self.measure(keys["bollard-1"], "bollard-1", "2026-11-26T10:05:00Z|l|1.5")
        r = self.hub.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WaterLevelSensor:bollard-1?attrs=waterLevel"
                         "&options=temporalValues", headers=self.tenant)
        self.assertEqual([v[0] for v in r.json()["waterLevel"]["values"]], [1.25, 1.5])
        # Provisioning is listed, never the keys.
        r = self.hub.get("/iot/devices", headers=self.tenant)
        self.assertEqual(r.json()["count"], 3)
        self.assertNotIn(keys["bollard-1"], r.body)
        self.assertNotIn(self.key2, r.body)
        d = self.hub.get("/iot/devices/bollard-1", headers=self.tenant).json()
        self.assertEqual(d["status"]["measures"], 3)  # l, x, then l
        self.assertEqual(self.hub.get("/iot/groups", headers=self.tenant).json()["groups"][0]["apikey"], "river")

    def test_bad_device_input(self):
        keys = self.provision()
        k1 = keys["bollard-1"]
        r = self.measure(keys["bollard-2"], "bollard-1", "l|1")
        self.assertProblem(r, 401)
        self.assertEqual(r.json()["detail"], "unknown device or wrong key")
        self.assertProblem(self.measure(k1, "ghost", "l|1"), 401)
        self.assertProblem(self.measure("river", "bollard-1", "l|1"), 401)  # the group key is not shared
        r = self.measure(k1, "bollard-1", "l|1|h")
        self.assertProblem(r, 400)
        self.assertIn("key|value", r.json()["detail"])
        self.assertProblem(self.measure(k1, "bollard-1", b"l|\xff\xfe"), 400)
        self.assertProblem(self.measure(k1, "bollard-1", "x" * (10 << 20)), 413)  # 10 MB
        self.assertProblem(self.measure(k1, "bollard-1", {"m%d" % i: i for i in range(10000)}, "/iot/json"), 413)
        self.assertProblem(self.measure(k1, "bollard-1", "{not json", "/iot/json"), 400)
        self.assertProblem(self.hub.request("POST", "/iot/d?i=bollard-1", body="l|1", content_type="text/plain"), 400)
        # The device's status counts what was refused (never the payload); the others go on.
        status = self.hub.get("/iot/devices/bollard-1", headers=self.tenant).json()["status"]
        self.assertGreaterEqual(status["rejected"], 4)
        self.assertNotIn("xxxx", json.dumps(status))
        self.assertEqual(self.measure(keys["bollard-2"], "bollard-2", "l|3").status, 200)
        self.assertEqual(self.measure(k1, "bollard-1", "l|4").status, 200)
        self.assertEqual(self.entity("urn:ngsi-ld:WaterLevelSensor:bollard-1").json()["waterLevel"]["value"], 4)
        metrics = self.hub.get("/metrics").body
        self.assertRegex(metrics, r'cityhub_iot_messages_total\{result="rejected"\} [1-9]')
        self.assertRegex(metrics, r'cityhub_iot_messages_total\{result="unauthenticated"\} [1-9]')
        # Provisioning errors name what is wrong.
        r = self.hub.post("/iot/devices", {"devices": [{"device_id": "x"}]}, headers=self.tenant)
        self.assertProblem(r, 400)
        self.assertIn("entity_type", r.json()["detail"])
        r = self.hub.post("/iot/devices", {"devices": [{"device_id": "bollard-1", "entity_type": "T"}]}, headers=self.tenant)
        self.assertProblem(r, 409)
        r = self.hub.post("/iot/devices", {"devices": [{"device_id": "dup", "entity_type": "T",
                                                        "device_key": self.key2}]}, headers=self.tenant)
        self.assertProblem(r, 409)

    def test_subscriber_sees_measures(self):
        keys = self.provision()
        rec = Receiver().start()
        try:
            r = self.hub.post("/ngsi-ld/v1/subscriptions", {
                "type": "Subscription", "entities": [{"type": "WaterLevelSensor"}], "watchedAttributes": ["waterLevel"],
                "q": "waterLevel>3", "notification": {"endpoint": {"uri": rec.url()}}}, headers=self.tenant)
            self.assertEqual(r.status, 201, r.body)
            self.assertEqual(self.measure(keys["bollard-1"], "bollard-1", "l|2.9").status, 200)
            self.assertEqual(self.measure(keys["bollard-1"], "bollard-1", "l|3.4").status, 200)
            rec.wait_for(1)
            data = rec.received[0]["body"]["data"][0]
            self.assertEqual((data["id"], data["waterLevel"]["value"]), ("urn:ngsi-ld:WaterLevelSensor:bollard-1", 3.4))
            self.assertEqual(len(rec.received), 1)
        finally:
            rec.stop()

    def test_deleted_device_is_refused(self):
        keys = self.provision()
        self.assertEqual(self.hub.delete("/iot/devices/bollard-1", headers=self.tenant).status, 204)
        self.assertProblem(self.measure(keys["bollard-1"], "bollard-1", "l|1"), 401)
        self.assertEqual(self.hub.delete("/iot/devices/bollard-1", headers=self.tenant).status, 404)


if __name__ == "__main__":
    unittest.main()


class IotMqttTest(unittest.TestCase):
    """Measures over MQTT through a real mosquitto (mosquitto_pub plays the devices)."""

    @classmethod
    def setUpClass(cls):
        cls.broker = Mosquitto().start()
        cls.hub = Hub(extra_args=["--mqtt", f"mqtt://127.0.0.1:{cls.broker.port}"]).start()
        r = cls.hub.post("/iot/devices", {"devices": [
            {"device_id": "gauge-1", "entity_type": "WaterLevelSensor", "device_key": "gauge-1-key-0123456789",
             "attributes": [{"object_id": "l", "name": "waterLevel", "unitCode": "MTR"}]},
            {"device_id": "air-1", "entity_type": "AirQualityObserved", "protocol": "IoTA-JSON",
             "device_key": "air-1-key-0123456789"}]}, headers=TENANT)
        assert r.status == 201, r.body

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()
        cls.broker.cleanup()

    def publish(self, topic, payload, qos=1):
        subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", str(qos),
                        "-t", topic, "-m", payload], check=True, timeout=10)

    def wait_value(self, eid, attr, want, timeout=10):
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            r = self.hub.get(f"/ngsi-ld/v1/entities/{eid}", headers=TENANT)
            if r.status == 200:
                got = r.json().get(attr, {}).get("value")
                if got == want:
                    return
            time.sleep(0.05)
        self.fail(f"{eid} {attr}: {got!r}, wanted {want!r}")

    def test_every_topic_form(self):
        gauge = "urn:ngsi-ld:WaterLevelSensor:gauge-1"
        self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "2026-11-26T10:00:00Z|l|1.5")
        self.wait_value(gauge, "waterLevel", 1.5)
        e = self.hub.get(f"/ngsi-ld/v1/entities/{gauge}", headers=TENANT).json()
        self.assertEqual((e["waterLevel"]["unitCode"], e["waterLevel"]["observedAt"]), ("MTR", "2026-11-26T10:00:00Z"))
        self.publish("/ul/gauge-1-key-0123456789/gauge-1/attrs", "l|1.75")
        self.wait_value(gauge, "waterLevel", 1.75)
        self.publish("gauge-1-key-0123456789/gauge-1/attrs/l", "2.25")
        self.wait_value(gauge, "waterLevel", 2.25)
        self.publish("/air-1-key-0123456789/air-1/attrs", json.dumps({"no2": 41, "pm10": 23.5}))
        self.wait_value("urn:ngsi-ld:AirQualityObserved:air-1", "pm10", 23.5)
        self.publish("/json/air-1-key-0123456789/air-1/attrs", json.dumps([{"no2": 40}, {"no2": 39}]))
        self.wait_value("urn:ngsi-ld:AirQualityObserved:air-1", "no2", 39)

    def test_bad_messages_are_counted_and_others_go_on(self):
        self.publish("/wrong-key-0123456789/gauge-1/attrs", "l|9")
        self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "l|9|junk")
        self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "l|" + "9" * 5000)
        self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "l|3.5")
        self.wait_value("urn:ngsi-ld:WaterLevelSensor:gauge-1", "waterLevel", 3.5)
        metrics = self.hub.get("/metrics").body
        self.assertRegex(metrics, r'cityhub_iot_messages_total\{result="unauthenticated"\} [1-9]')
        self.assertRegex(metrics, r'cityhub_iot_messages_total\{result="rejected"\} [2-9]')
        status = self.hub.get("/iot/devices/gauge-1", headers=TENANT).json()["status"]
        self.assertGreaterEqual(status["rejected"], 2)
        self.assertNotIn("junk", json.dumps(status))

    def test_measures_sent_while_the_hub_is_down_arrive_after_it_restarts(self):
        self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "l|4.0")
        self.wait_value("urn:ngsi-ld:WaterLevelSensor:gauge-1", "waterLevel", 4.0)
        self.hub.stop()
        try:
            self.publish("/gauge-1-key-0123456789/gauge-1/attrs", "l|4.5")  # kept by the broker (persistent session)
        finally:
            self.hub.start()
        self.wait_value("urn:ngsi-ld:WaterLevelSensor:gauge-1", "waterLevel", 4.5)
