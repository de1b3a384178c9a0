"""The upstream's block list from S3 and its credentials from SSM on an instance (upstream_sources.py), and the
upstream service reading both again when they change (no restart).

Against a moto server (S3, SSM over HTTP) with credentials from an IMDSv2 stand-in, through fetch_bundle's
own SigV4 client: no boto3 on the instance's side.
"""

import base64
import http.server
import json
import os
import stat
import threading

import pytest

pytest.importorskip("moto.server")
import aws_standins as standins  # noqa: E402
from privatepypi_host import install, upstream_sources  # noqa: E402
from privatepypi_host import upstream as up  # noqa: E402

BUCKET = "acme-security"
KEY = "osv/malicious.json"
PARAMETER = "/prod/upstream-credentials"


def advisory(name, *versions):
    return {"id": f"MAL-2026-{len(versions)}", "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                                                             "versions": list(versions)}]}


@pytest.fixture(scope="module")
def endpoints():
    with standins.aws_endpoints(standins.Metadata) as urls:
        s3 = standins.client(urls, "s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": standins.REGION})
        yield urls


@pytest.fixture
def run(endpoints, tmp_path):
    def run_(*extra):
        return upstream_sources.main(["--region", standins.REGION, "--endpoint-url", endpoints["aws"],
                                      "--imds", endpoints["imds"], "--timeout", "0", *extra])
    return run_


def test_the_block_list_is_fetched_installed_and_replaced_when_it_changes(endpoints, run, tmp_path, capsys):
    s3 = standins.client(endpoints, "s3")
    path = tmp_path / "upstream-block-list.json"
    options = ["--block-list-s3", f"s3://{BUCKET}/{KEY}", "--block-list-path", str(path)]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(advisory("evil", "2.0")).encode())
    assert run(*options) == 0
    blocks = up.BlockList(str(path))
    blocks.refresh(force=True)
    assert blocks.blocked("evil", "2.0") and not blocks.blocked("evil", "1.0")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    # unchanged: not written again (the service's signature of the file stays)
    before = os.stat(path)
    assert run(*options) == 0
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_mtime_ns == before.st_mtime_ns
    # the user changes the object: the next run installs it, and the service sees it without a restart
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps([advisory("evil", "2.0"), advisory("libx", "1.0")]).encode())
    assert run(*options) == 0
    assert blocks.refresh(force=True) and blocks.blocked("libx", "1.0")
    assert "upstream block list updated" in capsys.readouterr().err


def test_a_block_list_that_is_not_osv_json_is_refused_and_the_last_good_one_stays(endpoints, run, tmp_path, capsys):
    s3 = standins.client(endpoints, "s3")
    path = tmp_path / "upstream-block-list.json"
    good = json.dumps(advisory("evil", "2.0")).encode()
    options = ["--block-list-s3", f"s3://{BUCKET}/refused.json", "--block-list-path", str(path)]
    s3.put_object(Bucket=BUCKET, Key="refused.json", Body=good)
    assert run(*options) == 0
    for body in (b"<html>not json</html>", b"[1, 2]", b'"MAL-2026-1"'):
        s3.put_object(Bucket=BUCKET, Key="refused.json", Body=body)
        assert run(*options) == upstream_sources.EXIT_REFUSED
        assert path.read_bytes() == good
        assert "refused, the last good file stays installed" in capsys.readouterr().err
    # an object that is not there (a typo, deleted): exit 1, retried by the next run; nothing changes
    assert run("--block-list-s3", f"s3://{BUCKET}/missing.json", "--block-list-path", str(path)) == 1
    assert path.read_bytes() == good
    assert "the last good files stay installed" in capsys.readouterr().err


def test_the_credentials_come_from_the_secure_string_and_only_in_a_private_file(endpoints, run, tmp_path, capsys):
    ssm = standins.client(endpoints, "ssm")
    path = tmp_path / "upstream-credentials"
    options = ["--credentials-parameter", PARAMETER, "--credentials-path", str(path)]
    ssm.put_parameter(Name=PARAMETER, Value="mirror-user:first-secret-4c1d", Type="SecureString", Overwrite=True)
    assert run(*options) == 0
    assert path.read_text() == "mirror-user:first-secret-4c1d\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o400
    ssm.put_parameter(Name=PARAMETER, Value="mirror-user:second-secret-77aa", Type="SecureString", Overwrite=True)
    assert run(*options) == 0
    assert path.read_text() == "mirror-user:second-secret-77aa\n"
    # not user:password: refused, the last good one stays, and the value is never logged
    ssm.put_parameter(Name=PARAMETER, Value="no-colon-secret-9e0f", Type="SecureString", Overwrite=True)
    assert run(*options) == upstream_sources.EXIT_REFUSED
    assert path.read_text() == "mirror-user:second-secret-77aa\n"
    logged = capsys.readouterr().err
    assert "must be one line user:password" in logged
    assert "secret" not in logged.replace(PARAMETER, "")


def test_both_sources_in_one_run_and_wrong_arguments_are_refused(endpoints, run, tmp_path):
    s3, ssm = standins.client(endpoints, "s3"), standins.client(endpoints, "ssm")
    s3.put_object(Bucket=BUCKET, Key="both.json", Body=json.dumps(advisory("evil", "2.0")).encode())
    ssm.put_parameter(Name="/both/upstream-credentials", Value="u:p", Type="SecureString", Overwrite=True)
    assert run("--block-list-s3", f"s3://{BUCKET}/both.json", "--block-list-path", str(tmp_path / "b.json"),
               "--credentials-parameter", "/both/upstream-credentials", "--credentials-path", str(tmp_path / "c")) == 0
    assert (tmp_path / "c").read_text() == "u:p\n" and (tmp_path / "b.json").exists()
    for wrong in (["--block-list-s3", "s3://x/"], ["--block-list-s3", f"s3://{BUCKET}/k"],
                  ["--credentials-parameter", PARAMETER]):
        with pytest.raises(SystemExit):
            run(*wrong)


class Recorder(http.server.BaseHTTPRequestHandler):
    """An upstream that records the Authorization header of each request and answers an empty project."""

    seen = []

    def do_GET(self):  # noqa: N802
        Recorder.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"meta": {"api-version": "1.1"}, "name": "libx", "files": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", up.JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_service_sends_a_new_password_without_a_restart(store_root, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "upstream-credentials"
        credentials = up.CredentialsFile(str(path))
        assert credentials.refresh() is False and credentials.value is None  # not fetched yet: asks without
        service = up.Upstream(store_root, f"http://127.0.0.1:{server.server_port}/simple/", max_age=0,
                              credentials=credentials.value, timeout=3.0)
        service.page("libx")
        install(str(path), b"mirror-user:first\n", 0o400)
        assert credentials.refresh() is True
        service.credentials = credentials.value  # what the service's watch thread does
        service.page("libx")
        install(str(path), b"mirror-user:second\n", 0o400)
        assert credentials.refresh() is True and credentials.refresh() is False
        service.credentials = credentials.value
        service.page("libx")
        assert Recorder.seen == [None] + ["Basic " + base64.b64encode(v).decode()
                                          for v in (b"mirror-user:first", b"mirror-user:second")]
    finally:
        server.shutdown()
