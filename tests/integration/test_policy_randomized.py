"""Randomized agreement test of the access policy and the privacy rules: for random
principals, policy rules, entity types and attribute classifications, every write path and every
read path of the hub agrees with a reference evaluation of the policy written here, in Python,
from the semantics of src/security/policy.cc, src/api/caller.cc (PolicyView, PolicyWriteAccess,
OwnerView), src/broker/write_access.cc (AuthorizeWrite), src/broker/temporal_service.cc,
src/broker/subscription_matcher.cc (Fires), src/broker/visible_catalogue.cc, the parking
service's Nearest and src/api/contexts_api.cc.

One seed (CITYHUB_TEST_SEED, default fixed; printed in every failure) makes a policy file, a
privacy file, principals and data. A real hub is started with them, and then:

- reads, per principal: every entity (GET /entities/{id}: 403, or exactly the attributes the
  reference shows, in clear or as pseudonyms — checked for their prefix and for equal values
  giving equal pseudonyms and unequal ones unequal), queries by type with count, q on random
  attributes (GET and POST /entityOperations/query), temporal retrieve and query (histories have
  no owner), temporal aggregation (sum/totalCount only over attributes shown in clear),
  /types (with details and per type), /attributes (with details and per attribute), parking
  nearest, /cityhub/v1/aggregates (k-anonymous groups), /jsonldContexts (ImplicitlyCreated, per
  tenant) and the subscription list;
- subscriptions: each principal allowed to subscribe subscribes to every type (some watching an
  attribute); the seeder changes one attribute of every entity; each receiver gets exactly the
  entities, with exactly the attributes, the owner's view fires and shows;
- writes, per principal, on fresh scratch entities (created by the principal itself or by the
  seeder, so that ownership matters): create, batch create/upsert, merge PATCH with and without
  a type change, append, update, replace, delete attribute, delete entity, batch
  upsert/update/merge/delete and temporal append: allowed ones answer success and change the
  state, refused ones 403 (batch: 207 with that item's 403) and leave it as it was (checked by
  the seeder);
- the reads again (all but the temporal ones) over the entities the writes left: some owned by
  the principals, some of several types.
Each run checks ROUNDS configurations (CITYHUB_TEST_ROUNDS, default 5), one hub each.

All mismatches are collected and reported together with the seed and the generated files.
"""
import json
import os
import random
import re
import shutil
import tempfile
import time
import unittest
import urllib.parse
from collections import Counter

from hub import Hub
from receiver import Receiver
from test_auth import AUDIENCE, ISSUER, Idp

SEED = int(os.environ.get("CITYHUB_TEST_SEED", "1206"))
WRITES = 18  # write attempts per principal (with a write grant) and round
ROUNDS = int(os.environ.get("CITYHUB_TEST_ROUNDS", "5"))  # configurations (hubs) per run
T = "rnd"            # the tenant everything is checked in
O = "rnd-other"      # another tenant (roles and rules scoped to it must not count in T)
TYPES = ["Bin", "Meter", "Person", "OffStreetParking"]
ATTRS = ["level", "status", "name", "district", "location"]
SPOTS = "availableSpotNumber"
ALL_ATTRS = ATTRS + [SPOTS]
GEO = {"location"}
POOLS = {"level": [0, 1, 2, 3, 4], "status": ["ok", "full", "broken"], "name": ["Kim", "Lee", "Park"],
         "district": ["Buwon", "Naeoe"], SPOTS: [0, 1, 2, 5]}
CENTER = (128.88, 35.23)  # lon, lat
PSEUDO = "urn:cityhub:pseudonym:"
E = "/ngsi-ld/v1/entities"
TE = "/ngsi-ld/v1/temporal/entities"
OPS = ["read", "write", "subscribe", "admin"]
BUILTIN = {"reader": {"read"}, "writer": {"read", "write", "subscribe"}, "admin": set(OPS)}
ROLE_POOL = ["reader", "writer", "admin", "ops", "viewer", "citizen", "privacy-officer", "auditor"]
READER_ROLES = ["privacy-officer", "auditor"]
SEEDER = ("seeder", ("*:seed", "*:privacy-officer", "*:auditor"))


# --- the reference ---------------------------------------------------------------------------

class Rule:
    def __init__(self, doc):
        self.doc = doc
        self.allow = doc["effect"] == "allow"
        self.roles = doc.get("roles", [])
        self.subjects = doc.get("subjects", [])
        tenants = doc.get("tenants", [])
        self.tenants = [] if "*" in tenants else tenants
        self.ops = set(doc["operations"])
        self.types = doc.get("types", [])
        self.pattern = re.compile(doc["idPattern"]) if "idPattern" in doc else None
        self.attrs = doc.get("attrs", [])
        self.owner = doc.get("owner", False)

    def conditional(self):
        return bool(self.types or self.pattern or self.attrs or self.owner)

    def matches(self, eid, types, owner, subject):
        if self.owner and (not owner or owner != subject):
            return False
        if self.types and not any(t in self.types for t in types):
            return False
        if self.pattern and not self.pattern.fullmatch(eid):
            return False
        return True

    def covers(self, attr):
        return not self.attrs or attr in self.attrs


GRANT = Rule({"effect": "allow", "roles": ["-"], "operations": OPS})


def roles_in(roles, tenant):
    out = []
    for entry in roles:
        scope, _, name = entry.rpartition(":")
        if scope == "*" or scope == tenant:
            out.append(name)
    return out


