"""fetch_bundle.py and selfcheck.py: the instance's stdlib AWS client and its self-check.

Signatures are compared with botocore's own SigV4 signer; the bundle is fetched and the health
report sent over HTTP to a moto server, with credentials from a local IMDSv2 stand-in.
"""

import datetime
import gzip
import hashlib
import http.server
import io
import json
import os
import tarfile
import threading

import botocore.auth
import pytest

pytest.importorskip("moto.server")
import aws_standins as standins  # noqa: E402
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.ec2.models.amis import AMIS
from privatepypi_host import claim_eip, fetch_bundle, selfcheck

REGION = standins.REGION
CREDENTIALS = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def _botocore_signature(method, url, service, body, headers, now, monkeypatch):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)  # botocore's clock at our instant
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(Credentials(*CREDENTIALS), service, REGION)
    signer.add_auth(request)
    return request.headers["Authorization"]


@pytest.mark.parametrize(("method", "url", "service", "body", "headers"), [
    ("GET", "https://b.s3.eu-west-1.amazonaws.com/bootstrap/0123abcd.tar.gz", "s3", b"", {}),
    ("GET", "http://127.0.0.1:5000/bucket/bootstrap/a%20b+c.tar.gz", "s3", b"", {}),
    ("POST", "https://autoscaling.eu-west-1.amazonaws.com/", "autoscaling",
     b"Action=SetInstanceHealth&HealthStatus=Unhealthy&InstanceId=i-1",
     {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}),
    ("GET", "https://ssm.eu-west-1.amazonaws.com/?b=2&a=1&c=x%2Fy", "ssm", b"", {}),
])
def test_signature_matches_botocore(method, url, service, body, headers, monkeypatch):
    now = datetime.datetime(2026, 11, 28, 5, 30, 0, tzinfo=datetime.UTC)
    ours = fetch_bundle.sign(method, url, REGION, service, CREDENTIALS, body, headers, now=now)
    assert ours["authorization"] == _botocore_signature(method, url, service, body, headers, now, monkeypatch)
    assert ours["x-amz-security-token"] == "session-token"


def test_retry_backs_off_then_gives_up():
    clock = {"now": 0.0}
    pauses, calls = [], []

    def sleep(seconds):
        pauses.append(seconds)
        clock["now"] += seconds

    def failing():
        calls.append(clock["now"])
        raise OSError("name or service not known")

    with pytest.raises(OSError):
        fetch_bundle.retry(failing, "mount", 100, sleep=sleep, clock=lambda: clock["now"])
    assert len(calls) == len(pauses) + 1
    assert 5 <= len(calls) <= 10  # 2, 4, 8, 16, 30, 30 s ... not a tight loop near the deadline
    assert 1.6 <= pauses[0] <= 2 and 3.2 <= pauses[1] <= 4 and 6.4 <= pauses[2] <= 8  # doubling, with jitter
    assert max(pauses) <= 30 and clock["now"] == 100  # the last attempt at the deadline, not after
    # success after transient failures returns the value
    answers = iter([OSError("x"), OSError("y"), "done"])

    def flaky():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert fetch_bundle.retry(flaky, "fetch", 100, sleep=sleep, clock=lambda: clock["now"]) == "done"


def _bundle(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if name.endswith("bootstrap") else 0o644
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/shadow"
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue())


def test_unpack_writes_files_with_modes(tmp_path):
    data = _bundle([("etc/systemd/system/a.service", b"[Unit]\n", tarfile.REGTYPE),
                    ("usr/local/sbin/pypiserver-bootstrap", b"#!/bin/bash\n", tarfile.REGTYPE)])
    written = fetch_bundle.unpack(data, tmp_path)
    assert sorted(written) == [str(tmp_path / "etc/systemd/system/a.service"),
                               str(tmp_path / "usr/local/sbin/pypiserver-bootstrap")]
    assert (tmp_path / "usr/local/sbin/pypiserver-bootstrap").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "etc/systemd/system/a.service").read_bytes() == b"[Unit]\n"


@pytest.mark.parametrize("member", [
    ("../escape", b"x", tarfile.REGTYPE),
    ("/etc/passwd", b"x", tarfile.REGTYPE),
    ("etc/link", b"", tarfile.SYMTYPE),
])
def test_unpack_refuses_anything_but_plain_relative_files(tmp_path, member):
    data = _bundle([("etc/first", b"first", tarfile.REGTYPE), member])
    with pytest.raises(fetch_bundle.BundleRefused):
        fetch_bundle.unpack(data, tmp_path / "root")
    assert not (tmp_path / "root").exists()  # refused before the first file is written


