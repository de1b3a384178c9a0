#!/usr/bin/env python3
"""Measurement helpers for benchmarks/run.sh (stdlib only).

  probe  wait until a server answers, check /simple/, a project page and a
         wheel download (status, content, sha256 against the page's link) and
         print the three URLs as JSON: the file URL is taken from the project
         page, so it is the path each server really exposes.
  wrk    run wrk once on one URL and write its numbers as JSON, together with
         the CPU used during the run by the server's container, by wrk, by the
         docker-proxy of the published port, and by everything else on the
         machine ("foreign": other people's jobs on a shared machine).
  rounds the servers of a spec (all up at once) on each endpoint in short wrk
         rounds that take turns, the order reversed every other round; one
         JSON per server and endpoint with every round kept (report.py pairs
         them round by round). A round with failed requests fails the step.
  devpi-load  wait until devpi-server answers, then upload the data set's files
         whose names start with --prefix to its index root/bench with twine.
  flood  send --total distinct bad credentials with wrk (flood.lua) to --flood-url
         (default --url) and, while that runs, request --url as a user whose verdict
         is cached, one request at a time; write that user's latencies and the
         flood's status counts as JSON.
  pip    time `pip download --no-deps` of N packages with a cold cache (a fresh
         cache and destination directory per run, pip's configuration and
         environment ignored), repeated --runs times.
  memory sample a systemd container's memory (its cgroup and each unit's) until
         ended by SIGTERM, then write each one's peak as JSON: what an
         instance of that size must hold under the run's load.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))


_CHILD = []  # the running wrk or pip, ended with this script


def _on_signal(signum, _frame):
    for proc in _CHILD:
        if proc.poll() is None:
            proc.terminate()
    sys.exit(128 + signum)


def _start(cmd, **kwargs):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    _CHILD[:] = [proc]
    return proc


# --------------------------------------------------------------------- probe
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url, auth, timeout=60):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + auth)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _hrefs(page):
    return re.findall(r'href="([^"]+)"', page.decode("utf-8", "replace"))


def probe(args):
    base = args.base.rstrip("/")
    simple = base + "/simple/"
    project = f"{simple}{args.project}/"
    deadline = time.monotonic() + args.wait
    last = "no answer"
    while True:
        try:
            status, body = _get(project, args.auth, timeout=30)
            links = [h for h in _hrefs(body) if args.file_suffix in h.split("#")[0]]
            if status == 200 and links:
                break
            last = f"HTTP {status} for {project}, {len(links)} link(s) to *{args.file_suffix}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            sys.exit(f"probe: {base} not ready after {args.wait}s: {last}")
        time.sleep(1)

    href = links[0]
    file_url, _, fragment = urllib.parse.urljoin(project, href).partition("#")
    status, data = _get(file_url, args.auth)
    if status != 200:
        sys.exit(f"probe: HTTP {status} for {file_url}")
    if not data.startswith(b"PK\x03\x04"):
        sys.exit(f"probe: {file_url} is not a zip file")
    if fragment.startswith("sha256="):
        if hashlib.sha256(data).hexdigest() != fragment[len("sha256="):]:
            sys.exit(f"probe: sha256 of {file_url} does not match the page's link")
    status, body = _get(simple, args.auth)
    if status != 200 or f"{args.project}/".encode() not in body:
        sys.exit(f"probe: HTTP {status} for {simple} or no link to {args.project}/")
    if args.auth:  # the password must matter, or the numbers are not comparable
        status, _ = _get(file_url, "")
        if status != 401:
            sys.exit(f"probe: {file_url} answered HTTP {status} without credentials")
    json.dump({"simple": simple, "project": project, "file": file_url}, sys.stdout)
    print()


# ----------------------------------------------------------------------- wrk
def _host_busy_ticks():
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)


def _container_cpu_ns(cid):
    if not cid:
        return None
    for path, scale in (
        (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage", 1),
        (f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage", 1),
        (f"/sys/fs/cgroup/docker/{cid}/cpu.stat", 1000),
        (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat", 1000),
    ):
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError:
            continue
        if path.endswith("cpu.stat"):
            m = re.search(r"^usage_usec (\d+)", text, re.M)
            if m:
                return int(m.group(1)) * scale
        else:
            return int(text.strip())
    return None


def _proxy_pids(port):
    pids = []
    if not port:
        return pids
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"docker-proxy"):
            if b"-host-port" in argv and argv[argv.index(b"-host-port") + 1] == str(port).encode():
                pids.append(pid)
    return pids


def _proc_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total


def _other_processes(skip_pids, containers):
    """pid -> (starttime, own + reaped children's CPU ticks) of every user-space
    process that is not part of the measurement (the benchmark's containers, wrk,
    this script, docker-proxy). Kernel threads are left out: they mostly carry the
    measurement's own loopback traffic."""
    snap = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid in skip_pids:
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            if int(f[1]) == 2 or pid == "2" or int(f[6]) & 0x00200000:  # ppid kthreadd, PF_KTHREAD
                continue
            if containers:
                with open(f"/proc/{pid}/cgroup") as fh:
                    cgroup = fh.read()
                if any(container in cgroup for container in containers):
                    continue
            snap[pid] = (int(f[19]), int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]))
        except (OSError, IndexError, ValueError):
            continue
    return snap


