"""Boot rehearsal: the launch template's user data boots real systemd containers.

site.yml provisions the budget stack against the emulator, its stack image included; the user data
read back from the emulator boots an instance container of that image through cloud-init, on the
internal network (no way out: conftest.py); twine and
pip go through it; a replacement instance launched from the same template, on
the same EFS stand-in, serves the same packages and takes the Elastic IP over; the
instance's own credentials are refused what belongs to another stack. The stack is the one
test_https.py runs on too (conftest.py): budget with a domain, so the clients go through HTTPS.
"""

import json
import re
import subprocess
import threading
import time

import pytest

from tests.rehearsal.conftest import boot_log
from tests.support import rehearse
from tests.support.cloud_config import bundle_of, everything_an_instance_reads
from tests.support.secrets_shapes import find_hashes

# IAM enforced on a booted instance: the container gets its instance profile role's credentials from
# the metadata stand-in (the emulator's STS), and the emulator enforces IAM for them. Its boot already
# needed the policy (the users' parameter, the Elastic IP claim); the probe, inside the instance with
# the same credential chain, is refused what belongs to another stack.
INSTANCE, SECOND, RESTORED, LATE, NEVER = rehearse.INSTANCE_NAMES[:5]
OTHER = "privatepypi-other"
# The instance's own Python, with the metadata endpoint its services use (their units set it).
PROBE = """
import json, sys, boto3, botocore
session = boto3.session.Session(region_name=sys.argv[1])
def attempt(call):
    try:
        call()
        return "allowed"
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
ssm, ec2 = session.client("ssm", endpoint_url=sys.argv[2]), session.client("ec2", endpoint_url=sys.argv[2])
print(json.dumps({
    "identity": session.client("sts", endpoint_url=sys.argv[2]).get_caller_identity()["Arn"],
    "method": session.get_credentials().method,
    "own": attempt(lambda: ssm.get_parameter(Name=sys.argv[3], WithDecryption=True)),
    "other": attempt(lambda: ssm.get_parameter(Name=sys.argv[4], WithDecryption=True)),
    "other_eip": attempt(lambda: ec2.associate_address(AllocationId=sys.argv[5], InstanceId=sys.argv[6],
                                                       AllowReassociation=True)),
}))
"""


def test_user_data_has_no_secret(stack):
    """What the emulator hands an instance, decoded as cloud-init decodes it (every write_files entry)
    plus the bootstrap bundle it names: no user's password, no password hash of any scheme."""
    user_data, _ = rehearse.launch_template_user_data()
    text = user_data.decode()
    assert text.startswith("#cloud-config")
    files = bundle_of(rehearse.aws, text)
    # the decoding reached the programs the boot runs: a secret there would have been found
    assert "/opt/pypiserver/privatepypi_host/htpasswd_refresh.py" in files, sorted(files)
    everything = everything_an_instance_reads(rehearse.aws, text)
    assert "pypiserver-bootstrap" in everything
    for user in rehearse.users():
        assert user["password"] not in everything
    assert find_hashes(everything) == []


