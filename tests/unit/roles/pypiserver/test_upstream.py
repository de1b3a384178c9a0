"""The upstream service (privatepypi_host/upstream.py) against the upstream stand-in: origin control,
cooldown by upstream's upload-time, the block list, files fetched once and verified, upstream down."""

import json
import os
import threading
import time
import urllib.request

import pytest
from ansible_collections.privatepypi.aws.tests.support.upstream_standin import Standin
from distbuild import make_wheel
from privatepypi_host import upload
from privatepypi_host import upstream as up

DAY = 86400


@pytest.fixture
def standin():
    server = Standin().start()
    server.add("libx", "1.0", age=30 * DAY)
    server.add("libx", "1.1", age=2 * 3600)
    server.add("acme-internal", "99.0", age=30 * DAY)
    server.add("acme-tools", "5.0", age=30 * DAY)
    server.add("bad", "1.0", age=30 * DAY, corrupt=True)
    server.add("evil", "1.0", age=30 * DAY)
    server.add("evil", "2.0", age=30 * DAY)
    yield server
    server.stop()


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def service(store_root, standin, **kw):
    kw.setdefault("cooldown", 7 * DAY)
    kw.setdefault("timeout", 3.0)
    return up.Upstream(store_root, standin.url, **kw)


def versions(service_, name):
    page, url, _state = service_.page(name)
    return sorted(f["version"] for f in service_.visible_files(name, page, url))


def test_origin_control_never_asks_upstream_for_a_private_or_reserved_name(store_root, standin):
    make_wheel(store_root, name="acme-internal", version="1.0")
    svc = service(store_root, standin, reserved=["acme-*"])
    assert not svc.is_upstream("acme-internal")
    assert not svc.is_upstream("acme-tools")
    with pytest.raises(up.NotFound):
        svc.file("0" * 64, "acme_internal-99.0-py3-none-any.whl")
    assert standin.count("acme-internal") == 0
    assert standin.count("acme-tools") == 0
    assert svc.is_upstream("libx")


def test_cooldown_by_upload_time_and_a_version_comes_of_age_without_refetch(store_root, standin):
    clock = Clock()
    svc = service(store_root, standin, clock=clock, max_age=10 * DAY)
    assert versions(svc, "libx") == ["1.0"]
    clock.now += 7 * DAY  # the page is not fetched again (max age): filtered against now
    assert versions(svc, "libx") == ["1.0", "1.1"]
    assert standin.count("libx") == 1


def test_cooldown_zero_and_exceptions(store_root, standin):
    assert versions(service(store_root, standin, cooldown=0), "libx") == ["1.0", "1.1"]
    assert versions(service(store_root, standin, exempt=["libx"]), "libx") == ["1.0", "1.1"]


def test_young_file_answers_404_even_when_asked_directly(store_root, standin):
    svc = service(store_root, standin)
    page = standin.page("libx")
    young = next(f for f in page["files"] if "1.1" in f["filename"])
    with pytest.raises(up.NotFound):
        svc.file(young["hashes"]["sha256"], young["filename"])
    assert standin.file_counts[young["filename"]] == 0


def advisory(path, name, versions_=(), ranges=None):
    affected = {"package": {"ecosystem": "PyPI", "name": name}, "versions": list(versions_)}
    if ranges:
        affected["ranges"] = ranges
    path.write_text(json.dumps({"id": "MAL-2026-1", "affected": [affected]}))


def test_block_list_hides_versions_and_removes_stored_files(store_root, standin, tmp_path):
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    svc = service(store_root, standin, cooldown=0, block_list=str(blocks))
    page = standin.page("evil")
    first = next(f for f in page["files"] if "-1.0-" in f["filename"])
    stored = svc.file(first["hashes"]["sha256"], first["filename"])
    assert os.path.exists(stored)
    advisory(blocks / "MAL-2026-1.json", "evil", ["1.0"])
    svc.refresh_block_list(force=True)
    assert versions(svc, "evil") == ["2.0"]
    assert not os.path.exists(stored)
    with pytest.raises(up.NotFound):
        svc.file(first["hashes"]["sha256"], first["filename"])
    advisory(blocks / "MAL-2026-1.json", "evil", ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}])
    svc.refresh_block_list(force=True)
    assert versions(svc, "evil") == []


def test_a_file_is_fetched_once_verified_and_stored_immutable(store_root, standin):
    svc = service(store_root, standin)
    page = standin.page("libx")
    old = next(f for f in page["files"] if "1.0" in f["filename"])
    results, errors = [], []

    def fetch():
        try:
            results.append(svc.file(old["hashes"]["sha256"], old["filename"]))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=fetch) for count in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    assert standin.file_counts[old["filename"]] == 1
    assert os.stat(results[0]).st_mode & 0o222 == 0
    metadata = svc.file(old["hashes"]["sha256"], old["filename"] + ".metadata")
    with open(metadata, "rb") as f:
        assert b"Name: libx" in f.read()


def test_hash_mismatch_is_refused_and_nothing_stored(store_root, standin):
    svc = service(store_root, standin)
    entry = standin.page("bad")["files"][0]
    with pytest.raises(up.UpstreamError) as raised:
        svc.file(entry["hashes"]["sha256"], entry["filename"])
    assert raised.value.status == 502
    assert not os.path.exists(svc.stored_path(entry["hashes"]["sha256"], entry["filename"]))
    assert os.listdir(svc.dirs["tmp"]) == []


