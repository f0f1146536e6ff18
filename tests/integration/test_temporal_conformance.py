"""Temporal API conformance (GS CIM 009 v1.8.1) over real HTTP, beyond test_temporal.py:

  - `scope` kept with a history and returned in every temporal representation (§5.2.20);
  - `lang` on temporal answers (§4.15; OpenAPI Query.lang);
  - timeproperty=deletedAt selecting the deletion instances (§4.8, §5.7.3, §5.7.4);
  - PATCH of one attribute instance with the EntityTemporalFragment body (§5.6.14);
  - pagination of long histories: 206 + Content-Range with one time range for all
    attributes, never splitting the instances of one time (§6.3.10).
"""
import unittest

from hub import HubTestCase
from test_temporal import E, T, iso, ms, prop, qs

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CAP = 10_000  # instances per attribute in one answer (docs/API.md "Long histories")


class Case(HubTestCase):
    def get(self, path, status=200, **params):
        r = self.hub.get(f"{path}{qs(**params)}")
        self.assertEqual(r.status, status, r)
        return r

    def assertBad(self, r, *words):
        body = self.assertProblem(r, 400)
        self.assertIn(body["type"], (ERR + "BadRequestData", ERR + "InvalidRequest"), r)
        for w in words:
            self.assertIn(w, body["detail"], r)


class ScopeTest(Case):
    """§5.2.20 EntityTemporal: "This is the same data type as mandated by clause 5.2.4 with the
    only deviation that the representation of Properties and Relationships shall be the temporal
    one" — so the Entity's `scope` (§5.2.4, §4.18) is a member of the temporal representation;
    the OpenAPI EntityTemporal schema lists `scope` as a string or an array of strings."""

    T0 = ms("2025-03-01T00:00:00Z")

    def test_scope_given_to_the_temporal_api_is_returned_in_every_representation(self):
        eid = "urn:ngsi-ld:Gauge:sc1"
        r = self.hub.post(T, {"id": eid, "type": "Gauge", "scope": ["/gimhae/river", "/korea"],
                              "level": [prop(1.5, self.T0), prop(2.5, self.T0 + 1000)]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], ["/gimhae/river", "/korea"])
        tv = self.get(f"{T}/{eid}", format="temporalValues").json()
        self.assertEqual(tv["scope"], ["/gimhae/river", "/korea"])
        self.assertEqual(tv["level"]["values"], [[1.5, iso(self.T0)], [2.5, iso(self.T0 + 1000)]])
        agg = self.get(f"{T}/{eid}", format="aggregatedValues", aggrMethods="max").json()
        self.assertEqual(agg["scope"], ["/gimhae/river", "/korea"])
        # the query answers carry it too (GET and POST forms, and aggregated)
        rng = dict(type="Gauge", timerel="after", timeAt=iso(self.T0), id=eid)
        self.assertEqual([e["scope"] for e in self.get(T, **rng).json()], [["/gimhae/river", "/korea"]])
        agg = self.get(T, format="aggregatedValues", aggrMethods="totalCount", **rng).json()
        self.assertEqual([e["scope"] for e in agg], [["/gimhae/river", "/korea"]])
        r = self.hub.post("/ngsi-ld/v1/temporal/entityOperations/query",
                          {"type": "Query", "entities": [{"id": eid, "type": "Gauge"}],
                           "temporalQ": {"timerel": "after", "timeAt": iso(self.T0)}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["scope"] for e in r.json()], [["/gimhae/river", "/korea"]])
        # POST …/attrs with a scope replaces it (the latest scope is the entity's)
        r = self.hub.post(f"{T}/{eid}/attrs", {"scope": "/gimhae", "level": prop(3.5, self.T0 + 2000)})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], "/gimhae")
        # POST …/attrs without one leaves it
        r = self.hub.post(f"{T}/{eid}/attrs", {"level": prop(4.5, self.T0 + 3000)})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], "/gimhae")

    def test_scope_written_through_the_entity_api_is_kept_with_the_history(self):
        eid = "urn:ngsi-ld:Gauge:sc2"
        r = self.hub.post(E, {"id": eid, "type": "Gauge", "scope": "/ulsan/taehwa", "level": prop(1.0, self.T0)})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], "/ulsan/taehwa")
        r = self.hub.put(f"{E}/{eid}", {"scope": "/ulsan", "level": prop(2.0, self.T0 + 1000)})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], "/ulsan")
        # still returned once the entity is deleted: its history keeps its last scope
        self.assertEqual(self.hub.delete(f"{E}/{eid}").status, 204)
        self.assertEqual(self.get(f"{T}/{eid}").json()["scope"], "/ulsan")

    def test_no_scope_no_member_and_bad_scope_rejected(self):
        eid = "urn:ngsi-ld:Gauge:sc3"
        r = self.hub.post(T, {"id": eid, "type": "Gauge", "level": prop(1.0, self.T0)})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("scope", self.get(f"{T}/{eid}").json())
        for bad in ("no-slash", [], ["/ok", 3], {"a": "/b"}):
            with self.subTest(scope=bad):
                self.assertBad(self.hub.post(T, {"id": eid, "type": "Gauge", "scope": bad,
                                                 "level": prop(2.0, self.T0)}), "scope")
                self.assertBad(self.hub.post(f"{T}/{eid}/attrs", {"scope": bad, "level": prop(2.0, self.T0)}), "scope")
        self.assertNotIn("scope", self.get(f"{T}/{eid}").json())


