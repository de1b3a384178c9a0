"""Trusted publishing (privatepypi_host/oidc.py): the exchange over HTTP against a local issuer stand-in,
every refusal with its error JSON, key rotation, replay, the audit records, and the minted token as the
credential service sees it."""

import asyncio
import base64
import concurrent.futures
import json
import os
import pathlib
import threading
import time
import urllib.error
import urllib.request

import pytest
from ansible_collections.privatepypi.aws.tests.support.oidc_standin import Key, OidcStandin
from privatepypi_host import access, auth_cache, oidc

AUDIENCE = "privatepypi-test"


@pytest.fixture
def issuer():
    standin = OidcStandin("127.0.0.1", 0).start()
    yield standin
    standin.stop()


def config(issuer, **extra):
    publishers = [
        {"name": "tools-release", "issuer": "github", "issuer_url": issuer.url, "projects": ["acme-tools", "acme-tools-*"],
         "repository": "Acme/Tools", "workflow": "release.yml", "ref": "refs/tags/v*"},
        {"name": "lib-gitlab", "issuer": "gitlab", "issuer_url": issuer.url, "projects": ["acme-lib"],
         "repository": "acme/platform/lib", "workflow": ".gitlab-ci.yml", "environment": "release"},
    ]
    return {"audience": AUDIENCE, "token_minutes": 15, "publishers": publishers, "insecure_issuers": True, **extra}


class Service:
    """The service's HTTP handler on loopback, as nginx reaches it."""

    def __init__(self, exchange, backoff_free=50):
        handler = type("H", (oidc.Handler,), {"exchange": exchange, "backoff": auth_cache.Backoff(backoff_free, 1.0, 4.0)})
        self.server = oidc.Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def request(self, path, body=None, raw=None, client="198.51.100.7"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"X-Real-IP": client, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read()), dict(answer.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), dict(error.headers)

    def mint(self, token, **kw):
        return self.request("/_/oidc/mint-token", {"token": token}, **kw)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service(issuer, store_root, tmp_path):
    exchange = oidc.Exchange(config(issuer), store_root, str(tmp_path / "audit.log"))
    svc = Service(exchange)
    yield svc
    svc.close()


def audit(tmp_path):
    path = tmp_path / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def refused(answer, code, status=422):
    """The error JSON, as the public index shapes it: message + errors[{code, description}]."""
    got_status, document, _headers = answer
    assert got_status == status, document
    assert document["message"] == "Token request failed"
    assert [error["code"] for error in document["errors"]] == [code], document
    assert all(error["description"] for error in document["errors"])
    return document["errors"][0]["description"]


def github(issuer, **kw):
    return issuer.github_claims("acme/tools", "release.yml", AUDIENCE, **kw)


def test_audience_as_the_public_index_answers_it(service):
    assert service.request("/_/oidc/audience")[:2] == (200, {"audience": AUDIENCE})
    assert service.request("/_/oidc/other")[0] == 404


def test_a_github_token_buys_an_upload_token_for_the_publishers_projects(service, issuer, tmp_path):
    status, document, headers = service.mint(issuer.sign(github(issuer)))
    assert status == 200 and document["success"] is True and headers["Cache-Control"] == "no-store"
    assert document["token"].startswith("ppo_")
    assert 14 * 60 <= document["expires"] - time.time() <= 15 * 60
    record = audit(tmp_path)[-1]
    assert record["event"] == "oidc_exchange" and record["outcome"] == "minted"
    assert record["issuer"] == issuer.url and record["publishers"] == ["tools-release"]
    assert record["projects"] == ["acme-tools", "acme-tools-*"]
    assert record["claims"] == {"repository": "acme/tools", "ref": "refs/tags/v1.0",
                                "job_workflow_ref": "acme/tools/.github/workflows/release.yml@refs/tags/v1.0"}
    assert document["token"] not in json.dumps(record)  # the secret is never audited
    key = oidc.Minter(f"{service.server.RequestHandlerClass.exchange.root}/mint.key").key()
    name, patterns, expires = oidc.verify_minted(key, document["token"], time.time())
    assert name.startswith("oidc:tools-release:") and patterns == ("acme-tools", "acme-tools-*")
    assert expires == document["expires"]


