"""Builds small, real wheels and sdists for the tests of the host programs."""

import io
import os
import tarfile
import zipfile


def metadata_text(name, version, requires_python=None, metadata_version="2.1", dynamic=()):
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Dynamic: {field}" for field in dynamic]
    return ("\n".join(lines) + "\n\nA description.\n").encode()


def make_wheel(directory, name="demo", version="1.0", requires_python=None, payload=b"x = 1\n", tag="py3-none-any"):
    dist = name.replace("-", "_")
    path = os.path.join(directory, f"{dist}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}/__init__.py", payload)
        archive.writestr(f"{dist}-{version}.dist-info/METADATA", metadata_text(name, version, requires_python, "2.1"))
        archive.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path


def make_sdist(directory, name="demo", version="1.0", metadata_version="2.2", dynamic=(), requires_python=None):
    dist = name.replace("-", "_")
    path = os.path.join(directory, f"{dist}-{version}.tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        data = metadata_text(name, version, requires_python, metadata_version, dynamic)
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path
