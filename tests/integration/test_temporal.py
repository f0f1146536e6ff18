"""The temporal API (/ngsi-ld/v1/temporal/…, GS CIM 009 v1.8 §5.6.11-5.6.16, §5.7.3, §5.7.4,
§4.5.6-4.5.9, §4.5.19, §4.11, §6.3.10) over real HTTP:

  - history recorded through the normal entity API (create, PATCH, attribute and entity delete);
  - time bounding (before / after / between boundaries to the millisecond, time zones,
    timeproperty), lastN, attrs, the simplified (temporalValues) representation;
  - the temporal write API (POST, POST …/attrs, DELETE) and tenant isolation;
  - aggregatedValues against a brute-force computation over a random series;
  - the per-attribute cap (206 + Content-Range) and entity pagination;
  - q, geo-queries and scopeQ on the instances in the range, and the POST query;
  - bad input (400 naming the parameter, 422 for context source filters).

Periods of aggregatedValues follow the server's documented choices (temporal_aggregation.h):
periods start at timeAt for after/between, else at the oldest instance in the range; each is
[start, start + duration); empty periods are omitted; a zero duration is one period over the
whole range: [timeAt, endTimeAt] for between, [oldest, timeAt] for before, [timeAt, newest] for
after and [oldest, newest] with no timerel.
"""
import math
import random
import statistics
import time
import unittest
from datetime import datetime, timezone
from urllib.parse import urlencode

from hub import HubTestCase

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
NULL = "urn:ngsi-ld:null"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def ms(text):
    """Epoch milliseconds of an ISO 8601 date-time."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(t_ms):
    """The server's UTC rendering: 2024-01-01T00:00:00.000Z."""
    d = datetime.fromtimestamp(t_ms // 1000, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{t_ms % 1000:03d}Z"


def iso_digits(t_ms, digits):
    """t_ms in UTC with `digits` (0-3) fraction digits."""
    text = iso(t_ms)
    return text[:19] + ("." + text[20:20 + digits] if digits else "") + "Z"


def bound_text(t_ms, tq):
    """An aggregation period bound as docs/API.md says it is shown: timeAt or endTimeAt as
    written (in UTC), another bound with timeAt's fraction digits when they show it exactly,
    else (and without timeAt) with milliseconds."""
    if "timeAt" not in tq:
        return iso(t_ms)
    digits = lambda text: len(text[20:].split("Z")[0].split("+")[0].split("-")[0]) if text[19] == "." else 0
    for key in ("timeAt", "endTimeAt"):
        if key in tq and ms(tq[key]) == t_ms:
            return iso_digits(t_ms, digits(tq[key]))
    d = digits(tq["timeAt"])
    return iso(t_ms) if t_ms % 10 ** (3 - d) else iso_digits(t_ms, d)


def qs(**params):
    return "?" + urlencode(params) if params else ""


def prop(value, t_ms=None, **extra):
    p = {"type": "Property", "value": value}
    if t_ms is not None:
        p["observedAt"] = iso(t_ms)
    p.update(extra)
    return p


def time_of(inst):
    return ms(inst.get("observedAt") or inst.get("deletedAt") or inst["createdAt"])


class TemporalCase(HubTestCase):
    def retrieve(self, eid, status=200, headers=None, **params):
        r = self.hub.get(f"{T}/{eid}{qs(**params)}", headers=headers)
        self.assertEqual(r.status, status, r)
        return r.json()

    def query(self, status=200, headers=None, **params):
        r = self.hub.get(f"{T}{qs(**params)}", headers=headers)
        self.assertEqual(r.status, status, r)
        return r.json()

    def post_temporal(self, body, status=None, headers=None):
        r = self.hub.post(T, body, headers=headers)
        if status is None:
            self.assertIn(r.status, (201, 204), r)
        else:
            self.assertEqual(r.status, status, r)
        return r

    def assertBadRequest(self, r, *words):
        self.assertEqual(r.status, 400, r)
        body = r.json()
        self.assertEqual(body["status"], 400, r)
        self.assertIn(body["type"], (ERR + "BadRequestData", ERR + "InvalidRequest"), r)
        for w in words:
            self.assertIn(w, body.get("detail", ""), r)
        return body


# ------------------------------------------------------------------------------------------
# 1. Recording through the entity API
# ------------------------------------------------------------------------------------------
class RecordingTest(TemporalCase):
    def test_history_of_creates_patches_and_deletes(self):
        eid = "urn:ngsi-ld:Car:rec1"
        t0 = ms("2024-05-01T01:00:00Z")
        # observedAt with an offset is kept in UTC, with the fraction digits it was written with.
        r = self.hub.post(E, {"id": eid, "type": "Car",
                              "speed": prop(10, unitCode="KMH", observedAt="2024-05-01T10:00:00+09:00"),
                              "status": prop("parked", observedAt="2024-05-01T01:00:00Z"),
                              "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"}})
        self.assertEqual(r.status, 201, r)
        for i, (v, stamp) in enumerate([(20, "2024-05-01T02:00:00Z"), (30, "2024-05-01T05:00:00.5+02:00"),
                                        (30, "2024-05-01T04:00:00-00:00")]):
            r = self.hub.patch(f"{E}/{eid}/attrs", {"speed": prop(v, unitCode="KMH", observedAt=stamp)})
            self.assertEqual(r.status, 204, r)
        # Only `status` changes: speed and owner must not get another instance.
        r = self.hub.patch(f"{E}/{eid}/attrs", {"status": prop("driving", observedAt="2024-05-01T03:30:00Z")})
        self.assertEqual(r.status, 204, r)
        mid = self.retrieve(eid)
        self.assertEqual(len(mid["speed"]), 4, mid)
        self.assertEqual(len(mid["owner"]), 1, mid)
        self.assertEqual(len(mid["status"]), 2, mid)

        before_delete = int(time.time() * 1000) - 1000
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/status").status, 204)
        self.assertEqual(self.hub.delete(f"{E}/{eid}").status, 204)
        self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)
        after_delete = int(time.time() * 1000) + 1000

        got = self.retrieve(eid)
        self.assertEqual(got["id"], eid)
        self.assertEqual(got["type"], "Car")
        self.assertEqual(set(got) - {"id", "type"}, {"speed", "status", "owner"}, got)
        speed = got["speed"]
        self.assertEqual([i["value"] for i in speed], [10, 20, 30, 30, NULL], speed)
        self.assertEqual([i.get("observedAt") for i in speed[:4]],
                         ["2024-05-01T01:00:00Z", "2024-05-01T02:00:00Z", "2024-05-01T03:00:00.5Z",
                          "2024-05-01T04:00:00Z"])
        for inst in speed[:4]:
            self.assertEqual(inst["type"], "Property")
            self.assertEqual(inst["unitCode"], "KMH", inst)
            self.assertNotIn("deletedAt", inst)
        for attr, key in (("speed", "value"), ("status", "value"), ("owner", "object")):
            deletion = got[attr][-1]
            self.assertEqual(deletion[key], NULL, deletion)
            self.assertIn("deletedAt", deletion, deletion)
            self.assertTrue(before_delete <= ms(deletion["deletedAt"]) <= after_delete, deletion)
            self.assertNotIn("observedAt", deletion, deletion)
            # without sysAttrs no createdAt / modifiedAt
            for inst in got[attr]:
                self.assertNotIn("createdAt", inst)
                self.assertNotIn("modifiedAt", inst)
        self.assertEqual([i["value"] for i in got["status"]], ["parked", "driving", NULL])
        self.assertEqual([i["object"] for i in got["owner"]], ["urn:ngsi-ld:Person:1", NULL])
        self.assertLessEqual(ms(got["status"][-1]["deletedAt"]), ms(got["speed"][-1]["deletedAt"]))
        # instanceIds: present, URIs, all distinct
        ids = [i["instanceId"] for a in ("speed", "status", "owner") for i in got[a]]
        self.assertEqual(len(ids), 4 + 1 + 3 + 2)
        self.assertEqual(len(set(ids)), len(ids), ids)
        for i in ids:
            self.assertRegex(i, r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
        # ascending time order in every attribute
        for attr in ("speed", "status", "owner"):
            times = [ms(i.get("observedAt") or i["deletedAt"]) for i in got[attr] if "observedAt" in i or "deletedAt" in i]
            self.assertEqual(times, sorted(times), attr)

        sys = self.retrieve(eid, options="sysAttrs")
        for attr in ("speed", "status", "owner"):
            self.assertEqual(len(sys[attr]), len(got[attr]))
            for plain, inst in zip(got[attr], sys[attr]):
                self.assertEqual(inst["instanceId"], plain["instanceId"])
                self.assertIn("createdAt", inst, inst)
                self.assertIn("modifiedAt", inst, inst)
                self.assertTrue(before_delete - 60_000 <= ms(inst["createdAt"]) <= after_delete, inst)
                self.assertGreaterEqual(ms(inst["modifiedAt"]), ms(inst["createdAt"]))
        created = [ms(i["createdAt"]) for i in sys["speed"]]
        self.assertEqual(created, sorted(created))

        # timeproperty=deletedAt: only the deletion instances
        dels = self.retrieve(eid, timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt")
        self.assertEqual({a: [i.get("value", i.get("object")) for i in dels[a]] for a in dels if a not in ("id", "type")},
                         {"speed": [NULL], "status": [NULL], "owner": [NULL]})
        # observedAt (default) queries never match instances without observedAt
        obs = self.retrieve(eid, timerel="after", timeAt="2000-01-01T00:00:00Z")
        self.assertEqual([i["value"] for i in obs["speed"]], [10, 20, 30, 30])
        self.assertNotIn("owner", obs)

    def test_unchanged_attributes_are_not_recorded_again(self):
        eid = "urn:ngsi-ld:Car:rec2"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "Car", "a": prop(1), "b": prop(2), "c": prop(3)}).status, 201)
        for n in range(5):
            self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs", {"a": prop(10 + n)}).status, 204)
        self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs/b", {"value": 20}).status, 204)
        got = self.retrieve(eid)
        self.assertEqual([i["value"] for i in got["a"]], [1, 10, 11, 12, 13, 14])
        self.assertEqual([i["value"] for i in got["b"]], [2, 20])
        self.assertEqual([i["value"] for i in got["c"]], [3])


