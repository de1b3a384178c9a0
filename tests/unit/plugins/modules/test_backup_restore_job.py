# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# SPDX-License-Identifier: Apache-2.0
"""privatepypi.aws.backup_restore_job against moto's in-process AWS with the emulator's AWS Backup
shim (scripts/emulator.py: backup jobs, recovery points, restore jobs): real API calls, real assertions."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import importlib.util
import json
import os
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import backup_restore_job  # noqa: E402

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from unittest import mock

    @contextlib.contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))):
            yield


REGION = 'us-east-1'
VAULT = 'pypi-unit-backup'
ROLE_ARN = 'arn:aws:iam::123456789012:role/pypi-unit-backup'
EMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'scripts', 'emulator.py')


def load_emulator():
    """Import scripts/emulator.py once: it adds what moto lacks (restore jobs among them) to moto's classes."""
    if 'privatepypi_emulator' not in sys.modules:  # its patches must not be applied twice
        spec = importlib.util.spec_from_file_location('privatepypi_emulator', EMULATOR)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules['privatepypi_emulator'] = module
    return sys.modules['privatepypi_emulator']


EMULATOR_MODULE = load_emulator()


class AnsibleExitJson(Exception):
    def __init__(self, result):
        super(AnsibleExitJson, self).__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    def __init__(self, result):
        super(AnsibleFailJson, self).__init__(result)
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise AnsibleFailJson(kwargs)


@pytest.fixture(autouse=True)
def patch_exit_fail(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)


@pytest.fixture(autouse=True)
def aws(monkeypatch):
    """A fresh in-process AWS with only fake credentials visible; a client factory to look at it."""
    for key in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_URL', 'AWS_ENDPOINT_URL', 'AWS_SESSION_TOKEN'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_CONFIG_FILE', '/nonexistent')
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent')
    with moto.mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


@pytest.fixture
def point(aws):
    """A completed recovery point of an encrypted EFS file system: (file system id, recovery point ARN)."""
    fs_id = aws('efs').create_file_system(CreationToken='pypi-unit-efs', Encrypted=True)['FileSystemId']
    aws('backup').create_backup_vault(BackupVaultName=VAULT)
    job = aws('backup').start_backup_job(
        BackupVaultName=VAULT, IamRoleArn=ROLE_ARN,
        ResourceArn='arn:aws:elasticfilesystem:{0}:123456789012:file-system/{1}'.format(REGION, fs_id))
    return fs_id, job['RecoveryPointArn']


def metadata(fs_id, token='pypi-unit-efs-restored-1', **extra):
    data = {'file-system-id': fs_id, 'newFileSystem': True, 'Encrypted': True, 'PerformanceMode': 'generalPurpose',
            'CreationToken': token}
    data.update(extra)
    return data


def _args(args, check_mode, diff):
    args = dict(args)
    args.setdefault('region', REGION)
    args['_ansible_check_mode'] = check_mode
    args['_ansible_diff'] = diff
    return args


def run_ok(args, check_mode=False, diff=False):
    with patch_module_args(_args(args, check_mode, diff)):
        with pytest.raises(AnsibleExitJson) as exc:
            backup_restore_job.main()
    result = exc.value.result
    assert not result.get('failed'), result
    return result


def run_fail(args, check_mode=False):
    with patch_module_args(_args(args, check_mode, False)):
        with pytest.raises(AnsibleFailJson) as exc:
            backup_restore_job.main()
    return exc.value.result


def file_systems(aws):
    return dict((f['CreationToken'], f) for f in aws('efs').describe_file_systems()['FileSystems'])


# --- restoring --------------------------------------------------------------------------------

def test_restore_to_a_new_encrypted_file_system(aws, point):
    fs_id, point_arn = point
    result = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, resource_type='EFS',
                         metadata=metadata(fs_id)))
    assert result['changed'] is True
    restored = file_systems(aws)['pypi-unit-efs-restored-1']
    assert restored['Encrypted'] is True and restored['FileSystemId'] != fs_id
    assert result['created_resource_arn'] == (
        'arn:aws:elasticfilesystem:{0}:123456789012:file-system/{1}'.format(REGION, restored['FileSystemId']))
    job = result['restore_job']
    assert job['restore_job_id'] == result['restore_job_id']
    assert job['status'] == 'COMPLETED' and job['recovery_point_arn'] == point_arn
    assert job['created_resource_arn'] == result['created_resource_arn']
    assert job['iam_role_arn'] == ROLE_ARN and job['resource_type'] == 'EFS'
    assert job['creation_date'].endswith('+00:00')  # ISO 8601 text in UTC, not a datetime
    # AWS Backup sees the same job
    described = aws('backup').describe_restore_job(RestoreJobId=result['restore_job_id'])
    assert described['Status'] == 'COMPLETED' and described['CreatedResourceArn'] == result['created_resource_arn']
    assert 'completed' in result['msg'] and restored['FileSystemId'] in result['msg']


def test_metadata_booleans_are_sent_as_aws_backup_reads_them(aws, point):
    fs_id, point_arn = point
    run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN,
                metadata=metadata(fs_id, token='plain', Encrypted=False)))
    assert file_systems(aws)['plain']['Encrypted'] is False
    assert backup_restore_job.as_text(True) == 'true' and backup_restore_job.as_text(False) == 'false'
    assert backup_restore_job.as_text(3) == '3'


def test_every_run_starts_a_restore(aws, point):
    fs_id, point_arn = point
    first = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id, token='one')))
    second = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id, token='two')))
    assert first['changed'] and second['changed']
    assert first['restore_job_id'] != second['restore_job_id']
    assert {'one', 'two'} <= set(file_systems(aws))
    assert len(aws('backup').list_restore_jobs()['RestoreJobs']) == 2