def test_a_gitlab_token_matches_project_path_config_file_and_environment(service, issuer, tmp_path):
    claims = issuer.gitlab_claims("acme/platform/lib", ".gitlab-ci.yml", AUDIENCE, environment="release")
    status, document, _headers = service.mint(issuer.sign(claims))
    assert status == 200, document
    assert audit(tmp_path)[-1]["claims"]["project_path"] == "acme/platform/lib"
    # another environment, another config file, a project whose path only ends alike: no publisher
    for other in (issuer.gitlab_claims("acme/platform/lib", ".gitlab-ci.yml", AUDIENCE, environment="staging"),
                  issuer.gitlab_claims("acme/platform/lib", "other.yml", AUDIENCE, environment="release"),
                  issuer.gitlab_claims("evil/acme/platform/lib", ".gitlab-ci.yml", AUDIENCE, environment="release")):
        refused(service.mint(issuer.sign(other)), "invalid-publisher")


def test_every_refusal_has_the_error_json_and_an_audit_record(service, issuer, tmp_path):
    other = Key()
    cases = {
        "invalid-audience": issuer.sign(issuer.github_claims("acme/tools", "release.yml", "pypi")),
        "expired-token": issuer.sign({**github(issuer), "exp": int(time.time()) - 120}),
        "not-yet-valid-token": issuer.sign({**github(issuer), "nbf": int(time.time()) + 600}),
        "invalid-issuer": issuer.sign({**github(issuer), "iss": "https://issuer.example.com"}),
        "invalid-algorithm": issuer.sign(github(issuer), algorithm="none"),
        "invalid-signature": issuer.sign(github(issuer), key=other, header={"kid": issuer.keys[0].kid}),
        "invalid-publisher": issuer.sign(issuer.github_claims("acme/tools", "ci.yml", AUDIENCE)),
        "invalid-token": "not.a-jwt",
    }
    for code, token in cases.items():
        refused(service.mint(token), code)
    # HS256 with the public key as the secret (the classic confusion) and ES256 for an RS256 issuer
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": issuer.keys[0].kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(github(issuer)).encode()).rstrip(b"=")
    refused(service.mint(f"{header.decode()}.{body.decode()}.AAAA"), "invalid-algorithm")
    refused(service.mint(issuer.sign(github(issuer), key=Key("ES256"))), "invalid-algorithm")
    # a ref outside the publisher's pattern
    refused(service.mint(issuer.sign(github(issuer, ref="refs/heads/main"))), "invalid-publisher")
    # the body
    refused(service.request("/_/oidc/mint-token", raw=b"{not json"), "invalid-payload")
    refused(service.request("/_/oidc/mint-token", {"token": 5}), "invalid-payload")
    refused(service.request("/_/oidc/mint-token", raw=b"x" * (oidc.MAX_BODY + 1)), "invalid-payload", 413)
    # JSON nested without end, in the body or in a token's part: a refusal, never a 500
    refused(service.request("/_/oidc/mint-token", raw=b"[" * 60000), "invalid-payload")
    deep = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    refused(service.mint(f"{deep}.{deep}.AAAA"), "invalid-token")
    records = [r for r in audit(tmp_path) if r["event"] == "oidc_exchange"]
    assert all(r["outcome"] == "refused" and r["reason"] for r in records)
    assert {r["code"] for r in records} >= set(cases) | {"invalid-payload"}
    assert next(r for r in records if r["code"] == "invalid-signature")["issuer"] == issuer.url


def test_a_token_is_exchanged_once(service, issuer):
    token = issuer.sign(github(issuer))
    assert service.mint(token)[0] == 200
    refused(service.mint(token), "replayed-token")
    # the record is on the store: another instance (another Exchange on the same store) refuses it too
    exchange = service.server.RequestHandlerClass.exchange
    twin = oidc.Exchange(config(issuer), exchange.root.rsplit("/.privatepypi", 1)[0])
    with pytest.raises(oidc.Refused) as error:
        twin.mint(token)
    assert error.value.code == "replayed-token"
    # a token without a jti is recognised by its digest
    claims = github(issuer)
    del claims["jti"]
    token = issuer.sign(claims)
    assert service.mint(token)[0] == 200
    refused(service.mint(token), "replayed-token")


def test_the_service_keeps_its_files_to_itself_and_the_store_open_to_nginx(issuer, store_root):
    old = os.umask(0o027)
    try:
        exchange = oidc.Exchange(config(issuer), store_root)
        exchange.mint(issuer.sign(github(issuer)))
    finally:
        os.umask(old)
    assert os.stat(f"{store_root}/.privatepypi").st_mode & 0o777 == 0o750
    assert os.stat(exchange.root).st_mode & 0o777 == 0o700 and os.stat(exchange.used).st_mode & 0o777 == 0o700
    assert os.stat(exchange.minter.key_path).st_mode & 0o777 == 0o600


