"""The datasetId selection (GS CIM 009 v1.8.1 §4.5.5; the `datasetId` parameter of the OpenAPI
description, the `datasetId` member of Query §5.2.23 and Subscription §5.2.12) over real HTTP:
on entity retrieval and queries, on temporal retrieval and queries, and in subscriptions, whose
notifications carry only the selected instances."""
import time
import unittest
from urllib.parse import quote

from hub import HubTestCase, ReceiverTestCase
from receiver import Receiver
from test_notifications import NotificationAssertions, wait_entities

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
GPS = "urn:ngsi-ld:dataset:gps"
OBD = "urn:ngsi-ld:dataset:obd"


def vehicle(eid, speed_default, speed_gps, speed_obd, observed="2024-05-01T10:00:00Z"):
    return {"id": eid, "type": "Vehicle",
            "speed": [{"type": "Property", "value": speed_default, "observedAt": observed},
                      {"type": "Property", "value": speed_gps, "datasetId": GPS, "observedAt": observed},
                      {"type": "Property", "value": speed_obd, "datasetId": OBD, "observedAt": observed}],
            "brand": {"type": "Property", "value": "Hyundai"}}


def instances(attr):
    """An attribute as rendered (one object, or an array of instances) as a list."""
    return attr if isinstance(attr, list) else [attr]


def by_dataset(attr):
    return {i.get("datasetId", "@none"): i["value"] for i in instances(attr)}


class DatasetIdEntityTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create",
                         [vehicle("urn:ngsi-ld:Vehicle:v1", 50, 51, 52), vehicle("urn:ngsi-ld:Vehicle:v2", 60, 61, 62)])
        assert r.status == 201, r

    def query(self, params, status=200):
        r = self.hub.get(f"{E}?{params}")
        self.assertEqual(r.status, status, r)
        return r

    def test_query_selects_the_instances_of_the_named_dataset(self):
        """OpenAPI Query.datasetId: "Specifies the datasetIds of the Attribute instances to be
        selected for each matched Attribute as per clause 4.5.5"."""
        got = {e["id"]: e for e in self.query(f"type=Vehicle&datasetId={quote(GPS)}").json()}
        self.assertEqual(set(got), {"urn:ngsi-ld:Vehicle:v1", "urn:ngsi-ld:Vehicle:v2"})
        self.assertEqual(by_dataset(got["urn:ngsi-ld:Vehicle:v1"]["speed"]), {GPS: 51})
        self.assertEqual(by_dataset(got["urn:ngsi-ld:Vehicle:v2"]["speed"]), {GPS: 61})
        # brand has only a default instance: not selected, so not shown.
        self.assertNotIn("brand", got["urn:ngsi-ld:Vehicle:v1"])

    def test_none_selects_the_default_instances(self):
        """Query §5.2.23 datasetId: "Valid URIs, "@none" for including the default Attribute
        instances"."""
        e = self.query("id=urn:ngsi-ld:Vehicle:v1&datasetId=@none").json()[0]
        self.assertEqual(by_dataset(e["speed"]), {"@none": 50})
        self.assertEqual(e["brand"]["value"], "Hyundai")

    def test_several_datasets(self):
        e = self.query(f"id=urn:ngsi-ld:Vehicle:v1&datasetId={quote(OBD)},@none").json()[0]
        self.assertEqual(by_dataset(e["speed"]), {"@none": 50, OBD: 52})

    def test_without_datasetid_every_instance(self):
        e = self.query("id=urn:ngsi-ld:Vehicle:v1").json()[0]
        self.assertEqual(by_dataset(e["speed"]), {"@none": 50, GPS: 51, OBD: 52})

    def test_selection_does_not_change_which_entities_match(self):
        """The selection applies to the matched Attributes: q is evaluated on the entity (here a
        GPS speed of 61 matches speed==61 even when only the OBD instance is shown)."""
        got = self.query(f"type=Vehicle&q=speed==61&datasetId={quote(OBD)}").json()
        self.assertEqual([e["id"] for e in got], ["urn:ngsi-ld:Vehicle:v2"])
        self.assertEqual(by_dataset(got[0]["speed"]), {OBD: 62})

    def test_retrieve_entity_takes_datasetid(self):
        """5.7.1 Retrieve Entity lists Query.datasetId among its parameters."""
        r = self.hub.get(f"{E}/urn:ngsi-ld:Vehicle:v2?datasetId={quote(GPS)}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(by_dataset(r.json()["speed"]), {GPS: 61})

    def test_keyvalues_shows_the_selected_instance(self):
        r = self.hub.get(f"{E}/urn:ngsi-ld:Vehicle:v2?datasetId={quote(OBD)}&options=keyValues")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["speed"], 62)

    def test_post_query_datasetid_member(self):
        """Query §5.2.23: datasetId, an array of URIs or "@none"."""
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query",
                          {"type": "Query", "entities": [{"type": "Vehicle"}], "datasetId": [GPS, "@none"]})
        self.assertEqual(r.status, 200, r)
        got = {e["id"]: e for e in r.json()}
        self.assertEqual(by_dataset(got["urn:ngsi-ld:Vehicle:v1"]["speed"]), {"@none": 50, GPS: 51})

    def test_invalid_datasetid_is_bad_request(self):
        """Query.datasetId items are URIs (format: uri) or "@none": anything else is 400
        BadRequestData naming the parameter."""
        for value in ("not%20a%20uri", "gps", ""):
            with self.subTest(value=value):
                body = self.assertProblem(self.query(f"type=Vehicle&datasetId={value}", status=400), 400)
                self.assertIn("datasetId", body["detail"])
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query",
                          {"type": "Query", "entities": [{"type": "Vehicle"}], "datasetId": ["gps"]})
        self.assertIn("datasetId", self.assertProblem(r, 400, "BadRequestData")["detail"])
        r = self.hub.post("/ngsi-ld/v1/entityOperations/query",
                          {"type": "Query", "entities": [{"type": "Vehicle"}], "datasetId": [1]})
        self.assertProblem(r, 400, "BadRequestData")
        r = self.hub.get(f"{E}/urn:ngsi-ld:Vehicle:v1?datasetId=x")
        self.assertProblem(r, 400, "BadRequestData")


class DatasetIdTemporalTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.hub.post(E, vehicle("urn:ngsi-ld:Vehicle:t1", 10, 11, 12, "2024-05-01T10:00:00Z"))
        assert r.status == 201, r
        for minute, (d, g) in enumerate([(20, 21), (30, 31)], start=1):
            at = f"2024-05-01T10:0{minute}:00Z"
            r = cls.hub.patch(f"{E}/urn:ngsi-ld:Vehicle:t1/attrs",
                              {"speed": [{"type": "Property", "value": d, "observedAt": at},
                                         {"type": "Property", "value": g, "datasetId": GPS, "observedAt": at}]})
            assert r.status in (204, 207), r

    def temporal(self, path, status=200):
        r = self.hub.get(path)
        self.assertEqual(r.status, status, r)
        return r

    def test_retrieve_temporal_selects_instances(self):
        """5.7.3 Retrieve Temporal Evolution of an Entity lists Query.datasetId: only the
        instances of the selected datasets are returned."""
        e = self.temporal(f"{T}/urn:ngsi-ld:Vehicle:t1?datasetId={quote(GPS)}").json()
        values = [(i["datasetId"], i["value"]) for i in e["speed"]]
        self.assertEqual(values, [(GPS, 11), (GPS, 21), (GPS, 31)])
        self.assertNotIn("brand", e)

    def test_query_temporal_default_instances_and_lastn(self):
        """5.7.4 Query Temporal Evolution lists Query.datasetId; lastN counts the selected
        instances only."""
        params = "type=Vehicle&timerel=after&timeAt=2024-01-01T00:00:00Z&datasetId=@none&lastN=2"
        got = self.temporal(f"{T}?{params}").json()
        self.assertEqual(len(got), 1)
        self.assertEqual([i["value"] for i in got[0]["speed"]], [20, 30])
        self.assertTrue(all("datasetId" not in i for i in got[0]["speed"]))

    def test_temporal_values_and_aggregation_see_only_the_selection(self):
        r = self.temporal(f"{T}/urn:ngsi-ld:Vehicle:t1?datasetId={quote(GPS)}&format=temporalValues&attrs=speed")
        self.assertEqual([v[0] for v in r.json()["speed"]["values"]], [11, 21, 31])
        r = self.temporal(f"{T}/urn:ngsi-ld:Vehicle:t1?datasetId={quote(OBD)}&format=aggregatedValues"
                          "&aggrMethods=sum,totalCount&attrs=speed")
        speed = r.json()["speed"]
        self.assertEqual(speed["sum"][0][0], 12)
        self.assertEqual(speed["totalCount"][0][0], 1)

    def test_post_temporal_query_datasetid_member(self):
        body = {"type": "Query", "entities": [{"type": "Vehicle"}], "datasetId": [OBD],
                "temporalQ": {"timerel": "after", "timeAt": "2024-01-01T00:00:00Z"}}
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(i["datasetId"], i["value"]) for i in r.json()[0]["speed"]], [(OBD, 12)])

    def test_invalid_datasetid_is_bad_request(self):
        r = self.hub.get(f"{T}/urn:ngsi-ld:Vehicle:t1?datasetId=nope")
        self.assertIn("datasetId", self.assertProblem(r, 400, "BadRequestData")["detail"])


