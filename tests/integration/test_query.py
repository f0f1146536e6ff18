"""GET /entities (Query Entities, GS CIM 009 §5.7.2) over real HTTP: type, id and idPattern
filters, attrs, paging with limit/offset and Link rel=next/prev, count, limits and errors."""
import re
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from hub import Hub, HubTestCase

E = "/ngsi-ld/v1/entities"


def next_link(r, rel):
    for value in r.headers_all("Link"):
        for m in re.finditer(r'<([^>]*)>([^<]*)', value):
            if re.search(r'rel="?' + rel + r'"?(;|,|\s|$)', m.group(2)):
                return m.group(1)
    return None


class QueryTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        batch = []
        for i in range(45):
            batch.append({"id": f"urn:ngsi-ld:Sensor:s{i:03d}", "type": "Sensor",
                          "temp": {"type": "Property", "value": i}})
        for i in range(5):
            batch.append({"id": f"urn:ngsi-ld:Camera:c{i}", "type": "Camera",
                          "resolution": {"type": "Property", "value": "4k"}})
        for i in range(3):
            batch.append({"id": f"urn:ngsi-ld:Light:l{i}", "type": "Light",
                          "temp": {"type": "Property", "value": 100 + i},
                          "on": {"type": "Property", "value": True}})
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create", batch)
        assert r.status == 201, r

    def test_no_next_link_when_there_is_no_next_page(self):
        r = self.query("type=Camera&limit=0&count=true")
        self.assertEqual(r.header("NGSILD-Results-Count"), "5")
        self.assertIsNone(next_link(r, "next"))
        r = self.query("type=Camera&limit=5")  # exactly full, and nothing after it
        self.assertEqual(len(r.json()), 5)
        self.assertIsNone(next_link(r, "next"))
        r = self.query("type=Camera&limit=4")
        self.assertIsNotNone(next_link(r, "next"))

    def query(self, params, status=200, **kw):
        r = self.hub.get(f"{E}?{params}", **kw)
        self.assertEqual(r.status, status, r)
        return r

    def ids(self, params, **kw):
        return sorted(e["id"] for e in self.query(params, **kw).json())

    def test_type_single_and_list(self):
        self.assertEqual(self.ids("type=Camera"), [f"urn:ngsi-ld:Camera:c{i}" for i in range(5)])
        got = self.ids("type=Camera,Light")
        self.assertEqual(len(got), 8)
        self.assertTrue(all(":Camera:" in i or ":Light:" in i for i in got))
        self.assertEqual(self.ids("type=Nothing"), [])

    def test_id_list(self):
        got = self.ids("id=urn:ngsi-ld:Camera:c1,urn:ngsi-ld:Light:l2,urn:ngsi-ld:Nope:1")
        self.assertEqual(got, ["urn:ngsi-ld:Camera:c1", "urn:ngsi-ld:Light:l2"])
        self.assertEqual(self.ids("id=urn:ngsi-ld:Camera:c1&type=Light"), [])
        self.assertEqual(self.ids("id=urn:ngsi-ld:Camera:c1&type=Camera"), ["urn:ngsi-ld:Camera:c1"])

    def test_id_pattern(self):
        self.assertEqual(self.ids("idPattern=" + quote("^urn:ngsi-ld:Light:l[01]$")),
                         ["urn:ngsi-ld:Light:l0", "urn:ngsi-ld:Light:l1"])
        self.assertEqual(self.ids("type=Sensor&idPattern=" + quote("s00[0-2]$")),
                         [f"urn:ngsi-ld:Sensor:s00{i}" for i in range(3)])
        r = self.query("idPattern=" + quote("(unclosed"), status=400)
        self.assertEqual(r.json()["status"], 400)

    def test_attrs_filter_and_projection(self):
        got = self.query("type=Light,Camera&attrs=on").json()
        self.assertEqual(sorted(e["id"] for e in got), [f"urn:ngsi-ld:Light:l{i}" for i in range(3)])
        for e in got:
            self.assertEqual(set(e) - {"id", "type"}, {"on"})
        # attrs alone is a valid query
        self.assertEqual(len(self.ids("attrs=resolution")), 5)

    def test_pick_and_omit(self):
        got = self.query("type=Light&pick=id,on").json()
        self.assertEqual(sorted(e["id"] for e in got), [f"urn:ngsi-ld:Light:l{i}" for i in range(3)])
        self.assertTrue(all(set(e) == {"id", "on"} for e in got), got)
        got = self.query("type=Light&omit=temp&options=keyValues").json()
        self.assertTrue(all(set(e) == {"id", "type", "on"} for e in got), got)
        # §5.7.2.4: an entity matches only with one of the projection Attributes (cameras have
        # no 'on'); pick of entity members alone selects nothing.
        self.assertEqual(self.query("type=Camera&pick=id,on").json(), [])
        self.assertEqual(len(self.query("type=Camera&pick=id").json()), 5)
        self.assertEqual(self.query("type=Light&pick=on&omit=temp&options=keyValues").json(), [{"on": True}] * 3)
        self.assertProblem(self.query("type=Light&pick=on&omit=on", status=400), 400, "BadRequestData")

    def test_representations(self):
        kv = self.query("id=urn:ngsi-ld:Light:l1&options=keyValues").json()
        self.assertEqual(kv, [{"id": "urn:ngsi-ld:Light:l1", "type": "Light", "temp": 101, "on": True}])
        ld = self.query("id=urn:ngsi-ld:Light:l1", headers={"Accept": "application/ld+json"})
        self.assertIn("@context", ld.json()[0])
        self.assertFalse(any("json-ld#context" in v for v in ld.headers_all("Link")), ld.headers)

    def test_geojson_feature_collection(self):
        r = self.query("type=Camera&limit=2&options=keyValues", headers={"Accept": "application/geo+json"})
        self.assertTrue(r.header("Content-Type").startswith("application/geo+json"))
        body = r.json()
        self.assertEqual(body["type"], "FeatureCollection")
        # §5.2.30: the FeatureCollection carries the @context as a top-level member
        self.assertIn("@context", body)
        self.assertFalse(any("json-ld#context" in v for v in r.headers_all("Link")), r.headers)
        self.assertEqual(len(body["features"]), 2)
        for f in body["features"]:
            self.assertEqual(f["type"], "Feature")
            self.assertIsNone(f["geometry"])
            self.assertEqual(f["properties"], {"type": "Camera", "resolution": "4k"})
        self.assertIsNotNone(next_link(r, "next"))

    def test_default_limit_is_20(self):
        r = self.query("type=Sensor")
        self.assertEqual(len(r.json()), 20)
        self.assertIsNotNone(next_link(r, "next"))

    def test_limit_offset(self):
        page = self.query("type=Sensor&limit=10&offset=40").json()
        self.assertEqual(len(page), 5)
        all_ids = self.ids("type=Sensor&limit=100")
        self.assertEqual(len(all_ids), 45)
        self.assertEqual(self.query("type=Sensor&limit=5&offset=100").json(), [])

    def test_limit_too_large_403(self):
        self.assertProblem(self.query("type=Sensor&limit=1001", status=403), 403, "TooManyResults")
        self.assertEqual(len(self.query("type=Sensor&limit=1000").json()), 45)

    def test_bad_paging_params_400(self):
        for params in ("type=Sensor&limit=-1", "type=Sensor&limit=abc", "type=Sensor&offset=x",
                       "type=Sensor&count=maybe", "type=Sensor&limit=0"):
            with self.subTest(params):
                self.assertProblem(self.query(params, status=400), 400)

    def test_count(self):
        r = self.query("type=Sensor&count=true&limit=5")
        self.assertEqual(r.header("NGSILD-Results-Count"), "45")
        self.assertEqual(len(r.json()), 5)
        r = self.query("type=Sensor&count=true&limit=0")
        self.assertEqual(r.header("NGSILD-Results-Count"), "45")
        self.assertEqual(r.json(), [])
        self.assertIsNone(self.query("type=Sensor").header("NGSILD-Results-Count"))
        self.assertEqual(self.query("type=Nothing&count=true").header("NGSILD-Results-Count"), "0")

    def walk(self, first):
        seen = []
        url = first
        pages = 0
        while url:
            r = self.hub.get(url)
            self.assertEqual(r.status, 200, r)
            seen += [e["id"] for e in r.json()]
            url = next_link(r, "next")
            pages += 1
            self.assertLess(pages, 50)
        return seen, pages

    def test_link_next_walks_all_exactly_once(self):
        for extra in ("", "&count=true"):
            with self.subTest(extra):
                seen, pages = self.walk(f"{E}?type=Sensor,Light&limit=7{extra}")
                self.assertEqual(len(seen), 48)
                self.assertEqual(len(set(seen)), 48)
                self.assertEqual(pages, 7)

    def test_link_prev(self):
        r = self.query("type=Sensor&limit=10&offset=20")
        prev = next_link(r, "prev")
        self.assertIsNotNone(prev)
        back = self.hub.get(prev)
        self.assertEqual([e["id"] for e in back.json()],
                         [f"urn:ngsi-ld:Sensor:s{i:03d}" for i in range(10, 20)])
        self.assertIsNone(next_link(self.query("type=Sensor&limit=10"), "prev"))
        self.assertIsNone(next_link(self.query("type=Sensor&limit=10&offset=40"), "next"))

    def test_page_order_is_stable(self):
        a = [e["id"] for e in self.query("type=Sensor&limit=45").json()]
        b = [e["id"] for e in self.query("type=Sensor&limit=20").json()] + \
            [e["id"] for e in self.query("type=Sensor&limit=20&offset=20").json()] + \
            [e["id"] for e in self.query("type=Sensor&limit=20&offset=40").json()]
        self.assertEqual(a, b)

    def test_no_filter_400(self):
        self.assertProblem(self.query("", status=400), 400, "BadRequestData")
        self.assertProblem(self.query("limit=5", status=400), 400, "BadRequestData")

    def test_invalid_ids_and_types_400(self):
        self.assertProblem(self.query("id=notauri", status=400), 400, "BadRequestData")
        self.assertProblem(self.query("type=a%20b", status=400), 400, "BadRequestData")
        self.assertProblem(self.query("type=Sensor,", status=400), 400)

    def test_unknown_tenant_404(self):
        """§5.5.2 NonexistentTenant: "The addressed tenant does not exist"."""
        r = self.query("type=Sensor", status=404, headers={"NGSILD-Tenant": "nosuchtenant"})
        self.assertProblem(r, 404, "NonexistentTenant")