def test_used_tokens_are_forgotten_once_expired(issuer, store_root):
    wall = [time.time()]
    exchange = oidc.Exchange(config(issuer), store_root, wall=lambda: wall[0])
    exchange.mint(issuer.sign(github(issuer)))
    assert len(list(pathlib.Path(exchange.used).iterdir())) == 1
    wall[0] += 3600
    exchange._prune()
    assert list(pathlib.Path(exchange.used).iterdir()) == []


def test_a_key_rotation_is_followed_without_a_restart(service, issuer):
    assert service.mint(issuer.sign(github(issuer)))[0] == 200
    fetched = issuer.fetches["jwks"]
    assert service.mint(issuer.sign(github(issuer)))[0] == 200
    assert issuer.fetches["jwks"] == fetched  # kept: no fetch per exchange
    old = issuer.keys[0]
    issuer.rotate()
    time.sleep(oidc.KEYS_MIN_INTERVAL)
    assert service.mint(issuer.sign(github(issuer)))[0] == 200
    assert issuer.fetches["jwks"] == fetched + 1
    # the withdrawn key no longer signs for the issuer (wait for the next allowed fetch: it is gone)
    refused(service.mint(issuer.sign(github(issuer), key=old)), "invalid-signature")
    # unknown key ids fetch at most once per KEYS_MIN_INTERVAL: a flood of them costs the issuer nothing more
    for _attempt in range(5):
        refused(service.mint(issuer.sign(github(issuer), key=Key())), "invalid-signature")
    assert issuer.fetches["jwks"] <= fetched + 2


def test_an_unreachable_issuer_fails_closed_then_recovers(issuer, store_root, tmp_path):
    exchange = oidc.Exchange(config(issuer), store_root, str(tmp_path / "audit.log"))
    svc = Service(exchange)
    try:
        token = issuer.sign(github(issuer))
        issuer.stop()
        description = refused(svc.mint(token), "issuer-unavailable", 503)
        assert issuer.url in description and "cannot be fetched" in description
        assert audit(tmp_path)[-1]["code"] == "issuer-unavailable"
        issuer.start()
        time.sleep(oidc.KEYS_MIN_INTERVAL)
        assert svc.mint(token)[0] == 200  # not consumed by the refusal
    finally:
        svc.close()


def test_es256_custom_issuer_with_exact_claims(store_root):
    issuer = OidcStandin("127.0.0.1", 0, algorithm="ES256").start()
    try:
        publisher = {"issuer": issuer.url, "projects": ["acme-bot"], "algorithms": ["ES256"],
                     "claims": {"sub": "pipeline:acme/bot", "branch": ["main", "release"]}}
        exchange = oidc.Exchange({"audience": AUDIENCE, "publishers": [publisher], "insecure_issuers": True}, store_root)
        base = {"iss": issuer.url, "aud": [AUDIENCE, "other"], "exp": int(time.time()) + 60,
                "sub": "pipeline:acme/bot", "branch": "release"}
        answer = exchange.mint(issuer.sign({**base, "jti": "1"}))
        assert answer["success"] is True
        assert oidc.verify_minted(exchange.minter.key(), answer["token"], time.time())[0].startswith("oidc:publisher-1:")
        with pytest.raises(oidc.Refused) as error:
            exchange.mint(issuer.sign({**base, "jti": "2", "branch": "feature"}))
        assert error.value.code == "invalid-publisher"
    finally:
        issuer.stop()


def test_https_is_required_unless_the_configuration_allows_http(issuer, store_root):
    exchange = oidc.Exchange({**config(issuer), "insecure_issuers": False}, store_root)
    with pytest.raises(oidc.Refused) as error:
        exchange.mint(issuer.sign(github(issuer)))
    assert error.value.code == "issuer-unavailable" and "not https" in error.value.description


def test_two_matching_publishers_grant_both_projects(issuer, store_root):
    cfg = config(issuer)
    cfg["publishers"].append({**cfg["publishers"][0], "name": "tools-docs", "projects": ["acme-docs"]})
    exchange = oidc.Exchange(cfg, store_root)
    answer = exchange.mint(issuer.sign(github(issuer)))
    _user, patterns, _expires = oidc.verify_minted(exchange.minter.key(), answer["token"], time.time())
    assert patterns == ("acme-docs", "acme-tools", "acme-tools-*")


