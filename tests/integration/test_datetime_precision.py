"""DateTimes keep the precision they were written with (GS CIM 009 v1.8), over real HTTP:

  - `observedAt` of attributes and sub-attributes, and DateTime values
    ({"@type": "DateTime", "@value": …}), in current-state GET and queries (normalized,
    concise, keyValues), in the temporal representations (normalized, temporalValues, lastN,
    temporal writes and instance edits) and in notifications;
  - a time written with an offset comes back in UTC with the same fraction digits;
  - subscription `expiresAt` as written (in UTC);
  - everything survives a restart (the history codec stores the fraction);
  - times the hub generates (createdAt, modifiedAt, deletedAt, notifiedAt, lastNotification)
    have one precision: milliseconds, "YYYY-MM-DDThh:mm:ss.sssZ" (docs/API.md Conventions);
  - bad DateTimes are 400 naming the member or parameter.

The spec's schemas give every temporal member as `type: string, format: date-time` (the
OpenAPI ObservedAt, CreatedAt, ModifiedAt, DeletedAt schemas of clause 4.8; Query.timeAt:
"It shall be a DateTime"), i.e. RFC 3339 date-time, whose fraction (`time-secfrac = "."
1*DIGIT`) has as many digits as its writer gave; nothing in the spec lets a broker add or drop
digits, so what a client wrote is what it reads.
"""
import json
import re
import time
import unittest
from urllib.parse import urlencode

from hub import Hub, HubTestCase, ReceiverTestCase
from receiver import Receiver

E = "/ngsi-ld/v1/entities"
T = "/ngsi-ld/v1/temporal/entities"
S = "/ngsi-ld/v1/subscriptions"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SYSTEM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# (as written, as returned): the fraction keeps its digits; an offset is turned into UTC.
WRITTEN = [
    ("2020-08-01T12:03:00Z", "2020-08-01T12:03:00Z"),
    ("2020-08-01T12:04:00.5Z", "2020-08-01T12:04:00.5Z"),
    ("2020-08-01T12:05:00.000Z", "2020-08-01T12:05:00.000Z"),
    ("2020-08-01T12:06:00.120000Z", "2020-08-01T12:06:00.120000Z"),
    ("2020-08-01T12:07:00.123456789Z", "2020-08-01T12:07:00.123456789Z"),
    ("2020-08-01T21:08:00+09:00", "2020-08-01T12:08:00Z"),
    ("2020-08-01T10:09:00.25-02:00", "2020-08-01T12:09:00.25Z"),
]


def qs(**params):
    return "?" + urlencode(params) if params else ""


def dt_value(text):
    return {"@type": "DateTime", "@value": text}


def reading(i, written):
    """The i-th reading: observedAt as written, a sub-attribute with its own observedAt and a
    DateTime value."""
    return {"type": "Property", "value": i, "observedAt": written,
            "calibratedAt": {"type": "Property", "value": dt_value(written), "observedAt": written}}