# ------------------------------------------------------------------------------------------
# 2. Time bounding, timeproperty, lastN, attrs, temporalValues
# ------------------------------------------------------------------------------------------
D = "2024-06-01T"
TIMES = [D + "10:00:00.000Z", D + "11:00:00.000Z", D + "11:59:59.999Z", D + "12:00:00.000Z",
         D + "12:00:00.001Z", D + "13:00:00.000Z", D + "14:00:00.000Z"]


class TimeBoundsTest(TemporalCase):
    EID = "urn:ngsi-ld:Room:tb1"
    OTHER = "urn:ngsi-ld:Room:tb2"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        body = {"id": cls.EID, "type": "Room",
                "temperature": [{"type": "Property", "value": 7 - i, "observedAt": t, "unitCode": "CEL"}
                                for i, t in enumerate(TIMES)],
                "near": [{"type": "Relationship", "object": "urn:ngsi-ld:Room:a", "observedAt": D + "10:30:00Z"},
                         {"type": "Relationship", "object": ["urn:ngsi-ld:Room:b", "urn:ngsi-ld:Room:c"],
                          "observedAt": D + "12:30:00Z"}],
                "name": [{"type": "LanguageProperty", "languageMap": {"en": "hall", "fr": "salle"},
                          "observedAt": D + "11:00:00Z"}],
                "location": [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.5, 2.5]},
                              "observedAt": D + "11:00:00Z"}]}
        r = cls.hub.post(T, body)
        assert r.status == 201, r
        r = cls.hub.post(T, {"id": cls.OTHER, "type": "Room",
                             "temperature": [prop(99, ms("2024-06-02T10:00:00Z"))]})
        assert r.status == 201, r

    def temps(self, status=200, **params):
        got = self.retrieve(self.EID, status=status, **params)
        return [(i["value"], i["observedAt"]) for i in got.get("temperature", [])]

    def expected(self, pred):
        return [(7 - i, t) for i, t in enumerate(TIMES) if pred(ms(t))]

    def test_values_are_as_posted(self):
        self.assertEqual(self.temps(), list(zip(range(7, 0, -1), TIMES)))

    def test_before_is_exclusive(self):
        at = ms(D + "12:00:00Z")
        self.assertEqual(self.temps(timerel="before", timeAt=D + "12:00:00Z"), self.expected(lambda t: t < at))
        self.assertEqual(len(self.temps(timerel="before", timeAt=D + "12:00:00Z")), 3)

    def test_after_is_inclusive(self):
        at = ms(D + "12:00:00Z")
        self.assertEqual(self.temps(timerel="after", timeAt=D + "12:00:00Z"), self.expected(lambda t: t >= at))
        self.assertEqual(len(self.temps(timerel="after", timeAt=D + "12:00:00Z")), 4)

    def test_between_is_start_inclusive_end_exclusive(self):
        a, b = ms(D + "11:59:59.999Z"), ms(D + "12:00:00.001Z")
        got = self.temps(timerel="between", timeAt=D + "11:59:59.999Z", endTimeAt=D + "12:00:00.001Z")
        self.assertEqual(got, self.expected(lambda t: a <= t < b))
        self.assertEqual([t for _, t in got], [D + "11:59:59.999Z", D + "12:00:00.000Z"])
        got = self.temps(timerel="between", timeAt=D + "11:00:00Z", endTimeAt=D + "13:00:00Z")
        self.assertEqual([v for v, _ in got], [6, 5, 4, 3])

    def test_time_zone_offset_is_converted_to_utc(self):
        # 21:00+09:00 is 12:00Z; 07:00-05:00 is 12:00Z.
        self.assertEqual(self.temps(timerel="before", timeAt="2024-06-01T21:00:00+09:00"),
                         self.temps(timerel="before", timeAt=D + "12:00:00Z"))
        self.assertEqual(len(self.temps(timerel="before", timeAt="2024-06-01T21:00:00+09:00")), 3)
        self.assertEqual([v for v, _ in self.temps(timerel="after", timeAt="2024-06-01T07:00:00.001-05:00")], [3, 2, 1])
        got = self.temps(timerel="between", timeAt="2024-06-01T20:00:00+09:00", endTimeAt="2024-06-01T21:00:00+09:00")
        self.assertEqual([v for v, _ in got], [6, 5])

    def test_lastn_returns_the_newest_oldest_first(self):
        # lastN selects; the answer is complete for what was asked (200, no Content-Range)
        # as long as the server cap does not cut it (PaginationTest).
        self.assertEqual(self.temps_any(lastN=2), [(2, TIMES[5]), (1, TIMES[6])])
        self.assertEqual(self.temps_any(lastN=3, timerel="before", timeAt=D + "12:00:00.001Z"),
                         [(6, TIMES[1]), (5, TIMES[2]), (4, TIMES[3])])
        self.assertEqual(self.temps_any(lastN=2, timerel="between", timeAt=D + "10:00:00Z", endTimeAt=D + "13:00:00Z"),
                         [(4, TIMES[3]), (3, TIMES[4])])
        # lastN at or above the count: everything, complete (200)
        self.assertEqual(self.temps(lastN=7), list(zip(range(7, 0, -1), TIMES)))
        self.assertEqual(self.temps(lastN=100), list(zip(range(7, 0, -1), TIMES)))
        # lastN applies per attribute: near has 2 instances, lastN=1 gives its newest
        got = self.retrieve(self.EID, lastN=1)
        self.assertEqual([i["object"] for i in got["near"]], [["urn:ngsi-ld:Room:b", "urn:ngsi-ld:Room:c"]])
        self.assertEqual(len(got["name"]), 1)

    def temps_any(self, **params):
        r = self.hub.get(f"{T}/{self.EID}{qs(**params)}")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"), r.headers)
        return [(i["value"], i["observedAt"]) for i in r.json()["temperature"]]

    def test_attrs_filter(self):
        got = self.retrieve(self.EID, attrs="near")
        self.assertEqual(set(got), {"id", "type", "near"})
        got = self.retrieve(self.EID, attrs="near,temperature", timerel="after", timeAt=D + "12:00:00Z")
        self.assertEqual(set(got), {"id", "type", "near", "temperature"})
        self.assertEqual(len(got["temperature"]), 4)
        self.assertEqual(len(got["near"]), 1)

    def test_query_by_type_drops_entities_without_instances_in_range(self):
        got = self.query(type="Room", timerel="before", timeAt=D + "12:00:00Z")
        self.assertEqual([e["id"] for e in got], [self.EID])
        self.assertEqual(len(got[0]["temperature"]), 3)
        got = self.query(type="Room", timerel="after", timeAt=D + "12:00:00Z")
        self.assertEqual([e["id"] for e in got], [self.EID, self.OTHER])
        got = self.query(type="Room", timerel="after", timeAt="2024-06-02T00:00:00Z")
        self.assertEqual([e["id"] for e in got], [self.OTHER])
        self.assertEqual([i["value"] for i in got[0]["temperature"]], [99])
        # attrs without type: entities having near in range
        got = self.query(attrs="near", timerel="after", timeAt=D + "12:00:00Z")
        self.assertEqual([e["id"] for e in got], [self.EID])
        self.assertEqual(set(got[0]), {"id", "type", "near"})
        got = self.query(attrs="near", timerel="after", timeAt=D + "13:00:00Z")
        self.assertEqual(got, [])

    def test_temporal_values_representation(self):
        for params in ({"format": "temporalValues"}, {"options": "temporalValues"}):
            with self.subTest(**params):
                got = self.retrieve(self.EID, **params)
                self.assertEqual(got["temperature"],
                                 {"type": "Property", "values": [[v, t] for v, t in zip(range(7, 0, -1), TIMES)]})
                self.assertEqual(got["near"], {"type": "Relationship", "objects": [
                    ["urn:ngsi-ld:Room:a", D + "10:30:00Z"],
                    [["urn:ngsi-ld:Room:b", "urn:ngsi-ld:Room:c"], D + "12:30:00Z"]]})
                self.assertEqual(got["name"], {"type": "LanguageProperty", "languageMaps": [
                    [{"languageMap": {"en": "hall", "fr": "salle"}}, D + "11:00:00Z"]]})
                self.assertEqual(got["location"], {"type": "GeoProperty", "values": [
                    [{"type": "Point", "coordinates": [1.5, 2.5]}, D + "11:00:00Z"]]})
        got = self.retrieve(self.EID, options="temporalValues", timerel="between", timeAt=D + "11:00:00Z",
                            endTimeAt=D + "12:00:00Z", attrs="temperature")
        self.assertEqual(got["temperature"]["values"], [[6, TIMES[1]], [5, TIMES[2]]])
        got = self.query(type="Room", format="temporalValues", timerel="after", timeAt="2024-06-02T00:00:00Z")
        self.assertEqual(got, [{"id": self.OTHER, "type": "Room",
                                "temperature": {"type": "Property", "values": [[99, "2024-06-02T10:00:00.000Z"]]}}])

    def test_timeproperty_created_and_modified_at(self):
        eid = "urn:ngsi-ld:Room:tp1"
        self.post_temporal({"id": eid, "type": "Lab", "v": [prop(1, ms(D + "10:00:00Z")), prop(2, ms(D + "11:00:00Z"))]}, 201)
        time.sleep(0.05)
        r = self.hub.post(f"{T}/{eid}/attrs", {"v": [prop(3, ms(D + "09:00:00Z")), prop(4, ms(D + "08:00:00Z"))]})
        self.assertEqual(r.status, 204, r)
        full = self.retrieve(eid, options="sysAttrs")["v"]
        self.assertEqual([i["value"] for i in full], [4, 3, 1, 2])  # observedAt order
        by_value = {i["value"]: i for i in full}
        second = min(ms(by_value[3]["createdAt"]), ms(by_value[4]["createdAt"]))
        first = max(ms(by_value[1]["createdAt"]), ms(by_value[2]["createdAt"]))
        self.assertLess(first, second, full)
        at = iso(second)
        for tp in ("createdAt", "modifiedAt"):
            with self.subTest(tp):
                late = self.retrieve(eid, timerel="after", timeAt=at, timeproperty=tp)["v"]
                self.assertEqual(sorted(i["value"] for i in late), [3, 4])
                early = self.retrieve(eid, timerel="before", timeAt=at, timeproperty=tp)["v"]
                self.assertEqual(sorted(i["value"] for i in early), [1, 2])
                times = [ms(i[tp]) for i in self.retrieve(eid, timeproperty=tp, timerel="after",
                                                           timeAt="2000-01-01T00:00:00Z", options="sysAttrs")["v"]]
                self.assertEqual(times, sorted(times))
        # temporalValues: the time element is the one of the requested timeproperty
        tv = self.retrieve(eid, timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="createdAt",
                           format="temporalValues")["v"]["values"]
        self.assertEqual(sorted(tv), sorted([[i["value"], i["createdAt"]] for i in full]))
        # observedAt after the newest observation but createdAt now: only createdAt matches
        self.assertNotIn("v", self.retrieve(eid, timerel="after", timeAt=D + "12:00:00Z"))
        self.assertEqual(len(self.retrieve(eid, timerel="after", timeAt=D + "12:00:00Z", timeproperty="createdAt")["v"]), 4)


