"""upload.py: atomic, immutable publishing through the WSGI middleware."""

import base64
import hashlib
import io
import json
import os
import threading

import pytest
from distbuild import make_sdist, make_wheel
from passlib.apache import HtpasswdFile
from passlib.hash import bcrypt
from privatepypi_host import access, store, upload

BOUNDARY = "----privatepypi-test"


def form(fields, filename=None, content=b""):
    parts = []
    for key, value in fields.items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    if filename is not None:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def inner_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pypiserver"]


UPLOADER = {"HTTP_X_PRIVATEPYPI_USER": "alice", "HTTP_X_PRIVATEPYPI_ROLE": "uploader", "HTTP_X_PRIVATEPYPI_PROJECTS": "*"}


class Client:
    """Behind nginx (no htpasswd given): the identity comes as the X-Privatepypi-* headers nginx sets."""

    def __init__(self, root, htpasswd=None, authenticate=("update",), identity=None, audit_log=""):
        self.app = upload.UploadMiddleware(inner_app, root, htpasswd, list(authenticate), trust_proxy=htpasswd is None,
                                           audit_log=audit_log)
        self.identity = UPLOADER if identity is None else identity

    def request(self, body=b"", method="POST", path="/", auth=None):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "wsgi.input": io.BytesIO(body),
                   "HTTP_X_REAL_IP": "192.0.2.44", **self.identity}
        if auth:
            environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
        status = []
        result = b"".join(self.app(environ, lambda s, h: status.append(s)))
        return int(status[0].split()[0]), result.decode()

    def upload(self, path, name=None, action="file_upload", **extra):
        with open(path, "rb") as f:
            data = f.read()
        return self.request(form({":action": action, **extra}, name or os.path.basename(path), data))


def write_htpasswd(path, **users):
    """bcrypt at cost 4 (fast); the only scheme the credential files may hold."""
    path.write_text("".join(f"{user}:{bcrypt.using(rounds=4).hash(password)}\n" for user, password in users.items()))


