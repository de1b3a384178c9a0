"""The security headers of the nginx site, rendered by the role itself (test_user_data.render), per
location: pages and refusals carry the full set; stored bytes (files and PEP 658 metadata) only
what acts on something never rendered, which keeps a small file's answer in one TCP segment; HSTS
only on the HTTPS site; pages vary on Accept and Accept-Encoding without gzip_vary. nginx sends a
location's own add_header lines and none of the server's, so every location is checked on its own.
"""

import re

import pytest
from test_user_data import members_of, render

PAGE_HEADERS = {"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Security-Policy"}
DOWNLOAD_HEADERS = {"X-Content-Type-Options", "Content-Security-Policy", "Content-Disposition"}
METADATA_HEADERS = {"X-Content-Type-Options", "Content-Security-Policy"}
DOMAIN = "pypi.example.com"


def _blocks(site):
    """{(server listen line, location or 'server'): {header: value}} of a rendered site."""
    headers, server, location, depth = {}, None, None, 0
    for raw in site.splitlines():
        line = raw.strip()
        if line.startswith("server {") and depth == 0:
            server, location = None, "server"
        elif line.startswith("listen ") and server is None:
            server = line
        elif line.startswith("location ") and depth == 1:
            location = line[len("location "):].rstrip(" {")
        match = re.match(r'add_header (\S+) ("[^"]*"|\S+) always;$', line)
        if match:
            headers.setdefault((server, location), {})[match.group(1)] = match.group(2).strip('"')
        depth += line.count("{") - line.count("}")
        if depth == 1 and location != "server" and line == "}":
            location = "server"
    return headers


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    # the bundle is all these read (test_user_data proves the SSH path installs the same files)
    plain = members_of(render(tmp_path_factory.mktemp("plain"), ssh=False)[1])
    tls = members_of(render(tmp_path_factory.mktemp("tls"), {
        "pypiserver_acme_domain": DOMAIN, "pypiserver_acme_challenge": "dns-route53",
        "pypiserver_acme_email": "ops@example.com"}, ssh=False)[1])
    return {"plain": plain["/etc/nginx/sites-available/pypiserver"][1].decode(),
            "https": tls["/etc/nginx/sites-available/pypiserver-tls"][1].decode()}


def _location(site, suffix):
    """The headers of the last block of site whose location ends with suffix (the main server is its last)."""
    return [headers for (_server, location), headers in _blocks(site).items() if location.endswith(suffix)][-1]


@pytest.mark.parametrize("site", ["plain", "https"])
def test_pages_and_the_server_carry_every_security_header(sites, site):
    text = sites[site]
    for suffix in ("server", "/simple"):
        headers = _location(text, suffix)
        assert PAGE_HEADERS <= set(headers), (suffix, headers)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert ("Strict-Transport-Security" in headers) is (site == "https")
    assert "Content-Disposition" not in _location(text, "/simple")
    # every page has a gzip copy; gzip_vary would make gzip_static open it for every client
    assert _location(text, "/simple")["Vary"] == "Accept, Accept-Encoding"
    assert "gzip_vary" not in text


@pytest.mark.parametrize("site", ["plain", "https"])
def test_stored_bytes_are_never_rendered_and_carry_nothing_else(sites, site):
    hsts = {"Strict-Transport-Security"} if site == "https" else set()
    files = _location(sites[site], "/packages/")
    metadata = _location(sites[site], r"\.metadata)$")
    assert set(files) == DOWNLOAD_HEADERS | hsts and set(metadata) == METADATA_HEADERS | hsts
    for headers in (files, metadata):
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Content-Security-Policy"] == "sandbox"
    assert files["Content-Disposition"] == "attachment"


def test_a_small_files_answer_fits_one_segment(sites):
    """The answer to a 1 kB wheel: nginx's own headers (as sent for a benchmark wheel) and ours stay
    under one Ethernet segment's payload (MSS 1,448 with timestamps), so nginx sends it at once."""
    nginx_own = ("HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 28 Nov 2026 11:40:33 GMT\r\n"
                 "Content-Type: application/octet-stream\r\nContent-Length: 1080\r\n"
                 "Last-Modified: Sat, 28 Nov 2026 02:32:46 GMT\r\nConnection: keep-alive\r\n"
                 'ETag: "6b0a3d4e-438"\r\nAccept-Ranges: bytes\r\n\r\n')
    ours = "".join(f"{name}: {value}\r\n" for name, value in _location(sites["plain"], "/packages/").items())
    assert len(nginx_own) + len(ours) + 1080 <= 1448


LUA_CALL = re.compile(r"^privatepypi\.[a-z_]+\((true|false|true, true)?\)$")


@pytest.mark.parametrize("site", ["plain", "https"])
def test_the_site_holds_no_lua_but_calls_into_its_module(sites, site):
    """nginx's Lua lives in privatepypi.lua (luacheck'ed in the lint stage); the site only hands it
    this host's settings once and calls it from its locations."""
    blocks = re.findall(r"(\w+)_by_lua_block \{\n(.*?)\n\s*\}\n", sites[site], re.S)
    phases = [phase for phase, _body in blocks]
    assert phases[:2] == ["init", "init_worker"] and set(phases[2:]) == {"content", "access"}
    init = blocks[0][1]
    assert init.strip().startswith('privatepypi = require("privatepypi").configure({')
    settings = dict(re.findall(r"^\s+(\w+) = (.+),$", init, re.M))
    assert settings["packages_dir"] == '"/var/pypi"' and settings["store_is_a_mount"] == "true"
    assert settings.keys() == {"auth_port", "verdict_ttl", "failure_limit", "failure_window", "pending_max",
                               "busy_seconds", "store_is_a_mount", "packages_dir", "pages_dir"}
    for _phase, body in blocks[1:]:
        for line in body.strip().splitlines():
            assert LUA_CALL.match(line.strip()), line
    assert 'lua_package_path "/opt/pypiserver/privatepypi_host/?.lua;;";' in sites[site]


def test_tls_1_2_offers_forward_secret_aead_ciphers_only(sites):
    ciphers = re.search(r"^\s*ssl_ciphers (\S+);$", sites["https"], re.M).group(1).split(":")
    assert ciphers and all(c.startswith("ECDHE-") and ("-GCM-" in c or "CHACHA20" in c) for c in ciphers)
    assert "ssl_ciphers" not in sites["plain"]


@pytest.mark.parametrize("site", ["plain", "https"])
def test_the_access_log_never_records_what_a_client_sent_as_a_user_name(sites, site):
    logs = re.findall(r"^\s*access_log (\S+) (\S+) .*;$", sites[site], re.M)
    assert logs and all(fmt == "privatepypi" for _path, fmt in logs)
    fmt = re.search(r"^log_format privatepypi '(.*)';$", sites[site], re.M).group(1)
    assert "$remote_user" not in fmt and fmt.startswith("$remote_addr - - [$time_local] \"$request\" $status ")
