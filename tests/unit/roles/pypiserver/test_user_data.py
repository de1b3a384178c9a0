"""The launch template's user data and its bootstrap bundle, rendered by the role exactly as on AWS.

Runs the role's user_data tasks through ansible-playbook on localhost with every feature switched
on (both agents, htpasswd from SSM, Elastic IP claim, EFS over TLS, the self-check), and, in the
same play, the SSH path's own modules (copy for programs, template for the rest) into a scratch
tree. The bundle must hold exactly those files, byte for byte, plus the boot script; the user
data must stay far under EC2's 16 KB, carry no host program but the fetcher, and be reproducible.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml
from ansible_collections.privatepypi.aws.tests.support.secrets_shapes import find_hashes
from localplay import role_play, run_play

ROLE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver"))
EC2_USER_DATA_LIMIT = 16 * 1024
DOMAIN = "pypi.example.com"

PLAYBOOK = role_play("user_data", public=True, more_tasks="""
    # what the test reads (the user data, the bundle, the image builder's user data, the package set's
    # digest) and, with ssh, the SSH path's files (tasks/configure.yml, and tasks/tls.yml with a domain):
    # the same lists, written by privatepypi.aws.host_files, here under a scratch root and owned by whoever
    # runs the test. One module run: each is a second of CPU.
    - privatepypi.aws.host_files:
        files: >-
          {%- set ns = namespace(files=[]) -%}
          {%- for name, content in [('user-data', pypiserver_user_data),
                                    ('bundle.json', pypiserver_bootstrap_bundle | to_json),
                                    ('image-user-data', pypiserver_image_user_data),
                                    ('package-set', pypiserver_package_set)] -%}
          {%- set ns.files = ns.files + [{'path': out ~ '/' ~ name, 'content': content, 'mode': '0600',
                                          'owner': me, 'group': me}] -%}
          {%- endfor -%}
          {%- for file in (_pypiserver_rendered_files if ssh else []) -%}
          {%- set ns.files = ns.files + [file | combine({'path': out ~ '/ssh' ~ file.path, 'owner': me, 'group': me})] -%}
          {%- endfor -%}
          {{ ns.files }}
      vars:
        # outside the role its lookups search the play's folder: each source by its path in the role
        _pypiserver_render_entries: >-
          {%- set ns = namespace(entries=[]) -%}
          {%- for file in _pypiserver_enabled_files + (_pypiserver_tls_files | selectattr('enabled') | list) -%}
          {%- set folder = '/files/' if file.kind | default('template') == 'file' else '/templates/' -%}
          {%- set ns.entries = ns.entries + [file | combine({'src': role ~ folder ~ file.src})] -%}
          {%- endfor -%}
          {{ ns.entries }}
        me: "{{ lookup('ansible.builtin.pipe', 'id -un') }}"
