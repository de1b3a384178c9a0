"""Answers nginx auth_request subrequests: 204 if the Basic credentials verify, else 401.

bcrypt is slow on purpose, so verdicts are kept in memory under a keyed hash (random key
per process) until --ttl or until the htpasswd file changes.
"""

import argparse
import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import logging
import os
import secrets
import time

from passlib.apache import HtpasswdFile

from privatepypi_host import notify

LOG = logging.getLogger("pypiserver-auth")
ALLOW = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
DENY = (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"pypiserver\"\r\n"
        b"Content-Length: 0\r\n\r\n")
MAX_ENTRIES = 10000
STAT_INTERVAL = 1.0


class CredentialVerifier:
    def __init__(self, htpasswd_path, ttl, executor):
        self._path = htpasswd_path
        self._ttl = ttl
        self._executor = executor
        self._key = secrets.token_bytes(32)
        self._verdicts = {}  # keyed digest -> (allowed, expires at)
        self._pending = {}  # keyed digest -> future of a running check
        self._htpasswd = None
        self._file_signature = None
        self._stat_at = 0.0

    def _refresh(self, now):
        if now - self._stat_at < STAT_INTERVAL:
            return
        self._stat_at = now
        try:
            st = os.stat(self._path)
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            signature = None
        if signature != self._file_signature:
            self._htpasswd = HtpasswdFile(self._path) if signature else None
            self._file_signature = signature
            self._verdicts.clear()
            LOG.info("htpasswd %s, verdicts forgotten", "reloaded" if signature else "missing")

    def _check(self, htpasswd, header):
        try:
            user, _, password = base64.b64decode(header, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(user and htpasswd.check_password(user, password))

    async def allowed(self, header):
        if not header:
            return False
        now = time.monotonic()
        self._refresh(now)
        htpasswd = self._htpasswd
        if htpasswd is None:
            return False
        digest = hashlib.blake2b(header, key=self._key, digest_size=20).digest()
        verdict = self._verdicts.get(digest)
        if verdict is not None and verdict[1] > now:
            return verdict[0]
        future = self._pending.get(digest)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, self._check, htpasswd, header)
            self._pending[digest] = future
            try:
                result = await future
            finally:
                del self._pending[digest]
            if htpasswd is self._htpasswd:  # not a verdict on a file that changed meanwhile
                if len(self._verdicts) >= MAX_ENTRIES:
                    self._verdicts.clear()
                self._verdicts[digest] = (result, now + self._ttl)
            return result
        return await asyncio.shield(future)


def basic_credentials(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            return token.strip() if scheme.lower() == b"basic" else None
    return None


async def serve_connection(verifier, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            ok = await verifier.allowed(basic_credentials(head))
            writer.write(ALLOW if ok else DENY)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--htpasswd", required=True)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=float, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    verifier = CredentialVerifier(args.htpasswd, args.ttl, executor)
    server = await asyncio.start_server(
        lambda r, w: serve_connection(verifier, r, w), args.listen, args.port, limit=16384)
    LOG.info("listening on %s:%d", args.listen, args.port)
    notify("READY=1")  # nginx starts after this: no request meets a closed port
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
