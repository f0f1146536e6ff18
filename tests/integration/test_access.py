"""Authorization, privacy and audit over real HTTP (issue 6). The test mints its own ES256
tokens (test_auth.Idp) and API keys (`cityhub keys`), so no identity server is needed.

- Cross-tenant isolation: randomized requests on every endpoint with tokens for tenant A against
  tenant B (reads, writes, batch, subscriptions, temporal, discovery, aggregates) are refused,
  reveal nothing of B, and leave B unchanged.
- The role × operation matrix of the built-in roles, and rules by type, id pattern, attribute
  and ownership; queries leave out what the caller may not read, counts included.
- Privacy: personal attributes pseudonymised and sensitive ones omitted for callers without the
  privilege on entity, query, batch query, temporal and notification output; the public
  transparency document; k-anonymous aggregates.
- The audit log records writes, denials, authentication failures and personal reads;
  `cityhub audit verify` passes on it and detects an edited, a deleted and a reordered line.
- API keys work and stop working within seconds of `cityhub keys revoke`; rate limits answer 429.
"""
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from guarded_hub import GuardedHub
from hub import eventually, BIN, STORE, Hub
from receiver import Receiver
from test_auth import Idp

POLICY = {"rules": [
    # A parking operator's app sees parking spots only, and may set their status only.
    {"effect": "allow", "roles": ["parking-app"], "operations": ["read"], "types": ["ParkingSpot"]},
    {"effect": "allow", "roles": ["parking-app"], "operations": ["write"], "types": ["ParkingSpot"],
     "idPattern": "urn:ngsi-ld:ParkingSpot:gimhae:.*", "attrs": ["status"]},
    # Readers never see the secret test entities nor anybody's phone number.
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "idPattern": "urn:ngsi-ld:Secret:.*"},
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["Person"], "attrs": ["phone"]},
    # Some car parks' occupancy (or their size) is the operator's business only.
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["OffStreetParking"],
     "idPattern": "urn:ngsi-ld:OffStreetParking:closed-books:.*", "attrs": ["occupancy"]},
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["OffStreetParking"],
     "idPattern": "urn:ngsi-ld:OffStreetParking:no-total:.*", "attrs": ["totalSpotNumber"]},
    # Citizens file reports and may read and change their own.
    {"effect": "allow", "roles": ["citizen"], "operations": ["read", "write"], "types": ["Report"], "owner": True},
]}

PRIVACY = {"k": 3,
           "types": {"Person": {"purpose": "citizen service accounts", "retention": "P365D",
                                "attributes": {"name": "personal", "health": "sensitive"}}}}


def person(i, name, district, health="fine"):
    return {"id": f"urn:ngsi-ld:Person:{i}", "type": "Person",
            "name": {"type": "Property", "value": name},
            "district": {"type": "Property", "value": district},
            "phone": {"type": "Property", "value": f"010-0000-{i:04d}"},
            "health": {"type": "Property", "value": health}}


class AccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-access-")  # the audit log and backups
        cls.audit = os.path.join(cls.dir, "audit.log")
        cls.backups = os.path.join(cls.dir, "backups")
        cls.guarded = GuardedHub("cityhub-access-", POLICY, PRIVACY,
                                 ["--backup-dir", cls.backups, "--audit-log", cls.audit], api_keys=True).start()
        cls.hub = cls.guarded.hub
        cls.keys_file = cls.guarded.keys_file

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def token(self, subject, *roles):
        return self.guarded.token(subject, *roles)

    def call(self, method, path, who, body=None, tenant=None, headers=None):
        return self.guarded.call(method, path, who, body=body, tenant=tenant, headers=headers)

    # --- cross-tenant isolation -------------------------------------------------------------

    def test_cross_tenant_randomized(self):
        b_admin = ("b-admin", "tenant-b:admin")
        secret_ids = [f"urn:ngsi-ld:Vault:b{i}" for i in range(5)]
        for i, eid in enumerate(secret_ids):
            r = self.call("POST", "/ngsi-ld/v1/entities", b_admin, tenant="tenant-b", body={
                "id": eid, "type": "Vault", "code": {"type": "Property", "value": f"B-SECRET-{i}"},
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.8, 35.2]}}})
            self.assertEqual(r.status, 201, r.body)
        r = self.call("POST", "/ngsi-ld/v1/subscriptions", b_admin, tenant="tenant-b", body={
            "id": "urn:ngsi-ld:Subscription:b-sub", "type": "Subscription", "entities": [{"type": "Vault"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/b-secret-endpoint"}}})
        self.assertEqual(r.status, 201, r.body)

        a_tokens = [("a-admin", "tenant-a:admin"), ("a-writer", "tenant-a:writer"), ("a-reader", "tenant-a:reader"),
                    ("a-custom", "tenant-a:parking-app", "tenant-a:citizen")]
        vault = {"id": "urn:ngsi-ld:Vault:b0", "type": "Vault", "code": {"type": "Property", "value": "stolen"}}
        templates = [
            ("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vault:b0", None),
            ("GET", "/ngsi-ld/v1/entities?type=Vault&count=true", None),
            ("GET", "/ngsi-ld/v1/entities?idPattern=.*", None),
            ("POST", "/ngsi-ld/v1/entityOperations/query", {"type": "Query", "entities": [{"type": "Vault"}]}),
            ("POST", "/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Vault:planted", "type": "Vault"}),
            ("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vault:b1/attrs", {"code": {"type": "Property", "value": "x"}}),
            ("PUT", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vault:b1", {"type": "Vault"}),
            ("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vault:b2", None),
            ("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vault:b2/attrs/code", None),
            ("POST", "/ngsi-ld/v1/entityOperations/upsert", [vault]),
            ("POST", "/ngsi-ld/v1/entityOperations/create", [dict(vault, id="urn:ngsi-ld:Vault:new")]),
            ("POST", "/ngsi-ld/v1/entityOperations/update", [vault]),
            ("POST", "/ngsi-ld/v1/entityOperations/merge", [vault]),
            ("POST", "/ngsi-ld/v1/entityOperations/delete", ["urn:ngsi-ld:Vault:b3"]),
            ("GET", "/ngsi-ld/v1/subscriptions", None),
            ("GET", "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:b-sub", None),
            ("GET", "/cityhub/v1/subscriptions/urn:ngsi-ld:Subscription:b-sub/delivery", None),
            ("DELETE", "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:b-sub", None),
            ("PATCH", "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:b-sub", {"q": "code==1"}),
            ("POST", "/ngsi-ld/v1/subscriptions", {"type": "Subscription", "entities": [{"type": "Vault"}],
                                                   "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}}),
            ("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vault:b0", None),
            ("GET", "/ngsi-ld/v1/temporal/entities?type=Vault", None),
            ("POST", "/ngsi-ld/v1/temporal/entityOperations/query", {"type": "Query", "entities": [{"type": "Vault"}]}),
            ("POST", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vault:b0/attrs",
             {"code": [{"type": "Property", "value": "x", "observedAt": "2026-01-01T00:00:00Z"}]}),
            ("DELETE", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vault:b4", None),
            ("GET", "/ngsi-ld/v1/types", None),
            ("GET", "/ngsi-ld/v1/types?details=true", None),
            ("GET", "/ngsi-ld/v1/types/Vault", None),
            ("GET", "/ngsi-ld/v1/attributes", None),
            ("GET", "/ngsi-ld/v1/attributes/code", None),
            ("GET", "/cityhub/v1/aggregates?type=Vault&groupBy=code&k=1", None),
            ("GET", "/iot/devices", None),
            ("POST", "/iot/devices", {"devices": [{"device_id": "planted", "entity_type": "Vault"}]}),
            ("GET", "/iot/groups", None),
            ("GET", "/cityhub/v1/parking/nearest?lat=35.2&lon=128.8", None),
            ("GET", "/cityhub/v1/parking/urn:ngsi-ld:Vault:b0/forecast", None),
            ("GET", "/cityhub/v1/alerts/urn:ngsi-ld:Vault:b0/cap", None),
        ]
        rng = random.Random(int(os.environ.get("CITYHUB_TEST_SEED", "6")))
        attempts = 0
        for _ in range(150):
            method, path, body = rng.choice(templates)
            who = rng.choice(a_tokens)
            tenant = rng.choice(["tenant-b", "tenant-b", None])  # None: the default tenant (no role there)
            r = self.call(method, path, who, body=body, tenant=tenant)
            attempts += 1
            self.assertEqual(r.status, 403, f"{who[0]} {method} {path} tenant={tenant}: {r.status} {r.body[:300]}")
            self.assertEqual(r.json()["type"], "urn:cityhub:error:PermissionDenied")
            self.assertNotIn("B-SECRET", r.body)
            self.assertNotIn("b-secret-endpoint", r.body)
        self.assertEqual(attempts, 150)
        # Tenant A's own queries never show B's data, and B is unchanged.
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Vault&count=true", ("a-admin", "tenant-a:admin"), tenant="tenant-a")
        self.assertIn(r.status, (200, 404))
        self.assertNotIn("B-SECRET", r.body)
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Vault&count=true&limit=100", b_admin, tenant="tenant-b")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("NGSILD-Results-Count"), "5")
        self.assertEqual(sorted(e["code"]["value"] for e in r.json()), [f"B-SECRET-{i}" for i in range(5)])
        r = self.call("GET", "/ngsi-ld/v1/subscriptions", b_admin, tenant="tenant-b")
        self.assertEqual([s["id"] for s in r.json()], ["urn:ngsi-ld:Subscription:b-sub"])

    # --- role × operation ---------------------------------------------------------------

    def test_role_operation_matrix(self):
        admin = ("m-admin", "matrix:admin")
        r = self.call("POST", "/ngsi-ld/v1/entities", admin, tenant="matrix",
                      body={"id": "urn:ngsi-ld:Thing:m1", "type": "Thing", "v": {"type": "Property", "value": 1}})
        self.assertEqual(r.status, 201, r.body)
        ops = {
            "read": lambda who: self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:m1", who, tenant="matrix"),
            "write": lambda who: self.call("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:m1/attrs", who, tenant="matrix",
                                           body={"v": {"type": "Property", "value": 2}}),
            "subscribe": lambda who: self.call("POST", "/ngsi-ld/v1/subscriptions", who, tenant="matrix", body={
                "type": "Subscription", "entities": [{"type": "Thing"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}),
            "admin": lambda who: self.call("GET", "/metrics", who),
        }
        ok = {"read": 200, "write": 204, "subscribe": 201, "admin": 200}
        expected = {
            "reader": {"read"},
            "writer": {"read", "write", "subscribe"},
            "admin": {"read", "write", "subscribe"},  # /metrics needs admin in the default tenant
            "custom": set(),
        }
        for role, allowed in expected.items():
            who = (f"m-{role}", f"matrix:{role}")
            for op, run in ops.items():
                r = run(who)
                want = ok[op] if op in allowed else 403
                self.assertEqual(r.status, want, f"{role} {op}: {r.body[:200]}")
        self.assertEqual(ops["admin"](("root", "admin")).status, 200)  # admin of the default tenant
        self.assertEqual(ops["admin"](("root2", "*:admin")).status, 200)

    # --- rules ----------------------------------------------------------------------------

    def seed_city(self, tenant):
        # Classified attributes are written only by who may read them in clear (SECURITY.md).
        admin = ("c-admin", f"{tenant}:admin", f"{tenant}:privacy-officer")
        batch = [
            {"id": "urn:ngsi-ld:ParkingSpot:gimhae:1", "type": "ParkingSpot", "status": {"type": "Property", "value": "free"},
             "name": {"type": "Property", "value": "P1"}},
            {"id": "urn:ngsi-ld:ParkingSpot:jeju:1", "type": "ParkingSpot", "status": {"type": "Property", "value": "free"}},
            {"id": "urn:ngsi-ld:Secret:1", "type": "ParkingSpot", "status": {"type": "Property", "value": "occupied"}},
            person(1, "Kim Minji", "Buwon"), person(2, "Lee Junho", "Buwon"), person(3, "Kim Minji", "Naeoe"),
        ]
        r = self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", admin, body=batch, tenant=tenant)
        self.assertIn(r.status, (201, 204), r.body)

    def test_rules_type_idpattern_attribute(self):
        self.seed_city("rules")
        app = ("parking-svc", "rules:parking-app")
        r = self.call("GET", "/ngsi-ld/v1/entities?type=ParkingSpot,Person&count=true", app, tenant="rules")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(sorted(e["id"] for e in r.json()),
                         ["urn:ngsi-ld:ParkingSpot:gimhae:1", "urn:ngsi-ld:ParkingSpot:jeju:1", "urn:ngsi-ld:Secret:1"])
        self.assertEqual(r.header("NGSILD-Results-Count"), "3")  # persons neither listed nor counted
        self.assertEqual(self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", app, tenant="rules").status, 403)
        r = self.call("GET", "/ngsi-ld/v1/types", app, tenant="rules")
        self.assertEqual(r.json()["typeList"], ["ParkingSpot"])
        # Writes: status of gimhae's spots only.
        patch = lambda eid, attr: self.call("PATCH", f"/ngsi-ld/v1/entities/{eid}/attrs", app, tenant="rules",
                                            body={attr: {"type": "Property", "value": "occupied"}})
        self.assertEqual(patch("urn:ngsi-ld:ParkingSpot:gimhae:1", "status").status, 204)
        self.assertEqual(patch("urn:ngsi-ld:ParkingSpot:gimhae:1", "name").status, 403)
        self.assertEqual(patch("urn:ngsi-ld:ParkingSpot:jeju:1", "status").status, 403)
        self.assertEqual(self.call("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:gimhae:1", app,
                                   tenant="rules").status, 403)
        r = self.call("POST", "/ngsi-ld/v1/entityOperations/update", app, tenant="rules", body=[
            {"id": "urn:ngsi-ld:ParkingSpot:gimhae:1", "type": "ParkingSpot", "status": {"type": "Property", "value": "free"}},
            {"id": "urn:ngsi-ld:ParkingSpot:jeju:1", "type": "ParkingSpot", "status": {"type": "Property", "value": "free"}}])
        self.assertEqual(r.status, 207, r.body)
        self.assertEqual(r.json()["success"], ["urn:ngsi-ld:ParkingSpot:gimhae:1"])
        self.assertEqual(r.json()["errors"][0]["error"]["status"], 403)
        # Readers: the secret entity and phones are left out, counts included, and q cannot find them.
        reader = ("r1", "rules:reader")
        r = self.call("GET", "/ngsi-ld/v1/entities?type=ParkingSpot&count=true", reader, tenant="rules")
        self.assertEqual(r.header("NGSILD-Results-Count"), "2")
        self.assertEqual(self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Secret:1", reader, tenant="rules").status, 403)
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Person&q=phone==%22010-0000-0001%22&count=true", reader, tenant="rules")
        self.assertEqual(r.header("NGSILD-Results-Count"), "0")
        r = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:2", reader, tenant="rules")
        self.assertEqual(r.status, 200)
        self.assertNotIn("phone", r.json())
        self.assertIn("district", r.json())

    def test_parking_forecast_shows_only_what_the_caller_may_read(self):
        admin, reader = ("f-admin", "fc:admin"), ("f-reader", "fc:reader")
        site = lambda i: {"id": i, "type": "OffStreetParking", "occupancy": {"type": "Property", "value": 0.5},
                          "totalSpotNumber": {"type": "Property", "value": 100}}
        batch = [site("urn:ngsi-ld:OffStreetParking:open:1"), site("urn:ngsi-ld:OffStreetParking:closed-books:1"),
                 site("urn:ngsi-ld:OffStreetParking:no-total:1"),
                 {"id": "urn:ngsi-ld:Secret:vault", "type": "Vault", "code": {"type": "Property", "value": 1}}]
        r = self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", admin, body=batch, tenant="fc")
        self.assertIn(r.status, (201, 204), r.body)
        forecast = lambda who, i: self.call("GET", f"/cityhub/v1/parking/{i}/forecast", who, tenant="fc")
        r = forecast(reader, "urn:ngsi-ld:OffStreetParking:open:1")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["totalSpotNumber"], 100)
        self.assertEqual(r.json()["forecast"][0]["availableSpotNumber"], 50)
        # The occupancy hidden from readers: no forecast of it (the admin still gets one).
        self.assertEqual(forecast(reader, "urn:ngsi-ld:OffStreetParking:closed-books:1").status, 403)
        self.assertEqual(forecast(admin, "urn:ngsi-ld:OffStreetParking:closed-books:1").status, 200)
        # The size hidden: occupancy only, nothing that would give the number of spots away.
        r = forecast(reader, "urn:ngsi-ld:OffStreetParking:no-total:1")
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("totalSpotNumber", r.json())
        self.assertNotIn("availableSpotNumber", r.json()["forecast"][0])
        # An entity the reader may not see: 403, not a hint that it is no parking site (400).
        r = forecast(reader, "urn:ngsi-ld:Secret:vault")
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(forecast(admin, "urn:ngsi-ld:Secret:vault").status, 400)

    def test_ownership(self):
        kim, lee = ("kim", "own:citizen"), ("lee", "own:citizen")
        report = lambda i: {"id": f"urn:ngsi-ld:Report:{i}", "type": "Report", "text": {"type": "Property", "value": "pothole"}}
        self.assertEqual(self.call("POST", "/ngsi-ld/v1/entities", kim, body=report("k"), tenant="own").status, 201)
        self.assertEqual(self.call("POST", "/ngsi-ld/v1/entities", lee, body=report("l"), tenant="own").status, 201)
        upd = {"text": {"type": "Property", "value": "fixed?"}}
        self.assertEqual(self.call("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Report:k/attrs", kim, body=upd, tenant="own").status, 204)
        self.assertEqual(self.call("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Report:l/attrs", kim, body=upd, tenant="own").status, 403)
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Report&count=true", kim, tenant="own")
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Report:k"])
        self.assertEqual(r.header("NGSILD-Results-Count"), "1")
        # Citizens may only create reports.
        r = self.call("POST", "/ngsi-ld/v1/entities", kim, tenant="own", body={"id": "urn:ngsi-ld:Thing:x", "type": "Thing"})
        self.assertEqual(r.status, 403)
        # The owner is not shown, and a writer's replace keeps it.
        r = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Report:k?options=sysAttrs", kim, tenant="own")
        self.assertNotIn("owner", r.body)
        r = self.call("PUT", "/ngsi-ld/v1/entities/urn:ngsi-ld:Report:k", ("w", "own:writer"), tenant="own",
                      body={"type": "Report", "text": {"type": "Property", "value": "replaced"}})
        self.assertEqual(r.status, 204)
        self.assertEqual(self.call("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Report:k/attrs", kim, body=upd, tenant="own").status, 204)

    # --- privacy ----------------------------------------------------------------------------

    def test_privacy_on_every_output(self):
        self.seed_city("priv")
        reader, officer = ("p-reader", "priv:reader"), ("officer", "priv:reader", "priv:privacy-officer")
        seen = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", reader, tenant="priv").json()
        clear = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", officer, tenant="priv").json()
        self.assertEqual(clear["name"]["value"], "Kim Minji")
        self.assertEqual(clear["health"]["value"], "fine")
        pseudonym = seen["name"]["value"]
        self.assertTrue(pseudonym.startswith("urn:cityhub:pseudonym:"), seen)
        self.assertNotIn("health", seen)
        self.assertEqual(seen["district"]["value"], "Buwon")
        # Stable: the same name gives the same pseudonym (Person:3 is also Kim Minji), another differs.
        listed = {e["id"]: e for e in self.call("GET", "/ngsi-ld/v1/entities?type=Person", reader, tenant="priv").json()}
        self.assertEqual(listed["urn:ngsi-ld:Person:3"]["name"]["value"], pseudonym)
        self.assertNotEqual(listed["urn:ngsi-ld:Person:2"]["name"]["value"], pseudonym)
        self.assertNotIn("Kim Minji", json.dumps(listed))
        # Filtering on the clear value finds nothing; on the pseudonym it finds both.
        r = self.call("GET", "/ngsi-ld/v1/entities?type=Person&q=name==%22Kim%20Minji%22&count=true", reader, tenant="priv")
        self.assertEqual(r.header("NGSILD-Results-Count"), "0")
        r = self.call("POST", "/ngsi-ld/v1/entityOperations/query", reader, tenant="priv",
                      body={"type": "Query", "entities": [{"type": "Person"}], "q": f'name=="{pseudonym}"'})
        self.assertEqual(sorted(e["id"] for e in r.json()), ["urn:ngsi-ld:Person:1", "urn:ngsi-ld:Person:3"])
        self.assertNotIn("Kim Minji", r.body)
        # keyValues too.
        r = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:2?options=keyValues", reader, tenant="priv")
        self.assertNotIn("Lee Junho", r.body)
        self.assertNotIn("health", r.body)
        # Temporal.
        r = self.call("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Person:1", reader, tenant="priv")
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("Kim Minji", r.body)
        self.assertNotIn("health", r.body)
        self.assertIn(pseudonym, r.body)
        r = self.call("GET", "/ngsi-ld/v1/temporal/entities?type=Person&options=temporalValues", reader, tenant="priv")
        self.assertNotIn("Kim Minji", r.body)
        self.assertIn("Kim Minji", self.call("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Person:1",
                                              officer, tenant="priv").body)
        # Aggregations leave pseudonymised and omitted attributes out (sums would reveal them).
        aggr = "format=aggregatedValues&aggrMethods=totalCount,distinctCount&aggrPeriodDuration=P1D"
        r = self.call("GET", f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Person:1?{aggr}", reader, tenant="priv")
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("district", r.json())
        self.assertNotIn("name", r.json())
        self.assertNotIn("health", r.json())
        r = self.call("GET", f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Person:1?{aggr}", officer, tenant="priv")
        self.assertIn("name", r.json())
        # Notifications of a reader's subscription.
        rec = Receiver().start()
        try:
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", ("p-writer", "priv:writer"), tenant="priv", body={
                "type": "Subscription", "entities": [{"type": "Person"}], "watchedAttributes": ["district"],
                "notification": {"endpoint": {"uri": rec.url()}}})
            self.assertEqual(r.status, 201, r.body)
            r = self.call("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1/attrs", ("c-admin", "priv:admin"), tenant="priv",
                          body={"district": {"type": "Property", "value": "Jangyu"}})
            self.assertEqual(r.status, 204)
            rec.wait_for(1)
            data = rec.received[0]["body"]["data"][0]
            self.assertEqual(data["name"]["value"], pseudonym)
            self.assertNotIn("health", data)
            self.assertEqual(data["district"]["value"], "Jangyu")
        finally:
            rec.stop()

    def test_transparency_and_k_anonymous_aggregates(self):
        r = self.hub.get("/cityhub/v1/transparency")  # public
        self.assertEqual(r.status, 200)
        doc = r.json()
        (entry,) = doc["privacyObjects"]
        self.assertEqual(entry["dataType"], "Person")
        self.assertEqual(entry["purpose"], "citizen service accounts")
        self.assertEqual(entry["retentionPeriod"], "P365D")
        self.assertEqual({a["name"]: a["class"] for a in entry["classifiedAttributes"]}, {"name": "personal", "health": "sensitive"})
        self.assertTrue(doc["auditLog"])
        admin = ("k-admin", "kanon:admin", "kanon:privacy-officer")
        batch = [person(100 + i, f"n{i}", "Buwon" if i < 4 else "Naeoe") for i in range(6)]
        self.assertIn(self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", admin, body=batch, tenant="kanon").status, (201, 204))
        r = self.call("GET", "/cityhub/v1/aggregates?type=Person&groupBy=district", ("k-reader", "kanon:reader"), tenant="kanon")
        self.assertEqual(r.status, 200, r.body)
        out = r.json()
        self.assertEqual(out["k"], 3)
        self.assertEqual(out["groups"], [{"district": "Buwon", "count": 4}])
        self.assertEqual((out["suppressedGroups"], out["suppressedEntities"]), (1, 2))
        r = self.call("GET", "/cityhub/v1/aggregates?type=Person&groupBy=district&k=5", ("k-reader", "kanon:reader"), tenant="kanon")
        self.assertEqual(r.json()["groups"], [])
        r = self.call("GET", "/cityhub/v1/aggregates?type=Person&groupBy=district&k=1", ("k-reader", "kanon:reader"), tenant="kanon")
        self.assertEqual(r.json()["k"], 3)  # never below the configured minimum
        self.assertEqual(self.call("GET", "/cityhub/v1/aggregates?type=Person", ("k-reader", "kanon:reader"), tenant="kanon").status, 400)

    # --- API keys ------------------------------------------------------------------------------

    def keys(self, *args):
        return subprocess.run([BIN, "keys", *args, "--file", self.keys_file], capture_output=True, text=True, timeout=30)

    def test_api_keys_and_revocation(self):
        made = self.keys("create", "--name", "gateway-1", "--role", "keys:writer")
        self.assertEqual(made.returncode, 0, made.stderr)
        key = made.stdout.strip()
        body = {"id": "urn:ngsi-ld:Sensor:k1", "type": "Sensor"}
        deadline = time.time() + 5
        while True:  # the hub re-reads the key file within a second
            r = self.hub.request("POST", "/ngsi-ld/v1/entities", body=body, headers={"X-API-Key": key, "NGSILD-Tenant": "keys"})
            if r.status != 401 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(r.status, 201, r.body)
        r = self.hub.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:k1",
                             headers={"Authorization": "ApiKey " + key, "NGSILD-Tenant": "keys"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.hub.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:k1",
                                          headers={"X-API-Key": key, "NGSILD-Tenant": "other"}).status, 403)
        self.assertEqual(self.hub.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:k1",
                                          headers={"X-API-Key": key[:-2] + "xx", "NGSILD-Tenant": "keys"}).status, 401)
        with open(self.keys_file) as f:
            self.assertNotIn(key.split("_")[-1], f.read())  # stored hashed
        self.assertEqual(self.keys("revoke", "gateway-1").returncode, 0)
        deadline = time.time() + 5
        while time.time() < deadline:
            r = self.hub.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:k1", headers={"X-API-Key": key, "NGSILD-Tenant": "keys"})
            if r.status == 401:
                break
            time.sleep(0.2)
        self.assertEqual(r.status, 401)

    @unittest.skipIf(STORE == "postgres", "a hub on PostgreSQL is backed up with PostgreSQL's tools, not `cityhub backup`")
    def test_backup_needs_an_admin_key(self):
        def backup(name, env):
            return subprocess.run([BIN, "--listen", f"127.0.0.1:{self.hub.port}", "--data-dir", self.hub.data_dir,
                                   "--backup-dir", self.backups, "backup", os.path.join(self.backups, name)],
                                  capture_output=True, text=True, timeout=30, env=dict(os.environ, **env))
        writer = self.keys("create", "--name", "backup-writer", "--role", "writer").stdout.strip()
        admin = self.keys("create", "--name", "backup-admin", "--role", "admin").stdout.strip()
        time.sleep(1.2)  # the hub re-reads the key file within a second
        self.assertNotEqual(backup("none", {}).returncode, 0)
        self.assertNotEqual(backup("by-writer", {"CITYHUB_API_KEY": writer}).returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.backups, "by-writer")))
        done = backup("by-admin", {"CITYHUB_API_KEY": admin})
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(os.path.isdir(os.path.join(self.backups, "by-admin")))
        token = backup("by-token", {"CITYHUB_TOKEN": self.token("root", "admin")})
        self.assertEqual(token.returncode, 0, token.stdout + token.stderr)

    # --- audit ---------------------------------------------------------------------------------

    def test_federated_reads_are_audited_with_the_requesting_hub(self):
        """GS CIM 009 §6.3.18: a broker forwarding a request adds itself to Via. A read that
        carries Via is another hub reading through a federation: the audit log records it
        (event federated-read) with the hub's authenticated identity as subject and the Via
        chain as detail — and a plain read by the same identity is not recorded."""
        self.seed_city("fed")
        hub = ("hub:gyeongbuk", "fed:reader")
        via = "1.1 gyeongbuk-province"
        r = self.call("GET", "/ngsi-ld/v1/entities?type=ParkingSpot", hub, tenant="fed", headers={"Via": via})
        self.assertEqual(r.status, 200, r.body)
        r = self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:gimhae:1", hub, tenant="fed")
        self.assertEqual(r.status, 200, r.body)

        def federated():
            with open(self.audit) as f:
                records = [json.loads(line) for line in f if line.strip()]
            return [x for x in records if x["subject"] == "hub:gyeongbuk"]
        mine = eventually(lambda: federated() or None)
        self.assertEqual([(x["event"], x["tenant"], x["method"]) for x in mine],
                         [("federated-read", "fed", "GET")])
        self.assertIn(via, mine[0]["detail"])
        self.assertEqual(mine[0]["status"], 200)

    def test_audit_log_records_and_verifies(self):
        self.seed_city("audit")
        self.call("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", ("auditor", "audit:reader", "audit:privacy-officer"), tenant="audit")
        self.hub.request("GET", "/ngsi-ld/v1/entities", headers={"Authorization": "Bearer not-a-token"})
        self.call("DELETE", "/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", ("nobody", "audit:reader"), tenant="audit")
        deadline = time.time() + 5
        records = []
        while time.time() < deadline:
            with open(self.audit) as f:
                records = [json.loads(line) for line in f if line.strip()]
            events = {(r["event"], r["subject"]) for r in records}
            if {("write", "c-admin"), ("read-personal", "auditor"), ("auth-failure", ""), ("denied", "nobody")} <= events:
                break
            time.sleep(0.1)
        events = {(r["event"], r["subject"]) for r in records}
        self.assertIn(("write", "c-admin"), events)
        self.assertIn(("read-personal", "auditor"), events)
        self.assertIn(("auth-failure", ""), events)
        self.assertIn(("denied", "nobody"), events)
        with open(self.audit) as f:
            text = f.read()
        self.assertNotIn("Kim Minji", text)  # no payloads
        self.assertNotIn("010-0000", text)
        ok = subprocess.run([BIN, "audit", "verify", self.audit], capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        lines = text.splitlines(keepends=True)
        self.assertGreaterEqual(len(lines), 4)
        edited = re.sub(r'"status":(\d)', lambda m: '"status":' + str((int(m.group(1)) + 1) % 10), lines[2], count=1)
        self.assertNotEqual(edited, lines[2])
        for name, tampered in [("edited", lines[:2] + [edited] + lines[3:]),
                               ("deleted", lines[:2] + lines[3:]),
                               ("reordered", lines[:1] + [lines[2], lines[1]] + lines[3:])]:
            path = os.path.join(self.dir, f"audit-{name}.log")
            with open(path, "w") as f:
                f.writelines(tampered)
            bad = subprocess.run([BIN, "audit", "verify", path], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 1, f"{name}: {bad.stdout} {bad.stderr}")


class RateLimitTest(unittest.TestCase):
    def test_per_principal_limit(self):
        d = tempfile.mkdtemp(prefix="cityhub-rate-")
        idp = Idp(d, "k1")
        jwks = os.path.join(d, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [idp.jwk]}, f)
        with Hub(extra_args=["--auth-jwks-file", jwks, "--rate-limit-rps", "2", "--rate-limit-burst", "5"]) as hub:
            busy = {"Authorization": "Bearer " + idp.token(sub="busy")}
            calm = {"Authorization": "Bearer " + idp.token(sub="calm")}
            statuses = [hub.request("GET", "/ngsi-ld/v1/types", headers=busy).status for _ in range(8)]
            self.assertEqual(statuses[:5], [200] * 5)
            self.assertIn(429, statuses[5:])
            r = hub.request("GET", "/ngsi-ld/v1/types", headers=busy)
            if r.status == 429:
                self.assertGreaterEqual(int(r.header("Retry-After")), 1)
                self.assertEqual(r.json()["type"], "urn:cityhub:error:TooManyRequests")
            self.assertEqual(hub.request("GET", "/ngsi-ld/v1/types", headers=calm).status, 200)
            time.sleep(1.1)
            self.assertEqual(hub.request("GET", "/ngsi-ld/v1/types", headers=busy).status, 200)


if __name__ == "__main__":
    unittest.main()
