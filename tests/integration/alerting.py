"""A fixture for the early-warning tests: a real mosquitto, a hub ingesting from it (--mqtt),
and a receiver subscribed (keyValues, in the Smart Data Models Alert vocabulary) to every
Alert entity the hub's warning service writes."""
import unittest

from hub import CONTEXT_REL, Hub
from mqtt_broker import Mosquitto
from receiver import Receiver

ALERT_CONTEXT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld"


class AlertingTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Mosquitto().start()
        cls.hub = Hub(extra_args=["--mqtt", f"mqtt://127.0.0.1:{cls.broker.port}"]).start()
        cls.receiver = Receiver().start()
        r = cls.hub.post("/ngsi-ld/v1/subscriptions", {
            "type": "Subscription", "entities": [{"type": "Alert"}],
            "notification": {"format": "keyValues", "endpoint": {"uri": cls.receiver.url()}}},
            headers={"Link": f"<{ALERT_CONTEXT}>; {CONTEXT_REL}"})
        assert r.status == 201, r.body

    @classmethod
    def tearDownClass(cls):
        cls.receiver.stop()
        cls.hub.cleanup()
        cls.broker.cleanup()

    def notified_alerts(self):
        """Every Alert state notified so far, in arrival order."""
        return [d for n in self.receiver.received for d in n["body"]["data"]]
