"""The package store: <name>, and .privatepypi/meta/<name>.json (sidecar) and .metadata (PEP 658).

Sidecars are written once, at upload, so no restart or other instance re-hashes the store.
"""

import datetime
import email.parser
import hashlib
import json
import os
import re
import tarfile
import tempfile
import zipfile

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename

STATE_DIR = ".privatepypi"
MAX_METADATA = 16 << 20
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


def extract_metadata(path, filename):
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(path) as archive:
                found = [i for i in archive.infolist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
                if len(found) != 1:
                    raise InvalidDistribution(f"{filename}: a wheel needs exactly one .dist-info/METADATA")
                if found[0].file_size < MAX_METADATA:
                    return archive.read(found[0])
        else:
            with tarfile.open(path, "r:gz") as archive:
                found = [m for m in archive if m.isfile() and re.fullmatch(r"[^/]+/PKG-INFO", m.name)]
                if not found:
                    raise InvalidDistribution(f"{filename}: an sdist needs <name>-<version>/PKG-INFO")
                if found[0].size < MAX_METADATA:
                    return archive.extractfile(found[0]).read()
        raise InvalidDistribution(f"{filename}: metadata larger than 16 MiB")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        raise InvalidDistribution(f"{filename}: not a valid archive ({error})") from None


def metadata_fields(raw):
    message = email.parser.BytesParser().parsebytes(raw, headersonly=True)
    return {key: message.get_all(key) or [] for key in ("Metadata-Version", "Name", "Version", "Requires-Python", "Dynamic")}


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
    fields = metadata_fields(raw)
    if not fields["Name"] or canonicalize_name(fields["Name"][0]) != project:
        raise InvalidDistribution(f"{filename}: its metadata names project {fields['Name'][:1]}, not {project}")
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
