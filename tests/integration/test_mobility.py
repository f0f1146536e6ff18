"""Journey planning (issue 19) over real HTTP: GTFS feeds imported with POST /mobility/v1/feed
and `cityhub import gtfs`, journeys and departure boards checked by hand against Google's sample
feed and Caltrain, every bad parameter answered with a ProblemDetails naming it, 503 while no
feed is loaded, feeds that survive a restart (from their snapshot, no zip given), re-imports that
queries in flight never see half done, and the admin right an import needs."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from guarded_hub import GuardedHub
from hub import BIN, SHARED, Hub, HubTestCase, eventually

GTFS = os.path.join(SHARED, "data", "gtfs")
SAMPLE = os.path.join(GTFS, "google_sample-feed-1.zip")
CALTRAIN = os.path.join(GTFS, "caltrain_20160406.zip")
STAGECOACH = "36.915682,-116.751677"
FUR_CREEK = "36.425288,-117.133162"
SF_SB = "37.776348,-122.394935"        # Caltrain San Francisco, southbound platform 70012
DIRIDON_SB = "37.329231,-121.903173"   # San Jose Diridon, southbound platform 70262


BART = os.path.join(GTFS, "bart_2016.zip")
BART_RT = os.path.join(SHARED, "data", "gtfs-rt", "bart_tripupdates_20161229.pb")


# A minimal protobuf writer for GTFS-Realtime messages the tests make up (field numbers of the
# GTFS-Realtime reference): enough for vehicle positions.
def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(number, value):
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    if isinstance(value, str):
        return _field(number, value.encode())
    if isinstance(value, float):
        return _varint(number << 3 | 5) + struct.pack("<f", value)
    return _varint(number << 3) + _varint(value)


def vehicle_feed(timestamp, vehicles):
    """vehicles: [(vehicle id, label, trip id, lat, lon, bearing, speed m/s)]"""
    msg = _field(1, _field(1, "2.0") + _field(3, timestamp))
    for vid, label, trip, lat, lon, bearing, speed in vehicles:
        position = _field(1, float(lat)) + _field(2, float(lon)) + _field(3, float(bearing)) + _field(5, float(speed))
        vp = _field(1, _field(1, trip)) + _field(2, position) + _field(5, timestamp) + _field(8, _field(1, vid) + _field(2, label))
        msg += _field(2, _field(1, "e-" + vid) + _field(4, vp))
    return msg


def read(path):
    with open(path, "rb") as f:
        return f.read()


def plan_path(**params):
    return "/mobility/v1/plan?" + urllib.parse.urlencode(params)


class MobilityApiTest(HubTestCase):
    def import_zip(self, data, tenant=None, content_type="application/zip"):
        headers = {"NGSILD-Tenant": tenant} if tenant else {}
        return self.hub.request("POST", "/mobility/v1/feed", body=data, headers=headers, content_type=content_type,
                                timeout=120)

    def test_1_no_feed_is_a_503_with_its_reason(self):
        for path in (plan_path(**{"from": STAGECOACH, "to": FUR_CREEK}), "/mobility/v1/stops/X/departures",
                     "/mobility/v1/feed"):
            r = self.hub.get(path, headers={"NGSILD-Tenant": "nofeed"})
            body = self.assertProblem(r, 503)
            self.assertIn("no transit feed is loaded", body["detail"])

    def test_2_import_refuses_what_is_not_a_gtfs_zip(self):
        r = self.import_zip(read(SAMPLE), tenant="badimports", content_type="application/json")
        self.assertProblem(r, 415)
        r = self.import_zip(b"", tenant="badimports")
        self.assertProblem(r, 400, "BadRequestData")
        r = self.import_zip(b"PK\x03\x04 this is no zip at all", tenant="badimports")
        body = self.assertProblem(r, 400)
        self.assertIn("zip", body["detail"])
        self.assertNotIn("/tmp", json.dumps(body))  # the hub's temp file name is not shown
        self.assertEqual(body["report"]["problems"][0]["severity"], "fatal")
        # Still no feed in that tenant.
        self.assertProblem(self.hub.get("/mobility/v1/feed", headers={"NGSILD-Tenant": "badimports"}), 503)

    def test_3_sample_feed_journey_by_hand(self):
        r = self.import_zip(read(SAMPLE))
        self.assertEqual(r.status, 200, r.body)
        summary = r.json()
        self.assertEqual((summary["stops"], summary["routes"], summary["trips"]), (9, 5, 11))
        self.assertEqual(summary["timezone"], "America/Los_Angeles")
        self.assertEqual(summary["firstServiceDate"], "2007-01-01")
        self.assertEqual(summary["report"]["total"], 0)
        # STBA shuttle (every 30 min from 06:00) 07:00 → 07:20 at the Airport, AB1 08:00 → 08:10
        # Bullfrog, BFC1 08:20 → 09:20 Furnace Creek: read off the feed's files.
        r = self.hub.get(plan_path(**{"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-06-02T07:00:00-07:00"}))
        self.assertEqual(r.status, 200, r.body)
        its = r.json()["itineraries"]
        self.assertEqual(len(its), 1, r.body)
        it = its[0]
        self.assertEqual((it["departure"], it["arrival"], it["transfers"]),
                         ("2008-06-02T07:00:00-07:00", "2008-06-02T09:20:00-07:00", 2))
        transit = [(l["tripId"], l["from"]["stopId"], l["to"]["stopId"], l["departure"], l["arrival"])
                   for l in it["legs"] if l["mode"] == "transit"]
        self.assertEqual(transit, [
            ("STBA", "STAGECOACH", "BEATTY_AIRPORT", "2008-06-02T07:00:00-07:00", "2008-06-02T07:20:00-07:00"),
            ("AB1", "BEATTY_AIRPORT", "BULLFROG", "2008-06-02T08:00:00-07:00", "2008-06-02T08:10:00-07:00"),
            ("BFC1", "BULLFROG", "FUR_CREEK_RES", "2008-06-02T08:20:00-07:00", "2008-06-02T09:20:00-07:00")])
        first = it["legs"][0]
        self.assertEqual((first["route"], first["headsign"], first["delaySeconds"]), ("30", "Shuttle", 0))
        # The same instant written in UTC gives the same journey; in winter the offset is -08:00.
        r = self.hub.get(plan_path(**{"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-06-02T14:00:00Z"}))
        self.assertEqual(r.json()["itineraries"][0]["arrival"], "2008-06-02T09:20:00-07:00")
        r = self.hub.get(plan_path(**{"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-01-07T07:00:00-08:00"}))
        self.assertEqual(r.json()["itineraries"][0]["arrival"], "2008-01-07T09:20:00-08:00")
        # Arrive by 15:00 on a Saturday at Amargosa Valley from the Airport: the 13:00 AAMV3.
        r = self.hub.get(plan_path(**{"from": "36.868446,-116.784582", "to": "36.641496,-116.40094",
                                      "time": "2008-06-07T15:00:00-07:00", "arriveBy": "true"}))
        legs = [l for l in r.json()["itineraries"][0]["legs"] if l["mode"] == "transit"]
        self.assertEqual([(l["tripId"], l["departure"]) for l in legs], [("AAMV3", "2008-06-07T13:00:00-07:00")])

    def test_4_departure_board(self):
        self.assertEqual(self.import_zip(read(SAMPLE), tenant="board").status, 200)
        h = {"NGSILD-Tenant": "board"}
        r = self.hub.get("/mobility/v1/stops/STAGECOACH/departures?time=2008-06-02T08:01:00-07:00&limit=4", headers=h)
        self.assertEqual(r.status, 200, r.body)
        got = [(d["tripId"], d["departure"]) for d in r.json()["departures"]]
        self.assertEqual(got, [("CITY1", "2008-06-02T08:10:00-07:00"), ("CITY1", "2008-06-02T08:20:00-07:00"),
                               ("STBA", "2008-06-02T08:30:00-07:00"), ("CITY1", "2008-06-02T08:30:00-07:00")])
        self.assertEqual(r.json()["stop"]["name"], "Stagecoach Hotel & Casino (Demo)")
        body = self.assertProblem(self.hub.get("/mobility/v1/stops/NOPE/departures", headers=h), 404, "ResourceNotFound")
        self.assertIn("NOPE", body["detail"])
        # (2026 is outside the sample feed's calendar: no timetable is built for it.)
        for bad in ("limit=0", "limit=101", "limit=x", "time=yesterday", "lang=%20", "colour=red",
                    "time=2026-01-01T08%3A00%3A00Z"):
            r = self.hub.get("/mobility/v1/stops/STAGECOACH/departures?" + bad, headers=h)
            self.assertEqual(r.status, 400, (bad, r.body))

    def test_5_bad_plan_parameters_are_named(self):
        self.assertEqual(self.import_zip(read(SAMPLE), tenant="params").status, 200)
        h = {"NGSILD-Tenant": "params"}
        ok = {"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-06-02T07:00:00-07:00"}
        cases = [({"from": None}, "from"), ({"to": None}, "to"), ({"from": "91,0"}, "from"),
                 ({"to": "36.4"}, "to"), ({"from": "abc,def"}, "from"), ({"to": "1e999,0"}, "to"),
                 ({"time": "2008-06-02T07:00:00"}, "time"), ({"time": "tomorrow"}, "time"),
                 ({"arriveBy": "yes"}, "arriveBy"), ({"wheelchair": "1"}, "wheelchair"),
                 ({"maxTransfers": "16"}, "maxTransfers"), ({"maxTransfers": "-1"}, "maxTransfers"),
                 ({"maxWalkDistance": "0"}, "maxWalkDistance"), ({"maxWalkDistance": "99999"}, "maxWalkDistance"),
                 ({"lang": "x"}, "lang"), ({"lang": "en_US!"}, "lang"), ({"via": "1,2"}, "via"),
                 # Outside the feed's calendar (2007-01-01 .. 2010-12-31).
                 ({"time": "2026-09-16T08:00:00+09:00"}, "time"),
                 # In the Pacific: no stop within walking distance.
                 ({"from": "0,-150"}, "origin")]
        for change, named in cases:
            params = dict(ok)
            for k, v in change.items():
                if v is None:
                    params.pop(k)
                else:
                    params[k] = v
            r = self.hub.get(plan_path(**params), headers=h)
            body = self.assertProblem(r, 400)
            self.assertIn(named, body["detail"], (change, body))

    def test_6_cli_import_into_a_tenant_and_caltrain_by_hand(self):
        done = subprocess.run([BIN, "import", "gtfs", CALTRAIN, "--tenant", "caltrain", "--listen",
                               f"127.0.0.1:{self.hub.port}"], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr + done.stdout)
        self.assertIn("218 trips", done.stdout)
        h = {"NGSILD-Tenant": "caltrain"}
        # Weekday 2016-04-06 from stop_times.txt: 324 leaves SF 08:12, San Jose Diridon 09:16;
        # at 08:20 the local 228 (08:24 → 09:45) beats 332 (08:56 → 10:03).
        for at, trip, arrival in (("08:00", "324", "09:16"), ("08:20", "228", "09:45")):
            r = self.hub.get(plan_path(**{"from": SF_SB, "to": DIRIDON_SB, "time": f"2016-04-06T{at}:00-07:00",
                                          "maxWalkDistance": "300"}), headers=h)
            self.assertEqual(r.status, 200, r.body)
            its = r.json()["itineraries"]
            self.assertEqual(len(its), 1, r.body)
            self.assertEqual([l["tripId"] for l in its[0]["legs"] if l["mode"] == "transit"], [trip])
            self.assertEqual(its[0]["arrival"], f"2016-04-06T{arrival}:00-07:00")
        # Step-free: only trips whose wheelchair_accessible is 1. The Saturday shuttle from Tamien
        # (777403) to San Jose (777402), 23a at 07:33 → 07:45, leaves it empty (unknown): a
        # step-free journey may not use it, and nothing else goes there (2 km: too far to walk).
        tamien, san_jose = "37.311088,-121.883851", "37.330196,-121.901985"
        r = self.hub.get(plan_path(**{"from": tamien, "to": san_jose, "time": "2016-04-09T07:30:00-07:00",
                                      "maxWalkDistance": "300"}), headers=h)
        self.assertEqual([l["tripId"] for l in r.json()["itineraries"][0]["legs"] if l["mode"] == "transit"], ["23a"])
        r = self.hub.get(plan_path(**{"from": tamien, "to": san_jose, "time": "2016-04-09T07:30:00-07:00",
                                      "maxWalkDistance": "300", "wheelchair": "true"}), headers=h)
        self.assertEqual((r.status, r.json()["itineraries"]), (200, []))
        # The station's board lists its platforms' departures (northbound trains end here).
        r = self.hub.get("/mobility/v1/stops/ctsf/departures?time=2016-04-06T08:00:00-07:00&limit=3", headers=h)
        self.assertEqual([d["tripId"] for d in r.json()["departures"]], ["324", "226", "228"])
        self.assertEqual({d["platform"] for d in r.json()["departures"]}, {"SB"})
        # The CLI reports a refused feed and fails.
        bad = os.path.join(tempfile.mkdtemp(prefix="cityhub-gtfs-"), "bad.zip")
        with open(bad, "wb") as f:
            f.write(b"not a zip")
        done = subprocess.run([BIN, "import", "gtfs", bad, "--tenant", "caltrain", "--listen", f"127.0.0.1:{self.hub.port}"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1)
        self.assertIn("refused", done.stderr)
        self.assertEqual(self.hub.get("/mobility/v1/feed", headers=h).json()["trips"], 218)
        shutil.rmtree(os.path.dirname(bad))

    def test_7_reimport_is_atomic_for_queries_in_flight(self):
        tenant = {"NGSILD-Tenant": "swap"}
        self.assertEqual(self.import_zip(read(SAMPLE), tenant="swap").status, 200)
        sample_q = plan_path(**{"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-06-02T07:00:00-07:00"})
        caltrain_q = plan_path(**{"from": SF_SB, "to": DIRIDON_SB, "time": "2016-04-06T08:00:00-07:00",
                                  "maxWalkDistance": "300"})
        answers, stop = [], threading.Event()

        def ask():
            while not stop.is_set():
                for q in (sample_q, caltrain_q):
                    r = self.hub.get(q, headers=tenant)
                    answers.append((q, r.status, r.body))

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        for zip_path in (CALTRAIN, SAMPLE, CALTRAIN, SAMPLE):
            self.assertEqual(self.import_zip(read(zip_path), tenant="swap").status, 200)
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(answers), 20)
        for q, status, body in answers:
            # Each answer is wholly one feed's: the journey of the feed that serves the query,
            # or "not in this feed's calendar/area" from the other. Never a 5xx.
            self.assertIn(status, (200, 400), body)
            if status == 200:
                legs = [l for l in json.loads(body)["itineraries"][0]["legs"] if l["mode"] == "transit"]
                want = ["STBA", "AB1", "BFC1"] if q == sample_q else ["324"]
                self.assertEqual([l["tripId"] for l in legs], want)


class MobilityDemoFeedTest(HubTestCase):
    """The demo city's own feed (`cityhub demo-transit-feed`): names in the traveller's language,
    and the feed's stops, stations, routes and agency as NGSI-LD entities through the broker."""

    SDM_LINK = '<https://smart-data-models.github.io/dataModel.UrbanMobility/context.jsonld>; ' \
               'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-demo-feed-")
        cls.zip = os.path.join(cls.dir, "demo.zip")
        subprocess.run([BIN, "demo-transit-feed", cls.zip], check=True, timeout=30)
        cls.hub_args = ("--gtfs-feed", cls.zip)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def board(self, lang, tenant=None):
        h = {"NGSILD-Tenant": tenant} if tenant else {}
        q = "/mobility/v1/stops/city-hall/departures?time=2026-12-07T18%3A30%3A00%2B09%3A00&limit=3"
        r = self.hub.get(q + (f"&lang={lang}" if lang else ""), headers=h)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_names_in_each_language_the_feed_has(self):
        want = {"ko": "김해시청", "en": "Gimhae City Hall", "zh": "金海市政府", "ja": "金海市役所",
                "vi": "Tòa thị chính Gimhae"}
        for lang, name in want.items():
            body = self.board(lang)
            self.assertEqual(body["stop"]["name"], name, lang)
            self.assertEqual(body["language"], {"requested": lang, "used": lang, "fallback": False,
                                                "available": ["ko", "en", "ja", "vi", "zh"]})
        # A region subtag falls back to the language; an unknown language to the feed's default
        # (English, feed_info.default_lang), said so in the answer.
        self.assertEqual(self.board("zh-CN")["stop"]["name"], "金海市政府")
        fr = self.board("fr")
        self.assertEqual(fr["stop"]["name"], "Gimhae City Hall")
        self.assertEqual((fr["language"]["used"], fr["language"]["fallback"]), ("en", True))
        # Headsigns and plans too: the bus to Samgye-dong in Japanese.
        r = self.hub.get(plan_path(**{"from": "35.2288,128.8890", "to": "35.2570,128.8720",
                                      "time": "2026-12-07T18:30:00+09:00", "lang": "ja"}))
        legs = [l for l in r.json()["itineraries"][0]["legs"] if l["mode"] == "transit"]
        self.assertEqual(legs[-1]["to"]["name"], "三渓洞")

    def test_stops_are_entities_for_queries_and_geo_queries(self):
        h = {"Link": self.SDM_LINK}
        r = self.hub.get("/ngsi-ld/v1/entities?type=GtfsStop&limit=100", headers=h)
        self.assertEqual(r.status, 200, r.body)
        stops = {e["id"]: e for e in r.json()}
        self.assertEqual(len(stops), 16)
        hall = stops["urn:ngsi-ld:GtfsStop:gtfs:city-hall"]
        self.assertEqual(hall["location"]["value"]["coordinates"], [128.889, 35.2288])
        self.assertEqual(hall["operatedBy"]["object"], ["urn:ngsi-ld:GtfsAgency:gtfs:gimhae-bus"])
        # Within 300 m of city hall (geo-query), in Korean.
        r = self.hub.get("/ngsi-ld/v1/entities?type=GtfsStop&georel=near%3BmaxDistance%3D%3D300&geometry=Point"
                         "&coordinates=%5B128.8890%2C35.2288%5D&lang=ko&options=keyValues", headers=h)
        self.assertEqual(r.status, 200, r.body)
        names = {e["id"]: e["name"] for e in r.json()}
        self.assertEqual(names.get("urn:ngsi-ld:GtfsStop:gtfs:city-hall"), "김해시청")
        self.assertTrue(all(len(n) > 0 for n in names.values()))
        self.assertEqual(len(self.hub.get("/ngsi-ld/v1/entities?type=GtfsRoute", headers=h).json()), 4)
        station = self.hub.get("/ngsi-ld/v1/entities/urn:ngsi-ld:GtfsStation:gtfs:terminal", headers=h).json()
        self.assertEqual(sorted(station["hasStop"]["object"]),
                         ["urn:ngsi-ld:GtfsStop:gtfs:terminal-1", "urn:ngsi-ld:GtfsStop:gtfs:terminal-2"])

    def test_reimport_replaces_the_entities_of_the_previous_feed(self):
        tenant = {"NGSILD-Tenant": "reimport", "Link": self.SDM_LINK}
        r = self.hub.request("POST", "/mobility/v1/feed", body=read(self.zip), headers={"NGSILD-Tenant": "reimport"},
                             content_type="application/zip")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["entities"], "published")
        self.assertEqual(len(self.hub.get("/ngsi-ld/v1/entities?type=GtfsStop&limit=100", headers=tenant).json()), 16)
        r = self.hub.request("POST", "/mobility/v1/feed", body=read(SAMPLE), headers={"NGSILD-Tenant": "reimport"},
                             content_type="application/zip")
        self.assertEqual(r.status, 200, r.body)
        ids = sorted(e["id"] for e in self.hub.get("/ngsi-ld/v1/entities?type=GtfsStop&limit=100", headers=tenant).json())
        self.assertEqual(len(ids), 9)
        self.assertIn("urn:ngsi-ld:GtfsStop:gtfs:STAGECOACH", ids)
        self.assertNotIn("urn:ngsi-ld:GtfsStop:gtfs:city-hall", ids)  # the demo's stops are gone
        self.assertEqual(len(self.hub.get("/ngsi-ld/v1/entities?type=GtfsRoute", headers=tenant).json()), 5)


