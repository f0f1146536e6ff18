"""Distributed operations wired into the entity reads (GS CIM 009 v1.8.1 §4.3.6, §5.7.1, §5.7.2,
§6.3.17, §6.3.18) with three real cityhub processes on loopback — hub A is asked, hubs B and C
are context sources registered at A — plus small Python servers standing in for a source that
sleeps past its timeout, one that dies while answering, and one serving a user @context.

What must hold: a retrieve or a query at A answers the union of what A, B and C hold (computed
here from each hub directly), merged by the registration mode (inclusive, exclusive, redirect,
auxiliary); paging and NGSILD-Results-Count apply to the merged set; `local=true` asks nobody;
the tenant and the caller's @context reach the sources; a loop A→B→A ends through Via; a source
that fails or is too slow leaves a partial answer within the timeout with an NGSILD-Warning
naming its registration, and the next request does not ask it during its cooldown. Writes to
exclusive and redirect registrations are split and forwarded (§4.3.6.2), failures answered with
207 naming the registrationId (§5.2.17, §5.2.19); the hub's access rules apply to what it
forwards (DistributedAccessTest).
"""
import http.server
import json
import threading
import time
import unittest
from urllib.parse import quote

from hub import Hub, link_header

E = "/ngsi-ld/v1/entities"
R = "/ngsi-ld/v1/csourceRegistrations"
HUB_ARGS = ["--federation-timeout-ms", "2000", "--federation-cooldown-ms", "30000", "--remote-contexts", "true"]
USER_CTX = {"@context": {"speedy": "https://example.org/vocab#speed", "Racer": "https://example.org/vocab#Racer"}}


