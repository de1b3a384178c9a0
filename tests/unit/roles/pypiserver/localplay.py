"""A play on localhost that runs one task file of the role, as ansible-playbook runs it, with this
checkout as the collection privatepypi.aws (tests/unit/conftest.py put it on sys.path)."""

import json
import os
import subprocess
import sys

from ansible_collections.privatepypi.aws.tests.support import fast_ansible

_HEADER = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.pypiserver
        tasks_from: {tasks_from}
        public: {public}
"""


def role_play(tasks_from, public=False, more_tasks=""):
    """The play's text: the role's tasks_from file, then more_tasks (indented as tasks of the play)."""
    return _HEADER.format(tasks_from=tasks_from, public=str(public).lower()) + more_tasks


def run_play(path, extra, timeout=180):
    """ansible-playbook on the play at path with extra as its extra vars; the finished process."""
    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, "ansible_collections", "privatepypi", "aws")))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    return subprocess.run(fast_ansible.command(str(path), "-e", json.dumps(extra)),
                          env=dict(env, **fast_ansible.environment()), capture_output=True, text=True, timeout=timeout, check=False)
