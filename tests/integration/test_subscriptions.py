"""/subscriptions (GS CIM 009 §5.8) over real HTTP: create (generated and explicit ids, 409 on a
duplicate, application/json with the core context or a Link header, application/ld+json with
the @context in the body), validation (400 BadRequestData naming the member), retrieve with
defaults and names compacted back, list with limit/offset/count in ascending id order,
tenants, PATCH (top-level members replaced, notification members merged, an invalid fragment
changes nothing), DELETE, a full round trip of every member, and survival across a restart."""
import copy
import json
import re
import unittest
from datetime import datetime
from urllib.parse import quote, unquote

from hub import CORE_CONTEXT, Hub, HubTestCase, link_header

S = "/ngsi-ld/v1/subscriptions"
ENDPOINT = "http://127.0.0.1:9/notify"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
GENERATED_PREFIX = "urn:ngsi-ld:Subscription:"
USER_CTX = {"Car": "https://example.org/vocab#Car", "speed": "https://example.org/vocab#speed"}


def minimal(sid=None, **members):
    """The minimal valid Subscription, plus (or with replaced) top-level members."""
    body = {"type": "Subscription", "entities": [{"type": "ParkingSpot"}],
            "notification": {"endpoint": {"uri": ENDPOINT}}}
    if sid is not None:
        body["id"] = sid
    body.update(members)
    return body


def tenant(name):
    return {"NGSILD-Tenant": name}


