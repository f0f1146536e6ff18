"""Writes that delete and change an entity's shape, end to end (GS CIM 009 v1.8.1): the NGSI-LD
Null in update, merge, partial update and the batch operations (§5.2.1, §5.5.8, §5.5.12,
§5.6.2, §5.6.4, §5.6.17), Update and Append Attributes with new attributes, entity types and
scope (§5.6.2.4, §5.6.3.4), deleting the scope (§5.6.5.4), and what subscribers are told of
deletions (§5.8.6: attributeDeleted, deletedAt, sysAttrs, showChanges previous values).

The clause texts quoted in the docstrings are those of GS CIM 009; where v1.8.1's OpenAPI
description says less than the clause, the clause text (published with v1.9.1) is quoted."""
import time
import unittest

from hub import HubTestCase, ReceiverTestCase
from receiver import Receiver
from test_notifications import NotificationAssertions, wait_entities

E = "/ngsi-ld/v1/entities"
OPS = "/ngsi-ld/v1/entityOperations"
NULL = "urn:ngsi-ld:null"


def prop(value, **members):
    return dict({"type": "Property", "value": value}, **members)


def every_kind(eid):
    """An entity with one attribute of each NGSI-LD attribute type."""
    return {
        "id": eid, "type": "Thing",
        "p": prop(1),
        "r": {"type": "Relationship", "object": "urn:ngsi-ld:Thing:other"},
        "g": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.9, 35.2]}},
        "l": {"type": "LanguageProperty", "languageMap": {"ko": "다리", "en": "bridge"}},
        "v": {"type": "VocabProperty", "vocab": "red"},
        "j": {"type": "JsonProperty", "json": {"a": 1}},
        "lp": {"type": "ListProperty", "valueList": [1, 2]},
        "lr": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Thing:a"}]},
        "keep": prop("kept"),
    }


# The NGSI-LD Null of each attribute type, as a fragment sends it (§4.5.0, §4.5.5 / 4.6.5).
NULL_FORMS = {
    "p": NULL,  # concise: the bare NGSI-LD Null
    "r": {"type": "Relationship", "object": NULL},
    "g": {"type": "GeoProperty", "value": NULL},
    "l": {"type": "LanguageProperty", "languageMap": {"@none": NULL}},
    "v": {"type": "VocabProperty", "vocab": NULL},
    "j": {"type": "JsonProperty", "json": NULL},
    "lp": {"type": "ListProperty", "valueList": [NULL]},
    "lr": {"type": "ListRelationship", "objectList": [{"object": NULL}]},
}


