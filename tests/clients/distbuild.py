"""Builds small, valid, byte-reproducible distributions for the client tests.

No build backend: a wheel is a zip with METADATA, WHEEL and RECORD (sha256 of
every member), an sdist a tar.gz with PKG-INFO (Metadata 2.2, no Dynamic field,
so its metadata is static) and a pyproject.toml. Fixed timestamps and ordering
make the same arguments give the same bytes on every run, so a second run of
the suite re-uploads identical files (an idempotent upload, not a conflict).
"""

import base64
import dataclasses
import gzip
import hashlib
import io
import re
import tarfile
import zipfile

ZIP_DATE = (2024, 1, 1, 0, 0, 0)
TAR_MTIME = 1704067200  # 2024-01-01T00:00:00Z


def normalize(name):
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(name):
    """The distribution part of a file name (PEP 427/625: normalized, '_' for runs of -_.)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclasses.dataclass(frozen=True)
class Release:
    name: str
    version: str
    requires_python: str = ">=3.8"
    requires: tuple = ()
    sdist: bool = False
    # A marker for a second build of the same file name with different bytes.
    flavour: str = ""

    def metadata(self, metadata_version="2.1"):
        lines = [
            f"Metadata-Version: {metadata_version}",
            f"Name: {self.name}",
            f"Version: {self.version}",
            f"Summary: privatepypi client test package {self.name}{(' ' + self.flavour) if self.flavour else ''}",
        ]
        if self.requires_python:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines.extend(f"Requires-Dist: {req}" for req in self.requires)
        return ("\n".join(lines) + "\n").encode()

    @property
    def wheel_filename(self):
        return f"{dist_name(self.name)}-{self.version}-py3-none-any.whl"

    @property
    def sdist_filename(self):
        return f"{dist_name(self.name)}-{self.version}.tar.gz"


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(release):
    """Return (filename, bytes, METADATA bytes) of a py3-none-any wheel."""
    module = dist_name(release.name)
    dist_info = f"{module}-{release.version}.dist-info"
    metadata = release.metadata()
    members = {
        f"{module}/__init__.py": f'VERSION = "{release.version}"\nFLAVOUR = "{release.flavour}"\n'.encode(),
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: privatepypi-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return release.wheel_filename, buf.getvalue(), metadata


def build_sdist(release):
    """Return (filename, bytes, PKG-INFO bytes) of an sdist with static metadata."""
    module = dist_name(release.name)
    root = f"{module}-{release.version}"
    pkg_info = release.metadata(metadata_version="2.2")
    requires = ", ".join(f'"{req}"' for req in release.requires)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{release.name}"\nversion = "{release.version}"\n'
        f'requires-python = "{release.requires_python}"\ndependencies = [{requires}]\n'
    ).encode()
    members = {
        f"{root}/PKG-INFO": pkg_info,
        f"{root}/pyproject.toml": pyproject,
        f"{root}/{module}/__init__.py": f'VERSION = "{release.version}"\n'.encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = TAR_MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    # gzip with a fixed header time, so the bytes are reproducible.
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return release.sdist_filename, out.getvalue(), pkg_info


def build(release, outdir):
    """Write the release's files into outdir; return {filename: (path, sha256, metadata bytes)}."""
    outdir.mkdir(parents=True, exist_ok=True)
    built = [build_wheel(release)]
    if release.sdist:
        built.append(build_sdist(release))
    files = {}
    for filename, data, metadata in built:
        path = outdir / filename
        path.write_bytes(data)
        files[filename] = (path, hashlib.sha256(data).hexdigest(), metadata)
    return files
