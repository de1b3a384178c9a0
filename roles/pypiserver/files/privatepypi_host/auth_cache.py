"""Answers nginx auth_request subrequests: 200 with who and what they may do, 401, 429 or 503.

200 carries X-Privatepypi-User, -Role (reader|uploader|admin), -Projects (comma-separated fnmatch
patterns of normalized project names, empty: all) and -Token (the token's name, empty for a
password). 401: missing, bad or malformed credentials. 429 + Retry-After: the client address
(X-Real-IP, set by nginx) or the user name is backing off after failed logins. 503 + Retry-After:
every slow-check slot is busy; nothing ever queues behind them.

bcrypt is slow on purpose: a verdict is kept in memory under a keyed hash of the header (random
key per process, never the header), good ones and bad ones in separate least-recently-used maps
so a flood of new bad credentials cannot evict a working user. An unknown user costs a check
against a dummy hash of the file's cost, like a wrong password. Tokens (user __token__) are
HMAC digests: checked at once, without a slot. The files are re-read when they change.
"""

import argparse
import asyncio
import base64
import binascii
import collections
import concurrent.futures
import hashlib
import logging
import os
import secrets
import time

from passlib.context import CryptContext
from passlib.hash import bcrypt

from privatepypi_host import access, notify

LOG = logging.getLogger("pypiserver-auth")
STAT_INTERVAL = 1.0
MAX_HEADER = 4096  # a Basic header of a 100-character name and a 72-byte password is far shorter
MAX_HEAD = 65536  # nginx passes the client's headers too (4 x 8k by default)
BCRYPT_MAX_BYTES = 72  # bcrypt ignores what follows: such a password is refused, not truncated
DENY_HEADERS = (("WWW-Authenticate", 'Basic realm="pypiserver"'),)
CONTEXT = CryptContext(schemes=["bcrypt", "sha512_crypt"])


class Verdict:
    __slots__ = ("ok", "user", "role", "projects", "token", "expires")

    def __init__(self, ok, user="", role="", projects=(), token="", expires=0.0):
        self.ok, self.user, self.role, self.projects, self.token, self.expires = ok, user, role, projects, token, expires

    def headers(self):
        return (("X-Privatepypi-User", self.user), ("X-Privatepypi-Role", self.role),
                ("X-Privatepypi-Projects", ",".join(self.projects)), ("X-Privatepypi-Token", self.token))


class LRU:
    """A bounded map that forgets the least recently used entry first."""

    def __init__(self, size):
        self.size = size
        self.items = collections.OrderedDict()

    def get(self, key):
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key, value):
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def pop(self, key):
        self.items.pop(key, None)

    def clear(self):
        self.items.clear()

    def __len__(self):
        return len(self.items)


class Backoff:
    """Failed logins per key (address or user name): after `free` failures, none more than `window`
    seconds after the one before, the key waits base * 2**(extra failures) seconds, at most
    `ceiling`, before its next try. Only `window` seconds without a failure start the count again,
    so guesses paced slowly still add up."""

    def __init__(self, free=5, base=1.0, ceiling=60.0, window=600.0, size=65536):
        self.free, self.base, self.ceiling, self.window = free, base, ceiling, window
        self.state = LRU(size)  # key -> [failures, last failure, blocked until]

    def wait(self, key, now):
        entry = self.state.get(key)
        if entry is None or entry[2] <= now:
            return 0.0
        return entry[2] - now

    def failed(self, key, now):
        """Records a failure; True when this failure starts a back-off (one audit record per burst)."""
        entry = self.state.get(key)
        if entry is None or now - entry[1] > self.window:
            entry = [0, now, 0.0]
            self.state.put(key, entry)
        entry[0] += 1
        entry[1] = now
        if entry[0] < self.free:
            return False
        entry[2] = now + min(self.ceiling, self.base * 2 ** (entry[0] - self.free))
        return entry[0] == self.free

    def succeeded(self, key):
        self.state.pop(key)


def parse_authorization(values):
    """(user, password) of exactly one well-formed Basic header, else None (always a 401)."""
    if len(values) != 1:
        return None
    value = values[0].strip()
    if not value or len(value) > MAX_HEADER:
        return None
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or not password or not access.NAME_RE.match(user) and user != access.TOKEN_USER:
        return None
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        return None
    return user, password