class Access:
    def __init__(self, subject, everything=False, allows=(), denies=()):
        self.subject = subject
        self.all = everything
        self.allows = list(allows)
        self.denies = list(denies)

    def none(self):
        return not self.all and not self.allows

    def entity(self, eid, types, owner):
        if self.all:
            return True
        if not any(r.matches(eid, types, owner, self.subject) for r in self.allows):
            return False
        return not any(not r.attrs and r.matches(eid, types, owner, self.subject) for r in self.denies)

    def attribute(self, eid, types, owner, attr):
        if self.all:
            return True
        if not any(r.covers(attr) and r.matches(eid, types, owner, self.subject) for r in self.allows):
            return False
        return not any(r.covers(attr) and r.matches(eid, types, owner, self.subject) for r in self.denies)

    def every_attribute(self, eid, types, owner):
        if self.all:
            return True
        if not any(not r.attrs and r.matches(eid, types, owner, self.subject) for r in self.allows):
            return False
        return not any(r.matches(eid, types, owner, self.subject) for r in self.denies)


class Reference:
    def __init__(self, policy_doc, privacy_doc):
        self.rules = [Rule(r) for r in policy_doc["rules"]]
        classes = privacy_doc.get("classes", {})
        self.treatment = {"personal": classes.get("personal", {}).get("treatment", "pseudonymise"),
                          "sensitive": classes.get("sensitive", {}).get("treatment", "omit")}
        self.readers = {c: classes.get(c, {}).get("readers", []) if c in classes else ["privacy-officer"]
                        for c in ("personal", "sensitive")}
        self.classified = {t: doc.get("attributes", {}) for t, doc in privacy_doc["types"].items()}

    def access(self, who, tenant, op):
        subject, roles = who
        held = roles_in(roles, tenant)
        unconditional = any(op in BUILTIN.get(r, ()) for r in held)
        allows, denies = [], []
        for r in self.rules:
            if op not in r.ops or (r.tenants and tenant not in r.tenants):
                continue
            if subject not in r.subjects and not any(h in r.roles for h in held):
                continue
            if r.allow:
                unconditional = unconditional or not r.conditional()
                allows.append(r)
            else:
                denies.append(r)
        if unconditional:
            if not denies:
                return Access(subject, everything=True)
            allows = [GRANT]
        return Access(subject, allows=allows, denies=denies)

    def class_of(self, types, attr):
        rank = {"personal": 1, "sensitive": 2}
        best = None
        for t in types:
            c = self.classified.get(t, {}).get(attr)
            if c and (best is None or rank[c] > rank[best]):
                best = c
        return best

    def in_clear(self, who, tenant, cls):
        return any(r in self.readers[cls] for r in roles_in(who[1], tenant))

    def view(self, who, tenant):
        return View(self, who, tenant)

    def writes(self, who, tenant):
        return Writes(self, who, tenant)


class View:
    """PolicyView: what `who` reads in `tenant`."""

    def __init__(self, ref, who, tenant):
        self.ref, self.who, self.tenant = ref, who, tenant
        self.acc = ref.access(who, tenant, "read")

    def visible(self, e, owner=None):
        return self.acc.entity(e["id"], e["types"], e["owner"] if owner is None else owner)

    def shown(self, e, attr, owner=None):
        owner = e["owner"] if owner is None else owner
        if not self.acc.attribute(e["id"], e["types"], owner, attr):
            return "hidden"
        cls = self.ref.class_of(e["types"], attr)
        if cls is None or self.ref.in_clear(self.who, self.tenant, cls):
            return "clear"
        return "pseudo" if self.ref.treatment[cls] == "pseudonymise" else "hidden"

    def redact(self, e, owner=None):
        """{attr: ("clear"|"pseudo", value)} of a visible entity."""
        out = {}
        for a, v in e["attrs"].items():
            s = self.shown(e, a, owner)
            if s == "clear" or (s == "pseudo" and a not in GEO):
                out[a] = (s, v)
        return out


class Writes:
    """PolicyWriteAccess plus AuthorizeWrite."""

    def __init__(self, ref, who, tenant):
        self.ref, self.subject, self.tenant = ref, who[0], tenant
        self.acc = ref.access(who, tenant, "write")
        self.clear = {c: ref.in_clear(who, tenant, c) for c in ("personal", "sensitive")}
        self.unrestricted = self.acc.all and all(self.clear.values())

    def may_write(self, eid, types, owner):
        return self.acc.entity(eid, types, owner)

    def may_write_attr(self, eid, types, owner, attr):
        if not self.acc.attribute(eid, types, owner, attr):
            return False
        cls = self.ref.class_of(types, attr)
        return cls is None or self.clear[cls]

    def authorize(self, before, after, named):
        if self.unrestricted or (before is None and after is None):
            return True
        if after is None:
            return self.acc.every_attribute(before["id"], before["types"], before["owner"])
        if before is None:
            t = (after["id"], after["types"], self.subject)
            return self.may_write(*t) and all(self.may_write_attr(*t, a) for a in after["attrs"])
        stored = (before["id"], before["types"], before["owner"])
        if not self.may_write(*stored):
            return False
        changed = [t for t in after["types"] if t not in before["types"]] + \
                  [t for t in before["types"] if t not in after["types"]]
        if not all(self.may_write(before["id"], [t], before["owner"]) for t in changed):
            return False
        nxt = (after["id"], after["types"], before["owner"])
        touched = set(named) | {a for a in set(before["attrs"]) | set(after["attrs"])
                                if before["attrs"].get(a, KeyError) != after["attrs"].get(a, KeyError)}
        return all(self.may_write_attr(*stored, a) and (not changed or self.may_write_attr(*nxt, a))
                   for a in touched)


# --- generation --------------------------------------------------------------------------------

