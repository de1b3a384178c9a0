"""Yank (PEP 592) through the collection's release playbook.

cc-yank 1.1.0 is yanked with a reason: pages say so, resolvers skip it unless it
is pinned with ==, a second run changes nothing; making it available again
restores it.
"""

import json
import os
import pathlib
import re
import subprocess
import time

import pytest
from conftest import ROOT
from pypi_simple import ACCEPT_HTML_ONLY, PyPISimple

# Overridable to try another checkout's playbook (e.g. a branch's, extracted read-only).
PLAYBOOK = pathlib.Path(os.environ.get("CLIENTS_RELEASE_PLAYBOOK") or ROOT / "playbooks/release.yml")
REASON = "broken build, use 1.0.0"


def release(server, state, reason=None, check=False):
    if not server.inventory:
        pytest.skip("CLIENTS_INVENTORY is not set: yanking goes through playbooks/release.yml")
    assert PLAYBOOK.exists(), f"{PLAYBOOK} does not exist: no yank playbook in this checkout"
    # the suite's main account (CLIENTS_USER) is an admin: only admins may yank and remove
    extra = {"release_project": "cc-yank", "release_version": "1.1.0", "release_state": state,
             "release_admin": server.user}
    if reason:
        extra["release_reason"] = reason
    # JSON: -e k=v would split a reason with spaces
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), str(PLAYBOOK), "-i", server.inventory, "-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("CLIENTS_COLLECTIONS_PATH") or str(ROOT / ".collections"),
               ANSIBLE_FORCE_COLOR="0", PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}")
    proc = subprocess.run(cmd, env=env, cwd=PLAYBOOK.parent.parent, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"release.yml release_state={state} failed (rc {proc.returncode}):\n{out[-4000:]}"
    changed = [int(n) for n in re.findall(r"changed=(\d+)", out)]
    return sum(changed), out


def yank_state(server, timeout=10.0, want=None, until_unyanked=False):
    """{filename: yanked reason or None} of cc-yank 1.1.0, polled until every file has the reason
    `want` (or none, with until_unyanked) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    with PyPISimple(endpoint=server.simple, auth=(server.user, server.password)) as simple:
        while True:
            page = simple.get_project_page("cc-yank", accept=ACCEPT_HTML_ONLY)
            state = {p.filename: (p.yanked_reason if p.is_yanked else None) for p in page.packages if "-1.1.0" in p.filename}
            done = not any(state.values()) if until_unyanked else want is None or all(v == want for v in state.values())
            if done or time.monotonic() > deadline:
                return state
            time.sleep(0.3)


@pytest.fixture(scope="module")
def yanked(server, corpus):
    changed, out = release(server, "yanked", REASON)
    yield changed, out
    release(server, "available")


def test_release_playbook_yanks_with_a_reason(server, yanked):
    changed, out = yanked
    assert changed > 0, f"the yank reported no change:\n{out[-2000:]}"
    state = yank_state(server, want=REASON)
    assert state and all(v == REASON for v in state.values()), f"cc-yank 1.1.0 on the page (within 10 s): {state}"


def test_second_yank_run_changes_nothing(server, yanked):
    changed, out = release(server, "yanked", REASON)
    assert changed == 0, f"a second identical run reported changed={changed}:\n{out[-2000:]}"


def test_pip_skips_the_yanked_version(ws, yanked):
    ws.make_venv()
    proc = ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-yank")
    assert proc.returncode == 0, proc.output
    assert ws.installed() == {"cc-yank": "1.0.0"}, "pip installed the yanked 1.1.0 without a pin"


def test_pip_installs_the_yanked_version_when_pinned(ws, yanked):
    ws.make_venv()
    proc = ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-yank==1.1.0")
    assert proc.returncode == 0, proc.output
    assert ws.installed() == {"cc-yank": "1.1.0"}
    assert "yanked" in proc.output.lower(), f"pip did not warn that 1.1.0 is yanked:\n{proc.output}"


def test_uv_skips_the_yanked_version(ws, yanked):
    ws.make_venv()
    proc = ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(), "cc-yank")
    assert proc.returncode == 0, proc.output
    assert ws.installed() == {"cc-yank": "1.0.0"}, "uv installed the yanked 1.1.0 without a pin"


def test_uv_installs_the_yanked_version_when_pinned(ws, yanked):
    ws.make_venv()
    proc = ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(), "cc-yank==1.1.0")
    assert proc.returncode == 0, proc.output
    assert ws.installed() == {"cc-yank": "1.1.0"}


def test_check_mode_changes_nothing(server, yanked):
    changed, out = release(server, "available", check=True)
    assert changed > 0, f"--check of making 1.1.0 available again reported no change:\n{out[-2000:]}"
    time.sleep(2)
    assert all(v == REASON for v in yank_state(server).values()), "--check changed the page"


def test_available_again(ws, server, yanked):
    changed, out = release(server, "available")
    assert changed > 0, f"making 1.1.0 available reported no change:\n{out[-2000:]}"
    state = yank_state(server, want=None, until_unyanked=True)
    assert not any(state.values()), f"cc-yank 1.1.0 still yanked 10 s after release_state=available: {state}"
    ws.make_venv()
    proc = ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-yank")
    assert proc.returncode == 0 and ws.installed() == {"cc-yank": "1.1.0"}, proc.output
