"""Fixtures of the client-compatibility suite: the server under test, a clean
environment per client run, the test distributions (built here, uploaded once),
and the server's nginx access log (to prove what a client did NOT download).

The suite runs from the host against a deployed index (molecule/clients sets
these; any other deployment works the same):

  CLIENTS_INDEX_URL   http://127.0.0.1:18081 (the index root; /simple/ below it)
  CLIENTS_USER, CLIENTS_PASSWORD   an account that may read and upload
  CLIENTS_CONTAINER   the server's container (access log); log tests skip without it
  CLIENTS_INVENTORY   an inventory whose group `pypiservers` holds that server, for
                      playbooks/release.yml (yank tests skip without it)
  CLIENTS_RELEASE_PLAYBOOK, CLIENTS_COLLECTIONS_PATH   optional: another checkout's
                      release.yml and collection path (default: this checkout's)
  CLIENTS_UPSTREAM_LISTEN   host:port where the suite runs the upstream stand-in
                      (tests/support/upstream_standin.py) the server is configured with;
                      the upstream tests skip without it

Network: every client is pointed at CLIENTS_INDEX_URL only, with its own empty
HOME, caches and configuration, so nothing reaches another index.
"""

import base64
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request

import distbuild
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
import upstream_standin  # noqa: E402 (from tests/support, above)

CLIENT_BIN = pathlib.Path(sys.executable).parent
# The interpreter the test venvs are made from: the base Python, not this venv.
BASE_PYTHON = os.path.realpath(sys.executable)
ACCESS_LOG = "/var/log/nginx/pypiserver.access.log"
RUN_ID = time.strftime("%Y%m%d%H%M%S")

R = distbuild.Release
# The corpus uploaded once per session. cc-app -> cc-lib -> cc-util and cc-future,
# whose newest version needs a Python that does not exist yet.
CORPUS = [
    R("cc-util", "1.0.0", sdist=True),
    R("cc-util", "1.1.0", sdist=True),
    R("cc-lib", "1.0.0", requires=("cc-util>=1.0",)),
    R("cc-lib", "2.0.0", requires=("cc-util>=1.1",)),
    R("cc-future", "1.0.0", requires_python=">=3.8", sdist=True),
    R("cc-future", "2.0.0", requires_python=">=3.99", sdist=True),
    R("cc-app", "1.0.0", requires=("cc-lib>=1.0", "cc-future")),
    R("cc-yank", "1.0.0"),
    R("cc-yank", "1.1.0"),
]
# What resolving cc-app must install on this Python.
APP_TREE = {"cc-app": "1.0.0", "cc-lib": "2.0.0", "cc-util": "1.1.0", "cc-future": "1.0.0"}


class Server:
    def __init__(self, url, user, password, container, inventory):
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.container = container
        self.inventory = inventory
        parsed = urllib.parse.urlsplit(self.url)
        self.host, self.netloc = parsed.hostname, parsed.netloc

    @property
    def simple(self):
        return self.url + "/simple/"

    def simple_with_credentials(self, user=None, password=None):
        creds = urllib.parse.quote(user or self.user, safe="") + ":" + urllib.parse.quote(password or self.password, safe="")
        return self.simple.replace("://", f"://{creds}@", 1)

    def request(self, path, accept=None, auth=True, method="GET", headers=None, body=None):
        """(status, headers, body) of one request; never raises on an HTTP status."""
        req = urllib.request.Request(self.url + path if path.startswith("/") else path, method=method, data=body)
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        if accept is not None:
            req.add_header("Accept", accept)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback test server)
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def listed(self, project):
        """{filename: sha256} the project's HTML page links to (empty if none)."""
        status, _, body = self.request(f"/simple/{distbuild.normalize(project)}/", accept="text/html")
        if status != 200:
            return {}
        found = {}
        for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace")):
            path, _, fragment = href.partition("#")
            name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
            found[name] = fragment.removeprefix("sha256=")
        return found


@pytest.fixture(scope="session")
def server():
    password = os.environ.get("CLIENTS_PASSWORD")
    if not password:
        pytest.skip("CLIENTS_PASSWORD is not set: tests/clients runs against a deployed index (molecule/clients)")
    srv = Server(os.environ.get("CLIENTS_INDEX_URL", "http://127.0.0.1:18081"), os.environ.get("CLIENTS_USER", "alice"),
                 password, os.environ.get("CLIENTS_CONTAINER", ""), os.environ.get("CLIENTS_INVENTORY", ""))
    status, _, _ = srv.request("/simple/")
    assert status == 200, f"GET {srv.simple} with the test account answered {status}, not 200"
    return srv


