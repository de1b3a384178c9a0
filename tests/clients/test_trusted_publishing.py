"""Trusted publishing with the clients' own support, unchanged: a CI job publishes with its platform's
OIDC token and no stored secret.

A local OIDC issuer stand-in (tests/support/oidc_standin.py: discovery document, keys, tokens with the
claims a test chooses) plays GitHub Actions' token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN)
and GitLab CI's ID token variable. The clients speak to an index over HTTPS only (they derive
https://<host>/_/oidc/... from the upload URL), so they reach it through a TLS front
(tests/support/tls_forwarder.py), as behind a load balancer.

The server (molecule/clients) declares two publishers on the stand-in's issuer URL: gh-release (GitHub
shape: acme/tools, release.yml, refs/tags/v*; projects tp-gh-*) and gl-release (GitLab shape:
acme/platform/lib, .gitlab-ci.yml, environment release; projects tp-gl-*), with 1-minute tokens, and one
of an issuer nothing answers for (http://172.17.0.1:18093).

  CLIENTS_OIDC_LISTEN   host:port where the suite runs the issuer stand-in the server is configured
                        with (its URL: http://<host:port>); these tests skip without it
"""

import base64
import json
import os
import pathlib
import statistics
import sys
import time

import distbuild
import pytest
from conftest import CLIENT_BIN, RUN_ID, clean_env, must, run, twine_upload, wait_listed

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from oidc_standin import Key, OidcStandin  # noqa: E402 (from tests/support, above)
from tls_forwarder import TlsForwarder  # noqa: E402

EXCHANGE_SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "oidc-exchange.py"
AUDIT_LOG = "/var/log/privatepypi/audit.log"
GITHUB = ("acme/tools", "release.yml")
GITLAB = ("acme/platform/lib", ".gitlab-ci.yml")


@pytest.fixture(scope="module")
def issuer():
    listen = os.environ.get("CLIENTS_OIDC_LISTEN")
    if not listen:
        pytest.skip("CLIENTS_OIDC_LISTEN is not set: the server under test has no trusted publishers on a stand-in")
    host, port = listen.rsplit(":", 1)
    standin = OidcStandin(host, int(port)).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def front(server, tmp_path_factory):
    forwarder = TlsForwarder((server.host, int(server.netloc.rsplit(":", 1)[1])), tmp_path_factory.mktemp("tls")).start()
    yield forwarder
    forwarder.stop()


@pytest.fixture(scope="module")
def audience(server, issuer):
    status, _, body = server.request("/_/oidc/audience", auth=False)
    assert status == 200, body
    return json.loads(body)["audience"]


def exchange(server, token):
    """(status, error JSON or answer) of one exchange, as a client posts it."""
    status, _, body = server.request("/_/oidc/mint-token", auth=False, method="POST", body=json.dumps({"token": token}).encode(),
                                     headers={"Content-Type": "application/json"})
    return status, json.loads(body)


def refused_with(answer, code, status=422):
    got, document = answer
    assert got == status, document
    assert document["message"] == "Token request failed" and document["errors"][0]["code"] == code, document
    assert document["errors"][0]["description"]


def audit_records(server, event="oidc_exchange"):
    if not server.container:
        return None
    proc = run(["docker", "exec", server.container, "cat", AUDIT_LOG], os.environ)
    assert proc.returncode == 0, proc.output
    return [r for r in map(json.loads, proc.stdout.splitlines()) if r["event"] == event]


def ci_env(tmp_path, front, extra):
    """A CI job's environment: no stored secret, the TLS front's CA trusted, the platform's variables."""
    return clean_env(tmp_path / "home", SSL_CERT_FILE=str(front.ca_file), REQUESTS_CA_BUNDLE=str(front.ca_file), **extra)


def uv_trusted_publish(front, files, env):
    return run([CLIENT_BIN / "uv", "publish", "--trusted-publishing", "always", "--publish-url", front.url + "/",
                *(str(path) for path, _, _ in files.values())], env)


