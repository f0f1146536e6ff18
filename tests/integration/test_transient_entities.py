"""Transient entities over real HTTP: the Entity member expiresAt (GS CIM 009 §5.2.4, §4.22
"transient storage"), validated on every write that takes entity members, honoured by every
read from the moment it passes, and purged through the broker so that history and entityDeleted
notifications see an ordinary deletion."""
import datetime
import time
import unittest

from hub import HubTestCase
from receiver import Receiver

E = "/ngsi-ld/v1/entities"
BATCH = "/ngsi-ld/v1/entityOperations"


def iso(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ms_of(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000


def ticket(eid, expires_at=None, **attrs):
    body = {"id": eid, "type": "Ticket", "seat": {"type": "Property", "value": 12},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.88, 35.23]}}}
    if expires_at is not None:
        body["expiresAt"] = expires_at
    body.update(attrs)
    return body


def wait_until(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class TransientValidationTest(HubTestCase):
    """§5.2.4: expiresAt is a DateTime; §4.22: it is when the entity stops existing, so one
    already past is refused (the entity would never exist)."""

    def test_create_keeps_and_returns_expires_at(self):
        """§5.2.4 Entity member expiresAt: returned as given (UTC, ms) in every representation."""
        at = iso(3600)
        r = self.hub.post(E, ticket("urn:ngsi-ld:Ticket:v1", at))
        self.assertEqual(r.status, 201, r)
        got = self.hub.get(f"{E}/urn:ngsi-ld:Ticket:v1").json()
        self.assertEqual(got["expiresAt"], at)
        kv = self.hub.get(f"{E}/urn:ngsi-ld:Ticket:v1?options=keyValues").json()
        self.assertEqual(kv["expiresAt"], at)
        self.assertEqual(kv["seat"], 12)
        listed = self.hub.get(f"{E}?type=Ticket&id=urn:ngsi-ld:Ticket:v1").json()
        self.assertEqual([e["expiresAt"] for e in listed], [at])

    def test_expires_at_keeps_the_precision_written(self):
        """§4.6.3 (DateTime as ISO 8601) and §5.2.4: expiresAt comes back as written — without a
        fraction, or with six digits, in UTC when written with an offset — after a restart too,
        and after PATCH moves it."""
        whole = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).replace(microsecond=0)
        plain = whole.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(self.hub.post(E, ticket("urn:ngsi-ld:Ticket:p1", plain)).status, 201)
        micro = (whole + datetime.timedelta(microseconds=123456)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertEqual(self.hub.post(E, ticket("urn:ngsi-ld:Ticket:p2", micro)).status, 201)
        kst = (whole + datetime.timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%S.5+09:00")
        self.assertEqual(self.hub.post(E, ticket("urn:ngsi-ld:Ticket:p3", kst)).status, 201)
        half = whole.strftime("%Y-%m-%dT%H:%M:%S.5Z")
        self.hub.stop()
        self.hub.start()
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Ticket:p1").json()["expiresAt"], plain)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Ticket:p2").json()["expiresAt"], micro)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Ticket:p3").json()["expiresAt"], half)
        later = (whole + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = self.hub.patch(f"{E}/urn:ngsi-ld:Ticket:p2", {"expiresAt": later})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Ticket:p2").json()["expiresAt"], later)

    def test_an_entity_without_expires_at_has_none(self):
        r = self.hub.post(E, ticket("urn:ngsi-ld:Ticket:v2"))
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("expiresAt", self.hub.get(f"{E}/urn:ngsi-ld:Ticket:v2").json())

    def test_invalid_expires_at_is_400_and_nothing_is_created(self):
        """§5.2.4: expiresAt is a DateTime; 400 BadRequestData naming it otherwise, and for one in
        the past."""
        for i, bad in enumerate(["tomorrow", 5, {"@type": "DateTime"}, "2026-13-01T00:00:00Z", iso(-60)]):
            eid = f"urn:ngsi-ld:Ticket:bad{i}"
            r = self.hub.post(E, ticket(eid, bad))
            body = self.assertProblem(r, 400, "BadRequestData")
            self.assertIn("expiresAt", body["detail"])
            self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)

    def test_merge_append_update_and_replace_set_it(self):
        """§5.6.17 merge, §5.6.3 append, §5.6.2 update and §5.6.18 replace carry entity members:
        expiresAt given there replaces the stored one; replace without it makes the entity
        permanent again (a replace is the whole entity)."""
        eid = "urn:ngsi-ld:Ticket:w1"
        self.assertEqual(self.hub.post(E, ticket(eid)).status, 201)
        for method, path in (("patch", f"{E}/{eid}"), ("post", f"{E}/{eid}/attrs"), ("patch", f"{E}/{eid}/attrs")):
            at = iso(7200 + len(path))
            r = getattr(self.hub, method)(path, {"expiresAt": at, "seat": {"type": "Property", "value": 3}})
            self.assertEqual(r.status, 204, (method, path, r))
            self.assertEqual(self.hub.get(f"{E}/{eid}").json()["expiresAt"], at, (method, path))
        at = iso(900)
        self.assertEqual(self.hub.put(f"{E}/{eid}", {"type": "Ticket", "expiresAt": at}).status, 204)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["expiresAt"], at)
        self.assertEqual(self.hub.put(f"{E}/{eid}", {"type": "Ticket"}).status, 204)
        self.assertNotIn("expiresAt", self.hub.get(f"{E}/{eid}").json())

    def test_updates_validate_it_too(self):
        eid = "urn:ngsi-ld:Ticket:w2"
        at = iso(3600)
        self.assertEqual(self.hub.post(E, ticket(eid, at)).status, 201)
        for method, path in (("patch", f"{E}/{eid}"), ("post", f"{E}/{eid}/attrs"), ("patch", f"{E}/{eid}/attrs"),
                             ("put", f"{E}/{eid}")):
            for bad in ("soon", iso(-1)):
                r = getattr(self.hub, method)(path, {"expiresAt": bad})
                body = self.assertProblem(r, 400, "BadRequestData")
                self.assertIn("expiresAt", body["detail"], (method, path))
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["expiresAt"], at)

    def test_batch_operations(self):
        """§5.6.7-§5.6.10, §5.6.20: each item's expiresAt is validated on its own (207 naming
        the item) and applied by create, upsert, update and merge."""
        ok, bad = "urn:ngsi-ld:Ticket:b-ok", "urn:ngsi-ld:Ticket:b-bad"
        at = iso(3600)
        r = self.hub.post(f"{BATCH}/create", [ticket(ok, at), ticket(bad, "never")])
        self.assertEqual(r.status, 207, r)
        result = r.json()
        self.assertEqual(result["success"], [ok])
        self.assertEqual([e["entityId"] for e in result["errors"]], [bad])
        self.assertIn("expiresAt", result["errors"][0]["error"]["detail"])
        self.assertEqual(self.hub.get(f"{E}/{ok}").json()["expiresAt"], at)
        for i, op in enumerate(("upsert?options=update", "update", "merge")):
            at = iso(4000 + i)
            r = self.hub.post(f"{BATCH}/{op}", [{"id": ok, "type": "Ticket", "expiresAt": at}])
            self.assertIn(r.status, (201, 204), (op, r))
            self.assertEqual(self.hub.get(f"{E}/{ok}").json()["expiresAt"], at, op)
            r = self.hub.post(f"{BATCH}/{op}", [{"id": ok, "type": "Ticket", "expiresAt": iso(-5)}])
            self.assertEqual(r.status, 207, (op, r))
            self.assertEqual(self.hub.get(f"{E}/{ok}").json()["expiresAt"], at, op)


