"""Fixtures of the integration tests: the local AWS emulator and a playbook runner.

Run from the repository root:  .venv/bin/python -m pytest tests/integration -q
The emulator (scripts/emulator.sh) listens on the gateway of the project's docker network
(EMULATOR_HOST, default 172.28.0.1) on a free port; every playbook gets that address through
the one endpoint variable aws_endpoint_url.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import boto3
import pytest

from tests.support import fast_ansible

from .helpers import REGION, ROOT, TIMINGS_DIR, VARS_FILE, VENV_BIN, Run

HOST = os.environ.get("EMULATOR_HOST", "172.28.0.1")
STRICT_DELAYS = ("EMULATOR_IAM_PROPAGATION_SECONDS", "EMULATOR_CERTIFICATE_RELEASE_SECONDS", "EMULATOR_ENI_LINGER_SECONDS",
                 "EMULATOR_CERTIFICATE_PROPAGATION_SECONDS")


# Seconds each test, or each file whose tests share one stack (an xdist_group), keeps a worker busy
# (estimated for a loaded 2-core machine, 2026-12-06). The scheduler hands whole groups and single
# tests to whichever worker is free, in collection order: the longest first, so that the two workers
# finish together instead of one waiting on the last.
COST = {"test_stacks.py": 950, "test_operations.py": 850, "test_artifact.py": 300, "test_parameter_tier.py": 75,
        "test_preflight.py": 60, "test_zones_arm64.py": 10}


def pytest_collection_modifyitems(items):
    # stable: a file's tests stay in order
    items.sort(key=lambda item: -COST.get(item.name, COST.get(item.path.name, 100)))


def pytest_configure(config):
    config.addinivalue_line("markers", "smoke: the fast tier's one deployment (scripts/test.sh smoke); the full run "
                            "proves the same in the lifecycle tests and leaves it out")


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, EMULATOR_HOST=HOST, EMULATOR_STATE_DIR=str(tmp_path_factory.mktemp("emulator")),
               EMULATOR_PYTHON=str(VENV_BIN / "python"))
    # AWS's eventual consistency (tests/support/emulator.py, "strict as AWS") is opt-in per test:
    # off by default here, so that only the tests that assert the waits spend them; each of those
    # turns on the delay it proves with strict(), counted as refusals (a retry each, no seconds
    # slept out), and turns it off again.
    for knob in STRICT_DELAYS:
        env.setdefault(knob, "0")
    subprocess.run([str(ROOT / "scripts" / "emulator.sh"), "start", str(port)], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        subprocess.run([str(ROOT / "scripts" / "emulator.sh"), "stop", str(port)], env=env, cwd=ROOT, check=False)


@pytest.fixture()
def reset_emulator(emulator):
    # a reset after a worker's whole stacks, on a CI host at a load of 13, took over 10 s
    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"), timeout=120)
    return emulator


@pytest.fixture(scope="session")
def aws(emulator):
    """boto3 client factory bound to the emulator."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    cache = {}

    def client(service):
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=emulator)
        return cache[service]
    return client


@pytest.fixture(scope="session")
def playbook(emulator, tmp_path_factory):
    """Runs a playbook of the repository against the emulator; returns a Run."""
    def run(path, *args, credentials=True, env_extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="0",
                   PATH=f"{VENV_BIN}:{env.get('PATH', '')}")
        if credentials:
            env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        else:
            # nothing in the environment or in a home directory to find credentials in
            home = tmp_path_factory.mktemp("home")
            env.update(HOME=str(home))
        env.update(env_extra or {})
        # the checkout's modules: their payloads built once per worker, boto3 imported once
        # (tests/support/fast_ansible.py; every module still runs whole, in a process of its own)
        env.update(fast_ansible.environment())
        cmd = fast_ansible.command(path, "-e", f"@{VARS_FILE}", "-e", f"aws_endpoint_url={emulator}", *args)
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=900)
        return Run(proc, time.monotonic() - start)
    return run


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller, before any worker records
        shutil.rmtree(TIMINGS_DIR, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    timings = {}
    for path in sorted(TIMINGS_DIR.glob("*.json")):
        for profile, phases in json.loads(path.read_text()).items():
            timings.setdefault(profile, {}).update(phases)
    if not timings:
        return
    terminalreporter.section("stack timings against the emulator (seconds)")
    for profile, phases in timings.items():
        terminalreporter.write_line(f"{profile:14s} " + "  ".join(f"{k}={v}" for k, v in phases.items()))
    (ROOT / "tests" / "output" / "integration-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