def test_idempotency_token_returns_the_job_already_started(aws, point):
    fs_id, point_arn = point
    args = dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id),
                idempotency_token='pypi-unit-efs-restored-1')
    first = run_ok(args)
    again = run_ok(args)
    assert again['restore_job_id'] == first['restore_job_id']
    assert again['created_resource_arn'] == first['created_resource_arn']
    assert len(aws('backup').list_restore_jobs()['RestoreJobs']) == 1
    assert len(file_systems(aws)) == 2


def test_no_wait_returns_once_started(aws, point):
    fs_id, point_arn = point
    result = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id), wait=False))
    assert result['changed'] is True and result['restore_job_id']
    assert 'started' in result['msg']


# --- check mode and diff ----------------------------------------------------------------------

def test_check_mode_starts_nothing(aws, point):
    fs_id, point_arn = point
    result = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id)),
                    check_mode=True)
    assert result['changed'] is True
    assert result['restore_job_id'] == '' and result['created_resource_arn'] == '' and result['restore_job'] == {}
    assert point_arn in result['msg']
    assert aws('backup').list_restore_jobs()['RestoreJobs'] == []
    assert list(file_systems(aws)) == ['pypi-unit-efs']


def test_diff_shows_the_restore(aws, point):
    fs_id, point_arn = point
    result = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, resource_type='EFS',
                         metadata=metadata(fs_id)), check_mode=True, diff=True)
    assert result['diff']['before'] == {}
    after = result['diff']['after']
    assert after['recovery_point_arn'] == point_arn and after['iam_role_arn'] == ROLE_ARN
    assert after['resource_type'] == 'EFS'
    assert after['metadata'] == {'file-system-id': fs_id, 'newFileSystem': 'true', 'Encrypted': 'true',
                                 'PerformanceMode': 'generalPurpose', 'CreationToken': 'pypi-unit-efs-restored-1'}


def test_no_diff_without_diff_mode(aws, point):
    fs_id, point_arn = point
    assert 'diff' not in run_ok(dict(recovery_point_arn=point_arn, metadata=metadata(fs_id)), check_mode=True)


# --- failures -----------------------------------------------------------------------------------

def test_missing_recovery_point(aws, point):
    fs_id, point_arn = point
    result = run_fail(dict(recovery_point_arn=point_arn + '0', iam_role_arn=ROLE_ARN, metadata=metadata(fs_id)))
    assert 'not found' in result['msg'] and point_arn + '0' in result['msg']
    assert aws('backup').list_restore_jobs()['RestoreJobs'] == []


def test_restore_into_a_deleted_file_system_is_refused(aws, point):
    fs_id, point_arn = point
    aws('efs').delete_file_system(FileSystemId=fs_id)
    result = run_fail(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN,
                           metadata={'file-system-id': fs_id, 'newFileSystem': False}))
    assert 'Failed to start the restore' in result['msg']
    assert result['restore_job_id'] == ''


def _job_reported_as(monkeypatch, status, message=''):
    """AWS Backup answers DescribeRestoreJob with this status (the emulator's jobs complete at once)."""
    original = EMULATOR_MODULE.BackupResponse.describe_restore_job

    def describe(self):
        job = json.loads(original(self))
        job.update(Status=status, StatusMessage=message, PercentDone='40.00%')
        job.pop('CompletionDate', None)
        return json.dumps(job)
    monkeypatch.setattr(EMULATOR_MODULE.BackupResponse, 'describe_restore_job', describe)


def test_a_failed_job_fails_with_its_reason(aws, point, monkeypatch):
    fs_id, point_arn = point
    _job_reported_as(monkeypatch, 'FAILED', 'Access denied to the KMS key')
    result = run_fail(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id)))
    assert 'ended FAILED' in result['msg'] and 'Access denied to the KMS key' in result['msg']
    assert result['restore_job']['status'] == 'FAILED' and result['restore_job_id']


class FakeClock(object):
    """time for the module: sleeping moves the clock on at once."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_job_that_does_not_finish_in_time(aws, point, monkeypatch):
    fs_id, point_arn = point
    _job_reported_as(monkeypatch, 'RUNNING')
    clock = FakeClock()
    monkeypatch.setattr(backup_restore_job, 'time', clock)
    result = run_fail(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id),
                           wait_timeout=40))
    assert 'still RUNNING (40.00% done) after 40 seconds' in result['msg']
    assert clock.sleeps == [backup_restore_job.POLL_SECONDS] * 3


def test_wait_polls_until_completed(aws, point, monkeypatch):
    fs_id, point_arn = point
    answers = ['PENDING', 'RUNNING']
    original = EMULATOR_MODULE.BackupResponse.describe_restore_job

    def describe(self):
        job = json.loads(original(self))
        if answers:
            job['Status'] = answers.pop(0)
        return json.dumps(job)
    monkeypatch.setattr(EMULATOR_MODULE.BackupResponse, 'describe_restore_job', describe)
    clock = FakeClock()
    monkeypatch.setattr(backup_restore_job, 'time', clock)
    result = run_ok(dict(recovery_point_arn=point_arn, iam_role_arn=ROLE_ARN, metadata=metadata(fs_id)))
    assert result['restore_job']['status'] == 'COMPLETED'
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize('args, message', [
    (dict(wait_timeout=0), 'wait_timeout must be at least 1 second'),
    (dict(metadata={}), 'metadata must name at least one key'),
])
def test_bad_input_is_refused_before_any_call(aws, point, args, message):
    fs_id, point_arn = point
    full = dict(recovery_point_arn=point_arn, metadata=metadata(fs_id))
    full.update(args)
    assert message in run_fail(full)['msg']
    assert aws('backup').list_restore_jobs()['RestoreJobs'] == []
