#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_job
short_description: Take an on-demand AWS Backup recovery point of a resource
version_added: 0.1.0
description:
  - Starts an on-demand backup job (C(StartBackupJob)) of one resource into a vault and, with
    O(wait=true), waits until it has finished, so that what comes next (deleting the resource) runs
    only once the recovery point exists.
  - A job is an action, not a state; every run starts one and reports C(changed). Check mode starts none.
options:
  backup_vault_name:
    description: Name of the vault the recovery point goes into.
    type: str
    required: true
  resource_arn:
    description: ARN of the resource to back up, for example an EFS file system.
    type: str
    required: true
  iam_role_arn:
    description: ARN of the role AWS Backup uses for the job.
    type: str
    required: true
  delete_after_days:
    description: Days after which AWS Backup deletes the recovery point; unset keeps it until deleted.
    type: int
  recovery_point_tags:
    description: Tags of the recovery point.
    type: dict
  wait:
    description: Wait until the job has finished (completed, failed or aborted).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the job.
    type: int
    default: 3600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Take a final recovery point of the package file system
  privatepypi.aws.backup_job:
    backup_vault_name: pypi-prod-backup
    resource_arn: arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0123456789abcdef0
    iam_role_arn: arn:aws:iam::123456789012:role/pypi-prod-backup
    delete_after_days: 365
    recovery_point_tags: {Reason: teardown}
'''

RETURN = r'''
backup_job_id:
  description: ID of the backup job; empty in check mode.
  returned: always
  type: str
  sample: 4F7A3E09-1F5B-4BD5-9E6C-0F0C8F2B7F5A
recovery_point_arn:
  description: ARN of the recovery point the job makes; empty in check mode.
  returned: always
  type: str
  sample: arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
state:
  description: The job's state when the module returned (C(COMPLETED) after a successful wait); empty in check mode.
  returned: always
  type: str
  sample: COMPLETED
'''

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

FINISHED = frozenset(('COMPLETED', 'ABORTED', 'FAILED', 'EXPIRED', 'PARTIAL'))
POLL_SECONDS = 15


def wait_for_job(client, job_id, timeout, sleep=time.sleep, clock=time.monotonic):
    """Poll until the job is finished or the timeout passes: (job, timed_out)."""
    deadline = clock() + timeout
    while True:
        job = client.describe_backup_job(aws_retry=True, BackupJobId=job_id)
        if job.get('State') in FINISHED:
            return job, False
        if clock() >= deadline:
            return job, True
        sleep(POLL_SECONDS)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            backup_vault_name=dict(type='str', required=True),
            resource_arn=dict(type='str', required=True),
            iam_role_arn=dict(type='str', required=True),
            delete_after_days=dict(type='int'),
            recovery_point_tags=dict(type='dict'),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=3600),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=True, backup_job_id='', recovery_point_arn='', state='')
    if module.check_mode:
        module.exit_json(msg=f"Check mode: would back up {params['resource_arn']} into {params['backup_vault_name']}.",
                         **result)
    request = dict(BackupVaultName=params['backup_vault_name'], ResourceArn=params['resource_arn'],
                   IamRoleArn=params['iam_role_arn'])
    if params['delete_after_days']:
        request['Lifecycle'] = dict(DeleteAfterDays=params['delete_after_days'])
    if params['recovery_point_tags']:
        request['RecoveryPointTags'] = {str(k): str(v) for k, v in params['recovery_point_tags'].items()}
    client = module.client('backup', retry_decorator=AWSRetry.jittered_backoff())
    try:
        started = client.start_backup_job(aws_retry=True, **request)
        result.update(backup_job_id=started['BackupJobId'], recovery_point_arn=started.get('RecoveryPointArn', ''))
        if params['wait']:
            job, timed_out = wait_for_job(client, started['BackupJobId'], params['wait_timeout'])
        else:
            job, timed_out = client.describe_backup_job(aws_retry=True, BackupJobId=started['BackupJobId']), False
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f"Failed to back up {params['resource_arn']} into {params['backup_vault_name']}",
                             **result)
    result['state'] = job.get('State', '')
    result['recovery_point_arn'] = job.get('RecoveryPointArn') or result['recovery_point_arn']
    if timed_out:
        module.fail_json(msg=f"Backup job {result['backup_job_id']} is still {result['state']} after "
                             f"{params['wait_timeout']} seconds; it goes on in AWS Backup", **result)
    if params['wait'] and result['state'] != 'COMPLETED':
        module.fail_json(msg=f"Backup job {result['backup_job_id']} of {params['resource_arn']} ended {result['state']}: "
                             f"{job.get('StatusMessage') or 'no reason given'}", **result)
    module.exit_json(msg=f"Recovery point {result['recovery_point_arn']} ({result['state']}).", **result)


if __name__ == '__main__':
    main()
