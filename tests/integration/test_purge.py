"""Purge Entities (GS CIM 009 §5.6.21): DELETE /ngsi-ld/v1/entities with the query filters of
§5.7.2 (type, id, idPattern, attrs, q, scopeQ, geo-query), deleting the selected entities — or,
with `drop` / `keep`, only some of their attributes — answering 204, or 207 with a
BatchOperationResult naming what could not be deleted. Deletions go through the broker with the
caller's write access and notify subscriptions like single deletes; a purge selecting more than
1,000 entities deletes nothing (403 TooManyResults)."""
import unittest
from urllib.parse import quote

from guarded_hub import GuardedHub
from hub import HubTestCase, ReceiverTestCase
from receiver import Receiver
from test_notifications import NotificationAssertions, wait_entities

E = "/ngsi-ld/v1/entities"
BATCH = "/ngsi-ld/v1/entityOperations/create"


def sensor(i, kind="Sensor", level=0, scope=None, lon=127.0, lat=35.8):
    e = {"id": f"urn:ngsi-ld:{kind}:{i}", "type": kind,
         "level": {"type": "Property", "value": level},
         "note": {"type": "Property", "value": "n"},
         "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}}
    if scope:
        e["scope"] = scope
    return e


class PurgeTest(NotificationAssertions, ReceiverTestCase):
    def seed(self, entities):
        r = self.hub.post(BATCH, entities)
        self.assertEqual(r.status, 201, r)

    def ids(self, query):
        r = self.hub.get(f"{E}?{query}&limit=1000")
        self.assertEqual(r.status, 200, r)
        return sorted(e["id"] for e in r.json())

    def purge(self, query, status=204):
        r = self.hub.delete(f"{E}?{query}")
        self.assertEqual(r.status, status, r)
        return r

    def test_purge_by_type(self):
        """§5.6.21: the entities matching the type are deleted; 204 when all were."""
        self.seed([sensor(i, "Gauge") for i in range(5)] + [sensor(i, "Pump") for i in range(2)])
        self.purge("type=Gauge")
        self.assertEqual(self.ids("type=Gauge"), [])
        self.assertEqual(self.ids("type=Pump"), ["urn:ngsi-ld:Pump:0", "urn:ngsi-ld:Pump:1"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Gauge:0").status, 404)

    def test_purge_with_q_idpattern_id_and_scope(self):
        """The selection is that of Query Entities: q, idPattern, id and scopeQ narrow it."""
        self.seed([sensor(i, "Valve", level=i, scope="/jeonju/north" if i % 2 else "/jeonju/south") for i in range(8)])
        self.purge("type=Valve&q=" + quote("level>=6"))
        self.assertEqual(self.ids("type=Valve"), [f"urn:ngsi-ld:Valve:{i}" for i in range(6)])
        self.purge("type=Valve&idPattern=" + quote("Valve:[01]$"))
        self.assertEqual(self.ids("type=Valve"), [f"urn:ngsi-ld:Valve:{i}" for i in range(2, 6)])
        self.purge("id=urn:ngsi-ld:Valve:2")
        self.assertEqual(self.ids("type=Valve"), [f"urn:ngsi-ld:Valve:{i}" for i in range(3, 6)])
        self.purge("type=Valve&scopeQ=" + quote("/jeonju/north"))  # 3 and 5
        self.assertEqual(self.ids("type=Valve"), ["urn:ngsi-ld:Valve:4"])

    def test_purge_with_geo_query(self):
        self.seed([sensor(0, "Hydrant", lon=127.0, lat=35.8), sensor(1, "Hydrant", lon=127.5, lat=35.8)])
        self.purge("type=Hydrant&georel=" + quote("near;maxDistance==1000") + "&geometry=Point&coordinates=" +
                   quote("[127.0,35.8]"))
        self.assertEqual(self.ids("type=Hydrant"), ["urn:ngsi-ld:Hydrant:1"])

    def test_nothing_selected_is_204(self):
        self.purge("type=NoSuchType")

    def test_a_purge_needs_a_selector(self):
        """Deleting every entity by accident is not possible: as a query, a purge needs at least
        one of type, id, idPattern, attrs, q, a geo-query or scopeQ."""
        self.seed([sensor(0, "Keeper")])
        self.assertProblem(self.hub.delete(E), 400, "BadRequestData")
        self.assertEqual(self.ids("type=Keeper"), ["urn:ngsi-ld:Keeper:0"])

    def test_invalid_filters_are_400(self):
        self.assertProblem(self.hub.delete(f"{E}?type=A&q=" + quote("level>")), 400)
        self.assertProblem(self.hub.delete(f"{E}?id=not-a-uri"), 400, "BadRequestData")
        self.assertProblem(self.hub.delete(f"{E}?type=A&drop=a&keep=b"), 400, "BadRequestData")
        self.assertProblem(self.hub.delete(f"{E}?type=A&drop=" + quote("bad name")), 400, "BadRequestData")

    def test_too_many_selected_deletes_nothing(self):
        """The work of one request is bounded: a purge selecting more than 1,000 entities is
        403 TooManyResults and deletes none of them."""
        self.seed([sensor(i, "Meter") for i in range(1000)])
        self.seed([sensor(1000, "Meter")])
        body = self.assertProblem(self.hub.delete(f"{E}?type=Meter"), 403, "TooManyResults")
        self.assertIn("1000", body["detail"])
        r = self.hub.get(f"{E}?type=Meter&count=true&limit=0")
        self.assertEqual(r.header("NGSILD-Results-Count"), "1001")
        self.purge("type=Meter&idPattern=" + quote("Meter:1000$"))
        self.purge("type=Meter")
        self.assertEqual(self.ids("type=Meter"), [])

    def test_drop_deletes_only_the_named_attributes(self):
        self.seed([sensor(i, "Buoy", level=i) for i in range(3)])
        self.purge("type=Buoy&q=" + quote("level>=1") + "&drop=note")
        got = {e["id"]: e for e in self.hub.get(f"{E}?type=Buoy").json()}
        self.assertEqual(len(got), 3)
        self.assertIn("note", got["urn:ngsi-ld:Buoy:0"])
        self.assertNotIn("note", got["urn:ngsi-ld:Buoy:1"])
        self.assertIn("level", got["urn:ngsi-ld:Buoy:1"])

    def test_keep_deletes_every_other_attribute(self):
        self.seed([sensor(0, "Beacon")])
        self.purge("type=Beacon&keep=level")
        e = self.hub.get(f"{E}/urn:ngsi-ld:Beacon:0").json()
        self.assertEqual(sorted(k for k in e if k not in ("id", "type")), ["level"])

    def test_deletions_notify_like_single_deletes(self):
        """Purged entities are notified to subscriptions watching entityDeleted."""
        self.subscribe("purge", entities=[{"type": "Lamp"}], notificationTrigger=["entityDeleted"])
        self.seed([sensor(i, "Lamp") for i in range(3)])
        self.purge("type=Lamp")
        got = wait_entities(self.receiver, "/purge", 3)
        self.assertEqual(sorted(e["id"] for e in got), [f"urn:ngsi-ld:Lamp:{i}" for i in range(3)])
        self.assertTrue(all("deletedAt" in e for e in got), got)


POLICY = {"rules": [
    {"effect": "allow", "roles": ["parking-app"], "operations": ["read"], "types": ["ParkingSpot"]},
    {"effect": "allow", "roles": ["parking-app"], "operations": ["write"], "types": ["ParkingSpot"],
     "attrs": ["status"]},
]}


class PurgeAccessTest(unittest.TestCase):
    """Every deletion is authorized with the caller's write access: what it may not delete is
    reported (207), never deleted; what it may not read is neither deleted nor reported."""

    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-purge-", POLICY).start()
        spots = [{"id": f"urn:ngsi-ld:ParkingSpot:{i}", "type": "ParkingSpot",
                  "status": {"type": "Property", "value": "free"},
                  "name": {"type": "Property", "value": f"spot {i}"}} for i in range(3)]
        r = cls.guarded.call("POST", BATCH, ("w", "writer"), body=spots + [sensor(0, "Secret")])
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def test_refused_deletions_are_reported_not_done(self):
        app = ("app", "parking-app")
        r = self.guarded.call("DELETE", f"{E}?type=ParkingSpot", app)
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["success"], [])
        self.assertEqual(sorted(e["entityId"] for e in body["errors"]), [f"urn:ngsi-ld:ParkingSpot:{i}" for i in range(3)])
        self.assertTrue(all(e["error"]["status"] == 403 for e in body["errors"]), body)
        r = self.guarded.call("GET", f"{E}?type=ParkingSpot", ("w", "writer"))
        self.assertEqual(len(r.json()), 3)

    def test_unreadable_entities_are_neither_deleted_nor_reported(self):
        r = self.guarded.call("DELETE", f"{E}?type=Secret", ("app", "parking-app"))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.guarded.call("GET", f"{E}/urn:ngsi-ld:Secret:0", ("w", "writer")).status, 200)

    def test_drop_of_a_writable_attribute_is_done(self):
        r = self.guarded.call("DELETE", f"{E}?type=ParkingSpot&id=urn:ngsi-ld:ParkingSpot:0&drop=status",
                              ("app", "parking-app"))
        self.assertEqual(r.status, 204, r)
        e = self.guarded.call("GET", f"{E}/urn:ngsi-ld:ParkingSpot:0", ("w", "writer")).json()
        self.assertNotIn("status", e)
        self.assertIn("name", e)
        r = self.guarded.call("DELETE", f"{E}?type=ParkingSpot&id=urn:ngsi-ld:ParkingSpot:1&drop=name",
                              ("app", "parking-app"))
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.json()["errors"][0]["entityId"], "urn:ngsi-ld:ParkingSpot:1")


if __name__ == "__main__":
    unittest.main()
