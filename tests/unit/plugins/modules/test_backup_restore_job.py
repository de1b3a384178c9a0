# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.backup_restore_job against moto's in-process AWS with the emulator's AWS Backup
shim (tests/support/emulator.py: backup jobs, recovery points, restore jobs): real API calls, real assertions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import backup_restore_job  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import FakeClock, load_emulator, run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
VAULT = 'pypi-unit-backup'
ROLE_ARN = 'arn:aws:iam::123456789012:role/pypi-unit-backup'
EMULATOR_MODULE = load_emulator()


@pytest.fixture
def point(aws):
    """A completed recovery point of an encrypted EFS file system: (file system id, recovery point ARN)."""
    fs_id = aws('efs').create_file_system(CreationToken='pypi-unit-efs', Encrypted=True)['FileSystemId']
    aws('backup').create_backup_vault(BackupVaultName=VAULT)
    job = aws('backup').start_backup_job(
        BackupVaultName=VAULT, IamRoleArn=ROLE_ARN,
        ResourceArn=f'arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{fs_id}')
    return fs_id, job['RecoveryPointArn']


def metadata(fs_id, token='pypi-unit-efs-restored-1', **extra):
    data = {'file-system-id': fs_id, 'newFileSystem': True, 'Encrypted': True, 'PerformanceMode': 'generalPurpose',
            'CreationToken': token}
    data.update(extra)
    return data


def run_ok(args, check_mode=False, diff=False):
    return run_module(backup_restore_job, dict({'region': REGION}, **args), check_mode, diff)


def run_fail(args, check_mode=False):
    return run_module(backup_restore_job, dict({'region': REGION}, **args), check_mode, fail=True)


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
        'arn:aws:elasticfilesystem:{}:123456789012:file-system/{}'.format(REGION, restored['FileSystemId']))
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
