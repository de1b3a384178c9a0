"""Boot rehearsal, budget with a domain: HTTPS end to end with a certificate from Pebble.

site.yml provisions budget with aws_stack_domain against the emulator; the instance booted from the
launch template's user data runs certbot with its Route53 plugin, under its instance role (IAM
enforced by the emulator), against Pebble (Debian's ACME test CA) on this machine. Pebble validates
the DNS-01 challenge for real, through the DNS stand-in that answers from the emulator's Route53.
The instances boot the stack image on the internal network and reach Pebble, the DNS stand-in and the
emulator on this machine's address there (conftest.py).
The clients (twine, pip, uv) run on this machine and trust only Pebble's root; the index's name
resolves to the instance for them alone (rehearse.resolving). A replacement instance on the same
EFS serves the same certificate and Pebble issues no other. The stack is the one test_boot.py runs
on too (conftest.py).
"""

import datetime
import gzip
import http.client
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import time

import pytest

from tests.rehearsal.conftest import DOMAIN
from tests.support import rehearse

FQDN = "pypi." + DOMAIN
FIRST, SECOND = rehearse.INSTANCE_NAMES[:2]
UV = rehearse.ROOT / ".venv-clients" / "bin" / "uv"
CLEAN = rehearse.CLEAN


def _address(name):
    """The instance's address, read when called: the session's network (conftest.py) is chosen after this
    module is imported, and use_network rebinds rehearse.INSTANCES."""
    return rehearse.INSTANCES[name][0]


def _exec(container, *command):
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True)


def _context(cafile):
    """Only cafile is trusted (create_default_context loads no system CA when given one)."""
    context = ssl.create_default_context(cafile=str(cafile))
    assert len(context.get_ca_certs()) == 1
    return context


def _certificate(address, cafile):
    """The chain the address serves for FQDN on 443, verified against cafile only: (leaf DER, details)."""
    with socket.create_connection((address, 443), timeout=5) as raw:
        with _context(cafile).wrap_socket(raw, server_hostname=FQDN) as tls:
            return tls.getpeercert(binary_form=True), tls.getpeercert()


def test_certificate_from_pebble_is_served_on_443(stack):
    root = rehearse.pebble_root()
    _, details = _certificate(_address(FIRST), root)
    issuer = dict(pair[0] for pair in details["issuer"])
    assert "Pebble" in issuer["commonName"]
    assert ("DNS", FQDN) in details["subjectAltName"]
    # not trusted by anything else: the system's CAs refuse it
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection((_address(FIRST), 443), timeout=5) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname=FQDN)
    assert rehearse.pebble_issued() == 1
    started = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", FIRST], capture_output=True,
                             text=True, check=True).stdout.strip()
    boot_log = _exec(FIRST, "cat", "/var/log/cloud-init-output.log").stdout
    print(f"\nsite.yml {stack['provision_seconds']:.0f} s; boot to /health {stack['boot_seconds']:.0f} s, "
          f"to HTTPS {stack['https_seconds']:.0f} s, "
          f"certificate {_seconds_to_certificate(started):.0f} s after the container started "
          f"({boot_log.count('certificate: attempt')} failed certbot attempts before); Pebble: "
          f"{(rehearse.PEBBLE / 'pebble.log').read_text().count('Added order')} order(s), "
          f"{rehearse.pebble_issued()} certificate(s)")


def test_tls_1_2_offers_forward_secret_aead_ciphers_only(stack):
    """A client that offers only static-RSA or CBC ciphers is refused; TLS 1.2 settles on ECDHE with AEAD."""
    root = rehearse.pebble_root()
    legacy = _context(root)
    legacy.maximum_version = ssl.TLSVersion.TLSv1_2
    legacy.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:AES128-SHA:"
                       "AES128-GCM-SHA256:AES256-SHA256:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((_address(FIRST), 443), timeout=5) as raw:
            legacy.wrap_socket(raw, server_hostname=FQDN)
    modern = _context(root)
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((_address(FIRST), 443), timeout=5) as raw:
        with modern.wrap_socket(raw, server_hostname=FQDN) as tls:
            name, version, _bits = tls.cipher()
    assert version == "TLSv1.2" and name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name


def _seconds_to_certificate(started):
    """From the container's start (docker's RFC 3339 time) to Pebble's log line of the issuance."""
    start = datetime.datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00" if "." in started else started)
    line = next(line for line in (rehearse.PEBBLE / "pebble.log").read_text().splitlines() if "Issued certificate" in line)
    issued = datetime.datetime.strptime(" ".join(line.split()[1:3]), "%Y/%m/%d %H:%M:%S").replace(tzinfo=datetime.UTC)
    return (issued - start).total_seconds()


