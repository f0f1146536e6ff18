"""Notifications over MQTT (GS CIM 009 §7.2) through a real mosquitto: the {"metadata", "body"}
message for each MQTT version and QoS, JSON-LD accept, credentials from the URI's userinfo
(and a refused password counted as failures), bad notifierInfo refused with 400, and a broker
outage after which every notification still arrives in order."""
import shutil
import tempfile
import threading
import time
import unittest

from certificates import self_signed_certificate
from hub import Hub
from mqtt_broker import Mosquitto, Subscriber

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"


def mqtt_subscription(sid, uri, entity_type, notifier_info=(), accept=None, receiver_info=()):
    endpoint = {"uri": uri, "notifierInfo": [{"key": k, "value": v} for k, v in notifier_info]}
    if receiver_info:
        endpoint["receiverInfo"] = [{"key": k, "value": v} for k, v in receiver_info]
    if accept:
        endpoint["accept"] = accept
    return {"id": sid, "type": "Subscription", "entities": [{"type": entity_type}],
            "notification": {"format": "keyValues", "endpoint": endpoint}}


def status_of(hub, sid):
    return hub.get(f"{S}/{sid}").json()["notification"]


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class MqttTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Mosquitto().start()
        cls.hub = Hub(extra_args=["--notify-retry-initial-ms", "200", "--notify-retry-max-ms", "1000"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()
        cls.broker.cleanup()

    def test_every_version_and_qos_delivers_the_metadata_and_body_message(self):
        sub = Subscriber(self.broker, "city/versions/#")
        self.addCleanup(sub.stop)
        combos = [(v, q) for v in ("mqtt3.1.1", "mqtt5.0") for q in ("0", "1", "2")]
        for v, q in combos:
            sid = f"urn:ngsi-ld:Subscription:mqtt-{v}-{q}"
            r = self.hub.post(S, mqtt_subscription(sid, self.broker.uri(f"city/versions/{v}/{q}"), "Bollard",
                                                   [("MQTT-Version", v), ("MQTT-QoS", q)],
                                                   receiver_info=[("X-City", "gimhae")]))
            self.assertEqual(r.status, 201, r)
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Bollard:b1", "type": "Bollard",
                              "waterLevel": {"type": "Property", "value": 1.2}})
        self.assertEqual(r.status, 201, r)
        messages = sub.wait_for(len(combos))
        self.assertEqual(sorted(t for t, _, _ in messages), sorted(f"city/versions/{v}/{q}" for v, q in combos))
        for topic, msg, _ in messages:
            meta, body = msg["metadata"], msg["body"]
            self.assertEqual(meta["Content-Type"], "application/json")
            self.assertIn('rel="http://www.w3.org/ns/json-ld#context"', meta["Link"])
            self.assertEqual(meta["X-City"], "gimhae")
            self.assertEqual(body["type"], "Notification")
            _, v, q = topic.rsplit("/", 2)
            self.assertEqual(body["subscriptionId"], f"urn:ngsi-ld:Subscription:mqtt-{v}-{q}")
            self.assertEqual(body["data"], [{"id": "urn:ngsi-ld:Bollard:b1", "type": "Bollard", "waterLevel": 1.2}])
        for v, q in combos:
            sid = f"urn:ngsi-ld:Subscription:mqtt-{v}-{q}"
            self.assertTrue(wait_until(lambda: status_of(self.hub, sid).get("status") == "ok", 5), status_of(self.hub, sid))
            self.assertEqual(status_of(self.hub, sid)["timesSent"], 1)

    def test_json_ld_accept_puts_the_context_in_the_body(self):
        sub = Subscriber(self.broker, "city/ld")
        self.addCleanup(sub.stop)
        r = self.hub.post(S, mqtt_subscription("urn:ngsi-ld:Subscription:mqtt-ld", self.broker.uri("city/ld"), "Block",
                                               accept="application/ld+json"))
        self.assertEqual(r.status, 201, r)
        self.hub.post(E, {"id": "urn:ngsi-ld:Block:k1", "type": "Block", "vibration": {"type": "Property", "value": 3}})
        (_, msg, _), = sub.wait_for(1)
        self.assertEqual(msg["metadata"]["Content-Type"], "application/ld+json")
        self.assertNotIn("Link", msg["metadata"])
        self.assertIn("@context", msg["body"])

    def test_bad_notifier_info_is_refused(self):
        for key, value in (("MQTT-QoS", "3"), ("MQTT-Version", "mqtt4")):
            r = self.hub.post(S, mqtt_subscription("urn:ngsi-ld:Subscription:mqtt-bad", self.broker.uri("x"), "Block",
                                                   [(key, value)]))
            self.assertEqual(r.status, 400, r)
            self.assertIn(key, r.json()["detail"])

    def test_a_broker_outage_delays_but_loses_nothing(self):
        broker = Mosquitto().start()
        self.addCleanup(broker.cleanup)
        sid = "urn:ngsi-ld:Subscription:mqtt-outage"
        r = self.hub.post(S, mqtt_subscription(sid, broker.uri("city/outage"), "Gauge", [("MQTT-QoS", "1")]))
        self.assertEqual(r.status, 201, r)
        self.hub.post(E, {"id": "urn:ngsi-ld:Gauge:g1", "type": "Gauge", "level": {"type": "Property", "value": 0}})
        sub = Subscriber(broker, "city/outage")
        sub.wait_for(1)
        sub.stop()
        broker.stop()
        for n in range(1, 21):
            r = self.hub.patch(f"{E}/urn:ngsi-ld:Gauge:g1/attrs", {"level": {"type": "Property", "value": n}})
            self.assertEqual(r.status, 204, r)
        self.assertTrue(wait_until(lambda: status_of(self.hub, sid).get("status") == "failed", 5))
        broker.start()  # same port
        sub = Subscriber(broker, "city/outage")
        self.addCleanup(sub.stop)

        def levels():
            return [e["level"] for _, m, _ in sub.messages for e in m["body"]["data"]]

        self.assertTrue(wait_until(lambda: set(range(1, 21)) <= set(levels()), 15), levels())
        firsts = list(dict.fromkeys(levels()))
        self.assertEqual(firsts, sorted(firsts))
        self.assertGreater(status_of(self.hub, sid)["timesFailed"], 0)