class OneQuerySlotTest(HubTestCase):
    """--query-threads 1: concurrent queries queue for the one slot and all complete; a query
    that ends in an error gives its slot back (a lost slot would make the next query wait the
    10 s query time limit and fail with 503)."""

    hub_args = ("--query-threads", "1")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        batch = [{"id": f"urn:ngsi-ld:Meter:m{i:02d}", "type": "Meter",
                  "reading": {"type": "Property", "value": i}} for i in range(30)]
        r = cls.hub.post("/ngsi-ld/v1/entityOperations/create", batch)
        assert r.status == 201, r

    def one(self, i):
        if i % 2:
            r = self.hub.post("/ngsi-ld/v1/entityOperations/query",
                              {"type": "Query", "entities": [{"type": "Meter"}], "q": f"reading>={i}"})
            return r.status, len(r.json() or []), min(30 - i, 20)
        r = self.hub.get(f"{E}?type=Meter&limit=30&q=reading%3C{i}")
        return r.status, len(r.json() or []), i

    def test_concurrent_queries_all_complete(self):
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(self.one, range(30)))
        for i, (status, got, expected) in enumerate(results):
            self.assertEqual(status, 200, i)
            self.assertEqual(got, expected, i)

    def test_errors_give_the_slot_back(self):
        for _ in range(3):  # a regular expression that does not compile fails after the slot is taken
            r = self.hub.get(f"{E}?type=Meter&idPattern=(unclosed")
            self.assertProblem(r, 400, "BadRequestData")
        start = time.monotonic()
        r = self.hub.get(f"{E}?type=Meter&limit=0&count=true")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "30")
        self.assertLess(time.monotonic() - start, 5)


class QueryThreadsOptionTest(unittest.TestCase):
    def test_environment_variable_is_read(self):
        with Hub(env={"CITYHUB_QUERY_THREADS": "2"}) as hub:
            self.assertEqual(hub.get(f"{E}?type=Meter").status, 200)
        bad = Hub(env={"CITYHUB_QUERY_THREADS": "many"})
        try:
            with self.assertRaises(RuntimeError):  # a value CLI11 refuses stops the start
                bad.start()
        finally:
            bad.cleanup()


if __name__ == "__main__":
    unittest.main()
