"""Publishing: new upload, identical re-upload (200), conflicting re-upload (409),
a non-distribution refused (400), and `uv publish --check-url` on a first
publish and on a re-run. Project names carry the run's id, so every run
publishes for the first time.
"""

import hashlib
import uuid

import distbuild
import pytest
from conftest import CLIENT_BIN, RUN_ID, clean_env, must, run, twine_upload, wait_listed


def _paths(files):
    return [path for path, _, _ in files.values()]


@pytest.fixture(scope="module")
def first_upload(server, tmp_path_factory):
    """A new release uploaded with twine: (files, twine's result, env)."""
    tmp = tmp_path_factory.mktemp("publish")
    env = clean_env(tmp / "home")
    files = distbuild.build(distbuild.Release(f"cc-pub-{RUN_ID}", "1.0.0", sdist=True), tmp / "first")
    return files, twine_upload(server, _paths(files), env), env


def test_twine_uploads_a_new_release(server, first_upload):
    files, proc, _ = first_upload
    must(proc, "twine upload of a new release")
    listed = wait_listed(server, f"cc-pub-{RUN_ID}", files, timeout=5)
    assert {n: listed[n] for n in files} == {n: sha for n, (_, sha, _) in files.items()}


def test_identical_reupload_succeeds(server, first_upload):
    files, proc, env = first_upload
    must(proc, "the first upload")
    again = twine_upload(server, _paths(files), env)
    assert again.returncode == 0, f"an identical re-upload must succeed (200), as PyPI and devpi answer:\n{again.output}"


def test_conflicting_reupload_is_409(server, first_upload, tmp_path):
    files, proc, env = first_upload
    must(proc, "the first upload")
    other = distbuild.build(distbuild.Release(f"cc-pub-{RUN_ID}", "1.0.0", sdist=True, flavour="other"), tmp_path)
    wheel = [p for p in _paths(other) if p.name.endswith(".whl")]
    conflict = twine_upload(server, wheel, env)
    assert conflict.returncode != 0 and "409" in conflict.output, \
        f"different bytes under a published file name must get 409 Conflict:\n{conflict.output}"
    wheel_name = wheel[0].name
    assert server.listed(f"cc-pub-{RUN_ID}")[wheel_name] == files[wheel_name][1], "the page's sha256 changed"
    status, _, body = server.request(f"/packages/{wheel_name}")
    assert status == 200 and hashlib.sha256(body).hexdigest() == files[wheel_name][1], "the served bytes changed"


def _legacy_upload(server, filename, content, name="cc-notes", version="1.0.0"):
    """POST / as twine does (multipart/form-data, :action=file_upload)."""
    boundary = uuid.uuid4().hex
    fields = [(":action", "file_upload"), ("protocol_version", "1"), ("metadata_version", "2.1"), ("name", name),
              ("version", version), ("filetype", "sdist"), ("pyversion", "source"),
              ("sha256_digest", hashlib.sha256(content).hexdigest())]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode() for key, value in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return server.request("/", method="POST", body=body,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def test_a_non_distribution_is_refused_with_400(server, corpus):
    for filename, content in [(f"notes-{RUN_ID}.txt", b"not a package\n"),
                              (f"cc_notes-{RUN_ID}.html", b"<script>alert(1)</script>")]:
        status, _, body = _legacy_upload(server, filename, content)
        assert status == 400, f"upload of {filename} answered {status}, expected 400: {body[:300]!r}"
        assert server.request(f"/packages/{filename}")[0] == 404, f"{filename} is served after a refused upload"


@pytest.fixture(scope="module")
def uv_publish(server, tmp_path_factory):
    """uv publish with --check-url; the check reads the index with the password from ~/.netrc
    (uv sends --username/--password to the upload URL only)."""
    tmp = tmp_path_factory.mktemp("uvpublish")
    env = clean_env(tmp / "home")
    netrc = tmp / "home/.netrc"
    netrc.write_text(f"machine {server.host} login {server.user} password {server.password}\n")
    netrc.chmod(0o600)
    name = f"cc-uvpub-{RUN_ID}"

    def publish(files):
        return run([CLIENT_BIN / "uv", "publish", "--publish-url", server.url + "/", "--check-url", server.simple,
                    "--trusted-publishing", "never", "--username", server.user, "--password", server.password,
                    *_paths(files)], env)

    files = distbuild.build(distbuild.Release(name, "1.0.0", sdist=True), tmp / "dist")
    return name, files, publish, publish(files), tmp


def test_uv_publish_first_publish(server, uv_publish):
    name, files, _, first, _ = uv_publish
    must(first, "uv publish --check-url (first publish)")
    wait_listed(server, name, files, timeout=5)


def test_uv_publish_rerun_with_check_url(uv_publish):
    _, files, publish, first, _ = uv_publish
    must(first, "the first uv publish")
    rerun = must(publish(files), "uv publish --check-url (re-run of the same files)")
    assert "already exists" in rerun.output.lower() or "skipping" in rerun.output.lower(), \
        f"the re-run did not report the files as already published:\n{rerun.output}"


def test_uv_publish_of_other_bytes_fails(uv_publish):
    name, _, publish, first, tmp = uv_publish
    must(first, "the first uv publish")
    other = distbuild.build(distbuild.Release(name, "1.0.0", sdist=True, flavour="other"), tmp / "other")
    conflict = publish({n: f for n, f in other.items() if n.endswith(".whl")})
    assert conflict.returncode != 0, f"uv publish of different bytes under a published name succeeded:\n{conflict.output}"
