"""EntityMaps over real HTTP (GS CIM 009 v1.8 §5.14, §5.2.39, the entityMap query option of
§5.7.2 and the NGSILD-EntityMap header): a query with entityMap=true keeps the ids it matched,
names the map in NGSILD-EntityMap, and later pages sent with that header are served from the
kept list; the map can be retrieved, have its expiresAt moved, and be deleted; it is the
caller's own."""
import datetime
import re
import unittest

from guarded_hub import GuardedHub
from hub import HubTestCase

E = "/ngsi-ld/v1/entities"
MAPS = "/ngsi-ld/v1/entityMaps"
MAP_LOCATION = re.compile(r"^/ngsi-ld/v1/entityMaps/(urn:ngsi-ld:EntityMap:[0-9a-f-]{36})$")


def iso(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def bus(eid, line=1):
    return {"id": eid, "type": "Bus", "line": {"type": "Property", "value": line}}


class EntityMapTest(HubTestCase):
    def make_buses(self, prefix, n, tenant=None):
        headers = {"NGSILD-Tenant": tenant} if tenant else None
        ids = [f"urn:ngsi-ld:Bus:{prefix}:{i:02d}" for i in range(n)]
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create", [bus(i) for i in ids], headers=headers)
        self.assertEqual(r.status, 201, r)
        return ids

    def map_of(self, r):
        location = r.header("NGSILD-EntityMap")
        self.assertIsNotNone(location, r)
        m = MAP_LOCATION.match(location)
        self.assertTrue(m, location)
        return location, m.group(1)

    def test_query_makes_a_map_and_pages_come_from_it(self):
        """§5.7.2: with entityMap=true the broker keeps the EntityMap of the query and the
        response includes "NGSILD-EntityMap", the resource URI of the EntityMap used; a request
        carrying that header has its entity set determined by the EntityMap (OpenAPI
        Headers.ngsildEntityMap: "If present, the EntityMap supplied is used for determining the
        set of Entities requested during the query operation")."""
        ids = self.make_buses("p", 5)
        r = self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:p:&entityMap=true&limit=2&count=true")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], ids[:2])
        self.assertEqual(r.header("NGSILD-Results-Count"), "5")
        location, map_id = self.map_of(r)

        # The data changes: a new match that sorts first, and one of page 2 is deleted.
        self.assertEqual(self.hub.post(E, bus("urn:ngsi-ld:Bus:p:00a")).status, 201)
        self.assertEqual(self.hub.delete(f"{E}/{ids[2]}").status, 204)
        page2 = self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:p:&limit=2&offset=2&count=true",
                             headers={"NGSILD-EntityMap": location})
        self.assertEqual(page2.status, 200, page2)
        self.assertEqual([e["id"] for e in page2.json()], [ids[3]])  # the deleted one is left out
        self.assertEqual(page2.header("NGSILD-Results-Count"), "5")
        self.assertEqual(page2.header("NGSILD-EntityMap"), location)
        page3 = self.hub.get(f"{E}?limit=2&offset=4", headers={"NGSILD-EntityMap": map_id})
        self.assertEqual([e["id"] for e in page3.json()], [ids[4]])
        self.assertNotIn('rel="next"', page3.header("Link") or "")
        # Without the header, the same query sees the new entity.
        now = self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:p:&limit=2")
        self.assertEqual([e["id"] for e in now.json()], [ids[0], "urn:ngsi-ld:Bus:p:00a"])

    def test_a_map_keeps_the_order_of_the_query(self):
        """The map holds the entities in the order the query gave them (here orderBy, v1.9.1
        §4.23), and its pages follow that order."""
        ids = [f"urn:ngsi-ld:Bus:o:{i}" for i in range(4)]
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create", [bus(eid, line=10 - i) for i, eid in enumerate(ids)])
        self.assertEqual(r.status, 201, r)
        r = self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:o:&orderBy=line&entityMap=true&limit=2")
        self.assertEqual([e["id"] for e in r.json()], [ids[3], ids[2]])
        location, _ = self.map_of(r)
        self.assertEqual(list(self.hub.get(location).json()["entityMap"].keys()), ids[::-1])
        r = self.hub.get(f"{E}?limit=2&offset=2", headers={"NGSILD-EntityMap": location})
        self.assertEqual([e["id"] for e in r.json()], [ids[1], ids[0]])

    def test_retrieve_entity_map(self):
        """§5.14.1 Retrieve EntityMap, §5.2.39: id, type "EntityMap", expiresAt, entityMap (each
        entity id mapped to the registrations holding it, "@none" for one held locally) and
        linkedMaps."""
        ids = self.make_buses("r", 3)
        r = self.hub.get(f"{E}?type=Bus&q=line==1&idPattern=^urn:ngsi-ld:Bus:r:&entityMap=true&limit=1")
        location, map_id = self.map_of(r)
        got = self.hub.get(location)
        self.assertEqual(got.status, 200, got)
        m = got.json()
        self.assertEqual((m["id"], m["type"]), (map_id, "EntityMap"))
        self.assertEqual(list(m["entityMap"].keys()), ids)
        self.assertTrue(all(v == ["@none"] for v in m["entityMap"].values()), m)
        self.assertEqual(m["linkedMaps"], {})
        expires = datetime.datetime.strptime(m["expiresAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        left = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        self.assertTrue(60 < left <= 600, m["expiresAt"])
        # The OpenAPI file's spelling of the resource is the same resource.
        self.assertEqual(self.hub.get(f"/ngsi-ld/v1/entityMap/{map_id}").json(), m)

    def test_batch_query_makes_a_map(self):
        ids = self.make_buses("q", 3)
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query?entityMap=true&limit=1",
                          {"type": "Query", "entities": [{"type": "Bus", "idPattern": "^urn:ngsi-ld:Bus:q:"}]})
        self.assertEqual(r.status, 200, r)
        location, _ = self.map_of(r)
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query?limit=5&offset=1",
                          {"type": "Query", "entities": [{"type": "Bus"}]}, headers={"NGSILD-EntityMap": location})
        self.assertEqual([e["id"] for e in r.json()], ids[1:])

    def test_update_expires_at(self):
        """§5.14.2 Update EntityMap: a partial update; entityMap and linkedMaps are read-only
        (§5.2.39: "System generated")."""
        self.make_buses("u", 1)
        location, _ = self.map_of(self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:u:&entityMap=true"))
        at = iso(3000)
        r = self.hub.patch(location, {"expiresAt": at})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(location).json()["expiresAt"], at)
        for bad, word in (({"expiresAt": iso(-10)}, "expiresAt"), ({"expiresAt": "later"}, "expiresAt"),
                          ({"expiresAt": iso(10 * 86400)}, "expiresAt"), ({"entityMap": {}}, "entityMap"),
                          ({"linkedMaps": {}}, "linkedMaps"), ({"colour": "red"}, "colour"), ({}, "expiresAt"),
                          ({"type": "Entity", "expiresAt": at}, "type")):
            body = self.assertProblem(self.hub.patch(location, bad), 400, "BadRequestData")
            self.assertIn(word, body["detail"], bad)
        self.assertEqual(self.hub.get(location).json()["expiresAt"], at)

    def test_delete_entity_map(self):
        """§5.14.3 Delete EntityMap: 204, then it is unknown (404), and a query naming it is a
        400 BadRequestData naming the header."""
        self.make_buses("d", 2)
        location, map_id = self.map_of(self.hub.get(f"{E}?idPattern=^urn:ngsi-ld:Bus:d:&entityMap=true"))
        self.assertEqual(self.hub.delete(location).status, 204)
        self.assertProblem(self.hub.get(location), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(location), 404, "ResourceNotFound")
        self.assertProblem(self.hub.patch(location, {"expiresAt": iso(100)}), 404, "ResourceNotFound")
        body = self.assertProblem(self.hub.get(f"{E}?type=Bus", headers={"NGSILD-EntityMap": map_id}), 400,
                                  "BadRequestData")
        self.assertIn("NGSILD-EntityMap", body["detail"])

    def test_errors(self):
        self.assertProblem(self.hub.get(f"{MAPS}/urn:ngsi-ld:EntityMap:nope"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{MAPS}/not-a-uri"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{E}?type=Bus&entityMap=perhaps"), 400)
        body = self.assertProblem(self.hub.get(f"{E}?type=Bus", headers={"NGSILD-EntityMap": "urn:x:y"}), 400,
                                  "BadRequestData")
        self.assertIn("NGSILD-EntityMap", body["detail"])

    def test_maps_belong_to_their_tenant(self):
        """§4.14 tenants: an EntityMap made in one tenant does not exist in another."""
        self.make_buses("t", 2, tenant="maps_a")
        r = self.hub.get(f"{E}?type=Bus&entityMap=true", headers={"NGSILD-Tenant": "maps_a"})
        location, map_id = self.map_of(r)
        self.make_buses("t", 1, tenant="maps_b")
        self.assertEqual(self.hub.get(location, headers={"NGSILD-Tenant": "maps_a"}).status, 200)
        self.assertProblem(self.hub.get(location, headers={"NGSILD-Tenant": "maps_b"}), 404)
        self.assertProblem(self.hub.get(location), 404)
        r = self.hub.get(f"{E}?type=Bus", headers={"NGSILD-Tenant": "maps_b", "NGSILD-EntityMap": map_id})
        self.assertProblem(r, 400, "BadRequestData")


    def test_retrieve_with_entity_map_returns_the_map_of_the_one_entity(self):
        """§5.7.1 Retrieve Entity, 200 answer (v1.8.1 OpenAPI): "If an EntityMap has been
        requested, the HTTP response shall include an "NGSILD-EntityMap" HTTP header that contains
        the resource URI of the EntityMap resource used in the operation." """
        (eid,) = self.make_buses("ret", 1)
        r = self.hub.get(f"{E}/{eid}?entityMap=true")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], eid)
        location, map_id = self.map_of(r)
        m = self.hub.get(location)
        self.assertEqual(m.status, 200, m)
        self.assertEqual(m.json()["id"], map_id)
        self.assertEqual(m.json()["entityMap"], {eid: ["@none"]})
        # Without it (or with false) no map is made.
        for path in (f"{E}/{eid}", f"{E}/{eid}?entityMap=false"):
            with self.subTest(path=path):
                r = self.hub.get(path)
                self.assertEqual(r.status, 200, r)
                self.assertIsNone(r.header("NGSILD-EntityMap"))

    def test_retrieve_with_entity_map_errors(self):
        """A malformed entityMap value is 400 (a boolean, §6.3 parameters); an entity that is not
        found is 404 and makes no map."""
        (eid,) = self.make_buses("re", 1)
        self.assertProblem(self.hub.get(f"{E}/{eid}?entityMap=yes"), 400)
        r = self.hub.get(f"{E}/urn:ngsi-ld:Bus:missing?entityMap=true")
        self.assertProblem(r, 404, "ResourceNotFound")
        self.assertIsNone(r.header("NGSILD-EntityMap"))