def test_dns01_went_through_route53_with_the_instance_role(stack):
    """certbot's Route53 plugin took the instance role's credentials from the metadata stand-in (the
    emulator enforces IAM for them: the stack's TXT-only statement allowed the change) and called the
    emulator; it removed the challenge record again."""
    log = _exec(FIRST, "cat", "/var/log/letsencrypt/letsencrypt.log").stdout
    assert "Found credentials from IAM Role: " + rehearse.STACK + "-instance" in log
    assert f"'Endpoint': '{rehearse.EMULATOR_URL}'" in log
    route53 = rehearse.aws("route53")
    zone = [z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == DOMAIN + "."][0]
    names = [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]]
    assert f"_acme-challenge.{FQDN}." not in names


def test_http_redirects_to_https_and_https_sends_hsts(stack):
    plain = http.client.HTTPConnection(*rehearse.index_address(FIRST), timeout=5)
    plain.request("GET", "/simple/privatepypi-demo/?a=1", headers={"Host": FQDN})
    response = plain.getresponse()
    assert (response.status, response.getheader("Location")) == (301, f"https://{FQDN}/simple/privatepypi-demo/?a=1")
    plain.close()
    secure = rehearse.connection(FIRST, _context(rehearse.pebble_root()))
    secure.request("GET", "/simple/", headers={"Authorization": rehearse.basic(rehearse.users()[0])})
    response = secure.getresponse()
    response.read()
    assert response.status == 200
    hsts = response.getheader("Strict-Transport-Security") or ""
    assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 15552000, hsts
    secure.request("GET", "/simple/")
    anonymous = secure.getresponse()
    anonymous.read()
    assert anonymous.status == 401


def test_twine_pip_and_uv_through_https_trusting_only_pebbles_root(stack, tmp_path):
    root = rehearse.pebble_root()
    user = rehearse.users()[0]
    index = "https://{name}:{password}@{fqdn}/simple/".format(fqdn=FQDN, **user)
    dist = rehearse.run(rehearse.PYTHON, "scripts/demo_package.py", tmp_path / "dist", "--version", "3.0.0",
                        capture_output=True, text=True).stdout.split()

    def client(*command, env=None):
        return subprocess.run(rehearse.resolving(FQDN, _address(FIRST), command), cwd=rehearse.ROOT,
                              env=dict(CLEAN, **(env or {})), capture_output=True, text=True, timeout=300)

    upload = client(rehearse.PYTHON, "-m", "twine", "upload", "--non-interactive", "--cert", root,
                    "--repository-url", f"https://{FQDN}/", "-u", user["name"], "-p", user["password"], *dist)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    # the same upload with this machine's trust only: refused by the client (Pebble's root is not in it)
    untrusted = client(rehearse.PYTHON, "-m", "twine", "upload", "--non-interactive",
                       "--repository-url", f"https://{FQDN}/", "-u", user["name"], "-p", user["password"], *dist)
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout + untrusted.stderr

    venv = tmp_path / "pip-venv"
    rehearse.run(rehearse.PYTHON, "-m", "venv", venv)
    rehearse.wait_listed(FIRST, "3.0.0")  # the renderer lists an upload within a second or two
    pip = client(venv / "bin" / "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--cert", root,
                 "--index-url", index, "privatepypi-demo==3.0.0", env={"PIP_CONFIG_FILE": os.devnull})
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert rehearse.run(venv / "bin" / "python", "-c", "import privatepypi_demo; print(privatepypi_demo.VERSION)",
                        capture_output=True, text=True).stdout.strip() == "3.0.0"

    uv_env = {"SSL_CERT_FILE": str(root), "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
              "UV_PYTHON_DOWNLOADS": "never"}
    uv_venv = tmp_path / "uv-venv"
    assert client(UV, "venv", "--python", "/usr/bin/python3", uv_venv, env=uv_env).returncode == 0
    uv = client(UV, "pip", "install", "--python", uv_venv / "bin" / "python", "--index-url", index,
                "privatepypi-demo==3.0.0", env=uv_env)
    assert uv.returncode == 0, uv.stdout + uv.stderr
    assert rehearse.run(uv_venv / "bin" / "python", "-c", "import privatepypi_demo; print(privatepypi_demo.VERSION)",
                        capture_output=True, text=True).stdout.strip() == "3.0.0"
    # uv with a CA that is not Pebble's root (the directory's listener certificate): refused
    other = client(UV, "pip", "install", "--python", uv_venv / "bin" / "python", "--index-url", index, "--reinstall",
                   "privatepypi-demo==3.0.0", env=dict(uv_env, SSL_CERT_FILE=str(rehearse.PEBBLE / "listener.pem"),
                                                       UV_CACHE_DIR=str(tmp_path / "uv-cache-2")))
    assert other.returncode != 0
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_replacement_serves_the_same_certificate_without_a_new_issuance(replacement):
    root = rehearse.pebble_root()
    first, _ = _certificate(_address(FIRST), root)
    second, _ = _certificate(_address(SECOND), root)
    print(f"\nreplacement boot to healthy: {replacement['boot_seconds']:.0f} s; Pebble issued "
          f"{rehearse.pebble_issued()} certificate(s) for both instances")
    assert second == first
    assert rehearse.pebble_issued() == 1
    assert "Saving debug log" not in _exec(SECOND, "cat", "/var/log/cloud-init-output.log").stdout  # certbot never ran