""")

AWS_VARS = {
    "pypiserver_htpasswd_source": "ssm",
    "pypiserver_htpasswd_ssm_parameter": "/privatepypi/prod/htpasswd",
    "pypiserver_aws_region": "eu-west-1",
    "pypiserver_eip_allocation_id": "eipalloc-0123456789abcdef0",
    "pypiserver_efs_enabled": True,
    "pypiserver_efs_filesystem_id": "fs-0123456789abcdef0",
    "pypiserver_cloudwatch_agent_enabled": True,
    "pypiserver_ssm_agent_enabled": True,
    "pypiserver_bootstrap_bucket": "prod-boot-123456789012-eu-west-1",
    "pypiserver_autoscaling_group": "prod-asg",
    "pypiserver_upstream_enabled": True,
    "pypiserver_upstream_url": "https://upstream.example.com/simple/",
    # the aws_stack role's hand-over: the block list as an S3 object, the credentials by parameter name only
    "pypiserver_upstream_block_list_s3_uri": "s3://acme-security/osv/malicious.json",
    "pypiserver_upstream_credentials_ssm_parameter": "/privatepypi/prod/upstream-credentials",
    "pypiserver_oidc_publishers": [{"issuer": "github", "projects": ["acme-tools"], "repository": "acme/tools",
                                    "workflow": "release.yml"}],
}


def render(work, extra=None, ssh=True):
    work.mkdir(parents=True, exist_ok=True)
    (work / "play.yml").write_text(PLAYBOOK)
    result = run_play(work / "play.yml", dict(AWS_VARS, out=str(work), role=ROLE, ssh=ssh, **(extra or {})))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    bundle = json.loads((work / "bundle.json").read_text())
    return (work / "user-data").read_bytes(), bundle


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("user-data")
    user_data, bundle = render(work)
    data = base64.b64decode(bundle["content_base64"])
    return {"user_data": user_data, "bundle": bundle, "data": data, "members": members_of(bundle), "ssh": work / "ssh",
            "image_user_data": (work / "image-user-data").read_bytes(), "package_set": (work / "package-set").read_text()}


def test_user_data_is_far_under_the_ec2_limit(rendered):
    size = len(gzip.compress(rendered["user_data"], 9))
    print(f"user data: {len(rendered['user_data'])} bytes, {size} bytes gzip; "
          f"bundle: {rendered['bundle']['size']} bytes, {len(rendered['members'])} files")
    # the fetcher and a handful of settings: a third of the limit at most, whatever the host programs grow to
    assert size < EC2_USER_DATA_LIMIT / 3


def test_user_data_fetches_the_bundle_by_key_and_digest(rendered):
    user_data = rendered["user_data"]
    assert user_data.startswith(b"#cloud-config\n")
    document = yaml.safe_load(user_data)
    assert set(document) == {"write_files", "runcmd"}  # no packages, no host file but the fetcher
    fetcher = os.path.join(ROLE, "files", "privatepypi_host", "fetch_bundle.py")
    with open(fetcher, encoding="utf-8") as f:
        assert document["write_files"] == [{"path": "/opt/pypiserver/privatepypi_host/fetch_bundle.py", "content": f.read()}]
    command = document["runcmd"][0]
    digest = hashlib.sha256(rendered["data"]).hexdigest()
    assert rendered["bundle"]["sha256"] == digest
    assert rendered["bundle"]["key"] == f"bootstrap/{digest}.tar.gz"
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[:3] == ["python3", "/opt/pypiserver/privatepypi_host/fetch_bundle.py", "fetch"]
    assert options == {"--bucket": "prod-boot-123456789012-eu-west-1", "--key": f"bootstrap/{digest}.tar.gz",
                       "--sha256": digest, "--region": "eu-west-1", "--imds": "http://169.254.169.254",
                       "--timeout": "900", "--autoscaling-group": "prod-asg",
                       "--then": "/usr/local/sbin/pypiserver-bootstrap"}


def installed_over_ssh(root):
    """The files the test play's SSH path wrote under root: path -> (mode, bytes)."""
    ssh = {}
    for directory, _subdirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                ssh["/" + os.path.relpath(path, root)] = (os.stat(path).st_mode & 0o7777, f.read())
    return ssh


