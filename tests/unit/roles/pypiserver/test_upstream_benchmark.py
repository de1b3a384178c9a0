"""The public-packages benchmark (benchmarks/run.sh --upstream): the stand-in's public tree as
benchmarks/upstream_tree.py serves it (against the real stand-in and the role's own upstream policy),
its request counter, the ceiling's page capture, installs.py's refusal of a run that is not what it
claims (cold, warm, failed), and report.py's verdicts on the issue's targets."""

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
from privatepypi_host import upstream as upstream_service

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)
import installs  # noqa: E402
import make_dataset  # noqa: E402
import report  # noqa: E402
import upstream_tree  # noqa: E402


@pytest.fixture
def standin():
    served = upstream_tree.start_standin("127.0.0.1", 0, age_days=30)
    yield served
    served.stop()


def _get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return response.read()


def test_the_public_tree_is_the_private_tree_s_shape_under_names_of_its_own():
    """tree-app's shape (30 projects, all reached from the root: tests/clients/test_benchmark_tools.py),
    renamed: the private data set in the same store must not hide the public upstream_tree."""
    releases = upstream_tree.releases()
    assert len({r[0] for r in releases}) == 30 and not any(r[0].startswith("tree-") for r in releases)
    as_private = [(n.replace("pub-", "tree-", 1), v, py, [r.replace("pub-", "tree-", 1) for r in reqs], size)
                  for n, v, py, reqs, size in releases]
    assert as_private == make_dataset.tree_releases()


def test_the_standin_serves_the_payload_wheels_their_metadata_and_counts_every_request(standin):
    page = json.loads(_get(standin.url + "pub-lib-01/"))
    assert len(page["files"]) == 4
    entry = page["files"][-1]
    file_url = urllib.parse.urljoin(standin.url + "pub-lib-01/", entry["url"])
    data = _get(file_url)
    assert hashlib.sha256(data).hexdigest() == entry["hashes"]["sha256"]
    assert len(data) > 20_000  # make_dataset's incompressible payload, not the stand-in's tiny wheel
    metadata = _get(file_url + ".metadata")
    assert hashlib.sha256(metadata).hexdigest() == entry["core-metadata"]["sha256"]
    assert b"Requires-Dist: pub-lib-03>=1.0" in metadata and b"Requires-Python: >=3.99" in metadata
    assert upstream_tree.counts(standin) == {"pages": 1, "metadata": 1, "files": 1, "requests": 3}


def test_the_role_s_upstream_policy_with_its_default_cooldown_offers_every_version(standin, tmp_path):
    """Every path must offer the same versions, or the figures compare different installs."""
    policy = upstream_service.Upstream(str(tmp_path), standin.url)  # the role's defaults: a 7-day cooldown
    for name in upstream_tree.project_names():
        page, base_url, _state = policy.page(name)
        assert len(policy.visible_files(name, page, base_url)) == 4, name


