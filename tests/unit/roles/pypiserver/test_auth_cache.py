"""auth_cache.py: nginx auth_request answers from a real htpasswd file, over a real socket."""

import asyncio
import base64
import concurrent.futures
import os
import time

from passlib.apache import HtpasswdFile
from privatepypi_host import auth_cache


def header(user, password):
    return base64.b64encode(f"{user}:{password}".encode())


def make_htpasswd(path, users):
    ht = HtpasswdFile(str(path), new=True, default_scheme="bcrypt")
    for user, password in users.items():
        ht.set_password(user, password)
    ht.save()


def test_basic_credentials_parsing():
    assert auth_cache.basic_credentials(b"GET / HTTP/1.1\r\nAuthorization: Basic abc=\r\n\r\n") == b"abc="
    assert auth_cache.basic_credentials(b"GET / HTTP/1.1\r\nauthorization: Bearer abc\r\n\r\n") is None
    assert auth_cache.basic_credentials(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None


def test_server_allows_denies_and_forgets_on_change(tmp_path):
    path = tmp_path / "htpasswd"
    make_htpasswd(path, {"alice": "secret"})

    async def scenario():
        executor = concurrent.futures.ThreadPoolExecutor(2)
        verifier = auth_cache.CredentialVerifier(str(path), 300, executor)
        server = await asyncio.start_server(lambda r, w: auth_cache.serve_connection(verifier, r, w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def ask(token):
            line = b"Authorization: Basic " + token + b"\r\n" if token else b""
            writer.write(b"GET /_auth HTTP/1.1\r\n" + line + b"\r\n")
            return (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0]

        results = [await ask(header("alice", "secret")), await ask(header("alice", "wrong")), await ask(None),
                   await ask(b"!!notbase64")]
        started = time.monotonic()
        cached = await ask(header("alice", "secret"))
        cached_seconds = time.monotonic() - started
        make_htpasswd(path, {"bob": "other"})
        os.utime(path, (time.time() + 5, time.time() + 5))
        verifier._stat_at = 0  # the next request re-reads the file instead of waiting out STAT_INTERVAL
        after = await ask(header("alice", "secret"))
        writer.close()
        server.close()
        executor.shutdown()
        return results, cached, cached_seconds, after

    results, cached, cached_seconds, after = asyncio.run(scenario())
    assert results == [b"HTTP/1.1 204 No Content"] + [b"HTTP/1.1 401 Unauthorized"] * 3
    assert cached == b"HTTP/1.1 204 No Content" and cached_seconds < 0.05
    assert after == b"HTTP/1.1 401 Unauthorized"


def test_ready_only_once_listening(tmp_path):
    """Type=notify: systemd starts nginx (ordered after this unit) only when the port answers."""
    import socket
    import subprocess
    import sys

    from conftest import FILES

    make_htpasswd(tmp_path / "htpasswd", {"alice": "right-password"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(address)
        systemd.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET=address, PYTHONPATH=FILES)
        proc = subprocess.Popen([sys.executable, "-m", "privatepypi_host.auth_cache", "--htpasswd",
                                 str(tmp_path / "htpasswd"), "--port", str(port)], env=env)
        try:
            assert systemd.recv(100) == b"READY=1"
            with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
                client.sendall(b"GET /_auth HTTP/1.1\r\nHost: x\r\n\r\n")
                assert client.recv(100).startswith(b"HTTP/1.1 401")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