# ------------------------------------------------------------------------------------------
# 3. The temporal write API and tenants
# ------------------------------------------------------------------------------------------
class WriteApiTest(TemporalCase):
    def test_post_creates_then_appends(self):
        eid = "urn:ngsi-ld:Meter:w1"
        base = ms("2024-02-01T00:00:00Z")
        r = self.post_temporal({"id": eid, "type": "Meter",
                                "power": [prop(i, base + i * 60_000, unitCode="KWT") for i in range(3)],
                                "mode": prop("eco", base)}, 201)  # a single instance object
        self.assertEqual(r.header("Location"), f"{T}/{eid}")
        self.assertEqual(r.body, "")
        r = self.post_temporal({"id": eid, "type": "Meter", "power": [prop(i, base + i * 60_000) for i in range(3, 5)]}, 204)
        self.assertEqual(r.body, "")
        got = self.retrieve(eid)
        self.assertEqual([i["value"] for i in got["power"]], [0, 1, 2, 3, 4])
        self.assertEqual([i.get("unitCode") for i in got["power"]], ["KWT"] * 3 + [None] * 2)
        self.assertEqual(len({i["instanceId"] for i in got["power"]}), 5)
        self.assertEqual([i["value"] for i in got["mode"]], ["eco"])
        # a new type name is merged into the entity's types
        self.post_temporal({"id": eid, "type": "Device", "power": [prop(5, base + 5 * 60_000)]}, 204)
        self.assertEqual(sorted(self.retrieve(eid)["type"]), ["Device", "Meter"])
        # the temporal API does not create a current entity
        self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)

    def test_post_attrs(self):
        eid = "urn:ngsi-ld:Meter:w2"
        base = ms("2024-02-01T00:00:00Z")
        self.post_temporal({"id": eid, "type": "Meter", "power": [prop(1, base)]}, 201)
        r = self.hub.post(f"{T}/{eid}/attrs", {"power": [prop(2, base + 1000), prop(3, base + 2000)],
                                               "link": [{"type": "Relationship", "object": "urn:ngsi-ld:X:1",
                                                         "observedAt": iso(base)}]})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, "")
        got = self.retrieve(eid)
        self.assertEqual([i["value"] for i in got["power"]], [1, 2, 3])
        self.assertEqual([i["object"] for i in got["link"]], ["urn:ngsi-ld:X:1"])
        r = self.hub.post(f"{T}/urn:ngsi-ld:Meter:nope/attrs", {"power": [prop(2, base)]})
        self.assertProblem(r, 404, "ResourceNotFound")
        self.assertEqual(self.hub.get(f"{T}/urn:ngsi-ld:Meter:nope").status, 404)

    def test_delete_attribute_and_entity(self):
        eid = "urn:ngsi-ld:Meter:w3"
        base = ms("2024-02-01T00:00:00Z")
        self.post_temporal({"id": eid, "type": "Meter", "power": [prop(1, base), prop(2, base + 1)],
                            "mode": [prop("a", base)]}, 201)
        r = self.hub.delete(f"{T}/{eid}/attrs/mode")
        self.assertEqual(r.status, 204, r)
        got = self.retrieve(eid)
        self.assertNotIn("mode", got)
        self.assertEqual(len(got["power"]), 2)
        self.assertProblem(self.hub.delete(f"{T}/{eid}/attrs/mode"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{T}/{eid}/attrs/neverThere"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{T}/urn:ngsi-ld:Meter:nope/attrs/power"), 404, "ResourceNotFound")
        r = self.hub.delete(f"{T}/{eid}")
        self.assertEqual(r.status, 204, r)
        self.assertProblem(self.hub.get(f"{T}/{eid}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{T}/{eid}"), 404, "ResourceNotFound")
        self.assertEqual(self.query(type="Meter", timerel="after", timeAt="2000-01-01T00:00:00Z",
                                    id=eid), [])
        # it can be created again from scratch (201), without the old instances
        self.post_temporal({"id": eid, "type": "Meter", "power": [prop(7, base)]}, 201)
        self.assertEqual([i["value"] for i in self.retrieve(eid)["power"]], [7])

    def test_datasets(self):
        eid = "urn:ngsi-ld:Meter:ds1"
        base = ms("2024-02-01T00:00:00Z")
        self.post_temporal({"id": eid, "type": "Meter",
                            "v": [prop(1, base), prop(2, base + 1000, datasetId="urn:ds:x"),
                                  prop(3, base + 2000, datasetId="urn:ds:y"), prop(4, base + 3000)]}, 201)
        got = self.retrieve(eid)["v"]
        self.assertEqual([(i["value"], i.get("datasetId")) for i in got],
                         [(1, None), (2, "urn:ds:x"), (3, "urn:ds:y"), (4, None)])
        tv = self.retrieve(eid, format="temporalValues")["v"]
        self.assertEqual(tv, [{"type": "Property", "values": [[1, iso(base)], [4, iso(base + 3000)]]},
                              {"type": "Property", "datasetId": "urn:ds:x", "values": [[2, iso(base + 1000)]]},
                              {"type": "Property", "datasetId": "urn:ds:y", "values": [[3, iso(base + 2000)]]}])
        # Deleting through the entity API keeps the datasetId on the deletion instance.
        cid = "urn:ngsi-ld:Meter:ds2"
        self.assertEqual(self.hub.post(E, {"id": cid, "type": "Meter", "v": [prop(1), prop(2, datasetId="urn:ds:x")]}).status, 201)
        self.assertEqual(self.hub.delete(f"{E}/{cid}/attrs/v?datasetId=urn:ds:x").status, 204)
        got = self.retrieve(cid)["v"]
        self.assertEqual([(i["value"], i.get("datasetId"), "deletedAt" in i) for i in got],
                         [(1, None, False), (2, "urn:ds:x", False), (NULL, "urn:ds:x", True)])

    def test_delete_attribute_by_dataset(self):
        # DELETE …/attrs/{attr}: datasetId=X removes dataset X only, neither parameter the
        # default instances only, deleteAll=true everything (§6.21.3.1, spec notes §1).
        eid = "urn:ngsi-ld:Meter:ds3"
        base = ms("2024-02-01T00:00:00Z")
        self.post_temporal({"id": eid, "type": "Meter",
                            "v": [prop(1, base), prop(2, base + 1000, datasetId="urn:ds:x"),
                                  prop(3, base + 2000, datasetId="urn:ds:y")]}, 201)

        def left():
            got = self.retrieve(eid)
            return [i["value"] for i in got.get("v", [])]
        self.assertEqual(self.hub.delete(f"{T}/{eid}/attrs/v?datasetId=urn:ds:x").status, 204)
        self.assertEqual(left(), [1, 3])
        self.assertEqual(self.hub.delete(f"{T}/{eid}/attrs/v").status, 204)
        self.assertEqual(left(), [3])
        self.post_temporal({"id": eid, "type": "Meter", "v": [prop(4, base + 3000)]}, 204)
        self.assertEqual(self.hub.delete(f"{T}/{eid}/attrs/v?deleteAll=true").status, 204)
        self.assertEqual(left(), [])

    def test_modify_and_delete_one_instance(self):
        # PATCH / DELETE …/attrs/{attr}/{instanceId} (§5.6.14, §5.6.15): the instance is
        # replaced (same instanceId, createdAt kept, modifiedAt now) or removed.
        eid = "urn:ngsi-ld:Meter:in1"
        base = ms("2024-02-01T00:00:00Z")
        self.post_temporal({"id": eid, "type": "Meter", "v": [prop(1, base), prop(2, base + 1000), prop(3, base + 2000)]}, 201)
        before = self.retrieve(eid, options="sysAttrs")["v"]
        target = before[1]
        time.sleep(0.01)
        path = f"{T}/{eid}/attrs/v/{target['instanceId']}"
        r = self.hub.patch(path, {"v": [prop(20, base + 1500, unitCode="KWT")]})
        self.assertEqual(r.status, 204, r)
        after = self.retrieve(eid, options="sysAttrs")["v"]
        self.assertEqual([i["value"] for i in after], [1, 20, 3])
        changed = after[1]
        self.assertEqual(changed["instanceId"], target["instanceId"])
        self.assertEqual(changed["observedAt"], iso(base + 1500))
        self.assertEqual(changed["unitCode"], "KWT")
        self.assertEqual(changed["createdAt"], target["createdAt"])
        self.assertGreater(ms(changed["modifiedAt"]), ms(target["modifiedAt"]))
        self.assertEqual([(i["instanceId"], i["modifiedAt"]) for i in (after[0], after[2])],
                         [(i["instanceId"], i["modifiedAt"]) for i in (before[0], before[2])])
        # errors: unknown instance / attribute / entity 404, instanceId not a URI 400, body not one instance 400
        unknown = "urn:ngsi-ld:Instance:1"
        self.assertProblem(self.hub.patch(f"{T}/{eid}/attrs/v/{unknown}", {"v": [prop(5, base)]}), 404, "ResourceNotFound")
        self.assertProblem(self.hub.patch(f"{T}/{eid}/attrs/w/{target['instanceId']}", {"w": [prop(5, base)]}), 404,
                           "ResourceNotFound")
        self.assertProblem(self.hub.patch(f"{T}/urn:ngsi-ld:Meter:nope/attrs/v/{target['instanceId']}",
                                          {"v": [prop(5, base)]}), 404, "ResourceNotFound")
        self.assertBadRequest(self.hub.patch(f"{T}/{eid}/attrs/v/notauri", {"v": [prop(5, base)]}))
        self.assertBadRequest(self.hub.patch(path, {"v": [prop(5, base), prop(6, base)]}))
        self.assertBadRequest(self.hub.patch(path, {"w": [prop(5, base)]}))
        self.assertEqual([i["value"] for i in self.retrieve(eid)["v"]], [1, 20, 3])
        # DELETE one instance
        r = self.hub.delete(path)
        self.assertEqual(r.status, 204, r)
        self.assertEqual([i["value"] for i in self.retrieve(eid)["v"]], [1, 3])
        self.assertProblem(self.hub.delete(path), 404, "ResourceNotFound")
        self.assertProblem(self.hub.patch(path, {"v": [prop(5, base)]}), 404, "ResourceNotFound")
        self.assertBadRequest(self.hub.delete(f"{T}/{eid}/attrs/v/notauri"))
        agg = self.retrieve(eid, format="aggregatedValues", aggrMethods="totalCount,sum")["v"]
        self.assertEqual((agg["totalCount"][0][0], agg["sum"][0][0]), (2, 4))

    def test_tenant_isolation(self):
        a, b = {"NGSILD-Tenant": "tempA"}, {"NGSILD-Tenant": "tempB"}
        base = ms("2024-03-01T00:00:00Z")
        eid = "urn:ngsi-ld:Meter:t1"
        self.post_temporal({"id": eid, "type": "Meter", "power": [prop(1, base)]}, 201, headers=a)
        self.post_temporal({"id": "urn:ngsi-ld:Meter:t2", "type": "Meter", "power": [prop(2, base)]}, 201, headers=b)
        self.assertEqual([i["value"] for i in self.retrieve(eid, headers=a)["power"]], [1])
        self.assertProblem(self.hub.get(f"{T}/{eid}", headers=b), 404)
        self.assertProblem(self.hub.get(f"{T}/{eid}"), 404)  # default tenant
        q = dict(type="Meter", timerel="after", timeAt="2000-01-01T00:00:00Z")
        self.assertEqual([e["id"] for e in self.query(headers=a, **q)], [eid])
        self.assertEqual([e["id"] for e in self.query(headers=b, **q)], ["urn:ngsi-ld:Meter:t2"])
        # the same id in tenant B is a separate history
        self.post_temporal({"id": eid, "type": "Meter", "power": [prop(50, base)]}, 201, headers=b)
        self.assertEqual([i["value"] for i in self.retrieve(eid, headers=b)["power"]], [50])
        self.assertEqual([i["value"] for i in self.retrieve(eid, headers=a)["power"]], [1])
        self.assertEqual(self.hub.delete(f"{T}/{eid}", headers=b).status, 204)
        self.assertEqual([i["value"] for i in self.retrieve(eid, headers=a)["power"]], [1])
        self.assertProblem(self.hub.post(f"{T}/urn:ngsi-ld:Meter:t2/attrs", {"power": [prop(3, base)]}, headers=a), 404)
        # history recorded by the entity API is per tenant too
        self.assertEqual(self.hub.post(E, {"id": "urn:ngsi-ld:Meter:t3", "type": "Meter", "power": prop(9, base)},
                                       headers=a).status, 201)
        self.assertEqual(self.hub.get(f"{T}/urn:ngsi-ld:Meter:t3", headers=b).status, 404)
        self.assertEqual([i["value"] for i in self.retrieve("urn:ngsi-ld:Meter:t3", headers=a)["power"]], [9])

    def test_unknown_tenant_404(self):
        # As for the core API (NonexistentTenant -> 404, as test_tenants checks for /entities).
        h = {"NGSILD-Tenant": "tempNowhere"}
        q = dict(type="Meter", timerel="after", timeAt="2000-01-01T00:00:00Z")
        self.assertProblem(self.hub.get(f"{T}/urn:ngsi-ld:Meter:t1", headers=h), 404)
        self.assertProblem(self.hub.delete(f"{T}/urn:ngsi-ld:Meter:t1", headers=h), 404)
        self.assertProblem(self.hub.post(f"{T}/urn:ngsi-ld:Meter:t1/attrs", {"power": [prop(1, 0)]}, headers=h), 404)
        self.assertProblem(self.hub.get(f"{T}{qs(**q)}", headers=h), 404)
        self.assertProblem(self.hub.get(f"{E}{qs(type='Meter')}", headers=h), 404)  # the core API does


