#!/usr/bin/env python3
"""Turn one run directory of benchmarks/run.sh into Markdown tables.

Usage: report.py RUN_DIR   (reads RUN_DIR/meta.json and RUN_DIR/results/*)
"""
import json
import os
import statistics
import sys

SERVERS = {
    "c0": "(c0) ceiling: static, no auth",
    "b": "(b) role",
    "a": "(a) pypiserver",
    "d": "(d) devpi",
    "c": "(c) static + bcrypt/request",
}
TARGET = 1.2  # our cold installs within this factor of the ceiling
ENDPOINTS = {"simple": "`/simple/`", "project": "`/simple/<project>/`", "file": "file download"}
PAIRED = ("c", "c0")  # run at the same time as (b), their wrk rounds taking turns with (b)'s
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


def round_value(rnd, key):
    """One wrk round's req/s ("rps") or latency percentile ("p50", "p99", in us)."""
    if key == "rps":
        return rnd["requests"] / (rnd["duration_us"] / 1e6) if rnd.get("duration_us") else None
    return (rnd.get("latency_us") or {}).get(key)


def paired_ratios(num_res, den_res, key):
    """num÷den for each round both servers ran (same index: adjacent in time, measure.py rounds)."""
    pairs = zip((num_res or {}).get("rounds") or [], (den_res or {}).get("rounds") or [], strict=False)
    return [r for r in (ratio(round_value(a, key), round_value(b, key)) for a, b in pairs) if r is not None]


def paired_ratio(num_res, den_res, key):
    """The median of the rounds' own ratios: a load that came or went during the comparison falls on
    both servers of a round, and a round disturbed more than the others does not move the median. A
    result of one wrk run (no rounds kept) gives the plain ratio."""
    ratios = paired_ratios(num_res, den_res, key)
    if ratios:
        return statistics.median(ratios)
    a, b = wrk_stats(num_res), wrk_stats(den_res)
    return ratio(a and a[key], b and b[key])


def _round_foreign(rnd):
    return (rnd.get("cpu_s") or {}).get("foreign", 0) / max(rnd.get("wall_s") or 0, 1e-9)


def wrk_stats(res):
    """(req/s, p50 us, p99 us, n, errors, server cores, server us per answer, foreign cores) or None."""
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
        "server_us": server / res["requests"] * 1e6 if server is not None and res["requests"] else None,
        "wrk_cores": (cpu.get("wrk", 0) + cpu.get("proxy", 0)) / wall,
        "foreign": cpu.get("foreign", 0) / wall,
        "foreign_max": max((_round_foreign(r) for r in res.get("rounds") or []), default=cpu.get("foreign", 0) / wall),
        "rounds": len(res.get("rounds") or []),
    }


def idle_line(w, res, n, stats):
    """What each server's container used with no request, and what that is of (b)'s CPU per answer."""
    idle = load(os.path.join(res, f"wrk-{n}-idle.json"))
    if not idle or not idle.get("cores"):
        return
    parts = [f"{SERVERS.get(s, s)} {c:.3f}" for s, c in idle["cores"].items() if c is not None]
    b_idle, b_file = idle["cores"].get("b"), stats.get(("file", "b"))
    share = ""
    if b_idle is not None and b_file and b_file["rps"]:
        share = (f"; at (b)'s file download rate ({fmt_rate(b_file['rps'])}/s) (b)'s idle rate is "
                 f"{b_idle / b_file['rps'] * 1e6:.1f} µs of its CPU per answer")
    w("")
    w(f"Idle, {idle.get('seconds', '?')} s before the rounds with no request, the containers used (cores): "
      + ", ".join(parts) + share + ".")


def rounds_table(w, res, n, others):
    """(b)'s rounds beside the ceilings', one line per URL and round: what each ratio is made of, and
    the other load during each side of it."""
    lines = []
    for ep, ep_name in ENDPOINTS.items():
        b = load(os.path.join(res, f"wrk-{n}-b-{ep}.json")) or {}
        for s in others:
            x = load(os.path.join(res, f"wrk-{n}-{s}-{ep}.json")) or {}
            for k, (rb, rx) in enumerate(zip(b.get("rounds") or [], x.get("rounds") or [], strict=False), 1):
                lines.append(f"| {ep_name} | {s} | {k} | {fmt_rate(round_value(rb, 'rps'))} | {fmt_rate(round_value(rx, 'rps'))} | "
                             f"{fmt_ratio(ratio(round_value(rb, 'rps'), round_value(rx, 'rps')))} | "
                             f"{_round_foreign(rb):.2f} / {_round_foreign(rx):.2f} |")
            ratios = paired_ratios(b, x, "rps")
            if ratios:
                lines.append(f"| {ep_name} | {s} | **median** | | | **{fmt_ratio(statistics.median(ratios))}** "
                             f"({fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))}) | |")
    if lines:
        w("")
        w("Round by round (round k of (b) next to round k of the other; who goes first alternates):")
        w("")
        w("| endpoint | other | round | (b) req/s | other req/s | b÷other | other load (cores) during (b) / the other |")
        w("|---|---|--:|--:|--:|--:|--:|")
        for line in lines:
            w(line)


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


