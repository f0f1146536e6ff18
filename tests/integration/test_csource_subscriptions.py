"""/csourceSubscriptions (GS CIM 009 v1.8.1 §5.11.2 Create, §5.11.3 Update, §5.11.4 Retrieve,
§5.11.5 Query, §5.11.6 Delete Context Source Registration Subscription; data type §5.2.12;
notification §5.3.2 CsourceNotification) over real HTTP: every operation and its errors, the
members that apply to registrations (q, csf, geoQ, scopeQ on the registration; watchedAttributes
against its propertyNames/relationshipNames) and those refused as entity-only, notifications with
the right triggerReason on registration creates, updates and deletes, nothing for subscriptions
that do not match, tenants kept apart, delivery owed across a kill -9, and who may subscribe."""
import json
import shutil
import tempfile
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

from guarded_hub import GuardedHub
from hub import Hub, HubTestCase, ReceiverTestCase, eventually
from receiver import Receiver

S = "/ngsi-ld/v1/csourceSubscriptions"
R = "/ngsi-ld/v1/csourceRegistrations"
USER_CTX = {"Room": "https://example.org/vocab#Room", "temperature": "https://example.org/vocab#temperature",
            "tier": "https://example.org/vocab#tier"}


def csub(sid=None, uri="http://127.0.0.1:9/notify", **members):
    body = {"type": "Subscription", "entities": [{"type": "Building"}], "notification": {"endpoint": {"uri": uri}}}
    if sid is not None:
        body["id"] = sid
    body.update(members)
    if body["entities"] is None:  # watchedAttributes alone
        del body["entities"]
    return body


def reg(rid, **members):
    body = {"id": rid, "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Building"}]}], "endpoint": "http://127.0.0.1:9"}
    body.update(members)
    return body


def tenant(name):
    return {"NGSILD-Tenant": name}


def path(sid):
    return f"{S}/{quote(sid, safe=':')}"


