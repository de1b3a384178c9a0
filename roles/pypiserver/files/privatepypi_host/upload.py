"""Atomic, immutable uploads (POST / file_upload) in front of pypiserver, a WSGI middleware.

Spooled to a temporary name, validated, described in its sidecar (which claims the name),
then os.link'ed into place. Same bytes again: 200; other bytes: 409.

A release cannot be rewritten under another name either: its version is compared as PEP 440 sees
it (1.0 and 1.0.0 are one release), so a second sdist of a release is a 409, so is a wheel whose
tags match one it has (a build tag changes nothing: pip would pick the new bytes for the same
release), and a new file joins an existing release only within `release_window` seconds of its
first file (CI matrices upload their wheels one by one).
"""

import base64
import datetime
import fnmatch
import hashlib
import os
import time
import urllib.error
import urllib.request
import warnings

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from privatepypi_host import access, store

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import cgi  # spools file parts to disk; Python 3.11's standard library, legacy-cgi's from 3.13 on

READ_METHODS = ("GET", "HEAD")
SAME = "200 OK (identical)"
RELEASE_WINDOW = 86400.0  # seconds after a release's first file during which others may join it


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _release_key(filename):
    """(project, Version, tags or None for an sdist) of a distribution's file name, or None."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return store.canonicalize_name(name), version, frozenset(tags)
        name, version = parse_sdist_filename(filename)
        return store.canonicalize_name(name), version, None
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None


def check_release(root, filename, now, window=RELEASE_WINDOW):
    """Refuses (409) a file that would rewrite a release it does not name: another sdist of the same
    release, a wheel of the same tags, or any new file once the release's window has closed."""
    new = _release_key(filename)
    if new is None:
        return
    project, version, tags = new
    meta = store.paths(root)[0]
    try:
        names = os.listdir(meta)
    except FileNotFoundError:
        return
    first = None
    for entry in names:
        if not entry.endswith(".json") or entry[:-5] == filename:
            continue
        key = _release_key(entry[:-5])
        if key is None or key[0] != project or key[1] != Version(str(version)):
            continue
        if not os.path.exists(os.path.join(root, entry[:-5])):
            continue  # a claim whose upload died: not part of the release
        if tags is None and key[2] is None:
            raise Refused("409 Conflict", f"{filename}: release {version} of {project} already has an sdist, "
                                          f"{entry[:-5]}; releases are immutable, publish a new version")
        if tags is not None and key[2] is not None and tags & key[2]:
            raise Refused("409 Conflict", f"{filename}: release {version} of {project} already has a wheel for "
                                          f"these tags, {entry[:-5]}; releases are immutable, publish a new version")
        try:  # the upload time the sidecar recorded (a yank rewrites the sidecar, not this)
            stamp = store.read_sidecar(root, entry[:-5]).get("upload-time", "")
            when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()
        except (OSError, ValueError, TypeError):
            continue
        first = when if first is None else min(first, when)
    if first is not None and now - first > window:
        raise Refused("409 Conflict", f"{filename}: release {version} of {project} was published "
                                      f"{int(now - first)} s ago; new files join a release only within "
                                      f"{int(window)} s of its first, publish a new version")


def publish(root, filename, upload, expected_sha256="", release_window=RELEASE_WINDOW):
    try:
        sidecar, raw = store.describe(upload, filename, upload_time=time.time())
    except store.InvalidDistribution as error:
        raise Refused("400 Bad Request", f"Not a distribution this index accepts: {error}") from None
    if expected_sha256 and expected_sha256.strip().lower() != sidecar["sha256"]:
        raise Refused("400 Bad Request", f"{filename}: sha256_digest does not match the uploaded bytes")
    final = os.path.join(root, filename)
    if not os.path.exists(final):  # the same name again is answered below: 200 if identical, else 409
        check_release(root, filename, time.time(), release_window)
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


class Identity:
    __slots__ = ("user", "role", "projects", "token")

    def __init__(self, user, role, projects=(), token=""):
        self.user, self.role, self.projects, self.token = user, role, tuple(projects), token


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, TypeError):
        return ""