def test_the_control_port_reports_and_resets_the_counter(standin):
    control = upstream_tree.control_server(standin, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{control.server_address[1]}"
    try:
        _get(standin.url + "pub-app/")
        with pytest.raises(urllib.error.HTTPError, match="404"):
            _get(standin.url + "no-such-project/")
        assert json.loads(_get(base + "/counts")) == {"pages": 2, "metadata": 0, "files": 0, "requests": 2}
        reset = urllib.request.Request(base + "/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as response:  # noqa: S310 (loopback)
            assert json.load(response)["requests"] == 0
        assert upstream_tree.counts(standin)["requests"] == 0
    finally:
        control.shutdown()
        control.server_close()


def test_pages_for_the_ceiling_are_saved_as_answered_and_a_short_page_fails(standin, tmp_path):
    upstream_tree.main(["pages", "--index", standin.url, "--out", str(tmp_path / "simple")])
    saved = tmp_path / "simple" / "pub-lib-11" / "index.json"
    assert saved.read_bytes() == _get(standin.url + "pub-lib-11/")
    assert (tmp_path / "simple" / "pub-app" / "index.html").exists()
    with standin.lock:  # the server offers one version fewer than the tree has
        del standin.files["pub_lib_11-2.1.0-py3-none-any.whl"]
    with pytest.raises(SystemExit, match=r"pub-lib-11 \(json\) HTTP 200, missing \['pub_lib_11-2.1.0-py3-none-any.whl'\]"):
        upstream_tree.main(["pages", "--index", standin.url, "--out", str(tmp_path / "again")])


def test_page_latency_asks_every_page_one_at_a_time_and_a_missing_page_fails(standin):
    result = upstream_tree.page_latency(standin.url)
    assert result["requests"] == 90 and 0 < result["median_ms"] <= result["p90_ms"] <= result["max_ms"]
    # no stall on the client's delayed ACK (about 40 ms an answer with Nagle's algorithm on)
    assert result["median_ms"] < 20, result
    assert upstream_tree.counts(standin) == {"pages": 90, "metadata": 0, "files": 0, "requests": 90}
    with standin.lock:
        for filename in [f for f, e in standin.files.items() if e["name"] == "pub-lib-29"]:
            del standin.files[filename]
    with pytest.raises(RuntimeError, match="pub-lib-29: HTTP 404"):
        upstream_tree.page_latency(standin.url)


def _parser_args(installs, *extra):
    return installs.build_parser().parse_args(
        ["time", "--index-url", "http://127.0.0.1:9/simple/", "--bindir", "/nonexistent", "--out", "x", *extra])


@pytest.mark.parametrize(("expect", "seen", "problem"), [
    ("cold", {"pages": 30, "metadata": 30, "files": 30}, None),
    ("cold", {"pages": 0, "metadata": 0, "files": 0}, "the server's cache was not empty"),
    ("warm", {"pages": 0, "metadata": 0, "files": 0}, None),
    ("warm", {"pages": 0, "metadata": 0, "files": 2}, "the server had not kept them"),
    ("warm", {"pages": 0, "metadata": 1, "files": 0}, "the server had not kept them"),
])
def test_a_run_that_is_not_what_it_claims_is_refused(expect, seen, problem):
    args = _parser_args(installs, "--expect", expect, "--expect-installed", "30")
    found = installs.check_run({"exit": 0, "installed": 30, "standin": seen}, args)
    assert found is None if problem is None else problem in found


def test_a_failed_or_short_install_is_refused():
    args = _parser_args(installs, "--expect-installed", "30")
    assert "exit 1: No solution found" in installs.check_run({"exit": 1, "installed": 0, "error": "No solution found"}, args)
    assert "29 distributions installed, 30 expected" in installs.check_run({"exit": 0, "installed": 29}, args)


def test_a_reset_that_fails_fails_the_step_with_its_reason(tmp_path):
    out = tmp_path / "t.json"
    args = _parser_args(installs, "--reset", "echo cannot empty the cache >&2; exit 3", "--runs", "2")
    args.out = str(out)
    with pytest.raises(SystemExit, match=r"the reset before a run failed \(exit 3\): cannot empty the cache"):
        installs.cmd_time(args)
    assert json.loads(out.read_text())["failed"][0].startswith("uv run 1: the reset before a run failed")


def test_rounds_taken_in_turn_add_up_in_one_result_and_an_earlier_failure_stays(tmp_path):
    out = tmp_path / "upstream-b-warm.json"
    out.write_text(json.dumps({"clients": {"uv": {"runs": [{"wall_s": 0.5, "exit": 0}, {"wall_s": 0.9, "exit": 0}],
                                                  "median_s": 0.7},
                                           "pip": {"runs": [{"wall_s": 2.0, "exit": 0}], "median_s": 2.0}},
                               "failed": ["pip run 2: exit 1: boom"]}))
    args = _parser_args(installs, "--append", "--runs", "0")
    args.out = str(out)
    installs.cmd_time(args)  # no new failure: this round passes, the earlier one is still recorded
    merged = json.loads(out.read_text())
    assert [r["wall_s"] for r in merged["clients"]["uv"]["runs"]] == [0.5, 0.9]
    assert merged["clients"]["uv"]["median_s"] == pytest.approx(0.7) and merged["clients"]["pip"]["median_s"] == 2.0
    assert merged["failed"] == ["pip run 2: exit 1: boom"]


def _timed(medians, runs_seen=None):
    return {"clients": {client: {"median_s": m, "runs": [{"wall_s": m, "exit": 0, "installed": 30, "loadavg": 1.5,
                                                          "standin": runs_seen or {"pages": 30, "metadata": 30, "files": 30}}]}
                        for client, m in medians.items()}}


def test_the_targets_are_judged_as_the_issue_sets_them():
    times = {("s", "cold"): _timed({"uv": 2.0, "pip": 3.0}), ("b", "cold"): _timed({"uv": 2.9, "pip": 4.6}),
             ("b", "warm"): _timed({"uv": 1.1, "pip": 2.3}), ("c0", "warm"): _timed({"uv": 1.0, "pip": 2.0}),
             ("d", "warm"): _timed({"uv": 1.5, "pip": 2.2})}
    uv, pip = report.upstream_verdicts(times)
    assert "warm (b) 1.10 s is 1.10× the ceiling's 1.00 s (within 1.1×)" in uv
    assert "warm (b) faster than devpi's mirror (1.50 s)" in uv
    assert "cold (b) 2.90 s is 1.45× straight from the stand-in's 2.00 s (within 1.5×)" in uv
    assert "1.15× the ceiling's 2.00 s (**missed**: 1.1×)" in pip
    assert "warm (b) **not faster** than devpi's mirror (2.20 s)" in pip
    assert "cold (b) 4.60 s is 1.53× straight from the stand-in's 3.00 s (**missed**: 1.5×)" in pip


def test_the_section_shows_each_path_what_it_asked_of_the_standin_and_the_load(tmp_path):
    (tmp_path / "upstream-s-cold.json").write_text(json.dumps(_timed({"uv": 2.0, "pip": 3.0})))
    (tmp_path / "upstream-latency-b.json").write_text(json.dumps({"requests": 90, "median_ms": 44.0, "p90_ms": 48.5, "max_ms": 50}))
    (tmp_path / "upstream-b-warm.json").write_text(json.dumps(_timed({"uv": 1.1, "pip": 2.3}, {"pages": 0, "metadata": 0, "files": 0})))
    lines = []
    report.upstream_section(lines.append, str(tmp_path), {"upstream_runs": 1})
    text = "\n".join(lines)
    assert ("| (s) straight from the stand-in (no cache: every run asks it) | 2.00 | – | 3.00 | – | – "
            "| 30 / 30 / 30; 30 / 30 / 30 | – |") in text
    assert "| (b) role, upstream on | – | 1.10 | – | 2.30 | 44.0 / 48.5 | – | 0 / 0 / 0; 0 / 0 / 0 |" in text
    assert "Load average (1 min) at the start of the runs: 1.50–1.50." in text
