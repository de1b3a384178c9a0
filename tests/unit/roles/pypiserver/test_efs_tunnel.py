"""The EFS TLS tunnel (templates/efs-tunnel.conf.j2) run by Debian's stunnel4 against a local TLS server.

This kernel has no NFS client, so the tunnel is proven on its own: the role's stunnel
configuration, rendered from the role's template, listens on loopback as the mount expects; what
a client writes there reaches a TLS server holding a certificate from a test CA, and a relay in
between sees only TLS records, never the bytes. A server whose certificate is from another CA,
or names another host, gets nothing: stunnel refuses it, as it would refuse a spoofed EFS.
"""

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import jinja2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TEMPLATES = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver",
                                          "templates"))
STUNNEL = shutil.which("stunnel4")
pytestmark = pytest.mark.skipif(STUNNEL is None, reason="stunnel4 is not installed (scripts/setup.sh installs it)")
NAME = "localhost"  # stands for fs-xxx.efs.<region>.amazonaws.com: it must resolve here
PAYLOAD = b"NFSv4.1 COMPOUND: the package index's bytes " * 20


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(directory, label):
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(label)).issuer_name(_name(label))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_cert(directory, ca, host):
    ca_key, ca_cert = ca[:2]
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / f"{host}-cert.pem", directory / f"{host}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoServer:
    """A TLS server that echoes what it receives: the stand-in for the mount target's 2049."""

    def __init__(self, cert, key):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received, self.errors = [], []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                raw = self.listener.accept()[0]
            except OSError:
                return
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    while data := conn.recv(65536):
                        self.received.append(data)
                        conn.sendall(data)
            except (ssl.SSLError, OSError) as error:
                self.errors.append(error)

    def close(self):
        self.listener.close()


class Relay:
    """A plain TCP relay between stunnel and the server; keeps the bytes it carried."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream = bytearray()
        threading.Thread(target=self._serve, daemon=True).start()

    def _pipe(self, source, sink, record):
        try:
            while data := source.recv(65536):
                if record is not None:
                    record.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self):
        while True:
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, self.upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    def close(self):
        self.listener.close()


def render(connect_port, accept_port, ca_file):
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True,  # noqa: S701 - a config file, not HTML
                                     undefined=jinja2.StrictUndefined)
    return environment.get_template("efs-tunnel.conf.j2").render(
        pypiserver_efs_tls_port=accept_port, _pypiserver_efs_dns_name=NAME, _pypiserver_efs_port=connect_port,
        _pypiserver_efs_tls_ca_file=str(ca_file))


@pytest.fixture
def tunnel(tmp_path):
    """Starts stunnel4 with the role's configuration, connecting to a port; yields the local port."""
    processes = []

    def start(connect_port, ca_file):
        accept = _free_port()
        config = tmp_path / f"tunnel-{accept}.conf"
        config.write_text(render(connect_port, accept, ca_file))
        process = subprocess.Popen([STUNNEL, str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", accept), timeout=1).close()
                return accept, process
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                time.sleep(0.1)
        raise AssertionError("stunnel did not listen")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def _exchange(port, payload=PAYLOAD):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(payload)
        answer = bytearray()
        while len(answer) < len(payload):
            try:
                data = client.recv(65536)
            except ConnectionResetError:  # stunnel drops a client whose server it refused
                break
            if not data:
                break
            answer.extend(data)
        return bytes(answer)


def test_bytes_cross_the_tunnel_encrypted(tmp_path, tunnel):
    ca = _ca(tmp_path, "amazon-standin-ca")
    server = EchoServer(*_server_cert(tmp_path, ca, NAME))
    relay = Relay(server.port)
    try:
        port = tunnel(relay.port, ca[2])[0]
        assert _exchange(port) == PAYLOAD
        assert b"".join(server.received) == PAYLOAD
        wire = bytes(relay.upstream)
        assert wire[:1] == b"\x16" and wire[1:2] == b"\x03"  # a TLS handshake record
        assert b"package index" not in wire  # the payload never crossed in clear text
    finally:
        relay.close()
        server.close()


@pytest.mark.parametrize("spoof", ["other-ca", "other-name"])
def test_a_wrong_certificate_is_refused(tmp_path, tunnel, spoof):
    trusted = _ca(tmp_path, "amazon-standin-ca")
    if spoof == "other-ca":
        cert = _server_cert(tmp_path, _ca(tmp_path, "attacker-ca"), NAME)
    else:
        cert = _server_cert(tmp_path, trusted, "fs-other.efs.eu-west-1.amazonaws.com")
    server = EchoServer(*cert)
    try:
        port, process = tunnel(server.port, trusted[2])
        assert _exchange(port) == b""
        assert process.poll() is None  # the tunnel stays up for the next (genuine) connection
        assert server.received == []
        time.sleep(0.5)
        assert server.errors and "ALERT" in str(server.errors[0]).upper(), server.errors  # stunnel sent an alert, not the bytes
    finally:
        server.close()


def test_the_tunnel_configuration_matches_efs_utils():
    config = render(2049, 20049, "/etc/pypiserver/efs-ca.pem")
    settings = dict(line.split(" = ", 1) for line in config.splitlines() if " = " in line and not line.startswith(";"))
    assert settings["client"] == "yes" and settings["accept"] == "127.0.0.1:20049"
    assert settings["connect"] == f"{NAME}:2049" and settings["checkHost"] == NAME
    assert settings["verifyChain"] == "yes" and settings["sslVersionMin"] == "TLSv1.2"
    assert settings["delay"] == "yes"  # resolves the EFS name per connection: it may appear late