def _other_ticks(before, after):
    total = 0
    for pid, (start, ticks) in after.items():
        old = before.get(pid)
        total += ticks - old[1] if old and old[0] == start else ticks
    return max(total, 0)


def _container_ticks(containers):
    """CPU seconds of each given container (full ids), None where unreadable."""
    return {cid: _container_cpu_ns(cid) for cid in containers}


def wrk_once(url, *, auth, seconds, threads=2, connections=8, timeout=60, container="", proxy_port="",
             idle_containers=(), idle_proxy_ports=(), text_out=None):
    """One wrk run on url, as a dict: wrk's numbers (BENCH_JSON of wrk.lua) and the CPU used meanwhile by
    the measured server's container, by wrk, by the docker-proxy of its published port, by the other
    benchmark servers that stood idle meanwhile, and by everything else on the machine ("foreign": other
    people's jobs on a shared machine)."""
    env = dict(os.environ, BENCH_AUTH=auth or "")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
           f"--timeout={timeout}s", "--latency", "-s", os.path.join(HERE, "wrk.lua"), url]
    pids = _proxy_pids(proxy_port)
    idle_pids = [pid for port in idle_proxy_ports for pid in _proxy_pids(port)]
    skip = set(pids) | set(idle_pids) | {str(os.getpid())}
    benchmark_containers = tuple(c for c in (container, *idle_containers) if c)
    o0 = _other_processes(skip, benchmark_containers)
    i0 = _container_ticks(idle_containers)
    c0, h0, p0, t0 = (_container_cpu_ns(container), _host_busy_ticks(),
                      _proc_ticks(pids), time.monotonic())
    started_at = time.time()
    proc = _start(cmd, env=env)
    out = proc.stdout.read().decode("utf-8", "replace")
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    c1, h1, p1 = _container_cpu_ns(container), _host_busy_ticks(), _proc_ticks(pids)
    i1 = _container_ticks(idle_containers)
    o1 = _other_processes(skip | {str(proc.pid)}, benchmark_containers)

    if text_out:
        with open(text_out, "a") as fh:
            fh.write(" ".join(cmd[:-3] + [cmd[-1]]) + "\n" + out)
    result = {"url": url, "started_at": started_at, "wall_s": wall, "exit": os.waitstatus_to_exitcode(status)}
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            result.update(json.loads(line[len("BENCH_JSON "):]))
    if "requests" not in result:
        result["error"] = out.strip()[-500:] or "wrk printed nothing"
    cpu = {"host": (h1 - h0) / CLK_TCK, "wrk": rusage.ru_utime + rusage.ru_stime,
           "proxy": (p1 - p0) / CLK_TCK}
    cpu["server"] = (c1 - c0) / 1e9 if c0 is not None and c1 is not None else None
    idle = [(i1[cid] - i0[cid]) / 1e9 for cid in idle_containers if i0.get(cid) is not None and i1.get(cid) is not None]
    cpu["idle_servers"] = sum(idle)
    # Everything else the machine did; "foreign": other user-space processes only.
    cpu["rest"] = max(0.0, cpu["host"] - cpu["wrk"] - cpu["proxy"] - (cpu["server"] or 0.0) - cpu["idle_servers"])
    # (children reaped in the window count whole, hence the cap)
    cpu["foreign"] = min(_other_ticks(o0, o1) / CLK_TCK, cpu["rest"])
    result["cpu_s"] = cpu
    return result


