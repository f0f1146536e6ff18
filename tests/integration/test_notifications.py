"""Notifications (GS CIM 009 §5.8.6, §4.5) end to end: a real cityhub process notifies a real
HTTP receiver. Covered: which change fires which notificationTrigger (and watchedAttributes),
the payload in every format with attributes, sysAttrs and showChanges, the @context as a Link
header or in the body, the q / geoQ / scopeQ / id / idPattern / type filters, receiverInfo
headers and tenants, retries with backoff and the delivery status, giving up after the retry
budget or a full queue, throttling, expired and paused subscriptions, deleted subscriptions,
the delivery status and the outbox across restarts, and the order of an entity's states under
load.

Notifications may batch several entities, so the tests count entities (Receiver.entities)
rather than requests wherever writes come faster than deliveries. Tests that make the receiver
fail look at Receiver.attempts, which keeps every attempt with the status it was answered."""
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

from certificates import self_signed_certificate
from hub import CONTEXT_REL, CORE_CONTEXT, Hub, HubTestCase, ReceiverTestCase, eventually, link_header
from receiver import Receiver

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"
C = "/ngsi-ld/v1/jsonldContexts"
NEAR = [127.1001, 35.8001]  # ~14 m from the geoQ point of the filter tests
FAR = [129.0, 37.0]
QUIET = 0.6  # how long "nothing arrives" is watched for
FAST_RETRIES = ("--notify-retry-initial-ms", "50", "--notify-retry-max-ms", "200")


def prop(value, **members):
    return dict({"type": "Property", "value": value}, **members)


def point(coordinates):
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": coordinates}}


def entity(eid, etype, **attrs):
    return dict({"id": eid, "type": etype}, **attrs)


def instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def wait_entities(receiver, path, count, timeout=10):
    """Waits until `count` entities were notified to `path`; returns every one of them."""
    deadline = time.time() + timeout
    with receiver.cond:
        while True:
            got = [e for n in receiver.received if n["path"] == path for e in n["body"]["data"]]
            if len(got) >= count or time.time() >= deadline:
                return got
            receiver.cond.wait(max(0.01, deadline - time.time()))


