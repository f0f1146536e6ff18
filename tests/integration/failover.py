"""A failover under load, for test_cluster_failover and bench/failover_bench.py: writers create
entities through the cluster's load balancer (scripts/cluster.sh) while the PostgreSQL primary is
killed with -9 and the standby promoted; every answer is recorded with its times, so a caller can
check that each acknowledged write is still there and measure how long writes stopped.

Only the Python standard library is used.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CLUSTER = os.path.join(REPO, "scripts", "cluster.sh")
# No request may take longer than this (the hub's own bounds: connect and statement timeouts).
REQUEST_TIMEOUT = 20.0


def postgres_binaries():
    """PostgreSQL's server binaries folder, or None when they are not installed."""
    root = "/usr/lib/postgresql"
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]
    if not os.path.isdir(root):
        return None
    found = [os.path.join(root, v, "bin") for v in sorted(os.listdir(root))
             if os.path.exists(os.path.join(root, v, "bin", "initdb"))]
    return found[-1] if found else None


def cluster(command, directory, env=None):
    """Runs scripts/cluster.sh COMMAND DIRECTORY; returns its output (raises on failure)."""
    result = subprocess.run([CLUSTER, command, directory], capture_output=True, text=True, env=env, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"cluster.sh {command} failed: {result.stderr.strip()}\n{result.stdout}")
    return result.stdout


def cluster_env(directory):
    """DIR/cluster.env as a dict (ports, the store URI, the load balancer's URL)."""
    with open(os.path.join(directory, "cluster.env")) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


class Answer:
    def __init__(self, entity_id, sent, answered, status):
        self.entity_id = entity_id
        self.sent = sent          # time.monotonic() when the request left
        self.answered = answered  # … and when its answer (or its failure) came
        self.status = status      # the HTTP status, or None when no answer came


def request(url, method, path, body=None, timeout=REQUEST_TIMEOUT):
    """(status, body bytes) of one request on a connection of its own; status None on no answer."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        conn.close()


class Writers:
    """`count` threads creating entities through `url` until stopped, recording every answer."""

    def __init__(self, url, count=6):
        self.url = url
        self.count = count
        self.answers = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(w,), daemon=True) for w in range(count)]

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT + 5)

    def answers_so_far(self):
        with self._lock:
            return list(self.answers)

    def _write(self, writer):
        n = 0
        while not self._stop.is_set():
            entity_id = f"urn:ngsi-ld:WaterLevel:w{writer}-{n}"
            n += 1
            sent = time.monotonic()
            status, _ = request(self.url, "POST", "/ngsi-ld/v1/entities",
                                {"id": entity_id, "type": "WaterLevel",
                                 "level": {"type": "Property", "value": n}})
            with self._lock:
                self.answers.append(Answer(entity_id, sent, time.monotonic(), status))
            if status != 201:
                time.sleep(0.05)  # a client backing off a little after a failure


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class Failover:
    """What one failover under load showed (times in seconds, from the kill)."""

    def __init__(self, answers, killed, not_ready, promoted, first_ack_after):
        self.answers = answers
        self.killed = killed
        self.hubs_not_ready = not_ready          # until every hub's readiness said no (None: never)
        self.promoted = promoted                 # until pg_ctl promote returned
        # until the first write sent after writes began to fail was acknowledged
        self.first_acknowledged = first_ack_after


def run_failover(directory, hub_urls, before=1.5, after=2.0, deadline=30.0):
    """Writes through the cluster in `directory` for `before` s, kills the primary, waits until
    the hubs say they are not ready, promotes the standby, and writes on until `after` s past the
    first acknowledged write sent after writes began to fail (or `deadline` s)."""
    env = cluster_env(directory)
    writers = Writers(env["LB_URL"])
    writers.start()
    time.sleep(before)
    with open(os.path.join(directory, "primary", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    killed = time.monotonic()
    os.kill(postmaster, signal.SIGKILL)

    def none_ready():
        return all(request(u, "GET", "/health/ready", timeout=5)[0] == 503 for u in hub_urls)

    not_ready = time.monotonic() - killed if wait_until(none_ready, 10) else None
    cluster("promote", directory)
    promoted = time.monotonic() - killed

    def first_acknowledged():
        # The first write acknowledged that was sent once writes had begun to fail: a write sent
        # just after the kill may still commit on the dying primary (its backends live on for a
        # moment; synchronous replication puts that commit on the standby too), which says
        # nothing about how long the cluster takes to serve again.
        answers = writers.answers_so_far()
        failures = [a.answered for a in answers if a.sent >= killed and a.status != 201]
        if not failures:
            return None
        outage = min(failures)
        return min((a.answered for a in answers if a.sent >= outage and a.status == 201), default=None)

    wait_until(first_acknowledged, deadline)
    first = first_acknowledged()
    if first is not None:
        time.sleep(after)
    writers.stop()
    return Failover(writers.answers, killed, not_ready, promoted, None if first is None else first - killed)
