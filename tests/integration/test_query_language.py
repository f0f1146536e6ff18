"""The query engine over real HTTP (GS CIM 009 §4.9, §4.10, §4.19, §5.7.2, §6.23): q, geo-queries,
scopeQ, lang, GeoJSON, count and paging with filters, POST /entityOperations/query, indexes that
follow updates, and bad queries answered with a clear 4xx in milliseconds.

The data is a 10 x 10 grid of parking spots 0.001 degrees apart in Jeonju; expected answers are
computed here from the grid with plain arithmetic (haversine for distances), not by the hub."""
import json
import math
import time
import unittest
from urllib.parse import quote

from hub import HubTestCase, link_header

E = "/ngsi-ld/v1/entities"
Q = "/ngsi-ld/v1/entityOperations/query"
LON0, LAT0, STEP = 127.10, 35.80, 0.001
R = 6371008.8


def spot_id(i, j):
    return f"urn:ngsi-ld:ParkingSpot:p{i}{j}"


def position(i, j):
    return [round(LON0 + i * STEP, 6), round(LAT0 + j * STEP, 6)]


def status_of(i, j):
    return "free" if (i + j) % 3 == 0 else "occupied"


def haversine(a, b):
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


GRID = [(i, j) for i in range(10) for j in range(10)]


class QueryLanguageTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        batch = []
        for i, j in GRID:
            batch.append({
                "id": spot_id(i, j), "type": "ParkingSpot",
                "scope": "/Jeonju/Deokjin" if i < 5 else "/Jeonju/Wansan",
                "status": {"type": "Property", "value": status_of(i, j)},
                "available": {"type": "Property", "value": i * 10 + j},
                "covered": {"type": "Property", "value": j == 0},
                "refParkingSite": {"type": "Relationship", "object": f"urn:ngsi-ld:ParkingSite:s{i % 2}"},
                "name": {"type": "LanguageProperty", "languageMap": {"ko": f"주차면 {i}{j}", "en": f"Spot {i}{j}"}},
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": position(i, j)}},
            })
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create", batch)
        assert r.status == 201, r

    def query(self, params, status=200, **kw):
        r = self.hub.get(f"{E}?{params}", **kw)
        self.assertEqual(r.status, status, r)
        return r

    def ids(self, params, **kw):
        return [e["id"] for e in self.query(params, **kw).json()]

    def q(self, text, extra="type=ParkingSpot&limit=1000"):
        return self.ids(f"{extra}&q={quote(text)}")

    def expect(self, pred):
        return sorted(spot_id(i, j) for i, j in GRID if pred(i, j))

    # --- q ---------------------------------------------------------------------------------
    def test_q_comparisons_ranges_lists_and_logic(self):
        self.assertEqual(self.q('status=="free"'), self.expect(lambda i, j: status_of(i, j) == "free"))
        self.assertEqual(self.q("available>=50;available<60"), self.expect(lambda i, j: i == 5))
        self.assertEqual(self.q("available==5..7"), self.expect(lambda i, j: i == 0 and 5 <= j <= 7))
        self.assertEqual(self.q("available==3,33,93"), [spot_id(0, 3), spot_id(3, 3), spot_id(9, 3)])
        self.assertEqual(self.q('(status=="free"|available<3);available!=0'),
                         self.expect(lambda i, j: (status_of(i, j) == "free" or i * 10 + j < 3) and i * 10 + j != 0))
        self.assertEqual(self.q("covered==true;available>80"), [spot_id(9, 0)])
        self.assertEqual(self.q('refParkingSite=="urn:ngsi-ld:ParkingSite:s1";available<20'),
                         self.expect(lambda i, j: i == 1))
        self.assertEqual(self.q('status~="^fr"'), self.q('status=="free"'))
        self.assertEqual(self.q('available=="5"'), [])  # a string never equals a number

    def test_q_without_type_uses_every_type(self):
        self.assertEqual(self.ids("q=" + quote("available==42")), [spot_id(4, 2)])

    def test_count_with_q_and_paging_is_stable(self):
        r = self.query("type=ParkingSpot&count=true&limit=7&q=" + quote('status=="occupied"'))
        expected = self.expect(lambda i, j: status_of(i, j) == "occupied")
        self.assertEqual(r.header("NGSILD-Results-Count"), str(len(expected)))
        pages, offset = [], 0
        while True:
            page = self.ids(f"type=ParkingSpot&limit=7&offset={offset}&q=" + quote('status=="occupied"'))
            pages += page
            if len(page) < 7:
                break
            offset += 7
        self.assertEqual(pages, expected)

    def test_index_follows_updates_and_deletes(self):
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create", [
            {"id": "urn:ngsi-ld:Meter:m1", "type": "Meter", "reading": {"type": "Property", "value": 10}}])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.q("reading==10", "type=Meter"), ["urn:ngsi-ld:Meter:m1"])
        r = self.hub.patch(E + "/urn:ngsi-ld:Meter:m1/attrs", {"reading": {"type": "Property", "value": 11}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.q("reading==10", "type=Meter"), [])
        self.assertEqual(self.q("reading==11", "type=Meter"), ["urn:ngsi-ld:Meter:m1"])
        self.assertEqual(self.hub.delete(E + "/urn:ngsi-ld:Meter:m1").status, 204)
        self.assertEqual(self.q("reading==11", "type=Meter"), [])

    # --- geo -------------------------------------------------------------------------------
    def geo(self, georel, geometry, coordinates, extra="type=ParkingSpot&limit=1000", **kw):
        return self.query(f"{extra}&georel={quote(georel)}&geometry={geometry}"
                          f"&coordinates={quote(json.dumps(coordinates))}", **kw)

    def test_near_max_and_min_distance(self):
        origin = [LON0, LAT0]
        got = [e["id"] for e in self.geo("near;maxDistance==150", "Point", origin).json()]
        self.assertEqual(got, self.expect(lambda i, j: haversine(origin, position(i, j)) <= 150))
        self.assertEqual(len(got), 4)  # (0,0) 0 m, (1,0) ~90 m, (0,1) ~111 m, (1,1) ~143 m
        got = [e["id"] for e in self.geo("near;minDistance==100;maxDistance==150", "Point", origin).json()]
        self.assertEqual(got, [spot_id(0, 1), spot_id(1, 1)])

    def test_within_polygon_with_count_and_q(self):
        box = [[[127.1025, 35.8015], [127.1055, 35.8015], [127.1055, 35.8045], [127.1025, 35.8045], [127.1025, 35.8015]]]
        r = self.geo("within", "Polygon", box, extra="type=ParkingSpot&count=true&limit=100")
        self.assertEqual(r.header("NGSILD-Results-Count"), "9")
        self.assertEqual([e["id"] for e in r.json()], self.expect(lambda i, j: 3 <= i <= 5 and 2 <= j <= 4))
        r = self.geo("within", "Polygon", box, extra="type=ParkingSpot&count=true&limit=0&q=" + quote('status=="free"'))
        self.assertEqual(r.header("NGSILD-Results-Count"),
                         str(sum(1 for i, j in GRID if 3 <= i <= 5 and 2 <= j <= 4 and status_of(i, j) == "free")))

    def test_disjoint_and_intersects(self):
        box = [[[127.0995, 35.7995], [127.1015, 35.7995], [127.1015, 35.8015], [127.0995, 35.8015], [127.0995, 35.7995]]]
        inside = self.expect(lambda i, j: i <= 1 and j <= 1)
        self.assertEqual([e["id"] for e in self.geo("intersects", "Polygon", box).json()], inside)
        r = self.geo("disjoint", "Polygon", box, extra="type=ParkingSpot&count=true&limit=0")
        self.assertEqual(r.header("NGSILD-Results-Count"), str(100 - len(inside)))

    def test_geojson_feature_collection(self):
        r = self.geo("near;maxDistance==1", "Point", [LON0, LAT0], headers={"Accept": "application/geo+json"})
        self.assertEqual(r.header("Content-Type").split(";")[0], "application/geo+json")
        body = r.json()
        self.assertEqual(body["type"], "FeatureCollection")
        self.assertEqual(len(body["features"]), 1)
        feature = body["features"][0]
        self.assertEqual(feature["id"], spot_id(0, 0))
        self.assertEqual(feature["geometry"], {"type": "Point", "coordinates": [LON0, LAT0]})

    def test_geoproperty_other_than_location(self):
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Drone:d1", "type": "Drone",
                              "operationSpace": {"type": "GeoProperty", "value": {
                                  "type": "Polygon", "coordinates": [[[127.0, 35.0], [128.0, 35.0], [128.0, 36.0], [127.0, 36.0], [127.0, 35.0]]]}}})
        self.assertEqual(r.status, 201, r)
        got = self.geo("contains", "Point", [127.5, 35.5], extra="type=Drone&geoproperty=operationSpace").json()
        self.assertEqual([e["id"] for e in got], ["urn:ngsi-ld:Drone:d1"])
        got = self.geo("contains", "Point", [129.5, 35.5], extra="type=Drone&geoproperty=operationSpace").json()
        self.assertEqual(got, [])

    # --- scope, lang, pick ------------------------------------------------------------------
    def test_scope_q(self):
        self.assertEqual(self.ids("type=ParkingSpot&limit=1000&scopeQ=/Jeonju/Deokjin"), self.expect(lambda i, j: i < 5))
        self.assertEqual(len(self.ids("type=ParkingSpot&limit=1000&scopeQ=" + quote("/Jeonju/#"))), 100)
        self.assertEqual(self.ids("type=ParkingSpot&limit=1000&scopeQ=/Seoul"), [])

    def test_lang_picks_one_language(self):
        r = self.query(f"id={spot_id(1, 2)}&lang=en")
        self.assertEqual(r.json()[0]["name"], {"type": "Property", "value": "Spot 12", "lang": "en"})
        r = self.query(f"id={spot_id(1, 2)}&lang=fr,ko&options=keyValues")
        self.assertEqual(r.json()[0]["name"], "주차면 12")
        r = self.query(f"id={spot_id(1, 2)}")
        self.assertEqual(r.json()[0]["name"]["languageMap"], {"ko": "주차면 12", "en": "Spot 12"})
        r = self.hub.get(f"{E}/{spot_id(1, 2)}?lang=en&options=concise")
        self.assertEqual(r.json()["name"], {"value": "Spot 12", "lang": "en"})

    def test_pick_with_q(self):
        r = self.query("type=ParkingSpot&pick=id,available&q=" + quote("available==77"))
        self.assertEqual(r.json(), [{"id": spot_id(7, 7), "available": {"type": "Property", "value": 77}}])

    # --- POST /entityOperations/query --------------------------------------------------------
    def test_post_query_equals_get(self):
        body = {"type": "Query", "entities": [{"type": "ParkingSpot"}], "q": 'status=="free"',
                "geoQ": {"georel": "near;maxDistance==300", "geometry": "Point", "coordinates": [LON0, LAT0]},
                "attrs": ["status"]}
        r = self.hub.post(Q + "?limit=1000&count=true", body)
        self.assertEqual(r.status, 200, r)
        expected = self.expect(lambda i, j: status_of(i, j) == "free" and haversine([LON0, LAT0], position(i, j)) <= 300)
        self.assertEqual([e["id"] for e in r.json()], expected)
        self.assertEqual(r.header("NGSILD-Results-Count"), str(len(expected)))
        self.assertEqual(set(r.json()[0]) - {"id", "type", "scope"}, {"status"})
        # Coordinates given as JSON text are accepted too; a Link header @context applies.
        body["geoQ"]["coordinates"] = json.dumps([LON0, LAT0])
        r = self.hub.post(Q + "?limit=1000", body, headers=link_header("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"))
        self.assertEqual([e["id"] for e in r.json()], expected)

    def test_post_query_errors(self):
        self.assertProblem(self.hub.post(Q, {"type": "Subscription"}), 400, "BadRequestData")
        self.assertProblem(self.hub.post(Q, {"entities": [{"id": "urn:x:1"}]}), 400, "BadRequestData")
        self.assertProblem(self.hub.post(Q, {"entities": [{"type": "A"}], "geoQ": {"georel": "within"}}), 400, "BadRequestData")
        self.assertProblem(self.hub.post(Q, {"entities": [{"type": "A"}], "temporalQ": {}}), 422, "OperationNotSupported")
        self.assertProblem(self.hub.post(Q, {"entities": [{"type": "A"}], "qq": "a==1"}), 400, "BadRequestData")
        self.assertProblem(self.hub.post(Q, [1, 2]), 400)

    # --- bad input ---------------------------------------------------------------------------
    def assertFastProblem(self, params, status, error_type=None, post_body=None):
        start = time.monotonic()
        r = self.hub.post(Q, post_body) if post_body is not None else self.hub.get(f"{E}?{params}")
        elapsed = time.monotonic() - start
        self.assertProblem(r, status, error_type)
        self.assertLess(elapsed, 1.0, params[:80] if params else "")
        return r.json()

    def test_syntax_errors_name_the_position(self):
        body = self.assertFastProblem("type=ParkingSpot&q=" + quote("available>>3"), 400, "InvalidRequest")
        self.assertIn("position", body["detail"])
        self.assertFastProblem("type=ParkingSpot&q=" + quote("(available>3"), 400, "InvalidRequest")
        self.assertFastProblem("type=ParkingSpot&scopeQ=" + quote("Jeonju"), 400)

    def test_pathological_queries_are_refused_quickly(self):
        deep = "(" * 10000 + "a==1" + ")" * 10000
        self.assertFastProblem("", 403, "TooComplexQuery", post_body={"entities": [{"type": "A"}], "q": deep})
        r = self.hub.get(f"{E}?type=ParkingSpot&q=" + quote(deep))  # 30 KB URL: refused by the HTTP layer
        self.assertEqual(r.status, 431, r)
        body = self.assertFastProblem("type=ParkingSpot&q=" + quote("(" * 40 + "a==1" + ")" * 40), 403, "TooComplexQuery")
        self.assertIn("32", body["detail"])
        self.assertFastProblem("", 403, "TooComplexQuery", post_body={"entities": [{"type": "A"}], "q": "a==1;" * 150000 + "a==1"})
        r = self.hub.get(f"{E}?type=ParkingSpot&q=" + "a" * (1 << 20))  # 1 MB URL: refused by the HTTP layer
        self.assertIn(r.status, (414, 431), r)
        self.assertFastProblem("type=ParkingSpot&q=" + quote("available>NaN"), 400)
        self.assertFastProblem("type=ParkingSpot&q=" + quote("available>1e999"), 400)
        # A catastrophic-backtracking pattern for backtracking engines is linear in RE2.
        start = time.monotonic()
        r = self.query("type=ParkingSpot&limit=1000&q=" + quote('status~="(a+)+$"'))
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(r.json(), [])

    def test_invalid_geometries_give_400_with_the_reason(self):
        cases = [
            ("within", "Polygon", [[[127.1, 35.8], [127.2, 35.8], [127.2, 35.9], [127.1, 35.9]]]),  # unclosed
            ("within", "Polygon", [[[127.1, 35.8], [127.2, 35.9], [127.2, 35.8], [127.1, 35.9], [127.1, 35.8]]]),  # bow tie
            ("near;maxDistance==10", "Point", [190.0, 35.8]),
            ("near;maxDistance==10", "Point", [127.1, 95.0]),
            ("near", "Point", [127.1, 35.8]),
            ("near;maxDistance==-5", "Point", [127.1, 35.8]),
            ("nearby;maxDistance==5", "Point", [127.1, 35.8]),
            ("within", "Circle", [127.1, 35.8]),
        ]
        for georel, geometry, coordinates in cases:
            with self.subTest(georel=georel, geometry=geometry, coordinates=coordinates):
                body = self.assertFastProblem(f"type=ParkingSpot&georel={quote(georel)}&geometry={geometry}"
                                              f"&coordinates={quote(json.dumps(coordinates))}", 400)
                self.assertTrue(body["detail"])
        self.assertFastProblem("type=ParkingSpot&georel=within&geometry=Polygon&coordinates=" + quote("[[[1,2],"), 400)
        self.assertFastProblem("type=ParkingSpot&georel=within&geometry=Polygon", 400, "BadRequestData")
        # The server keeps serving.
        self.assertEqual(len(self.ids("type=ParkingSpot&limit=5")), 5)


if __name__ == "__main__":
    unittest.main()
