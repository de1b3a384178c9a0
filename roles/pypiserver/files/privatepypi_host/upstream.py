"""Upstream projects through the index: a project the private store does not have is served from an
upstream PEP 691 index, filtered by origin control, a cooldown and a block list, its files fetched once.

nginx asks this service only for what it has no file for: a project page that was not rendered from the
store (/simple/<name>/) and an upstream file not stored yet (/upstream-files/<sha256>/<filename>).

- Origin control: a name the store holds (its files, read from the store, not from rendered pages) or
  one matching a reserved pattern is answered 404 here and never requested upstream.
- The raw upstream page is kept with its fetch time on the shared store (upstream/pages/) and filtered
  against the current time on every request: a version comes of age without a restart.
- Cooldown by upstream's own upload-time; the block list is OSV advisories (MAL-*) from a file or a
  directory; upstream's yanks stay.
- A file is fetched once (a lock file per digest, across threads and hosts), verified against the
  page's sha256, stored atomically and then served by nginx (X-Accel-Redirect) from the store.
- No open proxy: only the upstream's own host and the allowed file hosts are contacted, redirects
  included; nothing of the client's request is forwarded; sizes and times are bounded.
"""

import argparse
import base64
import contextlib
import datetime
import errno
import fcntl
import fnmatch
import hashlib
import http.server
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from privatepypi_host import notify, renderer, store

LOG = logging.getLogger("pypiserver-upstream")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,198}[a-z0-9])?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# nginx's location for upstream files takes the same: no character that needs escaping in a path
FILE_PATH = re.compile(r"^/upstream-files/([0-9a-f]{64})/([A-Za-z0-9._+-]+)$")
NEGATIVE_SECONDS = 60
NEGATIVE_MAX = 10000
LOCKS = 1024
BLOCK_LIST_CHECK_SECONDS = 2.0
SWEEP_SECONDS = 60
CHUNK = 1 << 16


class UpstreamError(Exception):
    """Upstream could not be asked or answered badly; status is what the client gets."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class NotFound(Exception):
    """Upstream has no such project (or the file is not one the page offers)."""


def state_dirs(root):
    base = os.path.join(root, store.STATE_DIR, "upstream")
    return {key: os.path.join(base, key) for key in ("pages", "files", "sidecars", "locks", "tmp")}


def parse_distribution(filename):
    """(normalized name, version) of a wheel or an sdist (.tar.gz, .zip); ValueError otherwise."""
    if "/" in filename or filename.startswith(".") or len(filename) > 255:
        raise ValueError(filename)
    try:
        if filename.endswith(".whl"):
            name, version = parse_wheel_filename(filename)[:2]
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            raise ValueError(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as error:
        raise ValueError(str(error)) from None
    return canonicalize_name(name), version


def parse_time(text):
    """Seconds since the epoch of an ISO 8601 upload-time; None if absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