class CurrentStateTest(HubTestCase):
    def test_observed_at_and_datetime_values_come_back_as_written(self):
        """§4.8 (ObservedAt schema: `type: string, format: date-time`) and §4.6.3 DateTime
        values: every representation of GET /entities/{id} and of a query shows them as written
        (an offset in UTC)."""
        for n, (written, shown) in enumerate(WRITTEN):
            eid = f"urn:ngsi-ld:Gauge:cur{n}"
            r = self.hub.post(E, {"id": eid, "type": "Gauge", "level": reading(n, written),
                                  "installedAt": {"type": "Property", "value": dt_value(written)}})
            self.assertEqual(r.status, 201, r)
            with self.subTest(written=written):
                got = self.hub.get(f"{E}/{eid}").json()
                self.assertEqual(got["level"]["observedAt"], shown, got)
                self.assertEqual(got["level"]["calibratedAt"]["observedAt"], shown, got)
                # A DateTime value is data: kept exactly as written, offset included.
                self.assertEqual(got["level"]["calibratedAt"]["value"], dt_value(written), got)
                self.assertEqual(got["installedAt"]["value"], dt_value(written), got)
                concise = self.hub.get(f"{E}/{eid}{qs(options='concise')}").json()
                self.assertEqual(concise["level"]["observedAt"], shown, concise)
                kv = self.hub.get(f"{E}/{eid}{qs(options='keyValues')}").json()
                self.assertEqual(kv["installedAt"], dt_value(written), kv)
        listed = self.hub.get(f"{E}{qs(type='Gauge', limit=100)}").json()
        self.assertEqual(sorted(e["level"]["observedAt"] for e in listed), sorted(s for _, s in WRITTEN))
        posted = self.hub.post("/ngsi-ld/v1/entityOperations/query", {"type": "Query", "entities": [{"type": "Gauge"}]})
        self.assertEqual(posted.status, 200, posted)
        self.assertEqual(sorted(e["level"]["observedAt"] for e in posted.json()), sorted(s for _, s in WRITTEN))

    def test_a_patch_shows_the_new_time_as_written(self):
        """§5.6.2 / §5.6.3: the attribute as updated, observedAt as the update wrote it."""
        eid = "urn:ngsi-ld:PatchedGauge:1"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "PatchedGauge", "level": reading(1, "2021-01-01T00:00:00.000Z")}).status, 201)
        r = self.hub.patch(f"{E}/{eid}/attrs", {"level": {"type": "Property", "value": 2, "observedAt": "2021-01-01T09:00:01+09:00"}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["level"]["observedAt"], "2021-01-01T00:00:01Z")

    def test_q_compares_the_instant_whatever_the_precision(self):
        """§4.9: `observedAt` in a q path compares times, so 12:03:00Z equals 12:03:00.000Z."""
        eid = "urn:ngsi-ld:QGauge:1"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "QGauge", "level": reading(1, "2020-08-01T12:03:00Z")}).status, 201)
        for q in ("level.observedAt==2020-08-01T12:03:00.000Z", "level.observedAt==2020-08-01T21:03:00+09:00",
                  "level.observedAt>=2020-08-01T12:03:00Z"):
            with self.subTest(q=q):
                got = self.hub.get(f"{E}{qs(type='QGauge', q=q)}").json()
                self.assertEqual([e["id"] for e in got], [eid])
        got = self.hub.get(f"{E}{qs(type='QGauge', q='level.observedAt>2020-08-01T12:03:00.000Z')}").json()
        self.assertEqual(got, [])

    def test_system_times_have_milliseconds(self):
        """§4.8 createdAt/modifiedAt are generated by the system: one documented precision,
        milliseconds, whatever precision observedAt was written with."""
        eid = "urn:ngsi-ld:SysGauge:1"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "SysGauge", "level": reading(1, "2020-08-01T12:03:00Z")}).status, 201)
        got = self.hub.get(f"{E}/{eid}{qs(options='sysAttrs')}").json()
        for t in (got["createdAt"], got["modifiedAt"], got["level"]["createdAt"], got["level"]["modifiedAt"],
                  got["level"]["calibratedAt"]["createdAt"]):
            self.assertRegex(t, SYSTEM_TIME)
        self.assertEqual(got["level"]["observedAt"], "2020-08-01T12:03:00Z")

    def test_malformed_observed_at_is_400_naming_it(self):
        """§4.8: observedAt shall be a DateTime; anything else is 400 BadRequestData."""
        for bad in ("2020-08-01T12:03:00", "2020-08-01T12:03:00.1234567890Z", "2020-08-01T12:03:00.Z",
                    "2020-08-01", "2020-02-30T00:00:00Z", 1596283380000):
            with self.subTest(bad=bad):
                r = self.hub.post(E, {"id": "urn:ngsi-ld:Gauge:bad", "type": "Gauge",
                                      "level": {"type": "Property", "value": 1, "observedAt": bad}})
                body = self.assertProblem(r, 400, "BadRequestData")
                self.assertIn("observedAt", body["detail"])
                self.assertIn("level", body["detail"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Gauge:bad").status, 404)


class TemporalTest(HubTestCase):
    def history(self, eid, **params):
        r = self.hub.get(f"{T}/{eid}{qs(**params)}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def record(self, eid, etype="River"):
        """One instance per WRITTEN time, through the entity API (create, then PATCHes)."""
        for n, (written, _) in enumerate(WRITTEN):
            if n == 0:
                r = self.hub.post(E, {"id": eid, "type": etype, "level": reading(n, written)})
                self.assertEqual(r.status, 201, r)
            else:
                r = self.hub.patch(f"{E}/{eid}/attrs", {"level": reading(n, written)})
                self.assertEqual(r.status, 204, r)

    def test_normalized_history_shows_observed_at_as_written(self):
        """§4.5.7 (temporal representation of a Property: each instance with its observedAt) and
        §4.8 ObservedAt `format: date-time`: the history shows each time as it was written."""
        eid = "urn:ngsi-ld:River:hist"
        self.record(eid)
        got = self.history(eid)
        level = got["level"]
        self.assertEqual([i["value"] for i in level], list(range(len(WRITTEN))), level)
        self.assertEqual([i["observedAt"] for i in level], [s for _, s in WRITTEN])
        self.assertEqual([i["calibratedAt"]["observedAt"] for i in level], [s for _, s in WRITTEN])
        self.assertEqual([i["calibratedAt"]["value"] for i in level], [dt_value(w) for w, _ in WRITTEN])
        sys = self.history(eid, options="sysAttrs")["level"]
        for inst in sys:
            self.assertRegex(inst["createdAt"], SYSTEM_TIME)
            self.assertRegex(inst["modifiedAt"], SYSTEM_TIME)

    def test_temporal_values_and_last_n_show_the_times_as_written(self):
        """§4.5.9 simplified temporal representation: each pair is [value, the timeproperty's
        time]; for observedAt that is the time as written. lastN (§6.3.10) too."""
        eid = "urn:ngsi-ld:River:simple"
        self.record(eid)
        got = self.history(eid, format="temporalValues", timerel="after", timeAt="2020-08-01T00:00:00Z")
        self.assertEqual(got["level"]["values"], [[n, s] for n, (_, s) in enumerate(WRITTEN)])
        last = self.history(eid, format="temporalValues", lastN="2", timerel="after", timeAt="2020-08-01T00:00:00Z")
        self.assertEqual(last["level"]["values"], [[n, WRITTEN[n][1]] for n in (5, 6)])
        # createdAt is the hub's own time: milliseconds.
        created = self.history(eid, format="temporalValues", timeproperty="createdAt", timerel="after",
                               timeAt="2020-08-01T00:00:00Z")
        for _, t in created["level"]["values"]:
            self.assertRegex(t, SYSTEM_TIME)

    def test_time_bounds_compare_instants_at_any_precision(self):
        """§4.11: timerel compares times, so 12:03:00Z and 12:03:00.000Z are the same instant
        (after: t >= timeAt; before: t < timeAt)."""
        eid = "urn:ngsi-ld:River:bounds"
        self.record(eid)
        got = self.history(eid, timerel="after", timeAt="2020-08-01T12:04:00.500Z")
        self.assertEqual([i["observedAt"] for i in got["level"]], [s for _, s in WRITTEN[1:]])
        got = self.history(eid, timerel="before", timeAt="2020-08-01T21:04:00.5+09:00")
        self.assertEqual([i["observedAt"] for i in got["level"]], ["2020-08-01T12:03:00Z"])

    def test_temporal_writes_and_instance_edits_keep_the_written_precision(self):
        """§5.6.11 Create or Update Temporal Representation, §5.6.12 Add Attributes and §5.6.14
        Modify Attribute instance: the instances are stored as given, observedAt included (an
        edit without observedAt keeps the instance's own, §5.6.14)."""
        eid = "urn:ngsi-ld:River:tw"
        r = self.hub.post(T, {"id": eid, "type": "River",
                              "level": [{"type": "Property", "value": 1, "observedAt": "2022-03-01T00:00:00Z"},
                                        {"type": "Property", "value": 2, "observedAt": "2022-03-01T09:00:01.5+09:00"}]})
        self.assertEqual(r.status, 201, r)
        r = self.hub.post(f"{T}/{eid}/attrs", {"level": {"type": "Property", "value": 3, "observedAt": "2022-03-01T00:00:02.000001Z"}})
        self.assertEqual(r.status, 204, r)
        level = self.history(eid)["level"]
        self.assertEqual([i["observedAt"] for i in level],
                         ["2022-03-01T00:00:00Z", "2022-03-01T00:00:01.5Z", "2022-03-01T00:00:02.000001Z"])
        first = level[0]["instanceId"]
        r = self.hub.patch(f"{T}/{eid}/attrs/level/{first}", {"level": [{"type": "Property", "value": 10}]})
        self.assertEqual(r.status, 204, r)
        second = level[1]["instanceId"]
        r = self.hub.patch(f"{T}/{eid}/attrs/level/{second}",
                           {"level": [{"type": "Property", "value": 20, "observedAt": "2022-03-01T00:00:01.50Z"}]})
        self.assertEqual(r.status, 204, r)
        level = self.history(eid)["level"]
        self.assertEqual([(i["value"], i["observedAt"]) for i in level],
                         [(10, "2022-03-01T00:00:00Z"), (20, "2022-03-01T00:00:01.50Z"), (3, "2022-03-01T00:00:02.000001Z")])

    def test_aggregated_periods_echo_time_at_as_written(self):
        """§4.5.19 aggregated temporal representation: each value is [value, period start, period
        end]; periods start at timeAt (docs/API.md), so the bounds show timeAt as the client wrote
        it, and the following bounds with the same digits; endTimeAt likewise."""
        eid = "urn:ngsi-ld:River:agg"
        r = self.hub.post(T, {"id": eid, "type": "River", "level": [
            {"type": "Property", "value": v, "observedAt": f"2023-01-0{d}T06:00:00Z"} for d, v in ((1, 1), (2, 3), (3, 5))]})
        self.assertEqual(r.status, 201, r)
        got = self.history(eid, format="aggregatedValues", aggrMethods="sum", aggrPeriodDuration="P1D",
                           timerel="between", timeAt="2023-01-01T00:00:00Z", endTimeAt="2023-01-03T12:00:00.5Z")
        self.assertEqual(got["level"]["sum"], [[1, "2023-01-01T00:00:00Z", "2023-01-02T00:00:00Z"],
                                               [3, "2023-01-02T00:00:00Z", "2023-01-03T00:00:00Z"],
                                               [5, "2023-01-03T00:00:00Z", "2023-01-04T00:00:00Z"]])
        # No duration: one period over the whole range, [timeAt, endTimeAt] as written.
        got = self.history(eid, format="aggregatedValues", aggrMethods="sum", timerel="between",
                           timeAt="2023-01-01T00:00:00Z", endTimeAt="2023-01-03T12:00:00.5Z")
        self.assertEqual(got["level"]["sum"], [[9, "2023-01-01T00:00:00Z", "2023-01-03T12:00:00.5Z"]])
        whole = self.history(eid, format="aggregatedValues", aggrMethods="sum", timerel="after",
                             timeAt="2023-01-01T09:00:00.25+09:00")
        self.assertEqual(whole["level"]["sum"][0][:2], [9, "2023-01-01T00:00:00.25Z"])

    def test_content_range_echoes_the_times_as_written(self):
        """§6.3.10 (a cut answer is 206 with Content-Range "date-time <start>-<end>"): the start
        is timeAt as written, the end the last instance's observedAt as written."""
        eid = "urn:ngsi-ld:River:cap"
        base = 1_700_000_000  # 2023-11-14T22:13:20Z, whole seconds
        texts = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i)) for i in range(10_001)]
        r = self.hub.post(T, {"id": eid, "type": "River",
                              "level": [{"type": "Property", "value": i, "observedAt": t} for i, t in enumerate(texts)]})
        self.assertEqual(r.status, 201, r)
        r = self.hub.get(f"{T}/{eid}{qs(timerel='after', timeAt='2023-11-14T22:13:20.0Z', format='temporalValues')}")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), f"date-time 2023-11-14T22:13:20.0Z-{texts[9_999]}/*")
        self.assertEqual(r.json()["level"]["values"][-1], [9_999, texts[9_999]])
        r = self.hub.get(f"{T}/{eid}{qs(timerel='before', timeAt='2023-11-15T10:00:01+09:00', lastN='10001')}")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), f"date-time 2023-11-15T01:00:01Z-{texts[1]}/10001")

    def test_bad_time_at_is_400_naming_it(self):
        """§4.11 / Query.timeAt: "It shall be a DateTime" — else 400 naming the parameter."""
        for bad in ("2020-08-01T12:03:00", "2020-08-01T12:03:00.0000000001Z", "yesterday"):
            with self.subTest(bad=bad):
                r = self.hub.get(f"{T}{qs(type='River', timerel='after', timeAt=bad)}")
                body = self.assertProblem(r, 400)
                self.assertIn("timeAt", body["detail"])

    def test_deletion_times_are_system_times(self):
        """§4.8 deletedAt is generated by the system: milliseconds."""
        eid = "urn:ngsi-ld:River:del"
        self.record(eid)
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/level").status, 204)
        level = self.history(eid)["level"]
        self.assertEqual([i["observedAt"] for i in level[:-1]], [s for _, s in WRITTEN])
        self.assertRegex(level[-1]["deletedAt"], SYSTEM_TIME)
        self.assertNotIn("observedAt", level[-1])


