"""The flood benchmark's two halves: benchmarks/measure.py's cached user (one connection, each
request's own wall time, against a real HTTP server on loopback) and benchmarks/report.py's flood
paragraph from the JSON measure.py writes (the target verdict, the way the flood came)."""

import base64
import http.server
import json
import threading
import time

import pytest
from benchmark_scripts import load

USER_URL = "http://127.0.0.1:32785/simple/bench-pkg-0050/"
AUTH = base64.b64encode(b"bench:secret").decode()


@pytest.fixture(scope="module")
def report():
    return load("report")


@pytest.fixture(scope="module")
def measure():
    return load("measure")


class _Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the cached user's one connection
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 - the name http.server calls
        ok = self.headers.get("Authorization") == f"Basic {AUTH}"
        body = b"<html>page</html>" if ok else b"no"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        time.sleep(0.001 if self.path == "/slow/" else 0)

    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("auth", "status"), [(AUTH, 200), (base64.b64encode(b"bench:wrong").decode(), 401)])
def test_the_cached_users_times_are_each_requests_own(measure, page_server, auth, status):
    samples, stop = [], threading.Event()
    user = threading.Thread(target=measure.cached_user_latencies, args=(f"{page_server}/slow/", auth, samples, stop))
    began = time.perf_counter()
    user.start()
    # stop on evidence, not after a fixed sleep: on a loaded machine 0.3 s gave only 12 requests
    deadline = time.perf_counter() + 20
    while len(samples) <= 30 and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    user.join(timeout=10)
    elapsed = time.perf_counter() - began
    starts = [start for start, seconds, code in samples]
    assert len(samples) > 20 and {code for start, seconds, code in samples} == {status}
    assert starts == sorted(starts)
    # one request at a time: together they never take longer than the run
    assert sum(seconds for start, seconds, code in samples) <= elapsed
    assert all(later >= start + seconds for (start, seconds, code), later in zip(samples, starts[1:], strict=False))


def _paragraph(report, tmp_path, p99_us, flood_url=None):
    result = {"url": USER_URL, "total": 20000, "connections": 32, "wall_s": 1.6, "loadavg": ["0.5", "0.4", "0.3"],
              "flood": {"requests": 20000, "sent": 20010, "statuses": {"401": 3, "503": 19997}, "seconds": 2},
              "cached_user": {"requests": 4000, "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
                              "latency_us": {"min": 90, "mean": 300.0, "max": 20000, "p50": 180, "p90": 900, "p99": p99_us}}}
    if flood_url is not None:
        result["flood_url"] = flood_url
    (tmp_path / "flood-100-b.json").write_text(json.dumps(result))
    lines = []
    report.flood_section(lines.append, str(tmp_path), 100)
    return "\n".join(lines)


def test_a_p99_under_the_target_is_within_and_names_the_floods_own_path(report, tmp_path):
    text = _paragraph(report, tmp_path, 6050, flood_url="http://172.17.0.2:8080/simple/bench-pkg-0050/")
    assert "20,000 distinct bad credentials" in text and "401: 3, 503: 19,997" in text
    assert "p99 6.05 ms (within the 10 ms target)" in text
    assert "by the container's bridge address, not through the user's docker-proxy" in text


def test_a_p99_over_the_target_is_marked_and_an_old_result_names_the_shared_port(report, tmp_path):
    text = _paragraph(report, tmp_path, 25500)  # written before --flood-url existed
    assert "(**over** the 10 ms target)" in text
    assert "through the user's own published port" in text


def test_a_flood_without_numbers_is_reported_as_no_result(report, tmp_path):
    (tmp_path / "flood-100-b.json").write_text(json.dumps({"error": {"flood": "wrk printed nothing"}}))
    lines = []
    report.flood_section(lines.append, str(tmp_path), 100)
    assert "**no result**" in lines[-1] and "wrk printed nothing" in lines[-1]