class MobilityRealtimeTest(HubTestCase):
    """GTFS-Realtime over HTTP: BART's real trip updates of 2016-12-29 (header 17:39:24Z, 09:39
    local) change departure boards and journeys as they should; vehicle positions become Smart
    Data Models Vehicle entities whose track the temporal API keeps."""

    @classmethod
    def setUpClass(cls):
        cls.hub_args = ("--gtfs-feed", BART)
        super().setUpClass()

    def board(self, stop, at, limit=4):
        r = self.hub.get(f"/mobility/v1/stops/{stop}/departures?time={urllib.parse.quote(at)}&limit={limit}")
        self.assertEqual(r.status, 200, r.body)
        return r.json()["departures"]

    def plan(self, frm, to, at):
        r = self.hub.get(plan_path(**{"from": frm, "to": to, "time": at, "maxWalkDistance": "200"}))
        self.assertEqual(r.status, 200, r.body)
        return r.json()["itineraries"]

    def test_1_no_realtime_yet(self):
        self.assertProblem(self.hub.get("/mobility/v1/realtime"), 404)
        r = self.hub.request("POST", "/mobility/v1/realtime", body=b"\x0a\x03abc", content_type="application/json")
        self.assertProblem(r, 415)
        r = self.hub.request("POST", "/mobility/v1/realtime", body=b"\xff\xff\xff garbage", content_type="application/x-protobuf")
        self.assertProblem(r, 400)
        r = self.hub.request("POST", "/mobility/v1/realtime", body=read(BART_RT), headers={"NGSILD-Tenant": "nofeed"},
                             content_type="application/x-protobuf")
        self.assertProblem(r, 503)

    def test_2_bart_delays_change_boards_and_journeys(self):
        deln = "37.925655,-122.317269"   # El Cerrito del Norte (stops.txt DELN)
        rich = "37.936887,-122.353165"   # Richmond (RICH)
        at = "2016-12-29T09:35:00-08:00"
        # Schedule (stop_times.txt): 14DCM11 leaves DELN 09:33 and reaches RICH 09:37; at 09:35 it
        # has gone: the next to Richmond is 20R11 at 09:41.
        before = [(d["tripId"], d["departure"]) for d in self.board("DELN", at)]
        self.assertNotIn("14DCM11", [t for t, _ in before])
        self.assertIn(("20R11", "2016-12-29T09:41:00-08:00"), before)
        legs = [l for l in self.plan(deln, rich, at)[0]["legs"] if l["mode"] == "transit"]
        self.assertEqual((legs[0]["tripId"], legs[0]["realtime"]), ("20R11", False))

        done = subprocess.run([BIN, "import", "gtfs-rt", BART_RT, "--listen", f"127.0.0.1:{self.hub.port}"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr + done.stdout)
        self.assertIn("72 trips updated", done.stdout)
        status = self.hub.get("/mobility/v1/realtime").json()
        self.assertEqual((status["updatedTrips"], status["applied"]), (72, True))
        self.assertEqual(status["feedTimestamp"], "2016-12-29T17:39:24.000Z")

        # The feed: 14DCM11 is 360 s late at DELN (stop_sequence 22): it now leaves at 09:39,
        # and the delay carries on to RICH (09:43); 20R11 is 60 s late.
        board = {d["tripId"]: d for d in self.board("DELN", at)}
        late = board["14DCM11"]
        self.assertEqual((late["scheduledDeparture"], late["departure"], late["delaySeconds"], late["realtime"]),
                         ("2016-12-29T09:33:00-08:00", "2016-12-29T09:39:00-08:00", 360, True))
        self.assertEqual(board["20R11"]["delaySeconds"], 60)
        # So the traveller at DELN at 09:35 catches the late 14DCM11 and reaches Richmond at 09:43.
        it = self.plan(deln, rich, at)[0]
        legs = [l for l in it["legs"] if l["mode"] == "transit"]
        self.assertEqual(legs[0]["tripId"], "14DCM11")
        self.assertEqual((legs[0]["departure"], legs[0]["arrival"]),
                         ("2016-12-29T09:39:00-08:00", "2016-12-29T09:43:00-08:00"))
        self.assertEqual((legs[0]["scheduledArrival"], legs[0]["delaySeconds"], legs[0]["realtime"]),
                         ("2016-12-29T09:37:00-08:00", 360, True))

    def test_3_vehicle_positions_are_entities_with_history(self):
        link = {"Link": '<https://smart-data-models.github.io/dataModel.Transportation/context.jsonld>; '
                        'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}
        vid = "urn:ngsi-ld:Vehicle:gtfs:car-1234"
        for i, (lat, lon) in enumerate([(37.9256, -122.3172), (37.9300, -122.3300), (37.9368, -122.3531)]):
            msg = vehicle_feed(1483033164 + 60 * i, [("car-1234", "Train 14", "14DCM11", lat, lon, 300.0, 10.0)])
            r = self.hub.request("POST", "/mobility/v1/realtime", body=msg, content_type="application/x-protobuf")
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual((r.json()["vehicles"], r.json()["vehicleEntities"]), (1, "published"))
        r = self.hub.get(f"/ngsi-ld/v1/entities/{vid}?options=keyValues", headers=link)
        self.assertEqual(r.status, 200, r.body)
        v = r.json()
        self.assertEqual(v["type"], "Vehicle")
        self.assertEqual(v["location"]["coordinates"], [-122.3531, 37.9368])
        self.assertEqual((v["speed"], v["heading"], v["vehicleType"], v["name"]), (36.0, 300.0, "train", "Train 14"))
        # trips.txt: 14DCM11 runs on route 07 (a GtfsRoute of the feed, in the UrbanMobility vocabulary).
        self.assertEqual(v["https://smartdatamodels.org/dataModel.UrbanMobility/hasRoute"], "urn:ngsi-ld:GtfsRoute:gtfs:07")
        # The track: three positions, at the feed's times.
        r = self.hub.get(f"/ngsi-ld/v1/temporal/entities/{vid}?attrs=location&options=temporalValues", headers=link)
        self.assertEqual(r.status, 200, r.body)
        track = r.json()["location"]["values"]
        self.assertEqual([t[1] for t in track], ["2016-12-29T17:39:24.000Z", "2016-12-29T17:40:24.000Z",
                                                "2016-12-29T17:41:24.000Z"])
        # A Vehicle is all the real-time writer may write: its vehicles never touch other types.
        self.assertEqual(self.hub.get("/ngsi-ld/v1/entities?type=Vehicle", headers=link).status, 200)


class MobilityRealtimePollTest(unittest.TestCase):
    """--gtfs-rt-url: the hub polls a producer (here a local HTTP server serving BART's file) and
    applies what it gets within one poll."""

    def test_polled_feed_is_applied(self):
        served = {"body": read(BART_RT), "requests": 0}

        class Producer(BaseHTTPRequestHandler):
            def do_GET(self):
                served["requests"] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(served["body"])))
                self.end_headers()
                self.wfile.write(served["body"])

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Producer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/bart/tripupdates.pb"
            with Hub(extra_args=["--gtfs-feed", BART, "--gtfs-rt-url", url, "--gtfs-rt-poll-s", "5"]) as hub:
                status = eventually(lambda: hub.get("/mobility/v1/realtime").json()
                                    if hub.get("/mobility/v1/realtime").status == 200 else None, timeout=15)
                self.assertEqual(status["updatedTrips"], 72)
                self.assertGreaterEqual(served["requests"], 1)
                r = hub.get("/mobility/v1/stops/DELN/departures?time=2016-12-29T09%3A35%3A00-08%3A00&limit=4")
                late = [d for d in r.json()["departures"] if d["tripId"] == "14DCM11"]
                self.assertEqual(late[0]["delaySeconds"], 360)
        finally:
            server.shutdown()
            server.server_close()


