"""store.py: names, metadata and sidecars of the package store."""

import hashlib
import json
import os
import zipfile

import pytest
from distbuild import make_sdist, make_wheel
from privatepypi_host import store


@pytest.mark.parametrize("filename,expected", [
    ("Demo_Pkg-1.0-py3-none-any.whl", ("demo-pkg", "1.0")),
    ("demo_pkg-2.0.post1.tar.gz", ("demo-pkg", "2.0.post1")),
])
def test_parse_filename_accepts_distributions(filename, expected):
    assert store.parse_filename(filename) == expected


@pytest.mark.parametrize("filename", ["index.html", "demo-1.0.exe", "demo-1.0.zip", "demo.whl", "../demo-1.0.tar.gz", ".demo-1.0.tar.gz",
                                      "demo-notaversion-py3-none-any.whl"])
def test_parse_filename_refuses_anything_else(filename):
    with pytest.raises(store.InvalidDistribution):
        store.parse_filename(filename)


def test_describe_wheel(tmp_path):
    path = make_wheel(str(tmp_path), requires_python=">=3.9, <4")
    sidecar, raw = store.describe(path, os.path.basename(path), upload_time=0)
    with open(path, "rb") as f:
        assert sidecar["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert sidecar["size"] == os.path.getsize(path)
    assert sidecar["requires-python"] == ">=3.9, <4"
    assert sidecar["upload-time"] == "1970-01-01T00:00:00.000000Z"
    assert raw.startswith(b"Metadata-Version: 2.1")
    assert sidecar["metadata-sha256"] == hashlib.sha256(raw).hexdigest()
    assert (sidecar["project"], sidecar["version"], sidecar["yanked"]) == ("demo", "1.0", False)


def test_sdist_metadata_only_when_static(tmp_path):
    for sub in "abc":
        os.makedirs(tmp_path / sub)
    static = make_sdist(str(tmp_path / "a"), metadata_version="2.2")
    dynamic = make_sdist(str(tmp_path / "b"), metadata_version="2.2",
                         dynamic=["Requires-Dist"])
    old = make_sdist(str(tmp_path / "c"), metadata_version="2.1")
    assert store.describe(static, os.path.basename(static))[1] is not None
    for path in (dynamic, old):
        sidecar, raw = store.describe(path, os.path.basename(path))
        assert raw is None and sidecar["metadata-sha256"] is None


def test_describe_refuses_a_fake_archive(tmp_path):
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(b"<script>alert(1)</script>")
    with pytest.raises(store.InvalidDistribution, match="not a valid archive"):
        store.describe(str(path), path.name)


def test_describe_refuses_a_wheel_without_metadata(tmp_path):
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", "")
    with pytest.raises(store.InvalidDistribution, match="METADATA"):
        store.describe(str(path), path.name)


def test_describe_refuses_metadata_of_another_project(tmp_path):
    path = make_wheel(str(tmp_path), name="other")
    os.rename(path, tmp_path / "demo-1.0-py3-none-any.whl")
    with pytest.raises(store.InvalidDistribution, match="names project"):
        store.describe(str(tmp_path / "demo-1.0-py3-none-any.whl"), "demo-1.0-py3-none-any.whl")


def test_ensure_sidecar_writes_once(store_root):
    path = make_wheel(store_root)
    name = os.path.basename(path)
    first = store.ensure_sidecar(store_root, name)
    sidecar_file = store.sidecar_path(store_root, name)
    inode = os.stat(sidecar_file).st_ino
    assert store.ensure_sidecar(store_root, name) == first
    assert os.stat(sidecar_file).st_ino == inode
    with open(store.metadata_path(store_root, name), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == first["metadata-sha256"]
    assert json.loads(open(sidecar_file).read())["sha256"] == first["sha256"]


def test_write_atomic_exclusive_never_overwrites(tmp_path):
    target = str(tmp_path / "x")
    store.write_atomic(target, b"one", exclusive=True)
    with pytest.raises(FileExistsError):
        store.write_atomic(target, b"two", exclusive=True)
    assert open(target, "rb").read() == b"one"
    assert os.listdir(tmp_path) == ["x"]


def test_read_sidecar_refuses_garbage(store_root):
    store.write_atomic(store.sidecar_path(store_root, "demo-1.0.tar.gz"), b'{"sha256": "nope"}')
    with pytest.raises(ValueError):
        store.read_sidecar(store_root, "demo-1.0.tar.gz")


def test_ensure_sidecar_replaces_a_damaged_one(store_root):
    path = make_wheel(store_root)
    name = os.path.basename(path)
    store.write_atomic(store.sidecar_path(store_root, name), b"{not json")
    assert store.ensure_sidecar(store_root, name)["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert store.read_sidecar(store_root, name)["project"] == "demo"