class Metadata(standins.Metadata):
    """The instance these tests set."""


@pytest.fixture(scope="module")
def endpoints():
    with standins.aws_endpoints(Metadata) as urls:
        yield urls


def test_fetch_verifies_unpacks_and_runs_the_bootstrap(endpoints, tmp_path):
    s3 = standins.client(endpoints, "s3")
    s3.create_bucket(Bucket="stack-boot", CreateBucketConfiguration={"LocationConstraint": REGION})
    marker = tmp_path / "ran"
    data = _bundle([("usr/local/sbin/pypiserver-bootstrap", f'#!/bin/sh\necho "$#:$*" > {marker}\n'.encode(), tarfile.REGTYPE)])
    digest = hashlib.sha256(data).hexdigest()
    s3.put_object(Bucket="stack-boot", Key=f"bootstrap/{digest}.tar.gz", Body=data)
    root = tmp_path / "root"
    args = ["fetch", "--bucket", "stack-boot", "--key", f"bootstrap/{digest}.tar.gz", "--sha256", digest,
            "--region", REGION, "--endpoint-url", endpoints["aws"], "--imds", endpoints["imds"], "--root", str(root)]
    assert fetch_bundle.main(args) == 0
    assert (root / "usr/local/sbin/pypiserver-bootstrap").read_bytes().startswith(b"#!/bin/sh")
    # --then runs the unpacked program in place of the fetcher (exec): in a child here; with its
    # arguments (an image builder's boot runs the bootstrap's image mode)
    for then, seen in ([], "0:"), (["image"], "1:image"):
        pid = os.fork()
        if pid == 0:
            try:
                fetch_bundle.main([*args, "--then", str(root / "usr/local/sbin/pypiserver-bootstrap"), *then])
            finally:
                os._exit(3)
        status = os.waitpid(pid, 0)[1]
        assert os.waitstatus_to_exitcode(status) == 0 and marker.read_text().strip() == seen


def test_fetch_refuses_a_bundle_with_another_digest(endpoints, tmp_path, capsys):
    s3 = standins.client(endpoints, "s3")
    s3.create_bucket(Bucket="stack-boot-2", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="stack-boot-2", Key="bootstrap/x.tar.gz", Body=_bundle([("etc/a", b"a", tarfile.REGTYPE)]))
    code = fetch_bundle.main(["fetch", "--bucket", "stack-boot-2", "--key", "bootstrap/x.tar.gz", "--sha256", "0" * 64,
                              "--region", REGION, "--endpoint-url", endpoints["aws"], "--imds", endpoints["imds"],
                              "--root", str(tmp_path / "root"), "--timeout", "0"])
    assert code == 1
    assert "the user data names 0000" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


@pytest.fixture
def group(endpoints):
    """An AutoScalingGroup with one instance, which the metadata stand-in says we are."""
    autoscaling = standins.client(endpoints, "autoscaling")
    name, instance = standins.group_with_one_instance(endpoints)[:2]
    Metadata.instance_id = instance
    return {"name": name, "instance": instance, "client": autoscaling}


def _health(group):
    return group["client"].describe_auto_scaling_instances(InstanceIds=[group["instance"]])[
        "AutoScalingInstances"][0]["HealthStatus"].upper()  # AWS answers HEALTHY, moto Healthy


def test_unhealthy_report_reaches_the_group(endpoints, group):
    assert _health(group) == "HEALTHY"
    assert fetch_bundle.main(["unhealthy", "--autoscaling-group", group["name"], "--region", REGION,
                              "--endpoint-url", endpoints["aws"], "--imds", endpoints["imds"],
                              "--reason", "test"]) == 0
    assert _health(group) == "UNHEALTHY"


