"""Who may do what: the credential data (htpasswd, roles, tokens), its validation, tokens and audit lines.

Three files on a host, beside each other (pypiserver's own htpasswd stays a plain htpasswd):
  htpasswd  name:hash                                  (bcrypt $2b$/$2y$ only)
  roles     name role [pattern,pattern...]             (reader | uploader | admin; no line: reader)
  tokens    name scope expires digest [pattern,...]    (scope read | upload; expires: epoch seconds, 0 never)
On AWS one SSM SecureString carries all three: the htpasswd lines, then "#role " and "#token "
lines (split_bundle / join_bundle). Patterns are fnmatch patterns of normalized project names.

Tokens are 256-bit random secrets, so an HMAC-SHA256 with a per-token salt is as safe as a slow
hash and takes microseconds. plugins/modules/pypi_token.py writes the same digest (a module
cannot import this file; tests/unit/plugins/modules/test_pypi_token.py checks both agree).
"""

import datetime
import errno
import fnmatch
import hashlib
import hmac
import json
import os
import re
import secrets
import stat

ROLES = ("reader", "uploader", "admin")
# A trusted publisher's minted token (oidc.py): uploads within its grant and nothing else, not even a read.
# Never in the roles file: only the credential service gives it, to a token it checked.
PUBLISHER_ROLE = "publisher"
UPLOAD_ROLES = ("uploader", "admin", PUBLISHER_ROLE)
MINTED_PREFIX = "ppo_"  # a minted upload token's secret (oidc.py mints it, the credential service checks it)
SCOPES = {"read": "reader", "upload": "uploader"}
TOKEN_USER = "__token__"  # noqa: S105 - a user name, as on the public index
TOKEN_PREFIX = "ppt_"  # noqa: S105 - marks a token in a leak scanner's eyes
DIGEST_SCHEME = "hmac-sha256"
DEFAULT_ROLE = "reader"  # private by default: an account nobody gave a role may only read
ROLE_PREFIX = "#role "
TOKEN_LINE_PREFIX = "#token "  # noqa: S105 - a line marker

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
PATTERN_RE = re.compile(r"^[a-z0-9*?\[\]!-]{1,100}$")
BCRYPT_RE = re.compile(r"^\$2[by]\$(\d\d)\$[./A-Za-z0-9]{53}$")
# What a refused hash looks like, to say which scheme it is (never the hash itself). Every one of
# them is checked in microseconds to milliseconds where bcrypt at cost 12 takes a third of a
# second: a known user would answer faster than an unknown one (whose check is a bcrypt of the
# file's cost), which tells an attacker which names exist, and a stolen file is cheap to crack.
WEAK_SCHEMES = (
    ("$2a$", "bcrypt $2a$ (the prefix of implementations with the wraparound bug)"),
    ("$2x$", "bcrypt $2x$ (the prefix of implementations with the wraparound bug)"),
    ("$6$", "sha512-crypt ($6$)"),
    ("$5$", "sha256-crypt ($5$)"),
    ("$apr1$", "Apache's MD5 (apr1, htpasswd -m)"),
    ("$1$", "md5-crypt ($1$)"),
    ("{SHA}", "unsalted SHA-1 ({SHA}, htpasswd -s)"),
    ("{SSHA}", "salted SHA-1 ({SSHA})"),
    ("$y$", "yescrypt ($y$)"),
    ("$argon2", "argon2 (not verified here)"),
)
DIGEST_RE = re.compile(r"^hmac-sha256\$([0-9a-f]{32})\$([0-9a-f]{64})$")


class AccessError(ValueError):
    """Credential data that must not be installed; the message never contains a hash or a secret."""


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def project_allowed(patterns, project, role=None):
    """True when one pattern matches the normalized project name ('*': every project). Empty patterns
    grant no project, except to an admin, whose role is the index's own (every project): an uploader,
    a token or a minted token without patterns uploads nothing, never everything."""
    if not patterns:
        return role == "admin"
    name = normalize(project)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _lines(text):
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _patterns(field, where):
    patterns = tuple(p for p in field.split(",") if p) if field else ()
    for pattern in patterns:
        if not PATTERN_RE.match(pattern):
            raise AccessError(f"{where}: project pattern {pattern!r} is not a normalized name pattern "
                              "(lower case letters, digits, '-', and * ? [ ])")
    return patterns