def test_uv_publishes_as_a_github_actions_job(server, issuer, front, audience, tmp_path):
    name = f"tp-gh-app-{RUN_ID}"
    files = distbuild.build(distbuild.Release(name, "1.0.0", sdist=True), tmp_path / "dist")
    env = ci_env(tmp_path, front, issuer.github_env(issuer.github_claims(*GITHUB, audience)))
    asked = issuer.fetches["token"]
    published = must(uv_trusted_publish(front, files, env), "uv publish --trusted-publishing always (GitHub Actions)")
    assert issuer.fetches["token"] == asked + 1  # uv asked the job's token endpoint, as on GitHub Actions
    # uv revokes its token once the upload is done (/_/oidc/burn-token): no "will expire naturally" warning
    assert "failed to invalidate" not in published.output.lower(), published.output
    wait_listed(server, name, files)
    records = audit_records(server)
    if records is not None:
        minted = [r for r in records if r["outcome"] == "minted" and r["publishers"] == ["gh-release"]]
        assert minted and minted[-1]["projects"] == ["tp-gh-*"] and minted[-1]["issuer"] == issuer.url
        assert minted[-1]["claims"]["repository"] == "acme/tools"


def test_uv_publishes_as_a_gitlab_ci_job(server, issuer, front, audience, tmp_path):
    name = f"tp-gl-lib-{RUN_ID}"
    files = distbuild.build(distbuild.Release(name, "1.0.0"), tmp_path / "dist")
    claims = issuer.gitlab_claims(*GITLAB, audience, environment="release")
    env = ci_env(tmp_path, front, issuer.gitlab_env(claims, audience))
    must(uv_trusted_publish(front, files, env), "uv publish --trusted-publishing always (GitLab CI)")
    wait_listed(server, name, files)
    records = audit_records(server)
    if records is not None:
        minted = [r for r in records if r["outcome"] == "minted" and r["publishers"] == ["gl-release"]]
        assert minted and minted[-1]["claims"]["project_path"] == "acme/platform/lib"
        assert minted[-1]["claims"]["environment"] == "release"


def test_the_publish_actions_exchange_script_unchanged(server, issuer, front, audience, tmp_path):
    """PyPA's publish action's oidc-exchange.py, as published, mints the token; twine uploads with it."""
    summary = tmp_path / "step-summary.md"
    env = ci_env(tmp_path, front, dict(issuer.github_env(issuer.github_claims(*GITHUB, audience)),
                                       INPUT_REPOSITORY_URL=front.url + "/legacy/", GITHUB_STEP_SUMMARY=str(summary)))
    proc = must(run([sys.executable, EXCHANGE_SCRIPT], env), "the publish action's oidc-exchange.py")
    token = proc.stdout.strip().splitlines()[-1]
    assert token.startswith("ppo_")
    name = f"tp-gh-action-{RUN_ID}"
    files = distbuild.build(distbuild.Release(name, "1.0.0"), tmp_path / "dist")
    must(twine_upload(server, [p for p, _, _ in files.values()], clean_env(tmp_path / "twine"), "__token__", token),
         "twine upload with the action's token")
    wait_listed(server, name, files)
    # and its refusal path renders the index's error JSON (reasons with their codes)
    claims = issuer.github_claims("acme/tools", "nightly.yml", audience)
    env = ci_env(tmp_path, front, dict(issuer.github_env(claims), INPUT_REPOSITORY_URL=front.url + "/legacy/",
                                       GITHUB_STEP_SUMMARY=str(summary)))
    failed = run([sys.executable, EXCHANGE_SCRIPT], env)
    assert failed.returncode == 1 and "`invalid-publisher`" in summary.read_text(), failed.output


