"""What clients download to resolve, proven from the server's nginx access log.

- cc-future 2.0.0 needs Python >= 3.99: with data-requires-python on the page a
  client never requests its files (nor their .metadata).
- With PEP 658 metadata files a resolver reads <wheel>.metadata, never the wheel
  (no whole download and no Range request of a .whl either).
"""

import datetime
import time

import distbuild
from conftest import RUN_ID, must, twine_upload, wait_listed


def _requests_for(entries, fragment):
    return [e for e in entries if fragment in e[1]]


def _wheel_downloads(entries):
    return [e for e in entries if e[0] == "GET" and e[1].split("?")[0].endswith(".whl")]


def test_pip_skips_the_version_for_a_newer_python_without_downloading_it(ws, corpus, access_log):
    ws.make_venv()
    mark = access_log.mark()
    must(ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-future"), "pip install cc-future")
    assert ws.installed() == {"cc-future": "1.0.0"}
    fetched = _requests_for(access_log.since(mark), "cc_future-2.0.0")
    assert not fetched, f"pip requested files of cc-future 2.0.0 (Requires-Python >=3.99): {fetched}"


def test_uv_skips_the_version_for_a_newer_python_without_downloading_it(ws, corpus, access_log):
    ws.make_venv()
    mark = access_log.mark()
    must(ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(), "cc-future"),
         "uv pip install cc-future")
    assert ws.installed() == {"cc-future": "1.0.0"}
    fetched = _requests_for(access_log.since(mark), "cc_future-2.0.0")
    assert not fetched, f"uv requested files of cc-future 2.0.0 (Requires-Python >=3.99): {fetched}"


def test_pip_resolves_from_metadata_files_not_wheels(ws, corpus, access_log):
    ws.make_venv()
    mark = access_log.mark()
    must(ws.pip("install", "--dry-run", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-app"),
         "pip install --dry-run cc-app")
    entries = access_log.since(mark)
    wheels = _wheel_downloads(entries)
    assert not wheels, f"pip downloaded wheels only to resolve (no PEP 658 metadata used): {wheels}"
    metadata = sorted(e[1].rsplit("/", 1)[-1] for e in entries if e[1].endswith(".whl.metadata") and e[2] == 200)
    assert len(metadata) == 4, f"pip read {metadata}, expected the .metadata of the 4 wheels of cc-app's tree"


def test_uv_resolves_from_metadata_files_not_wheels(ws, corpus, access_log):
    mark = access_log.mark()
    (ws.path / "in.txt").write_text("cc-app\n")
    must(ws.uv("pip", "compile", "--python", ws.make_venv() / "bin/python", "--index-url", ws.server.simple_with_credentials(),
               ws.path / "in.txt"), "uv pip compile cc-app")
    entries = access_log.since(mark)
    wheels = _wheel_downloads(entries)
    assert not wheels, f"uv fetched wheels (whole or by Range) to resolve instead of PEP 658 metadata: {wheels}"
    metadata = [e for e in entries if e[1].endswith(".whl.metadata") and e[2] == 200]
    assert len(metadata) == 4, f"uv read {metadata}, expected the .metadata of the 4 wheels of cc-app's tree"


def test_install_downloads_only_the_wheels_it_installs(ws, corpus, access_log):
    ws.make_venv()
    mark = access_log.mark()
    must(ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(), "cc-app"),
         "uv pip install cc-app")
    wanted = {f"{distbuild.dist_name(n)}-{v}-py3-none-any.whl" for n, v in ws.installed().items()}
    fetched = {e[1].rsplit("/", 1)[-1] for e in _wheel_downloads(access_log.since(mark))}
    assert fetched <= wanted, f"uv downloaded wheels it did not install: {sorted(fetched - wanted)}"


def test_pip_require_hashes(ws, corpus):
    ws.make_venv()
    hashes = " ".join(f"--hash=sha256:{sha}" for name, (_, sha, _) in sorted(corpus.items()) if name.startswith("cc_util-1.1.0"))
    (ws.path / "req.txt").write_text(f"cc-util==1.1.0 {hashes}\n")
    must(ws.pip("install", "--no-cache-dir", "--require-hashes", "--index-url", ws.server.simple_with_credentials(),
                "-r", ws.path / "req.txt"), "pip install --require-hashes")
    assert ws.installed() == {"cc-util": "1.1.0"}


def test_pip_require_hashes_refuses_a_wrong_hash(ws, corpus):
    ws.make_venv()
    (ws.path / "req.txt").write_text(f"cc-util==1.1.0 --hash=sha256:{'0' * 64}\n")
    proc = ws.pip("install", "--no-cache-dir", "--require-hashes", "--index-url", ws.server.simple_with_credentials(),
                  "-r", ws.path / "req.txt")
    assert proc.returncode != 0 and "DO NOT MATCH THE HASHES" in proc.output, proc.output
    assert ws.installed() == {}


def test_uv_exclude_newer(ws, server, tmp_path):
    """Two versions uploaded 2 s apart; --exclude-newer between them picks the older (needs PEP 700 upload-time)."""
    name = f"cc-late-{RUN_ID}"
    old = distbuild.build(distbuild.Release(name, "1.0.0"), tmp_path / "old")
    new = distbuild.build(distbuild.Release(name, "1.1.0"), tmp_path / "new")
    must(twine_upload(server, [p for p, _, _ in old.values()], ws.env), "twine upload 1.0.0")
    wait_listed(server, name, old)
    time.sleep(1.5)
    cutoff = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.5)
    must(twine_upload(server, [p for p, _, _ in new.values()], ws.env), "twine upload 1.1.0")
    wait_listed(server, name, list(old) + list(new))
    ws.make_venv()
    must(ws.uv("pip", "install", "--python", ws.venv, "--index-url", server.simple_with_credentials(), name),
         "uv pip install (newest)")
    assert ws.installed() == {name: "1.1.0"}
    ws.make_venv()
    must(ws.uv("pip", "install", "--python", ws.venv, "--reinstall", "--exclude-newer", cutoff,
               "--index-url", server.simple_with_credentials(), name), f"uv pip install --exclude-newer {cutoff}")
    assert ws.installed() == {name: "1.0.0"}, f"--exclude-newer {cutoff} did not select 1.0.0"