class ExpiredBeforePurgeTest(HubTestCase):
    """An expired entity is gone for clients at once, even while the purge has not run (here it
    runs once an hour)."""

    hub_args = ("--expiry-sweep-ms", "3600000")

    def test_expired_entity_is_not_served(self):
        """§4.22: once expiresAt has passed the entity is no longer there: retrieve is 404, and
        queries by id, type, idPattern, q, geo-query, and their counts leave it out."""
        gone, stays = "urn:ngsi-ld:Ticket:e1", "urn:ngsi-ld:Ticket:e2"
        self.assertEqual(self.hub.post(E, ticket(gone, iso(1.2))).status, 201)
        self.assertEqual(self.hub.post(E, ticket(stays, iso(3600))).status, 201)
        queries = [f"{E}?type=Ticket&count=true", f"{E}?id={gone},{stays}&count=true",
                   f"{E}?idPattern=^urn:ngsi-ld:Ticket:e&count=true", f"{E}?type=Ticket&q=seat==12&count=true",
                   f"{E}?type=Ticket&georel=near;maxDistance==100&geometry=Point&coordinates=[128.88,35.23]&count=true",
                   f"{E}?georel=near;maxDistance==100&geometry=Point&coordinates=[128.88,35.23]&count=true"]
        for q in queries:
            ids = [e["id"] for e in self.hub.get(q).json()]
            self.assertIn(gone, ids, q)
        self.assertTrue(wait_until(lambda: self.hub.get(f"{E}/{gone}").status == 404, 5))
        for q in queries:
            r = self.hub.get(q)
            ids = [e["id"] for e in r.json()]
            self.assertNotIn(gone, ids, q)
            self.assertIn(stays, ids, q)
            self.assertEqual(int(r.header("NGSILD-Results-Count")), len(ids), q)
        r = self.hub.post(f"{BATCH}/query", {"type": "Query", "entities": [{"type": "Ticket"}]})
        self.assertNotIn(gone, [e["id"] for e in r.json()])

    def test_expired_entity_is_absent_for_writes_and_its_id_is_free(self):
        """§4.22: an expired entity no longer exists, so updating or deleting it is 404
        ResourceNotFound, and creating an entity with its id succeeds."""
        eid = "urn:ngsi-ld:Ticket:e3"
        self.assertEqual(self.hub.post(E, ticket(eid, iso(1.0))).status, 201)
        self.assertTrue(wait_until(lambda: self.hub.get(f"{E}/{eid}").status == 404, 5))
        self.assertProblem(self.hub.patch(f"{E}/{eid}", {"seat": {"type": "Property", "value": 1}}), 404,
                           "ResourceNotFound")
        self.assertProblem(self.hub.post(f"{E}/{eid}/attrs", {"x": {"type": "Property", "value": 1}}), 404)
        self.assertProblem(self.hub.delete(f"{E}/{eid}"), 404, "ResourceNotFound")
        r = self.hub.post(f"{BATCH}/delete", [eid])
        self.assertEqual(r.status, 207, r)
        r = self.hub.post(E, ticket(eid, seat={"type": "Property", "value": 99}))
        self.assertEqual(r.status, 201, r)
        got = self.hub.get(f"{E}/{eid}").json()
        self.assertEqual(got["seat"]["value"], 99)
        self.assertNotIn("expiresAt", got)

    def test_moving_expires_at_later_keeps_the_entity(self):
        eid = "urn:ngsi-ld:Ticket:e4"
        self.assertEqual(self.hub.post(E, ticket(eid, iso(1.0))).status, 201)
        self.assertEqual(self.hub.patch(f"{E}/{eid}", {"expiresAt": iso(3600)}).status, 204)
        time.sleep(1.3)  # past the first expiresAt: the entity must still be there
        self.assertEqual(self.hub.get(f"{E}/{eid}").status, 200)
        self.assertIn(eid, [e["id"] for e in self.hub.get(f"{E}?type=Ticket").json()])