# ------------------------------------------------------------------------------------------
# 4. Aggregation against brute force
# ------------------------------------------------------------------------------------------
METHODS = ["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"]
NUMERIC = set(METHODS)
TEXTUAL = {"totalCount", "distinctCount", "min", "max"}
COUNTS = {"totalCount", "distinctCount"}
START = ms("2024-09-01T00:00:00Z")
DUR = {"PT1H": 3_600_000, "P1D": 86_400_000, "PT0S": 0}
WORDS = ["alpha", "Alpha", "beta", "gamma", "delta", "Zürich", "zebra", "東京", "éclair", "a b", "", "omega", "0", "9"]


def agg_value(method, vals):
    if method == "totalCount":
        return len(vals)
    if method == "distinctCount":
        return len(set(vals))
    if method == "min":
        return min(vals)
    if method == "max":
        return max(vals)
    nums = [float(v) for v in vals]
    if method == "sum":
        return math.fsum(nums)
    if method == "avg":
        return math.fsum(nums) / len(nums)
    if method == "sumsq":
        return math.fsum(x * x for x in nums)
    if method == "stddev":
        return statistics.stdev(nums) if len(nums) > 1 else 0.0
    raise AssertionError(method)


def brute_force(series, methods, dur_ms, timerel=None, at=None, end=None):
    """series: [(t_ms, value)] -> {method: [[value, start_ms, end_ms], ...]} per the documented rules."""
    if timerel == "before":
        pts = [(t, v) for t, v in series if t < at]
    elif timerel == "after":
        pts = [(t, v) for t, v in series if t >= at]
    elif timerel == "between":
        pts = [(t, v) for t, v in series if at <= t < end]
    else:
        pts = list(series)
    if not pts:
        return None
    origin = at if timerel in ("after", "between") else min(t for t, _ in pts)
    groups = {}
    for t, v in pts:
        k = 0 if dur_ms == 0 else (t - origin) // dur_ms
        groups.setdefault(k, []).append(v)
    out = {}
    for m in methods:
        if m not in COUNTS and any(isinstance(v, str) for _, v in pts) and m not in TEXTUAL:
            continue  # sum, avg, stddev, sumsq do not apply to strings
        rows = []
        for k in sorted(groups):
            if dur_ms == 0:
                s = origin
                e = end if timerel == "between" else at if timerel == "before" else max(t for t, _ in pts)
            else:
                s, e = origin + k * dur_ms, origin + (k + 1) * dur_ms
            rows.append([agg_value(m, groups[k]), s, e])
        out[m] = rows
    return out