def _private_key_body():
    live = rehearse.STATE / "efs" / ".privatepypi-acme"
    assert oct(live.stat().st_mode & 0o777) == "0o700" and live.stat().st_uid == 0
    key = (live / "live" / FQDN / "privkey.pem").resolve()
    assert oct(key.stat().st_mode & 0o777) == "0o600" and key.stat().st_uid == 0
    lines = key.read_text().split("\n")
    assert "PRIVATE KEY" in lines[0]
    return "".join(line for line in lines if line and not line.startswith("-----"))


def _readable(data):
    """The text of an object, unpacked when it is gzip or a tar archive."""
    texts = [data]
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
        texts.append(data)
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            texts += [archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()]
    except tarfile.TarError:
        pass
    return b"\n".join(texts).decode("utf-8", "replace")


def test_the_private_key_is_only_on_the_store(replacement):
    body = _private_key_body()
    pieces = [body[i:i + 40] for i in range(0, len(body) - 40, 40)]  # no line of it, in any wrapping
    user_data, template = rehearse.launch_template_user_data()
    ec2, s3 = rehearse.aws("ec2"), rehearse.aws("s3")
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    places = {"user data": user_data.decode(), "launch template": json.dumps(versions, default=str)}
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"].startswith(rehearse.STACK):
            for item in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
                places[f"s3://{bucket['Name']}/{item['Key']}"] = _readable(
                    s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read())
    assert any(k.startswith("s3://") for k in places)
    for name in (FIRST, SECOND):
        places[f"{name} boot log"] = _exec(name, "cat", "/var/log/cloud-init-output.log").stdout
        places[f"{name} journal"] = _exec(name, "journalctl", "--no-pager", "-o", "cat").stdout
        # the instances keep no copy of it off the store
        assert _exec(name, "find", "/etc/letsencrypt", "-name", "privkey*").stdout == ""
    for place, text in places.items():
        assert "PRIVATE KEY-----" not in text.replace(f"/live/{FQDN}/privkey.pem", ""), place
        assert not any(piece in text for piece in pieces), place


# Issue 17, the service user stays contained: an instance container free once test_boot.py's degraded boots are gone.
ATTACKED = rehearse.INSTANCE_NAMES[3]
SERVICE_USER = "pypiserver"
MARKER = "/run/privatepypi-planted-hook"  # writable in certbot.service's sandbox, as in any shell's
STORE_ACME = "/var/pypi/.privatepypi-acme"
HOOK = f"echo {{kind}} $(id -u) >> {MARKER}"


def _as_service_user(container, command):
    return subprocess.run(["docker", "exec", "-u", SERVICE_USER, container, "sh", "-c", command], capture_output=True,
                          text=True)


def _sh(container, command):
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True)


def _plant(container):
    """The service user renames the ACME directory away (the store's root is its own) and puts under its name a
    directory of its own: an account and a certificate lineage (root copies the real ones to the service user
    first: they stand for an account and a certificate the service user got from the CA itself, which it can), and
    a renewal configuration due for renewal at once with every hook certbot runs, each writing root's uid."""
    hooks = ("pre_hook", "post_hook", "renew_hook")  # renew_hook: the deploy hook, which the real one names already
    staged = _sh(container, f"rm -rf /run/planted && cp -a {STORE_ACME} /run/planted && cd /run/planted/renewal && "
                            f"sed -i -E '/^({'|'.join(hooks)}) = /d' {FQDN}.conf && "
                            f"sed -i '1i renew_before_expiry = 36500 days' {FQDN}.conf && "
                            + " && ".join(f"sed -i '/^\\[renewalparams\\]/a {name} = {HOOK.format(kind=name)}' {FQDN}.conf"
                                          for name in hooks)
                            + f" && chown -R {SERVICE_USER} /run/planted && rm -f {MARKER}")
    assert staged.returncode == 0, staged.stderr
    planted = _as_service_user(container, f"cd /var/pypi && mv .privatepypi-acme .acme-renamed-away && "
                                          f"cp -a /run/planted .privatepypi-acme && grep -c -E '^[a-z_]+_hook = ' "
                                          f".privatepypi-acme/renewal/{FQDN}.conf")
    assert planted.returncode == 0 and planted.stdout.strip() == "3", planted.stdout + planted.stderr