def round_problem(result):
    """Why one wrk run cannot be counted, or None: a comparison of rates is void when one of them
    includes failed requests or none at all."""
    if result.get("error"):
        return f"wrk: {result['error']}"
    if result.get("exit"):
        return f"wrk exited with {result['exit']}"
    if not result.get("requests"):
        return "no request answered"
    errors = {k: v for k, v in (result.get("errors") or {}).items() if v}
    if errors:
        return "failed requests " + ", ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
    return None


def round_order(labels, round_index):
    """The servers' order in one round: as given in even rounds, reversed in odd ones, so no server is
    always measured first (the moment after another's load) and each pair of rounds is symmetric."""
    return list(labels) if round_index % 2 == 0 else list(reversed(labels))


def round_rate(result):
    return result["requests"] / (result["duration_us"] / 1e6)


def aggregate_rounds(rounds):
    """One server's rounds on one URL as one result of the shape run_wrk writes: counts and CPU summed,
    the latency percentiles the median of the rounds' own (wrk gives no histogram to merge), and the
    rounds themselves for the paired ratios (report.py)."""
    total = {"url": rounds[0]["url"], "rounds": rounds,
             "wall_s": sum(r["wall_s"] for r in rounds),
             "exit": max(r.get("exit", 0) for r in rounds),
             "requests": sum(r["requests"] for r in rounds),
             "duration_us": sum(r["duration_us"] for r in rounds),
             "bytes": sum(r.get("bytes", 0) for r in rounds)}
    total["errors"] = {k: sum((r.get("errors") or {}).get(k, 0) for r in rounds) for k in rounds[0].get("errors", {})}
    total["latency_us"] = {k: statistics.median(r["latency_us"][k] for r in rounds) for k in rounds[0]["latency_us"]}
    cpu = {}
    for key in rounds[0]["cpu_s"]:
        values = [r["cpu_s"].get(key) for r in rounds]
        cpu[key] = None if any(v is None for v in values) else sum(values)
    total["cpu_s"] = cpu
    return total


def run_wrk(args):
    result = wrk_once(args.url, auth=args.auth, seconds=args.duration, threads=args.threads,
                      connections=args.connections, timeout=args.timeout, container=args.container,
                      proxy_port=args.proxy_port, text_out=args.out + ".txt")
    result["loadavg_before"] = args.loadavg
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    _print_round(args.label, result)
    problem = round_problem(result)
    if problem:
        sys.exit(f"wrk {args.label}: {problem}")


def _print_round(label, result):
    cpu = result.get("cpu_s", {})
    rps = result.get("requests", 0) / (result.get("duration_us", 1) / 1e6)
    latency = result.get("latency_us", {})
    per_answer = (cpu.get("server") or 0) / result["requests"] * 1e6 if result.get("requests") else 0
    print(f"  {label:<28} {rps:10.1f} req/s  p50 {latency.get('p50', 0) / 1000:8.2f} ms"
          f"  p99 {latency.get('p99', 0) / 1000:8.2f} ms  server {per_answer:6.1f} us/answer"
          f"  n={result.get('requests', 0)}  errors={sum(result.get('errors', {}).values())}"
          f"  other-load={cpu.get('foreign', 0) / max(result.get('wall_s', 0), 1e-9):.2f} cores", flush=True)


