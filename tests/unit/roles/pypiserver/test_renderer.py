"""renderer.py: static PEP 503/691 pages from the store, and how it survives a hostile store."""

import errno
import gzip
import json
import os

from distbuild import make_sdist, make_wheel
from privatepypi_host import renderer, store


def read(path):
    with open(path, "rb") as f:
        return f.read()


def render(root, output):
    r = renderer.Renderer(root, str(output))
    r.render()
    return r


def test_project_pages(store_root, tmp_path):
    make_wheel(store_root, name="Demo_Pkg", version="1.0", requires_python=">=3.9,<4")
    make_sdist(store_root, name="Demo_Pkg", version="0.9", metadata_version="2.1")
    r = render(store_root, tmp_path / "pages")
    page = read(tmp_path / "pages/simple/demo-pkg/index.html").decode()
    wheel = store.read_sidecar(store_root, "Demo_Pkg-1.0-py3-none-any.whl")
    assert '<meta name="pypi:repository-version" content="1.1">' in page
    assert f'href="../../packages/Demo_Pkg-1.0-py3-none-any.whl#sha256={wheel["sha256"]}"' in page
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in page
    assert f'data-core-metadata="sha256={wheel["metadata-sha256"]}"' in page
    assert f'data-dist-info-metadata="sha256={wheel["metadata-sha256"]}"' in page
    assert page.count("data-core-metadata") == 1  # the 2.1 sdist has no static metadata
    assert "data-yanked" not in page
    document = json.loads(read(tmp_path / "pages/simple/demo-pkg/index.json"))
    assert document["meta"] == {"api-version": "1.1"}
    assert document["name"] == "demo-pkg"
    assert document["versions"] == ["0.9", "1.0"]
    files = {f["filename"]: f for f in document["files"]}
    assert files["Demo_Pkg-1.0-py3-none-any.whl"]["core-metadata"] == {"sha256": wheel["metadata-sha256"]}
    assert files["Demo_Pkg-0.9.tar.gz"]["core-metadata"] is False
    # PEP 714's key only: pip 23.0 (Debian 12's) fails on a hash dict under the old key
    assert all("dist-info-metadata" not in f for f in document["files"])
    assert files["Demo_Pkg-1.0-py3-none-any.whl"]["size"] == os.path.getsize(os.path.join(store_root, "Demo_Pkg-1.0-py3-none-any.whl"))
    assert files["Demo_Pkg-1.0-py3-none-any.whl"]["upload-time"].endswith("Z")
    assert gzip.decompress(read(tmp_path / "pages/simple/demo-pkg/index.html.gz")).decode() == page
    root = json.loads(read(tmp_path / "pages/simple/index.json"))
    assert root["projects"] == [{"name": "demo-pkg"}]
    assert r.counts == (1, 2)


def test_yank_reason_and_removal_follow(store_root, tmp_path):
    path = make_wheel(store_root, version="1.0")
    r = render(store_root, tmp_path / "pages")
    name = os.path.basename(path)
    sidecar = store.read_sidecar(store_root, name)
    sidecar["yanked"] = 'broken <build> & "bad"'
    store.write_atomic(store.sidecar_path(store_root, name), store.encode_sidecar(sidecar))
    r.render()
    page = read(tmp_path / "pages/simple/demo/index.html").decode()
    assert 'data-yanked="broken &lt;build&gt; &amp; &quot;bad&quot;"' in page
    assert json.loads(read(tmp_path / "pages/simple/demo/index.json"))["files"][0]["yanked"] == 'broken <build> & "bad"'
    os.remove(path)
    r.render()
    assert not os.path.exists(tmp_path / "pages/simple/demo")
    assert json.loads(read(tmp_path / "pages/simple/index.json"))["projects"] == []


def test_restart_reads_sidecars_not_files(store_root, tmp_path, monkeypatch):
    make_wheel(store_root)
    render(store_root, tmp_path / "pages")

    def no_hashing(*args, **kwargs):
        raise AssertionError("a restart must not describe files that have sidecars")

    monkeypatch.setattr(store, "describe", no_hashing)
    r = render(store_root, tmp_path / "pages2")
    assert r.counts == (1, 1)


