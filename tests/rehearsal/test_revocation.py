"""Revocation is prompt (issue 17), on both instances of one store.

Four credentials are added to the stack's users parameter and warmed into each instance's caches
(nginx's verdicts and the credential service's): an admin (rv-gone), an uploader (rv-demoted), an
upload token (rv-revoked) and an upload token that expires by itself (rv-expiring). Then one change
of the parameter removes rv-gone, revokes rv-revoked and makes rv-demoted a reader. On each
instance every path must refuse within the refresh interval (its timer) plus a small bound:

- the credential files on the instance change within REFRESH_INTERVAL + 10 s of the change (the
  timer's 5 s accuracy and the fetch);
- every path refuses within GAP_SECONDS of the files changing there: nginx's verdicts are keyed to
  the credential service's generation, which it probes every second. A verdict left to its own
  lifetime (which is the refresh interval) would outlive the change by up to that interval: the gap
  assertion is what tells the two apart. The credentials are warmed a third of the interval apart,
  and polled from then on, so their lifetimes end at spread moments: without the flush one of them
  outlives the change by two thirds of the interval or more, whenever the change comes;
- the expiring token is refused within EXPIRY_SECONDS of its expiry, with no change at all;
- yank (playbooks/release.yml, which reads the roles file on each host), asked once at that bound
  (FILES_SECONDS + GAP_SECONDS after the change), refuses the removed admin on both instances.

The paths: the project page, a file download, an upload (a POST that gets past the role check
answers 400 for want of a file, so nothing is published) and yank. A reader keeps reading.

Each probe runs inside the instance against its own nginx, from its own loopback address: every
refusal counts against the address it comes from (nginx's and the service's back-off), and one
address per probe keeps each at a single failure, where one shared address would earn a 429 after
five and hide the answer that matters. The parameter is written with boto3, as playbooks/users.yml
and playbooks/tokens.yml write it (test_boot.py drives users.yml itself): the change's moment is
then known to the millisecond, and the test costs no playbook run beyond the yank.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import subprocess
import threading
import time

import bcrypt

from tests.support import rehearse

INSTANCE, SECOND = rehearse.INSTANCE_NAMES[:2]
INTERVAL = int(rehearse.REFRESH_INTERVAL.rstrip("s"))
FILES_SECONDS = INTERVAL + 10  # the timer's AccuracySec (5 s) and the fetch (a Python start and one SSM call)
GAP_SECONDS = 4.0  # the service re-reads within a second, nginx asks for the generation every second
EXPIRY_SECONDS = 2.0  # nginx keeps a token's verdict never past its expiry (whole seconds)
TOKEN_LIFETIME = 35  # the expiring token outlives the propagation (at most FILES_SECONDS) and the warm-up
PARAMETER = f"/{rehearse.STACK}/htpasswd"
WHEEL = "/packages/privatepypi_demo-1.0.0-py3-none-any.whl"
PAGE = "/simple/privatepypi-demo/"
BOUNDARY = "privatepypi-revocation"
# an upload form without a file: allowed accounts get past the role check and hear 400, never a publication
UPLOAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
          f'--{BOUNDARY}--\r\n')

# Runs in the instance (its venv's Python, the standard library only). Reads the plan as one JSON line
# on stdin, waits for the added credentials to be installed, warms every probe once, prints "warm",
# waits for the "go" line (the change's wall-clock time and a deadline), polls every probe until it
# is refused, and prints what it saw.
PROBE = r"""
import http.client, json, os, ssl, sys, time
plan = json.loads(sys.stdin.readline())
context = ssl._create_unverified_context() if plan["tls"] else None

