"""Sharing across a federation: a provincial hub reads two city hubs through context source
registrations, and each city's own rules decide what crosses its boundary.

GS CIM 009 §4.3.6.1: a distributed operation is forwarded to the registered context sources,
which answer it as they would answer any client — so the city hub, not the province, applies
its access policy and privacy rules to the province's requests. The province reads with a
credential of its own at each city (an API key with the reader role, configured by the
operator with --federation-credentials, never taken from a client or a registration).

What is asserted:
- personal attributes arrive pseudonymised, sensitive ones never arrive, an attribute the city's
  policy denies to the province never arrives — whatever query shape a client of the province
  uses (randomized: formats, attrs, pick, q on the clear value, sysAttrs, retrieve by id);
- a query by the clear value of a personal attribute finds nothing through the province;
- every federated read is in the city's audit log under the province's identity with its Via.
"""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from hub import BIN, Hub, eventually

PRIVACY = {"types": {"Person": {"purpose": "resident services", "retention": "P365D",
                                "attributes": {"name": "personal", "phone": "personal", "health": "sensitive"}}}}
# The cities share residents with the province but never their income, even pseudonymised.
POLICY = {"rules": [{"effect": "deny", "subjects": ["apikey:gyeongbuk-province"], "operations": ["read"],
                     "types": ["Person"], "attrs": ["income"]}]}
NAMES = ["Kim Minji", "Park Jisoo", "Lee Junho", "Choi Yuna"]


def residents(city):
    return [{"id": f"urn:ngsi-ld:Person:{city}:{i}", "type": "Person",
             "name": {"type": "Property", "value": name},
             "phone": {"type": "Property", "value": f"010-{1000 + 7 * len(city)}-{i:04d}"},
             "health": {"type": "Property", "value": f"condition-{city}-{i}"},
             "income": {"type": "Property", "value": 31_000_000 + i},
             "district": {"type": "Property", "value": f"{city}-dong-{i % 2}"}}
            for i, name in enumerate(NAMES)]


class City:
    """A city hub requiring API keys, with the privacy and policy files above; the province
    gets a reader key of its own."""

    def __init__(self, name, root):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        keys = os.path.join(self.dir, "keys.json")
        self.operator = self.key(keys, f"{name}-operator", "admin", "privacy-officer")
        self.province_key_file = os.path.join(self.dir, "province.key")
        with open(self.province_key_file, "w") as f:
            f.write(self.key(keys, "gyeongbuk-province", "reader"))
        self.audit = os.path.join(self.dir, "audit.log")
        files = {}
        for fname, doc in (("privacy.json", PRIVACY), ("policy.json", POLICY)):
            files[fname] = os.path.join(self.dir, fname)
            with open(files[fname], "w") as f:
                json.dump(doc, f)
        self.hub = Hub(extra_args=["--api-keys-file", keys, "--privacy-file", files["privacy.json"],
                                   "--auth-policy-file", files["policy.json"], "--audit-log", self.audit]).start()
        self.people = residents(name)
        r = self.hub.request("POST", "/ngsi-ld/v1/entityOperations/upsert", body=self.people,
                             headers={"X-API-Key": self.operator})
        assert r.status in (201, 204), r

    @staticmethod
    def key(file, name, *roles):
        args = [BIN, "keys", "create", "--file", file, "--name", name]
        for role in roles:
            args += ["--role", role]
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()

    def secrets(self):
        """Every clear value that must not cross the boundary."""
        out = []
        for p in self.people:
            out += [p["name"]["value"], p["phone"]["value"], p["health"]["value"], str(p["income"]["value"])]
        return out

    def audit_records(self):
        if not os.path.exists(self.audit):
            return []
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.strip()]


class FederationSharingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="cityhub-fed-sharing-")
        cls.cities = [City("gimcheon", cls.root), City("andong", cls.root)]
        creds = ";".join(f"http://127.0.0.1:{c.hub.port}=header:X-API-Key:{c.province_key_file}" for c in cls.cities)
        cls.province = Hub(extra_args=["--federation-credentials", creds]).start()
        for c in cls.cities:
            r = cls.province.post("/ngsi-ld/v1/csourceRegistrations", {
                "type": "ContextSourceRegistration", "registrationName": f"{c.name} city hub",
                "information": [{"entities": [{"type": "Person"}]}],
                "endpoint": f"http://127.0.0.1:{c.hub.port}", "mode": "inclusive"})
            assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.province.cleanup()
        for c in cls.cities:
            c.hub.cleanup()
        shutil.rmtree(cls.root, ignore_errors=True)

    def assert_nothing_leaks(self, r, what):
        for c in self.cities:
            for secret in c.secrets():
                self.assertNotIn(secret, r.body, f"{what}: {secret!r} of {c.name} crossed the boundary")

    def test_the_union_of_both_cities_arrives_pseudonymised(self):
        """§4.3.6.1: the province's answer holds both cities' residents; each city applied its
        privacy rules (personal → urn:cityhub:pseudonym:…, sensitive → absent) and policy."""
        r = self.province.get("/ngsi-ld/v1/entities?type=Person&limit=100&options=keyValues")
        self.assertEqual(r.status, 200, r)
        got = {e["id"]: e for e in r.json()}
        expected = {p["id"] for c in self.cities for p in c.people}
        self.assertEqual(set(got), expected)
        for e in got.values():
            self.assertTrue(e["name"].startswith("urn:cityhub:pseudonym:"), e)
            self.assertTrue(e["phone"].startswith("urn:cityhub:pseudonym:"), e)
            self.assertNotIn("health", e)
            self.assertNotIn("income", e)
            self.assertIn("district", e)  # unclassified attributes are shared as they are
        self.assert_nothing_leaks(r, "query")

    def test_randomized_attempts_never_read_restricted_attributes(self):
        """Whatever a client of the province asks — any format, attrs or pick naming the
        restricted attributes, q on their clear values, sysAttrs, retrieve by id — no clear
        personal value, no sensitive value and no denied attribute crosses the boundary."""
        rng = random.Random(int(os.environ.get("CITYHUB_TEST_SEED", "17")))
        people = [p for c in self.cities for p in c.people]
        attrs = ["name", "phone", "health", "income", "district"]
        for attempt in range(60):
            params = {"type": "Person", "limit": "100"}
            fmt = rng.choice([None, "keyValues", "concise", "normalized"])
            if fmt:
                params["options"] = fmt
            if rng.random() < 0.3:
                params["options"] = ",".join(filter(None, [params.get("options"), "sysAttrs"]))
            shape = rng.choice(["attrs", "pick", "q", "plain", "retrieve"])
            if shape == "attrs":
                params["attrs"] = ",".join(rng.sample(attrs, rng.randint(1, len(attrs))))
            elif shape == "pick":
                params["pick"] = ",".join(["id"] + rng.sample(attrs, rng.randint(1, len(attrs))))
            elif shape == "q":
                p = rng.choice(people)
                field = rng.choice(["name", "phone", "health", "income"])
                value = p[field]["value"]
                params["q"] = f'{field}=={value}' if isinstance(value, int) else f'{field}=="{value}"'
            if shape == "retrieve":
                p = rng.choice(people)
                params.pop("type")
                params.pop("limit")
                path = f"/ngsi-ld/v1/entities/{urllib.parse.quote(p['id'], safe='')}"
            else:
                path = "/ngsi-ld/v1/entities"
            url = path + ("?" + urllib.parse.urlencode(params) if params else "")
            r = self.province.get(url)
            self.assertIn(r.status, (200, 404), f"{url}: {r}")
            self.assert_nothing_leaks(r, url)
            if shape == "q" and r.status == 200:
                # A clear value finds nothing: the cities compare it with what the province may see.
                self.assertEqual(r.json(), [], f"{url} matched a clear value")

    def test_the_cities_audit_log_names_the_province(self):
        """Every federated read is in the city's audit log, under the identity the province
        authenticated with and with its Via (GS CIM 009 §6.3.18)."""
        r = self.province.get("/ngsi-ld/v1/entities?type=Person&attrs=district")
        self.assertEqual(r.status, 200, r)
        for c in self.cities:
            records = eventually(lambda: [x for x in c.audit_records() if x["event"] == "federated-read"])
            self.assertTrue(records, f"{c.name} recorded no federated read")
            self.assertEqual({x["subject"] for x in records}, {"apikey:gyeongbuk-province"})
            self.assertTrue(all(x["detail"].startswith("via ") for x in records), records)
            with open(c.audit) as f:
                text = f.read()
            for secret in c.secrets():
                self.assertNotIn(secret, text)


if __name__ == "__main__":
    unittest.main()