class BlockList:
    """Versions named by OSV advisories: a JSON file (one advisory or a list), or a directory of them."""

    def __init__(self, path=""):
        self.path = path
        self.signature = None
        self.exact = {}  # name -> set of versions (as written and as parsed)
        self.ranges = {}  # name -> [(introduced, fixed, last_affected)] of Version or None
        self.checked = 0.0

    def _files(self):
        if not self.path:
            return []
        if os.path.isdir(self.path):
            return sorted(os.path.join(self.path, n) for n in os.listdir(self.path) if n.endswith(".json"))
        return [self.path] if os.path.exists(self.path) else []

    def refresh(self, force=False):
        """True when the advisories changed (and were read again)."""
        now = time.monotonic()
        if not force and now - self.checked < BLOCK_LIST_CHECK_SECONDS:
            return False
        self.checked = now
        files = self._files()
        signature = []
        for path in files:
            with contextlib.suppress(OSError):
                info = os.stat(path)
                signature.append((path, info.st_mtime_ns, info.st_size))
        if signature == self.signature:
            return False
        exact, ranges = {}, {}
        for path in files:
            try:
                with open(path, "rb") as f:
                    document = json.loads(f.read(16 << 20))
            except (OSError, ValueError) as error:
                LOG.error("block list: cannot read %s: %s", path, error)
                continue
            for advisory in document if isinstance(document, list) else [document]:
                self._add(advisory, exact, ranges)
        self.signature, self.exact, self.ranges = signature, exact, ranges
        LOG.info("block list: %d projects named by %d files", len(set(exact) | set(ranges)), len(files))
        return True

    @staticmethod
    def _add(advisory, exact, ranges):
        if not isinstance(advisory, dict):
            return
        for affected in advisory.get("affected") or []:
            if not isinstance(affected, dict):
                continue
            package = affected.get("package") or {}
            if str(package.get("ecosystem", "PyPI")).lower() != "pypi" or not package.get("name"):
                continue
            name = canonicalize_name(str(package["name"]))
            for version in affected.get("versions") or []:
                exact.setdefault(name, set()).add(str(version))
                with contextlib.suppress(InvalidVersion):
                    exact[name].add(str(Version(str(version))))
            for span in affected.get("ranges") or []:
                if not isinstance(span, dict) or span.get("type") not in ("ECOSYSTEM", "SEMVER"):
                    continue
                introduced = fixed = last = None
                for event in span.get("events") or []:
                    if "introduced" in event:
                        introduced = BlockList._version(event["introduced"])
                    elif "fixed" in event:
                        fixed = BlockList._version(event["fixed"])
                    elif "last_affected" in event:
                        last = BlockList._version(event["last_affected"])
                    else:
                        continue
                    if fixed is not None or last is not None:
                        ranges.setdefault(name, []).append((introduced, fixed, last))
                        introduced = fixed = last = None
                if introduced is not None:
                    ranges.setdefault(name, []).append((introduced, None, None))

    @staticmethod
    def _version(text):
        try:
            return Version(str(text))
        except InvalidVersion:
            return Version("0")

    def blocked(self, name, version):
        if version in self.exact.get(name, ()):
            return True
        spans = self.ranges.get(name)
        if not spans:
            return False
        try:
            parsed = Version(version)
        except InvalidVersion:
            return True  # a version we cannot place in a blocked project's ranges is not served
        for introduced, fixed, last in spans:
            if introduced is not None and parsed < introduced:
                continue
            if fixed is not None and parsed >= fixed:
                continue
            if last is not None and parsed > last:
                continue
            return True
        return False