def members_of(bundle):
    data = base64.b64decode(bundle["content_base64"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {"/" + m.name: (m, archive.extractfile(m).read()) for m in archive.getmembers()}


def test_bundle_holds_exactly_the_files_the_ssh_path_installs(rendered):
    ssh = installed_over_ssh(rendered["ssh"])
    members = dict(rendered["members"])
    boot = members.pop("/usr/local/sbin/pypiserver-bootstrap")
    assert boot[0].mode == 0o755 and boot[1].startswith(b"#!/bin/bash\n")
    assert sorted(members) == sorted(ssh)
    for path, (member, content) in members.items():
        assert content == ssh[path][1], path
        assert member.mode == ssh[path][0], path
        assert (member.uid, member.gid, member.mtime) == (0, 0, 0), path
    # everything issue 9 and 10 put on a host is in it
    for program in os.listdir(os.path.join(ROLE, "files", "privatepypi_host")):
        if program.endswith(".py") and program != "acme_store.py":  # with a domain only: the test of the ACME store
            assert f"/opt/pypiserver/privatepypi_host/{program}" in members, program
    assert "Type=notify" in members["/etc/systemd/system/pypiserver-index.service"][1].decode()
    assert b"libnginx-mod-http-lua" in boot[1] and b"stunnel4" in boot[1]


def test_no_secret_in_the_bundle(rendered):
    for path, (_member, content) in rendered["members"].items():
        # a hash, not the scheme names that access.py checks hashes against
        assert not find_hashes(content), path
        assert b"aws_secret_access_key" not in content.lower(), path


def test_the_boot_enables_every_unit_before_it_starts_one(rendered):
    script = rendered["members"]["/usr/local/sbin/pypiserver-bootstrap"][1].decode()
    lines = script.splitlines()
    enable = next(i for i, line in enumerate(lines) if line.startswith("systemctl enable "))
    starts = [i for i, line in enumerate(lines) if line.startswith(("systemctl start", "systemctl restart"))
              or "systemctl start " in line and "mountpoint" in line]
    assert starts and min(starts) > enable
    enabled = lines[enable].split()[2:]
    for unit in ("var-pypi.mount", "pypiserver-efs-tunnel.service", "pypiserver.service", "nginx.service",
                 "pypiserver-selfcheck.timer", "pypiserver-eip.service", "pypiserver-htpasswd.timer"):
        assert unit in enabled, unit
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    # the agents run in their own unit, the SSM agent first, and never block the index
    assert "systemd-run --unit=pypiserver-agents" in script
    assert script.index("amazon-ssm-agent") < script.index("amazon-cloudwatch-agent")
    assert "debian_amd64/amazon-ssm-agent.deb" in script


def test_encrypted_mount_goes_through_the_local_tunnel(rendered):
    members = rendered["members"]
    mount = members["/etc/systemd/system/var-pypi.mount"][1].decode()
    assert "What=127.0.0.1:/\n" in mount and "Type=nfs4\n" in mount
    assert "Requires=pypiserver-efs-tunnel.service" in mount
    options = dict(o.partition("=")[::2] for o in mount.split("Options=")[1].split()[0].split(","))
    assert options["port"] == "20049" and options["nfsvers"] == "4.1" and "noresvport" in options
    tunnel = members["/etc/pypiserver/efs-tunnel.conf"][1].decode()
    assert "accept = 127.0.0.1:20049" in tunnel
    assert "connect = fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com:2049" in tunnel
    assert "checkHost = fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com" in tunnel
    assert "verifyChain = yes" in tunnel and "CAfile = /etc/pypiserver/efs-ca.pem" in tunnel
    assert members["/etc/pypiserver/efs-ca.pem"][1].count(b"BEGIN CERTIFICATE") == 5


def test_same_inputs_same_user_data_and_arm64_changes_it(rendered, tmp_path):
    again, bundle = render(tmp_path / "again", ssh=False)
    assert again == rendered["user_data"] and bundle["sha256"] == rendered["bundle"]["sha256"]
    arm, arm_bundle = render(tmp_path / "arm", {"pypiserver_cpu_architecture": "arm64"}, ssh=False)
    assert arm != rendered["user_data"] and arm_bundle["sha256"] != rendered["bundle"]["sha256"]
    script = tarfile.open(fileobj=io.BytesIO(base64.b64decode(arm_bundle["content_base64"])), mode="r:gz")
    boot = script.extractfile("usr/local/sbin/pypiserver-bootstrap").read().decode()
    assert "debian_arm64/amazon-ssm-agent.deb" in boot and "debian/arm64/latest/amazon-cloudwatch-agent.deb" in boot


@pytest.fixture(scope="module")
def rendered_with_domain(tmp_path_factory):
    """Budget with a domain (DNS-01 on Route53), on AWS itself: the user data, the bundle, the SSH path's copies."""
    work = tmp_path_factory.mktemp("user-data-domain")
    user_data, bundle = render(work, {"pypiserver_acme_domain": DOMAIN, "pypiserver_acme_challenge": "dns-route53",
                                      "pypiserver_acme_email": "ops@example.com"})
    return user_data, bundle, work / "ssh"


def test_budget_with_a_domain_boots_into_https_with_its_own_certificate(rendered_with_domain):
    """Budget with a domain: the boot obtains the certificate (DNS-01 on Route53) into the store, then
    switches nginx to the HTTPS site; until then nothing but the redirect and /health is served."""
    domain = DOMAIN
    user_data, bundle, ssh_copies = rendered_with_domain
    members = members_of(bundle)
    files = {path: content.decode() for path, (_member, content) in members.items()}
    # certbot's files are the SSH path's (tls.yml's) bytes; only the boot script and the HTTPS site
    # it switches to are the boot's own
    ssh = installed_over_ssh(ssh_copies)
    assert sorted(set(members) - set(ssh)) == ["/etc/nginx/sites-available/pypiserver-tls", "/usr/local/sbin/pypiserver-bootstrap"]
    for path in ("/etc/letsencrypt/cli.ini", "/usr/local/sbin/pypiserver-tls-reload",
                 "/etc/systemd/system/certbot.service.d/privatepypi.conf"):
        assert ssh[path] == (members[path][0].mode, members[path][1]), path
    live = f"/etc/privatepypi/acme/live/{domain}"
    https_site, plain_site = files["/etc/nginx/sites-available/pypiserver-tls"], files["/etc/nginx/sites-available/pypiserver"]
    assert f"ssl_certificate {live}/fullchain.pem;" in https_site and "443 ssl" in https_site
    assert "ssl" not in plain_site.replace("ssl_", "") and f"return 301 https://{domain}$request_uri;" in plain_site
    assert files["/etc/letsencrypt/cli.ini"].endswith("config-dir = /etc/privatepypi/acme\n")
    assert "systemctl reload nginx.service" in files["/usr/local/sbin/pypiserver-tls-reload"]
    assert "ExecStartPost=/usr/local/sbin/pypiserver-tls-reload" in files["/etc/systemd/system/certbot.service.d/privatepypi.conf"]
    boot = files["/usr/local/sbin/pypiserver-bootstrap"]
    assert "certbot python3-certbot-dns-route53" in boot and "--force-confold" in boot
    certbot = next(line for line in boot.splitlines() if line.startswith("certificate() {"))
    assert "--dns-route53" in certbot and f"--cert-name {domain} -d {domain}" in certbot and "--email ops@example.com" in certbot
    assert "|| env certbot " in certbot and "/etc/letsencrypt/privatepypi-acme-ca.pem" not in files  # AWS, Let's Encrypt
    # the certificate first (on the store), then the HTTPS site, then the services
    order = [boot.index(s) for s in ("systemctl start pypiserver-acme-store.service", 'retry "certificate" certificate',
                                     "ln -sfn /etc/nginx/sites-available/pypiserver-tls", "systemctl restart ")]
    assert order == sorted(order)
    for content in [user_data.decode()] + list(files.values()):
        assert "PRIVATE KEY" not in content


def test_root_uses_the_acme_directory_on_the_store_only_where_it_is_mounted_once_checked(rendered_with_domain):
    """Issue 17: the store's root is the service user's, who could rename .privatepypi-acme away and put a
    directory of its own with renewal hooks (run as root by certbot) under that name. Nothing root runs or
    reads names it but the bind mount and its check: certbot's configuration, its unit and nginx name the
    mounted path, and certbot and nginx require the check, which the boot starts before the certificate and
    reports as the reason when it refuses."""
    _user_data, bundle, ssh_copies = rendered_with_domain
    files = {path: content.decode() for path, (_member, content) in members_of(bundle).items()}
    store = "/var/pypi/.privatepypi-acme"
    check = files["/etc/systemd/system/pypiserver-acme-store.service"]
    mount = files["/etc/systemd/system/etc-privatepypi-acme.mount"]
    boot = files["/usr/local/sbin/pypiserver-bootstrap"]
    assert sorted(path for path, text in files.items() if store in text) == ["/etc/systemd/system/etc-privatepypi-acme.mount"]
    assert f"What={store}\n" in mount and "Where=/etc/privatepypi/acme\n" in mount and "Options=bind,nosuid,nodev,noexec\n" in mount
    assert "Wants=etc-privatepypi-acme.mount\nAfter=etc-privatepypi-acme.mount pypiserver-restore.service\n" in check
    assert ("ExecStart=/usr/bin/python3 -I /opt/pypiserver/privatepypi_host/acme_store.py --packages-dir /var/pypi "
            "--name .privatepypi-acme --target /etc/privatepypi/acme --status /run/privatepypi-acme-store.status\n") in check
    assert "CapabilityBoundingSet=\n" in check and "PrivateNetwork=true" in check
    assert "pypiserver-acme-store.service" in files["/etc/systemd/system/pypiserver-restore.service"].split("Before=")[1].split("\n")[0]
    for drop_in in ("/etc/systemd/system/certbot.service.d/privatepypi.conf",
                    "/etc/systemd/system/nginx.service.d/privatepypi-hardening.conf"):
        assert "Requires=pypiserver-acme-store.service\nAfter=pypiserver-acme-store.service\n" in files[drop_in], drop_in
    assert " /etc/privatepypi/acme " in files["/etc/systemd/system/certbot.service.d/privatepypi.conf"]
    assert files["/etc/letsencrypt/cli.ini"].endswith("config-dir = /etc/privatepypi/acme\n")
    assert f"cert=/etc/privatepypi/acme/live/{DOMAIN}/fullchain.pem" in files["/usr/local/sbin/pypiserver-tls-reload"]
    assert f"ssl_certificate_key /etc/privatepypi/acme/live/{DOMAIN}/privkey.pem;" in files["/etc/nginx/sites-available/pypiserver-tls"]
    # the boot: made only when nothing has the name (no link followed), then checked; a refusal is its reason
    lines = boot.splitlines()
    made = next(i for i, line in enumerate(lines) if "acme_store.py --create" in line)
    assert lines[made + 1].strip().startswith("--name .privatepypi-acme --status '' || unhealthy ")
    assert lines[made + 2] == "systemctl start pypiserver-acme-store.service ||"
    assert "unhealthy \"$(cat /run/privatepypi-acme-store.status " in lines[made + 3]
    assert f"install -d -m 0700 {store}" not in boot and "install -d -m 0700 /etc/privatepypi" not in boot
    made_at = boot.index(lines[made])
    assert boot.index("systemctl start pypiserver-restore.service") < made_at < boot.index('retry "certificate" certificate')
    restart = next(line for line in lines if line.startswith("systemctl restart "))
    assert "pypiserver-acme-store" not in restart and "nginx.service" in restart
    # over SSH the same files (tls.yml writes them before the configuration)
    ssh = installed_over_ssh(ssh_copies)
    for path in ("/etc/systemd/system/pypiserver-acme-store.service", "/etc/systemd/system/etc-privatepypi-acme.mount",
                 "/opt/pypiserver/privatepypi_host/acme_store.py"):
        assert ssh[path][1].decode() == files[path], path


def test_without_efs_certbot_keeps_etc_letsencrypt_and_nothing_is_mounted(tmp_path):
    """A host without EFS keeps certbot's directory where Debian puts it: no mount, no check unit."""
    bundle = render(tmp_path, {"pypiserver_acme_domain": DOMAIN, "pypiserver_efs_enabled": False}, ssh=False)[1]
    files = {path: content.decode() for path, (_member, content) in members_of(bundle).items()}
    assert files["/etc/letsencrypt/cli.ini"].endswith("config-dir = /etc/letsencrypt\n")
    assert not [path for path in files if "acme-store" in path or "acme_store" in path or path.endswith(".mount")]
    assert "pypiserver-acme-store" not in "".join(files.values())
    assert "install -d -m 0700 /etc/letsencrypt" in files["/usr/local/sbin/pypiserver-bootstrap"]


def test_the_ssh_path_writes_the_role_files_from_the_bundles_rendering_only():
    """configure.yml and tls.yml write the role's files with privatepypi.aws.host_files from the rendering
    the bundle uses (_pypiserver_rendered_files, vars/main.yml), never by a template or a copy of a
    source of their own, so the SSH path and the boot cannot drift apart."""
    writers = {}
    for name in ("configure.yml", "tls.yml"):
        with open(os.path.join(ROLE, "tasks", name), encoding="utf-8") as f:
            tasks = yaml.safe_load(f)
        assert not [t["name"] for t in tasks if "ansible.builtin.template" in t
                    or "src" in (t.get("ansible.builtin.copy") or {})], name
        writers[name] = [(t["privatepypi.aws.host_files"]["files"], t["vars"]["_pypiserver_render_entries"])
                         for t in tasks if "privatepypi.aws.host_files" in t]
    assert writers == {
        "configure.yml": [("{{ _pypiserver_rendered_files }}", "{{ _pypiserver_enabled_files }}")],
        "tls.yml": [("{{ _pypiserver_rendered_files }}", "{{ _pypiserver_tls_files | selectattr('enabled') | list }}")]}
    with open(os.path.join(ROLE, "vars", "main.yml"), encoding="utf-8") as f:
        role_vars = yaml.safe_load(f)
    tls_sources = {entry["src"] for entry in role_vars["_pypiserver_tls_files"]}
    assert tls_sources == {"certbot-cli.ini.j2", "pypiserver-tls-reload.sh.j2", "certbot-privatepypi.conf.j2",
                           "acme-ca.pem.j2", "privatepypi_host/acme_store.py", "pypiserver-acme-store.service.j2", "acme.mount.j2"}
    assert "_pypiserver_tls_files" in role_vars["_pypiserver_bundle_entries"]
    # the boot's own list holds only what the SSH path has no file for
    assert not tls_sources & {entry["src"] for entry in role_vars["_pypiserver_boot_tls_files"]}


def test_boot_certbot_gets_the_test_ca_and_the_hosts_aws_endpoints(tmp_path):
    """A test directory's CA (pypiserver_acme_ca_bundle) travels in the bundle and certbot trusts it, on the
    boot and in certbot.service; the Route53 plugin (botocore) calls AWS where the host's other AWS calls
    go. Nothing of that without those settings (the test above: AWS itself)."""
    domain, ca = DOMAIN, "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"
    bundle = render(tmp_path, {"pypiserver_acme_domain": domain, "pypiserver_acme_challenge": "dns-route53",
                               "pypiserver_acme_ca_bundle": ca, "pypiserver_aws_endpoint_url": "http://172.28.0.1:5000",
                               "pypiserver_imds_endpoint": "http://172.28.0.1:5001"}, ssh=False)[1]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(bundle["content_base64"])), mode="r:gz") as archive:
        files = {"/" + m.name: archive.extractfile(m).read().decode() for m in archive.getmembers()}
    assert files["/etc/letsencrypt/privatepypi-acme-ca.pem"].strip() == ca
    certbot = next(line for line in files["/usr/local/sbin/pypiserver-bootstrap"].splitlines()
                   if line.startswith("certificate() {"))
    assert ("|| env REQUESTS_CA_BUNDLE=/etc/letsencrypt/privatepypi-acme-ca.pem "
            "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://172.28.0.1:5001 AWS_ENDPOINT_URL=http://172.28.0.1:5000 "
            "AWS_DEFAULT_REGION=eu-west-1 certbot ") in certbot
    unit = files["/etc/systemd/system/certbot.service.d/privatepypi.conf"]
    assert "Environment=AWS_ENDPOINT_URL=http://172.28.0.1:5000\n" in unit
    assert "Environment=REQUESTS_CA_BUNDLE=/etc/letsencrypt/privatepypi-acme-ca.pem\n" in unit


