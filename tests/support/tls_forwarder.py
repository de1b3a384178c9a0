"""HTTPS in front of a plain-HTTP index, in tests, as a load balancer terminates TLS in front of one.

Trusted publishing clients derive https://<index host>/_/oidc/... from the upload URL whatever its
scheme (uv, PyPA's publish action): they speak to an index over HTTPS only. This forwarder listens
with a certificate for 127.0.0.1 issued by a throwaway CA (ca_file: give it to the client as
SSL_CERT_FILE / REQUESTS_CA_BUNDLE) and copies bytes both ways to the target.

    front = TlsForwarder(("127.0.0.1", 18081), workdir).start()
    front.url          # https://127.0.0.1:<port>
    front.ca_file
"""

import datetime
import ipaddress
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _certificates(workdir):
    """(CA file, certificate chain file, key file) for 127.0.0.1, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privatepypi test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_file, chain_file, key_file = workdir / "ca.pem", workdir / "chain.pem", workdir / "key.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    chain_file.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, chain_file, key_file


class TlsForwarder:
    def __init__(self, target, workdir, listen=("127.0.0.1", 0)):
        self.target, self.listen = target, listen
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file, chain, key = _certificates(workdir)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain, key)
        self._sock = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self):
        self._sock = socket.create_server(self.listen)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while self._sock is not None:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            tls = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.target, timeout=60)
        except OSError:
            client.close()
            return

        def pipe(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()
        pipe(tls, upstream)

    def stop(self):
        sock, self._sock = self._sock, None
        if sock:
            sock.close()