class MqttCredentialsTest(unittest.TestCase):
    def test_user_and_password_from_the_uri(self):
        broker = Mosquitto(user="hub", password="s3cret").start()
        self.addCleanup(broker.cleanup)
        hub = Hub(extra_args=["--notify-retry-initial-ms", "100"]).start()
        self.addCleanup(hub.cleanup)
        sub = Subscriber(broker, "city/secure", user="hub", password="s3cret")
        self.addCleanup(sub.stop)
        good = "urn:ngsi-ld:Subscription:mqtt-good"
        bad = "urn:ngsi-ld:Subscription:mqtt-wrong-password"
        self.assertEqual(hub.post(S, mqtt_subscription(good, broker.uri("city/secure", "hub:s3cret@"), "Camera")).status, 201)
        self.assertEqual(hub.post(S, mqtt_subscription(bad, broker.uri("city/secure", "hub:guess@"), "Camera")).status, 201)
        hub.post(E, {"id": "urn:ngsi-ld:Camera:c1", "type": "Camera", "anomaly": {"type": "Property", "value": True}})
        messages = sub.wait_for(1)
        time.sleep(0.5)
        self.assertEqual([m["body"]["subscriptionId"] for _, m, _ in sub.messages], [good])
        self.assertTrue(wait_until(lambda: status_of(hub, bad).get("timesFailed", 0) > 0, 5))
        self.assertEqual(status_of(hub, bad)["status"], "failed")
        self.assertEqual(status_of(hub, good)["status"], "ok")
        self.assertEqual(len(messages), 1)


class MqttTlsTest(unittest.TestCase):
    def test_mqtts_needs_a_trusted_broker_certificate(self):
        directory = tempfile.mkdtemp(prefix="cityhub-mqtts-")
        self.addCleanup(shutil.rmtree, directory, True)
        trusted = self_signed_certificate(directory, "broker")
        untrusted = self_signed_certificate(directory, "impostor")
        broker = Mosquitto(tls=trusted).start()
        impostor = Mosquitto(tls=untrusted).start()
        self.addCleanup(broker.cleanup)
        self.addCleanup(impostor.cleanup)
        hub = Hub(extra_args=["--notify-ca-file", trusted[0], "--notify-retry-initial-ms", "100"]).start()
        self.addCleanup(hub.cleanup)
        sub = Subscriber(broker, "city/tls")  # over the plain listener of the same broker
        self.addCleanup(sub.stop)
        good, bad = "urn:ngsi-ld:Subscription:mqtts-good", "urn:ngsi-ld:Subscription:mqtts-impostor"
        self.assertEqual(hub.post(S, mqtt_subscription(good, broker.tls_uri("city/tls"), "Siren", [("MQTT-QoS", "1")])).status, 201)
        self.assertEqual(hub.post(S, mqtt_subscription(bad, impostor.tls_uri("city/tls"), "Siren")).status, 201)
        hub.post(E, {"id": "urn:ngsi-ld:Siren:s1", "type": "Siren", "on": {"type": "Property", "value": True}})
        (_, msg, _), = sub.wait_for(1)
        self.assertEqual(msg["body"]["subscriptionId"], good)
        self.assertEqual(msg["body"]["data"], [{"id": "urn:ngsi-ld:Siren:s1", "type": "Siren", "on": True}])
        self.assertTrue(wait_until(lambda: status_of(hub, bad).get("timesFailed", 0) > 0, 10))
        self.assertEqual(status_of(hub, bad)["status"], "failed")


if __name__ == "__main__":
    unittest.main()
