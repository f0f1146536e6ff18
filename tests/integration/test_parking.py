"""Smart parking (issue 7) over real HTTP: ParkingSpot status changes keep each parking site's
availableSpotNumber, occupiedSpotNumber, totalSpotNumber, occupancy and status exact — also
under concurrent spot changes, compared with a recount through the query API — in the Smart
Data Models vocabulary and in plain terms; and "nearest car parks with at least N free spaces"."""
import datetime
import json
import math
import random
import threading
import time
import unittest

from hub import HubTestCase, CONTEXT_REL

E = "/ngsi-ld/v1/entities"
SDM = "https://smart-data-models.github.io/dataModel.Parking/context.jsonld"
SITES = {  # id -> (lon, lat)
    "urn:ngsi-ld:OffStreetParking:gimhae:A": (128.8811, 35.2285),
    "urn:ngsi-ld:OffStreetParking:gimhae:B": (128.8890, 35.2340),
    "urn:ngsi-ld:OffStreetParking:gimhae:C": (128.9100, 35.2500),
}


class ParkingTest(HubTestCase):
    def headers(self, tenant, sdm=False):
        h = {"NGSILD-Tenant": tenant}
        if sdm:
            h["Link"] = f'<{SDM}>; {CONTEXT_REL}'
        return h

    def seed(self, tenant, spots_per_site=40, sdm=False):
        items = []
        for sid, (lon, lat) in SITES.items():
            items.append({"id": sid, "type": "OffStreetParking",
                          "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}})
        rng = random.Random(7)
        for sid in SITES:
            for i in range(spots_per_site):
                items.append({"id": f"{sid.replace('OffStreetParking', 'ParkingSpot')}:{i}", "type": "ParkingSpot",
                              "status": {"type": "Property", "value": rng.choice(["free", "occupied", "occupied"])},
                              "refParkingSite": {"type": "Relationship", "object": sid}})
        r = self.hub.post(E.replace("entities", "entityOperations/upsert"), items, headers=self.headers(tenant, sdm))
        self.assertIn(r.status, (201, 204), r.body)

    def recount(self, tenant, site, sdm=False):
        def count(q):
            r = self.hub.get(f'{E}?type=ParkingSpot&q={q};refParkingSite=="{site}"&count=true&limit=0',
                             headers=self.headers(tenant, sdm))
            self.assertEqual(r.status, 200, r.body)
            return int(r.header("NGSILD-Results-Count"))
        return count('status=="free"'), count('status=="occupied"'), count('status~=".*"')

    def site(self, tenant, site, sdm=False):
        return self.hub.get(f"{E}/{site}?options=keyValues", headers=self.headers(tenant, sdm)).json()

    def wait_exact(self, tenant, sdm=False, timeout=15):
        deadline = time.time() + timeout
        while True:
            mismatches = []
            for sid in SITES:
                free, occupied, total = self.recount(tenant, sid, sdm)
                s = self.site(tenant, sid, sdm)
                got = (s.get("availableSpotNumber"), s.get("occupiedSpotNumber"), s.get("totalSpotNumber"))
                if got != (free, occupied, total):
                    mismatches.append((sid, got, (free, occupied, total)))
            if not mismatches:
                return
            if time.time() > deadline:
                self.fail(f"site counts differ from a recount: {mismatches}")
            time.sleep(0.1)

    def test_counts_follow_spot_changes(self):
        self.seed("pk1")
        self.wait_exact("pk1")
        a = "urn:ngsi-ld:OffStreetParking:gimhae:A"
        s = self.site("pk1", a)
        self.assertAlmostEqual(s["occupancy"], s["occupiedSpotNumber"] / (s["occupiedSpotNumber"] + s["availableSpotNumber"]), places=3)
        # Fill site A: full; free one: almostFull.
        for i in range(40):
            self.hub.patch(f"{E}/urn:ngsi-ld:ParkingSpot:gimhae:A:{i}/attrs",
                           {"status": {"type": "Property", "value": "occupied"}}, headers=self.headers("pk1"))
        self.wait_exact("pk1")
        self.assertEqual(self.site("pk1", a)["status"], ["full"])
        self.hub.patch(f"{E}/urn:ngsi-ld:ParkingSpot:gimhae:A:0/attrs", {"status": {"type": "Property", "value": "free"}},
                       headers=self.headers("pk1"))
        self.wait_exact("pk1")
        self.assertEqual(self.site("pk1", a)["status"], ["almostFull"])
        # A spot moving to another site, and one deleted.
        self.hub.patch(f"{E}/urn:ngsi-ld:ParkingSpot:gimhae:A:1/attrs",
                       {"refParkingSite": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:gimhae:B"}},
                       headers=self.headers("pk1"))
        self.hub.delete(f"{E}/urn:ngsi-ld:ParkingSpot:gimhae:C:3", headers=self.headers("pk1"))
        self.wait_exact("pk1")
        self.assertEqual(self.site("pk1", a)["totalSpotNumber"], 39)

    def test_exact_under_concurrent_changes(self):
        self.seed("pk2")
        self.wait_exact("pk2")
        errors = []

        def worker(seed):
            rng = random.Random(seed)
            for _ in range(150):
                sid = rng.choice(list(SITES))
                spot = f"{sid.replace('OffStreetParking', 'ParkingSpot')}:{rng.randrange(40)}"
                r = self.hub.patch(f"{E}/{spot}/attrs", {"status": {"type": "Property", "value": rng.choice(["free", "occupied"])}},
                                   headers=self.headers("pk2"))
                if r.status != 204:
                    errors.append(r.status)
        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.wait_exact("pk2")

    def test_smart_data_models_vocabulary(self):
        self.seed("pk3", spots_per_site=10, sdm=True)
        self.wait_exact("pk3", sdm=True)
        raw = self.hub.get(f"{E}/urn:ngsi-ld:OffStreetParking:gimhae:A", headers={"NGSILD-Tenant": "pk3"}).json()
        # Without the SDM @context the attribute names come back as the SDM IRIs (compacted by nothing).
        self.assertIn("https://smartdatamodels.org/dataModel.Parking/availableSpotNumber", raw)

    def test_nearest_with_free_spaces(self):
        self.seed("pk4")
        self.wait_exact("pk4")
        lon, lat = SITES["urn:ngsi-ld:OffStreetParking:gimhae:A"]
        r = self.hub.get(f"/cityhub/v1/parking/nearest?lat={lat}&lon={lon}&minFree=1&maxDistance=5000",
                         headers=self.headers("pk4"))
        self.assertEqual(r.status, 200, r.body)
        found = r.json()
        self.assertEqual([p["id"] for p in found][:2], ["urn:ngsi-ld:OffStreetParking:gimhae:A", "urn:ngsi-ld:OffStreetParking:gimhae:B"])
        self.assertLess(found[0]["distance"], 1)
        self.assertTrue(all(found[i]["distance"] <= found[i + 1]["distance"] for i in range(len(found) - 1)))
        for i in range(40):  # fill A: it drops out
            self.hub.patch(f"{E}/urn:ngsi-ld:ParkingSpot:gimhae:A:{i}/attrs",
                           {"status": {"type": "Property", "value": "occupied"}}, headers=self.headers("pk4"))
        self.wait_exact("pk4")
        found = self.hub.get(f"/cityhub/v1/parking/nearest?lat={lat}&lon={lon}&minFree=1", headers=self.headers("pk4")).json()
        self.assertNotIn("urn:ngsi-ld:OffStreetParking:gimhae:A", [p["id"] for p in found])
        free_b = self.site("pk4", "urn:ngsi-ld:OffStreetParking:gimhae:B")["availableSpotNumber"]
        found = self.hub.get(f"/cityhub/v1/parking/nearest?lat={lat}&lon={lon}&minFree={free_b + 1}&maxDistance=50000",
                             headers=self.headers("pk4")).json()
        self.assertNotIn("urn:ngsi-ld:OffStreetParking:gimhae:B", [p["id"] for p in found])
        self.assertProblem(self.hub.get("/cityhub/v1/parking/nearest?lat=95&lon=1", headers=self.headers("pk4")), 400)

    def test_next_hour_forecast_from_history(self):
        h = self.headers("pk5")
        site, total = "urn:ngsi-ld:OffStreetParking:gimhae:F", 120
        slot = 15 * 60

        def usual(t):  # a weekday / weekend curve (UTC hours), the same every week
            d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
            hour = d.hour + d.minute / 60
            if d.weekday() >= 5:
                return 0.2 + 0.5 * math.exp(-((hour - 13) / 3) ** 2)
            return 0.1 if hour < 8 or hour > 19 else 0.1 + 0.8 * math.sin(math.pi * (hour - 8) / 11)

        def iso(t):
            return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def epoch(text):
            return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()

        now = time.time()
        r = self.hub.post(E, {"id": site, "type": "OffStreetParking",
                              "totalSpotNumber": {"type": "Property", "value": total},
                              "occupancy": {"type": "Property", "value": round(usual(now), 4), "observedAt": iso(now)}},
                          headers=h)
        self.assertEqual(r.status, 201, r.body)
        # No history yet: the current occupancy is the forecast, its error not measured.
        r = self.hub.get(f"/cityhub/v1/parking/{site}/forecast", headers=h)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["model"]["seasonality"], "none")
        self.assertEqual({p["occupancy"] for p in r.json()["forecast"]}, {round(usual(now), 4)})
        self.assertEqual(r.json()["measuredError"]["points"], 0)
        self.assertIn("three days", r.json()["measuredError"]["reason"])
        # Three weeks of occupancy every 15 minutes through the temporal API: the usual curve plus
        # departures that last a few hours (events, weather) and ±1 point of sensor noise.
        rng = random.Random(5)
        history, departure = [], 0.0
        first = now - now % slot - 21 * 96 * slot
        for k in range(21 * 96):
            t = first + k * slot
            departure = 0.9 * departure + rng.gauss(0, 0.04)
            value = min(1, max(0, usual(t) + departure + rng.uniform(-0.01, 0.01)))
            history.append({"type": "Property", "value": round(value, 4), "observedAt": iso(t)})
        r = self.hub.post(f"/ngsi-ld/v1/temporal/entities/{site}/attrs", {"occupancy": history}, headers=h)
        self.assertEqual(r.status, 204, r.body)

        r = self.hub.get(f"/cityhub/v1/parking/{site}/forecast", headers=h)
        self.assertEqual(r.status, 200, r.body)
        f = r.json()
        origin = epoch(f["at"]) - epoch(f["at"]) % slot  # the hub's current slot
        self.assertEqual(f["id"], site)
        self.assertEqual(f["totalSpotNumber"], total)
        self.assertEqual(f["model"]["seasonality"], "weekly")
        self.assertGreater(f["model"]["phi"], 0.5)  # the departures persist, and the model saw it
        self.assertEqual([epoch(p["from"]) for p in f["forecast"]], [origin + k * slot for k in range(1, 5)])
        for p in f["forecast"]:
            self.assertEqual(p["availableSpotNumber"], round(total * (1 - p["occupancy"])))
        err = f["measuredError"]
        self.assertEqual(err["points"], 7 * 96)  # the last week, each slot forecast from an hour before
        self.assertLess(err["meanAbsoluteError"], err["persistenceMeanAbsoluteError"])
        self.assertLess(err["meanAbsoluteError"], err["profileMeanAbsoluteError"])
        self.assertAlmostEqual(err["meanAbsoluteErrorSpots"], err["meanAbsoluteError"] * total, delta=0.02)

        # Told the car park is 30 points fuller now, the forecast starts higher, by at most 30
        # points, and by less an hour later (the departure fades).
        def forecast_with(occupancy):
            r = self.hub.patch(f"{E}/{site}/attrs", {"occupancy": {"type": "Property", "value": occupancy}}, headers=h)
            self.assertEqual(r.status, 204, r.body)
            r = self.hub.get(f"/cityhub/v1/parking/{site}/forecast", headers=h)
            self.assertEqual(r.status, 200, r.body)
            return r.json()
        low, high = forecast_with(0.2), forecast_with(0.5)
        if epoch(low["at"]) // slot == epoch(high["at"]) // slot:  # the same slots (not across a boundary)
            first_gap = high["forecast"][0]["occupancy"] - low["forecast"][0]["occupancy"]
            last_gap = high["forecast"][3]["occupancy"] - low["forecast"][3]["occupancy"]
            self.assertGreater(first_gap, 0.05)
            self.assertLess(last_gap, first_gap)
            self.assertLessEqual(first_gap, 0.3 + 1e-9)

        self.assertProblem(self.hub.get("/cityhub/v1/parking/urn:ngsi-ld:OffStreetParking:none/forecast", headers=h), 404)
        self.assertEqual(self.hub.post(E, {"id": "urn:ngsi-ld:ParkingSpot:F1", "type": "ParkingSpot"}, headers=h).status, 201)
        self.assertProblem(self.hub.get("/cityhub/v1/parking/urn:ngsi-ld:ParkingSpot:F1/forecast", headers=h), 400)
        self.assertEqual(self.hub.post(E, {"id": "urn:ngsi-ld:OffStreetParking:empty", "type": "OffStreetParking"},
                                       headers=h).status, 201)
        self.assertProblem(self.hub.get("/cityhub/v1/parking/urn:ngsi-ld:OffStreetParking:empty/forecast", headers=h), 404)

if __name__ == "__main__":
    unittest.main()