def test_a_restored_store_is_adopted_before_anything_writes_to_it_and_never_restarted(rendered_with_domain):
    """The boot starts the adoption right after the mount, before the certificate's directory or any
    service writes beside the restored copy; restarting it with the services would stop a move half-way."""
    bundle = rendered_with_domain[1]
    boot = members_of(bundle)["/usr/local/sbin/pypiserver-bootstrap"][1].decode()
    order = [boot.index(s) for s in ('retry "EFS mount" mounted', "systemctl start pypiserver-restore.service",
                                     "systemctl start pypiserver-acme-store.service", "systemctl restart ")]
    assert order == sorted(order)
    restart = next(line for line in boot.splitlines() if line.startswith("systemctl restart "))
    assert "pypiserver-restore" not in restart and "pypiserver.service" in restart


def test_trusted_publishing_is_in_the_bundle_as_over_ssh(rendered):
    members = rendered["members"]
    config = json.loads(members["/etc/pypiserver/oidc.json"][1])
    assert config == {"audience": "privatepypi", "token_minutes": 15, "insecure_issuers": False,
                      "publishers": AWS_VARS["pypiserver_oidc_publishers"]}
    unit = members["/etc/systemd/system/pypiserver-oidc.service"][1].decode()
    assert "-m privatepypi_host.oidc --config /etc/pypiserver/oidc.json" in unit and "--port 8084" in unit
    assert "RequiresMountsFor=/var/pypi" in unit
    auth = members["/etc/systemd/system/pypiserver-auth.service"][1].decode()
    assert "--mint-key /var/pypi/.privatepypi/oidc/mint.key" in auth
    site = members["/etc/nginx/sites-available/pypiserver"][1].decode()
    assert "location ^~ /_/oidc/ {" in site
    assert "server 127.0.0.1:8084;" in site
    boot = members["/usr/local/sbin/pypiserver-bootstrap"][1].decode()
    # the signature checks' library is in the one lock every host installs
    assert "pypiserver-oidc.service" in boot
    assert re.search(rb"^cryptography==", members["/opt/pypiserver/requirements.lock"][1], re.M)


