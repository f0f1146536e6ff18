"""A real mosquitto broker on loopback for the tests, with optional user/password, and a
subscriber (mosquitto_sub) that collects what is published. mosquitto comes from the Debian
package (scripts/setup.sh installs it); it may live in /usr/sbin, outside a user's PATH."""
import getpass
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def _find(binary):
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin:/sbin")


MOSQUITTO = _find("mosquitto")
MOSQUITTO_SUB = _find("mosquitto_sub")
MOSQUITTO_PUB = _find("mosquitto_pub")
MOSQUITTO_PASSWD = _find("mosquitto_passwd")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, user=None, password=None, tls=None):
        """`tls`: (certificate, key) for a second, TLS listener on `tls_port`."""
        self.port = _free_port()
        self.tls = tls
        self.tls_port = _free_port() if tls else None
        self.dir = tempfile.mkdtemp(prefix="cityhub-mosquitto-")
        self.user, self.password = user, password
        self.proc = None

    def start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        # Started as root, mosquitto would switch to the "mosquitto" user, who cannot read our
        # private temp dir: stay who we are.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
        if self.user:
            pw = os.path.join(self.dir, "passwd")
            subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", pw, self.user, self.password], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        if self.tls:  # certfile and keyfile belong to the listener above them
            lines += [f"listener {self.tls_port} 127.0.0.1", f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def uri(self, topic, userinfo=""):
        return f"mqtt://{userinfo}127.0.0.1:{self.port}/{topic}"

    def tls_uri(self, topic):
        return f"mqtts://localhost:{self.tls_port}/{topic}"


class Subscriber:
    """mosquitto_sub on `topic`; `messages` holds (topic, parsed payload, arrival time)."""

    def __init__(self, broker, topic, qos=1, user=None, password=None):
        args = [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", str(qos), "-v",
                "-i", f"cityhub-test-{_free_port()}"]
        if user:
            args += ["-u", user, "-P", password]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.messages = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)  # let it subscribe before anything is published

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = None
            with self.cond:
                self.messages.append((topic, parsed, time.time()))
                self.cond.notify_all()

    def wait_for(self, count, timeout=10):
        deadline = time.time() + timeout
        with self.cond:
            while len(self.messages) < count and time.time() < deadline:
                self.cond.wait(max(0.01, deadline - time.time()))
            return list(self.messages)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
