"""The operator's settings for distributed operations (docs/API.md "Distributed operations"):
the credentials the hub presents to context sources and the default timeout and cooldown that
apply when a registration gives no management.timeout / management.cooldown (GS CIM 009
§5.2.34 RegistrationManagementInfo).

What must hold:
- credentials are configured per source origin and read from files at start-up (a secret never
  sits in the configuration, the process list or the log); a bad entry, an unreadable or empty
  file, a repeated origin or a non-HTTP origin stops the start with exit code 2, naming the
  entry — never later, on the first distributed request;
- the same settings come from CITYHUB_* environment variables;
- out-of-range values are refused at start-up.
"""
import os
import tempfile
import unittest

from hub import Hub


class FederationSettingsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cityhub-fed-")
        self.token = os.path.join(self.dir, "hub-b.token")
        with open(self.token, "w") as f:
            f.write("tok-6f1e2d-secret\n")
        self.empty = os.path.join(self.dir, "empty.key")
        open(self.empty, "w").close()

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.remove(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def start(self, args=(), env=None):
        hub = Hub(extra_args=list(args), env=env)
        self.addCleanup(hub.cleanup)
        hub.start()
        return hub

    def assertStartFails(self, args, message, env=None, code=2):
        """The start fails with exit `code` (None: any non-zero, as the option parser's own),
        saying `message`."""
        hub = Hub(extra_args=list(args), env=env)
        self.addCleanup(hub.cleanup)
        with self.assertRaises(RuntimeError) as failed:
            hub.start()
        self.assertIn(message, str(failed.exception))
        if code is None:
            self.assertNotEqual(hub.proc.returncode, 0)
        else:
            self.assertEqual(hub.proc.returncode, code)
        self.assertNotIn("tok-6f1e2d-secret", str(failed.exception))

    def test_credentials_are_read_at_start_and_never_logged(self):
        hub = self.start(["--federation-credentials",
                          f"https://hub-b.city.kr=bearer:{self.token};"
                          f"http://10.0.0.5:1026=header:X-API-Key:{self.token}",
                          "--federation-timeout-ms", "1500", "--federation-cooldown-ms", "0"])
        self.assertEqual(hub.get("/health").status, 200)
        log = hub.read_log()
        self.assertIn("distributed operations: 1500 ms per source unless registered otherwise, 0 ms cooldown, "
                      "credentials for 2 origin(s)", log)
        self.assertNotIn("tok-6f1e2d-secret", log)

    def test_defaults_without_settings(self):
        hub = self.start()
        self.assertIn("distributed operations: 5000 ms per source unless registered otherwise, 10000 ms cooldown, "
                      "credentials for 0 origin(s)", hub.read_log())

    def test_settings_come_from_the_environment_too(self):
        hub = self.start(env={"CITYHUB_FEDERATION_CREDENTIALS": f"https://hub-b.city.kr=bearer:{self.token}",
                              "CITYHUB_FEDERATION_TIMEOUT_MS": "2500"})
        self.assertIn("2500 ms per source", hub.read_log())
        self.assertIn("credentials for 1 origin(s)", hub.read_log())

    def test_bad_credentials_stop_the_start_naming_the_entry(self):
        cases = [
            ("https://hub-b.city.kr", "expected ORIGIN=bearer:FILE or ORIGIN=header:NAME:FILE"),
            (f"https://hub-b.city.kr={self.token}", "expected bearer:FILE or header:NAME:FILE"),
            (f"https://hub-b.city.kr=basic:{self.token}", "expected bearer:FILE or header:NAME:FILE"),
            ("https://hub-b.city.kr=bearer:/nonexistent/hub-b.token", "cannot read file '/nonexistent/hub-b.token'"),
            (f"https://hub-b.city.kr=bearer:{self.empty}", "is empty"),
            (f"ftp://hub-b.city.kr=bearer:{self.token}", "unsupported URL scheme"),
            (f"https://hub-b.city.kr=header:X API Key:{self.token}", "expected bearer:FILE or header:NAME:FILE"),
            (f"https://hub-b.city.kr=bearer:{self.token};https://hub-b.city.kr:443=bearer:{self.token}",
             "origin https://hub-b.city.kr:443 given twice"),
        ]
        for value, message in cases:
            with self.subTest(value=value):
                self.assertStartFails(["--federation-credentials", value], message)

    def test_out_of_range_values_are_refused(self):
        self.assertStartFails(["--federation-timeout-ms", "0"], "--federation-timeout-ms", code=None)
        self.assertStartFails(["--federation-max-in-flight", "0"], "--federation-max-in-flight", code=None)
        self.assertStartFails(["--federation-max-answer-bytes", "10"], "--federation-max-answer-bytes", code=None)


if __name__ == "__main__":
    unittest.main()