@pytest.fixture
def built(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    return str(src)


def test_upload_then_identical_then_conflict(store_root, built, tmp_path):
    client = Client(store_root)
    wheel = make_wheel(built, requires_python=">=3.8")
    name = os.path.basename(wheel)
    assert client.upload(wheel) == (200, f"{name} published\n")
    stored = os.path.join(store_root, name)
    with open(wheel, "rb") as a, open(stored, "rb") as b:
        assert a.read() == b.read()
    assert oct(os.stat(stored).st_mode & 0o777) == "0o640"
    sidecar = store.read_sidecar(store_root, name)
    assert sidecar["requires-python"] == ">=3.8"
    assert os.path.exists(store.metadata_path(store_root, name))
    assert client.upload(wheel)[0] == 200
    other = tmp_path / "other"
    other.mkdir()
    changed = make_wheel(str(other), payload=b"x = 2\n")
    status, message = client.upload(changed)
    assert status == 409 and "immutable" in message
    with open(wheel, "rb") as a, open(stored, "rb") as b:
        assert a.read() == b.read()
    assert store.read_sidecar(store_root, name) == sidecar
    assert os.listdir(store.paths(store_root)[1]) == []  # nothing left behind


def test_sdist_and_digest_check(store_root, built):
    client = Client(store_root)
    sdist = make_sdist(built)
    with open(sdist, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert client.upload(sdist, sha256_digest="0" * 64)[0] == 400
    assert client.upload(sdist, sha256_digest=digest)[0] == 200


@pytest.mark.parametrize("name,content,reason", [
    ("evil.html", b"<script>alert(1)</script>", "neither a wheel"),
    ("demo-1.0-py3-none-any.whl", b"<svg onload=alert(1)>", "not a valid archive"),
    ("demo-1.0.tar.gz", b"\x1f\x8bgarbage", "not a valid archive"),
    ("../../etc/demo-1.0.tar.gz", b"", "not a valid archive"),
])
def test_refuses_non_distributions(store_root, name, content, reason):
    status, message = Client(store_root).request(form({":action": "file_upload"}, name, content))
    assert status == 400 and reason in message
    assert [n for n in os.listdir(store_root) if not n.startswith(".")] == []


def test_refused_actions_and_methods(store_root):
    client = Client(store_root)
    for action in ("remove_pkg", "doc_upload"):
        status, message = client.request(form({":action": action, "name": "demo", "version": "1.0"}))
        assert status == 403 and "release playbook" in message
    assert client.request(form({":action": "submit"}))[0] == 400
    assert client.request(form({":action": "file_upload"}))[0] == 400
    assert client.request(b"not a form")[0] == 400
    two = form({":action": "file_upload"}, "a-1.0.tar.gz", b"x").replace(f"--{BOUNDARY}--".encode(), b"")
    assert client.request(two + form({}, "b-1.0.tar.gz", b"y"))[0] == 400
    assert client.request(method="DELETE", path="/packages/demo-1.0.tar.gz")[0] == 405
    assert client.request(method="GET", path="/simple/") == (200, "pypiserver")


def test_credentials_are_checked_without_the_front_end(store_root, built, tmp_path):
    write_htpasswd(tmp_path / "htpasswd", alice="secret", rita="reader-pw")
    (tmp_path / "roles").write_text("alice uploader *\n")
    secret = access.new_secret()
    (tmp_path / "tokens").write_text(f"ci upload 0 {access.token_digest(secret)} other-*\n")
    client = Client(store_root, str(tmp_path / "htpasswd"), identity=UPLOADER)  # headers sent, not believed
    wheel = make_wheel(built)
    body = form({":action": "file_upload"}, os.path.basename(wheel), open(wheel, "rb").read())
    assert client.request(body)[0] == 401
    assert client.request(body, auth="alice:wrong")[0] == 401
    authorised = client.app._authorised
    assert not authorised("Basic \u00e9t\u00e9") and not authorised("Basic !!!") and not authorised("Bearer x")
    assert client.request(body, auth="rita:reader-pw")[0] == 403  # no role line: a reader
    status, message = client.request(body, auth=f"__token__:{secret}")
    assert status == 403 and "token ci may upload only to projects matching other-*, not demo" in message
    assert client.request(body, auth="alice:secret")[0] == 200


@pytest.mark.parametrize("scheme", ["sha512_crypt", "sha256_crypt", "apr_md5_crypt", "ldap_sha1", "plaintext"])
def test_without_the_front_end_only_bcrypt_lets_anyone_in(store_root, built, tmp_path, scheme):
    """Issue 17: the upload path checked the htpasswd with passlib's HtpasswdFile, which takes any scheme
    it knows (apr1, SHA-1, even plain text): a right password under a fast hash was accepted."""
    htpasswd = HtpasswdFile(str(tmp_path / "htpasswd"), new=True, default_scheme=scheme)
    htpasswd.set_password("alice", "secret")
    htpasswd.save()
    (tmp_path / "roles").write_text("alice uploader *\n")
    client = Client(store_root, str(tmp_path / "htpasswd"), identity={})
    wheel = make_wheel(built)
    body = form({":action": "file_upload"}, os.path.basename(wheel), open(wheel, "rb").read())
    assert client.request(body, auth="alice:secret")[0] == 401
    write_htpasswd(tmp_path / "htpasswd", alice="secret")
    assert client.request(body, auth="alice:secret")[0] == 200


def test_without_the_front_end_the_audit_names_the_peer_not_a_header(store_root, built, tmp_path):
    """Issue 17: a client-supplied X-Real-IP was written into the upload audit."""
    log = tmp_path / "audit.log"
    write_htpasswd(tmp_path / "htpasswd", alice="secret")
    (tmp_path / "roles").write_text("alice uploader *\n")
    client = Client(store_root, str(tmp_path / "htpasswd"), identity={"REMOTE_ADDR": "198.51.100.8"}, audit_log=str(log))
    wheel = make_wheel(built)
    assert client.request(form({":action": "file_upload"}, os.path.basename(wheel), open(wheel, "rb").read()),
                          auth="alice:secret")[0] == 200
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["client"] == "198.51.100.8"  # the request also carried X-Real-IP: 192.0.2.44


def test_anonymous_uploads_are_never_accepted(store_root, built):
    wheel = make_wheel(built)
    status, message = Client(store_root, authenticate=["list", "download"]).upload(wheel)
    assert status == 403 and "Anonymous uploads are never accepted" in message
    assert Client(store_root, identity={}).upload(wheel)[0] == 401  # behind nginx without its identity headers
    forged = {"HTTP_X_PRIVATEPYPI_USER": "x", "HTTP_X_PRIVATEPYPI_ROLE": "root"}
    assert Client(store_root, identity=forged).upload(wheel)[0] == 401
    assert [n for n in os.listdir(store_root) if not n.startswith(".")] == []


def test_roles_patterns_and_the_audit_log(store_root, built, tmp_path):
    log = tmp_path / "audit.log"
    wheel = make_wheel(built)
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    reader = {"HTTP_X_PRIVATEPYPI_USER": "rita", "HTTP_X_PRIVATEPYPI_ROLE": "reader"}
    status, message = Client(store_root, identity=reader, audit_log=str(log)).upload(wheel)
    assert status == 403 and "account rita has the role reader: it may read, not upload" in message
    token = {"HTTP_X_PRIVATEPYPI_USER": "__token__", "HTTP_X_PRIVATEPYPI_ROLE": "uploader",
             "HTTP_X_PRIVATEPYPI_PROJECTS": "cc-*,tools", "HTTP_X_PRIVATEPYPI_TOKEN": "ci"}
    status, message = Client(store_root, identity=token, audit_log=str(log)).upload(wheel)
    assert status == 403 and "token ci may upload only to projects matching cc-*, tools, not demo" in message
    allowed = dict(token, HTTP_X_PRIVATEPYPI_PROJECTS="de*")
    assert Client(store_root, identity=allowed, audit_log=str(log)).upload(wheel)[0] == 200
    assert Client(store_root, identity=allowed, audit_log=str(log)).upload(wheel)[0] == 200  # identical again
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["event"], r["status"], r["who"], r["token"]) for r in records] == [
        ("upload", 403, "rita", ""), ("upload", 403, "__token__", "ci"), ("upload", 200, "__token__", "ci"),
        ("upload", 200, "__token__", "ci")]
    # a reader is refused before the form is read: audited without a file
    assert records[0]["file"] == "" and records[0]["client"] == "192.0.2.44"
    assert all(r["project"] == "demo" and r["file"] == os.path.basename(wheel) and r["sha256"] == digest
               and r["client"] == "192.0.2.44" and r["time"] for r in records[1:])
    assert "already published" in records[3]["result"]


