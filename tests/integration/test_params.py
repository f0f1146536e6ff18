"""URL parameters, error types, media types, version preference, /info and tenants over real HTTP
(GS CIM 009 v1.8.1 — §5.5.2 error types, §6.3.4 MIME types, §6.3.6 Prefer, §6.3.14 tenants,
§5.15 context source information; the per-operation parameter lists are those of ETSI's OpenAPI
description of v1.8.1)."""
import datetime
import re
import socket
import unittest

from hub import CORE_CONTEXT, Hub, HubTestCase, free_port, link_header

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
T = "/ngsi-ld/v1/temporal/entities"


def lamp(eid, v=1, **extra):
    e = {"id": eid, "type": "Lamp", "level": {"type": "Property", "value": v},
         "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [128.88, 35.23]}}}
    e.update(extra)
    return e


def sub(sid):
    return {"id": sid, "type": "Subscription", "entities": [{"type": "Lamp"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}


class UnknownParametersTest(HubTestCase):
    """§5.5.2: InvalidRequest — "The request associated to the operation is syntactically invalid
    or includes wrong content." A parameter an operation does not take (the OpenAPI lists each
    operation's parameters) is such wrong content: it is refused, never silently ignored."""

    def setUp(self):
        self.assertIn(self.hub.post(E, lamp(f"urn:ngsi-ld:Lamp:{self._testMethodName}")).status, (201, 409))
        self.eid = f"urn:ngsi-ld:Lamp:{self._testMethodName}"

    def test_query_typo_is_refused_naming_it(self):
        r = self.hub.get(f"{E}?tpye=Lamp")
        body = self.assertProblem(r, 400, "InvalidRequest")
        self.assertIn("'tpye'", body["detail"])

    def test_unknown_parameter_on_each_kind_of_operation(self):
        for method, path in (("GET", f"{E}/{self.eid}?attrz=level"),
                             ("GET", f"{S}?limitt=5"),
                             ("GET", "/ngsi-ld/v1/types?detail=true"),
                             ("GET", "/ngsi-ld/v1/attributes/level?details=true"),
                             ("GET", "/ngsi-ld/v1/jsonldContexts?kinds=Hosted"),
                             ("GET", f"{T}/{self.eid}?timerell=after"),
                             ("GET", "/ngsi-ld/v1/info/sourceIdentity?x=1")):
            with self.subTest(path=path):
                body = self.assertProblem(self.hub.request(method, path), 400, "InvalidRequest")
                name = path.split("?")[1].split("=")[0]
                self.assertIn(f"'{name}'", body["detail"])

    def test_refused_write_changes_nothing(self):
        r = self.hub.delete(f"{E}/{self.eid}?typo=1")
        self.assertProblem(r, 400, "InvalidRequest")
        self.assertEqual(self.hub.get(f"{E}/{self.eid}").status, 200)
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create?optionz=x", [lamp("urn:ngsi-ld:Lamp:neverMade")])
        self.assertProblem(r, 400, "InvalidRequest")
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:neverMade").status, 404)

    def test_listed_parameters_are_accepted(self):
        """6.3.18 (OpenAPI Query.local): "If local=true then no Context Source Registrations shall be
        considered as matching" — the hub has none, so `local` is taken and changes nothing;
        `offset` is the paging parameter of §6.3.10."""
        r = self.hub.get(f"{E}?type=Lamp&local=true&offset=0&limit=5&count=true")
        self.assertEqual(r.status, 200, r)
        self.assertIn(self.eid, [e["id"] for e in r.json()])
        self.assertEqual(self.hub.get(f"{E}/{self.eid}?local=true&options=keyValues").status, 200)
        self.assertEqual(self.hub.get(f"{S}?local=true&limit=1").status, 200)
        self.assertEqual(self.hub.get("/ngsi-ld/v1/types?details=true&local=true").status, 200)

    def test_listed_but_unimplemented_parameters_are_422(self):
        """§5.5.2 OperationNotSupported — "The operation is not supported": the `collation` of
        orderBy (code-point order only) and the `type` of the entity writes (it only disambiguates
        an id among context sources; ids are unique here) are listed but not implemented, so they
        are refused before anything is read or changed."""
        path = f"{E}?type=Lamp&orderBy=level&collation=ko"
        body = self.assertProblem(self.hub.get(path), 422, "OperationNotSupported")
        self.assertIn("collation", body["detail"])
        self.assertProblem(self.hub.delete(f"{E}/{self.eid}?type=Lamp"), 422, "OperationNotSupported")
        self.assertEqual(self.hub.get(f"{E}/{self.eid}").status, 200)
        r = self.hub.patch(f"{E}/{self.eid}?type=Lamp", {"level": {"type": "Property", "value": 9}})
        self.assertProblem(r, 422, "OperationNotSupported")
        self.assertEqual(self.hub.get(f"{E}/{self.eid}").json()["level"]["value"], 1)

    def test_own_endpoints_keep_their_parameter_handling(self):
        """The hub's own endpoints (not NGSI-LD) are not subject to the table."""
        self.assertEqual(self.hub.get("/health?verbose=1").status, 200)


class ErrorTypesTest(HubTestCase):
    def test_array_or_empty_body_is_invalid_request(self):
        """§6.3.4/§5.5.2: a body that is not the JSON object the operation takes is a syntactically
        invalid request: InvalidRequest (not BadRequestData)."""
        self.assertProblem(self.hub.post(E, [lamp("urn:ngsi-ld:Lamp:arr")]), 400, "InvalidRequest")
        self.assertProblem(self.hub.post(E, b"", content_type="application/json"), 400, "InvalidRequest")
        self.assertProblem(self.hub.post(S, [sub("urn:ngsi-ld:Subscription:arr")]), 400, "InvalidRequest")
        self.assertProblem(self.hub.post("/ngsi-ld/v1/entityOperations/create", {"id": "x"}), 400, "InvalidRequest")

    def test_bad_format_or_options_is_invalid_request(self):
        self.assertProblem(self.hub.get(f"{E}?type=Lamp&format=pretty"), 400, "InvalidRequest")
        self.assertProblem(self.hub.get(f"{E}?type=Lamp&options=fancy"), 400, "InvalidRequest")

    def test_bad_id_pattern_and_unknown_georel_are_bad_request_data(self):
        """§5.5.2 BadRequestData — "The request includes input data which does not meet the
        requirements of the operation": a regular expression that does not compile, a georel that
        names no relation."""
        self.assertProblem(self.hub.get(f"{E}?idPattern=(unclosed"), 400, "BadRequestData")
        r = self.hub.get(f"{E}?type=Lamp&georel=nearby&geometry=Point&coordinates=[128.88,35.23]")
        body = self.assertProblem(r, 400, "BadRequestData")
        self.assertIn("georel", body["detail"])

    def test_empty_pick_item_is_bad_request_data(self):
        self.assertProblem(self.hub.get(f"{E}?type=Lamp&pick=id,,type"), 400, "BadRequestData")

    def test_unreachable_subscription_jsonld_context_is_refused(self):
        """§5.2.12 jsonldContext — the @context notifications are rendered with: one that cannot be
        retrieved is refused when the subscription is created or updated (LdContextNotAvailable),
        and nothing is stored or changed."""
        dead = f"http://127.0.0.1:{free_port()}/notify-ctx.jsonld"
        sid = "urn:ngsi-ld:Subscription:deadContext"
        body = self.assertProblem(self.hub.post(S, dict(sub(sid), jsonldContext=dead)), 504, "LdContextNotAvailable")
        self.assertIn("jsonldContext", body["detail"])
        self.assertProblem(self.hub.get(f"{S}/{sid}"), 404, "ResourceNotFound")
        self.assertEqual(self.hub.post(S, sub(sid)).status, 201)
        r = self.hub.patch(f"{S}/{sid}", {"jsonldContext": dead})
        self.assertProblem(r, 504, "LdContextNotAvailable")
        self.assertNotIn("jsonldContext", self.hub.get(f"{S}/{sid}").json())
        self.assertEqual(self.hub.patch(f"{S}/{sid}", {"jsonldContext": CORE_CONTEXT}).status, 204)

    def test_unreachable_context_is_504(self):
        """v1.9.1 §5.5.2: LdContextNotAvailable maps to HTTP 504 (the OpenAPI's GatewayTimeout:
        "It is used when re-downloading fails")."""
        dead = f"http://127.0.0.1:{free_port()}/ctx.jsonld"
        r = self.hub.get(f"{E}?type=Lamp", headers=link_header(dead))
        self.assertProblem(r, 504, "LdContextNotAvailable")

    def test_no_content_has_no_body_and_no_content_length(self):
        """RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response
        with a status code of 1xx (Informational) or 204 (No Content)"."""
        eid = "urn:ngsi-ld:Lamp:noContent"
        self.assertEqual(self.hub.post(E, lamp(eid)).status, 201)
        body = b'{"level": {"type": "Property", "value": 2}}'
        raw = (f"PATCH {E}/{eid}/attrs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", self.hub.port), timeout=10) as s:
            s.sendall(raw)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 204"), head)
        self.assertNotIn(b"content-length", head.lower())
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertEqual(rest, b"")


class MediaTypesTest(HubTestCase):
    def test_geojson_only_for_entities(self):
        """§6.3.4 / OpenAPI: application/geo+json is a representation of Entities (retrieve and
        query); for other resources an Accept that allows only it cannot be satisfied: 406."""
        eid = "urn:ngsi-ld:Lamp:geo"
        self.assertEqual(self.hub.post(E, lamp(eid)).status, 201)
        geo = {"Accept": "application/geo+json"}
        r = self.hub.get(f"{E}/{eid}", headers=geo)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["type"], "Feature")
        for path in ("/ngsi-ld/v1/types", "/ngsi-ld/v1/attributes", S, f"{T}/{eid}",
                     "/ngsi-ld/v1/info/sourceIdentity"):
            with self.subTest(path=path):
                self.assertProblem(self.hub.get(path, headers=geo), 406)
        # JSON is still chosen when the client also accepts it
        r = self.hub.get("/ngsi-ld/v1/types", headers={"Accept": "application/geo+json, application/json;q=0.5"})
        self.assertEqual(r.status, 200, r)

    def test_merge_patch_on_patch_operations(self):
        """§6.3.4: application/merge-patch+json (IETF RFC 7396) is accepted for PATCH requests."""
        eid = "urn:ngsi-ld:Lamp:mergePatch"
        self.assertEqual(self.hub.post(E, lamp(eid)).status, 201)
        mp = "application/merge-patch+json"
        r = self.hub.patch(f"{E}/{eid}/attrs", {"level": {"type": "Property", "value": 5}}, content_type=mp)
        self.assertEqual(r.status, 204, r)
        r = self.hub.patch(f"{E}/{eid}/attrs/level", {"value": 6}, content_type=mp)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["level"]["value"], 6)
        sid = "urn:ngsi-ld:Subscription:mergePatch"
        self.assertEqual(self.hub.post(S, sub(sid)).status, 201)
        r = self.hub.patch(f"{S}/{sid}", {"description": "merged"}, content_type=mp)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.hub.get(f"{S}/{sid}").json()["description"], "merged")
        # not on POST
        r = self.hub.post(E, lamp("urn:ngsi-ld:Lamp:mpPost"), content_type=mp)
        self.assertProblem(r, 415)


