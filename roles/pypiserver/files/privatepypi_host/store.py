"""The package store: <name>, and .privatepypi/meta/<name>.json (sidecar) and .metadata (PEP 658).

Sidecars are written once, at upload, so no restart or other instance re-hashes the store.
"""

import datetime
import email.parser
import hashlib
import json
import os
import re
import struct
import tarfile
import tempfile
import zipfile

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

STATE_DIR = ".privatepypi"
# Bounds on what one upload may make the index read, keep and serve (issue 17): beyond them the
# upload is a 400 with the reason, so one account cannot make every instance's renderer or the
# upload check itself take unbounded time or memory. Real distributions are far inside them.
MAX_METADATA = 1 << 20  # the core metadata file (long descriptions included); pip's own are tens of KiB
MAX_MEMBERS = 20000  # archive entries: a numpy sdist has about 2,500
MAX_UNPACKED = 512 << 20  # bytes read from a compressed sdist before its PKG-INFO is found
MAX_FIELDS = {"Metadata-Version": 16, "Name": 200, "Version": 128, "Requires-Python": 200, "Dynamic": 64}
STALE_CLAIM_SECONDS = 600


class InvalidDistribution(ValueError):
    """The upload is not a wheel or an sdist this index accepts."""


def paths(root):
    state = os.path.join(root, STATE_DIR)
    return os.path.join(state, "meta"), os.path.join(state, "tmp")


def sidecar_path(root, relpath):
    return os.path.join(paths(root)[0], relpath + ".json")


def metadata_path(root, relpath):
    return os.path.join(paths(root)[0], relpath + ".metadata")


def parse_filename(filename):
    if "/" in filename or filename.startswith(".") or filename != filename.strip():
        raise InvalidDistribution(f"{filename!r} is not a plain file name")
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith(".tar.gz"):  # PEP 625: the only sdist format indexes still accept
            name, version = parse_sdist_filename(filename)
        else:
            raise InvalidDistribution(f"{filename!r} is neither a wheel (.whl) nor an sdist (.tar.gz)")
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise InvalidDistribution(f"{filename!r}: {error}") from None
    return canonicalize_name(name), str(version)


