"""One index for everything: public projects through ours, from the upstream stand-in the suite runs
(conftest's `upstream`, the server's pypiserver_upstream_url), with real clients: Debian's own pip,
current pip, uv and poetry.

Upstream corpus (ages by upstream's upload-time, the stand-in's clock):
  up-dep 1.0 -> up-leaf 1.0        30 days old: a private mx-app needs up-dep
  corp-internal 99.0               upstream; the store holds corp-internal 1.0
  acme-reserved 5.0                upstream only; acme-* is a reserved pattern
  libx 1.0 (30 days), 1.1 (2 hours)  the cooldown (7 days)
  evil 1.0, 2.0                    2.0 goes on the block list
  badhash 1.0                      served with bytes that differ from its page's sha256
  crowd 1.0, cached 1.0, uncached 1.0
  shared 1.0                       fetched through one host, then asked of the peer sharing its store
Names carry the run's suffix, so a second run against the same server starts clean.
"""

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import time

import distbuild
import pytest
from conftest import CLIENT_BIN, RUN_ID, Server, clean_env, must, poetry_install, run, twine_upload, wait_listed

DAY = 86400
SUFFIX = "u" + RUN_ID[-6:]
BLOCK_DIR = "/etc/privatepypi-upstream-blocks"
CLIENTS = ["debian-pip", "pip", "uv", "poetry"]


def n(base):
    return f"{base}-{SUFFIX}"


@pytest.fixture(scope="module")
def corpus(server, upstream, tmp_path_factory):
    if upstream is None:
        pytest.skip("CLIENTS_UPSTREAM_LISTEN is not set: the server has no upstream stand-in")
    upstream.add(n("up-leaf"), "1.0", age=30 * DAY)
    upstream.add(n("up-dep"), "1.0", age=30 * DAY, requires=(n("up-leaf") + ">=1.0",))
    upstream.add(n("corp-internal"), "99.0", age=30 * DAY)
    upstream.add(n("acme-reserved"), "5.0", age=30 * DAY)
    upstream.add(n("libx"), "1.0", age=30 * DAY)
    upstream.add(n("libx"), "1.1", age=2 * 3600)
    upstream.add(n("evil"), "1.0", age=30 * DAY)
    upstream.add(n("evil"), "2.0", age=30 * DAY)
    upstream.add(n("badhash"), "1.0", age=30 * DAY, corrupt=True)
    for name in ("crowd", "cached", "uncached", "shared"):
        upstream.add(n(name), "1.0", age=30 * DAY)
    out = tmp_path_factory.mktemp("upstream-private")
    private = [distbuild.Release(n("mx-app"), "1.0", requires=(n("up-dep") + ">=1.0",)),
               distbuild.Release(n("corp-internal"), "1.0")]
    files = {}
    for release in private:
        files.update(distbuild.build(release, out))
    env = clean_env(tmp_path_factory.mktemp("twine-home"))
    must(twine_upload(server, [path for path, _, _ in files.values()], env), "uploading the private projects")
    for release in private:
        wait_listed(server, release.name, [distbuild.build_wheel(release)[0]])
    return upstream


def versions_in(ws, venv):
    code = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    proc = must(run([venv / "bin/python", "-c", code], ws.env), "listing the venv")
    pairs = (line.split() for line in proc.stdout.splitlines() if line.strip())
    return {distbuild.normalize(name): version for name, version in pairs if name.endswith(SUFFIX)}


def install(ws, client, requirement):
    """Install requirement with one client, cold, through the one index URL; the venv's versions."""
    url = ws.server.simple_with_credentials()
    if client == "poetry":
        project = poetry_install(ws, requirement, f"poetry install {requirement}")
        return versions_in(ws, project / ".venv")
    ws.make_venv()
    if client == "debian-pip":
        cmd = ["/usr/bin/python3", "-m", "pip", "--python", ws.venv / "bin/python", "install", "--no-cache-dir",
               "--index-url", url, requirement]
        must(run(cmd, ws.env), f"Debian's pip install {requirement}")
    elif client == "pip":
        must(ws.pip("install", "--no-cache-dir", "--index-url", url, requirement), f"pip install {requirement}")
    else:
        must(ws.uv("pip", "install", "--no-cache", "--python", ws.venv, "--index-url", url, requirement),
             f"uv pip install {requirement}")
    return versions_in(ws, ws.venv)


def page(server, name):
    status, headers, body = server.request(f"/simple/{name}/", accept="application/vnd.pypi.simple.v1+json")
    return status, headers, (json.loads(body) if status == 200 else None)


