"""The authorization bypasses found by trying the hub as an attacker would, each written as the
attack (the request sequence) against the release binary with authentication, a policy file
and a privacy file configured. Every test fails on a hub that checks writes in the HTTP layer
(before the entity's lock, on the stored types plus the requested ones), lets a subscription
drop its owner, or lets any writer plant classified values.

- A subscription cannot shed its owner: `owner`, and the hub's other internal members, can be
  neither set, changed nor removed by a client; null members are validated like any other.
- Type injection: a writer allowed one type cannot write or delete entities of another type by
  adding that type to the body (merge PATCH, batch update, upsert with options=update, batch
  merge, temporal append); adding or removing a type is itself a write the rules must allow.
- IoT provisioning binds only entities its caller may write.
- Check-then-act: 1,000 races of a restricted writer against another principal's create never
  let the writer into the new entity.
- Pseudonyms cannot be probed: no principal that may not read a classified attribute in clear
  can write one (entity, batch, temporal, IoT), so no chosen value ever gets a pseudonym.
- Subscriptions follow their owner: a revoked API key's subscription stops; a watched attribute
  the owner may not read never fires; subscriptions per principal are capped.
- No type oracle on GET /entities/{id}?type=.
- A subscription made without authentication (no owner) is silent once authentication is on.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from guarded_hub import GuardedHub
from hub import BIN, Hub, eventually
from receiver import Receiver
from test_auth import AUDIENCE, ISSUER, Idp

POLICY = {"rules": [
    # A river-monitoring app: FloodMonitoring entities only.
    {"effect": "allow", "roles": ["flood-writer"], "operations": ["read", "write", "subscribe"],
     "types": ["FloodMonitoring"]},
    # The team provisioning flood sensors may administer devices, and write, of that type only.
    {"effect": "allow", "roles": ["flood-devices"], "operations": ["admin", "write", "read"],
     "types": ["FloodMonitoring"]},
]}

PRIVACY = {"types": {"Person": {"purpose": "citizen service accounts",
                                "attributes": {"name": "personal", "health": "sensitive"}}}}

TENANT = "gimhae"


def prop(value):
    return {"type": "Property", "value": value}


class AuthorizationBypassTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-bypass-", POLICY, PRIVACY, ["--max-subscriptions-per-principal", "3"],
                                 api_keys=True).start()
        cls.hub = cls.guarded.hub
        cls.keys_file = cls.guarded.keys_file
        cls.admin = ("city-admin", f"{TENANT}:admin", f"{TENANT}:privacy-officer")
        cls.flood = ("river-app", f"{TENANT}:flood-writer")
        cls.devices = ("sensor-team", f"{TENANT}:flood-devices")
        cls.writer = ("plain-writer", f"{TENANT}:writer")

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def token(self, subject, *roles):
        return self.guarded.token(subject, *roles)

    def call(self, method, path, who, body=None, headers=None, content_type=None):
        return self.guarded.call(method, path, who, body=body, tenant=TENANT, headers=headers, content_type=content_type)

    def create(self, entity, who=None):
        r = self.call("POST", "/ngsi-ld/v1/entities", who or self.admin, body=entity)
        self.assertEqual(r.status, 201, r.body)

    def stored(self, eid):
        r = self.call("GET", f"/ngsi-ld/v1/entities/{eid}", self.admin)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def assert_denied(self, r, what):
        self.assertEqual(r.status, 403, f"{what}: {r.status} {r.body[:300]}")
        self.assertEqual(r.json()["type"], "urn:cityhub:error:PermissionDenied", what)

    def assert_item_denied(self, r, eid, what):
        self.assertEqual(r.status, 207, f"{what}: {r.status} {r.body[:300]}")
        errors = {e["entityId"]: e["error"] for e in r.json()["errors"]}
        self.assertIn(eid, errors, what)
        self.assertEqual(errors[eid]["status"], 403, what)
        self.assertEqual(r.json()["success"], [], what)

    # --- 1. a subscription sheds its owner ---------------------------------------------------

    def test_subscription_cannot_shed_its_owner(self):
        with Receiver() as rx:
            sub = {"type": "Subscription", "entities": [{"type": "Person"}, {"type": "FloodMonitoring"}],
                   "notification": {"endpoint": {"uri": rx.url("/owner")}}}
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", self.flood, body=sub)
            self.assertEqual(r.status, 201, r.body)
            path = r.header("Location")
            # The attack: drop the owner (and with it the view), or claim another.
            for fragment in ({"owner": None}, {"owner": {"subject": "city-admin", "roles": [f"{TENANT}:admin"]}},
                             {"context": None}, {"qContext": None}, {"owner": None, "description": "x"}):
                r = self.call("PATCH", path, self.flood, body=fragment)
                self.assertEqual(r.status, 400, f"{fragment}: {r.body}")
                self.assertEqual(r.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/BadRequestData")
            # Nor at creation.
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", self.flood,
                          body=dict(sub, owner={"subject": "city-admin", "roles": ["admin"]}))
            self.assertEqual(r.status, 400, r.body)
            # Optional members still go with null (GS CIM 009 §5.8.2: the fragment's members
            # replace the subscription's).
            self.assertEqual(self.call("PATCH", path, self.flood, body={"description": "river"}).status, 204)
            self.assertEqual(self.call("PATCH", path, self.flood, body={"description": None}).status, 204)
            # The subscription still shows only what its owner may read: a Person changes, then
            # a FloodMonitoring entity; only the latter is notified.
            self.create({"id": "urn:ngsi-ld:Person:owner-1", "type": "Person", "name": prop("Kim")})
            self.create({"id": "urn:ngsi-ld:FloodMonitoring:owner-1", "type": "FloodMonitoring", "level": prop(1.2)})
            got = rx.wait_for(1, path="/owner")
            self.assertEqual([e["id"] for n in got for e in n["body"]["data"]], ["urn:ngsi-ld:FloodMonitoring:owner-1"])

    # --- 2. type injection ---------------------------------------------------------------------

    def test_type_injection_on_every_write_path(self):
        pid = "urn:ngsi-ld:Person:inject-1"
        self.create({"id": pid, "type": "Person", "district": prop("Buwon")})
        self.create({"id": "urn:ngsi-ld:FloodMonitoring:inject-1", "type": "FloodMonitoring", "level": prop(1.0)})
        forged = {"type": "FloodMonitoring", "district": prop("pwned")}
        self.assert_denied(self.call("PATCH", f"/ngsi-ld/v1/entities/{pid}", self.flood, body=forged,
                                     content_type="application/merge-patch+json"), "merge PATCH")
        self.assert_denied(self.call("PATCH", f"/ngsi-ld/v1/entities/{pid}", self.flood, body=forged), "merge PATCH json")
        item = dict(forged, id=pid)
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/update", self.flood, body=[item]),
                                pid, "batch update")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update", self.flood,
                                          body=[item]), pid, "upsert update")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", self.flood, body=[item]),
                                pid, "upsert replace")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/merge", self.flood, body=[item]),
                                pid, "batch merge")
        self.assert_denied(self.call("PUT", f"/ngsi-ld/v1/entities/{pid}", self.flood, body=forged), "replace")
        self.assert_denied(self.call("POST", f"/ngsi-ld/v1/entities/{pid}/attrs", self.flood,
                                     body={"district": prop("pwned")}), "append")
        self.assert_denied(self.call("DELETE", f"/ngsi-ld/v1/entities/{pid}", self.flood), "delete")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/delete", self.flood, body=[pid]),
                                pid, "batch delete")
        temporal = {"type": "FloodMonitoring",
                    "district": [{"type": "Property", "value": "pwned", "observedAt": "2026-12-01T00:00:00Z"}]}
        self.assert_denied(self.call("POST", f"/ngsi-ld/v1/temporal/entities/{pid}/attrs", self.flood, body=temporal),
                           "temporal append")
        self.assert_denied(self.call("POST", "/ngsi-ld/v1/temporal/entities", self.flood, body=dict(temporal, id=pid)),
                           "temporal create over an existing entity")
        # The Person is untouched: same type, same value, and no history was planted.
        person = self.stored(pid)
        self.assertEqual(person["type"], "Person")
        self.assertEqual(person["district"]["value"], "Buwon")
        r = self.call("GET", f"/ngsi-ld/v1/temporal/entities/{pid}?attrs=district", self.admin)
        self.assertNotIn("pwned", r.body)
        # Adding a type is a write of that type: the writer may not make its entity a Person.
        fid = "urn:ngsi-ld:FloodMonitoring:inject-1"
        self.assert_denied(self.call("PATCH", f"/ngsi-ld/v1/entities/{fid}", self.flood,
                                     body={"type": ["FloodMonitoring", "Person"], "level": prop(2.0)}), "add a type")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update", self.flood,
                                          body=[{"id": fid, "type": "Person", "level": prop(2.0)}]), fid, "upsert adds a type")
        self.assertEqual(self.stored(fid)["type"], "FloodMonitoring")
        # Within its rights the writer still writes.
        self.assertEqual(self.call("PATCH", f"/ngsi-ld/v1/entities/{fid}", self.flood, body={"level": prop(2.5)}).status, 204)
        self.assertEqual(self.stored(fid)["level"]["value"], 2.5)

    # --- 3. IoT provisioning writes anywhere ---------------------------------------------------

    def test_iot_provisioning_binds_only_writable_entities(self):
        pid = "urn:ngsi-ld:Person:iot-1"
        self.create({"id": pid, "type": "Person", "district": prop("Naeoe")})

        def provision(device):
            return self.call("POST", "/iot/devices", self.devices, body={"devices": [device]})

        base = {"protocol": "IoTA-UL", "explicitAttrs": True,
                "attributes": [{"object_id": "d", "name": "district", "type": "Property"}]}
        self.assert_denied(provision(dict(base, device_id="evil-1", entity_name=pid, entity_type="Person")),
                           "bind a Person")
        self.assert_denied(provision(dict(base, device_id="evil-2", entity_name=pid, entity_type="FloodMonitoring")),
                           "bind a Person as FloodMonitoring")
        # Without explicitAttrs a restricted provisioner cannot say what the device will write.
        r = provision({"device_id": "open-1", "entity_name": "urn:ngsi-ld:FloodMonitoring:iot-open",
                       "entity_type": "FloodMonitoring", "protocol": "IoTA-UL"})
        self.assert_denied(r, "device without explicitAttrs")
        self.assertIn("explicitAttrs", r.json()["detail"])
        self.assertEqual(self.call("GET", "/iot/devices/evil-1", self.admin).status, 404)
        self.assertEqual(self.call("GET", "/iot/devices/evil-2", self.admin).status, 404)
        # Its own type, its attributes listed: allowed, and its measures land there only.
        r = provision({"device_id": "gauge-1", "entity_name": "urn:ngsi-ld:FloodMonitoring:gauge-1",
                       "entity_type": "FloodMonitoring", "protocol": "IoTA-UL", "explicitAttrs": True,
                       "device_key": "gauge-1-key-0123456789",
                       "attributes": [{"object_id": "l", "name": "level", "type": "Property"}]})
        self.assertEqual(r.status, 201, r.body)
        r = self.hub.request("POST", "/iot/d?k=gauge-1-key-0123456789&i=gauge-1", body="l|3.5|district|pwned",
                             headers={"NGSILD-Tenant": TENANT}, content_type="text/plain")
        self.assertEqual(r.status, 200, r.body)
        gauge = self.stored("urn:ngsi-ld:FloodMonitoring:gauge-1")
        self.assertEqual(gauge["level"]["value"], 3.5)
        self.assertNotIn("district", gauge)
        self.assertEqual(self.stored(pid)["district"]["value"], "Naeoe")

    # --- 4. check-then-act race ----------------------------------------------------------------

    def test_restricted_writer_never_wins_a_race_against_a_create(self):
        races = 1000
        outcomes = {"create": [], "write": []}
        barrier = threading.Barrier(2)

        def side(kind, who):
            h = {"Authorization": "Bearer " + self.token(*who), "NGSILD-Tenant": TENANT}
            for i in range(races):
                eid = f"urn:ngsi-ld:Person:race-{i}"
                barrier.wait(timeout=30)
                if kind == "create":
                    r = self.hub.request("POST", "/ngsi-ld/v1/entities", headers=h,
                                         body={"id": eid, "type": "Person", "district": prop("Buwon")})
                elif i % 2:
                    r = self.hub.request("POST", f"/ngsi-ld/v1/entities/{eid}/attrs", headers=h,
                                         body={"district": prop("pwned")})
                else:
                    r = self.hub.request("PATCH", f"/ngsi-ld/v1/entities/{eid}", headers=h,
                                         body={"district": prop("pwned")}, content_type="application/merge-patch+json")
                outcomes[kind].append(r.status)

        threads = [threading.Thread(target=side, args=("create", self.admin)),
                   threading.Thread(target=side, args=("write", self.flood))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(outcomes["create"], [201] * races)
        self.assertEqual(len(outcomes["write"]), races)
        self.assertTrue(set(outcomes["write"]) <= {403, 404}, set(outcomes["write"]))
        # Both orders happened, so the race was real; the writer never got in.
        self.assertIn(403, outcomes["write"])
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Person&q=district==%22pwned%22&count=true&limit=1", self.admin)
        self.assertEqual(r.header("NGSILD-Results-Count"), "0", r.body)

    # --- 5. pseudonym oracle --------------------------------------------------------------------

    def test_pseudonyms_cannot_be_probed(self):
        victim = "urn:ngsi-ld:Person:victim"
        self.create({"id": victim, "type": "Person", "name": prop("Park Jisoo"), "district": prop("Buwon")})
        reader = ("curious", f"{TENANT}:reader")
        shown = self.call("GET", f"/ngsi-ld/v1/entities/{victim}", reader).json()["name"]["value"]
        self.assertTrue(shown.startswith("urn:cityhub:pseudonym:"))
        # The attack: write candidate values where they get pseudonymised, compare pseudonyms.
        probe = {"id": "urn:ngsi-ld:Person:probe-1", "type": "Person", "name": prop("Park Jisoo")}
        self.assert_denied(self.call("POST", "/ngsi-ld/v1/entities", self.writer, body=probe), "create with a name")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/create", self.writer, body=[probe]),
                                probe["id"], "batch create")
        self.assert_item_denied(self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", self.writer, body=[probe]),
                                probe["id"], "batch upsert")
        self.assert_denied(self.call("POST", "/ngsi-ld/v1/temporal/entities", self.writer, body={
            "id": "urn:ngsi-ld:Person:probe-2", "type": "Person",
            "name": [{"type": "Property", "value": f"Park Jisoo{i}", "observedAt": f"2026-12-01T00:00:0{i}Z"} for i in range(3)]}),
            "temporal create")
        # A Person the writer may create, without classified attributes; then a name added to it.
        self.create({"id": "urn:ngsi-ld:Person:probe-3", "type": "Person", "district": prop("Buwon")}, who=self.writer)
        self.assert_denied(self.call("POST", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:probe-3/attrs", self.writer,
                                     body={"name": prop("Park Jisoo")}), "append a name")
        self.assert_denied(self.call("POST", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Person:probe-3/attrs", self.writer,
                                     body={"name": [{"type": "Property", "value": "Park Jisoo",
                                                     "observedAt": "2026-12-01T00:00:00Z"}]}), "temporal append a name")
        # Nothing the writer wrote carries a pseudonym of a value of its choice.
        r = self.call("GET", f"/ngsi-ld/v1/entities?type=Person&q=name==%22{shown}%22", self.writer)
        self.assertEqual([e["id"] for e in r.json()], [victim])
        # Who may read names in clear may write them.
        r = self.call("POST", "/ngsi-ld/v1/entities", self.admin,
                      body={"id": "urn:ngsi-ld:Person:officer-made", "type": "Person", "name": prop("Choi")})
        self.assertEqual(r.status, 201, r.body)

    # --- smaller leaks of the subscription and entity paths -----------------------------------

    def test_watched_attribute_the_owner_may_not_read_never_fires(self):
        pid = "urn:ngsi-ld:Person:watched"
        self.create({"id": pid, "type": "Person", "health": prop("fine"), "district": prop("Buwon")})
        with Receiver() as rx:
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", self.writer, body={
                "type": "Subscription", "entities": [{"type": "Person"}], "watchedAttributes": ["health", "district"],
                "notification": {"endpoint": {"uri": rx.url("/watched")}}})
            self.assertEqual(r.status, 201, r.body)
            for value in ("ill", "recovering", "fine"):  # sensitive: omitted for the writer
                self.assertEqual(self.call("PATCH", f"/ngsi-ld/v1/entities/{pid}/attrs", self.admin,
                                           body={"health": prop(value)}).status, 204)
            self.assertEqual(self.call("PATCH", f"/ngsi-ld/v1/entities/{pid}/attrs", self.admin,
                                       body={"district": prop("Naeoe")}).status, 204)
            got = rx.wait_for(1, path="/watched")
            # The district change arrives; no health change came before it (one queue, in order).
            self.assertEqual(len(got), 1, got)
            (entity,) = got[0]["body"]["data"]
            self.assertEqual(entity["district"]["value"], "Naeoe")
            self.assertNotIn("health", entity)
            # The delivery figures are the owner's (and an admin's) like the subscription itself:
            # another subscriber gets 404, as if it did not exist.
            sid = r.header("Location").rsplit("/", 1)[1]
            delivery = f"/cityhub/v1/subscriptions/{sid}/delivery"
            mine = eventually(lambda: (lambda d: d if d.get("timesSent", 0) >= 1 else None)(
                self.call("GET", delivery, self.writer).json()))
            self.assertEqual(mine["id"], sid)
            self.assertEqual(self.call("GET", delivery, self.admin).status, 200)
            self.assertEqual(self.call("GET", delivery, self.flood).status, 404)

    def keys(self, *args):
        return subprocess.run([BIN, "keys", *args, "--file", self.keys_file], capture_output=True, text=True, timeout=30)

    def test_revoked_key_subscription_stops(self):
        made = self.keys("create", "--name", "revoked-gw", "--role", f"{TENANT}:writer")
        self.assertEqual(made.returncode, 0, made.stderr)
        key = made.stdout.strip()
        kh = {"X-API-Key": key, "NGSILD-Tenant": TENANT}
        with Receiver() as rx:
            deadline = time.time() + 5
            while True:  # the hub re-reads the key file within a second
                r = self.hub.request("POST", "/ngsi-ld/v1/subscriptions", headers=kh, body={
                    "type": "Subscription", "entities": [{"type": "Sensor"}],
                    "notification": {"endpoint": {"uri": rx.url("/key")}}})
                if r.status != 401 or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(r.status, 201, r.body)
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", self.admin, body={
                "type": "Subscription", "entities": [{"type": "Sensor"}],
                "notification": {"endpoint": {"uri": rx.url("/control")}}})
            self.assertEqual(r.status, 201, r.body)
            self.create({"id": "urn:ngsi-ld:Sensor:k-1", "type": "Sensor", "v": prop(1)})
            self.assertEqual(len(rx.wait_for(1, path="/key")), 1)
            self.assertEqual(self.keys("revoke", "revoked-gw").returncode, 0)
            deadline = time.time() + 5
            while self.hub.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:k-1", headers=kh).status != 401:
                self.assertLess(time.time(), deadline, "the revocation was not picked up")
                time.sleep(0.1)
            self.create({"id": "urn:ngsi-ld:Sensor:k-2", "type": "Sensor", "v": prop(2)})
            self.assertEqual(len(rx.wait_for(2, path="/control")), 2)
            time.sleep(0.5)  # a grace period for a delivery that must not come
            self.assertEqual([e["id"] for e in rx.entities("/key")], ["urn:ngsi-ld:Sensor:k-1"])

    def test_subscriptions_per_principal_are_capped(self):
        def subscribe(who):
            return self.call("POST", "/ngsi-ld/v1/subscriptions", who, body={
                "type": "Subscription", "entities": [{"type": "FloodMonitoring"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}})
        hog = ("hog", f"{TENANT}:writer")
        made = [subscribe(hog) for _ in range(3)]
        self.assertEqual([r.status for r in made], [201] * 3)
        r = subscribe(hog)
        self.assert_denied(r, "fourth subscription")
        self.assertIn("maximum of 3", r.json()["detail"])
        self.assertEqual(subscribe(("other", f"{TENANT}:writer")).status, 201)
        self.assertEqual(self.call("DELETE", made[0].header("Location"), hog).status, 204)
        self.assertEqual(subscribe(hog).status, 201)

    def test_no_type_oracle_on_a_hidden_entity(self):
        self.create({"id": "urn:ngsi-ld:Person:hidden", "type": "Person", "district": prop("Buwon")})
        for type_ in ("Person", "Vault"):
            r = self.call("GET", f"/ngsi-ld/v1/entities/urn:ngsi-ld:Person:hidden?type={type_}", self.flood)
            self.assert_denied(r, f"?type={type_}")


class OwnerlessSubscriptionTest(unittest.TestCase):
    """A subscription made while the hub had no authentication has no owner: once
    authentication is on, no one answers for it, so it notifies nothing."""

    def test_ownerless_subscription_is_silent_once_authentication_is_on(self):
        work = tempfile.mkdtemp(prefix="cityhub-ownerless-")
        self.addCleanup(shutil.rmtree, work, True)
        data = os.path.join(work, "data")
        with Receiver() as rx:
            open_hub = Hub(data_dir=data).start()
            try:
                r = open_hub.post("/ngsi-ld/v1/subscriptions", body={
                    "type": "Subscription", "entities": [{"type": "Sensor"}],
                    "notification": {"endpoint": {"uri": rx.url("/ownerless")}}})
                self.assertEqual(r.status, 201, r.body)
            finally:
                open_hub.stop()
            idp = Idp(work, "k1")
            jwks = os.path.join(work, "jwks.json")
            with open(jwks, "w") as f:
                json.dump({"keys": [idp.jwk]}, f)
            hub = Hub(data_dir=data, extra_args=["--auth-jwks-file", jwks, "--auth-issuer", ISSUER,
                                                 "--auth-audience", AUDIENCE]).start()
            try:
                auth = {"Authorization": "Bearer " + idp.token(sub="root", realm_access=None, roles=["admin"])}
                r = hub.request("POST", "/ngsi-ld/v1/subscriptions", headers=auth, body={
                    "type": "Subscription", "entities": [{"type": "Sensor"}],
                    "notification": {"endpoint": {"uri": rx.url("/owned")}}})
                self.assertEqual(r.status, 201, r.body)
                r = hub.request("POST", "/ngsi-ld/v1/entities", headers=auth,
                                body={"id": "urn:ngsi-ld:Sensor:o-1", "type": "Sensor", "v": prop(1)})
                self.assertEqual(r.status, 201, r.body)
                self.assertEqual(len(rx.wait_for(1, path="/owned")), 1)
                time.sleep(0.5)  # a grace period for a delivery that must not come
                self.assertEqual(rx.wait_for(1, path="/ownerless", timeout=0), [])
            finally:
                hub.cleanup()


if __name__ == "__main__":
    unittest.main()