def _unplant(container):
    _sh(container, f"cd /var/pypi && [ -d .acme-renamed-away ] && rm -rf .privatepypi-acme && mv .acme-renamed-away "
                   f".privatepypi-acme; rm -rf /run/planted {MARKER}")


def test_the_service_user_cannot_get_root_to_run_its_acme_hooks_nor_read_the_key(stack):
    """Issue 17: nothing root runs or reads lives where the service user can write. The certificate's directory
    is on the store, whose root is the service user's; the service user renames it away and plants one of its own
    whose renewal settings carry hooks. Neither the renewal (certbot.service, which the timer runs as root) nor
    the boot of another instance on the store runs them: the renewal uses the directory root checked and mounted
    (the real certificate is still served), and the boot refuses the planted directory, says why, and reports
    the instance unhealthy instead of serving. The service user cannot read the private key either."""
    root = rehearse.pebble_root()
    served, _ = _certificate(_address(FIRST), root)
    for key in (f"{STORE_ACME}/live/{FQDN}/privkey.pem", f"/etc/privatepypi/acme/live/{FQDN}/privkey.pem",
                f"/etc/letsencrypt/live/{FQDN}/privkey.pem"):
        read = _as_service_user(FIRST, f"cat {key}")
        assert read.returncode != 0 and "PRIVATE KEY" not in read.stdout, key
    assert _as_service_user(FIRST, f"ls {STORE_ACME}").returncode != 0
    assert _exec(FIRST, "test", "-r", f"{STORE_ACME}/live/{FQDN}/privkey.pem").returncode == 0  # root's, and there
    try:
        _plant(FIRST)
        # what the renewal timer runs, as root
        renewal = _exec(FIRST, "systemctl", "start", "certbot.service")
        journal = _exec(FIRST, "journalctl", "-u", "certbot.service", "--no-pager", "-o", "cat").stdout
        assert _exec(FIRST, "cat", MARKER).stdout == "", f"a planted hook ran as root: {journal[-2000:]}"
        assert renewal.returncode == 0, renewal.stderr + journal[-2000:]
        assert _certificate(_address(FIRST), root)[0] == served

        # a boot on the same store with the planted directory: refused, said, reported; nothing of it used
        _, template = rehearse.launch_template_user_data()
        launched = rehearse.aws("ec2").run_instances(
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
            MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        started = time.monotonic()
        rehearse.start(ATTACKED, launched)
        while time.monotonic() - started < 300:
            log = _exec(ATTACKED, "cat", "/var/log/cloud-init-output.log").stdout
            if "reporting this instance unhealthy" in log or "index services started" in log or "could not report" in log:
                break
            time.sleep(3)
        print(f"\nboot on the store with a planted ACME directory: {time.monotonic() - started:.0f} s to its verdict")
        reason = f"refused the ACME directory: {STORE_ACME} is owned by uid "
        assert "index services started" not in log, log[-3000:]
        assert "reporting this instance unhealthy" in log and reason in log, log[-3000:]
        assert reason in _exec(ATTACKED, "journalctl", "-u", "pypiserver-acme-store", "--no-pager", "-o", "cat").stdout
        assert _exec(ATTACKED, "test", "-e", MARKER).returncode != 0
        assert _exec(ATTACKED, "test", "-e", "/var/log/letsencrypt/letsencrypt.log").returncode != 0  # certbot never ran
        # nothing serves HTTPS (nginx may run: the image's package starts Debian's default site at boot)
        https = _exec(ATTACKED, "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 443), 2)")
        assert https.returncode != 0
        # not left mounted either (its check unmounts what it refused)
        deadline = time.monotonic() + 15
        while _exec(ATTACKED, "ls", "-A", "/etc/privatepypi/acme").stdout and time.monotonic() < deadline:
            time.sleep(1)
        assert _exec(ATTACKED, "ls", "-A", "/etc/privatepypi/acme").stdout == ""
        # the planted directory is left as it was: not adopted, not re-owned
        owner = _sh(FIRST, f"stat -c %U {STORE_ACME}").stdout.strip()
        assert owner == SERVICE_USER
        assert _exec(FIRST, "cat", MARKER).stdout == ""
    finally:
        subprocess.run(["docker", "rm", "-f", ATTACKED], capture_output=True)
        _unplant(FIRST)
    assert _certificate(_address(FIRST), root)[0] == served
