"""access.py: parsing and validating the credential data, tokens, patterns, the SSM bundle, audit lines."""

import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import FILES
from passlib.hash import apr_md5_crypt, bcrypt, des_crypt, ldap_sha1, md5_crypt, sha256_crypt, sha512_crypt
from privatepypi_host import access

ALICE = bcrypt.using(rounds=12).hash("alice-password")


def test_htpasswd_accepts_only_bcrypt_at_the_cost():
    assert access.parse_htpasswd(f"# comment\n\nalice:{ALICE}\n") == {"alice": ALICE}
    assert access.parse_htpasswd(f"alice:{ALICE.replace('$2b$', '$2y$')}\n")
    with pytest.raises(access.AccessError, match="cost 4 is below the configured 12"):
        access.parse_htpasswd(f"alice:{bcrypt.using(rounds=4).hash('x')}\n")
    assert access.parse_htpasswd(f"alice:{bcrypt.using(rounds=4).hash('x')}\n", min_cost=4)
    for bad in ("alice:plain", "alice:$apr1$abc$def", "alice", ":" + ALICE, "__token__:" + ALICE, "al ice:" + ALICE,
                f"alice:{ALICE}\nalice:{ALICE}"):
        with pytest.raises(access.AccessError) as error:
            access.parse_htpasswd(bad + "\n")
        assert ALICE not in str(error.value)


# Every scheme an htpasswd can hold that is faster than bcrypt: sha512-crypt at 5,000 rounds answers in
# about 5 ms where bcrypt at cost 12 takes 345 ms, so such a user would answer sooner than an unknown one
# (whose check is a bcrypt) and a stolen file would be cheap to crack.
FAST_HASHES = {
    "sha512-crypt": (sha512_crypt.using(rounds=5000).hash("x"), "sha512-crypt ($6$)"),
    "sha512-crypt many rounds": (sha512_crypt.using(rounds=999_999).hash("x"), "sha512-crypt ($6$)"),
    "sha256-crypt": (sha256_crypt.using(rounds=5000).hash("x"), "sha256-crypt ($5$)"),
    "md5-crypt": (md5_crypt.hash("x"), "md5-crypt ($1$)"),
    "apr1": (apr_md5_crypt.hash("x"), "Apache's MD5 (apr1, htpasswd -m)"),
    "sha1": (ldap_sha1.hash("x"), "unsalted SHA-1 ({SHA}, htpasswd -s)"),
    "des": (des_crypt.hash("x"), "crypt(3) DES (htpasswd -d), or plain text"),
    "bcrypt $2a$": (bcrypt.using(rounds=12, ident="2a").hash("x"), "bcrypt $2a$"),
    "plain": ("correct-horse-battery", "plain text (htpasswd -p)"),
}


@pytest.mark.parametrize("scheme", sorted(FAST_HASHES))
def test_every_scheme_faster_than_bcrypt_is_refused_by_name(scheme):
    hashed, named = FAST_HASHES[scheme]
    with pytest.raises(access.AccessError) as error:
        access.parse_htpasswd(f"alice:{ALICE}\nbob:{hashed}\n", min_cost=4)
    message = str(error.value)
    assert message.startswith(f"htpasswd line 2 (user bob): the hash is {named}")
    assert "only bcrypt ($2b$/$2y$) is accepted" in message and "htpasswd -B" in message
    assert hashed not in message
    # the program the role validates the staged htpasswd with, and the SSM refresh, refuse it too
    with pytest.raises(access.AccessError, match="only bcrypt"):
        access.validate(f"bob:{hashed}\n", "", "", min_cost=4)


def test_roles_and_patterns():
    assert access.parse_roles("alice uploader cc-*,tools\nbob admin\n# x\n") == {
        "alice": ("uploader", ("cc-*", "tools")), "bob": ("admin", ())}
    for bad in ("alice owner", "alice", "alice uploader CC", "alice uploader a b", "alice reader x,y;z",
                "alice reader\nalice admin"):
        with pytest.raises(access.AccessError):
            access.parse_roles(bad)
    # empty patterns grant no project (issue 17: they granted every one), except to an admin; '*' is every project
    assert not access.project_allowed((), "Anything") and not access.project_allowed((), "Anything", "uploader")
    assert not access.project_allowed((), "Anything", "publisher") and access.project_allowed((), "Anything", "admin")
    assert access.project_allowed(("*",), "Anything", "uploader")
    assert access.project_allowed(("cc-*",), "CC_Lib") and not access.project_allowed(("cc-*",), "other")