class LangTest(Case):
    """OpenAPI Query.lang (retrieveTemporal, queryTemporal): "It is used to reduce languageMaps
    to a string or string array property in a single preferred language." §4.15: a
    LanguageProperty so reduced is returned as a Property whose value is the string of the
    chosen language, with a `lang` member naming it."""

    EID = "urn:ngsi-ld:Hall:lg1"
    T0 = ms("2025-04-01T09:00:00Z")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.hub.post(T, {"id": cls.EID, "type": "Hall",
                             "name": [{"type": "LanguageProperty", "languageMap": {"en": "hall", "fr": "salle"},
                                       "observedAt": iso(cls.T0)},
                                      {"type": "LanguageProperty", "languageMap": {"en": "big hall", "@none": "Halle"},
                                       "observedAt": iso(cls.T0 + 60_000)}],
                             "seats": [prop(100, cls.T0)]})
        assert r.status == 201, r

    def test_lang_reduces_each_instance_in_the_normalized_representation(self):
        got = self.get(f"{T}/{self.EID}", lang="fr").json()
        self.assertEqual([(i["type"], i["value"], i.get("lang")) for i in got["name"]],
                         [("Property", "salle", "fr"), ("Property", "Halle", None)])
        for inst in got["name"]:
            self.assertNotIn("languageMap", inst)
            self.assertIn("instanceId", inst)
        self.assertEqual(got["name"][0]["observedAt"], iso(self.T0))
        self.assertEqual(got["seats"][0]["value"], 100)  # other attributes untouched
        # preference order; a tag the map lacks falls back to @none, then to the first entry
        got = self.get(f"{T}/{self.EID}", lang="de,en").json()
        self.assertEqual([(i["value"], i["lang"]) for i in got["name"]], [("hall", "en"), ("big hall", "en")])
        got = self.get(f"{T}/{self.EID}", lang="ko").json()
        self.assertEqual([i["value"] for i in got["name"]], ["hall", "Halle"])

    def test_without_lang_the_language_maps_are_whole(self):
        got = self.get(f"{T}/{self.EID}").json()
        self.assertEqual([i["languageMap"] for i in got["name"]],
                         [{"en": "hall", "fr": "salle"}, {"en": "big hall", "@none": "Halle"}])
        self.assertEqual({i["type"] for i in got["name"]}, {"LanguageProperty"})

    def test_star_and_weighted_lists(self):
        """§4.15: lang="*" — "return LanguageProperties as a string in any supported language";
        "In any case, the attribute in question shall be augmented with an additional
        non-reified subproperty lang indicating the actual language returned"; EXAMPLE 4 ranks
        by quality value (fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5)."""
        got = self.get(f"{T}/{self.EID}", lang="*").json()
        self.assertEqual([(i["type"], i["value"], i["lang"]) for i in got["name"]],
                         [("Property", "hall", "en"), ("Property", "big hall", "en")])
        got = self.get(f"{T}/{self.EID}", lang="en;q=0.5,fr").json()
        self.assertEqual([i["value"] for i in got["name"]], ["salle", "big hall"])

    def test_lang_in_temporal_values_and_queries(self):
        got = self.get(f"{T}/{self.EID}", format="temporalValues", lang="fr").json()
        self.assertEqual(got["name"], {"type": "Property",
                                       "values": [["salle", iso(self.T0)], ["Halle", iso(self.T0 + 60_000)]]})
        plain = self.get(f"{T}/{self.EID}", format="temporalValues").json()
        self.assertEqual(plain["name"]["type"], "LanguageProperty")
        self.assertEqual(plain["name"]["languageMaps"][0][0], {"languageMap": {"en": "hall", "fr": "salle"}})
        rng = dict(type="Hall", timerel="after", timeAt=iso(self.T0))
        got = self.get(T, lang="en", **rng).json()
        self.assertEqual([i["value"] for i in got[0]["name"]], ["hall", "big hall"])
        r = self.hub.post(f"/ngsi-ld/v1/temporal/entityOperations/query{qs(lang='fr')}",
                          {"type": "Query", "entities": [{"type": "Hall"}],
                           "temporalQ": {"timerel": "after", "timeAt": iso(self.T0)}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([i["value"] for i in r.json()[0]["name"]], ["salle", "Halle"])

    def test_lang_member_of_the_post_query(self):
        """§5.2.23 Query: `lang` — "Language filter to be applied to the query (clause 4.15)"."""
        q = "/ngsi-ld/v1/temporal/entityOperations/query"
        body = {"type": "Query", "entities": [{"type": "Hall"}], "lang": "fr",
                "temporalQ": {"timerel": "after", "timeAt": iso(self.T0)}}
        r = self.hub.post(q, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(i["value"], i.get("lang")) for i in r.json()[0]["name"]], [("salle", "fr"), ("Halle", None)])
        r = self.hub.post(f"{q}{qs(lang='en')}", body)  # the body's wins over the URL's
        self.assertEqual([i["value"] for i in r.json()[0]["name"]], ["salle", "Halle"])
        r = self.hub.post(q, dict(body, lang="*"))  # §4.15: any language, still reduced
        self.assertEqual((r.json()[0]["name"][0]["value"], r.json()[0]["name"][0]["lang"]), ("hall", "en"))
        self.assertBad(self.hub.post(q, dict(body, lang=["fr"])), "lang")
        self.assertBad(self.hub.post(q, dict(body, lang="f r")), "lang")

    def test_bad_language_tag_is_400(self):
        for bad in ("e n", "fr;q=2", "fr;x=1", "", "a" * 40):
            with self.subTest(lang=bad):
                self.assertBad(self.hub.get(f"{T}/{self.EID}{qs(lang=bad)}"), "lang")
                self.assertBad(self.hub.get(f"{T}{qs(type='Hall', timerel='after', timeAt=iso(self.T0), lang=bad)}"),
                               "lang")


class DeletedAtTest(Case):
    """§4.8: deletedAt is "the temporal Property at which the Entity, Property or Relationship
    was deleted"; OpenAPI DeletedAt: "It is only used in notifications reporting deletions and
    in the Temporal Representation of Entities (clause 4.5.6), Properties (clause 4.5.7),
    Relationships (clause 4.5.8)"; Query.timeproperty allows "deletedAt". So a deletion is kept
    in the history with its deletedAt, and timeproperty=deletedAt selects by it."""

    def test_deletions_are_recorded_and_selected_by_deleted_at(self):
        eid = "urn:ngsi-ld:Bin:del1"
        t0 = ms("2025-05-01T00:00:00Z")
        r = self.hub.post(E, {"id": eid, "type": "Bin", "fill": prop(10, t0), "lid": prop("closed", t0)})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs", {"fill": prop(20, t0 + 1000)}).status, 204)
        self.assertEqual(self.hub.delete(f"{E}/{eid}/attrs/lid").status, 204)
        mid = self.get(f"{T}/{eid}", options="sysAttrs").json()
        lid_deleted = mid["lid"][-1]["deletedAt"]
        self.assertEqual(self.hub.delete(f"{E}/{eid}").status, 204)
        # without timerel every instance is there, the deletions with deletedAt
        allof = self.get(f"{T}/{eid}", options="sysAttrs").json()
        self.assertEqual([("deletedAt" in i) for i in allof["fill"]], [False, False, True])
        self.assertEqual([("deletedAt" in i) for i in allof["lid"]], [False, True])
        self.assertIn("deletedAt", allof)  # the entity's own deletion, with sysAttrs
        # timeproperty=deletedAt: only the deletion instances, by their deletion time
        dels = self.get(f"{T}/{eid}", timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt").json()
        self.assertEqual(len(dels["fill"]), 1)
        self.assertEqual(len(dels["lid"]), 1)
        self.assertEqual(dels["fill"][0]["value"], "urn:ngsi-ld:null")
        # before the entity's deletion, only the attribute's own deletion
        fill_deleted = allof["fill"][-1]["deletedAt"]
        if ms(lid_deleted) < ms(fill_deleted):
            early = self.get(f"{T}/{eid}", timerel="before", timeAt=fill_deleted, timeproperty="deletedAt").json()
            self.assertEqual(list(k for k in early if k in ("fill", "lid")), ["lid"])
        # temporalValues pairs carry the deletion time
        tv = self.get(f"{T}/{eid}", timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt",
                      format="temporalValues").json()
        self.assertEqual(tv["fill"]["values"], [["urn:ngsi-ld:null", fill_deleted]])
        # the query finds deleted entities by their deletions
        got = self.get(T, type="Bin", timerel="after", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt").json()
        self.assertEqual([e["id"] for e in got], [eid])
        # a time before any deletion selects nothing: 200 with no attributes
        none = self.get(f"{T}/{eid}", timerel="before", timeAt="2000-01-01T00:00:00Z", timeproperty="deletedAt").json()
        self.assertNotIn("fill", none)
        self.assertEqual(self.get(T, type="Bin", timerel="before", timeAt="2000-01-01T00:00:00Z",
                                  timeproperty="deletedAt").json(), [])


class EntitySystemTimesTest(Case):
    def test_entity_created_and_modified_at_with_sys_attrs(self):
        """§6.3.11 (OpenAPI options.sysAttrs): "a representation of NGSI-LD Elements shall be
        provided so that the system generated attributes createdAt, modifiedAt are included in
        the response payload body. In the case of temporal representations, also the system
        generated attribute deletedAt is included, if the NGSI-LD Element has been deleted."
        The entity's own createdAt/modifiedAt are those of the entity now (retrieve and query);
        without sysAttrs there are none; once deleted, the entity has deletedAt instead."""
        eid = "urn:ngsi-ld:Kiln:k1"
        t0 = ms("2025-05-01T00:00:00Z")
        r = self.hub.post(E, {"id": eid, "type": "Kiln", "heat": prop(100, t0)})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.patch(f"{E}/{eid}/attrs", {"heat": prop(200, t0 + 1000)}).status, 204)
        now = self.get(f"{E}/{eid}", options="sysAttrs").json()
        one = self.get(f"{T}/{eid}", options="sysAttrs").json()
        (listed,) = self.get(T, type="Kiln", timerel="after", timeAt="2000-01-01T00:00:00Z", options="sysAttrs").json()
        for got in (one, listed):
            self.assertEqual((got["createdAt"], got["modifiedAt"]), (now["createdAt"], now["modifiedAt"]), got)
            self.assertLess(ms(got["createdAt"]), ms(got["modifiedAt"]) + 1)
            self.assertNotIn("deletedAt", got)
        plain = self.get(f"{T}/{eid}").json()
        self.assertFalse({"createdAt", "modifiedAt", "deletedAt"} & set(plain), plain)
        self.assertEqual(self.hub.delete(f"{E}/{eid}").status, 204)
        gone = self.get(f"{T}/{eid}", options="sysAttrs").json()
        self.assertIn("deletedAt", gone)
        self.assertFalse({"createdAt", "modifiedAt"} & set(gone), gone)


class InstancePatchTest(Case):
    """§5.6.14 Partial Update Attribute instance in Temporal Representation of an Entity. The
    OpenAPI (updateAttrsTemporal): "This operation allows modifying a specific Attribute
    (Property or Relationship) instance, identified by its instanceId"; its body is
    requestBodies/EntityTemporalFragment, "EntityTemporal Fragment containing a complete
    representation of the Attribute instance to be replaced"; answers 204, 400, 404."""

    T0 = ms("2025-06-01T00:00:00Z")

    def setUp(self):
        super().setUp()
        self.eid = f"urn:ngsi-ld:Meter:ip{self.id().rsplit('.', 1)[-1]}"
        r = self.hub.post(T, {"id": self.eid, "type": "Meter",
                              "v": [prop(1, self.T0), prop(2, self.T0 + 1000), prop(3, self.T0 + 2000)]})
        self.assertEqual(r.status, 201, r)
        self.before = self.get(f"{T}/{self.eid}", options="sysAttrs").json()["v"]
        self.target = self.before[1]
        self.path = f"{T}/{self.eid}/attrs/v/{self.target['instanceId']}"

    def values(self):
        return [i["value"] for i in self.get(f"{T}/{self.eid}").json()["v"]]

    def test_fragment_shapes(self):
        # an array of one instance, a single instance, and with the entity's id/type repeated
        for n, body in enumerate(({"v": [prop(20, self.T0 + 1000)]},
                                  {"v": prop(21, self.T0 + 1000)},
                                  {"id": self.eid, "type": "Meter", "v": [prop(22, self.T0 + 1000)]})):
            with self.subTest(body=body):
                r = self.hub.patch(self.path, body)
                self.assertEqual(r.status, 204, r)
                self.assertEqual(self.values(), [1, 20 + n, 3])
        # JSON-LD with the @context in the body
        r = self.hub.patch(self.path, {"v": [prop(30, self.T0 + 1000)],
                                       "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"},
                           content_type="application/ld+json")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.values(), [1, 30, 3])

    def test_instance_copied_from_an_answer_is_accepted(self):
        # A client corrects the instance it read: instanceId and system times come back with it.
        copied = dict(self.target, value=25)
        r = self.hub.patch(self.path, {"v": [copied]})
        self.assertEqual(r.status, 204, r)
        after = self.get(f"{T}/{self.eid}", options="sysAttrs").json()["v"]
        self.assertEqual([i["value"] for i in after], [1, 25, 3])
        self.assertEqual(after[1]["instanceId"], self.target["instanceId"])
        self.assertEqual(after[1]["createdAt"], self.target["createdAt"])  # the system's, kept
        self.assertGreaterEqual(ms(after[1]["modifiedAt"]), ms(self.target["modifiedAt"]))

    def test_complete_replacement(self):
        # the fragment is the complete instance: members it leaves out are gone
        r = self.hub.patch(self.path, {"v": [prop(2, self.T0 + 1000, unitCode="KWH")]})
        self.assertEqual(r.status, 204, r)
        r = self.hub.patch(self.path, {"v": [prop(2, self.T0 + 1000)]})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("unitCode", self.get(f"{T}/{self.eid}").json()["v"][1])
        # a new observedAt moves the instance in time
        r = self.hub.patch(self.path, {"v": [prop(2, self.T0 + 5000)]})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.values(), [1, 3, 2])

    def test_contradicting_fragments_are_400_and_change_nothing(self):
        cases = [
            ({"id": "urn:ngsi-ld:Meter:other", "v": [prop(9, self.T0)]}, "id"),
            ({"v": [dict(prop(9, self.T0), instanceId="urn:ngsi-ld:Instance:999999")]}, "instanceId"),
            ({"v": [prop(9, self.T0), prop(8, self.T0)]}, "exactly one instance"),
            ({"w": [prop(9, self.T0)]}, "exactly one instance"),
            ({}, "exactly one instance"),
            ({"v": [{"type": "Property"}]}, "value"),
            ({"v": [prop(9, self.T0)], "w": [prop(9, self.T0)]}, "exactly one instance"),
        ]
        for body, word in cases:
            with self.subTest(body=body):
                self.assertBad(self.hub.patch(self.path, body), word)
        self.assertBad(self.hub.patch(self.path, [prop(9, self.T0)]))
        r = self.hub.request("PATCH", self.path, b"{not json", content_type="application/json")
        self.assertProblem(r, 400)
        self.assertEqual(self.values(), [1, 2, 3])

    def test_unknown_targets_are_404_and_bad_ids_400(self):
        body = {"v": [prop(9, self.T0)]}
        iid = self.target["instanceId"]
        self.assertProblem(self.hub.patch(f"{T}/{self.eid}/attrs/v/urn:ngsi-ld:Instance:1", body), 404, "ResourceNotFound")
        self.assertProblem(self.hub.patch(f"{T}/{self.eid}/attrs/w/{iid}", {"w": [prop(9, self.T0)]}), 404,
                           "ResourceNotFound")
        self.assertProblem(self.hub.patch(f"{T}/urn:ngsi-ld:Meter:none/attrs/v/{iid}", body), 404, "ResourceNotFound")
        self.assertBad(self.hub.patch(f"{T}/not-a-uri/attrs/v/{iid}", body))
        self.assertBad(self.hub.patch(f"{T}/{self.eid}/attrs/v/not-a-uri", body))
        self.assertEqual(self.values(), [1, 2, 3])