class Helpers:
    def create(self, body, status=201, **kw):
        r = self.hub.post(S, body, **kw)
        self.assertEqual(r.status, status, r)
        return r

    def fetch(self, sid, params="", **kw):
        r = self.hub.get(path(sid) + ("?" + params if params else ""), **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()


class CrudTest(Helpers, HubTestCase):
    def test_create_generates_an_id_and_location(self):
        """§5.11.2: 'This operation allows creating a new Context Source Registration
        Subscription'; the 201 answer 'shall include a "Location" HTTP header that contains the
        resource URI of the created context source registration subscription resource'."""
        r = self.create(csub())
        loc = r.header("Location")
        self.assertTrue(loc.startswith(S + "/urn:ngsi-ld:Subscription:"), loc)
        got = self.hub.get(loc).json()
        self.assertEqual(got["id"], unquote(loc[len(S) + 1:]))
        self.assertEqual(got["type"], "Subscription")
        self.assertEqual(got["entities"], [{"type": "Building"}])
        self.assertEqual(got["status"], "active")
        self.assertNotIn("notificationTrigger", got)  # an entity subscription's default, not this one's

    def test_trailing_slash_and_explicit_id_and_conflict(self):
        """§5.11.2 (OpenAPI createCSRSubscription): 409 Conflict when the id is already taken."""
        sid = "urn:ngsi-ld:Subscription:csub-dup"
        self.assertEqual(self.hub.post(S + "/", csub(sid)).status, 201)
        self.assertProblem(self.hub.post(S, csub(sid)), 409, "AlreadyExists")
        self.assertEqual(self.fetch(sid)["id"], sid)

    def test_kept_apart_from_entity_subscriptions(self):
        """§5.11 and §5.8 are different resources: the same id may name one of each, and neither
        list shows the other's."""
        sid = "urn:ngsi-ld:Subscription:csub-apart"
        self.create(csub(sid, description="csr"), headers=tenant("apart"))
        entity_sub = {"id": sid, "type": "Subscription", "entities": [{"type": "Building"}], "description": "entity",
                      "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}
        self.assertEqual(self.hub.post("/ngsi-ld/v1/subscriptions", entity_sub, headers=tenant("apart")).status, 201)
        self.assertEqual(self.fetch(sid, headers=tenant("apart"))["description"], "csr")
        self.assertEqual([s["description"] for s in self.hub.get(S, headers=tenant("apart")).json()], ["csr"])
        listed = self.hub.get("/ngsi-ld/v1/subscriptions", headers=tenant("apart")).json()
        self.assertEqual([s["description"] for s in listed], ["entity"])
        self.assertEqual(self.hub.delete(path(sid), headers=tenant("apart")).status, 204)
        self.assertEqual(self.hub.get(f"/ngsi-ld/v1/subscriptions/{sid}", headers=tenant("apart")).status, 200)

    def test_query_pages_counts_and_sysattrs(self):
        """§5.11.5 Query Context Source Registration Subscriptions, with the OpenAPI's parameters
        options=sysAttrs, limit and count (NGSILD-Results-Count)."""
        h = tenant("csubq")
        ids = [f"urn:ngsi-ld:Subscription:q{i}" for i in range(3)]
        for sid in ids:
            self.create(csub(sid), headers=h)
        r = self.hub.get(f"{S}?limit=2&count=true", headers=h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "3")
        self.assertEqual([s["id"] for s in r.json()], ids[:2])
        self.assertEqual([s["id"] for s in self.hub.get(f"{S}?limit=2&offset=2", headers=h).json()], ids[2:])
        plain = self.hub.get(S, headers=h).json()[0]
        self.assertNotIn("createdAt", plain)
        with_sys = self.hub.get(f"{S}?options=sysAttrs", headers=h).json()[0]
        self.assertIn("createdAt", with_sys)
        self.assertIn("modifiedAt", with_sys)
        self.assertIn("createdAt", self.fetch(ids[0], "options=sysAttrs", headers=h))

    def test_retrieve_errors(self):
        """§5.11.4: an unknown id is 404 ResourceNotFound; an id that is not a URI is 400."""
        self.assertProblem(self.hub.get(path("urn:ngsi-ld:Subscription:none")), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{S}/not%20a%20uri"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(S, headers=tenant("nosuchcsubtenant")), 404, "NonexistentTenant")

    def test_update_fragment(self):
        """§5.11.3 Update Context Source Registration Subscription: the fragment's members replace
        the stored ones (null removes an optional one); an invalid fragment changes nothing."""
        sid = "urn:ngsi-ld:Subscription:csub-upd"
        self.create(csub(sid, q='mode=="inclusive"', description="before"))
        self.assertEqual(self.hub.patch(path(sid), {"description": "after", "q": None}).status, 204)
        got = self.fetch(sid)
        self.assertEqual(got["description"], "after")
        self.assertNotIn("q", got)
        self.assertProblem(self.hub.patch(path(sid), {"description": 5}), 400, "BadRequestData")
        self.assertProblem(self.hub.patch(path(sid), {"notificationTrigger": ["entityCreated"]}), 400, "BadRequestData")
        self.assertEqual(self.fetch(sid)["description"], "after")
        self.assertProblem(self.hub.patch(path("urn:ngsi-ld:Subscription:none"), {"description": "x"}), 404,
                           "ResourceNotFound")

    def test_delete(self):
        """§5.11.6 Delete Context Source Registration Subscription: 204, then 404."""
        sid = "urn:ngsi-ld:Subscription:csub-del"
        self.create(csub(sid))
        self.assertEqual(self.hub.delete(path(sid)).status, 204)
        self.assertProblem(self.hub.get(path(sid)), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(path(sid)), 404, "ResourceNotFound")

    def test_invalid_payloads(self):
        """§5.11.2 with the data type of §5.2.12: what is not a valid Subscription is 400
        BadRequestData naming the member; members that only shape entity notifications (this
        subscription is notified of registrations) are refused rather than silently ignored."""
        cases = {
            "missing type": {k: v for k, v in csub().items() if k != "type"},
            "neither entities nor watchedAttributes": {k: v for k, v in csub().items() if k != "entities"},
            "notificationTrigger": csub(notificationTrigger=["entityCreated"]),
            "datasetId": csub(datasetId=["@none"]),
            "lang": csub(lang="en"),
            "notification.attributes": csub(notification={"endpoint": {"uri": "http://127.0.0.1:9"},
                                                          "attributes": ["temperature"]}),
            "notification.format": csub(notification={"endpoint": {"uri": "http://127.0.0.1:9"}, "format": "keyValues"}),
            "notification.endpoint.accept": csub(notification={"endpoint": {"uri": "http://127.0.0.1:9",
                                                                             "accept": "application/geo+json"}}),
            "q": csub(q="mode=="),
            "csf": csub(csf="tier>"),
            "geoQ": csub(geoQ={"geometry": "Point", "coordinates": [127.0, 37.5], "georel": "near;maxDistance==10",
                               "geoproperty": "temperature"}),
            "notification.endpoint.uri": csub(uri="notify"),
            "expiresAt": csub(expiresAt="2001-01-01T00:00:00Z"),
            "unknown member": csub(colour="red"),
        }
        for name, body in cases.items():
            with self.subTest(name):
                self.assertProblem(self.hub.post(S, body), 400, "BadRequestData")
        detail = self.hub.post(S, csub(notificationTrigger=["entityCreated"])).json()["detail"]
        self.assertIn("notificationTrigger", detail)

    def test_unsupported_members(self):
        """Periodic subscriptions (timeInterval) are not implemented for registrations: 422
        OperationNotSupported, nothing stored; temporalQ ('to be used only in Context
        Registration Subscriptions', §5.2.12) stays 422 on entity subscriptions."""
        sid = "urn:ngsi-ld:Subscription:csub-periodic"
        self.assertProblem(self.hub.post(S, csub(sid, timeInterval=10)), 422, "OperationNotSupported")
        self.assertProblem(self.hub.get(path(sid)), 404, "ResourceNotFound")
        entity_sub = {"type": "Subscription", "entities": [{"type": "Building"}],
                      "temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"},
                      "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}
        self.assertProblem(self.hub.post("/ngsi-ld/v1/subscriptions", entity_sub), 422, "OperationNotSupported")

    def test_temporal_query_validation(self):
        """§5.2.21 TemporalQuery: timerel before/after/between with timeAt, endTimeAt for between
        (after timeAt), timeproperty observedAt/createdAt/modifiedAt/deletedAt; else 400."""
        good = {"timerel": "between", "timeAt": "2020-01-01T00:00:00+09:00", "endTimeAt": "2021-01-01T00:00:00Z",
                "timeproperty": "modifiedAt"}
        sid = "urn:ngsi-ld:Subscription:csub-tq"
        self.create(csub(sid, temporalQ=good))
        self.assertEqual(self.fetch(sid)["temporalQ"]["timeAt"], "2019-12-31T15:00:00Z")
        for bad in [{"timerel": "after"}, {"timerel": "during", "timeAt": "2020-01-01T00:00:00Z"},
                    {"timerel": "between", "timeAt": "2020-01-01T00:00:00Z"},
                    {"timerel": "between", "timeAt": "2020-01-01T00:00:00Z", "endTimeAt": "2019-01-01T00:00:00Z"},
                    {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "endTimeAt": "2021-01-01T00:00:00Z"},
                    {"timerel": "after", "timeAt": "yesterday"},
                    {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "timeproperty": "observed"},
                    {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "colour": 1}, "after"]:
            with self.subTest(bad=bad):
                body = self.assertProblem(self.hub.post(S, csub(temporalQ=bad)), 400, "BadRequestData")
                self.assertIn("temporalQ", body["detail"])
        self.assertEqual(self.hub.patch(path(sid), {"temporalQ": None}).status, 204)
        self.assertNotIn("temporalQ", self.fetch(sid))

    def test_csf_stays_refused_for_entity_subscriptions(self):
        """csf selects context sources; entity subscriptions are not forwarded to any: 422 there."""
        body = {"type": "Subscription", "entities": [{"type": "Building"}], "csf": "tier==1",
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9"}}}
        self.assertProblem(self.hub.post("/ngsi-ld/v1/subscriptions", body), 422, "OperationNotSupported")
        self.assertEqual(self.hub.post(S, csub(csf="tier==1")).status, 201)

    def test_outbound_policy_applies(self):
        """The endpoint rules of entity subscriptions (SECURITY.md "Outbound requests")."""
        body = self.assertProblem(self.hub.post(S, csub(uri="http://169.254.169.254/latest")), 400, "BadRequestData")
        self.assertIn("notification.endpoint.uri", body["detail"])

    def test_url_parameters(self):
        """The OpenAPI lists no parameters for create, update and delete, and options, limit and
        count for query: anything else is 400 naming it."""
        self.assertProblem(self.hub.post(S + "?local=true", csub()), 400, "InvalidRequest")
        self.assertProblem(self.hub.get(S + "?type=Building"), 400, "InvalidRequest")

    def test_names_expanded_and_compacted(self):
        """§5.2.12 read with the request's @context; returned compacted with the reader's."""
        sid = "urn:ngsi-ld:Subscription:csub-ctx"
        body = csub(sid, entities=[{"type": "Room"}], watchedAttributes=["temperature"])
        body["@context"] = [USER_CTX, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]
        self.create(body, content_type="application/ld+json")
        core_view = self.fetch(sid)
        self.assertEqual(core_view["entities"], [{"type": "https://example.org/vocab#Room"}])
        self.assertEqual(core_view["watchedAttributes"], ["https://example.org/vocab#temperature"])


def wait_none(rx, where, timeout=0.5):
    return rx.wait_for(1, timeout=timeout, path=where)


class NotificationTest(Helpers, ReceiverTestCase):
    """§5.3.2 CsourceNotification: id, type "CsourceNotification", subscriptionId, notifiedAt,
    data (the registrations) and triggerReason."""

    def subscribe(self, name, h=None, **members):
        sid = f"urn:ngsi-ld:Subscription:{name}"
        self.create(csub(sid, uri=self.receiver.url("/" + name), **members), headers=h or {})
        return sid

    def register(self, rid, h=None, **members):
        r = self.hub.post(R, reg(rid, **members), headers=h or {})
        self.assertEqual(r.status, 201, r)

    def notes(self, name, count, timeout=10):
        got = self.receiver.wait_for(count, timeout=timeout, path="/" + name)
        self.assertEqual(len(got), count, [n["body"] for n in got])
        return [n["body"] for n in got]

    def test_lifecycle_trigger_reasons(self):
        """§5.3.2 triggerReason: 'newlyMatching' ... 'whenever a new Context Source Registration
        matching the Subscription has been registered, or an existing Context Source Registration
        that did not match before has been updated in such a way that it matches now';
        'updated' ... 'has been updated, but still matches the Subscription'; 'noLongerMatching'
        ... 'no longer matches the Subscription, i.e. as a result of an update or because it was
        deleted'."""
        sid = self.subscribe("life", entities=[{"type": "Shop"}])
        rid = "urn:ngsi-ld:ContextSourceRegistration:life"
        self.register(rid, information=[{"entities": [{"type": "Shop"}]}], registrationName="one")
        first = self.notes("life", 1)[0]
        self.assertEqual(first["type"], "CsourceNotification")
        self.assertEqual(first["subscriptionId"], sid)
        self.assertTrue(first["id"].startswith("urn:"))
        self.assertRegex(first["notifiedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(first["triggerReason"], "newlyMatching")
        self.assertEqual(len(first["data"]), 1)
        self.assertEqual(first["data"][0]["id"], rid)
        self.assertEqual(first["data"][0]["type"], "ContextSourceRegistration")
        self.assertEqual(first["data"][0]["information"], [{"entities": [{"type": "Shop"}]}])
        self.assertEqual(first["data"][0]["registrationName"], "one")
        # the delivery status members of §5.2.14, as for entity subscriptions
        status = eventually(lambda: self.fetch(sid)["notification"].get("timesSent"))
        self.assertEqual(status, 1)
        self.assertEqual(self.fetch(sid)["notification"]["status"], "ok")

        self.assertEqual(self.hub.patch(f"{R}/{rid}", {"registrationName": "two"}).status, 204)
        second = self.notes("life", 2)[1]
        self.assertEqual(second["triggerReason"], "updated")
        self.assertEqual(second["data"][0]["registrationName"], "two")

        self.assertEqual(self.hub.patch(f"{R}/{rid}", {"information": [{"entities": [{"type": "Bank"}]}]}).status, 204)
        third = self.notes("life", 3)[2]
        self.assertEqual(third["triggerReason"], "noLongerMatching")
        self.assertEqual(third["data"][0]["information"], [{"entities": [{"type": "Bank"}]}])

        # no longer matching before and after: nothing
        self.assertEqual(self.hub.patch(f"{R}/{rid}", {"registrationName": "three"}).status, 204)
        self.assertEqual(self.hub.patch(f"{R}/{rid}", {"information": [{"entities": [{"type": "Shop"}]}]}).status, 204)
        fourth = self.notes("life", 4)[3]
        self.assertEqual(fourth["triggerReason"], "newlyMatching")
        self.assertEqual(fourth["data"][0]["registrationName"], "three")

        self.assertEqual(self.hub.delete(f"{R}/{rid}").status, 204)
        fifth = self.notes("life", 5)[4]
        self.assertEqual(fifth["triggerReason"], "noLongerMatching")
        self.assertEqual(fifth["data"][0]["id"], rid)
        self.assertEqual(len(self.notes("life", 5)), 5)

    def test_first_notification_lists_what_matches_at_creation(self):
        """§5.3.2 triggerReason 'newlyMatching' ... 'This value is used in the first
        notification': a subscription created while matching registrations exist is notified of
        them at once, together, in one notification; one that matches none gets nothing."""
        h = tenant("first")
        self.register("urn:ngsi-ld:ContextSourceRegistration:first-b", h, information=[{"entities": [{"type": "Cafe"}]}])
        self.register("urn:ngsi-ld:ContextSourceRegistration:first-a", h, information=[{"entities": [{"type": "Cafe"}]}])
        self.register("urn:ngsi-ld:ContextSourceRegistration:first-x", h, information=[{"entities": [{"type": "Bar"}]}])
        sid = self.subscribe("first", h, entities=[{"type": "Cafe"}])
        self.subscribe("first-none", h, entities=[{"type": "Pub"}])
        got = self.notes("first", 1)[0]
        self.assertEqual(got["subscriptionId"], sid)
        self.assertEqual(got["triggerReason"], "newlyMatching")
        self.assertEqual([r["id"] for r in got["data"]], ["urn:ngsi-ld:ContextSourceRegistration:first-a",
                                                         "urn:ngsi-ld:ContextSourceRegistration:first-b"])
        self.assertEqual(wait_none(self.receiver, "/first-none"), [])
        # later changes come one by one
        self.assertEqual(self.hub.delete(f"{R}/urn:ngsi-ld:ContextSourceRegistration:first-a", headers=h).status, 204)
        second = self.notes("first", 2)[1]
        self.assertEqual(second["triggerReason"], "noLongerMatching")
        self.assertEqual([r["id"] for r in second["data"]], ["urn:ngsi-ld:ContextSourceRegistration:first-a"])

    def test_expiry_is_no_longer_matching(self):
        """§5.2.9 expiresAt: 'When passed the Context Source Registration will become invalid';
        §5.3.2 'noLongerMatching' ... 'no longer matches the Subscription': an expiring
        registration is notified as no longer matching, once."""
        self.subscribe("expiry", entities=[{"type": "Stall"}])
        at = datetime.now(timezone.utc) + timedelta(seconds=2)
        self.register("urn:ngsi-ld:ContextSourceRegistration:expiry", information=[{"entities": [{"type": "Stall"}]}],
                      expiresAt=at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        self.assertEqual(self.notes("expiry", 1)[0]["triggerReason"], "newlyMatching")
        second = self.notes("expiry", 2, timeout=15)[1]
        self.assertEqual(second["triggerReason"], "noLongerMatching")
        self.assertEqual(second["data"][0]["id"], "urn:ngsi-ld:ContextSourceRegistration:expiry")
        self.assertIn("expiresAt", second["data"][0])
        self.assertGreaterEqual(datetime.now(timezone.utc), at)
        self.assertEqual(len(self.receiver.wait_for(3, timeout=2.5, path="/expiry")), 2)  # once only

    def test_context_and_sysattrs(self):
        """§5.2.12 jsonldContext / the @context the subscription was made with compacts the
        notified registration; notification.sysAttrs adds createdAt/modifiedAt; the Link header
        names the @context (application/json)."""
        body = csub("urn:ngsi-ld:Subscription:ctxn", uri=self.receiver.url("/ctxn"), entities=[{"type": "Room"}],
                    notification={"endpoint": {"uri": self.receiver.url("/ctxn")}, "sysAttrs": True})
        body["@context"] = [USER_CTX, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]
        self.create(body, content_type="application/ld+json")
        r = self.hub.post(R, {"id": "urn:ngsi-ld:ContextSourceRegistration:ctxn", "type": "ContextSourceRegistration",
                              "information": [{"entities": [{"type": "https://example.org/vocab#Room"}],
                                               "propertyNames": ["https://example.org/vocab#temperature"]}],
                              "endpoint": "http://127.0.0.1:9"})
        self.assertEqual(r.status, 201, r)
        got = self.receiver.wait_for(1, path="/ctxn")
        self.assertEqual(len(got), 1)
        data = got[0]["body"]["data"][0]
        self.assertEqual(data["information"], [{"entities": [{"type": "Room"}], "propertyNames": ["temperature"]}])
        self.assertIn("createdAt", data)
        self.assertIn("modifiedAt", data)
        self.assertIn("rel=\"http://www.w3.org/ns/json-ld#context\"", got[0]["headers"]["link"])

    def test_non_matching_subscriptions_get_nothing(self):
        """§5.11.2 / §5.2.12 applied to registrations: entities (type, id, idPattern) must overlap
        an information item, watchedAttributes its propertyNames/relationshipNames, and q, csf,
        geoQ and scopeQ must hold for the registration; a paused subscription is not notified."""
        area = {"type": "Polygon", "coordinates": [[[127.0, 37.0], [127.1, 37.0], [127.1, 37.1], [127.0, 37.1],
                                                    [127.0, 37.0]]]}
        far = {"geometry": "Point", "coordinates": [129.0, 35.0], "georel": "near;maxDistance==1000"}
        near = {"geometry": "Point", "coordinates": [127.05, 37.05], "georel": "intersects"}
        h = tenant("nm")
        self.subscribe("nm-other-type", h, entities=[{"type": "Bank"}])
        self.subscribe("nm-other-id", h, entities=[{"type": "Shop", "id": "urn:ngsi-ld:Shop:2"}])
        self.subscribe("nm-other-pattern", h, entities=[{"type": "Shop", "idPattern": "^urn:ngsi-ld:Shop:9"}])
        self.subscribe("nm-other-attr", h, entities=[{"type": "Shop"}], watchedAttributes=["price"])
        self.subscribe("nm-q", h, entities=[{"type": "Shop"}], q='mode=="exclusive"')
        self.subscribe("nm-csf", h, entities=[{"type": "Shop"}], csf="tier>=3")
        self.subscribe("nm-geo", h, entities=[{"type": "Shop"}], geoQ=far)
        self.subscribe("nm-scope", h, entities=[{"type": "Shop"}], scopeQ="/Seoul")
        self.subscribe("nm-paused", h, entities=[{"type": "Shop"}], isActive=False)
        # and those that do match, one per member
        self.subscribe("nm-id", h, entities=[{"type": "Shop", "id": "urn:ngsi-ld:Shop:1"}])
        self.subscribe("nm-pattern", h, entities=[{"type": "Shop", "idPattern": "^urn:ngsi-ld:Shop:"}])
        self.subscribe("nm-attr", h, entities=None, watchedAttributes=["stock"])
        self.subscribe("nm-q-ok", h, entities=[{"type": "Shop"}], q='mode=="inclusive"')
        self.subscribe("nm-csf-ok", h, entities=[{"type": "Shop"}], csf="tier==2")
        self.subscribe("nm-geo-ok", h, entities=[{"type": "Shop"}], geoQ=near)
        self.subscribe("nm-scope-ok", h, entities=[{"type": "Shop"}], scopeQ="/Busan/#")
        self.register("urn:ngsi-ld:ContextSourceRegistration:nm", h,
                      information=[{"entities": [{"type": "Shop", "id": "urn:ngsi-ld:Shop:1"}],
                                    "propertyNames": ["stock"]}],
                      tier=2, location=area, scope="/Busan/Haeundae")
        for name in ["nm-id", "nm-pattern", "nm-attr", "nm-q-ok", "nm-csf-ok", "nm-geo-ok", "nm-scope-ok"]:
            with self.subTest(name):
                self.assertEqual(self.notes(name, 1)[0]["triggerReason"], "newlyMatching")
        for name in ["nm-other-type", "nm-other-id", "nm-other-pattern", "nm-other-attr", "nm-q", "nm-csf", "nm-geo",
                     "nm-scope", "nm-paused"]:
            with self.subTest(name):
                self.assertEqual(wait_none(self.receiver, "/" + name), [])

    def test_temporal_registrations_need_a_temporal_query(self):
        """§5.2.12 temporalQ: 'Temporal Query to be used only in Context Registration
        Subscriptions for matching Context Source Registrations of Context Sources providing
        temporal information'; matched as a query of registrations (§5.10.2): without one, a
        registration with an observationInterval or managementInterval is not matched; with one,
        its interval must overlap."""
        h = tenant("tq")
        self.subscribe("tq-none", h, entities=[{"type": "Meter"}])
        self.subscribe("tq-after", h, entities=[{"type": "Meter"}],
                       temporalQ={"timerel": "after", "timeAt": "2020-06-01T00:00:00Z"})
        self.subscribe("tq-before", h, entities=[{"type": "Meter"}],
                       temporalQ={"timerel": "before", "timeAt": "2000-01-01T00:00:00Z"})
        self.subscribe("tq-managed", h, entities=[{"type": "Meter"}],
                       temporalQ={"timerel": "after", "timeAt": "2020-06-01T00:00:00Z", "timeproperty": "modifiedAt"})
        self.subscribe("tq-between", h, entities=[{"type": "Meter"}],
                       temporalQ={"timerel": "between", "timeAt": "2020-03-01T00:00:00Z",
                                  "endTimeAt": "2020-04-01T00:00:00Z"})
        self.register("urn:ngsi-ld:ContextSourceRegistration:tq", h, information=[{"entities": [{"type": "Meter"}]}],
                      observationInterval={"startAt": "2020-01-01T00:00:00Z", "endAt": "2021-01-01T00:00:00Z"})
        for name in ["tq-after", "tq-between"]:
            with self.subTest(name):
                self.assertEqual(self.notes(name, 1)[0]["triggerReason"], "newlyMatching")
        for name in ["tq-none", "tq-before", "tq-managed"]:
            with self.subTest(name):
                self.assertEqual(wait_none(self.receiver, "/" + name), [])

    def test_tenants_are_isolated(self):
        """§4.14: a subscription of one tenant is not notified of another tenant's registrations."""
        self.subscribe("iso-a", tenant("isoa"), entities=[{"type": "Shop"}])
        self.subscribe("iso-b", tenant("isob"), entities=[{"type": "Shop"}])
        self.register("urn:ngsi-ld:ContextSourceRegistration:iso", tenant("isob"),
                      information=[{"entities": [{"type": "Shop"}]}])
        got = self.notes("iso-b", 1)[0]
        self.assertEqual(got["data"][0]["id"], "urn:ngsi-ld:ContextSourceRegistration:iso")
        self.assertEqual(self.receiver.wait_for(1, timeout=0.5, path="/iso-b")[0]["headers"]["ngsild-tenant"], "isob")
        self.assertEqual(wait_none(self.receiver, "/iso-a"), [])

    def test_deleted_subscription_gets_nothing(self):
        """§5.11.6: once deleted, a subscription is notified no more."""
        sid = self.subscribe("gone", entities=[{"type": "Kiosk"}])
        self.subscribe("gone-witness", entities=[{"type": "Kiosk"}])
        self.assertEqual(self.hub.delete(path(sid)).status, 204)
        self.register("urn:ngsi-ld:ContextSourceRegistration:gone", information=[{"entities": [{"type": "Kiosk"}]}])
        self.notes("gone-witness", 1)
        self.assertEqual(wait_none(self.receiver, "/gone"), [])


class DurabilityTest(unittest.TestCase):
    def test_owed_notifications_survive_kill_9(self):
        """DESIGN §1 (at-least-once): the notification a registration change owes is written with
        the change; a hub killed (-9) before delivering it delivers it after restarting. The
        subscription itself survives the restart too."""
        data_dir = tempfile.mkdtemp(prefix="cityhub-csub-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        rx.status = 503
        args = ["--notify-retry-initial-ms", "50", "--notify-retry-max-ms", "200"]
        hub = Hub(data_dir=data_dir, extra_args=args).start()
        self.addCleanup(hub.stop)
        sid = "urn:ngsi-ld:Subscription:crash"
        self.assertEqual(hub.post(S, csub(sid, uri=rx.url("/crash"))).status, 201)
        rid = "urn:ngsi-ld:ContextSourceRegistration:crash"
        self.assertEqual(hub.post(R, reg(rid)).status, 201)
        self.assertGreaterEqual(len(rx.wait_attempts(1)), 1)  # tried, refused: still owed
        hub.kill()
        rx.status = 200
        hub = Hub(data_dir=data_dir, extra_args=args).start()
        self.addCleanup(hub.stop)
        got = rx.wait_for(1, timeout=20, path="/crash")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["body"]["triggerReason"], "newlyMatching")
        self.assertEqual(got[0]["body"]["data"][0]["id"], rid)
        self.assertEqual(hub.get(path(sid)).status, 200)
        self.assertEqual(hub.delete(f"{R}/{rid}").status, 204)
        got = rx.wait_for(2, timeout=20, path="/crash")
        self.assertEqual(got[-1]["body"]["triggerReason"], "noLongerMatching")


class ExpiryWhileStoppedTest(unittest.TestCase):
    def test_expiry_during_a_crash_is_notified_after_restart(self):
        """At-least-once for expiries: a registration that expires while the hub is down (killed
        -9) is notified as noLongerMatching after the restart."""
        data_dir = tempfile.mkdtemp(prefix="cityhub-csub-expiry-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        hub = Hub(data_dir=data_dir).start()
        self.addCleanup(hub.stop)
        self.assertEqual(hub.post(S, csub("urn:ngsi-ld:Subscription:exp", uri=rx.url("/exp"))).status, 201)
        at = datetime.now(timezone.utc) + timedelta(seconds=3)
        rid = "urn:ngsi-ld:ContextSourceRegistration:exp"
        self.assertEqual(hub.post(R, reg(rid, expiresAt=at.strftime("%Y-%m-%dT%H:%M:%SZ"))).status, 201)
        self.assertEqual(rx.wait_for(1, path="/exp")[0]["body"]["triggerReason"], "newlyMatching")
        hub.kill()
        while datetime.now(timezone.utc) < at + timedelta(seconds=1):
            rx.wait_for(2, timeout=0.2, path="/exp")  # nothing can come: the hub is down
        hub = Hub(data_dir=data_dir).start()
        self.addCleanup(hub.stop)
        # (the first notification may come again: a crash may repeat what was delivered)
        def expired():
            return [n["body"] for n in rx.wait_for(1, timeout=0.2, path="/exp")
                    if n["body"]["triggerReason"] == "noLongerMatching"]
        got = eventually(expired, timeout=15)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["data"][0]["id"], rid)


class AccessTest(unittest.TestCase):
    """docs/SECURITY.md: a context source registration subscription is notified of whole
    registrations (endpoints, contextSourceInfo), so every /csourceSubscriptions operation is the
    "register" operation, like reading registrations (least privilege); a subscription is managed
    by its creator or an admin."""

    @classmethod
    def setUpClass(cls):
        policy = {"rules": [{"effect": "allow", "roles": ["federator"], "tenants": ["*"], "operations": ["register"]}]}
        cls.g = GuardedHub("cityhub-csub-access-", policy=policy).start()

    @classmethod
    def tearDownClass(cls):
        cls.g.cleanup()

    def test_register_right_needed(self):
        body = csub("urn:ngsi-ld:Subscription:acl")
        for who in [("w", "writer"), ("r", "reader")]:
            self.assertEqual(self.g.call("POST", S, who, body=body).status, 403, who)
            self.assertEqual(self.g.call("GET", S, who).status, 403, who)
        self.assertEqual(self.g.call("POST", S, None, body=body).status, 401)
        self.assertEqual(self.g.call("POST", S, ("fed", "federator"), body=body).status, 201)
        self.assertEqual(self.g.call("GET", path(body["id"]), ("fed", "federator")).status, 200)
        # another register holder does not see it; an admin does
        self.assertEqual(self.g.call("GET", path(body["id"]), ("fed2", "federator")).status, 404)
        self.assertEqual(self.g.call("GET", S, ("fed2", "federator")).json(), [])
        self.assertEqual(self.g.call("GET", path(body["id"]), ("root", "admin")).status, 200)
        self.assertEqual(self.g.call("DELETE", path(body["id"]), ("fed2", "federator")).status, 404)
        self.assertEqual(self.g.call("DELETE", path(body["id"]), ("fed", "federator")).status, 204)

    def test_notifications_follow_the_creators_rights(self):
        """Least privilege: a subscription's notifications carry whole registrations, so they go
        out only while its creator holds "register" — with the roles of the creator's latest
        token (security/role_directory.h), not those it held when it subscribed."""
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        fed, root = ("fed3", "federator"), ("root", "admin")
        self.assertEqual(self.g.call("POST", S, fed, body=csub("urn:ngsi-ld:Subscription:fed3", uri=rx.url("/fed3"),
                                                               entities=[{"type": "Depot"}])).status, 201)
        self.assertEqual(self.g.call("POST", S, root, body=csub("urn:ngsi-ld:Subscription:root3", uri=rx.url("/root3"),
                                                                entities=[{"type": "Depot"}])).status, 201)
        self.assertEqual(self.g.call("POST", R, root, body=reg("urn:ngsi-ld:ContextSourceRegistration:d1",
                                                               information=[{"entities": [{"type": "Depot"}]}])).status, 201)
        self.assertEqual(len(rx.wait_for(1, path="/fed3")), 1)
        self.assertEqual(len(rx.wait_for(1, path="/root3")), 1)
        # fed3's identity provider now gives it only "reader": it may no longer read registrations
        self.assertEqual(self.g.call("GET", "/ngsi-ld/v1/types", ("fed3", "reader")).status, 200)
        self.assertEqual(self.g.call("POST", R, root, body=reg("urn:ngsi-ld:ContextSourceRegistration:d2",
                                                               information=[{"entities": [{"type": "Depot"}]}])).status, 201)
        self.assertEqual(len(rx.wait_for(2, path="/root3")), 2)
        self.assertEqual(len(rx.wait_for(2, timeout=0.5, path="/fed3")), 1)


if __name__ == "__main__":
    unittest.main()
