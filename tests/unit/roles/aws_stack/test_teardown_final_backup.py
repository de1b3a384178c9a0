# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Teardown takes a final recovery point of the package file system unless told not to (issue 17).

The role's backup/final.yml, run by ansible-playbook against the emulator (tests/support/emulator.py as a
server on loopback, AWS Backup's on-demand jobs included) on a stack that has a file system, a vault and the
role AWS Backup works with, takes a completed recovery point of the file system into the vault; on a stack
without a vault it says there is none. teardown.yml runs it before the first removal, unless
-e final_backup=false or aws_stack_teardown_delete_backups (conditions evaluated as Ansible does). The whole
teardown (vault kept, file system gone) is not run here: it takes minutes against the emulator."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

boto3 = pytest.importorskip('boto3')
from ansible_collections.privatepypi.aws.tests.support import fast_ansible  # noqa: E402
from ansible_collections.privatepypi.aws.tests.support.emulator_process import running_emulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
REGION = 'us-east-1'
PLAY = """
- hosts: localhost
  gather_facts: false
  connection: local
  module_defaults:
    group/amazon.aws.aws: {{endpoint_url: '{endpoint}', region: us-east-1, access_key: testing, secret_key: testing}}
    group/community.aws.aws: {{endpoint_url: '{endpoint}', region: us-east-1, access_key: testing, secret_key: testing}}
    group/privatepypi.aws.aws: {{endpoint_url: '{endpoint}', region: us-east-1, access_key: testing, secret_key: testing}}
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.aws_stack
        tasks_from: backup/final.yml
"""
TASKS = ROOT / 'roles' / 'aws_stack' / 'tasks'

TRUST = json.dumps({'Version': '2012-10-17', 'Statement': [
    {'Effect': 'Allow', 'Principal': {'Service': 'backup.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]})


@pytest.fixture(scope='module')
def endpoint():
    with running_emulator(MOTO_IAM_LOAD_MANAGED_POLICIES='false') as url:
        yield url


@pytest.fixture(scope='module')
def aws(endpoint):
    session = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name=REGION)
    return lambda service: session.client(service, endpoint_url=endpoint)


def make_stack(aws, stack):
    """What the teardown's final recovery point needs of a stack: its file system, vault and backup role."""
    file_system = aws('efs').create_file_system(CreationToken=f'{stack}-efs', Encrypted=True, Tags=[
        {'Key': 'Name', 'Value': f'{stack}-efs'}, {'Key': 'Stack', 'Value': stack}])['FileSystemId']
    aws('backup').create_backup_vault(BackupVaultName=f'{stack}-backup')
    aws('iam').create_role(RoleName=f'{stack}-backup', AssumeRolePolicyDocument=TRUST)
    return file_system


def final(endpoint, tmp_path, stack, *extra):
    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, 'ansible_collections', 'privatepypi', 'aws')))
    play = tmp_path / 'teardown.yml'
    play.write_text(PLAY.format(endpoint=endpoint))
    # what preflight/connection.yml exports (moto's account)
    settings = {'aws_stack_name': stack, 'aws_stack_region': REGION, 'aws_stack_endpoint_url': endpoint,
                '_aws_stack_account_id': '123456789012', '_aws_stack_partition': 'aws'}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_NOCOLOR='1')
    for key in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN'):
        env.pop(key, None)
    env.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing')
    done = subprocess.run(fast_ansible.command(str(play), '-e', json.dumps(settings), *extra),
                          env=dict(env, **fast_ansible.environment()), capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    return ' '.join(out.split())


def points(aws, stack):
    try:
        found = aws('backup').list_recovery_points_by_backup_vault(BackupVaultName=f'{stack}-backup')['RecoveryPoints']
    except aws('backup').exceptions.ResourceNotFoundException:
        return None  # no vault
    return [(p['ResourceArn'].rsplit('/', 1)[-1], p['Status']) for p in found]


def file_systems(aws, stack):
    return [f['FileSystemId'] for f in aws('efs').describe_file_systems()['FileSystems']
            if {t['Key']: t['Value'] for t in f.get('Tags', [])}.get('Stack') == stack]


def test_a_final_recovery_point_is_taken_into_the_stacks_vault(aws, endpoint, tmp_path):
    stack = 'final-unit'
    file_system = make_stack(aws, stack)
    out = final(endpoint, tmp_path, stack)
    assert points(aws, stack) == [(file_system, 'COMPLETED')]
    assert f'Final recovery point of {file_system}' in out and 'which the teardown keeps' in out


def test_without_a_vault_it_says_there_is_none(aws, endpoint, tmp_path):
    stack = 'novault-unit'
    aws('efs').create_file_system(CreationToken=f'{stack}-efs', Tags=[
        {'Key': 'Name', 'Value': f'{stack}-efs'}, {'Key': 'Stack', 'Value': stack}])
    out = final(endpoint, tmp_path, stack)
    assert f"No final recovery point of the packages of {stack}:" in out and points(aws, stack) is None, out[-4000:]


def _conditions(when, **settings):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    defaults = yaml.safe_load((ROOT / 'roles' / 'aws_stack' / 'defaults' / 'main.yml').read_text())
    variables = {'aws_stack_teardown_final_backup': trust_as_template(defaults['aws_stack_teardown_final_backup']),
                 'aws_stack_teardown_delete_backups': False, **settings}
    templar = Templar(loader=DataLoader(), variables=variables)
    return all(templar.evaluate_conditional(trust_as_template(c)) for c in when)


def test_teardown_takes_it_first_unless_told_not_to():
    block = yaml.safe_load((TASKS / 'teardown.yml').read_text())[0]['block']
    names = [t.get('ansible.builtin.include_tasks') for t in block]
    first_removal = next(i for i, n in enumerate(names) if n and n.endswith('/remove.yml'))
    final_at = names.index('backup/final.yml')
    assert final_at < first_removal
    when = block[final_at]['when']
    assert _conditions(when) is True
    assert _conditions(when, final_backup='false') is False  # -e final_backup=false
    assert _conditions(when, final_backup=False) is False
    assert _conditions(when, aws_stack_teardown_final_backup=False) is False
    assert _conditions(when, aws_stack_teardown_delete_backups=True) is False