def installs_section(w, res, n, servers, meta):
    times = {s: load(os.path.join(res, f"install-{n}-{s}.json")) for s in servers}
    counts = {s: load(os.path.join(res, f"count-{n}-{s}.json")) for s in servers}
    if not any(times.values()) and not any(counts.values()):
        return
    ceiling = read_text(os.path.join(res, f"ceiling-source-{n}.txt"))
    w("")
    w(f"### Cold installs of `tree-app` (30 projects × 4 versions, every third newest version needs "
      f"Python >= 3.99): median of {meta.get('install_runs', '?')} runs, fresh venv and empty cache each")
    if ceiling:
        w("")
        w(f"(c0) served {ceiling}.")
    w("")
    w("| server | uv pip install s | ÷ ceiling | pip install s | ÷ ceiling | installed |")
    w("|---|--:|--:|--:|--:|--:|")

    def med(s, client):
        t = times.get(s) or {}
        return ((t.get("clients") or {}).get(client) or {}).get("median_s")

    for s in servers:
        if s == "c":
            continue
        t = times.get(s)
        if not t:
            w(f"| {SERVERS[s]} | – | – | – | – | – |")
            continue
        cells = []
        for client in ("uv", "pip"):
            m = med(s, client)
            cells.append("–" if m is None else f"{m:.2f}")
            cells.append(fmt_ratio(ratio(m, med("c0", client))))
        runs = [r for c in t["clients"].values() for r in c["runs"]]
        installed = max((r.get("installed", 0) for r in runs), default=0)
        w(f"| {SERVERS[s]} | " + " | ".join(cells) + f" | {installed} |")
    for s in servers:
        for client, c in ((times.get(s) or {}).get("clients") or {}).items():
            err = next((r["error"] for r in c["runs"] if r.get("error")), None)
            if err:
                w("")
                w(f"{SERVERS[s]} {client} error: `{err.strip().splitlines()[-1][:300]}`")
    if "b" in servers and "c0" in servers:
        verdicts = []
        for client in ("uv", "pip"):
            b, c0 = med("b", client), med("c0", client)
            peers = {s: med(s, client) for s in ("a", "d") if s in servers}
            if b is None or c0 is None:
                continue
            within = b / c0 <= TARGET
            against = [f"{'faster' if p is not None and b < p else '**not** faster'} than {SERVERS[s]} "
                       f"({'–' if p is None else f'{p:.2f} s'})" for s, p in peers.items()]
            verdicts.append(f"{client}: (b) {b:.2f} s is {b / c0:.2f}× the ceiling "
                            f"({'within' if within else '**not** within'} {TARGET}×), " + ", ".join(against))
        if verdicts:
            w("")
            w("Targets: " + "; ".join(verdicts) + ".")
    if any(counts.values()):
        w("")
        w("One cold install through a counting proxy on 127.0.0.1 (response bytes as the client received them):")
        w("")
        w("| server | client | pages | metadata files | wheels (whole) | wheels (Range) | total MB | wheels fetched, not installed |")
        w("|---|---|--:|--:|--:|--:|--:|--|")
        for s in servers:
            for client, c in ((counts.get(s) or {}).get("clients") or {}).items():
                if c.get("skipped"):
                    w(f"| {SERVERS[s]} | {client} | not counted: {c['skipped']} | | | | | |")
                    continue
                k = c.get("kinds", {})

                def cell(kind, k=k):
                    v = k.get(kind)
                    return "0" if not v else f"{v['requests']}× {v['bytes'] / 1e3:,.0f} kB"
                total = sum(v["bytes"] for v in k.values()) / 1e6
                needless = c.get("wheels_not_installed") or []
                shown = ", ".join(x.split("-py3")[0] for x in needless[:4]) + (" …" if len(needless) > 4 else "")
                status = "" if not c.get("exit") else " (install failed)"
                w(f"| {SERVERS[s]} | {client}{status} | {cell('page')} | {cell('metadata')} | {cell('wheel')} | "
                  f"{cell('wheel (range)')} | {total:.2f} | {len(needless)}{': ' + shown if needless else ''} |")