def test_first_instance_serves_and_holds_the_elastic_ip(stack):
    # the boot itself failed the fixture if it outlasted the AutoScalingGroup's grace period (rehearse.boot)
    print("\nboot to healthy: {:.0f} s, site.yml: {:.0f} s (its image's build: {})".format(
        stack["boot_seconds"], stack["provision_seconds"], ", ".join(f"{b['seconds']:.0f} s" for b in stack["builds"])))
    rehearse.install(INSTANCE, "1.0.0")
    addresses = rehearse.aws("ec2").describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [rehearse.STACK]}])["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [stack["instance_id"]]


def test_anonymous_requests_are_refused(stack):
    for path in ("/simple/", "/packages/privatepypi_demo-1.0.0-py3-none-any.whl"):
        assert rehearse.status(INSTANCE, path, None) == 401, path


def test_the_instance_is_refused_what_belongs_to_another_stack(stack):
    ec2, ssm = rehearse.aws("ec2"), rehearse.aws("ssm")
    ssm.put_parameter(Name=f"/{OTHER}/htpasswd", Value="other:$2b$12$x", Type="SecureString", Overwrite=True)
    other_eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [
        {"Key": "Stack", "Value": OTHER}]}])["AllocationId"]
    try:
        result = subprocess.run(
            ["docker", "exec", "-e", f"AWS_EC2_METADATA_SERVICE_ENDPOINT={rehearse.IMDS_URL}", INSTANCE,
             "/opt/pypiserver/venv/bin/python", "-c", PROBE, rehearse.REGION, rehearse.EMULATOR_URL,
             f"/{rehearse.STACK}/htpasswd", f"/{OTHER}/htpasswd", other_eip, stack["instance_id"]],
            capture_output=True, text=True, check=True)
    finally:  # the other stack's pieces go: the tests after this one see this stack's alone
        ec2.release_address(AllocationId=other_eip)
        ssm.delete_parameter(Name=f"/{OTHER}/htpasswd")
    seen = json.loads(result.stdout)
    print("\ninside the instance:", seen)
    assert seen["method"] == "iam-role"
    assert seen["identity"].endswith(f":assumed-role/{rehearse.STACK}-instance/{stack['instance_id']}")
    assert seen["own"] == "allowed"
    assert seen["other"] == "AccessDeniedException"
    assert seen["other_eip"] == "UnauthorizedOperation"
    # its own address, claimed at boot under the same enforcement
    addresses = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [rehearse.STACK]}])["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [stack["instance_id"]]


def test_replacement_serves_the_same_packages(replacement):
    print("\nreplacement boot to healthy: {:.0f} s".format(replacement["boot_seconds"]))
    rehearse.install(SECOND, "1.0.0")
    addresses = rehearse.aws("ec2").describe_addresses(
        Filters=[{"Name": "tag:Stack", "Values": [rehearse.STACK]}])["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [replacement["instance_id"]]


def test_upload_through_one_instance_is_listed_by_the_other_within_5s(replacement):
    # both instances serve the same EFS stand-in
    rehearse.upload(SECOND, "1.1.0")
    seconds = rehearse.wait_listed(INSTANCE, "1.1.0", seconds=5.0)
    print(f"\nlisted by the other instance after {seconds:.1f} s")
    rehearse.install(INSTANCE, "1.1.0")


def _main_pids(container):
    return subprocess.run(["docker", "exec", container, "systemctl", "show", "-p", "MainPID", "--value",
                           "pypiserver", "pypiserver-auth", "nginx"], capture_output=True, text=True).stdout


def _wait_for_status(name, user, expected, limit, every=1.5):
    """Polls until user gets expected. Each refused poll counts against this machine's address in
    nginx (pypiserver_auth_failure_limit, 20 a minute): polled faster, the waiting itself would earn
    the address a 429 for every credential nginx has not cached, among them the steady user's after
    the reload that a user change brings (all clients of the rehearsal share one address)."""
    started = time.monotonic()
    while rehearse.status(name, "/simple/", user) != expected:
        assert time.monotonic() - started < limit, "{} not {} within {} s".format(user["name"], expected, limit)
        time.sleep(every)
    return time.monotonic() - started


def test_users_change_through_ssm_without_restart_or_failed_request(replacement):
    """An admin adds and removes a user in SSM only; the running instances follow within the
    refresh interval (10 s in the rehearsal, plus the timer's 5 s accuracy) while every
    request of a user who stays keeps succeeding."""
    demo, bob = rehearse.users(("demo", "bob"))
    limit = 10 + 5 + 5
    pids = {name: _main_pids(name) for name in (INSTANCE, SECOND)}
    stop, codes = threading.Event(), []

    def steady_load():
        while not stop.is_set() and len(codes) < 20000:
            for name in pids:
                codes.append(rehearse.status(name, "/simple/privatepypi-demo/", demo))
            time.sleep(0.05)

    load = threading.Thread(target=steady_load)
    load.start()
    try:
        rehearse.set_users("budget", ["demo", "bob"])
        added = max(_wait_for_status(name, bob, 200, limit) for name in pids)
        rehearse.upload(INSTANCE, "1.2.0", user=bob)
        rehearse.set_users("budget", ["demo"])
        removed = max(_wait_for_status(name, bob, 401, limit) for name in pids)
    finally:
        stop.set()
        load.join()
    failed = len([c for c in codes if c != 200])
    print(f"\nuser added after {added:.1f} s, removed after {removed:.1f} s, {len(codes)} requests during the change, failed: {failed}")
    assert codes and set(codes) == {200}
    assert {name: _main_pids(name) for name in pids} == pids
    rehearse.wait_listed(SECOND, "1.2.0")


def _listed_files(name):
    return set(re.findall(r"privatepypi[_-]demo-[0-9.]+(?:-py3-none-any\.whl|\.tar\.gz)", rehearse.project_page(name)))


def test_restored_package_directory_is_served_as_before(stack):
    """The host side of playbooks/restore.yml: an instance on a file system that AWS Backup
    restored (the tree in aws-backup-restore_<time>/) moves the copy up once and serves exactly
    the files the original serves; pip installs from it."""
    restored = rehearse.boot_on_restored_copy()
    print("\nrestored file system: boot to healthy {:.0f} s".format(restored["boot_seconds"]))
    # moved whole, and no trace of the move (its lock, its marker) is left behind
    assert [name for name in restored["root"] if name.startswith(("aws-backup-restore_", ".pypiserver-restore"))] == []
    assert _listed_files(RESTORED) == _listed_files(INSTANCE)
    assert "privatepypi_demo-1.2.0-py3-none-any.whl" in _listed_files(RESTORED)
    rehearse.install(RESTORED, "1.2.0")


def _exec(container, *command):
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True)


def _until(what, check, limit, step=2.0):
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, f"{what}: not within {limit} s"
        time.sleep(step)
    return time.monotonic() - started


def test_agents_the_image_carries_start_in_their_own_unit_without_holding_the_index(stack):
    """The SSM and CloudWatch agents, installed into the image by its builder from the role's URL
    variables (stand-in packages served here), start and are configured at boot in their own unit,
    while the index already serves."""
    name = INSTANCE
    _until("SSM agent active", lambda: _exec(name, "systemctl", "is-active", "amazon-ssm-agent").stdout.strip() == "active", 180)
    _until("CloudWatch agent configured",
           lambda: _exec(name, "test", "-e", "/var/tmp/amazon-cloudwatch-agent-ctl.args").returncode == 0, 120)
    assert "-a fetch-config -m ec2 -s" in _exec(name, "cat", "/var/tmp/amazon-cloudwatch-agent-ctl.args").stdout
    assert "adm" in _exec(name, "id", "-nG", "cwagent").stdout.split()
    journal = _exec(name, "journalctl", "-u", "pypiserver-agents", "--no-pager", "-o", "cat").stdout
    assert "amazon-ssm-agent" in journal


def test_store_goes_through_the_tls_tunnel_and_the_selfcheck_runs(stack):
    name = INSTANCE
    assert _exec(name, "systemctl", "is-active", "pypiserver-efs-tunnel", "var-pypi.mount",
                 "pypiserver-selfcheck.timer").stdout.split() == ["active"] * 3
    mounts = _exec(name, "cat", "/run/efs-standin.log").stdout
    assert "port=20049" in mounts and "nfsvers=4.1" in mounts
    assert "127.0.0.1:20049" in _exec(name, "ss", "-ltn").stdout
    _until("a self-check ran", lambda: _exec(name, "test", "-e", "/run/pypiserver-selfcheck.json").returncode == 0, 60)
    assert '"failures": 0' in _exec(name, "cat", "/run/pypiserver-selfcheck.json").stdout


@pytest.fixture(scope="module")
def degraded(stack, base_image_boots):
    """Two more instances boot at once: one whose store answers only 30 s after the boot began
    trying to mount it, one whose store never answers (rehearse.BOOT_RETRY_SECONDS of retries).
    The base image's two boots (conftest.py) have just started beside them: all four wait on retries."""
    instance_id = rehearse.asg_instance_ids()[0]
    started = time.monotonic()
    rehearse.start(LATE, instance_id, store_appears=False)
    rehearse.start(NEVER, instance_id, store_appears=False)
    yield {"instance_id": instance_id, "started": started}
    for name in (LATE, NEVER):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_a_store_that_appears_late_is_mounted_and_served_by_the_boot_itself(degraded):
    name = LATE
    first = _until("a first mount attempt", lambda: _exec(name, "test", "-s", "/run/efs-standin.log").returncode == 0,
                   600)
    # the evidence of a boot that keeps trying: two failed attempts logged, nothing mounted meanwhile
    retried = _until("a second failed mount attempt", lambda: boot_log(name).count("EFS mount: attempt") >= 2, 180,
                     step=1.0)
    assert _exec(name, "mountpoint", "-q", "/var/pypi").returncode != 0
    rehearse.open_store(name)
    healthy, https = rehearse.wait_serving(name, time.monotonic(), limit=240)
    attempts = boot_log(name).count("EFS mount: attempt")
    print(f"\nfirst mount attempt after {first:.0f} s; store opened {retried:.0f} s later, after the second failed "
          f"attempt; healthy {healthy:.0f} s after that (HTTPS {https:.0f} s), {attempts} failed mount attempts before")
    assert attempts >= 2
    rehearse.install(name, "1.0.0")


def test_a_store_that_never_appears_reports_unhealthy_and_writes_nothing(degraded):
    name = NEVER
    _until("the instance reports itself unhealthy", lambda: "reporting this instance unhealthy" in boot_log(name),
           600 + rehearse.BOOT_RETRY_SECONDS, step=5)
    attempts = boot_log(name).count("EFS mount: attempt")
    print(f"\nstore never appeared: unhealthy reported within {time.monotonic() - degraded['started']:.0f} s of the "
          f"container's start, after {attempts} failed mount attempts over {rehearse.BOOT_RETRY_SECONDS} s")
    assert attempts >= 4
    assert rehearse.health_status(degraded["instance_id"]) == "UNHEALTHY"
    assert _exec(name, "mountpoint", "-q", "/var/pypi").returncode != 0
    assert _exec(name, "find", "/var/pypi", "-mindepth", "1").stdout == ""  # the root disk's directory stays empty
    assert _exec(name, "stat", "-c", "%U", "/var/pypi").stdout.strip() == "root"
    states = _exec(name, "systemctl", "is-active", "pypiserver", "pypiserver-index").stdout.split()
    assert "active" not in states
