"""The simple API as an independent parser (pypi-simple) and raw HTTP see it.

PEP 503 HTML (today's pages), PEP 658/714 metadata files and attributes,
PEP 592 yank attribute, PEP 691 JSON by content negotiation, PEP 700 fields.
"""

import datetime
import hashlib
import json

import distbuild
import pytest
from conftest import CORPUS
from pypi_simple import ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY, PyPISimple

JSON = "application/vnd.pypi.simple.v1+json"
PROJECTS = ["cc-util", "cc-lib", "cc-future", "cc-app"]


@pytest.fixture(scope="module")
def client(server):
    with PyPISimple(endpoint=server.simple, auth=(server.user, server.password)) as simple:
        yield simple


def _page(client, project, accept):
    return client.get_project_page(project, accept=accept)


def _files(corpus, project):
    prefix = distbuild.dist_name(project) + "-"
    return {name: info for name, info in corpus.items() if name.startswith(prefix)}


def test_root_page_lists_every_project(client, corpus):
    page = client.get_index_page(accept=ACCEPT_HTML_ONLY)
    missing = {distbuild.normalize(p) for p in PROJECTS} - {distbuild.normalize(p) for p in page.projects}
    assert not missing, f"/simple/ does not list {missing}"


@pytest.mark.parametrize("project", PROJECTS)
def test_html_project_page_links_every_file_with_its_sha256(client, corpus, project):
    page = _page(client, project, ACCEPT_HTML_ONLY)
    got = {p.filename: p.digests.get("sha256") for p in page.packages}
    want = {name: sha for name, (_, sha, _) in _files(corpus, project).items()}
    assert got == want, f"/simple/{project}/ lists {got}, expected {want}"


def test_files_download_with_the_listed_digest(client, server, corpus):
    page = _page(client, "cc-util", ACCEPT_HTML_ONLY)
    for pkg in page.packages:
        status, _, body = server.request(pkg.url)
        assert status == 200, f"GET {pkg.url}: {status}"
        assert hashlib.sha256(body).hexdigest() == pkg.digests["sha256"], f"{pkg.filename}: bytes differ from the page's sha256"


@pytest.mark.parametrize("path", ["/simple/", "/simple/cc-util/", "/packages/cc_util-1.0.0-py3-none-any.whl"])
def test_anonymous_and_wrong_password_are_refused(server, corpus, path):
    assert server.request(path, auth=False)[0] == 401, f"GET {path} without credentials was not refused with 401"
    saved = server.password
    server.password = "not-the-password"
    try:
        assert server.request(path)[0] == 401, f"GET {path} with a wrong password was not refused with 401"
    finally:
        server.password = saved


def test_html_is_the_default_without_accept(server, corpus):
    status, headers, body = server.request("/simple/cc-util/")
    assert status == 200 and headers.get_content_type() in {"text/html", "application/vnd.pypi.simple.v1+html"}, \
        f"no Accept header: {status} {headers.get('Content-Type')}"
    assert b"cc_util-1.0.0-py3-none-any.whl" in body


def test_html_carries_data_requires_python(client, corpus):
    page = _page(client, "cc-future", ACCEPT_HTML_ONLY)
    got = {p.filename: p.requires_python for p in page.packages}
    want = {"cc_future-1.0.0-py3-none-any.whl": ">=3.8", "cc_future-1.0.0.tar.gz": ">=3.8",
            "cc_future-2.0.0-py3-none-any.whl": ">=3.99", "cc_future-2.0.0.tar.gz": ">=3.99"}
    assert got == want, f"data-requires-python on /simple/cc-future/ (PEP 503): {got}"


def test_html_announces_core_metadata_for_every_wheel(client, server, corpus):
    status, _, body = server.request("/simple/cc-app/", accept="text/html")
    text = body.decode()
    assert 'data-core-metadata="sha256=' in text, "no data-core-metadata attribute (PEP 714) on /simple/cc-app/"
    assert 'data-dist-info-metadata="sha256=' in text, "no data-dist-info-metadata attribute (PEP 658) on /simple/cc-app/"
    for project in PROJECTS:
        for pkg in _page(client, project, ACCEPT_HTML_ONLY).packages:
            if pkg.filename.endswith(".whl"):
                assert pkg.has_metadata, f"{pkg.filename}: no PEP 658 metadata announced"