UPSTREAM_PATHS = {
    "s": "(s) straight from the stand-in (no cache: every run asks it)",
    "b": "(b) role, upstream on",
    "d": "(d) devpi, mirror index",
    "c0": "(c0) ceiling: (b)'s pages and stored files, static, no auth",
}
UPSTREAM_WARM_TARGET = 1.1  # warm installs through (b) within this factor of the static ceiling
UPSTREAM_COLD_TARGET = 1.5  # cold installs through (b) within this factor of straight from the stand-in


def _median(res, client):
    return (((res or {}).get("clients") or {}).get(client) or {}).get("median_s")


def _asked(res, client):
    """What each run asked of the stand-in (pages/metadata/files), as a range over the runs."""
    runs = [r["standin"] for r in (((res or {}).get("clients") or {}).get(client) or {}).get("runs", []) if r.get("standin")]
    if not runs:
        return "–"
    cells = []
    for key in ("pages", "metadata", "files"):
        lo, hi = min(r[key] for r in runs), max(r[key] for r in runs)
        cells.append(str(lo) if lo == hi else f"{lo}–{hi}")
    return " / ".join(cells)


def _loads(results):
    values = [r["loadavg"] for res in results for c in ((res or {}).get("clients") or {}).values()
              for r in c.get("runs", []) if r.get("loadavg") is not None]
    return f"{min(values):.2f}–{max(values):.2f}" if values else "?"


def upstream_verdicts(times):
    """The issue's three targets, per client, from {(path, state): installs.py time JSON}."""
    lines = []
    for client in ("uv", "pip"):
        b_warm, b_cold = _median(times.get(("b", "warm")), client), _median(times.get(("b", "cold")), client)
        c0, d_warm, direct = (_median(times.get(("c0", "warm")), client), _median(times.get(("d", "warm")), client),
                              _median(times.get(("s", "cold")), client))
        parts = []
        if b_warm is not None and c0:
            ok = b_warm <= UPSTREAM_WARM_TARGET * c0
            parts.append(f"warm (b) {b_warm:.2f} s is {b_warm / c0:.2f}× the ceiling's {c0:.2f} s "
                         f"({'within' if ok else '**missed**:'} {UPSTREAM_WARM_TARGET}×)")
        if b_warm is not None and d_warm is not None:
            ok = b_warm < d_warm
            parts.append(f"warm (b) {'faster' if ok else '**not faster**'} than devpi's mirror ({d_warm:.2f} s)")
        if b_cold is not None and direct:
            ok = b_cold <= UPSTREAM_COLD_TARGET * direct
            parts.append(f"cold (b) {b_cold:.2f} s is {b_cold / direct:.2f}× straight from the stand-in's {direct:.2f} s "
                         f"({'within' if ok else '**missed**:'} {UPSTREAM_COLD_TARGET}×)")
        if parts:
            lines.append(f"{client}: " + "; ".join(parts))
    return lines