def test_the_upstreams_block_list_and_credentials_are_fetched_by_the_instance(rendered):
    """On AWS the block list is an S3 object and the credentials an SSM SecureString: the bundle names both and
    carries neither; a timer fetches them (boot and every refresh interval), and the upstream service reads the
    files they are installed as."""
    members = rendered["members"]
    sources = members["/etc/systemd/system/pypiserver-upstream-sources.service"][1].decode()
    command = " ".join(sources.replace("\\\n", " ").split("ExecStart=")[1].split("\n")[0].split())
    assert "-m privatepypi_host.upstream_sources --region eu-west-1" in command
    assert "--block-list-s3 s3://acme-security/osv/malicious.json --block-list-path /etc/pypiserver/upstream-block-list.json" in command
    assert ("--credentials-parameter /privatepypi/prod/upstream-credentials --credentials-path /etc/pypiserver/upstream-credentials"
            " --owner pypiserver") in command
    timer = members["/etc/systemd/system/pypiserver-upstream-sources.timer"][1].decode()
    assert "OnBootSec=0" in timer and "OnUnitActiveSec=2min" in timer
    service = " ".join(members["/etc/systemd/system/pypiserver-upstream.service"][1].decode().replace("\\\n", " ").split())
    assert "--block-list /etc/pypiserver/upstream-block-list.json" in service
    assert "--credentials-file /etc/pypiserver/upstream-credentials" in service
    # the stdlib client it signs with is in the bundle; the credentials file is not (the instance writes it)
    assert "/opt/pypiserver/privatepypi_host/fetch_bundle.py" in members
    assert "/etc/pypiserver/upstream-credentials" not in members
    boot = members["/usr/local/sbin/pypiserver-bootstrap"][1].decode()
    enable = next(line for line in boot.splitlines() if line.startswith("systemctl enable "))
    assert "pypiserver-upstream-sources.timer" in enable.split()