def test_empty_project_patterns_grant_no_project(store_root, built, tmp_path):
    """Issue 17: an uploader or a token whose pattern list was empty could upload to every project."""
    wheel = make_wheel(built)
    for identity in ({"HTTP_X_PRIVATEPYPI_USER": "bob", "HTTP_X_PRIVATEPYPI_ROLE": "uploader"},
                     {"HTTP_X_PRIVATEPYPI_USER": "__token__", "HTTP_X_PRIVATEPYPI_ROLE": "uploader",
                      "HTTP_X_PRIVATEPYPI_PROJECTS": "", "HTTP_X_PRIVATEPYPI_TOKEN": "ci"},
                     {"HTTP_X_PRIVATEPYPI_USER": "__token__", "HTTP_X_PRIVATEPYPI_ROLE": "publisher",
                      "HTTP_X_PRIVATEPYPI_PROJECTS": ",", "HTTP_X_PRIVATEPYPI_TOKEN": "oidc:x:1"}):
        status, message = Client(store_root, identity=identity).upload(wheel)
        assert status == 403 and "has no project patterns, so it may upload to no project" in message, message
    assert [n for n in os.listdir(store_root) if not n.startswith(".")] == []
    # without the front end, from the roles and tokens files: the same
    write_htpasswd(tmp_path / "htpasswd", bob="bob-pw")
    (tmp_path / "roles").write_text("bob uploader\n")
    secret = access.new_secret()
    (tmp_path / "tokens").write_text(f"ci upload 0 {access.token_digest(secret)}\n")
    direct = Client(store_root, str(tmp_path / "htpasswd"), identity={})
    body = form({":action": "file_upload"}, os.path.basename(wheel), open(wheel, "rb").read())
    assert direct.request(body, auth="bob:bob-pw")[0] == 403
    assert direct.request(body, auth=f"__token__:{secret}")[0] == 403
    # '*' is every project; an admin without patterns may upload every project (the index's own role)
    (tmp_path / "roles").write_text("bob uploader *\n")
    assert direct.request(body, auth="bob:bob-pw")[0] == 200
    admin = {"HTTP_X_PRIVATEPYPI_USER": "ada", "HTTP_X_PRIVATEPYPI_ROLE": "admin"}
    assert Client(store_root, identity=admin).upload(wheel)[0] == 200  # identical bytes again: 200


def test_concurrent_uploads_of_one_name_have_one_winner(store_root, tmp_path):
    bodies = []
    for i in range(4):
        d = tmp_path / f"v{i}"
        d.mkdir()
        path = make_wheel(str(d), payload=f"x = {i}\n".encode())
        bodies.append((open(path, "rb").read(), form({":action": "file_upload"}, os.path.basename(path), open(path, "rb").read())))
    results = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def go(i):
        client = Client(store_root)
        barrier.wait()
        results[i] = client.request(bodies[i][1])[0]

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409]
    winner = results.index(200)
    with open(os.path.join(store_root, "demo-1.0-py3-none-any.whl"), "rb") as f:
        assert f.read() == bodies[winner][0]
    assert store.read_sidecar(store_root, "demo-1.0-py3-none-any.whl")["sha256"] == hashlib.sha256(bodies[winner][0]).hexdigest()