def upstream_section(w, res, meta):
    times = {(s, state): load(os.path.join(res, f"upstream-{s}-{state}.json"))
             for s in UPSTREAM_PATHS for state in ("cold", "warm")}
    if not any(times.values()):
        return
    w("")
    w(f"## Public packages through one index: `pub-app` from an upstream (issue 16), median of "
      f"{meta.get('upstream_runs', '?')} runs")
    w("")
    w("The project's upstream stand-in (`tests/support/upstream_standin.py`, run by `benchmarks/upstream_tree.py` "
      "in a container) serves a public tree shaped like `tree-app`: `pub-app` and 29 `pub-lib-NN`, 4 versions each, "
      "wheels of 20-120 kB, PEP 691 JSON with PEP 658 metadata, every file 30+ days old (past the role's default "
      "7-day cooldown). Each install: a fresh venv and an empty client cache. **Cold**: the server has nothing "
      "cached ((b): its upstream pages, files and sidecars removed before each run; (d): a new mirror index per run); "
      "**warm**: filled by one install of each client first. The servers run side by side and the paths' runs take "
      "turns, round by round, so a change of the machine's load falls on all of them. (b) has the role's defaults (authentication on, "
      "an empty private store) plus `pypiserver_upstream_enabled`/`_url`; (d) devpi-server 6.20.3, a mirror "
      "index with `mirror_no_project_list` and `mirror_provides_core_metadata`, no authentication.")
    source = read_text(os.path.join(res, "ceiling-source-upstream.txt"))
    if source:
        w(f"(c0) served {source}.")
    w("")
    w("| path | uv cold s | uv warm s | pip cold s | pip warm s | one page, one connection, ms (median / p90) "
      "| stand-in asked per cold run (pages / metadata / files), uv; pip | per warm run, uv; pip |")
    w("|---|--:|--:|--:|--:|--:|--|--|")
    for s, label in UPSTREAM_PATHS.items():
        cold, warm = times.get((s, "cold")), times.get((s, "warm"))
        if not cold and not warm:
            continue
        cells = []
        for client in ("uv", "pip"):
            for res_ in (cold, warm):
                m = _median(res_, client)
                cells.append("–" if m is None else f"{m:.2f}")
        asked = [f"{_asked(cold, 'uv')}; {_asked(cold, 'pip')}" if cold else "–",
                 f"{_asked(warm, 'uv')}; {_asked(warm, 'pip')}" if warm else "–"]
        latency = load(os.path.join(res, f"upstream-latency-{s}.json"))
        cells.append(f"{latency['median_ms']:.1f} / {latency['p90_ms']:.1f}" if latency else "–")
        w(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(asked) + " |")
    w("")
    w("One page, one connection: every page of the tree three times, one request at a time on one keep-alive "
      "connection (as pip asks; uv asks in parallel), after the warm runs: a stall per answer shows here.")
    w("")
    w(f"Load average (1 min) at the start of the runs: {_loads(list(times.values()))}.")
    verdicts = upstream_verdicts(times)
    if verdicts:
        w("")
        w("Targets (issue 16): " + " ".join(f"{v}." for v in verdicts))


def scale_section(w, res, meta):
    sc = load(os.path.join(res, "scale.json"))
    fail = read_text(os.path.join(res, "fail-scale.txt"))
    if not sc and not fail:
        return
    w("")
    w(f"## Render at scale: the role (b) on {meta.get('scale', '?')} files")
    if fail:
        w("")
        w(f"**failed**: {fail[:600]}")
    note = read_text(os.path.join(res, "note-scale.txt"))
    if note:
        w("")
        w(f"Note: {note}.")
    if not sc:
        return
    w("")
    w("| measurement | value |")
    w("|---|--:|")
    store = sc.get("store_bytes") or 0
    w(f"| files in the store | {sc['files']:,} ({store / 1e6:,.0f} MB) |")
    w(f"| first render of the existing store (no pages, renderer started): last project's page served after | "
      f"{sc.get('first_render_s')} s |")
    w(f"| first render: renderer CPU, bytes it read | {sc.get('first_render_cpu_s')} s, "
      f"{(sc.get('first_render_read_bytes') or 0) / 1e6:,.0f} MB |")
    for label, f in (sc.get("freshness") or {}).items():
        value = f.get("error") or f"{f.get('listed_after_s')} s" + ("" if f.get("sha256_ok") else " (**sha256 missing**)")
        w(f"| one upload ({label}) listed on the instance that took it after (target 1 s) | {value} |")
    r = sc.get("restart") or {}
    w(f"| renderer restart: first pass done after | {r.get('first_pass_s')} s |")
    w(f"| renderer restart: CPU, bytes read (re-hashing the store reads all of it) | {r.get('cpu_s')} s, "
      f"{(r.get('read_bytes') or 0) / 1e6:,.0f} MB |")
    w(f"| pages correct while it restarted | {r.get('pages_ok_during')} |")
    if sc.get("first_render_log"):
        w("")
        w("Renderer log: " + "; ".join(f"`{x}`" for x in sc["first_render_log"]))


FLOOD_P99_MS = 10  # the cached user's p99 during the flood stays below this


def _flood_path(f):
    """How the flood reached the server, beside the cached user's way (the published port)."""
    if f.get("flood_url", f.get("url")) == f.get("url"):
        return "through the user's own published port"
    return "by the container's bridge address, not through the user's docker-proxy"


