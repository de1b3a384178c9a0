#!/usr/bin/env python3
"""The public side of the upstream benchmark (run.sh --upstream-tree): the project's upstream
stand-in (tests/support/upstream_standin.py) serving a public dependency tree, and the calls run.sh
makes around it. Standard library only (it runs with the image's python3 inside a container).

  serve   the stand-in on --port with the tree `pub-app` and its 29 `pub-lib-NN` (the same shape,
          versions, Requires-Python and incompressible payloads as make_dataset.py's tree-app),
          every file older than --age-days (beyond the role's default 7-day cooldown, so every
          path offers the same versions); and a control port: GET /counts (the stand-in's request
          counter, as JSON), POST /reset (zero it).
  wait    until a URL answers 200 (bounded).
  counts  print the control port's counts.
  pages   save a server's pages of the tree, as a client gets them (PEP 691 JSON and HTML), for the
          static ceiling: OUT/<name>/index.json and OUT/<name>/index.html.
  latency every page of the tree three times, one at a time on one connection: ms per page (JSON).
"""

import argparse
import base64
import http.client
import http.server
import io
import json
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import make_dataset  # noqa: E402

from tests.support import upstream_standin  # noqa: E402

PREFIX = "pub"  # not tree-: a private data set in the same store must not hide the public tree
JSON_TYPE = upstream_standin.JSON_TYPE


def public_name(name):
    """make_dataset's tree-app / tree-lib-NN as the public tree's pub-app / pub-lib-NN."""
    return PREFIX + name[len("tree"):] if name.startswith("tree-") else name


def releases():
    """[(name, version, requires_python, requires, payload size)] of the public tree."""
    out = []
    for name, version, python, requires, size in make_dataset.tree_releases():
        reqs = [public_name(r.split(">=")[0]) + ">=" + r.split(">=")[1] for r in requires]
        out.append((public_name(name), version, python, reqs, size))
    return out


def project_names():
    return sorted({r[0] for r in releases()})


def add_tree(standin, age_days, releases_list=None):
    """Add every release to the stand-in as a wheel with make_dataset's payload (the stand-in's own
    wheels are a few hundred bytes: a file's fetch, verification and storing would cost nothing);
    ages spread over a day beyond age_days, so upload times differ as on a real index."""
    for k, (name, version, python, requires, size) in enumerate(releases_list or releases()):
        filename, data = make_dataset.make_wheel(name, version, python, requires, size)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            metadata = archive.read(f"{filename.split('-')[0]}-{version}.dist-info/METADATA")
        age = age_days * 86400 + k * 600
        added, _ = standin.add(name, version, age=age, requires=requires, requires_python=python)
        with standin.lock:
            entry = standin.files.pop(added)
            entry.update(data=data, served=data, metadata=metadata)
            standin.files[filename] = entry
    return standin


def counts(standin):
    """The stand-in's requests so far: pages, metadata files and files, in all."""
    with standin.lock:
        total = sum(standin.counts.values())
        metadata = sum(n for f, n in standin.file_counts.items() if f.endswith(".metadata"))
        files = sum(n for f, n in standin.file_counts.items() if not f.endswith(".metadata"))
    return {"pages": total - metadata - files, "metadata": metadata, "files": files, "requests": total}