def ask(probe):
    kind = http.client.HTTPSConnection if context else http.client.HTTPConnection
    extra = {"context": context} if context else {}
    conn = kind("127.0.0.1", plan["port"], timeout=10, source_address=(probe["address"], 0), **extra)
    headers = {"Authorization": probe["header"], "Host": plan["host"]}
    body = None
    if probe["method"] == "POST":
        body = plan["upload"].encode()
        headers["Content-Type"] = "multipart/form-data; boundary=" + plan["boundary"]
    try:
        conn.request(probe["method"], probe["path"], body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()[:200].decode("utf-8", "replace")
        return response.status, text
    except OSError as error:
        return 0, repr(error)
    finally:
        conn.close()

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

def stamp(path):
    try:
        st = os.stat(path)
        return st.st_ino, st.st_mtime_ns
    except OSError:
        return None

started = time.monotonic()
while not all(marker in read(path) for path, marker in plan["installed"]):
    if time.monotonic() - started > plan["install_limit"]:
        print(json.dumps({"error": "the added credentials were not installed within %d s" % plan["install_limit"]}))
        sys.exit(0)
    time.sleep(0.5)
installed = time.monotonic() - started
time.sleep(2.5)  # the credential service re-reads within a second, nginx probes its generation every second
# One credential after the other, plan["stagger"] seconds apart: their verdicts' lifetimes end at
# different moments, so one left to its lifetime (no flush) outlives the change by most of it.
warm, warmed = {}, time.monotonic()
for slot in sorted({p["slot"] for p in plan["probes"]}):
    time.sleep(max(0.0, warmed + slot * plan["stagger"] - time.monotonic()))
    warm.update({p["id"]: ask(p) for p in plan["probes"] if p["slot"] == slot})
before = {path: stamp(path) for path in plan["watch"]}
print(json.dumps({"installed": round(installed, 1), "warm": warm}), flush=True)
go = json.loads(sys.stdin.readline())
changed, refused, answers = {}, {}, {}
while time.time() < go["deadline"]:
    for path in plan["watch"]:
        now = stamp(path)
        if path not in changed and now != before[path] and now is not None:
            changed[path] = now[1] / 1e9  # the new file's mtime: when the refresh installed it
    pending = [p for p in plan["probes"] if p["id"] not in refused]
    for probe in pending:
        status, text = ask(probe)
        answers.setdefault(probe["id"], {}).setdefault(str(status), 0)
        answers[probe["id"]][str(status)] += 1
        if status in probe["refused"]:
            refused[probe["id"]] = [time.time(), status, text]
    if all(p["id"] in refused for p in plan["probes"] if p["refused"]) and len(changed) == len(plan["watch"]):
        break
    time.sleep(0.2)
final = {p["id"]: ask(p) for p in plan["probes"] if not p["refused"]}
print(json.dumps({"changed": changed, "refused": refused, "answers": answers, "final": final}), flush=True)
"""


def _basic(name, secret):
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


def _token_line(name, secret, expires, patterns):
    salt = secrets.token_hex(16)
    digest = hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()
    return f"#token {name} upload {expires} hmac-sha256${salt}${digest} {patterns}\n"


def _probes(credentials):
    """(credential, path) probes, each from its own loopback address. refused: the answers that count
    as the path refusing it after the change ([] for a path that must keep answering); slot: when its
    credential is warmed, in plan["stagger"] seconds."""
    plan, address = [], 10
    for who, header, after, slot in credentials:
        for path_name, method, path, allowed in (("page", "GET", PAGE, 200), ("file", "GET", WHEEL, 200),
                                                 ("upload", "POST", "/", 400)):
            address += 1
            refused = after.get(path_name, [])
            plan.append({"id": f"{who} {path_name}", "method": method, "path": path, "header": header,
                         "allowed": allowed, "refused": refused, "address": f"127.0.0.{address}", "slot": slot})
    return plan


class _Probe:
    """The probe running in one instance (docker exec, stdin kept open for the "go" line)."""

    def __init__(self, name, plan):
        self.name = name
        self.process = subprocess.Popen(
            ["docker", "exec", "-i", name, "/opt/pypiserver/venv/bin/python", "-c", PROBE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.process.stdin.write(json.dumps(plan) + "\n")
        self.process.stdin.flush()

    def line(self, limit):
        found = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(limit)
        assert found and found[0], f"{self.name}: the probe said nothing within {limit} s: " + (
            self.process.stderr.read() if self.process.poll() is not None else "(still running)")
        return json.loads(found[0])

    def go(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _yank(tmp_path, admin):
    """playbooks/release.yml in check mode on both instances (a docker connection stands in for SSH
    or SSM): (return code, output)."""
    inventory = tmp_path / "instances.yml"
    inventory.write_text(json.dumps({"pypiservers": {
        "hosts": {INSTANCE: {}, SECOND: {}},
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_become": False}}}))
    result = subprocess.run(
        ["ansible-playbook", "playbooks/release.yml", "-i", str(inventory), "--check", "-e", f"release_admin={admin}",
         "-e", "release_project=privatepypi-demo", "-e", "release_version=1.0.0", "-e", "release_state=yanked"],
        cwd=rehearse.ROOT, capture_output=True, text=True, timeout=300, check=False)
    return result.returncode, result.stdout + result.stderr


def test_removal_revocation_downgrade_and_expiry_act_within_the_refresh_interval_on_both_instances(replacement,
                                                                                                     tmp_path):
    ssm = rehearse.aws("ssm")
    original = ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    passwords = {name: secrets.token_urlsafe(18) for name in ("rv-gone", "rv-demoted")}
    tokens = {name: "ppt_" + secrets.token_urlsafe(32) for name in ("rv-revoked", "rv-expiring")}
    hashes = {name: bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode() for name, password in passwords.items()}
    expires = int(time.time()) + TOKEN_LIFETIME
    users = "".join(f"{name}:{hashed}\n" for name, hashed in hashes.items())
    demoted_before, demoted_after = "#role rv-demoted uploader privatepypi-demo\n", "#role rv-demoted reader\n"
    kept_token = _token_line("rv-expiring", tokens["rv-expiring"], expires, "privatepypi-demo")
    revoked_token = _token_line("rv-revoked", tokens["rv-revoked"], 0, "privatepypi-demo")
    # before: all four allowed; after: rv-gone and rv-revoked gone, rv-demoted a reader, rv-expiring as it was
    before = (original.rstrip("\n") + "\n" + users + "#role rv-gone admin\n" + demoted_before + kept_token
              + revoked_token)
    after = original.rstrip("\n") + "\n" + f"rv-demoted:{hashes['rv-demoted']}\n" + demoted_after + kept_token
    gone = {"page": [401], "file": [401], "upload": [401]}
    plan = {
        "tls": bool(rehearse.stack_domain()), "port": 443 if rehearse.stack_domain() else 8080,
        "host": rehearse.index_host() or "localhost", "upload": UPLOAD, "boundary": BOUNDARY, "install_limit": 60,
        "stagger": INTERVAL / 3,
        "installed": [["/etc/pypiserver/htpasswd", "rv-gone:"], ["/etc/pypiserver/tokens", "rv-revoked "]],
        "watch": ["/etc/pypiserver/htpasswd", "/etc/pypiserver/roles", "/etc/pypiserver/tokens"],
        "probes": _probes([
            # warmed in slots plan["stagger"] apart (the expiring token acts by its expiry, not by the change)
            ("rv-gone", _basic("rv-gone", passwords["rv-gone"]), gone, 0),
            ("rv-demoted", _basic("rv-demoted", passwords["rv-demoted"]), {"upload": [403]}, 1),
            ("rv-revoked", _basic("__token__", tokens["rv-revoked"]), gone, 2),
            ("rv-expiring", _basic("__token__", tokens["rv-expiring"]), gone, 0),
        ]),
    }
    probes = {}
    try:
        ssm.put_parameter(Name=PARAMETER, Value=before, Type="SecureString", Overwrite=True)
        probes = {name: _Probe(name, plan) for name in (INSTANCE, SECOND)}
        warm = {name: probe.line(limit=120) for name, probe in probes.items()}
        for name, seen in warm.items():
            assert "error" not in seen, f"{name}: {seen}"
            wrong = {i: a for i, a in seen["warm"].items()
                     if a[0] != next(p["allowed"] for p in plan["probes"] if p["id"] == i)}
            assert wrong == {}, f"{name}: the added credentials were not all allowed before the change: {wrong}"
        assert time.time() < expires - 5, "the warm-up outlasted the expiring token's lifetime"
        changed_at = time.time()
        ssm.put_parameter(Name=PARAMETER, Value=after, Type="SecureString", Overwrite=True)
        deadline = max(changed_at + FILES_SECONDS + GAP_SECONDS, expires + EXPIRY_SECONDS) + 5
        for probe in probes.values():
            probe.go({"deadline": deadline})
        # yank is asked once, at the bound, while the probes wait for the token's expiry
        yank = []

        def ask_yank():
            time.sleep(max(0.0, changed_at + FILES_SECONDS + GAP_SECONDS - time.time()))
            yank.append((time.time() - changed_at, *_yank(tmp_path, "rv-gone")))

        asker = threading.Thread(target=ask_yank, daemon=True)
        asker.start()
        seen = {name: probe.line(limit=deadline - time.time() + 60) for name, probe in probes.items()}
        asker.join(timeout=300)
    finally:
        for probe in probes.values():
            probe.stop()
        ssm.put_parameter(Name=PARAMETER, Value=original, Type="SecureString", Overwrite=True)

    report, problems = {}, []
    for name, result in seen.items():
        files = max(result["changed"].values(), default=None)
        timings = {}
        for probe in plan["probes"]:
            if not probe["refused"]:
                status = result["final"][probe["id"]][0]
                if status != probe["allowed"]:
                    problems.append(f"{name}: {probe['id']} answered {status} after the change, not {probe['allowed']}")
                continue
            if probe["id"] not in result["refused"]:
                problems.append(f"{name}: {probe['id']} never refused; answers {result['answers'].get(probe['id'])}")
                continue
            when, _status, text = result["refused"][probe["id"]]
            if probe["id"].startswith("rv-expiring"):
                timings[probe["id"]] = f"{when - expires:+.1f} s after its expiry"
                if when - expires > EXPIRY_SECONDS:
                    problems.append(f"{name}: {probe['id']} refused {when - expires:.1f} s after its expiry")
                continue
            timings[probe["id"]] = f"{when - changed_at:.1f} s"
            if probe["id"] == "rv-demoted upload" and "role reader" not in text:
                problems.append(f"{name}: the demoted upload's refusal does not name the role: {text!r}")
            if files is None:
                continue
            if when - files > GAP_SECONDS:
                problems.append(f"{name}: {probe['id']} refused {when - files:.1f} s after the files changed there")
        if files is None or len(result["changed"]) < len(plan["watch"]):
            problems.append(f"{name}: the credential files did not all change: {result['changed']}")
        elif files - changed_at > FILES_SECONDS:
            problems.append(f"{name}: the credential files changed {files - changed_at:.1f} s after the parameter")
        unexpected = {i: a for i, a in result["answers"].items() if set(a) - {"200", "400", "401", "403"}}
        if unexpected:
            problems.append(f"{name}: answers other than allowed or refused: {unexpected}")
        report[name] = {"files changed": None if files is None else f"{files - changed_at:.1f} s", **timings}

    assert yank, "the yank run did not end"
    asked, code, output = yank[0]
    flat = " ".join(output.split())  # the callback may fold and quote the assertion's message
    for name in (INSTANCE, SECOND):
        if not re.search(rf"rv-gone'* is not one on {name}\b", flat):
            problems.append(f"{name}: yank by the removed admin was not refused by its role check")
    report["yank"] = f"refused when asked {asked:.1f} s after the change (exit {code})" if code else f"exit {code}"
    print("\nrevocation, seconds after the parameter changed:\n" + json.dumps(report, indent=1))
    assert problems == [], "\n".join(problems) + "\n" + output[-3000:]

