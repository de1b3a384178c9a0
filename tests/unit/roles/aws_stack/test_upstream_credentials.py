# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upstream's credentials on AWS (issue 16), as ansible-playbook runs the role's credentials concern against
the emulator, looked at with boto3: an SSM SecureString under the stack's path (which the instance role already
reads), never printed, unchanged on a re-run, deleted when no upstream user is set and at teardown."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

boto3 = pytest.importorskip('boto3')
from ansible_collections.privatepypi.aws.tests.support.emulator_process import running_emulator  # noqa: E402
from concern_play import run_concern  # noqa: E402

REGION = 'us-east-1'
STACK = 'upcred-unit'
PARAMETER = f'/{STACK}/upstream-credentials'
SECRET = 'upstream-secret-6d2f0a91'


@pytest.fixture(scope='module')
def endpoint():
    with running_emulator(MOTO_IAM_LOAD_MANAGED_POLICIES='false') as url:
        yield url


@pytest.fixture(scope='module')
def ssm(endpoint):
    return boto3.client('ssm', endpoint_url=endpoint, region_name=REGION, aws_access_key_id='testing',
                        aws_secret_access_key='testing')


def run(endpoint, tmp_path, tasks_from, **settings):
    output = run_concern(endpoint, REGION, tmp_path, tasks_from, dict({
        'aws_stack_name': STACK, 'aws_stack_region': REGION, 'aws_stack_endpoint_url': endpoint,
        'aws_stack_access_key': 'testing', 'aws_stack_secret_key': 'testing',
        'aws_stack_users': [{'name': 'alice', 'password': 'alice-password-3e1b7c', 'role': 'admin'}],
        'aws_stack_upstream_enabled': True, 'aws_stack_upstream_url': 'https://upstream.example/simple/'}, **settings),
        verbose=True)
    assert SECRET not in output  # -v prints every task's result: no_log hides them
    return output


def _changed(output):
    return int(re.search(r'localhost\s*: ok=\d+\s+changed=(\d+)', output).group(1))


def _value(ssm):
    try:
        found = ssm.get_parameter(Name=PARAMETER, WithDecryption=True)['Parameter']
    except ssm.exceptions.ParameterNotFound:
        return None
    return found['Type'], found['Value']


def test_the_upstream_credentials_are_a_secure_string_kept_unchanged_and_removed(endpoint, ssm, tmp_path):
    with_user = {'aws_stack_upstream_username': 'mirror', 'aws_stack_upstream_password': SECRET}
    run(endpoint, tmp_path, 'credentials/create.yml', **with_user)
    assert _value(ssm) == ('SecureString', f'mirror:{SECRET}')
    # a re-run changes nothing (neither the users nor the upstream's credentials)
    assert _changed(run(endpoint, tmp_path, 'credentials/create.yml', **with_user)) == 0
    # a new password replaces the value
    run(endpoint, tmp_path, 'credentials/create.yml', **{**with_user, 'aws_stack_upstream_password': SECRET + '-2'})
    assert _value(ssm) == ('SecureString', f'mirror:{SECRET}-2')
    # no upstream user any more: no password stays readable
    run(endpoint, tmp_path, 'credentials/create.yml')
    assert _value(ssm) is None
    # and the teardown deletes it with the users' parameter
    run(endpoint, tmp_path, 'credentials/create.yml', **with_user)
    run(endpoint, tmp_path, 'credentials/remove.yml', **with_user)
    assert _value(ssm) is None
    assert ssm.describe_parameters(ParameterFilters=[{'Key': 'Path', 'Values': [f'/{STACK}']}])['Parameters'] == []