def idle_cores(containers, seconds):
    """label -> CPU cores each container used with no request at all (its timers and background
    services), over the same seconds: counted in its CPU per answer, as a fixed rate."""
    before = {label: _container_cpu_ns(cid) for label, cid in containers.items()}
    began = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - began
    after = {label: _container_cpu_ns(cid) for label, cid in containers.items()}
    return {label: (after[label] - before[label]) / 1e9 / wall if before[label] is not None and after[label] is not None else None
            for label in containers}


def run_rounds(args):
    """Every server of the spec on every endpoint, --rounds short wrk runs each, taking turns: on a
    shared machine the load moves within minutes, and a server measured minutes after another would be
    compared under another load. All of them are up throughout (an idle server costs next to nothing,
    and its CPU is counted apart). Writes PREFIX-<label>-<endpoint>.json per server and endpoint."""
    with open(args.spec) as fh:
        servers = json.load(fh)["servers"]
    labels = [s["label"] for s in servers]
    by_label = {s["label"]: s for s in servers}
    if args.idle_seconds > 0:
        idle = idle_cores({s["label"]: s.get("container", "") for s in servers}, args.idle_seconds)
        with open(f"{args.out_prefix}-idle.json", "w") as fh:
            json.dump({"seconds": args.idle_seconds, "cores": idle}, fh, indent=1)
        print("  idle: " + ", ".join(f"{label} {cores:.3f} cores" for label, cores in idle.items() if cores is not None), flush=True)
    for endpoint in args.endpoints.split(","):
        rounds = {label: [] for label in labels}
        for index in range(args.rounds):
            for label in round_order(labels, index):
                server = by_label[label]
                others = [s for s in servers if s["label"] != label]
                with open("/proc/loadavg") as fh:
                    loadavg = float(fh.read().split()[0])
                result = wrk_once(server["urls"][endpoint], auth=server.get("auth", ""), seconds=args.round_seconds,
                                  threads=args.threads, connections=args.connections, timeout=args.timeout,
                                  container=server.get("container", ""), proxy_port=server.get("proxy_port", ""),
                                  idle_containers=[s["container"] for s in others if s.get("container")],
                                  idle_proxy_ports=[s["proxy_port"] for s in others if s.get("proxy_port")],
                                  text_out=f"{args.out_prefix}-{label}-{endpoint}.json.txt")
                result.update(round=index + 1, position=round_order(labels, index).index(label) + 1, loadavg_before=loadavg)
                _print_round(f"{label} {endpoint} round {index + 1}", result)
                problem = round_problem(result)
                if problem:
                    sys.exit(f"wrk rounds: {label} {endpoint} round {index + 1} of {args.rounds}: {problem}")
                rounds[label].append(result)
        for label, done in rounds.items():
            with open(f"{args.out_prefix}-{label}-{endpoint}.json", "w") as fh:
                json.dump(aggregate_rounds(done), fh, indent=1)


# --------------------------------------------------------------------- flood
def _percentile(ordered, q):
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0


