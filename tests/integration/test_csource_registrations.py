"""/csourceRegistrations (GS CIM 009 v1.8.1 §5.9 Register/Update/Delete, §5.10 Retrieve/Query,
data type §5.2.9) over real HTTP: register (generated and explicit ids, 409 on a duplicate),
validation of every member (400 BadRequestData naming it), the mode rules of §4.3.6.2, the
conflicts the spec names (409), names expanded with the request's @context and compacted with
the reader's, update and delete, every query filter of §5.10.2, tenants, URL parameters,
survival across a restart, and who may manage registrations when authentication is on."""
import json
import os
import shutil
import tempfile
import time
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

from guarded_hub import GuardedHub
from hub import Hub, HubTestCase, link_header

R = "/ngsi-ld/v1/csourceRegistrations"
GENERATED_PREFIX = "urn:ngsi-ld:ContextSourceRegistration:"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
USER_CTX = {"Room": "https://example.org/vocab#Room", "temperature": "https://example.org/vocab#temperature"}


def reg(rid=None, **members):
    """A minimal valid registration plus (or with replaced) members."""
    body = {"type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Building"}]}],
            "endpoint": "http://127.0.0.1:9"}
    if rid is not None:
        body["id"] = rid
    body.update(members)
    return body


def exclusive(rid, entity_id, attrs, **members):
    return reg(rid, mode="exclusive",
               information=[{"entities": [{"id": entity_id, "type": "Room"}], "propertyNames": attrs}], **members)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def tenant(name):
    return {"NGSILD-Tenant": name}


