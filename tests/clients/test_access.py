"""Who may do what, with real clients: roles (reader, uploader with project patterns, admin through
the release playbook), tokens (created and revoked with playbooks/tokens.yml, used by pip, uv and
twine as the password of __token__, and expiring), the audit log, every malformed Authorization
header (sent raw), and the credential service's back-off (429) and bounded slow checks (503),
on loopback only.

The back-off test runs last in this file and leaves the client address with a clean slate (a
successful login resets it), so the other files' tests meet no 429.
"""

import base64
import json
import os
import pathlib
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse

import distbuild
import pytest
from conftest import CLIENT_BIN, ROOT, RUN_ID, clean_env, must, run, wait_listed

AUTH_PORT = 8082  # pypiserver_backend_port + 1, inside the container
AUDIT_LOG = "/var/log/privatepypi/audit.log"
SECRETS = pathlib.Path(tempfile.mkdtemp(prefix="privatepypi-token-secrets-"))


def token_secret(proc, name):
    """The secret tokens.yml wrote for the new token name, checked never printed and private."""
    path = SECRETS / f"pypiservers-{name}"
    secret = path.read_text().strip()
    assert re.fullmatch(r"ppt_[A-Za-z0-9_-]+", secret) and "ppt_" not in proc.out, proc.out[-3000:]
    assert path.stat().st_mode & 0o777 == 0o600 and SECRETS.stat().st_mode & 0o777 == 0o700
    return secret


def account(variable):
    value = os.environ.get(variable, "")
    if ":" not in value:
        pytest.skip(f"{variable} (name:password) is not set: molecule/clients sets it")
    return value.split(":", 1)


def playbook(server, name, extra):
    if not server.inventory:
        pytest.skip("CLIENTS_INVENTORY is not set: tokens and yanks go through the collection's playbooks")
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), str(ROOT / "playbooks" / name), "-i", server.inventory,
           "-e", json.dumps(dict(extra, token_secret_dir=str(SECRETS)))]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("CLIENTS_COLLECTIONS_PATH") or str(ROOT / ".collections"),
               ANSIBLE_FORCE_COLOR="0", PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    proc.out = proc.stdout + proc.stderr
    return proc


def raw_status(server, *header_lines, path="/simple/"):
    """Status of one GET with exactly these header lines (bytes), over a plain socket."""
    request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + server.netloc.encode() + b"\r\nConnection: close\r\n"
    request += b"".join(line + b"\r\n" for line in header_lines) + b"\r\n"
    parsed = urllib.parse.urlsplit(server.url)
    with socket.create_connection((parsed.hostname, parsed.port or 80), timeout=30) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1]), head


def basic(user, password, scheme=b"Basic"):
    return b"Authorization: " + scheme + b" " + base64.b64encode(f"{user}:{password}".encode())


