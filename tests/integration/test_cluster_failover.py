"""The highly available cluster (scripts/cluster.sh): PostgreSQL primary and synchronous standby,
three hubs on a multi-host URI, HAProxy over them. The primary's postmaster is killed with -9
under write load and the standby promoted: every write acknowledged before, during and after
is still there, the writes that failed were answered 503 (none hangs past its timeout), and the
time from the kill to the first acknowledged write is printed.

The cluster brings its own PostgreSQL servers, so this module runs once (not also as
integration-pg.*). Skipped only where PostgreSQL's server binaries are missing.
"""
import os
import shutil
import sys
import tempfile
import unittest

import failover
from hub import BIN

# The stated bound: hubs serve writes again within this many seconds of the primary's loss,
# once the orchestrator promotes the standby at once (here: as soon as the hubs report it lost).
FAILOVER_BOUND = 10.0


@unittest.skipIf(failover.postgres_binaries() is None, "PostgreSQL server binaries are not installed")
class ClusterFailoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cityhub-cluster-")
        cls.env = dict(os.environ, CITYHUB_BIN=BIN)
        try:
            failover.cluster("start", cls.dir, env=cls.env)
        except Exception:
            failover.cluster("stop", cls.dir, env=cls.env)
            raise
        cls.cluster = failover.cluster_env(cls.dir)
        cls.hubs = [f"http://127.0.0.1:{p}" for p in cls.cluster["HUB_PORTS"].split(",")]

    @classmethod
    def tearDownClass(cls):
        failover.cluster("stop", cls.dir, env=cls.env)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_acknowledged_writes_survive_the_primary_being_killed(self):
        status = failover.cluster("status", self.dir, env=self.env)
        self.assertIn("replicates to standby (sync, streaming)", status)

        run = failover.run_failover(self.dir, self.hubs)
        answers = run.answers
        acknowledged = [a for a in answers if a.status == 201]
        refused = [a for a in answers if a.status == 503]
        unanswered = [a for a in answers if a.status is None]
        before = [a for a in acknowledged if a.answered < run.killed]
        print(f"\nfailover: {len(answers)} writes, {len(acknowledged)} acknowledged ({len(before)} before the kill), "
              f"{len(refused)} answered 503, {len(unanswered)} unanswered; hubs not ready after "
              f"{run.hubs_not_ready if run.hubs_not_ready is None else round(run.hubs_not_ready, 2)} s, "
              f"standby promoted after {run.promoted:.2f} s, first acknowledged write after "
              f"{run.first_acknowledged if run.first_acknowledged is None else round(run.first_acknowledged, 2)} s",
              file=sys.stderr)

        self.assertTrue(before, "writes were acknowledged before the kill")
        self.assertIsNotNone(run.hubs_not_ready, "every hub's readiness said no while there was no primary")
        self.assertIsNotNone(run.first_acknowledged, "writes were acknowledged again after the promotion")
        self.assertLess(run.first_acknowledged, FAILOVER_BOUND)
        # A write either succeeded or was answered 503: nothing else, and nothing unanswered.
        self.assertEqual({a.status for a in answers} - {201, 503}, set())
        self.assertEqual(unanswered, [])
        self.assertLess(max(a.answered - a.sent for a in answers), failover.REQUEST_TIMEOUT)

        # Every acknowledged write is on the promoted standby, through any hub.
        missing = []
        for i, a in enumerate(acknowledged):
            hub = self.hubs[i % len(self.hubs)]
            got, _ = failover.request(hub, "GET", f"/ngsi-ld/v1/entities/{a.entity_id}")
            if got != 200:
                missing.append((a.entity_id, got))
        self.assertEqual(missing, [], "acknowledged writes lost")

        # After the failover the hubs are all ready again and take writes on the new primary.
        for hub in self.hubs:
            self.assertTrue(failover.wait_until(lambda: failover.request(hub, "GET", "/health/ready")[0] == 200, 10))
        got, _ = failover.request(self.cluster["LB_URL"], "POST", "/ngsi-ld/v1/entities",
                                  {"id": "urn:ngsi-ld:WaterLevel:after", "type": "WaterLevel"})
        self.assertEqual(got, 201)
        self.assertIn("standby (127.0.0.1:{}): running, primary".format(self.cluster["STANDBY_PORT"]),
                      failover.cluster("status", self.dir, env=self.env))


if __name__ == "__main__":
    unittest.main()
