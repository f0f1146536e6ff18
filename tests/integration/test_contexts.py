"""/jsonldContexts (GS CIM 009 §5.13) and @context resolution over real HTTP: hosting, listing,
serving and deleting contexts, using a hosted context through the Link header, persistence
across a restart, unreachable contexts (504 LdContextNotAvailable — the HTTP status v1.9.1 §5.5.2 gives it —, promptly), the limits on
context URLs, inline contexts and concurrent downloads, refusal to fetch from private addresses,
and the built-in core context under all its published URLs."""
import http.server
import json
import socket
import threading
import time
import unittest

from urllib.parse import quote

from hub import Hub, HubTestCase, link_header

C = "/ngsi-ld/v1/jsonldContexts"
E = "/ngsi-ld/v1/entities"
DOC = {"@context": {"Kiosk": "https://example.org/k#Kiosk", "stock": "https://example.org/k#stock"}}


def local_id(location):
    return location.rsplit("/", 1)[1]


class ContextsTest(HubTestCase):
    def add(self, doc=DOC):
        r = self.hub.post(C, doc)
        self.assertEqual(r.status, 201, r)
        loc = r.header("Location")
        self.assertIsNotNone(loc)
        self.assertIn(f"{C}/", loc)
        return loc

    def test_add_201_and_get_document(self):
        loc = self.add()
        r = self.hub.get(f"{C}/{local_id(loc)}")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/ld+json"))
        self.assertEqual(r.json(), DOC)

    def test_list_and_details(self):
        loc = self.add({"@context": {"x": "https://example.org/x"}})
        urls = self.hub.get(C).json()
        self.assertIn(loc, urls)
        details = self.hub.get(f"{C}?details=true").json()
        mine = [d for d in details if d["URL"] == loc]
        self.assertEqual(len(mine), 1, details)
        self.assertEqual(mine[0]["kind"], "Hosted")
        self.assertEqual(mine[0]["localId"], local_id(loc))
        self.assertIn("createdAt", mine[0])
        one = self.hub.get(f"{C}/{local_id(loc)}?details=true").json()
        self.assertEqual(one["URL"], loc)
        self.assertIn(loc, self.hub.get(f"{C}?kind=Hosted").json())
        self.assertNotIn(loc, self.hub.get(f"{C}?kind=Cached").json())
        self.assertProblem(self.hub.get(f"{C}?kind=Other"), 400, "BadRequestData")
        self.assertProblem(self.hub.get(f"{C}?details=maybe"), 400)

    def test_add_invalid_400_and_415(self):
        for body in ({"nocontext": 1}, [1, 2], {"@context": 5}):
            with self.subTest(body=body):
                self.assertProblem(self.hub.post(C, body), 400)
        self.assertProblem(self.hub.post(C, b"{not json"), 400, "InvalidRequest")
        self.assertEqual(self.hub.post(C, DOC, content_type="text/plain").status, 415)

    def test_delete_204_then_404(self):
        loc = self.add({"@context": {"y": "https://example.org/y"}})
        cid = local_id(loc)
        self.assertEqual(self.hub.delete(f"{C}/{cid}").status, 204)
        self.assertProblem(self.hub.get(f"{C}/{cid}"), 404, "ResourceNotFound")
        self.assertProblem(self.hub.delete(f"{C}/{cid}"), 404, "ResourceNotFound")
        self.assertNotIn(loc, self.hub.get(C).json())

    def test_get_unknown_404(self):
        self.assertProblem(self.hub.get(f"{C}/doesnotexist"), 404, "ResourceNotFound")

    def test_hosted_context_usable_via_link(self):
        loc = self.add()
        eid = "urn:ngsi-ld:Kiosk:1"
        r = self.hub.post(E, {"id": eid, "type": "Kiosk", "stock": {"type": "Property", "value": 3}},
                          headers=link_header(loc))
        self.assertEqual(r.status, 201, r)
        plain = self.hub.get(f"{E}/{eid}").json()
        self.assertEqual(plain["type"], "https://example.org/k#Kiosk")
        self.assertEqual(plain["https://example.org/k#stock"]["value"], 3)
        compact = self.hub.get(f"{E}/{eid}", headers=link_header(loc)).json()
        self.assertEqual(compact["type"], "Kiosk")
        self.assertEqual(compact["stock"]["value"], 3)
        self.assertEqual(len(self.hub.get(f"{E}?type=Kiosk", headers=link_header(loc)).json()), 1)
        self.assertEqual(self.hub.get(f"{E}?type=Kiosk").json(), [])

    def test_inline_context_in_ld_json(self):
        eid = "urn:ngsi-ld:Kiosk:inline"
        body = dict({"id": eid, "type": "Kiosk", "stock": {"type": "Property", "value": 1}}, **DOC)
        r = self.hub.post(E, body, content_type="application/ld+json")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["type"], "https://example.org/k#Kiosk")

    def test_inline_context_becomes_implicitly_created_and_linkable(self):
        ctx = {"Tram": "https://example.org/transit#Tram", "line": "https://example.org/transit#line"}
        body = {"id": "urn:ngsi-ld:Tram:implicit1", "type": "Tram",
                "line": {"type": "Property", "value": "T1"}, "@context": ctx}
        r = self.hub.post(E, body, content_type="application/ld+json")
        self.assertEqual(r.status, 201, r)
        details = self.hub.get(C + "?kind=ImplicitlyCreated&details=true").json()
        kept = [d for d in details if self.hub.get(f"{C}/{d['localId']}").json() == {"@context": ctx}]
        self.assertEqual(len(kept), 1, details)
        self.assertEqual(kept[0]["kind"], "ImplicitlyCreated")
        url = kept[0]["URL"]
        # Its URL works as a Link context: names compact with the client's own terms.
        r = self.hub.get(f"{E}/urn:ngsi-ld:Tram:implicit1", headers=link_header(url))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["type"], "Tram")
        self.assertIn("line", r.json())
        # Not re-downloadable, but deletable.
        self.assertProblem(self.hub.delete(f"{C}/{kept[0]['localId']}?reload=true"), 400, "BadRequestData")
        self.assertEqual(self.hub.delete(f"{C}/{kept[0]['localId']}").status, 204)
        self.assertProblem(self.hub.get(f"{C}/{kept[0]['localId']}"), 404, "ResourceNotFound")

    def test_preloaded_context_offline(self):
        url = "https://smart-data-models.github.io/dataModel.Parking/context.jsonld"
        r = self.hub.post(E, {"id": "urn:ngsi-ld:OffStreetParking:1", "type": "OffStreetParking",
                              "totalSpotNumber": {"type": "Property", "value": 10}}, headers=link_header(url))
        self.assertEqual(r.status, 201, r)
        plain = self.hub.get(f"{E}/urn:ngsi-ld:OffStreetParking:1").json()
        self.assertTrue(plain["type"].startswith("https://"), plain)
        self.assertNotEqual(plain["type"], "https://uri.etsi.org/ngsi-ld/default-context/OffStreetParking")

    def test_core_context_urls_accepted_offline(self):
        eid = "urn:ngsi-ld:Kiosk:core"
        self.assertEqual(self.hub.post(E, {"id": eid, "type": "Booth"}).status, 201)
        urls = ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"] + [
            f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld" for minor in range(3, 9)]
        for url in urls:
            with self.subTest(url):
                r = self.hub.get(f"{E}/{eid}", headers=link_header(url))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["type"], "Booth")

    def test_unknown_remote_context_offline_504(self):
        r = self.hub.get(f"{E}?type=Kiosk", headers=link_header("https://example.invalid/ctx.jsonld"))
        self.assertProblem(r, 504, "LdContextNotAvailable")

    def test_context_urls_and_inline_size_are_checked(self):
        r = self.hub.get(f"{E}?type=Kiosk", headers=link_header("https://example.org/" + "x" * 3000))
        self.assertProblem(r, 400, "BadRequestData")
        self.assertIn("2048", r.json()["detail"])
        r = self.hub.get(f"{E}?type=Kiosk", headers=link_header("relative/ctx.jsonld"))
        self.assertProblem(r, 400, "BadRequestData")
        # A well-formed URL that cannot be retrieved (not http or https).
        r = self.hub.get(f"{E}?type=Kiosk", headers=link_header("urn:example:ctx"))
        self.assertProblem(r, 504, "LdContextNotAvailable")
        big = {f"t{i}": f"https://example.org/terms#t{i}" for i in range(3000)}
        body = {"id": "urn:ngsi-ld:Kiosk:big", "type": "Kiosk", "@context": big}
        r = self.hub.post(E, body, content_type="application/ld+json")
        self.assertProblem(r, 400, "BadRequestData")
        self.assertIn("65536", r.json()["detail"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Kiosk:big").status, 404)


class RemoteContextsTest(HubTestCase):
    hub_args = ("--remote-contexts", "true", "--context-fetch-timeout-ms", "1000")

    def test_unreachable_context_504_promptly(self):
        start = time.monotonic()
        r = self.hub.post(E, {"id": "urn:ngsi-ld:X:1", "type": "X"}, headers=link_header("http://127.0.0.1:9/ctx.jsonld"))
        self.assertLess(time.monotonic() - start, 3)
        self.assertProblem(r, 504, "LdContextNotAvailable")
        # A coarse reason only, never the socket error (which would tell open ports from closed).
        self.assertEqual(r.json()["detail"], "cannot retrieve @context 'http://127.0.0.1:9/ctx.jsonld': connection failed")
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:X:1").status, 404)

    def test_silent_context_server_times_out_without_blocking_others(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        accepted = []
        stop = threading.Event()

        def accept():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(srv.accept()[0])  # never answers
                except OSError:
                    pass
        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            result = {}

            def slow():
                s = time.monotonic()
                result["r"] = self.hub.get(f"{E}?type=X", headers=link_header(f"http://127.0.0.1:{port}/slow.jsonld"))
                result["t"] = time.monotonic() - s
            worker = threading.Thread(target=slow)
            worker.start()
            time.sleep(0.2)
            s = time.monotonic()
            self.assertEqual(self.hub.get("/health").status, 200)
            self.assertLess(time.monotonic() - s, 1.0)
            worker.join(10)
            self.assertProblem(result["r"], 504, "LdContextNotAvailable")
            self.assertLess(result["t"], 3)
            self.assertTrue(accepted, "the hub never connected to the context server")
        finally:
            stop.set()
            t.join()
            for c in accepted:
                c.close()
            srv.close()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __enter__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.accepted = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def _accept(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.accepted.append(self.srv.accept()[0])
            except OSError:
                pass

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for c in self.accepted:
            c.close()
        self.srv.close()


class RemoteContextLimitsTest(HubTestCase):
    hub_args = ("--remote-contexts", "true", "--context-fetch-timeout-ms", "2000")

    def test_many_slow_contexts_do_not_stall_the_hub(self):
        with SilentServer() as server:
            results = []

            def slow(i):
                s = time.monotonic()
                r = self.hub.get(f"{E}?type=X", headers=link_header(f"http://127.0.0.1:{server.port}/c{i}.jsonld"))
                results.append((r, time.monotonic() - s))
            workers = [threading.Thread(target=slow, args=(i,)) for i in range(40)]
            for w in workers:
                w.start()
            time.sleep(0.3)
            s = time.monotonic()
            self.assertEqual(self.hub.get("/health").status, 200)
            self.assertLess(time.monotonic() - s, 0.5)
            for w in workers:
                w.join(10)
            self.assertEqual(len(results), 40)
            for r, _ in results:
                self.assertProblem(r, 504, "LdContextNotAvailable")
            refused = [r for r, t in results if "too many @context downloads" in r.json()["detail"]]
            self.assertGreaterEqual(len(refused), 30)
            self.assertLessEqual(len(server.accepted), 4)


class PrivateAddressTest(HubTestCase):
    hub_args = ("--remote-contexts", "true")
    allow_loopback = False  # the default policy

    def test_private_addresses_are_not_fetched(self):
        with SilentServer() as server:
            for host in ("127.0.0.1", "localhost", "[::1]", "0.0.0.0", "10.1.2.3", "169.254.169.254", "[::ffff:127.0.0.1]"):
                with self.subTest(host=host):
                    url = f"http://{host}:{server.port}/ctx.jsonld"
                    s = time.monotonic()
                    r = self.hub.get(f"{E}?type=X", headers=link_header(url))
                    self.assertLess(time.monotonic() - s, 1.0)
                    self.assertProblem(r, 504, "LdContextNotAvailable")
                    self.assertEqual(r.json()["detail"], f"cannot retrieve @context '{url}': address not allowed by the outbound policy")
            self.assertEqual(server.accepted, [])


class ContextServer:
    """An HTTP server on 127.0.0.1 serving one JSON-LD context document at every path and
    counting the GETs it answered."""

    def __init__(self, document):
        body = json.dumps(document).encode()
        outer = self
        self.gets = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class CachedContextsPerTenantTest(HubTestCase):
    """@contexts downloaded and cached (kind Cached, §5.13.3) belong to the tenant whose request
    caused the download: §5.13 "Tenants" — @contexts are never visible across tenants."""
    hub_args = ("--remote-contexts", "true")

    def tenant(self, name):
        return {"NGSILD-Tenant": name}

    def cached(self, tenant):
        r = self.hub.get(f"{C}?kind=Cached&details=true", headers=self.tenant(tenant))
        self.assertEqual(r.status, 200, r)
        return {c["URL"]: c for c in r.json()}

    def use(self, url, tenant, eid):
        r = self.hub.post(E, {"id": eid, "type": "Kiosk"}, headers=dict(link_header(url), **self.tenant(tenant)))
        self.assertEqual(r.status, 201, r)

    def test_list_retrieve_delete_and_reload_are_per_tenant(self):
        """§5.13.3 List @contexts with kind=Cached, §5.13.4 Serve @context, §5.13.5 Delete and
        Reload @context, each in the NGSILD-Tenant of the request: a tenant sees, retrieves,
        deletes and reloads only the Cached @contexts its own requests caused to be fetched."""
        with ContextServer(DOC) as server:
            url_a, url_both = server.url("/a.jsonld"), server.url("/both.jsonld")
            self.use(url_a, "tenantA", "urn:ngsi-ld:Kiosk:a1")
            self.use(url_both, "tenantA", "urn:ngsi-ld:Kiosk:a2")
            self.use(url_both, "tenantB", "urn:ngsi-ld:Kiosk:b1")
            self.assertEqual(server.gets, 2, "the download of url_both is shared, not repeated")
            a, b = self.cached("tenantA"), self.cached("tenantB")
            self.assertEqual(set(a), {url_a, url_both})
            self.assertEqual(set(b), {url_both}, "tenantB must not see what tenantA caused to be fetched")
            self.assertNotIn(url_a, self.cached(""), "nor the default tenant")
            self.assertNotEqual(a[url_both]["localId"], b[url_both]["localId"])
            # Retrieve: by local id and by URL, only in the tenant that holds it.
            id_a = a[url_a]["localId"]
            r = self.hub.get(f"{C}/{id_a}?details=true", headers=self.tenant("tenantA"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["URL"], url_a)
            for ref in (id_a, quote(url_a, safe="")):
                with self.subTest(ref=ref):
                    self.assertProblem(self.hub.get(f"{C}/{ref}?details=true", headers=self.tenant("tenantB")),
                                       404, "ResourceNotFound")
                    self.assertProblem(self.hub.delete(f"{C}/{ref}", headers=self.tenant("tenantB")),
                                       404, "ResourceNotFound")
                    self.assertProblem(self.hub.delete(f"{C}/{ref}?reload=true", headers=self.tenant("tenantB")),
                                       404, "ResourceNotFound")
            # Reload in tenantB re-downloads and keeps B's id; A's record is untouched.
            r = self.hub.delete(f"{C}/{b[url_both]['localId']}?reload=true", headers=self.tenant("tenantB"))
            self.assertEqual(r.status, 204, r)
            self.assertEqual(server.gets, 3)
            self.assertEqual(self.cached("tenantB")[url_both]["localId"], b[url_both]["localId"])
            self.assertEqual(self.cached("tenantA")[url_both]["localId"], a[url_both]["localId"])
            # Delete in tenantA removes A's record only.
            r = self.hub.delete(f"{C}/{a[url_both]['localId']}", headers=self.tenant("tenantA"))
            self.assertEqual(r.status, 204, r)
            self.assertEqual(set(self.cached("tenantA")), {url_a})
            self.assertEqual(set(self.cached("tenantB")), {url_both})


class ContextPersistenceTest(unittest.TestCase):
    def test_hosted_context_survives_restart(self):
        with Hub() as h:
            r = h.post(C, DOC)
            self.assertEqual(r.status, 201, r)
            loc = r.header("Location")
            self.assertEqual(h.post(E, {"id": "urn:ngsi-ld:Kiosk:p", "type": "Kiosk"}, headers=link_header(loc)).status, 201)
            self.assertEqual(h.stop(), 0)
            h.start()
            # The URL embeds the listen address, which is the same after the restart.
            r = h.get(f"{C}/{local_id(loc)}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), DOC)
            self.assertIn(loc, h.get(C).json())
            r = h.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Kiosk:p", headers=link_header(loc))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["type"], "Kiosk")


if __name__ == "__main__":
    unittest.main()
