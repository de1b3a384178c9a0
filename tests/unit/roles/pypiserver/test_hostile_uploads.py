"""100 hostile distributions against the upload middleware, then the renderer, each in a process of its own
whose peak memory (ru_maxrss) is measured (issue 17: three 8 KiB uploads made a 24 MiB page, eight pushed every
renderer to 341 MiB, an 872 KiB sdist took 11 s and 198 MiB to check and was accepted).

The hostile set: oversized and malformed metadata fields, a core metadata file over 1 MiB, a wheel whose METADATA
inflates to 64 MiB, wheels and sdists of 30,000 members, an sdist that inflates to 600 MiB before its PKG-INFO; and
beside them 25 valid distributions whose fields are as long as the bounds allow, with descriptions of almost 1 MiB.
Every hostile one must be a 400 that says why, every valid one a 200, the pages must list exactly the valid files
with their hashes and Requires-Python, and the stated bounds must hold:

- the upload service grows by at most UPLOAD_GROWTH_MIB over its footprint after its first upload, and peaks under
  UPLOAD_PEAK_MIB, for all 100 uploads;
- the renderer grows by at most RENDER_GROWTH_MIB rendering that store, and peaks under RENDER_PEAK_MIB, with the
  hostile files also copied into the store by hand (no sidecar: the renderer must describe them itself, and skip them);
- no page is over PAGE_MAX_BYTES.
"""

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib

from conftest import FILES
from distbuild import metadata_text

UPLOAD_GROWTH_MIB, UPLOAD_PEAK_MIB = 48, 96  # measured here: +0.2 MiB, 36 MiB
RENDER_GROWTH_MIB, RENDER_PEAK_MIB = 32, 64  # measured here: +1.8 MiB, 25 MiB
PAGE_MAX_BYTES = 64 << 10
SECONDS = 90  # the whole upload run; most of it is inflating the 600 MiB bomb twice
BOUNDARY = "----privatepypi-hostile"

VALID_RP = ">=3.8," + ",".join(f"!=3.9.{n}" for n in range(1, 23))  # a real specifier set of 194 characters


def _wheel(path, name, version, metadata, members=(), compress=zipfile.ZIP_DEFLATED):
    dist = name.replace("-", "_")
    with zipfile.ZipFile(path, "w", compress) as archive:
        archive.writestr(f"{dist}-{version}.dist-info/METADATA", metadata)
        archive.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        for member in members:
            archive.writestr(member, b"")
    return path


def _fields(name, version, **extra):
    fields = {"Metadata-Version": "2.1", "Name": name, "Version": version, **extra}
    lines = [f"{key}: {value}" for key, values in fields.items() for value in (values if isinstance(values, list) else [values])]
    return ("\n".join(lines) + "\n\nhostile\n").encode()


def _sdist_bomb(path, name, version, member_mib=100, members=6):
    """An sdist whose PKG-INFO follows members*member_mib MiB of zeros (a few MiB on disk)."""
    dist = name.replace("-", "_")
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    zero = bytes(1 << 20)
    with open(path, "wb") as out:
        for n in range(members):
            header = tarfile.TarInfo(f"{dist}-{version}/zeros{n}")
            header.size = member_mib << 20
            out.write(packer.compress(header.tobuf(format=tarfile.PAX_FORMAT)))
            for _mib in range(member_mib):
                out.write(packer.compress(zero))
        data = metadata_text(name, version)
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        out.write(packer.compress(info.tobuf(format=tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512) + bytes(1024)))
        out.write(packer.flush())
    return path


