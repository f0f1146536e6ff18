"""Test certificates: a self-signed certificate for localhost / 127.0.0.1 made with the openssl
CLI, trusted by a hub through --notify-ca-file."""
import os
import subprocess


def self_signed_certificate(directory, name):
    """Writes <name>.pem and <name>-key.pem in `directory`; returns (certificate, key) paths."""
    cert, key = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key
