"""Projection and selection languages over real HTTP (GS CIM 009 v1.8/v1.9): pick / omit
(§4.21) on retrieval, the entity queries, the temporal API and subscriptions' notifications;
the Entity Type Selection Language (§4.17) in `type`, EntitySelectors and subscriptions; a
projection matching nothing on retrieval (§5.7.1.4); the Language Filter (§4.15) with `*` and
q-weighted lists."""
import json
import time
import unittest
from urllib.parse import quote

from hub import HubTestCase, ReceiverTestCase
from receiver import Receiver

E = "/ngsi-ld/v1/entities"
Q = "/ngsi-ld/v1/entityOperations/query"
T = "/ngsi-ld/v1/temporal/entities"
S = "/ngsi-ld/v1/subscriptions"


def prop(value, **members):
    return dict({"type": "Property", "value": value}, **members)


def entity(eid, etype, **attrs):
    return dict({"id": eid, "type": etype}, **attrs)


class ProjectionTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        batch = [
            entity("urn:ngsi-ld:Car:c1", "Car", color=prop("red"), speed=prop(50), scope="/Seoul"),
            entity("urn:ngsi-ld:Car:c2", "Car", speed=prop(70)),
            entity("urn:ngsi-ld:Home:h1", "Home", rooms=prop(3)),
            entity("urn:ngsi-ld:Motorhome:m1", ["Home", "Vehicle", "Motorhome"], rooms=prop(1), speed=prop(90)),
            entity("urn:ngsi-ld:Camper:v1", ["Home", "Vehicle"], rooms=prop(2)),
            entity("urn:ngsi-ld:Vehicle:v2", "Vehicle", speed=prop(30)),
            entity("urn:ngsi-ld:Sign:s1", "Sign",
                   name={"type": "LanguageProperty",
                         "languageMap": {"ko": "정지", "en": "Stop", "fr-CH": "Arrêt (CH)", "fr": "Arrêt"}}),
            entity("urn:ngsi-ld:Sign:s2", "Sign",
                   name={"type": "LanguageProperty", "languageMap": {"@none": "STOP", "de": "Halt"}}),
        ]
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create", batch)
        assert r.status == 201, r

    def get(self, path, status=200):
        r = self.hub.get(path)
        self.assertEqual(r.status, status, r)
        return r.json()

    def ids(self, params):
        return sorted(e["id"] for e in self.get(f"{E}?{params}&limit=100"))

    # --- pick / omit: grammar and errors (§4.21) ---------------------------------------------
    def test_pick_grammar_accepts_comma_and_pipe(self):
        """§4.21: "orOp = %x7C / %x2C ; | ," — "either a comma or a pipe character can be used
        as alternative representations of the or operator"."""
        eid = "urn:ngsi-ld:Car:c1"
        want = {"id": eid, "color": {"type": "Property", "value": "red"}}
        self.assertEqual(self.get(f"{E}/{eid}?pick=id,color"), want)
        self.assertEqual(self.get(f"{E}/{eid}?pick=" + quote("id|color")), want)
        self.assertEqual(self.get(f"{E}/{eid}?pick=scope,speed&options=keyValues"), {"scope": "/Seoul", "speed": 50})

    def test_pick_grammar_errors_are_bad_request_data(self):
        """§4.21 grammar (ProjectionTerm = AttrName *1(LinkedEntityTerm) *(orOp ProjectionTerm)):
        text outside it is not a projection. §5.7.2.4: "If ... the query ... [is] not
        syntactically valid ... an error of type BadRequestData shall be raised"; §5.7.1.4 and
        §5.7.2.4: "If projection attributes are present and indicate the use of Linked Entity
        retrieval and the use of Linked Entity retrieval is not specified ... an error of type
        BadRequestData shall be raised" (the temporal API retrieves no Linked Entities)."""
        eid = "urn:ngsi-ld:Car:c1"
        for param in ("pick=", "pick=id,,color", "pick=id,", "pick=,id", "omit=" + quote("a||b"),
                      "pick=" + quote("a=b"), "pick=" + quote("owner{name"), "pick=" + quote("name}"),
                      "pick=" + quote("owner{}"), "pick=" + quote("owner{name"), "omit=" + quote("id{name}")):
            with self.subTest(param):
                body = self.assertProblem(self.hub.get(f"{E}/{eid}?{param}"), 400, "BadRequestData")
                self.assertTrue("pick" in body["detail"] or "omit" in body["detail"], body)
                self.assertProblem(self.hub.get(f"{E}?type=Car&{param}"), 400, "BadRequestData")
        # The temporal API retrieves no Linked Entities: a nested term there is refused.
        body = self.assertProblem(self.hub.get(f"/ngsi-ld/v1/temporal/entities/{eid}?pick=" + quote("owner{name}")),
                                  400, "BadRequestData")
        self.assertIn("Linked Entity", body["detail"])

    def test_pick_and_omit_together(self):
        """Both are "Comma separated list of strings" URL parameters (Table 6.5.3.1-1): pick
        reduces the entity "to only contain the listed Entity members", omit removes "the
        listed Entity members". Given together both apply; a member both picked and omitted is
        a contradiction: BadRequestData (this hub's choice, docs/API.md)."""
        eid = "urn:ngsi-ld:Car:c1"
        self.assertEqual(self.get(f"{E}/{eid}?pick=id,color&omit=speed"),
                         {"id": eid, "color": {"type": "Property", "value": "red"}})
        self.assertProblem(self.hub.get(f"{E}/{eid}?pick=id,type,color&omit=type"), 400, "BadRequestData")
        body = self.assertProblem(self.hub.get(f"{E}/{eid}?pick=id,color&omit=color"), 400, "BadRequestData")
        self.assertIn("color", body["detail"])
        self.assertProblem(self.hub.get(f"{E}?type=Car&pick=speed&omit=speed"), 400, "BadRequestData")

    def test_pick_or_omit_with_attrs_is_refused(self):
        """attrs: "A synonym for the pick parameter, except that id, type, scope are not
        allowed. Deprecated" (Table 6.5.3.1-1): giving a projection twice is ambiguous, so
        BadRequestData (this hub's choice, docs/API.md)."""
        eid = "urn:ngsi-ld:Car:c1"
        for params in ("attrs=color&pick=color", "attrs=color&omit=speed"):
            with self.subTest(params):
                body = self.assertProblem(self.hub.get(f"{E}/{eid}?{params}"), 400, "BadRequestData")
                self.assertIn("attrs", body["detail"])
                self.assertProblem(self.hub.get(f"{E}?type=Car&{params}"), 400, "BadRequestData")
        body = {"type": "Query", "entities": [{"type": "Car"}], "attrs": ["speed"]}
        self.assertProblem(self.hub.post(Q + "?pick=id", body), 400, "BadRequestData")

    # --- projection not found (§5.7.1.4) ------------------------------------------------------
    def test_retrieve_with_nothing_projected_is_not_found(self):
        """§5.7.1.4: "If the optional Attribute list is present and the NGSI-LD endpoint does
        know about a matching Entity for the Entity ID, but this Entity does not have any of the
        Attributes in the Attribute list, then an error of type ResourceNotFound shall be
        raised." The list is the projection attributes: attrs, or the Attributes pick names."""
        eid = "urn:ngsi-ld:Car:c2"  # speed only
        body = self.assertProblem(self.hub.get(f"{E}/{eid}?attrs=color"), 404, "ResourceNotFound")
        self.assertIn(eid, body["detail"])
        self.assertProblem(self.hub.get(f"{E}/{eid}?pick=color"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{E}/{eid}?pick=id,color,rooms"), 404, "ResourceNotFound")
        # One of them present is enough; members that are not Attributes need none.
        self.assertEqual(self.get(f"{E}/{eid}?pick=id,color,speed&options=keyValues"), {"id": eid, "speed": 70})
        self.assertEqual(self.get(f"{E}/{eid}?attrs=color,speed&options=keyValues"),
                         {"id": eid, "type": "Car", "speed": 70})
        self.assertEqual(self.get(f"{E}/{eid}?pick=id,type"), {"id": eid, "type": "Car"})
        self.assertEqual(self.get(f"{E}/{eid}?omit=color"), self.get(f"{E}/{eid}"))

    def test_query_pick_selects_entities_holding_a_picked_attribute(self):
        """§5.7.2.4: "if the Attribute list is present, in order for an Entity to match, it
        shall contain at least one of the Attributes in the projection Attribute list" — an
        entity without any picked Attribute is not answered as an empty object."""
        got = self.get(f"{E}?type=Car&pick=color&limit=100")
        self.assertEqual(got, [{"color": {"type": "Property", "value": "red"}}])
        got = self.get(f"{E}?type=Car&pick=id,color,speed&options=keyValues&limit=100")
        self.assertEqual(got, [{"id": "urn:ngsi-ld:Car:c1", "color": "red", "speed": 50},
                               {"id": "urn:ngsi-ld:Car:c2", "speed": 70}])
        # pick of entity members only, and omit, select nothing.
        self.assertEqual(self.get(f"{E}?type=Car&pick=id&limit=100"),
                         [{"id": "urn:ngsi-ld:Car:c1"}, {"id": "urn:ngsi-ld:Car:c2"}])
        self.assertEqual(len(self.get(f"{E}?type=Car&omit=color,speed&limit=100")), 2)
        # POST /entityOperations/query takes them as URL parameters.
        body = {"type": "Query", "entities": [{"type": "Car"}]}
        r = self.hub.post(Q + "?pick=color&options=keyValues", body)
        self.assertEqual((r.status, r.json()), (200, [{"color": "red"}]), r)

    # --- Entity Type Selection Language (§4.17) ----------------------------------------------
    def test_type_selection_in_get_query(self):
        """§4.17: "Entity Types are specified as a disjunction of elements, where each element
        can either directly be an Entity Type or a conjunction of multiple Entity Types";
        EXAMPLE 1 Building|House (or Building,House), EXAMPLE 2 (Home;Vehicle), EXAMPLE 3
        (Home;Vehicle)|Motorhome."""
        both = ["urn:ngsi-ld:Camper:v1", "urn:ngsi-ld:Motorhome:m1"]
        self.assertEqual(self.ids("type=" + quote("(Home;Vehicle)")), both)
        self.assertEqual(self.ids("type=" + quote("(Vehicle;Home)")), both)
        with_cars = ["urn:ngsi-ld:Camper:v1", "urn:ngsi-ld:Car:c1", "urn:ngsi-ld:Car:c2", "urn:ngsi-ld:Motorhome:m1"]
        self.assertEqual(self.ids("type=" + quote("(Home;Vehicle)|Car")), with_cars)
        self.assertEqual(self.ids("type=" + quote("Car|(Home;Vehicle)")), with_cars)
        self.assertEqual(self.ids("type=" + quote("(Home;Vehicle),Sign")),
                         ["urn:ngsi-ld:Camper:v1", "urn:ngsi-ld:Motorhome:m1", "urn:ngsi-ld:Sign:s1", "urn:ngsi-ld:Sign:s2"])
        self.assertEqual(self.ids("type=" + quote("(Home;Vehicle;Motorhome)")), ["urn:ngsi-ld:Motorhome:m1"])
        self.assertEqual(self.ids("type=" + quote("Home|Vehicle")),
                         ["urn:ngsi-ld:Camper:v1", "urn:ngsi-ld:Home:h1", "urn:ngsi-ld:Motorhome:m1", "urn:ngsi-ld:Vehicle:v2"])
        # Full IRIs and short names mix; with another filter (q) the conjunction still holds.
        iri = quote("https://uri.etsi.org/ngsi-ld/default-context/Home", safe="")
        self.assertEqual(self.ids(f"type=({iri};Vehicle)"), both)
        self.assertEqual(self.ids("type=" + quote("(Home;Vehicle)") + "&q=" + quote("rooms>1")), ["urn:ngsi-ld:Camper:v1"])
        r = self.hub.get(f"{E}?type=" + quote("(Home;Vehicle)") + "&count=true&limit=1")
        self.assertEqual(r.header("NGSILD-Results-Count"), "2", r)

    def test_type_selection_errors(self):
        """§4.17 grammar: "For logical and grouping parenthesis are needed" — a conjunction
        without them, an unbalanced parenthesis or an empty element is not a selection:
        BadRequestData (§5.7.2.4, not syntactically valid)."""
        for t in ("Home;Vehicle", "(Home;Vehicle", "Home;Vehicle)", "(Home;)", "Home,,Car", "()", "Home|",
                  "((Home))", "(Home)(Car)"):
            with self.subTest(t):
                body = self.assertProblem(self.hub.get(f"{E}?type=" + quote(t)), 400, "BadRequestData")
                self.assertIn("type", body["detail"])

    def test_type_star_selects_every_type(self):
        """Table 6.4.3.2-1, type: "Selection of Entity Types as per clause 4.17. "*" is also
        allowed as a value" — every type, and it counts as the query's type selector."""
        r = self.hub.get(f"{E}?type=*&count=true&limit=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "8")

    def test_projection_in_geojson_and_with_sys_attrs(self):
        """pick applies to the entity before its GeoJSON Feature is built (§4.5.16: the
        Feature's properties are the Entity's members), and createdAt/modifiedAt are members
        that pick may name."""
        eid = "urn:ngsi-ld:Car:c1"
        r = self.hub.get(f"{E}/{eid}?pick=id,color&options=keyValues", headers={"Accept": "application/geo+json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["type"], r.json()["properties"]), ("Feature", {"color": "red"}))
        got = self.get(f"{E}/{eid}?pick=id,createdAt,speed&options=sysAttrs,keyValues")
        self.assertEqual(sorted(got), ["createdAt", "id", "speed"])

    def test_type_selection_in_retrieve_and_post_query(self):
        """Retrieve Entity: "A selector of Entity types as specified by clause 4.17" (§5.7.1.3);
        Query: EntitySelector type is "Selection of Entity Types as per clause 4.17"."""
        self.assertEqual(self.get(f"{E}/urn:ngsi-ld:Motorhome:m1?pick=id&type=" + quote("(Home;Vehicle)")),
                         {"id": "urn:ngsi-ld:Motorhome:m1"})
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Home:h1?type=" + quote("(Home;Vehicle)")), 404,
                           "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Home:h1?type=" + quote("(Home")), 400, "BadRequestData")
        body = {"type": "Query", "entities": [{"type": "(Home;Vehicle)"}, {"type": "Sign"}]}
        r = self.hub.post(Q + "?limit=100", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["id"] for e in r.json()),
                         ["urn:ngsi-ld:Camper:v1", "urn:ngsi-ld:Motorhome:m1", "urn:ngsi-ld:Sign:s1", "urn:ngsi-ld:Sign:s2"])
        body = {"type": "Query", "entities": [{"type": "Home;Vehicle"}]}
        self.assertProblem(self.hub.post(Q, body), 400, "BadRequestData")

    # --- Language filter (§4.15) --------------------------------------------------------------
    def lang(self, eid, value):
        return self.get(f"{E}/{eid}?options=keyValues&pick=name&lang=" + quote(value))["name"]

    def test_lang_star_and_weighted_lists(self):
        """§4.15: lang="*" — "return LanguageProperties as a string in any supported language";
        "In any case, the attribute in question shall be augmented with an additional
        non-reified subproperty lang indicating the actual language returned"; EXAMPLE 4
        lang="fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5" ranks by quality value."""
        s1 = "urn:ngsi-ld:Sign:s1"
        star = self.get(f"{E}/{s1}?pick=name&lang=*")["name"]
        self.assertEqual(star["type"], "Property")
        self.assertIn(star["lang"], {"ko", "en", "fr-CH", "fr"})
        self.assertEqual(star["value"], {"ko": "정지", "en": "Stop", "fr-CH": "Arrêt (CH)", "fr": "Arrêt"}[star["lang"]])
        self.assertEqual(self.lang(s1, "fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5"), "Arrêt (CH)")
        self.assertEqual(self.lang(s1, "en;q=0.8,ko"), "정지")        # no weight is q=1
        self.assertEqual(self.lang(s1, "de;q=1,en;q=0.5,ko;q=0.7"), "정지")
        self.assertEqual(self.lang(s1, "ko;q=0,en;q=0.1"), "Stop")    # q=0: not acceptable
        self.assertEqual(self.lang(s1, "EN"), "Stop")                  # tags compare case-insensitively
        r = self.get(f"{E}?type=Sign&pick=name&lang=" + quote("de,en;q=0.5") + "&limit=10")
        self.assertEqual([e["name"] for e in r], [{"type": "Property", "value": "Stop", "lang": "en"},
                                                 {"type": "Property", "value": "Halt", "lang": "de"}])

    def test_lang_range_serves_a_more_specific_tag_and_falls_back_to_none(self):
        """§4.15: langtag "according to the rules as mandated by IETF RFC 5646 [28], and IETF
        RFC 3282"; "If the Context Broker cannot serve any matching language, it shall default
        to any supported language"; §5.7.2.5: "If no match can be made for a
        LanguageProperty, then the default identified by the JSON-LD "@none" shall be chosen
        if present"."""
        s2 = "urn:ngsi-ld:Sign:s2"
        none = self.get(f"{E}/{s2}?pick=name&lang=ja")["name"]
        self.assertEqual(none, {"type": "Property", "value": "STOP"})
        self.assertEqual(self.lang("urn:ngsi-ld:Sign:s1", "fr-BE,fr-CH"), "Arrêt (CH)")
        self.assertEqual(self.lang("urn:ngsi-ld:Sign:s1", "fr"), "Arrêt")  # exact before prefix
        self.assertEqual(self.lang(s2, "de-AT"), "STOP")  # a range never serves a shorter tag

    def test_lang_errors(self):
        """A `lang` outside RFC 9110's Accept-Language list syntax is BadRequestData."""
        for value in ("en,,ko", "en;q=2", "en;q=0.1234", "en;x=1", "e n", "en;q=", ""):
            with self.subTest(value):
                body = self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Sign:s1?lang=" + quote(value)), 400,
                                          "BadRequestData")
                self.assertIn("lang", body["detail"])


class TemporalProjectionTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for eid, types in (("urn:ngsi-ld:Camper:t1", ["Home", "Vehicle"]), ("urn:ngsi-ld:Home:t2", "Home")):
            body = {"id": eid, "type": types,
                    "rooms": [prop(i, observedAt=f"2024-01-0{i}T00:00:00Z") for i in (1, 2)],
                    "speed": [prop(10 * i, observedAt=f"2024-01-0{i}T00:00:00Z") for i in (1, 2)]}
            r = cls.hub.post(T, body)
            assert r.status == 201, r

    def test_temporal_pick_omit_and_type_selection(self):
        """§5.7.3/§5.7.4 Retrieve/Query Temporal Evolution take pick and omit (Table 6.19.3.1-1:
        "Each String is an Entity member ... When defined, the listed Entity members are
        removed") and a type selection as per §4.17."""
        when = "timerel=after&timeAt=2023-12-31T00:00:00Z"
        r = self.hub.get(f"{T}/urn:ngsi-ld:Camper:t1?pick=id,speed")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json()), {"id", "speed"})
        self.assertEqual(len(r.json()["speed"]), 2)
        r = self.hub.get(f"{T}?type=" + quote("(Home;Vehicle)") + f"&{when}&omit=rooms,type")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(e["id"], sorted(e)) for e in r.json()], [("urn:ngsi-ld:Camper:t1", ["id", "speed"])])
        r = self.hub.get(f"{T}?type=Home&{when}&format=temporalValues&pick=id,rooms")
        self.assertEqual([sorted(e) for e in r.json()], [["id", "rooms"], ["id", "rooms"]])
        self.assertProblem(self.hub.get(f"{T}?type=Home&{when}&pick=id,,rooms"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{T}?type=Home&{when}&attrs=rooms&pick=rooms"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{T}?type=" + quote("(Home") + f"&{when}"), 400, "BadRequestData")
        body = {"type": "Query", "entities": [{"type": "(Vehicle;Home)"}],
                "temporalQ": {"timerel": "after", "timeAt": "2023-12-31T00:00:00Z"}}
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query?pick=id", body)
        self.assertEqual((r.status, r.json()), (200, [{"id": "urn:ngsi-ld:Camper:t1"}]), r)