class PreferTest(HubTestCase):
    """§6.3.6 / §4.3.6.8: a client states the NGSI-LD version it understands with the HTTP header
    `Prefer: ngsi-ld=<major.minor>`; the answer names the version it conforms to in
    `Preference-Applied` (RFC 7240 §3: only for a preference that was applied)."""

    def applied(self, prefer):
        r = self.hub.get(f"{E}?type=Lamp&limit=1", headers={"Prefer": prefer})
        self.assertEqual(r.status, 200, r)
        return r.header("Preference-Applied")

    def test_version_preference(self):
        self.assertEqual(self.applied("ngsi-ld=1.8"), "ngsi-ld=1.8")
        self.assertEqual(self.applied("NGSI-LD=1.8"), "ngsi-ld=1.8")
        self.assertEqual(self.applied('ngsi-ld="1.9"'), "ngsi-ld=1.8")
        self.assertEqual(self.applied('return=minimal, ngsi-ld="1.8.1"; strict'), "ngsi-ld=1.8")

    def test_preference_not_applied(self):
        """A version before 1.8 is not served (payloads are not rewritten to older forms), nor is a
        malformed one: no Preference-Applied."""
        for prefer in ("ngsi-ld=1.6", "ngsi-ld=2", "ngsi-ld=banana", "return=minimal", "ngsi-ld"):
            with self.subTest(prefer=prefer):
                self.assertIsNone(self.applied(prefer))
        self.assertIsNone(self.hub.get(f"{E}?type=Lamp").header("Preference-Applied"))

    def test_on_errors_too(self):
        r = self.hub.get(f"{E}/urn:ngsi-ld:Lamp:none", headers={"Prefer": "ngsi-ld=1.8"})
        self.assertProblem(r, 404, "ResourceNotFound")
        self.assertEqual(r.header("Preference-Applied"), "ngsi-ld=1.8")


