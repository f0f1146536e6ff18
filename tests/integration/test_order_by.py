"""orderBy on entity queries (GS CIM 009 v1.9.1 §4.23; GET /entities and POST
/entityOperations/query): `orderBy=attr[;asc|desc|dist-asc|dist-desc],…` orders the matches
by attribute values — numbers, then strings (Unicode code point order), then booleans, then
other values; entities without the attribute last — or by distance to the geo-query's geometry;
ties are ordered by id so that pages stay stable. At most 10,000 matches are sorted per request
(403 TooManyResults beyond)."""
import re
import unittest
from urllib.parse import quote

from hub import HubTestCase

E = "/ngsi-ld/v1/entities"
BATCH = "/ngsi-ld/v1/entityOperations/create"


def prop(value):
    return {"type": "Property", "value": value}


def point(lon, lat):
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def next_link(r):
    for value in r.headers_all("Link"):
        m = re.search(r'<([^>]*)>;\s*rel="?next"?', value)
        if m:
            return m.group(1)
    return None


class OrderByTest(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rooms = [  # id suffix, temperature, group, name
            ("a", 21.5, 2, "Zebra"), ("b", 19, 1, "apple"), ("c", 25, 1, "가람"), ("d", 19, 2, "Apple"),
            ("e", None, 1, "émile"), ("f", 30, 2, None), ("g", -4, 1, "banana"), ("h", 19, 1, "apple"),
        ]
        entities = []
        for suffix, temp, group, name in rooms:
            e = {"id": f"urn:ngsi-ld:Room:{suffix}", "type": "Room", "group": prop(group)}
            if temp is not None:
                e["temperature"] = prop(temp)
            if name is not None:
                e["name"] = prop(name)
            entities.append(e)
        # Kinds: numbers, then strings, then booleans, then other JSON; absent last.
        for suffix, value in [("1", "text"), ("2", True), ("3", 5), ("4", {"x": 1}), ("5", False), ("6", -2)]:
            entities.append({"id": f"urn:ngsi-ld:Mixed:{suffix}", "type": "Mixed", "v": prop(value)})
        entities.append({"id": "urn:ngsi-ld:Mixed:7", "type": "Mixed"})
        # Distances from (127.0, 35.8): 0.01° of latitude is 1,111.95 m.
        for suffix, dlat in [("far", 0.05), ("near", 0.01), ("mid", 0.03), ("here", 0.0)]:
            entities.append({"id": f"urn:ngsi-ld:Stop:{suffix}", "type": "Stop", "location": point(127.0, 35.8 + dlat)})
        for suffix, at in [("x", "2024-03-01T00:00:00Z"), ("y", "2023-12-31T23:00:00Z"), ("z", "2024-01-15T08:00:00Z")]:
            entities.append({"id": f"urn:ngsi-ld:Visit:{suffix}", "type": "Visit",
                             "at": prop({"@type": "DateTime", "@value": at})})
        r = cls.hub.post(BATCH, entities)
        assert r.status == 201, r

    def ids(self, query, status=200):
        r = self.hub.get(f"{E}?{query}")
        self.assertEqual(r.status, status, r)
        return [e["id"].rsplit(":", 1)[1] for e in r.json()]

    def test_ascending_numbers_ties_by_id_absent_last(self):
        """§4.23: entities are ordered by the attribute's value; equal values keep id order (the
        hub's tie-break, so pages are stable); an entity without it comes last."""
        self.assertEqual(self.ids("type=Room&orderBy=temperature"), ["g", "b", "d", "h", "a", "c", "f", "e"])
        self.assertEqual(self.ids("type=Room&orderBy=temperature;asc"), ["g", "b", "d", "h", "a", "c", "f", "e"])

    def test_descending_keeps_absent_last_and_ties_by_id(self):
        self.assertEqual(self.ids("type=Room&orderBy=" + quote("temperature;desc")), ["f", "c", "a", "b", "d", "h", "g", "e"])

    def test_several_keys(self):
        got = self.ids("type=Room&orderBy=" + quote("group,temperature;desc"))
        self.assertEqual(got, ["c", "b", "h", "g", "e", "f", "a", "d"])

    def test_strings_in_code_point_order(self):
        """Strings compare by Unicode code point (uppercase before lowercase, Hangul after Latin)."""
        self.assertEqual(self.ids("type=Room&orderBy=name"), ["d", "a", "b", "h", "g", "e", "c", "f"])

    def test_kinds_order_numbers_strings_booleans_other(self):
        self.assertEqual(self.ids("type=Mixed&orderBy=v"), ["6", "3", "1", "5", "2", "4", "7"])
        self.assertEqual(self.ids("type=Mixed&orderBy=" + quote("v;desc")), ["4", "2", "5", "1", "3", "6", "7"])

    def test_datetime_values_in_time_order(self):
        self.assertEqual(self.ids("type=Visit&orderBy=at"), ["y", "z", "x"])

    def test_by_distance(self):
        """dist-asc / dist-desc order by the distance to the geo-query's geometry."""
        geo = "&georel=" + quote("near;maxDistance==10000") + "&geometry=Point&coordinates=" + quote("[127.0,35.8]")
        self.assertEqual(self.ids("type=Stop" + geo + "&orderBy=" + quote("location;dist-asc")), ["here", "near", "mid", "far"])
        self.assertEqual(self.ids("type=Stop" + geo + "&orderBy=" + quote("location;dist-desc")), ["far", "mid", "near", "here"])
        within = ("&georel=within&geometry=Polygon&coordinates=" +
                  quote("[[[126.9,35.7],[127.1,35.7],[127.1,35.9],[126.9,35.9],[126.9,35.7]]]"))
        # Inside the query polygon every distance is 0: the order is the ids'.
        self.assertEqual(self.ids("type=Stop" + within + "&orderBy=" + quote("location;dist-desc")),
                         ["far", "here", "mid", "near"])

    def test_pages_are_stable_and_count_is_total(self):
        """Paging an ordered query: the pages follow one another in the order, without gaps or
        repeats, and NGSILD-Results-Count counts every match."""
        whole = self.ids("type=Room&orderBy=temperature&limit=100")
        got = []
        r = self.hub.get(f"{E}?type=Room&orderBy=temperature&limit=3&count=true")
        self.assertEqual(r.header("NGSILD-Results-Count"), "8")
        while True:
            self.assertEqual(r.status, 200, r)
            got += [e["id"].rsplit(":", 1)[1] for e in r.json()]
            link = next_link(r)
            if not link:
                break
            self.assertIn("orderBy=", link)
            r = self.hub.get(link)
        self.assertEqual(got, whole)
        self.assertEqual(self.ids("type=Room&orderBy=temperature&offset=2&limit=2"), whole[2:4])

    def test_post_query_takes_orderby_in_the_url(self):
        r = self.hub.post(f"/ngsi-ld/v1/entityOperations/query?orderBy={quote('temperature;desc')}&limit=2",
                          {"type": "Query", "entities": [{"type": "Room"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Room:f", "urn:ngsi-ld:Room:c"])

    def test_errors(self):
        """A bad direction or name is 400 naming orderBy; a distance order without a geo-query is
        400; ordering by a sub-attribute is not supported (422)."""
        for query in ("orderBy=" + quote("temperature;up"), "orderBy=" + quote("bad name"), "orderBy=",
                      "orderBy=" + quote("location;dist-asc")):
            with self.subTest(query=query):
                r = self.hub.get(f"{E}?type=Room&{query}")
                self.assertIn("orderBy", self.assertProblem(r, 400)["detail"])
        self.assertProblem(self.hub.get(f"{E}?type=Room&orderBy=temperature.unitCode"), 422, "OperationNotSupported")
        # Strings order by code point only: asking for another collation is not supported.
        self.assertProblem(self.hub.get(f"{E}?type=Room&orderBy=name&collation=ko"), 422, "OperationNotSupported")


class OrderByLimitTest(HubTestCase):
    def test_more_than_the_sorted_limit_is_too_many_results(self):
        """The work per request is bounded: an ordered query matching more than 10,000 entities
        is 403 TooManyResults (narrow it); unordered, the same query pages as before."""
        for start in range(0, 10001, 1000):
            batch = [{"id": f"urn:ngsi-ld:Tag:{i:05d}", "type": "Tag", "n": prop(i % 7)}
                     for i in range(start, min(start + 1000, 10001))]
            r = self.hub.post(BATCH, batch)
            self.assertEqual(r.status, 201, r)
        body = self.assertProblem(self.hub.get(f"{E}?type=Tag&orderBy=n"), 403, "TooManyResults")
        self.assertIn("10000", body["detail"])
        r = self.hub.get(f"{E}?type=Tag&limit=1")
        self.assertEqual(r.status, 200, r)
        r = self.hub.get(f"{E}?type=Tag&orderBy=n&q=" + quote("n==3") + "&limit=2&count=true")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "1429")


if __name__ == "__main__":
    unittest.main()