@pytest.mark.parametrize("project", PROJECTS)
def test_metadata_files_equal_the_wheels_metadata(client, server, corpus, project):
    """<wheel URL>.metadata is the wheel's METADATA byte for byte, and the page's digest is its sha256."""
    wheels = [p for p in _page(client, project, ACCEPT_HTML_ONLY).packages if p.filename.endswith(".whl")]
    for pkg in wheels:
        status, _, body = server.request(pkg.url + ".metadata")
        assert status == 200, f"GET {pkg.filename}.metadata answered {status} (PEP 658)"
        assert body == corpus[pkg.filename][2], f"{pkg.filename}.metadata differs from the wheel's METADATA"
        assert (pkg.metadata_digests or {}).get("sha256") == hashlib.sha256(body).hexdigest(), \
            f"{pkg.filename}: the page's metadata digest {pkg.metadata_digests} is not the file's sha256"


def test_json_is_served_for_the_json_accept_header(server, corpus):
    status, headers, body = server.request("/simple/cc-util/", accept=JSON)
    assert status == 200 and headers.get_content_type() == JSON, \
        f"Accept: {JSON} got {status} {headers.get('Content-Type')} (PEP 691)"
    doc = json.loads(body)
    assert doc["name"] == "cc-util" and doc["meta"]["api-version"].startswith("1.")


@pytest.mark.parametrize(("accept", "want"), [
    (None, "html"),
    ("text/html", "html"),
    ("application/vnd.pypi.simple.v1+html", "html"),
    (JSON, "json"),
    ("application/vnd.pypi.simple.latest+json", "json"),
    (f"{JSON};q=0.5, text/html;q=0.9", "html"),
    (f"text/html;q=0.2, {JSON}", "json"),
    (f"{JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", "json"),  # pip's and uv's header
])
def test_content_negotiation(server, corpus, accept, want):
    for path in ("/simple/", "/simple/cc-util/"):
        status, headers, _ = server.request(path, accept=accept)
        ctype = headers.get_content_type()
        got = "json" if ctype == JSON else "html" if ctype in {"text/html", "application/vnd.pypi.simple.v1+html"} else ctype
        assert (status, got) == (200, want), f"GET {path} Accept: {accept!r} -> {status} {ctype}, expected {want}"


@pytest.mark.parametrize("path", ["/simple/", "/simple/cc-util/"])
def test_pages_vary_on_accept(server, corpus, path):
    for accept in ("text/html", JSON):
        vary = server.request(path, accept=accept)[1].get("Vary", "")
        assert "accept" in vary.lower(), f"GET {path} Accept: {accept}: Vary is {vary!r}, caches need 'Accept'"


def _require_json(server, path):
    # pypi-simple parses whatever comes back; make sure it really was JSON.
    ctype = server.request(path, accept=JSON)[1].get_content_type()
    assert ctype == JSON, f"GET {path} Accept: {JSON} answered {ctype}: no PEP 691 JSON to compare"


def test_json_root_lists_the_same_projects_as_html(client, server, corpus):
    _require_json(server, "/simple/")
    html_page = client.get_index_page(accept=ACCEPT_HTML_ONLY)
    json_page = client.get_index_page(accept=ACCEPT_JSON_ONLY)
    assert sorted(map(distbuild.normalize, json_page.projects)) == sorted(map(distbuild.normalize, html_page.projects))


@pytest.mark.parametrize("project", [*PROJECTS, "cc-yank"])
def test_json_and_html_agree(client, server, corpus, project):
    _require_json(server, f"/simple/{project}/")
    html_page = _page(client, project, ACCEPT_HTML_ONLY)
    json_page = _page(client, project, ACCEPT_JSON_ONLY)

    def view(page):
        return {p.filename: (p.url, p.digests.get("sha256"), p.requires_python, p.has_metadata,
                             (p.metadata_digests or {}).get("sha256"), p.is_yanked, p.yanked_reason or None)
                for p in page.packages}

    assert view(json_page) == view(html_page), f"/simple/{project}/: JSON and HTML describe the files differently"


@pytest.mark.parametrize("project", PROJECTS)
def test_json_has_pep700_versions_size_and_upload_time(client, server, corpus, project):
    _require_json(server, f"/simple/{project}/")
    page = _page(client, project, ACCEPT_JSON_ONLY)
    assert page.repository_version and tuple(map(int, page.repository_version.split("."))) >= (1, 1), \
        f"api-version {page.repository_version}: PEP 700 fields need 1.1"
    versions = {r.version for r in CORPUS if r.name == project}
    assert set(page.versions or []) == versions, f"versions {page.versions}, expected {sorted(versions)}"
    now = datetime.datetime.now(datetime.UTC)
    for pkg in page.packages:
        path = corpus[pkg.filename][0]
        assert pkg.size == path.stat().st_size, f"{pkg.filename}: size {pkg.size}, file has {path.stat().st_size}"
        assert pkg.upload_time is not None, f"{pkg.filename}: no upload-time"
        assert pkg.upload_time <= now + datetime.timedelta(seconds=5), f"{pkg.filename}: upload-time {pkg.upload_time} is in the future"

