"""A hub that requires credentials: ES256 tokens minted by the test's own identity provider
(test_auth.Idp), with the test's policy and privacy files, and `call` to speak to it as a
principal given as (subject, role entry, …) — e.g. ("kim", "gimhae:writer")."""
import json
import os
import shutil
import tempfile

from hub import Hub
from test_auth import AUDIENCE, ISSUER, Idp


class GuardedHub:
    def __init__(self, prefix, policy=None, privacy=None, extra_args=(), api_keys=False, **hub_kw):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.idp = Idp(self.dir, "k1")
        args = ["--auth-jwks-file", self.write("jwks.json", {"keys": [self.idp.jwk]}),
                "--auth-issuer", ISSUER, "--auth-audience", AUDIENCE]
        if policy is not None:
            args += ["--auth-policy-file", self.write("policy.json", policy)]
        if privacy is not None:
            args += ["--privacy-file", self.write("privacy.json", privacy)]
        self.keys_file = os.path.join(self.dir, "keys.json")  # managed with `cityhub keys`
        if api_keys:
            args += ["--api-keys-file", self.keys_file]
        self.hub = Hub(extra_args=args + list(extra_args), **hub_kw)
        self.tokens = {}

    def write(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def start(self):
        self.hub.start()
        return self

    def cleanup(self):
        self.hub.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def token(self, subject, *roles):
        key = (subject, roles)
        if key not in self.tokens:
            self.tokens[key] = self.idp.token(sub=subject, realm_access=None, roles=list(roles))
        return self.tokens[key]

    def call(self, method, path, who, body=None, tenant=None, headers=None, content_type=None):
        """`who`: (subject, role entry, …), or None for no credentials."""
        h = dict(headers or {})
        if who is not None:
            h["Authorization"] = "Bearer " + self.token(*who)
        if tenant:
            h["NGSILD-Tenant"] = tenant
        return self.hub.request(method, path, body=body, headers=h, content_type=content_type)