def test_upstream_down_serves_stale_and_an_uncached_project_fails_fast(store_root, standin):
    clock = Clock()
    svc = service(store_root, standin, clock=clock, max_age=60)
    assert versions(svc, "libx") == ["1.0"]
    standin.stop()
    clock.now += 120
    assert svc.page("libx")[2] == "stale"
    started = time.monotonic()
    with pytest.raises(up.UpstreamError) as raised:
        svc.page("acme-tools")
    assert raised.value.status in (502, 504)
    assert time.monotonic() - started < 5


def test_slow_upstream_is_bounded(store_root, standin):
    standin.delay = 3
    svc = service(store_root, standin, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(up.UpstreamError) as raised:
        svc.page("libx")
    assert raised.value.status == 504
    assert time.monotonic() - started < 2.5


def test_only_allowed_hosts_are_contacted(store_root, standin):
    svc = service(store_root, standin, cooldown=0)
    with pytest.raises(up.UpstreamError):
        svc.request_url("http://169.254.169.254/latest/", "*/*", time.monotonic() + 1, 100, lambda chunk: None)
    assert svc.requests == 0


def test_pages_by_the_private_renderer_with_our_file_urls(store_root, standin):
    svc = service(store_root, standin)
    page, url, _state = svc.page("libx")
    body, content_type = up.render("libx", svc.visible_files("libx", page, url), "json")
    document = json.loads(body)
    assert content_type == up.JSON_TYPE
    assert [f["filename"] for f in document["files"]] == ["libx-1.0-py3-none-any.whl"]
    entry = document["files"][0]
    assert entry["url"].startswith("../../upstream-files/" + entry["hashes"]["sha256"] + "/")
    assert entry["upload-time"] and entry["size"] and entry["core-metadata"]["sha256"]
    html_page, html_type = up.render("libx", svc.visible_files("libx", page, url), "html")
    assert b"data-core-metadata" in html_page and html_type.endswith("html")


def test_the_http_interface(store_root, standin):
    svc = service(store_root, standin)
    up.Handler.upstream = svc
    server = up.Server(("127.0.0.1", 0), up.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        def get(headers):
            request = urllib.request.Request(base, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
                    return response.status, response.headers, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.headers, error.read()

        status, headers, body = get({"X-Privatepypi-Page": "/simple/libx/index.json", "X-Privatepypi-Type": up.JSON_TYPE})
        assert status == 200 and headers["X-Privatepypi-Upstream"] == "fresh"
        entry = json.loads(body)["files"][0]
        status, headers, body = get({"X-Privatepypi-File": "/upstream-files/" + entry["url"].split("upstream-files/")[1]})
        assert status == 200
        assert headers["X-Accel-Redirect"] == "/_upstream_stored/" + entry["url"].split("upstream-files/")[1]
        assert get({"X-Privatepypi-Page": "/simple/nothing-here/index.html"})[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_two_instances_sharing_the_store_fetch_a_file_once(store_root, standin):
    first, second = service(store_root, standin), service(store_root, standin)
    entry = next(f for f in standin.page("libx")["files"] if "1.0" in f["filename"])
    stored = first.file(entry["hashes"]["sha256"], entry["filename"])
    assert second.file(entry["hashes"]["sha256"], entry["filename"]) == stored
    assert standin.file_counts[entry["filename"]] == 1


def test_a_name_taken_privately_later_loses_its_stored_upstream_files(store_root, standin):
    svc = service(store_root, standin, cooldown=0)
    entry = next(f for f in standin.page("libx")["files"] if "1.0" in f["filename"])
    stored = svc.file(entry["hashes"]["sha256"], entry["filename"])
    make_wheel(store_root, name="libx", version="0.1")
    svc.sweep()
    assert not os.path.exists(stored)
    assert not svc.is_upstream("libx")


def test_the_upload_check_asks_the_service_about_a_new_name(store_root, standin):
    svc = service(store_root, standin, reserved=["acme-*"])
    up.Handler.upstream = svc
    server = up.Server(("127.0.0.1", 0), up.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    check = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        assert upload.upstream_has(check, "libx") is True
        assert upload.upstream_has(check, "nothing-here") is False
        assert upload.upstream_has(check, "acme-tools") is False  # reserved: ours, never asked
        make_wheel(store_root, name="evil", version="0.1")
        assert upload.upstream_has(check, "evil") is False  # already private
        assert standin.count("acme-tools") == 0 and standin.count("evil") == 0
        middleware = upload.UploadMiddleware(None, store_root, upstream_check=check, claimed=["lib*"])
        middleware.check_origin("libx")
        with pytest.raises(upload.Refused) as refused:
            upload.UploadMiddleware(None, store_root, upstream_check=check).check_origin("libx")
        assert refused.value.status.startswith("403") and "claims" in str(refused.value)
        standin.stop()
        with pytest.raises(upload.Refused) as refused:
            upload.UploadMiddleware(None, store_root, upstream_check=check).check_origin("unknown-now")
        assert refused.value.status.startswith("503")
    finally:
        server.shutdown()
        server.server_close()