class InfoTest(HubTestCase):
    def identity(self, headers=None):
        r = self.hub.get("/ngsi-ld/v1/info/sourceIdentity", headers=headers)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_source_identity(self):
        """§5.2.40 ContextSourceIdentity: "id", "type", "contextSourceUpTime" ("Total Duration that
        the Context Source has been available"), "contextSourceTimeAt" ("Current time observed at
        the Context Source") and "contextSourceAlias" ("A unique id for a Context Source ... In
        the multi-tenancy use case, this id shall be used to identify a specific Tenant")."""
        a = self.identity()
        self.assertEqual(a["type"], "ContextSourceIdentity")
        self.assertRegex(a["id"], r"^urn:ngsi-ld:ContextSource:[0-9a-f-]{36}$")
        self.assertRegex(a["contextSourceUpTime"], r"^P(\d+D)?T(\d+H)?(\d+M)?(\d+S)?$")
        at = datetime.datetime.fromisoformat(a["contextSourceTimeAt"].replace("Z", "+00:00"))
        self.assertLess(abs((datetime.datetime.now(datetime.timezone.utc) - at).total_seconds()), 60)
        self.assertTrue(a["contextSourceAlias"])
        self.assertEqual(self.identity()["id"], a["id"])
        # another tenant: the same source, another alias
        self.assertEqual(self.hub.post(E, lamp("urn:ngsi-ld:Lamp:infoT"), headers={"NGSILD-Tenant": "infoT"}).status, 201)
        b = self.identity({"NGSILD-Tenant": "infoT"})
        self.assertEqual(b["id"], a["id"])
        self.assertNotEqual(b["contextSourceAlias"], a["contextSourceAlias"])
        # JSON-LD: the @context is in the body
        r = self.hub.get("/ngsi-ld/v1/info/sourceIdentity", headers={"Accept": "application/ld+json"})
        self.assertEqual(r.status, 200, r)
        self.assertIn("@context", r.json())

    def test_unknown_tenant(self):
        r = self.hub.get("/ngsi-ld/v1/info/sourceIdentity", headers={"NGSILD-Tenant": "noSuchInfo"})
        self.assertProblem(r, 404, "NonexistentTenant")

    def test_conformance(self):
        r = self.hub.get("/ngsi-ld/v1/info/conformance")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["type"], "ConformanceInformation")
        self.assertEqual(body["ngsildVersion"], "1.8")
        self.assertIn("GET /ngsi-ld/v1/entities", body["operations"])
        self.assertIn("GET /ngsi-ld/v1/info/sourceIdentity", body["operations"])