def flood_section(w, res, n):
    f = load(os.path.join(res, f"flood-{n}-b.json"))
    if not f:
        return
    w("")
    flood, user = f.get("flood") or {}, f.get("cached_user") or {}
    lat = user.get("latency_us") or {}
    if not flood or not lat:
        w(f"Flood against (b): **no result** ({json.dumps(f.get('error'))[:300]}).")
        return
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(flood.get("statuses", {}).items()))
    p99 = lat.get("p99", 0) / 1000
    verdict = "within" if p99 < FLOOD_P99_MS else "**over**"
    w(f"Flood against (b): {flood.get('requests', 0):,} distinct bad credentials "
      f"({f.get('connections', '?')} connections, wrk at the lowest CPU priority: an attacker's machine "
      f"is not the server's; {_flood_path(f)}) in {f.get('wall_s', 0):.1f} s, answered {statuses}. Meanwhile a user "
      f"whose verdict is cached, one request at a time on one connection, each timed on its own, over "
      f"the flood: {user.get('requests', 0):,} "
      f"requests, p50 {fmt_ms(lat.get('p50'))} ms, p99 {fmt_ms(lat.get('p99'))} ms ({verdict} the "
      f"{FLOOD_P99_MS} ms target), max {fmt_ms(lat.get('max'))} ms, "
      f"{sum((user.get('errors') or {}).values())} errors; load average before: {' '.join(f.get('loadavg', []))}.")


def _mib(value):
    return "–" if value is None else f"{value / 1048576:.0f} MiB"


