"""A stand-in for a public index in tests: a small PEP 691 (JSON) index of generated wheels whose
upload times the test controls, that counts every request it gets. Standard library only.

    standin = Standin(host, port).start()
    standin.add("libx", "1.0", age=30 * 86400)
    standin.add("libx", "1.1", age=2 * 3600)
    standin.advance(3 * 86400)    # its clock moves: every file looks that much older
    standin.count("libx")          # requests for the project's page and files
    standin.stop(); standin.start()  # upstream down, then back

Upload time of a file = when it was added - its age - the clock's advance. A file added with
corrupt=True is served with bytes that differ from the sha256 its page gives.
"""

import base64
import collections
import datetime
import hashlib
import http.server
import io
import json
import re
import threading
import time
import zipfile

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def build_wheel(name, version, requires=(), requires_python=None):
    """(filename, bytes, METADATA bytes) of a small, valid, reproducible py3-none-any wheel."""
    module = re.sub(r"[-_.]+", "_", name).lower()
    dist_info = f"{module}-{version}.dist-info"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    metadata = ("\n".join(lines) + "\n").encode()
    members = {
        f"{module}/__init__.py": f'VERSION = "{version}"\nORIGIN = "upstream"\n'.encode(),
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: upstream-standin\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return f"{module}-{version}-py3-none-any.whl", buf.getvalue(), metadata


class Standin:
    def __init__(self, host="127.0.0.1", port=0):
        self.address = (host, port)
        self.files = {}  # filename -> dict(name, version, data, served, metadata, added, age, yanked)
        self.counts = collections.Counter()  # normalized project name -> requests
        self.file_counts = collections.Counter()  # filename -> requests
        self.advanced = 0.0
        self.delay = 0.0  # seconds every answer waits (a slow upstream)
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://{self.address[0]}:{self.address[1]}/simple/"

    def add(self, name, version, age, requires=(), requires_python=None, corrupt=False, yanked=False):
        filename, data, metadata = build_wheel(name, version, requires, requires_python)
        with self.lock:
            self.files[filename] = {
                "name": normalize(name), "version": version, "data": data,
                "served": data + b"tampered" if corrupt else data, "metadata": metadata,
                "added": time.time(), "age": age, "yanked": yanked, "requires_python": requires_python,
            }
        return filename, hashlib.sha256(data).hexdigest()

    def advance(self, seconds):
        with self.lock:
            self.advanced += seconds

    def count(self, name):
        with self.lock:
            return self.counts[normalize(name)]

    def reset_counts(self):
        with self.lock:
            self.counts.clear()
            self.file_counts.clear()

    def upload_time(self, entry):
        moment = entry["added"] - entry["age"] - self.advanced
        return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def page(self, name):
        with self.lock:
            entries = sorted((f, e) for f, e in self.files.items() if e["name"] == name)
            if not entries:
                return None
            files = [{
                "filename": filename, "url": f"../../files/{filename}",
                "hashes": {"sha256": hashlib.sha256(e["data"]).hexdigest()},
                "requires-python": e["requires_python"],
                "core-metadata": {"sha256": hashlib.sha256(e["metadata"]).hexdigest()},
                "yanked": e["yanked"], "size": len(e["data"]), "upload-time": self.upload_time(e),
            } for filename, e in entries]
            versions = sorted({e["version"] for _, e in entries})
        return {"meta": {"api-version": "1.1"}, "name": name, "files": files, "versions": versions}

    def start(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def answer(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if standin.delay:
                    time.sleep(standin.delay)
                match = re.match(r"^/simple/([^/]+)/$", self.path)
                if match:
                    name = normalize(match.group(1))
                    with standin.lock:
                        standin.counts[name] += 1
                    page = standin.page(name)
                    if page is None:
                        return self.answer(404, b"no such project\n", "text/plain")
                    return self.answer(200, json.dumps(page).encode(), JSON_TYPE)
                match = re.match(r"^/files/([^/]+?)(\.metadata)?$", self.path)
                if match:
                    with standin.lock:
                        entry = standin.files.get(match.group(1))
                        if entry:
                            standin.counts[entry["name"]] += 1
                            standin.file_counts[match.group(0)[len("/files/"):]] += 1
                    if entry is None:
                        return self.answer(404, b"no such file\n", "text/plain")
                    body = entry["metadata"] if match.group(2) else entry["served"]
                    return self.answer(200, body, "application/octet-stream")
                return self.answer(404, b"not found\n", "text/plain")

        self.server = http.server.ThreadingHTTPServer(self.address, Handler)
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
