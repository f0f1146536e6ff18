"""Round trips of the FIWARE Smart Data Models examples (real-world NGSI-LD payloads).

For every `example-normalized.jsonld` under $CITYHUB_SHARED/data/smart-data-models/:
  1. POST it as application/ld+json (the @context is in the body, as published);
  2. read it back with the same @context, as normalized, keyValues and concise:
     - normalized == the input without @context (parsed JSON; object member order ignored);
     - keyValues == key_values(input), a small transform written here independently;
     - concise, re-POSTed under a new id with the same @context, reads back as the same
       normalized entity.
Examples that break the spec must be rejected with 400 naming the offending member; REJECTED
below lists them with the reason, and the test fails if the set of rejected examples changes.

How the @context reaches the GETs: the examples' @context is an array (e.g. the core context
plus a smart-data-models context), but a Link header carries exactly one URL (GS CIM 009
§6.3.5). What a standard client does is host one document holding that array and link to it;
the hub offers that hosting itself (POST /ngsi-ld/v1/jsonldContexts, §5.13.2), so the test
registers each example's @context there and sends the returned URL in the Link header. The
smart-data-models URLs inside resolve offline from the preload folder (--context-dir).
"""
import copy
import glob
import json
import os
import unittest

from hub import SHARED, CONTEXT_REL, HubTestCase

E = "/ngsi-ld/v1/entities"
SDM = os.path.join(SHARED, "data", "smart-data-models")

# Examples a conformant broker must reject: model -> (member named in the 400 detail, why).
# The hub stops at the first error in document order, so the member named is the first
# offender; other problems in the same example are listed in the reason.
REJECTED = {
    "FloodMonitoring": ("floodLevelStatus",
                        'floodLevelStatus, observationDateTime and stationID have "type": "string", '
                        "which is not an NGSI-LD attribute type"),
    "DeviceMeasurement": ("location", '"location" is typed "Property"; location is a GeoProperty by '
                                      "definition (GS CIM 009 §4.7)"),
    "VibrationsObserved": ("location", 'same: "location" typed "Property"'),
    "WaterObserved": ("dateObserved", 'dateObserved is a "Relationship" whose "object" is a DateTime, not '
                                      "a URI (its id urn:ngsi:… is a valid URI and is accepted)"),
    "Hazard": ("createsLayers", 'createsLayers is a "Property" carrying "object" instead of "value"; '
                                "also its location Polygon ring is not closed (41.88768 vs 41.88769)"),
}
# Examples whose odd-looking id is nevertheless a URI (RFC 3986: scheme ":" hier-part), which is
# all the spec asks of an entity id (§4.5.1), so they are accepted:
#   WaterObserved  urn:ngsi:WaterObserved:MNCA-001  (URN with NID "ngsi", syntactically valid)
#   WeatherAlert   uri:ngsi-ld:WeatherAlert-…       (scheme "uri": unregistered but well-formed)

VALUE_MEMBER = {"Property": "value", "GeoProperty": "value", "Relationship": "object",
                "LanguageProperty": "languageMap", "VocabProperty": "vocab", "JsonProperty": "json",
                "ListProperty": "valueList", "ListRelationship": "objectList"}


def examples():
    for path in sorted(glob.glob(os.path.join(SDM, "*", "*", "example-normalized.jsonld"))):
        with open(path, encoding="utf-8") as f:
            yield os.path.basename(os.path.dirname(path)), json.load(f)


def key_values(entity):
    """The keyValues form of a normalized entity (GS CIM 009 §4.5.4): each attribute becomes
    its value (object for Relationships, …); a multi-instance attribute a list of values."""
    def simplified(inst):
        member = VALUE_MEMBER[inst["type"]]
        v = inst[member]
        if member == "objectList":
            return [item["object"] if isinstance(item, dict) else item for item in v]
        return v

    out = {}
    for k, v in entity.items():
        if k == "@context":
            continue
        if k in ("id", "type", "scope"):
            out[k] = v
        elif isinstance(v, list):
            out[k] = [simplified(i) for i in v]
        else:
            out[k] = simplified(v)
    return out


def without_context(entity):
    return {k: v for k, v in entity.items() if k != "@context"}