class MobilityOnDemandTest(HubTestCase):
    """GTFS-Flex over HTTP on the reference's example (Aspen's Downtowner, zone area_294, every day
    11:00–23:00 from 2022-04-14 to 2022-11-23, booked in real time by app or phone)."""

    @classmethod
    def setUpClass(cls):
        cls.hub_args = ("--gtfs-feed", os.path.join(SHARED, "data", "gtfs-flex", "FlexExample--on-demand-service.zip"))
        super().setUpClass()

    def plan(self, **params):
        r = self.hub.get(plan_path(**{"from": "39.1911,-106.8175", "to": "39.1870,-106.8230", **params}))
        return r

    def test_a_ride_inside_the_zone_with_its_booking_rule(self):
        # 658 m crow-fly × 1.3 at 25 km/h = 124 s; walking (684 s) is beaten, so only the ride.
        r = self.plan(time="2022-06-15T12:00:00-06:00")
        self.assertEqual(r.status, 200, r.body)
        its = r.json()["itineraries"]
        self.assertEqual(len(its), 1, r.body)
        leg = its[0]["legs"][0]
        self.assertEqual((leg["mode"], leg["departure"], leg["arrival"], leg["estimated"]),
                         ("onDemand", "2022-06-15T12:00:00-06:00", "2022-06-15T12:02:04-06:00", True))
        self.assertEqual((leg["route"], leg["agency"], leg["pickupArea"]["id"]), ("Downtowner", "City of Aspen", "area_294"))
        self.assertEqual((leg["bookingRule"]["bookingType"], leg["bookingRule"]["phone"]), ("realTime", "877-230-6045"))
        # Before 11:00 the ride waits for the service; arriving by 12:30 it leaves at 12:27:56.
        its = self.plan(time="2022-06-15T10:30:00-06:00").json()["itineraries"]
        ride = [i for i in its if i["legs"][0]["mode"] == "onDemand"][0]
        self.assertEqual(ride["legs"][0]["departure"], "2022-06-15T11:00:00-06:00")
        its = self.plan(time="2022-06-15T12:30:00-06:00", arriveBy="true").json()["itineraries"]
        self.assertEqual([i["legs"][0]["departure"] for i in its if i["legs"][0]["mode"] == "onDemand"],
                         ["2022-06-15T12:27:56-06:00"])
        # After 23:00 only walking is left.
        its = self.plan(time="2022-06-15T23:30:00-06:00").json()["itineraries"]
        self.assertEqual([l["mode"] for i in its for l in i["legs"]], ["walk"])
        # Outside the zone (and no stop anywhere): nothing to offer, said so.
        r = self.hub.get(plan_path(**{"from": "39.30,-106.90", "to": "39.1870,-106.8230",
                                      "time": "2022-06-15T12:00:00-06:00"}))
        self.assertProblem(r, 400)