def cached_user_latencies(url, auth, samples, stop, timeout=10):
    """One connection, one request at a time, until stop is set: append (start, seconds, status) per
    request to samples. Each time is the wall time of that request alone (their sum never exceeds the
    run), which wrk -c1 does not give: its mean times its count overran the wall time by a third
    quietly and sevenfold under the flood (wrk 4.1 here)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Authorization": "Basic " + auth}
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    while not stop.is_set():
        began = time.perf_counter()
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            connection.close()
        samples.append((began, time.perf_counter() - began, status))


def run_flood(args):
    status, _ = _get(args.url, args.auth)  # the user's verdict is cached from here on
    if status != 200:
        sys.exit(f"flood: {args.url} answered {status} for the cached user")
    with open("/proc/loadavg") as fh:
        loadavg = fh.read().split()[:3]
    samples, stop = [], threading.Event()
    user = threading.Thread(target=cached_user_latencies, args=(args.url, args.auth, samples, stop), daemon=True)
    user.start()
    time.sleep(0.2)  # the user's connection is open and warm before the flood begins
    # The attacker runs elsewhere in real life: here its load generator gets the CPU last.
    flood_cmd = ["nice", "-n", "19", "wrk", "-t1", f"-c{args.connections}", f"-d{args.max_seconds}s", "--timeout=10s",
                 "-s", os.path.join(HERE, "flood.lua"), args.flood_url or args.url]
    t0 = time.perf_counter()
    proc = _start(flood_cmd, env=dict(os.environ, BENCH_FLOOD_TOTAL=str(args.total), BENCH_FLOOD_USER=args.flood_user))
    out = proc.communicate()[0].decode("utf-8", "replace")
    t1 = time.perf_counter()
    stop.set()
    user.join(timeout=30)
    wall = t1 - t0
    result = {"url": args.url, "flood_url": args.flood_url or args.url, "total": args.total, "flood_user": args.flood_user,
              "connections": args.connections, "wall_s": wall, "loadavg": loadavg}
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            result["flood"] = json.loads(line[len("BENCH_JSON "):])
    if "flood" not in result:
        result.setdefault("error", {})["flood"] = out.strip()[-500:] or "wrk printed nothing"
    # the user's requests begun while the flood ran
    during = [(seconds, code) for began, seconds, code in samples if t0 <= began < t1]
    if during:
        ordered = sorted(seconds * 1e6 for seconds, _ in during)
        failed = sum(1 for _, code in during if code != 200)
        result["cached_user"] = {
            "client": "python http.client, one connection", "requests": len(during),
            "errors": {"status": failed}, "busy_fraction": sum(ordered) / 1e6 / wall,
            "latency_us": {"min": ordered[0], "mean": statistics.fmean(ordered), "max": ordered[-1],
                           "p50": _percentile(ordered, 50), "p90": _percentile(ordered, 90),
                           "p99": _percentile(ordered, 99)}}
    else:
        result.setdefault("error", {})["cached_user"] = "no request of the cached user during the flood"
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    flood, cached = result.get("flood", {}), result.get("cached_user", {})
    lat = cached.get("latency_us", {})
    print(f"  flood: {flood.get('requests', 0)} distinct bad credentials in {wall:.1f} s {flood.get('statuses', {})};"
          f" cached user meanwhile: n={cached.get('requests', 0)} p50 {lat.get('p50', 0) / 1000:.2f} ms"
          f" p99 {lat.get('p99', 0) / 1000:.2f} ms max {lat.get('max', 0) / 1000:.2f} ms"
          f" errors={sum(cached.get('errors', {}).values())}", flush=True)


# ----------------------------------------------------------------------- pip
MEMORY_ROOTS = ("/sys/fs/cgroup/memory/docker/{cid}", "/sys/fs/cgroup/docker/{cid}",
                "/sys/fs/cgroup/system.slice/docker-{cid}.scope")


def _memory_root(cid):
    """The container's memory cgroup directory (cgroup v1 or v2), None when there is none."""
    for pattern in MEMORY_ROOTS:
        path = pattern.format(cid=cid)
        if os.path.isdir(path):
            return path
    return None


def resident_bytes(cgroup_dir):
    """Memory of a cgroup that no reclaim gives back (no swap): anonymous memory and shared memory
    (tmpfs, nginx's shared zones), from memory.stat (cgroup v1: total_rss + total_shmem; v2: anon + shmem).
    The page cache of the files served is left out: the kernel drops it under pressure. None when unreadable."""
    try:
        with open(os.path.join(cgroup_dir, "memory.stat")) as fh:
            stat = dict(line.split() for line in fh if line.strip())
    except OSError:
        return None
    if "total_rss" in stat:
        return int(stat["total_rss"]) + int(stat.get("total_shmem", 0))
    return int(stat.get("anon", 0)) + int(stat.get("shmem", 0))