@pytest.fixture(scope="session", autouse=True)
def upstream():
    """The upstream stand-in, for the whole session: with an upstream configured, every name the
    store lacks is asked of it (an unknown project is its 404)."""
    listen = os.environ.get("CLIENTS_UPSTREAM_LISTEN")
    if not listen:
        yield None
        return
    host, port = listen.rsplit(":", 1)
    standin = upstream_standin.Standin(host, int(port)).start()
    yield standin
    standin.stop()


def clean_env(home, **extra):
    """An environment with no user configuration: own HOME, no PIP_*/UV_*/... from the caller."""
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items()
            if k in {"LANG", "LC_ALL", "TERM", "TZ", "SSL_CERT_FILE"}}
    env = dict(
        keep,
        HOME=str(home),
        PATH=f"{CLIENT_BIN}:/usr/local/bin:/usr/bin:/bin",
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local/share"),
        NO_PROXY="127.0.0.1,localhost",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        # uv.toml is looked up under XDG_CONFIG_HOME (empty here); project files are read.
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(home / ".cache/uv"),
        PDM_CHECK_UPDATE="false",
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_NO_INTERACTION="1",
        # No desktop keyring here: clients that look one up get "nothing stored" at once.
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    env.update(extra)
    return env


def run(cmd, env, cwd=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    proc.output = f"$ {' '.join(map(str, cmd))}\n[rc={proc.returncode}]\n{proc.stdout}\n{proc.stderr}"
    return proc


def must(proc, what):
    assert proc.returncode == 0, f"{what} failed:\n{proc.output[-6000:]}"
    return proc


def consumer_project(ws, requires_python, client_settings, dependency="cc-app"):
    """A project that depends on dependency, followed by one client's own index settings (TOML)."""
    project = ws.path / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "consumer"
        version = "0.1.0"
        requires-python = "{requires_python}"
        dependencies = ["{dependency}"]

        """) + textwrap.dedent(client_settings))
    return project


def poetry_install(ws, dependency, what):
    """poetry install of a project that depends on dependency, through the index as its primary
    source with the credentials in POETRY_HTTP_BASIC_PRIVATE_*; the project (its venv in .venv)."""
    project = consumer_project(ws, ">=3.11,<4", f"""\
        [tool.poetry]
        package-mode = false

        [[tool.poetry.source]]
        name = "private"
        url = "{ws.server.simple}"
        priority = "primary"
        """, dependency)
    ws.env.update(POETRY_HTTP_BASIC_PRIVATE_USERNAME=ws.server.user, POETRY_HTTP_BASIC_PRIVATE_PASSWORD=ws.server.password,
                  POETRY_CACHE_DIR=str(ws.home / ".cache/poetry"), POETRY_KEYRING_ENABLED="false",
                  POETRY_VIRTUALENVS_PREFER_ACTIVE_PYTHON="false")
    must(run([CLIENT_BIN / "poetry", "env", "use", BASE_PYTHON], ws.env, cwd=project), "poetry env use")
    must(run([CLIENT_BIN / "poetry", "install", "--no-interaction"], ws.env, cwd=project, timeout=600), what)
    return project


class Workspace:
    """A temporary HOME, a fresh venv and helpers to drive one client cold."""

    def __init__(self, path, server):
        self.path = path
        self.server = server
        self.home = path / "home"
        # Safety net: a client that is given no index still asks this one, never a public one.
        self.env = clean_env(self.home, PIP_INDEX_URL=server.simple, UV_DEFAULT_INDEX=server.simple)
        self.venv = path / "venv"

    def make_venv(self):
        must(run([CLIENT_BIN / "uv", "venv", "--quiet", "--clear", "--python", BASE_PYTHON, self.venv], self.env), "uv venv")
        return self.venv

    def installed(self, venv=None):
        code = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
        proc = must(run([(venv or self.venv) / "bin/python", "-c", code], self.env), "listing the venv")
        pairs = (line.split() for line in proc.stdout.splitlines() if line.strip())
        return {distbuild.normalize(n): v for n, v in pairs if distbuild.normalize(n).startswith("cc-")}

    def pip(self, *args, **kw):
        return run([CLIENT_BIN / "pip", "--python", self.venv / "bin/python", *args], kw.pop("env", self.env), **kw)

    def uv(self, *args, **kw):
        return run([CLIENT_BIN / "uv", *args], kw.pop("env", self.env), **kw)

    def write_netrc(self):
        netrc = self.home / ".netrc"
        netrc.write_text(f"machine {self.server.host} login {self.server.user} password {self.server.password}\n")
        netrc.chmod(0o600)

    def store_in_keyring(self):
        """Plaintext keyring (keyrings.alt) under this HOME, holding the password for the index."""
        self.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
        services = {self.server.simple, self.server.simple.rstrip("/"), self.server.url, self.server.url + "/",
                    self.server.netloc, self.server.host}
        for service in sorted(services):
            # keyring reads the password from stdin
            proc = subprocess.run([str(CLIENT_BIN / "keyring"), "set", service, self.server.user], env=self.env,
                                  input=self.server.password + "\n", capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"keyring set {service} failed: {proc.stderr}"


@pytest.fixture
def ws(tmp_path, server):
    return Workspace(tmp_path, server)


def twine_upload(server, paths, env, user=None, password=None):
    return run([CLIENT_BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", server.url + "/", "-u", user or server.user, "-p", password or server.password,
                *paths], env)


def wait_listed(server, project, filenames, timeout=10.0):
    deadline = time.monotonic() + timeout
    listed = {}
    while time.monotonic() < deadline:
        listed = server.listed(project)
        if set(filenames) <= set(listed):
            return listed
        time.sleep(0.2)
    missing = sorted(set(filenames) - set(listed))
    raise AssertionError(f"{project}: {missing} not listed on /simple/{project}/ within {timeout} s")


@pytest.fixture(scope="session")
def corpus(server, tmp_path_factory):
    """Builds CORPUS and uploads what the server does not hold yet (twine, one call).

    Returns {filename: (path, sha256, metadata bytes)}. A file the server holds
    with other bytes is an error: that server holds an older corpus.
    """
    out = tmp_path_factory.mktemp("corpus")
    files = {}
    for release in CORPUS:
        files.update(distbuild.build(release, out))
    missing = []
    for project in sorted({r.name for r in CORPUS}):
        listed = server.listed(project)
        for name, (path, sha, _) in files.items():
            if not name.startswith(distbuild.dist_name(project) + "-"):
                continue
            if name not in listed:
                missing.append(path)
            else:
                assert listed[name] == sha, f"the server holds {name} with sha256 {listed[name]}, not {sha}"
    if missing:
        env = clean_env(tmp_path_factory.mktemp("twine-home"))
        must(twine_upload(server, missing, env), "uploading the test corpus with twine")
    for project in sorted({r.name for r in CORPUS}):
        wait_listed(server, project, [n for n in files if n.startswith(distbuild.dist_name(project) + "-")])
    return files


class AccessLog:
    """The server's nginx access log, read from its container.

    nginx buffers the log (flush=5s); USR1 (reopen) makes it write what it holds.
    """

    LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-)')

    def __init__(self, container):
        self.container = container

    def _exec(self, *cmd):
        proc = subprocess.run(["docker", "exec", self.container, *cmd], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"docker exec {self.container} {' '.join(cmd)}: {proc.stderr}"
        return proc.stdout

    def _flush(self):
        self._exec("nginx", "-s", "reopen")
        time.sleep(0.5)  # the workers write their buffers after the master's signal

    def mark(self):
        self._flush()
        return int(self._exec("stat", "-c", "%s", ACCESS_LOG))

    def since(self, mark):
        """[(method, path, status, bytes)] logged after mark, path URL-decoded."""
        self._flush()
        text = self._exec("tail", "-c", f"+{mark + 1}", ACCESS_LOG)
        entries = []
        for line in text.splitlines():
            m = self.LINE.search(line)
            if m:
                entries.append((m["method"], urllib.parse.unquote(m["path"]), int(m["status"]),
                                0 if m["bytes"] == "-" else int(m["bytes"])))
        return entries


@pytest.fixture(scope="session")
def access_log(server):
    if not server.container:
        pytest.skip("CLIENTS_CONTAINER is not set: the access-log proofs need the server's container")
    if shutil.which("docker") is None:
        pytest.skip("no docker command to read the server's access log")
    return AccessLog(server.container)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
