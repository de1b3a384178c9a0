"""The shapes of password hashes, to prove that text which must hold none (user data, the bootstrap
bundle, anything a launch template carries) holds none: not the hashes a test knows of, any hash.

It matches whole hashes only, not the scheme names ($2b$, $6$, $apr1$) that the host programs and
the documentation mention. Used by tests/unit/roles/pypiserver/test_user_data.py and
tests/integration/test_stacks.py; tests/unit/test_secrets_shapes.py holds it to real hashes.
"""

import re

_SALT = r"[./A-Za-z0-9]"
HASH_PATTERN = "|".join((
    rf"\$2[abxy]\$[0-9]{{2}}\${_SALT}{{53}}",  # bcrypt (htpasswd -B writes $2y$, passlib $2b$)
    rf"\$6\$(?:rounds=[0-9]+\$)?[^$\s]{{1,16}}\${_SALT}{{86}}",  # sha512-crypt (passlib adds rounds=)
    rf"\$5\$(?:rounds=[0-9]+\$)?[^$\s]{{1,16}}\${_SALT}{{43}}",  # sha256-crypt
    rf"\$(?:apr)?1\$[^$\s]{{1,8}}\${_SALT}{{22}}",  # Apache's MD5 (htpasswd -m) and md5-crypt
))
HASH_RE = re.compile(HASH_PATTERN)
HASH_RE_BYTES = re.compile(HASH_PATTERN.encode())


def find_hashes(text):
    """Every password hash in text (str or bytes), as found; an empty list when there is none."""
    pattern = HASH_RE_BYTES if isinstance(text, bytes) else HASH_RE
    return pattern.findall(text)