class CredentialVerifier:
    def __init__(self, htpasswd_path, ttl, executor, roles_path="", tokens_path="", slots=2, cache_size=10000,
                 backoff=None, audit_log="", clock=time.monotonic, wall=time.time):
        self._paths = (htpasswd_path, roles_path, tokens_path)
        self._ttl = ttl
        self._executor = executor
        self._slots = slots
        self._busy = 0
        self._key = secrets.token_bytes(32)
        self._good = LRU(cache_size)
        self._bad = LRU(cache_size)
        self._pending = {}  # keyed digest -> future of a running slow check
        self._users, self._roles, self._tokens = {}, {}, {}
        self._dummy = None
        self._signature = None
        self._generation = 0
        self._stat_at = -STAT_INTERVAL
        self._by_address = backoff or Backoff()
        self._by_user = Backoff(self._by_address.free, self._by_address.base, self._by_address.ceiling,
                                self._by_address.window)
        self._audit_log = audit_log
        self._clock = clock
        self._wall = wall

    @staticmethod
    def _read(path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:  # no htpasswd: nobody gets in; no roles or tokens file: none given
            return ""

    def refresh(self, now):
        if now - self._stat_at < STAT_INTERVAL:
            return
        self._stat_at = now
        signature = []
        for path in self._paths:
            try:
                st = os.stat(path) if path else None
                signature.append((st.st_ino, st.st_mtime_ns, st.st_size) if st else None)
            except OSError:
                signature.append(None)
        if signature == self._signature:
            return
        self._signature = signature
        try:
            # The cost floor is 4 here: the refresh and the role refuse weak files before they are
            # installed; this only has to parse what it is given.
            texts = [self._read(p) if p else "" for p in self._paths]
            users, roles, tokens = access.parse_htpasswd(texts[0], 4), access.parse_roles(texts[1]), access.parse_tokens(texts[2])
        except (OSError, UnicodeDecodeError, access.AccessError) as error:
            LOG.error("credential files not reloaded, the last good ones stay in use: %s", error)
            return
        if signature[0] is None:
            LOG.warning("htpasswd %s missing: every request is refused", self._paths[0])
        self._users, self._roles, self._tokens = users, roles, tokens
        self._dummy = self._dummy_hash(users)
        self._generation += 1
        self._good.clear()
        self._bad.clear()
        LOG.info("credentials reloaded: %d users, %d roles, %d tokens; verdicts forgotten", len(users), len(roles), len(tokens))

    def _dummy_hash(self, users):
        # An unknown user is checked against this, so it costs what a known user's wrong password costs.
        costs = [access.hash_cost(h) for h in users.values()]
        bcrypt_costs = [c for s, c in costs if s == "bcrypt"]
        rounds = max(bcrypt_costs) if bcrypt_costs else 12
        if self._dummy and self._dummy[0] == rounds:
            return self._dummy
        return rounds, bcrypt.using(rounds=rounds).hash(secrets.token_hex(16))

    def _check_password(self, user, password):
        stored = self._users.get(user)
        try:
            ok = CONTEXT.verify(password, stored or self._dummy[1])
        except (ValueError, TypeError):
            ok = False
        return ok and stored is not None

    def _password_verdict(self, user, ok, now):
        if not ok:
            return Verdict(False, user)
        role, patterns = self._roles.get(user, (access.DEFAULT_ROLE, ()))
        return Verdict(True, user, role, patterns, "", now + self._ttl)

    def _token_verdict(self, secret, now):
        token = access.find_token(self._tokens, secret)
        wall = self._wall()
        if token is None or token.expired(wall):
            return Verdict(False, access.TOKEN_USER)
        # cached only until the token expires: it stops working at its expiry, not a ttl later
        expires = now + self._ttl if not token.expires else now + min(self._ttl, token.expires - wall)
        return Verdict(True, access.TOKEN_USER, token.role, token.patterns, token.name, expires)

    def _audit_burst(self, what, key, address, user):
        LOG.warning("failed logins: %s %s backs off", what, key)
        access.audit(self._audit_log, "login_failures", who=user or "", client=address, backoff=what)

    def _failed(self, address, user, now):
        if self._by_address.failed(address, now):
            self._audit_burst("address", address, address, user)
        # __token__ is shared by every token: backing it off would let anyone lock every CI job out
        if user not in (None, access.TOKEN_USER) and self._by_user.failed(user, now):
            self._audit_burst("user", user, address, user)

    def _backing_off(self, address, user, now):
        wait = max(self._by_address.wait(address, now), 0.0 if user == access.TOKEN_USER else self._by_user.wait(user, now))
        return wait

    async def decide(self, values, address=""):
        """(status, headers) for the Authorization header values of one request."""
        now = self._clock()
        self.refresh(now)
        credentials = parse_authorization(values)
        if credentials is None:
            if not values:  # nginx asks without credentials first: not a failed login
                return 401, DENY_HEADERS
            wait = self._by_address.wait(address, now)
            if wait > 0:
                return 429, (("Retry-After", str(max(1, int(wait + 0.999)))),)
            self._failed(address, None, now)
            return 401, DENY_HEADERS
        user, password = credentials
        digest = hashlib.blake2b(values[0].strip(), key=self._key, digest_size=20).digest()
        verdict = self._good.get(digest)
        if verdict is not None and verdict.expires > now:
            return 200, verdict.headers()
        wait = self._backing_off(address, user, now)
        if wait > 0:
            return 429, (("Retry-After", str(max(1, int(wait + 0.999)))),)
        verdict = self._bad.get(digest)
        if verdict is None:
            verdict = await self._verify(digest, user, password, now)
            if verdict is None:
                return 503, (("Retry-After", "1"),)
        if not verdict.ok:
            self._failed(address, user, now)
            return 401, DENY_HEADERS
        self._by_address.succeeded(address)
        self._by_user.succeeded(user)
        return 200, verdict.headers()

    async def _verify(self, digest, user, password, now):
        generation = self._generation
        if user == access.TOKEN_USER:
            verdict = self._token_verdict(password, now)
        else:
            future = self._pending.get(digest)
            if future is not None:  # the same header is being checked: share its answer, no second slot
                ok = await asyncio.shield(future)
            else:
                if self._busy >= self._slots:
                    return None
                self._busy += 1
                future = asyncio.get_running_loop().run_in_executor(self._executor, self._check_password, user, password)
                self._pending[digest] = future
                try:
                    ok = await future
                finally:
                    self._busy -= 1
                    del self._pending[digest]
            verdict = self._password_verdict(user, ok, now)
        if generation == self._generation:  # not a verdict on files that changed meanwhile
            (self._good if verdict.ok else self._bad).put(digest, verdict)
        return verdict


def parse_head(head):
    """(Authorization values, X-Real-IP) of a request head."""
    values, address = [], ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"authorization":
            values.append(value.strip())
        elif name == b"x-real-ip":
            address = value.strip().decode("latin-1")[:64]
    return values, address


def response(status, headers):
    reason = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [f"{name}: {value}".encode() for name, value in headers]
    lines.append(b"Content-Length: 0")
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def serve_connection(verifier, reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                writer.write(response(401, DENY_HEADERS))  # an oversized head is refused, then the connection closes
                break
            values, address = parse_head(head)
            try:
                status, headers = await verifier.decide(values, address)
            except Exception:  # a bug must cost a refusal, never the connection's other requests
                LOG.exception("refused after an internal error")
                status, headers = 401, DENY_HEADERS
            writer.write(response(status, headers))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--htpasswd", required=True)
    parser.add_argument("--roles", default="")
    parser.add_argument("--tokens", default="")
    parser.add_argument("--audit-log", default="")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=float, default=300)
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 2, help="concurrent slow (bcrypt) checks")
    parser.add_argument("--cache-size", type=int, default=10000)
    parser.add_argument("--backoff-free", type=int, default=5, help="failed logins before a back-off starts")
    parser.add_argument("--backoff-max", type=float, default=60.0, help="longest back-off, seconds")
    return parser.parse_args(argv)


async def main(argv=None):
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=args.slots)
    verifier = CredentialVerifier(args.htpasswd, args.ttl, executor, args.roles, args.tokens, args.slots, args.cache_size,
                                  Backoff(args.backoff_free, 1.0, args.backoff_max), args.audit_log)
    verifier.refresh(time.monotonic())  # the files and the dummy hash (one bcrypt) before the first request
    server = await asyncio.start_server(
        lambda r, w: serve_connection(verifier, r, w), args.listen, args.port, limit=MAX_HEAD)
    LOG.info("listening on %s:%d, %d slow-check slots", args.listen, args.port, args.slots)
    notify("READY=1")  # nginx starts after this: no request meets a closed port
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
