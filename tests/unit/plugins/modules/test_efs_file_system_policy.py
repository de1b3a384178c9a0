# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.efs_file_system_policy against moto's in-process EFS (real API calls)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from ansible_collections.privatepypi.aws.plugins.modules import efs_file_system_policy  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module  # noqa: E402

REGION = 'eu-west-1'


def policy(file_system_id):
    arn = f'arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{file_system_id}'
    return {
        'Version': '2012-10-17',
        'Statement': [
            {'Sid': 'DenyWithoutTls', 'Effect': 'Deny', 'Principal': {'AWS': '*'}, 'Action': '*', 'Resource': arn,
             'Condition': {'Bool': {'aws:SecureTransport': 'false'}}},
            {'Sid': 'Mount', 'Effect': 'Allow', 'Principal': {'AWS': '*'},
             'Action': ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'], 'Resource': arn,
             'Condition': {'Bool': {'elasticfilesystem:AccessedViaMountTarget': 'true'}}},
        ],
    }


@pytest.fixture
def efs(aws):
    client = aws('efs')
    return client, client.create_file_system(CreationToken='unit')['FileSystemId']


def stored(client, file_system_id):
    return json.loads(client.describe_file_system_policy(FileSystemId=file_system_id)['Policy'])


def run(args, check_mode=False, diff=False, fail=False):
    return run_module(efs_file_system_policy, dict({'region': REGION}, **args), check_mode, diff, fail)


def test_sets_the_policy_once_check_mode_first(efs):
    client, fs_id = efs
    wanted = policy(fs_id)
    checked = run({'file_system_id': fs_id, 'policy': json.dumps(wanted)}, check_mode=True, diff=True)
    assert checked['changed'] is True and checked['diff']['before'] == ''
    assert '"aws:SecureTransport": "false"' in checked['diff']['after']
    with pytest.raises(client.exceptions.PolicyNotFound):
        client.describe_file_system_policy(FileSystemId=fs_id)  # check mode wrote nothing
    assert run({'file_system_id': fs_id, 'policy': json.dumps(wanted)})['changed'] is True
    assert stored(client, fs_id) == wanted
    # same data, other key order and spacing: no change
    reordered = json.dumps(dict(reversed(list(wanted.items()))), indent=4)
    again = run({'file_system_id': fs_id, 'policy': reordered}, diff=True)
    assert again['changed'] is False and again['diff']['before'] == again['diff']['after']


def test_a_different_policy_replaces_the_stored_one(efs):
    client, fs_id = efs
    run({'file_system_id': fs_id, 'policy': json.dumps(policy(fs_id))})
    narrower = policy(fs_id)
    narrower['Statement'] = narrower['Statement'][:1]
    assert run({'file_system_id': fs_id, 'policy': json.dumps(narrower)})['changed'] is True
    assert stored(client, fs_id) == narrower


def test_absent_without_a_policy_is_no_change(efs):
    fs_id = efs[1]
    assert run({'file_system_id': fs_id, 'state': 'absent'})['changed'] is False


@pytest.mark.parametrize(('args', 'message'), [
    ({'file_system_id': 'fs-1', 'policy': '{"Statement": []}'}, 'non-empty "Statement"'),
    ({'file_system_id': 'fs-1', 'policy': 'not json'}, 'not valid JSON'),
    ({'file_system_id': '../fs', 'policy': '{}'}, 'must look like fs-'),
])
def test_refuses_bad_input_with_a_message(efs, args, message):
    fs_id = efs[1]
    if args['file_system_id'] == 'fs-1':
        args = dict(args, file_system_id=fs_id)
    assert message in run(args, fail=True)['msg']
