# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.backup_recovery_point_info and backup_recovery_point against moto's in-process AWS
with the emulator's AWS Backup shim (tests/support/emulator.py): real API calls, real assertions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import (
    backup_recovery_point,  # noqa: E402
    backup_recovery_point_info,  # noqa: E402
)
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import FakeClock, load_emulator, run_module  # noqa: E402
from moto.backup.models import backup_backends  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
VAULT = 'pypi-unit-backup'
ROLE_ARN = 'arn:aws:iam::123456789012:role/pypi-unit-backup'
EMULATOR_MODULE = load_emulator()


def efs_arn(fs_id):
    return f'arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{fs_id}'


@pytest.fixture
def vault(aws):
    """A vault with two backups of one file system and one of another: {name: (fs id, [point ARNs, oldest first])}."""
    aws('backup').create_backup_vault(BackupVaultName=VAULT)
    found = {}
    for name, count in (('first', 2), ('second', 1)):
        fs_id = aws('efs').create_file_system(CreationToken=name, Encrypted=True,
                                              Tags=[{'Key': 'Name', 'Value': name}])['FileSystemId']
        points = [aws('backup').start_backup_job(BackupVaultName=VAULT, ResourceArn=efs_arn(fs_id),
                                                 IamRoleArn=ROLE_ARN)['RecoveryPointArn'] for dummy in range(count)]
        found[name] = (fs_id, points)
    return found


def run(module, args, check_mode=False, diff=False, fail=False):
    return run_module(module, dict(args, region=REGION), check_mode, diff, fail)


def stored(aws):
    return sorted(p['RecoveryPointArn'] for p in
                  aws('backup').list_recovery_points_by_backup_vault(BackupVaultName=VAULT)['RecoveryPoints'])


# --- backup_recovery_point_info -----------------------------------------------------------------

def test_info_lists_newest_first(aws, vault):
    result = run(backup_recovery_point_info, dict(backup_vault_name=VAULT))
    assert result['changed'] is False and result['vault_exists'] is True
    points = result['recovery_points']
    assert [p['recovery_point_arn'] for p in points] == list(reversed(vault['first'][1] + vault['second'][1]))
    newest = points[0]
    assert newest['resource_arn'] == efs_arn(vault['second'][0]) and newest['resource_type'] == 'EFS'
    assert newest['status'] == 'COMPLETED' and newest['backup_vault_name'] == VAULT
    assert newest['resource_name'] == 'second'
    # dates as ISO 8601 text in UTC, which sorts like the dates themselves
    assert all(p['creation_date'].endswith('+00:00') for p in points)
    assert [p['creation_date'] for p in points] == sorted((p['creation_date'] for p in points), reverse=True)


def test_info_by_resource(aws, vault):
    fs_id, points = vault['first']
    result = run(backup_recovery_point_info, dict(backup_vault_name=VAULT, resource_arn=efs_arn(fs_id)))
    assert [p['recovery_point_arn'] for p in result['recovery_points']] == list(reversed(points))


def test_info_by_resource_type(aws, vault):
    assert len(run(backup_recovery_point_info, dict(backup_vault_name=VAULT, resource_type='EFS'))['recovery_points']) == 3
    assert run(backup_recovery_point_info, dict(backup_vault_name=VAULT, resource_type='EBS'))['recovery_points'] == []


def test_info_one_recovery_point(aws, vault):
    arn = vault['second'][1][0]
    result = run(backup_recovery_point_info, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    assert [p['recovery_point_arn'] for p in result['recovery_points']] == [arn]
    assert result['recovery_points'][0]['storage_class'] == 'WARM'  # DescribeRecoveryPoint's fuller answer
    missing = run(backup_recovery_point_info, dict(backup_vault_name=VAULT, recovery_point_arn=arn + '0'))
    assert missing['vault_exists'] is True and missing['recovery_points'] == []


def test_info_missing_vault(aws):
    result = run(backup_recovery_point_info, dict(backup_vault_name='no-such-vault'))
    assert result == dict(changed=False, vault_exists=False, recovery_points=[])
    one = run(backup_recovery_point_info, dict(backup_vault_name='no-such-vault', recovery_point_arn='arn:x'))
    assert one['vault_exists'] is False


def test_info_empty_vault(aws):
    aws('backup').create_backup_vault(BackupVaultName=VAULT)
    assert run(backup_recovery_point_info, dict(backup_vault_name=VAULT)) == dict(
        changed=False, vault_exists=True, recovery_points=[])


def test_info_arn_and_filters_exclude_each_other(aws, vault):
    result = run(backup_recovery_point_info, dict(backup_vault_name=VAULT, recovery_point_arn='arn:x',
                                                  resource_type='EFS'), fail=True)
    assert 'mutually exclusive' in result['msg']


# --- backup_recovery_point ----------------------------------------------------------------------

def test_delete(aws, vault):
    arn = vault['first'][1][0]
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    assert result['changed'] is True and result['recovery_point_arn'] == arn
    assert result['deleted']['resource_arn'] == efs_arn(vault['first'][0])
    assert arn not in stored(aws) and len(stored(aws)) == 2


def test_delete_again_changes_nothing(aws, vault):
    arn = vault['first'][1][0]
    run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    assert result['changed'] is False and result['deleted'] == {}


def test_delete_in_a_missing_vault_changes_nothing(aws):
    result = run(backup_recovery_point, dict(backup_vault_name='no-such-vault', recovery_point_arn='arn:x'))
    assert result['changed'] is False


def test_check_mode_deletes_nothing(aws, vault):
    arn = vault['first'][1][0]
    before = stored(aws)
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn), check_mode=True)
    assert result['changed'] is True
    assert stored(aws) == before


