"""Operating the hub over real processes: /health, /metrics, graceful SIGTERM with requests in
flight, the CLI (version, --help), configuration from CITYHUB_* variables and a TOML file,
the loopback-only default, and `cityhub backup` with the hub running and stopped."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from hub import BIN, CONTEXT_DIR, STORE, Hub, HubTestCase, free_port

E = "/ngsi-ld/v1/entities"


def ent(eid, v=1):
    return {"id": eid, "type": "Valve", "open": {"type": "Property", "value": v}}


class HealthMetricsTest(HubTestCase):
    def test_health(self):
        r = self.hub.get("/health")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual((body["status"], body["live"], body["ready"], body["store"]), ("pass", True, True, "writable"))
        self.assertEqual(self.hub.get("/health/live").status, 200)
        self.assertEqual(self.hub.get("/health/ready").json()["status"], "ready")

    def test_metrics(self):
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Valve:m1")).status, 201)
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Valve:m2")).status, 201)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Valve:m1").status, 200)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Valve:none").status, 404)
        r = self.hub.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        lines = r.body.splitlines()

        def value(prefix):
            hits = [l for l in lines if l.startswith(prefix)]
            self.assertEqual(len(hits), 1, (prefix, hits))
            return float(hits[0].rsplit(" ", 1)[1])
        self.assertEqual(value('cityhub_http_requests_total{method="POST",route="/ngsi-ld/v1/entities",status="201"}'), 2)
        self.assertEqual(value('cityhub_http_requests_total{method="GET",route="/ngsi-ld/v1/entities/{entityId}",'
                               'status="404"}'), 1)
        self.assertGreaterEqual(value("cityhub_store_commit_duration_seconds_count"), 2)
        self.assertGreaterEqual(value('cityhub_entities{tenant="default"}'), 2)
        # the entity id never becomes a label (bounded cardinality)
        self.assertNotIn("urn:ngsi-ld:Valve", r.body)

    def test_invented_methods_do_not_create_metric_series(self):
        for i in range(3):
            self.hub.request(f"XMETH{i}", "/nowhere")
        body = self.hub.get("/metrics").body
        self.assertNotIn("XMETH", body)
        self.assertIn('method="other"', body)


class CliTest(unittest.TestCase):
    def run_cli(self, *args, env=None, timeout=10):
        return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **(env or {})))

    def test_version(self):
        r = self.run_cli("version")
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"^cityhub \d+\.\d+\.\d+")

    def test_help_lists_commands_and_the_hub_options_and_points_to_serve_help(self):
        r = self.run_cli("--help")
        self.assertEqual(r.returncode, 0, r)
        for word in ("serve", "backup", "version", "import", "simulate", "--config",
                     "--listen", "CITYHUB_LISTEN", "--data-dir", "CITYHUB_DATA_DIR", "cityhub serve --help"):
            self.assertIn(word, r.stdout)
        # the settings only `serve` takes are in its own help
        listed = re.findall(r"^\s+(--[a-z0-9-]+)", r.stdout, re.M)
        self.assertIn("--listen", listed)
        for option in ("--insecure", "--gtfs-feed", "--auth-jwks-url", "--worker-threads", "--retention"):
            self.assertNotIn(option, listed)

    def test_serve_help_lists_the_serve_options_in_groups(self):
        r = self.run_cli("serve", "--help")
        self.assertEqual(r.returncode, 0, r)
        for word in ("--listen", "CITYHUB_LISTEN", "--data-dir", "--config", "--insecure", "CITYHUB_INSECURE",
                     "--gtfs-feed", "CITYHUB_GTFS_FEED", "--auth-jwks-url", "--worker-threads", "--retention",
                     "--federation-credentials", "--mqtt-client-id", "Security:", "IoT agent:"):
            self.assertIn(word, r.stdout)
        self.assertNotIn("Subcommands:", r.stdout)

    def test_backup_help_lists_the_hub_options_it_takes(self):
        r = self.run_cli("backup", "--help")
        self.assertEqual(r.returncode, 0, r)
        for word in ("--data-dir", "--backup-dir", "--listen"):
            self.assertIn(word, r.stdout)
        self.assertNotIn("--gtfs-feed", r.stdout)

    def test_unknown_subcommand_fails(self):
        self.assertNotEqual(self.run_cli("frobnicate").returncode, 0)

    def test_non_loopback_without_insecure_refuses(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        try:
            r = self.run_cli("serve", "--listen", f"0.0.0.0:{free_port()}", "--data-dir", d)
            self.assertNotEqual(r.returncode, 0)
            out = r.stdout + r.stderr
            self.assertIn("refusing to listen on non-loopback address", out)
            self.assertIn("--insecure", out)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_host_names_looking_like_loopback_are_not_loopback(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        try:
            r = self.run_cli("serve", "--listen", f"127.example.com:{free_port()}", "--data-dir", d)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("refusing to listen on non-loopback address", r.stdout + r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_malformed_listen_fails(self):
        r = self.run_cli("serve", "--listen", "nonsense", "--data-dir", tempfile.gettempdir() + "/cityhub-unused")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("HOST:PORT", r.stdout + r.stderr)


class ConfigTest(unittest.TestCase):
    def serve(self, args, env):
        """Starts `cityhub serve` with args/env; returns (proc, hub-for-http) once healthy."""
        proc = subprocess.Popen([BIN, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **env))
        self.addCleanup(lambda: (proc.poll() is None and proc.send_signal(signal.SIGTERM), proc.wait(10),
                                 proc.stdout.close()))
        return proc

    def wait_healthy(self, proc, port):
        h = Hub(data_dir="/nonexistent")
        h.port = port
        deadline = time.time() + 10
        while time.time() < deadline:
            if proc.poll() is not None:
                self.fail("cityhub exited: " + proc.stdout.read().decode(errors="replace"))
            try:
                if h.get("/health").status == 200:
                    return h
            except OSError:
                pass
            time.sleep(0.05)
        self.fail("cityhub did not start")

    def test_env_variables(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        proc = self.serve([], {"CITYHUB_LISTEN": f"127.0.0.1:{port}", "CITYHUB_DATA_DIR": d,
                               "CITYHUB_CONTEXT_DIR": CONTEXT_DIR, "CITYHUB_REMOTE_CONTEXTS": "false"})
        h = self.wait_healthy(proc, port)
        self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:env")).status, 201)
        self.assertTrue(os.listdir(d), "data not written to CITYHUB_DATA_DIR")

    def test_toml_file_and_precedence(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        cfg = os.path.join(d, "cityhub.toml")
        data = os.path.join(d, "data")
        with open(cfg, "w") as f:
            f.write(f'listen = "127.0.0.1:{free_port()}"\n'  # overridden by the env variable below
                    f'data-dir = "{data}"\n'
                    f'max-body-bytes = 2000\n'
                    f'remote-contexts = false\n')
        proc = self.serve(["--config", cfg], {"CITYHUB_LISTEN": f"127.0.0.1:{port}"})
        h = self.wait_healthy(proc, port)
        self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:toml")).status, 201)
        self.assertTrue(os.path.isdir(data) and os.listdir(data))
        big = ent("urn:ngsi-ld:Valve:big", "x" * 3000)
        self.assertEqual(h.post(E, big).status, 413)

    def test_env_wins_over_file_and_flag_over_env_for_serve_options(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = os.path.join(d, "cityhub.toml")
        with open(cfg, "w") as f:
            f.write(f'data-dir = "{os.path.join(d, "data")}"\n'
                    'max-body-bytes = 2000\n'
                    'remote-contexts = false\n')
        port = free_port()
        proc = self.serve(["--config", cfg, "--listen", f"127.0.0.1:{port}"], {"CITYHUB_MAX_BODY_BYTES": "10000"})
        h = self.wait_healthy(proc, port)
        self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:env-big", "x" * 3000)).status, 201)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)
        port = free_port()
        proc = self.serve(["--config", cfg, "--listen", f"127.0.0.1:{port}", "--max-body-bytes", "2000"],
                          {"CITYHUB_MAX_BODY_BYTES": "10000"})
        h = self.wait_healthy(proc, port)
        self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:flag-big", "x" * 3000)).status, 413)

    def test_flag_wins_over_env(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        proc = self.serve(["--listen", f"127.0.0.1:{port}", "--data-dir", d, "--remote-contexts", "false"],
                          {"CITYHUB_LISTEN": "0.0.0.0:1"})
        self.wait_healthy(proc, port)


class StartupFailureTest(unittest.TestCase):
    """A part failing late in the start-up (after the store is open) stops the hub with its
    message and exit code, and leaves the data dir free to open again at once."""

    def run_serve(self, data_dir, port, *args):
        return subprocess.run([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                               "--context-dir", CONTEXT_DIR, "--remote-contexts", "false", *args],
                              capture_output=True, text=True, timeout=60)

    def assert_reopens(self, data_dir):
        with Hub(data_dir=data_dir) as h:
            self.assertEqual(h.get(f"{E}/urn:ngsi-ld:Valve:kept").status, 200)

    def data_dir_with_an_entity(self):
        d = tempfile.mkdtemp(prefix="cityhub-test-")
        self.addCleanup(shutil.rmtree, d, True)
        with Hub(data_dir=d) as h:
            self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:kept")).status, 201)
        return d

    def test_port_taken(self):
        d = self.data_dir_with_an_entity()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            # a feed that cannot be imported is logged by the city services, which start after the
            # store and the broker and before the HTTP server
            r = self.run_serve(d, taken.getsockname()[1], "--gtfs-feed", os.path.join(d, "missing.zip"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("mobility: --gtfs-feed", out)
        self.assertIn("cannot listen on", out)
        self.assertNotIn("cityhub ready", out)
        self.assert_reopens(d)

    def test_bad_warning_rules(self):
        d = self.data_dir_with_an_entity()
        rules = os.path.join(d, "rules.json")
        with open(rules, "w") as f:
            f.write("{not json")
        r = self.run_serve(d, free_port(), "--warning-rules", rules)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--warning-rules:", r.stdout + r.stderr)
        self.assert_reopens(d)


class ShutdownAndBackupTest(unittest.TestCase):
    def test_sigterm_with_requests_in_flight_exits_0_and_keeps_acknowledged_writes(self):
        with Hub() as h:
            acked = []
            lock = threading.Lock()
            stop = threading.Event()

            def writer(n):
                i = 0
                while not stop.is_set():
                    eid = f"urn:ngsi-ld:Valve:w{n}-{i}"
                    i += 1
                    try:
                        r = h.post(E, ent(eid), timeout=10)
                    except OSError:
                        continue
                    if r.status == 201:
                        with lock:
                            acked.append(eid)
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
            for t in threads:
                t.start()
            time.sleep(0.5)
            code = h.stop()
            stop.set()
            for t in threads:
                t.join(15)
            self.assertEqual(code, 0, h.read_log()[-2000:])
            self.assertGreater(len(acked), 10)
            h.start()
            missing = [eid for eid in acked if h.get(f"{E}/{eid}").status != 200]
            self.assertEqual(missing, [])
            r = h.get(f"{E}?type=Valve&count=true&limit=0")
            self.assertGreaterEqual(int(r.header("NGSILD-Results-Count")), len(acked))

    def backup_cli(self, h, target, backup_dir=None):
        return subprocess.run([BIN, "--listen", f"127.0.0.1:{h.port}", "--data-dir", h.data_dir,
                               "--backup-dir", backup_dir or os.path.dirname(target), "backup", target],
                              capture_output=True, text=True, timeout=30)

    def assert_serves(self, data_dir, ids, tenant_id=None):
        with Hub(data_dir=data_dir) as copy:
            for eid in ids:
                self.assertEqual(copy.get(f"{E}/{eid}").status, 200, eid)
            if tenant_id:
                r = copy.get(f"{E}/{tenant_id}", headers={"NGSILD-Tenant": "backupT"})
                self.assertEqual(r.status, 200, r)

    @unittest.skipIf(STORE == "postgres", "a hub on PostgreSQL is backed up with PostgreSQL's tools, not `cityhub backup`")
    def test_backup_running_and_stopped(self):
        root = tempfile.mkdtemp(prefix="cityhub-backup-")
        self.addCleanup(shutil.rmtree, root, True)
        with Hub(extra_args=["--backup-dir", root]) as h:
            self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:b1")).status, 201)
            self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:bt"), headers={"NGSILD-Tenant": "backupT"}).status, 201)
            r = h.post("/ngsi-ld/v1/jsonldContexts", {"@context": {"flow": "https://example.org/flow"}})
            self.assertEqual(r.status, 201, r)
            online = os.path.join(root, "online")
            r = self.backup_cli(h, online)
            self.assertEqual(r.returncode, 0, r)
            # writes after the backup are not in it
            self.assertEqual(h.post(E, ent("urn:ngsi-ld:Valve:b2")).status, 201)
            # an existing target is refused
            self.assertNotEqual(self.backup_cli(h, online).returncode, 0)
            # a running hub writes only under its --backup-dir, and owner-only
            elsewhere = tempfile.mkdtemp(prefix="cityhub-elsewhere-")
            self.addCleanup(shutil.rmtree, elsewhere, True)
            r = self.backup_cli(h, os.path.join(elsewhere, "copy"), backup_dir=root)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("--backup-dir", r.stdout + r.stderr)
            self.assertFalse(os.path.exists(os.path.join(elsewhere, "copy")))
            self.assertEqual(os.stat(online).st_mode & 0o777, 0o700)
            bad = h.post("/admin/backup", {"name": "../escape"})
            self.assertEqual(bad.status, 400, bad)
            self.assertFalse(os.path.exists(os.path.join(os.path.dirname(root), "escape")))
            self.assertEqual(h.stop(), 0)
            offline = os.path.join(root, "offline")
            r = self.backup_cli(h, offline)
            self.assertEqual(r.returncode, 0, r)
        self.assert_serves(online, ["urn:ngsi-ld:Valve:b1"], "urn:ngsi-ld:Valve:bt")
        with Hub(data_dir=online) as copy:
            self.assertEqual(copy.get(f"{E}/urn:ngsi-ld:Valve:b2").status, 404)
            self.assertEqual(len(copy.get("/ngsi-ld/v1/jsonldContexts").json()), 1)
        self.assert_serves(offline, ["urn:ngsi-ld:Valve:b1", "urn:ngsi-ld:Valve:b2"], "urn:ngsi-ld:Valve:bt")

    def test_backup_without_hub_or_data_fails(self):
        root = tempfile.mkdtemp(prefix="cityhub-backup-")
        self.addCleanup(shutil.rmtree, root, True)
        r = subprocess.run([BIN, "--listen", f"127.0.0.1:{free_port()}", "--data-dir", os.path.join(root, "none"),
                            "backup", os.path.join(root, "copy")], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
