"""Atomic, immutable uploads (POST / file_upload) in front of pypiserver, a WSGI middleware.

Spooled to a temporary name, validated, described in its sidecar (which claims the name),
then os.link'ed into place. Same bytes again: 200; other bytes: 409.
"""

import base64
import os
import time
import warnings

from privatepypi_host import store

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import cgi  # spools file parts to disk; Python 3.11's standard library

READ_METHODS = ("GET", "HEAD")
SAME = "200 OK (identical)"


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def publish(root, filename, upload, expected_sha256=""):
    try:
        sidecar, raw = store.describe(upload, filename, upload_time=time.time())
    except store.InvalidDistribution as error:
        raise Refused("400 Bad Request", f"Not a distribution this index accepts: {error}") from None
    if expected_sha256 and expected_sha256.strip().lower() != sidecar["sha256"]:
        raise Refused("400 Bad Request", f"{filename}: sha256_digest does not match the uploaded bytes")
    final = os.path.join(root, filename)
    for _attempt in range(2):
        if os.path.exists(final):
            return _same_or_conflict(store.ensure_sidecar(root, filename), sidecar)
        try:  # the sidecar is the claim on the name: written exclusively, before the file
            store.write_atomic(store.sidecar_path(root, filename), store.encode_sidecar(sidecar), exclusive=True)
            break
        except FileExistsError:
            claimed = store.read_sidecar(root, filename)
            if claimed["sha256"] == sidecar["sha256"]:
                return _link(upload, final, root, filename, sidecar, owner=False)
            if os.path.exists(final) or time.time() - os.stat(store.sidecar_path(root, filename)).st_mtime < store.STALE_CLAIM_SECONDS:
                return _same_or_conflict(claimed, sidecar)
            os.remove(store.sidecar_path(root, filename))  # left by an upload that died before its link
    else:
        raise Refused("409 Conflict", f"{filename} is being uploaded by another request")
    if raw is not None:
        store.write_atomic(store.metadata_path(root, filename), raw)
    return _link(upload, final, root, filename, sidecar, owner=True)


def _same_or_conflict(existing, sidecar):
    if existing["sha256"] == sidecar["sha256"]:
        return SAME
    raise Refused("409 Conflict", f"{sidecar['filename']} exists with different content; releases are immutable, "
                                  "publish a new version")


def _link(upload, final, root, filename, sidecar, owner):
    os.chmod(upload, 0o640)
    try:
        os.link(upload, final)
        return "200 OK"
    except FileExistsError:
        existing, _raw = store.describe(final, filename)
        if existing["sha256"] == sidecar["sha256"]:
            return SAME
        if owner:  # a file put there by other means: our claim must not describe it
            for path in (store.sidecar_path(root, filename), store.metadata_path(root, filename)):
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
        raise Refused("409 Conflict", f"{filename} exists with different content") from None


class UploadMiddleware:
    def __init__(self, app, root, htpasswd=None, authenticate=("update",)):
        self.app = app
        self.root = root
        self.htpasswd = htpasswd
        self.authenticate = authenticate

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method in READ_METHODS:
            return self.app(environ, start_response)
        try:
            if method != "POST" or environ.get("PATH_INFO", "/") not in ("", "/"):
                raise Refused("405 Method Not Allowed", "Only uploads (POST /) change this index")
            if "update" in self.authenticate and not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
                start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                    ("WWW-Authenticate", 'Basic realm="pypiserver"')])
                return [b"Unauthorized\n"]
            status, message = self._upload(environ)
        except Refused as refusal:
            status, message = refusal.status, str(refusal)
        body = (message + "\n").encode("utf-8", "replace")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    def _authorised(self, header):
        from passlib.apache import HtpasswdFile  # noqa: PLC0415 - only the upload path needs passlib

        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not self.htpasswd:
            return False
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            return bool(user) and bool(HtpasswdFile(self.htpasswd).check_password(user, password))
        except (ValueError, OSError):  # bad base64, not ASCII or UTF-8, no htpasswd file
            return False

    def _upload(self, environ):
        _meta, tmp_dir = store.paths(self.root)
        os.makedirs(tmp_dir, exist_ok=True)
        spooled = []

        class Form(cgi.FieldStorage):
            def make_file(self):
                if not self._binary_file:
                    return super().make_file()
                handle = open(os.path.join(tmp_dir, "upload-" + os.urandom(8).hex()), "xb+")  # noqa: SIM115
                spooled.append(handle.name)
                return handle

        try:
            try:
                form = Form(fp=environ["wsgi.input"], environ=dict(environ, QUERY_STRING=""), keep_blank_values=True)
            except (ValueError, KeyError, UnicodeDecodeError) as error:
                raise Refused("400 Bad Request", f"Not a multipart upload form: {error}") from None
            action = form.getfirst(":action", "") if form.list is not None else ""
            if action in ("remove_pkg", "doc_upload"):
                raise Refused("403 Forbidden", f"{action} is refused: releases are immutable; yank or remove "
                                               "with the collection's release playbook")
            if action != "file_upload":
                raise Refused("400 Bad Request", f"Unknown action {action!r}: only file_upload is accepted")
            content = form["content"] if "content" in form else None
            if not isinstance(content, cgi.FieldStorage) or not content.filename or content.file is None:
                raise Refused("400 Bad Request", "The upload has no 'content' file")
            filename = os.path.basename(content.filename.replace("\\", "/"))
            try:
                store.parse_filename(filename)
            except store.InvalidDistribution as error:
                raise Refused("400 Bad Request", f"Not a distribution this index accepts: {error}") from None
            content.file.flush()
            path = getattr(content.file, "name", None)
            if path not in spooled:  # small parts stay in memory: put them on disk
                with open(os.path.join(tmp_dir, "upload-" + os.urandom(8).hex()), "xb") as f:
                    content.file.seek(0)
                    f.write(content.file.read())
                    path = f.name
                spooled.append(path)
            status = publish(self.root, filename, path, form.getfirst("sha256_digest", ""))
            return "200 OK", f"{filename} " + ("was already published with identical content" if status == SAME else "published")
        finally:
            for path in spooled:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass


def create(environ=os.environ):
    """The WSGI application for gunicorn (privatepypi_host.upload:create()); pypiserver.service sets the environment."""
    import pathlib  # noqa: PLC0415

    import pypiserver  # noqa: PLC0415 - only the service's venv has it

    root, htpasswd = environ["PYPISERVER_PACKAGES"], environ["PYPISERVER_HTPASSWD"]
    authenticate = [a for a in environ.get("PYPISERVER_AUTHENTICATE", "").split(",") if a]
    # disable_fallback: never redirect unknown projects to a public index (dependency confusion).
    app = pypiserver.app(roots=[pathlib.Path(root)], password_file=htpasswd, authenticate=authenticate, disable_fallback=True,
                         health_endpoint=environ.get("PYPISERVER_HEALTH_ENDPOINT", "/health"), overwrite=False)
    return UploadMiddleware(app, root, htpasswd, authenticate)