def _sdist_members(path, name, version, count):
    dist = name.replace("-", "_")
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for n in range(count):
            archive.addfile(tarfile.TarInfo(f"{dist}-{version}/m{n}.py"), io.BytesIO(b""))
        data = metadata_text(name, version)
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def build(work):
    """[(path, expected status, expected reason)]: 75 hostile, 25 valid."""
    cases = []
    shared = work / "shared"
    shared.mkdir()

    def add(path, status, reason):
        cases.append((str(path), status, reason))

    # oversized or malformed fields, each in a project of its own: 40
    fields = [
        ({"Requires-Python": ">=3." + "9" * 8192}, "Requires-Python is longer than 200"),
        ({"Requires-Python": [">=3.8", ">=3.9"]}, "Requires-Python appears 2 times"),
        ({"Requires-Python": "not a specifier"}, "Requires-Python"),
        ({"Requires-Python": ">=3.8\x1b[31m"}, "Requires-Python"),
        ({"Dynamic": ["x" * 100]}, "Dynamic is longer than 64"),
        ({"Dynamic": [f"field-{n}" for n in range(100)]}, "metadata field Dynamic"),
        ({"Metadata-Version": "2." + "1" * 40}, "Metadata-Version is longer than 16"),
        ({"Requires-Python": ">=3.8" + ",>=3.8" * 2000}, "Requires-Python is longer than 200"),
    ]
    for n in range(40):
        extra, reason = fields[n % len(fields)]
        name = f"hostile-field-{n}"
        add(_wheel(work / f"{name.replace('-', '_')}-1.0-py3-none-any.whl", name, "1.0", _fields(name, "1.0", **extra)),
            400, reason)
    # a core metadata file over 1 MiB (a description of 2 MiB): 10
    for n in range(10):
        name = f"hostile-big-{n}"
        big = metadata_text(name, "1.0") + b"d" * (2 << 20)
        add(_wheel(work / f"{name.replace('-', '_')}-1.0-py3-none-any.whl", name, "1.0", big), 400, "metadata larger than 1024 KiB")
    # METADATA that inflates to 64 MiB (64 KiB on disk): 5 copies of one that says so in its directory, and 5 of
    # one whose headers claim 100 bytes (only what the bound allows is ever inflated, then the CRC fails)
    bomb = _wheel(shared / "bomb.whl", "hostile-bomb", "1.0", metadata_text("hostile-bomb", "1.0") + bytes(64 << 20))
    lying = bytearray(bomb.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = lying.index(signature)  # the first entry of each kind: METADATA
        struct.pack_into("<I", lying, at + offset, 100)
    (shared / "lying.whl").write_bytes(bytes(lying))
    for n in range(10):
        path = work / f"hostile_bomb_{n}-1.0-py3-none-any.whl"
        shutil.copyfile(bomb if n < 5 else shared / "lying.whl", path)
        add(path, 400, "metadata larger than 1024 KiB" if n < 5 else "not a valid archive")
    # 30,000 members: 5 wheels (refused from the end record) and 5 sdists (refused while reading the stream)
    many = _wheel(shared / "many.whl", "hostile-many", "1.0", metadata_text("hostile-many", "1.0"),
                  members=[f"hostile_many/m{n}.py" for n in range(30000)], compress=zipfile.ZIP_STORED)
    many_sdist = _sdist_members(shared / "many.tar.gz", "hostile-many", "1.0", 30000)
    for n in range(5):
        shutil.copyfile(many, work / f"hostile_many_{n}-1.0-py3-none-any.whl")
        add(work / f"hostile_many_{n}-1.0-py3-none-any.whl", 400, "more than 20000 archive members")
        shutil.copyfile(many_sdist, work / f"hostile_many_{n}-1.0.tar.gz")
        add(work / f"hostile_many_{n}-1.0.tar.gz", 400, "more than 20000 archive members before its PKG-INFO")
    # 600 MiB of zeros before PKG-INFO, 3 MiB on disk: 2 copies, refused after 512 MiB unpacked (not kept in memory)
    inflating = _sdist_bomb(shared / "inflating.tar.gz", "hostile-inflate", "1.0")
    for n in range(2):
        shutil.copyfile(inflating, work / f"hostile_inflate_{n}-1.0.tar.gz")
        add(work / f"hostile_inflate_{n}-1.0.tar.gz", 400, "more than 512 MiB unpacked before its PKG-INFO")
    # 3 more: names that are no distribution's
    for n, filename in enumerate(["hostile-1.0-py3-none-any.whl.exe", "javascript:alert(1)-1.0.tar.gz", "$(id)-1.0.tar.gz"]):
        path = work / f"odd{n}"
        path.mkdir()
        shutil.copyfile(many, path / filename)
        add(path / filename, 400, "")
    # 25 valid: 5 projects x 5 versions, the longest fields the bounds allow and a description of almost 1 MiB
    for p in range(5):
        for v in range(5):
            name, version = f"valid-project-{p}", f"1.{v}"
            text = _fields(name, version, **{"Requires-Python": VALID_RP}) + b"d" * (1000 << 10)
            add(_wheel(work / f"valid_project_{p}-{version}-py3-none-any.whl", name, version, text), 200, "published")
    return cases


UPLOADER = r"""
import json, os, sys, time
from privatepypi_host import upload

def kib():
    # this process's peak resident memory: VmHWM starts again at exec (ru_maxrss keeps the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

root, cases = sys.argv[1], json.load(open(sys.argv[2]))
app = upload.UploadMiddleware(lambda e, s: [b""], root, None, ["update"], trust_proxy=True)
# a first upload warms every code path (cgi, zipfile, tarfile, email) before the footprint is taken
results, started = [], time.monotonic()
for n, (body, size, _status, _reason) in enumerate(cases):
    with open(body, "rb") as handle:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": str(size),
                   "CONTENT_TYPE": "multipart/form-data; boundary=@BOUNDARY@", "wsgi.input": handle,
                   "HTTP_X_PRIVATEPYPI_USER": "ci", "HTTP_X_PRIVATEPYPI_ROLE": "uploader", "HTTP_X_PRIVATEPYPI_PROJECTS": "*"}
        got = []
        answer = b"".join(app(environ, lambda status, headers: got.append(status))).decode()
    results.append((int(got[0].split()[0]), answer))
    if n == 0:
        footprint = kib()
print(json.dumps({"results": results, "footprint": footprint, "peak": kib(), "seconds": time.monotonic() - started}))
""".replace("@BOUNDARY@", BOUNDARY)

RENDERER = r"""
import json, logging, sys, time
from privatepypi_host import renderer
logging.basicConfig(level=logging.ERROR)

def kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

root, output = sys.argv[1], sys.argv[2]
footprint = kib()
started = time.monotonic()
r = renderer.Renderer(root, output)
counts = r.render()
print(json.dumps({"counts": counts, "footprint": footprint, "peak": kib(), "seconds": time.monotonic() - started}))
"""


def body_file(work, path):
    """The multipart form twine sends, written to disk around the distribution (never held in memory)."""
    body = work / "bodies" / (os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path))
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="{os.path.basename(path)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    with open(body, "wb") as out, open(path, "rb") as src:
        out.write(head)
        shutil.copyfileobj(src, out)
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return str(body), body.stat().st_size


