#!/usr/bin/env python3
"""Render at scale (run.sh): the role deployed on a store of many files.

Measured, in the container the role was deployed to:
  first render   pages removed, pypiserver-index started (as on a new instance on an
                 existing store): seconds until the last project's page is served,
                 the renderer's CPU and the bytes it read (its own log lines too);
  freshness      one new upload (a new project, and a new version of an existing
                 one) with twine: seconds from twine's exit until the page lists it;
  restart        pypiserver-index restarted: seconds until its first pass is done
                 (CPU idle), the CPU seconds and the bytes it read in that pass
                 (/proc/PID/io rchar; re-hashing the store reads all of it), and
                 whether pages stayed correct meanwhile.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_dataset  # noqa: E402

PAGES = "/var/cache/pypiserver/pages"  # the role's _pypiserver_pages_dir


def sh(container, *cmd):
    return subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True, timeout=120).stdout


def get(url, auth):
    req = urllib.request.Request(url, headers={"Authorization": "Basic " + auth})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def wait_for(url, auth, needle, timeout, step=0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status, body = get(url, auth)
        if status == 200 and needle.encode() in body:
            return time.monotonic() - t0
        time.sleep(step)
    return None


def cpu_seconds(container, pid):
    """utime + stime of one process in the container (systemd there keeps no CPU accounting)."""
    try:
        fields = sh(container, "cat", f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (IndexError, ValueError):
        return None


def unit(container, prop):
    out = sh(container, "systemctl", "show", "pypiserver-index", "-p", prop, "--value").strip()
    return int(out) if out.isdigit() else None


def rchar(container, pid):
    """Bytes the container's process pid has read (rchar), read on the host: inside the
    container /proc/PID/io of another user's process is not readable."""
    cid = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True).stdout.strip()
    for host_pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{host_pid}/cgroup") as fh:
                if cid not in fh.read():
                    continue
            with open(f"/proc/{host_pid}/status") as fh:
                nspid = next((line.split()[1:] for line in fh if line.startswith("NSpid:")), [])
            if nspid and nspid[-1] == str(pid):
                with open(f"/proc/{host_pid}/io") as fh:
                    m = re.search(r"^rchar: (\d+)", fh.read(), re.M)
                return int(m.group(1)) if m else None
        except OSError:
            continue
    return None


def first_pass(container, timeout):
    """Wait until pypiserver-index's CPU use settles; (seconds, cpu seconds, bytes read)."""
    t0 = time.monotonic()
    last, still = None, 0
    while time.monotonic() - t0 < timeout:
        # re-read: a renderer killed by its watchdog comes back with another pid (and counts anew)
        pid = unit(container, "MainPID")
        cpu = cpu_seconds(container, pid)
        if cpu is not None and last is not None and cpu - last < 0.02:
            still += 1
            if still >= 3:  # 1.5 s without CPU: the renderer sleeps between polls
                break
        else:
            still = 0
        last = cpu
        time.sleep(0.5)
    return time.monotonic() - t0 - 1.5, last or 0.0, rchar(container, pid) if pid else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--container", required=True)
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--projects", type=int, required=True)
    ap.add_argument("--twine", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--store-bytes", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    auth = base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    simple = args.base.rstrip("/") + "/simple/"
    res = {"files": args.projects * len(make_dataset.VERSIONS), "store_bytes": args.store_bytes}

    # The deployment rendered the store once; wait for that, then measure a first render of an
    # existing store as a new instance on the same file system does it: no pages at all.
    last = make_dataset.project_name(args.projects)
    if wait_for(f"{simple}{last}/", auth, "-1.0.4-py3-none-any.whl", 900, step=0.5) is None:
        sys.exit(f"scale: {simple}{last}/ not served within 900 s of the deployment")
    first_pass(args.container, 600)
    sh(args.container, "systemctl", "stop", "pypiserver-index")
    sh(args.container, "sh", "-c", f"rm -rf {PAGES}/simple")
    sh(args.container, "systemctl", "start", "pypiserver-index")
    waited = wait_for(f"{simple}{last}/", auth, "-1.0.4-py3-none-any.whl", 900, step=0.2)
    res["first_render_s"] = None if waited is None else round(waited, 1)
    settle, cpu, read = first_pass(args.container, 600)
    res["first_render_cpu_s"], res["first_render_read_bytes"] = round(cpu, 1), read
    res["first_render_log"] = [line for line in sh(args.container, "journalctl", "-u", "pypiserver-index", "-o", "cat",
                                                   "--no-pager").splitlines() if "updated" in line or "render" in line][-2:]

    # Freshness on the instance that took the upload.
    fresh = {}
    for label, name, version in (("new project", f"scale-new-{int(time.time())}", "1.0.0"),
                                 ("new version", make_dataset.project_name(1), "1.0.9")):
        filename, data = make_dataset.make_wheel(name, version)
        path = os.path.join(args.tmp, filename)
        with open(path, "wb") as fh:
            fh.write(data)
        proc = subprocess.run([args.twine, "upload", "--non-interactive", "--disable-progress-bar", "--repository-url",
                               args.base.rstrip("/") + "/", "-u", args.user, "-p", args.password, path],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode:  # the step fails, with twine's reason: never a cell of the report
            raise SystemExit(f"twine upload of {filename} ({label}) failed: {(proc.stdout + proc.stderr)[-300:]}")
        seen = wait_for(f"{simple}{make_dataset.normalize(name)}/", auth, filename, 60)
        fresh[label] = {"listed_after_s": None if seen is None else round(seen, 2),
                        "sha256_ok": hashlib.sha256(data).hexdigest().encode() in get(f"{simple}{make_dataset.normalize(name)}/", auth)[1]}
    res["freshness"] = fresh

    # Restart: is the store re-read? Pages must stay correct meanwhile.
    sh(args.container, "systemctl", "restart", "pypiserver-index")
    t0 = time.monotonic()
    probes_ok = probes = 0
    while time.monotonic() - t0 < 3:
        status, body = get(f"{simple}{last}/", auth)
        probes += 1
        probes_ok += status == 200 and b"-1.0.4-py3-none-any.whl#sha256=" in body
        time.sleep(0.2)
    settle, cpu, read = first_pass(args.container, 600)
    res["restart"] = {"first_pass_s": round(settle + 3, 1), "cpu_s": round(cpu, 1), "read_bytes": read,
                      "pages_ok_during": f"{probes_ok}/{probes}"}
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
