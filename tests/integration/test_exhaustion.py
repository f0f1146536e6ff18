"""Unauthenticated exhaustion, written as the attacks (docs/SECURITY.md "Limits against
exhaustion"): a hub with authentication configured, attacked from one loopback address while a
legitimate client uses another (Linux routes all of 127/8 to lo, so a client socket bound to
127.0.0.2 is another address to the hub).

- An address holding its cap of idle connections gets 503 for more, while another address is
  served — the idle flood no longer takes every slot of --max-connections.
- A flood of bad tokens gets 429 past --auth-failure-burst, costs the audit log a few lines and
  not one per request, and does not lock out a caller with a valid token.
- Under concurrent writes the audit log rotates at --audit-log-max-bytes; `cityhub audit verify`
  passes across the files (saying the oldest starts mid-chain) and fails when a middle file is
  removed, files are swapped or a line is edited.
- Tokens with CR/LF or other control bytes in alg, kid, typ or the token itself get 401 with a
  clean challenge, never 500.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import http.client

from hub import BIN, Hub
from test_auth import AUDIENCE, ISSUER, Idp, b64u

CAP = 16           # --max-connections-per-address
TOTAL = 40         # --max-connections
BURST = 10         # --auth-failure-burst


def wait_for(condition, timeout=10, what="condition"):
    """Polls `condition` until it returns a truthy value or the deadline passes."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def connect(port, source, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(sock):
    """Reads one Content-Length framed response: (status, [(name, value)], body), or None on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length].decode(errors="replace")


def raw_get(port, source, path, header_lines=b""):
    with connect(port, source) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: hub\r\n" + header_lines + b"Connection: close\r\n\r\n")
        return read_response(s)


def get(port, source, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read().decode(errors="replace")
    finally:
        conn.close()


def header(headers, name):
    return next((v for k, v in headers if k.lower() == name.lower()), None)


class ExhaustionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-exhaustion-")
        cls.idp = Idp(cls.dir, "k1")
        cls.stranger = Idp(cls.dir, "k1")  # a forger's key under the same kid
        cls.jwks = os.path.join(cls.dir, "jwks.json")
        with open(cls.jwks, "w") as f:
            json.dump({"keys": [cls.idp.jwk]}, f)
        cls.audit = os.path.join(cls.dir, "audit", "audit.log")
        cls.hub = Hub(extra_args=["--auth-jwks-file", cls.jwks, "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE,
                                  "--max-connections", str(TOTAL), "--max-connections-per-address", str(CAP),
                                  "--auth-failure-rps", "1", "--auth-failure-burst", str(BURST),
                                  "--audit-log", cls.audit, "--audit-log-max-bytes", "0"]).start()
        cls.token = cls.idp.token(sub="citizen-app")

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def authed(self, source, token=None):
        return get(self.hub.port, source, "/ngsi-ld/v1/types", {"Authorization": "Bearer " + (token or self.token)})

    def test_an_idle_flood_from_one_address_does_not_lock_out_another(self):
        flooder, citizen = "127.0.0.2", "127.0.0.3"
        sockets = [connect(self.hub.port, flooder) for _ in range(TOTAL + 10)]  # more than every slot
        try:
            # Connections are admitted in order: the first CAP are held idle, the rest are
            # answered 503 at once and closed.
            for s in sockets[CAP:]:
                r = read_response(s)
                self.assertIsNotNone(r, "an excess connection was neither answered nor kept")
                status, headers, body = r
                self.assertEqual(status, 503)
                self.assertIn("max_connections_per_address is 16", json.loads(body)["detail"])
                self.assertEqual(s.recv(1), b"")  # then closed
            for s in sockets[:CAP]:
                s.setblocking(False)
                with self.assertRaises(BlockingIOError):  # held open, nothing said
                    s.recv(1)
            # Another address is served, with and without credentials.
            self.assertEqual(get(self.hub.port, citizen, "/health")[0], 200)
            self.assertEqual(self.authed(citizen)[0], 200)
            # One held connection works as usual.
            sockets[0].setblocking(True)
            sockets[0].sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
            self.assertEqual(read_response(sockets[0])[0], 200)
        finally:
            for s in sockets:
                s.close()
        # Closed connections free the address's slots.
        wait_for(lambda: get(self.hub.port, flooder, "/health")[0] == 200, what="the flooder's slots to free up")

    def audit_bytes(self):
        return os.path.getsize(self.audit) if os.path.exists(self.audit) else 0

    def audit_records(self):
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def test_a_bad_token_flood_gets_429_and_costs_the_audit_log_a_few_lines(self):
        attacker, citizen = "127.0.0.4", "127.0.0.5"
        # Before the flood the attacker's address also holds a valid token (verified, remembered).
        self.assertEqual(self.authed(attacker)[0], 200)
        before = self.audit_bytes()  # reads are not audited: nothing of this test is in flight
        forged = self.stranger.token()
        statuses = []
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.port, timeout=10, source_address=(attacker, 0))
        try:
            for i in range(600):
                token = forged if i % 2 else "not-a-token"
                conn.request("GET", f"/ngsi-ld/v1/entities/urn:ngsi-ld:X:{i}?type=" + "A" * 200,
                             headers={"Authorization": "Bearer " + token})
                r = conn.getresponse()
                body = r.read()
                statuses.append(r.status)
                if r.status == 429:
                    retry_after = r.getheader("Retry-After")
                    problem = json.loads(body)
        finally:
            conn.close()
        self.assertLessEqual(statuses.count(401), BURST + 2)  # the burst, and what refilled meanwhile
        self.assertGreaterEqual(statuses.count(429), 550)
        self.assertEqual(set(statuses), {401, 429})
        self.assertGreaterEqual(int(retry_after), 1)
        self.assertEqual(problem["type"], "urn:cityhub:error:TooManyRequests")
        # At the attacker's address a new token waits for the limit (no signature is checked
        # for it there) — asked first, right after the flood: the limit refills one failure a
        # second, so a slow build asking later could find room for it again. A token verified
        # before still works there, and a valid caller elsewhere is served.
        self.assertEqual(self.authed(attacker, self.idp.token(sub="fresh-here"))[0], 429)
        self.assertEqual(self.authed(citizen, self.idp.token(sub="fresh-elsewhere"))[0], 200)
        self.assertEqual(self.authed(attacker)[0], 200)
        # The audit log: the first failure of each reason and the first 429 — not 600 lines.
        records = wait_for(lambda: [r for r in self.audit_records()
                                    if r["remote"].startswith(attacker + ":") and r["event"] == "rate-limited"],
                           what="the rate-limited record")
        grown = self.audit_bytes() - before
        self.assertLess(grown, 4000, f"the audit log grew by {grown} bytes for 600 refused requests")
        mine = [r for r in self.audit_records() if r["remote"].startswith(attacker)]
        self.assertLessEqual(len(mine), 6)
        self.assertIn("auth-failure", {r["event"] for r in mine})
        for r in mine:
            self.assertLessEqual(len(r["path"]), 1024)
            self.assertNotIn("AAAA", r["detail"])
        ok = subprocess.run([BIN, "audit", "verify", self.audit], capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)

    def test_control_bytes_in_a_token_get_401_with_a_clean_challenge(self):
        source = "127.0.0.6"
        claims = b64u(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 300}).encode())

        def token(header_json):
            return b64u(header_json.encode()) + "." + claims + ".AAAA"

        tokens = {
            "CR/LF in alg": token('{"alg":"RS256\\r\\nX-Evil: 1","typ":"JWT"}'),
            "NUL in alg": token('{"alg":"ES\\u0000256"}'),
            "LF alone in alg": token('{"alg":"\\n"}'),
            "CR/LF in kid": token('{"alg":"ES256","kid":"k1\\r\\nSet-Cookie: a=b"}'),
            "control bytes in typ": token('{"alg":"ES256","kid":"k1","typ":"\\u0001\\u007f\\r\\n"}'),
            "DEL and high bytes in alg": token('{"alg":"\\u007f\\u00ff\\u2028"}'),
            "long alg": token('{"alg":"' + "R" * 5000 + '"}'),
        }
        for name, t in tokens.items():
            with self.subTest(name):
                r = raw_get(self.hub.port, source, "/ngsi-ld/v1/types", b"Authorization: Bearer " + t.encode() + b"\r\n")
                self.assertChallenge(r)
        # Bytes inside the token itself that HTTP lets through as header content.
        for name, raw in {"tab": b"abc\tdef.x.y", "high bytes": b"\xff\xfe.\x80.\x81",
                          "trailing spaces": b"a.b.c   "}.items():
            with self.subTest(name):
                self.assertChallenge(raw_get(self.hub.port, source, "/ngsi-ld/v1/types", b"Authorization: Bearer " + raw + b"\r\n"))
        # Bytes that end the header line are the HTTP layer's to refuse: never a 500.
        for name, raw in {"NUL": b"abc\x00def", "bare CR": b"abc\rdef", "SOH": b"abc\x01def",
                          "DEL": b"abc\x7fdef.x.y"}.items():
            with self.subTest(name):
                r = raw_get(self.hub.port, source, "/ngsi-ld/v1/types", b"Authorization: Bearer " + raw + b"\r\n")
                self.assertIsNotNone(r)
                self.assertIn(r[0], (400, 401), r)
                if r[0] == 401:
                    self.assertChallenge(r)

    def assertChallenge(self, r):
        self.assertIsNotNone(r)
        status, headers, body = r
        self.assertEqual(status, 401, body)
        challenge = header(headers, "WWW-Authenticate")
        self.assertTrue(challenge.startswith('Bearer realm="cityhub", error="invalid_token"'), challenge)
        self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in challenge), repr(challenge))
        self.assertRegex(challenge, r'error_description="[^"\\]*"$')
        self.assertLess(len(challenge), 400)
        self.assertEqual(json.loads(body)["status"], 401)


class AuditRotationTest(unittest.TestCase):
    """Concurrent writers fill a small audit log; it rotates and stays one verifiable chain."""

    def test_rotation_under_load_verifies_across_files_and_catches_tampering(self):
        d = tempfile.mkdtemp(prefix="cityhub-rotation-")
        try:
            idp = Idp(d, "k1")
            jwks = os.path.join(d, "jwks.json")
            with open(jwks, "w") as f:
                json.dump({"keys": [idp.jwk]}, f)
            audit = os.path.join(d, "audit", "audit.log")
            max_bytes = 4096
            hub = Hub(extra_args=["--auth-jwks-file", jwks, "--audit-log", audit,
                                  "--audit-log-max-bytes", str(max_bytes), "--audit-log-keep", "3"]).start()
            try:
                headers = {"Authorization": "Bearer " + idp.token(sub="writer-1")}
                failures = []

                def writer(n):
                    for i in range(25):
                        r = hub.post("/ngsi-ld/v1/entities", {"id": f"urn:ngsi-ld:Gauge:{n}-{i}", "type": "Gauge"},
                                     headers=headers)
                        if r.status != 201:
                            failures.append(r)

                threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(failures, [])
            finally:
                self.assertEqual(hub.stop(), 0)  # verify with the hub stopped
                hub.cleanup()
            files = [audit + ".3", audit + ".2", audit + ".1", audit]
            for path in files:
                self.assertTrue(os.path.exists(path), path)
                self.assertLessEqual(os.path.getsize(path), max_bytes, path)
            self.assertFalse(os.path.exists(audit + ".4"))  # --audit-log-keep 3
            with open(files[0]) as f:
                first = json.loads(f.readline())
            self.assertGreater(first["seq"], 1)  # older records were rotated out and deleted

            def verify(*paths):
                return subprocess.run([BIN, "audit", "verify", *paths], capture_output=True, text=True)

            ok = verify(audit)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            self.assertRegex(ok.stdout, r"ok: \d+ records in 4 files, head [0-9a-f]{64}")
            self.assertIn(f"starts mid-chain, at record {first['seq']}", ok.stdout)
            self.assertEqual(verify(*files).returncode, 0)
            self.assertEqual(verify(*files[1:]).returncode, 0)  # a later stretch on its own

            aside = os.path.join(d, "aside")
            os.rename(audit + ".2", aside)  # a middle file removed
            bad = verify(audit)
            self.assertEqual(bad.returncode, 1, bad.stdout)
            self.assertIn("TAMPERED", bad.stderr)
            self.assertIn("does not continue the chain", bad.stderr)
            self.assertEqual(verify(files[0], files[2], files[3]).returncode, 1)
            os.rename(audit + ".1", audit + ".2")
            os.rename(aside, audit + ".1")  # two files swapped
            self.assertEqual(verify(audit).returncode, 1)
            os.rename(audit + ".2", aside)
            os.rename(audit + ".1", audit + ".2")
            os.rename(aside, audit + ".1")  # back in order
            self.assertEqual(verify(audit).returncode, 0)
            with open(audit + ".1") as f:
                lines = f.readlines()
            lines[1] = re.sub(r'"status":201', '"status":200', lines[1])
            with open(audit + ".1", "w") as f:
                f.writelines(lines)
            edited = verify(audit)
            self.assertEqual(edited.returncode, 1)
            self.assertIn("audit.log.1 line 2: hash does not match", edited.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