def control_server(standin, host, port):
    class Control(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass

        def _json(self, status, value):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path == "/counts":
                return self._json(200, counts(standin))
            return self._json(404, {"error": "not found"})

        def do_POST(self):  # noqa: N802 (http.server's name)
            if self.path == "/reset":
                standin.reset_counts()
                return self._json(200, counts(standin))
            return self._json(404, {"error": "not found"})

    server = http.server.ThreadingHTTPServer((host, port), Control)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_standin(host, port, age_days):
    """The stand-in with the tree, started. Its answers leave at once (TCP_NODELAY): http.server writes
    the headers and the body apart, and with Nagle's algorithm the body waits for the client's delayed
    ACK, about 40 ms per answer on a kept-alive connection (measured: 44 ms a page); a real index does
    not stall so, and the peers that keep connections to it (devpi) would pay for it."""
    standin = add_tree(upstream_standin.Standin(host, port), age_days).start()
    standin.server.RequestHandlerClass.disable_nagle_algorithm = True
    return standin


def cmd_serve(args):
    standin = start_standin(args.host, args.port, args.age_days)
    control = control_server(standin, args.host, args.control_port)
    print(f"upstream stand-in: {len(standin.files)} files of {len(project_names())} projects at {standin.url}, "
          f"control on {control.server_address[1]}", flush=True)
    threading.Event().wait()


def _get(url, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http on loopback, the caller's URL)
        return response.status, response.read()


def cmd_wait(args):
    deadline = time.monotonic() + args.seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _ = _get(args.url, timeout=5)
            if status == 200:
                return 0
            last = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        time.sleep(0.5)
    sys.exit(f"upstream_tree wait: {args.url} did not answer 200 within {args.seconds} s: {last}")


def cmd_counts(args):
    request = urllib.request.Request(args.control.rstrip("/") + ("/reset" if args.reset else "/counts"),
                                     method="POST" if args.reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the stand-in's control port on loopback)
        print(response.read().decode())


def cmd_pages(args):
    """Save every page of the tree as the server answers it; a page that is not a 200 with every
    version's wheel linked fails (the ceiling would serve less than the server did)."""
    headers = {}
    if args.user:
        headers["Authorization"] = "Basic " + base64.b64encode(args.user.encode()).decode()
    wanted = {}
    for name, version, *_ in releases():
        wanted.setdefault(name, []).append(f"{name.replace('-', '_')}-{version}-py3-none-any.whl")
    for name, wheels in sorted(wanted.items()):
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        for ext, accept in (("json", JSON_TYPE), ("html", "text/html")):
            try:
                status, body = _get(f"{args.index.rstrip('/')}/{name}/", dict(headers, Accept=accept))
            except urllib.error.HTTPError as error:
                sys.exit(f"upstream_tree pages: {name} ({ext}) answered HTTP {error.code}")
            missing = [w for w in wheels if w.encode() not in body]
            if status != 200 or missing:
                sys.exit(f"upstream_tree pages: {name} ({ext}) HTTP {status}, missing {missing}")
            with open(os.path.join(folder, f"index.{ext}"), "wb") as handle:
                handle.write(body)
    print(f"upstream_tree pages: {len(wanted)} projects saved to {args.out}")


def page_latency(index, user="", rounds=3):
    """Every page of the tree, `rounds` times, one request at a time on one keep-alive connection (as
    pip asks, unlike uv's parallel requests): milliseconds per page. A stall per answer (a server
    waiting on its peer's delayed ACK) shows here, where a parallel client hides it."""
    parts = urllib.parse.urlsplit(index)
    headers = {"Accept": JSON_TYPE}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    times = []
    try:
        for _ in range(rounds):
            for name in project_names():
                began = time.perf_counter()
                connection.request("GET", f"{parts.path.rstrip('/')}/{name}/", headers=headers)
                response = connection.getresponse()
                response.read()
                times.append((time.perf_counter() - began) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status}")
    finally:
        connection.close()
    ordered = sorted(times)
    return {"requests": len(times), "median_ms": statistics.median(ordered),
            "p90_ms": ordered[int(len(ordered) * 0.9)], "max_ms": ordered[-1]}


def cmd_latency(args):
    try:
        result = page_latency(args.index, args.user)
    except (OSError, RuntimeError, http.client.HTTPException) as error:
        sys.exit(f"upstream_tree latency: {error}")
    with open(args.out, "w") as handle:
        json.dump(result, handle)
    print(f"  page latency, one connection: median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 (inside its container; published on 127.0.0.1)
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--control-port", type=int, default=8081)
    serve.add_argument("--age-days", type=int, default=30)
    wait = sub.add_parser("wait")
    wait.add_argument("--url", required=True)
    wait.add_argument("--seconds", type=int, default=60)
    count = sub.add_parser("counts")
    count.add_argument("--control", required=True, help="http://127.0.0.1:PORT of the control port")
    count.add_argument("--reset", action="store_true")
    pages = sub.add_parser("pages")
    pages.add_argument("--index", required=True, help="the simple index URL")
    pages.add_argument("--user", default="", help="user:password, if the server wants one")
    pages.add_argument("--out", required=True)
    latency = sub.add_parser("latency")
    latency.add_argument("--index", required=True, help="the simple index URL")
    latency.add_argument("--user", default="", help="user:password, if the server wants one")
    latency.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    commands = {"serve": cmd_serve, "wait": cmd_wait, "counts": cmd_counts, "pages": cmd_pages, "latency": cmd_latency}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