def hash_cost(hashed):
    """('bcrypt', cost) for a bcrypt $2b$/$2y$ hash, or None for any other (refused) scheme."""
    m = BCRYPT_RE.match(hashed)
    if m:
        return "bcrypt", int(m.group(1))
    return None


def scheme_name(hashed):
    """What a refused hash is, in words: a scheme's name, crypt(3) DES, or plain text. Never the hash."""
    for prefix, name in WEAK_SCHEMES:
        if hashed.startswith(prefix):
            return name
    if re.match(r"^\$2[by]\$", hashed):
        return "a malformed bcrypt hash"
    if re.match(r"^[./A-Za-z0-9]{13}$", hashed):
        return "crypt(3) DES (htpasswd -d), or plain text"
    if hashed.startswith("$"):
        return "an unknown scheme"
    return "plain text (htpasswd -p), or an unknown scheme"


def parse_htpasswd(text, min_cost=12):
    """{name: hash}; AccessError unless every line is name:bcrypt hash at min_cost or more."""
    users = {}
    for number, line in _lines(text):
        name, sep, hashed = line.partition(":")
        where = f"htpasswd line {number}"
        if not sep or not NAME_RE.match(name):
            raise AccessError(f"{where}: not 'name:hash' with a user name of letters, digits and . _ @ + -")
        if name == TOKEN_USER:
            raise AccessError(f"{where}: {TOKEN_USER} is reserved for tokens")
        if name in users:
            raise AccessError(f"{where}: user {name} appears twice")
        cost = hash_cost(hashed)
        if cost is None:
            raise AccessError(f"{where} (user {name}): the hash is {scheme_name(hashed)}; only bcrypt ($2b$/$2y$) is "
                              "accepted: any faster scheme answers a known name sooner than an unknown one and is "
                              "cheap to crack. Hash the password again with bcrypt (the role's htpasswd module, "
                              "or htpasswd -B)")
        if cost[1] < min_cost:
            raise AccessError(f"{where} (user {name}): bcrypt cost {cost[1]} is below the configured {min_cost}")
        users[name] = hashed
    return users


def parse_roles(text):
    """{name: (role, patterns)}; AccessError on any line that is not 'name role [patterns]'."""
    roles = {}
    for number, line in _lines(text):
        fields = line.split()
        where = f"roles line {number}"
        if len(fields) not in (2, 3) or not NAME_RE.match(fields[0]) or fields[1] not in ROLES:
            raise AccessError(f"{where}: not 'name role [patterns]' with a role of {', '.join(ROLES)}")
        if fields[0] in roles:
            raise AccessError(f"{where}: user {fields[0]} has two roles")
        roles[fields[0]] = (fields[1], _patterns(fields[2] if len(fields) == 3 else "", where))
    return roles


class Token:
    __slots__ = ("name", "scope", "expires", "digest", "patterns")

    def __init__(self, name, scope, expires, digest, patterns=()):
        self.name, self.scope, self.expires, self.digest, self.patterns = name, scope, expires, digest, tuple(patterns)

    @property
    def role(self):
        return SCOPES[self.scope]

    def expired(self, now):
        return bool(self.expires) and now >= self.expires

    def line(self):
        return " ".join([self.name, self.scope, str(self.expires), self.digest] + ([",".join(self.patterns)] if self.patterns else []))


def parse_tokens(text):
    """{name: Token}; AccessError on any line that is not 'name scope expires digest [patterns]'."""
    tokens = {}
    for number, line in _lines(text):
        fields = line.split()
        where = f"tokens line {number}"
        if (len(fields) not in (4, 5) or not NAME_RE.match(fields[0]) or fields[1] not in SCOPES
                or not fields[2].isdigit() or not DIGEST_RE.match(fields[3])):
            raise AccessError(f"{where}: not 'name read|upload expires {DIGEST_SCHEME}$salt$digest [patterns]'")
        if fields[0] in tokens:
            raise AccessError(f"{where}: token {fields[0]} appears twice")
        tokens[fields[0]] = Token(fields[0], fields[1], int(fields[2]), fields[3],
                                  _patterns(fields[4] if len(fields) == 5 else "", where))
    return tokens