class PurgeTest(HubTestCase):
    """The purge deletes expired entities like a client's delete: the deletion is recorded in
    the history (deletedAt) and entityDeleted subscriptions are notified."""

    hub_args = ("--expiry-sweep-ms", "100")

    def test_purge_deletes_through_the_broker(self):
        """§4.22: the entity is deleted after expiresAt; §5.8 entityDeleted notifications and the
        temporal evolution (§4.5.7 deletedAt) see it as any deletion."""
        with Receiver() as rx:
            r = self.hub.post("/ngsi-ld/v1/subscriptions", {
                "type": "Subscription", "entities": [{"type": "Pass"}],
                "notificationTrigger": ["entityDeleted"],
                "notification": {"endpoint": {"uri": rx.url()}}})
            self.assertEqual(r.status, 201, r)
            eid = "urn:ngsi-ld:Pass:p1"
            expires = iso(1.0)
            self.assertEqual(self.hub.post(E, {"id": eid, "type": "Pass", "expiresAt": expires,
                                               "holder": {"type": "Property", "value": "kim"}}).status, 201)
            got = rx.wait_for(1, timeout=10)
            self.assertEqual(len(got), 1, got)
            deleted = got[0]["body"]["data"][0]
            self.assertEqual(deleted["id"], eid)
            self.assertIn("deletedAt", deleted)
            self.assertGreaterEqual(ms_of(deleted["deletedAt"]), ms_of(expires))
        history = self.hub.get(f"/ngsi-ld/v1/temporal/entities/{eid}?options=sysAttrs")
        self.assertEqual(history.status, 200, history)
        instances = history.json()["holder"]
        self.assertTrue(any("deletedAt" in i for i in instances), instances)
        self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)

    def test_many_expiring_together_are_all_purged(self):
        ids = [f"urn:ngsi-ld:Voucher:m{i:02d}" for i in range(50)]
        at = iso(0.8)
        r = self.hub.post(f"{BATCH}/create", [{"id": i, "type": "Voucher", "expiresAt": at,
                                               "value": {"type": "Property", "value": 5}} for i in ids])
        self.assertEqual(r.status, 201, r)
        # Deleted, not only hidden: each gets its deletion in the history.
        history = f"/ngsi-ld/v1/temporal/entities?type=Voucher&timerel=after&timeAt=2020-01-01T00:00:00Z" \
                  f"&timeproperty=deletedAt&limit=100"

        def deleted():
            r = self.hub.get(history)
            return r.status == 200 and sorted(e["id"] for e in r.json()) == ids
        self.assertTrue(wait_until(deleted, 10), self.hub.get(history))
        r = self.hub.get(f"{E}?type=Voucher&limit=0&count=true")
        self.assertEqual(r.header("NGSILD-Results-Count"), "0")


if __name__ == "__main__":
    unittest.main()
