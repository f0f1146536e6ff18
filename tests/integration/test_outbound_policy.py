"""The outbound address policy, tested as the attack it stops: a writer makes the hub send
requests into the hub's own network (server-side request forgery) through a subscription's
notification endpoint — cloud metadata on 169.254.169.254, private ranges, the hub's own
loopback admin paths, a host name resolving to loopback — with headers of its choosing, and
reads the subscription's status as a port scanner.

What must hold, with the default policy (hubs here start as an operator gets them, without
the harness's loopback allowance):
- an endpoint naming a refused address literally is refused at create and update (400,
  naming notification.endpoint.uri and the range);
- an endpoint naming a host that resolves to a refused address is accepted but never
  connected to — a loopback receiver proves no request arrives — and its status says only
  "address not allowed by the outbound policy", whether a port is open or closed;
- receiverInfo cannot set Host, Authorization, Content-Length, Transfer-Encoding, … (400).
  GS CIM 009 V1.8.1 §5.2.15 gives receiverInfo no meaning beyond "Generic {key, value} array to
  convey optional information to the receiver" (notifierInfo: "to set up the communication
  channel"); that they travel as HTTP headers is the binding's doing, so which headers a
  subscriber may set is the hub's policy;
- with the operator's allow-list the same loopback receiver gets its notification, and
  --notification-allow-headers lets Authorization through (never Host);
- the JWKS URL is fetched under the same policy, and bad option values stop the start.
"""
import json
import socket
import time
import unittest

from hub import Hub, HubTestCase, eventually
from receiver import Receiver

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
REFUSED = "address not allowed by the outbound policy"


def subscription(sid, uri, etype, receiver_info=()):
    endpoint = {"uri": uri, "accept": "application/json"}
    if receiver_info:
        endpoint["receiverInfo"] = [{"key": k, "value": v} for k, v in receiver_info]
    return {"id": sid, "type": "Subscription", "entities": [{"type": etype}], "notification": {"endpoint": endpoint}}


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AttackTestCase(HubTestCase):
    allow_loopback = False  # the policy as an operator gets it

    def create_subscription(self, body):
        return self.hub.post(S, body)

    def notification_status(self, sid):
        r = self.hub.get(f"{S}/{sid}")
        self.assertEqual(r.status, 200, r)
        return r.json()["notification"]

    def delivery(self, sid):
        """cityhub's delivery figures (beyond the spec's status members): lastFailureReason."""
        r = self.hub.get(f"/cityhub/v1/subscriptions/{sid}/delivery")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def touch(self, eid, etype, value="confidential-reading-7731"):
        r = self.hub.post(E, {"id": eid, "type": etype, "reading": {"type": "Property", "value": value}})
        self.assertEqual(r.status, 201, r)