class MobilityRestartTest(unittest.TestCase):
    def test_feed_survives_a_restart_from_its_snapshot(self):
        data = tempfile.mkdtemp(prefix="cityhub-mobility-")
        try:
            with Hub(data_dir=data, extra_args=["--gtfs-feed", CALTRAIN]) as hub:
                self.assertEqual(hub.get("/mobility/v1/feed").json()["trips"], 218)
            self.assertTrue(os.path.exists(os.path.join(data, "mobility", "default", "feed.snapshot")))
            with Hub(data_dir=data) as hub:  # no --gtfs-feed: the snapshot is read
                r = hub.get(plan_path(**{"from": SF_SB, "to": DIRIDON_SB, "time": "2016-04-06T08:00:00-07:00",
                                         "maxWalkDistance": "300"}))
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.json()["itineraries"][0]["arrival"], "2016-04-06T09:16:00-07:00")
                self.assertIn("loaded from its snapshot", hub.read_log())
        finally:
            shutil.rmtree(data, ignore_errors=True)


class MobilityAccessTest(unittest.TestCase):
    """Importing replaces what every traveller of the tenant is told: it needs the admin right."""

    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-mobility-auth-").start()

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def test_import_needs_admin_and_planning_needs_read(self):
        g = self.guarded
        zip_bytes = read(SAMPLE)
        r = g.call("POST", "/mobility/v1/feed", ("ann", "city:writer"), body=zip_bytes, tenant="city",
                   content_type="application/zip")
        self.assertEqual(r.status, 403, r.body)
        r = g.call("POST", "/mobility/v1/feed", None, body=zip_bytes, tenant="city", content_type="application/zip")
        self.assertEqual(r.status, 401, r.body)
        r = g.call("POST", "/mobility/v1/feed", ("bo", "city:admin"), body=zip_bytes, tenant="city",
                   content_type="application/zip")
        self.assertEqual(r.status, 200, r.body)
        q = plan_path(**{"from": STAGECOACH, "to": FUR_CREEK, "time": "2008-06-02T07:00:00-07:00"})
        self.assertEqual(g.call("GET", q, ("cy", "city:reader"), tenant="city").status, 200)
        self.assertEqual(g.call("GET", q, None, tenant="city").status, 401)
        self.assertEqual(g.call("GET", q, ("cy", "other:reader"), tenant="city").status, 403)


if __name__ == "__main__":
    unittest.main()
