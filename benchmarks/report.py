#!/usr/bin/env python3
"""Turn one run directory of benchmarks/run.sh into Markdown tables.

Usage: report.py RUN_DIR   (reads RUN_DIR/meta.json and RUN_DIR/results/*)
"""
import json
import os
import statistics
import sys

SERVERS = {
    "a": "(a) baseline",
    "b": "(b) role",
    "c": "(c) limit",
    "c0": "(c0) no auth, info",
}
ENDPOINTS = {"simple": "`/simple/`", "project": "`/simple/<project>/`", "file": "file download"}
FEW_SAMPLES = 100  # below this, wrk's p99 is about the slowest request
NOISY_CORES = 0.25  # other processes' CPU during a measurement, in cores


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def fmt_rate(x):
    if x is None:
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fmt_ms(us):
    if us is None:
        return "–"
    ms = us / 1000
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_ratio(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    if x >= 0.1:
        return f"{x:.2f}×"
    return f"{x:.2g}×"  # e.g. 0.0013×: (b) takes about 1/770 of the time


def ratio(num, den):
    if num is None or den is None or den == 0:
        return None
    return num / den


def wrk_stats(res):
    """(req/s, p50 us, p99 us, n, errors, server cores, foreign cores) or None."""
    if not res or "requests" not in res:
        return None
    secs = res["duration_us"] / 1e6
    errors = sum(res.get("errors", {}).values())
    cpu = res.get("cpu_s", {})
    wall = res.get("wall_s") or secs
    server = cpu.get("server")
    return {
        "rps": res["requests"] / secs if res["requests"] else 0.0,
        "p50": res["latency_us"]["p50"] if res["requests"] else None,
        "p99": res["latency_us"]["p99"] if res["requests"] else None,
        "n": res["requests"],
        "errors": errors,
        "server_cores": server / wall if server is not None else None,
        "wrk_cores": (cpu.get("wrk", 0) + cpu.get("proxy", 0)) / wall,
        "foreign": cpu.get("foreign", 0) / wall,
    }


def pip_stats(res):
    if not res:
        return None
    ok = [r["wall_s"] for r in res["runs"] if "error" not in r]
    return {
        "median": statistics.median(ok) if ok else None,
        "min": min(ok) if ok else None,
        "max": max(ok) if ok else None,
        "ok": len(ok),
        "runs": len(res["runs"]),
        "error": next((r["error"] for r in res["runs"] if "error" in r), None),
    }


def main(run):
    meta = load(os.path.join(run, "meta.json")) or {}
    res = os.path.join(run, "results")
    servers = [s for s in SERVERS if s in meta.get("servers", "a,b,c,c0").split(",")]
    sizes = [int(x) for x in str(meta.get("projects", "")).split(",") if x]
    out = []
    w = out.append

    w(f"# privatepypi benchmark, run {meta.get('run_id', os.path.basename(run))}")
    w("")
    w(f"One machine ({meta.get('nproc', '?')} cores, kernel {meta.get('kernel', '?')}), "
      f"git {meta.get('git', '?')}. Every server in its own container of the project's "
      "Debian 12 systemd image, port published on 127.0.0.1, one server running at a time. "
      f"Load: {meta.get('wrk', 'wrk')}, 2 threads, 8 connections, "
      f"{meta.get('duration', '?')} s per URL, `--latency`, basic auth header, timeout 60 s. "
      f"pip: `pip download --no-deps` of {meta.get('pip_packages', 20)} packages, cold cache "
      f"(fresh cache and destination directory, pip config ignored), median of "
      f"{meta.get('pip_runs', '?')} runs (wall time includes pip's own start-up).")
    if meta.get("bcrypt_ms") is not None:
        w("")
        w(f"One bcrypt cost-12 check on this machine took {meta['bcrypt_ms']:.0f} ms "
          f"(median of 5, before the run; load average then: {meta.get('loadavg', '?')}): "
          "every request that checks the password with bcrypt costs that much CPU.")
    w("")
    w("- **(a) baseline**: pypiserver 2.4.2 as in its own systemd example: "
      "`pypi-server run -p 8080 -a update,download -P htpasswd --disable-fallback DIR`, "
      "default server (no WSGI server installed), passlib 1.7.4.")
    w("- **(b) role**: `privatepypi.aws.pypiserver` with its defaults (one user), deployed by "
      "`benchmarks/deploy.yml`.")
    w("- **(c) limit**: nginx (Debian 12) serving the same wheels and pre-rendered PEP 503 pages "
      "from disk, `auth_basic` with a hash made like (b)'s (passlib `HtpasswdFile`, bcrypt, "
      "cost 12): one bcrypt per request, no credential cache.")
    if "c0" in servers:
        w("- **(c0) informational, not the limit**: the same nginx without any auth.")
    w("")
    w("Ratios: req/s as b÷x (above 1: (b) serves more); p50, p99 and pip time as b÷x "
      "(below 1: (b) is faster).")

    for n in sizes:
        ds = load(os.path.join(res, f"dataset-{n}.json")) or {}
        w("")
        w(f"## {n} projects × 5 wheels ({n * 5} files)")
        w("")
        w(f"Project page: `/simple/{ds.get('project', '?')}/`; file: its newest wheel, at the "
          "path the server links to.")
        notes = []
        deploy = read_text(os.path.join(res, f"deploy-{n}-b.txt"))
        if deploy:
            hb = read_text(os.path.join(res, f"hash-{n}-b.txt")) or "?"
            hl = read_text(os.path.join(res, "hash-local.txt")) or "?"
            same = "same as" if hb == hl else "**differs from**"
            notes.append(f"(b) deployed in {deploy} s. Hash in (b)'s htpasswd: `{hb}`, "
                         f"{same} (a) and (c): `{hl}`.")
        for s in servers:
            fail = read_text(os.path.join(res, f"fail-{n}-{s}.txt"))
            if fail:
                notes.append(f"**{SERVERS[s]} failed**: " + fail.replace("\n", " ")[:600])
        for note in notes:
            w("")
            w(note)
        w("")
        w("| endpoint | server | req/s | p50 ms | p99 ms | requests | errors | server CPU (cores) | other load (cores) |")
        w("|---|---|--:|--:|--:|--:|--:|--:|--:|")
        stats = {}
        few = noisy = False
        for ep, ep_name in ENDPOINTS.items():
            for s in servers:
                st = wrk_stats(load(os.path.join(res, f"wrk-{n}-{s}-{ep}.json")))
                stats[(ep, s)] = st
                if st is None:
                    w(f"| {ep_name} | {SERVERS[s]} | – | – | – | – | – | – | – |")
                    continue
                mark = ""
                if st["n"] < FEW_SAMPLES:
                    mark, few = " †", True
                other = f"{st['foreign']:.2f}"
                if st["foreign"] > NOISY_CORES:
                    other, noisy = other + " ⚠", True
                errs = f"**{st['errors']}**" if st["errors"] else "0"
                srv = f"{st['server_cores']:.2f}" if st["server_cores"] is not None else "–"
                w(f"| {ep_name} | {SERVERS[s]} | {fmt_rate(st['rps'])} | {fmt_ms(st['p50'])} | "
                  f"{fmt_ms(st['p99'])}{mark} | {st['n']:,} | {errs} | {srv} | {other} |")
        if few:
            w("")
            w(f"† fewer than {FEW_SAMPLES} requests completed: p99 is in effect the slowest request.")
        if noisy:
            w("")
            w(f"⚠ other processes on the machine used more than {NOISY_CORES} cores during "
              "this measurement: rerun on a quiet machine before comparing.")

        pips = {s: pip_stats(load(os.path.join(res, f"pip-{n}-{s}.json"))) for s in servers}
        if any(pips.values()):
            w("")
            w(f"`pip download` of {meta.get('pip_packages', 20)} packages, cold cache:")
            w("")
            w("| server | wall time s (median) | min | max | runs ok |")
            w("|---|--:|--:|--:|--:|")
            for s in servers:
                p = pips[s]
                if not p:
                    w(f"| {SERVERS[s]} | – | – | – | – |")
                    continue
                f = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
                w(f"| {SERVERS[s]} | {f(p['median'])} | {f(p['min'])} | {f(p['max'])} | {p['ok']}/{p['runs']} |")
            for s in servers:
                if pips[s] and pips[s]["error"]:
                    w("")
                    w(f"{SERVERS[s]} pip error: `" + pips[s]["error"].strip().splitlines()[-1][:300] + "`")

        others = [s for s in ("a", "c", "c0") if s in servers]
        if "b" in servers and others:
            w("")
            heads = [("a", "b÷a"), ("c", "b÷c"), ("c0", "b÷c0 (info)")]
            heads = [(s, h) for s, h in heads if s in others]
            w("| ratio of (b) to | " + " | ".join(h for _, h in heads) + " |")
            w("|---|" + "--:|" * len(heads))
            for ep, ep_name in ENDPOINTS.items():
                for key, label in (("rps", "req/s"), ("p50", "p50"), ("p99", "p99")):
                    b = stats.get((ep, "b"))
                    cells = []
                    for s, _ in heads:
                        x = stats.get((ep, s))
                        cells.append(fmt_ratio(ratio(b and b[key], x and x[key])))
                    w(f"| {ep_name} {label} | " + " | ".join(cells) + " |")
            bp = pips.get("b")
            cells = [fmt_ratio(ratio(bp and bp["median"], pips.get(s) and pips[s]["median"]))
                     for s, _ in heads]
            w("| pip download time | " + " | ".join(cells) + " |")

    total = read_text(os.path.join(res, "total-seconds.txt"))
    if total:
        w("")
        w(f"Total run time: {int(total) // 60} min {int(total) % 60} s.")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