def in_container(server, *cmd, stdin=None, timeout=120):
    if not server.container:
        pytest.skip("CLIENTS_CONTAINER is not set")
    proc = subprocess.run(["docker", "exec", "-i", server.container, *cmd], input=stdin, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def audit_records(server):
    return [json.loads(line) for line in in_container(server, "cat", AUDIT_LOG).splitlines() if line.strip()]


def twine_upload(server, files, env, user, password):
    """twine with --verbose: it then prints the server's answer, whose text says why an upload was refused."""
    return run([CLIENT_BIN / "twine", "upload", "--verbose", "--non-interactive", "--disable-progress-bar",
                "--repository-url", server.url + "/", "-u", user, "-p", password, *files], env)


def post_upload(server, files, user, password):
    """(status, body) of one upload POST as twine sends it: the body says why a refusal happened."""
    (path, _, _), *_ = files.values()
    boundary = "access-test-boundary"
    with open(path, "rb") as f:
        content = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{os.path.basename(path)}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    status, _, answer = server.request("/", method="POST", auth=False, body=body, headers={
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status, answer.decode("utf-8", "replace")


def build(tmp_path, name):
    return distbuild.build(distbuild.Release(name, "1.0.0"), tmp_path)


def paths(files):
    return [path for path, _, _ in files.values()]


def test_a_reader_reads_but_cannot_upload(server, tmp_path):
    user, password = account("CLIENTS_READER")
    assert server.request("/simple/", headers={"Authorization": "Basic " + base64.b64encode(
        f"{user}:{password}".encode()).decode()}, auth=False)[0] == 200
    name = f"cc-reader-{RUN_ID}"
    files = build(tmp_path, name)
    proc = twine_upload(server, paths(files), clean_env(tmp_path / "home"), user, password)
    assert proc.returncode != 0 and "403" in proc.output, proc.output
    status, answer = post_upload(server, files, user, password)
    assert status == 403 and f"account {user} has the role reader: it may read, not upload" in answer, answer
    assert server.listed(name) == {}
    refused = [r for r in audit_records(server) if r["event"] == "upload" and r["who"] == user]
    assert refused and refused[-1]["status"] == 403 and refused[-1]["client"]


def test_an_uploader_uploads_only_inside_its_patterns(server, tmp_path):
    user, password = account("CLIENTS_UPLOADER")
    patterns = os.environ.get("CLIENTS_UPLOADER_PROJECTS", "")
    assert patterns == "cc-team-*", "molecule/clients gives the uploader cc-team-*"
    env = clean_env(tmp_path / "home")
    outside_files = build(tmp_path / "out", f"cc-other-{RUN_ID}")
    outside = twine_upload(server, paths(outside_files), env, user, password)
    assert outside.returncode != 0 and "403" in outside.output, outside.output
    status, answer = post_upload(server, outside_files, user, password)
    assert status == 403 and f"may upload only to projects matching cc-team-*, not cc-other-{RUN_ID}" in answer, answer
    inside_files = build(tmp_path / "in", f"cc-team-{RUN_ID}")
    must(twine_upload(server, paths(inside_files), env, user, password), "an upload inside the uploader's patterns")
    wait_listed(server, f"cc-team-{RUN_ID}", inside_files)
    (filename, (_, sha, _)), = inside_files.items()
    done = [r for r in audit_records(server) if r["event"] == "upload" and r["file"] == filename and r["status"] == 200]
    assert done and done[-1]["who"] == user and done[-1]["sha256"] == sha and done[-1]["project"] == f"cc-team-{RUN_ID}"


def test_only_an_admin_may_yank(server, corpus):
    reader, _ = account("CLIENTS_READER")
    extra = {"release_project": "cc-yank", "release_version": "1.0.0", "release_state": "yanked",
             "release_admin": reader}
    proc = playbook(server, "release.yml", extra)
    assert proc.returncode != 0 and f"'{reader}' is not one on" in " ".join(proc.out.split()), proc.out[-3000:]
    nobody = playbook(server, "release.yml", dict(extra, release_admin=""))
    assert nobody.returncode != 0 and "Give release_admin" in " ".join(nobody.out.split()), nobody.out[-3000:]
    # the admin's yank itself, its idempotence and its audit lines: test_yank.py (run as the admin)


@pytest.fixture(scope="module")
def token(server):
    name = f"ci-{RUN_ID}"
    proc = playbook(server, "tokens.yml", {"token_target": "hosts", "token_name": name, "token_scope": "upload",
                                           "token_projects": ["cc-tok-*"], "token_expires": "2099-01-01"})
    assert proc.returncode == 0, proc.out[-3000:]
    secret = token_secret(proc, name)
    assert secret not in in_container(server, "cat", "/etc/pypiserver/tokens")
    return name, secret


def test_a_token_works_with_twine_pip_and_uv(server, token, ws, tmp_path):
    name, secret = token
    project = f"cc-tok-{RUN_ID}"
    files = build(tmp_path, project)
    must(twine_upload(server, paths(files), clean_env(tmp_path / "home"), "__token__", secret), "twine with a token")
    wait_listed(server, project, files)
    url = server.simple_with_credentials("__token__", secret)
    ws.make_venv()
    must(ws.pip("install", "--no-cache-dir", "--index-url", url, project), "pip with a token")
    must(ws.uv("pip", "install", "--reinstall", "--python", ws.venv, "--index-url", url, project), "uv with a token")
    assert distbuild.normalize(project) in ws.installed()
    # outside its patterns: refused
    other_files = build(tmp_path / "o", f"cc-nottok-{RUN_ID}")
    other = twine_upload(server, paths(other_files), clean_env(tmp_path / "h2"), "__token__", secret)
    assert other.returncode != 0 and "403" in other.output, other.output
    status, answer = post_upload(server, other_files, "__token__", secret)
    assert status == 403 and f"token {name} may upload only to projects matching cc-tok-*" in answer, answer
    records = audit_records(server)
    assert any(r["event"] == "token_created" and r["token"] == name for r in records)
    assert any(r["event"] == "upload" and r["token"] == name and r["status"] == 200 and r["project"] == project
               for r in records)


LOCKOUT_PROBE = r"""
import base64, json, multiprocessing, socket, sys, threading, time
PORT = int(sys.argv[1]); VICTIM, PASSWORD, TOKEN, CACHED = sys.argv[2:6]
ATTACK, HOME_FROM, HOME_CHECKS = float(sys.argv[6]), float(sys.argv[7]), 3
HOME, READER = "127.0.0.200", "127.0.0.201"  # the victim's address; a cached colleague's

def ask(source, value):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", PORT), timeout=30, source_address=(source, 0)) as s:
        s.sendall(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + value + b"\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1]), time.monotonic() - started

def basic(user, password, scheme=b"Basic", spaces=1):
    return scheme + b" " * spaces + base64.b64encode(f"{user}:{password}".encode())

def patient(source, value, deadline=6.0):
    # 503 means every check slot is busy: retry after its Retry-After (1 s), as pip does
    until = time.monotonic() + deadline
    while True:
        status, _ = ask(source, value)
        if status != 503 or time.monotonic() > until:
            return status
        time.sleep(0.2)

out = {"attack": {}, "guesses_refused_401": 0, "home": [], "token": [], "reader": []}
out["home"].append(patient(HOME, basic(VICTIM, PASSWORD, b"basic")))  # the victim has logged in from home before
out["token"].append(patient(HOME, basic("__token__", TOKEN, b"basic")))
ask(READER, basic(*CACHED.split(":", 1)))  # the colleague's verdict is cached in nginx
lock = threading.Lock()
started = time.monotonic()
# The attack lasts ATTACK seconds, and longer on a slow machine: until the victim's own checks from home
# (HOME_CHECKS of them, fresh each time) have all been made while it goes on.
home_done = threading.Event()

def attacking():
    return time.monotonic() - started < ATTACK or not home_done.is_set()

def attacker(n):
    source, i = f"127.0.1.{n + 1}", 0
    while attacking():
        i += 1
        # half the same wrong password again (a refusal already known: no check), half new guesses
        guess = "wrong" if i % 2 else f"guess-{n}-{i}"
        status, _ = ask(source, basic(VICTIM, guess))
        with lock:
            out["attack"][status] = out["attack"].get(status, 0) + 1
            out["guesses_refused_401"] += status == 401 and guess != "wrong"
        time.sleep(0.01 if status != 503 else 0.05)

def home():
    spelling = 0
    time.sleep(HOME_FROM)
    while spelling < HOME_CHECKS or time.monotonic() - started < ATTACK:
        spelling += 1  # a credential nginx and the service have not seen: a fresh check every time
        scheme = bytes(c - 32 if spelling >> i & 1 else c for i, c in enumerate(b"basic"))
        out["home"].append(patient(HOME, basic(VICTIM, PASSWORD, scheme, 1 + spelling // 32)))
        out["token"].append(patient(HOME, basic("__token__", TOKEN, scheme, 1 + spelling // 32)))
        time.sleep(0.3)
    home_done.set()

# The cached colleague asks from a process of its own: a thread among the 50 attackers would time its
# wait for this process's interpreter lock, not nginx's answer.
forking = multiprocessing.get_context("fork")
reader_stop = forking.Event()
reader_results, reader_sends = forking.Pipe(duplex=False)

def reader():
    value, found = basic(*CACHED.split(":", 1)), []
    while not reader_stop.is_set():
        found.append(ask(READER, value))
        time.sleep(0.02)
    reader_sends.send(found)

reading = forking.Process(target=reader)
reading.start()
threads = [threading.Thread(target=attacker, args=(n,)) for n in range(50)] + [threading.Thread(target=home)]
[t.start() for t in threads]; [t.join() for t in threads]
reader_stop.set()
out["reader"] = reader_results.recv()
reading.join()
print(json.dumps(out))
"""


def test_fifty_addresses_cannot_lock_a_user_out(server, token):
    """Issue 17's lockout, through the real nginx and credential service inside the container: 50 loopback
    addresses send wrong passwords for one user's name (the same one again and again, and new guesses) for
    ATTACK seconds. The user's right password from the user's own address (a fresh check each time, never a
    cached verdict) and a token from that address always work; the name's new guesses stop being checked
    after its budget (pypiserver_auth_guess_burst, 20); a colleague's cached verdict stays fast.
    Before: the repeated refusals backed the name off (429 for the right password too) and nginx then
    blocked the user's address, tokens included."""
    victim, password = account("CLIENTS_VICTIM")
    _, secret = token
    attack = 8.0
    out = json.loads(in_container(server, "python3", "-", "8080", victim, password, secret,
                                  f"{server.user}:{server.password}", str(attack), "3", stdin=LOCKOUT_PROBE, timeout=120))
    # once before the attack, then at least three fresh checks while it went on (it lasts until they are made)
    assert set(out["home"]) == {200} and len(out["home"]) >= 4, out["home"]
    assert set(out["token"]) == {200} and len(out["token"]) >= 4, out["token"]
    assert 429 in {int(k) for k in out["attack"]}, out["attack"]
    # the burst of 20, one refill a minute, and the checks already running when it ran out
    assert out["guesses_refused_401"] <= 24, out["attack"]
    times = sorted(seconds for status, seconds in out["reader"] if status == 200)
    assert len(times) == len(out["reader"]) >= 50, out["reader"][:20]
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"lockout: home {out['home']}, attack {out['attack']}, checked guesses {out['guesses_refused_401']}, "
          f"cached reader p50 {times[len(times) // 2] * 1000:.1f} ms p99 {p99 * 1000:.1f} ms ({len(times)} requests)")
    assert p99 < 0.05, p99  # a new connection per request from a Python client beside the attack; the benchmark measures 10 ms


def test_a_downgrade_and_a_removal_act_on_cached_verdicts_within_seconds(server, tmp_path):
    """nginx keeps verdicts (role included) in its own memory; when the credential files change it must not
    go on answering from them. ulla (uploader) and rita (reader) are cached in nginx, then ulla becomes a
    reader and rita is removed: within 5 s ulla's upload is 403 and rita's read 401 (before: up to
    pypiserver_auth_cache_seconds, 300 s). Then the files are put back."""
    uploader, uploader_password = account("CLIENTS_UPLOADER")
    reader, reader_password = account("CLIENTS_READER")
    files = build(tmp_path, f"cc-team-downgrade-{RUN_ID}")
    # the uploader's project: the upload middleware itself would accept it, from the verdict nginx passes on
    assert raw_status(server, basic(uploader, uploader_password))[0] == 200
    assert raw_status(server, basic(reader, reader_password))[0] == 200  # both verdicts now cached in nginx
    in_container(server, "sh", "-c", "cp -p /etc/pypiserver/roles /root/roles.saved && cp -p /etc/pypiserver/htpasswd "
                 f"/root/htpasswd.saved && sed -i 's/^{uploader} uploader/{uploader} reader/' /etc/pypiserver/roles && "
                 f"sed -i '/^{reader}:/d' /etc/pypiserver/htpasswd")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 5:
            upload, answer = post_upload(server, files, uploader, uploader_password)
            read = raw_status(server, basic(reader, reader_password))[0]
            if upload == 403 and read == 401:
                break
            time.sleep(0.25)
        took = time.monotonic() - started
        assert upload == 403 and "role reader" in answer and read == 401, (upload, answer, read, took)
        print(f"revocation: a downgrade and a removal acted after {took:.1f} s")
    finally:
        in_container(server, "sh", "-c", "cp -p /root/roles.saved /etc/pypiserver/roles && "
                     "cp -p /root/htpasswd.saved /etc/pypiserver/htpasswd && touch /etc/pypiserver/roles /etc/pypiserver/htpasswd")
    started = time.monotonic()
    while raw_status(server, basic(reader, reader_password))[0] != 200 and time.monotonic() - started < 10:
        time.sleep(0.25)
    assert raw_status(server, basic(reader, reader_password))[0] == 200


def test_a_revoked_token_stops_working_at_once(server, token):
    name, secret = token
    header = basic("__token__", secret)
    assert raw_status(server, header)[0] == 200
    again = playbook(server, "tokens.yml", {"token_target": "hosts", "token_name": name, "token_scope": "upload"})
    assert again.returncode == 0 and "ppt_" not in again.out and "left as it is" in again.out, again.out[-2000:]
    proc = playbook(server, "tokens.yml", {"token_target": "hosts", "token_name": name, "token_state": "absent"})
    assert proc.returncode == 0 and "revoked" in proc.out, proc.out[-2000:]
    started = time.monotonic()
    # the credential service re-reads the tokens file within a second; on AWS the refresh interval adds to it
    while raw_status(server, header)[0] == 200 and time.monotonic() - started < 10:
        time.sleep(0.5)
    assert raw_status(server, header)[0] == 401, "a revoked token still worked after 10 s"
    assert any(r["event"] == "token_revoked" and r["token"] == name for r in audit_records(server))


def test_a_token_stops_working_at_its_expiry(server):
    expires = int(time.time()) + 60  # a playbook run takes seconds, tens of them on a loaded machine
    proc = playbook(server, "tokens.yml", {"token_target": "hosts", "token_name": f"short-{RUN_ID}",
                                           "token_expires": str(expires)})
    assert proc.returncode == 0, proc.out[-2000:]
    secret = token_secret(proc, f"short-{RUN_ID}")
    header = basic("__token__", secret)
    assert time.time() < expires - 5, "the token playbook took almost a minute: the expiry came first"
    assert raw_status(server, header)[0] == 200  # a read token reads
    while time.time() < expires + 1:
        time.sleep(0.5)
    assert raw_status(server, header)[0] == 401, "the token still worked after its expiry"
    playbook(server, "tokens.yml", {"token_target": "hosts", "token_name": f"short-{RUN_ID}", "token_state": "absent"})


def adversarial_headers(server):
    password = server.password.encode()
    user = server.user.encode()
    return {
        "no Authorization": [],
        "not base64": [b"Authorization: Basic !!!not-base64!!!"],
        "no colon": [b"Authorization: Basic " + base64.b64encode(user + password)],
        "empty user": [b"Authorization: Basic " + base64.b64encode(b":" + password)],
        "empty password": [b"Authorization: Basic " + base64.b64encode(user + b":")],
        "another scheme": [b"Authorization: Bearer " + base64.b64encode(user + b":" + password)],
        "scheme only": [b"Authorization: Basic"],
        "non-UTF-8": [b"Authorization: Basic " + base64.b64encode(user + b":\xff\xfe" + password)],
        "non-UTF-8 user": [b"Authorization: Basic " + base64.b64encode(b"\xe9" + user + b":" + password)],
        "oversized": [b"Authorization: Basic " + base64.b64encode(user + b":" + b"a" * 6000)],
        "password over 72 bytes": [b"Authorization: Basic " + base64.b64encode(user + b":" + password + b"x" * 72)],
        "repeated": [basic(server.user, server.password), basic(server.user, server.password)],
        "repeated, one bad": [basic(server.user, server.password), b"Authorization: Basic !!!"],
        "newline in the user": [b"Authorization: Basic " + base64.b64encode(b"a\nb:" + password)],
    }


@pytest.mark.parametrize("case", sorted(adversarial_headers(type("S", (), {"user": "u", "password": "p"}))))
def test_malformed_authorization_is_a_401(server, case):
    lines = adversarial_headers(server)[case]
    # nginx itself answers a repeated Authorization line with 400 before asking the credential service
    # (which answers 401 to it too: test_backoff_and_bounded_slow_checks_on_loopback)
    expected = {400} if case.startswith("repeated") else {401}
    for path in ("/simple/", "/simple/cc-util/", "/packages/cc_util-1.0.0.tar.gz"):
        status, head = raw_status(server, *lines, path=path)
        assert status in expected, f"{case} on {path}: {head[:300]!r}"


def test_a_hostile_upload_header_cannot_claim_a_role(server, tmp_path):
    """X-Privatepypi-* from a client are replaced by nginx with the credential service's answer."""
    user, password = account("CLIENTS_READER")
    files = build(tmp_path, f"cc-forged-{RUN_ID}")
    (path, _, _), = files.values()
    boundary = "forged-boundary"
    with open(path, "rb") as f:
        content = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{os.path.basename(path)}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    status, _, answer = server.request("/", method="POST", auth=False, body=body, headers={
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "X-Privatepypi-Role": "admin", "X-Privatepypi-User": "carol", "X-Privatepypi-Projects": ""})
    assert status == 403 and b"role reader" in answer, (status, answer)


LOOPBACK_PROBE = r"""
import base64, json, socket, sys, threading, time
PORT = int(sys.argv[1]); FREE = int(sys.argv[2]); BURST = int(sys.argv[3])

def ask(auth, ip):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    started = time.monotonic()
    s.sendall(b"GET /_auth HTTP/1.1\r\nX-Real-IP: " + ip.encode() + b"\r\nAuthorization: Basic "
              + base64.b64encode(auth.encode()) + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.close()
    lines = head.decode().split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return int(lines[0].split()[1]), headers.get("Retry-After"), time.monotonic() - started

def ask_malformed(ip):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    s.sendall(b"GET /_auth HTTP/1.1\r\nX-Real-IP: " + ip.encode() + b"\r\nAuthorization: Basic !!!\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.close()
    lines = head.decode().split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return int(lines[0].split()[1]), headers.get("Retry-After")

out = {}
# a repeated header straight at the service (nginx refuses it before): 401
s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
s.sendall(b"GET /_auth HTTP/1.1\r\nX-Real-IP: 192.0.2.99\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic YTpi\r\n\r\n")
out["repeated"] = int(s.recv(4096).split(b" ")[1])
s.close()
# back-off per address: FREE failures (malformed headers cost no bcrypt), then 429 with Retry-After
out["address"] = [ask_malformed("192.0.2.77") for i in range(FREE + 1)]
# a user name's budget of wrong guesses, from ever new addresses: then 429 without a check
out["user"] = [ask(f"victim-user:wrong-{i}", f"198.51.100.{i + 1}")[:2] for i in range(BURST + 1)]
# bounded slow checks: 24 distinct unknown users at once, each needing a bcrypt check
results = [None] * 24
def one(i):
    results[i] = ask(f"flood-{i}:pw-{i}", f"203.0.113.{i + 1}")
threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
[t.start() for t in threads]; [t.join() for t in threads]
out["flood"] = results
print(json.dumps(out))
"""


def test_backoff_and_bounded_slow_checks_on_loopback(server):
    """Straight at the credential service inside the container (127.0.0.1 only), with the X-Real-IP nginx sets."""
    free = int(os.environ.get("CLIENTS_BACKOFF_AFTER", "5"))
    burst = int(os.environ.get("CLIENTS_GUESS_BURST", "20"))
    # the per-user part is `burst` real bcrypt checks in a row: tens of seconds on a loaded machine
    out = json.loads(in_container(server, "python3", "-", str(AUTH_PORT), str(free), str(burst), stdin=LOOPBACK_PROBE,
                                  timeout=900))
    assert out["repeated"] == 401
    assert [s for s, _ in out["address"]] == [401] * free + [429] and out["address"][-1][1], out["address"]
    assert [s for s, _ in out["user"]] == [401] * burst + [429] and out["user"][-1][1], out["user"]
    statuses = [s for s, _, _ in out["flood"]]
    assert set(statuses) <= {401, 503} and 503 in statuses, statuses
    busy = [seconds for s, _, seconds in out["flood"] if s == 503]
    assert all(r == "1" for s, r, _ in out["flood"] if s == 503) and max(busy) < 0.2, out["flood"]


def test_backoff_through_nginx_is_a_429_with_retry_after(server):
    """Last: malformed headers from this address until it backs off; nginx answers 429 (never a 500);
    then a fresh successful login clears the address for the other files' tests."""
    free = int(os.environ.get("CLIENTS_BACKOFF_AFTER", "5"))
    statuses = [raw_status(server, b"Authorization: Basic !!!")[0] for _ in range(free + 2)]
    assert statuses[-1] == 429 and 500 not in statuses, statuses
    status, head = raw_status(server, b"Authorization: Basic !!!")
    assert status == 429 and b"Retry-After: " in head, head
    wait = int(re.search(rb"Retry-After: (\d+)", head).group(1))
    time.sleep(wait + 0.5)
    # a spelling of the scheme never sent before: a fresh check that succeeds and resets the address
    # (a 503 means every slow-check slot was busy: retry after Retry-After, as the contract says)
    for attempt in range(10):
        status, head = raw_status(server, basic(server.user, server.password, scheme=b"bAsIc"))
        if status != 503:
            break
        assert b"Retry-After: " in head, head
        time.sleep(1 + attempt)
    assert status == 200, head