class LiteralAddressesTest(AttackTestCase):
    """Endpoints naming a refused address are refused when the subscription is written."""

    def test_refused_literals_are_400_naming_the_member_and_range(self):
        cases = [
            ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),
            ("http://10.0.0.1/", "private"),
            ("http://192.168.1.1:8080/", "private"),
            ("http://100.64.0.1/", "carrier-grade NAT"),
            (f"http://127.0.0.1:{self.hub.port}/admin/backup", "loopback"),
            ("http://0.0.0.0:1026/", "unspecified"),
            ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number, as resolvers read it
            ("http://127.1/", "loopback"),
            ("http://[::1]:1026/", "loopback"),
            ("http://[::ffff:169.254.169.254]/", "link-local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[fd00::1]/", "private"),
            ("https://[::ffff:10.0.0.1]/", "private"),
            ("mqtt://169.254.169.254:1883/metadata", "link-local"),
            ("mqtts://10.1.2.3/topic", "private"),
            ("http://224.0.0.1/", "multicast"),
            ("http://255.255.255.255/", "broadcast"),
        ]
        for i, (uri, range_name) in enumerate(cases):
            with self.subTest(uri=uri):
                sid = f"urn:ngsi-ld:Subscription:literal-{i}"
                r = self.create_subscription(subscription(sid, uri, "Meter"))
                self.assertEqual(r.status, 400, r)
                body = r.json()
                self.assertEqual(body["type"], "https://uri.etsi.org/ngsi-ld/errors/BadRequestData")
                self.assertIn("notification.endpoint.uri", body["detail"])
                self.assertIn(range_name, body["detail"])
                self.assertIn("--outbound-allow", body["detail"])
                self.assertEqual(self.hub.get(f"{S}/{sid}").status, 404)

    def test_public_literals_are_accepted(self):
        r = self.create_subscription(subscription("urn:ngsi-ld:Subscription:public-literal", "http://8.8.8.8:9/x", "Meter"))
        self.assertEqual(r.status, 201, r)

    def test_update_to_a_refused_literal_is_refused_and_changes_nothing(self):
        sid = "urn:ngsi-ld:Subscription:update-target"
        r = self.create_subscription(subscription(sid, "http://receiver.example.com/notify", "Meter"))
        self.assertEqual(r.status, 201, r)
        r = self.hub.patch(f"{S}/{sid}", {"notification": {"endpoint": {"uri": "http://169.254.169.254/latest/"}}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("notification.endpoint.uri", r.json()["detail"])
        self.assertEqual(self.notification_status(sid)["endpoint"]["uri"], "http://receiver.example.com/notify")


class ReceiverInfoHeadersTest(AttackTestCase):
    """receiverInfo may not set headers that carry credentials, route or frame the request."""

    def test_protected_headers_are_400_naming_the_key(self):
        for i, key in enumerate(["Host", "Authorization", "Proxy-Authorization", "Cookie", "Content-Length",
                                 "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Trailer", "Upgrade",
                                 "Proxy-Foo", "hOsT", "NGSILD-Tenant", "Content-Type", "X-Forwarded-For"]):
            with self.subTest(key=key):
                sid = f"urn:ngsi-ld:Subscription:header-{i}"
                body = subscription(sid, "http://receiver.example.com/n", "Meter", receiver_info=[(key, "x")])
                r = self.create_subscription(body)
                self.assertEqual(r.status, 400, r)
                detail = r.json()["detail"]
                self.assertIn("notification.endpoint.receiverInfo", detail)
                self.assertIn(f"'{key}'", detail)
                self.assertEqual(self.hub.get(f"{S}/{sid}").status, 404)

    def test_update_cannot_add_a_protected_header(self):
        sid = "urn:ngsi-ld:Subscription:header-update"
        self.assertEqual(self.create_subscription(subscription(sid, "http://receiver.example.com/n", "Meter")).status, 201)
        r = self.hub.patch(f"{S}/{sid}", {"notification": {"endpoint": {
            "uri": "http://receiver.example.com/n", "receiverInfo": [{"key": "Authorization", "value": "Bearer stolen"}]}}})
        self.assertEqual(r.status, 400, r)
        self.assertNotIn("receiverInfo", self.notification_status(sid)["endpoint"])

    def test_other_headers_are_still_allowed(self):
        body = subscription("urn:ngsi-ld:Subscription:header-ok", "http://receiver.example.com/n", "Meter",
                            receiver_info=[("X-Api-Key", "k1"), ("Prefer", "body=json")])
        self.assertEqual(self.create_subscription(body).status, 201)


class ResolvedNamesTest(AttackTestCase):
    """A name resolving to a refused address is accepted, then never connected to."""

    def setUp(self):
        self.receiver = Receiver().start()
        self.addCleanup(self.receiver.stop)

    def wait_refused(self, sid, attempts=2):
        status = eventually(lambda: (lambda n: n if n.get("timesFailed", 0) >= attempts else None)(
            self.delivery(sid)), timeout=15)
        self.assertTrue(status, f"no failed attempts for {sid}: {self.delivery(sid)}")
        return status

    def test_localhost_receiver_gets_nothing_and_the_status_says_only_refused(self):
        sid = "urn:ngsi-ld:Subscription:via-localhost"
        uri = f"http://localhost:{self.receiver.port}/notify"
        r = self.create_subscription(subscription(sid, uri, "Boiler", receiver_info=[("X-Probe", "1")]))
        self.assertEqual(r.status, 201, r)
        self.touch("urn:ngsi-ld:Boiler:1", "Boiler")
        status = self.wait_refused(sid)
        self.assertEqual(status["status"], "failed")
        self.assertEqual(status["lastFailureReason"], REFUSED)
        self.assertEqual(self.receiver.attempts, [])  # two attempts made, none reached it
        log = self.hub.read_log()
        self.assertIn("notification to host 'localhost' refused", log)
        self.assertNotIn("confidential-reading-7731", log)  # no payload in the log

    def test_open_and_closed_ports_look_the_same(self):
        uris = {"open": f"http://localhost:{self.receiver.port}/scan",
                "closed": f"http://localhost:{closed_port()}/scan",
                "mqtt": f"mqtt://localhost:{closed_port()}/scan"}
        for name, uri in uris.items():
            self.assertEqual(self.create_subscription(subscription(f"urn:ngsi-ld:Subscription:scan-{name}", uri, "Scanner")).status, 201)
        self.touch("urn:ngsi-ld:Scanner:1", "Scanner")
        reasons = {name: self.wait_refused(f"urn:ngsi-ld:Subscription:scan-{name}")["lastFailureReason"] for name in uris}
        self.assertEqual(reasons, {name: REFUSED for name in uris})
        self.assertEqual(self.receiver.attempts, [])


class OperatorAllowListTest(AttackTestCase):
    """With loopback on the operator's allow-list the same receiver is notified."""

    hub_args = ("--outbound-allow", "127.0.0.0/8,::1", "--notification-allow-headers", "Authorization")

    def setUp(self):
        self.receiver = Receiver().start()
        self.addCleanup(self.receiver.stop)

    def test_allowed_loopback_receiver_is_notified_with_the_allowed_header(self):
        sid = "urn:ngsi-ld:Subscription:allowed"
        uri = f"http://localhost:{self.receiver.port}/notify"
        r = self.create_subscription(subscription(sid, uri, "Pump", receiver_info=[("Authorization", "Bearer receiver-token")]))
        self.assertEqual(r.status, 201, r)
        self.touch("urn:ngsi-ld:Pump:1", "Pump")
        got = self.receiver.wait_for(1, timeout=10)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["headers"].get("authorization"), "Bearer receiver-token")
        self.assertEqual(got[0]["headers"].get("host"), f"localhost:{self.receiver.port}")
        self.assertEqual(eventually(lambda: self.notification_status(sid).get("status")), "ok")

    def test_literal_loopback_is_accepted_but_other_ranges_and_host_are_not(self):
        ok = subscription("urn:ngsi-ld:Subscription:allowed-literal", f"http://127.0.0.1:{self.receiver.port}/n", "Pump")
        self.assertEqual(self.create_subscription(ok).status, 201)
        r = self.create_subscription(subscription("urn:ngsi-ld:Subscription:still-refused", "http://169.254.169.254/", "Pump"))
        self.assertEqual(r.status, 400, r)
        host = subscription("urn:ngsi-ld:Subscription:host-header", f"http://127.0.0.1:{self.receiver.port}/n", "Pump",
                            receiver_info=[("Host", "admin.internal")])
        self.assertEqual(self.create_subscription(host).status, 400)
        cookie = subscription("urn:ngsi-ld:Subscription:cookie", f"http://127.0.0.1:{self.receiver.port}/n", "Pump",
                              receiver_info=[("Cookie", "session=1")])
        self.assertEqual(self.create_subscription(cookie).status, 400)  # only Authorization was allowed


class StartUpTest(unittest.TestCase):
    def assertStartFails(self, args, message):
        hub = Hub(extra_args=args, allow_loopback=False)
        self.addCleanup(hub.cleanup)
        with self.assertRaises(RuntimeError) as failed:
            hub.start()
        self.assertIn(message, str(failed.exception))
        self.assertEqual(hub.proc.returncode, 2)

    def test_bad_allow_list_stops_the_start(self):
        self.assertStartFails(["--outbound-allow", "127.0.0.0/8,10.0.0.0/33"], "10.0.0.0/33")
        self.assertStartFails(["--outbound-allow", "intranet"], "'intranet' is not a network in CIDR notation")

    def test_framing_headers_cannot_be_allowed(self):
        self.assertStartFails(["--notification-allow-headers", "Authorization,Host"], "'Host'")

    def test_jwks_on_a_refused_address_is_not_fetched(self):
        with socket.socket() as provider:
            provider.bind(("127.0.0.1", 0))
            provider.listen(8)
            provider.setblocking(False)
            url = f"http://127.0.0.1:{provider.getsockname()[1]}/certs"
            self.assertStartFails(["--auth-jwks-url", url], REFUSED)
            with self.assertRaises(BlockingIOError):  # no connection was ever made to it
                provider.accept()

    def test_default_policy_is_announced(self):
        hub = Hub(allow_loopback=False).start()
        self.addCleanup(hub.cleanup)
        self.assertIn("outbound connections (notifications, @context downloads, JWKS): public addresses only", hub.read_log())


if __name__ == "__main__":
    unittest.main()
