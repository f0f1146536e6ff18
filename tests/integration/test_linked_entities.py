"""Linked Entity Retrieval (GS CIM 009 v1.8 §4.5.23) over real HTTP: `join=inline|flat`,
`joinLevel`, `containedBy`, the nested projection `rel{attr}` of §4.21, on GET /entities/{id},
GET /entities and POST /entityOperations/query, `notification.join` in subscriptions, the
reader's rights on linked entities, and the bounds (joinLevel, linked entities per answer,
cycles)."""
import unittest

from guarded_hub import GuardedHub
from hub import HubTestCase, ReceiverTestCase
from receiver import Receiver

E = "/ngsi-ld/v1/entities"
Q = "/ngsi-ld/v1/entityOperations/query"
S = "/ngsi-ld/v1/subscriptions"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"


def prop(value):
    return {"type": "Property", "value": value}


def rel(target, **members):
    return dict({"type": "Relationship", "object": target}, **members)


def ent(eid, etype, **attrs):
    return dict({"id": eid, "type": etype}, **attrs)


def urn(kind, name):
    return f"urn:ngsi-ld:{kind}:{name}"


class LinkedEntitiesTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        P = urn("Parking", "p1")
        O = urn("Person", "o1")
        entities = [
            ent(urn("Car", "c1"), "Car", speed=prop(50), isParked=rel(P)),
            ent(urn("Car", "c2"), "Car", speed=prop(30), isParked=rel(P)),
            ent(P, "Parking", name=prop("Downtown"), capacity=prop(120), operator=rel(O)),
            ent(O, "Person", name=prop("Kim")),
            # A cycle A -> B -> A.
            ent(urn("Node", "a"), "Node", next=rel(urn("Node", "b"))),
            ent(urn("Node", "b"), "Node", next=rel(urn("Node", "a")), label=prop("b")),
            # A target that does not exist.
            ent(urn("Car", "lost"), "Lost", isParked=rel(urn("Parking", "nowhere"))),
            # Several targets: a Relationship with an array of objects and a ListRelationship.
            ent(urn("Bus", "b1"), "Bus", passengers=rel([O, urn("Person", "o2"), urn("Person", "ghost")]),
                route={"type": "ListRelationship", "objectList": [{"object": urn("Stop", "s2")}, {"object": urn("Stop", "s1")}]}),
            ent(urn("Person", "o2"), "Person", name=prop("Lee")),
            ent(urn("Stop", "s1"), "Stop", name=prop("One")),
            ent(urn("Stop", "s2"), "Stop", name=prop("Two")),
        ]
        r = cls.hub.post(UPSERT, entities)
        assert r.status in (201, 204), r

    def get(self, path, status=200):
        r = self.hub.get(path)
        self.assertEqual(r.status, status, r)
        return r.json()

    # --- join=inline ------------------------------------------------------------------------
    def test_inline_adds_the_target_entity_to_the_relationship(self):
        """§4.5.23.2 / §5.2.6: a Relationship gets an `entity` member — "An inline Entity obtained
        by Linked Entity Retrieval, corresponding to the Relationship's target object"."""
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline")
        linked = car["isParked"]["entity"]
        self.assertEqual(car["isParked"]["object"], urn("Parking", "p1"))
        self.assertEqual((linked["id"], linked["type"], linked["name"]["value"]), (urn("Parking", "p1"), "Parking", "Downtown"))
        self.assertNotIn("@context", linked)
        # joinLevel defaults to 1 (§4.5.23): the parking's own operator is not followed.
        self.assertNotIn("entity", linked["operator"])
        self.assertNotIn("entity", self.get(f"{E}/{urn('Car', 'c1')}")["isParked"])  # no join, no entity

    def test_inline_join_level_two_follows_two_hops(self):
        """Query.joinLevel: "Depth of Linked Entity retrieval to apply"."""
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&joinLevel=2")
        self.assertEqual(car["isParked"]["entity"]["operator"]["entity"]["name"]["value"], "Kim")

    def test_inline_of_several_targets_and_of_a_list_relationship(self):
        """§5.2.6 `entity`: an Entity or an array of them; §5.2.37 `entityList`: "An array of inline
        Entity ... corresponding to the ListRelationship's target object". A target that does not
        exist is left out."""
        bus = self.get(f"{E}/{urn('Bus', 'b1')}?join=inline")
        self.assertEqual([p["id"] for p in bus["passengers"]["entity"]], [urn("Person", "o1"), urn("Person", "o2")])
        self.assertEqual([s["name"]["value"] for s in bus["route"]["entityList"]], ["Two", "One"])  # objectList order

    def test_inline_target_missing_leaves_the_relationship_as_it_is(self):
        lost = self.get(f"{E}/{urn('Car', 'lost')}?join=inline")
        self.assertEqual(lost["isParked"], rel(urn("Parking", "nowhere")))

    def test_inline_key_values_replaces_the_target_uri_by_the_entity(self):
        """Simplified representation: the Relationship's value is its target; inline, the linked
        entity (keyValues too) takes the place of the URI; a missing target stays a URI."""
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&options=keyValues")
        self.assertEqual(car["isParked"], {"id": urn("Parking", "p1"), "type": "Parking", "name": "Downtown",
                                           "capacity": 120, "operator": urn("Person", "o1")})
        bus = self.get(f"{E}/{urn('Bus', 'b1')}?join=inline&format=keyValues")
        self.assertEqual([p["name"] if isinstance(p, dict) else p for p in bus["passengers"]],
                         ["Kim", "Lee", urn("Person", "ghost")])

    def test_inline_concise(self):
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&format=concise")
        self.assertEqual(car["isParked"]["object"], urn("Parking", "p1"))
        self.assertEqual(car["isParked"]["entity"]["name"], "Downtown")

    def test_cycle_is_expanded_once(self):
        """§4.5.23: whenever a Linked Entity has already been encountered during graph traversal,
        its Linked Entities shall not undergo further expansion: A -> B -> A stops at A."""
        a = self.get(f"{E}/{urn('Node', 'a')}?join=inline&joinLevel=5")
        b = a["next"]["entity"]
        self.assertEqual(b["label"]["value"], "b")
        self.assertEqual(b["next"]["entity"]["id"], urn("Node", "a"))
        self.assertNotIn("entity", b["next"]["entity"]["next"])
        flat = self.get(f"{E}/{urn('Node', 'a')}?join=flat&joinLevel=5")
        self.assertEqual([e["id"] for e in flat], [urn("Node", "a"), urn("Node", "b")])

    # --- join=flat ---------------------------------------------------------------------------
    def test_flat_retrieve_is_the_entity_followed_by_its_linked_entities(self):
        """§4.5.23.3: the flat form returns the Linking Entity and the Linked Entities as a flat
        array, each entity once."""
        got = self.get(f"{E}/{urn('Car', 'c1')}?join=flat&joinLevel=2")
        self.assertEqual([e["id"] for e in got], [urn("Car", "c1"), urn("Parking", "p1"), urn("Person", "o1")])
        self.assertNotIn("entity", got[0]["isParked"])

    def test_flat_query_lists_each_linked_entity_once(self):
        got = self.get(f"{E}?type=Car&join=flat")
        self.assertEqual([e["id"] for e in got], [urn("Car", "c1"), urn("Car", "c2"), urn("Parking", "p1")])
        r = self.hub.get(f"{E}?type=Car&join=flat&count=true&limit=1")
        self.assertEqual([e["id"] for e in r.json()], [urn("Car", "c1"), urn("Parking", "p1")])
        self.assertEqual(r.header("NGSILD-Results-Count"), "2")  # counts the matches, not the linked

    def test_contained_by_ids_are_not_listed_again(self):
        """Query.containedBy: "Entity ids already seen while walking the entity graph"."""
        got = self.get(f"{E}/{urn('Car', 'c1')}?join=flat&joinLevel=2&containedBy={urn('Parking', 'p1')}")
        self.assertEqual([e["id"] for e in got], [urn("Car", "c1")])

    def test_post_query_join_in_url_contained_by_in_body(self):
        """§5.2.23 Query: containedBy is a member of the body; join/joinLevel are URL parameters
        (the Query data type has no member for them)."""
        body = {"type": "Query", "entities": [{"type": "Car"}]}
        r = self.hub.post(f"{Q}?join=flat", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], [urn("Car", "c1"), urn("Car", "c2"), urn("Parking", "p1")])
        r = self.hub.post(f"{Q}?join=flat", dict(body, containedBy=[urn("Parking", "p1")]))
        self.assertEqual([e["id"] for e in r.json()], [urn("Car", "c1"), urn("Car", "c2")])
        r = self.hub.post(f"{Q}?join=flat", dict(body, containedBy="urn:x:1"))
        self.assertProblem(r, 400, "BadRequestData")
        r = self.hub.post(f"{Q}?join=inline", body)
        self.assertEqual(r.json()[0]["isParked"]["entity"]["id"], urn("Parking", "p1"))

    def test_geojson_flat_makes_features(self):
        r = self.hub.get(f"{E}/{urn('Car', 'c1')}?join=flat", headers={"Accept": "application/geo+json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([f["id"] for f in r.json()["features"]], [urn("Car", "c1"), urn("Parking", "p1")])

    def test_json_ld_puts_the_context_on_each_top_level_entity_only(self):
        """§5.2.6: the inline Entity is part of the Relationship; @context belongs to the answer's
        entities (each element of a flat array), not to the inlined ones."""
        r = self.hub.get(f"{E}/{urn('Car', 'c1')}?join=flat", headers={"Accept": "application/ld+json"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(all("@context" in e for e in r.json()))
        r = self.hub.get(f"{E}/{urn('Car', 'c1')}?join=inline", headers={"Accept": "application/ld+json"})
        self.assertIn("@context", r.json())
        self.assertNotIn("@context", r.json()["isParked"]["entity"])

    # --- nested pick / omit (§4.21) -------------------------------------------------------------
    def test_nested_pick_applies_to_the_linked_entity(self):
        """§4.21: pick=isParked{name} keeps isParked, and of the linked entity its name (id and
        type say which entity it is and always stay)."""
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&pick=id,isParked{{name}}")
        self.assertEqual(set(car), {"id", "isParked"})
        self.assertEqual(set(car["isParked"]["entity"]), {"id", "type", "name"})
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&joinLevel=2&pick=isParked{{operator{{name}}}}")
        self.assertEqual(set(car["isParked"]["entity"]), {"id", "type", "operator"})
        self.assertEqual(car["isParked"]["entity"]["operator"]["entity"]["name"]["value"], "Kim")

    def test_nested_omit_removes_from_the_linked_entity_only(self):
        car = self.get(f"{E}/{urn('Car', 'c1')}?join=inline&omit=isParked{{capacity,operator}}")
        self.assertIn("speed", car)
        self.assertEqual(set(car["isParked"]["entity"]), {"id", "type", "name"})

    def test_a_relationship_not_picked_is_not_followed(self):
        got = self.get(f"{E}/{urn('Car', 'c1')}?join=flat&pick=id,speed")
        self.assertEqual([e["id"] for e in got], [urn("Car", "c1")])

    def test_bad_nested_projection_is_400(self):
        for bad in ("isParked{name", "isParked{}", "isParked}name", "id{name}", "a{b{c{d{e{f{g{h}}}}}}}"):
            r = self.hub.get(f"{E}/{urn('Car', 'c1')}?pick={bad}")
            body = self.assertProblem(r, 400, "BadRequestData")
            self.assertIn("pick", body["detail"])

    def test_nested_projection_without_join_is_400(self):
        """§4.21 / OpenAPI Query.pick: "Each String is an Entity member ("id", "type", "scope" or a
        projected Attribute name)"; a nested term projects the members of a Linked Entity, which
        is part of the answer only with join (§4.5.23). Without join (or with join=@none) it
        would project nothing: 400 BadRequestData naming the parameter and the need for join,
        on retrieve, GET query and POST query alike; with join it is taken."""
        one = f"{E}/{urn('Car', 'c1')}"
        cases = [(f"{one}?pick=id,isParked{{name}}", "pick"), (f"{one}?omit=isParked{{capacity}}", "omit"),
                 (f"{one}?join=@none&pick=isParked{{name}}", "pick"),
                 (f"{E}?type=Car&pick=isParked{{name}}", "pick"), (f"{E}?type=Car&omit=isParked{{name}}", "omit")]
        for path, param in cases:
            with self.subTest(path=path):
                body = self.assertProblem(self.hub.get(path), 400, "BadRequestData")
                self.assertIn(param, body["detail"])
                self.assertIn("join", body["detail"])
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query?pick=isParked{name}",
                          {"type": "Query", "entities": [{"type": "Car"}]})
        self.assertIn("join", self.assertProblem(r, 400, "BadRequestData")["detail"])
        self.assertEqual(self.hub.get(f"{E}?type=Car&join=flat&pick=isParked{{name}}").status, 200)

    # --- parameter errors ------------------------------------------------------------------------
    def test_bad_join_parameters_are_400(self):
        """Query.join allows flat, inline, @none; NotificationParams.joinLevel has minimum 1."""
        for query, name in (("join=deep", "join"), ("join=flat&joinLevel=0", "joinLevel"),
                            ("join=flat&joinLevel=x", "joinLevel"), ("join=flat&joinLevel=6", "joinLevel"),
                            ("join=flat&containedBy=not%20a%20uri", "containedBy")):
            for path in (f"{E}/{urn('Car', 'c1')}?{query}", f"{E}?type=Car&{query}"):
                body = self.assertProblem(self.hub.get(path), 400, "BadRequestData")
                self.assertIn(name, body["detail"])
        got = self.get(f"{E}/{urn('Car', 'c1')}?join=@none")
        self.assertNotIn("entity", got["isParked"])

    # --- bounds ------------------------------------------------------------------------------
    def test_more_linked_entities_than_the_limit_is_403(self):
        """An answer holds at most 1,000 linked entities (documented limit): beyond,
        403 TooManyResults rather than an unbounded answer."""
        targets = [urn("Leaf", str(i)) for i in range(1001)]
        for chunk in (targets[:1000], targets[1000:]):
            r = self.hub.post(UPSERT, [ent(t, "Leaf") for t in chunk])
            self.assertIn(r.status, (201, 204), r)
        r = self.hub.post(UPSERT, [ent(urn("Tree", "big"), "Tree", leaves=rel(targets))])
        self.assertIn(r.status, (201, 204), r)
        body = self.assertProblem(self.hub.get(f"{E}/{urn('Tree', 'big')}?join=flat"), 403, "TooManyResults")
        self.assertIn("1000", body["detail"])
        self.assertEqual(self.hub.get(f"{E}/{urn('Tree', 'big')}").status, 200)


class LinkedEntitiesNotificationTest(ReceiverTestCase):
    def subscribe(self, name, notification, status=201):
        body = {"id": f"urn:ngsi-ld:Subscription:{name}", "type": "Subscription", "entities": [{"type": "Van"}],
                "notification": dict({"endpoint": {"uri": self.receiver.url(f"/{name}")}}, **notification)}
        r = self.hub.post(S, body)
        self.assertEqual(r.status, status, r)
        return r

    def test_notification_join_inline_and_flat(self):
        """§5.2.14 NotificationParams.join: "the type of Linked Entity retrieval to apply";
        joinLevel: "Depth of Linked Entity retrieval"."""
        self.hub.post(UPSERT, [ent(urn("Depot", "d1"), "Depot", name=prop("North"), city=rel(urn("City", "x"))),
                               ent(urn("City", "x"), "City", name=prop("Gimhae"))])
        self.subscribe("inline", {"join": "inline", "joinLevel": 2})
        self.subscribe("flat", {"join": "flat", "format": "keyValues"})
        r = self.hub.post(E, ent(urn("Van", "v1"), "Van", depot=rel(urn("Depot", "d1"))))
        self.assertEqual(r.status, 201, r)
        got = self.receiver.wait_for(1, path="/inline")[0]["body"]["data"]
        self.assertEqual(got[0]["depot"]["entity"]["city"]["entity"]["name"]["value"], "Gimhae")
        got = self.receiver.wait_for(1, path="/flat")[0]["body"]["data"]
        self.assertEqual([e["id"] for e in got], [urn("Van", "v1"), urn("Depot", "d1")])
        self.assertEqual(got[1]["name"], "North")
        sub = self.hub.get(f"{S}/urn:ngsi-ld:Subscription:inline").json()
        self.assertEqual((sub["notification"]["join"], sub["notification"]["joinLevel"]), ("inline", 2))
        r = self.hub.patch(f"{S}/urn:ngsi-ld:Subscription:inline", {"notification": {"join": None, "joinLevel": None}})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("join", self.hub.get(f"{S}/urn:ngsi-ld:Subscription:inline").json()["notification"])

    def test_bad_notification_join_is_400(self):
        for n, member in (({"join": "deep"}, "notification.join"), ({"join": 1}, "notification.join"),
                          ({"join": "flat", "joinLevel": 0}, "notification.joinLevel"),
                          ({"join": "flat", "joinLevel": 1.5}, "notification.joinLevel"),
                          ({"join": "flat", "joinLevel": 99}, "notification.joinLevel")):
            body = self.assertProblem(self.subscribe("bad", n, status=400), 400, "BadRequestData")
            self.assertIn(member, body["detail"])


POLICY = {"rules": [
    {"effect": "deny", "roles": ["reader", "writer"], "operations": ["read"], "idPattern": "urn:ngsi-ld:Secret:.*"},
    {"effect": "deny", "roles": ["reader", "writer"], "operations": ["read"], "types": ["Parking"], "attrs": ["code"]},
]}


class LinkedEntitiesAccessTest(unittest.TestCase):
    """Linked entities are read with the caller's rights: a target it may not see is shown
    exactly as one that does not exist, and attributes it may not read are left out."""

    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-linked-", POLICY, None, ["--audit-log", "off"]).start()
        admin = ("admin-app", "admin")
        r = cls.guarded.call("POST", UPSERT, admin, body=[
            ent(urn("Car", "k1"), "Car", isParked=rel(urn("Parking", "k")), owner=rel(urn("Secret", "s")),
                other=rel(urn("Nobody", "n"))),
            ent(urn("Parking", "k"), "Parking", name=prop("K"), code=prop("1234")),
            ent(urn("Secret", "s"), "Secret", name=prop("hidden"))])
        assert r.status in (201, 204), r.body

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def test_hidden_targets_and_attributes_stay_hidden(self):
        reader = ("nosy", "reader")
        r = self.guarded.call("GET", f"{E}/{urn('Car', 'k1')}?join=inline", reader)
        self.assertEqual(r.status, 200, r.body)
        car = r.json()
        self.assertEqual(car["isParked"]["entity"]["name"]["value"], "K")
        self.assertNotIn("code", car["isParked"]["entity"])
        self.assertNotIn("entity", car["owner"])  # the secret is like a missing target
        self.assertEqual(set(car["owner"]) - {"object"}, set(car["other"]) - {"object"})
        r = self.guarded.call("GET", f"{E}?type=Car&join=flat", reader)
        self.assertEqual([e["id"] for e in r.json()], [urn("Car", "k1"), urn("Parking", "k")])
        r = self.guarded.call("GET", f"{E}?type=Car&join=flat", ("admin-app", "admin"))
        self.assertEqual([e["id"] for e in r.json()], [urn("Car", "k1"), urn("Parking", "k"), urn("Secret", "s")])

    def test_notifications_follow_links_with_the_owners_rights(self):
        """Notifications show what the subscription's owner may read (SECURITY.md): its linked
        entities too."""
        writer = ("fleet-app", "writer")
        with Receiver() as rec:
            r = self.guarded.call("POST", S, writer, body={
                "type": "Subscription", "entities": [{"type": "Truck"}],
                "notification": {"join": "inline", "endpoint": {"uri": rec.url()}}})
            self.assertEqual(r.status, 201, r.body)
            r = self.guarded.call("POST", E, ("admin-app", "admin"), body=ent(
                urn("Truck", "t1"), "Truck", isParked=rel(urn("Parking", "k")), owner=rel(urn("Secret", "s"))))
            self.assertEqual(r.status, 201, r.body)
            truck = rec.wait_for(1)[0]["body"]["data"][0]
        self.assertEqual(truck["isParked"]["entity"]["name"]["value"], "K")
        self.assertNotIn("code", truck["isParked"]["entity"])
        self.assertNotIn("entity", truck["owner"])


if __name__ == "__main__":
    unittest.main()
