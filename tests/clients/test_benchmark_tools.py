"""The benchmark's own tools (benchmarks/*.py), without a server or a container:
the dependency-tree data set, the counting proxy and the classification of what a
client fetched. They run with this suite because they need the clients' venv."""

import http.server
import io
import pathlib
import sys
import threading
import urllib.request
import zipfile

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import installs  # noqa: E402
import make_dataset  # noqa: E402


def test_tree_reaches_thirty_projects_and_some_need_a_newer_python():
    releases = make_dataset.tree_releases()
    names = {r[0] for r in releases}
    assert len(names) == 30 and "tree-app" in names
    edges = {r[0]: [req.split(">=")[0] for req in r[3]] for r in releases}
    seen, todo = set(), ["tree-app"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    assert seen == names, "tree-app does not depend on every project"
    newer = [r for r in releases if r[2] == ">=3.99"]
    assert newer and all(r[1] == make_dataset.TREE_VERSIONS[-1] for r in newer)


def test_tree_wheels_carry_metadata_and_an_incompressible_payload():
    name, version, python, requires, size = make_dataset.tree_releases()[-1]
    filename, data = make_dataset.make_wheel(name, version, python, requires, size)
    assert len(data) > size
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        metadata = archive.read(f"{filename.split('-')[0]}-{version}.dist-info/METADATA").decode()
    assert f"Requires-Python: {python}\n" in metadata
    assert all(f"Requires-Dist: {r}\n" in metadata for r in requires)
    assert make_dataset.make_wheel(name, version, python, requires, size)[1] == data


def test_data_set_with_the_tree(tmp_path):
    assert make_dataset.main(["--projects", "2", "--tree", "--simple", "--out", str(tmp_path)]) == 0
    files = list((tmp_path / "packages").iterdir())
    assert len(files) == 2 * 5 + 30 * 4
    assert (tmp_path / "simple/tree-app/index.html").exists()


def test_classify_counts_needless_wheels():
    entries = [
        ("GET", "/simple/tree-app/", 200, 1000, None),
        ("GET", "/packages/tree_app-1.0.0-py3-none-any.whl.metadata", 200, 100, None),
        ("GET", "/packages/tree_app-1.0.0-py3-none-any.whl", 200, 5000, None),
        ("GET", "/packages/tree_lib_01-2.1.0-py3-none-any.whl", 206, 64, "bytes=-64"),
        ("HEAD", "/packages/tree_lib_01-2.1.0-py3-none-any.whl", 200, 0, None),
    ]
    kinds, fetched, needless = installs.classify(entries, {"tree-app": "1.0.0", "tree-lib-01": "2.0.0"})
    assert kinds["page"] == {"requests": 1, "bytes": 1000}
    assert kinds["metadata"]["requests"] == 1 and kinds["wheel"]["bytes"] == 5000
    assert kinds["wheel (range)"]["requests"] == 1 and kinds["wheel HEAD"]["requests"] == 1
    assert needless == ["tree_lib_01-2.1.0-py3-none-any.whl"]
    assert fetched == ["tree_app-1.0.0-py3-none-any.whl", "tree_lib_01-2.1.0-py3-none-any.whl"]


@pytest.fixture
def upstream():
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b"x" * 1234
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Seen-Host", self.headers.get("Host", ""))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_counting_proxy_forwards_and_counts(upstream):
    counter = installs._Counter()
    proxy = installs._proxy(upstream, counter)
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}/simple/x/"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"x" * 1234
            # the Host header is passed through, so servers that build absolute links link to the proxy
            assert resp.headers["X-Seen-Host"] == f"127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
    assert counter.entries == [("GET", "/simple/x/", 200, 1234, None)]


@pytest.fixture(scope="module")
def static_index(tmp_path_factory):
    """The tree data set served by Python's static file server on 127.0.0.1 (PEP 503 pages)."""
    import functools

    out = tmp_path_factory.mktemp("tree")
    make_dataset.main(["--projects", "0", "--tree", "--simple", "--out", str(out)])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_cold_install_timing_and_counting_with_real_clients(static_index, tmp_path):
    bindir = str(pathlib.Path(sys.executable).parent)
    timed = tmp_path / "time.json"
    installs.main(["time", "--index-url", static_index + "/simple/", "--bindir", bindir, "--runs", "1",
                   "--clients", "uv", "--tmp", str(tmp_path), "--out", str(timed)])
    import json

    result = json.loads(timed.read_text())["clients"]["uv"]
    assert result["runs"][0]["exit"] == 0 and result["runs"][0]["installed"] == 30, result
    counted = tmp_path / "count.json"
    installs.main(["count", "--index-url", static_index + "/simple/", "--upstream", static_index, "--bindir", bindir,
                   "--clients", "pip", "--tmp", str(tmp_path), "--out", str(counted)])
    pip = json.loads(counted.read_text())["clients"]["pip"]
    assert pip["exit"] == 0 and len(pip["installed"]) == 30
    # PEP 503 pages without data-requires-python: pip downloads each newest version it cannot use
    assert len(pip["wheels_not_installed"]) == 10, pip["wheels_not_installed"]
    assert pip["kinds"]["page"]["requests"] == 30