def random_series(rng, n, days=3):
    minutes = sorted(rng.randrange(days * 24 * 60) for _ in range(n))  # repeats allowed
    return [START + m * 60_000 for m in minutes]


class AggregationTest(TemporalCase):
    EID = "urn:ngsi-ld:Station:ag1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rng = random.Random(20240901)
        cls.series = {}
        times = random_series(rng, 2000)
        nums = [rng.randint(-20, 1000) if rng.random() < 0.5 else rng.uniform(-20.0, 1000.0) for _ in times]
        cls.series["level"] = list(zip(times, nums))
        times_b = random_series(rng, 600)
        cls.series["on"] = [(t, rng.random() < 0.3) for t in times_b]
        times_s = random_series(rng, 500)
        cls.series["label"] = [(t, rng.choice(WORDS)) for t in times_s]
        times_r = random_series(rng, 300)
        cls.series["feeds"] = [(t, f"urn:ngsi-ld:Pipe:{rng.randrange(7)}") for t in times_r]
        body = {"id": cls.EID, "type": "Station",
                "level": [prop(v, t) for t, v in cls.series["level"]],
                "on": [prop(v, t) for t, v in cls.series["on"]],
                "label": [prop(v, t) for t, v in cls.series["label"]],
                "feeds": [{"type": "Relationship", "object": o, "observedAt": iso(t)} for t, o in cls.series["feeds"]]}
        r = cls.hub.post(T, body)
        assert r.status == 201, r
        # Deletion instances are not values: they must not be counted.
        r = cls.hub.post(E, {"id": "urn:ngsi-ld:Station:ag2", "type": "Station",
                             "level": prop(5, START + 1000), "label": prop("x", START + 1000)})
        assert r.status == 201, r
        r = cls.hub.delete(f"{E}/urn:ngsi-ld:Station:ag2/attrs/level")
        assert r.status == 204, r

    def compare(self, got_attr, expected, methods, attr, context, tq=None):
        applicable = {"level": NUMERIC, "on": NUMERIC, "label": TEXTUAL, "feeds": COUNTS}[attr]
        for m in methods:
            if m not in applicable:
                self.assertNotIn(m, got_attr, f"{context}: {m} does not apply to {attr}")
                continue
            self.assertIn(m, got_attr, f"{context}: {attr} lacks {m}: {list(got_attr)}")
            rows, want = got_attr[m], expected[m]
            self.assertEqual([(r[1], r[2]) for r in rows], [(bound_text(s, tq or {}), bound_text(e, tq or {})) for _, s, e in want],
                             f"{context}: periods of {attr}.{m}")
            for row, (v, s, e) in zip(rows, want):
                where = f"{context}: {attr}.{m} in [{iso(s)}, {iso(e)})"
                if m in COUNTS:
                    self.assertIsInstance(row[0], int, where)
                    self.assertNotIsInstance(row[0], bool, where)
                    self.assertEqual(row[0], v, where)
                elif isinstance(v, str):
                    self.assertEqual(row[0], v, where)
                else:
                    self.assertIsInstance(row[0], (int, float), where)
                    self.assertTrue(math.isclose(row[0], v, rel_tol=1e-9, abs_tol=1e-9),
                                    f"{where}: got {row[0]!r}, expected {v!r}")

    def check(self, attrs, dur, **tq):
        params = dict(format="aggregatedValues", aggrMethods=",".join(METHODS), aggrPeriodDuration=dur)
        at = ms(tq["timeAt"]) if "timeAt" in tq else None
        end = ms(tq["endTimeAt"]) if "endTimeAt" in tq else None
        params.update(tq)
        got = self.retrieve(self.EID, **params)
        context = f"{dur} {tq}"
        self.assertEqual(got["id"], self.EID)
        self.assertEqual(got["type"], "Station")
        present = set(got) - {"id", "type"}
        want_present = set()
        for attr in attrs:
            exp = brute_force(self.series[attr], METHODS, DUR[dur], tq.get("timerel"), at, end)
            if exp is None:
                continue
            want_present.add(attr)
            self.assertIn(attr, got, context)
            self.assertEqual(got[attr]["type"], "Relationship" if attr == "feeds" else "Property", context)
            self.compare(got[attr], exp, METHODS, attr, context, tq)
        self.assertEqual(present, want_present, context)

    def test_whole_history(self):
        for dur in DUR:
            with self.subTest(dur=dur):
                self.check(["level", "on", "label", "feeds"], dur)

    def test_before(self):
        for dur in DUR:
            with self.subTest(dur=dur):
                self.check(["level", "on", "label", "feeds"], dur, timerel="before", timeAt="2024-09-02T17:00:00Z")

    def test_after(self):
        for dur in DUR:
            with self.subTest(dur=dur):
                self.check(["level", "on", "label", "feeds"], dur, timerel="after", timeAt="2024-09-01T13:17:00Z")

    def test_between(self):
        for dur in DUR:
            with self.subTest(dur=dur):
                self.check(["level", "on", "label", "feeds"], dur, timerel="between",
                           timeAt="2024-09-01T07:30:00Z", endTimeAt="2024-09-03T07:30:00Z")
        # a between range in a +09:00 zone, and not a multiple of the period
        with self.subTest("offset"):
            self.check(["level", "on", "label", "feeds"], "PT1H", timerel="between",
                       timeAt="2024-09-02T09:05:00+09:00", endTimeAt="2024-09-02T20:00:00+09:00")

    def test_attrs_filter_and_lastn_does_not_apply(self):
        params = dict(format="aggregatedValues", aggrMethods="totalCount,max", attrs="level")
        got = self.retrieve(self.EID, **params)
        self.assertEqual(set(got), {"id", "type", "level"})
        self.assertEqual(got["level"]["totalCount"][0][0], 2000)
        got = self.retrieve(self.EID, lastN=1, **params)
        self.assertEqual(got["level"]["totalCount"][0][0], 2000)
        self.assertEqual(set(got["level"]), {"type", "totalCount", "max"})
        got = self.retrieve(self.EID, options="aggregatedValues", aggrMethods="totalCount", attrs="level",
                            aggrPeriodDuration="P1D")
        self.assertEqual(sum(r[0] for r in got["level"]["totalCount"]), 2000)

    def test_deletion_instances_are_not_counted(self):
        eid = "urn:ngsi-ld:Station:ag2"  # level: the value 5, then its deletion instance
        t = iso(START + 1000)
        got = self.retrieve(eid, format="aggregatedValues", aggrMethods="totalCount,distinctCount,sum,min")
        self.assertEqual(got["level"], {"type": "Property", "totalCount": [[1, t, t]], "distinctCount": [[1, t, t]],
                                        "sum": [[5, t, t]], "min": [[5, t, t]]})
        got = self.retrieve(eid, format="aggregatedValues", aggrMethods="totalCount,sum",
                            timerel="after", timeAt="2000-01-01T00:00:00Z")
        self.assertEqual(got["level"]["totalCount"][0][0], 1)
        self.assertEqual(got["level"]["sum"][0][0], 5)
        # only deletion instances in range: nothing to aggregate, the attribute is left out
        got = self.retrieve(eid, format="aggregatedValues", aggrMethods="totalCount",
                            timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt")
        self.assertNotIn("level", got)
        self.assertNotIn("label", got)

    def test_query_path(self):
        rng = random.Random(77)
        series = {}
        for n in range(3):
            eid = f"urn:ngsi-ld:Gauge:q{n}"
            times = random_series(rng, 300)
            series[eid] = [(t, rng.uniform(0, 50) if rng.random() < 0.5 else rng.randint(0, 50)) for t in times]
            r = self.hub.post(T, {"id": eid, "type": "Gauge", "flow": [prop(v, t) for t, v in series[eid]]})
            self.assertEqual(r.status, 201, r)
        tq = dict(timerel="between", timeAt="2024-09-01T06:00:00Z", endTimeAt="2024-09-03T06:00:00Z")
        for dur in ("PT6H", "PT0S"):
            with self.subTest(dur=dur):
                got = self.query(type="Gauge", format="aggregatedValues", aggrMethods=",".join(METHODS),
                                 aggrPeriodDuration=dur, **tq)
                self.assertEqual([e["id"] for e in got], sorted(series))
                for e in got:
                    exp = brute_force(series[e["id"]], METHODS, 6 * 3_600_000 if dur == "PT6H" else 0,
                                      "between", ms(tq["timeAt"]), ms(tq["endTimeAt"]))
                    self.assertEqual(set(e), {"id", "type", "flow"})
                    self.compare(e["flow"], exp, METHODS, "level", f"query {e['id']} {dur}", tq)
        r = self.hub.get(f"{T}{qs(type='Gauge', format='aggregatedValues', aggrMethods='totalCount', count='true', timerel='after', timeAt='2024-09-01T00:00:00Z', limit=2)}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), "3")
        self.assertTrue(any('rel="next"' in v for v in r.headers_all("Link")), r.headers)
        self.assertEqual([e["flow"]["totalCount"][0][0] for e in r.json()],
                         [len(series[eid]) for eid in sorted(series)[:2]])

    def test_stddev_with_a_large_offset(self):
        # Pressure-like data: 101325 Pa +- a few Pa. A sample standard deviation computed as
        # sqrt((sumsq - sum^2/n)/(n-1)) loses most digits to cancellation here.
        rng = random.Random(5)
        eid = "urn:ngsi-ld:Barometer:s1"
        series = [(START + i * 60_000, 101325 + rng.uniform(-3, 3)) for i in range(240)]
        series += [(START + 86_400_000 + i * 60_000, 1e9 + i % 3) for i in range(3)]
        r = self.hub.post(T, {"id": eid, "type": "Barometer", "p": [prop(v, t) for t, v in series]})
        self.assertEqual(r.status, 201, r)
        got = self.retrieve(eid, format="aggregatedValues", aggrMethods="stddev,avg", aggrPeriodDuration="P1D")
        exp = brute_force(series, ["stddev", "avg"], 86_400_000)
        self.assertEqual(len(got["p"]["stddev"]), 2, got)
        for k, name in enumerate(("101325 +- 3, 240 values", "1e9, 1e9 + 1, 1e9 + 2")):
            with self.subTest(name):
                self.compare({m: got["p"][m][k:k + 1] for m in ("stddev", "avg")},
                             {m: exp[m][k:k + 1] for m in ("stddev", "avg")}, ["stddev", "avg"], "level", name)


# ------------------------------------------------------------------------------------------
# 5. The per-attribute cap (206, Content-Range) and entity pagination
# ------------------------------------------------------------------------------------------
class PaginationTest(TemporalCase):
    EID = "urn:ngsi-ld:Logger:p1"
    N = 12_500
    BASE = ms("2024-01-01T00:00:00Z")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.times = [cls.BASE + i * 1000 for i in range(cls.N)]
        for lo in range(0, cls.N, 5000):
            body = {"id": cls.EID, "type": "Logger", "v": [prop(i, cls.times[i]) for i in range(lo, min(lo + 5000, cls.N))]}
            r = cls.hub.post(T, body)
            assert r.status == (201 if lo == 0 else 204), r
        r = cls.hub.post(f"{T}/{cls.EID}/attrs", {"w": [prop(i, cls.times[i]) for i in range(5)]})
        assert r.status == 204, r

    def get(self, eid, **params):
        return self.hub.get(f"{T}/{eid}{qs(**params)}")

    def test_cap_keeps_the_oldest(self):
        r = self.get(self.EID)
        self.assertEqual(r.status, 206, r)
        got = r.json()
        self.assertEqual(len(got["v"]), 10_000)
        self.assertEqual([i["value"] for i in got["v"]], list(range(10_000)))
        self.assertEqual(len(got["w"]), 5)
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.times[0])}-{iso(self.times[9999])}/*")

    def test_cap_with_after(self):
        r = self.get(self.EID, timerel="after", timeAt=iso(self.times[100] - 500), attrs="v")
        self.assertEqual(r.status, 206, r)
        got = r.json()
        self.assertEqual([i["value"] for i in got["v"]], list(range(100, 10_100)))
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.times[100] - 500)}-{iso(self.times[10099])}/*")
        # the rest, from where the range ended: complete (200)
        r = self.get(self.EID, timerel="after", timeAt=iso(self.times[10099] + 1), attrs="v")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual([i["value"] for i in r.json()["v"]], list(range(10_100, self.N)))

    def test_lastn_above_the_cap_keeps_the_newest(self):
        r = self.get(self.EID, lastN=10001)
        self.assertEqual(r.status, 206, r)
        got = r.json()
        self.assertEqual([i["value"] for i in got["v"]], list(range(self.N - 10_000, self.N)))
        self.assertNotIn("w", got)  # its instances are older than the range the answer covers
        self.assertEqual(r.header("Content-Range"),
                         f"date-time {iso(self.times[-1])}-{iso(self.times[self.N - 10_000])}/10001")
        r = self.get(self.EID, lastN=10001, timerel="before", timeAt=iso(self.times[12_000]), attrs="v")
        self.assertEqual(r.status, 206, r)
        self.assertEqual([i["value"] for i in r.json()["v"]], list(range(2000, 12_000)))
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.times[12_000])}-{iso(self.times[2000])}/10001")
        r = self.get(self.EID, lastN=10001, timerel="between", timeAt=iso(self.times[1000]),
                     endTimeAt=iso(self.times[12_000] + 1), attrs="v")
        self.assertEqual(r.status, 206, r)
        self.assertEqual([i["value"] for i in r.json()["v"]], list(range(2001, 12_001)))
        self.assertEqual(r.header("Content-Range"),
                         f"date-time {iso(self.times[12_000] + 1)}-{iso(self.times[2001])}/10001")

    def test_within_the_cap_is_complete(self):
        r = self.get(self.EID, timerel="between", timeAt=iso(self.times[10]), endTimeAt=iso(self.times[10_010]), attrs="v")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(len(r.json()["v"]), 10_000)
        r = self.get(self.EID, format="temporalValues", timerel="after", timeAt=iso(self.times[2500]), attrs="v")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["v"]["values"]), 10_000)
        # aggregation is not capped
        r = self.get(self.EID, format="aggregatedValues", aggrMethods="totalCount,sum", attrs="v")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["v"]["totalCount"][0][0], self.N)
        self.assertEqual(r.json()["v"]["sum"][0][0], self.N * (self.N - 1) // 2)

    def test_query_is_capped_too(self):
        r = self.hub.get(f"{T}{qs(type='Logger', timerel='after', timeAt=iso(self.BASE), attrs='v')}")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(len(r.json()[0]["v"]), 10_000)
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.BASE)}-{iso(self.times[9999])}/*")

    def test_entity_pagination(self):
        ids = [f"urn:ngsi-ld:Page:{n:02d}" for n in range(5)]
        for n, eid in enumerate(ids):
            self.post_temporal({"id": eid, "type": "Page", "x": [prop(n, self.BASE + n)]}, 201)
        base = dict(type="Page", timerel="after", timeAt=iso(self.BASE))
        seen = []
        for offset, want, has_prev, has_next in ((0, ids[:2], False, True), (2, ids[2:4], True, True),
                                                 (4, ids[4:], True, False)):
            with self.subTest(offset=offset):
                r = self.hub.get(f"{T}{qs(limit=2, offset=offset, count='true', **base)}")
                self.assertEqual(r.status, 200, r)
                self.assertEqual([e["id"] for e in r.json()], want)
                self.assertEqual(r.header("NGSILD-Results-Count"), "5")
                links = ",".join(r.headers_all("Link"))
                self.assertEqual('rel="next"' in links, has_next, links)
                self.assertEqual('rel="prev"' in links, has_prev, links)
                seen += [e["id"] for e in r.json()]
        self.assertEqual(seen, ids)
        # following rel=next gets the next page
        r = self.hub.get(f"{T}{qs(limit=2, **base)}")
        self.assertNotIn("NGSILD-Results-Count", [k for k, _ in r.headers])
        nxt = [part for v in r.headers_all("Link") for part in v.split(",") if 'rel="next"' in part]
        self.assertEqual(len(nxt), 1, r.headers)
        url = nxt[0].strip().split(";")[0].strip()[1:-1]
        self.assertIn("offset=2", url)
        r2 = self.hub.get(url)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual([e["id"] for e in r2.json()], ids[2:4])
        # count with limit=0: only the count
        r = self.hub.get(f"{T}{qs(limit=0, count='true', **base)}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), [])
        self.assertEqual(r.header("NGSILD-Results-Count"), "5")
        # entities without an instance in range are not counted
        r = self.hub.get(f"{T}{qs(limit=2, count='true', type='Page', timerel='after', timeAt=iso(self.BASE + 3))}")
        self.assertEqual([e["id"] for e in r.json()], ids[3:])
        self.assertEqual(r.header("NGSILD-Results-Count"), "2")


# ------------------------------------------------------------------------------------------
# 6. Bad input
# ------------------------------------------------------------------------------------------
class FilterAndPostQueryTest(TemporalCase):
    """q, geo-queries and scopeQ hold if some instance in the range satisfies each term;
    POST /temporal/entityOperations/query answers like the GET."""

    def setUp(self):
        super().setUp()
        self.t0 = ms("2025-07-01T00:00:00Z")
        hour = 3_600_000
        # Gauge 1 rose above 4 m at 02:00 and fell back; gauge 2 never did. Both moved.
        for n, levels in ((1, [1.0, 2.5, 4.2, 3.0]), (2, [1.0, 1.5, 2.0, 1.8])):
            body = {"id": f"urn:ngsi-ld:Gauge:f{n}", "type": "Gauge", "scope": f"/gimhae/river{n}",
                    "level": [prop(v, self.t0 + i * hour) for i, v in enumerate(levels)],
                    "location": [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.88 + n, 35.23]},
                                  "observedAt": iso(self.t0 + i * hour)} for i in range(2)]}
            if self.hub.get(f"{T}/urn:ngsi-ld:Gauge:f{n}").status == 404:  # once per class
                self.post_temporal(body, 201)
        # A history recorded through the entity API (with its scope) is queried alike.
        r = self.hub.post(E, {"id": "urn:ngsi-ld:Gauge:f3", "type": "Gauge", "scope": "/ulsan",
                              "level": prop(5.0, self.t0)})
        self.assertIn(r.status, (201, 409), r)

    def ids(self, answer):
        return sorted(e["id"] for e in answer)

    def test_q_selects_entities_with_an_instance_in_the_range_satisfying_it(self):
        rng = dict(type="Gauge", timerel="between", timeAt=iso(self.t0), endTimeAt=iso(self.t0 + 4 * 3_600_000))
        self.assertEqual(self.ids(self.query(q="level>4", **rng)), ["urn:ngsi-ld:Gauge:f1", "urn:ngsi-ld:Gauge:f3"])
        # The range decides: before 02:00 no gauge of the river was above 4.
        early = dict(rng, endTimeAt=iso(self.t0 + 2 * 3_600_000))
        self.assertEqual(self.ids(self.query(q="level>4", **early)), ["urn:ngsi-ld:Gauge:f3"])
        # Terms are existential each: above 4 at one time, below 2 at another.
        self.assertEqual(self.ids(self.query(q="level>4;level<2", **rng)), ["urn:ngsi-ld:Gauge:f1"])
        # The selected entities keep all their instances in the range (not only the matching ones).
        f1 = [e for e in self.query(q="level>4", attrs="level", **rng) if e["id"].endswith("f1")][0]
        self.assertEqual([i["value"] for i in f1["level"]], [1.0, 2.5, 4.2, 3.0])
        self.assertNotIn("location", f1)
        # With q the query needs no type.
        self.assertEqual(self.ids(self.query(q="level>4.1", timerel="after", timeAt=iso(self.t0 + 1))),
                         ["urn:ngsi-ld:Gauge:f1"])

    def test_geo_query_and_scope(self):
        rng = dict(type="Gauge", timerel="after", timeAt=iso(self.t0))
        near2 = self.query(georel="near;maxDistance==2000", geometry="Point", coordinates="[130.88,35.23]", **rng)
        self.assertEqual(self.ids(near2), ["urn:ngsi-ld:Gauge:f2"])
        self.assertEqual(self.ids(self.query(scopeQ="/gimhae/#", **rng)), ["urn:ngsi-ld:Gauge:f1", "urn:ngsi-ld:Gauge:f2"])
        self.assertEqual(self.ids(self.query(scopeQ="/ulsan", **rng)), ["urn:ngsi-ld:Gauge:f3"])

    def test_post_query_answers_like_the_get(self):
        rng = dict(timerel="between", timeAt=iso(self.t0), endTimeAt=iso(self.t0 + 4 * 3_600_000))
        get = self.query(type="Gauge", q="level>4", **rng)
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query",
                          {"type": "Query", "entities": [{"type": "Gauge"}], "q": "level>4", "temporalQ": rng})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), get)
        # lastN as a number and aggregation in temporalQ; the format from the URL.
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query?format=aggregatedValues",
                          {"type": "Query", "entities": [{"type": "Gauge", "id": "urn:ngsi-ld:Gauge:f1"}], "attrs": ["level"],
                           "temporalQ": dict(rng, aggrMethods=["max", "totalCount"], aggrPeriodDuration="PT2H")})
        self.assertEqual(r.status, 200, r)
        level = r.json()[0]["level"]
        self.assertEqual(level["max"], [[2.5, iso(self.t0), iso(self.t0 + 7_200_000)],
                                        [4.2, iso(self.t0 + 7_200_000), iso(self.t0 + 14_400_000)]])
        self.assertEqual([row[0] for row in level["totalCount"]], [2, 2])
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query",
                          {"type": "Query", "entities": [{"type": "Gauge"}], "temporalQ": dict(rng, lastN=1)})
        self.assertEqual(r.status, 200, r)
        f1 = [e for e in r.json() if e["id"].endswith("f1")][0]
        self.assertEqual([i["value"] for i in f1["level"]], [3.0])
        # Without temporalQ, or with a bad one: 400 naming it.
        for body, word in (({"type": "Query", "entities": [{"type": "Gauge"}]}, "temporalQ"),
                           ({"type": "Query", "entities": [{"type": "Gauge"}], "temporalQ": {"timerel": "after"}}, "timeAt"),
                           ({"type": "Query", "entities": [{"type": "Gauge"}], "temporalQ": dict(rng, lastN=0)}, "lastN"),
                           ({"type": "Query", "entities": [{"type": "Gauge"}], "temporalQ": dict(rng, timeAt=5)}, "timeAt")):
            with self.subTest(word):
                self.assertBadRequest(self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query", body), word)


class BadInputTest(TemporalCase):
    EID = "urn:ngsi-ld:Thing:b1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.hub.post(T, {"id": cls.EID, "type": "Thing", "v": [prop(1, ms("2024-01-01T00:00:00Z"))]})
        assert r.status == 201, r

    RETRIEVE_CASES = [
        ("timerel without timeAt", dict(timerel="before"), "timeAt"),
        ("timeAt without timerel", dict(timeAt="2024-01-01T00:00:00Z"), "timerel"),
        ("timeAt not a DateTime", dict(timerel="before", timeAt="yesterday"), "timeAt"),
        ("timeAt without zone", dict(timerel="before", timeAt="2024-01-01T00:00:00"), "timeAt"),
        ("timeAt a date", dict(timerel="after", timeAt="2024-01-01"), "timeAt"),
        ("between without endTimeAt", dict(timerel="between", timeAt="2024-01-01T00:00:00Z"), "endTimeAt"),
        ("endTimeAt not a DateTime", dict(timerel="between", timeAt="2024-01-01T00:00:00Z", endTimeAt="x"), "endTimeAt"),
        ("endTimeAt before timeAt", dict(timerel="between", timeAt="2024-01-02T00:00:00Z",
                                         endTimeAt="2024-01-01T00:00:00Z"), "endTimeAt"),
        ("bad timerel", dict(timerel="during", timeAt="2024-01-01T00:00:00Z"), "timerel"),
        ("bad timeproperty", dict(timerel="after", timeAt="2024-01-01T00:00:00Z", timeproperty="seenAt"), "timeproperty"),
        ("lastN=0", dict(lastN="0"), "lastN"),
        ("lastN=-1", dict(lastN="-1"), "lastN"),
        ("lastN=abc", dict(lastN="abc"), "lastN"),
        ("lastN=1.5", dict(lastN="1.5"), "lastN"),
        ("aggregatedValues without aggrMethods", dict(format="aggregatedValues"), "aggrMethods"),
        ("aggregatedValues option without aggrMethods", dict(options="aggregatedValues"), "aggrMethods"),
        ("unknown aggrMethod", dict(format="aggregatedValues", aggrMethods="sum,median"), "median"),
        ("empty aggrMethods", dict(format="aggregatedValues", aggrMethods=""), "aggrMethods"),
        ("both temporalValues and aggregatedValues", dict(options="temporalValues,aggregatedValues",
                                                          aggrMethods="sum"), "options"),
        ("unknown format", dict(format="tabular"), "format"),
    ] + [(f"aggrPeriodDuration={d}", dict(format="aggregatedValues", aggrMethods="sum", aggrPeriodDuration=d),
          "aggrPeriodDuration") for d in ("P1H", "PT", "1D", "P1DT", "P", "PT1D", "P1.5D", "PT-1H", "P1D2H", "")]

    def test_retrieve_bad_parameters(self):
        for name, params, word in self.RETRIEVE_CASES:
            with self.subTest(name):
                self.assertBadRequest(self.hub.get(f"{T}/{self.EID}{qs(**params)}"), word)

    def test_query_bad_parameters(self):
        tq = dict(type="Thing", timerel="after", timeAt="2024-01-01T00:00:00Z")
        for name, params, word in self.RETRIEVE_CASES:
            if "timerel" in params or "timeAt" in params:
                p = dict(type="Thing", **params)
            else:
                p = dict(tq, **params)
            with self.subTest(name):
                self.assertBadRequest(self.hub.get(f"{T}{qs(**p)}"), word)
        with self.subTest("no timerel"):
            self.assertBadRequest(self.hub.get(f"{T}{qs(type='Thing')}"), "timerel")
        with self.subTest("neither type nor attrs"):
            self.assertBadRequest(self.hub.get(f"{T}{qs(timerel='after', timeAt='2024-01-01T00:00:00Z')}"), "type")
        with self.subTest("id not a URI"):
            self.assertBadRequest(self.hub.get(f"{T}{qs(id='abc', **tq)}"), "id")
        with self.subTest("bad type name"):
            self.assertBadRequest(self.hub.get(f"{T}{qs(**dict(tq, type='a b'))}"), "type")

    def test_context_source_filter_is_not_supported(self):
        tq = dict(type="Thing", timerel="after", timeAt="2024-01-01T00:00:00Z")
        body = self.assertProblem(self.hub.get(f"{T}{qs(**tq, csf='x==1')}"), 422, "OperationNotSupported")
        self.assertIn("csf", body["detail"])

    def test_bad_filters_are_400(self):
        tq = dict(type="Thing", timerel="after", timeAt="2024-01-01T00:00:00Z")
        for extra, word in ((dict(q="v>>0"), "q"), (dict(georel="near", geometry="Point", coordinates="[1,2]"), "near"),
                            (dict(georel="within", geometry="Point"), "geo"), (dict(scopeQ="a//"), "scope")):
            with self.subTest(**extra):
                self.assertBadRequest(self.hub.get(f"{T}{qs(**tq, **extra)}"))

    def test_entity_id_not_a_uri(self):
        self.assertBadRequest(self.hub.get(f"{T}/abc"), "abc")
        self.assertBadRequest(self.hub.delete(f"{T}/abc"), "abc")
        self.assertBadRequest(self.hub.delete(f"{T}/abc/attrs/v"), "abc")
        self.assertBadRequest(self.hub.post(f"{T}/abc/attrs", {"v": [prop(1, 0)]}), "abc")

    def test_bad_temporal_bodies(self):
        cases = {
            "no id": {"type": "Thing", "v": [prop(1, 0)]},
            "id not a URI": {"id": "abc", "type": "Thing", "v": [prop(1, 0)]},
            "no type": {"id": "urn:ngsi-ld:Thing:x", "v": [prop(1, 0)]},
            "instance without value": {"id": "urn:ngsi-ld:Thing:x", "type": "Thing", "v": [{"type": "Property"}]},
            "bad observedAt": {"id": "urn:ngsi-ld:Thing:x", "type": "Thing",
                               "v": [{"type": "Property", "value": 1, "observedAt": "noon"}]},
            "relationship object not a URI": {"id": "urn:ngsi-ld:Thing:x", "type": "Thing",
                                              "r": [{"type": "Relationship", "object": "nope"}]},
        }
        for name, body in cases.items():
            with self.subTest(name):
                self.assertBadRequest(self.hub.post(T, body))
        self.assertEqual(self.hub.get(f"{T}/urn:ngsi-ld:Thing:x").status, 404)
        # a bad instance among good ones: nothing of the request is kept
        r = self.hub.post(f"{T}/{self.EID}/attrs", {"v": [prop(2, ms("2024-01-02T00:00:00Z")),
                                                          {"type": "Property", "value": 3, "observedAt": "noon"}]})
        self.assertBadRequest(r)
        self.assertEqual([i["value"] for i in self.retrieve(self.EID)["v"]], [1])


if __name__ == "__main__":
    unittest.main()