def test_concurrent_identical_uploads_all_succeed(store_root, built):
    wheel = make_wheel(built)
    data = open(wheel, "rb").read()
    body = form({":action": "file_upload"}, os.path.basename(wheel), data)
    results = []
    barrier = threading.Barrier(3)

    def go():
        client = Client(store_root)
        barrier.wait()
        results.append(client.request(body)[0])

    threads = [threading.Thread(target=go) for _n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    assert open(os.path.join(store_root, os.path.basename(wheel)), "rb").read() == data


def test_stale_claim_is_taken_over(store_root, built, tmp_path):
    wheel = make_wheel(built)
    name = os.path.basename(wheel)
    other = tmp_path / "other"
    other.mkdir()
    dead, _raw = store.describe(make_wheel(str(other), payload=b"dead"), name)
    store.write_atomic(store.sidecar_path(store_root, name), store.encode_sidecar(dead), exclusive=True)
    assert Client(store_root).upload(wheel)[0] == 409  # a fresh claim: another upload is running
    old = os.stat(store.sidecar_path(store_root, name)).st_mtime - store.STALE_CLAIM_SECONDS - 1
    os.utime(store.sidecar_path(store_root, name), (old, old))
    assert Client(store_root).upload(wheel)[0] == 200


def test_file_without_sidecar_is_compared(store_root, built, tmp_path):
    wheel = make_wheel(built)
    name = os.path.basename(wheel)
    other = tmp_path / "other"
    other.mkdir()
    os.rename(make_wheel(str(other), payload=b"copied by hand"), os.path.join(store_root, name))
    assert Client(store_root).upload(wheel)[0] == 409


def test_create_reads_its_settings_from_the_environment(monkeypatch, store_root):
    import sys
    import types

    seen = {}
    fake = types.ModuleType("pypiserver")
    fake.app = lambda **kwargs: seen.update(kwargs) or inner_app
    monkeypatch.setitem(sys.modules, "pypiserver", fake)
    app = upload.create({"PYPISERVER_PACKAGES": store_root, "PYPISERVER_HTPASSWD": "/etc/pypiserver/htpasswd",
                         "PYPISERVER_AUTHENTICATE": "list,update"})
    assert isinstance(app, upload.UploadMiddleware) and app.authenticate == ["list", "update"]
    assert seen["disable_fallback"] is True and seen["overwrite"] is False
    assert str(seen["roots"][0]) == store_root and seen["authenticate"] == ["list", "update"]


def _publish(root, directory, path_maker, **kw):
    path = path_maker(str(directory), **kw)
    return upload.publish(root, os.path.basename(path), path)


def test_a_release_cannot_be_rewritten_under_another_name(store_root, tmp_path, monkeypatch):
    """Issue 17: foo-1.0.0, a build-tag wheel or a second sdist of an existing release were accepted, and pip
    then took the new bytes for foo==1.0."""
    for n in range(8):
        (tmp_path / str(n)).mkdir()
    first = make_wheel(str(tmp_path / "0"))
    assert upload.publish(store_root, os.path.basename(first), first) == "200 OK"
    assert _publish(store_root, tmp_path / "1", make_sdist) == "200 OK"  # the release's sdist joins it
    refusals = [
        (make_sdist, {"version": "1.0.0"}, "already has an sdist"),  # 1.0.0 is release 1.0 (PEP 440)
        (make_wheel, {"version": "1.0.0", "payload": b"x = 2\n"}, "already has a wheel for these tags"),
        (make_wheel, {"tag": "1-py3-none-any", "payload": b"x = 3\n"}, "already has a wheel for these tags"),
    ]
    for n, (maker, kw, reason) in enumerate(refusals, 2):
        with pytest.raises(upload.Refused, match=reason) as refused:
            _publish(store_root, tmp_path / str(n), maker, **kw)
        assert refused.value.status == "409 Conflict"
    # another platform's wheel joins the release within the window, not after it
    assert _publish(store_root, tmp_path / "5", make_wheel, tag="cp311-cp311-manylinux_2_17_x86_64") == "200 OK"
    later = upload.time.time() + upload.RELEASE_WINDOW + 60
    monkeypatch.setattr(upload.time, "time", lambda: later)
    with pytest.raises(upload.Refused, match="new files join a release only within"):
        _publish(store_root, tmp_path / "6", make_wheel, tag="cp312-cp312-manylinux_2_17_x86_64")
    # a new version is a new release; the same file again is still a success
    assert _publish(store_root, tmp_path / "7", make_wheel, version="1.1") == "200 OK"
    assert upload.publish(store_root, os.path.basename(first), first) == upload.SAME