class IdentityPersistenceTest(unittest.TestCase):
    def test_source_id_survives_restart(self):
        """§5.2.40: the id "uniquely defines the Context Source itself" — the same after a restart."""
        with Hub() as hub:
            first = hub.get("/ngsi-ld/v1/info/sourceIdentity").json()["id"]
            hub.stop()
            hub.port = free_port()
            hub.start()
            self.assertEqual(hub.get("/ngsi-ld/v1/info/sourceIdentity").json()["id"], first)


class HostedContextTenantPersistenceTest(unittest.TestCase):
    def test_hosted_context_keeps_its_tenant_across_restart(self):
        with Hub() as hub:
            a = {"NGSILD-Tenant": "keepCtx"}
            self.assertEqual(hub.post(E, lamp("urn:ngsi-ld:Lamp:keep"), headers=a).status, 201)
            r = hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"glow": "https://example.org/glow"}}, headers=a)
            self.assertEqual(r.status, 201, r)
            url = r.header("Location")
            hub.stop()
            hub.port = free_port()
            hub.start()
            self.assertIn(url, hub.get("/ngsi-ld/v1/jsonldContexts", headers=a).json())
            self.assertNotIn(url, hub.get("/ngsi-ld/v1/jsonldContexts").json())


class TenantTest(HubTestCase):
    """OpenAPI, every NGSI-LD response: header NGSILD-Tenant — "6.3.14 Tenant specification. The
    tenant to which the NGSI-LD HTTP operation is targeted." §5.5.2 NonexistentTenant: "The
    addressed tenant does not exist" (404)."""

    def test_tenant_echoed(self):
        h = {"NGSILD-Tenant": "echoT"}
        self.assertEqual(self.hub.post(E, lamp("urn:ngsi-ld:Lamp:echo"), headers=h).header("NGSILD-Tenant"), "echoT")
        for r in (self.hub.get(f"{E}/urn:ngsi-ld:Lamp:echo", headers=h),
                  self.hub.get(f"{E}?type=Lamp", headers=h),
                  self.hub.patch(f"{E}/urn:ngsi-ld:Lamp:echo/attrs", {"level": 3}, headers=h),
                  self.hub.get(f"{E}/urn:ngsi-ld:Lamp:other", headers=h),
                  self.hub.get(S, headers=h)):
            with self.subTest(r=r):
                self.assertEqual(r.header("NGSILD-Tenant"), "echoT")
                self.assertEqual(len(r.headers_all("NGSILD-Tenant")), 1)
        self.assertIsNone(self.hub.get(f"{E}?type=Lamp").header("NGSILD-Tenant"))

    def test_nonexistent_tenant(self):
        h = {"NGSILD-Tenant": "ghost"}
        for r in (self.hub.get(f"{E}?type=Lamp", headers=h),
                  self.hub.get(f"{E}/urn:ngsi-ld:Lamp:1", headers=h),
                  self.hub.get(S, headers=h),
                  self.hub.get(f"{S}/urn:ngsi-ld:Subscription:1", headers=h),
                  self.hub.get("/ngsi-ld/v1/types", headers=h),
                  self.hub.get("/ngsi-ld/v1/jsonldContexts", headers=h),
                  self.hub.get(f"{T}?type=Lamp&timerel=after&timeAt=2020-01-01T00:00:00Z", headers=h),
                  self.hub.delete(f"{E}/urn:ngsi-ld:Lamp:1", headers=h),
                  self.hub.post("/ngsi-ld/v1/entityOperations/update", [lamp("urn:ngsi-ld:Lamp:1")], headers=h)):
            with self.subTest(r=r):
                body = self.assertProblem(r, 404, "NonexistentTenant")
                self.assertIn("ghost", body["detail"])
        # creating operations make it
        self.assertEqual(self.hub.post(S, sub("urn:ngsi-ld:Subscription:ghost"), headers=h).status, 201)
        self.assertEqual(self.hub.get(S, headers=h).status, 200)