def memory_units(root):
    """unit name -> cgroup directory of each systemd service inside a container's cgroup."""
    units = {}
    for directory, subdirs, _files in os.walk(root):
        for name in subdirs:
            if name.endswith(".service"):
                units[name] = os.path.join(directory, name)
    return units


def sample_memory(root, peaks):
    """One sample: raise each cgroup's peak in peaks ({"container": bytes, "units": {name: bytes}})."""
    whole = resident_bytes(root)
    if whole is not None:
        peaks["container"] = max(peaks.get("container", 0), whole)
    for name, directory in memory_units(root).items():  # units come and go (timers' services)
        value = resident_bytes(directory)
        if value is not None:
            peaks["units"][name] = max(peaks["units"].get(name, 0), value)
    peaks["samples"] += 1


def run_memory(args):
    root = args.cgroup or _memory_root(args.container)
    if root is None or not os.path.isdir(root):
        sys.exit(f"memory: no memory cgroup of container {args.container or args.cgroup}")
    peaks = {"container": 0, "units": {}, "samples": 0, "interval_s": args.interval}
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.is_set():
        sample_memory(root, peaks)
        stopped.wait(args.interval)
    sample_memory(root, peaks)
    try:  # cgroup v1 also keeps the peak of all memory, page cache included
        with open(os.path.join(root, "memory.max_usage_in_bytes")) as fh:
            peaks["container_with_cache"] = int(fh.read())
    except OSError:
        peaks["container_with_cache"] = None
    with open(args.out, "w") as fh:
        json.dump(peaks, fh, indent=1, sort_keys=True)