def test_tokens_digest_and_lookup():
    secret = access.new_secret()
    assert secret.startswith("ppt_") and len(secret) >= 40
    digest = access.token_digest(secret)
    assert access.token_matches(secret, digest) and not access.token_matches(secret + "x", digest)
    assert secret not in digest and digest != access.token_digest(secret)  # salted
    tokens = access.parse_tokens(f"ci upload 0 {digest} cc-*\nold read 100 {access.token_digest('other')}\n")
    assert access.find_token(tokens, secret).name == "ci" and tokens["ci"].role == "uploader"
    assert access.find_token(tokens, "ppt_wrong") is None
    assert tokens["old"].expired(100) and not tokens["old"].expired(99) and not tokens["ci"].expired(10**12)
    assert tokens["ci"].line() == f"ci upload 0 {digest} cc-*"
    for bad in (f"ci write 0 {digest}", f"ci upload never {digest}", "ci upload 0 sha256$x", f"ci upload 0 {digest} A*"):
        with pytest.raises(access.AccessError):
            access.parse_tokens(bad)


def test_bundle_round_trip_and_validation():
    bundle = access.join_bundle(f"alice:{ALICE}\n", "alice uploader cc-*\n", "ci read 0 " + access.token_digest("s") + "\n")
    assert bundle.startswith(f"alice:{ALICE}\n#role alice uploader cc-*\n#token ci read 0 ")
    htpasswd, roles, tokens = access.split_bundle(bundle)
    assert htpasswd == f"alice:{ALICE}\n" and roles == "alice uploader cc-*\n" and tokens.startswith("ci read 0 ")
    users, parsed_roles, parsed_tokens = access.validate(htpasswd, roles, tokens)
    assert list(users) == ["alice"] and list(parsed_roles) == ["alice"] and list(parsed_tokens) == ["ci"]
    with pytest.raises(access.AccessError, match="bob"):
        access.validate(htpasswd, "bob admin\n", "")


def test_audit_lines_are_whole_json_lines(tmp_path):
    log = tmp_path / "audit.log"

    def write(n):
        for i in range(50):
            access.audit(str(log), "upload", who=f"w{n}", file="x" * 3000, n=i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["event"] == "upload" for line in lines)
    assert oct(log.stat().st_mode & 0o777) == "0o640"
    assert access.audit(str(tmp_path / "missing-dir" / "audit.log"), "x") is False  # never raises
    assert access.audit("", "x") is False


def test_command_line_check(tmp_path):
    (tmp_path / "good").write_text(f"alice:{ALICE}\n")
    (tmp_path / "weak").write_text(f"alice:{bcrypt.using(rounds=4).hash('x')}\n")
    (tmp_path / "roles").write_text("alice owner\n")
    env = dict(os.environ, PYTHONPATH=FILES)

    def check(*args):
        return subprocess.run([sys.executable, "-m", "privatepypi_host.access", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    assert check("--htpasswd", str(tmp_path / "good")).returncode == 0
    weak = check("--htpasswd", str(tmp_path / "weak"))
    assert weak.returncode == 1 and "cost 4 is below the configured 12" in weak.stderr
    assert check("--htpasswd", str(tmp_path / "weak"), "--min-cost", "4").returncode == 0
    # the role installs the staged htpasswd only when this accepts it (tasks/users.yml, validate:)
    (tmp_path / "sha512").write_text(f"alice:{sha512_crypt.using(rounds=5000).hash('x')}\n")
    refused = check("--htpasswd", str(tmp_path / "sha512"), "--min-cost", "4")
    assert refused.returncode == 1 and "the hash is sha512-crypt ($6$); only bcrypt" in refused.stderr
    assert check("--roles", str(tmp_path / "roles")).returncode == 1