class TestSmartDataModels(HubTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.examples = list(examples())
        assert len(cls.examples) >= 20, f"smart data model examples not found under {SDM}"
        cls.created, cls.rejected = {}, {}
        for model, doc in cls.examples:
            r = cls.hub.post(E, json.dumps(doc), content_type="application/ld+json")
            if r.status == 201:
                cls.created[model] = doc
            else:
                cls.rejected[model] = r

    def link_for(self, doc):
        """Hosts the example's @context on the hub and returns a Link header pointing at it."""
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": doc["@context"]})
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        self.assertTrue(url, r)
        return {"Link": f"<{url}>; {CONTEXT_REL}"}

    def read(self, eid, link, fmt=None):
        path = f"{E}/{eid}" + (f"?options={fmt}" if fmt else "")
        r = self.hub.get(path, headers=dict(link, Accept="application/json"))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_rejected_set_is_as_expected(self):
        self.assertEqual(set(self.rejected), set(REJECTED),
                         {m: r.body for m, r in self.rejected.items()})
        for model, r in self.rejected.items():
            with self.subTest(model=model):
                p = self.assertProblem(r, 400, "BadRequestData")
                member, _why = REJECTED[model]
                self.assertIn(member, p["detail"])

    def test_rejection_reasons_beyond_the_first(self):
        docs = dict(self.examples)
        # WaterObserved with its Relationship repaired is accepted: the urn:ngsi: id is a URI.
        water = copy.deepcopy(docs["WaterObserved"])
        water["dateObserved"] = {"type": "Property", "value": water["dateObserved"]["object"]}
        r = self.hub.post(E, json.dumps(water), content_type="application/ld+json")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/{water['id']}").status, 200)
        # Hazard with createsLayers repaired is still rejected, now for its unclosed ring.
        hazard = copy.deepcopy(docs["Hazard"])
        hazard["createsLayers"] = {"type": "Relationship", "object": hazard["createsLayers"]["object"]}
        r = self.hub.post(E, json.dumps(hazard), content_type="application/ld+json")
        p = self.assertProblem(r, 400, "BadRequestData")
        self.assertIn("location", p["detail"])
        self.assertIn("closed", p["detail"])
        # Flood monitoring: each "string"-typed attribute is named on its own.
        flood = copy.deepcopy(docs["FloodMonitoring"])
        for name in ["floodLevelStatus", "observationDateTime", "stationID"]:
            r = self.hub.post(E, json.dumps(flood), content_type="application/ld+json")
            self.assertIn(name, self.assertProblem(r, 400)["detail"])
            flood[name] = {"type": "Property", "value": flood[name]["value"]}
        r = self.hub.post(E, json.dumps(flood), content_type="application/ld+json")
        self.assertEqual(r.status, 201, r)

    def test_normalized_round_trip(self):
        for model, doc in self.created.items():
            with self.subTest(model=model):
                got = self.read(doc["id"], self.link_for(doc))
                self.assertEqual(got, without_context(doc))

    def test_ld_json_response_carries_the_context(self):
        for model, doc in self.created.items():
            with self.subTest(model=model):
                link = self.link_for(doc)
                r = self.hub.get(f"{E}/{doc['id']}", headers=dict(link, Accept="application/ld+json"))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "application/ld+json")
                body = r.json()
                self.assertIn("@context", body)
                self.assertEqual(without_context(body), without_context(doc))

    def test_key_values(self):
        for model, doc in self.created.items():
            with self.subTest(model=model):
                got = self.read(doc["id"], self.link_for(doc), "keyValues")
                self.assertEqual(got, key_values(doc))

    def test_concise_round_trip(self):
        for model, doc in self.created.items():
            with self.subTest(model=model):
                link = self.link_for(doc)
                concise = self.read(doc["id"], link, "concise")
                self.assertNotEqual(concise, without_context(doc), "concise should drop something")
                copy_id = doc["id"] + ":concise-copy"
                body = dict(concise, id=copy_id)
                body["@context"] = doc["@context"]
                r = self.hub.post(E, json.dumps(body), content_type="application/ld+json")
                self.assertEqual(r.status, 201, r)
                again = self.read(copy_id, link)
                expected = copy.deepcopy(without_context(doc))
                expected["id"] = copy_id
                self.assertEqual(again, expected)

    def test_text_and_dom_renderings_are_the_same_bytes(self):
        # A query page is rendered straight from the stored text (ngsild/stored_render.h); with
        # orderBy it goes through the entity model (DeserializeEntity + render.cc). Both must
        # give the same bytes, in every representation, with and without system attributes,
        # with the example's @context and with the core context alone, as JSON and as JSON-LD.
        from urllib.parse import quote
        compared = 0
        for model, doc in self.created.items():
            first_attr = next(k for k in doc if k not in ("id", "type", "@context"))
            for link in (self.link_for(doc), {}):
                for options in ("", "keyValues", "concise", "sysAttrs", "concise,sysAttrs"):
                    for accept in ("application/json", "application/ld+json"):
                        with self.subTest(model=model, options=options, accept=accept, link=bool(link)):
                            base = f"{E}?id={quote(doc['id'], safe='')}" + (f"&options={options}" if options else "")
                            text = self.hub.get(base, headers=dict(link, Accept=accept))
                            dom = self.hub.get(f"{base}&orderBy={first_attr}", headers=dict(link, Accept=accept))
                            self.assertEqual(text.status, 200, text)
                            self.assertEqual(dom.status, 200, dom)
                            self.assertEqual(len(text.json()), 1)
                            self.assertEqual(text.body, dom.body)
                            compared += 1
        self.assertGreaterEqual(compared, 20 * 20)

    def test_without_context_names_are_expanded(self):
        # Read with only the core context: the smart-data-models terms come back as full IRIs,
        # so the stored entity does not depend on the reader's context.
        model, doc = next((m, d) for m, d in self.created.items() if m == "ParkingSpot")
        got = self.read(doc["id"], {})
        self.assertEqual(got["id"], doc["id"])
        self.assertTrue(any(k.startswith("https://") for k in got), got.keys())


if __name__ == "__main__":
    unittest.main()