def listed_versions(server, name):
    status, _, document = page(server, name)
    assert status == 200, f"/simple/{name}/ answered {status}"
    return sorted({f["filename"].split("-")[1] for f in document["files"]})


def file_path(standin, filename):
    """Our URL path of an upstream file (its sha256 from the stand-in's page)."""
    name = standin.files[filename]["name"]
    entry = next(f for f in standin.page(name)["files"] if f["filename"] == filename)
    return f"/upstream-files/{entry['hashes']['sha256']}/{filename}", entry["hashes"]["sha256"]


def container(server, *cmd, check=True):
    proc = subprocess.run(["docker", "exec", server.container, *cmd], capture_output=True, text=True, timeout=60)
    assert not check or proc.returncode == 0, f"docker exec {' '.join(cmd)}: {proc.stderr}"
    return proc


@pytest.mark.parametrize("client", CLIENTS)
def test_a_tree_of_private_and_public_projects_installs_through_one_url(ws, corpus, client):
    assert install(ws, client, n("mx-app")) == {n("mx-app"): "1.0", n("up-dep"): "1.0", n("up-leaf"): "1.0"}


@pytest.mark.parametrize("client", CLIENTS)
def test_dependency_confusion_private_wins_and_upstream_is_never_asked(ws, corpus, client):
    assert install(ws, client, n("corp-internal")) == {n("corp-internal"): "1.0"}
    assert corpus.count(n("corp-internal")) == 0


def test_a_reserved_pattern_is_never_asked_upstream(ws, corpus):
    status, _, _ = page(ws.server, n("acme-reserved"))
    assert status == 404
    ws.make_venv()
    proc = ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), n("acme-reserved"))
    assert proc.returncode != 0
    assert corpus.count(n("acme-reserved")) == 0


def test_pages_speak_the_private_protocol(server, corpus):
    status, headers, document = page(server, n("up-dep"))
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    entry = document["files"][0]
    assert entry["upload-time"] and entry["size"] > 0 and entry["core-metadata"]["sha256"]
    assert entry["url"].startswith("../../upstream-files/")
    status, headers, body = server.request(f"/simple/{n('up-dep')}/", accept="text/html")
    assert status == 200 and b"data-core-metadata" in body
    assert server.request(f"/simple/{n('no-such-project')}/")[0] == 404


@pytest.mark.parametrize("client", ["debian-pip", "pip", "uv"])
def test_cooldown_hides_a_young_version_from_every_client(ws, corpus, client):
    assert install(ws, client, n("libx")) == {n("libx"): "1.0"}


def test_a_young_file_answers_404_and_comes_of_age_without_a_restart(server, corpus, ws):
    young = distbuild.dist_name(n("libx")) + "-1.1-py3-none-any.whl"
    path, _ = file_path(corpus, young)
    assert server.request(path)[0] == 404
    assert corpus.file_counts[young] == 0
    assert listed_versions(server, n("libx")) == ["1.0"]
    corpus.advance(7 * DAY)  # the stand-in's clock: 1.1 is now 7 days and 2 hours old
    deadline = time.monotonic() + 30
    while listed_versions(server, n("libx")) != ["1.0", "1.1"]:
        assert time.monotonic() < deadline, "libx 1.1 did not appear within 30 s after coming of age"
        time.sleep(1)
    assert server.request(path)[0] == 200
    assert install(ws, "pip", n("libx")) == {n("libx"): "1.1"}


def test_the_block_list_hides_a_version_and_its_stored_file(server, corpus):
    blocked = distbuild.dist_name(n("evil")) + "-2.0-py3-none-any.whl"
    path, _ = file_path(corpus, blocked)
    assert listed_versions(server, n("evil")) == ["1.0", "2.0"]
    assert server.request(path)[0] == 200  # fetched and stored: nginx serves it from now on
    advisory = {"id": "MAL-2026-0001", "affected": [{"package": {"ecosystem": "PyPI", "name": n("evil")},
                                                     "versions": ["2.0"]}]}
    container(server, "mkdir", "-p", BLOCK_DIR)
    subprocess.run(["docker", "exec", "-i", server.container, "sh", "-c", f"cat > {BLOCK_DIR}/MAL-2026-0001.json"],
                   input=json.dumps(advisory), text=True, check=True, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while listed_versions(server, n("evil")) != ["1.0"] or server.request(path)[0] != 404:
            assert time.monotonic() < deadline, "the blocked version is still served 30 s after the advisory"
            time.sleep(1)
    finally:
        container(server, "rm", "-f", f"{BLOCK_DIR}/MAL-2026-0001.json")


def test_a_hash_mismatch_is_refused_and_nothing_stored(server, corpus):
    filename = distbuild.dist_name(n("badhash")) + "-1.0-py3-none-any.whl"
    path, sha = file_path(corpus, filename)
    status, _, body = server.request(path)
    assert status == 502, body
    assert b"sha256" in body
    assert container(server, "test", "-e", f"/var/pypi/.privatepypi/upstream/files/{sha}/{filename}",
                     check=False).returncode != 0
    assert corpus.file_counts[filename] == 1


def test_concurrent_first_requests_fetch_the_file_once(server, corpus):
    filename = distbuild.dist_name(n("crowd")) + "-1.0-py3-none-any.whl"
    path, sha = file_path(corpus, filename)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda count: server.request(path), range(20)))
    assert [status for status, _, _ in answers] == [200] * 20
    assert {hashlib.sha256(body).hexdigest() for _, _, body in answers} == {sha}
    assert corpus.file_counts[filename] == 1