def instant(text):
    """A DateTime as an aware datetime; 'Z' and fractional seconds allowed."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def full_subscription(sid):
    return {
        "id": sid,
        "type": "Subscription",
        "subscriptionName": "Jeonju parking",
        "description": "speeding near the parking spots of Jeonju",
        "entities": [{"id": "urn:ngsi-ld:ParkingSpot:p1", "type": "ParkingSpot"},
                     {"idPattern": "^urn:ngsi-ld:ParkingSpot:jeonju-.*$", "type": "ParkingSpot"}],
        "watchedAttributes": ["speed"],
        "notificationTrigger": ["entityCreated", "attributeUpdated"],
        "q": "speed>50",
        "geoQ": {"geometry": "Point", "coordinates": [127.1, 35.8], "georel": "near;maxDistance==500"},
        "scopeQ": "/Jeonju/#",
        "throttling": 5,
        "expiresAt": "2099-01-01T00:00:00Z",
        "lang": "ko",
        "notification": {
            "attributes": ["speed"],
            "format": "keyValues",
            "sysAttrs": True,
            "endpoint": {"uri": "http://127.0.0.1:9/full",
                         "accept": "application/ld+json",
                         "receiverInfo": [{"key": "X-Token", "value": "abc"}],
                         "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]},
        },
    }


class SubscriptionAssertions:
    """Helpers shared by the test classes (self.hub is the Hub under test)."""

    def create(self, body, status=201, **kw):
        r = self.hub.post(S, body, **kw)
        self.assertEqual(r.status, status, r)
        return r

    def fetch(self, sid, status=200, **kw):
        r = self.hub.get(f"{S}/{quote(sid, safe=':')}", **kw)
        self.assertEqual(r.status, status, r)
        return r.json()

    def list_ids(self, params="", **kw):
        r = self.hub.get(f"{S}{'?' + params if params else ''}", **kw)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIsInstance(body, list, r)
        return [s["id"] for s in body]

    def assertNames(self, detail, names):
        """The ProblemDetails `detail` names one of `names` as a whole word."""
        found = [n for n in names
                 if re.search(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])", detail)]
        self.assertTrue(found, f"detail {detail!r} names none of {names}")


class SubscriptionsTest(SubscriptionAssertions, HubTestCase):
    # --- POST /subscriptions -------------------------------------------------------------
    def test_create_generates_a_subscription_urn(self):
        locations = []
        for _ in range(2):
            r = self.create(minimal())
            loc = r.header("Location")
            self.assertIsNotNone(loc, r.headers)
            self.assertTrue(loc.startswith(S + "/"), loc)
            sid = unquote(loc[len(S) + 1:])
            self.assertTrue(sid.startswith(GENERATED_PREFIX), sid)
            self.assertGreater(len(sid), len(GENERATED_PREFIX), sid)
            got = self.hub.get(loc)
            self.assertEqual(got.status, 200, got)
            self.assertEqual(got.json()["id"], sid)
            self.assertEqual(got.json()["type"], "Subscription")
            locations.append(loc)
        self.assertNotEqual(locations[0], locations[1])

    def test_create_with_id_201_location(self):
        sid = "urn:ngsi-ld:Subscription:explicit1"
        r = self.create(minimal(sid))
        self.assertEqual(r.header("Location"), f"{S}/{sid}")
        self.assertEqual(self.fetch(sid)["id"], sid)

    def test_create_twice_409_already_exists(self):
        sid = "urn:ngsi-ld:Subscription:dup"
        self.create(minimal(sid, watchedAttributes=["speed"]))
        body = minimal(sid, watchedAttributes=["temperature"])
        self.assertProblem(self.hub.post(S, body), 409, "AlreadyExists")
        self.assertEqual(self.fetch(sid)["watchedAttributes"], ["speed"])  # the first one is kept

    def test_create_ld_json_with_context_in_body(self):
        sid = "urn:ngsi-ld:Subscription:ld1"
        body = dict(minimal(sid, watchedAttributes=["speed"]), **{"@context": CORE_CONTEXT})
        self.create(body, content_type="application/ld+json")
        got = self.fetch(sid)
        self.assertEqual(got["entities"], [{"type": "ParkingSpot"}])
        self.assertEqual(got["watchedAttributes"], ["speed"])
        self.assertNotIn("@context", got)

    def test_user_context_inline_and_by_link_header(self):
        # inline, application/ld+json: names are expanded with the user context
        sid = "urn:ngsi-ld:Subscription:ctx-inline"
        body = dict(minimal(sid, entities=[{"type": "Car"}], watchedAttributes=["speed"]),
                    **{"@context": [USER_CTX, CORE_CONTEXT]})
        self.create(body, content_type="application/ld+json")
        plain = self.fetch(sid)  # compacted with the core context only
        self.assertEqual(plain["entities"], [{"type": "https://example.org/vocab#Car"}])
        self.assertEqual(plain["watchedAttributes"], ["https://example.org/vocab#speed"])
        # the same context hosted and sent by Link with application/json
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": USER_CTX})
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        sid2 = "urn:ngsi-ld:Subscription:ctx-link"
        self.create(minimal(sid2, entities=[{"type": "Car"}], watchedAttributes=["speed"]), headers=link_header(url))
        plain = self.fetch(sid2)
        self.assertEqual(plain["entities"], [{"type": "https://example.org/vocab#Car"}])
        self.assertEqual(plain["watchedAttributes"], ["https://example.org/vocab#speed"])
        with_ctx = self.fetch(sid2, headers=link_header(url))
        self.assertEqual(with_ctx["entities"], [{"type": "Car"}])
        self.assertEqual(with_ctx["watchedAttributes"], ["speed"])

    def test_default_vocab_iri_compacts_to_the_short_name(self):
        sid = "urn:ngsi-ld:Subscription:vocab"
        self.create(minimal(sid, entities=[{"type": DEFAULT + "ParkingSpot"}], watchedAttributes=[DEFAULT + "speed"]))
        got = self.fetch(sid)
        self.assertEqual(got["entities"], [{"type": "ParkingSpot"}])
        self.assertEqual(got["watchedAttributes"], ["speed"])

    def test_create_media_type_errors(self):
        sid = "urn:ngsi-ld:Subscription:media"
        self.assertEqual(self.hub.post(S, minimal(sid), content_type="text/plain").status, 415)
        # application/ld+json without an @context in the body, and application/json with one
        self.assertProblem(self.hub.post(S, minimal(sid), content_type="application/ld+json"), 400, "BadRequestData")
        self.assertProblem(self.hub.post(S, dict(minimal(sid), **{"@context": CORE_CONTEXT})), 400, "BadRequestData")
        self.assertProblem(self.hub.post(S, b'{"type": "Subscription", '), 400)
        self.fetch(sid, status=404)

    def test_valid_variants_201(self):
        cases = {
            "watchedAttributes without entities": {"type": "Subscription", "watchedAttributes": ["speed"],
                                                   "notification": {"endpoint": {"uri": ENDPOINT}}},
            "https endpoint": minimal(notification={"endpoint": {"uri": "https://example.org/notify"}}),
            "mqtt endpoint with a topic": minimal(notification={"endpoint": {"uri": "mqtt://127.0.0.1:1883/cityhub/notify"}}),
            "mqtts endpoint with a topic": minimal(notification={"endpoint": {"uri": "mqtts://broker.example.org/t"}}),
            "accept ld+json": minimal(notification={"endpoint": {"uri": ENDPOINT, "accept": "application/ld+json"}}),
            "accept geo+json": minimal(notification={"endpoint": {"uri": ENDPOINT, "accept": "application/geo+json"}}),
            "entity selector with id": minimal(entities=[{"id": "urn:ngsi-ld:ParkingSpot:9", "type": "ParkingSpot"}]),
            "entity selector with idPattern": minimal(entities=[{"idPattern": "^urn:ngsi-ld:ParkingSpot:.*", "type": "ParkingSpot"}]),
            "isActive false": minimal(isActive=False),
            "showChanges with normalized": minimal(notification={"endpoint": {"uri": ENDPOINT}, "showChanges": True}),
        }
        for i, (name, body) in enumerate(cases.items()):
            with self.subTest(name):
                sid = f"urn:ngsi-ld:Subscription:valid-{i}"
                body = dict(body, id=sid)
                self.create(body)
                got = self.fetch(sid)
                self.assertEqual(got["notification"]["endpoint"]["uri"], body["notification"]["endpoint"]["uri"])
                for member in ("entities", "watchedAttributes", "isActive"):
                    if member in body:
                        self.assertEqual(got[member], body[member])
                if "accept" in body["notification"]["endpoint"]:
                    self.assertEqual(got["notification"]["endpoint"]["accept"], body["notification"]["endpoint"]["accept"])

    def test_invalid_subscriptions_400_name_the_member(self):
        def endpoint(**e):
            return {"endpoint": dict({"uri": ENDPOINT}, **e)}

        def notification(**n):
            return dict({"endpoint": {"uri": ENDPOINT}}, **n)
        no_type = minimal()
        del no_type["type"]
        no_notification = minimal()
        del no_notification["notification"]
        neither = minimal()
        del neither["entities"]
        cases = [
            ("type missing", no_type, ["type"]),
            ("type not Subscription", minimal(type="Registration"), ["type"]),
            ("notification missing", no_notification, ["notification"]),
            ("notification not an object", minimal(notification="http://127.0.0.1:9/x"), ["notification"]),
            ("endpoint missing", minimal(notification={"format": "normalized"}), ["endpoint"]),
            ("uri missing", minimal(notification={"endpoint": {"accept": "application/json"}}), ["uri"]),
            ("uri not a URI", minimal(notification={"endpoint": {"uri": "not a uri"}}), ["uri"]),
            ("uri relative", minimal(notification={"endpoint": {"uri": "/notify"}}), ["uri"]),
            ("uri ftp scheme", minimal(notification={"endpoint": {"uri": "ftp://x/y"}}), ["uri"]),
            ("mqtt uri without topic", minimal(notification={"endpoint": {"uri": "mqtt://127.0.0.1:1883"}}), ["uri", "endpoint"]),
            ("accept unknown", minimal(notification=endpoint(accept="text/plain")), ["accept"]),
            ("neither entities nor watchedAttributes", neither, ["entities", "watchedAttributes"]),
            ("entities empty", minimal(entities=[]), ["entities"]),
            ("entities an object", minimal(entities={"type": "ParkingSpot"}), ["entities"]),
            ("entity selector without type", minimal(entities=[{"id": "urn:ngsi-ld:ParkingSpot:1"}]), ["type", "entities"]),
            ("entity selector id not a URI", minimal(entities=[{"id": "not a uri", "type": "ParkingSpot"}]), ["id"]),
            ("entity selector idPattern invalid", minimal(entities=[{"idPattern": "((", "type": "ParkingSpot"}]), ["idPattern"]),
            ("watchedAttributes empty", minimal(watchedAttributes=[]), ["watchedAttributes"]),
            ("notificationTrigger unknown", minimal(notificationTrigger=["entityExploded"]), ["notificationTrigger"]),
            ("q invalid", minimal(q="speed>>3"), ["q"]),
            ("geoQ invalid coordinates", minimal(geoQ={"geometry": "Point", "coordinates": [200, 0],
                                                      "georel": "near;maxDistance==10"}), ["geoQ", "coordinates"]),
            ("geoQ without georel", minimal(geoQ={"geometry": "Point", "coordinates": [127.1, 35.8]}), ["geoQ", "georel"]),
            ("scopeQ invalid", minimal(scopeQ="Jeonju"), ["scopeQ"]),
            ("throttling negative", minimal(throttling=-1), ["throttling"]),
            ("throttling not a number", minimal(throttling="5"), ["throttling"]),
            ("timeInterval zero", minimal(timeInterval=0), ["timeInterval"]),
            ("timeInterval negative", minimal(timeInterval=-3), ["timeInterval"]),
            ("timeInterval with watchedAttributes", minimal(timeInterval=10, watchedAttributes=["speed"]),
             ["timeInterval", "watchedAttributes"]),
            ("timeInterval with throttling", minimal(timeInterval=10, throttling=5), ["timeInterval", "throttling"]),
            ("expiresAt not a DateTime", minimal(expiresAt="tomorrow"), ["expiresAt"]),
            ("expiresAt a number", minimal(expiresAt=4102444800), ["expiresAt"]),
            ("expiresAt in the past", minimal(expiresAt="2000-01-01T00:00:00Z"), ["expiresAt"]),
            ("isActive not a boolean", minimal(isActive="yes"), ["isActive"]),
            ("format unknown", minimal(notification=notification(format="xml")), ["format"]),
            ("showChanges with keyValues", minimal(notification=notification(format="keyValues", showChanges=True)),
             ["showChanges"]),
            ("unknown top-level member", minimal(watchedAttribute=["speed"]), ["watchedAttribute"]),
        ]
        for i, (name, body, names) in enumerate(cases):
            with self.subTest(name):
                sid = f"urn:ngsi-ld:Subscription:bad-{i}"
                body = dict(body, id=sid)
                problem = self.assertProblem(self.hub.post(S, body), 400, "BadRequestData")
                self.assertNames(problem["detail"], names)
                self.fetch(sid, status=404)  # nothing was stored

    def test_invalid_id_and_non_object_bodies_400(self):
        problem = self.assertProblem(self.hub.post(S, minimal("not a uri")), 400, "BadRequestData")
        self.assertNames(problem["detail"], ["id"])
        # valid JSON, but not an object: §5.5.2 InvalidRequest (a syntactically invalid request)
        for body in ([minimal()], "Subscription", 5, None):
            with self.subTest(body=body):
                r = self.hub.post(S, json.dumps(body).encode())
                self.assertProblem(r, 400, "InvalidRequest")

    # --- GET /subscriptions/{id} ---------------------------------------------------------
    def test_retrieve_gives_back_the_members_given_plus_status(self):
        """GS CIM 009 §5.8.3 Retrieve Subscription returns the Subscription (§5.2.12) as created:
        the members the client gave, plus the members the system maintains (`status`, and in
        `notification` the delivery status of §5.2.14). Defaults the hub applies (isActive true,
        format normalized, accept application/json, the default notificationTrigger) are
        behaviour, not members the client gave: they are not added to the representation."""
        sid = "urn:ngsi-ld:Subscription:defaults"
        self.create(minimal(sid))
        r = self.hub.get(f"{S}/{sid}")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        got = r.json()
        self.assertEqual(set(got), {"id", "type", "entities", "notification", "status"}, got)
        self.assertEqual(got["entities"], [{"type": "ParkingSpot"}])
        self.assertEqual(got["status"], "active")
        self.assertEqual(got["notification"], {"endpoint": {"uri": ENDPOINT}})
        # a member given with its default value is the client's, and comes back
        explicit = "urn:ngsi-ld:Subscription:explicit-defaults"
        self.create(minimal(explicit, isActive=True, notificationTrigger=["attributeCreated", "attributeUpdated"],
                            notification={"format": "normalized", "endpoint": {"uri": ENDPOINT, "accept": "application/json"}}))
        got = self.fetch(explicit)
        self.assertIs(got["isActive"], True)
        self.assertEqual(got["notificationTrigger"], ["attributeCreated", "attributeUpdated"])
        self.assertEqual(got["notification"], {"format": "normalized",
                                               "endpoint": {"uri": ENDPOINT, "accept": "application/json"}})

    def test_update_makes_a_member_the_clients_and_null_gives_it_back_to_the_default(self):
        """§5.8.2 Update Subscription: the members of the fragment replace the stored ones; null
        removes an optional member (the hub's default applies again and is not shown)."""
        sid = "urn:ngsi-ld:Subscription:defaults-patch"
        self.create(minimal(sid))
        self.assertEqual(self.hub.patch(f"{S}/{sid}", {"isActive": True, "notification": {"format": "concise"}}).status, 204)
        got = self.fetch(sid)
        self.assertIs(got["isActive"], True)
        self.assertEqual(got["notification"]["format"], "concise")
        self.assertNotIn("showChanges", got["notification"])
        self.assertEqual(self.hub.patch(f"{S}/{sid}", {"isActive": None, "notification": {"format": None}}).status, 204)
        got = self.fetch(sid)
        self.assertNotIn("isActive", got)
        self.assertNotIn("format", got["notification"])
        self.assertEqual(got["status"], "active")
        # the hub-internal bookkeeping is not a member a client may send
        self.assertProblem(self.hub.post(S, minimal(defaulted=["isActive"])), 400, "BadRequestData")

    def test_retrieve_paused_when_created_inactive(self):
        sid = "urn:ngsi-ld:Subscription:paused"
        self.create(minimal(sid, isActive=False))
        got = self.fetch(sid)
        self.assertIs(got["isActive"], False)
        self.assertEqual(got["status"], "paused")

    def test_retrieve_unknown_404_and_not_a_uri_400(self):
        self.assertProblem(self.hub.get(f"{S}/urn:ngsi-ld:Subscription:none"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{S}/notauri"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{S}/{quote('not a uri')}"), 400, "BadRequestData")

    # --- GET /subscriptions --------------------------------------------------------------
    def test_list_in_ascending_id_order_with_paging_and_count(self):
        h = tenant("subList")
        ids = [f"urn:ngsi-ld:Subscription:list-{n}" for n in (3, 1, 4, 0, 2)]
        for sid in ids:
            self.create(minimal(sid), headers=h)
        expected = sorted(ids)
        r = self.hub.get(S, headers=h)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        body = r.json()
        self.assertEqual([s["id"] for s in body], expected)
        for s in body:
            self.assertEqual(s["type"], "Subscription")
            self.assertEqual(s["entities"], [{"type": "ParkingSpot"}])
            self.assertEqual(s["notification"]["endpoint"]["uri"], ENDPOINT)
        self.assertIsNone(r.header("NGSILD-Results-Count"))
        self.assertEqual(self.list_ids("limit=2", headers=h), expected[:2])
        self.assertEqual(self.list_ids("limit=2&offset=2", headers=h), expected[2:4])
        self.assertEqual(self.list_ids("limit=2&offset=4", headers=h), expected[4:])
        self.assertEqual(self.list_ids("offset=10", headers=h), [])
        r = self.hub.get(f"{S}?count=true&limit=2", headers=h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "5")
        self.assertEqual([s["id"] for s in r.json()], expected[:2])

    def test_list_pages_are_linked(self):
        """§6.3.13 (pagination): a paginated answer carries Link headers with rel="next" when more
        follow and rel="prev" past the first page; following them visits every subscription once."""
        h = tenant("subPages")
        ids = sorted(f"urn:ngsi-ld:Subscription:page-{n}" for n in range(5))
        for sid in ids:
            self.create(minimal(sid), headers=h)
        seen, path, pages = [], f"{S}?limit=2", 0
        while path:
            r = self.hub.get(path, headers=h)
            self.assertEqual(r.status, 200, r)
            seen += [s["id"] for s in r.json()]
            links = {m.group(2): m.group(1) for v in r.headers_all("Link")
                     for m in [re.match(r'<([^>]*)>;\s*rel="(next|prev)"', v)] if m}
            self.assertEqual("prev" in links, pages > 0, r.headers)
            path, pages = links.get("next"), pages + 1
        self.assertEqual(seen, ids)
        self.assertEqual(pages, 3)

    def test_list_default_tenant_is_sorted(self):
        mine = ["urn:ngsi-ld:Subscription:zz-sort-b", "urn:ngsi-ld:Subscription:zz-sort-a"]
        for sid in mine:
            self.create(minimal(sid))
        got = self.list_ids("limit=1000")
        self.assertEqual(got, sorted(got))
        self.assertEqual(len(got), len(set(got)))
        for sid in mine:
            self.assertIn(sid, got)

    def test_tenants_are_isolated(self):
        t1 = tenant("subT1")
        in_t1 = "urn:ngsi-ld:Subscription:tenant-t1"
        in_default = "urn:ngsi-ld:Subscription:tenant-default"
        self.create(minimal(in_t1), headers=t1)
        self.create(minimal(in_default))
        self.assertIn(in_t1, self.list_ids("limit=1000", headers=t1))
        self.assertNotIn(in_default, self.list_ids("limit=1000", headers=t1))
        self.assertIn(in_default, self.list_ids("limit=1000"))
        self.assertNotIn(in_t1, self.list_ids("limit=1000"))
        self.assertProblem(self.hub.get(f"{S}/{in_t1}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{S}/{in_default}", headers=t1), 404, "ResourceNotFound")
        self.assertEqual(self.fetch(in_t1, headers=t1)["id"], in_t1)
        # writes in the other tenant do not reach it
        self.assertProblem(self.hub.patch(f"{S}/{in_t1}", {"isActive": False}), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{S}/{in_t1}"), 404, "ResourceNotFound")
        self.assertEqual(self.fetch(in_t1, headers=t1)["status"], "active")
        # the same id may exist in both tenants
        self.create(minimal(in_t1, watchedAttributes=["speed"]))
        self.assertEqual(self.fetch(in_t1)["watchedAttributes"], ["speed"])
        self.assertNotIn("watchedAttributes", self.fetch(in_t1, headers=t1))

    # --- PATCH /subscriptions/{id} -------------------------------------------------------
    def test_patch_is_active_pauses_and_resumes(self):
        sid = "urn:ngsi-ld:Subscription:patch-active"
        self.create(minimal(sid))
        r = self.hub.patch(f"{S}/{sid}", {"isActive": False})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(sid)
        self.assertIs(got["isActive"], False)
        self.assertEqual(got["status"], "paused")
        self.assertEqual(got["entities"], [{"type": "ParkingSpot"}])
        r = self.hub.patch(f"{S}/{sid}", {"isActive": True})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(sid)
        self.assertIs(got["isActive"], True)
        self.assertEqual(got["status"], "active")

    def test_patch_replaces_top_level_members(self):
        sid = "urn:ngsi-ld:Subscription:patch-top"
        self.create(minimal(sid, watchedAttributes=["speed"], q="speed>50",
                            notification={"endpoint": {"uri": ENDPOINT}, "attributes": ["speed"]}))
        r = self.hub.patch(f"{S}/{sid}", {"watchedAttributes": ["temperature"], "q": "temperature<0"})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(sid)
        self.assertEqual(got["watchedAttributes"], ["temperature"])
        self.assertEqual(got["q"], "temperature<0")
        self.assertEqual(got["entities"], [{"type": "ParkingSpot"}])
        self.assertEqual(got["notification"]["endpoint"]["uri"], ENDPOINT)
        self.assertEqual(got["notification"]["attributes"], ["speed"])
        r = self.hub.patch(f"{S}/{sid}", {"entities": [{"type": "Car"}, {"type": "ParkingSpot"}]})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(sid)
        self.assertEqual(got["entities"], [{"type": "Car"}, {"type": "ParkingSpot"}])
        self.assertEqual(got["watchedAttributes"], ["temperature"])

    def test_patch_merges_notification_members(self):
        sid = "urn:ngsi-ld:Subscription:patch-notif"
        self.create(minimal(sid, notification={"endpoint": {"uri": ENDPOINT, "accept": "application/ld+json"},
                                               "attributes": ["speed"]}))
        r = self.hub.patch(f"{S}/{sid}", {"notification": {"format": "keyValues"}})
        self.assertEqual(r.status, 204, r)
        notification = self.fetch(sid)["notification"]
        self.assertEqual(notification["format"], "keyValues")
        self.assertEqual(notification["endpoint"]["uri"], ENDPOINT)
        self.assertEqual(notification["endpoint"]["accept"], "application/ld+json")
        self.assertEqual(notification["attributes"], ["speed"])
        other = "http://127.0.0.1:9/other"
        r = self.hub.patch(f"{S}/{sid}", {"notification": {"endpoint": {"uri": other}}})
        self.assertEqual(r.status, 204, r)
        notification = self.fetch(sid)["notification"]
        self.assertEqual(notification["endpoint"]["uri"], other)
        self.assertEqual(notification["format"], "keyValues")
        self.assertEqual(notification["attributes"], ["speed"])

    def test_patch_invalid_fragment_400_and_unchanged(self):
        sid = "urn:ngsi-ld:Subscription:patch-bad"
        self.create(minimal(sid, watchedAttributes=["speed"], throttling=2))
        before = self.fetch(sid)
        cases = [
            ({"throttling": -5}, ["throttling"]),
            ({"throttling": "fast"}, ["throttling"]),
            ({"isActive": "no"}, ["isActive"]),
            ({"watchedAttributes": []}, ["watchedAttributes"]),
            ({"entities": []}, ["entities"]),
            ({"q": "speed>>3"}, ["q"]),
            ({"expiresAt": "2000-01-01T00:00:00Z"}, ["expiresAt"]),
            ({"notification": {"endpoint": {"uri": "ftp://x/y"}}}, ["uri"]),
            ({"notification": {"format": "xml"}}, ["format"]),
            ({"timeInterval": 10}, ["timeInterval", "watchedAttributes", "throttling"]),  # invalid with what is stored
            ({"watchedAttribute": ["speed"]}, ["watchedAttribute"]),
        ]
        for fragment, names in cases:
            with self.subTest(fragment=fragment):
                problem = self.assertProblem(self.hub.patch(f"{S}/{sid}", fragment), 400, "BadRequestData")
                self.assertNames(problem["detail"], names)
                self.assertEqual(self.fetch(sid), before)
        for body in ([{"isActive": False}], "x", None):  # not an object
            with self.subTest(body=body):
                self.assertProblem(self.hub.patch(f"{S}/{sid}", json.dumps(body).encode()), 400)
                self.assertEqual(self.fetch(sid), before)

    def test_patch_unknown_404(self):
        self.assertProblem(self.hub.patch(f"{S}/urn:ngsi-ld:Subscription:none", {"isActive": False}), 404,
                           "ResourceNotFound")
        self.fetch("urn:ngsi-ld:Subscription:none", status=404)

    # --- DELETE /subscriptions/{id} ------------------------------------------------------
    def test_delete_204_then_404(self):
        sid = "urn:ngsi-ld:Subscription:del"
        keep = "urn:ngsi-ld:Subscription:del-keep"
        self.create(minimal(sid))
        self.create(minimal(keep))
        r = self.hub.delete(f"{S}/{sid}")
        self.assertEqual(r.status, 204, r)
        self.assertProblem(self.hub.get(f"{S}/{sid}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{S}/{sid}"), 404, "ResourceNotFound")
        self.assertNotIn(sid, self.list_ids("limit=1000"))
        self.assertEqual(self.fetch(keep)["id"], keep)
        self.assertProblem(self.hub.patch(f"{S}/{sid}", {"isActive": False}), 404, "ResourceNotFound")

    # --- round trip ----------------------------------------------------------------------
    def test_full_subscription_round_trip(self):
        sid = "urn:ngsi-ld:Subscription:full"
        sent = full_subscription(sid)
        self.create(copy.deepcopy(sent))
        got = self.fetch(sid)
        self.assertEqual(got["id"], sid)
        self.assertEqual(got["type"], "Subscription")
        for member in ("subscriptionName", "description", "entities", "watchedAttributes", "notificationTrigger",
                       "q", "scopeQ", "throttling", "lang"):
            with self.subTest(member):
                self.assertEqual(got.get(member), sent[member])
        with self.subTest("geoQ"):
            geo = got["geoQ"]
            for key, value in sent["geoQ"].items():
                self.assertEqual(geo.get(key), value, geo)
            self.assertIn(geo.get("geoproperty", "location"), ("location",), geo)
        with self.subTest("expiresAt"):
            self.assertEqual(instant(got["expiresAt"]), instant(sent["expiresAt"]))
        with self.subTest("isActive/status"):
            self.assertEqual(got.get("isActive"), sent.get("isActive"))  # back only when given
            self.assertEqual(got["status"], "active")
        with self.subTest("notification"):
            notification = got["notification"]
            for key in ("attributes", "format", "sysAttrs"):
                self.assertEqual(notification.get(key), sent["notification"][key], notification)
            endpoint = notification["endpoint"]
            for key, value in sent["notification"]["endpoint"].items():
                self.assertEqual(endpoint.get(key), value, endpoint)

    def test_time_interval_subscription_round_trips(self):
        sid = "urn:ngsi-ld:Subscription:interval"
        self.create(minimal(sid, timeInterval=60))
        self.assertEqual(self.fetch(sid)["timeInterval"], 60)


class SubscriptionRestartTest(SubscriptionAssertions, unittest.TestCase):
    def test_subscriptions_survive_a_graceful_restart(self):
        self.hub = Hub()
        self.addCleanup(self.hub.cleanup)
        self.hub.start()
        full = "urn:ngsi-ld:Subscription:persist-full"
        paused = "urn:ngsi-ld:Subscription:persist-paused"
        gone = "urn:ngsi-ld:Subscription:persist-gone"
        in_tenant = "urn:ngsi-ld:Subscription:persist-tenant"
        self.create(full_subscription(full))
        self.create(minimal(paused))
        self.assertEqual(self.hub.patch(f"{S}/{paused}", {"isActive": False,
                                                          "notification": {"format": "keyValues"}}).status, 204)
        self.create(minimal(gone))
        self.assertEqual(self.hub.delete(f"{S}/{gone}").status, 204)
        self.create(minimal(in_tenant), headers=tenant("persistSub"))
        generated = unquote(self.create(minimal()).header("Location")[len(S) + 1:])
        before = {sid: self.fetch(sid) for sid in (full, paused, generated)}
        before_tenant = self.fetch(in_tenant, headers=tenant("persistSub"))
        listed = self.list_ids()

        self.assertEqual(self.hub.stop(), 0, self.hub.read_log()[-2000:])
        self.hub.start()

        for sid, body in before.items():
            with self.subTest(sid):
                self.assertEqual(self.fetch(sid), body)
        self.assertEqual(self.fetch(paused)["status"], "paused")
        self.assertEqual(self.fetch(in_tenant, headers=tenant("persistSub")), before_tenant)
        self.fetch(in_tenant, status=404)
        self.fetch(gone, status=404)
        self.assertEqual(self.list_ids(), listed)
        self.assertEqual(sorted(listed), sorted([full, paused, generated]))
        # still writable after the restart, and the ids are still taken
        self.assertProblem(self.hub.post(S, minimal(full)), 409, "AlreadyExists")
        self.assertEqual(self.hub.patch(f"{S}/{paused}", {"isActive": True}).status, 204)
        self.assertEqual(self.fetch(paused)["status"], "active")

    def assertProblem(self, r, status, error_type=None):
        return HubTestCase.assertProblem(self, r, status, error_type)


if __name__ == "__main__":
    unittest.main()
