"""A real HTTP notification receiver on loopback for the tests: a threaded server that keeps
every POST it gets (path, headers, parsed body, arrival time, the status it answered) in
`attempts`, and the 2xx-answered ones in `received`. It answers 200, or whatever the test sets:
another status (for the next `failures` requests, or from now on), or no answer at all (a
black hole). It can be stopped and started
again on the same port to play a subscriber outage. Standard library only."""
import http.server
import json
import socket
import ssl
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.owner.cond:
            self.server.owner.connections.add(self.connection)

    def finish(self):
        with self.server.owner.cond:
            self.server.owner.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_POST(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if owner.black_hole:
            time.sleep(3600)  # never answers; the thread dies with the process
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with owner.cond:
            status = owner.next_status()
            entry = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "at": time.time(), "status": status}
            owner.attempts.append(entry)
            if status < 300:  # what was refused does not count as received
                owner.received.append(entry)
            owner.cond.notify_all()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Receiver:
    """`tls`: (certificate file, key file) to serve https. `failures`: answer `code` to that
    many requests first, then `status`."""

    def __init__(self, port=None, tls=None, failures=0, code=500):
        self.port = port or _free_port()
        self.tls = tls
        self.failures_left = failures
        self.code = code
        self.attempts = []  # every request, with the status it was answered
        self.received = []
        self.cond = threading.Condition()
        self.status = 200
        self.black_hole = False
        self.server = None
        self.connections = set()  # open client connections, closed by stop()

    def start(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.server.owner = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Stops listening and drops every open connection, kept-alive ones included."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.cond:
            for c in list(self.connections):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()

    def url(self, path="/notify"):
        if self.tls:
            return f"https://localhost:{self.port}{path}"
        return f"http://127.0.0.1:{self.port}{path}"

    def next_status(self):  # under self.cond
        if self.failures_left > 0:
            self.failures_left -= 1
            return self.code
        return self.status

    def wait_attempts(self, count, timeout=10):
        """Waits until `count` requests arrived, whatever they were answered; returns them."""
        deadline = time.time() + timeout
        with self.cond:
            while len(self.attempts) < count and time.time() < deadline:
                self.cond.wait(max(0.01, deadline - time.time()))
            return list(self.attempts)

    def wait_for(self, count, timeout=10, path=None):
        """Waits until `count` notifications (to `path`, if given) arrived; returns them."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = [n for n in self.received if path is None or n["path"] == path]
                if len(got) >= count or time.time() >= deadline:
                    return got
                self.cond.wait(max(0.01, deadline - time.time()))

    def entities(self, path=None):
        """Every entity notified (to `path`), in arrival order."""
        with self.cond:
            return [e for n in self.received if path is None or n["path"] == path for e in n["body"]["data"]]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
