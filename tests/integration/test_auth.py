"""Authentication with Bearer JWTs (issue 6) over real HTTP: the test is its own identity
provider — it makes a P-256 key with the openssl CLI, publishes it as a JWKS file and signs
ES256 tokens — so no identity server is needed. Every request but the health probes needs a
valid token; each kind of bad token is answered 401 with an RFC 6750 challenge."""
import base64
import json
import os
import subprocess
import tempfile
import time
import unittest

from hub import Hub

ISSUER = "https://idp.city.example/realms/gimhae"
AUDIENCE = "cityhub"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Idp:
    """A signing key, its JWKS, and tokens."""

    def __init__(self, directory, kid):
        self.kid = kid
        self.key = tempfile.mktemp(suffix=".pem", dir=directory)  # a key of its own (kids may repeat)
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.key],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        point = der[-65:]  # the uncompressed point ends a P-256 SubjectPublicKeyInfo
        assert point[0] == 4
        self.jwk = {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "x": b64u(point[1:33]), "y": b64u(point[33:])}

    def sign(self, data):
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=data, check=True,
                             capture_output=True).stdout
        # SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each
        i = 2 if der[1] < 0x80 else 3
        assert der[i] == 2
        rlen = der[i + 1]
        r = der[i + 2:i + 2 + rlen]
        j = i + 2 + rlen
        assert der[j] == 2
        s = der[j + 2:j + 2 + der[j + 1]]
        return r[-32:].rjust(32, b"\0") + s[-32:].rjust(32, b"\0")

    def token(self, alg="ES256", kid=None, **claims):
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "operator-7", "iat": now, "exp": now + 300,
                "realm_access": {"roles": ["writer"]}}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": alg, "typ": "JWT", "kid": kid or self.kid}
        signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(body).encode())}"
        return f"{signing_input}.{b64u(self.sign(signing_input.encode()))}"


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-auth-")
        cls.idp = Idp(cls.dir, "k1")
        cls.stranger = Idp(cls.dir, "k1")  # same kid, another key: a forger's
        jwks = os.path.join(cls.dir, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [cls.idp.jwk]}, f)
        cls.hub = Hub(extra_args=["--auth-jwks-file", jwks, "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE]).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.cleanup()

    def get(self, path, token=None, raw=None):
        headers = {}
        if raw is not None:
            headers["Authorization"] = raw
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.hub.get(path, headers=headers)

    def assertRefused(self, r, reason=None):
        self.assertEqual(r.status, 401, r)
        body = r.json()
        self.assertEqual(body["status"], 401)
        self.assertEqual(body["type"], "urn:cityhub:error:Unauthenticated")
        challenge = r.header("WWW-Authenticate")
        self.assertTrue(challenge.startswith('Bearer realm="cityhub"'), challenge)
        if reason:
            self.assertIn('error="invalid_token"', challenge)
            self.assertIn(reason, body["detail"])
        return body

    def test_health_is_open_everything_else_needs_a_token(self):
        self.assertEqual(self.get("/health").status, 200)
        for path in ("/ngsi-ld/v1/entities?type=Gauge", "/ngsi-ld/v1/subscriptions", "/metrics",
                     "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Gauge:1", "/ngsi-ld/v1/no-such-path"):
            with self.subTest(path):
                body = self.assertRefused(self.get(path))
                self.assertIn("Bearer", body["detail"])
        self.assertRefused(self.get("/ngsi-ld/v1/types", raw="Basic dXNlcjpwdw=="))

    def test_a_valid_token_reads_and_writes(self):
        token = self.idp.token()
        r = self.hub.post("/ngsi-ld/v1/entities", {"id": "urn:ngsi-ld:Gauge:auth1", "type": "Gauge",
                                                    "level": {"type": "Property", "value": 1.5}},
                          headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 201, r)
        r = self.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:auth1", token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["level"]["value"], 1.5)
        self.assertEqual(self.get("/ngsi-ld/v1/types", raw=f"bearer {token}").status, 200)  # scheme is case-insensitive
        # Without the token, the same entity is out of reach.
        self.assertRefused(self.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Gauge:auth1"))

    def test_bad_tokens_are_refused_with_their_reason(self):
        now = int(time.time())
        cases = {
            "expired": (self.idp.token(exp=now - 120), "expired"),
            "not yet valid": (self.idp.token(nbf=now + 600), "not valid yet"),
            "wrong issuer": (self.idp.token(iss="https://idp.city.example/realms/jeju"), "issuer"),
            "wrong audience": (self.idp.token(aud="dashboard"), "audience"),
            "signed by another key": (self.stranger.token(), "signature"),
            "unknown kid": (self.idp.token(kid="k9"), "key id"),
            "no exp": (self.idp.token(exp=None), "expiry"),
        }
        token = self.idp.token()
        h, p, s = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=="))
        claims["realm_access"]["roles"] = ["admin"]
        cases["tampered claims"] = (f"{h}.{b64u(json.dumps(claims).encode())}.{s}", "signature")
        none_header = b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        cases["alg none"] = (f"{none_header}.{p}.", "not accepted")
        hs_header = b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        cases["HS256"] = (f"{hs_header}.{p}.{s}", "not accepted")
        cases["garbage"] = ("not-a-token", "three")
        for name, (bad, reason) in cases.items():
            with self.subTest(name):
                self.assertRefused(self.get("/ngsi-ld/v1/types", bad), reason)

    def test_the_token_is_never_logged(self):
        token = self.idp.token(exp=int(time.time()) - 3600)
        self.assertRefused(self.get("/ngsi-ld/v1/types", token))
        self.assertNotIn(token.split(".")[2], self.hub.read_log())


class JwksUrlTest(unittest.TestCase):
    """--auth-jwks-url: the key set is fetched from the provider and fetched again when a token
    names a key id it does not hold (key rotation)."""

    def test_rotated_keys_are_picked_up_and_retired_ones_refused(self):
        import http.server
        import threading
        directory = tempfile.mkdtemp(prefix="cityhub-jwks-")
        old, new = Idp(directory, "2025"), Idp(directory, "2026")
        served = {"keys": [old.jwk]}
        fetches = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fetches.append(self.path)
                body = json.dumps(served).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/realms/gimhae/protocol/openid-connect/certs"
        hub = Hub(extra_args=["--auth-jwks-url", url, "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE]).start()
        try:
            def status(idp):
                return hub.get("/ngsi-ld/v1/types", headers={"Authorization": f"Bearer {idp.token()}"}).status
            self.assertEqual(len(fetches), 1)  # at start
            self.assertEqual(status(old), 200)
            # Unknown kids within 30 s of the last fetch fetch nothing (no fetch storm from bad
            # tokens); the refetch itself is shown by the unit tests (security/authenticator).
            for _ in range(5):
                self.assertEqual(status(new), 401)
            self.assertEqual(len(fetches), 1)
            # The provider rotates: the fetch at start (or the periodic refresh) takes the new set.
            served["keys"] = [new.jwk]
            hub.stop()
            hub.start()
            self.assertEqual(status(new), 200)
            self.assertEqual(status(old), 401)
        finally:
            hub.cleanup()
            server.shutdown()

    def test_an_unreachable_key_url_stops_the_start(self):
        hub = Hub(extra_args=["--auth-jwks-url", "http://127.0.0.1:9/certs"])
        with self.assertRaises(RuntimeError) as failed:
            hub.start(timeout=10)
        self.assertIn("JWKS", str(failed.exception))
        hub.cleanup()


class AuthConfigTest(unittest.TestCase):
    def test_an_unusable_key_set_stops_the_start(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')
        hub = Hub(extra_args=["--auth-jwks-file", f.name])
        with self.assertRaises(RuntimeError) as failed:
            hub.start(timeout=5)
        self.assertIn("no RS256 or ES256", str(failed.exception))
        hub.cleanup()
        os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