def memory_section(w, res, n):
    """(b)'s memory peaks under the run's load (measure.py memory): the container and its units."""
    m = load(os.path.join(res, f"memory-{n}-b.json"))
    if not m:
        return
    w("")
    if not m.get("samples"):
        w("(b)'s memory: **no sample**.")
        return
    units = sorted((m.get("units") or {}).items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {_mib(value)}" for name, value in units if value >= 1048576)
    w(f"(b)'s memory from its deployment's end to its flood's end ({m['samples']:,} samples every "
      f"{m.get('interval_s', 0.5)} s; anonymous and shared memory, which no reclaim gives back): the container at "
      f"most {_mib(m.get('container'))} ({_mib(m.get('container_with_cache'))} with the page cache of the files "
      f"served); each unit's peak: {shown or 'none over 1 MiB'}.")


def main(run):
    meta = load(os.path.join(run, "meta.json")) or {}
    res = os.path.join(run, "results")
    servers = [s for s in SERVERS if s in meta.get("servers", "a,b,c0,d").split(",")]
    sizes = [int(x) for x in str(meta.get("projects", "")).split(",") if x and int(x) > 0]
    out = []
    w = out.append

    w(f"# privatepypi benchmark, run {meta.get('run_id', os.path.basename(run))}")
    w("")
    w(f"One machine ({meta.get('nproc', '?')} cores, kernel {meta.get('kernel', '?')}), "
      f"git {meta.get('git', '?')}. Every server in its own container of the project's "
      "Debian 12 systemd image, port published on 127.0.0.1; (b), (c) and (c0) up at once, (a) and (d) "
      f"each alone. Load: {meta.get('wrk', 'wrk')}, 2 threads, 8 connections, `--latency`, basic auth header, "
      f"timeout 60 s, {meta.get('duration', '?')} s per server and URL"
      + (f" in {meta['rounds']} rounds of {meta.get('round_seconds', '?')} s: on each URL the servers take turns "
         "round by round, the order reversed every other round, so a load that comes or goes on the machine "
         "falls on all of them. "
         if meta.get("rounds") else ". ") +
      f"pip: `pip download --no-deps` of {meta.get('pip_packages', 20)} packages, cold cache "
      f"(fresh cache and destination directory, pip config ignored), median of "
      f"{meta.get('pip_runs', '?')} runs (wall time includes pip's own start-up).")
    if meta.get("bcrypt_ms") is not None:
        w("")
        w(f"One bcrypt cost-12 check on this machine took {meta['bcrypt_ms']:.0f} ms "
          f"(median of 5, before the run; load average then: {meta.get('loadavg', '?')}): "
          "every request that checks the password with bcrypt costs that much CPU.")
    w("")
    w("- **(c0) the ceiling**: nginx (Debian 12) serving the very pages and files (b) rendered and "
      "stored (copied out of (b) after its run), with no authentication at all: the limit of serving "
      "these bytes on this machine.")
    w("- **(d) devpi**: devpi-server 6.20.3 from PyPI with its defaults, holding the tree-app data "
      "only (uploaded with twine); devpi has no read authentication without the devpi-lockdown "
      "plugin behind nginx, so it serves reads anonymously (an advantage).")
    w("- **(a) pypiserver**: pypiserver 2.4.2 as in its own systemd example: "
      "`pypi-server run -p 8080 -a update,download -P htpasswd --disable-fallback DIR`, "
      "default server (no WSGI server installed), passlib 1.7.4.")
    w("- **(b) role**: `privatepypi.aws.pypiserver` with its defaults (one user), deployed by "
      "`benchmarks/deploy.yml`.")
    if "c" in servers:
        w("- **(c)**: (c0) with `auth_basic` and a hash made like (b)'s (bcrypt cost 12): one bcrypt "
          "per request, no credential cache.")
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
        w("| endpoint | server | req/s | p50 ms | p99 ms | requests | errors | server CPU (cores) | server CPU µs per answer "
          "| other load (cores, mean / worst round) |")
        w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        stats = {}
        few = noisy = False
        for ep, ep_name in ENDPOINTS.items():
            for s in servers:
                st = wrk_stats(load(os.path.join(res, f"wrk-{n}-{s}-{ep}.json")))
                stats[(ep, s)] = st
                if st is None:
                    w(f"| {ep_name} | {SERVERS[s]} | – | – | – | – | – | – | – | – |")
                    continue
                mark = ""
                if st["n"] < FEW_SAMPLES:
                    mark, few = " †", True
                other = f"{st['foreign']:.2f} / {st['foreign_max']:.2f}"
                if st["foreign"] > NOISY_CORES:
                    other, noisy = other + " ⚠", True
                errs = f"**{st['errors']}**" if st["errors"] else "0"
                srv = f"{st['server_cores']:.2f}" if st["server_cores"] is not None else "–"
                per_answer = f"{st['server_us']:.1f}" if st["server_us"] is not None else "–"
                w(f"| {ep_name} | {SERVERS[s]} | {fmt_rate(st['rps'])} | {fmt_ms(st['p50'])} | "
                  f"{fmt_ms(st['p99'])}{mark} | {st['n']:,} | {errs} | {srv} | {per_answer} | {other} |")
        if few:
            w("")
            w(f"† fewer than {FEW_SAMPLES} requests completed: p99 is in effect the slowest request.")
        if noisy:
            w("")
            w(f"⚠ other processes on the machine used more than {NOISY_CORES} cores during "
              "this measurement" + (": the servers' rounds took turns under it (the rounds below)."
                                    if any(st and st["rounds"] for st in stats.values())
                                    else ": rerun on a quiet machine before comparing."))
        idle_line(w, res, n, stats)
        if "b" in servers:
            rounds_table(w, res, n, [s for s in PAIRED if s in servers])

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

        flood_section(w, res, n)
        memory_section(w, res, n)
        installs_section(w, res, n, servers, meta)

        others = [s for s in ("a", "c", "c0") if s in servers]
        if "b" in servers and others:
            w("")
            heads = [("a", "b÷a"), ("c", "b÷c"), ("c0", "b÷c0 (ceiling)")]
            heads = [(s, h) for s, h in heads if s in others]
            if any(s in PAIRED for s, _ in heads):
                w("Ratios to (c) and (c0), measured in turns with (b): the median of the rounds' own ratios "
                  "(round k of (b) against round k of the other, run next to it in time); to (a), measured "
                  "alone: the ratio of the totals.")
                w("")
            w("| ratio of (b) to | " + " | ".join(h for _, h in heads) + " |")
            w("|---|" + "--:|" * len(heads))
            for ep, ep_name in ENDPOINTS.items():
                for key, label in (("rps", "req/s"), ("p50", "p50"), ("p99", "p99")):
                    b = stats.get((ep, "b"))
                    cells = []
                    for s, _ in heads:
                        x = stats.get((ep, s))
                        if s in PAIRED:  # measured in turns with (b): the median of the rounds' own ratios
                            cells.append(fmt_ratio(paired_ratio(load(os.path.join(res, f"wrk-{n}-b-{ep}.json")),
                                                                load(os.path.join(res, f"wrk-{n}-{s}-{ep}.json")), key)))
                        else:
                            cells.append(fmt_ratio(ratio(b and b[key], x and x[key])))
                    w(f"| {ep_name} {label} | " + " | ".join(cells) + " |")
            bp = pips.get("b")
            cells = [fmt_ratio(ratio(bp and bp["median"], pips.get(s) and pips[s]["median"]))
                     for s, _ in heads]
            w("| pip download time | " + " | ".join(cells) + " |")

    upstream_section(w, res, meta)
    scale_section(w, res, meta)

    total = read_text(os.path.join(res, "total-seconds.txt"))
    if total:
        w("")
        w(f"Total run time: {int(total) // 60} min {int(total) % 60} s.")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
