"""/entityOperations/{create,upsert,update,delete,merge} (GS CIM 009 §5.6.7–5.6.10, §5.6.20)
over real HTTP: 201/204/207 and the BatchOperationResult {success, errors:[{entityId, error}]}."""
import unittest

from hub import CORE_CONTEXT, HubTestCase

OPS = "/ngsi-ld/v1/entityOperations"
E = "/ngsi-ld/v1/entities"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def ent(eid, **attrs):
    body = {"id": eid, "type": "Meter"}
    for k, v in attrs.items():
        body[k] = {"type": "Property", "value": v}
    return body


class BatchTest(HubTestCase):
    def test_merge_deletes_typed_attributes_with_the_null_marker(self):
        eid = "urn:ngsi-ld:Meter:nullmerge"
        body = ent(eid, reading=1)
        body["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.9, 35.2]}}
        body["label"] = {"type": "LanguageProperty", "languageMap": {"ko": "계량기", "en": "meter"}}
        self.op("create", [body], 201)
        self.op("merge", [{"id": eid, "type": "Meter",
                           "location": {"type": "GeoProperty", "value": "urn:ngsi-ld:null"},
                           "label": {"type": "LanguageProperty", "languageMap": "urn:ngsi-ld:null"}}], 204)
        got = self.get(eid)
        self.assertNotIn("location", got)
        self.assertNotIn("label", got)
        self.assertEqual(got["reading"]["value"], 1)

    def op(self, name, body, status, **kw):
        r = self.hub.post(f"{OPS}/{name}", body, **kw)
        self.assertEqual(r.status, status, r)
        return r

    def get(self, eid):
        r = self.hub.get(f"{E}/{eid}")
        return r.json() if r.status == 200 else None

    def assertBatchResult(self, r, success, errors):
        body = r.json()
        self.assertEqual(set(body), {"success", "errors"})
        self.assertEqual(sorted(body["success"]), sorted(success))
        got = {e["entityId"]: e["error"] for e in body["errors"]}
        self.assertEqual(sorted(got), sorted(errors))
        for eid, (status, kind) in errors.items():
            err = got[eid]
            self.assertEqual(err["status"], status, err)
            self.assertEqual(err["type"], ERR + kind, err)
            self.assertTrue(err["detail"], err)

    def test_create_201_ids(self):
        r = self.op("create", [ent("urn:ngsi-ld:Meter:c1", v=1), ent("urn:ngsi-ld:Meter:c2", v=2)], 201)
        self.assertEqual(sorted(r.json()), ["urn:ngsi-ld:Meter:c1", "urn:ngsi-ld:Meter:c2"])
        self.assertEqual(self.get("urn:ngsi-ld:Meter:c2")["v"]["value"], 2)

    def test_create_207_partial(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:c3")], 201)
        r = self.op("create", [ent("urn:ngsi-ld:Meter:c3"), ent("urn:ngsi-ld:Meter:c4"),
                               {"id": "urn:ngsi-ld:Meter:c5", "type": "Meter", "v": {"type": "Property"}},
                               {"id": "urn:ngsi-ld:Meter:c6"}], 207)
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:c4"], {
            "urn:ngsi-ld:Meter:c3": (409, "AlreadyExists"),
            "urn:ngsi-ld:Meter:c5": (400, "BadRequestData"),
            "urn:ngsi-ld:Meter:c6": (400, "BadRequestData")})
        self.assertIsNotNone(self.get("urn:ngsi-ld:Meter:c4"))
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:c5"))

    def test_create_duplicate_ids_in_one_batch(self):
        r = self.op("create", [ent("urn:ngsi-ld:Meter:dup", v=1), ent("urn:ngsi-ld:Meter:dup", v=2)], 207)
        body = r.json()
        self.assertEqual(body["success"], ["urn:ngsi-ld:Meter:dup"])
        self.assertEqual(len(body["errors"]), 1)
        self.assertEqual(self.get("urn:ngsi-ld:Meter:dup")["v"]["value"], 1)

    def test_upsert_default_replace(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:u1", a=1, b=2)], 201)
        r = self.op("upsert", [ent("urn:ngsi-ld:Meter:u1", a=10), ent("urn:ngsi-ld:Meter:u2", a=3)], 201)
        self.assertEqual(r.json(), ["urn:ngsi-ld:Meter:u2"])
        e = self.get("urn:ngsi-ld:Meter:u1")
        self.assertEqual(e["a"]["value"], 10)
        self.assertNotIn("b", e)  # replaced
        r = self.op("upsert?options=replace", [ent("urn:ngsi-ld:Meter:u2", c=1)], 204)
        self.assertEqual(r.body, "")
        self.assertNotIn("a", self.get("urn:ngsi-ld:Meter:u2"))

    def test_upsert_update_keeps_other_attrs(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:u3", a=1, b=2)], 201)
        self.op("upsert?options=update", [ent("urn:ngsi-ld:Meter:u3", a=5, c=7)], 204)
        e = self.get("urn:ngsi-ld:Meter:u3")
        self.assertEqual((e["a"]["value"], e["b"]["value"], e["c"]["value"]), (5, 2, 7))

    def test_upsert_207(self):
        r = self.op("upsert", [ent("urn:ngsi-ld:Meter:u4"), {"id": "bad id", "type": "Meter"}], 207)
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:u4"], {"bad id": (400, "BadRequestData")})

    def test_update_204_and_no_overwrite(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:p1", a=1), ent("urn:ngsi-ld:Meter:p2", a=1)], 201)
        self.op("update", [ent("urn:ngsi-ld:Meter:p1", a=2, b=3), ent("urn:ngsi-ld:Meter:p2", a=4)], 204)
        e = self.get("urn:ngsi-ld:Meter:p1")
        self.assertEqual((e["a"]["value"], e["b"]["value"]), (2, 3))
        self.op("update?options=noOverwrite", [ent("urn:ngsi-ld:Meter:p1", a=9, c=1)], 204)
        e = self.get("urn:ngsi-ld:Meter:p1")
        self.assertEqual((e["a"]["value"], e["c"]["value"]), (2, 1))

    def test_update_207_missing_entity(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:p3", a=1)], 201)
        r = self.op("update", [ent("urn:ngsi-ld:Meter:p3", a=2), ent("urn:ngsi-ld:Meter:p404", a=1)], 207)
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:p3"], {"urn:ngsi-ld:Meter:p404": (404, "ResourceNotFound")})
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:p404"))
        self.assertEqual(self.get("urn:ngsi-ld:Meter:p3")["a"]["value"], 2)

    def test_delete_204_and_207(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:d1"), ent("urn:ngsi-ld:Meter:d2")], 201)
        r = self.op("delete", ["urn:ngsi-ld:Meter:d1", "urn:ngsi-ld:Meter:d2"], 204)
        self.assertEqual(r.body, "")
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:d1"))
        self.op("create", [ent("urn:ngsi-ld:Meter:d3")], 201)
        r = self.op("delete", ["urn:ngsi-ld:Meter:d3", "urn:ngsi-ld:Meter:d1"], 207)
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:d3"], {"urn:ngsi-ld:Meter:d1": (404, "ResourceNotFound")})
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:d3"))

    def test_merge_204_and_null(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:m1", a=1, b=2)], 201)
        self.op("merge", [{"id": "urn:ngsi-ld:Meter:m1", "a": 5, "b": "urn:ngsi-ld:null"}], 204)
        e = self.get("urn:ngsi-ld:Meter:m1")
        self.assertEqual(e["a"]["value"], 5)
        self.assertNotIn("b", e)

    def test_merge_207_missing(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:m2", a=1)], 201)
        r = self.op("merge", [{"id": "urn:ngsi-ld:Meter:m2", "a": 2}, {"id": "urn:ngsi-ld:Meter:m404", "a": 1}], 207)
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:m2"], {"urn:ngsi-ld:Meter:m404": (404, "ResourceNotFound")})

    def test_non_array_body_400(self):
        for name in ("create", "upsert", "update", "delete", "merge"):
            with self.subTest(name):
                # §5.5.2 InvalidRequest: an object where the batch array is expected
                self.assertProblem(self.hub.post(f"{OPS}/{name}", ent("urn:ngsi-ld:Meter:x")), 400, "InvalidRequest")
                self.assertProblem(self.hub.post(f"{OPS}/{name}", b"[1,"), 400, "InvalidRequest")
                self.assertEqual(self.hub.post(f"{OPS}/{name}", [], content_type="text/plain").status, 415)
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:x"))

    def test_ld_json_items_carry_context(self):
        item = dict(ent("urn:ngsi-ld:Meter:ld1", a=1), **{"@context": CORE_CONTEXT})
        no_ctx = ent("urn:ngsi-ld:Meter:ld2", a=1)
        r = self.op("create", [item, no_ctx], 207, content_type="application/ld+json")
        self.assertBatchResult(r, ["urn:ngsi-ld:Meter:ld1"], {"urn:ngsi-ld:Meter:ld2": (400, "BadRequestData")})

    def test_invalid_options_400(self):
        for path in ("upsert?options=bogus", "upsert?options=update,replace", "update?options=replace",
                     "create?options=noOverwrite", "delete?options=update"):
            with self.subTest(path):
                body = ["urn:ngsi-ld:Meter:opt"] if path.startswith("delete") else [ent("urn:ngsi-ld:Meter:opt")]
                # §5.5.2 InvalidRequest: an options value the operation does not take (create and
                # delete take no `options` parameter at all)
                self.assertProblem(self.hub.post(f"{OPS}/{path}", body), 400, "InvalidRequest")
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:opt"))

    def test_upsert_update_creates_missing(self):
        r = self.op("upsert?options=update", [ent("urn:ngsi-ld:Meter:uu", a=1)], 201)
        self.assertEqual(r.json(), ["urn:ngsi-ld:Meter:uu"])

    def test_delete_same_id_twice_207(self):
        self.op("create", [ent("urn:ngsi-ld:Meter:twice")], 201)
        r = self.op("delete", ["urn:ngsi-ld:Meter:twice", "urn:ngsi-ld:Meter:twice"], 207)
        body = r.json()
        self.assertEqual(body["success"], ["urn:ngsi-ld:Meter:twice"])
        self.assertEqual(body["errors"][0]["error"]["status"], 404)

    def test_user_context_via_link(self):
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"Pump": "https://example.org/p#Pump",
                                                                     "rate": "https://example.org/p#rate"}})
        url = r.header("Location")
        from hub import link_header
        self.op("create", [{"id": "urn:ngsi-ld:Pump:1", "type": "Pump", "rate": {"type": "Property", "value": 1}}], 201,
                headers=link_header(url))
        e = self.get("urn:ngsi-ld:Pump:1")
        self.assertEqual(e["type"], "https://example.org/p#Pump")
        self.assertEqual(e["https://example.org/p#rate"]["value"], 1)

    def test_too_many_items_400(self):
        items = [ent(f"urn:ngsi-ld:Meter:many{i}") for i in range(1001)]
        self.assertProblem(self.hub.post(f"{OPS}/create", items), 400, "BadRequestData")
        self.assertIsNone(self.get("urn:ngsi-ld:Meter:many0"))

    def test_unknown_operation_404(self):
        self.assertEqual(self.hub.post(f"{OPS}/frobnicate", [ent("urn:ngsi-ld:Meter:f")]).status, 404)


if __name__ == "__main__":
    unittest.main()