class SideServer:
    """A loopback HTTP server: `behaviour` is "sleep" (answers [] after `delay` s), "die" (reads the
    request and closes the connection without an answer), "half" (starts a 200 answer and closes
    the connection in the middle of its body) or "context" (serves USER_CTX).
    Counts the requests it got."""

    def __init__(self, behaviour, delay=5.0):
        server = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                if behaviour == "die":
                    self.close_connection = True
                    self.connection.close()
                    return
                if behaviour == "half":  # the status line and part of the body, then gone
                    self.close_connection = True
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 4000\r\n\r\n[{\"id\": \"urn:ngsi-ld:Vehicle:h")
                    self.wfile.flush()
                    self.connection.close()
                    return
                if behaviour == "sleep":
                    time.sleep(delay)
                body = json.dumps(USER_CTX if behaviour == "context" else []).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/ld+json" if behaviour == "context" else "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def tenant(name):
    return {"NGSILD-Tenant": name}


def warnings_of(r):
    return r.headers_all("NGSILD-Warning")


class DistributedReadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Hub(extra_args=HUB_ARGS).start()
        cls.b = Hub(extra_args=HUB_ARGS).start()
        cls.c = Hub(extra_args=HUB_ARGS).start()

    @classmethod
    def tearDownClass(cls):
        for h in (cls.a, cls.b, cls.c):
            h.cleanup()

    # --- helpers ---------------------------------------------------------------------------
    def put_entity(self, hub, t, entity):
        r = hub.post(E, entity, headers=tenant(t))
        self.assertEqual(r.status, 201, r)

    def register(self, t, endpoint_hub, information, mode="inclusive", **members):
        endpoint = endpoint_hub if isinstance(endpoint_hub, str) else f"http://127.0.0.1:{endpoint_hub.port}"
        body = {"type": "ContextSourceRegistration", "information": information, "endpoint": endpoint,
                "mode": mode, "tenant": t}
        body.update(members)
        r = self.a.post(R, body, headers=tenant(t))
        self.assertEqual(r.status, 201, r)
        return r.header("Location").rsplit("/", 1)[1]

    def local(self, hub, t, params):
        r = hub.get(f"{E}?{params}&local=true&limit=1000", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def union(self, t, params, hubs):
        """What the hubs hold, merged by id here: the attribute names of each entity."""
        out = {}
        for h in hubs:
            for e in self.local(h, t, params):
                out.setdefault(e["id"], set()).update(k for k in e if k not in ("id", "type"))
        return out

    def vehicles(self, t):
        for hub, eid, attrs in ((self.a, "urn:ngsi-ld:Vehicle:a1", {"speed": 10}),
                                (self.a, "urn:ngsi-ld:Vehicle:b1", {"colour": "red"}),
                                (self.b, "urn:ngsi-ld:Vehicle:b1", {"speed": 30}),
                                (self.b, "urn:ngsi-ld:Vehicle:b2", {"speed": 40}),
                                (self.c, "urn:ngsi-ld:Vehicle:c1", {"speed": 50}),
                                (self.c, "urn:ngsi-ld:Vehicle:c2", {"speed": 60})):
            entity = {"id": eid, "type": "Vehicle"}
            for k, v in attrs.items():
                entity[k] = {"type": "Property", "value": v}
            self.put_entity(hub, t, entity)
        rb = self.register(t, self.b, [{"entities": [{"type": "Vehicle"}]}])
        rc = self.register(t, self.c, [{"entities": [{"type": "Vehicle"}]}])
        return rb, rc

    # --- query and retrieve: the union ------------------------------------------------------
    def test_inclusive_query_is_the_union_of_the_sources(self):
        """§4.3.6.2: "Inclusive ... the Context Broker shall forward the request to the Context
        Source and merge the results"; §5.7.2.4: the entities matching the query. The answer at A
        is the union of A, B and C asked directly, one entity per id, attributes merged."""
        t = "dinclusive"
        rb, _ = self.vehicles(t)
        expected = self.union(t, "type=Vehicle", (self.a, self.b, self.c))
        r = self.a.get(f"{E}?type=Vehicle&limit=100", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        got = {e["id"]: set(k for k in e if k not in ("id", "type")) for e in r.json()}
        self.assertEqual(got, expected)
        self.assertEqual(got["urn:ngsi-ld:Vehicle:b1"], {"colour", "speed"})
        self.assertEqual([e["id"] for e in r.json()], sorted(expected))
        # §5.2.9 status members: the registration of B records the successful request.
        shown = self.a.get(f"{R}/{rb}", headers=tenant(t)).json()
        self.assertEqual((shown["status"], shown["timesFailed"]), ("ok", 0), shown)
        self.assertGreaterEqual(shown["timesSent"], 1)
        self.assertIn("lastSuccess", shown)

    def test_post_query_is_the_union_too(self):
        """§5.7.2 via POST /entityOperations/query (queryBatch, §6.23): the same union."""
        t = "dpostquery"
        self.vehicles(t)
        expected = self.union(t, "type=Vehicle", (self.a, self.b, self.c))
        r = self.a.post("/ngsi-ld/v1/entityOperations/query?limit=100",
                        {"type": "Query", "entities": [{"type": "Vehicle"}]}, headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["id"] for e in r.json()), sorted(expected))

    def test_paging_and_count_across_the_merged_set(self):
        """§5.7.2, §6.3.13: limit/offset page the merged set and NGSILD-Results-Count counts it
        (exact while every party returned all its matches); Link rel="next" while more follow."""
        t = "dpaging"
        self.vehicles(t)
        expected = sorted(self.union(t, "type=Vehicle", (self.a, self.b, self.c)))
        seen = []
        for offset in range(0, len(expected), 2):
            r = self.a.get(f"{E}?type=Vehicle&limit=2&offset={offset}&count=true", headers=tenant(t))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("NGSILD-Results-Count"), str(len(expected)))
            page = [e["id"] for e in r.json()]
            self.assertEqual(page, expected[offset:offset + 2])
            has_next = any('rel="next"' in v for v in r.headers_all("Link"))
            self.assertEqual(has_next, offset + 2 < len(expected), r.headers)
            seen += page
        self.assertEqual(seen, expected)
        # limit=0: no entity is returned, so overlaps are invisible and the count is the sum of the
        # parties' own counts (docs/API.md "Distributed operations").
        summed = sum(len(self.local(h, t, "type=Vehicle")) for h in (self.a, self.b, self.c))
        self.assertGreater(summed, len(expected))
        r = self.a.get(f"{E}?type=Vehicle&limit=0&count=true", headers=tenant(t))
        self.assertEqual((r.status, r.json(), r.header("NGSILD-Results-Count")), (200, [], str(summed)))

    def test_retrieve_merges_the_entity(self):
        """§5.7.1 with §4.3.6: the entity is merged from the hub and every source holding it; an
        entity only a source holds is found; one nobody holds is 404 ResourceNotFound."""
        t = "dretrieve"
        self.vehicles(t)
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:b1", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["colour"]["value"], "red")
        self.assertEqual(r.json()["speed"]["value"], 30)
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:c2?options=keyValues", headers=tenant(t))
        self.assertEqual((r.status, r.json().get("speed")), (200, 60), r)
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:none", headers=tenant(t))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound")

    def test_query_and_retrieve_keep_the_same_most_recent_instance(self):
        """§4.5.5 with §4.3.6, the hub's choice (docs/API.md): of one attribute instance two
        parties hold without observedAt, the most recently modified is kept — by a query (whose
        sources are asked for system times only for such entities, in a second request) exactly
        as by a retrieve; numbers arrive unchanged (43.462879859445884 is one Boost.JSON's own
        parser rounds wrongly)."""
        t = "dnewest"
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Vehicle:x1", "type": "Vehicle",
                                    "speed": {"type": "Property", "value": 1}})
        self.put_entity(self.c, t, {"id": "urn:ngsi-ld:Vehicle:x2", "type": "Vehicle",
                                    "speed": {"type": "Property", "value": 43.462879859445884}})
        time.sleep(0.01)
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Vehicle:x1", "type": "Vehicle",
                                    "speed": {"type": "Property", "value": 2}})
        time.sleep(0.01)
        r = self.b.patch(f"{E}/urn:ngsi-ld:Vehicle:x1/attrs", {"speed": {"type": "Property", "value": 3}},
                         headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        self.register(t, self.b, [{"entities": [{"type": "Vehicle"}]}])
        self.register(t, self.c, [{"entities": [{"type": "Vehicle"}]}])
        r = self.a.get(f"{E}?type=Vehicle&options=keyValues", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        got = {e["id"]: e["speed"] for e in r.json()}
        self.assertEqual(got["urn:ngsi-ld:Vehicle:x1"], 3, "B modified its instance last")
        self.assertEqual(r.body.count("43.462879859445884"), 1, r.body)
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:x1?options=keyValues", headers=tenant(t))
        self.assertEqual(r.json()["speed"], 3)
        r = self.a.get(f"{E}?type=Vehicle&options=sysAttrs", headers=tenant(t))
        x1 = [e for e in r.json() if e["id"] == "urn:ngsi-ld:Vehicle:x1"][0]
        self.assertEqual(x1["speed"]["value"], 3)
        self.assertIn("modifiedAt", x1["speed"])

    def test_local_true_asks_no_source(self):
        """§6.3 `local`: "If true, no Context Source Registrations shall be considered" — only A's
        entities; a value other than true/false is 400."""
        t = "dlocal"
        self.vehicles(t)
        slow = SideServer("sleep", 0)
        self.addCleanup(slow.stop)
        self.register(t, slow.url, [{"entities": [{"type": "Vehicle"}]}])
        r = self.a.get(f"{E}?type=Vehicle&local=true", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["id"] for e in r.json()), ["urn:ngsi-ld:Vehicle:a1", "urn:ngsi-ld:Vehicle:b1"])
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:c1?local=true", headers=tenant(t))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(slow.requests, 0)
        r = self.a.get(f"{E}?type=Vehicle&local=maybe", headers=tenant(t))
        self.assertEqual(r.status, 400, r)

    def test_caller_context_and_q_reach_the_sources(self):
        """§6.3.5: the caller's @context goes with the forwarded request, so a q-term of the
        caller's vocabulary selects the same attribute at the source — a Link @context and an
        inline one alike."""
        t = "dcontext"
        ctx = SideServer("context")
        self.addCleanup(ctx.stop)
        url = ctx.url + "/ctx.jsonld"
        for hub, eid, speed in ((self.a, "urn:ngsi-ld:Racer:a", 5), (self.b, "urn:ngsi-ld:Racer:b", 90),
                                (self.b, "urn:ngsi-ld:Racer:b-slow", 3)):
            r = hub.post(E, {"id": eid, "type": "Racer", "speedy": {"type": "Property", "value": speed}},
                         headers={**tenant(t), **link_header(url)})
            self.assertEqual(r.status, 201, r)
        self.register(t, self.b, [{"entities": [{"type": "https://example.org/vocab#Racer"}]}])
        r = self.a.get(f"{E}?type=Racer&q=speedy>4", headers={**tenant(t), **link_header(url)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        self.assertEqual(sorted(e["id"] for e in r.json()), ["urn:ngsi-ld:Racer:a", "urn:ngsi-ld:Racer:b"])
        self.assertEqual(r.json()[1]["speedy"]["value"], 90)
        # An inline @context (POST /entityOperations/query as application/ld+json) is hosted for
        # the caller's tenant only: without terms the sources need none and all answer; with a q
        # term the source cannot load it and is named in a warning (docs/API.md).
        body = {"@context": USER_CTX["@context"], "type": "Query", "entities": [{"type": "Racer"}]}
        r = self.a.post("/ngsi-ld/v1/entityOperations/query", body, headers=tenant(t), content_type="application/ld+json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        self.assertEqual(sorted(e["id"] for e in r.json()),
                         ["urn:ngsi-ld:Racer:a", "urn:ngsi-ld:Racer:b", "urn:ngsi-ld:Racer:b-slow"])

    def test_inline_context_with_terms_cannot_reach_a_source(self):
        """The limit docs/API.md names: an inline @context is hosted for the caller's tenant only,
        so a query whose q needs it fails at the source (504 there), which is left out and named in
        an NGSILD-Warning (§6.3.17) — the hub's own matches are answered. (Its own source hub: the
        failure starts that source's cooldown.)"""
        t = "dinline"
        d = Hub(extra_args=HUB_ARGS).start()
        self.addCleanup(d.cleanup)
        for hub, eid in ((self.a, "urn:ngsi-ld:Racer:ia"), (d, "urn:ngsi-ld:Racer:id")):
            r = hub.post(E, {"@context": USER_CTX["@context"], "id": eid, "type": "Racer",
                             "speedy": {"type": "Property", "value": 50}}, headers=tenant(t), content_type="application/ld+json")
            self.assertEqual(r.status, 201, r)
        rid = self.register(t, d, [{"entities": [{"type": "https://example.org/vocab#Racer"}]}])
        body = {"@context": USER_CTX["@context"], "type": "Query", "entities": [{"type": "Racer"}], "q": "speedy>4"}
        r = self.a.post("/ngsi-ld/v1/entityOperations/query", body, headers=tenant(t), content_type="application/ld+json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Racer:ia"])
        self.assertEqual([w.split(" ")[1] for w in warnings_of(r)], [rid], r.headers)

    # --- registration modes ---------------------------------------------------------------
    def test_exclusive_source_owns_its_attributes(self):
        """§4.3.6.2 exclusive: "the Context Source ... is the only one providing the registered
        Attributes"; the hub's other attributes stay. B's temperature is answered, A's humidity,
        not B's humidity (not registered)."""
        t = "dexclusive"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:x", "type": "Room", "humidity": {"type": "Property", "value": 40}})
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:x", "type": "Room", "temperature": {"type": "Property", "value": 21},
                                    "humidity": {"type": "Property", "value": 99}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:x", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive")
        for path in (f"{E}/urn:ngsi-ld:Room:x", f"{E}?type=Room"):
            r = self.a.get(path, headers=tenant(t))
            self.assertEqual(r.status, 200, r)
            e = r.json() if isinstance(r.json(), dict) else r.json()[0]
            self.assertEqual((e["temperature"]["value"], e["humidity"]["value"]), (21, 40), path)

    def test_redirect_source_answers_for_the_entity(self):
        """§4.3.6.2 redirect: the request is forwarded, the source answers the entity the hub does
        not hold."""
        t = "dredirect"
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:r", "type": "Room", "temperature": {"type": "Property", "value": 18}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:r", "type": "Room"}]}], mode="redirect")
        r = self.a.get(f"{E}/urn:ngsi-ld:Room:r", headers=tenant(t))
        self.assertEqual((r.status, r.json().get("temperature", {}).get("value")), (200, 18), r)
        r = self.a.get(f"{E}?id=urn:ngsi-ld:Room:r", headers=tenant(t))
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Room:r"])

    def test_auxiliary_source_only_fills_gaps(self):
        """§4.3.6.2 auxiliary: "only used if no other ... Context Source ... provides the
        information": A's name wins over C's, C's openingHours fills the gap, an entity only C
        holds is answered."""
        t = "dauxiliary"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Shop:1", "type": "Shop", "name": {"type": "Property", "value": "A"}})
        self.put_entity(self.c, t, {"id": "urn:ngsi-ld:Shop:1", "type": "Shop", "name": {"type": "Property", "value": "C"},
                                    "openingHours": {"type": "Property", "value": "9-18"}})
        self.put_entity(self.c, t, {"id": "urn:ngsi-ld:Shop:2", "type": "Shop", "name": {"type": "Property", "value": "C2"}})
        self.register(t, self.c, [{"entities": [{"type": "Shop"}]}], mode="auxiliary", operations=["retrieveOps"])
        r = self.a.get(f"{E}?type=Shop&options=keyValues", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), [{"id": "urn:ngsi-ld:Shop:1", "type": "Shop", "name": "A", "openingHours": "9-18"},
                                    {"id": "urn:ngsi-ld:Shop:2", "type": "Shop", "name": "C2"}])

    # --- loops ------------------------------------------------------------------------------
    def test_loop_a_b_a_is_stopped_by_via(self):
        """§6.3.18: each broker adds itself to Via and does not forward a request that already
        passed it. A registers B and B registers A: a query at A ends, quickly, with both hubs'
        entities once; a request carrying A's own alias in Via is answered from A's data only."""
        t = "dloop"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Loop:a", "type": "Loop"})
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Loop:b", "type": "Loop"})
        self.register(t, self.b, [{"entities": [{"type": "Loop"}]}])
        back = {"type": "ContextSourceRegistration", "information": [{"entities": [{"type": "Loop"}]}],
                "endpoint": f"http://127.0.0.1:{self.a.port}", "tenant": t}
        self.assertEqual(self.b.post(R, back, headers=tenant(t)).status, 201)
        started = time.time()
        r = self.a.get(f"{E}?type=Loop", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        # An endless loop would end only by a timeout (2 s here), with a warning.
        self.assertEqual(warnings_of(r), [])
        self.assertLess(time.time() - started, 1.9)
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Loop:a", "urn:ngsi-ld:Loop:b"])
        alias = self.a.get("/ngsi-ld/v1/info/sourceIdentity", headers=tenant(t)).json()["contextSourceAlias"]
        r = self.a.get(f"{E}?type=Loop", headers={**tenant(t), "Via": f"1.1 {alias}"})
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Loop:a"])

    # --- failures -----------------------------------------------------------------------------
    def test_slow_source_partial_answer_then_cooldown(self):
        """§6.3.17: a source that does not answer within its management.timeout is left out, the
        answer says so in NGSILD-Warning (199, the registration id); during management.cooldown the
        next request does not ask it and says why."""
        t = "dslow"
        self.vehicles(t)
        slow = SideServer("sleep", 5.0)
        self.addCleanup(slow.stop)
        rid = self.register(t, slow.url, [{"entities": [{"type": "Vehicle"}]}],
                            management={"timeout": 600, "cooldown": 60000})
        expected = sorted(self.union(t, "type=Vehicle", (self.a, self.b, self.c)))
        started = time.time()
        r = self.a.get(f"{E}?type=Vehicle&limit=100", headers=tenant(t))
        elapsed = time.time() - started
        self.assertEqual(r.status, 200, r)
        self.assertLess(elapsed, 2.5)
        self.assertEqual(sorted(e["id"] for e in r.json()), expected)
        w = [v for v in warnings_of(r) if rid in v]
        self.assertEqual(len(w), 1, warnings_of(r))
        self.assertTrue(w[0].startswith(f"199 {rid} "), w)
        self.assertIn("timed out", w[0])
        started = time.time()
        r = self.a.get(f"{E}/urn:ngsi-ld:Vehicle:b2", headers=tenant(t))
        self.assertLess(time.time() - started, 1.0)
        self.assertEqual(r.status, 200, r)
        w = [v for v in warnings_of(r) if rid in v]
        self.assertEqual(len(w), 1, warnings_of(r))
        self.assertIn("cooling down", w[0])
        self.assertEqual(slow.requests, 1)
        # §5.2.9: the registration shows what distributed operations recorded for it.
        shown = self.a.get(f"{R}/{rid}", headers=tenant(t)).json()
        self.assertEqual((shown["status"], shown["timesFailed"]), ("failed", 1), shown)
        self.assertGreaterEqual(shown["timesSent"], 1)
        self.assertIn("lastFailure", shown)

    def test_source_dying_mid_answer_and_killed_hub(self):
        """§6.3.17: a source that closes the connection without answering, one that dies in the
        middle of its answer, and a hub that was killed are all left out with a warning naming
        their registration; the rest is answered, counted without them."""
        t = "ddead"
        self.vehicles(t)
        dying = SideServer("die")
        self.addCleanup(dying.stop)
        rid_dying = self.register(t, dying.url, [{"entities": [{"type": "Vehicle"}]}])
        half = SideServer("half")
        self.addCleanup(half.stop)
        rid_half = self.register(t, half.url, [{"entities": [{"type": "Vehicle"}]}])
        d = Hub(extra_args=HUB_ARGS).start()
        self.addCleanup(d.cleanup)
        self.put_entity(d, t, {"id": "urn:ngsi-ld:Vehicle:d1", "type": "Vehicle"})
        rid_dead = self.register(t, d, [{"entities": [{"type": "Vehicle"}]}])
        r = self.a.get(f"{E}?type=Vehicle&limit=100", headers=tenant(t))
        self.assertIn("urn:ngsi-ld:Vehicle:d1", [e["id"] for e in r.json()])
        d.kill()
        expected = sorted(self.union(t, "type=Vehicle", (self.a, self.b, self.c)))
        started = time.time()
        r = self.a.get(f"{E}?type=Vehicle&limit=100&count=true", headers=tenant(t))
        self.assertLess(time.time() - started, 3.0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["id"] for e in r.json()), expected)
        self.assertEqual(r.header("NGSILD-Results-Count"), str(len(expected)))
        named = " ".join(warnings_of(r))
        self.assertIn(rid_dying, named)
        self.assertIn(rid_half, named)
        self.assertNotIn("urn:ngsi-ld:Vehicle:h", r.body)
        self.assertIn(rid_dead, named)
        self.assertGreaterEqual(dying.requests, 1)

    # --- discovery and temporal -------------------------------------------------------------
    def test_types_and_attributes_are_united(self):
        """§5.7.5, §5.7.8 with §4.3.6: the EntityTypeList and AttributeList at A are the union of
        the hubs' own lists; details=true unites the EntityType objects by id (attributeNames
        united)."""
        t = "ddiscovery"
        self.vehicles(t)
        self.put_entity(self.c, t, {"id": "urn:ngsi-ld:Bike:1", "type": "Bike", "gear": {"type": "Property", "value": 3}})
        for path, member in (("/ngsi-ld/v1/types", "typeList"), ("/ngsi-ld/v1/attributes", "attributeList")):
            expected = set()
            for h in (self.a, self.b, self.c):
                r = h.get(path + "?local=true", headers=tenant(t))
                self.assertEqual(r.status, 200, r)
                expected.update(r.json()[member])
            r = self.a.get(path, headers=tenant(t))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(warnings_of(r), [])
            self.assertEqual(r.json()[member], sorted(expected))
        self.assertIn("Bike", self.a.get("/ngsi-ld/v1/types", headers=tenant(t)).json()["typeList"])
        r = self.a.get("/ngsi-ld/v1/types?details=true", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        vehicle = [x for x in r.json() if x["typeName"] == "Vehicle"]
        self.assertEqual(len(vehicle), 1, r.json())
        self.assertEqual(sorted(vehicle[0]["attributeNames"]), ["colour", "speed"])
        r = self.a.get("/ngsi-ld/v1/types?local=true", headers=tenant(t))
        self.assertNotIn("Bike", r.json()["typeList"])

    def test_one_types_and_one_attributes_details_are_merged(self):
        """§5.7.7 Retrieve Available Entity Type Information and §5.7.10 Available Attribute
        Information with §4.3.6 (retrieveEntityTypeInfo and retrieveAttrTypeInfo are in
        federationOps): A answers with what it and the matching sources hold — entityCount and
        attributeCount summed (each party counts its own entities), attributeDetails, attribute
        types and type names united; a name nobody holds is 404 ResourceNotFound."""
        t = "dinfo"
        self.vehicles(t)
        r = self.a.get("/ngsi-ld/v1/types/Vehicle", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        info = r.json()
        self.assertEqual(info["type"], "EntityTypeInfo")
        self.assertEqual(info["typeName"], "Vehicle")
        counts = [h.get("/ngsi-ld/v1/types/Vehicle?local=true", headers=tenant(t)).json()["entityCount"]
                  for h in (self.a, self.b, self.c)]
        self.assertEqual(counts, [2, 2, 2])
        self.assertEqual(info["entityCount"], sum(counts))
        self.assertEqual(sorted(d["attributeName"] for d in info["attributeDetails"]), ["colour", "speed"])
        self.assertEqual(self.a.get("/ngsi-ld/v1/types/Vehicle?local=true", headers=tenant(t)).json()["entityCount"], 2)

        r = self.a.get("/ngsi-ld/v1/attributes/speed", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        speed = r.json()
        self.assertEqual(speed["attributeName"], "speed")
        self.assertEqual(speed["attributeCount"], 1 + 2 + 2)
        self.assertEqual(speed["typeNames"], ["Vehicle"])
        self.assertEqual(speed["attributeTypes"], ["Property"])
        # B's own attribute, unknown to A: found through the source.
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Vehicle:b3", "type": "Vehicle",
                                    "plate": {"type": "Property", "value": "12가3456"}})
        self.assertEqual(self.a.get("/ngsi-ld/v1/attributes/plate?local=true", headers=tenant(t)).status, 404)
        r = self.a.get("/ngsi-ld/v1/attributes/plate", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["attributeCount"], 1)
        r = self.a.get("/ngsi-ld/v1/attributes/nowhere", headers=tenant(t))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound")

    def temporal_entity(self, hub, t, eid, values):
        body = {"id": eid, "type": "Meter",
                "power": [{"type": "Property", "value": v, "observedAt": at} for v, at in values]}
        r = hub.post("/ngsi-ld/v1/temporal/entities", body, headers=tenant(t))
        self.assertIn(r.status, (201, 204), r)

    def test_temporal_retrieve_and_query_merge_histories(self):
        """§5.7.3, §5.7.4 with §4.3.6: the temporal evolution at A unites the instances A and B
        hold of one entity (ordered by observedAt) and the entities of both."""
        t = "dtemporal"
        self.temporal_entity(self.a, t, "urn:ngsi-ld:Meter:1", [(1, "2026-01-01T00:00:00Z"), (3, "2026-01-03T00:00:00Z")])
        self.temporal_entity(self.b, t, "urn:ngsi-ld:Meter:1", [(2, "2026-01-02T00:00:00Z")])
        self.temporal_entity(self.b, t, "urn:ngsi-ld:Meter:2", [(7, "2026-01-02T00:00:00Z")])
        self.register(t, self.b, [{"entities": [{"type": "Meter"}]}])
        when = "timerel=after&timeAt=2025-12-31T00:00:00Z"
        r = self.a.get(f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Meter:1?{when}", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(warnings_of(r), [])
        self.assertEqual([i["value"] for i in r.json()["power"]], [1, 2, 3])
        r = self.a.get(f"/ngsi-ld/v1/temporal/entities?type=Meter&{when}&count=true", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["id"] for e in r.json()], ["urn:ngsi-ld:Meter:1", "urn:ngsi-ld:Meter:2"])
        self.assertEqual(r.header("NGSILD-Results-Count"), "2")
        r = self.a.get(f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Meter:2?{when}&local=true", headers=tenant(t))
        self.assertEqual(r.status, 404, r)
        r = self.a.get(f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Meter:2?{when}", headers=tenant(t))
        self.assertEqual((r.status, [i["value"] for i in r.json().get("power", [])]), (200, [7]), r)

    # --- writes -------------------------------------------------------------------------------
    def test_exclusive_merge_is_split(self):
        """§4.3.6.2 exclusive: "The Attributes matching to the exclusive Context Source Registration
        are then removed from the Entity Fragment" and sent to the source; the rest is written
        locally. PATCH /entities/{id} (§5.6.17) at A: temperature lands at B only, humidity at A."""
        t = "dwrite-exclusive"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:w", "type": "Room", "humidity": {"type": "Property", "value": 40}})
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:w", "type": "Room", "temperature": {"type": "Property", "value": 20}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:w", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["redirectionOps"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:w", {"temperature": {"type": "Property", "value": 30},
                                                     "humidity": {"type": "Property", "value": 50}}, headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        at_b = self.b.get(f"{E}/urn:ngsi-ld:Room:w?options=keyValues", headers=tenant(t)).json()
        self.assertEqual((at_b.get("temperature"), at_b.get("humidity")), (30, None))
        at_a = self.a.get(f"{E}/urn:ngsi-ld:Room:w?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertEqual((at_a.get("temperature"), at_a.get("humidity")), (None, 50))
        merged = self.a.get(f"{E}/urn:ngsi-ld:Room:w?options=keyValues", headers=tenant(t)).json()
        self.assertEqual((merged["temperature"], merged["humidity"]), (30, 50))

    def test_merge_whose_local_part_fails_is_207(self):
        """§5.6.17 207 / §5.2.16: when the source took its part but the hub could not write the
        rest (it does not hold the entity: 404), the answer lists the entity as a success and the
        hub's error without a registrationId."""
        t = "dwrite-localfail"
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:m", "type": "Room", "temperature": {"type": "Property", "value": 1}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:m", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["redirectionOps"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:m", {"temperature": {"type": "Property", "value": 2},
                                                     "humidity": {"type": "Property", "value": 3}}, headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["success"], ["urn:ngsi-ld:Room:m"])
        self.assertEqual(len(body["errors"]), 1, body)
        self.assertNotIn("registrationId", body["errors"][0])
        self.assertEqual(body["errors"][0]["error"]["type"], "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound")
        self.assertEqual(self.b.get(f"{E}/urn:ngsi-ld:Room:m?options=keyValues", headers=tenant(t)).json()["temperature"], 2)
        # Only the hub's part, and it fails: the hub's own error.
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:m", {"humidity": {"type": "Property", "value": 3}}, headers=tenant(t))
        self.assertEqual(r.status, 404, r)

    def test_redirect_merge_and_delete_go_to_the_source(self):
        """§4.3.6.2 redirect: the operation is forwarded and not handled locally. A merge and a
        delete at A change the entity at B; afterwards nobody holds it (404)."""
        t = "dwrite-redirect"
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:rd", "type": "Room", "temperature": {"type": "Property", "value": 5}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:rd", "type": "Room"}]}], mode="redirect",
                      operations=["redirectionOps"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:rd", {"temperature": {"type": "Property", "value": 6}}, headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.b.get(f"{E}/urn:ngsi-ld:Room:rd?options=keyValues", headers=tenant(t)).json()["temperature"], 6)
        self.assertEqual(self.a.get(f"{E}/urn:ngsi-ld:Room:rd?local=true", headers=tenant(t)).status, 404)
        r = self.a.delete(f"{E}/urn:ngsi-ld:Room:rd", headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.b.get(f"{E}/urn:ngsi-ld:Room:rd", headers=tenant(t)).status, 404)
        self.assertEqual(self.a.get(f"{E}/urn:ngsi-ld:Room:rd", headers=tenant(t)).status, 404)

    def test_failed_source_write_is_207_with_registration_id(self):
        """§5.6.17 207 MultiStatus.BatchOperationResult; §5.2.17 BatchEntityError "registrationId":
        the local part is written and listed as a success, the source that could not be reached is
        an error naming its registration; a source's own error type (404 ResourceNotFound) is kept."""
        t = "dwrite-failed"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:f", "type": "Room", "humidity": {"type": "Property", "value": 40}})
        dying = SideServer("die")
        self.addCleanup(dying.stop)
        rid = self.register(t, dying.url, [{"entities": [{"id": "urn:ngsi-ld:Room:f", "type": "Room"}], "propertyNames": ["temperature"]}],
                            mode="exclusive", operations=["redirectionOps"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:f", {"temperature": {"type": "Property", "value": 30},
                                                     "humidity": {"type": "Property", "value": 55}}, headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["success"], ["urn:ngsi-ld:Room:f"])
        self.assertEqual([(e["entityId"], e["registrationId"]) for e in body["errors"]], [("urn:ngsi-ld:Room:f", rid)])
        self.assertEqual(body["errors"][0]["error"]["status"], 503)
        at_a = self.a.get(f"{E}/urn:ngsi-ld:Room:f?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertEqual((at_a.get("humidity"), at_a.get("temperature")), (55, None))
        # A source answering an NGSI-LD error: B does not hold Room:g, so its 404 comes back typed.
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:other", "type": "Room"})
        rid_b = self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:g", "type": "Room"}]}], mode="redirect",
                              operations=["redirectionOps"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:g", {"temperature": {"type": "Property", "value": 1}}, headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.json()["success"], [])
        error = r.json()["errors"][0]
        self.assertEqual(error["registrationId"], rid_b)
        self.assertEqual(error["error"]["type"], "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound")

    def test_attribute_writes_split_and_report_per_attribute(self):
        """§5.6.2 Update and §5.6.3 Append Entity Attributes with an exclusive registration: the
        source gets its attributes, the hub the rest (204); when the source cannot be reached the
        answer is 207 UpdateResult whose notUpdated entry names the attribute and the
        registrationId (§5.2.19 NotUpdatedDetails), the hub's attribute among `updated`."""
        t = "dwrite-attrs"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:u", "type": "Room", "humidity": {"type": "Property", "value": 1}})
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:u", "type": "Room", "temperature": {"type": "Property", "value": 2}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:u", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["updateEntity", "appendAttrs"])
        r = self.a.patch(f"{E}/urn:ngsi-ld:Room:u/attrs", {"temperature": {"type": "Property", "value": 3},
                                                           "humidity": {"type": "Property", "value": 4}}, headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.b.get(f"{E}/urn:ngsi-ld:Room:u?options=keyValues", headers=tenant(t)).json()["temperature"], 3)
        local = self.a.get(f"{E}/urn:ngsi-ld:Room:u?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertEqual((local.get("humidity"), local.get("temperature")), (4, None))

        dying = SideServer("die")
        self.addCleanup(dying.stop)
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:v", "type": "Room", "humidity": {"type": "Property", "value": 1}})
        rid = self.register(t, dying.url, [{"entities": [{"id": "urn:ngsi-ld:Room:v", "type": "Room"}], "propertyNames": ["co2"]}],
                            mode="exclusive", operations=["updateEntity", "appendAttrs"])
        r = self.a.post(f"{E}/urn:ngsi-ld:Room:v/attrs", {"co2": {"type": "Property", "value": 400},
                                                          "humidity": {"type": "Property", "value": 9}}, headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual(body["updated"], ["humidity"])
        self.assertEqual([(n["attributeName"], n["registrationId"]) for n in body["notUpdated"]], [("co2", rid)])
        self.assertTrue(body["notUpdated"][0]["reason"])

    def test_single_attribute_operations_go_to_the_source(self):
        """§5.6.4 (updateAttrs), §5.6.19 (replaceAttrs), §5.6.5 (deleteAttrs) on an attribute an
        exclusive registration covers: done at the source, not here (§4.3.6.2); an attribute the
        registration does not cover stays local. A source that cannot be reached gives 207 with
        the registrationId (§5.2.19)."""
        t = "dwrite-attr"
        self.put_entity(self.a, t, {"id": "urn:ngsi-ld:Room:s", "type": "Room", "humidity": {"type": "Property", "value": 1}})
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:s", "type": "Room", "temperature": {"type": "Property", "value": 2,
                                                                                             "unitCode": "CEL"}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:s", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["updateAttrs", "replaceAttrs", "deleteAttrs"])
        path = f"{E}/urn:ngsi-ld:Room:s/attrs"
        at_b = lambda: self.b.get(f"{E}/urn:ngsi-ld:Room:s", headers=tenant(t)).json()
        self.assertEqual(self.a.patch(f"{path}/temperature", {"value": 3}, headers=tenant(t)).status, 204)
        self.assertEqual((at_b()["temperature"]["value"], at_b()["temperature"]["unitCode"]), (3, "CEL"))
        self.assertEqual(self.a.put(f"{path}/temperature", {"type": "Property", "value": 4}, headers=tenant(t)).status, 204)
        self.assertEqual((at_b()["temperature"]["value"], "unitCode" in at_b()["temperature"]), (4, False))
        self.assertEqual(self.a.patch(f"{path}/humidity", {"value": 5}, headers=tenant(t)).status, 204)
        local = self.a.get(f"{E}/urn:ngsi-ld:Room:s?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertEqual((local.get("humidity"), local.get("temperature")), (5, None))
        self.assertEqual(self.a.delete(f"{path}/temperature", headers=tenant(t)).status, 204)
        self.assertNotIn("temperature", at_b())

        dying = SideServer("die")
        self.addCleanup(dying.stop)
        rid = self.register(t, dying.url, [{"entities": [{"id": "urn:ngsi-ld:Room:s", "type": "Room"}], "propertyNames": ["co2"]}],
                            mode="exclusive", operations=["deleteAttrs"])
        r = self.a.delete(f"{path}/co2", headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.json()["updated"], [])
        self.assertEqual([(n["attributeName"], n["registrationId"]) for n in r.json()["notUpdated"]], [("co2", rid)])

    def test_create_and_replace_are_split(self):
        """§5.6.1 Create Entity and §5.6.18 Replace Entity with an exclusive registration: the
        registered attribute is created/replaced at the source, the entity with the rest here;
        the merged entity shows both."""
        t = "dwrite-create"
        self.put_entity(self.b, t, {"id": "urn:ngsi-ld:Room:other", "type": "Room"})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:c", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["redirectionOps"])
        r = self.a.post(E, {"id": "urn:ngsi-ld:Room:c", "type": "Room", "temperature": {"type": "Property", "value": 20},
                            "humidity": {"type": "Property", "value": 30}}, headers=tenant(t))
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.header("Location").endswith("/urn:ngsi-ld:Room:c"), r.headers)
        at_b = self.b.get(f"{E}/urn:ngsi-ld:Room:c?options=keyValues", headers=tenant(t)).json()
        self.assertEqual((at_b.get("temperature"), at_b.get("humidity")), (20, None))
        local = self.a.get(f"{E}/urn:ngsi-ld:Room:c?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertEqual((local.get("temperature"), local.get("humidity")), (None, 30))
        r = self.a.put(f"{E}/urn:ngsi-ld:Room:c", {"type": "Room", "temperature": {"type": "Property", "value": 25},
                                                   "humidity": {"type": "Property", "value": 35}}, headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        merged = self.a.get(f"{E}/urn:ngsi-ld:Room:c?options=keyValues", headers=tenant(t)).json()
        self.assertEqual((merged["temperature"], merged["humidity"]), (25, 35))
        local = self.a.get(f"{E}/urn:ngsi-ld:Room:c?options=keyValues&local=true", headers=tenant(t)).json()
        self.assertNotIn("temperature", local)

    def test_batch_writes_forward_the_covered_parts(self):
        """§5.6.8–5.6.10, §5.6.20: "If any of the entities matches to a registration, the relevant
        parts of the request are forwarded as a distributed operation"; errors of a distributed
        operation come back in the BatchOperationResult with their registrationId (§5.2.17)."""
        t = "dwrite-batch"
        for i in (1, 2):
            self.put_entity(self.a, t, {"id": f"urn:ngsi-ld:Room:b{i}", "type": "Room", "humidity": {"type": "Property", "value": 1}})
            self.put_entity(self.b, t, {"id": f"urn:ngsi-ld:Room:b{i}", "type": "Room", "temperature": {"type": "Property", "value": 1}})
        self.register(t, self.b, [{"entities": [{"id": "urn:ngsi-ld:Room:b1", "type": "Room"}], "propertyNames": ["temperature"]}],
                      mode="exclusive", operations=["mergeBatch", "updateBatch", "deleteBatch"])
        batch = [{"id": f"urn:ngsi-ld:Room:b{i}", "type": "Room", "temperature": {"type": "Property", "value": 10 + i},
                  "humidity": {"type": "Property", "value": 20 + i}} for i in (1, 2)]
        r = self.a.post("/ngsi-ld/v1/entityOperations/merge", batch, headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        at = lambda hub, i, local="": hub.get(f"{E}/urn:ngsi-ld:Room:b{i}?options=keyValues{local}", headers=tenant(t)).json()
        self.assertEqual(at(self.b, 1)["temperature"], 11)                  # covered: at the source
        self.assertNotIn("temperature", at(self.a, 1, "&local=true"))
        self.assertEqual(at(self.a, 1, "&local=true")["humidity"], 21)
        self.assertEqual(at(self.a, 2, "&local=true")["temperature"], 12)   # not covered: here
        self.assertEqual(at(self.b, 2)["temperature"], 1)

        dying = SideServer("die")
        self.addCleanup(dying.stop)
        rid = self.register(t, dying.url, [{"entities": [{"id": "urn:ngsi-ld:Room:b2", "type": "Room"}], "propertyNames": ["co2"]}],
                            mode="exclusive", operations=["updateBatch"])
        r = self.a.post("/ngsi-ld/v1/entityOperations/update",
                        [{"id": "urn:ngsi-ld:Room:b2", "type": "Room", "co2": {"type": "Property", "value": 400},
                          "humidity": {"type": "Property", "value": 5}}], headers=tenant(t))
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.json()["success"], ["urn:ngsi-ld:Room:b2"])
        self.assertEqual([(e["entityId"], e.get("registrationId")) for e in r.json()["errors"]], [("urn:ngsi-ld:Room:b2", rid)])
        self.assertEqual(at(self.a, 2, "&local=true")["humidity"], 5)

        r = self.a.post("/ngsi-ld/v1/entityOperations/delete", ["urn:ngsi-ld:Room:b1"], headers=tenant(t))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.b.get(f"{E}/urn:ngsi-ld:Room:b1", headers=tenant(t)).status, 404)
        self.assertEqual(self.a.get(f"{E}/urn:ngsi-ld:Room:b1?local=true", headers=tenant(t)).status, 404)

    def test_csf_selects_the_registrations_asked(self):
        """§4.9, §5.7.2 `csf`: "Context Source filter" — the q-language over the registrations'
        members and own properties selects which registrations take part: tier>=2 keeps C, not B;
        an invalid csf is 400."""
        t = "dcsf"
        self.vehicles(t)
        r = self.a.get(f"{R}?type=Vehicle", headers=tenant(t))
        for reg in r.json():
            tier = 1 if reg["endpoint"].endswith(str(self.b.port)) else 2
            self.assertEqual(self.a.patch(f"{R}/{reg['id']}", {"tier": tier}, headers=tenant(t)).status, 204)
        expected = sorted(self.union(t, "type=Vehicle", (self.a, self.c)))
        r = self.a.get(f"{E}?type=Vehicle&csf=tier>=2&limit=100", headers=tenant(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["id"] for e in r.json()), expected)
        self.assertNotIn("urn:ngsi-ld:Vehicle:b2", [e["id"] for e in r.json()])
        r = self.a.get(f"{E}?type=Vehicle&csf=tier>>2", headers=tenant(t))
        self.assertEqual(r.status, 400, r)

    def test_order_by_with_sources_is_not_supported(self):
        """orderBy (v1.9.1 §4.23) is applied to the hub's own entities only: with registered sources
        taking part it is 422 OperationNotSupported (local=true still orders)."""
        t = "dorder"
        self.vehicles(t)
        r = self.a.get(f"{E}?type=Vehicle&orderBy=speed", headers=tenant(t))
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported")
        r = self.a.get(f"{E}?type=Vehicle&orderBy=speed&local=true", headers=tenant(t))
        self.assertEqual(r.status, 200, r)


class DistributedAccessTest(unittest.TestCase):
    """The hub forwards with its own credentials, so its access rules (SECURITY.md) apply to what it
    forwards: a forwarded write needs the caller's right to write that attribute (403 before
    anything is sent), a merged entity is shown through the caller's read rules, and histories
    merged as JSON are not taken from sources for a caller whose reads are restricted."""

    POLICY = {"rules": [
        {"effect": "allow", "roles": ["room-app"], "operations": ["read", "write"], "types": ["Room"],
         "attrs": ["humidity"]},
        {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["Room"], "attrs": ["temperature"]},
    ]}
    T = "dacl"
    ADMIN = ("ops", "dacl:admin")
    APP = ("app", "dacl:room-app")
    READER = ("citizen", "dacl:reader")

    @classmethod
    def setUpClass(cls):
        from guarded_hub import GuardedHub
        cls.guarded = GuardedHub("cityhub-dacl-", cls.POLICY, extra_args=HUB_ARGS).start()
        cls.b = Hub(extra_args=HUB_ARGS).start()

    @classmethod
    def tearDownClass(cls):
        cls.guarded.cleanup()
        cls.b.cleanup()

    def call(self, method, path, who, body=None):
        return self.guarded.call(method, path, who, body=body, tenant=self.T)

    def test_forwarded_writes_and_reads_follow_the_callers_rights(self):
        rid = "urn:ngsi-ld:ContextSourceRegistration:dacl"
        r = self.call("POST", E, self.ADMIN, {"id": "urn:ngsi-ld:Room:a", "type": "Room",
                                              "humidity": {"type": "Property", "value": 40,
                                                           "observedAt": "2026-01-01T00:00:00Z"}})
        self.assertEqual(r.status, 201, r)
        r = self.b.post(E, {"id": "urn:ngsi-ld:Room:a", "type": "Room",
                            "temperature": {"type": "Property", "value": 20, "observedAt": "2026-01-01T00:00:00Z"}},
                        headers=tenant(self.T))
        self.assertEqual(r.status, 201, r)
        reg = {"id": rid, "type": "ContextSourceRegistration", "mode": "exclusive", "tenant": self.T,
               "information": [{"entities": [{"id": "urn:ngsi-ld:Room:a", "type": "Room"}], "propertyNames": ["temperature"]}],
               "endpoint": f"http://127.0.0.1:{self.b.port}", "operations": ["redirectionOps", "retrieveTemporal"]}
        self.assertEqual(self.call("POST", R, self.ADMIN, reg).status, 201)
        at_b = lambda: self.b.get(f"{E}/urn:ngsi-ld:Room:a?options=keyValues", headers=tenant(self.T)).json()

        r = self.call("PATCH", f"{E}/urn:ngsi-ld:Room:a", self.APP, {"temperature": {"type": "Property", "value": 99}})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(at_b()["temperature"], 20)
        r = self.call("PATCH", f"{E}/urn:ngsi-ld:Room:a/attrs/temperature", self.APP, {"value": 99})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(at_b()["temperature"], 20)
        r = self.call("PATCH", f"{E}/urn:ngsi-ld:Room:a", self.ADMIN, {"temperature": {"type": "Property", "value": 21}})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(at_b()["temperature"], 21)

        r = self.call("GET", f"{E}/urn:ngsi-ld:Room:a?options=keyValues", self.ADMIN)
        self.assertEqual((r.status, r.json().get("temperature"), r.json().get("humidity")), (200, 21, 40), r)
        r = self.call("GET", f"{E}/urn:ngsi-ld:Room:a?options=keyValues", self.READER)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("temperature", r.json())
        self.assertEqual(r.json().get("humidity"), 40)

        when = "timerel=after&timeAt=2020-01-01T00:00:00Z"
        r = self.call("GET", f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Room:a?{when}", self.ADMIN)
        self.assertEqual(r.status, 200, r)
        self.assertIn("temperature", r.json())
        r = self.call("GET", f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Room:a?{when}", self.READER)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("temperature", r.json())
        self.assertIn("humidity", r.json())


if __name__ == "__main__":
    unittest.main()