def test_no_upstream_password_reaches_the_user_data_or_the_bundle(tmp_path):
    """A password given to the role on the AWS path (it belongs in SSM there) is refused before anything is
    rendered; with the parameter alone, nothing secret is rendered at all."""
    marker = "upstream-password-0f3b9c"
    work = tmp_path / "refused"
    work.mkdir()
    (work / "play.yml").write_text(PLAYBOOK)
    result = run_play(work / "play.yml", dict(AWS_VARS, out=str(work), role=ROLE, ssh=False,
                                              pypiserver_upstream_username="mirror", pypiserver_upstream_password=marker))
    assert result.returncode == 2
    assert "the credentials from the inventory or from SSM, not both" in " ".join(result.stdout.split())
    assert marker not in result.stdout + result.stderr
    assert not (work / "user-data").exists()


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
EXPOSURE_LIMIT = 3.0  # systemd-analyze security: 0 best, 10 worst; issue 17 wants every unit at 3.0 or better


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_every_unit_the_role_runs_is_rated_at_most_3(rendered, rendered_with_domain, tmp_path):
    """Issue 17: stunnel's tunnel and the restore unit were rated 8.7, the self-check 9.4. Every service unit of
    the bundle (every feature on: the same bytes the SSH path installs) is rated by systemd-analyze offline;
    molecule/default rates the units it runs live as well."""
    units = {path: content for members in (rendered["members"], members_of(rendered_with_domain[1]))
             for path, (_mode, content) in members.items()
             if path.startswith("/etc/systemd/system/") and path.endswith(".service")}
    assert {"/etc/systemd/system/pypiserver-efs-tunnel.service", "/etc/systemd/system/pypiserver-restore.service",
            "/etc/systemd/system/pypiserver-selfcheck.service", "/etc/systemd/system/pypiserver.service",
            "/etc/systemd/system/pypiserver-acme-store.service"} <= set(units)
    ratings = {}
    for path, content in sorted(units.items()):
        unit = tmp_path / os.path.basename(path)
        unit.write_bytes(content)
        result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(unit)],
                                capture_output=True, text=True, timeout=60, check=False)
        found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
        assert found, result.stdout[-2000:] + result.stderr
        ratings[unit.name] = float(found.group(1))
    print(ratings)
    assert {name: level for name, level in ratings.items() if level > EXPOSURE_LIMIT} == {}


