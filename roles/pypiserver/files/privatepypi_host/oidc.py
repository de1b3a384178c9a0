"""Trusted publishing as the public index does it: a CI job's OpenID Connect token buys an upload token.

nginx passes these paths here, unauthenticated (the token in the body is the credential):
  GET  /_/oidc/audience    -> 200 {"audience": "<the audience tokens must name>"}
  POST /_/oidc/mint-token  {"token": "<JWT>"}
       -> 200 {"success": true, "token": "<upload token>", "expires": <epoch seconds>}
       -> 422 (503 when the issuer's keys cannot be had, 429 when the address backs off)
          {"message": "Token request failed", "errors": [{"code": ..., "description": ...}]}
  POST /_/oidc/burn-token  {"token": "<upload token>"}  -> 200 {"success": true}: the token is revoked
       (uv asks this once its upload is done), on every instance within about two seconds
The same paths and shapes as the public index, so uv's and PyPA's publish action's exchange work unchanged.

The JWT is checked against its issuer's published keys (discovery document, then jwks_uri; kept an hour,
fetched again at once, at most every few seconds, when a token names a key not known yet: a rotation is
followed without a restart), for the issuer's algorithms only (never "none"), its audience, expiry,
not-before and issuer; a token is taken once (its jti, or its digest, is recorded on the store until it
expires, so every instance sharing the store refuses a replay). Its claims must match a trusted publisher
of the configuration; the upload token it buys is limited to the projects of every publisher it matches and
lives minutes. An issuer that cannot be reached and whose keys are not known fails closed (503).

Upload tokens are self-contained: "ppo_" + base64url(JSON grant) + "." + base64url(HMAC-SHA256) under a
32-byte key on the store (.privatepypi/oidc/mint.key, made once by the first instance), so the credential
service of any instance checks one without a lookup (verify_minted). Their role is "publisher": upload, and
nothing else, not even a read.

Every exchange is one audit record (event oidc_exchange: issuer, matched claims, publishers, projects
granted; or the refusal's code and reason); an address whose exchanges are refused backs off like failed
logins, and its bursts are login_failures records (the alarm on failed logins counts them).
"""

import argparse
import base64
import binascii
import contextlib
import fnmatch
import hashlib
import hmac
import http.server
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from privatepypi_host import access, notify

LOG = logging.getLogger("pypiserver-oidc")
MAX_BODY = 64 * 1024  # a CI platform's token is 1-3 KB
MAX_TOKEN = 16 * 1024
MAX_DOCUMENT = 1 << 20  # discovery document, key set
LEEWAY = 30  # seconds of clock difference tolerated on exp and nbf
KEYS_MAX_AGE = 3600.0  # a key set is fetched again after this long anyway
KEYS_MIN_INTERVAL = 5.0  # an unknown key id fetches again at most this often per issuer (no fetch flood)
MINTED_PREFIX = access.MINTED_PREFIX
PUBLISHER_ROLE = access.PUBLISHER_ROLE
ALGORITHMS = ("RS256", "ES256")
BUILTIN = {
    "github": "https://token.actions.githubusercontent.com",
    "gitlab": "https://gitlab.com",
}
FAILED = {"message": "Token request failed"}


class Refused(Exception):
    """An exchange refused: status, a code (the error JSON's), a description a CI log may show."""

    def __init__(self, code, description, status=422, issuer=""):
        super().__init__(description)
        self.code, self.description, self.status, self.issuer = code, description, status, issuer


def b64decode(text):
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def split_jwt(token):
    """(header, claims, signing input, signature) of a compact JWS, or Refused."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise Refused("invalid-payload", "the token is missing, not a string or over 16 KiB")
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("invalid-token", "malformed token: not three dot-separated parts (a JWS)")
    try:
        header, claims = json.loads(b64decode(parts[0])), json.loads(b64decode(parts[1]))
        signature = b64decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested without end
        raise Refused("invalid-token", "malformed token: its parts are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Refused("invalid-token", "malformed token: header and claims must be JSON objects")
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), signature


# Signatures: RS256 (RSASSA-PKCS1-v1_5, SHA-256) and ES256 (ECDSA P-256, SHA-256), what the CI platforms
# sign with, through python's cryptography. Nothing else is accepted, whatever a token's header says.
def public_key(jwk):
    """(algorithm, key object) of one JWK, or None for a key of a kind not used here."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415 - only the exchange needs it

    def number(name):
        return int.from_bytes(b64decode(jwk[name]), "big")

    try:
        if jwk.get("kty") == "RSA":
            return "RS256", rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return "ES256", ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()
    except (KeyError, ValueError, TypeError):
        return None
    return None


