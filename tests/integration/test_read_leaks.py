"""Reads that must show a caller nothing it may not read, each test written as the attack it stops
(authentication, a policy file and a privacy file configured; tokens minted by test_auth.Idp):

- @contexts: a reader of another tenant — even of a tenant that does not exist — lists and
  downloads the inline @contexts a tenant's requests sent (ImplicitlyCreated). They belong to that
  tenant now, also when the hub renders a notification with a subscription's inline @context;
  so do hosted contexts (the tenant they were added in); a tenant that does not exist has none
  (404 NonexistentTenant).
- /cityhub/v1/parking/nearest: distances from a few points locate a car park whose location the
  caller may not read, and its free spaces show although the count is withheld or pseudonymised.
- /types and /attributes: counts of entities the caller may not see, names of attributes it may
  not read, and types or attributes that exist only on what it may not see.
- /cityhub/v1/alerts/{id}/cap: the CAP document of an alert holds its attributes the caller may
  not read.
"""
import unittest

from guarded_hub import GuardedHub
from receiver import Receiver

ALERT = "https://smartdatamodels.org/dataModel.Alert/Alert"

POLICY = {"rules": [
    # Car parks whose location, or whose free spaces, are the operator's business only.
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["OffStreetParking"],
     "idPattern": "urn:ngsi-ld:OffStreetParking:hidden-location:.*", "attrs": ["location"]},
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["OffStreetParking"],
     "idPattern": "urn:ngsi-ld:OffStreetParking:hidden-count:.*", "attrs": ["availableSpotNumber"]},
    # Readers never see the secret entities, nor a building's alarm code.
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "idPattern": "urn:ngsi-ld:Secret:.*"},
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["Building"], "attrs": ["alarmCode"]},
    # An alert's details may name people; readers get the alert without them.
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": [ALERT],
     "attrs": ["http://purl.org/dc/terms/description", "location"]},
]}

PRIVACY = {"types": {
    "Person": {"purpose": "citizen service accounts", "retention": "P365D",
               "attributes": {"name": "personal", "health": "sensitive"}},
    # A residents' car park: how many of its spaces are free tells who is at home.
    "OnStreetParking": {"purpose": "residents' parking", "retention": "P30D",
                        "attributes": {"availableSpotNumber": "personal"}}}}

HERE = (35.2000, 128.8000)  # lat, lon


def prop(value):
    return {"type": "Property", "value": value}


def site(kind, eid, lon, free):
    return {"id": eid, "type": kind, "availableSpotNumber": prop(free),
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, HERE[0]]}}}


class ReadLeaksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.guarded = GuardedHub("cityhub-leaks-", POLICY, PRIVACY, ["--audit-log", "off"]).start()
        cls.hub = cls.guarded.hub

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()

    def call(self, method, path, who, body=None, tenant=None, headers=None, content_type=None):
        return self.guarded.call(method, path, who, body=body, tenant=tenant, headers=headers, content_type=content_type)

    def upsert(self, tenant, entities):
        # Classified attributes are written only by who may read them in clear (SECURITY.md).
        seeder = ("seeder", f"{tenant}:admin", f"{tenant}:privacy-officer")
        r = self.call("POST", "/ngsi-ld/v1/entityOperations/upsert", seeder, body=entities, tenant=tenant)
        self.assertIn(r.status, (201, 204), r.body)

    # --- @contexts --------------------------------------------------------------------------

    def implicit_contexts(self, who, tenant):
        r = self.call("GET", "/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated&details=true", who, tenant=tenant)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_inline_contexts_stay_in_their_tenant(self):
        victim = ("victim-app", "victim:writer")
        secret_term = "https://victim.example/vocab/undisclosedProject"
        body = {"@context": [{"undisclosedProject": secret_term}, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"],
                "id": "urn:ngsi-ld:Plan:1", "type": "Plan", "undisclosedProject": prop("harbour")}
        r = self.call("POST", "/ngsi-ld/v1/entities", victim, body=body, tenant="victim", content_type="application/ld+json")
        self.assertEqual(r.status, 201, r.body)
        # The victim's tenant lists and serves its inline @context.
        mine = [c for c in self.implicit_contexts(victim, "victim")
                if "undisclosedProject" in self.call("GET", f"/ngsi-ld/v1/jsonldContexts/{c['localId']}", victim,
                                                 tenant="victim").body]
        self.assertEqual(len(mine), 1)
        victim_id, victim_url = mine[0]["localId"], mine[0]["URL"]

        # The attack: a role in a tenant that does not exist, in the default tenant, or in
        # another real tenant — list the @contexts, then download the victim's.
        for path in ("/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated&details=true",
                     f"/ngsi-ld/v1/jsonldContexts/{victim_id}", f"/ngsi-ld/v1/jsonldContexts/{victim_id}?details=true"):
            r = self.call("GET", path, ("ghost-app", "ghost:reader"), tenant="ghost")
            self.assertEqual(r.status, 404, r.body)
            self.assertEqual(r.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant", r.body)
            self.assertNotIn("victim.example", r.body)
        r = self.call("POST", "/ngsi-ld/v1/entities", ("neighbour", "other:admin"), tenant="other",
                      body={"id": "urn:ngsi-ld:Plan:other", "type": "Plan"})
        self.assertEqual(r.status, 201, r.body)
        for attacker, tenant in [(("nosy", "reader"), None), (("neighbour", "other:admin"), "other")]:
            listed = self.implicit_contexts(attacker, tenant)
            self.assertNotIn(victim_url, [c["URL"] for c in listed], attacker)
            r = self.call("GET", "/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated", attacker, tenant=tenant)
            self.assertNotIn(victim_url, r.json(), attacker)
            for suffix in ("", "?details=true"):
                r = self.call("GET", f"/ngsi-ld/v1/jsonldContexts/{victim_id}{suffix}", attacker, tenant=tenant)
                self.assertEqual(r.status, 404, (attacker, r.body))
                self.assertNotIn("victim.example", r.body)

        # A context an admin hosts belongs to the tenant it was added in (the default one here):
        # readers there list and fetch it, another tenant's readers do not.
        r = self.call("POST", "/ngsi-ld/v1/jsonldContexts", ("root", "admin"),
                      body={"@context": {"Plan": "https://city.example/vocab/Plan"}})
        self.assertEqual(r.status, 201, r.body)
        hosted = r.header("Location")
        r = self.call("GET", "/ngsi-ld/v1/jsonldContexts", ("nosy", "reader"))
        self.assertIn(hosted, r.json())
        r = self.call("GET", "/ngsi-ld/v1/jsonldContexts/" + hosted.rsplit("/", 1)[1], ("nosy", "reader"))
        self.assertEqual(r.status, 200, r.body)
        r = self.call("GET", "/ngsi-ld/v1/jsonldContexts", ("neighbour", "other:admin"), tenant="other")
        self.assertNotIn(hosted, r.json())
        r = self.call("GET", "/ngsi-ld/v1/jsonldContexts/" + hosted.rsplit("/", 1)[1], ("neighbour", "other:admin"),
                      tenant="other")
        self.assertEqual(r.status, 404, r.body)

    def test_a_subscriptions_inline_context_stays_in_its_tenant(self):
        writer = ("sub-app", "subs:writer")
        with Receiver() as rec:
            r = self.call("POST", "/ngsi-ld/v1/subscriptions", writer, tenant="subs", content_type="application/ld+json", body={
                "@context": [{"guardedTerm": "https://victim.example/vocab/guardedTerm"},
                             "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"],
                "type": "Subscription", "entities": [{"type": "Plan"}], "notification": {"endpoint": {"uri": rec.url()}}})
            self.assertEqual(r.status, 201, r.body)
            r = self.call("POST", "/ngsi-ld/v1/entities", writer, tenant="subs",
                          body={"id": "urn:ngsi-ld:Plan:s1", "type": "Plan", "guardedTerm": prop("x")})
            self.assertEqual(r.status, 201, r.body)
            self.assertEqual(len(rec.wait_for(1)), 1)  # rendered with the subscription's @context
        # The attack: a reader of the default tenant looks through the @contexts it is shown.
        nosy = ("nosy", "reader")
        for c in self.implicit_contexts(nosy, None):
            r = self.call("GET", f"/ngsi-ld/v1/jsonldContexts/{c['localId']}", nosy)
            self.assertNotIn("victim.example", r.body)
        self.assertTrue(any("victim.example" in self.call("GET", f"/ngsi-ld/v1/jsonldContexts/{c['localId']}", writer,
                                                          tenant="subs").body
                            for c in self.implicit_contexts(writer, "subs")))

    # --- parking/nearest --------------------------------------------------------------------

    def nearest(self, who, lat, lon):
        r = self.call("GET", f"/cityhub/v1/parking/nearest?lat={lat}&lon={lon}&minFree=1&maxDistance=5000&limit=10",
                      who, tenant="pk")
        self.assertEqual(r.status, 200, r.body)
        return {p["id"]: p for p in r.json()}

    def test_nearest_parking_shows_only_readable_sites(self):
        self.upsert("pk", [
            site("OffStreetParking", "urn:ngsi-ld:OffStreetParking:open:1", 128.8010, 10),
            site("OffStreetParking", "urn:ngsi-ld:OffStreetParking:hidden-location:1", 128.8020, 7),
            site("OffStreetParking", "urn:ngsi-ld:OffStreetParking:hidden-count:1", 128.8030, 5),
            site("OffStreetParking", "urn:ngsi-ld:Secret:car-park", 128.8040, 3),
            site("OnStreetParking", "urn:ngsi-ld:OnStreetParking:residents:1", 128.8050, 2)])
        everything = ("pk-officer", "pk:admin", "pk:privacy-officer")
        self.assertEqual(sorted(self.nearest(everything, *HERE)), [
            "urn:ngsi-ld:OffStreetParking:hidden-count:1", "urn:ngsi-ld:OffStreetParking:hidden-location:1",
            "urn:ngsi-ld:OffStreetParking:open:1", "urn:ngsi-ld:OnStreetParking:residents:1", "urn:ngsi-ld:Secret:car-park"])

        # The attack: distances from three points would trilaterate the hidden car park, and the
        # free spaces of the others are what the rules and the privacy file withhold.
        reader = ("pk-reader", "pk:reader")
        for lat, lon in [HERE, (35.21, 128.80), (35.20, 128.81)]:
            found = self.nearest(reader, lat, lon)
            self.assertEqual(list(found), ["urn:ngsi-ld:OffStreetParking:open:1"], (lat, lon))
            self.assertEqual(found["urn:ngsi-ld:OffStreetParking:open:1"]["availableSpotNumber"], 10)
        # An admin who is no privacy officer sees the residents' car park's count pseudonymised:
        # not listed either; the policy's denials are for readers only.
        self.assertNotIn("urn:ngsi-ld:OnStreetParking:residents:1", self.nearest(("pk-admin", "pk:admin"), *HERE))
        self.assertIn("urn:ngsi-ld:OffStreetParking:hidden-location:1", self.nearest(("pk-admin", "pk:admin"), *HERE))

    # --- discovery --------------------------------------------------------------------------

    def test_discovery_counts_and_names_only_what_the_caller_may_read(self):
        self.upsert("disc", [
            {"id": "urn:ngsi-ld:Building:1", "type": "Building", "alarmCode": prop("1234"), "floors": prop(3)},
            {"id": "urn:ngsi-ld:Building:2", "type": "Building", "alarmCode": prop("9876"), "floors": prop(5)},
            {"id": "urn:ngsi-ld:Secret:bunker", "type": "Building", "vaultCode": prop("0000"), "floors": prop(-4)},
            {"id": "urn:ngsi-ld:Secret:vault", "type": "Vault", "gold": prop(12)},
            {"id": "urn:ngsi-ld:Person:1", "type": "Person", "name": prop("Kim Minji"), "health": prop("asthma"),
             "district": prop("Buwon")}])
        reader = ("d-reader", "disc:reader")
        get = lambda path, who=reader: self.call("GET", path, who, tenant="disc")

        # The entity count of a type counts only the entities the caller may see.
        r = get("/ngsi-ld/v1/types/Building")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["entityCount"], 2)
        self.assertEqual(sorted(a["attributeName"] for a in r.json()["attributeDetails"]), ["floors"])
        # A type or attribute that only hidden entities have, or that is never readable, does not exist.
        for path in ["/ngsi-ld/v1/types/Vault", "/ngsi-ld/v1/attributes/vaultCode", "/ngsi-ld/v1/attributes/gold",
                     "/ngsi-ld/v1/attributes/alarmCode", "/ngsi-ld/v1/attributes/health"]:
            self.assertEqual(get(path).status, 404, path)
        self.assertEqual(sorted(get("/ngsi-ld/v1/types").json()["typeList"]), ["Building", "Person"])
        details = {t["typeName"]: sorted(t["attributeNames"]) for t in get("/ngsi-ld/v1/types?details=true").json()}
        self.assertEqual(details, {"Building": ["floors"], "Person": ["district", "name"]})
        self.assertEqual(sorted(get("/ngsi-ld/v1/attributes").json()["attributeList"]), ["district", "floors", "name"])
        attrs = {a["attributeName"]: a["typeNames"] for a in get("/ngsi-ld/v1/attributes?details=true").json()}
        self.assertEqual(attrs, {"district": ["Person"], "floors": ["Building"], "name": ["Person"]})
        r = get("/ngsi-ld/v1/attributes/floors")
        self.assertEqual((r.status, r.json()["attributeCount"], r.json()["typeNames"]), (200, 2, ["Building"]))
        # A pseudonymised attribute is readable (as a pseudonym): listed and counted.
        r = get("/ngsi-ld/v1/attributes/name")
        self.assertEqual((r.status, r.json()["attributeCount"]), (200, 1))

        # A caller who may read everything still sees everything.
        officer = ("d-officer", "disc:admin", "disc:privacy-officer")
        r = get("/ngsi-ld/v1/types/Building", officer)
        self.assertEqual(r.json()["entityCount"], 3)
        self.assertEqual(sorted(a["attributeName"] for a in r.json()["attributeDetails"]), ["alarmCode", "floors", "vaultCode"])
        self.assertEqual(get("/ngsi-ld/v1/attributes/health", officer).json()["attributeCount"], 1)
        self.assertEqual(sorted(get("/ngsi-ld/v1/types", officer).json()["typeList"]), ["Building", "Person", "Vault"])


    # --- alerts as CAP ----------------------------------------------------------------------

    def test_cap_document_holds_only_what_the_caller_may_read(self):
        self.upsert("cap", [{"id": "urn:ngsi-ld:Alert:cap-1", "type": ALERT,
                             "https://smartdatamodels.org/dataModel.Alert/severity": prop("high"),
                             "http://purl.org/dc/terms/description": prop("Evacuate 7 Haean-ro: resident in a wheelchair"),
                             "location": {"type": "GeoProperty",
                                          "value": {"type": "Point", "coordinates": [128.8765, 35.1234]}}}])
        cap = lambda who: self.call("GET", "/cityhub/v1/alerts/urn:ngsi-ld:Alert:cap-1/cap", who, tenant="cap")
        r = cap(("cap-admin", "cap:admin"))
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("Haean-ro", r.body)
        self.assertIn("35.1234", r.body)
        # The attack: a reader asks for the alert as CAP instead of as an entity.
        r = cap(("cap-reader", "cap:reader"))
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("Haean-ro", r.body)
        self.assertNotIn("35.1234", r.body)
        self.assertIn("<severity>", r.body)


if __name__ == "__main__":
    unittest.main()