class EntityMapCapTest(HubTestCase):
    hub_args = ("--entity-map-ttl-s", "2")

    def test_a_map_expires(self):
        """§5.2.39 expiresAt: "Expiration date for the EntityMap" — past it the map is gone."""
        r = self.hub.post(E, bus("urn:ngsi-ld:Bus:x:1"))
        self.assertEqual(r.status, 201, r)
        r = self.hub.get(f"{E}?type=Bus&entityMap=true")
        location = r.header("NGSILD-EntityMap")
        self.assertEqual(self.hub.get(location).status, 200)
        import time
        deadline = time.time() + 10
        while time.time() < deadline and self.hub.get(location).status == 200:
            time.sleep(0.1)
        self.assertProblem(self.hub.get(location), 404, "ResourceNotFound")


class EntityMapAccessTest(unittest.TestCase):
    """An EntityMap is the caller's: only its creator (and the tenant's admins) may read, use,
    update or delete it; to anyone else it does not exist."""

    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-maps-").start()

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def call(self, method, path, who, body=None, headers=None):
        return self.guarded.call(method, path, who, body=body, tenant="maps", headers=headers)

    def test_only_the_creator_and_admins(self):
        admin, kim, lee = ("boss", "maps:admin"), ("kim", "maps:reader"), ("lee", "maps:reader")
        r = self.call("POST", f"{E}", admin, body=bus("urn:ngsi-ld:Bus:acl:1"))
        self.assertEqual(r.status, 201, r.body)
        r = self.call("GET", f"{E}?type=Bus&entityMap=true", kim)
        self.assertEqual(r.status, 200, r.body)
        location = r.header("NGSILD-EntityMap")
        self.assertEqual(self.call("GET", location, kim).status, 200)
        self.assertEqual(self.call("GET", location, admin).status, 200)
        self.assertEqual(self.call("GET", location, lee).status, 404)
        self.assertEqual(self.call("PATCH", location, lee, body={"expiresAt": iso(100)}).status, 404)
        self.assertEqual(self.call("DELETE", location, lee).status, 404)
        r = self.call("GET", f"{E}?type=Bus", lee, headers={"NGSILD-EntityMap": location})
        self.assertEqual(r.status, 400, r.body)
        r = self.call("GET", f"{E}?type=Bus", kim, headers={"NGSILD-EntityMap": location})
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Bus:acl:1"])
        self.assertEqual(self.call("DELETE", location, kim).status, 204)


if __name__ == "__main__":
    unittest.main()
