"""The builder itself (no server): valid, reproducible wheels and sdists."""

import base64
import hashlib
import io
import tarfile
import zipfile

import distbuild


def test_wheel_is_valid_and_reproducible():
    release = distbuild.Release("Cc.Some_Name", "1.2.0", requires_python=">=3.99", requires=("cc-util>=1",))
    name, data, metadata = distbuild.build_wheel(release)
    assert name == "cc_some_name-1.2.0-py3-none-any.whl"
    assert distbuild.build_wheel(release)[1] == data, "two builds of one release differ"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("cc_some_name-1.2.0.dist-info/METADATA") == metadata
        record = archive.read("cc_some_name-1.2.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            if not digest:
                continue
            member = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(member).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(member), line
    text = metadata.decode()
    assert "Requires-Python: >=3.99\n" in text and "Requires-Dist: cc-util>=1\n" in text


def test_flavour_changes_the_bytes_not_the_name():
    plain = distbuild.build_wheel(distbuild.Release("cc-x", "1.0.0"))
    other = distbuild.build_wheel(distbuild.Release("cc-x", "1.0.0", flavour="other"))
    assert plain[0] == other[0] and plain[1] != other[1]


def test_sdist_has_static_metadata_and_is_reproducible(tmp_path):
    release = distbuild.Release("cc-util", "1.0.0", sdist=True)
    files = distbuild.build(release, tmp_path)
    assert sorted(files) == ["cc_util-1.0.0-py3-none-any.whl", "cc_util-1.0.0.tar.gz"]
    path, sha, pkg_info = files["cc_util-1.0.0.tar.gz"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert distbuild.build_sdist(release)[1] == path.read_bytes()
    with tarfile.open(path) as archive:
        assert archive.extractfile("cc_util-1.0.0/PKG-INFO").read() == pkg_info
    assert pkg_info.startswith(b"Metadata-Version: 2.2\n") and b"Dynamic" not in pkg_info


def test_normalize():
    assert distbuild.normalize("Cc_Some.Name") == "cc-some-name"
    assert distbuild.dist_name("Cc-Some.Name") == "cc_some_name"