def run(script, *args, timeout):
    env = dict(os.environ, PYTHONPATH=FILES, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_a_hundred_hostile_uploads_stay_bounded_and_pages_stay_right(tmp_path):
    work = tmp_path / "dists"
    work.mkdir()
    (work / "bodies").mkdir()
    cases = build(work)
    assert len(cases) == 100 and sum(status == 200 for _p, status, _r in cases) == 25
    # a valid upload first: it warms the upload service's code before its footprint is taken
    cases.sort(key=lambda case: case[1] != 200)
    bodies = [(*body_file(work, path), status, reason) for path, status, reason in cases]
    (tmp_path / "cases.json").write_text(json.dumps(bodies))
    root = tmp_path / "packages"
    root.mkdir()

    uploads = run(UPLOADER, str(root), str(tmp_path / "cases.json"), timeout=SECONDS * 2)
    for (path, status, reason), (got, answer) in zip(cases, uploads["results"], strict=True):
        assert got == status and reason in answer, (os.path.basename(path), got, answer)
    growth = (uploads["peak"] - uploads["footprint"]) / 1024
    print(f"upload service: {uploads['footprint'] / 1024:.0f} MiB after one upload, peak {uploads['peak'] / 1024:.0f} MiB "
          f"(+{growth:.1f} MiB) for 100 uploads in {uploads['seconds']:.1f} s")
    assert growth <= UPLOAD_GROWTH_MIB and uploads["peak"] / 1024 <= UPLOAD_PEAK_MIB, uploads
    assert uploads["seconds"] <= SECONDS, uploads

    # the hostile files copied into the store by hand (a restore, an operator): no sidecar, so the renderer
    # must look into each, refuse it once and keep the other pages right
    for path, status, _reason in cases:
        if status == 400 and os.path.basename(path).startswith(("hostile_bomb_0", "hostile_many_0", "hostile_inflate_0",
                                                                "hostile_big_0", "hostile_field_0")):
            shutil.copyfile(path, root / os.path.basename(path))
    output = tmp_path / "pages"
    pages = run(RENDERER, str(root), str(output), timeout=SECONDS * 2)
    growth = (pages["peak"] - pages["footprint"]) / 1024
    print(f"renderer: {pages['footprint'] / 1024:.0f} MiB after import, peak {pages['peak'] / 1024:.0f} MiB "
          f"(+{growth:.1f} MiB) in {pages['seconds']:.1f} s")
    assert pages["counts"][0] == 5, pages
    assert growth <= RENDER_GROWTH_MIB and pages["peak"] / 1024 <= RENDER_PEAK_MIB, pages

    valid = {os.path.basename(p) for p, status, _r in cases if status == 200}
    assert sorted(os.listdir(output / "simple")) == sorted(
        ["index.html", "index.html.gz", "index.json", "index.json.gz"] + [f"valid-project-{p}" for p in range(5)])
    root_index = json.loads((output / "simple" / "index.json").read_text())
    assert [p["name"] for p in root_index["projects"]] == [f"valid-project-{p}" for p in range(5)]
    for p in range(5):
        directory = output / "simple" / f"valid-project-{p}"
        page = json.loads((directory / "index.json").read_text())
        assert {f["filename"] for f in page["files"]} == {f for f in valid if f.startswith(f"valid_project_{p}-")}
        for entry in page["files"]:
            with open(root / entry["filename"], "rb") as f:
                assert entry["hashes"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
            assert entry["requires-python"] == VALID_RP
        for name in ("index.html", "index.json"):
            assert (directory / name).stat().st_size <= PAGE_MAX_BYTES
        assert f'data-requires-python="{VALID_RP.replace(">", "&gt;")}"' in (directory / "index.html").read_text()
    # nothing of a hostile upload was published, only the copies put there by hand (and no sidecar for those)
    published = {n for n in os.listdir(root) if not n.startswith(".")}
    assert {n for n in published if not n.startswith("hostile")} == valid
    assert not any(n.startswith("hostile") for n in os.listdir(root / ".privatepypi" / "meta"))