def generate(rng):
    subjects = [f"p{i}" for i in range(rng.randint(4, 6))]
    principals = []
    for s in subjects:
        roles = []
        for _ in range(rng.randint(1, 3)):
            scope = rng.choices([T, "*", O, ""], [60, 15, 15, 10])[0]
            role = rng.choices(ROLE_POOL, [2, 3, 1, 2, 1, 2, 2, 1])[0]
            roles.append(f"{scope}:{role}" if scope else role)
        principals.append((s, tuple(dict.fromkeys(roles))))
    rules = [{"effect": "allow", "roles": ["seed"], "operations": OPS, "description": "the test's seeder"}]
    for _ in range(rng.randint(4, 8)):
        allow = rng.random() < 0.65
        r = {"effect": "allow" if allow else "deny"}
        if rng.random() < 0.8:
            pool = [x for x in ROLE_POOL if allow or x not in READER_ROLES]
            r["roles"] = rng.sample(pool, rng.randint(1, 2))
        else:
            r["subjects"] = [rng.choice(subjects)]
        tenants = rng.choice([None, None, None, [T], [T], [O], ["*"], [T, O]])
        if tenants:
            r["tenants"] = tenants
        ops = rng.sample(["read", "write", "subscribe"], rng.randint(1, 3))
        if "write" not in ops and rng.random() < 0.3:
            ops.append("write")
        if rng.random() < 0.1:
            ops.append("admin")
        r["operations"] = ops
        if rng.random() < 0.5:
            r["types"] = rng.sample(TYPES, rng.randint(1, 2))
        if rng.random() < 0.25:
            r["idPattern"] = rng.choice([".*:a[0-9]+", "urn:ngsi-ld:(Bin|Meter):.*", ".*:b.*", ".*p[0-9]"])
        if rng.random() < (0.4 if allow else 0.55):
            r["attrs"] = rng.sample(ALL_ATTRS, rng.randint(1, 2))
        if allow and rng.random() < 0.25:
            r["owner"] = True
        rules.append(r)
    privacy = {"k": 2, "types": {}}
    if rng.random() < 0.7:
        privacy["classes"] = {
            "personal": {"treatment": rng.choice(["pseudonymise", "pseudonymise", "omit"]),
                         "readers": rng.sample(READER_ROLES, rng.randint(1, 2))},
            "sensitive": {"treatment": rng.choice(["omit", "omit", "pseudonymise"]),
                          "readers": rng.sample(READER_ROLES, rng.randint(1, 2))}}
    for t in TYPES:
        attrs = {}
        for a in (ALL_ATTRS if t == "OffStreetParking" else ATTRS):
            x = rng.random()
            if x < 0.2:
                attrs[a] = "personal"
            elif x < 0.3:
                attrs[a] = "sensitive"
        privacy["types"][t] = {"purpose": "randomized test", "attributes": attrs}
    return principals, {"rules": rules}, privacy


def prop(name, value):
    if name in GEO:
        return {"type": "GeoProperty", "value": value}
    return {"type": "Property", "value": value}


def attr_value(inst):
    if isinstance(inst, list):  # several instances: none are made here
        inst = inst[0]
    return inst.get("value", inst.get("object")) if isinstance(inst, dict) else inst


def point(rng):
    return {"type": "Point", "coordinates": [round(CENTER[0] + rng.uniform(-0.01, 0.01), 6),
                                             round(CENTER[1] + rng.uniform(-0.01, 0.01), 6)]}


def type_set(value):
    return set(value) if isinstance(value, list) else {value}


class PolicyRandomizedTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-policy-rnd-")
        cls.idp = Idp(cls.dir, "k1")
        cls.jwks = os.path.join(cls.dir, "jwks.json")
        with open(cls.jwks, "w") as f:
            json.dump({"keys": [cls.idp.jwk]}, f)
        cls.tokens = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.failures = []
        self.checks = 0
        self.stats = Counter()  # what the run exercised, printed with the result
        self.configs = {}       # round -> the generated files, for the failure message

    def start_round(self, n):
        """Generates round `n`'s principals, policy and privacy files, and starts a hub on them."""
        self.round = n
        rng = random.Random(f"{SEED}:{n}")
        self.principals, self.policy_doc, self.privacy_doc = generate(rng)
        self.ref = Reference(self.policy_doc, self.privacy_doc)
        self.configs[n] = {"principals": self.principals, "policy": self.policy_doc, "privacy": self.privacy_doc}
        self.pseudonyms = {}  # serialized clear value -> pseudonym (per hub: its secret is its own)
        self.clear_of = {}    # pseudonym -> serialized clear value
        self.model = {}
        paths = {}
        for name, doc in (("policy", self.policy_doc), ("privacy", self.privacy_doc)):
            paths[name] = os.path.join(self.dir, f"{name}-{n}.json")
            with open(paths[name], "w") as f:
                json.dump(doc, f)
        self.hub = Hub(extra_args=["--auth-jwks-file", self.jwks, "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE,
                                   "--auth-policy-file", paths["policy"], "--privacy-file", paths["privacy"]]).start()
        return rng

    def token(self, who):
        if who not in self.tokens:
            self.tokens[who] = self.idp.token(sub=who[0], realm_access=None, roles=list(who[1]))
        return self.tokens[who]

    def call(self, method, path, who, body=None, tenant=T, content_type=None):
        h = {"Authorization": "Bearer " + self.token(who)}
        if tenant:
            h["NGSILD-Tenant"] = tenant
        return self.hub.request(method, path, body=body, headers=h, content_type=content_type)

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures.append((self.round, what))
        return ok

    def expect_status(self, r, expected, what):
        expected = expected if isinstance(expected, (tuple, set, list)) else (expected,)
        return self.check(r.status in expected, f"{what}: status {r.status}, expected {'/'.join(map(str, expected))}: "
                                                  f"{r.body[:300]}")

    def report(self):
        print(f"\n[test_policy_randomized] seed {SEED}: {self.checks} checks, {len(self.failures)} mismatches; "
              + ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())))
        if self.failures:
            rounds = sorted({n for n, _ in self.failures})
            config = json.dumps({n: self.configs[n] for n in rounds}, indent=None)
            shown = "\n".join(f"- round {n}: {f}" for n, f in self.failures[:40])
            self.fail(f"CITYHUB_TEST_SEED={SEED}: {len(self.failures)} of {self.checks} checks disagree with the "
                      f"reference:\n{shown}\n(generated files of rounds {rounds})\n{config}")

    def same_value(self, shown, expected, got, what):
        """Clear values must be equal; pseudonyms must have the prefix and be consistent."""
        if shown == "clear":
            return self.check(got == expected, f"{what}: value {got!r}, expected {expected!r}")
        key = json.dumps(expected, sort_keys=True)
        if not self.check(isinstance(got, str) and got.startswith(PSEUDO), f"{what}: {got!r} is no pseudonym"):
            return False
        known = self.pseudonyms.setdefault(key, got)
        back = self.clear_of.setdefault(got, key)
        return self.check(known == got and back == key,
                          f"{what}: pseudonym {got} of {key} inconsistent (seen {known} for it, {back} for the pseudonym)")

    def compare_entity(self, body, e, expected, what):
        """`body`: a normalized entity from the hub; `expected`: View.redact of the model."""
        if not self.check(isinstance(body, dict) and body.get("id") == e["id"], f"{what}: not the entity: {body!r:.200}"):
            return
        self.check(type_set(body.get("type")) == set(e["types"]), f"{what}: types {body.get('type')}, expected {e['types']}")
        got = {k: v for k, v in body.items() if k not in ("id", "type", "@context", "scope")}
        self.check(set(got) == set(expected), f"{what}: attributes {sorted(got)}, expected {sorted(expected)}")
        for a in set(got) & set(expected):
            shown, value = expected[a]
            self.stats["attributes " + shown] += 1
            self.same_value(shown, value, attr_value(got[a]), f"{what} {a} ({shown})")

    # --- the model -----------------------------------------------------------------------------

    def new_entity(self, eid, etype, owner, attrs):
        return {"id": eid, "types": [etype], "owner": owner, "attrs": dict(attrs)}

    def body_of(self, e, with_type=True):
        b = {"id": e["id"]}
        if with_type:
            b["type"] = e["types"][0] if len(e["types"]) == 1 else list(e["types"])
        for a, v in e["attrs"].items():
            b[a] = prop(a, v)
        return b

    def random_attrs(self, rng, etype, n_min=1, n_max=3, unique=None):
        names = ALL_ATTRS if etype == "OffStreetParking" else ATTRS
        out = {}
        for a in rng.sample(names, rng.randint(n_min, min(n_max, len(names)))):
            out[a] = self.random_value(rng, a, unique)
        return out

    def random_value(self, rng, a, unique=None):
        if a in GEO:
            return point(rng)
        if unique is not None:
            return 1000 + unique if isinstance(POOLS[a][0], int) else f"w{unique}"
        return rng.choice(POOLS[a])

    # --- the test ------------------------------------------------------------------------------

    def test_policy_agrees_with_reference(self):
        started = time.time()
        for n in range(ROUNDS):
            rng = self.start_round(n)
            try:
                self.seed_data(rng)
                for who in self.principals:
                    self.read_paths(rng, who)
                self.subscriptions(rng)
                for i, who in enumerate(self.principals):
                    self.write_paths(rng, who, i)
                # Again, with the scratch entities: owned by principals, some of several types.
                for who in self.principals:
                    self.read_paths(rng, who, temporal=False)
            finally:
                self.hub.cleanup()
        print(f"\n[test_policy_randomized] seed {SEED}, {ROUNDS} rounds: {time.time() - started:.1f} s")
        self.report()

    # --- seeding ---------------------------------------------------------------------------------

    def seed_data(self, rng):
        n = 0
        for etype in TYPES:
            for g in ("a1", "b1", "a2"):
                attrs = {a: self.random_value(rng, a) for a in (ALL_ATTRS if etype == "OffStreetParking" else ATTRS)
                         if rng.random() < 0.85 or a in (SPOTS, "location")}
                if etype == "OffStreetParking":
                    attrs[SPOTS] = rng.choice([0, 1, 3])
                e = self.new_entity(f"urn:ngsi-ld:{etype}:{g}", etype, "seeder", attrs)
                body = self.body_of(e)
                ctype = None
                if n == 0:  # an inline @context: an ImplicitlyCreated context of tenant T
                    body["@context"] = {f"rndTerm{SEED}": "https://example.org/rnd#term"}
                    ctype = "application/ld+json"
                r = self.call("POST", E, SEEDER, body=body, content_type=ctype)
                self.assertEqual(r.status, 201, r.body)
                self.model[e["id"]] = e
                n += 1
        r = self.call("POST", E, SEEDER, tenant=O, content_type="application/ld+json", body={
            "id": "urn:ngsi-ld:Bin:o1", "type": "Bin", "level": prop("level", 1),
            "@context": {f"rndOther{SEED}": "https://example.org/rnd#other"}})
        self.assertEqual(r.status, 201, r.body)
        self.contexts = {}
        for tenant in (T, O):
            r = self.call("GET", "/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated", SEEDER, tenant=tenant)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(len(r.json()), 1, f"the seeder's implicit contexts of {tenant}: {r.body}")
            self.contexts[tenant] = set(r.json())
        # Entities created by the principals themselves: they own them (if the policy lets them).
        for i, who in enumerate(self.principals):
            etype = rng.choice(TYPES)
            e = self.new_entity(f"urn:ngsi-ld:{etype}:{rng.choice('ab')}p{i}", etype, who[0],
                                self.random_attrs(rng, etype, 1, 2))
            if etype == "OffStreetParking":
                e["attrs"].setdefault("location", point(rng))
            allowed = self.ref.writes(who, T).authorize(None, e, [])
            r = self.call("POST", E, who, body=self.body_of(e))
            self.expect_status(r, 201 if allowed else 403, f"{who[0]} creates {e['id']} {sorted(e['attrs'])}")
            if r.status == 201:
                self.model[e["id"]] = e

    # --- reads -----------------------------------------------------------------------------------

    def read_paths(self, rng, who, temporal=True):
        name = who[0]
        view = self.ref.view(who, T)
        denied = view.acc.none()
        entities = sorted(self.model.values(), key=lambda e: e["id"])

        # GET /entities/{id}
        for e in entities:
            r = self.call("GET", f"{E}/{e['id']}", who)
            what = f"{name} GET {e['id']}"
            self.stats["entity reads " + ("refused" if denied or not view.visible(e) else "allowed")] += 1
            if denied or not view.visible(e):
                self.expect_status(r, 403, what)
            elif self.expect_status(r, 200, what):
                self.compare_entity(r.json(), e, view.redact(e), what)

        # queries by type, with count; q on random attributes; POST query
        for etype in TYPES:
            self.query(who, view, denied, etype, None)
        for _ in range(3):
            etype = rng.choice(TYPES)
            attr = rng.choice([a for a in ALL_ATTRS if a not in GEO and (a != SPOTS or etype == "OffStreetParking")])
            value = rng.choice(POOLS[attr])
            self.query(who, view, denied, etype, (attr, value), post=rng.random() < 0.4)

        # temporal retrieve and aggregation (histories have no owner), temporal query
        for e in entities if temporal else []:
            r = self.call("GET", f"{TE}/{e['id']}", who)
            what = f"{name} GET temporal {e['id']}"
            if denied or not view.visible(e, owner=""):
                self.expect_status(r, 403, what)
            elif self.expect_status(r, 200, what):
                self.compare_entity(r.json(), e, view.redact(e, owner=""), what)
            r = self.call("GET", f"{TE}/{e['id']}?format=aggregatedValues&aggrMethods=totalCount,sum&attrs=level", who)
            what = f"{name} GET temporal aggregation of {e['id']}"
            if denied or not view.visible(e, owner=""):
                self.expect_status(r, 403, what)
            elif self.expect_status(r, 200, what):
                body = r.json()
                expect = "level" in e["attrs"] and view.shown(e, "level", owner="") == "clear"
                if self.check(("level" in body) == expect, f"{what}: level aggregated: {'level' in body}, expected {expect}: {r.body[:300]}") and expect:
                    agg = body["level"]
                    self.check(agg.get("sum", [[None]])[0][0] == e["attrs"]["level"] and agg.get("totalCount", [[None]])[0][0] == 1,
                               f"{what}: {agg}, expected sum {e['attrs']['level']} over 1 instance")
        for etype in rng.sample(TYPES, 2) if temporal else []:
            r = self.call("GET", f"{TE}?type={etype}&timerel=after&timeAt=2000-01-01T00:00:00Z&timeproperty=modifiedAt&count=true&limit=100", who)
            what = f"{name} GET temporal ?type={etype}"
            if denied:
                self.expect_status(r, 403, what)
            elif self.expect_status(r, 200, what):
                # listed: the visible histories with an attribute shown in the range
                expected = {e["id"]: e for e in entities if etype in e["types"] and view.visible(e, owner="")
                            and view.redact(e, owner="")}
                got = {x["id"]: x for x in r.json()}
                self.check(set(got) == set(expected), f"{what}: ids {sorted(got)}, expected {sorted(expected)}")
                self.check(r.header("NGSILD-Results-Count") == str(len(expected)),
                           f"{what}: count {r.header('NGSILD-Results-Count')}, expected {len(expected)}")
                for eid in set(got) & set(expected):
                    self.compare_entity(got[eid], expected[eid], view.redact(expected[eid], owner=""), f"{what} -> {eid}")

        self.discovery(who, view, denied, entities)
        self.parking(who, view, denied, entities)
        self.aggregates(rng, who, view, denied, entities)

        # /jsonldContexts: the implicit contexts of the tenant asked, to its readers
        for tenant in (T, O):
            r = self.call("GET", "/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated", who, tenant=tenant)
            what = f"{name} GET /jsonldContexts?kind=ImplicitlyCreated in {tenant}"
            if self.ref.access(who, tenant, "read").none():
                self.expect_status(r, 403, what)
            elif self.expect_status(r, 200, what):
                self.check(set(r.json()) == self.contexts[tenant], f"{what}: {r.json()}, expected {self.contexts[tenant]}")

    def query(self, who, view, denied, etype, q, post=False):
        name = who[0]
        if post:
            body = {"type": "Query", "entities": [{"type": etype}]}
            if q:
                body["q"] = f"{q[0]}=={json.dumps(q[1])}"
            r = self.call("POST", "/ngsi-ld/v1/entityOperations/query?count=true&limit=100", who, body=body)
            what = f"{name} POST query {json.dumps(body)}"
        else:
            path = f"{E}?type={etype}&count=true&limit=100"
            if q:
                path += "&q=" + urllib.parse.quote(f"{q[0]}=={json.dumps(q[1])}")
            r = self.call("GET", path, who)
            what = f"{name} GET {urllib.parse.unquote(path)}"
        if denied:
            self.expect_status(r, 403, what)
            return
        if not self.expect_status(r, 200, what):
            return
        expected = {}
        for e in self.model.values():
            if etype not in e["types"] or not view.visible(e):
                continue
            seen = view.redact(e)
            if q and not (q[0] in seen and seen[q[0]] == ("clear", q[1])):
                continue
            expected[e["id"]] = (e, seen)
        got = {x["id"]: x for x in r.json()}
        self.check(set(got) == set(expected), f"{what}: ids {sorted(got)}, expected {sorted(expected)}")
        self.check(r.header("NGSILD-Results-Count") == str(len(expected)),
                   f"{what}: count {r.header('NGSILD-Results-Count')}, expected {len(expected)}")
        for eid in set(got) & set(expected):
            self.compare_entity(got[eid], expected[eid][0], expected[eid][1], f"{what} -> {eid}")

    def discovery(self, who, view, denied, entities):
        name = who[0]
        types, attrs = {}, {}
        for e in entities:
            if not view.visible(e):
                continue
            seen = view.redact(e)
            for t in e["types"]:
                count, names = types.get(t, (0, set()))
                types[t] = (count + 1, names | set(seen))
            for a in seen:
                count, ts = attrs.get(a, (0, set()))
                attrs[a] = (count + 1, ts | set(e["types"]))
        requests = [("/ngsi-ld/v1/types", None), ("/ngsi-ld/v1/types?details=true", None),
                    ("/ngsi-ld/v1/attributes", None), ("/ngsi-ld/v1/attributes?details=true", None)]
        requests += [(f"/ngsi-ld/v1/types/{t}", t) for t in TYPES]
        requests += [(f"/ngsi-ld/v1/attributes/{a}", a) for a in ALL_ATTRS]
        for path, one in requests:
            r = self.call("GET", path, who)
            what = f"{name} GET {path}"
            if denied:
                self.expect_status(r, 403, what)
                continue
            if one is not None:
                table = types if "/types/" in path else attrs
                if one not in table:
                    self.expect_status(r, 404, what)
                    continue
            if not self.expect_status(r, 200, what):
                continue
            body = r.json()
            if path == "/ngsi-ld/v1/types":
                self.check(set(body["typeList"]) == set(types), f"{what}: {body['typeList']}, expected {sorted(types)}")
            elif path == "/ngsi-ld/v1/types?details=true":
                got = {x["typeName"]: set(x["attributeNames"]) for x in body}
                self.check(got == {t: v[1] for t, v in types.items()}, f"{what}: {got}, expected {types}")
            elif path == "/ngsi-ld/v1/attributes":
                self.check(set(body["attributeList"]) == set(attrs), f"{what}: {body['attributeList']}, expected {sorted(attrs)}")
            elif path == "/ngsi-ld/v1/attributes?details=true":
                got = {x["attributeName"]: set(x["typeNames"]) for x in body}
                self.check(got == {a: v[1] for a, v in attrs.items()}, f"{what}: {got}, expected {attrs}")
            elif "/types/" in path:
                count, names = types[one]
                got = (body.get("entityCount"), {x["attributeName"] for x in body.get("attributeDetails", [])})
                self.check(got == (count, names), f"{what}: {got}, expected {(count, names)}")
            else:
                count, ts = attrs[one]
                got = (body.get("attributeCount"), set(body.get("typeNames", [])))
                self.check(got == (count, ts), f"{what}: {got}, expected {(count, ts)}")

    def parking(self, who, view, denied, entities):
        r = self.call("GET", f"/cityhub/v1/parking/nearest?lat={CENTER[1]}&lon={CENTER[0]}&maxDistance=5000&minFree=1&limit=100", who)
        what = f"{who[0]} GET /cityhub/v1/parking/nearest"
        if denied:
            self.expect_status(r, 403, what)
            return
        if not self.expect_status(r, 200, what):
            return
        expected = {}
        for e in entities:
            if "OffStreetParking" not in e["types"] or not view.visible(e):
                continue
            if view.shown(e, "location") != "clear" or view.shown(e, SPOTS) != "clear":
                continue
            if "location" not in e["attrs"] or e["attrs"].get(SPOTS, 0) < 1:
                continue
            expected[e["id"]] = e["attrs"][SPOTS]
        got = {x["id"]: x["availableSpotNumber"] for x in r.json()}
        self.check(got == expected, f"{what}: {got}, expected {expected}")

    def aggregates(self, rng, who, view, denied, entities):
        etype = rng.choice(TYPES)
        attr = rng.choice(["status", "name", "district", "level"])
        r = self.call("GET", f"/cityhub/v1/aggregates?type={etype}&groupBy={attr}&k=2", who)
        what = f"{who[0]} GET /cityhub/v1/aggregates?type={etype}&groupBy={attr}&k=2"
        if denied:
            self.expect_status(r, 403, what)
            return
        if not self.expect_status(r, 200, what):
            return
        groups = {}
        for e in entities:
            if etype not in e["types"] or not view.visible(e):
                continue
            seen = view.redact(e).get(attr)
            key = None if seen is None else (seen[0], json.dumps(seen[1]))
            groups[key] = groups.get(key, 0) + 1

        def tag(key):
            return "none" if key is None else ("pseudo" if key[0] == "pseudo" else key[1])
        expected = sorted((tag(k), c) for k, c in groups.items() if c >= 2)
        suppressed = (sum(1 for c in groups.values() if c < 2), sum(c for c in groups.values() if c < 2))
        body = r.json()
        got = []
        for g in body["groups"]:
            v = g.get(attr)
            got.append(("none" if v is None else "pseudo" if isinstance(v, str) and v.startswith(PSEUDO) else json.dumps(v),
                        g["count"]))
        self.check(sorted(got) == expected and (body["suppressedGroups"], body["suppressedEntities"]) == suppressed,
                   f"{what}: groups {sorted(got)} suppressed {(body['suppressedGroups'], body['suppressedEntities'])}, "
                   f"expected {expected} suppressed {suppressed}")

    # --- subscriptions -----------------------------------------------------------------------------

    def subscriptions(self, rng):
        with Receiver() as rx:
            subs = {}  # subject -> (who, subscription id, watched)
            for who in self.principals:
                watched = [rng.choice(ATTRS[:4])] if rng.random() < 0.4 else []
                body = {"type": "Subscription", "entities": [{"type": t} for t in TYPES],
                        "notification": {"endpoint": {"uri": rx.url(f"/{who[0]}")}}}
                if watched:
                    body["watchedAttributes"] = watched
                r = self.call("POST", "/ngsi-ld/v1/subscriptions", who, body=body)
                allowed = not self.ref.access(who, T, "subscribe").none()
                if self.expect_status(r, 201 if allowed else 403, f"{who[0]} POST subscription") and r.status == 201:
                    subs[who[0]] = (who, r.header("Location").rsplit("/", 1)[1], watched)
            # Who lists what: its own, or every one with the admin right.
            for who in self.principals:
                r = self.call("GET", "/ngsi-ld/v1/subscriptions?limit=100", who)
                what = f"{who[0]} GET /subscriptions"
                if self.ref.access(who, T, "subscribe").none():
                    self.expect_status(r, 403, what)
                elif self.expect_status(r, 200, what):
                    mine = {s[1] for s in subs.values() if s[0] == who}
                    expected = {s[1] for s in subs.values()} if self.ref.access(who, T, "admin").all else mine
                    self.check({x["id"] for x in r.json()} == expected, f"{what}: {[x['id'] for x in r.json()]}, expected {expected}")
            # The seeder changes one attribute of every entity.
            changed = {}
            for k, e in enumerate(sorted(self.model.values(), key=lambda e: e["id"])):
                names = [a for a in e["attrs"] if a not in GEO] or ["status"]
                attr = rng.choice(names)
                value = self.random_value(rng, attr, unique=k)
                r = self.call("POST", f"{E}/{e['id']}/attrs", SEEDER, body={attr: prop(attr, value)})
                self.assertEqual(r.status, 204, r.body)
                e["attrs"][attr] = value
                changed[e["id"]] = attr
            expected = {}
            for subject, (who, sid, watched) in subs.items():
                view = self.ref.view(who, T)
                expected[subject] = {}
                for e in self.model.values():
                    attr = changed[e["id"]]
                    if watched and attr not in watched:
                        continue
                    if view.shown(e, attr) == "hidden" or not view.visible(e):
                        continue
                    expected[subject][e["id"]] = view.redact(e)

            def received():
                out = {}
                for n in list(rx.received):
                    for x in (n["body"] or {}).get("data", []):
                        out.setdefault(n["path"].lstrip("/"), {})[x["id"]] = x
                return out
            deadline = time.time() + 15
            while time.time() < deadline:
                got = received()
                if all(set(exp) <= set(got.get(s, {})) for s, exp in expected.items()):
                    break
                time.sleep(0.05)
            time.sleep(1.0)  # grace: nothing more may come after the expected ones arrived
            got = received()
            for subject in {w[0] for w in self.principals}:
                exp = expected.get(subject, {})
                mine = got.get(subject, {})
                what = f"notifications of {subject}'s subscription (watching {subs[subject][2] if subject in subs else '-'})"
                self.check(set(mine) == set(exp), f"{what}: ids {sorted(mine)}, expected {sorted(exp)} "
                                                  f"(changed attributes {changed})")
                self.stats["notified entities"] += len(mine)
                for eid in set(mine) & set(exp):
                    self.compare_entity(mine[eid], self.model[eid], exp[eid], f"{what} -> {eid}")
            for subject, (who, sid, _) in subs.items():
                self.call("DELETE", f"/ngsi-ld/v1/subscriptions/{sid}", who)

    # --- writes ------------------------------------------------------------------------------------

    def stored(self, eid):
        r = self.call("GET", f"{E}/{eid}", SEEDER)
        if r.status == 404:
            return None
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def verify_state(self, e, what):
        body = self.stored(e["id"]) if e is not None else None
        if e is None:
            return
        if not self.check(body is not None, f"{what}: the entity is gone"):
            return
        self.check(type_set(body["type"]) == set(e["types"]), f"{what}: stored types {body['type']}, expected {e['types']}")
        got = {k: attr_value(v) for k, v in body.items() if k not in ("id", "type", "@context", "scope")}
        self.check(got == e["attrs"], f"{what}: stored {got}, expected {e['attrs']}")

    def write_paths(self, rng, who, i):
        name = who[0]
        w = self.ref.writes(who, T)
        entry_denied = w.acc.none()
        counter = [1000 * (i + 1)]

        def unique():
            counter[0] += 1
            return counter[0]

        for k in range(3 if entry_denied else WRITES):  # refused at the entry: a few suffice
            etype = rng.choice(TYPES)
            eid = f"urn:ngsi-ld:{etype}:{rng.choice('ab')}{k}w{i}"
            e = self.new_entity(eid, etype, name, self.random_attrs(rng, etype, 1, rng.choice([1, 2, 3]), unique()))
            created = False
            if rng.random() < 0.45:
                # the principal creates it: then it owns it
                how = rng.choice(["post", "batch-create", "batch-upsert"])
                allowed = not entry_denied and w.authorize(None, e, [])
                what = f"{name} {how} {eid} {sorted(e['attrs'])}"
                if how == "post":
                    r = self.call("POST", E, who, body=self.body_of(e))
                    self.expect_status(r, 201 if allowed else 403, what)
                else:
                    path = "/ngsi-ld/v1/entityOperations/" + ("create" if how == "batch-create" else "upsert")
                    r = self.call("POST", path, who, body=[self.body_of(e)])
                    self.batch_status(r, allowed, entry_denied, eid, 201, what)
                created = r.status == 201
                stored = self.stored(eid)
                self.check((stored is not None) == allowed, f"{what}: stored: {stored is not None}, expected {allowed}")
            if not created:
                if self.stored(eid) is not None:  # created against the reference (reported above)
                    self.call("DELETE", f"{E}/{eid}", SEEDER)
                    continue
                e["owner"] = "seeder"
                r = self.call("POST", E, SEEDER, body=self.body_of(e))
                self.assertEqual(r.status, 201, r.body)
            self.model[eid] = e
            self.one_write(rng, who, w, entry_denied, e, unique)

    def batch_status(self, r, allowed, entry_denied, eid, success, what):
        if entry_denied:
            return self.expect_status(r, 403, what)
        if allowed:
            return self.expect_status(r, success, what)
        if not self.expect_status(r, 207, what):
            return False
        errors = {x["entityId"]: x["error"].get("status") for x in r.json().get("errors", [])}
        return self.check(errors == {eid: 403} and r.json().get("success") == [], f"{what}: {r.body[:300]}")

    def one_write(self, rng, who, w, entry_denied, e, unique):
        name = who[0]
        eid, etype = e["id"], e["types"][0]
        other = rng.choice([t for t in TYPES if t != etype])
        op = rng.choice(["merge", "merge-type", "merge-type", "append", "update", "replace", "delete-attr", "delete",
                         "b-upsert", "b-upsert-update", "b-update", "b-merge", "b-delete", "t-append"])
        if op in ("update", "delete-attr") and not e["attrs"]:
            op = "append"
        before = {"id": eid, "types": list(e["types"]), "owner": e["owner"], "attrs": dict(e["attrs"])}
        after = {"id": eid, "types": list(e["types"]), "owner": e["owner"], "attrs": dict(e["attrs"])}
        new = self.random_attrs(rng, etype, 1, rng.choice([1, 1, 2]), unique())
        named = list(new)
        body = {a: prop(a, v) for a, v in new.items()}
        if op in ("merge", "merge-type"):
            if op == "merge-type":
                body["type"] = other
                after["types"].append(other)
            after["attrs"].update(new)
            method, path, ctype = "PATCH", f"{E}/{eid}", "application/merge-patch+json"
        elif op == "append":
            after["attrs"].update(new)
            method, path, ctype = "POST", f"{E}/{eid}/attrs", None
        elif op == "update":
            a = rng.choice(sorted(e["attrs"]))
            new = {a: self.random_value(rng, a, unique())}
            named, body = [a], {a: prop(a, new[a])}
            after["attrs"].update(new)
            method, path, ctype = "PATCH", f"{E}/{eid}/attrs", None
        elif op == "replace":
            t = other if rng.random() < 0.6 else etype
            body["type"] = t
            after["types"], after["attrs"] = [t], dict(new)
            method, path, ctype = "PUT", f"{E}/{eid}", None
        elif op == "delete-attr":
            a = rng.choice(sorted(e["attrs"]))
            named, body = [a], None
            del after["attrs"][a]
            method, path, ctype = "DELETE", f"{E}/{eid}/attrs/{a}", None
        elif op in ("delete", "b-delete"):
            after, named = None, []
            if op == "delete":
                method, path, ctype, body = "DELETE", f"{E}/{eid}", None, None
            else:
                method, path, ctype, body = "POST", "/ngsi-ld/v1/entityOperations/delete", None, [eid]
        elif op.startswith("b-"):
            t = other if rng.random() < 0.6 else etype
            item = dict(body, id=eid, type=t)
            body = [item]
            if op == "b-upsert":
                after["types"], after["attrs"] = [t], dict(new)
                path = "/ngsi-ld/v1/entityOperations/upsert"
            elif op == "b-upsert-update":
                after["types"] = list(dict.fromkeys(after["types"] + [t]))
                after["attrs"].update(new)
                path = "/ngsi-ld/v1/entityOperations/upsert?options=update"
            elif op == "b-update":  # Append Attributes per entity: types are added (§5.6.3.4)
                after["types"] = list(dict.fromkeys(after["types"] + [t]))
                after["attrs"].update(new)
                path = "/ngsi-ld/v1/entityOperations/update"
            else:
                after["types"] = list(dict.fromkeys(after["types"] + [t]))
                after["attrs"].update(new)
                path = "/ngsi-ld/v1/entityOperations/merge"
            method, ctype = "POST", None
        else:  # t-append: judged on the history (no owner)
            new = {a: v for a, v in new.items() if a not in GEO} or {"status": f"w{unique()}"}
            named = list(new)
            body = {a: [dict(prop(a, v), observedAt="2021-01-01T00:00:00Z")] for a, v in new.items()}
            if rng.random() < 0.4:
                body["type"] = other
            hist_before = dict(before, owner="", attrs={})
            hist_after = dict(hist_before, types=list(dict.fromkeys(before["types"] + ([other] if "type" in body else []))),
                              attrs={a: None for a in named})
            allowed = not entry_denied and w.authorize(hist_before, hist_after, named)
            self.stats["writes " + ("allowed" if allowed else "refused")] += 1
            what = f"{name} {op} {eid} (owner {e['owner']}) {json.dumps(body)}"
            r = self.call("POST", f"{TE}/{eid}/attrs", who, body=body)
            self.expect_status(r, 204 if allowed else 403, what)
            for a, v in new.items():
                h = self.call("GET", f"{TE}/{eid}?attrs={a}", SEEDER)
                self.assertEqual(h.status, 200, h.body)
                values = [attr_value(x) for x in (h.json().get(a) or [])] if isinstance(h.json().get(a), list) \
                    else [attr_value(h.json()[a])] if a in h.json() else []
                self.check((v in values) == allowed, f"{what}: history of {a} {values}, appended value {v} expected: {allowed}")
            self.verify_state(before, what)
            return
        allowed = not entry_denied and w.authorize(before, after, named)
        self.stats["writes " + ("allowed" if allowed else "refused at entry" if entry_denied else "refused")] += 1
        what = f"{name} {op} {method} {path} on {eid} (owner {e['owner']}, {before['types']}) {json.dumps(body)}"
        r = self.call(method, path, who, body=body, content_type=ctype)
        if op.startswith("b-"):
            self.batch_status(r, allowed, entry_denied, eid, 204, what)  # existing: nothing created
        else:
            self.expect_status(r, 204 if allowed else 403, what)
        state = after if allowed else before
        if state is None:
            self.check(self.stored(eid) is None, f"{what}: the entity still exists")
            self.model.pop(eid, None)
        else:
            self.verify_state(state, what)
            self.model[eid] = state


if __name__ == "__main__":
    unittest.main()
