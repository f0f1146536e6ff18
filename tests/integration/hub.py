"""Test harness: starts a real `cityhub serve` process on loopback and talks HTTP to it.

The binary comes from $CITYHUB_BIN (set by ctest), the shared test data from $CITYHUB_SHARED.
Every Hub gets its own free port and its own temporary data directory, so tests can run in
parallel and never see each other's data. Only the Python standard library is used.
A hub started with --tls-cert-file is reached over HTTPS by passing its CA as `ca_file`.

With CITYHUB_TEST_STORE=postgres (the integration-pg.* tests) every hub keeps its data in
PostgreSQL instead: a database of its own on the tests' server (CITYHUB_TEST_PG_DIR), one per data
directory, so a hub restarted on its directory finds its data again.

The tests' receivers, @context servers, identity providers and MQTT brokers listen on 127.0.0.1,
which the hub's outbound address policy refuses by default; so every Hub is started with
`--outbound-allow 127.0.0.0/8,::1` (LOOPBACK_ALLOWED) unless its extra_args give their own
--outbound-allow, or it is made with allow_loopback=False (the default policy, as an operator
gets it; HubTestCase.allow_loopback likewise).
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("CITYHUB_BIN", os.path.join(os.path.dirname(__file__), "../../build/release/cityhub"))
SHARED = os.environ.get("CITYHUB_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CONTEXT_DIR = os.path.join(SHARED, "data", "jsonld-contexts")
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
LOOPBACK_ALLOWED = ("--outbound-allow", "127.0.0.0/8,::1")
STORE = os.environ.get("CITYHUB_TEST_STORE", "rocksdb")


def postgres_store_for(data_dir):
    """The --store URI for a hub whose data directory is `data_dir`: a database on the tests'
    PostgreSQL server named after the directory, created on first use."""
    with open(os.path.join(os.environ["CITYHUB_TEST_PG_DIR"], "conninfo")) as f:
        server = f.read().strip()
    name = "cityhub_it_" + hashlib.sha1(os.path.realpath(data_dir).encode()).hexdigest()[:20]
    exists = subprocess.run(["psql", server, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {name}"], capture_output=True, check=True)
    return server.rsplit("/", 1)[0] + "/" + name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_header(url):
    return {"Link": f"<{url}>; {CONTEXT_REL}"}


def eventually(fn, timeout=10, interval=0.05):
    """Calls fn until it returns something truthy (returned) or the timeout passes (the last
    result is returned)."""
    deadline = time.time() + timeout
    while True:
        result = fn()
        if result or time.time() >= deadline:
            return result
        time.sleep(interval)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Hub:
    """A cityhub process. Use as a context manager or call start()/stop()."""

    def __init__(self, data_dir=None, extra_args=(), env=None, ca_file=None, allow_loopback=True):
        self.port = free_port()
        self.ca_file = ca_file  # set: talk HTTPS, trusting this PEM file
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="cityhub-test-")
        self.extra_args = list(extra_args)
        self.allow_loopback = allow_loopback
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(tempfile.gettempdir(), f"cityhub-{self.port}.log")

    def start(self, timeout=15):
        args = [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
                "--context-dir", CONTEXT_DIR]
        if "--remote-contexts" not in self.extra_args:  # offline unless a test opts in
            args += ["--remote-contexts", "false"]
        if self.allow_loopback and not any(a.split("=")[0] == "--outbound-allow" for a in self.extra_args):
            args += list(LOOPBACK_ALLOWED)  # the tests' servers are on 127.0.0.1
        if STORE == "postgres" and not any(a.split("=")[0] == "--store" for a in self.extra_args):
            args += ["--store", postgres_store_for(self.data_dir)]
        args += self.extra_args
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cityhub exited with {self.proc.returncode}: {self.read_log()}")
            try:
                if self.get("/health").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("cityhub did not become ready: " + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        self.log.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:  # the log is read (and shown in failures) while the hub is in use; not kept after
            os.remove(self.log_path)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- HTTP -----------------------------------------------------------------------------
    def connection(self, timeout=30):
        """A new HTTP connection to the hub, or HTTPS trusting `ca_file` if one was given."""
        if self.ca_file:
            context = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, content_type=None, timeout=30):
        conn = self.connection(timeout)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            hdrs.setdefault("Content-Type", content_type or "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read().decode(errors="replace"))
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class HubTestCase(unittest.TestCase):
    """One hub per test class (fast); tests use distinct entity ids or tenants."""

    hub_args = ()
    allow_loopback = True

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(extra_args=cls.hub_args, allow_loopback=cls.allow_loopback).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()

    def assertProblem(self, r, status, error_type=None):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(body["status"], status, r)
        self.assertIn("detail", body)
        if error_type:
            self.assertEqual(body["type"], "https://uri.etsi.org/ngsi-ld/errors/" + error_type, r)
        return body


class ReceiverTestCase(HubTestCase):
    """A HubTestCase with one notification receiver for the whole class (`self.receiver`)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from receiver import Receiver  # receiver.py is independent of this harness
        cls.receiver = Receiver().start()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.stop()
        super().tearDownClass()