def test_refused_exchanges_back_off_and_count_as_failed_logins(issuer, store_root, tmp_path):
    svc = Service(oidc.Exchange(config(issuer), store_root, str(tmp_path / "audit.log")), backoff_free=3)
    try:
        for _attempt in range(3):
            refused(svc.mint("not.a-jwt"), "invalid-token")
        status, document, headers = svc.mint(issuer.sign(github(issuer)))
        assert status == 429 and document["errors"][0]["code"] == "rate-limited" and int(headers["Retry-After"]) >= 1
        bursts = [r for r in audit(tmp_path) if r["event"] == "login_failures"]
        assert len(bursts) == 1 and bursts[0]["via"] == "oidc" and bursts[0]["client"] == "198.51.100.7"
        # another address is not held back
        assert svc.mint(issuer.sign(github(issuer)), client="198.51.100.8")[0] == 200
    finally:
        svc.close()


def test_the_credential_service_takes_a_minted_token_for_upload_only(issuer, store_root, tmp_path):
    wall = [time.time()]
    exchange = oidc.Exchange(config(issuer), store_root, wall=lambda: wall[0])
    minted = exchange.mint(issuer.sign(github(issuer)))["token"]
    (tmp_path / "htpasswd").write_text("")
    verifier = auth_cache.CredentialVerifier(str(tmp_path / "htpasswd"), 300, concurrent.futures.ThreadPoolExecutor(1),
                                             wall=lambda: wall[0], mint_key=exchange.minter.key_path)

    def decide(secret):
        value = b"Basic " + base64.b64encode(f"__token__:{secret}".encode())
        status, headers = asyncio.run(verifier.decide([value], "192.0.2.9"))
        return status, dict(headers)

    status, headers = decide(minted)
    assert status == 200 and headers["X-Privatepypi-Role"] == "publisher"
    assert headers["X-Privatepypi-Projects"] == "acme-tools,acme-tools-*"
    assert headers["X-Privatepypi-Token"].startswith("oidc:tools-release:")
    assert int(headers["X-Privatepypi-Expires"]) == 300  # nginx keeps it its ttl, never past the grant
    assert "publisher" not in access.ROLES and "publisher" in access.UPLOAD_ROLES  # never given by the roles file
    body, _dot, mac = minted[4:].partition(".")
    grant = json.loads(oidc.b64decode(body))
    forged = "ppo_" + oidc.b64encode(json.dumps({**grant, "p": ["*"]}).encode()) + "." + mac
    assert decide(forged)[0] == 401  # a grant widened by hand fails its HMAC
    wall[0] += 15 * 60 + 1
    assert decide(minted)[0] == 401  # expired: the cached verdict ends with it


def test_a_burned_token_is_refused_by_the_credential_service_within_a_refresh(issuer, store_root, tmp_path):
    """uv burns its token once the upload is done (/_/oidc/burn-token): revoked on the spot, and the
    credential service's generation changes, so nginx forgets the verdict it kept."""
    exchange = oidc.Exchange(config(issuer), store_root, str(tmp_path / "audit.log"))
    svc = Service(exchange)
    try:
        minted = svc.mint(issuer.sign(github(issuer)))[1]["token"]
        (tmp_path / "htpasswd").write_text("")
        clock = [1000.0]
        verifier = auth_cache.CredentialVerifier(str(tmp_path / "htpasswd"), 300, concurrent.futures.ThreadPoolExecutor(1),
                                                 clock=lambda: clock[0], mint_key=exchange.minter.key_path)
        value = b"Basic " + base64.b64encode(f"__token__:{minted}".encode())

        def decide():
            return asyncio.run(verifier.decide([value], "192.0.2.9"))

        status, headers = decide()
        assert status == 200
        before = dict(headers)["X-Privatepypi-Generation"]
        assert svc.request("/_/oidc/burn-token", {"token": minted})[:2] == (200, {"success": True})
        assert audit(tmp_path)[-1] == {**audit(tmp_path)[-1], "event": "oidc_burn", "outcome": "burned"}
        clock[0] += auth_cache.STAT_INTERVAL
        status, headers = decide()
        assert status == 401 and dict(headers)["X-Privatepypi-Generation"] != before
        # a token that is not this index's: refused with the error JSON, nothing recorded
        refused(svc.request("/_/oidc/burn-token", {"token": "ppo_x.y"}), "invalid-token")
        refused(svc.request("/_/oidc/burn-token", {"token": 3}), "invalid-payload")
        assert svc.request("/_/oidc/unknown", {})[0] == 404
    finally:
        svc.close()