def test_each_refusal_answers_the_error_json(server, issuer, audience):
    def gh(**changes):
        return {**issuer.github_claims(*GITHUB, audience), **changes}

    now = int(time.time())
    cases = {
        "invalid-audience": issuer.sign(issuer.github_claims(*GITHUB, "another-index")),
        "expired-token": issuer.sign(gh(exp=now - 120)),
        "not-yet-valid-token": issuer.sign(gh(nbf=now + 600)),
        "invalid-issuer": issuer.sign(gh(iss="https://issuer.example.com")),
        "invalid-algorithm": issuer.sign(gh(), algorithm="none"),
        "invalid-signature": issuer.sign(gh(), key=Key(), header={"kid": issuer.keys[0].kid}),
        "invalid-publisher": issuer.sign(issuer.github_claims("acme/other", "release.yml", audience)),
    }
    for code, token in cases.items():
        refused_with(exchange(server, token), code)
    replayed = issuer.sign(gh())
    assert exchange(server, replayed)[0] == 200
    refused_with(exchange(server, replayed), "replayed-token")
    refused_with(exchange(server, "not-a-token"), "invalid-token")
    status, _, body = server.request("/_/oidc/mint-token", auth=False, method="POST", body=b"{",
                                     headers={"Content-Type": "application/json"})
    assert status == 422 and json.loads(body)["errors"][0]["code"] == "invalid-payload"
    records = audit_records(server)
    if records is not None:
        codes = {r["code"] for r in records if r["outcome"] == "refused"}
        assert codes >= set(cases) | {"replayed-token", "invalid-token", "invalid-payload"}


def test_an_unreachable_issuer_fails_closed(server, issuer, audience):
    """The server declares a publisher of http://172.17.0.1:18093, where nothing listens."""
    url = "http://172.17.0.1:18093"
    token = issuer.sign({"iss": url, "aud": audience, "sub": "pipeline:acme/none", "exp": int(time.time()) + 300, "jti": RUN_ID})
    status, document = exchange(server, token)
    assert status == 503 and document["errors"][0]["code"] == "issuer-unavailable", document
    assert url in document["errors"][0]["description"] and "cannot be fetched" in document["errors"][0]["description"]