def test_the_boot_installs_the_roles_lock_with_hashes_and_wheels_only(rendered):
    """One package set: the lock the SSH path installs is in the bundle byte for byte, and the boot's
    only pip install is that lock, hash-checked (pip refuses any file whose sha256 it does not name),
    from wheels (no sdist build fetching unpinned build tools), without resolving anything further."""
    with open(os.path.join(ROLE, "files", "requirements-host.lock"), "rb") as f:
        assert rendered["members"]["/opt/pypiserver/requirements.lock"][1] == f.read()
    boot = rendered["members"]["/usr/local/sbin/pypiserver-bootstrap"][1].decode()
    installs = re.findall(r"pip install[^|]*", boot.replace("\\\n", " "))
    assert len(installs) == 1, installs
    words = installs[0].split()
    assert {"--require-hashes", "--only-binary=:all:", "--no-deps"} <= set(words)
    assert words[words.index("-r") + 1] == "/opt/pypiserver/requirements.lock"
    assert [w for w in words if "==" in w or w.startswith(("boto3", "pypiserver"))] == []


def test_a_lock_of_ones_own_goes_to_the_host_and_a_loose_one_is_refused(tmp_path):
    own = tmp_path / "mine.lock"
    own.write_text("pypiserver==2.4.2 --hash=sha256:" + "1" * 64 + "\n")
    _user_data, bundle = render(tmp_path / "own", {"pypiserver_pip_lock": str(own)}, ssh=False)
    assert members_of(bundle)["/opt/pypiserver/requirements.lock"][1] == own.read_bytes()
    loose = tmp_path / "loose.lock"
    loose.write_text("pypiserver>=2\nboto3\n")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "play.yml").write_text(PLAYBOOK)
    settings = dict(AWS_VARS, out=str(tmp_path / "loose"), role=ROLE, ssh=False, pypiserver_pip_lock=str(loose))
    result = run_play(tmp_path / "loose" / "play.yml", settings)
    assert result.returncode != 0
    assert "is not a hash-pinned lock" in result.stdout and "'boto3' is not pinned with ==" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_image_builder_boots_the_same_bundle_in_image_mode(rendered):
    """A stack image's builder fetches the very bundle the instances fetch and runs the bootstrap's
    image mode; it is in no AutoScalingGroup, so it reports to none."""
    instance = yaml.safe_load(rendered["user_data"])["runcmd"][0]
    builder = yaml.safe_load(rendered["image_user_data"])["runcmd"][0]
    assert builder[-3:] == ["--then", "/usr/local/sbin/pypiserver-bootstrap", "image"]
    assert "--autoscaling-group" not in builder
    assert builder[:-3] == [w for i, w in enumerate(instance[:-2]) if "--autoscaling-group" not in instance[i - 1:i + 1]]
    assert yaml.safe_load(rendered["image_user_data"])["write_files"] == yaml.safe_load(rendered["user_data"])["write_files"]


def _boot(members):
    return members["/usr/local/sbin/pypiserver-bootstrap"][1].decode()