class UploadMiddleware:
    """trust_proxy: nginx authenticated the request and set X-Privatepypi-User/-Role/-Projects/-Token
    (stripping any copy the client sent); only then are those headers believed. Without the front
    end, the middleware checks the Basic credentials itself against the same files."""

    def __init__(self, app, root, htpasswd=None, authenticate=("update",), trust_proxy=False, roles=None, tokens=None,
                 audit_log="", release_window=RELEASE_WINDOW, upstream_check="", claimed=()):
        self.app = app
        # With upstream projects on: the upstream service (privatepypi_host.upstream) says whether a
        # name exists upstream; a private upload under such a name needs an admin's claim (patterns).
        self.upstream_check = upstream_check
        self.claimed = tuple(claimed)
        self.root = root
        self.htpasswd = htpasswd
        self.authenticate = authenticate
        self.trust_proxy = trust_proxy
        self.roles = roles or (os.path.join(os.path.dirname(htpasswd), "roles") if htpasswd else None)
        self.tokens = tokens or (os.path.join(os.path.dirname(htpasswd), "tokens") if htpasswd else None)
        self.audit_log = audit_log
        self.release_window = release_window

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method in READ_METHODS:
            return self.app(environ, start_response)
        identity = None
        try:
            if method != "POST" or environ.get("PATH_INFO", "/") not in ("", "/"):
                raise Refused("405 Method Not Allowed", "Only uploads (POST /) change this index")
            if "update" not in self.authenticate:
                raise Refused("403 Forbidden", "Anonymous uploads are never accepted: the server must authenticate 'update'")
            identity = self._identity(environ)
            if identity is None:
                start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                    ("WWW-Authenticate", 'Basic realm="pypiserver"')])
                return [b"Unauthorized\n"]
            if identity.role not in access.UPLOAD_ROLES:
                raise Refused("403 Forbidden", f"{self._who(identity)} has the role {identity.role}: it may read, not upload")
            status, message = self._upload(environ, identity)
        except Refused as refusal:
            status, message = refusal.status, str(refusal)
            if identity is not None:
                self._audit(environ, identity, status, message, getattr(refusal, "upload", {}))
        body = (message + "\n").encode("utf-8", "replace")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    def check_origin(self, project):
        """One name, one origin: a project that exists upstream is not taken privately unless claimed."""
        if not self.upstream_check or any(fnmatch.fnmatchcase(project, pattern) for pattern in self.claimed):
            return
        found = upstream_has(self.upstream_check, project)
        if found:
            raise Refused("403 Forbidden", f"{project} exists on the upstream index: a private upload under its name is "
                                           "refused unless an admin claims the name (pypiserver_upstream_claimed_names)")
        if found is None:
            raise Refused("503 Service Unavailable", f"cannot tell whether {project} exists on the upstream index "
                                                     "(unreachable): retry later, or claim the name")

    @staticmethod
    def _who(identity):
        return f"token {identity.token}" if identity.token else f"account {identity.user}"

    def _audit(self, environ, identity, status, message, upload=None):
        upload = upload or {}
        access.audit(self.audit_log, "upload", who=identity.user, token=identity.token, role=identity.role,
                     status=int(status.split()[0]), result=message, project=upload.get("project", ""),
                     file=upload.get("file", ""), sha256=upload.get("sha256", ""),
                     client=self._client(environ))

    def _client(self, environ):
        """The address nginx settled on (it replaces any X-Real-IP a client sends); without the front
        end, the peer's own: a header the client chose never names it."""
        if self.trust_proxy and environ.get("HTTP_X_REAL_IP"):
            return environ["HTTP_X_REAL_IP"]
        return environ.get("REMOTE_ADDR", "")

    def _identity(self, environ):
        if self.trust_proxy:
            role = environ.get("HTTP_X_PRIVATEPYPI_ROLE", "")
            if role not in (*access.ROLES, access.PUBLISHER_ROLE):
                return None
            projects = [p for p in environ.get("HTTP_X_PRIVATEPYPI_PROJECTS", "").split(",") if p]
            return Identity(environ.get("HTTP_X_PRIVATEPYPI_USER", ""), role, projects,
                            environ.get("HTTP_X_PRIVATEPYPI_TOKEN", ""))
        return self._authorised(environ.get("HTTP_AUTHORIZATION", ""))

    def _authorised(self, header):
        """The Identity of valid Basic credentials (checked here: no front end), else None."""
        from passlib.hash import bcrypt  # noqa: PLC0415 - only the upload path needs passlib

        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not self.htpasswd:
            return None
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            if not user or not password:
                return None
            if user == access.TOKEN_USER:
                found = access.find_token(access.parse_tokens(_read(self.tokens)), password)
                if found is None or found.expired(time.time()):
                    return None
                return Identity(user, found.role, found.patterns, found.name)
            # bcrypt only, as the credential service: access refuses a file with any other scheme
            stored = access.parse_htpasswd(_read(self.htpasswd), 4).get(user)
            if stored is None or not bcrypt.verify(password, stored):
                return None
            role, patterns = access.parse_roles(_read(self.roles)).get(user, (access.DEFAULT_ROLE, ()))
            return Identity(user, role, patterns)
        except (ValueError, OSError):  # bad base64, not UTF-8, no htpasswd file, a roles/tokens file that does not parse
            return None

    def _upload(self, environ, identity):
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
                project, _version = store.parse_filename(filename)
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
            described = {"project": project, "file": filename, "sha256": _sha256(path)}
            try:
                if not identity.projects and not access.project_allowed((), project, identity.role):
                    raise Refused("403 Forbidden", f"{self._who(identity)} has no project patterns, so it may upload to "
                                                   "no project (give it patterns; '*' is every project)")
                if not access.project_allowed(identity.projects, project, identity.role):
                    raise Refused("403 Forbidden", f"{self._who(identity)} may upload only to projects matching "
                                                   f"{', '.join(identity.projects)}, not {project}")
                self.check_origin(project)
                status = publish(self.root, filename, path, form.getfirst("sha256_digest", ""), self.release_window)
            except Refused as refusal:
                refusal.upload = described
                raise
            message = f"{filename} " + ("was already published with identical content" if status == SAME else "published")
            self._audit(environ, identity, "200 OK", message, described)
            return "200 OK", message
        finally:
            for path in spooled:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass


