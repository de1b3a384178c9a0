# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Teardown asks for the stack's name (issue 17): without it (no terminal to type it, no -e confirm=<name>),
or with another name, it stops before its first AWS call and says how to confirm; with -e confirm=<name> it
goes on. ansible-playbook runs the role's teardown entry point against an endpoint where nothing listens, so
getting past the confirmation shows as the first AWS call failing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
from ansible_collections.privatepypi.aws.tests.support import fast_ansible

STACK = 'confirm-unit'
PLAY = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.aws_stack
        tasks_from: teardown
"""
REFUSED = f"Teardown of {STACK} not confirmed: nothing has been deleted"
FIRST_AWS_CALL = "Check who the AWS credentials belong to"


def teardown(tmp_path, *extra):
    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, 'ansible_collections', 'privatepypi', 'aws')))
    play = tmp_path / 'teardown.yml'
    play.write_text(PLAY)
    settings = {'aws_stack_name': STACK, 'aws_stack_region': 'us-east-1', 'aws_stack_endpoint_url': 'http://127.0.0.1:9',
                'aws_stack_access_key': 'testing', 'aws_stack_secret_key': 'testing'}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_NOCOLOR='1')
    done = subprocess.run(fast_ansible.command(str(play), '-e', json.dumps(settings), *extra),
                          env=dict(env, **fast_ansible.environment()), capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)
    return done.returncode, ' '.join((done.stdout + done.stderr).split())


@pytest.mark.parametrize('extra', [(), ('-e', 'confirm=another-stack'), ('-e', 'aws_stack_teardown_confirm=')],
                         ids=['nothing', 'another name', 'empty'])
def test_without_the_stacks_name_nothing_is_asked_of_aws(tmp_path, extra):
    code, out = teardown(tmp_path, *extra)
    assert code != 0 and REFUSED in out and f"pass -e confirm={STACK}" in out, out[-3000:]
    assert FIRST_AWS_CALL not in out


@pytest.mark.parametrize('extra', [('-e', f'confirm={STACK}'), ('-e', f'aws_stack_teardown_confirm={STACK}')],
                         ids=['confirm', 'role variable'])
def test_the_stacks_name_confirms_it(tmp_path, extra):
    code, out = teardown(tmp_path, *extra)
    assert REFUSED not in out and FIRST_AWS_CALL in out, out[-3000:]
    assert code != 0  # nothing listens at the endpoint: the first AWS call fails, after the confirmation
