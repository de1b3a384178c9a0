"""Answers nginx auth_request subrequests: 200 with who and what they may do, 401, 429 or 503.

200 carries X-Privatepypi-User, -Role (reader|uploader|admin), -Projects (comma-separated fnmatch
patterns of normalized project names, empty: none, or every one for an admin), -Token (the token's name, empty for a
password) and -Expires (seconds the verdict may be kept). 401: missing, bad or malformed
credentials. 429 + Retry-After + X-Privatepypi-Backoff: `address` when the client address
(X-Real-IP, set by nginx) backs off after failed logins (nginx may then hold that address back
itself), `user` when the user name has spent its budget of wrong guesses (that answer concerns
this one request only). 503 + Retry-After: every slow-check slot is busy; nothing ever queues
behind them. Every answer carries X-Privatepypi-Generation, which changes whenever the
credential files do (nginx keys its own verdicts to it).

Nobody can lock anyone out: only wrong guesses are throttled. A user name has a budget of wrong
guesses that get a real check (a bucket of `burst`, refilled `per_hour` an hour: under 100 an hour
however many addresses send them); once it is spent, new credentials for that name are checked
only when they come from an address the user logged in from before, and a credential already
known to be right is answered from memory without a check. So a correct password from the
user's address, and every token, keep working whatever another address sends.

bcrypt is slow on purpose: a verdict is kept in memory under a keyed hash of the header (random
key per process, never the header), good ones and bad ones in separate least-recently-used maps
so a flood of new bad credentials cannot evict a working user. A password's verdict lasts until
that account's entry changes (a check of an unchanged hash always gives the same answer); a
token's until its expiry. When the files change, only the verdicts of accounts whose entries
changed are forgotten. An unknown user costs a check against a dummy hash of the file's cost,
like a wrong password. Tokens (user __token__) are HMAC digests: checked at once, without a slot.
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
TRUST_SECONDS = 30 * 86400  # an address where a user logged in stays that user's for a month
MAX_HEADER = 4096  # a Basic header of a 100-character name and a 72-byte password is far shorter
MAX_HEAD = 65536  # nginx passes the client's headers too (4 x 8k by default)
BCRYPT_MAX_BYTES = 72  # bcrypt ignores what follows: such a password is refused, not truncated
DENY_HEADERS = (("WWW-Authenticate", 'Basic realm="pypiserver"'),)
UNKNOWN_NAME = "(no such account)"  # logged instead of a name no account has
CONTEXT = CryptContext(schemes=["bcrypt"])  # access.parse_htpasswd refuses every other scheme


class Verdict:
    """One answer on one credential. `account` names the entry it was made from and `fingerprint` is
    that entry as it was: when the files change, a verdict whose account's entry differs is dropped.
    `expires` is a wall-clock time (a token's expiry), 0: none."""

    __slots__ = ("ok", "user", "role", "projects", "token", "expires", "account", "fingerprint")

    def __init__(self, ok, user="", role="", projects=(), token="", expires=0.0, account=None, fingerprint=None):
        self.ok, self.user, self.role, self.projects, self.token = ok, user, role, projects, token
        self.expires, self.account, self.fingerprint = expires, account, fingerprint

    def headers(self, keep):
        return (("X-Privatepypi-User", self.user), ("X-Privatepypi-Role", self.role),
                ("X-Privatepypi-Projects", ",".join(self.projects)), ("X-Privatepypi-Token", self.token),
                ("X-Privatepypi-Expires", str(max(1, int(keep)))))


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

    def drop_if(self, condition):
        for key in [key for key, value in self.items.items() if condition(value)]:
            del self.items[key]

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


class GuessBudget:
    """Wrong guesses per user name that get a real check: a bucket of `burst` refilled at `per_hour`
    an hour, so at most burst + per_hour in any hour, from however many addresses. Only wrong
    guesses spend it; a right one never does, and nothing here ever refuses a right credential
    (the caller decides what an empty bucket means)."""

    def __init__(self, burst=20, per_hour=60, size=65536):
        self.burst, self.rate = float(burst), per_hour / 3600.0
        self.state = LRU(size)  # user -> [level, when]

    def level(self, user, now):
        entry = self.state.get(user)
        if entry is None:
            return self.burst
        return min(self.burst, entry[0] + (now - entry[1]) * self.rate)

    def wait(self, user, now):
        """Seconds until the next guess for this user may be checked (0: now)."""
        missing = 1.0 - self.level(user, now)
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else 3600.0

    def spend(self, user, now):
        """Records a wrong guess; True when it empties the bucket (one audit record per burst)."""
        before = self.level(user, now)
        self.state.put(user, [max(0.0, before - 1.0), now])
        return before >= 1.0 > before - 1.0


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
    # tokens are HMAC-checked (a minted upload token carries its grant): the bound is bcrypt's only
    if user != access.TOKEN_USER and len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        return None
    return user, password


class CredentialVerifier:
    def __init__(self, htpasswd_path, ttl, executor, roles_path="", tokens_path="", slots=2, cache_size=10000,
                 backoff=None, audit_log="", clock=time.monotonic, wall=time.time, guesses=None,
                 trust_seconds=TRUST_SECONDS, mint_key=""):
        self._mint_key_path = mint_key
        self._mint_key = None
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
        self._boot = secrets.token_hex(4)  # a restart is a new generation too, whatever its counter
        self._stat_at = -STAT_INTERVAL
        self._by_address = backoff or Backoff()
        self._guesses = guesses or GuessBudget()
        # (user, address) -> when the user last logged in from there: where a right credential
        # is still checked once the user's guess budget is spent
        self._trusted = LRU(max(cache_size, 65536))
        self._trust_seconds = trust_seconds
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
        # a burned minted token changes the burned directory: a new generation, so nginx forgets its verdict
        burned = [access.burned_dir(self._mint_key_path)] if self._mint_key_path else []
        for path in (*self._paths, *burned):
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
            # installed; this only has to parse what it is given. A hash of any other scheme than
            # bcrypt (sha512-crypt, apr1, plain text...) refuses the whole file, loudly: such a user
            # would answer in milliseconds where an unknown one costs a bcrypt.
            texts = [self._read(p) if p else "" for p in self._paths]
            users, roles, tokens = access.parse_htpasswd(texts[0], 4), access.parse_roles(texts[1]), access.parse_tokens(texts[2])
        except (OSError, UnicodeDecodeError, access.AccessError) as error:
            LOG.error("credential files refused, %s: %s",
                      "the last good ones stay in use" if self._generation else "every request is refused", error)
            return
        if signature[0] is None:
            LOG.warning("htpasswd %s missing: every request is refused", self._paths[0])
        self._users, self._roles, self._tokens = users, roles, tokens
        self._dummy = self._dummy_hash(users)
        self._generation += 1
        # Only the verdicts of accounts whose entries changed are forgotten: the others stay
        # right, and forgetting them would send every colleague back to bcrypt at once.
        before = len(self._good) + len(self._bad)
        self._good.drop_if(self._changed)
        self._bad.drop_if(self._changed)
        LOG.info("credentials reloaded: %d users, %d roles, %d tokens; %d verdicts of changed accounts forgotten",
                 len(users), len(roles), len(tokens), before - len(self._good) - len(self._bad))

    def _changed(self, verdict):
        return verdict.fingerprint != self._fingerprint(verdict.account)

    @property
    def generation(self):
        return f"{self._boot}-{self._generation}"

    def _fingerprint(self, account):
        """What a verdict on this account depends on, in the files as they are now."""
        kind, name = account
        if kind == "minted":  # a minted token depends on no credential file: only on whether it was burned
            return bool(name) and os.path.exists(self._burned(name))
        if kind == "user":
            return self._users.get(name), self._roles.get(name)
        if kind == "token":
            token = self._tokens.get(name)
            return token.line() if token else None
        # a refused token: any token could be the one its secret now matches
        return tuple(sorted(token.line() for token in self._tokens.values()))

    def _dummy_hash(self, users):
        # An unknown user is checked against this, so it costs what a known user's wrong password costs.
        costs = [access.hash_cost(h)[1] for h in users.values()]  # all bcrypt: parse_htpasswd saw to that
        rounds = max(costs) if costs else 12
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

    def _password_verdict(self, user, ok, fingerprint):
        account = ("user", user)
        if not ok:
            return Verdict(False, user, account=account, fingerprint=fingerprint)
        role, patterns = self._roles.get(user, (access.DEFAULT_ROLE, ()))
        return Verdict(True, user, role, patterns, "", 0.0, account, fingerprint)

    def _burned(self, grant):
        return os.path.join(access.burned_dir(self._mint_key_path), grant)

    def _minted_key(self):
        """The key of trusted publishing's upload tokens (privatepypi_host.oidc), read once it exists."""
        if self._mint_key is None and self._mint_key_path:
            try:
                with open(self._mint_key_path, "rb") as f:
                    self._mint_key = bytes.fromhex(f.read().decode().strip()) or None
            except (OSError, ValueError):
                return None
        return self._mint_key

    def _minted_verdict(self, secret):
        # imported here: only a host with trusted publishing has oidc.py's tokens to check
        from privatepypi_host import oidc  # noqa: PLC0415

        found = oidc.verify_minted(self._minted_key(), secret, self._wall())
        if found is None:
            return Verdict(False, access.TOKEN_USER, account=("minted", ""), fingerprint=False)
        name, patterns, expires = found
        account = ("minted", oidc.grant_id(name))
        if self._fingerprint(account):  # burned (revoked by its holder, /_/oidc/burn-token)
            return Verdict(False, access.TOKEN_USER, account=("minted", ""), fingerprint=False)
        # upload only, to the projects granted, until the grant's expiry (never a read: see privatepypi.lua)
        return Verdict(True, access.TOKEN_USER, oidc.PUBLISHER_ROLE, patterns, name, float(expires), account, False)

    def _token_verdict(self, secret):
        if secret.startswith(access.MINTED_PREFIX):
            return self._minted_verdict(secret)
        token = access.find_token(self._tokens, secret)
        if token is None or token.expired(self._wall()):
            account = ("tokens", "")
            return Verdict(False, access.TOKEN_USER, account=account, fingerprint=self._fingerprint(account))
        # kept only until the token expires: it stops working at its expiry, not a ttl later
        account = ("token", token.name)
        return Verdict(True, access.TOKEN_USER, token.role, token.patterns, token.name, float(token.expires),
                       account, self._fingerprint(account))

    def _keep(self, verdict):
        """Seconds nginx may keep this verdict."""
        return self._ttl if not verdict.expires else min(self._ttl, verdict.expires - self._wall())

    def _loggable(self, user):
        """A name fit for the journal and the audit log: an account's, or none. What a client typed
        as a user name that no account has may be a password or a token in the wrong field."""
        return user if user in self._users or user == access.TOKEN_USER else UNKNOWN_NAME

    def _audit_burst(self, what, key, address, user):
        LOG.warning("failed logins: %s %s backs off", what, address if what == "address" else self._loggable(key))
        access.audit(self._audit_log, "login_failures", who=self._loggable(user) if user else "", client=address,
                     backoff=what)

    def _failed(self, address, user, now, checked=False):
        if self._by_address.failed(address, now):
            self._audit_burst("address", address, address, user)
        # Only a wrong guess that was really checked spends the user's budget. __token__ is shared
        # by every token (and a token cannot be guessed): it has no budget.
        if checked and user not in (None, access.TOKEN_USER) and self._guesses.spend(user, now):
            self._audit_burst("user", user, address, user)

    def _trusted_address(self, user, address, now):
        since = self._trusted.get((user, address))
        return since is not None and now - since < self._trust_seconds

    def _with_generation(self, status, headers):
        return status, (*headers, ("X-Privatepypi-Generation", self.generation))

    async def decide(self, values, address=""):
        """(status, headers) for the Authorization header values of one request."""
        now = self._clock()
        self.refresh(now)
        return self._with_generation(*await self._decide(values, address, now))

    async def _decide(self, values, address, now):
        credentials = parse_authorization(values)
        if credentials is None:
            if not values:  # nginx asks without credentials first: not a failed login
                return 401, DENY_HEADERS
            wait = self._by_address.wait(address, now)
            if wait > 0:
                return 429, retry_after(wait, "address")
            self._failed(address, None, now)
            return 401, DENY_HEADERS
        user, password = credentials
        digest = hashlib.blake2b(values[0].strip(), key=self._key, digest_size=20).digest()
        verdict = self._good.get(digest)
        if verdict is not None:
            if not verdict.expires or verdict.expires > self._wall():
                # known right: answered whatever anyone else sent, without a check
                return 200, verdict.headers(self._keep(verdict))
            self._good.pop(digest)
        wait = self._by_address.wait(address, now)
        if wait > 0:
            return 429, retry_after(wait, "address")
        verdict = self._bad.get(digest)
        if verdict is None:
            wait = 0.0 if user == access.TOKEN_USER else self._guesses.wait(user, now)
            if wait > 0 and not self._trusted_address(user, address, now):
                # The name's budget of wrong guesses is spent: no more checks for it, except from
                # where this user has logged in (so the user is never locked out from there).
                return 429, retry_after(wait, "user")
            verdict = await self._verify(digest, user, password, now)
            if verdict is None:
                return 503, (("Retry-After", "1"),)
            checked = True
        else:
            checked = False  # a guess already refused: no check, no second charge on the budget
        if not verdict.ok:
            self._failed(address, user, now, checked)
            return 401, DENY_HEADERS
        self._by_address.succeeded(address)
        if user != access.TOKEN_USER:
            self._trusted.put((user, address), now)
        return 200, verdict.headers(self._keep(verdict))

    async def _verify(self, digest, user, password, now):
        generation = self._generation
        if user == access.TOKEN_USER:
            verdict = self._token_verdict(password)
        else:
            fingerprint = self._fingerprint(("user", user))
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
            verdict = self._password_verdict(user, ok, fingerprint)
        if generation == self._generation:  # not a verdict on files that changed meanwhile
            (self._good if verdict.ok else self._bad).put(digest, verdict)
        return verdict


def retry_after(wait, what):
    return ("Retry-After", str(max(1, int(wait + 0.999)))), ("X-Privatepypi-Backoff", what)


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
    parser.add_argument("--backoff-free", type=int, default=5, help="failed logins from an address before it backs off")
    parser.add_argument("--backoff-max", type=float, default=60.0, help="longest back-off, seconds")
    parser.add_argument("--guess-burst", type=int, default=20, help="wrong guesses per user name checked at once")
    parser.add_argument("--guesses-per-hour", type=float, default=60, help="and then per hour")
    parser.add_argument("--mint-key", default="", help="key of trusted publishing's upload tokens (oidc.py)")
    return parser.parse_args(argv)


async def main(argv=None):
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=args.slots)
    verifier = CredentialVerifier(args.htpasswd, args.ttl, executor, args.roles, args.tokens, args.slots, args.cache_size,
                                  Backoff(args.backoff_free, 1.0, args.backoff_max), args.audit_log,
                                  guesses=GuessBudget(args.guess_burst, args.guesses_per_hour), mint_key=args.mint_key)
    verifier.refresh(time.monotonic())  # the files and the dummy hash (one bcrypt) before the first request
    server = await asyncio.start_server(
        lambda r, w: serve_connection(verifier, r, w), args.listen, args.port, limit=MAX_HEAD)
    LOG.info("listening on %s:%d, %d slow-check slots", args.listen, args.port, args.slots)
    notify("READY=1")  # nginx starts after this: no request meets a closed port
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