class LongHistoryTest(Case):
    """§6.3.10: "For HTTP operations on Temporal Evolution of Entities, implementations shall
    use the Partial Content Response (206) as specified by IETF RFC 7233, clause 4.1, if the
    implementation is not able to respond with the full representation at once"; with lastN
    pagination goes backwards (most recent first), without it forwards; the Content-Range
    header names the time range returned: `date-time <start>-<end>/<size>` (size: lastN, else
    `*`). The hub's page is 10,000 instances per attribute (docs/API.md). The range holds for
    every attribute, and a page never ends between two instances of one time: a client going
    on from its end neither misses nor repeats an instance."""

    EID = "urn:ngsi-ld:Logger:lh1"
    BASE = ms("2025-01-01T00:00:00Z")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # `a`: one instance a second for 10,299 s, two at seconds 300 and 9998, so that both
        # the forwards cut (after the 10,000th) and the backwards one (before the 10,000th
        # newest) fall inside a pair. `b`: 9,500 instances, every 1.1 s over about the same time.
        cls.a_times = []
        for i in range(10_299):
            cls.a_times += [cls.BASE + i * 1000] * (2 if i in (300, 9998) else 1)
        cls.b_times = [cls.BASE + i * 1100 for i in range(9_500)]
        a = [prop(n, t) for n, t in enumerate(cls.a_times)]
        b = [prop(n, t) for n, t in enumerate(cls.b_times)]
        for lo in range(0, len(a), 4000):
            r = cls.hub.post(T, {"id": cls.EID, "type": "Logger", "a": a[lo:lo + 4000]})
            assert r.status in (201, 204), r
        for lo in range(0, len(b), 4000):
            r = cls.hub.post(f"{T}/{cls.EID}/attrs", {"b": b[lo:lo + 4000]})
            assert r.status == 204, r

    def times(self, got, attr):
        return [ms(i["observedAt"]) for i in got.get(attr, [])]

    def test_forwards_a_tie_at_the_cut_is_not_split_and_all_attributes_share_the_range(self):
        self.assertEqual(self.a_times[CAP - 1], self.a_times[CAP])  # the data puts a pair at the cut
        r = self.get(f"{T}/{self.EID}", status=206)
        got = r.json()
        a = self.times(got, "a")
        self.assertEqual(a, self.a_times[:CAP - 1])  # both of the pair left out
        end = a[-1]
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.BASE)}-{iso(end)}/*")
        # `b` (within the cap itself) is cut at the same end
        b = self.times(got, "b")
        self.assertLess(len(b), len(self.b_times))
        self.assertEqual(b, [t for t in self.b_times if t <= end])
        # going on just after the end gives the rest: nothing missing, nothing repeated
        r2 = self.get(f"{T}/{self.EID}", timerel="after", timeAt=iso(end + 1))
        self.assertIsNone(r2.header("Content-Range"))
        rest = r2.json()
        self.assertEqual(a + self.times(rest, "a"), self.a_times)
        self.assertEqual(b + self.times(rest, "b"), self.b_times)

    def test_backwards_with_last_n(self):
        last_n = len(self.a_times)
        cut = len(self.a_times) - CAP
        self.assertEqual(self.a_times[cut - 1], self.a_times[cut])  # a pair at the backwards cut
        r = self.get(f"{T}/{self.EID}", status=206, lastN=last_n)
        got = r.json()
        a, b = self.times(got, "a"), self.times(got, "b")
        self.assertEqual(a, self.a_times[cut + 1:])  # the newest, without the split pair
        self.assertEqual(b, [t for t in self.b_times if t >= a[0]])
        self.assertLess(len(b), len(self.b_times))
        # the range runs from the newest instance of the answer (here one of `b`) back
        newest = max(self.a_times[-1], self.b_times[-1])
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(newest)}-{iso(a[0])}/{last_n}")
        # the next page backwards: before the range's end
        r2 = self.get(f"{T}/{self.EID}", lastN=last_n, timerel="before", timeAt=iso(a[0]))
        self.assertIsNone(r2.header("Content-Range"))
        rest = r2.json()
        self.assertEqual(self.times(rest, "a") + a, self.a_times)
        self.assertEqual(self.times(rest, "b") + b, self.b_times)
        # with timerel=before the range starts at timeAt
        r = self.get(f"{T}/{self.EID}", status=206, lastN=last_n, attrs="a", timerel="before",
                     timeAt=iso(self.a_times[-1] + 1))
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.a_times[-1] + 1)}-{iso(a[0])}/{last_n}")

    def test_temporal_values_are_cut_alike(self):
        r = self.get(f"{T}/{self.EID}", status=206, format="temporalValues", timerel="after", timeAt=iso(self.BASE))
        got = r.json()
        self.assertEqual([ms(t) for _, t in got["a"]["values"]], self.a_times[:CAP - 1])
        end = self.a_times[CAP - 2]
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.BASE)}-{iso(end)}/*")
        self.assertEqual([ms(t) for _, t in got["b"]["values"]], [t for t in self.b_times if t <= end])

    def test_within_the_cap_is_complete(self):
        r = self.get(f"{T}/{self.EID}", lastN=3, attrs="a")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(self.times(r.json(), "a"), self.a_times[-3:])
        r = self.get(f"{T}/{self.EID}", attrs="b")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.times(r.json(), "b"), self.b_times)

    def test_query_answer_is_cut_to_one_range(self):
        other = "urn:ngsi-ld:Logger:lh2"
        if self.hub.get(f"{T}/{other}").status == 404:
            r = self.hub.post(T, {"id": other, "type": "Logger",
                                  "c": [prop(n, self.BASE + n * 50_000_000) for n in range(3)]})
            self.assertEqual(r.status, 201, r)
        r = self.get(T, status=206, type="Logger", timerel="after", timeAt=iso(self.BASE))
        got = {e["id"]: e for e in r.json()}
        a = self.times(got[self.EID], "a")
        self.assertEqual(a, self.a_times[:CAP - 1])
        self.assertEqual(r.header("Content-Range"), f"date-time {iso(self.BASE)}-{iso(a[-1])}/*")
        # the other entity's instances beyond the range are left out too (the first is within it)
        self.assertEqual(self.times(got[other], "c"), [self.BASE])

    def test_aggregation_is_never_cut(self):
        r = self.get(f"{T}/{self.EID}", format="aggregatedValues", aggrMethods="totalCount", attrs="a")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(r.json()["a"]["totalCount"][0][0], len(self.a_times))


if __name__ == "__main__":
    unittest.main()
