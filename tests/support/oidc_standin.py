"""A stand-in for an OpenID Connect issuer and for the CI platforms' token endpoints, in tests.

It publishes a discovery document and its keys (JWKS), signs tokens with the claims a test chooses, and
answers as GitHub Actions' ID token request endpoint does (ACTIONS_ID_TOKEN_REQUEST_URL: GET with
`Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>` and `audience=`, JSON {"value": <JWT>}).
GitLab CI has no endpoint: a job gets its token in a variable named after the audience
(`<AUDIENCE>_ID_TOKEN`), which gitlab_env() sets. Needs python's cryptography (the test venvs have it).

    issuer = OidcStandin("127.0.0.1", 0).start()
    token = issuer.sign(issuer.github_claims("acme/tools", "release.yml", audience="privatepypi"))
    env = issuer.github_env(claims)        # what a GitHub Actions job sees
    issuer.rotate()                        # a new signing key; the old one leaves the key set
    issuer.fetches["jwks"]                 # how often the key set was fetched
"""

import base64
import http.server
import json
import secrets
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value, length=None):
    return b64(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


class Key:
    def __init__(self, algorithm="RS256"):
        self.algorithm, self.kid = algorithm, secrets.token_hex(8)
        if algorithm == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self):
        numbers = self.private.public_key().public_numbers()
        if self.algorithm == "RS256":
            return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig", "n": _int(numbers.n), "e": _int(numbers.e)}
        return {"kty": "EC", "kid": self.kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                "x": _int(numbers.x, 32), "y": _int(numbers.y, 32)}

    def sign(self, data):
        if self.algorithm == "RS256":
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = utils.decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def pem(self):
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


class OidcStandin:
    def __init__(self, host="127.0.0.1", port=0, algorithm="RS256", public_url=None):
        self.host, self.port, self.algorithm = host, port, algorithm
        self.public_url = public_url
        self.keys = [Key(algorithm)]
        self.request_token = secrets.token_urlsafe(16)
        self.next_claims = None  # what the GitHub endpoint signs next (a test sets it)
        self.fetches = {"discovery": 0, "jwks": 0, "token": 0}
        self._server = None

    @property
    def url(self):
        return self.public_url or f"http://{self.host}:{self.port}"

    def rotate(self):
        """A new signing key; the old one is withdrawn from the key set."""
        self.keys = [Key(self.algorithm)]

    def jwks(self):
        return {"keys": [key.jwk() for key in self.keys]}

    def sign(self, claims, key=None, header=None, algorithm=None):
        key = key or self.keys[0]
        head = {"alg": algorithm or key.algorithm, "typ": "JWT", "kid": key.kid}
        head.update(header or {})
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
        if head["alg"] == "none":
            return signing_input + "."
        return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"

    def _times(self, lifetime=300, offset=0):
        now = int(time.time()) + offset
        return {"iat": now, "nbf": now, "exp": now + lifetime, "jti": secrets.token_hex(16), "iss": self.url}

    def github_claims(self, repository, workflow, audience, ref="refs/tags/v1.0", environment=None, **extra):
        """The claims GitHub Actions puts in a job's token (the ones trusted publishing reads)."""
        owner = repository.split("/")[0]
        claims = {**self._times(), "aud": audience, "sub": f"repo:{repository}:ref:{ref}", "ref": ref,
                  "repository": repository, "repository_owner": owner, "repository_owner_id": "4242",
                  "workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
                  "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
                  "event_name": "push", "runner_environment": "github-hosted"}
        if environment:
            claims["environment"] = environment
        claims.update(extra)
        return claims

    def gitlab_claims(self, project_path, ci_config, audience, ref_path="refs/tags/v1.0", environment=None, **extra):
        """The claims GitLab CI puts in a job's ID token."""
        host = urllib.parse.urlsplit(self.url).netloc
        claims = {**self._times(), "aud": audience, "sub": f"project_path:{project_path}:ref_type:tag:ref:v1.0",
                  "project_path": project_path, "namespace_path": project_path.rsplit("/", 1)[0],
                  "ref_path": ref_path, "ref_type": "tag", "ref": ref_path.rsplit("/", 1)[-1],
                  "ci_config_ref_uri": f"{host}/{project_path}//{ci_config}@{ref_path}", "pipeline_source": "push"}
        if environment:
            claims["environment"] = environment
        claims.update(extra)
        return claims

    def github_env(self, claims):
        """The environment of a GitHub Actions job with `id-token: write`; its endpoint signs `claims`
        (with the audience the client asks for)."""
        self.next_claims = dict(claims)
        return {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/github/token?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}

    def gitlab_env(self, claims, audience):
        """The environment of a GitLab CI job whose .gitlab-ci.yml asks for an ID token of `audience`."""
        name = "".join(c.upper() if c.isalnum() else "_" for c in audience) + "_ID_TOKEN"
        return {"GITLAB_CI": "true", name: self.sign(claims)}

    def start(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def answer(self, status, document):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    standin.fetches["discovery"] += 1
                    return self.answer(200, {"issuer": standin.url, "jwks_uri": f"{standin.url}/jwks",
                                             "id_token_signing_alg_values_supported": [standin.algorithm]})
                if url.path == "/jwks":
                    standin.fetches["jwks"] += 1
                    return self.answer(200, standin.jwks())
                if url.path == "/github/token":
                    standin.fetches["token"] += 1
                    if self.headers.get("Authorization", "").lower() != f"bearer {standin.request_token}".lower():
                        return self.answer(401, {"message": "bad request token"})
                    if standin.next_claims is None:
                        return self.answer(404, {"message": "no claims set"})
                    audience = urllib.parse.parse_qs(url.query).get("audience", [""])[0]
                    claims = {**standin.next_claims, **standin._times(), "aud": audience}
                    return self.answer(200, {"value": standin.sign(claims)})
                return self.answer(404, {"message": "not found"})

        self._server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