def upstream_has(check_url, project, timeout=30.0):
    """True if the upstream service knows project upstream, False if not (or the name is private or
    reserved); None when it cannot tell (upstream unreachable)."""
    request = urllib.request.Request(check_url, headers={"X-Privatepypi-Exists": project})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 (the role's own service)
            return True
    except urllib.error.HTTPError as error:
        return False if error.code == 404 else None
    except OSError:
        return None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create(environ=os.environ):
    """The WSGI application for gunicorn (privatepypi_host.upload:create()); pypiserver.service sets the environment."""
    import pathlib  # noqa: PLC0415

    import pypiserver  # noqa: PLC0415 - only the service's venv has it

    root, htpasswd = environ["PYPISERVER_PACKAGES"], environ["PYPISERVER_HTPASSWD"]
    authenticate = [a for a in environ.get("PYPISERVER_AUTHENTICATE", "").split(",") if a]
    # disable_fallback: never redirect unknown projects to a public index (dependency confusion).
    app = pypiserver.app(roots=[pathlib.Path(root)], password_file=htpasswd, authenticate=authenticate, disable_fallback=True,
                         health_endpoint=environ.get("PYPISERVER_HEALTH_ENDPOINT", "/health"), overwrite=False)
    return UploadMiddleware(app, root, htpasswd, authenticate, trust_proxy=environ.get("PRIVATEPYPI_TRUST_PROXY") == "1",
                            roles=environ.get("PRIVATEPYPI_ROLES"), tokens=environ.get("PRIVATEPYPI_TOKENS"),
                            audit_log=environ.get("PRIVATEPYPI_AUDIT_LOG", ""),
                            release_window=float(environ.get("PRIVATEPYPI_RELEASE_WINDOW", RELEASE_WINDOW)),
                            upstream_check=environ.get("PRIVATEPYPI_UPSTREAM_CHECK", ""),
                            claimed=[p for p in environ.get("PRIVATEPYPI_UPSTREAM_CLAIMED", "").split(",") if p])
