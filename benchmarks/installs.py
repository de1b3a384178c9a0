#!/usr/bin/env python3
"""What users feel: cold installs of a dependency tree through one index (run.sh).

  time   wall time of `uv pip install` and `pip install` of REQUIREMENT into a
         fresh venv with an empty cache (the venv is made before the clock
         starts), repeated --runs times per client. For an index in front of an
         upstream: --reset empties the server's cache before each run (cold),
         --warmup fills it first (warm), --counts-url records the upstream
         stand-in's requests per run and fails a "cold" run that asked upstream
         for no file or a "warm" one that asked for any. A failed run fails the
         step (exit 1, the reason on stderr), never a figure.
  count  one cold install per client through a counting reverse proxy on
         127.0.0.1: requests and bytes by kind (pages, metadata files, wheels),
         and the wheels fetched (whole or by Range) that were not installed.

The clients are the pinned ones of .venv-clients (scripts/setup.sh). Every
client runs with an empty HOME and no configuration, pointed at one index.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

WHEEL = re.compile(r"/([^/]+?)-([^-/]+?)(-\d[^-/]*)?-[^-/]+-[^-/]+-[^-/]+\.whl$")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def clean_env(home, bindir):
    keep = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TZ"}}
    return dict(keep, HOME=home, PATH=f"{bindir}:/usr/bin:/bin", PIP_CONFIG_FILE=os.devnull,
                PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", UV_NO_CONFIG="1",
                UV_PYTHON_DOWNLOADS="never", XDG_CONFIG_HOME=os.path.join(home, ".config"),
                XDG_CACHE_HOME=os.path.join(home, ".cache"), NO_PROXY="127.0.0.1,localhost",
                PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")


def installed(python):
    code = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return {normalize(n): v for n, v in (line.split() for line in out.splitlines() if line.strip())}


def one_install(client, index_url, requirement, bindir, base_python, tmp, timeout):
    """(wall seconds, rc, output tail, {name: version} installed) of one cold install."""
    work = tempfile.mkdtemp(prefix=f"{client}-cold-", dir=tmp)
    try:
        home = os.path.join(work, "home")
        os.makedirs(home)
        env = clean_env(home, bindir)
        venv = os.path.join(work, "venv")
        subprocess.run([os.path.join(bindir, "uv"), "venv", "-q", "--python", base_python, venv], env=env, check=True,
                       capture_output=True)
        python = os.path.join(venv, "bin", "python")
        if client == "uv":
            cmd = [os.path.join(bindir, "uv"), "pip", "install", "-q", "--python", python, "--cache-dir",
                   os.path.join(work, "cache"), "--index-url", index_url, requirement]
        else:
            cmd = [os.path.join(bindir, "pip"), "--python", python, "install", "-q", "--progress-bar", "off",
                   "--cache-dir", os.path.join(work, "cache"), "--index-url", index_url, requirement]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            rc, out = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            rc, out = -1, f"timed out after {timeout} s"
        wall = time.monotonic() - t0
        return wall, rc, out[-800:], installed(python) if rc == 0 else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)


class StepFailed(Exception):
    """A run that cannot be reported as a figure: the step fails with this reason."""


def run_reset(command):
    """The --reset command before a run (not timed): a server's cache emptied. Its failure is the step's."""
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)  # noqa: S602 (run.sh's own command)
    if proc.returncode:
        raise StepFailed(f"the reset before a run failed (exit {proc.returncode}): {(proc.stdout + proc.stderr).strip()[-300:]}")


def standin_counts(control, reset=False):
    """The upstream stand-in's request counter (benchmarks/upstream_tree.py's control port)."""
    request = urllib.request.Request(control.rstrip("/") + ("/reset" if reset else "/counts"), method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the stand-in's control port on loopback)
        return json.load(response)


def check_run(run, args):
    """The reason a timed run is no figure of what it claims, or None."""
    if run["exit"] != 0:
        return f"exit {run['exit']}: {run.get('error', '').strip()[-300:]}"
    if args.expect_installed and run["installed"] < args.expect_installed:
        return f"{run['installed']} distributions installed, {args.expect_installed} expected"
    seen = run.get("standin")
    if seen is not None and args.expect == "cold" and seen["files"] == 0:
        return f"a cold run asked upstream for no file ({seen}): the server's cache was not empty"
    if seen is not None and args.expect == "warm" and seen["files"] + seen["metadata"] > 0:
        return f"a warm run asked upstream for files ({seen}): the server had not kept them"
    return None


def cmd_time(args):
    result = {"requirement": args.requirement, "clients": {}, "expect": args.expect}
    failures = []
    for client in args.clients.split(","):
        runs = []
        if args.warmup:  # the server's cache filled by this client's own install, not timed
            wall, rc, out, got = one_install(client, args.index_url, args.requirement, args.bindir, args.base_python,
                                             args.tmp, args.max_seconds)
            print(f"  {args.label:<10} warm-up {client} install: {wall:6.2f} s ({len(got)} distributions, exit {rc})", flush=True)
            if rc != 0:
                failures.append(f"{client} warm-up install: exit {rc}: {out.strip()[-300:]}")
                result["clients"][client] = {"runs": [], "median_s": None}
                continue
        for i in range(args.runs):
            try:
                if args.reset:
                    run_reset(args.reset)
                if args.counts_url:
                    standin_counts(args.counts_url, reset=True)
            except (StepFailed, OSError) as error:
                failures.append(f"{client} run {i + 1}: {error}")
                break
            with open("/proc/loadavg") as fh:  # other people's work on a shared machine, beside the figure
                load = float(fh.read().split()[0])
            wall, rc, out, got = one_install(client, args.index_url, args.requirement, args.bindir, args.base_python,
                                             args.tmp, args.max_seconds)
            run = {"wall_s": wall, "exit": rc, "installed": len(got), "loadavg": load}
            if rc != 0:
                run["error"] = out
            if args.counts_url:
                run["standin"] = standin_counts(args.counts_url)
            runs.append(run)
            seen = f", upstream asked {run['standin']}" if "standin" in run else ""
            print(f"  {args.label:<10} {args.expect} {client} install run {i + 1}: {wall:6.2f} s "
                  f"({len(got)} distributions, exit {rc}{seen})", flush=True)
            problem = check_run(run, args)
            if problem:
                failures.append(f"{client} run {i + 1}: {problem}")
            if wall > args.slow:  # a server this slow is not repeated: the run would take too long
                break
        ok = [r["wall_s"] for r in runs if r["exit"] == 0]
        result["clients"][client] = {"runs": runs, "median_s": statistics.median(ok) if ok else None}
    if args.append and os.path.exists(args.out):  # rounds of one path interleaved with other paths' rounds
        with open(args.out) as fh:
            before = json.load(fh)
        for client, old in before.get("clients", {}).items():
            new = result["clients"].setdefault(client, {"runs": []})
            new["runs"] = old.get("runs", []) + new["runs"]
            ok = [r["wall_s"] for r in new["runs"] if r["exit"] == 0]
            new["median_s"] = statistics.median(ok) if ok else None
        if before.get("failed"):
            result["failed"] = before["failed"]
    if failures:
        result["failed"] = result.get("failed", []) + failures
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    if failures:  # a run that failed is the step's failure, never a figure of the report
        sys.exit(f"installs.py time ({args.label}): " + "; ".join(failures))


class _Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []  # (method, path, status, body bytes, range header)

    def add(self, *entry):
        with self.lock:
            self.entries.append(entry)


def _proxy(upstream, counter):
    up = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "keep-alive"}}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in {"connection", "keep-alive", "transfer-encoding", "content-length"}:
                    self.send_header(key, value)
            # HEAD: the length of the body a GET would get, as the server said
            self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            counter.add(self.command, urllib.parse.unquote(self.path), resp.status, len(data), self.headers.get("Range"))

        do_GET = do_HEAD = do_POST = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def classify(entries, got):
    """Bytes and requests by kind; wheels fetched that are not among the installed {name: version}."""
    kinds = {}
    needless = set()
    fetched = set()
    for method, raw_path, _status, size, rng in entries:
        path = raw_path.split("?")[0]
        if path.endswith(".metadata"):
            kind = "metadata"
        elif path.endswith(".whl"):
            kind = "wheel HEAD" if method == "HEAD" else "wheel (range)" if rng else "wheel"
            m = WHEEL.search(path)
            if m and method == "GET":
                fetched.add(path.rsplit("/", 1)[-1])
                if got.get(normalize(m.group(1))) != m.group(2):
                    needless.add(path.rsplit("/", 1)[-1])
        elif path.endswith((".tar.gz", ".zip")):
            kind = "sdist"
        else:
            kind = "page"
        k = kinds.setdefault(kind, {"requests": 0, "bytes": 0})
        k["requests"] += 1
        k["bytes"] += size
    return kinds, sorted(fetched), sorted(needless)


def cmd_count(args):
    result = {"requirement": args.requirement, "clients": {}}
    timed = {}
    if args.timed and os.path.exists(args.timed):
        with open(args.timed) as fh:
            timed = json.load(fh).get("clients", {})
    for client in args.clients.split(","):
        median = (timed.get(client) or {}).get("median_s")
        if median is not None and median > args.slow:
            result["clients"][client] = {"skipped": f"a timed cold install took {median:.0f} s"}
            print(f"  {args.label:<10} {client}: not counted, a timed cold install took {median:.0f} s", flush=True)
            continue
        counter = _Counter()
        server = _proxy(args.upstream, counter)
        port = server.server_address[1]
        up = urllib.parse.urlsplit(args.upstream)
        index = args.index_url.replace(f"{up.hostname}:{up.port}", f"127.0.0.1:{port}", 1)
        wall, rc, out, got = one_install(client, index, args.requirement, args.bindir, args.base_python, args.tmp,
                                         args.max_seconds)
        server.shutdown()
        kinds, fetched, needless = classify(counter.entries, got)
        result["clients"][client] = {"exit": rc, "installed": got, "kinds": kinds, "wheels_fetched": fetched,
                                     "wheels_not_installed": needless, "error": out if rc else None}
        total = sum(k["bytes"] for k in kinds.values())
        print(f"  {args.label:<10} {client} through the counting proxy: {total / 1e6:.2f} MB, "
              + ", ".join(f"{k} {v['requests']}×/{v['bytes'] / 1e3:.0f} kB" for k, v in sorted(kinds.items()))
              + f"; wheels not installed: {len(needless)}", flush=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("time", "count"):
        p = sub.add_parser(name)
        p.add_argument("--index-url", required=True, help="the simple index URL, credentials included if needed")
        p.add_argument("--requirement", default="tree-app")
        p.add_argument("--clients", default="uv,pip")
        p.add_argument("--label", default="")
        p.add_argument("--bindir", required=True, help="bin directory of .venv-clients (uv, pip)")
        p.add_argument("--base-python", default=os.path.realpath(sys.executable))
        p.add_argument("--tmp", default=None)
        p.add_argument("--max-seconds", type=int, default=300)
        p.add_argument("--out", required=True)
        p.add_argument("--slow", type=float, default=30.0,
                       help="time: no further runs after one this long; count: skip clients whose timed median is longer")
        if name == "time":
            p.add_argument("--runs", type=int, default=3)
            p.add_argument("--expect", choices=("cold", "warm"), default="cold",
                           help="what each run is: cold (the server has nothing cached) or warm (it has)")
            p.add_argument("--reset", default="", help="shell command run before every timed run (not timed): empties the server's cache")
            p.add_argument("--warmup", action="store_true", help="one install per client first, not timed: fills the server's cache")
            p.add_argument("--counts-url", default="", help="the upstream stand-in's control URL: its requests counted per run")
            p.add_argument("--expect-installed", type=int, default=0, help="a run installing fewer distributions fails")
            p.add_argument("--append", action="store_true", help="add these runs to those already in --out")
        else:
            p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT the index URL points at")
            p.add_argument("--timed", default="", help="the JSON written by `time` for this server")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    {"time": cmd_time, "count": cmd_count}[args.cmd](args)


if __name__ == "__main__":
    main()