def new_secret():
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(secret, salt=None):
    salt = salt or secrets.token_hex(16)
    mac = hmac.new(bytes.fromhex(salt), secret.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{DIGEST_SCHEME}${salt}${mac}"


def token_matches(secret, digest):
    m = DIGEST_RE.match(digest)
    return bool(m) and hmac.compare_digest(token_digest(secret, m.group(1)), digest)


def find_token(tokens, secret):
    """The Token whose digest the secret matches, or None (every digest is computed: no early exit by name)."""
    found = None
    for token in tokens.values():
        if token_matches(secret, token.digest):
            found = token
    return found


def split_bundle(text):
    """(htpasswd, roles, tokens) texts of the one SSM value."""
    parts = ([], [], [])
    for line in text.splitlines():
        if line.startswith(ROLE_PREFIX):
            parts[1].append(line[len(ROLE_PREFIX):])
        elif line.startswith(TOKEN_LINE_PREFIX):
            parts[2].append(line[len(TOKEN_LINE_PREFIX):])
        elif line.strip():
            parts[0].append(line)
    return tuple("".join(f"{line}\n" for line in part) for part in parts)


def join_bundle(htpasswd, roles, tokens):
    lines = [line for line in htpasswd.splitlines() if line.strip()]
    lines += [ROLE_PREFIX + line.strip() for line in roles.splitlines() if line.strip()]
    lines += [TOKEN_LINE_PREFIX + line.strip() for line in tokens.splitlines() if line.strip()]
    return "".join(f"{line}\n" for line in lines)


def validate(htpasswd, roles, tokens, min_cost=12):
    """All three parsed, or AccessError naming the first bad line; roles must name existing users."""
    users = parse_htpasswd(htpasswd, min_cost)
    parsed_roles = parse_roles(roles)
    unknown = sorted(set(parsed_roles) - set(users))
    if unknown:
        raise AccessError(f"roles name users the htpasswd does not have: {', '.join(unknown)}")
    return users, parsed_roles, parse_tokens(tokens)


def open_log(path):
    """The audit log opened for appending; made 0640 and owned like its directory when this call creates it
    (a service's UMask=0077 or a root caller must not leave a file the others cannot read or write)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    except FileExistsError:
        return _existing_log(path)
    os.fchmod(fd, 0o640)
    directory = os.stat(os.path.dirname(path) or ".")
    if os.geteuid() == 0:
        os.fchown(fd, directory.st_uid, directory.st_gid)
    return fd


def _existing_log(path):
    """The log that is there, opened without following a link: the directory belongs to the services'
    user, which could put a symbolic link (to /etc/passwd), a FIFO (a root writer would block on it) or a
    hard link to another file in the log's place. Anything but a regular file with one name is refused."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, "not a regular file with one name, refused", path)
    return fd


def audit(path, event, **fields):
    """Appends one JSON line to the audit log; a log that cannot be written never fails the caller."""
    if not path:
        return False
    record = {"time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"), "event": event}
    record.update(fields)
    line = (json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n").encode()
    try:
        fd = open_log(path)
        try:
            os.write(fd, line)  # one write of one line with O_APPEND: lines from several processes never interleave
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def main(argv=None):
    """python -m privatepypi_host.access [--htpasswd F] [--roles F] [--tokens F] [--min-cost N]: exit 1 unless valid.

    The role runs it as the 'validate' command of the files it installs over SSH."""
    import argparse  # noqa: PLC0415 - only the command line needs it
    import sys  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Checks credential files before they are installed.")
    parser.add_argument("--htpasswd", default="")
    parser.add_argument("--roles", default="")
    parser.add_argument("--tokens", default="")
    parser.add_argument("--min-cost", type=int, default=12)
    args = parser.parse_args(argv)
    try:
        texts = {}
        for kind in ("htpasswd", "roles", "tokens"):
            path = getattr(args, kind)
            if path:
                with open(path, encoding="utf-8") as f:
                    texts[kind] = f.read()
        if "htpasswd" in texts:
            parse_htpasswd(texts["htpasswd"], args.min_cost)
        parse_roles(texts.get("roles", ""))
        parse_tokens(texts.get("tokens", ""))
    except (OSError, UnicodeDecodeError, AccessError) as error:
        print(f"privatepypi credentials refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def burned_dir(mint_key_path):
    """Where revocations of minted upload tokens are recorded: beside the minting key, on the store
    (oidc.py writes them, the credential service reads them)."""
    return os.path.join(os.path.dirname(mint_key_path), "burned")