def test_a_report_the_group_refuses_ends_in_a_message_not_a_traceback(endpoints, group, capsys):
    code = fetch_bundle.main(["unhealthy", "--autoscaling-group", group["name"], "--region", REGION,
                              "--endpoint-url", endpoints["aws"] + "/no-such-service", "--imds", endpoints["imds"],
                              "--reason", "test", "--timeout", "0"])
    assert code == 1
    assert "could not report: HTTP Error" in capsys.readouterr().err
    assert _health(group) == "HEALTHY"


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_selfcheck_repairs_within_grace_and_reports_only_after_the_threshold(endpoints, group, health, tmp_path):
    url = f"http://127.0.0.1:{health.server_port}/health"
    state = str(tmp_path / "state.json")
    started = []
    common = ["--url", url, "--state", state, "--grace", "300", "--failures", "3",
              "--autoscaling-group", group["name"], "--region", REGION, "--endpoint-url", endpoints["aws"],
              "--imds", endpoints["imds"], "--repair", "pypiserver.service"]

    def run(command, check):
        started.append(command)

    Health.status = 200
    assert selfcheck.main(common, run=run, clock=lambda: 1000) == 0  # the first check of this boot: grace from here
    assert started == [] and json.load(open(state)) == {"since": 1000, "failures": 0, "reported": False}
    Health.status = 503
    for _attempt in range(5):  # within the grace: repairs, never reports
        selfcheck.main(common, run=run, clock=lambda: 1100)
    assert started[-1] == ["systemctl", "start", "--no-block", "pypiserver.service"]
    assert _health(group) == "HEALTHY"
    Health.status = 200  # one good answer resets the count
    selfcheck.main(common, run=run, clock=lambda: 1400)
    Health.status = 503
    for _attempt in range(2):  # after the grace, below the threshold
        selfcheck.main(common, run=run, clock=lambda: 1400)
    assert _health(group) == "HEALTHY"
    selfcheck.main(common, run=run, clock=lambda: 1400)  # the third in a row
    assert _health(group) == "UNHEALTHY"
    assert json.load(open(state)) == {"since": 1000, "failures": 3, "reported": True}


def test_selfcheck_reports_a_units_refusal_as_the_reason(endpoints, group, health, tmp_path):
    """After a reboot with a planted ACME directory nginx does not start (it requires the check): the report
    names the check's refusal (its status file), not only the silent health endpoint."""
    url = f"http://127.0.0.1:{health.server_port}/health"
    verdict, accepted = tmp_path / "acme-store.status", tmp_path / "other.status"
    verdict.write_text("refused the ACME directory: /var/pypi/.privatepypi-acme is owned by uid 998, not root; "
                       "nothing of it is used\n")
    accepted.write_text("/var/pypi/.privatepypi-acme is mounted on /etc/privatepypi/acme\n")
    reasons = []
    common = ["--url", url, "--state", str(tmp_path / "state.json"), "--grace", "0", "--failures", "1",
              "--autoscaling-group", group["name"], "--region", REGION, "--endpoint-url", endpoints["aws"],
              "--imds", endpoints["imds"], "--verdict-file", str(verdict), "--verdict-file", str(accepted),
              "--verdict-file", str(tmp_path / "missing.status")]

    def report(*args):
        reasons.append(args[-1])
        fetch_bundle.set_unhealthy(*args)

    Health.status = 503
    selfcheck.main(common, run=lambda command, check: None, clock=lambda: 1000, report=report)
    assert reasons == [f"{url} does not answer; refused the ACME directory: /var/pypi/.privatepypi-acme is owned by "
                       "uid 998, not root; nothing of it is used: 1 failed checks in a row"]
    assert _health(group) == "UNHEALTHY"
    Health.status = 200  # answering: a stale refusal is no problem
    assert selfcheck.main(common, run=lambda command, check: None, clock=lambda: 1001, report=report) == 0
    assert len(reasons) == 1


def test_selfcheck_refuses_a_url_off_the_host():
    with pytest.raises(SystemExit):
        selfcheck.main(["--url", "http://169.254.169.254/latest/", "--state", "/dev/null"])


def test_claim_eip_associates_the_address_with_this_instance_and_takes_it_over(endpoints, group):
    """claim_eip.py signs AssociateAddress with fetch_bundle's code and the role's credentials; the
    address moves to this instance even from another one (a replacement taking it over)."""
    ec2 = standins.client(endpoints, "ec2")
    image = AMIS[0]["ami_id"]  # in every region of the stand-in (listing all of its images costs seconds)
    other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=other)
    assert claim_eip.main(["--allocation-id", allocation, "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"]]) == 0
    assert ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == group["instance"]


def test_claim_eip_gives_up_with_a_message_not_a_traceback(endpoints, group, capsys):
    code = claim_eip.main(["--allocation-id", "eipalloc-0000000000000000", "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "0"])
    assert code == 1
    assert "could not claim the Elastic IP eipalloc-0000000000000000" in capsys.readouterr().err


def test_claim_eip_refuses_a_non_http_metadata_endpoint():
    with pytest.raises(SystemExit):
        claim_eip.main(["--allocation-id", "eipalloc-1", "--imds", "file:///etc/passwd"])