class DatasetIdSubscriptionTest(NotificationAssertions, ReceiverTestCase):
    def test_notification_carries_only_the_selected_instances(self):
        """Subscription §5.2.12 datasetId: "Specifies the datasetIds of the Attribute instances to
        be selected for each matched Attribute as per clause 4.5.5"."""
        self.subscribe("ds1", entities=[{"type": "Car"}], datasetId=[GPS])
        self.create({"id": "urn:ngsi-ld:Car:c1", "type": "Car",
                     "speed": [{"type": "Property", "value": 1},
                               {"type": "Property", "value": 2, "datasetId": GPS}],
                     "brand": {"type": "Property", "value": "Kia"}})
        got = wait_entities(self.receiver, "/ds1", 1)
        self.assertEqual(len(got), 1)
        self.assertEqual(by_dataset(got[0]["speed"]), {GPS: 2})
        self.assertNotIn("brand", got[0])

    def test_none_in_subscription_and_no_false_deletions(self):
        """With "@none" only default instances are notified; instances left out are not shown
        as deleted (urn:ngsi-ld:null) when an update notifies the entity again."""
        self.subscribe("ds2", entities=[{"type": "Bus"}], datasetId=["@none"])
        self.create({"id": "urn:ngsi-ld:Bus:b1", "type": "Bus",
                     "speed": [{"type": "Property", "value": 5},
                               {"type": "Property", "value": 6, "datasetId": OBD}]})
        self.patch_attrs("urn:ngsi-ld:Bus:b1", {"speed": {"type": "Property", "value": 7}})
        got = wait_entities(self.receiver, "/ds2", 2)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(by_dataset(got[0]["speed"]), {"@none": 5})
        self.assertEqual(by_dataset(got[1]["speed"]), {"@none": 7})
        self.assertNotIn("urn:ngsi-ld:null", str(got))

    def test_only_a_change_to_a_selected_instance_fires(self):
        """Subscription §5.2.12 datasetId: "Specifies the datasetIds of the Attribute instances to
        be selected for each matched Attribute as per clause 4.5.5" — the selected instances are
        the ones the subscription watches: creating, updating or deleting another instance of a
        watched attribute sends nothing; creating, updating and deleting the selected one each
        send a notification. (Notifications of one entity arrive in order, so a stray one would
        show before the next expected one.)"""
        self.subscribe("ds4", entities=[{"type": "Van"}], datasetId=[GPS], watchedAttributes=["speed"],
                       notificationTrigger=["attributeCreated", "attributeUpdated", "attributeDeleted"])
        van = "urn:ngsi-ld:Van:v1"
        self.create({"id": van, "type": "Van", "speed": {"type": "Property", "value": 1},
                     "brand": {"type": "Property", "value": "Kia"}})                       # default only
        self.patch_attrs(van, {"speed": {"type": "Property", "value": 2}})                  # default updated
        self.write("POST", f"{E}/{van}/attrs",
                   {"speed": {"type": "Property", "value": 3, "datasetId": OBD}})           # other created
        self.write("POST", f"{E}/{van}/attrs",
                   {"speed": {"type": "Property", "value": 4, "datasetId": GPS}})           # 1: created
        self.patch_attrs(van, {"speed": {"type": "Property", "value": 5, "datasetId": OBD}})  # other updated
        self.patch_attrs(van, {"speed": {"type": "Property", "value": 6, "datasetId": GPS}})  # 2: updated
        self.write("DELETE", f"{E}/{van}/attrs/speed?datasetId={quote(OBD)}")              # other deleted
        self.write("DELETE", f"{E}/{van}/attrs/speed")                                     # default deleted
        self.write("DELETE", f"{E}/{van}/attrs/speed?datasetId={quote(GPS)}")              # 3: deleted
        got = wait_entities(self.receiver, "/ds4", 3)
        self.assertEqual([by_dataset(e["speed"]) for e in got],
                         [{GPS: 4}, {GPS: 6}, {GPS: "urn:ngsi-ld:null"}], got)
        self.assertQuiet("/ds4", 3)

    def test_entity_without_a_selected_instance_does_not_fire_creation_or_deletion(self):
        """§4.5.5 selection with entityCreated / entityDeleted: an entity holding none of the
        selected instances changes nothing the subscription selects; one holding one does."""
        self.subscribe("ds5", entities=[{"type": "Truck"}], datasetId=[GPS],
                       notificationTrigger=["entityCreated", "entityDeleted"])
        self.create({"id": "urn:ngsi-ld:Truck:t0", "type": "Truck", "speed": {"type": "Property", "value": 1}})
        self.write("DELETE", f"{E}/urn:ngsi-ld:Truck:t0")
        self.create({"id": "urn:ngsi-ld:Truck:t1", "type": "Truck",
                     "speed": {"type": "Property", "value": 2, "datasetId": GPS}})
        self.write("DELETE", f"{E}/urn:ngsi-ld:Truck:t1")
        got = wait_entities(self.receiver, "/ds5", 2)
        self.assertEqual([e["id"] for e in got], ["urn:ngsi-ld:Truck:t1"] * 2, got)
        self.assertQuiet("/ds5", 2)

    def test_subscription_keeps_and_shows_datasetid(self):
        sid = self.subscribe("ds3", entities=[{"type": "Tram"}], datasetId=[GPS, "@none"])
        self.assertEqual(self.subscription(sid)["datasetId"], [GPS, "@none"])
        r = self.hub.patch(f"/ngsi-ld/v1/subscriptions/{sid}", {"datasetId": None})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("datasetId", self.subscription(sid))

    def test_invalid_datasetid_member_is_bad_request(self):
        for value in ([], "urn:a", ["gps"], [1]):
            with self.subTest(value=value):
                body = {"type": "Subscription", "entities": [{"type": "Car"}], "datasetId": value,
                        "notification": {"endpoint": {"uri": self.receiver.url("/bad")}}}
                r = self.hub.post("/ngsi-ld/v1/subscriptions", body)
                self.assertIn("datasetId", self.assertProblem(r, 400, "BadRequestData")["detail"])


if __name__ == "__main__":
    unittest.main()