class SubscriptionProjectionTest(ReceiverTestCase):
    hub_args = ("--notify-retry-initial-ms", "50", "--notify-retry-max-ms", "200")

    def subscribe(self, name, status=201, **members):
        notification = dict({"endpoint": {"uri": self.receiver.url(f"/{name}")}}, **members.pop("notification", {}))
        body = dict({"id": f"urn:ngsi-ld:Subscription:{name}", "type": "Subscription",
                     "notification": notification}, **members)
        r = self.hub.post(S, body)
        self.assertEqual(r.status, status, r)
        return r

    def wait(self, path, count, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.receiver.entities(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.receiver.entities(path)

    def test_notification_pick_and_omit(self):
        """NotificationParams pick / omit (§5.2.14): "Entity members to be included/excluded
        in the notification payload body" with the §4.21 projection rules."""
        self.subscribe("np-pick", entities=[{"type": "Boat"}], notification={"pick": ["id", "speed"]})
        self.subscribe("np-omit", entities=[{"type": "Boat"}], notification={"omit": ["type", "speed"],
                                                                            "format": "keyValues"})
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Boat:b1", "type": "Boat", "speed": prop(5), "name": prop("Sea")})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.wait("/np-pick", 1), [{"id": "urn:ngsi-ld:Boat:b1", "speed": {"type": "Property", "value": 5}}])
        self.assertEqual(self.wait("/np-omit", 1), [{"id": "urn:ngsi-ld:Boat:b1", "name": "Sea"}])
        got = self.hub.get(f"{S}/urn:ngsi-ld:Subscription:np-pick").json()
        self.assertEqual(got["notification"]["pick"], ["id", "speed"])

    def test_notification_projection_is_updated_and_removed(self):
        """§5.8.2 Update Subscription merges the notification members; a null removes an
        optional one (docs/API.md), here pick, after which every member is notified again."""
        self.subscribe("np-patch", entities=[{"type": "Raft"}], notification={"pick": ["id"]})
        sub = f"{S}/urn:ngsi-ld:Subscription:np-patch"
        r = self.hub.patch(sub, {"notification": {"pick": ["id", "size"], "omit": ["speed"]}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(sub).json()["notification"]["pick"], ["id", "size"])
        r = self.hub.patch(sub, {"notification": {"omit": ["size"]}})  # the result as a whole: size in both
        self.assertProblem(r, 400, "BadRequestData")
        r = self.hub.patch(sub, {"notification": {"pick": None, "omit": None}})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("pick", self.hub.get(sub).json()["notification"])
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Raft:r1", "type": "Raft", "size": prop(2)})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.wait("/np-patch", 1),
                         [{"id": "urn:ngsi-ld:Raft:r1", "type": "Raft", "size": {"type": "Property", "value": 2}}])

    def test_notification_lang_list(self):
        """Subscription lang (§5.2.12): "Language filter to be applied to the query (see
        clause 4.15)" — the weighted list ranks the languages of the notified values."""
        self.subscribe("np-lang", entities=[{"type": "Plaque"}], lang="ko;q=0.5,en",
                       notification={"pick": ["name"]})
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Plaque:p1", "type": "Plaque",
                              "name": {"type": "LanguageProperty", "languageMap": {"ko": "명판", "en": "Plaque"}}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.wait("/np-lang", 1), [{"name": {"type": "Property", "value": "Plaque", "lang": "en"}}])

    def test_notification_projection_errors(self):
        """BadRequestData as for the URL parameters: empty arrays, invalid grammar, Linked
        Entity terms, a member both picked and omitted, pick with attributes."""
        cases = {
            "empty": {"pick": []},
            "not-array": {"pick": "id"},
            "bad-item": {"omit": ["a,,b"]},
            "linked": {"pick": ["owner{name}"]},
            "both": {"pick": ["id", "speed"], "omit": ["speed"]},
            "with-attributes": {"pick": ["speed"], "attributes": ["speed"]},
        }
        for name, notification in cases.items():
            with self.subTest(name):
                r = self.subscribe(f"np-bad-{name}", status=400, entities=[{"type": "Boat"}], notification=notification)
                self.assertProblem(r, 400, "BadRequestData")

    def test_subscription_type_selection(self):
        """EntitySelector type: "Selection of Entity Types as per clause 4.17" — the
        subscription fires only for entities holding every type of an element."""
        self.subscribe("np-types", entities=[{"type": "(Boat;Home)"}], notification={"pick": ["id"]})
        got = self.hub.get(f"{S}/urn:ngsi-ld:Subscription:np-types").json()
        self.assertEqual(got["entities"], [{"type": "(Boat;Home)"}])
        written = (("urn:ngsi-ld:Boat:b9", "Boat"), ("urn:ngsi-ld:Houseboat:h9", ["Home", "Boat"]),
                   ("urn:ngsi-ld:Home:h8", "Home"), ("urn:ngsi-ld:Houseboat:h10", ["Boat", "Home", "Car"]))
        for eid, types in written:
            r = self.hub.post(E, {"id": eid, "type": types, "speed": prop(1)})
            self.assertEqual(r.status, 201, r)
        # The two that match are notified; the others, written before the last, never are.
        got = self.wait("/np-types", 2)
        self.assertEqual(sorted(e["id"] for e in got), ["urn:ngsi-ld:Houseboat:h10", "urn:ngsi-ld:Houseboat:h9"])
        r = self.subscribe("np-types-bad", status=400, entities=[{"type": "Boat;Home"}])
        self.assertProblem(r, 400, "BadRequestData")
        r = self.subscribe("np-lang-bad", status=400, entities=[{"type": "Boat"}], lang="en;q=7")
        self.assertProblem(r, 400, "BadRequestData")


if __name__ == "__main__":
    unittest.main()