class ContextTenantsTest(HubTestCase):
    """OpenAPI: every /jsonldContexts operation takes NGSILD-Tenant ("6.3.14 Tenant specification.
    The tenant to which the NGSI-LD HTTP operation is targeted"). A Hosted @context belongs to
    the tenant it was added in: listed, served and usable by URL there only."""

    def test_hosted_context_is_not_visible_across_tenants(self):
        a, b = {"NGSILD-Tenant": "ctxA"}, {"NGSILD-Tenant": "ctxB"}
        for h in (a, b):
            self.assertEqual(self.hub.post(E, lamp("urn:ngsi-ld:Lamp:ctx"), headers=h).status, 201)
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts",
                          {"@context": {"brightness": "https://example.org/ctxA/brightness"}}, headers=a)
        self.assertEqual(r.status, 201, r)
        url = r.header("Location")
        local_id = url.rsplit("/", 1)[1]
        # in A: listed, served, usable
        self.assertIn(url, self.hub.get("/ngsi-ld/v1/jsonldContexts", headers=a).json())
        self.assertEqual(self.hub.get(f"/ngsi-ld/v1/jsonldContexts/{local_id}", headers=a).status, 200)
        r = self.hub.get(f"{E}/urn:ngsi-ld:Lamp:ctx", headers=dict(a, **link_header(url)))
        self.assertEqual(r.status, 200, r)
        # in B and the default tenant: it does not exist
        for h in (b, {}):
            with self.subTest(h=h):
                self.assertNotIn(url, self.hub.get("/ngsi-ld/v1/jsonldContexts", headers=h).json())
                self.assertProblem(self.hub.get(f"/ngsi-ld/v1/jsonldContexts/{local_id}", headers=h), 404)
                self.assertProblem(self.hub.delete(f"/ngsi-ld/v1/jsonldContexts/{local_id}", headers=h), 404)
                r = self.hub.get(f"{E}?type=Lamp", headers=dict(h, **link_header(url)))
                self.assertProblem(r, 504, "LdContextNotAvailable")
        # adding in a tenant that does not exist is refused
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"x": "https://example.org/x"}},
                          headers={"NGSILD-Tenant": "ctxNowhere"})
        self.assertProblem(r, 404, "NonexistentTenant")


if __name__ == "__main__":
    unittest.main()