class RestartTest(unittest.TestCase):
    def test_history_and_subscriptions_keep_the_written_times_across_a_restart(self):
        """What was written comes back the same after the hub restarts on its data directory:
        the history store keeps each observedAt's fraction, subscriptions their expiresAt."""
        hub = Hub().start()
        try:
            eid = "urn:ngsi-ld:River:restart"
            for n, (written, _) in enumerate(WRITTEN):
                if n == 0:
                    self.assertEqual(hub.post(E, {"id": eid, "type": "River", "level": reading(n, written)}).status, 201)
                else:
                    self.assertEqual(hub.patch(f"{E}/{eid}/attrs", {"level": reading(n, written)}).status, 204)
            r = hub.post(S, {"type": "Subscription", "id": "urn:ngsi-ld:Subscription:restart",
                             "entities": [{"type": "River"}], "expiresAt": "2099-12-31T23:59:59Z",
                             "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}})
            self.assertEqual(r.status, 201, r)
            hub.stop()
            hub.start()
            level = hub.get(f"{T}/{eid}").json()["level"]
            self.assertEqual([i["observedAt"] for i in level], [s for _, s in WRITTEN])
            self.assertEqual(hub.get(f"{E}/{eid}").json()["level"]["observedAt"], WRITTEN[-1][1])
            sub = hub.get(f"{S}/urn:ngsi-ld:Subscription:restart").json()
            self.assertEqual(sub["expiresAt"], "2099-12-31T23:59:59Z")
        finally:
            hub.cleanup()


class SubscriptionTest(ReceiverTestCase):
    def subscribe(self, sid, etype, **members):
        body = {"type": "Subscription", "id": sid, "entities": [{"type": etype}],
                "notification": {"endpoint": {"uri": self.receiver.url(f"/{etype}")}}}
        body.update(members)
        r = self.hub.post(S, body)
        self.assertEqual(r.status, 201, r)

    def test_expires_at_comes_back_as_written(self):
        """§5.2.12 Subscription.expiresAt is a DateTime: returned as written (in UTC), on
        retrieval, listing and after an update; createdAt/modifiedAt are the hub's (ms)."""
        cases = [("2099-01-01T00:00:00Z", "2099-01-01T00:00:00Z"),
                 ("2099-01-01T00:00:00.5Z", "2099-01-01T00:00:00.5Z"),
                 ("2099-01-01T09:00:00.123456+09:00", "2099-01-01T00:00:00.123456Z")]
        for n, (written, shown) in enumerate(cases):
            sid = f"urn:ngsi-ld:Subscription:exp{n}"
            with self.subTest(written=written):
                self.subscribe(sid, "ExpCar", expiresAt=written)
                got = self.hub.get(f"{S}/{sid}{qs(options='sysAttrs')}").json()
                self.assertEqual(got["expiresAt"], shown, got)
                self.assertEqual(got["status"], "active", got)
                self.assertRegex(got["createdAt"], SYSTEM_TIME)
                self.assertRegex(got["modifiedAt"], SYSTEM_TIME)
        listed = {s["id"]: s.get("expiresAt") for s in self.hub.get(f"{S}{qs(limit=100)}").json()}
        for n, (_, shown) in enumerate(cases):
            self.assertEqual(listed[f"urn:ngsi-ld:Subscription:exp{n}"], shown)
        r = self.hub.patch(f"{S}/urn:ngsi-ld:Subscription:exp0", {"expiresAt": "2098-06-30T12:00:00.25Z"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{S}/urn:ngsi-ld:Subscription:exp0").json()["expiresAt"], "2098-06-30T12:00:00.25Z")

    def test_bad_expires_at_is_400(self):
        """§5.8.1: expiresAt shall be a DateTime in the future, else 400 BadRequestData."""
        for n, bad in enumerate(("2099-01-01T00:00:00", "2099-01-01T00:00:00.1234567890Z", "2000-01-01T00:00:00Z", 4102444800000)):
            with self.subTest(bad=bad):
                r = self.hub.post(S, {"type": "Subscription", "id": f"urn:ngsi-ld:Subscription:bad{n}",
                                      "entities": [{"type": "ExpCar"}], "expiresAt": bad,
                                      "notification": {"endpoint": {"uri": self.receiver.url("/bad")}}})
                body = self.assertProblem(r, 400, "BadRequestData")
                self.assertIn("expiresAt", body["detail"])

    def test_a_subscription_past_its_expires_at_stops_and_shows_expired(self):
        """§5.8: a subscription whose expiresAt has passed is expired: it no longer notifies.
        expiresAt written without a fraction still expires at its instant."""
        written = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        sid = "urn:ngsi-ld:Subscription:soon"
        self.subscribe(sid, "SoonCar", expiresAt=written)
        self.assertEqual(self.hub.get(f"{S}/{sid}").json()["expiresAt"], written)
        deadline = time.time() + 10
        while self.hub.get(f"{S}/{sid}").json()["status"] != "expired" and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.hub.get(f"{S}/{sid}").json()["status"], "expired")
        self.assertEqual(self.hub.post(E, {"id": "urn:ngsi-ld:SoonCar:1", "type": "SoonCar",
                                           "speed": {"type": "Property", "value": 1}}).status, 201)
        time.sleep(0.6)
        self.assertEqual(self.receiver.entities("/SoonCar"), [])

    def test_notifications_show_the_times_as_written(self):
        """§5.3.1 Notification: `data` holds the entities as the subscription's format shows them,
        so observedAt and DateTime values as written (offsets in UTC); notifiedAt (§5.2.14) and
        the subscription's lastNotification are the hub's own times: milliseconds."""
        self.subscribe("urn:ngsi-ld:Subscription:note-n", "NoteGauge")
        eid = "urn:ngsi-ld:NoteGauge:1"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "NoteGauge", "level": reading(0, WRITTEN[0][0])}).status, 201)
        for n, (written, _) in enumerate(WRITTEN[1:], start=1):
            self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs", {"level": reading(n, written)}).status, 204)
        deadline = time.time() + 10
        while len(self.receiver.entities("/NoteGauge")) < len(WRITTEN) and time.time() < deadline:
            time.sleep(0.05)
        seen = self.receiver.entities("/NoteGauge")
        self.assertEqual([e["level"]["value"] for e in seen], list(range(len(WRITTEN))))
        self.assertEqual([e["level"]["observedAt"] for e in seen], [s for _, s in WRITTEN])
        self.assertEqual([e["level"]["calibratedAt"]["value"] for e in seen], [dt_value(w) for w, _ in WRITTEN])
        with self.receiver.cond:
            bodies = [n["body"] for n in self.receiver.received if n["path"] == "/NoteGauge"]
        for body in bodies:
            self.assertRegex(body["notifiedAt"], SYSTEM_TIME)
        status = self.hub.get(f"{S}/urn:ngsi-ld:Subscription:note-n").json()["notification"]
        self.assertRegex(status["lastNotification"], SYSTEM_TIME)


if __name__ == "__main__":
    unittest.main()
