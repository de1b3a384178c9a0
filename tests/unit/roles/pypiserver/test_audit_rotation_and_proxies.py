"""Two host files of the pypiserver role, rendered by the role itself (test_user_data.render: the user
data tasks), read from the boot bundle; test_user_data's test_bundle_holds_exactly_the_files_the_ssh_path_installs
proves the SSH path's copy and template install those same bytes:

- the audit log's logrotate configuration, run by the
  real logrotate against a scratch audit log that the real writer (privatepypi_host.access.audit)
  fills: the log is rotated, nothing is lost, and every file stays 0640;
- nginx's trust in X-Forwarded-For (pypiserver_trusted_proxies): only from the proxies named, and
  not at all without them.
"""

import grp
import gzip
import json
import os
import pwd
import re
import shutil
import subprocess

import pytest
from privatepypi_host import access
from test_user_data import members_of, render

LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"
CONFIG = "/etc/logrotate.d/privatepypi-audit"
SITE = "/etc/nginx/sites-available/pypiserver"
VPC = "10.42.0.0/16"


def _files(bundle):
    """{path on the host: text} of what the boot bundle installs."""
    return {path: data.decode() for path, (_member, data) in members_of(bundle).items()}


@pytest.fixture(scope="module")
def behind_a_load_balancer(tmp_path_factory):
    """Rendered as aws_stack renders professional, with the audit log in a scratch directory and the
    rotation run as the user running the test (logrotate's su needs an existing user)."""
    work = tmp_path_factory.mktemp("proxied")
    logs = work / "log"
    logs.mkdir()
    user = pwd.getpwuid(os.geteuid()).pw_name
    settings = {"pypiserver_trusted_proxies": [VPC], "pypiserver_audit_log": str(logs / "audit.log"),
                "pypiserver_user": user}
    # the bundle only, as in direct below: rendering the SSH path's copies too costs five times the CPU
    bundle = render(work, settings, ssh=False)[1]
    return work, logs, user, bundle


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    """Rendered as aws_stack renders budget: clients connect directly, no proxy is trusted."""
    # the bundle only: test_user_data proves the SSH path installs the same files
    return _files(render(tmp_path_factory.mktemp("direct"), ssh=False)[1])


def test_rotation_config_names_the_audit_log_private_and_without_create(behind_a_load_balancer, direct):
    logs, user, bundle = behind_a_load_balancer[1:]
    text = _files(bundle)[CONFIG]
    body = text[text.index("{") + 1:text.rindex("}")]
    directives = [line.split() for line in body.splitlines() if line.strip()]
    assert text.split("{")[0].splitlines()[-1].strip() == str(logs / "audit.log")
    assert ["su", user, "adm"] in directives  # never as root in a directory its owner can write to
    assert ["nocreate"] in directives and ["compress"] in directives and ["rotate", "30"] in directives
    assert not [d for d in directives if d[0] in ("create", "copytruncate", "postrotate")]
    # the role's default path and user on a real host
    default = direct[CONFIG]
    assert "/var/log/privatepypi/audit.log {" in default and "su pypiserver adm" in default


def test_rotation_config_is_in_the_boot_bundle_and_logrotate_is_installed_at_boot(behind_a_load_balancer):
    import base64
    import io
    import tarfile

    bundle = behind_a_load_balancer[3]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(bundle["content_base64"])), mode="r:gz") as archive:
        member = archive.getmember(CONFIG.lstrip("/"))
        assert member.mode == 0o644
        assert f'{behind_a_load_balancer[1] / "audit.log"} {{' in archive.extractfile(member).read().decode()
        boot = archive.extractfile("usr/local/sbin/pypiserver-bootstrap").read().decode()
    assert re.search(r"apt-get .*install.* logrotate\b", boot.replace("\\\n", " ")), "logrotate is not installed at boot"


def test_logrotate_rotates_the_audit_log_and_the_next_record_starts_a_private_file(behind_a_load_balancer, tmp_path):
    logs, bundle = behind_a_load_balancer[1], behind_a_load_balancer[3]
    config = tmp_path / "audit.conf"
    config.write_text(_files(bundle)[CONFIG])
    os.chmod(config, 0o644)
    # the directory as the role makes it: the writers' owner, group adm, setgid (0750 here: the
    # test's user owns it); the group the su line names must exist
    grp.getgrnam("adm")
    os.chmod(logs, 0o2750)  # noqa: S103 - the mode the role gives the directory (setgid, no one else)
    log = logs / "audit.log"
    for n in range(3):
        assert access.audit(str(log), "login_failures", who="", client=f"203.0.113.{n}", backoff="address")
    state = tmp_path / "state"
    checked = subprocess.run([LOGROTATE, "-d", "-s", str(state), str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "error" not in checked.stderr.lower(), checked.stderr
    assert f"considering log {log}" in checked.stderr
    assert log.exists()  # a dry run touches nothing

    rotated = subprocess.run([LOGROTATE, "-f", "-s", str(state), str(config)], capture_output=True, text=True, check=False)
    assert rotated.returncode == 0, rotated.stderr
    assert not log.exists()  # nocreate: the next record makes it
    archive = logs / "audit.log.1.gz"
    assert os.stat(archive).st_mode & 0o777 == 0o640
    records = [json.loads(line) for line in gzip.decompress(archive.read_bytes()).decode().splitlines()]
    assert [r["client"] for r in records] == ["203.0.113.0", "203.0.113.1", "203.0.113.2"]

    assert access.audit(str(log), "credentials_refused", source="/stack/htpasswd", reason="line 1")
    assert os.stat(log).st_mode & 0o777 == 0o640
    assert json.loads(log.read_text())["event"] == "credentials_refused"
    # a second rotation keeps the first
    assert subprocess.run([LOGROTATE, "-f", "-s", str(state), str(config)], capture_output=True, check=False).returncode == 0
    assert sorted(p.name for p in logs.iterdir()) == ["audit.log.1.gz", "audit.log.2.gz"]


def _real_ip(site):
    """(set_real_ip_from addresses, real_ip_header, real_ip_recursive) of an nginx site."""
    return (re.findall(r"^\s*set_real_ip_from\s+(\S+);", site, re.MULTILINE),
            re.findall(r"^\s*real_ip_header\s+(\S+);", site, re.MULTILINE),
            re.findall(r"^\s*real_ip_recursive\s+(\S+);", site, re.MULTILINE))


def test_behind_a_load_balancer_only_the_vpc_may_name_the_client(behind_a_load_balancer):
    site = _files(behind_a_load_balancer[3])[SITE]
    assert _real_ip(site) == ([VPC], ["X-Forwarded-For"], ["on"])
    # the credential service gets the address nginx settled on, not the client's header
    assert "proxy_set_header X-Real-IP $remote_addr;" in site
    assert "0.0.0.0/0" not in site and "::/0" not in site


def test_without_a_load_balancer_nobody_may_name_the_client(direct):
    site = direct[SITE]
    assert _real_ip(site) == ([], [], [])
    # nginx's address for the credential service (/_auth), at server level for the proxied upload path, and
    # for trusted publishing's exchange (its location sets its own headers; test_user_data's settings declare
    # a publisher)
    assert site.count("proxy_set_header X-Real-IP $remote_addr;") == 3