def _zip_members(path):
    """The entry count of a zip's end record, read before zipfile loads its whole directory (memory
    grows with it); None for a ZIP64 archive, which no wheel of a sane size needs."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - (1 << 16) - 22))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise zipfile.BadZipFile("no end of central directory record")
    count = struct.unpack("<H", tail[at + 10:at + 12])[0]
    return None if count == 0xFFFF else count


def _sdist_pkg_info(archive, filename):
    """The first <dir>/PKG-INFO member, reading at most MAX_MEMBERS entries and MAX_UNPACKED bytes."""
    for count, member in enumerate(archive, 1):
        if count > MAX_MEMBERS:
            raise InvalidDistribution(f"{filename}: more than {MAX_MEMBERS} archive members before its PKG-INFO")
        if member.offset_data + max(member.size, 0) > MAX_UNPACKED:
            raise InvalidDistribution(f"{filename}: more than {MAX_UNPACKED >> 20} MiB unpacked before its PKG-INFO")
        if member.isfile() and re.fullmatch(r"[^/]+/PKG-INFO", member.name):
            return member
        archive.members.clear()  # tarfile keeps every member seen: memory would grow with their count
    raise InvalidDistribution(f"{filename}: an sdist needs <name>-<version>/PKG-INFO")


def extract_metadata(path, filename):
    try:
        if filename.endswith(".whl"):
            count = _zip_members(path)
            if count is None or count > MAX_MEMBERS:
                raise InvalidDistribution(f"{filename}: more than {MAX_MEMBERS} archive members")
            with zipfile.ZipFile(path) as archive:
                found = [i for i in archive.infolist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
                if len(found) != 1:
                    raise InvalidDistribution(f"{filename}: a wheel needs exactly one .dist-info/METADATA")
                if found[0].file_size <= MAX_METADATA:
                    with archive.open(found[0]) as member:
                        raw = member.read(MAX_METADATA + 1)  # the size in the directory may lie
                    if len(raw) <= MAX_METADATA:
                        return raw
        else:
            with tarfile.open(path, "r:gz") as archive:
                found = _sdist_pkg_info(archive, filename)
                if found.size <= MAX_METADATA:
                    return archive.extractfile(found).read()
        raise InvalidDistribution(f"{filename}: metadata larger than {MAX_METADATA >> 10} KiB")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        raise InvalidDistribution(f"{filename}: not a valid archive ({error})") from None


def metadata_fields(raw, filename=""):
    """The fields the index keeps and serves, each bounded (MAX_FIELDS) and well-formed, else InvalidDistribution."""
    message = email.parser.BytesParser().parsebytes(raw, headersonly=True)
    fields = {key: message.get_all(key) or [] for key in MAX_FIELDS}
    for key, values in fields.items():
        if key != "Dynamic" and len(values) > 1:
            raise InvalidDistribution(f"{filename}: metadata field {key} appears {len(values)} times")
        if len(values) > 64 or any(len(str(v)) > MAX_FIELDS[key] or not str(v).isprintable() for v in values):
            raise InvalidDistribution(f"{filename}: metadata field {key} is longer than {MAX_FIELDS[key]} characters "
                                      "or holds control characters")
    if fields["Requires-Python"]:
        try:
            SpecifierSet(str(fields["Requires-Python"][0]))
        except InvalidSpecifier:
            raise InvalidDistribution(f"{filename}: Requires-Python {fields['Requires-Python'][0]!r} is not a "
                                      "version specifier (PEP 440)") from None
    return fields


def _version_tuple(text):
    try:
        return tuple(int(part) for part in text.strip().split("."))
    except ValueError:
        return (0,)


def describe(path, filename, upload_time=None):
    """(sidecar, metadata bytes or None) of one file: the only place a distribution is read."""
    project, version = parse_filename(filename)
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
        mtime = os.fstat(f.fileno()).st_mtime
    raw = extract_metadata(path, filename)
    fields = metadata_fields(raw, filename)
    if not fields["Name"] or canonicalize_name(fields["Name"][0]) != project:
        raise InvalidDistribution(f"{filename}: its metadata names project {fields['Name'][:1]}, not {project}")
    try:
        claimed = Version(str(fields["Version"][0])) if fields["Version"] else None
    except InvalidVersion:
        claimed = None
    if claimed is None or claimed != Version(version):
        raise InvalidDistribution(f"{filename}: its metadata names version {fields['Version'][:1]}, not {version}")
    static = filename.endswith(".whl") or (
        _version_tuple((fields["Metadata-Version"] or ["1.0"])[0]) >= (2, 2) and not fields["Dynamic"])
    when = upload_time if upload_time is not None else mtime
    sidecar = {
        "filename": filename,
        "project": project,
        "version": version,
        "sha256": digest.hexdigest(),
        "size": size,
        "upload-time": datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "requires-python": (fields["Requires-Python"] or [None])[0],
        "metadata-sha256": hashlib.sha256(raw).hexdigest() if static else None,
        "yanked": False,
    }
    return sidecar, (raw if static else None)


def write_atomic(path, data, exclusive=False, durable=True):
    """exclusive: os.link, which fails if the name exists (atomic on NFS too), instead of rename."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:  # the store's files; pages are a cache, rebuilt at start
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o640)
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
            tmp = None
    finally:
        if tmp:
            os.unlink(tmp)


def encode_sidecar(sidecar):
    return json.dumps(sidecar, sort_keys=True, indent=1).encode() + b"\n"


def read_sidecar(root, relpath):
    with open(sidecar_path(root, relpath), "rb") as f:
        sidecar = json.loads(f.read())
    if not isinstance(sidecar, dict) or not re.fullmatch(r"[0-9a-f]{64}", str(sidecar.get("sha256"))):
        raise ValueError("not a sidecar")
    return sidecar


def ensure_sidecar(root, relpath):
    """The file's sidecar; described now if missing (never overwritten) or damaged (replaced)."""
    try:
        return read_sidecar(root, relpath)
    except (FileNotFoundError, ValueError) as error:
        missing = isinstance(error, FileNotFoundError)
    sidecar, raw = describe(os.path.join(root, relpath), os.path.basename(relpath))
    if raw is not None:
        write_atomic(metadata_path(root, relpath), raw)
    try:
        write_atomic(sidecar_path(root, relpath), encode_sidecar(sidecar), exclusive=missing)
    except FileExistsError:  # another instance described it meanwhile: same file, same answer
        return read_sidecar(root, relpath)
    return sidecar
