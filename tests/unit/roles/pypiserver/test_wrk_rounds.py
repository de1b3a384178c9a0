"""The benchmark's comparison of (b) with the ceiling under a moving load (benchmarks/run.sh, issue 17):
measure.py's rounds take turns between the servers, the order reversed every other round, each round
with its own other-load; a round with failed requests fails the step with its reason; report.py's ratio
is the median of the rounds' own ratios, so a load that falls on one round moves neither the ratio nor
a cell of the report. Real wrk against two servers on loopback, where wrk is installed."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from benchmark_scripts import BENCHMARKS, load

measure = load("measure")
report = load("report")


def _round(rps, p50=1000, p99=5000, foreign=0.0, seconds=2.0, server=None):
    requests = int(rps * seconds)
    return {"url": "http://127.0.0.1:1/", "wall_s": seconds, "exit": 0, "requests": requests, "duration_us": int(seconds * 1e6),
            "bytes": requests * 100, "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
            "latency_us": {"min": 100, "mean": 1200.0, "max": 9000, "p50": p50, "p90": 3000, "p99": p99},
            "cpu_s": {"host": 3.0, "wrk": 1.0, "proxy": 0.5, "server": server if server is not None else requests * 50e-6,
                      "idle_servers": 0.01, "rest": 0.2, "foreign": foreign * seconds}}


def test_the_servers_take_turns_and_none_always_goes_first():
    orders = [measure.round_order(["b", "c", "c0"], k) for k in range(4)]
    assert orders == [["b", "c", "c0"], ["c0", "c", "b"], ["b", "c", "c0"], ["c0", "c", "b"]]
    # over two rounds each server stands once before and once after each other one
    assert measure.round_order(["b", "c0"], 0)[0] != measure.round_order(["b", "c0"], 1)[0]


def test_rounds_add_up_to_one_result_that_keeps_each_round():
    rounds = [_round(1000, p50=900, p99=4000), _round(3000, p50=1100, p99=6000), _round(2000, p50=1000, p99=9000)]
    total = measure.aggregate_rounds(rounds)
    assert total["requests"] == 12000 and total["duration_us"] == 6_000_000 and total["rounds"] == rounds
    assert total["latency_us"]["p50"] == 1000 and total["latency_us"]["p99"] == 6000  # the median round's
    assert total["cpu_s"]["server"] == pytest.approx(12000 * 50e-6) and total["errors"]["status"] == 0
    stats = report.wrk_stats(total)
    assert stats["rps"] == pytest.approx(2000) and stats["server_us"] == pytest.approx(50) and stats["rounds"] == 3


@pytest.mark.parametrize(("change", "reason"), [
    ({"errors": {"connect": 0, "read": 0, "write": 0, "status": 7, "timeout": 0}}, "failed requests status: 7"),
    ({"requests": 0}, "no request answered"),
    ({"exit": 1}, "wrk exited with 1"),
    ({"error": "unable to connect"}, "wrk: unable to connect"),
])
def test_a_round_that_cannot_be_counted_says_why(change, reason):
    assert measure.round_problem(_round(1000)) is None
    assert measure.round_problem(dict(_round(1000), **change)) == reason


def test_the_ratio_is_the_median_of_the_rounds_own_and_one_loaded_round_does_not_move_it():
    # round 3: another job took a core while (b) ran, not while the ceiling ran
    b = measure.aggregate_rounds([_round(8000), _round(8200), _round(3000, foreign=0.9), _round(8100), _round(7900)])
    c0 = measure.aggregate_rounds([_round(10000), _round(10000), _round(10100), _round(9900), _round(10000)])
    ratios = report.paired_ratios(b, c0, "rps")
    assert len(ratios) == 5 and min(ratios) < 0.3
    assert report.paired_ratio(b, c0, "rps") == pytest.approx(0.8)
    # the totals' ratio would have carried the loaded round: 0.70
    assert report.ratio(report.wrk_stats(b)["rps"], report.wrk_stats(c0)["rps"]) < 0.71
    assert report.paired_ratio(b, c0, "p50") == pytest.approx(1.0)
    # one wrk run each (a result without rounds, as before): the plain ratio
    assert report.paired_ratio(_round(800), _round(1000), "rps") == pytest.approx(0.8)


def _run_dir(tmp_path, b_rounds, c0_rounds):
    results = tmp_path / "results"
    results.mkdir()
    (tmp_path / "meta.json").write_text(json.dumps({"projects": "100", "servers": "b,c0", "duration": 10, "rounds": 5,
                                                    "round_seconds": 2}))
    for endpoint in report.ENDPOINTS:
        for label, rounds in (("b", b_rounds), ("c0", c0_rounds)):
            (results / f"wrk-100-{label}-{endpoint}.json").write_text(json.dumps(measure.aggregate_rounds(rounds)))
    return str(tmp_path)


def test_the_report_shows_each_round_its_other_load_and_the_paired_median(tmp_path, capsys):
    run = _run_dir(tmp_path, [_round(8000), _round(3000, foreign=0.9), _round(8000)],
                   [_round(10000), _round(10000), _round(10000, foreign=0.1)])
    report.main(run)
    text = capsys.readouterr().out
    assert "take turns" in text and "median of the rounds' own ratios" in text
    assert "| file download | c0 | 2 | 3,000 | 10,000 | 0.30× | 0.90 / 0.00 |" in text
    assert "| file download | c0 | **median** | | | **0.80×** (0.30×–0.80×) | |" in text
    assert "| file download req/s | 0.80× |" in text  # the ratio table: the paired median, not 19000/30000
    assert "| 50.0 | 0.30 / 0.90 ⚠ |" in text  # (b)'s mean and worst round's other load, µs per answer beside


def test_the_report_says_what_each_container_used_idle_and_what_that_is_per_answer(tmp_path, capsys):
    run = _run_dir(tmp_path, [_round(10000)] * 2, [_round(12000)] * 2)
    (tmp_path / "results" / "wrk-100-idle.json").write_text(json.dumps({"seconds": 5, "cores": {"b": 0.02, "c0": 0.0}}))
    report.main(run)
    text = capsys.readouterr().out
    assert "the containers used (cores): (b) role 0.020, (c0) ceiling: static, no auth 0.000" in text
    assert "(b)'s idle rate is 2.0 µs of its CPU per answer" in text


def test_idle_cores_is_each_containers_own_rate(monkeypatch):
    used = {"busy": iter([1_000_000_000, 1_100_000_000]), "still": iter([5, 5])}
    monkeypatch.setattr(measure, "_container_cpu_ns", lambda cid: next(used[cid]) if cid in used else None)
    monkeypatch.setattr(measure.time, "sleep", lambda seconds: None)
    ticks = iter([100.0, 102.0])
    monkeypatch.setattr(measure.time, "monotonic", lambda: next(ticks))
    assert measure.idle_cores({"b": "busy", "c0": "still", "x": ""}, 2) == {"b": pytest.approx(0.05), "c0": 0.0, "x": None}


class _Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200

    def do_GET(self):  # noqa: N802 - the name http.server calls
        body = b"ok"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Refusing(_Answer):
    status = 500


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("failing", [False, True], ids=["both-answer", "one-fails"])
def test_rounds_against_real_servers_alternate_and_a_failing_one_fails_the_step(tmp_path, failing):
    servers = [_serve(_Answer), _serve(_Refusing if failing else _Answer)]
    try:
        spec = {"servers": [{"label": label, "auth": "", "urls": {"file": f"http://127.0.0.1:{s.server_address[1]}/f"}}
                            for label, s in zip(("b", "c0"), servers, strict=True)]}
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run([sys.executable, os.path.join(BENCHMARKS, "measure.py"), "rounds", "--spec", str(tmp_path / "spec.json"),
                               "--endpoints", "file", "--rounds", "2", "--round-seconds", "1", "--threads", "1", "--connections", "2",
                               "--idle-seconds", "0",
                               "--out-prefix", str(tmp_path / "wrk")], capture_output=True, text=True, timeout=60, check=False)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
    if failing:
        assert done.returncode != 0 and "c0 file round 1 of 2: failed requests status:" in done.stderr
        assert not (tmp_path / "wrk-b-file.json").exists()  # nothing half-measured reaches the report
        return
    assert done.returncode == 0, done.stderr
    b, c0 = (json.loads((tmp_path / f"wrk-{label}-file.json").read_text()) for label in ("b", "c0"))
    assert [r["round"] for r in b["rounds"]] == [1, 2] and [r["position"] for r in b["rounds"]] == [1, 2]
    assert [r["position"] for r in c0["rounds"]] == [2, 1]
    assert b["rounds"][0]["started_at"] < c0["rounds"][0]["started_at"] < c0["rounds"][1]["started_at"] < b["rounds"][1]["started_at"]
    assert all("foreign" in r["cpu_s"] and r["requests"] > 0 for r in b["rounds"] + c0["rounds"])
    assert report.paired_ratio(b, c0, "rps") > 0