def test_a_file_fetched_through_one_host_is_served_by_the_other_without_asking_upstream(ws, server, corpus):
    """Two hosts sharing one store (molecule/clients: pypi-clients and pypi-clients-peer on one volume, as
    instances on EFS): the file the first host fetched is the peer's too; the stand-in sees one file request."""
    peer_url = os.environ.get("CLIENTS_PEER_INDEX_URL")
    if not peer_url:
        pytest.skip("CLIENTS_PEER_INDEX_URL is not set: no second host shares the store")
    peer = Server(peer_url, server.user, server.password, os.environ.get("CLIENTS_PEER_CONTAINER", ""), server.inventory)
    filename = distbuild.dist_name(n("shared")) + "-1.0-py3-none-any.whl"
    path, sha = file_path(corpus, filename)
    stored = f"/var/pypi/.privatepypi/upstream/files/{sha}/{filename}"
    status, _, body = server.request(path)
    assert status == 200 and hashlib.sha256(body).hexdigest() == sha
    assert corpus.file_counts[filename] == 1
    # the peer sees the stored file on the store it mounts, lists the project, and serves the file
    if peer.container:
        assert container(peer, "test", "-e", stored, check=False).returncode == 0
    assert listed_versions(peer, n("shared")) == ["1.0"]
    status, _, body = peer.request(path)
    assert status == 200 and hashlib.sha256(body).hexdigest() == sha
    # and a real client installs it through the peer: still the one upstream file request
    ws.server = peer
    assert install(ws, "pip", n("shared")) == {n("shared"): "1.0"}
    assert corpus.file_counts[filename] == 1


def test_upstream_stopped_cached_installs_uncached_fails_fast(ws, server, corpus):
    assert install(ws, "pip", n("cached")) == {n("cached"): "1.0"}
    corpus.stop()
    try:
        time.sleep(3)  # past the page's freshness bound (molecule/clients: 2 s)
        status, headers, _ = page(server, n("cached"))
        assert status == 200 and headers["X-Privatepypi-Upstream"] == "stale"
        ws.make_venv()
        must(ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), n("cached")),
             "pip install of a cached project with upstream down")
        started = time.monotonic()
        status, headers, body = page(server, n("uncached"))
        assert status in (502, 504), body
        assert headers["X-Privatepypi-Upstream"] == "unavailable"
        assert time.monotonic() - started < 10
        started = time.monotonic()
        proc = ws.pip("install", "--no-cache-dir", "--retries", "0", "--index-url", ws.server.simple_with_credentials(),
                      n("uncached"))
        assert proc.returncode != 0
        # uv names the index's status; pip says only that no version was found
        proc = ws.uv("pip", "install", "--no-cache", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(),
                     n("uncached"))
        assert proc.returncode != 0
        assert re.search(r"50[24]", proc.output), proc.output[-3000:]
        assert time.monotonic() - started < 60
    finally:
        corpus.start()


def test_a_private_upload_under_an_upstream_name_is_refused_unless_claimed(server, corpus, tmp_path):
    files = distbuild.build(distbuild.Release(n("up-leaf"), "9.0"), tmp_path / "dist")
    # --verbose: twine prints the server's answer, which says why
    proc = run([CLIENT_BIN / "twine", "upload", "--verbose", "--non-interactive", "--disable-progress-bar",
                "--repository-url", server.url + "/", "-u", server.user, "-p", server.password,
                *[path for path, _, _ in files.values()]], clean_env(tmp_path / "home"))
    assert proc.returncode != 0
    assert "403" in proc.output and "exists on the upstream index" in proc.output, proc.output[-3000:]
    assert listed_versions(server, n("up-leaf")) == ["1.0"]
