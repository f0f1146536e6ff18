"""/types and /attributes (GS CIM 009 §5.7.5–5.7.10) over real HTTP: lists, details, one type
or attribute, compaction with the request's @context, and 404s."""
import unittest
from urllib.parse import quote

from hub import HubTestCase, link_header

T = "/ngsi-ld/v1/types"
A = "/ngsi-ld/v1/attributes"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


class DiscoveryTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        batch = [
            {"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "speed": {"type": "Property", "value": 30},
             "route": {"type": "Relationship", "object": "urn:ngsi-ld:Route:1"}},
            {"id": "urn:ngsi-ld:Bus:2", "type": "Bus", "speed": {"type": "Property", "value": 31}},
            {"id": "urn:ngsi-ld:Stop:1", "type": "Stop",
             "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}},
            {"id": "urn:ngsi-ld:Tram:1", "type": "Tram", "speed": {"type": "Property", "value": 20}},
        ]
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create", batch)
        assert r.status == 201, r

    def get(self, path, status=200, **kw):
        r = self.hub.get(path, **kw)
        self.assertEqual(r.status, status, r)
        return r.json()

    def test_types(self):
        body = self.get(T)
        self.assertEqual(body["type"], "EntityTypeList")
        self.assertTrue(body["id"].startswith("urn:"), body)
        self.assertEqual(sorted(body["typeList"]), ["Bus", "Stop", "Tram"])

    def test_types_details(self):
        body = self.get(f"{T}?details=true")
        by_name = {t["typeName"]: t for t in body}
        self.assertEqual(sorted(by_name), ["Bus", "Stop", "Tram"])
        bus = by_name["Bus"]
        self.assertEqual(bus["type"], "EntityType")
        self.assertEqual(bus["id"], DEFAULT + "Bus")
        self.assertEqual(sorted(bus["attributeNames"]), ["route", "speed"])
        self.assertEqual(by_name["Stop"]["attributeNames"], ["location"])

    def test_type_info(self):
        body = self.get(f"{T}/Bus")
        self.assertEqual(body["type"], "EntityTypeInfo")
        self.assertEqual(body["typeName"], "Bus")
        self.assertEqual(body["id"], DEFAULT + "Bus")
        self.assertEqual(body["entityCount"], 2)
        details = {d["attributeName"]: d for d in body["attributeDetails"]}
        self.assertEqual(sorted(details), ["route", "speed"])
        self.assertEqual(details["speed"]["attributeTypes"], ["Property"])
        self.assertEqual(details["route"]["attributeTypes"], ["Relationship"])
        self.assertEqual(details["speed"]["type"], "Attribute")
        # the expanded name works too
        self.assertEqual(self.get(f"{T}/" + quote(DEFAULT + "Bus", safe=""))["entityCount"], 2)

    def test_type_404(self):
        self.assertProblem(self.hub.get(f"{T}/Plane"), 404, "ResourceNotFound")

    def test_attributes(self):
        body = self.get(A)
        self.assertEqual(body["type"], "AttributeList")
        self.assertTrue(body["id"].startswith("urn:"), body)
        self.assertEqual(sorted(body["attributeList"]), ["location", "route", "speed"])

    def test_attributes_details(self):
        body = self.get(f"{A}?details=true")
        by_name = {a["attributeName"]: a for a in body}
        self.assertEqual(sorted(by_name), ["location", "route", "speed"])
        self.assertEqual(by_name["speed"]["type"], "Attribute")
        self.assertEqual(by_name["speed"]["id"], DEFAULT + "speed")
        self.assertEqual(sorted(by_name["speed"]["typeNames"]), ["Bus", "Tram"])
        self.assertEqual(by_name["location"]["typeNames"], ["Stop"])

    def test_attribute_info(self):
        body = self.get(f"{A}/speed")
        self.assertEqual(body["type"], "Attribute")
        self.assertEqual(body["attributeName"], "speed")
        self.assertEqual(body["attributeCount"], 3)
        self.assertEqual(body["attributeTypes"], ["Property"])
        self.assertEqual(sorted(body["typeNames"]), ["Bus", "Tram"])
        loc = self.get(f"{A}/location")
        self.assertEqual(loc["attributeTypes"], ["GeoProperty"])

    def test_attribute_404(self):
        self.assertProblem(self.hub.get(f"{A}/altitude"), 404, "ResourceNotFound")

    def test_bad_details_400(self):
        self.assertProblem(self.hub.get(f"{T}?details=yes"), 400)
        self.assertProblem(self.hub.get(f"{A}?details=1"), 400)

    def test_changes_are_reflected(self):
        eid = "urn:ngsi-ld:Ferry:1"
        r = self.hub.post("/ngsi-ld/v1/entities", {"id": eid, "type": "Ferry", "draft": {"type": "Property", "value": 2}})
        self.assertEqual(r.status, 201, r)
        self.assertIn("Ferry", self.get(T)["typeList"])
        self.assertIn("draft", self.get(A)["attributeList"])
        self.assertEqual(self.hub.delete(f"/ngsi-ld/v1/entities/{eid}").status, 204)
        self.assertNotIn("Ferry", self.get(T)["typeList"])
        self.assertNotIn("draft", self.get(A)["attributeList"])
        self.assertProblem(self.hub.get(f"{T}/Ferry"), 404)

    def test_names_compacted_with_request_context(self):
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"Coach": "https://example.org/t#Coach",
                                                                     "seats": "https://example.org/t#seats"}})
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        eid = "urn:ngsi-ld:Coach:1"
        r = self.hub.post("/ngsi-ld/v1/entities", {"id": eid, "type": "Coach", "seats": {"type": "Property", "value": 50}},
                          headers=link_header(url))
        self.assertEqual(r.status, 201, r)
        self.assertIn("https://example.org/t#Coach", self.get(T)["typeList"])
        self.assertIn("Coach", self.get(T, headers=link_header(url))["typeList"])
        self.assertIn("seats", self.get(A, headers=link_header(url))["attributeList"])
        self.assertEqual(self.get(f"{T}/Coach", headers=link_header(url))["entityCount"], 1)
        self.assertProblem(self.hub.get(f"{T}/Coach"), 404)
        r = self.hub.get(T, headers={"Accept": "application/ld+json"})
        self.assertIn("@context", r.json())
        self.assertEqual(self.hub.delete(f"/ngsi-ld/v1/entities/{eid}").status, 204)

    def test_unknown_tenant_404(self):
        for path in (T, A, f"{T}/Bus", f"{A}/speed"):
            with self.subTest(path):
                self.assertProblem(self.hub.get(path, headers={"NGSILD-Tenant": "ghosttown"}), 404)


if __name__ == "__main__":
    unittest.main()