class Upstream:
    """The policy and the store; no HTTP server (unit tests drive it directly)."""

    def __init__(self, root, url, reserved=(), cooldown=7 * 86400, exempt=(), block_list="", max_age=600,
                 timeout=10.0, file_timeout=300.0, file_hosts=(), credentials=None, max_page=20 << 20,
                 max_file=1 << 30, clock=time.time):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"the upstream URL must be http(s)://host/...: {url!r}")
        self.root = root
        self.url = url if url.endswith("/") else url + "/"
        self.origin = (parsed.scheme, parsed.netloc.rpartition("@")[2].lower())
        self.allowed = {self.origin[1]} | {h.lower() for h in file_hosts}
        self.reserved = [p.lower() for p in reserved]
        self.cooldown = cooldown
        self.exempt = {canonicalize_name(n) for n in exempt}
        self.block_list = BlockList(block_list)
        self.max_age = max_age
        self.timeout = timeout
        self.file_timeout = file_timeout
        self.credentials = credentials
        self.max_page = max_page
        self.max_file = max_file
        self.clock = clock
        self.dirs = state_dirs(root)
        for path in self.dirs.values():
            os.makedirs(path, exist_ok=True)
        self._locks = [threading.Lock() for count in range(LOCKS)]
        self._negative = {}
        self._private = (None, frozenset(), 0.0)
        self._private_guard = threading.Lock()
        self.requests = 0  # upstream requests made (for tests and the log)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _Redirects(self))
        self.sweep()

    # origin control

    def private_names(self):
        """Project names of the private store: its distributions, listed (cached while the store's
        top directory and the sidecar directory are unchanged, and for at most a second)."""
        meta = store.paths(self.root)[0]
        signature = []
        for path in (self.root, meta):
            try:
                signature.append(os.stat(path).st_mtime_ns)
            except OSError:
                signature.append(None)
        with self._private_guard:
            known, names, at = self._private
            if known == signature and time.monotonic() - at < 1.0:
                return names
            found = set()
            stack = [self.root]
            while stack:
                path = stack.pop()
                try:
                    with os.scandir(path) as entries:
                        for entry in entries:
                            if entry.name.startswith("."):
                                continue
                            if entry.is_dir(follow_symlinks=False):
                                stack.append(entry.path)
                                continue
                            with contextlib.suppress(ValueError):
                                found.add(parse_distribution(entry.name)[0])
                except OSError:
                    continue
            # a claim being published has its sidecar before its file
            with contextlib.suppress(OSError), os.scandir(meta) as entries:
                for entry in entries:
                    if entry.name.endswith(".json"):
                        with contextlib.suppress(ValueError):
                            found.add(parse_distribution(entry.name[:-5])[0])
            names = frozenset(found)
            self._private = (signature, names, time.monotonic())
            return names

    def is_upstream(self, name):
        """False for a name upstream must never be asked about."""
        if not NAME.match(name):
            return False
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.reserved):
            return False
        return name not in self.private_names()

    # fetching

    def request_url(self, url, accept, deadline, limit, sink):
        parsed = urllib.parse.urlsplit(url)
        host = parsed.netloc.rpartition("@")[2].lower()
        if parsed.scheme not in ("http", "https") or host not in self.allowed:
            raise UpstreamError(502, f"not an allowed upstream host: {host or url!r}")
        # the scheme and host are checked above: http(s) to an allowed host only
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "privatepypi-upstream"})  # noqa: S310
        if self.credentials and (parsed.scheme, host) == self.origin:
            request.add_unredirected_header("Authorization", self.credentials)
        self.requests += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamError(504, "upstream did not answer in time")
        try:
            with self.opener.open(request, timeout=remaining) as response:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise UpstreamError(502, f"upstream answer too large ({declared} bytes)")
                total = 0
                while True:
                    if time.monotonic() > deadline:
                        raise UpstreamError(504, "upstream did not answer in time")
                    chunk = response.read(CHUNK)
                    if not chunk:
                        return total
                    total += len(chunk)
                    if total > limit:
                        raise UpstreamError(502, f"upstream answer larger than {limit} bytes")
                    sink(chunk)
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                raise NotFound(url) from None
            raise UpstreamError(502, f"upstream answered {error.code}") from None
        except TimeoutError:
            raise UpstreamError(504, "upstream did not answer in time") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (socket.timeout, TimeoutError)):
                raise UpstreamError(504, "upstream did not answer in time") from None
            raise UpstreamError(502, f"upstream unreachable: {error.reason}") from None
        except (OSError, ValueError) as error:
            raise UpstreamError(502, f"upstream unreachable: {error}") from None

    def _page_path(self, name):
        return os.path.join(self.dirs["pages"], name + ".json")

    def cached_page(self, name):
        try:
            with open(self._page_path(name), "rb") as f:
                kept = json.load(f)
            return float(kept["fetched"]), kept["url"], kept["page"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _lock_for(self, key):
        """One of a fixed pool of locks: bounded memory whatever names clients ask for."""
        return self._locks[int(hashlib.sha256(repr(key).encode()).hexdigest()[:8], 16) % len(self._locks)]

    def fetch_page(self, name):
        """Upstream's JSON page for name, fetched now and kept on the store."""
        url = self.url + name + "/"
        chunks = []
        self.request_url(url, JSON_TYPE, time.monotonic() + self.timeout, self.max_page, chunks.append)
        try:
            page = json.loads(b"".join(chunks))
        except ValueError:
            raise UpstreamError(502, "upstream's page is not JSON (PEP 691)") from None
        if not isinstance(page, dict) or not isinstance(page.get("files"), list):
            raise UpstreamError(502, "upstream's page has no file list (PEP 691)")
        kept = json.dumps({"fetched": self.clock(), "url": url, "page": page}, separators=(",", ":"))
        store.write_atomic(self._page_path(name), kept.encode(), durable=False)
        return page

    def page(self, name):
        """(upstream page, url, state): state is fresh or stale. Raises NotFound or UpstreamError."""
        now = self.clock()
        cached = self.cached_page(name)
        if cached and now - cached[0] < self.max_age:
            return cached[2], cached[1], "fresh"
        negative = self._negative.get(name)
        if negative and time.monotonic() < negative:
            raise NotFound(name)
        with self._lock_for(("page", name)):
            again = self.cached_page(name)
            if again and (not cached or again[0] > cached[0]) and self.clock() - again[0] < self.max_age:
                return again[2], again[1], "fresh"
            try:
                page = self.fetch_page(name)
            except NotFound:
                if len(self._negative) > NEGATIVE_MAX:  # bounded: names clients make up
                    self._negative.clear()
                self._negative[name] = time.monotonic() + min(self.max_age, NEGATIVE_SECONDS)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._page_path(name))
                raise
            except UpstreamError as error:
                if again:
                    LOG.warning("%s: serving the page fetched %d s ago: %s", name, self.clock() - again[0], error)
                    return again[2], again[1], "stale"
                raise
            self._negative.pop(name, None)
            return page, self.url + name + "/", "fresh"

    # policy

    def visible_files(self, name, page, base_url):
        """The page's files a client may see now, as the renderer's entries."""
        self.refresh_block_list()
        now = self.clock()
        files = []
        for entry in page.get("files") or []:
            described = self._describe(name, entry, base_url, now)
            if described:
                files.append(described)
        return files

    def _describe(self, name, entry, base_url, now):
        if not isinstance(entry, dict):
            return None
        filename = entry.get("filename")
        digest = str((entry.get("hashes") or {}).get("sha256", "")).lower() if isinstance(entry.get("hashes"), dict) else ""
        if not isinstance(filename, str) or not SHA256.match(digest) or not isinstance(entry.get("url"), str):
            return None  # a file whose bytes we cannot verify is not offered
        if not re.match(r"^[A-Za-z0-9._+-]+$", filename):
            return None
        try:
            project, version = parse_distribution(filename)
        except ValueError:
            return None
        if project != name or self.hidden(name, str(version), entry.get("upload-time"), now):
            return None
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
        metadata_sha = metadata.get("sha256", "").lower() if isinstance(metadata, dict) else ""
        yanked = entry.get("yanked", False)
        requires = entry.get("requires-python")
        return {
            "filename": filename, "version": str(version), "sha256": digest,
            "url": "../../upstream-files/" + digest + "/" + filename,
            "source": urllib.parse.urljoin(base_url, entry["url"]).partition("#")[0],
            "requires-python": requires if isinstance(requires, str) else None,
            "metadata-sha256": metadata_sha if SHA256.match(metadata_sha) else None,
            "yanked": yanked if isinstance(yanked, (bool, str)) else bool(yanked),
            "size": entry.get("size") if isinstance(entry.get("size"), int) else None,
            "upload-time": entry.get("upload-time") if isinstance(entry.get("upload-time"), str) else None,
        }

    def hidden(self, name, version, upload_time, now):
        if self.block_list.blocked(name, version):
            return True
        if self.cooldown > 0 and name not in self.exempt:
            uploaded = parse_time(upload_time)
            # no upload-time: its age is unknown, so it is held back while the cooldown is on
            if uploaded is None or now - uploaded < self.cooldown:
                return True
        return False

    def refresh_block_list(self, force=False):
        if self.block_list.refresh(force):
            self.sweep()

    def sweep(self):
        """Remove stored upstream files the current policy hides (a version newly blocked, a longer
        cooldown): no file is served that the page would hide."""
        self.block_list.refresh(force=True)
        now = self.clock()
        private = self.private_names()
        removed = 0
        try:
            sidecars = os.listdir(self.dirs["sidecars"])
        except OSError:
            return 0
        for entry in sidecars:
            try:
                with open(os.path.join(self.dirs["sidecars"], entry), "rb") as f:
                    sidecar = json.load(f)
                if sidecar["name"] not in private and not self.hidden(
                        sidecar["name"], sidecar["version"], sidecar.get("upload-time"), now):
                    continue
                folder = os.path.join(self.dirs["files"], sidecar["sha256"])
                for stored in os.listdir(folder):
                    os.unlink(os.path.join(folder, stored))
                os.rmdir(folder)
                os.unlink(os.path.join(self.dirs["sidecars"], entry))
                removed += 1
                LOG.warning("removed the stored %s %s (%s): hidden now", sidecar["name"], sidecar["version"],
                            sidecar["filename"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return removed

    # files

    def stored_path(self, digest, filename):
        return os.path.join(self.dirs["files"], digest, filename)

    def file(self, digest, filename):
        """Store the upstream file (or its PEP 658 metadata) once; its path under the files directory.
        Raises NotFound for anything the filtered page does not offer, UpstreamError otherwise."""
        if not SHA256.match(digest) or not re.match(r"^[A-Za-z0-9._+-]+$", filename):
            raise NotFound(filename)
        metadata = filename.endswith(".metadata")
        distribution = filename[:-len(".metadata")] if metadata else filename
        try:
            name = parse_distribution(distribution)[0]
        except ValueError:
            raise NotFound(filename) from None
        if not self.is_upstream(name):
            raise NotFound(filename)
        page, base_url, _state = self.page(name)
        offered = [f for f in self.visible_files(name, page, base_url)
                   if f["filename"] == distribution and f["sha256"] == digest]
        if not offered:
            raise NotFound(filename)
        entry = offered[0]
        if metadata:
            if not entry["metadata-sha256"]:
                raise NotFound(filename)
            source, expected, limit = entry["source"] + ".metadata", entry["metadata-sha256"], store.MAX_METADATA
        else:
            source, expected, limit = entry["source"], digest, self.max_file
        final = self.stored_path(digest, filename)
        if os.path.exists(final):
            return final
        with self._file_lock(digest + "-" + hashlib.sha256(filename.encode()).hexdigest()[:16]):
            if os.path.exists(final):  # another request (or host) fetched it meanwhile
                return final
            self._download(source, expected, limit, final)
            if not metadata:
                sidecar = {"name": name, "version": entry["version"], "filename": filename, "sha256": digest,
                           "upload-time": entry["upload-time"], "stored": self.clock()}
                store.write_atomic(os.path.join(self.dirs["sidecars"], digest + ".json"),
                                   json.dumps(sidecar).encode(), durable=False)
            LOG.info("stored %s (%s)", filename, digest)
        return final

    @contextlib.contextmanager
    def _file_lock(self, key):
        """One fetch per file across this process's threads and every host sharing the store."""
        deadline = time.monotonic() + self.file_timeout + self.timeout
        with self._lock_for(("file", key)), open(os.path.join(self.dirs["locks"], key), "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise UpstreamError(504, "another fetch of this file did not finish in time") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _download(self, source, expected, limit, final):
        os.makedirs(os.path.dirname(final), exist_ok=True)
        hasher = hashlib.sha256()
        temporary = os.path.join(self.dirs["tmp"], f"{os.getpid()}-{threading.get_ident()}-{os.path.basename(final)}")
        try:
            with open(temporary, "wb") as out:
                def sink(chunk):
                    hasher.update(chunk)
                    out.write(chunk)
                try:
                    self.request_url(source, "*/*", time.monotonic() + self.file_timeout, limit, sink)
                except NotFound:
                    raise UpstreamError(502, "upstream lists a file it does not serve") from None
                out.flush()
                os.fsync(out.fileno())
            if hasher.hexdigest() != expected:
                LOG.error("refused %s: sha256 %s, the page said %s; not stored", source, hasher.hexdigest(), expected)
                raise UpstreamError(502, "upstream's file does not match the sha256 of its page: refused")
            os.chmod(temporary, 0o440)
            os.rename(temporary, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed only to allowed hosts, and never carry the upstream's credentials."""

    def __init__(self, upstream):
        super().__init__()
        self.upstream = upstream

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parsed = urllib.parse.urlsplit(newurl)
        if parsed.scheme not in ("http", "https") or parsed.netloc.rpartition("@")[2].lower() not in self.upstream.allowed:
            raise urllib.error.HTTPError(newurl, 502, "redirect to a host that is not allowed", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def render(name, files, choice):
    """(body, content type) of the filtered page, by the private pages' own renderer."""
    html_page, json_page = renderer.project_pages(name, files)
    if choice == "json":
        return json_page.encode(), JSON_TYPE
    return html_page.encode(), "text/html" if choice == "text/html" else "application/vnd.pypi.simple.v1+html"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # nginx keeps the connection alive, and http.server writes the headers and the body apart: with
    # Nagle's algorithm on, each body waited ~40 ms for nginx's delayed ACK (test_keepalive_latency)
    disable_nagle_algorithm = True
    server_version = "privatepypi-upstream"
    upstream = None

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        LOG.debug(format, *args)

    def _answer(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        self.do_GET()

    def do_GET(self):  # noqa: N802 (http.server's name)
        upstream = self.upstream
        try:
            page = self.headers.get("X-Privatepypi-Page", "")
            wanted = self.headers.get("X-Privatepypi-File", "")
            if self.path == "/health":
                return self._answer(200, b"ok\n")
            exists = self.headers.get("X-Privatepypi-Exists", "")
            if exists:  # the upload middleware: may this name be taken privately?
                name = canonicalize_name(exists)
                if not upstream.is_upstream(name):
                    return self._answer(404, b"not an upstream name\n")
                upstream.page(name)
                return self._answer(200, b"exists upstream\n")
            match = re.match(r"^/simple/([^/]+)/index\.(json|html)$", page)
            if match:
                return self._page(match.group(1), match.group(2), self.headers.get("X-Privatepypi-Type", ""))
            match = FILE_PATH.match(wanted)
            if match:
                upstream.file(match.group(1), match.group(2))
                return self._answer(200, headers=[
                    ("X-Accel-Redirect", "/_upstream_stored/" + match.group(1) + "/" + match.group(2))])
            return self._answer(404, b"not found\n")
        except NotFound:
            return self._answer(404, b"not found\n")
        except UpstreamError as error:
            LOG.warning("%s %s: %s", page or wanted, error.status, error)
            return self._answer(error.status, (str(error) + "\n").encode(), headers=[("X-Privatepypi-Upstream", "unavailable")])
        except OSError as error:  # the store (full, unreadable): a clear 503, never a dropped connection
            LOG.error("%s: %s", page or wanted, error)
            return self._answer(503, b"the upstream store cannot be written or read\n", headers=[("Retry-After", "5")])

    def _page(self, name, choice, content_type):
        upstream = self.upstream
        if not upstream.is_upstream(name):
            return self._answer(404, b"not found\n")
        page, base_url, state = upstream.page(name)
        files = upstream.visible_files(name, page, base_url)
        body, default_type = render(name, files, choice)
        return self._answer(200, body, content_type or default_type, headers=[("X-Privatepypi-Upstream", state)])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class CredentialsFile:
    """The Authorization header for the upstream from a file holding user:password (or nothing), read
    again when the file changes: on AWS a timer installs a new password from SSM while the service runs."""

    def __init__(self, path):
        self.path = path
        self.signature = None
        self.value = None

    def refresh(self):
        """True when the file changed (and the header with it). A missing or empty file: no credentials."""
        if not self.path:
            return False
        try:
            info = os.stat(self.path)
            signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            signature = None
        if signature == self.signature:
            return False
        value = None
        if signature is not None:
            with open(self.path, encoding="utf-8") as f:
                text = f.read().strip()
            value = "Basic " + base64.b64encode(text.encode()).decode() if text else None
        self.signature, self.value = signature, value
        LOG.info("upstream credentials %s", "read" if value else "absent")
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--file-host", action="append", default=[])
    parser.add_argument("--credentials-file", default="")
    parser.add_argument("--reserved", action="append", default=[])
    parser.add_argument("--cooldown-seconds", type=int, default=7 * 86400)
    parser.add_argument("--exempt", action="append", default=[])
    parser.add_argument("--block-list", default="")
    parser.add_argument("--max-age", type=int, default=600)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--file-timeout", type=float, default=300.0)
    parser.add_argument("--max-page-bytes", type=int, default=20 << 20)
    parser.add_argument("--max-file-bytes", type=int, default=1 << 30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    credentials = CredentialsFile(args.credentials_file)
    credentials.refresh()
    upstream = Upstream(args.packages, args.upstream, reserved=args.reserved, cooldown=args.cooldown_seconds,
                        exempt=args.exempt, block_list=args.block_list, max_age=args.max_age, timeout=args.timeout,
                        file_timeout=args.file_timeout, file_hosts=args.file_host,
                        credentials=credentials.value, max_page=args.max_page_bytes,
                        max_file=args.max_file_bytes)
    Handler.upstream = upstream
    server = Server(("127.0.0.1", args.port), Handler)
    notify("READY=1")
    LOG.info("serving upstream projects from %s on 127.0.0.1:%d", upstream.origin[1], args.port)

    def watch_sources():
        swept = time.monotonic()
        while True:
            time.sleep(BLOCK_LIST_CHECK_SECONDS)
            try:
                upstream.refresh_block_list()
                if credentials.refresh():  # a new password from SSM (upstream_sources.py): no restart
                    upstream.credentials = credentials.value
                if time.monotonic() - swept > SWEEP_SECONDS:  # names taken privately meanwhile
                    upstream.sweep()
                    swept = time.monotonic()
            except Exception:  # noqa: BLE001 (logged; the next round tries again)
                LOG.exception("block list, credentials or sweep failed")

    threading.Thread(target=watch_sources, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
