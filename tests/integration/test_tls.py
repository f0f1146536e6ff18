"""HTTPS on the hub's port (--tls-cert-file, --tls-key-file): NGSI-LD over TLS with a test CA as
the only trust, and what the TLS port does with clients that do not complete a TLS handshake —
plain HTTP, silence, half a ClientHello, TLS 1.1 — and with bad certificate or key files."""
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

from certificates import self_signed_certificate
from hub import BIN, Hub, free_port

E = "/ngsi-ld/v1/entities"
REQUEST_TIMEOUT_S = 1.0


def closed_within(sock, seconds):
    """Waits for the peer to close `sock`; returns the time it took, or None if it did not."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return None
    return time.monotonic() - start


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-tls-")
        cls.cert, cls.key = self_signed_certificate(cls.dir, "hub")
        cls.backups = os.path.join(cls.dir, "backups")
        cls.hub = Hub(extra_args=["--tls-cert-file", cls.cert, "--tls-key-file", cls.key, "--backup-dir", cls.backups,
                                  "--request-timeout-ms", str(int(REQUEST_TIMEOUT_S * 1000)),
                                  "--idle-timeout-ms", "2000"],
                      ca_file=cls.cert).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tls_context(self):
        return ssl.create_default_context(cafile=self.cert)

    def assert_serves_https(self):
        r = self.hub.get("/health")
        self.assertEqual(r.status, 200, r)

    def test_entity_created_and_read_over_https(self):
        eid = "urn:ngsi-ld:Sensor:tls1"
        r = self.hub.post(E, {"id": eid, "type": "Sensor", "level": {"type": "Property", "value": 3.5}})
        self.assertEqual(r.status, 201, r)
        r = self.hub.get(f"{E}/{eid}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["id"], r.json()["level"]["value"]), (eid, 3.5))

    def test_backup_of_a_running_hub_over_tls(self):
        target = os.path.join(self.backups, "over-tls")
        r = subprocess.run([BIN, "--listen", f"127.0.0.1:{self.hub.port}", "--data-dir", self.hub.data_dir,
                            "--backup-dir", self.backups, "--tls-cert-file", self.cert, "--tls-key-file", self.key,
                            "backup", target], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.isdir(target))

    def test_keep_alive_connection_serves_several_requests(self):
        conn = self.hub.connection(timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/health")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
            self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
        finally:
            conn.close()

    def test_start_is_logged_without_key_material(self):
        log = self.hub.read_log()
        self.assertIn(f"TLS: serving https on 127.0.0.1:{self.hub.port}", log)
        self.assertNotIn("PRIVATE KEY", log)

    def test_hosted_context_urls_default_to_https(self):
        r = self.hub.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"x": "https://example.org/x"}})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.header("Location").startswith(f"https://127.0.0.1:{self.hub.port}/"), r.header("Location"))

    def test_plain_http_is_closed_and_next_tls_client_is_served(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.port, timeout=5)
        start = time.monotonic()
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/health")
            conn.getresponse()
        conn.close()
        self.assertLess(time.monotonic() - start, 4)
        self.assert_serves_https()

    def test_silent_client_is_cut_off_after_request_timeout(self):
        with socket.create_connection(("127.0.0.1", self.hub.port)) as sock:
            took = closed_within(sock, 10)
        self.assertIsNotNone(took, "the hub kept a silent connection open")
        self.assertGreater(took, REQUEST_TIMEOUT_S * 0.8)
        self.assertLess(took, REQUEST_TIMEOUT_S + 3)
        self.assert_serves_https()

    def test_partial_client_hello_is_cut_off_after_request_timeout(self):
        with socket.create_connection(("127.0.0.1", self.hub.port)) as sock:
            # A handshake record announcing 512 bytes, of which only the first few arrive.
            sock.sendall(bytes.fromhex("1603010200010001fc0303") + os.urandom(16))
            took = closed_within(sock, 10)
        self.assertIsNotNone(took, "the hub kept a half-finished handshake open")
        self.assertLess(took, REQUEST_TIMEOUT_S + 3)
        self.assert_serves_https()

    def test_slow_request_over_tls_gets_408(self):
        with socket.create_connection(("127.0.0.1", self.hub.port)) as raw:
            with self.tls_context().wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
                sock.settimeout(10)
                data = b""
                try:
                    while chunk := sock.recv(4096):
                        data += chunk
                except (ConnectionResetError, ssl.SSLError):
                    pass
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])

    def test_tls_1_1_client_is_refused(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.cert)
        try:
            with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1_1
                context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError) as e:
            self.skipTest(f"this Python/OpenSSL cannot offer TLS 1.1: {e}")
        with socket.create_connection(("127.0.0.1", self.hub.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                context.wrap_socket(raw, server_hostname="localhost")
        self.assert_serves_https()


class TlsStartErrorTest(unittest.TestCase):
    """A hub with unusable TLS settings refuses to start and says which file is wrong."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-tls-")
        cls.cert, cls.key = self_signed_certificate(cls.dir, "hub")
        cls.other_cert, cls.other_key = self_signed_certificate(cls.dir, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start_fails(self, *tls_args):
        """Starts a hub with `tls_args`; asserts it exits non-zero; returns its output."""
        data_dir = tempfile.mkdtemp(prefix="cityhub-test-")
        try:
            done = subprocess.run([BIN, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", data_dir,
                                   "--remote-contexts", "false", *tls_args],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        output = done.stdout.decode(errors="replace")
        self.assertNotEqual(done.returncode, 0, output)
        self.assertNotIn("cityhub ready", output)
        return output

    def test_missing_key_file_is_named(self):
        missing = os.path.join(self.dir, "missing-key.pem")
        output = self.start_fails("--tls-cert-file", self.cert, "--tls-key-file", missing)
        self.assertIn(f"TLS key file '{missing}' cannot be read", output)

    def test_key_not_matching_certificate_is_refused(self):
        output = self.start_fails("--tls-cert-file", self.cert, "--tls-key-file", self.other_key)
        self.assertIn(f"TLS key file '{self.other_key}' does not match the certificate in '{self.cert}'", output)

    def test_certificate_file_without_certificate_is_refused(self):
        output = self.start_fails("--tls-cert-file", self.key, "--tls-key-file", self.key)
        self.assertIn(f"TLS certificate file '{self.key}' holds no usable PEM certificate", output)

    def test_certificate_without_key_is_refused(self):
        output = self.start_fails("--tls-cert-file", self.cert)
        self.assertIn("TLS needs both --tls-cert-file and --tls-key-file", output)


if __name__ == "__main__":
    unittest.main()
