"""htpasswd_refresh.py against moto's in-process AWS (claim_eip.py: test_boot_programs.py)."""

import json
import os

import boto3
import pytest

moto = pytest.importorskip("moto")
from privatepypi_host import access, htpasswd_refresh


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        yield


def _bcrypt(password, rounds=12):
    from passlib.hash import bcrypt

    return bcrypt.using(rounds=rounds).hash(password)


def test_htpasswd_refresh_installs_only_changes(aws, tmp_path, capsys):
    ssm = boto3.client("ssm", region_name="eu-west-1")
    alice, bob = _bcrypt("alice-password"), _bcrypt("bob-password")
    token = access.token_digest(access.new_secret())
    bundle = f"alice:{alice}\n#role alice uploader cc-*\n#token ci upload 0 {token}\n"
    ssm.put_parameter(Name="/pypi/htpasswd", Value=bundle, Type="SecureString")
    target = tmp_path / "htpasswd"
    args = ["--parameter", "/pypi/htpasswd", "--path", str(target), "--region", "eu-west-1"]
    assert htpasswd_refresh.main(args) == 0
    assert target.read_text() == f"alice:{alice}\n"
    assert (tmp_path / "roles").read_text() == "alice uploader cc-*\n"
    assert (tmp_path / "tokens").read_text() == f"ci upload 0 {token}\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert "1 users, 1 roles, 1 tokens" in capsys.readouterr().out
    inode = target.stat().st_ino
    assert htpasswd_refresh.main(args) == 0
    assert target.stat().st_ino == inode  # unchanged content: not rewritten
    ssm.put_parameter(Name="/pypi/htpasswd", Value=f"alice:{alice}\nbob:{bob}\n", Type="SecureString", Overwrite=True)
    htpasswd_refresh.main(args)
    assert target.read_text() == f"alice:{alice}\nbob:{bob}\n"
    assert (tmp_path / "roles").read_text() == "" and (tmp_path / "tokens").read_text() == ""  # revoked, readers again
    assert sorted(os.listdir(tmp_path)) == ["htpasswd", "roles", "tokens"]


@pytest.mark.parametrize("bad,reason", [
    ("alice:$2y$05$" + "a" * 53 + "\n", "bcrypt cost 5 is below the configured 12"),
    ("alice:plaintext\n", "the hash is plain text (htpasswd -p), or an unknown scheme; only bcrypt"),
    ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "the hash is unsalted SHA-1 ({SHA}, htpasswd -s); only bcrypt"),
    ("alice:$1$salt$abcdefghijklmnopqrstuv\n", "the hash is md5-crypt ($1$); only bcrypt"),
    ("alice:$6$rounds=5000$saltsalt$" + "a" * 86 + "\n", "the hash is sha512-crypt ($6$); only bcrypt"),
    ("just garbage\n", "not 'name:hash'"),
    ("GOOD\n#role alice superuser\n", "roles line 1"),
    ("GOOD\n#role mallory admin\n", "roles name users the htpasswd does not have: mallory"),
    ("GOOD\n#token ci upload soon hmac-sha256$00$11\n", "tokens line 1"),
])
def test_htpasswd_refresh_keeps_the_last_good_data(aws, tmp_path, capsys, bad, reason):
    ssm = boto3.client("ssm", region_name="eu-west-1")
    good = f"alice:{_bcrypt('alice-password')}\n"
    ssm.put_parameter(Name="/pypi/htpasswd", Value=good, Type="SecureString")
    target = tmp_path / "htpasswd"
    log = tmp_path / "audit.log"
    args = ["--parameter", "/pypi/htpasswd", "--path", str(target), "--region", "eu-west-1", "--audit-log", str(log)]
    assert htpasswd_refresh.main(args) == 0
    ssm.put_parameter(Name="/pypi/htpasswd", Value=bad.replace("GOOD\n", good), Type="SecureString", Overwrite=True)
    capsys.readouterr()
    assert htpasswd_refresh.main(args) == htpasswd_refresh.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "privatepypi credentials refused, the last good ones stay installed" in err and reason in err
    assert "$2y$05$" not in err  # the log line names the user and the problem, never the hash
    assert target.read_text() == good and (tmp_path / "roles").read_text() == ""
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["event"] == "credentials_refused" and reason in record["reason"] and "$2y$05$" not in record["reason"]
