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


@pytest.mark.parametrize("requires_python,reason", [
    (">=3.8," + " " * 8000, "longer than 200"),  # issue 17: three 8 KiB uploads gave a 24 MiB page
    ("not a specifier", "not a version specifier"),
    (">=3.8\x07", "control characters"),
])
def test_describe_refuses_unbounded_or_malformed_fields(tmp_path, requires_python, reason):
    path = make_wheel(str(tmp_path), requires_python=requires_python)
    with pytest.raises(store.InvalidDistribution, match=reason):
        store.describe(path, os.path.basename(path))


def test_describe_refuses_metadata_of_another_version(tmp_path):
    path = make_wheel(str(tmp_path), version="2.0")
    os.rename(path, tmp_path / "demo-1.0-py3-none-any.whl")
    with pytest.raises(store.InvalidDistribution, match="names version"):
        store.describe(str(tmp_path / "demo-1.0-py3-none-any.whl"), "demo-1.0-py3-none-any.whl")


def test_describe_refuses_too_many_members_and_too_much_metadata(tmp_path, monkeypatch):
    import io
    import tarfile
    monkeypatch.setattr(store, "MAX_MEMBERS", 50)
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        for n in range(60):
            archive.writestr(f"demo/m{n}.py", "")
    with pytest.raises(store.InvalidDistribution, match="more than 50 archive members"):
        store.describe(str(wheel), wheel.name)
    # an sdist whose PKG-INFO comes after many members: refused without reading them all (tarfile's own list stays empty)
    sdist = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for n in range(60):
            archive.addfile(tarfile.TarInfo(f"demo-1.0/m{n}.py"), io.BytesIO(b""))
        info = tarfile.TarInfo("demo-1.0/PKG-INFO")
        data = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(store.InvalidDistribution, match="more than 50 archive members before its PKG-INFO"):
        store.describe(str(sdist), sdist.name)
    monkeypatch.setattr(store, "MAX_MEMBERS", 100)
    assert store.describe(str(sdist), sdist.name)[0]["version"] == "1.0"
    monkeypatch.setattr(store, "MAX_UNPACKED", 4096)  # 60 empty members take 30 KiB of tar headers
    with pytest.raises(store.InvalidDistribution, match="unpacked before its PKG-INFO"):
        store.describe(str(sdist), sdist.name)
    huge = tmp_path / "huge" / "demo-1.0-py3-none-any.whl"
    huge.parent.mkdir()
    with zipfile.ZipFile(huge, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nX: "
                         + "a" * (store.MAX_METADATA + 10) + "\n")
    with pytest.raises(store.InvalidDistribution, match="metadata larger than"):
        store.describe(str(huge), huge.name)