def test_first_render_keeps_the_watchdog_fed_while_writing_pages(store_root, tmp_path, monkeypatch):
    """A restart on a large store writes every page again: systemd's watchdog must hear from it between pages."""
    for name in ("alpha", "beta", "gamma"):
        make_wheel(store_root, name=name)
    render(store_root, tmp_path / "pages")  # sidecars written
    events = []
    restarted = renderer.Renderer(store_root, str(tmp_path / "pages2"))
    write_pages = restarted._write_pages

    def recording_write_pages(directory, *args, **kwargs):
        events.append("page")
        return write_pages(directory, *args, **kwargs)

    monkeypatch.setattr(restarted, "_write_pages", recording_write_pages)
    restarted.render(heartbeat=lambda: events.append("beat"))
    assert restarted.counts == (3, 3)
    assert events.count("page") == 4  # three projects and the root
    project_pages = events[:-1]  # the root page comes last, right after the last project's
    assert "page,page" not in ",".join(project_pages), f"pages written without a heartbeat between them: {events}"


def test_hostile_store(store_root, tmp_path, monkeypatch, caplog):
    good = make_wheel(store_root, name="good")
    make_wheel(store_root, name="unreadable")
    make_wheel(store_root, name="vanishing")
    with open(os.path.join(store_root.encode(), b"bad\xff-1.0-py3-none-any.whl"), "wb") as f:
        f.write(b"not utf-8 in the name")
    with open(os.path.join(store_root, "fake-1.0-py3-none-any.whl"), "wb") as f:
        f.write(b"<html>not an archive</html>")
    with open(os.path.join(store_root, "README.txt"), "w") as f:
        f.write("not a distribution")
    real_describe = store.describe

    def describe(path, filename, upload_time=None):
        if filename.startswith("unreadable"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        if filename.startswith("vanishing"):
            os.remove(path)  # removed between the listing and the read
        return real_describe(path, filename, upload_time)

    monkeypatch.setattr(store, "describe", describe)
    r = render(store_root, tmp_path / "pages")
    assert json.loads(read(tmp_path / "pages/simple/index.json"))["projects"] == [{"name": "good"}]
    assert r.errors == 1
    assert "not UTF-8" in caplog.text and "fake-1.0" in caplog.text and "Permission denied" in caplog.text
    assert os.path.exists(good)


def test_full_disk_keeps_other_pages_and_retries(store_root, tmp_path, monkeypatch):
    make_wheel(store_root, name="alpha")
    make_wheel(store_root, name="beta")
    real_write = store.write_atomic
    full = {"on": True}

    def write_atomic(path, data, exclusive=False, durable=True):
        if full["on"] and "/simple/beta/" in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data, exclusive, durable)

    monkeypatch.setattr(store, "write_atomic", write_atomic)
    r = render(store_root, tmp_path / "pages")
    assert os.path.exists(tmp_path / "pages/simple/alpha/index.html")
    assert not os.path.exists(tmp_path / "pages/simple/beta/index.html")
    assert r.errors == 1
    full["on"] = False
    r.render()
    assert os.path.exists(tmp_path / "pages/simple/beta/index.html")


def test_status_and_signature(store_root, tmp_path):
    r = renderer.Renderer(store_root, str(tmp_path / "pages"))
    r.write_status()
    assert json.loads(read(tmp_path / "pages/status.json"))["ready"] is False
    before = r.signature()
    r.render()
    r.ready = True
    r.write_status()
    status = json.loads(read(tmp_path / "pages/status.json"))
    assert status["ready"] is True and status["heartbeat"] > 0
    make_wheel(store_root)
    assert r.signature() != before


def test_adopted_pages_of_gone_projects_are_removed(store_root, tmp_path):
    os.makedirs(tmp_path / "pages/simple/gone")
    (tmp_path / "pages/simple/gone/index.html").write_text("old")
    r = renderer.Renderer(store_root, str(tmp_path / "pages"))
    r.adopt_existing()
    r.render()
    assert not os.path.exists(tmp_path / "pages/simple/gone")


def test_notify_reaches_systemd_socket(tmp_path, monkeypatch):
    import socket

    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        renderer.notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"