def signature_valid(algorithm, key, signing_input, signature):
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils  # noqa: PLC0415

    try:
        if algorithm == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return True
        if algorithm == "ES256":
            if len(signature) != 64:  # JWS carries r || s, 32 bytes each
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(utils.encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a document is where the issuer says, not elsewhere
        return None


def fetch_json(url, timeout):
    """A JSON object from an issuer (no proxy from the environment, no redirect, 1 MiB at most)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)
    # the callers pass only https (or http where the configuration allows it) URLs
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "privatepypi-oidc"})  # noqa: S310
    with opener.open(request, timeout=timeout) as answer:
        body = answer.read(MAX_DOCUMENT + 1)
    if len(body) > MAX_DOCUMENT:
        raise ValueError(f"{url}: over {MAX_DOCUMENT} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url}: not a JSON object")
    return document


class Issuer:
    """One issuer's keys, from its discovery document's jwks_uri, kept and refreshed."""

    def __init__(self, url, algorithms=("RS256",), fetch=fetch_json, timeout=5.0, clock=time.monotonic,
                 insecure=False):
        self.url, self.algorithms, self._fetch, self._timeout, self._clock = url, tuple(algorithms), fetch, timeout, clock
        self._insecure = insecure
        self._keys = None  # kid -> (algorithm, key)
        self._fetched = None  # when the key set was last fetched (or tried)
        self._lock = threading.Lock()

    def _checked_url(self, url):
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme != "https" and not (self._insecure and scheme == "http"):
            raise ValueError(f"{url}: not https")
        return url

    def _load(self):
        discovery = self._fetch(self._checked_url(self.url.rstrip("/") + "/.well-known/openid-configuration"),
                                self._timeout)
        if discovery.get("issuer") != self.url:
            raise ValueError(f"the discovery document names the issuer {discovery.get('issuer')!r}, not {self.url!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the discovery document has no jwks_uri")
        document = self._fetch(self._checked_url(jwks_uri), self._timeout)
        keys = {}
        for jwk in document.get("keys") or []:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            found = public_key(jwk)
            if found and found[0] in self.algorithms and jwk.get("alg", found[0]) == found[0]:
                keys[str(jwk.get("kid", ""))] = found
        return keys

    def keys(self, kid):
        """The keys a token naming `kid` may be checked with; fetched when unknown, old, or never fetched."""
        now = self._clock()
        with self._lock:
            known = self._keys is not None and (kid in self._keys or not kid)
            stale = self._fetched is None or now - self._fetched > KEYS_MAX_AGE
            may_fetch = self._fetched is None or now - self._fetched >= KEYS_MIN_INTERVAL
            if (stale or not known) and may_fetch:
                self._fetched = now
                try:
                    self._keys = self._load()
                    LOG.info("keys of %s fetched: %s", self.url, ", ".join(sorted(self._keys)) or "none")
                except (OSError, ValueError, urllib.error.URLError) as error:
                    # kept keys stay in use (they are still the issuer's); none known: fail closed
                    LOG.warning("keys of %s not fetched: %s", self.url, error)
                    if self._keys is None:
                        raise Refused("issuer-unavailable", f"the keys of the issuer {self.url} cannot be fetched "
                                      f"({error}); nothing is accepted from it until they can", 503, self.url) from None
            if self._keys is None:
                raise Refused("issuer-unavailable", f"the keys of the issuer {self.url} are not known yet; retry",
                              503, self.url)
            if kid:
                found = self._keys.get(kid)
                return [found] if found else []
            return list(self._keys.values())


def _text(value):
    return value if isinstance(value, str) else None


def _ref_matches(pattern, value):
    return value is not None and (fnmatch.fnmatchcase(value, pattern) if any(c in pattern for c in "*?[") else value == pattern)


class Publisher:
    """A trusted publisher of the configuration: who (issuer and claims) may publish what (projects).

    issuer: github or gitlab (claims as below; issuer_url for a self-managed instance) or another issuer's URL.
    github: repository "owner/name", workflow "release.yml" (job_workflow_ref is
            owner/name/.github/workflows/release.yml@<ref>), ref (the ref claim, a pattern), environment.
    gitlab: repository "group/project" (project_path), workflow ".gitlab-ci.yml" (ci_config_ref_uri is
            <host>/group/project//.gitlab-ci.yml@<ref>), ref (ref_path, a pattern), environment.
    any other issuer: claims, each equal to the token's (or, for a list, one of them).
    """

    def __init__(self, entry, index=0):
        issuer = entry["issuer"]
        self.kind = issuer if issuer in BUILTIN else "custom"
        self.issuer = entry.get("issuer_url") or BUILTIN.get(issuer) or issuer
        self.name = entry.get("name") or f"publisher-{index + 1}"
        self.projects = tuple(entry["projects"])
        self.algorithms = tuple(entry.get("algorithms") or ("RS256",))
        self.repository = entry.get("repository", "")
        self.workflow = entry.get("workflow", "")
        self.ref = entry.get("ref", "")
        self.environment = entry.get("environment", "")
        self.claims = dict(entry.get("claims") or {})

    def match(self, claims):
        """The claims that matched (claim -> value), or None."""
        matched = {}

        def need(claim, ok):
            value = claims.get(claim)
            if not ok(value):
                return False
            matched[claim] = value
            return True

        if self.kind == "github":
            repository = self.repository.lower()
            prefix = f"{repository}/.github/workflows/{self.workflow}@"
            if not (need("repository", lambda v: _text(v) is not None and v.lower() == repository)
                    and need("job_workflow_ref", lambda v: _text(v) is not None and v.lower().startswith(prefix.lower()))):
                return None
            ref_claim = "ref"
        elif self.kind == "gitlab":
            repository = self.repository.lower()
            suffix = f"/{repository}//{self.workflow}@"

            def config_matches(value):
                if _text(value) is None or "@" not in value:
                    return False
                head = value[:value.index("@") + 1]
                return head.lower().endswith(suffix.lower()) and head.count("/") == suffix.count("/")

            if not (need("project_path", lambda v: _text(v) is not None and v.lower() == repository)
                    and need("ci_config_ref_uri", config_matches)):
                return None
            ref_claim = "ref_path"
        else:
            for claim, wanted in self.claims.items():
                allowed = wanted if isinstance(wanted, list) else [wanted]
                if not need(claim, lambda v, allowed=allowed: isinstance(v, str | int | bool) and str(v) in map(str, allowed)):
                    return None
            return matched
        if self.ref and not need(ref_claim, lambda v: _ref_matches(self.ref, _text(v))):
            return None
        if self.environment and not need("environment", lambda v: v == self.environment):
            return None
        return matched


def private_dir(path):
    """path made (parents as the process's umask leaves them: .privatepypi stays readable by nginx's
    group, it serves the metadata files under it) and closed to all but this service's user."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o700)


class Minter:
    """The HMAC key of upload tokens, shared by every instance through the store."""

    def __init__(self, key_path):
        self.key_path = key_path

    def key(self, create=False):
        with contextlib.suppress(FileNotFoundError):
            with open(self.key_path, "rb") as f:
                return bytes.fromhex(f.read().decode().strip())
        if not create:
            return None
        private_dir(os.path.dirname(self.key_path))
        staged = f"{self.key_path}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        # linked into place: of two instances starting together, one key wins and both use it (NFS too)
        with contextlib.suppress(FileExistsError):
            os.link(staged, self.key_path)
        os.unlink(staged)
        return self.key(create=False)

    def mint(self, projects, expires, name):
        grant = {"v": 1, "p": list(projects), "exp": int(expires), "id": secrets.token_hex(8), "n": name}
        body = b64encode(json.dumps(grant, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self.key(create=True), (MINTED_PREFIX + body).encode(), hashlib.sha256).digest()
        return f"{MINTED_PREFIX}{body}.{b64encode(mac)}", grant


def burned_path(key_path, grant):
    """Where the revocation of a minted token is recorded (beside the key: the credential service reads both)."""
    return os.path.join(access.burned_dir(key_path), grant)


def grant_id(name):
    """The grant's id of a verify_minted token name (oidc:<publishers>:<id>)."""
    return name.rsplit(":", 1)[-1]


def verify_minted(key, secret, now):
    """(token name, project patterns, expires) of a valid, unexpired upload token, else None."""
    if not key or not secret.startswith(MINTED_PREFIX) or len(secret) > 4096:
        return None
    body, _, mac = secret[len(MINTED_PREFIX):].partition(".")
    try:
        expected = hmac.new(key, (MINTED_PREFIX + body).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64decode(mac)):
            return None
        grant = json.loads(b64decode(body))
        patterns, expires, name = tuple(grant["p"]), int(grant["exp"]), str(grant["n"])
    except (ValueError, binascii.Error, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return None
    if now >= expires or not patterns or not re.fullmatch(r"[0-9a-f]{16}", str(grant.get("id"))):
        return None
    return f"{name}:{grant['id']}", patterns, expires


class Exchange:
    """Checks OIDC tokens and mints upload tokens (the service's logic, without HTTP)."""

    def __init__(self, config, packages, audit_log="", fetch=fetch_json, wall=time.time, clock=time.monotonic):
        self.audience = config["audience"]
        self.minutes = int(config.get("token_minutes", 15))
        self.publishers = [Publisher(p, i) for i, p in enumerate(config["publishers"])]
        insecure = bool(config.get("insecure_issuers"))
        self.issuers = {}
        for url in dict.fromkeys(p.issuer for p in self.publishers):
            # an issuer's algorithms: those its publishers name (RS256 unless they say otherwise)
            algorithms = tuple(dict.fromkeys(a for p in self.publishers if p.issuer == url for a in p.algorithms))
            self.issuers[url] = Issuer(url, algorithms, fetch, clock=clock, insecure=insecure)
        self.root = os.path.join(packages, ".privatepypi", "oidc")
        self.minter = Minter(os.path.join(self.root, "mint.key"))
        self.used = os.path.join(self.root, "used")
        self.audit_log = audit_log
        self._wall = wall
        self._pruned = 0.0
        self._used_ready = False
        self.burned = access.burned_dir(self.minter.key_path)

    def verify(self, token):
        """(issuer, claims) of a token whose signature, issuer, audience and times check out, else Refused."""
        header, claims, signing_input, signature = split_jwt(token)
        issuer_url = claims.get("iss")
        issuer = self.issuers.get(issuer_url) if isinstance(issuer_url, str) else None
        if issuer is None:
            raise Refused("invalid-issuer", f"no trusted publisher of this index has the issuer {str(issuer_url)[:200]!r}")
        algorithm = header.get("alg")
        if algorithm not in issuer.algorithms:
            raise Refused("invalid-algorithm", f"the algorithm {str(algorithm)[:20]!r} is not one the issuer "
                          f"{issuer.url} signs with ({', '.join(issuer.algorithms)})", issuer=issuer.url)
        kid = header.get("kid", "")
        if not isinstance(kid, str):
            raise Refused("invalid-token", "malformed token: kid is not a string", issuer=issuer.url)
        keys = [(alg, key) for alg, key in issuer.keys(kid) if alg == algorithm]
        if not any(signature_valid(algorithm, key, signing_input, signature) for _, key in keys):
            why = "no key of the issuer verifies its signature" if keys else f"the issuer publishes no key {kid!r}"
            raise Refused("invalid-signature", f"signature refused: {why}", issuer=issuer.url)
        now = self._wall()
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        if self.audience not in audiences:
            raise Refused("invalid-audience", f"the token is not for this index: audience must be {self.audience!r}",
                          issuer=issuer.url)
        for claim in ("exp", "iat"):
            if not isinstance(claims.get(claim, 0), int | float) or isinstance(claims.get(claim), bool):
                raise Refused("invalid-token", f"malformed token: {claim} is not a number", issuer=issuer.url)
        if "exp" not in claims:
            raise Refused("invalid-token", "malformed token: no exp", issuer=issuer.url)
        if now >= claims["exp"] + LEEWAY:
            raise Refused("expired-token", "the token has expired", issuer=issuer.url)
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or isinstance(nbf, bool) or now + LEEWAY < nbf):
            raise Refused("not-yet-valid-token", "the token is not valid yet (nbf)", issuer=issuer.url)
        return issuer, claims

    def _take_once(self, issuer, claims, token):
        """Records the token as used; Refused when it was used before (on any instance sharing the store)."""
        jti = claims.get("jti")
        what = f"jti\0{jti}" if isinstance(jti, str) and jti else "token\0" + token
        name = hashlib.sha256(f"{issuer.url}\0{what}".encode()).hexdigest()
        if not self._used_ready:
            private_dir(self.used)
            self._used_ready = True
        try:
            fd = os.open(os.path.join(self.used, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise Refused("replayed-token", "the token has been used before: each may be exchanged once",
                          issuer=issuer.url) from None
        try:
            os.write(fd, str(int(claims["exp"]) + LEEWAY).encode())
        finally:
            os.close(fd)
        self._prune()

    def _prune(self):
        """Forgets used tokens once they have expired (they would be refused as expired anyway)."""
        now = self._wall()
        if now - self._pruned < 60:
            return
        self._pruned = now
        for directory in (self.used, self.burned):  # a burned token's record ends with the token too
            with contextlib.suppress(OSError):
                for entry in os.scandir(directory):
                    with contextlib.suppress(OSError, ValueError):
                        with open(entry.path) as f:
                            expires = int(f.read().strip() or 0)
                        if expires < now:
                            os.unlink(entry.path)

    def burn(self, token, client=""):
        """Revokes a minted upload token before its expiry (what uv asks once its upload is done)."""
        found = verify_minted(self.minter.key(), token, self._wall()) if isinstance(token, str) else None
        if found is None:
            refused = Refused("invalid-token", "not an upload token of this index, or expired already")
            access.audit(self.audit_log, "oidc_burn", outcome="refused", code=refused.code, reason=refused.description,
                         client=client)
            raise refused
        name, _, expires = found
        private_dir(self.burned)
        path = burned_path(self.minter.key_path, grant_id(name))
        with open(f"{path}.{os.getpid()}", "w") as f:
            f.write(str(expires))
        os.replace(f"{path}.{os.getpid()}", path)
        access.audit(self.audit_log, "oidc_burn", outcome="burned", token=grant_id(name), client=client)
        self._prune()
        return {"success": True}

    def mint(self, token, client=""):
        """The 200 answer's JSON for an accepted token; Refused otherwise. Audited either way."""
        issuer_url = ""
        try:
            issuer, claims = self.verify(token)
            issuer_url = issuer.url
            matches = [(p, m) for p in self.publishers if p.issuer == issuer.url for m in [p.match(claims)] if m is not None]
            if not matches:
                raise Refused("invalid-publisher", "valid token, but no trusted publisher of this index matches its claims "
                              "(repository, workflow, ref, environment)", issuer=issuer.url)
            self._take_once(issuer, claims, token)
            projects = sorted({pattern for publisher, _ in matches for pattern in publisher.projects})
            names = ",".join(publisher.name for publisher, _ in matches)
            expires = int(self._wall()) + 60 * self.minutes
            minted, grant = self.minter.mint(projects, expires, f"oidc:{names}")
        except Refused as refused:
            access.audit(self.audit_log, "oidc_exchange", outcome="refused", code=refused.code, reason=refused.description,
                         issuer=refused.issuer or issuer_url, client=client)
            raise
        matched = {}
        for _, claims_matched in matches:
            matched.update(claims_matched)
        access.audit(self.audit_log, "oidc_exchange", outcome="minted", issuer=issuer.url, publishers=names.split(","),
                     claims=matched, subject=str(claims.get("sub", ""))[:300], projects=projects, token=grant["id"],
                     expires=expires, client=client)
        LOG.info("minted an upload token for %s (%s) until %d", names, ",".join(projects), expires)
        return {"success": True, "token": minted, "expires": expires}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # nginx keeps the connection alive, and http.server writes the headers and the body apart: with
    # Nagle's algorithm on, each body waited ~40 ms for nginx's delayed ACK (test_keepalive_latency)
    disable_nagle_algorithm = True
    server_version = "privatepypi-oidc"
    exchange = None
    backoff = None

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        LOG.debug(format, *args)

    def _json(self, status, document, headers=()):
        body = (json.dumps(document) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status, code, description, headers=()):
        self._json(status, {**FAILED, "errors": [{"code": code, "description": description}]}, headers)

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.partition("?")[0] == "/_/oidc/audience":
            return self._json(200, {"audience": self.exchange.audience})
        if self.path == "/health":
            return self._json(200, {"ok": True})
        return self._error(404, "not-found", "trusted publishing answers /_/oidc/audience, mint-token and burn-token")

    def do_POST(self):  # noqa: N802 (http.server's name)
        path = self.path.partition("?")[0]
        if path not in ("/_/oidc/mint-token", "/_/oidc/burn-token"):
            self.close_connection = True  # its body is not read: the connection ends with the answer
            return self._error(404, "not-found", "trusted publishing answers /_/oidc/audience, mint-token and burn-token")
        client = self.headers.get("X-Real-IP", "")[:64]
        now = time.monotonic()
        wait = self.backoff.wait(client, now)
        if wait > 0:
            return self._error(429, "rate-limited", "too many refused exchanges from this address; retry later",
                               [("Retry-After", str(max(1, int(wait + 0.999))))])
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            return self._error(413, "invalid-payload", f"the request body must be JSON of at most {MAX_BODY} bytes")
        answer = refused = None
        try:
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
            except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested without end
                payload = None
            token = payload.get("token") if isinstance(payload, dict) else None
            burn = path == "/_/oidc/burn-token"
            if not isinstance(token, str):
                refused = Refused("invalid-payload", 'the body must be JSON {"token": "<token>"}')
                access.audit(self.exchange.audit_log, "oidc_burn" if burn else "oidc_exchange", outcome="refused",
                             code=refused.code, reason=refused.description, issuer="", client=client)
                raise refused
            answer = self.exchange.burn(token, client) if burn else self.exchange.mint(token, client)
        except Refused as error:
            refused = error
        except OSError as error:  # the store (full, unmounted): a clear 503, nothing minted
            LOG.error("exchange: the store: %s", error)
            return self._error(503, "store-unavailable", "the index cannot record the exchange now; retry",
                               [("Retry-After", "5")])
        except Exception:  # a bug costs a refusal with a clear answer, never a traceback to the client
            LOG.exception("exchange failed")
            return self._error(500, "internal-error", "the exchange failed on the index; see its journal")
        if answer is not None:
            self.backoff.succeeded(client)
            return self._json(200, answer)
        if refused.status != 503 and self.backoff.failed(client, now):
            # refused exchanges count where failed logins do: one record per burst of an address
            LOG.warning("refused exchanges: %s backs off", client)
            access.audit(self.exchange.audit_log, "login_failures", who=access.TOKEN_USER, client=client,
                         backoff="address", via="oidc")
        headers = [("Retry-After", "5")] if refused.status == 503 else []
        return self._error(refused.status, refused.code, refused.description, headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def load_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv=None):
    from privatepypi_host.auth_cache import Backoff  # noqa: PLC0415 - the service's address back-off, as for logins

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON: audience, token_minutes, publishers")
    parser.add_argument("--packages", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--audit-log", default="")
    parser.add_argument("--backoff-free", type=int, default=5)
    parser.add_argument("--backoff-max", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    exchange = Exchange(load_config(args.config), args.packages, args.audit_log)
    exchange.minter.key(create=True)  # the shared key before the first exchange, so the credential service finds it
    Handler.exchange = exchange
    Handler.backoff = Backoff(args.backoff_free, 1.0, args.backoff_max)
    server = Server(("127.0.0.1", args.port), Handler)
    notify("READY=1")
    LOG.info("trusted publishing for %d publishers of %d issuers on 127.0.0.1:%d", len(exchange.publishers),
             len(exchange.issuers), args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
