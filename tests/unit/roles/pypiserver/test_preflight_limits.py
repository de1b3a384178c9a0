"""The role's preflight refuses failed-login limits that would break a counter (0 or less), by name, before
anything is installed; the defaults and the client scenario's settings pass. Runs the role's own
preflight tasks through ansible-playbook on localhost (they only assert)."""

import json
import os
import subprocess
import sys

import pytest

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.pypiserver
        tasks_from: preflight
"""


@pytest.fixture(scope="module")
def preflight(tmp_path_factory):
    import conftest as unit_conftest  # noqa: F401 - tests/unit/conftest.py put the collection on sys.path

    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, "ansible_collections", "privatepypi", "aws")))
    play = tmp_path_factory.mktemp("preflight") / "play.yml"
    play.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")

    def run(**extra):
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(play),
                               "-e", json.dumps(extra)], env=env, capture_output=True, text=True, timeout=120, check=False)
    return run


# molecule/clients raises nginx's limit far above the service's, so its tests reach the service's back-off
CLIENTS = {"pypiserver_auth_failure_limit": 1000, "pypiserver_auth_backoff_after": 60, "pypiserver_auth_backoff_max_seconds": 4}


@pytest.mark.parametrize("extra", [{}, CLIENTS], ids=["defaults", "molecule-clients"])
def test_sensible_limits_pass(preflight, extra):
    result = preflight(**extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


@pytest.mark.parametrize("name", ["pypiserver_auth_failure_window_seconds", "pypiserver_auth_backoff_after"])
def test_a_zero_is_refused_by_name(preflight, name):
    result = preflight(**{name: 0})
    assert result.returncode == 2
    assert "Check the failed-login limits" in result.stdout and f"{name} (0)" in result.stdout
    assert "must each be at least 1" in result.stdout
