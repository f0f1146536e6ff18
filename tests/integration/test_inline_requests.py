"""Requests that never block are served on the hub's I/O threads (issue 20, point 5: "no thread
hop per request where the handler does not block", "the commit waited for without parking a
worker thread"), so they stay fast while every handler worker is busy; a request that may block
still waits for a worker.

The hub runs with a single worker, and that worker is kept busy by a request whose @context the
hub must download from a server that accepts the connection and never answers (the download's
deadline, --context-fetch-timeout-ms, is 4 s). Meanwhile:
- GET /ngsi-ld/v1/entities/{id} (on the embedded RocksDB store, no @context to fetch, no context
  source registered in the tenant) is answered at once: the I/O thread handles it;
- so is PATCH /ngsi-ld/v1/entities/{id}/attrs (§5.6.2): its 204 comes once the write is durable
  (the commit queue's sync, not a worker waiting for it) — the hub killed with SIGKILL right
  after the answer still holds the value when it starts again;
- the same retrieve with `join` (which reads further entities), or in a tenant holding a context
  source registration (GS CIM 009 §4.3.6: the retrieve may be distributed to the source), waits
  for the worker, i.e. until the download has failed.
On PostgreSQL every read is a network round trip and takes a worker: the test does not apply.
"""
import threading
import time
import unittest

from hub import Hub, STORE
from test_contexts import SilentServer  # accepts connections, never answers

FETCH_TIMEOUT_S = 4


@unittest.skipIf(STORE == "postgres", "reads on PostgreSQL are network round trips: they take a worker")
class InlineRequestsTest(unittest.TestCase):
    occupied = 0

    @classmethod
    def setUpClass(cls):
        cls.silent = SilentServer().__enter__()
        cls.hub = Hub(extra_args=["--worker-threads", "1", "--remote-contexts", "true",
                                  "--context-fetch-timeout-ms", str(FETCH_TIMEOUT_S * 1000)]).start()
        for tenant in ("", "federated"):
            headers = {"NGSILD-Tenant": tenant} if tenant else {}
            for n in ("a", "b"):
                r = cls.hub.post("/ngsi-ld/v1/entities", {
                    "id": f"urn:ngsi-ld:Spot:{n}", "type": "Spot",
                    "status": {"type": "Property", "value": "free"},
                    "next": {"type": "Relationship", "object": "urn:ngsi-ld:Spot:b"}}, headers=headers)
                assert r.status == 201, r
        # A context source registered in the tenant "federated", for another entity type: the
        # retrieves below are not forwarded to it, but a tenant with registrations is served by a
        # worker (matching them is the distributed operation's planning, which may reach out).
        r = cls.hub.post("/ngsi-ld/v1/csourceRegistrations", {
            "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Elsewhere"}]}],
            "endpoint": f"http://127.0.0.1:{cls.silent.port}"}, headers={"NGSILD-Tenant": "federated"})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()
        cls.silent.__exit__(None, None, None)

    def occupy_the_worker(self):
        """Starts a request that holds the only worker for FETCH_TIMEOUT_S; returns its thread."""
        InlineRequestsTest.occupied += 1  # a new URL each time: a failed download is remembered
        url = f"http://127.0.0.1:{self.silent.port}/never-{self.occupied}.jsonld"
        link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"'
        answer = {}

        def blocked():
            answer["r"] = self.hub.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:a", headers={"Link": link})

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.5)  # the download has begun on the worker
        return t, answer

    def timed_get(self, path, headers=None):
        start = time.monotonic()
        r = self.hub.get(path, headers=headers)
        return r, time.monotonic() - start

    def test_a_retrieve_by_id_is_answered_while_the_only_worker_is_blocked(self):
        t, blocked = self.occupy_the_worker()
        r, seconds = self.timed_get("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"]["value"], "free")
        # Also with the parameters that stay within the entity, and for an entity that is not there.
        r2, seconds2 = self.timed_get("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:a?attrs=status&options=keyValues")
        self.assertEqual(r2.json(), {"id": "urn:ngsi-ld:Spot:a", "type": "Spot", "status": "free"})
        r3, seconds3 = self.timed_get("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:none")
        self.assertEqual(r3.status, 404, r3)
        t.join()
        self.assertLess(max(seconds, seconds2, seconds3), FETCH_TIMEOUT_S / 2,
                        "the retrieves waited for the blocked worker")
        # The blocked request itself failed: its @context could not be had (the download timed out).
        self.assertEqual(blocked["r"].json()["type"], "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable")

    def test_an_attribute_update_is_answered_while_the_only_worker_is_blocked_and_is_durable(self):
        t, _ = self.occupy_the_worker()
        start = time.monotonic()
        r = self.hub.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:b/attrs",
                           {"status": {"type": "Property", "value": "occupied"}})
        seconds = time.monotonic() - start
        self.assertEqual(r.status, 204, r)
        # Errors too are answered without a worker: §5.6.2 answers 404 for an entity that is not there.
        missing = self.hub.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:none/attrs",
                                 {"status": {"type": "Property", "value": "occupied"}})
        seconds = max(seconds, time.monotonic() - start)
        t.join()
        self.assertEqual(missing.status, 404, missing)
        self.assertEqual(missing.json()["type"], "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound")
        self.assertLess(seconds, FETCH_TIMEOUT_S / 2, "the updates waited for the blocked worker")
        self.hub.kill()  # SIGKILL: nothing flushed on the way out
        self.hub.start()
        r = self.hub.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:b")
        self.assertEqual(r.json()["status"]["value"], "occupied")

    def test_requests_that_may_block_wait_for_a_worker(self):
        cases = [("join reads the linked entities", "/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:a?join=flat", {}),
                 ("a context source is registered in the tenant", "/ngsi-ld/v1/entities/urn:ngsi-ld:Spot:a",
                  {"NGSILD-Tenant": "federated"})]
        for why, path, headers in cases:
            with self.subTest(why):
                t, _ = self.occupy_the_worker()
                r, seconds = self.timed_get(path, headers)
                t.join()
                self.assertEqual(r.status, 200, r)
                self.assertGreater(seconds, FETCH_TIMEOUT_S - 1.5, "it did not wait for the worker")


if __name__ == "__main__":
    unittest.main()