def test_a_minted_token_uploads_only_inside_its_grant_reads_nothing_and_expires(server, issuer, audience, tmp_path):
    status, answer = exchange(server, issuer.sign(issuer.github_claims(*GITHUB, audience)))
    assert status == 200 and answer["success"] is True
    token, expires = answer["token"], answer["expires"]
    env = clean_env(tmp_path / "home")
    outside = distbuild.build(distbuild.Release(f"tp-other-{RUN_ID}", "1.0.0"), tmp_path / "outside")
    refused = twine_upload(server, [p for p, _, _ in outside.values()], env, "__token__", token)
    assert refused.returncode != 0 and "403" in refused.output, refused.output
    uploads = audit_records(server, "upload")
    if uploads is not None:
        assert "may upload only to projects matching tp-gh-*" in uploads[-1]["result"], uploads[-1]
    for path in ("/simple/", "/simple/cc-app/", "/"):
        status, _, body = server.request(path, auth=False, headers={"Authorization": basic_token(token)})
        assert status == 403 and b"cannot read" in body, (path, status, body)
    inside = distbuild.build(distbuild.Release(f"tp-gh-inside-{RUN_ID}", "1.0.0"), tmp_path / "inside")
    must(twine_upload(server, [p for p, _, _ in inside.values()], env, "__token__", token), "twine upload inside the grant")
    wait_listed(server, f"tp-gh-inside-{RUN_ID}", inside)
    # poetry and pdm take it as any token (uv took its own above)
    for tool in ("poetry", "pdm"):
        name = f"tp-gh-{tool}-{RUN_ID}"
        project = tmp_path / tool
        project.mkdir()
        (project / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "1.0.0"\nrequires-python = ">=3.8"\n')
        files = distbuild.build(distbuild.Release(name, "1.0.0"), project / "dist")
        if tool == "poetry":
            cmd = [CLIENT_BIN / "poetry", "publish", "-r", "private", "-u", "__token__", "-p", token]
        else:
            cmd = [CLIENT_BIN / "pdm", "publish", "--no-build", "-r", server.url + "/", "-u", "__token__", "-P", token]
        must(run(cmd, dict(env, POETRY_REPOSITORIES_PRIVATE_URL=server.url + "/"), cwd=project), f"{tool} publish with a minted token")
        wait_listed(server, name, files)
    # after its expiry (the server's tokens live a minute), nothing: not even an upload inside the grant
    time.sleep(max(0, expires - time.time()) + 1)
    late = distbuild.build(distbuild.Release(f"tp-gh-late-{RUN_ID}", "1.0.0"), tmp_path / "late")
    expired = twine_upload(server, [p for p, _, _ in late.values()], env, "__token__", token)
    assert expired.returncode != 0 and "401" in expired.output, expired.output


def test_a_burned_token_stops_at_once(server, issuer, audience, tmp_path):
    """What uv does after its upload: the token is revoked before its expiry, on the next request (nginx's
    kept verdict included, within the credential service's refresh)."""
    status, answer = exchange(server, issuer.sign(issuer.github_claims(*GITHUB, audience)))
    assert status == 200
    env = clean_env(tmp_path / "home")
    first = distbuild.build(distbuild.Release(f"tp-gh-burn-{RUN_ID}", "1.0.0"), tmp_path / "first")
    must(twine_upload(server, [p for p, _, _ in first.values()], env, "__token__", answer["token"]), "twine upload before the burn")
    status, _, body = server.request("/_/oidc/burn-token", auth=False, method="POST",
                                     body=json.dumps({"token": answer["token"]}).encode(), headers={"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"success": True})
    time.sleep(2.5)  # nginx asks the credential service for its generation every second
    second = distbuild.build(distbuild.Release(f"tp-gh-burn-{RUN_ID}", "1.0.1"), tmp_path / "second")
    burned = twine_upload(server, [p for p, _, _ in second.values()], env, "__token__", answer["token"])
    assert burned.returncode != 0 and "401" in burned.output, burned.output


def basic_token(token):
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def test_a_key_rotation_is_followed_without_a_restart(server, issuer, audience):
    assert exchange(server, issuer.sign(issuer.github_claims(*GITHUB, audience)))[0] == 200
    old = issuer.keys[0]
    issuer.rotate()
    fetched = issuer.fetches["jwks"]
    time.sleep(5.5)  # the service fetches keys again at most every 5 s
    status, answer = exchange(server, issuer.sign(issuer.github_claims(*GITHUB, audience)))
    assert status == 200, answer
    assert issuer.fetches["jwks"] == fetched + 1
    refused_with(exchange(server, issuer.sign(issuer.github_claims(*GITHUB, audience), key=old)), "invalid-signature")


def test_exchange_latency_over_100_exchanges(server, issuer, audience):
    """p50 and p99 of one exchange through nginx (the issuer's keys known), kept in tests/output."""
    tokens = [issuer.sign(issuer.github_claims(*GITHUB, audience)) for _ in range(100)]
    exchange(server, tokens.pop())  # keys fetched before the clock starts
    timings = []
    for token in tokens + [issuer.sign(issuer.github_claims(*GITHUB, audience))]:
        start = time.perf_counter()
        status, answer = exchange(server, token)
        timings.append((time.perf_counter() - start) * 1000)
        assert status == 200, answer
    timings.sort()
    p50, p99 = statistics.median(timings), timings[98]
    report = f"trusted publishing exchange through nginx, {len(timings)} exchanges: p50 {p50:.1f} ms, p99 {p99:.1f} ms\n"
    out = ROOT / "tests" / "output"
    out.mkdir(exist_ok=True)
    (out / "oidc-exchange-latency.txt").write_text(report)
    print(report)
    assert p99 < 1000, report