def test_diff(aws, vault):
    arn = vault['second'][1][0]
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn),
                 check_mode=True, diff=True)
    assert result['diff']['after'] == {}
    before = result['diff']['before']
    assert before['recovery_point_arn'] == arn and before['resource_type'] == 'EFS' and before['status'] == 'COMPLETED'
    assert before['resource_arn'] == efs_arn(vault['second'][0]) and before['creation_date'].endswith('+00:00')
    assert 'diff' not in run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn),
                             check_mode=True)


def test_an_emptied_vault_can_be_deleted(aws, vault):
    with pytest.raises(aws('backup').exceptions.InvalidRequestException):
        aws('backup').delete_backup_vault(BackupVaultName=VAULT)
    for point in run(backup_recovery_point_info, dict(backup_vault_name=VAULT))['recovery_points']:
        run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=point['recovery_point_arn']))
    aws('backup').delete_backup_vault(BackupVaultName=VAULT)
    assert VAULT not in [v['BackupVaultName'] for v in aws('backup').list_backup_vaults()['BackupVaultList']]


def background_deletion(monkeypatch):
    """DeleteRecoveryPoint only starts the deletion, as AWS Backup does for EFS: the point is DELETING
    until the test removes it. Returns the emulator's recovery points and the DELETE calls made."""
    points = backup_backends['123456789012'][REGION].__dict__['_shim_jobs']['recovery_points']
    calls = []

    def delete(self):
        arn = self.uri_match['recoveryPointArn']
        calls.append(arn)
        points[arn]['Status'] = 'DELETING'
        return ''
    monkeypatch.setattr(EMULATOR_MODULE.BackupResponse, 'delete_recovery_point', delete)
    return points, calls


def test_wait_until_a_background_deletion_is_done(aws, vault, monkeypatch):
    arn = vault['first'][1][0]
    points, calls = background_deletion(monkeypatch)
    clock = FakeClock(on_sleep=lambda count: points.pop(arn) if count == 2 else None)
    monkeypatch.setattr(backup_recovery_point, 'time', clock)
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    assert result['changed'] is True and calls == [arn]
    assert clock.sleeps == [backup_recovery_point.POLL_SECONDS] * 2
    assert arn not in stored(aws)


def test_one_already_being_deleted_is_only_waited_for(aws, vault, monkeypatch):
    arn = vault['first'][1][0]
    points, calls = background_deletion(monkeypatch)
    points[arn]['Status'] = 'DELETING'
    clock = FakeClock(on_sleep=lambda count: points.pop(arn))
    monkeypatch.setattr(backup_recovery_point, 'time', clock)
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn))
    assert result['changed'] is True and calls == [] and len(clock.sleeps) == 1


def test_a_deletion_that_does_not_finish_in_time(aws, vault, monkeypatch):
    arn = vault['first'][1][0]
    background_deletion(monkeypatch)
    monkeypatch.setattr(backup_recovery_point, 'time', FakeClock())
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn, wait_timeout=25),
                 fail=True)
    assert f'is still in vault {VAULT} after 25 seconds' in result['msg']


def test_no_wait(aws, vault, monkeypatch):
    arn = vault['first'][1][0]
    points, calls = background_deletion(monkeypatch)
    clock = FakeClock()
    monkeypatch.setattr(backup_recovery_point, 'time', clock)
    result = run(backup_recovery_point, dict(backup_vault_name=VAULT, recovery_point_arn=arn, wait=False))
    assert result['changed'] is True and calls == [arn] and clock.sleeps == []
    assert points[arn]['Status'] == 'DELETING'