def metrics(hub):
    """/metrics as {(name, frozenset(labels)): value}."""
    out = {}
    for line in hub.get("/metrics").body.splitlines():
        m = re.match(r"^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(hub, name, **labels):
    return metrics(hub).get((name, frozenset(labels.items())), 0.0)


class NotificationAssertions:
    """Helpers shared by the test classes (self.hub, self.receiver)."""

    def subscribe(self, name, path=None, receiver=None, headers=None, content_type=None, notification=None,
                  **members):
        """Creates subscription urn:ngsi-ld:Subscription:<name> notifying <path> (default
        /<name>) of `receiver`; returns its id."""
        receiver = receiver or self.receiver
        sid = f"urn:ngsi-ld:Subscription:{name}"
        n = dict(notification or {})
        n["endpoint"] = dict({"uri": receiver.url(path or f"/{name}")}, **n.get("endpoint", {}))
        body = dict({"id": sid, "type": "Subscription", "notification": n}, **members)
        r = self.hub.post(S, body, headers=headers, content_type=content_type)
        self.assertEqual(r.status, 201, r)
        return sid

    def subscription(self, sid, **kw):
        r = self.hub.get(f"{S}/{quote(sid, safe=':')}", **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def delivery(self, sid):
        """GET /cityhub/v1/subscriptions/{id}/delivery: cityhub's delivery figures."""
        r = self.hub.get(f"/cityhub/v1/subscriptions/{quote(sid, safe=':')}/delivery")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def write(self, method, path, body=None, status=None, **kw):
        r = self.hub.request(method, path, body, **kw)
        expected = status or {"POST": (201, 204), "PATCH": (204,), "DELETE": (204,), "PUT": (204,)}[method]
        self.assertIn(r.status, expected if isinstance(expected, tuple) else (expected,), r)
        return r

    def create(self, body, **kw):
        return self.write("POST", E, body, status=201, **kw)

    def patch_attrs(self, eid, attrs, **kw):
        return self.write("PATCH", f"{E}/{eid}/attrs", attrs, **kw)

    def received(self, path, receiver=None):
        receiver = receiver or self.receiver
        with receiver.cond:
            return [n for n in receiver.received if n["path"] == path]

    def assertQuiet(self, path, already, receiver=None, seconds=QUIET):
        """Nothing more than the `already` entities arrives at `path` for a while."""
        time.sleep(seconds)
        got = (receiver or self.receiver).entities(path)
        self.assertEqual(len(got), already, f"unexpected notifications to {path}: {got[already:]}")


class NotificationsTest(NotificationAssertions, ReceiverTestCase):
    hub_args = FAST_RETRIES

    # --- 1. triggers ---------------------------------------------------------------------
    def test_each_trigger_fires_exactly_when_it_should(self):
        t = {"type": "TrigCar"}
        subs = {  # path -> (members, steps expected to notify)
            "trig-entity-created": ({"notificationTrigger": ["entityCreated"]}, [1]),
            "trig-entity-updated": ({"notificationTrigger": ["entityUpdated"]}, [2, 3, 4]),
            "trig-entity-deleted": ({"notificationTrigger": ["entityDeleted"]}, [5]),
            "trig-attr-created": ({"notificationTrigger": ["attributeCreated"]}, [1, 3]),
            "trig-attr-updated": ({"notificationTrigger": ["attributeUpdated"]}, [2]),
            # deleting the entity deletes its attributes too (§5.8.6 notifies it as a deletion)
            "trig-attr-deleted": ({"notificationTrigger": ["attributeDeleted"]}, [4, 5]),
            "trig-default": ({}, [1, 2, 3]),
            "trig-watched-speed": ({"watchedAttributes": ["speed"]}, [1, 2]),
            "trig-watched-note-deleted": ({"watchedAttributes": ["note"], "notificationTrigger": ["attributeDeleted"]},
                                          [4]),
            "trig-watched-color-updated": ({"watchedAttributes": ["color"], "notificationTrigger": ["attributeUpdated"]},
                                           []),
            "trig-watched-speed-entity": ({"watchedAttributes": ["speed"],
                                           "notificationTrigger": ["entityCreated", "entityDeleted"]}, [1, 5]),
        }
        for name, (members, _) in subs.items():
            self.subscribe(name, entities=[t], **members)
        eid = "urn:ngsi-ld:TrigCar:1"
        # every step leaves a distinct state, so each notified entity tells which step fired it
        self.create(entity(eid, "TrigCar", speed=prop(1), note=prop("n")))               # 1 create
        self.patch_attrs(eid, {"speed": prop(2)})                                        # 2 update speed
        self.write("POST", f"{E}/{eid}/attrs", {"color": prop("red")})                   # 3 add color
        self.write("DELETE", f"{E}/{eid}/attrs/note")                                    # 4 delete note
        self.write("DELETE", f"{E}/{eid}")                                               # 5 delete entity

        def step(e):
            if "deletedAt" in e:
                self.assertEqual(set(e), {"id", "type", "deletedAt"}, e)
                self.assertEqual((e["id"], e["type"]), (eid, "TrigCar"))
                return 5
            if "note" in e and e["note"]["value"] == "urn:ngsi-ld:null":  # §5.8.6: named as deleted
                self.assertEqual(e["note"], {"type": "Property", "value": "urn:ngsi-ld:null"})
                state = (e["speed"]["value"], False, "color" in e)
            else:
                state = (e["speed"]["value"], "note" in e, "color" in e)
            return {(1, True, False): 1, (2, True, False): 2, (2, True, True): 3, (2, False, True): 4}[state]

        for name, (_, steps) in subs.items():
            wait_entities(self.receiver, f"/{name}", len(steps), timeout=5)
        time.sleep(QUIET)  # anything wrongly fired has arrived by now
        for name, (_, steps) in subs.items():
            with self.subTest(name):
                self.assertEqual([step(e) for e in self.receiver.entities(f"/{name}")], steps)

    # --- 2. payloads ---------------------------------------------------------------------
    def test_formats_attributes_sys_attrs_and_show_changes(self):
        t = [{"type": "FmtCar"}]
        subs = {
            "fmt-normalized": self.subscribe("fmt-normalized", entities=t, notification={"showChanges": True}),
            "fmt-key-values": self.subscribe("fmt-key-values", entities=t,
                                             notification={"format": "keyValues", "attributes": ["speed", "color"]}),
            "fmt-concise": self.subscribe("fmt-concise", entities=t, notification={"format": "concise"}),
            "fmt-concise-changes": self.subscribe("fmt-concise-changes", entities=t,
                                                  notification={"format": "concise", "showChanges": True}),
            "fmt-sys-attrs": self.subscribe("fmt-sys-attrs", entities=t,
                                            notification={"sysAttrs": True, "attributes": ["speed"]}),
        }
        eid = "urn:ngsi-ld:FmtCar:1"
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        self.create(entity(eid, "FmtCar", speed=prop(50, unitCode="KMH"), color=prop("red"),
                           owner={"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"},
                           location=point(NEAR)))
        self.patch_attrs(eid, {"speed": prop(60, unitCode="KMH")})
        updated = {}
        for name, sid in subs.items():
            with self.subTest(name):
                self.assertEqual(len(wait_entities(self.receiver, f"/{name}", 2, timeout=5)), 2)
                notifications = self.received(f"/{name}")
                ids = set()
                for n in notifications:
                    body = n["body"]
                    self.assertTrue(body["id"].startswith("urn:ngsi-ld:Notification:"), body)
                    ids.add(body["id"])
                    self.assertEqual(body["type"], "Notification")
                    self.assertEqual(body["subscriptionId"], sid)
                    self.assertLessEqual(before, instant(body["notifiedAt"]))
                    self.assertLessEqual(instant(body["notifiedAt"]), datetime.now(timezone.utc) + timedelta(seconds=1))
                    self.assertTrue(n["headers"]["content-type"].startswith("application/json"), n["headers"])
                    self.assertNotIn("@context", body)
                    self.assertIn(f"<{CORE_CONTEXT}>", n["headers"].get("link", ""))
                self.assertEqual(len(ids), len(notifications), "notification ids are not unique")
                created, updated[name] = self.receiver.entities(f"/{name}")
                self.assertEqual((created["id"], created["type"]), (eid, "FmtCar"))
                self.assertEqual(updated[name]["id"], eid)

        location = {"type": "Point", "coordinates": NEAR}
        owner = {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"}
        with self.subTest("normalized + showChanges"):
            self.assertEqual(updated["fmt-normalized"], {
                "id": eid, "type": "FmtCar",
                "speed": {"type": "Property", "value": 60, "unitCode": "KMH", "previousValue": 50},
                "color": {"type": "Property", "value": "red"},
                "owner": owner,
                "location": {"type": "GeoProperty", "value": location}})
            created = self.receiver.entities("/fmt-normalized")[0]
            self.assertNotIn("previousValue", created["speed"])  # nothing to compare a creation with
        with self.subTest("keyValues + attributes"):
            self.assertEqual(updated["fmt-key-values"], {"id": eid, "type": "FmtCar", "speed": 60, "color": "red"})
        with self.subTest("concise"):
            self.assertEqual(updated["fmt-concise"], {
                "id": eid, "type": "FmtCar", "speed": {"value": 60, "unitCode": "KMH"}, "color": "red",
                "owner": {"object": "urn:ngsi-ld:Person:p1"}, "location": location})
        with self.subTest("concise + showChanges"):
            got = updated["fmt-concise-changes"]
            self.assertEqual(got["speed"], {"value": 60, "unitCode": "KMH", "previousValue": 50})
            self.assertEqual(got["color"], "red")  # unchanged: no previous value
        with self.subTest("sysAttrs + attributes"):
            got = updated["fmt-sys-attrs"]
            self.assertEqual(set(got), {"id", "type", "createdAt", "modifiedAt", "speed"}, got)
            self.assertLessEqual(instant(got["createdAt"]), instant(got["modifiedAt"]))
            self.assertEqual(set(got["speed"]), {"type", "value", "unitCode", "createdAt", "modifiedAt"})
            self.assertEqual(got["speed"]["value"], 60)
            self.assertLessEqual(before, instant(got["speed"]["createdAt"]))
        for name in ("fmt-normalized", "fmt-concise", "fmt-key-values"):
            with self.subTest(f"no system attributes in {name}"):
                self.assertNotIn("createdAt", updated[name])
                self.assertNotIn("modifiedAt", updated[name])

    def test_context_as_link_header_or_in_the_body(self):
        vocab = "https://example.org/vocab#"
        hosted = {"CtxVan": vocab + "CtxVan", "velocity": vocab + "velocity"}
        inline = {"Van2": vocab + "CtxVan", "v": vocab + "velocity"}  # other names for the same IRIs
        r = self.hub.post(C, {"@context": hosted})
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        t = [{"type": "CtxVan"}]
        self.subscribe("ctx-link", entities=t, headers=link_header(url))
        body_context = [inline, CORE_CONTEXT]
        ld = {"@context": body_context}
        self.subscribe("ctx-inline-ld", entities=[{"type": "Van2"}], content_type="application/ld+json",
                       notification={"endpoint": {"accept": "application/ld+json"}}, **ld)
        self.subscribe("ctx-inline-json", entities=[{"type": "Van2"}], content_type="application/ld+json", **ld)
        self.subscribe("ctx-core", entities=[{"type": vocab + "CtxVan"}])
        self.subscribe("ctx-named", entities=[{"type": vocab + "CtxVan"}], jsonldContext=url)
        self.create(entity("urn:ngsi-ld:CtxVan:1", "CtxVan", velocity=prop(3)), headers=link_header(url))

        got = {}
        for name in ("ctx-link", "ctx-inline-ld", "ctx-inline-json", "ctx-core", "ctx-named"):
            notifications = self.receiver.wait_for(1, timeout=5, path=f"/{name}")
            self.assertEqual(len(notifications), 1, name)
            got[name] = notifications[0]
        with self.subTest("Link header to the context the subscription was created with"):
            n = got["ctx-link"]
            self.assertTrue(n["headers"]["content-type"].startswith("application/json"))
            self.assertEqual(n["headers"].get("link"), f"<{url}>; {CONTEXT_REL}")
            self.assertNotIn("@context", n["body"])
            self.assertEqual(n["body"]["data"], [{"id": "urn:ngsi-ld:CtxVan:1", "type": "CtxVan",
                                                 "velocity": {"type": "Property", "value": 3}}])
        with self.subTest("accept application/ld+json: @context in the body, no Link"):
            n = got["ctx-inline-ld"]
            self.assertTrue(n["headers"]["content-type"].startswith("application/ld+json"), n["headers"])
            self.assertNotIn("link", n["headers"])
            self.assertEqual(n["body"]["@context"], body_context)
            self.assertEqual(n["body"]["data"], [{"id": "urn:ngsi-ld:CtxVan:1", "type": "Van2",
                                                 "v": {"type": "Property", "value": 3}}])
        with self.subTest("inline context, application/json: Link to the hub's copy of it"):
            n = got["ctx-inline-json"]
            self.assertNotIn("@context", n["body"])
            m = re.fullmatch(r"<([^>]+)>; (.*)", n["headers"].get("link", ""))
            self.assertIsNotNone(m, n["headers"])
            self.assertEqual(m.group(2), CONTEXT_REL)
            served = self.hub.get(urlsplit(m.group(1)).path)
            self.assertEqual(served.status, 200, served)
            self.assertEqual(served.json()["@context"], body_context)
            self.assertEqual(n["body"]["data"][0]["type"], "Van2")
            self.assertIn("v", n["body"]["data"][0])
        with self.subTest("jsonldContext: the Link header names the context the subscription named"):
            # GS CIM 009 §5.2.12 jsonldContext: "the @context to be used in the notifications" —
            # with application/json it travels in the Link header (§6.3.5), by the URL given.
            n = got["ctx-named"]
            self.assertEqual(n["headers"].get("link"), f"<{url}>; {CONTEXT_REL}")
            self.assertEqual(n["body"]["data"][0]["type"], "CtxVan")
            self.assertIn("velocity", n["body"]["data"][0])
        with self.subTest("no user context: the core context, names left expanded"):
            n = got["ctx-core"]
            self.assertEqual(n["headers"].get("link"), f"<{CORE_CONTEXT}>; {CONTEXT_REL}")
            self.assertEqual(n["body"]["data"][0]["type"], vocab + "CtxVan")
            self.assertIn(vocab + "velocity", n["body"]["data"][0])

    # --- 3. filters ----------------------------------------------------------------------
    def test_q_geo_q_scope_q_and_entity_selectors(self):
        geo = {"geometry": "Point", "coordinates": [127.1, 35.8], "georel": "near;maxDistance==1000"}
        car = [{"type": "FltCar"}]
        expected = {  # path -> (members, the (id suffix, speed) notified, in any order)
            "flt-q": ({"entities": car, "q": "speed>50"}, [("near-fast", 80), ("far-fast", 90), ("near-slow", 75)]),
            "flt-geo": ({"entities": car, "geoQ": geo}, [("near-slow", 10), ("near-fast", 80), ("near-slow", 75)]),
            "flt-q-and-geo": ({"entities": car, "q": "speed>50", "geoQ": geo}, [("near-fast", 80), ("near-slow", 75)]),
            "flt-q-range": ({"entities": car, "q": "speed>=75;speed<90"}, [("near-fast", 80), ("near-slow", 75)]),
            "flt-scope": ({"entities": car, "scopeQ": "/Jeonju/#"}, [("near-slow", 10), ("near-slow", 75)]),
            "flt-id": ({"entities": [{"id": "urn:ngsi-ld:FltCar:far-fast", "type": "FltCar"}]}, [("far-fast", 90)]),
            "flt-id-pattern": ({"entities": [{"idPattern": "^urn:ngsi-ld:FltCar:near-", "type": "FltCar"}]},
                               [("near-slow", 10), ("near-fast", 80), ("near-slow", 75)]),
            "flt-type": ({"entities": [{"type": "FltBike"}]}, [("bike", 70)]),
            "flt-two-selectors": ({"entities": [{"type": "FltBike"}, {"id": "urn:ngsi-ld:FltCar:far-fast",
                                                                      "type": "FltCar"}]},
                                  [("bike", 70), ("far-fast", 90)]),
        }
        for name, (members, _) in expected.items():
            self.subscribe(name, **members)
        self.create(entity("urn:ngsi-ld:FltCar:near-slow", "FltCar", speed=prop(10), location=point(NEAR),
                           scope="/Jeonju/center"))
        self.create(entity("urn:ngsi-ld:FltCar:near-fast", "FltCar", speed=prop(80), location=point(NEAR)))
        self.create(entity("urn:ngsi-ld:FltCar:far-fast", "FltCar", speed=prop(90), location=point(FAR),
                           scope="/Seoul"))
        self.create(entity("urn:ngsi-ld:FltBike:bike", "FltBike", speed=prop(70), location=point(NEAR)))
        self.patch_attrs("urn:ngsi-ld:FltCar:near-slow", {"speed": prop(75)})
        for name, (_, pairs) in expected.items():
            wait_entities(self.receiver, f"/{name}", len(pairs), timeout=5)
        time.sleep(QUIET)
        for name, (_, pairs) in expected.items():
            with self.subTest(name):
                got = [(e["id"].rsplit(":", 1)[1], e["speed"]["value"]) for e in self.receiver.entities(f"/{name}")]
                self.assertEqual(sorted(got), sorted(pairs))

    # --- 4. headers and tenants ----------------------------------------------------------
    def test_receiver_info_headers_and_tenant(self):
        t1 = {"NGSILD-Tenant": "notifT1"}
        info = [{"key": "X-Api-Key", "value": "k1"}, {"key": "X-Trace", "value": "a b;c"}]
        self.subscribe("ten-t1", headers=t1, entities=[{"type": "TenCar"}],
                       notification={"endpoint": {"receiverInfo": info}})
        self.subscribe("ten-default", entities=[{"type": "TenCar"}])
        self.create(entity("urn:ngsi-ld:TenCar:in-t1", "TenCar", speed=prop(1)), headers=t1)
        self.create(entity("urn:ngsi-ld:TenCar:in-default", "TenCar", speed=prop(2)))
        self.assertEqual(len(self.receiver.wait_for(1, timeout=5, path="/ten-t1")), 1)
        self.assertEqual(len(self.receiver.wait_for(1, timeout=5, path="/ten-default")), 1)
        self.assertQuiet("/ten-t1", 1)
        self.assertQuiet("/ten-default", 1, seconds=0)
        in_t1, = self.received("/ten-t1")
        self.assertEqual([e["id"] for e in in_t1["body"]["data"]], ["urn:ngsi-ld:TenCar:in-t1"])
        self.assertEqual(in_t1["headers"].get("ngsild-tenant"), "notifT1")
        self.assertEqual(in_t1["headers"].get("x-api-key"), "k1")
        self.assertEqual(in_t1["headers"].get("x-trace"), "a b;c")
        in_default, = self.received("/ten-default")
        self.assertEqual([e["id"] for e in in_default["body"]["data"]], ["urn:ngsi-ld:TenCar:in-default"])
        self.assertNotIn("ngsild-tenant", in_default["headers"])
        self.assertNotIn("x-api-key", in_default["headers"])
        # the status is kept per tenant too
        self.assertEqual(self.subscription("urn:ngsi-ld:Subscription:ten-t1", headers=t1)["notification"]["timesSent"], 1)

    # --- 5. retries ----------------------------------------------------------------------
    def test_failed_notifications_are_retried_in_order_until_delivered(self):
        flaky = Receiver(failures=3).start()
        self.addCleanup(flaky.stop)
        sid = self.subscribe("retry", receiver=flaky, entities=[{"type": "RetryCar"}])
        ids = [f"urn:ngsi-ld:RetryCar:{i}" for i in range(3)]
        for eid in ids:
            self.create(entity(eid, "RetryCar", counter=prop(0)))
        for value in range(1, 5):
            for eid in ids:
                self.patch_attrs(eid, {"counter": prop(value)})

        def delivered():
            return {(e["id"], e["counter"]["value"]) for e in flaky.entities()}
        everything = {(eid, v) for eid in ids for v in range(5)}
        self.assertEqual(eventually(lambda: delivered() >= everything and delivered(), timeout=10), everything)
        attempts = flaky.attempts
        self.assertEqual([a["status"] for a in attempts[:4]], [500, 500, 500, 200])
        # the failed head was sent again (with what piled up meanwhile behind it)
        first = [(e["id"], e["counter"]["value"]) for e in attempts[0]["body"]["data"]]
        for attempt in attempts[1:4]:
            again = [(e["id"], e["counter"]["value"]) for e in attempt["body"]["data"]]
            self.assertEqual(again[:len(first)], first)
        # per entity, never an older state after a newer one
        for eid in ids:
            values = [e["counter"]["value"] for a in attempts for e in a["body"]["data"] if e["id"] == eid]
            self.assertEqual(values, sorted(values), eid)

        def settled():
            n = self.subscription(sid)["notification"]
            return n if n.get("timesSent") == len(flaky.attempts) else None
        n = eventually(settled, timeout=5)
        self.assertIsNotNone(n, self.subscription(sid))
        self.assertEqual(n["timesFailed"], 3, n)
        self.assertEqual(n["status"], "ok", n)
        self.assertIn("lastFailure", n)
        self.assertLess(instant(n["lastFailure"]), instant(n["lastSuccess"]))
        self.assertEqual(instant(n["lastNotification"]), instant(n["lastSuccess"]))
        self.assertNotIn("timesGivenUp", n)  # cityhub's own figure: not in the NGSI-LD representation
        self.assertEqual(self.delivery(sid)["timesGivenUp"], 0)

    # --- 7. throttling -------------------------------------------------------------------
    def test_throttling_spaces_notifications_and_loses_nothing(self):
        eid = "urn:ngsi-ld:ThrCar:1"
        self.create(entity(eid, "ThrCar", speed=prop(0)))
        self.subscribe("throttled", entities=[{"type": "ThrCar"}], throttling=1)
        t0 = time.time()
        for value in range(1, 6):
            self.patch_attrs(eid, {"speed": prop(value)})
        time.sleep(max(0.0, t0 + 1.2 - time.time()))
        early = [n for n in self.received("/throttled") if n["at"] <= t0 + 1.2]
        self.assertGreaterEqual(len(early), 1)
        self.assertLessEqual(len(early), 2, [n["at"] - t0 for n in early])

        def final_arrived():
            return any(e["speed"]["value"] == 5 for e in self.receiver.entities("/throttled"))
        # The states that piled up during the throttle period go together in the next
        # notification: the entity does not fall behind by one period per change.
        self.assertTrue(eventually(final_arrived, timeout=2.5), [e["speed"]["value"] for e in self.receiver.entities("/throttled")])
        notifications = self.received("/throttled")
        self.assertLessEqual(len(notifications), 2, [n["body"]["data"] for n in notifications])
        values = [e["speed"]["value"] for n in notifications for e in n["body"]["data"]]
        self.assertEqual(sorted(set(values)), [1, 2, 3, 4, 5], values)  # every change, none lost
        self.assertEqual(values, sorted(values))
        gaps = [b["at"] - a["at"] for a, b in zip(notifications, notifications[1:])]
        for gap in gaps:
            self.assertGreater(gap, 0.9, gaps)

    # --- 8. expired and paused -----------------------------------------------------------
    def test_expired_and_paused_subscriptions_do_not_notify_until_renewed(self):
        expires = datetime.now(timezone.utc) + timedelta(seconds=1.5)
        expiring = self.subscribe("expiring", entities=[{"type": "ExpCar"}], expiresAt=iso(expires))
        paused = self.subscribe("paused", entities=[{"type": "ExpCar"}], isActive=False)
        eid = "urn:ngsi-ld:ExpCar:1"
        self.create(entity(eid, "ExpCar", speed=prop(1)))
        self.assertEqual(len(wait_entities(self.receiver, "/expiring", 1, timeout=5)), 1)  # alive before expiry
        time.sleep(max(0.0, expires.timestamp() - time.time() + 0.1))
        self.assertEqual(self.subscription(expiring)["status"], "expired")
        self.assertEqual(self.subscription(paused)["status"], "paused")
        self.patch_attrs(eid, {"speed": prop(2)})
        self.write("POST", E, entity("urn:ngsi-ld:ExpCar:2", "ExpCar", speed=prop(1)), status=201)
        self.assertQuiet("/expiring", 1, seconds=1.0)
        self.assertQuiet("/paused", 0, seconds=0)
        # renewed: later changes notify again (and nothing missed meanwhile is sent)
        self.write("PATCH", f"{S}/{paused}", {"isActive": True})
        self.write("PATCH", f"{S}/{expiring}", {"expiresAt": iso(datetime.now(timezone.utc) + timedelta(hours=1))})
        self.assertEqual(self.subscription(paused)["status"], "active")
        self.assertEqual(self.subscription(expiring)["status"], "active")
        self.patch_attrs(eid, {"speed": prop(3)})
        for path, before in (("/paused", 0), ("/expiring", 1)):
            with self.subTest(path):
                got = wait_entities(self.receiver, path, before + 1, timeout=5)
                self.assertEqual([(e["id"], e["speed"]["value"]) for e in got[before:]], [(eid, 3)])
        self.assertQuiet("/paused", 1)

    # --- 9. deletion ---------------------------------------------------------------------
    def test_deleted_subscription_stops_notifying(self):
        sid = self.subscribe("deleted", entities=[{"type": "DelCar"}])
        eid = "urn:ngsi-ld:DelCar:1"
        self.create(entity(eid, "DelCar", speed=prop(1)))
        self.assertEqual(len(wait_entities(self.receiver, "/deleted", 1, timeout=5)), 1)
        self.write("DELETE", f"{S}/{sid}")
        self.patch_attrs(eid, {"speed": prop(2)})
        self.write("DELETE", f"{E}/{eid}")
        self.assertQuiet("/deleted", 1)

    def test_deleted_subscription_drops_what_it_had_queued(self):
        failing = Receiver().start()
        failing.status = 500
        self.addCleanup(failing.stop)
        sid = self.subscribe("deleted-queued", receiver=failing, entities=[{"type": "DelQCar"}])
        for i in range(3):
            self.create(entity(f"urn:ngsi-ld:DelQCar:{i}", "DelQCar", speed=prop(i)))
        self.assertGreaterEqual(len(failing.wait_attempts(2, timeout=5)), 2)
        self.write("DELETE", f"{S}/{sid}")
        attempts = len(failing.attempts)
        failing.status = 200
        time.sleep(1.0)
        self.assertLessEqual(len(failing.attempts), attempts + 1, "the deleted subscription kept notifying")

    def test_recreated_subscription_starts_with_a_fresh_status(self):
        sid = self.subscribe("recreated", entities=[{"type": "RecCar"}])
        self.create(entity("urn:ngsi-ld:RecCar:1", "RecCar", speed=prop(1)))
        self.assertEqual(len(wait_entities(self.receiver, "/recreated", 1, timeout=5)), 1)
        self.assertEqual(eventually(lambda: self.subscription(sid)["notification"].get("timesSent"), timeout=5), 1)
        self.write("DELETE", f"{S}/{sid}")
        self.subscribe("recreated", path="/recreated-again", entities=[{"type": "RecCar"}])
        notification = self.subscription(sid)["notification"]
        for member in ("timesSent", "lastNotification", "lastSuccess", "status"):
            self.assertNotIn(member, notification, "the new subscription shows the deleted one's delivery status")

    # --- 11. order under load ------------------------------------------------------------
    def test_order_per_entity_under_rapid_updates(self):
        ids = [f"urn:ngsi-ld:OrdCar:{k}" for k in range(3)]
        for eid in ids:
            self.create(entity(eid, "OrdCar", counter=prop(0)))
        self.subscribe("ordered", entities=[{"type": "OrdCar"}], notification={"format": "keyValues"})
        errors = []

        def writer(k):  # entity k gets the counter values n in 1..200 with n % 3 == k, in order
            try:
                for n in range(1, 201):
                    if n % 3 == k:
                        r = self.hub.patch(f"{E}/{ids[k]}/attrs", {"counter": prop(n)})
                        if r.status != 204:
                            errors.append((n, r))
            except Exception as e:  # surfaced below
                errors.append(e)
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])

        def all_values():
            return {e["counter"] for e in self.receiver.entities("/ordered")} >= set(range(1, 201))
        eventually(all_values, timeout=20, interval=0.1)
        got = self.receiver.entities("/ordered")
        values = {eid: [e["counter"] for e in got if e["id"] == eid] for eid in ids}
        duplicates = 0
        for k, eid in enumerate(ids):
            seq = values[eid]
            for a, b in zip(seq, seq[1:]):
                self.assertLessEqual(a, b, f"{eid}: {b} notified after {a}")
                duplicates += a == b
            self.assertEqual(sorted(set(seq)), [n for n in range(1, 201) if n % 3 == k], f"{eid} lost values")
        for n in self.received("/ordered"):  # one state per entity per notification
            batch = [e["id"] for e in n["body"]["data"]]
            self.assertEqual(len(batch), len(set(batch)), batch)
        if duplicates:
            print(f"\n  order test: {duplicates} duplicate notifications of {len(got)}")


    def test_geojson_accept_gets_a_feature_collection(self):
        self.subscribe("geojson", entities=[{"type": "GeoSpot"}],
                       notification={"format": "keyValues", "endpoint": {"accept": "application/geo+json"}})
        self.create(entity("urn:ngsi-ld:GeoSpot:1", "GeoSpot", free=prop(3),
                           location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": NEAR}}))
        (note,) = self.receiver.wait_for(1, path="/geojson")
        self.assertEqual(note["headers"]["content-type"], "application/geo+json")
        self.assertIn(CONTEXT_REL.split(";")[0], note["headers"]["link"])
        data = note["body"]["data"]
        self.assertEqual(data["type"], "FeatureCollection")
        (feature,) = data["features"]
        self.assertEqual(feature["type"], "Feature")
        self.assertEqual(feature["id"], "urn:ngsi-ld:GeoSpot:1")
        self.assertEqual(feature["geometry"], {"type": "Point", "coordinates": NEAR})
        self.assertEqual(feature["properties"]["free"], 3)

    # --- periodic (timeInterval) ------------------------------------------------------------
    def test_periodic_subscription_sends_the_matching_entities_every_period(self):
        for i, level in enumerate((1.0, 3.5, 4.2)):
            self.create(entity(f"urn:ngsi-ld:PerGauge:{i}", "PerGauge", level=prop(level)))
        self.create(entity("urn:ngsi-ld:PerOther:0", "PerOther", level=prop(9.0)))
        start = time.time()
        self.subscribe("periodic", entities=[{"type": "PerGauge"}], q="level>3", timeInterval=1,
                       notification={"format": "keyValues"})
        notes = wait_entities(self.receiver, "/periodic", 6, timeout=5)  # 2 entities x 3 periods
        times = [n["at"] - start for n in self.received("/periodic")]
        for n in self.received("/periodic"):
            self.assertEqual(sorted(e["id"] for e in n["body"]["data"]),
                             ["urn:ngsi-ld:PerGauge:1", "urn:ngsi-ld:PerGauge:2"])  # one notification per period
        self.assertGreaterEqual(len(times), 3, times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        for gap in gaps:
            self.assertGreater(gap, 0.8, gaps)
            self.assertLess(gap, 1.5, gaps)
        # A change between periods is not notified on its own; the next period carries it.
        self.patch_attrs("urn:ngsi-ld:PerGauge:0", {"level": prop(7.0)})
        before = len(self.received("/periodic"))
        self.assertTrue(eventually(lambda: len(self.received("/periodic")) > before, timeout=3))
        latest = self.received("/periodic")[-1]["body"]["data"]
        self.assertIn("urn:ngsi-ld:PerGauge:0", [e["id"] for e in latest])
        self.assertGreaterEqual(len(notes), 6)

    def test_periodic_subscription_sends_nothing_when_nothing_matches(self):
        self.create(entity("urn:ngsi-ld:PerEmpty:0", "PerEmpty", level=prop(1.0)))
        self.subscribe("periodic-empty", entities=[{"type": "PerEmpty"}], q="level>100", timeInterval=1)
        time.sleep(2.2)
        self.assertEqual(self.received("/periodic-empty"), [])


class HttpsTest(NotificationAssertions, unittest.TestCase):
    """https endpoints: delivered when the receiver's certificate chains to a trusted CA
    (--notify-ca-file), refused (and counted as failures) when it does not."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cityhub-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        trusted = self_signed_certificate(self.dir, "trusted")
        untrusted = self_signed_certificate(self.dir, "untrusted")
        self.receiver = Receiver(tls=trusted).start()
        self.impostor = Receiver(tls=untrusted).start()
        self.addCleanup(self.receiver.stop)
        self.addCleanup(self.impostor.stop)
        self.hub = Hub(extra_args=FAST_RETRIES + ("--notify-ca-file", trusted[0])).start()
        self.addCleanup(self.hub.cleanup)

    def test_https_needs_a_trusted_certificate(self):
        ok = self.subscribe("tls", entities=[{"type": "TlsCar"}])
        bad = self.subscribe("impostor", receiver=self.impostor, entities=[{"type": "TlsCar"}])
        self.create(entity("urn:ngsi-ld:TlsCar:1", "TlsCar", speed=prop(1)))
        self.assertEqual(len(wait_entities(self.receiver, "/tls", 1)), 1)
        self.assertTrue(self.receiver.url().startswith("https://"))
        self.assertTrue(eventually(lambda: self.subscription(bad).get("notification", {}).get("timesFailed", 0) > 0))
        self.assertEqual(self.subscription(bad)["notification"]["status"], "failed")
        self.assertEqual(self.impostor.received, [])
        self.assertTrue(eventually(lambda: self.subscription(ok)["notification"].get("status") == "ok"))


class GiveUpTest(NotificationAssertions, unittest.TestCase):
    """A receiver that always fails: notifications are given up after the retry budget."""

    def setUp(self):
        self.receiver = Receiver().start()
        self.addCleanup(self.receiver.stop)

    def start_hub(self, *args):
        self.hub = Hub(extra_args=FAST_RETRIES + args)
        self.addCleanup(self.hub.cleanup)
        self.hub.start()

    def test_given_up_after_the_retry_budget(self):
        self.start_hub("--notify-retry-budget-s", "1")
        self.receiver.status = 500
        sid = self.subscribe("doomed", entities=[{"type": "GiveUpCar"}])
        for i in range(3):
            self.create(entity(f"urn:ngsi-ld:GiveUpCar:{i}", "GiveUpCar", speed=prop(i)))
        self.assertGreaterEqual(len(self.receiver.wait_attempts(1, timeout=5)), 1)
        self.assertEqual(self.delivery(sid)["timesGivenUp"], 0)  # the budget is not spent yet

        def given_up():
            n = self.delivery(sid)
            return n if n.get("timesGivenUp", 0) >= 3 else None
        n = eventually(given_up, timeout=10)
        self.assertIsNotNone(n, self.subscription(sid))
        self.assertEqual(n["timesGivenUp"], 3)
        self.assertEqual(n["status"], "failed")
        self.assertGreaterEqual(n["timesFailed"], 2)
        self.assertNotIn("lastSuccess", n)
        self.assertEqual(metric(self.hub, "cityhub_notifications_given_up_total", reason="retry_budget"), 3)
        self.assertEqual(metric(self.hub, "cityhub_notifications_given_up_total", reason="queue_full"), 0)
        self.assertGreaterEqual(metric(self.hub, "cityhub_notifications_total", outcome="failed"), n["timesFailed"])
        self.assertTrue(eventually(lambda: metric(self.hub, "cityhub_outbox_records") == 0, timeout=3),
                        metric(self.hub, "cityhub_outbox_records"))
        self.assertEqual(metric(self.hub, "cityhub_notifications_waiting"), 0)
        # given up means no more attempts …
        attempts = len(self.receiver.attempts)
        time.sleep(QUIET)
        self.assertEqual(len(self.receiver.attempts), attempts)
        self.assertEqual(self.receiver.received, [])
        # … and the subscription still works for what comes next
        self.receiver.status = 200
        self.create(entity("urn:ngsi-ld:GiveUpCar:later", "GiveUpCar", speed=prop(9)))
        delivered = self.receiver.wait_for(1, timeout=5)
        self.assertEqual([e["id"] for n in delivered for e in n["body"]["data"]], ["urn:ngsi-ld:GiveUpCar:later"])
        self.assertEqual(eventually(lambda: self.subscription(sid)["notification"].get("status") == "ok", timeout=5),
                         True)

    def test_queue_bound_gives_up_the_oldest(self):
        self.start_hub("--notify-queue", "2")
        self.receiver.black_hole = True  # the first notification hangs: everything else queues
        sid = self.subscribe("bounded", entities=[{"type": "QueueCar"}],
                             notification={"endpoint": {"timeout": 1500}})
        self.create(entity("urn:ngsi-ld:QueueCar:0", "QueueCar", speed=prop(0)))
        time.sleep(0.2)  # 0 is in flight
        for i in range(1, 6):  # 1..5 queue behind it; with room for 2, 1..3 are given up
            self.create(entity(f"urn:ngsi-ld:QueueCar:{i}", "QueueCar", speed=prop(i)))
        self.assertTrue(eventually(
            lambda: metric(self.hub, "cityhub_notifications_given_up_total", reason="queue_full") == 3, timeout=1),
            metric(self.hub, "cityhub_notifications_given_up_total", reason="queue_full"))
        self.receiver.black_hole = False
        got = wait_entities(self.receiver, "/bounded", 3, timeout=8)
        self.assertEqual(sorted({e["id"].rsplit(":", 1)[1] for e in got}), ["0", "4", "5"])
        n = eventually(lambda: self.delivery(sid).get("timesGivenUp"), timeout=3)
        self.assertEqual(n, 3)
        # the NGSI-LD representation has the spec's status members only (§5.2.14)
        self.assertNotIn("timesGivenUp", self.subscription(sid)["notification"])


class RestartTest(NotificationAssertions, unittest.TestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="cityhub-notify-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.receiver = Receiver(failures=0).start()
        self.addCleanup(self.receiver.stop)
        self.hub = None

    def restart(self):
        if self.hub:
            self.assertEqual(self.hub.stop(signal.SIGTERM), 0, self.hub.read_log()[-2000:])
        self.hub = Hub(data_dir=self.data_dir, extra_args=FAST_RETRIES)
        self.addCleanup(self.hub.cleanup)
        self.hub.start()

    def test_status_and_pending_notifications_survive_restarts(self):
        self.restart()
        sid = self.subscribe("persisted", entities=[{"type": "RstCar"}])
        self.create(entity("urn:ngsi-ld:RstCar:1", "RstCar", speed=prop(1)))
        self.assertEqual(len(wait_entities(self.receiver, "/persisted", 1, timeout=5)), 1)
        self.receiver.failures_left = 1  # one failure, then delivered
        self.patch_attrs("urn:ngsi-ld:RstCar:1", {"speed": prop(2)})
        self.assertEqual(len(self.receiver.wait_for(2, timeout=5)), 2)
        self.assertEqual([a["status"] for a in self.receiver.attempts], [200, 500, 200])

        def settled():
            n = self.subscription(sid)["notification"]
            return n if n.get("timesSent") == 3 and n.get("status") == "ok" else None
        before = eventually(settled, timeout=5)
        self.assertIsNotNone(before, self.subscription(sid))
        self.assertEqual(before["timesFailed"], 1)
        status_members = ("timesSent", "timesFailed", "status", "lastNotification", "lastSuccess", "lastFailure")

        self.restart()
        after = self.subscription(sid)["notification"]
        for member in status_members:
            with self.subTest(member):
                self.assertEqual(after.get(member), before[member])
        self.assertQuiet("/persisted", 2)  # delivered ones are not sent again

        # a change that cannot be delivered before the hub stops is delivered after the restart
        self.receiver.stop()
        self.patch_attrs("urn:ngsi-ld:RstCar:1", {"speed": prop(3)})
        self.assertTrue(eventually(lambda: self.subscription(sid)["notification"].get("timesFailed", 0) >= 2,
                                   timeout=5))
        self.restart()
        self.receiver.start()
        got = wait_entities(self.receiver, "/persisted", 3, timeout=10)
        self.assertEqual([e["speed"]["value"] for e in got], [1, 2, 3])
        n = eventually(lambda: self.subscription(sid)["notification"].get("status") == "ok"
                       and self.subscription(sid)["notification"], timeout=5)
        self.assertTrue(n)
        self.assertGreater(n["timesSent"], before["timesSent"])
        self.assertGreaterEqual(n["timesFailed"], 2)
        self.assertTrue(eventually(lambda: metric(self.hub, "cityhub_outbox_records") == 0, timeout=3))


if __name__ == "__main__":
    unittest.main()
