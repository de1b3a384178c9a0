# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""One concern of the aws_stack role (a task file under tasks/) run by ansible-playbook against the emulator,
with this checkout as the collection privatepypi.aws (tests/unit/conftest.py put it on sys.path)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

from ansible_collections.privatepypi.aws.tests.support import fast_ansible

PLAY = """
- hosts: localhost
  gather_facts: false
  connection: local
  module_defaults:
    group/amazon.aws.aws: {{endpoint_url: '{endpoint}', region: {region}, access_key: testing, secret_key: testing}}
    group/community.aws.aws: {{endpoint_url: '{endpoint}', region: {region}, access_key: testing, secret_key: testing}}
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.aws_stack
        tasks_from: {tasks_from}
"""


def run_concern(endpoint, region, tmp_path, tasks_from, extra, verbose=False):
    """ansible-playbook on tasks_from with extra as its extra vars; fails the test unless it succeeds. Its output."""
    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, 'ansible_collections', 'privatepypi', 'aws')))
    play = tmp_path / f'{tasks_from.replace("/", "_")}.yml'
    play.write_text(PLAY.format(endpoint=endpoint, region=region, tasks_from=tasks_from))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_NOCOLOR='1', AWS_ACCESS_KEY_ID='testing',
               AWS_SECRET_ACCESS_KEY='testing')
    done = subprocess.run(fast_ansible.command(*(['-v'] if verbose else []), str(play),
                                               '-e', json.dumps(extra)),
                          env=dict(env, **fast_ansible.environment()), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done.stdout + done.stderr