def test_the_boot_installs_nothing_on_an_image_that_carries_its_package_set(rendered):
    boot = _boot(rendered["members"])
    assert re.fullmatch(r"[0-9a-f]{64}", rendered["package_set"])
    assert f"\nPACKAGE_SET={rendered['package_set']}\n" in boot
    assert "\nSTAMP=/var/lib/privatepypi/package-set\n" in boot
    # every install of the boot (apt, pip) sits in the branch an image with the stamp skips
    boot_path = boot[boot.index("\nif carried; then\n"):]
    skipped = boot_path[:boot_path.index("\nfi\n")]
    assert 'retry "apt" apt_install' in skipped and 'retry "pip" pip_install' in skipped
    rest = boot_path[len(skipped):]
    assert "apt_install" not in rest and "pip_install" not in rest
    # the agents' unit downloads only when the image lacks them
    assert "carried || ssm_agent" in boot and "carried || cloudwatch_agent" in boot
    # the image mode writes the stamp, removes this host's configuration and powers off
    image = boot[boot.index('if [ "${1:-}" = image ]; then'):]
    image = image[:image.index("\nfi\n")]
    assert 'echo "$PACKAGE_SET" >"$STAMP"' in image and "systemctl poweroff" in image
    assert "/opt/pypiserver/requirements.lock" in image and "/etc/systemd/system/pypiserver.service" in image
    subprocess.run(["bash", "-n"], input=boot, text=True, check=True)


def test_the_package_set_follows_the_packages_and_nothing_else(rendered, tmp_path):
    digest = "ab" * 32
    _user_data, pinned = render(tmp_path / "pinned", {"pypiserver_ssm_agent_package_sha256": digest}, ssh=False)
    assert (tmp_path / "pinned" / "package-set").read_text() != rendered["package_set"]
    boot = _boot(members_of(pinned))
    assert re.search(rf"install_agent amazon-ssm-agent \S+/amazon-ssm-agent\.deb '?{digest}'?\n", boot), boot
    assert "sha256sum --check" in boot
    render(tmp_path / "interval", {"pypiserver_htpasswd_refresh_interval": "7min"}, ssh=False)
    assert (tmp_path / "interval" / "package-set").read_text() == rendered["package_set"]


# The units whose programs use the instance role's credentials (SSM, S3, EC2, Auto Scaling) or read the
# instance's identity: every other unit is denied the metadata service. certbot needs it for DNS-01 only.
METADATA_USERS = {"pypiserver-htpasswd.service", "pypiserver-eip.service", "pypiserver-selfcheck.service",
                  "pypiserver-upstream-sources.service", "certbot.service"}
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")


def _unit_of(path):
    """The unit a file configures: its own name, or a drop-in's unit (certbot.service.d/x.conf)."""
    parent = os.path.basename(os.path.dirname(path))
    return parent[:-2] if parent.endswith(".d") else os.path.basename(path)


def _denies_the_metadata_service(text):
    """True when every metadata address is denied (IPAddressDeny= any or the address) and none allowed again."""
    deny, allow = [], []
    for line in text.splitlines():
        key, _sep, value = line.partition("=")
        if key.strip() == "IPAddressDeny":
            deny = [] if not value.split() else deny + value.split()
        elif key.strip() == "IPAddressAllow":
            allow = [] if not value.split() else allow + value.split()
    return (all("any" in deny or address in deny for address in METADATA_ADDRESSES)
            and not {"any", "link-local", "169.254.0.0/16", *METADATA_ADDRESSES} & set(allow))


def test_every_unit_that_needs_no_metadata_service_is_denied_it(rendered, rendered_with_domain):
    """Issue 17: gunicorn, the upstream and trusted publishing services, the EFS tunnel and nginx could reach the
    instance metadata service, whose role may write the domain's _acme-challenge records (a certificate for the
    index's name). Every unit and drop-in of the bundle (every feature on, and with a domain) that is not one of
    METADATA_USERS denies it; those that are do not (they would fail)."""
    _user_data, bundle, _ssh = rendered_with_domain
    units = {}
    for members in (rendered["members"], members_of(bundle)):
        for path, (_mode, content) in members.items():
            if path.startswith("/etc/systemd/system/") and path.endswith((".service", ".conf")):
                units.setdefault(_unit_of(path), []).append(content.decode())
    assert {"pypiserver.service", "nginx.service", "pypiserver-efs-tunnel.service", "pypiserver-oidc.service",
            "pypiserver-upstream.service", "certbot.service"} <= set(units), sorted(units)
    exposed = sorted(name for name, texts in units.items()
                     if name not in METADATA_USERS and not any(_denies_the_metadata_service(t) for t in texts))
    assert exposed == []
    denied = sorted(name for name, texts in units.items()
                    if name in METADATA_USERS and any(_denies_the_metadata_service(t) for t in texts))
    assert denied == []
