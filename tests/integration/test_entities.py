"""The /entities API over real HTTP: every endpoint's success path and the error statuses
GS CIM 009 v1.8 lists for it (create, retrieve, delete, replace, merge, attribute append,
update, partial update, replace and delete), all attribute types and @context handling."""
import json
import unittest

from hub import CORE_CONTEXT, HubTestCase, link_header

E = "/ngsi-ld/v1/entities"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
USER_CTX = {"@context": {"speed": "https://example.org/vocab#speed",
                         "Car": "https://example.org/vocab#Car",
                         "owner": "https://example.org/vocab#owner"}}


def car(eid, **attrs):
    body = {"id": eid, "type": "Car", "speed": {"type": "Property", "value": 50}}
    body.update(attrs)
    return body


class EntitiesTest(HubTestCase):
    def create(self, body, **kw):
        r = self.hub.post(E, body, **kw)
        self.assertEqual(r.status, 201, r)
        return r

    def fetch(self, eid, query="", **kw):
        r = self.hub.get(f"{E}/{eid}{query}", **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_location_stays_a_geoproperty_through_single_attribute_writes(self):
        eid = "urn:ngsi-ld:Car:geoonly"
        point = {"type": "Point", "coordinates": [128.88, 35.23]}
        self.create(car(eid, location={"type": "GeoProperty", "value": point}))
        for method in ("put", "patch"):
            r = getattr(self.hub, method)(f"{E}/{eid}/attrs/location", {"type": "Property", "value": 7})
            body = self.assertProblem(r, 400, "BadRequestData")
            self.assertIn("location", body["detail"])
        r = self.hub.patch(f"{E}/{eid}/attrs/location", {"observedAt": "2026-11-26T10:00:00Z"})
        self.assertEqual(r.status, 204, r)
        got = self.fetch(eid)["location"]
        self.assertEqual((got["type"], got["value"], got["observedAt"]), ("GeoProperty", point, "2026-11-26T10:00:00Z"))

    # --- POST /entities ------------------------------------------------------------------
    def test_create_201_with_location(self):
        r = self.create(car("urn:ngsi-ld:Car:c1"))
        self.assertEqual(r.header("Location"), f"{E}/urn:ngsi-ld:Car:c1")
        self.assertEqual(r.body, "")
        self.assertEqual(self.fetch("urn:ngsi-ld:Car:c1")["speed"]["value"], 50)

    def test_resource_paths_with_a_trailing_slash(self):
        # GS CIM 009 writes its resources with a trailing slash ({apiRoot}/entities/,
        # /subscriptions/, …): clients built from the spec use it.
        r = self.hub.post(E + "/", car("urn:ngsi-ld:Car:slash-1"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Car:slash-1/").json()["speed"]["value"], 50)
        r = self.hub.get(E + "/?type=Car&id=urn:ngsi-ld:Car:slash-1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Car:slash-1"])
        r = self.hub.request("PATCH", f"{E}/urn:ngsi-ld:Car:slash-1/attrs/",
                             body={"speed": {"type": "Property", "value": 60}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get("/ngsi-ld/v1/subscriptions/").status, 200)
        self.assertEqual(self.hub.get("/ngsi-ld/v1/types/").status, 200)

    def test_empty_path_segments_are_bad_request_data(self):
        self.create(car("urn:ngsi-ld:Car:slash-2"))
        for method, path in (("GET", f"{E}//"), ("PATCH", f"{E}//attrs/speed"),
                             ("DELETE", f"{E}/urn:ngsi-ld:Car:slash-2//speed"),
                             ("GET", "/ngsi-ld//v1/entities")):
            body = {"value": 1} if method == "PATCH" else None
            self.assertProblem(self.hub.request(method, path, body=body), 400, "BadRequestData")
        self.assertEqual(self.fetch("urn:ngsi-ld:Car:slash-2")["speed"]["value"], 50)

    def test_invalid_attribute_names_in_paths_are_bad_request_data(self):
        self.create(car("urn:ngsi-ld:Car:badname"))
        for method in ("DELETE", "PATCH", "PUT"):
            body = None if method == "DELETE" else {"type": "Property", "value": 1}
            r = self.hub.request(method, f"{E}/urn:ngsi-ld:Car:badname/attrs/sp%20eed", body=body)
            self.assertProblem(r, 400, "BadRequestData")
        self.assertEqual(self.fetch("urn:ngsi-ld:Car:badname")["speed"]["value"], 50)

    def test_location_is_percent_encoded(self):
        for eid in ("urn:ngsi-ld:Car:a#b", "urn:ngsi-ld:Car:a?b=1", "https://example.org/cars/1", "urn:ngsi-ld:Car:\u00e4"):
            with self.subTest(eid):
                loc = self.create(car(eid)).header("Location")
                self.assertTrue(all(33 <= ord(c) < 127 and c not in "#?" for c in loc), loc)
                self.assertEqual(loc.count("/"), 4, loc)
                r = self.hub.get(loc)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["id"], eid)

    def test_create_twice_409_already_exists(self):
        self.create(car("urn:ngsi-ld:Car:c2"))
        self.assertProblem(self.hub.post(E, car("urn:ngsi-ld:Car:c2")), 409, "AlreadyExists")

    def test_create_bad_request_data(self):
        cases = {
            "no id": {"type": "Car"},
            "no type": {"id": "urn:ngsi-ld:Car:x"},
            "id not a URI": {"id": "not a uri", "type": "Car"},
            "property without value": {"id": "urn:ngsi-ld:Car:x", "type": "Car", "speed": {"type": "Property"}},
            "relationship without object": {"id": "urn:ngsi-ld:Car:x", "type": "Car",
                                            "owner": {"type": "Relationship", "value": 1}},
            "relationship object not URI": {"id": "urn:ngsi-ld:Car:x", "type": "Car",
                                            "owner": {"type": "Relationship", "object": "nope"}},
            "bad geometry": {"id": "urn:ngsi-ld:Car:x", "type": "Car",
                             "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 1]}}},
            "bad observedAt": {"id": "urn:ngsi-ld:Car:x", "type": "Car",
                               "speed": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
            "unknown attribute type": {"id": "urn:ngsi-ld:Car:x", "type": "Car", "speed": {"type": "Foo", "value": 1}},
        }
        # §5.5.2 InvalidRequest: a body that is not an entity object is a syntactically invalid request
        self.assertProblem(self.hub.post(E, [1, 2]), 400, "InvalidRequest")
        for name, body in cases.items():
            with self.subTest(name):
                self.assertProblem(self.hub.post(E, body), 400, "BadRequestData")
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Car:x").status, 404)

    def test_create_invalid_json_400(self):
        self.assertProblem(self.hub.post(E, b'{"id": "urn:x:1", '), 400, "InvalidRequest")
        self.assertProblem(self.hub.post(E, b''), 400, "InvalidRequest")

    def test_create_wrong_content_type_415(self):
        r = self.hub.post(E, car("urn:ngsi-ld:Car:c3"), content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Car:c3").status, 404)

    def test_ld_json_without_context_400(self):
        self.assertProblem(self.hub.post(E, car("urn:ngsi-ld:Car:c4"), content_type="application/ld+json"),
                           400, "BadRequestData")

    def test_ld_json_with_context_and_link_header_400(self):
        body = dict(car("urn:ngsi-ld:Car:c4b"), **{"@context": CORE_CONTEXT})
        r = self.hub.post(E, body, content_type="application/ld+json", headers=link_header(CORE_CONTEXT))
        self.assertProblem(r, 400, "BadRequestData")

    def test_json_with_context_in_body_400(self):
        body = dict(car("urn:ngsi-ld:Car:c5"), **{"@context": CORE_CONTEXT})
        self.assertProblem(self.hub.post(E, body), 400, "BadRequestData")

    def test_ld_json_with_inline_context_expands_names(self):
        body = dict(car("urn:ngsi-ld:Car:c6"), **USER_CTX)
        self.create(body, content_type="application/ld+json")
        plain = self.fetch("urn:ngsi-ld:Car:c6")
        self.assertEqual(plain["type"], "https://example.org/vocab#Car")
        self.assertIn("https://example.org/vocab#speed", plain)
        compact = self.fetch("urn:ngsi-ld:Car:c6", headers={"Accept": "application/ld+json"},
                             query="")
        self.assertIn("https://example.org/vocab#speed", compact)

    # --- GET /entities/{id} --------------------------------------------------------------
    def test_retrieve_representations(self):
        eid = "urn:ngsi-ld:Car:r1"
        self.create(car(eid, speed={"type": "Property", "value": 50, "unitCode": "KMH",
                                    "observedAt": "2024-01-01T00:00:00Z",
                                    "accuracy": {"type": "Property", "value": 0.5}},
                        owner={"type": "Relationship", "object": "urn:ngsi-ld:Person:1"},
                        location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [13.4, 52.5]}}))
        norm = self.fetch(eid)
        self.assertEqual(norm["id"], eid)
        self.assertEqual(norm["type"], "Car")
        self.assertEqual(norm["speed"], {"type": "Property", "value": 50, "unitCode": "KMH",
                                         "observedAt": "2024-01-01T00:00:00.000Z" if "." in norm["speed"]["observedAt"]
                                         else "2024-01-01T00:00:00Z",
                                         "accuracy": {"type": "Property", "value": 0.5}})
        self.assertEqual(norm["owner"], {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"})
        self.assertNotIn("createdAt", norm)
        kv = self.fetch(eid, "?options=keyValues")
        self.assertEqual(kv["speed"], 50)
        self.assertEqual(kv["owner"], "urn:ngsi-ld:Person:1")
        self.assertEqual(kv["location"], {"type": "Point", "coordinates": [13.4, 52.5]})
        self.assertEqual(self.fetch(eid, "?format=keyValues"), kv)
        self.assertEqual(self.fetch(eid, "?options=simplified"), kv)
        concise = self.fetch(eid, "?options=concise")
        self.assertNotIn("type", concise["speed"])
        self.assertEqual(concise["speed"]["value"], 50)
        self.assertEqual(concise["speed"]["accuracy"], 0.5)
        self.assertEqual(concise["owner"], {"object": "urn:ngsi-ld:Person:1"})
        self.assertEqual(self.fetch(eid, "?format=concise"), concise)
        self.assertEqual(self.fetch(eid, "?format=normalized&options=keyValues"), norm)

    def test_retrieve_sys_attrs(self):
        eid = "urn:ngsi-ld:Car:r2"
        self.create(car(eid))
        e = self.fetch(eid, "?options=sysAttrs")
        for member in (e, e["speed"]):
            self.assertRegex(member["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
            self.assertIn("modifiedAt", member)

    def test_retrieve_attrs_projection(self):
        eid = "urn:ngsi-ld:Car:r3"
        self.create(car(eid, color={"type": "Property", "value": "red"}, size={"type": "Property", "value": 3}))
        e = self.fetch(eid, "?attrs=color,size")
        self.assertEqual(set(e) - {"id", "type"}, {"color", "size"})
        # §5.7.1.4: an entity with none of the listed Attributes is ResourceNotFound.
        self.assertProblem(self.hub.get(f"{E}/{eid}?attrs=nothere"), 404, "ResourceNotFound")

    def test_retrieve_pick_and_omit(self):
        eid = "urn:ngsi-ld:Car:pick1"
        self.create(car(eid, color={"type": "Property", "value": "red"}, size={"type": "Property", "value": 3}))
        self.assertEqual(self.fetch(eid, "?pick=id,color"), {"id": eid, "color": {"type": "Property", "value": "red"}})
        self.assertEqual(self.fetch(eid, "?pick=color,size&options=keyValues"), {"color": "red", "size": 3})
        self.assertEqual(set(self.fetch(eid, "?omit=type,speed")), {"id", "color", "size"})
        self.assertEqual(self.fetch(eid, "?pick=id&omit=type"), {"id": eid})  # both apply
        self.assertProblem(self.hub.get(f"{E}/{eid}?pick=id,type&omit=type"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{E}/{eid}?pick=id,,type"), 400)

    def test_retrieve_accept_ld_json_puts_context_in_body(self):
        eid = "urn:ngsi-ld:Car:r4"
        self.create(car(eid))
        r = self.hub.get(f"{E}/{eid}", headers={"Accept": "application/ld+json"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/ld+json"))
        self.assertIsNone(r.header("Link"))
        self.assertEqual(r.json()["@context"], CORE_CONTEXT)
        r = self.hub.get(f"{E}/{eid}", headers={"Accept": "application/json"})
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertNotIn("@context", r.json())
        self.assertIn(f"<{CORE_CONTEXT}>", r.header("Link"))
        self.assertIn('rel="http://www.w3.org/ns/json-ld#context"', r.header("Link"))

    def test_retrieve_geojson_feature(self):
        eid = "urn:ngsi-ld:Car:geo1"
        point = {"type": "Point", "coordinates": [13.4, 52.5]}
        area = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
        self.create(car(eid, location={"type": "GeoProperty", "value": point},
                        area={"type": "GeoProperty", "value": area}))
        r = self.hub.get(f"{E}/{eid}", headers={"Accept": "application/geo+json"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/geo+json"))
        f = r.json()
        # GS CIM 009 §5.2.29: a Feature has an "@context" member (the JSON-LD @context), so the
        # GeoJSON body is self-describing like an application/ld+json one, with no Link header.
        self.assertEqual(f["@context"], CORE_CONTEXT)
        self.assertFalse(any("json-ld#context" in v for v in r.headers_all("Link")), r.headers)
        self.assertEqual((f["type"], f["id"], f["geometry"]), ("Feature", eid, point))
        self.assertEqual(f["properties"]["type"], "Car")
        self.assertEqual(f["properties"]["speed"], {"type": "Property", "value": 50})
        self.assertEqual(f["properties"]["location"]["value"], point)
        self.assertNotIn("id", f["properties"])
        for query in ("?geometryProperty=area", "?geometryProperty=area&options=keyValues",
                      "?geometryProperty=area&options=concise"):
            with self.subTest(query):
                r = self.hub.get(f"{E}/{eid}{query}", headers={"Accept": "application/geo+json"})
                self.assertEqual(r.json()["geometry"], area)
        kv = self.hub.get(f"{E}/{eid}?options=keyValues", headers={"Accept": "application/geo+json"}).json()
        self.assertEqual((kv["geometry"], kv["properties"]["speed"]), (point, 50))
        none = self.hub.get(f"{E}/{eid}?geometryProperty=speed", headers={"Accept": "application/geo+json"}).json()
        self.assertIsNone(none["geometry"])

    def test_retrieve_not_acceptable_406(self):
        self.create(car("urn:ngsi-ld:Car:r5"))
        for accept in ("text/html", "application/ld+json;q=0, text/plain", "application/json; q=0"):
            with self.subTest(accept):
                self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Car:r5", headers={"Accept": accept}).status, 406)

    def test_accept_quality_values(self):
        eid = "urn:ngsi-ld:Car:q1"
        self.create(car(eid))
        cases = {"application/ld+json;q=0.5, application/json": "application/json",
                 "application/json;q=0.2, application/ld+json;q=0.9": "application/ld+json",
                 "application/json, application/ld+json": "application/json",
                 "text/html, */*;q=0.1": "application/json",
                 "application/geo+json;q=0.3, application/ld+json;q=0.2": "application/geo+json"}
        for accept, media in cases.items():
            with self.subTest(accept):
                r = self.hub.get(f"{E}/{eid}", headers={"Accept": accept})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type").split(";")[0], media)

    def test_retrieve_404_and_400(self):
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Car:none"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.get(f"{E}/notauri"), 400, "BadRequestData")
        self.create(car("urn:ngsi-ld:Car:r6"))
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Car:r6?options=bogus"), 400)
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Car:r6?format=bogus"), 400)

    # --- DELETE /entities/{id} -----------------------------------------------------------
    def test_delete_204_then_404(self):
        eid = "urn:ngsi-ld:Car:d1"
        self.create(car(eid))
        r = self.hub.delete(f"{E}/{eid}")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)
        self.assertProblem(self.hub.delete(f"{E}/{eid}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{E}/notauri"), 400, "BadRequestData")
        self.create(car(eid))  # the id is free again

    # --- PUT /entities/{id} (replace) ----------------------------------------------------
    def test_replace_204_keeps_created_at(self):
        eid = "urn:ngsi-ld:Car:p1"
        self.create(car(eid, color={"type": "Property", "value": "red"}))
        before = self.fetch(eid, "?options=sysAttrs")
        r = self.hub.put(f"{E}/{eid}", {"type": "Car", "weight": {"type": "Property", "value": 1200}})
        self.assertEqual(r.status, 204, r)
        after = self.fetch(eid, "?options=sysAttrs")
        self.assertNotIn("color", after)
        self.assertNotIn("speed", after)
        self.assertEqual(after["weight"]["value"], 1200)
        self.assertEqual(after["createdAt"], before["createdAt"])
        self.assertGreaterEqual(after["modifiedAt"], before["modifiedAt"])

    def test_replace_404_and_400(self):
        self.assertProblem(self.hub.put(f"{E}/urn:ngsi-ld:Car:none", {"type": "Car"}), 404, "ResourceNotFound")
        eid = "urn:ngsi-ld:Car:p2"
        self.create(car(eid))
        self.assertProblem(self.hub.put(f"{E}/{eid}", {"id": "urn:ngsi-ld:Car:other", "type": "Car"}), 400,
                           "BadRequestData")
        self.assertProblem(self.hub.put(f"{E}/{eid}", {"type": "Car", "speed": {"type": "Property"}}), 400,
                           "BadRequestData")
        self.assertEqual(self.hub.put(f"{E}/{eid}", {"type": "Car"}, content_type="text/plain").status, 415)
        self.assertEqual(self.fetch(eid)["speed"]["value"], 50)

    # --- PATCH /entities/{id} (merge) ----------------------------------------------------
    def test_merge_204(self):
        eid = "urn:ngsi-ld:Car:m1"
        self.create(car(eid, speed={"type": "Property", "value": 50, "unitCode": "KMH",
                                    "accuracy": {"type": "Property", "value": 1}},
                        color={"type": "Property", "value": "red"}))
        r = self.hub.patch(f"{E}/{eid}", {"speed": {"type": "Property", "value": 60},
                                          "size": {"type": "Property", "value": 4}})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual(e["speed"]["value"], 60)
        self.assertEqual(e["speed"]["unitCode"], "KMH")  # merged member by member
        self.assertEqual(e["speed"]["accuracy"]["value"], 1)
        self.assertEqual(e["color"]["value"], "red")
        self.assertEqual(e["size"]["value"], 4)

    def test_merge_null_deletes_and_merge_patch_media_type(self):
        eid = "urn:ngsi-ld:Car:m2"
        self.create(car(eid, color={"type": "Property", "value": "red"},
                        speed={"type": "Property", "value": 5, "accuracy": {"type": "Property", "value": 1}}))
        r = self.hub.patch(f"{E}/{eid}", {"color": "urn:ngsi-ld:null",
                                          "speed": {"value": 6, "accuracy": "urn:ngsi-ld:null"}},
                           content_type="application/merge-patch+json")
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertNotIn("color", e)
        self.assertNotIn("accuracy", e["speed"])
        self.assertEqual(e["speed"]["value"], 6)
        r = self.hub.patch(f"{E}/{eid}", {"speed": {"type": "Property", "value": "urn:ngsi-ld:null"}})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("speed", self.fetch(eid))

    def test_merge_concise_value(self):
        eid = "urn:ngsi-ld:Car:m3"
        self.create(car(eid))
        self.assertEqual(self.hub.patch(f"{E}/{eid}", {"speed": 99}).status, 204)
        self.assertEqual(self.fetch(eid)["speed"], {"type": "Property", "value": 99})

    def test_merge_404_and_400(self):
        self.assertProblem(self.hub.patch(f"{E}/urn:ngsi-ld:Car:none", {"speed": 1}), 404, "ResourceNotFound")
        eid = "urn:ngsi-ld:Car:m4"
        self.create(car(eid))
        self.assertProblem(self.hub.patch(f"{E}/{eid}", {"id": "urn:ngsi-ld:Car:zzz", "speed": 1}), 400,
                           "BadRequestData")
        self.assertProblem(self.hub.patch(f"{E}/{eid}", {"owner": {"type": "Relationship"}}), 400, "BadRequestData")
        self.assertEqual(self.hub.patch(f"{E}/{eid}", {"speed": 1}, content_type="text/csv").status, 415)

    # --- POST /entities/{id}/attrs (append) ----------------------------------------------
    def test_append_204_and_207_no_overwrite(self):
        eid = "urn:ngsi-ld:Car:a1"
        self.create(car(eid))
        r = self.hub.post(f"{E}/{eid}/attrs", {"color": {"type": "Property", "value": "red"},
                                               "speed": {"type": "Property", "value": 70}})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual((e["color"]["value"], e["speed"]["value"]), ("red", 70))
        r = self.hub.post(f"{E}/{eid}/attrs?options=noOverwrite",
                          {"speed": {"type": "Property", "value": 80}, "size": {"type": "Property", "value": 2}})
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["updated"], ["size"])
        self.assertEqual([n["attributeName"] for n in body["notUpdated"]], ["speed"])
        self.assertTrue(body["notUpdated"][0]["reason"])
        e = self.fetch(eid)
        self.assertEqual((e["speed"]["value"], e["size"]["value"]), (70, 2))

    def test_append_404_and_400(self):
        self.assertProblem(self.hub.post(f"{E}/urn:ngsi-ld:Car:none/attrs", {"a": {"type": "Property", "value": 1}}),
                           404, "ResourceNotFound")
        eid = "urn:ngsi-ld:Car:a2"
        self.create(car(eid))
        self.assertProblem(self.hub.post(f"{E}/{eid}/attrs", {"a": {"type": "Property"}}), 400, "BadRequestData")
        self.assertEqual(self.hub.post(f"{E}/{eid}/attrs", {"a": 1}, content_type="text/plain").status, 415)
        # an options value the operation does not know is a syntax fault (§5.5.2 InvalidRequest)
        self.assertProblem(self.hub.post(f"{E}/{eid}/attrs?options=noOverwrit", {"speed": 1}), 400, "InvalidRequest")
        self.assertEqual(self.fetch(eid)["speed"]["value"], 50)

    # --- PATCH /entities/{id}/attrs (update) ---------------------------------------------
    def test_update_attrs_204_and_207(self):
        """§5.6.2.4: a matching attribute is replaced; "If the target Entity does not include a
        matching Attribute [...] then such Attribute shall be appended"; only an NGSI-LD Null
        naming nothing leaves something not updated (207)."""
        eid = "urn:ngsi-ld:Car:u1"
        self.create(car(eid))
        r = self.hub.patch(f"{E}/{eid}/attrs", {"speed": {"type": "Property", "value": 10}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["speed"]["value"], 10)
        r = self.hub.patch(f"{E}/{eid}/attrs", {"speed": {"type": "Property", "value": 11},
                                                "ghost": {"type": "Property", "value": 1}})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual((e["speed"]["value"], e["ghost"]["value"]), (11, 1))
        r = self.hub.patch(f"{E}/{eid}/attrs", {"speed": {"type": "Property", "value": 12}, "phantom": "urn:ngsi-ld:null"})
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["updated"], ["speed"])
        self.assertEqual([n["attributeName"] for n in body["notUpdated"]], ["phantom"])
        e = self.fetch(eid)
        self.assertEqual(e["speed"]["value"], 12)
        self.assertNotIn("phantom", e)

    def test_update_attrs_404_and_400(self):
        self.assertProblem(self.hub.patch(f"{E}/urn:ngsi-ld:Car:none/attrs", {"speed": {"type": "Property", "value": 1}}),
                           404, "ResourceNotFound")
        eid = "urn:ngsi-ld:Car:u2"
        self.create(car(eid))
        self.assertProblem(self.hub.patch(f"{E}/{eid}/attrs", {"speed": {"type": "Property"}}), 400, "BadRequestData")

    # --- /entities/{id}/attrs/{attrId} ---------------------------------------------------
    def test_partial_attribute_update_204(self):
        eid = "urn:ngsi-ld:Car:pa1"
        self.create(car(eid, speed={"type": "Property", "value": 50, "unitCode": "KMH"}))
        r = self.hub.patch(f"{E}/{eid}/attrs/speed", {"value": 55})
        self.assertEqual(r.status, 204, r)
        speed = self.fetch(eid)["speed"]
        self.assertEqual((speed["value"], speed["unitCode"]), (55, "KMH"))
        r = self.hub.patch(f"{E}/{eid}/attrs/speed", {"observedAt": "2024-05-01T10:00:00Z"})
        self.assertEqual(r.status, 204, r)
        speed = self.fetch(eid)["speed"]
        self.assertEqual(speed["value"], 55)
        self.assertTrue(speed["observedAt"].startswith("2024-05-01T10:00:00"))

    def test_replace_attribute_204(self):
        eid = "urn:ngsi-ld:Car:ra1"
        self.create(car(eid, speed={"type": "Property", "value": 50, "unitCode": "KMH"}))
        r = self.hub.put(f"{E}/{eid}/attrs/speed", {"type": "Property", "value": 7})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["speed"], {"type": "Property", "value": 7})

    def test_attribute_endpoints_404(self):
        eid = "urn:ngsi-ld:Car:at404"
        self.create(car(eid))
        for method in ("patch", "put"):
            with self.subTest(method):
                fn = getattr(self.hub, method)
                self.assertProblem(fn(f"{E}/{eid}/attrs/ghost", {"type": "Property", "value": 1}), 404,
                                   "ResourceNotFound")
                self.assertProblem(fn(f"{E}/urn:ngsi-ld:Car:none/attrs/speed", {"type": "Property", "value": 1}),
                                   404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{E}/{eid}/attrs/ghost"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{E}/urn:ngsi-ld:Car:none/attrs/speed"), 404, "ResourceNotFound")
        self.assertNotIn("ghost", self.fetch(eid))

    def test_attribute_endpoints_400(self):
        eid = "urn:ngsi-ld:Car:at400"
        self.create(car(eid))
        self.assertProblem(self.hub.put(f"{E}/{eid}/attrs/speed", {"type": "Property"}), 400, "BadRequestData")
        self.assertProblem(self.hub.patch(f"{E}/notauri/attrs/speed", {"value": 1}), 400, "BadRequestData")
        self.assertProblem(self.hub.delete(f"{E}/{eid}/attrs/speed?datasetId=notauri"), 400, "BadRequestData")
        self.assertEqual(self.hub.put(f"{E}/{eid}/attrs/speed", {"value": 1}, content_type="text/plain").status, 415)

    def test_delete_attribute_204(self):
        eid = "urn:ngsi-ld:Car:da1"
        self.create(car(eid, color={"type": "Property", "value": "red"}))
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/color").status, 204)
        e = self.fetch(eid)
        self.assertNotIn("color", e)
        self.assertIn("speed", e)

    def test_dataset_id_multi_instance(self):
        eid = "urn:ngsi-ld:Car:ds1"
        self.create({"id": eid, "type": "Car", "temp": [
            {"type": "Property", "value": 20},
            {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:a"},
            {"type": "Property", "value": 22, "datasetId": "urn:ngsi-ld:Dataset:b"}]})
        temp = self.fetch(eid)["temp"]
        self.assertIsInstance(temp, list)
        by_ds = {i.get("datasetId"): i["value"] for i in temp}
        self.assertEqual(by_ds, {None: 20, "urn:ngsi-ld:Dataset:a": 21, "urn:ngsi-ld:Dataset:b": 22})
        # partial update of one instance
        r = self.hub.patch(f"{E}/{eid}/attrs/temp", {"value": 31, "datasetId": "urn:ngsi-ld:Dataset:a"})
        self.assertEqual(r.status, 204, r)
        by_ds = {i.get("datasetId"): i["value"] for i in self.fetch(eid)["temp"]}
        self.assertEqual(by_ds, {None: 20, "urn:ngsi-ld:Dataset:a": 31, "urn:ngsi-ld:Dataset:b": 22})
        # delete one instance, then a missing one
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/temp?datasetId=urn:ngsi-ld:Dataset:b").status, 204)
        self.assertProblem(self.hub.delete(f"{E}/{eid}/attrs/temp?datasetId=urn:ngsi-ld:Dataset:b"), 404)
        by_ds = {i.get("datasetId"): i["value"] for i in self.fetch(eid)["temp"]}
        self.assertEqual(by_ds, {None: 20, "urn:ngsi-ld:Dataset:a": 31})
        # the default instance only
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/temp").status, 204)
        temp = self.fetch(eid)["temp"]
        temp = temp if isinstance(temp, list) else [temp]
        self.assertEqual([(i.get("datasetId"), i["value"]) for i in temp], [("urn:ngsi-ld:Dataset:a", 31)])
        # deleteAll
        self.hub.post(f"{E}/{eid}/attrs", {"temp": {"type": "Property", "value": 1}})
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/temp?deleteAll=true").status, 204)
        self.assertNotIn("temp", self.fetch(eid))

    def test_append_adds_dataset_instance(self):
        eid = "urn:ngsi-ld:Car:ds2"
        self.create(car(eid))
        r = self.hub.post(f"{E}/{eid}/attrs", {"speed": {"type": "Property", "value": 9,
                                                         "datasetId": "urn:ngsi-ld:Dataset:gps"}})
        self.assertEqual(r.status, 204, r)
        speed = self.fetch(eid)["speed"]
        self.assertEqual(sorted((i.get("datasetId") or "", i["value"]) for i in speed),
                         [("", 50), ("urn:ngsi-ld:Dataset:gps", 9)])

    # --- attribute types -----------------------------------------------------------------
    def test_all_attribute_types_round_trip(self):
        eid = "urn:ngsi-ld:Thing:t1"
        attrs = {
            "p": {"type": "Property", "value": {"nested": [1, "two", None, True]}},
            "r": {"type": "Relationship", "object": "urn:ngsi-ld:Other:1"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
            "name": {"type": "LanguageProperty", "languageMap": {"en": "bridge", "de": "Brücke"}},
            "category": {"type": "VocabProperty", "vocab": "OffStreet"},
            "doc": {"type": "JsonProperty", "json": {"a": [1, {"b": None}], "@id": "raw"}},
            "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
            "parts": {"type": "ListRelationship",
                      "objectList": [{"object": "urn:ngsi-ld:Part:1"}, {"object": "urn:ngsi-ld:Part:2"}]},
            "temp": {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "2024-03-01T12:00:00Z",
                     "sensor": {"type": "Relationship", "object": "urn:ngsi-ld:Sensor:9",
                                "calibrated": {"type": "Property", "value": True}}},
        }
        self.create(dict({"id": eid, "type": "Thing"}, **attrs))
        e = self.fetch(eid)
        for name in ("p", "r", "location", "name", "category", "doc", "readings", "parts"):
            with self.subTest(name):
                self.assertEqual(e[name], attrs[name])
        self.assertEqual(e["temp"]["unitCode"], "CEL")
        self.assertTrue(e["temp"]["observedAt"].startswith("2024-03-01T12:00:00"))
        self.assertEqual(e["temp"]["sensor"]["calibrated"], {"type": "Property", "value": True})
        kv = self.fetch(eid, "?options=keyValues")
        self.assertEqual(kv["p"], attrs["p"]["value"])
        self.assertEqual(kv["r"], "urn:ngsi-ld:Other:1")
        self.assertEqual(kv["temp"], 21.5)

    def test_observed_at_with_offset_stored_in_utc(self):
        eid = "urn:ngsi-ld:Car:utc1"
        self.create(car(eid, speed={"type": "Property", "value": 1, "observedAt": "2024-01-01T02:30:00+02:00"}))
        self.assertEqual(self.fetch(eid)["speed"]["observedAt"], "2024-01-01T00:30:00Z")

    def test_attribute_type_validation(self):
        base = {"id": "urn:ngsi-ld:Thing:bad", "type": "Thing"}
        cases = {
            "languageMap not object": {"name": {"type": "LanguageProperty", "languageMap": "x"}},
            "vocab missing": {"v": {"type": "VocabProperty"}},
            "json missing": {"j": {"type": "JsonProperty"}},
            "valueList not array": {"l": {"type": "ListProperty", "valueList": 3}},
            "objectList bad item": {"l": {"type": "ListRelationship", "objectList": [{"object": "x y"}]}},
            "datasetId not URI": {"t": {"type": "Property", "value": 1, "datasetId": "nope"}},
            "duplicate datasetId": {"t": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]},
        }
        for name, attrs in cases.items():
            with self.subTest(name):
                self.assertProblem(self.hub.post(E, dict(base, **attrs)), 400, "BadRequestData")

    # --- @context handling ---------------------------------------------------------------
    def hosted_context(self):
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", USER_CTX)
        self.assertEqual(r.status, 201, r)
        return r.header("Location")

    def test_user_context_via_link_header(self):
        url = self.hosted_context()
        eid = "urn:ngsi-ld:Car:ctx1"
        self.create({"id": eid, "type": "Car", "speed": {"type": "Property", "value": 3},
                     "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:2"},
                     "color": {"type": "Property", "value": "blue"}}, headers=link_header(url))
        with_ctx = self.hub.get(f"{E}/{eid}", headers=link_header(url))
        self.assertEqual(with_ctx.status, 200)
        self.assertIn(f"<{url}>", with_ctx.header("Link"))
        e = with_ctx.json()
        self.assertEqual(e["type"], "Car")
        self.assertEqual(e["speed"]["value"], 3)
        self.assertIn("owner", e)
        self.assertIn("color", e)
        plain = self.fetch(eid)
        self.assertEqual(plain["type"], "https://example.org/vocab#Car")
        self.assertEqual(plain["https://example.org/vocab#speed"]["value"], 3)
        self.assertIn("https://example.org/vocab#owner", plain)
        self.assertNotIn("speed", plain)
        self.assertIn("color", plain)  # default vocab compacts back with the core context
        # attrs= uses the request context too
        self.assertEqual(set(self.fetch(eid, "?attrs=speed", headers=link_header(url))) - {"id", "type"}, {"speed"})
        self.assertProblem(self.hub.get(f"{E}/{eid}?attrs=speed"), 404, "ResourceNotFound")
        # ld+json answer carries the user context in the body
        r = self.hub.get(f"{E}/{eid}", headers=dict(link_header(url), Accept="application/ld+json"))
        self.assertEqual(r.json()["@context"], url)
        # writes with the context reach the same attribute
        r = self.hub.patch(f"{E}/{eid}/attrs/speed", {"value": 4}, headers=link_header(url))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["https://example.org/vocab#speed"]["value"], 4)
        # without it, 'speed' is a different attribute that does not exist
        self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs/speed", {"value": 5}).status, 404)

    def test_default_vocab_expansion_is_stable(self):
        eid = "urn:ngsi-ld:Car:ctx2"
        self.create(car(eid))
        r = self.hub.get(f"{E}/{eid}?attrs={DEFAULT}speed")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["speed"]["value"], 50)


if __name__ == "__main__":
    unittest.main()