def run_pip(args):
    packages = args.packages.split(",")
    runs = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    for i in range(args.runs):
        tmp = tempfile.mkdtemp(prefix="pip-cold-", dir=args.tmp)
        cmd = [args.python, "-m", "pip", "--isolated", "download", "--no-deps",
               "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-q",
               "--cache-dir", os.path.join(tmp, "cache"), "-d", os.path.join(tmp, "dl"),
               "--index-url", args.index_url] + packages
        t0 = time.monotonic()
        proc = _start(cmd, env=env)
        try:
            output, _ = proc.communicate(timeout=args.max_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        wall = time.monotonic() - t0
        got = sorted(os.listdir(os.path.join(tmp, "dl"))) if os.path.isdir(os.path.join(tmp, "dl")) else []
        shutil.rmtree(tmp, ignore_errors=True)
        run = {"wall_s": wall, "exit": proc.returncode, "files": len(got)}
        if proc.returncode != 0 or len(got) != len(packages):
            run["error"] = output.decode("utf-8", "replace")[-800:]
        runs.append(run)
        print(f"  {args.label:<28} pip download run {i + 1}: {wall:6.2f} s"
              f"  ({len(got)}/{len(packages)} files, exit {proc.returncode})", flush=True)
    with open(args.out, "w") as fh:
        json.dump({"packages": packages, "runs": runs}, fh, indent=1)


# ----------------------------------------------------------------- devpi-load
DEVPI_ROOT_PASSWORD = "bench-root-password"  # noqa: S105 (set by benchmarks/devpi/install.sh; a throwaway container on loopback)


def devpi_load(args):
    base = args.base.rstrip("/")
    deadline = time.monotonic() + args.wait
    while True:
        try:
            status, _ = _get(base + "/+api", "")
            if status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"devpi-load: {base}/+api did not answer within {args.wait} s")
        time.sleep(1)
    files = sorted(os.path.join(args.files, f) for f in os.listdir(args.files) if f.startswith(args.prefix))
    t0 = time.monotonic()
    proc = _start([args.twine, "upload", "--non-interactive", "--disable-progress-bar", "--repository-url",
                   base + "/root/bench/", "-u", "root", "-p", DEVPI_ROOT_PASSWORD, *files],
                  env={k: v for k, v in os.environ.items() if not k.startswith("TWINE_")})
    out = proc.communicate()[0].decode("utf-8", "replace")
    if proc.returncode:
        sys.exit(f"devpi-load: twine failed:\n{out[-1500:]}")
    print(f"devpi-load: {len(files)} files uploaded in {time.monotonic() - t0:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("probe")
    p.add_argument("--base", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--auth", default="", help="base64 user:password, empty = none")
    p.add_argument("--file-suffix", default="-1.0.4-py3-none-any.whl")
    p.add_argument("--wait", type=int, default=120)

    w = sub.add_parser("wrk")
    w.add_argument("--url", required=True)
    w.add_argument("--label", default="")
    w.add_argument("--auth", default="")
    w.add_argument("--duration", type=int, default=10)
    w.add_argument("--threads", type=int, default=2)
    w.add_argument("--connections", type=int, default=8)
    w.add_argument("--timeout", type=int, default=60)
    w.add_argument("--container", default="", help="full container id, for its CPU time")
    w.add_argument("--proxy-port", default="", help="published host port, for docker-proxy's CPU")
    w.add_argument("--out", required=True)
    w.add_argument("--loadavg", type=float, default=None)

    r = sub.add_parser("rounds", help="servers taking turns on each endpoint, short wrk rounds each")
    r.add_argument("--spec", required=True, help='JSON: {"servers": [{"label", "urls": {endpoint: url}, "auth", '
                                                  '"container" (full id), "proxy_port"}]}')
    r.add_argument("--endpoints", default="simple,project,file")
    r.add_argument("--rounds", type=int, default=10)
    r.add_argument("--round-seconds", type=int, default=1)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--connections", type=int, default=8)
    r.add_argument("--timeout", type=int, default=60)
    r.add_argument("--idle-seconds", type=int, default=5, help="first, each container's CPU with no request (0: skip)")
    r.add_argument("--out-prefix", required=True, help="writes PREFIX-<label>-<endpoint>.json and PREFIX-idle.json")

    f = sub.add_parser("flood")
    f.add_argument("--url", required=True, help="a URL the cached user reads; the flood goes there too")
    f.add_argument("--flood-url", default="", help="where the flood goes (another path to the same server); default --url")
    f.add_argument("--auth", required=True, help="base64 user:password of the cached user")
    f.add_argument("--total", type=int, default=20000)
    f.add_argument("--flood-user", default="", help="every other guess is for this name (the cached user's: a lockout attempt)")
    f.add_argument("--connections", type=int, default=32)
    f.add_argument("--max-seconds", type=int, default=120)
    f.add_argument("--out", required=True)

    q = sub.add_parser("pip")
    q.add_argument("--index-url", required=True)
    q.add_argument("--packages", required=True, help="comma separated")
    q.add_argument("--label", default="")
    q.add_argument("--runs", type=int, default=3)
    q.add_argument("--python", default=sys.executable)
    q.add_argument("--tmp", default=None)
    q.add_argument("--max-seconds", type=int, default=300)
    q.add_argument("--out", required=True)

    d = sub.add_parser("devpi-load")
    d.add_argument("--base", required=True)
    d.add_argument("--twine", required=True)
    d.add_argument("--files", required=True, help="directory of the data set's files")
    d.add_argument("--prefix", default="")
    d.add_argument("--wait", type=int, default=120)

    m = sub.add_parser("memory", help="peak memory of a container and of each of its systemd units, until SIGTERM")
    target = m.add_mutually_exclusive_group(required=True)
    target.add_argument("--container", help="full container id")
    target.add_argument("--cgroup", help="or the memory cgroup's directory itself")
    m.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    m.add_argument("--out", required=True)

    args = ap.parse_args()
    if args.cmd == "memory":  # ends on SIGTERM by design: its own handlers
        run_memory(args)
        return
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.cmd == "wrk" and args.loadavg is None:
        with open("/proc/loadavg") as fh:
            args.loadavg = float(fh.read().split()[0])
    {"probe": probe, "wrk": run_wrk, "rounds": run_rounds, "flood": run_flood, "pip": run_pip, "devpi-load": devpi_load}[args.cmd](args)


if __name__ == "__main__":
    main()