class Helpers:
    def create(self, body, status=201, **kw):
        r = self.hub.post(R, body, **kw)
        self.assertEqual(r.status, status, r)
        return r

    def fetch(self, rid, params="", **kw):
        r = self.hub.get(f"{R}/{quote(rid, safe=':')}{'?' + params if params else ''}", **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def ids(self, params, **kw):
        r = self.hub.get(f"{R}?{params}", **kw)
        self.assertEqual(r.status, 200, r)
        return sorted(item["id"] for item in r.json())


class RegisterTest(Helpers, HubTestCase):
    def test_register_generates_an_id_and_location(self):
        """§5.9.2: 'If the Context Source Registration does not include an id, the broker shall
        generate one'; §6.8.3.1: 201 with the Location of the created registration."""
        r = self.create(reg())
        loc = r.header("Location")
        self.assertTrue(loc.startswith(R + "/" + GENERATED_PREFIX), loc)
        rid = unquote(loc[len(R) + 1:])
        got = self.hub.get(loc).json()
        self.assertEqual(got["id"], rid)
        self.assertEqual(got["type"], "ContextSourceRegistration")
        self.assertEqual(got["endpoint"], "http://127.0.0.1:9")
        self.assertEqual(got["information"], [{"entities": [{"type": "Building"}]}])
        self.assertEqual(got["mode"], "inclusive")  # §5.2.9: mode, default inclusive
        self.assertNotIn("createdAt", got)

    def test_explicit_id_and_duplicate(self):
        """§5.9.2: 'If the registration id is already in use, an error of type AlreadyExists
        shall be raised' (409)."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:explicit"
        r = self.create(reg(rid))
        self.assertEqual(r.header("Location"), f"{R}/{rid}")
        self.assertProblem(self.hub.post(R, reg(rid)), 409, "AlreadyExists")

    def test_every_member_round_trips(self):
        """§5.2.9: every member of CSourceRegistration is kept and returned; options=sysAttrs
        adds createdAt and modifiedAt (§5.10.1)."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:full"
        body = reg(rid,
                   registrationName="Jeonju buildings",
                   description="every building of Jeonju city hall",
                   contextSourceAlias="jeonju-hub",
                   information=[{"entities": [{"id": "urn:ngsi-ld:Building:b1", "type": "Building"},
                                              {"idPattern": "^urn:ngsi-ld:Building:j-.*$", "type": ["Building", "Shop"]}],
                                 "propertyNames": ["name", "height"], "relationshipNames": ["owner"]}],
                   datasetId=["urn:ngsi-ld:Dataset:a", "@none"],
                   tenant="jeonju",
                   observationInterval={"startAt": "2020-01-01T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"},
                   managementInterval={"startAt": "2021-01-01T00:00:00Z"},
                   location={"type": "Point", "coordinates": [127.15, 35.82]},
                   observationSpace={"type": "Polygon", "coordinates": [[[127, 35], [128, 35], [128, 36], [127, 36], [127, 35]]]},
                   operationSpace={"type": "Point", "coordinates": [127.1, 35.8]},
                   expiresAt="2099-01-01T00:00:00Z",
                   contextSourceInfo=[{"key": "Authorization", "value": "Bearer x"}],
                   scope=["/Jeonju/CityHall", "/Jeonju"],
                   mode="inclusive",
                   operations=["retrieveOps", "createEntity"],
                   refreshRate="PT1M",
                   management={"localOnly": True, "cacheDuration": "PT10S", "timeout": 500, "cooldown": 2000},
                   operator="Jeonju city")
        self.create(body)
        got = self.fetch(rid)
        for key, value in body.items():
            self.assertEqual(got[key], value, key)
        with_sys = self.fetch(rid, "options=sysAttrs")
        created = datetime.fromisoformat(with_sys["createdAt"].replace("Z", "+00:00"))
        self.assertLess(abs((datetime.now(timezone.utc) - created).total_seconds()), 60)
        self.assertEqual(with_sys["createdAt"], with_sys["modifiedAt"])

    def test_invalid_members_are_refused(self):
        """§5.9.2: 'If the data types and restrictions are not met by the Context Source
        Registration, an error of type BadRequestData shall be raised' — naming the member."""
        cases = {
            "information": reg(information=None),
            "endpoint": reg(endpoint=None),
            "type": reg(type="Registration"),
        }
        for member, body in cases.items():
            body = {k: v for k, v in body.items() if v is not None}
            p = self.assertProblem(self.hub.post(R, body), 400, "BadRequestData")
            self.assertIn(member, p["detail"])
        bad = [
            ("information", reg(information=[])),
            ("information[0]", reg(information=[{}])),
            ("information[0]", reg(information=[{"entities": [{"id": "urn:a:b"}]}])),  # EntityInfo without type
            ("information[0]", reg(information=[{"entities": [{"type": "A", "idPattern": "("}]}])),
            ("information[0]", reg(information=[{"entities": [{"type": "A", "id": "not a uri"}]}])),
            ("propertyNames", reg(information=[{"propertyNames": []}])),
            ("information[0]", reg(information=[{"colour": "red"}])),
            ("endpoint", reg(endpoint="/relative/path")),
            ("endpoint", reg(endpoint="ftp://example.org")),
            ("mode", reg(mode="shared")),
            ("operations", reg(operations=["teleportEntity"])),
            ("operations", reg(operations=[])),
            ("expiresAt", reg(expiresAt="2001-01-01T00:00:00Z")),
            ("expiresAt", reg(expiresAt="tomorrow")),
            ("observationInterval", reg(observationInterval={"endAt": "2030-01-01T00:00:00Z"})),
            ("managementInterval", reg(managementInterval={"startAt": "2030-01-01T00:00:00Z", "endAt": "2020-01-01T00:00:00Z"})),
            ("location", reg(location={"type": "Point", "coordinates": [200, 95]})),
            ("observationSpace", reg(observationSpace={"type": "Blob"})),
            ("contextSourceInfo", reg(contextSourceInfo=[{"key": "a"}])),
            ("management.timeout", reg(management={"timeout": 0})),
            ("management", reg(management={"retries": 3})),
            ("scope", reg(scope="no-slash")),
            ("datasetId", reg(datasetId=["not a uri"])),
            ("registrationName", reg(registrationName="")),
            ("id", reg("not a uri")),
        ]
        for member, body in bad:
            p = self.assertProblem(self.hub.post(R, body), 400, "BadRequestData")
            self.assertIn(member, p["detail"], body)

    def test_status_members_are_read_only(self):
        """§5.2.9: status, timesSent, timesFailed, lastSuccess, lastFailure are read-only:
        the hub maintains them, a client may not set them."""
        for member, value in [("status", "ok"), ("timesSent", 3), ("timesFailed", 1),
                              ("lastSuccess", "2024-01-01T00:00:00Z"), ("lastFailure", "2024-01-01T00:00:00Z")]:
            p = self.assertProblem(self.hub.post(R, reg(**{member: value})), 400, "BadRequestData")
            self.assertIn(member, p["detail"])

    def test_malformed_bodies(self):
        self.assertProblem(self.hub.request("POST", R, body=b"{not json", content_type="application/json"), 400,
                           "InvalidRequest")
        self.assertProblem(self.hub.post(R, [reg()]), 400)
        self.assertEqual(self.hub.post(R, reg(), content_type="text/plain").status, 415)

    def test_names_are_expanded_with_the_request_context(self):
        """§5.9.2 / §5.2.9: entity types and attribute names are read with the request's
        @context and compacted with the reader's (§5.10.1)."""
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": USER_CTX})
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        rid = "urn:ngsi-ld:ContextSourceRegistration:ctx"
        self.create(reg(rid, information=[{"entities": [{"type": "Room"}], "propertyNames": ["temperature"]}]),
                    headers=link_header(url))
        plain = self.fetch(rid)
        self.assertEqual(plain["information"], [{"entities": [{"type": "https://example.org/vocab#Room"}],
                                                 "propertyNames": ["https://example.org/vocab#temperature"]}])
        with_ctx = self.fetch(rid, headers=link_header(url))
        self.assertEqual(with_ctx["information"], [{"entities": [{"type": "Room"}], "propertyNames": ["temperature"]}])
        # the query reads its names with the request's @context too
        self.assertIn(rid, self.ids("type=Room&attrs=temperature", headers=link_header(url)))
        self.assertNotIn(rid, self.ids("type=Room&attrs=temperature"))
        self.assertIn(rid, self.ids("type=https://example.org/vocab%23Room"))


class ModeTest(Helpers, HubTestCase):
    def test_exclusive_needs_entity_ids_and_attributes(self):
        """§4.3.6.2: an exclusive registration names the Entity id (idPattern is not allowed)
        and the Attributes the Context Source holds."""
        cases = [
            [{"entities": [{"idPattern": ".*", "type": "Room"}], "propertyNames": ["temperature"]}],
            [{"entities": [{"type": "Room"}], "propertyNames": ["temperature"]}],
            [{"entities": [{"id": "urn:ngsi-ld:Room:x1", "type": "Room"}]}],
            [{"propertyNames": ["temperature"]}],
        ]
        for information in cases:
            p = self.assertProblem(self.hub.post(R, reg(mode="exclusive", information=information)), 400, "BadRequestData")
            self.assertIn("exclusive", p["detail"])
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:ex-ok", "urn:ngsi-ld:Room:x1", ["temperature"]))

    def test_auxiliary_offers_only_reads(self):
        """§4.3.6.2: an auxiliary Context Source is only used for retrieval (it is never the
        sole holder of the data): it may not offer write operations."""
        p = self.assertProblem(self.hub.post(R, reg(mode="auxiliary", operations=["createEntity"])), 400, "BadRequestData")
        self.assertIn("auxiliary", p["detail"])
        self.assertProblem(self.hub.post(R, reg(mode="auxiliary", operations=["redirectionOps"])), 400, "BadRequestData")
        self.create(reg("urn:ngsi-ld:ContextSourceRegistration:aux", mode="auxiliary", operations=["retrieveOps"]))
        self.create(reg("urn:ngsi-ld:ContextSourceRegistration:aux2", mode="auxiliary"))  # federationOps: reads

    def test_exclusive_conflicts(self):
        """§6.3.2 / OpenAPI 409 of Register: 'the entity or an exclusive or redirect registration
        defining the entity already exists' → AlreadyExists (409)."""
        room = "urn:ngsi-ld:Room:c1"
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:c-first", room, ["temperature"]))
        # the same entity attribute again
        p = self.assertProblem(self.hub.post(R, exclusive("urn:ngsi-ld:ContextSourceRegistration:c-second", room,
                                                          ["temperature", "humidity"])), 409, "AlreadyExists")
        self.assertIn("c-first", p["detail"])
        # a redirect registration over the same entity
        self.assertProblem(self.hub.post(R, reg("urn:ngsi-ld:ContextSourceRegistration:c-redirect", mode="redirect",
                                                information=[{"entities": [{"id": room, "type": "Room"}]}])),
                           409, "AlreadyExists")
        # another attribute of the same entity, or another entity: no conflict
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:c-other-attr", room, ["humidity"]))
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:c-other-room", "urn:ngsi-ld:Room:c2", ["temperature"]))
        # inclusive registrations may overlap an exclusive one
        self.create(reg("urn:ngsi-ld:ContextSourceRegistration:c-inclusive",
                        information=[{"entities": [{"id": room, "type": "Room"}], "propertyNames": ["temperature"]}]))
        # an update into a conflict is refused and changes nothing
        r = self.hub.patch(f"{R}/urn:ngsi-ld:ContextSourceRegistration:c-other-attr",
                           {"information": [{"entities": [{"id": room, "type": "Room"}], "propertyNames": ["temperature"]}]})
        self.assertProblem(r, 409, "AlreadyExists")
        got = self.fetch("urn:ngsi-ld:ContextSourceRegistration:c-other-attr")
        self.assertEqual(got["information"][0]["propertyNames"], ["humidity"])
        # once the first is deleted, the claim is free
        self.assertEqual(self.hub.delete(f"{R}/urn:ngsi-ld:ContextSourceRegistration:c-first").status, 204)
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:c-second", room, ["temperature"]))

    def test_overlapping_redirect_registrations_are_allowed(self):
        """§4.3.6.2: 'In the case that multiple overlapping redirect registrations are defined,
        operations are distributed to all registered Context Sources.'"""
        info = [{"entities": [{"id": "urn:ngsi-ld:Room:r1", "type": "Room"}]}]
        self.create(reg("urn:ngsi-ld:ContextSourceRegistration:rd1", mode="redirect", information=info))
        self.create(reg("urn:ngsi-ld:ContextSourceRegistration:rd2", mode="redirect", information=info,
                        endpoint="http://127.0.0.1:10"))

    def test_local_entities_cannot_be_claimed(self):
        """§4.3.6.2 / 409 of Register: an exclusive registration may not claim attributes of an
        entity the broker holds itself, nor a redirect registration an entity it holds."""
        room = {"id": "urn:ngsi-ld:Room:local1", "type": "Room", "temperature": {"type": "Property", "value": 21}}
        self.assertEqual(self.hub.post("/ngsi-ld/v1/entities", room).status, 201)
        p = self.assertProblem(self.hub.post(R, exclusive("urn:ngsi-ld:ContextSourceRegistration:l1", room["id"],
                                                          ["temperature"])), 409, "AlreadyExists")
        self.assertIn(room["id"], p["detail"])
        self.assertProblem(self.hub.post(R, reg("urn:ngsi-ld:ContextSourceRegistration:l2", mode="redirect",
                                                information=[{"entities": [{"id": room["id"], "type": "Room"}]}])),
                           409, "AlreadyExists")
        # an attribute the local entity does not have may be held elsewhere
        self.create(exclusive("urn:ngsi-ld:ContextSourceRegistration:l3", room["id"], ["humidity"]))


class UpdateDeleteTest(Helpers, HubTestCase):
    def test_update_replaces_members(self):
        """§5.9.3: the members of the fragment replace those of the registration; 204."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:upd"
        self.create(reg(rid, registrationName="before", description="kept"))
        before = self.fetch(rid, "options=sysAttrs")
        time.sleep(0.01)
        r = self.hub.patch(f"{R}/{rid}", {"registrationName": "after", "endpoint": "https://example.org/hub",
                                          "information": [{"propertyNames": ["speed"]}]})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(rid, "options=sysAttrs")
        self.assertEqual(got["registrationName"], "after")
        self.assertEqual(got["description"], "kept")
        self.assertEqual(got["endpoint"], "https://example.org/hub")
        self.assertEqual(got["information"], [{"propertyNames": ["speed"]}])
        self.assertEqual(got["createdAt"], before["createdAt"])
        self.assertGreater(got["modifiedAt"], before["modifiedAt"])

    def test_null_removes_an_optional_member(self):
        rid = "urn:ngsi-ld:ContextSourceRegistration:upd-null"
        self.create(reg(rid, description="to go", management={"timeout": 100, "cooldown": 1000}))
        self.assertEqual(self.hub.patch(f"{R}/{rid}", {"description": None, "management": {"cooldown": None}}).status, 204)
        got = self.fetch(rid)
        self.assertNotIn("description", got)
        self.assertEqual(got["management"], {"timeout": 100})

    def test_invalid_update_changes_nothing(self):
        """§5.9.3: an invalid fragment raises BadRequestData and the registration is unchanged."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:upd-bad"
        self.create(reg(rid))
        before = self.fetch(rid)
        for fragment in [{"endpoint": "nope"}, {"information": None}, {"endpoint": None}, {"information": []},
                         {"mode": "exclusive"}, {"status": "ok"}, {"expiresAt": "2000-01-01T00:00:00Z"},
                         {"id": "urn:ngsi-ld:ContextSourceRegistration:other"}]:
            self.assertProblem(self.hub.patch(f"{R}/{rid}", fragment), 400, "BadRequestData")
        self.assertEqual(self.fetch(rid), before)

    def test_unknown_ids(self):
        """§5.9.3, §5.9.4, §5.10.1: an unknown registration id is ResourceNotFound (404); an id
        that is not a URI is BadRequestData."""
        unknown = f"{R}/urn:ngsi-ld:ContextSourceRegistration:nope"
        self.assertProblem(self.hub.get(unknown), 404, "ResourceNotFound")
        self.assertProblem(self.hub.patch(unknown, {"description": "x"}), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(unknown), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{R}/not-a-uri"), 400, "BadRequestData")

    def test_delete(self):
        """§5.9.4: the registration is removed: 204, then 404."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:del"
        self.create(reg(rid))
        self.assertEqual(self.hub.delete(f"{R}/{rid}/").status, 204)  # trailing slash too
        self.assertProblem(self.hub.get(f"{R}/{rid}"), 404, "ResourceNotFound")
        self.assertNotIn(rid, self.ids("count=true"))


class QueryTest(Helpers, HubTestCase):
    """§5.10.2: 'the requested Entities and Attributes are matched against the information
    property as described in clause 5.12', plus the filters on the registration itself."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        regs = [
            reg("urn:ngsi-ld:ContextSourceRegistration:q-room-id", registrationName="room one",
                information=[{"entities": [{"id": "urn:ngsi-ld:Room:1", "type": "Room"}], "propertyNames": ["temperature"]}],
                scope="/Seoul/Gangnam", location={"type": "Point", "coordinates": [127.03, 37.5]}, tier=1),
            reg("urn:ngsi-ld:ContextSourceRegistration:q-room-pattern",
                information=[{"entities": [{"idPattern": "^urn:ngsi-ld:Room:2.*$", "type": "Room"}],
                              "relationshipNames": ["inBuilding"]}],
                scope="/Busan", operationSpace={"type": "Point", "coordinates": [129.07, 35.18]}, tier=2),
            reg("urn:ngsi-ld:ContextSourceRegistration:q-building",
                information=[{"entities": [{"type": ["Building", "Shop"]}]}], mode="auxiliary",
                observationSpace={"type": "Polygon", "coordinates": [[[126.9, 37.4], [127.1, 37.4], [127.1, 37.6], [126.9, 37.6], [126.9, 37.4]]]}),
            reg("urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                information=[{"propertyNames": ["temperature", "humidity"]}]),
            reg("urn:ngsi-ld:ContextSourceRegistration:q-temporal",
                information=[{"entities": [{"type": "Room"}]}],
                observationInterval={"startAt": "2020-01-01T00:00:00Z", "endAt": "2021-01-01T00:00:00Z"}),
            reg("urn:ngsi-ld:ContextSourceRegistration:q-managed",
                information=[{"entities": [{"type": "Room"}]}],
                managementInterval={"startAt": "2022-01-01T00:00:00Z"}),
        ]
        for body in regs:
            r = cls.hub.post(R, body, headers=tenant("query"))
            assert r.status == 201, r

    def q(self, params):
        return self.ids(params, headers=tenant("query"))

    def test_all_latest(self):
        """§5.10.2: 'If no temporal query is present, only Context Source Registrations for Context
        Sources providing latest information, i.e. without specified time intervals, are considered.'"""
        self.assertEqual(self.q(""), sorted(["urn:ngsi-ld:ContextSourceRegistration:q-room-id",
                                              "urn:ngsi-ld:ContextSourceRegistration:q-room-pattern",
                                              "urn:ngsi-ld:ContextSourceRegistration:q-building",
                                              "urn:ngsi-ld:ContextSourceRegistration:q-attrs-only"]))

    def test_type_id_idpattern_attrs(self):
        """§5.12: an information item matches when its entities match the requested type and id
        (or idPattern) and its attributes the requested attrs; an item without entities
        matches any entity."""
        self.assertEqual(self.q("type=Room"), ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                                                "urn:ngsi-ld:ContextSourceRegistration:q-room-id",
                                                "urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertEqual(self.q("type=Shop"), ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                                                "urn:ngsi-ld:ContextSourceRegistration:q-building"])
        self.assertEqual(self.q("type=Room&id=urn:ngsi-ld:Room:2b"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                          "urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertEqual(self.q("type=Room&id=urn:ngsi-ld:Room:1"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                          "urn:ngsi-ld:ContextSourceRegistration:q-room-id"])
        self.assertEqual(self.q("type=Room&idPattern=.*:1$"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                          "urn:ngsi-ld:ContextSourceRegistration:q-room-id",
                          "urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])  # patterns may overlap
        self.assertEqual(self.q("type=Room&attrs=inBuilding"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertEqual(self.q("attrs=humidity"), ["urn:ngsi-ld:ContextSourceRegistration:q-attrs-only",
                                                     "urn:ngsi-ld:ContextSourceRegistration:q-building"])
        self.assertEqual(self.q("type=Car&attrs=speed"), [])

    def test_q_and_csf_on_registration_members(self):
        """§5.10.2 q and csf (§4.9): the query language over the registration's members and its
        own properties."""
        self.assertEqual(self.q("csf=tier==2"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertEqual(self.q("csf=tier>=1"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-id",
                                                  "urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertEqual(self.q("q=mode==%22auxiliary%22"), ["urn:ngsi-ld:ContextSourceRegistration:q-building"])
        self.assertEqual(self.q("q=registrationName==%22room%20one%22"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-id"])
        self.assertProblem(self.hub.get(f"{R}?csf=tier===", headers=tenant("query")), 400)

    def test_scope_q(self):
        """§5.10.2 scopeQ (§4.19) on the registration's scope."""
        self.assertEqual(self.q("scopeQ=/Seoul/%23"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-id"])
        self.assertEqual(self.q("scopeQ=/Busan"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])

    def test_geo_query(self):
        """§5.10.2 geo-query against location (default), observationSpace or operationSpace."""
        near = "georel=near;maxDistance==2000&geometry=Point&coordinates=[127.03,37.5]"
        self.assertEqual(self.q(near), ["urn:ngsi-ld:ContextSourceRegistration:q-room-id"])
        self.assertEqual(self.q("georel=intersects&geometry=Point&coordinates=[127.0,37.5]&geoproperty=observationSpace"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-building"])
        self.assertEqual(self.q("georel=near;maxDistance==1000&geometry=Point&coordinates=[129.07,35.18]"
                                "&geoproperty=operationSpace"), ["urn:ngsi-ld:ContextSourceRegistration:q-room-pattern"])
        self.assertProblem(self.hub.get(f"{R}?{near}&geoproperty=temperature", headers=tenant("query")), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{R}?georel=near;maxDistance==5", headers=tenant("query")), 400, "BadRequestData")

    def test_temporal_query(self):
        """§5.10.2: 'If a temporal query is present only Context Source Registrations with matching
        time intervals, i.e. observationInterval or managementInterval, are considered.'"""
        self.assertEqual(self.q("timerel=before&timeAt=2020-06-01T00:00:00Z"), ["urn:ngsi-ld:ContextSourceRegistration:q-temporal"])
        self.assertEqual(self.q("timerel=after&timeAt=2021-06-01T00:00:00Z"), [])
        self.assertEqual(self.q("timerel=between&timeAt=2019-01-01T00:00:00Z&endTimeAt=2020-02-01T00:00:00Z"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-temporal"])
        self.assertEqual(self.q("timerel=after&timeAt=2023-01-01T00:00:00Z&timeproperty=modifiedAt"),
                         ["urn:ngsi-ld:ContextSourceRegistration:q-managed"])
        for bad in ["timerel=during&timeAt=2020-01-01T00:00:00Z", "timerel=before", "timeAt=2020-01-01T00:00:00Z",
                    "timerel=between&timeAt=2020-01-01T00:00:00Z",
                    "timerel=before&timeAt=2020-01-01T00:00:00Z&timeproperty=seenAt"]:
            self.assertProblem(self.hub.get(f"{R}?{bad}", headers=tenant("query")), 400, "BadRequestData")

    def test_paging_and_count(self):
        """§5.10.2 limit/offset and NGSILD-Results-Count (§6.3.13)."""
        r = self.hub.get(f"{R}?limit=2&offset=1&count=true", headers=tenant("query"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "4")
        # ascending id order: q-attrs-only, q-building, q-room-id, q-room-pattern
        self.assertEqual([i["id"] for i in r.json()], ["urn:ngsi-ld:ContextSourceRegistration:q-building",
                                                       "urn:ngsi-ld:ContextSourceRegistration:q-room-id"])
        self.assertEqual(self.hub.get(f"{R}?limit=0&count=true", headers=tenant("query")).header("NGSILD-Results-Count"), "4")

    def test_parameters(self):
        """§6.3.x: a parameter the operation does not take is InvalidRequest; options other than
        sysAttrs do not apply to registrations."""
        self.assertProblem(self.hub.get(f"{R}?tpye=Room", headers=tenant("query")), 400, "InvalidRequest")
        self.assertProblem(self.hub.get(f"{R}?options=keyValues", headers=tenant("query")), 400, "InvalidRequest")
        self.assertProblem(self.hub.post(f"{R}?local=true", reg()), 400, "InvalidRequest")
        self.assertProblem(self.hub.get(f"{R}?id=not%20a%20uri", headers=tenant("query")), 400, "BadRequestData")
        self.assertEqual(self.hub.get(f"{R}/", headers=tenant("query")).status, 200)
        # listed by the OpenAPI for queryCSR, meaningless for registrations: not supported
        for param in ["geometryProperty=location", "lang=ko"]:
            self.assertProblem(self.hub.get(f"{R}?{param}", headers=tenant("query")), 422, "OperationNotSupported")
        self.assertProblem(self.hub.patch(f"{R}/urn:ngsi-ld:ContextSourceRegistration:q-building?options=sysAttrs",
                                          {"description": "x"}, headers=tenant("query")), 400, "InvalidRequest")


class ExpiryTenancyTest(Helpers, HubTestCase):
    def test_expired_registrations_are_not_matched(self):
        """§5.2.9 expiresAt: 'When passed the Context Source Registration will become invalid':
        it is no longer returned by queries; retrieving it by id still shows it."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:short-lived"
        expires = datetime.now(timezone.utc) + timedelta(seconds=2)
        self.create(reg(rid, expiresAt=iso(expires + timedelta(seconds=1))), headers=tenant("expiry"))
        self.assertEqual(self.ids("", headers=tenant("expiry")), [rid])
        deadline = time.time() + 10
        while time.time() < deadline and self.ids("", headers=tenant("expiry")):
            time.sleep(0.2)
        self.assertEqual(self.ids("", headers=tenant("expiry")), [])
        self.assertEqual(self.fetch(rid, headers=tenant("expiry"))["id"], rid)

    def test_tenants_are_separate(self):
        """§4.14: registrations live in the tenant named by NGSILD-Tenant; an operation naming a
        tenant that does not exist is NonexistentTenant (§6.3.14), except Register, which
        creates it."""
        rid = "urn:ngsi-ld:ContextSourceRegistration:tenant"
        self.create(reg(rid), headers=tenant("gimhae"))
        self.assertEqual(self.fetch(rid, headers=tenant("gimhae"))["id"], rid)
        self.assertProblem(self.hub.get(f"{R}/{rid}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{R}/{rid}", headers=tenant("nowhere")), 404, "NonexistentTenant")
        self.assertProblem(self.hub.get(R, headers=tenant("nowhere")), 404, "NonexistentTenant")
        self.assertProblem(self.hub.delete(f"{R}/{rid}", headers=tenant("nowhere")), 404, "NonexistentTenant")
        self.assertNotIn(rid, self.ids(""))


class RestartTest(Helpers, HubTestCase):
    @classmethod
    def setUpClass(cls):  # a hub of its own, started and stopped by the test
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def test_registrations_survive_a_restart(self):
        """Registrations are stored with the tenant's data: after a restart they are retrieved,
        queried and still conflict as before."""
        self.hub = Hub()
        self.addCleanup(self.hub.cleanup)
        self.hub.start()
        kept = "urn:ngsi-ld:ContextSourceRegistration:kept"
        gone = "urn:ngsi-ld:ContextSourceRegistration:gone"
        self.create(exclusive(kept, "urn:ngsi-ld:Room:p1", ["temperature"], registrationName="kept"), headers=tenant("p"))
        self.create(reg(gone))
        self.assertEqual(self.hub.delete(f"{R}/{gone}").status, 204)
        before = self.fetch(kept, "options=sysAttrs", headers=tenant("p"))
        self.assertEqual(self.hub.stop(), 0, self.hub.read_log()[-2000:])
        self.hub.start()
        self.assertEqual(self.fetch(kept, "options=sysAttrs", headers=tenant("p")), before)
        self.assertEqual(self.ids("type=Room", headers=tenant("p")), [kept])
        self.assertProblem(self.hub.get(f"{R}/{gone}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.post(R, exclusive("urn:ngsi-ld:ContextSourceRegistration:again", "urn:ngsi-ld:Room:p1",
                                                      ["temperature"]), headers=tenant("p")), 409, "AlreadyExists")


class AccessTest(unittest.TestCase):
    """docs/SECURITY.md: registrations steer where the hub forwards requests and may carry a
    source's credentials (contextSourceInfo), so managing and reading them is the "register"
    operation, which only admin holds among the built-in roles (least privilege); a policy rule
    may grant it. Writes are audit-logged like any other, without their payload."""

    @classmethod
    def setUpClass(cls):
        policy = {"rules": [{"effect": "allow", "roles": ["federator"], "tenants": ["*"], "operations": ["register"]}]}
        cls.audit_dir = tempfile.mkdtemp(prefix="cityhub-csr-audit-")
        cls.audit = os.path.join(cls.audit_dir, "audit.log")
        cls.g = GuardedHub("cityhub-csr-access-", policy=policy, extra_args=["--audit-log", cls.audit]).start()

    @classmethod
    def tearDownClass(cls):
        cls.g.cleanup()
        shutil.rmtree(cls.audit_dir, ignore_errors=True)

    def test_only_register_holders_manage_registrations(self):
        body = reg("urn:ngsi-ld:ContextSourceRegistration:acl", contextSourceInfo=[{"key": "Authorization",
                                                                                     "value": "Bearer s3cret"}])
        for who in [("w", "writer"), ("r", "reader")]:
            self.assertEqual(self.g.call("POST", R, who, body=body).status, 403, who)
            self.assertEqual(self.g.call("GET", R, who).status, 403, who)
        self.assertEqual(self.g.call("POST", R, None, body=body).status, 401)
        self.assertEqual(self.g.call("POST", R, ("root", "admin"), body=body).status, 201)
        self.assertEqual(self.g.call("GET", f"{R}/{body['id']}", ("fed", "federator")).status, 200)
        self.assertEqual(self.g.call("GET", f"{R}/{body['id']}", ("w", "writer")).status, 403)
        self.assertEqual(self.g.call("PATCH", f"{R}/{body['id']}", ("w", "writer"), body={"description": "x"}).status, 403)
        self.assertEqual(self.g.call("DELETE", f"{R}/{body['id']}", ("fed", "federator")).status, 204)
        # the writes are in the audit log, the source's credentials are not
        deadline = time.time() + 5
        records = []
        while time.time() < deadline:
            with open(self.audit) as f:
                records = [json.loads(line) for line in f if line.strip()]
            if {("write", "root"), ("write", "fed")} <= {(r["event"], r["subject"]) for r in records}:
                break
            time.sleep(0.1)
        events = {(r["event"], r["subject"], r["method"]) for r in records}
        self.assertIn(("write", "root", "POST"), events)
        self.assertIn(("write", "fed", "DELETE"), events)
        self.assertIn(("denied", "w", "POST"), events)
        with open(self.audit) as f:
            self.assertNotIn("s3cret", f.read())


if __name__ == "__main__":
    unittest.main()