class WritesTest(HubTestCase):
    def create(self, body):
        r = self.hub.post(E, body)
        self.assertEqual(r.status, 201, r)

    def fetch(self, eid):
        r = self.hub.get(f"{E}/{eid}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    # --- NGSI-LD Null --------------------------------------------------------------------
    def test_update_attrs_null_deletes_every_attribute_type(self):
        """§5.6.2.4: "If the default Attribute instance is present and the Attribute value is
        NGSI-LD Null, then the existing Attribute in the target Entity shall be deleted."
        §4.6.5: the languageMap {"@none": "urn:ngsi-ld:null"} "shall be used to represent an
        NGSI-LD Null during partial update patch and merge patch"."""
        eid = "urn:ngsi-ld:Thing:null-update"
        self.create(every_kind(eid))
        r = self.hub.patch(f"{E}/{eid}/attrs", NULL_FORMS)
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        for name in NULL_FORMS:
            self.assertNotIn(name, e)
        self.assertEqual(e["keep"]["value"], "kept")

    def test_merge_null_deletes_every_attribute_type(self):
        """§5.5.12: "For each member of the Fragment, whose value is an NGSI-LD Null, contained
        by the target, the target member is removed." (Merge Entity, §5.6.17)"""
        eid = "urn:ngsi-ld:Thing:null-merge"
        self.create(every_kind(eid))
        r = self.hub.patch(f"{E}/{eid}", NULL_FORMS)
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        for name in NULL_FORMS:
            self.assertNotIn(name, e)
        self.assertEqual(e["keep"]["value"], "kept")

    def test_merge_null_inside_a_json_object_value_and_a_language_map(self):
        """§5.5.12 EXAMPLE 2: merging {"value": {"street": "Pariser Platz", "country":
        "urn:ngsi-ld:null"}} into an address updates street and removes country, keeping city."""
        eid = "urn:ngsi-ld:Thing:null-deep"
        self.create({"id": eid, "type": "Thing",
                     "address": prop({"street": "Straße des 17. Juni", "city": "Berlin", "country": "Germany"}),
                     "name": {"type": "LanguageProperty", "languageMap": {"ko": "다리", "en": "bridge"}}})
        r = self.hub.patch(f"{E}/{eid}", {"address": prop({"street": "Pariser Platz", "country": NULL}),
                                          "name": {"type": "LanguageProperty", "languageMap": {"en": NULL, "ja": "橋"}}})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual(e["address"]["value"], {"street": "Pariser Platz", "city": "Berlin"})
        self.assertEqual(e["name"]["languageMap"], {"ko": "다리", "ja": "橋"})
        # A partial attribute update replaces the value member whole (§5.5.8: "the target member
        # value is replaced by the value given in the Fragment").
        r = self.hub.patch(f"{E}/{eid}/attrs/address", {"value": {"city": "Seoul"}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["address"]["value"], {"city": "Seoul"})

    def test_update_attrs_null_deletes_only_the_instance_with_its_dataset_id(self):
        """§5.6.2.4: "If an Attribute instance in the target Entity has the same datasetId and
        the Attribute value is NGSI-LD Null then the existing Attribute instance with the
        specified datasetId in the target Entity shall be deleted.\""""
        eid = "urn:ngsi-ld:Thing:null-ds"
        self.create({"id": eid, "type": "Thing", "temp": [
            prop(20), prop(21, datasetId="urn:ngsi-ld:Dataset:a"), prop(22, datasetId="urn:ngsi-ld:Dataset:b")]})
        r = self.hub.patch(f"{E}/{eid}/attrs", {"temp": {"type": "Property", "value": NULL,
                                                         "datasetId": "urn:ngsi-ld:Dataset:a"}})
        self.assertEqual(r.status, 204, r)
        temp = self.fetch(eid)["temp"]
        self.assertEqual(sorted(i["value"] for i in temp), [20, 22])

    def test_update_attrs_null_with_nothing_to_delete_is_not_updated(self):
        """§5.6.2.5: the answer tells "whether all the new Attributes were updated or only some
        of them": an NGSI-LD Null naming no existing instance updated nothing (207)."""
        eid = "urn:ngsi-ld:Thing:null-none"
        self.create({"id": eid, "type": "Thing", "p": prop(1)})
        r = self.hub.patch(f"{E}/{eid}/attrs", {"ghost": NULL, "p": prop(2)})
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["updated"], ["p"])
        self.assertEqual([n["attributeName"] for n in body["notUpdated"]], ["ghost"])
        self.assertIn("NGSI-LD Null", body["notUpdated"][0]["reason"])
        e = self.fetch(eid)
        self.assertNotIn("ghost", e)
        self.assertEqual(e["p"]["value"], 2)

    def test_partial_update_null_deletes_a_sub_attribute_not_the_attribute(self):
        """§5.6.4: "This operation supports the deletion of sub-Attributes but not the deletion
        of the whole Attribute itself." A whole-attribute NGSI-LD Null is 400 and changes nothing."""
        eid = "urn:ngsi-ld:Thing:null-partial"
        self.create({"id": eid, "type": "Thing", "speed": prop(50, accuracy=prop(1), unitCode="KMH")})
        r = self.hub.patch(f"{E}/{eid}/attrs/speed", {"value": 55, "accuracy": NULL})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["speed"], {"type": "Property", "value": 55, "unitCode": "KMH"})
        for body in ({"type": "Property", "value": NULL}, {"value": NULL}):
            with self.subTest(body=body):
                problem = self.assertProblem(self.hub.patch(f"{E}/{eid}/attrs/speed", body), 400, "BadRequestData")
                self.assertIn("DELETE", problem["detail"])
        self.assertEqual(self.fetch(eid)["speed"]["value"], 55)

    def test_null_is_refused_where_nothing_can_be_deleted(self):
        """§5.2.1: an NGSI-LD Null indicates a removal in a partial update or merge; "In all other
        cases, implementations shall raise an error of type BadRequestData if an NGSI-LD Null
        value is encountered." (create, replace, append, replace attribute)"""
        eid = "urn:ngsi-ld:Thing:null-refused"
        self.create({"id": eid, "type": "Thing", "p": prop(1)})
        cases = {
            "create": lambda: self.hub.post(E, {"id": "urn:ngsi-ld:Thing:null-new", "type": "Thing", "p": NULL}),
            "create relationship": lambda: self.hub.post(E, {"id": "urn:ngsi-ld:Thing:null-new", "type": "Thing",
                                                             "r": {"type": "Relationship", "object": NULL}}),
            "replace entity": lambda: self.hub.put(f"{E}/{eid}", {"type": "Thing", "p": NULL}),
            "append": lambda: self.hub.post(f"{E}/{eid}/attrs", {"p": prop(NULL)}),
            "replace attribute": lambda: self.hub.put(f"{E}/{eid}/attrs/p", {"type": "Property", "value": NULL}),
        }
        for name, call in cases.items():
            with self.subTest(name):
                problem = self.assertProblem(call(), 400, "BadRequestData")
                self.assertIn("urn:ngsi-ld:null", problem["detail"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Thing:null-new").status, 404)
        self.assertEqual(self.fetch(eid)["p"]["value"], 1)

    # --- Merge Entity URL parameters observedAt and lang (§5.6.17) ------------------------------
    def test_merge_observed_at_parameter(self):
        """v1.8.1 OpenAPI mergeEntity, Query.observedAt: "When a merge operation applies to a
        pre-existing Attribute which previously contained an "observedAt" sub-attribute, the
        value held in this query parameter shall be used if no specific "observedAt"
        sub-Attribute is found in the payload body." Per instance: one that had no observedAt,
        a new attribute, and a fragment with its own observedAt are left as written."""
        eid = "urn:ngsi-ld:Thing:merge-observed"
        gps = "urn:ngsi-ld:dataset:gps"
        self.create({"id": eid, "type": "Thing",
                     "speed": [prop(1, observedAt="2024-01-01T00:00:00Z"),
                               prop(2, datasetId=gps, observedAt="2024-01-01T00:00:00Z")],
                     "level": prop(3), "temp": prop(4, observedAt="2024-01-01T00:00:00Z")})
        r = self.hub.patch(f"{E}/{eid}?observedAt=2024-06-01T09:30:00.5%2B09:00",
                           {"speed": [prop(10), prop(20, datasetId=gps)], "level": prop(30),
                            "temp": prop(40, observedAt="2024-05-05T05:05:05Z"), "fresh": prop(50)})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        speeds = {i.get("datasetId"): i for i in e["speed"]}
        for ds in (None, gps):
            self.assertEqual(speeds[ds]["observedAt"], "2024-06-01T00:30:00.5Z", speeds[ds])
        self.assertEqual((e["speed"][0]["value"], e["level"]["value"]), (10, 30))
        self.assertNotIn("observedAt", e["level"])
        self.assertEqual(e["temp"]["observedAt"], "2024-05-05T05:05:05Z")
        self.assertNotIn("observedAt", e["fresh"])

    def test_merge_lang_parameter(self):
        """v1.8.1 OpenAPI mergeEntity lists Query.lang ("It is used to reduce languageMaps to a
        string or string array property in a single preferred language"): in a merge, a
        LanguageProperty given as a plain string is in that language and merges into the
        languageMap."""
        eid = "urn:ngsi-ld:Thing:merge-lang"
        self.create({"id": eid, "type": "Thing",
                     "name": {"type": "LanguageProperty", "languageMap": {"en": "bridge", "ko": "다리"}},
                     "motto": {"type": "LanguageProperty", "languageMap": {"en": "go"}}})
        r = self.hub.patch(f"{E}/{eid}?lang=ja", {"name": {"type": "LanguageProperty", "languageMap": "橋"},
                                                  "motto": {"type": "LanguageProperty", "value": "行け"}})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual(e["name"]["languageMap"], {"en": "bridge", "ko": "다리", "ja": "橋"})
        self.assertEqual(e["motto"]["languageMap"], {"en": "go", "ja": "行け"})

    def test_merge_observed_at_and_lang_errors(self):
        """A parameter value that is not what the OpenAPI gives (observedAt: format date-time;
        lang: a language) is 400 BadRequestData naming it, and nothing is merged."""
        eid = "urn:ngsi-ld:Thing:merge-bad"
        self.create({"id": eid, "type": "Thing", "level": prop(1, observedAt="2024-01-01T00:00:00Z")})
        for query, name in (("observedAt=yesterday", "observedAt"), ("observedAt=2024-01-01T00:00:00", "observedAt"),
                            ("lang=en,ko", "lang"), ("lang=1en", "lang")):
            with self.subTest(query=query):
                r = self.hub.patch(f"{E}/{eid}?{query}", {"level": prop(9)})
                self.assertIn(name, self.assertProblem(r, 400, "BadRequestData")["detail"])
        self.assertEqual(self.fetch(eid)["level"]["value"], 1)

    def test_batch_update_upsert_and_merge_delete_with_null(self):
        """§5.6.9, §5.6.8 (update mode), §5.6.20 apply the update and merge behaviours of §5.6.2
        / §5.6.17 to each entity, so an NGSI-LD Null deletes there too; an upsert item that
        creates (or replaces) its entity has nothing to delete: BadRequestData for that item
        (§5.2.1), the others succeed."""
        ids = [f"urn:ngsi-ld:Thing:batch-null-{k}" for k in ("upd", "ups", "mrg")]
        for eid in ids:
            self.create({"id": eid, "type": "Thing", "a": prop(1), "b": prop(2)})
        r = self.hub.post(f"{OPS}/update", [{"id": ids[0], "type": "Thing", "a": NULL}])
        self.assertEqual(r.status, 204, r)
        new_id = "urn:ngsi-ld:Thing:batch-null-new"
        r = self.hub.post(f"{OPS}/upsert?options=update",
                          [{"id": ids[1], "type": "Thing", "a": {"type": "Property", "value": NULL}},
                           {"id": new_id, "type": "Thing", "a": NULL}])
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["success"], [ids[1]])
        self.assertEqual([e["entityId"] for e in body["errors"]], [new_id])
        self.assertEqual(body["errors"][0]["error"]["type"], "https://uri.etsi.org/ngsi-ld/errors/BadRequestData")
        r = self.hub.post(f"{OPS}/merge", [{"id": ids[2], "type": "Thing", "a": NULL}])
        self.assertEqual(r.status, 204, r)
        for eid in ids:
            e = self.fetch(eid)
            self.assertNotIn("a", e, eid)
            self.assertEqual(e["b"]["value"], 2, eid)
        self.assertEqual(self.hub.get(f"{E}/{new_id}").status, 404)
        r = self.hub.post(f"{OPS}/upsert", [{"id": ids[0], "type": "Thing", "b": NULL}])  # replace mode
        self.assertEqual(r.status, 207, r)
        self.assertEqual(self.fetch(ids[0])["b"]["value"], 2)

    def test_batch_items_add_types_and_change_scope(self):
        """Batch update applies Append Attributes (§5.6.3.4: types added; "If scope is included
        in the Fragment and overwrite is allowed, the scope of the target Entity will become the
        one included"), batch merge applies Merge Entity."""
        upd, mrg = "urn:ngsi-ld:Thing:batch-scope-upd", "urn:ngsi-ld:Thing:batch-scope-mrg"
        for eid in (upd, mrg):
            self.create({"id": eid, "type": "Thing", "scope": "/Old", "a": prop(1)})
        r = self.hub.post(f"{OPS}/update", [{"id": upd, "type": "Gauge", "scope": "/New"}])
        self.assertEqual(r.status, 204, r)
        r = self.hub.post(f"{OPS}/merge", [{"id": mrg, "type": "Gauge", "scope": ["/New", "/Other"]}])
        self.assertEqual(r.status, 204, r)
        self.assertEqual((self.fetch(upd)["type"], self.fetch(upd)["scope"]), (["Thing", "Gauge"], "/New"))
        self.assertEqual((self.fetch(mrg)["type"], self.fetch(mrg)["scope"]), (["Thing", "Gauge"], ["/New", "/Other"]))

    # --- Update and Append Attributes ----------------------------------------------------
    def test_update_attrs_appends_attributes_that_do_not_exist(self):
        """§5.6.2.4: "If the target Entity does not include a matching Attribute [...] then such
        Attribute shall be appended to the target Entity." All applied: 204."""
        eid = "urn:ngsi-ld:Thing:upd-append"
        self.create({"id": eid, "type": "Thing", "a": prop(1, unitCode="KMH")})
        r = self.hub.patch(f"{E}/{eid}/attrs", {"a": prop(2), "fresh": prop("new"),
                                                "m": prop(5, datasetId="urn:ngsi-ld:Dataset:x")})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual(e["a"], {"type": "Property", "value": 2})  # replaced whole (§5.5.8 EXAMPLE 2)
        self.assertEqual(e["fresh"]["value"], "new")
        self.assertEqual(e["m"]["datasetId"], "urn:ngsi-ld:Dataset:x")

    def test_update_attrs_adds_types_and_replaces_an_existing_scope_only(self):
        """§5.6.2.4: "If type is included in the Fragment and it includes Entity Type names that
        are not yet in the target Entity, add them" and "If scope is included in the Fragment and
        the target entity includes scope, replace the scope by the one included in the Fragment,
        otherwise ignore it.\""""
        scoped, plain = "urn:ngsi-ld:Thing:upd-scoped", "urn:ngsi-ld:Thing:upd-plain"
        self.create({"id": scoped, "type": "Thing", "scope": "/Gimhae/Old", "a": prop(1)})
        self.create({"id": plain, "type": "Thing", "a": prop(1)})
        for eid in (scoped, plain):
            r = self.hub.patch(f"{E}/{eid}/attrs", {"type": ["Thing", "Sensor"], "scope": ["/Gimhae/New", "/Busan"]})
            self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(scoped)["scope"], ["/Gimhae/New", "/Busan"])
        self.assertNotIn("scope", self.fetch(plain))
        for eid in (scoped, plain):
            self.assertEqual(self.fetch(eid)["type"], ["Thing", "Sensor"])
        r = self.hub.get(f"{E}?type=Sensor&scopeQ=/Busan")
        self.assertEqual([e["id"] for e in r.json()], [scoped])

    def test_append_adds_types_and_sets_or_merges_scope(self):
        """§5.6.3.4: types not yet in the entity are added; "If scope is included in the Fragment
        and overwrite is allowed, the scope of the target Entity will become the one included in
        the Fragment. Otherwise, the Scopes in the Fragment that are not part of the value of
        scope of the target Entity will be appended\""""
        eid = "urn:ngsi-ld:Thing:app-scope"
        self.create({"id": eid, "type": "Thing", "a": prop(1)})
        r = self.hub.post(f"{E}/{eid}/attrs", {"type": "Gauge", "scope": "/Gimhae"})
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertEqual((e["type"], e["scope"]), (["Thing", "Gauge"], "/Gimhae"))
        r = self.hub.post(f"{E}/{eid}/attrs?options=noOverwrite", {"scope": ["/Gimhae", "/Busan"]})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["scope"], ["/Gimhae", "/Busan"])
        r = self.hub.post(f"{E}/{eid}/attrs", {"scope": "/Seoul"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["scope"], "/Seoul")
        self.assertProblem(self.hub.post(f"{E}/{eid}/attrs", {"scope": "no-slash"}), 400, "BadRequestData")
        self.assertEqual(self.fetch(eid)["scope"], "/Seoul")

    def test_delete_scope(self):
        """§5.6.5.4: "If the target Attribute is scope, remove the scope Attribute from the target
        Entity." Without a scope there is nothing to remove: 404 ("If the target Entity does not
        contain the target Attribute then an error of type ResourceNotFound")."""
        eid = "urn:ngsi-ld:Thing:del-scope"
        self.create({"id": eid, "type": "Thing", "scope": ["/A", "/B"], "a": prop(1)})
        r = self.hub.delete(f"{E}/{eid}/attrs/scope")
        self.assertEqual(r.status, 204, r)
        e = self.fetch(eid)
        self.assertNotIn("scope", e)
        self.assertEqual(e["a"]["value"], 1)
        self.assertProblem(self.hub.delete(f"{E}/{eid}/attrs/scope"), 404, "ResourceNotFound")

    def test_partial_update_of_scope_is_refused(self):
        """§5.6.4.4: "If the target Attribute is scope, then an error of type BadRequestData shall
        be raised.\""""
        eid = "urn:ngsi-ld:Thing:patch-scope"
        self.create({"id": eid, "type": "Thing", "scope": "/A"})
        self.assertProblem(self.hub.patch(f"{E}/{eid}/attrs/scope", {"value": "/B"}), 400, "BadRequestData")
        self.assertEqual(self.fetch(eid)["scope"], "/A")

    def test_partial_update_cannot_change_the_attribute_type(self):
        """§5.6.4.4: "If present in the provided NGSI-LD Entity Fragment, the type of the
        Attribute has to be the same as the type of the targeted Attribute fragment, i.e. it is
        not allowed to change the type of an Attribute.\""""
        eid = "urn:ngsi-ld:Thing:patch-type"
        self.create({"id": eid, "type": "Thing", "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"},
                     "speed": prop(5)})
        cases = {
            "owner": ({"type": "Property", "value": "kim"}, "it is a Relationship, the fragment a Property"),
            "speed": ({"type": "Relationship", "object": "urn:ngsi-ld:Thing:x"},
                      "it is a Property, the fragment a Relationship"),
            "speed ": ({"object": "urn:ngsi-ld:Thing:x"}, "it is a Property, the fragment a Relationship"),  # inferred
        }
        for name, (body, says) in cases.items():
            with self.subTest(name):
                r = self.hub.patch(f"{E}/{eid}/attrs/{name.strip()}", body)
                problem = self.assertProblem(r, 400, "BadRequestData")
                self.assertIn("cannot change the attribute's type", problem["detail"])
                self.assertIn(says, problem["detail"])
        e = self.fetch(eid)
        self.assertEqual(e["owner"]["type"], "Relationship")
        self.assertEqual(e["speed"], {"type": "Property", "value": 5})
        r = self.hub.patch(f"{E}/{eid}/attrs/owner", {"type": "Relationship", "object": "urn:ngsi-ld:Person:2"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fetch(eid)["owner"]["object"], "urn:ngsi-ld:Person:2")


class DeletionNotificationsTest(NotificationAssertions, ReceiverTestCase):
    """§5.8.6 on deletions. Each test uses its own entity type, so subscriptions do not mix."""

    def test_null_deletion_fires_attribute_deleted_with_previous_values(self):
        """§5.8.6: a deleted Attribute is given as a JSON object "where the value or the object is
        set to the URI "urn:ngsi-ld:null" respectively or, in case of a LanguageProperty, the
        languageMap is set to {"@none": "urn:ngsi-ld:null"}" when "notification.showChanges is
        set to true and thus a previous value or object has to be provided"."""
        t = "DelShow"
        self.subscribe("del-show", entities=[{"type": t}], notificationTrigger=["attributeDeleted"],
                       notification={"showChanges": True})
        eid = f"urn:ngsi-ld:{t}:1"
        body = every_kind(eid)
        body["type"] = t
        self.create(body)
        self.patch_attrs(eid, NULL_FORMS)
        got = wait_entities(self.receiver, "/del-show", 1)
        self.assertEqual(len(got), 1, got)
        e = got[0]
        self.assertEqual(e["p"], {"type": "Property", "value": NULL, "previousValue": 1})
        self.assertEqual(e["r"], {"type": "Relationship", "object": NULL, "previousObject": "urn:ngsi-ld:Thing:other"})
        self.assertEqual(e["g"]["previousValue"], {"type": "Point", "coordinates": [128.9, 35.2]})
        self.assertEqual(e["l"], {"type": "LanguageProperty", "languageMap": {"@none": NULL},
                                  "previousLanguageMap": {"ko": "다리", "en": "bridge"}})
        self.assertEqual(e["v"], {"type": "VocabProperty", "vocab": NULL, "previousVocab": "red"})  # compacted
        self.assertEqual(e["j"], {"type": "JsonProperty", "json": NULL, "previousJson": {"a": 1}})
        self.assertEqual(e["lp"]["previousValueList"], [1, 2])
        self.assertEqual(e["keep"]["value"], "kept")
        self.assertNotIn("previousValue", e["keep"])

    def test_show_changes_gives_previous_values_of_modified_attributes(self):
        """§5.2.14 showChanges: "the previous value (previousValue) of Properties or languageMap
        (previousLanguageMap) of Language Properties or object (previousObject) of Relationships
        is provided in addition to the current one", for modifications; per instance (datasetId)."""
        t = "ModShow"
        self.subscribe("mod-show", entities=[{"type": t}], notificationTrigger=["attributeUpdated"],
                       notification={"showChanges": True, "format": "concise"})
        eid = f"urn:ngsi-ld:{t}:1"
        self.create({"id": eid, "type": t, "v": {"type": "VocabProperty", "vocab": "red"},
                     "temp": [prop(20), prop(21, datasetId="urn:ngsi-ld:Dataset:a")]})
        self.patch_attrs(eid, {"v": {"type": "VocabProperty", "vocab": "blue"},
                               "temp": prop(31, datasetId="urn:ngsi-ld:Dataset:a")})
        e = wait_entities(self.receiver, "/mod-show", 1)[0]
        self.assertEqual(e["v"], {"vocab": "blue", "previousVocab": "red"})
        temp = {(i.get("datasetId") if isinstance(i, dict) else None): i for i in e["temp"]}
        self.assertEqual(temp["urn:ngsi-ld:Dataset:a"], {"value": 31, "datasetId": "urn:ngsi-ld:Dataset:a",
                                                        "previousValue": 21})
        default = temp[None]
        self.assertEqual(default.get("value") if isinstance(default, dict) else default, 20)
        self.assertFalse(isinstance(default, dict) and "previousValue" in default)  # unchanged instance

    def test_deleting_a_dataset_instance_fires_attribute_deleted(self):
        """§5.8.6: the deleted instance is an object because "a datasetId needs to be provided";
        deleting one instance of a multi-instance attribute is an attribute deletion (§5.6.5.4
        "remove only the target Attribute instance from the given dataset")."""
        t = "DelDs"
        self.subscribe("del-ds", entities=[{"type": t}], notificationTrigger=["attributeDeleted"])
        self.subscribe("del-ds-upd", entities=[{"type": t}], notificationTrigger=["attributeUpdated"])
        eid = f"urn:ngsi-ld:{t}:1"
        self.create({"id": eid, "type": t, "temp": [prop(20), prop(21, datasetId="urn:ngsi-ld:Dataset:a")]})
        self.write("DELETE", f"{E}/{eid}/attrs/temp?datasetId=urn:ngsi-ld:Dataset:a")
        e = wait_entities(self.receiver, "/del-ds", 1)[0]
        temp = e["temp"]
        self.assertIsInstance(temp, list)
        self.assertIn({"type": "Property", "value": 20}, temp)
        self.assertIn({"type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:a"}, temp)
        self.assertQuiet("/del-ds-upd", 0)

    def test_entity_deletion_payload_and_attribute_deleted_trigger(self):
        """§5.8.6: "If the notification was triggered by the deletion of an Entity and the
        notification.showChanges member is not set to true, only the deletedAt system property
        shall be provided. In case notification.sysAttrs is set to true, also createdAt and
        modifiedAt shall be provided." Deleting an entity deletes each of its attributes, so it
        fires attributeDeleted (of a watched attribute when watchedAttributes is given)."""
        t = "DelEnt"
        ents = [{"type": t}]
        self.subscribe("ent-plain", entities=ents, notificationTrigger=["entityDeleted"])
        self.subscribe("ent-sys", entities=ents, notificationTrigger=["entityDeleted"], notification={"sysAttrs": True})
        self.subscribe("ent-show", entities=ents, notificationTrigger=["entityDeleted"],
                       notification={"showChanges": True, "sysAttrs": True})
        self.subscribe("ent-attr", entities=ents, notificationTrigger=["attributeDeleted"])
        self.subscribe("ent-attr-other", entities=ents, watchedAttributes=["other"],
                       notificationTrigger=["attributeDeleted"])
        eid = f"urn:ngsi-ld:{t}:1"
        self.create({"id": eid, "type": t, "speed": prop(50),
                     "name": {"type": "LanguageProperty", "languageMap": {"en": "bus"}}})
        before = self.hub.get(f"{E}/{eid}?options=sysAttrs").json()
        self.write("DELETE", f"{E}/{eid}")
        plain = wait_entities(self.receiver, "/ent-plain", 1)[0]
        self.assertEqual(set(plain), {"id", "type", "deletedAt"})
        sys = wait_entities(self.receiver, "/ent-sys", 1)[0]
        self.assertEqual(set(sys), {"id", "type", "deletedAt", "createdAt", "modifiedAt"})
        self.assertEqual((sys["createdAt"], sys["modifiedAt"]), (before["createdAt"], before["modifiedAt"]))
        self.assertGreaterEqual(sys["deletedAt"], sys["modifiedAt"])
        show = wait_entities(self.receiver, "/ent-show", 1)[0]
        self.assertEqual(show["speed"]["value"], NULL)
        self.assertEqual(show["speed"]["previousValue"], 50)
        self.assertEqual(show["speed"]["deletedAt"], show["deletedAt"])
        self.assertEqual(show["speed"]["createdAt"], before["speed"]["createdAt"])
        self.assertEqual(show["name"]["languageMap"], {"@none": NULL})
        self.assertEqual(show["name"]["previousLanguageMap"], {"en": "bus"})
        attr = wait_entities(self.receiver, "/ent-attr", 1)
        self.assertEqual([e["id"] for e in attr], [eid])
        self.assertQuiet("/ent-attr-other", 0)

    def test_sys_attrs_on_a_deleted_attribute(self):
        """§5.8.6: with "notification.sysAttrs is set to true [...] the system generated
        sub-attributes (see clause 4.8) have to be provided" for a deleted attribute."""
        t = "DelSys"
        self.subscribe("del-sys", entities=[{"type": t}], notificationTrigger=["attributeDeleted"],
                       notification={"sysAttrs": True, "format": "concise"})
        self.subscribe("del-bare", entities=[{"type": t}], notificationTrigger=["attributeDeleted"],
                       notification={"format": "concise"})
        eid = f"urn:ngsi-ld:{t}:1"
        self.create({"id": eid, "type": t, "speed": prop(50), "keep": prop(1)})
        created = self.hub.get(f"{E}/{eid}?options=sysAttrs").json()["speed"]["createdAt"]
        time.sleep(0.01)
        self.write("DELETE", f"{E}/{eid}/attrs/speed")
        e = wait_entities(self.receiver, "/del-sys", 1)[0]
        self.assertEqual(set(e["speed"]), {"value", "createdAt", "modifiedAt", "deletedAt"})
        self.assertEqual(e["speed"]["value"], NULL)
        self.assertEqual(e["speed"]["createdAt"], created)
        self.assertGreater(e["speed"]["deletedAt"], created)
        bare = wait_entities(self.receiver, "/del-bare", 1)[0]
        self.assertEqual(bare["speed"], NULL)  # "only the name of the attribute as key and the URI"


if __name__ == "__main__":
    unittest.main()
