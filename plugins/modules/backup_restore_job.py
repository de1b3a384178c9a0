#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_restore_job
short_description: Start an AWS Backup restore job and wait for it
version_added: 0.1.0
description:
  - Starts a restore job of an AWS Backup recovery point (C(StartRestoreJob)) and, with
    O(wait=true), waits until it is C(COMPLETED) (C(DescribeRestoreJob)); the result names
    the resource the restore created, for example the new EFS file system.
  - The module fails, with the job's status message, when the job ends C(FAILED) or
    C(ABORTED), or when it has not finished within O(wait_timeout) seconds.
  - Starting a restore is an action, not a state, so the module reports a change every time
    it starts one. Give an O(idempotency_token) to make a retried task return the job the
    first attempt started instead of a second one.
  - M(amazon.aws.backup_restore_job_info) lists restore jobs; this module starts them.
options:
  recovery_point_arn:
    description:
      - ARN of the recovery point to restore.
    type: str
    required: true
  metadata:
    description:
      - The restore metadata AWS Backup expects for the resource type, as documented in
        U(https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-a-backup.html).
      - "For Amazon EFS: C(file-system-id) (the source file system), C(newFileSystem),
        C(Encrypted), C(KmsKeyId), C(PerformanceMode), C(CreationToken) and C(ItemsToRestore)."
      - Values are sent as strings; V(true) and V(false) are sent lower case.
    type: dict
    required: true
  iam_role_arn:
    description:
      - ARN of the IAM role AWS Backup uses to create the restored resource, for example one
        with the AWS managed policy C(AWSBackupServiceRolePolicyForRestores).
      - Required by AWS for most resource types, EFS included.
    type: str
  resource_type:
    description:
      - Type of the resource to restore, such as V(EFS). AWS Backup reads it from the recovery
        point when it is not given.
    type: str
  idempotency_token:
    description:
      - A string that identifies this restore. AWS Backup answers a repeated request with the
        same token with the job it already started.
    type: str
  wait:
    description:
      - Wait until the job is C(COMPLETED). When V(false), the module returns once the job is
        started.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the job. An EFS restore takes about as long as copying the data.
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
    details: Starts nothing; reports the restore it would start.
  diff_mode:
    support: full
    details: The diff shows the recovery point, the metadata, the role and the resource type of the restore.
notes:
  - A restore of an EFS recovery point to a new file system (C(newFileSystem=true)) creates a
    file system without mount targets and, unless the restore is told to copy them, without
    the source's tags. AWS Backup puts the restored files into a directory
    C(aws-backup-restore_<date>) at the root of the file system it restores to.
seealso:
  - module: amazon.aws.backup_restore_job_info
  - module: privatepypi.aws.backup_recovery_point_info
  - name: Restore metadata of each resource type
    description: The keys C(StartRestoreJob) accepts for EFS, EBS, RDS and the other types.
    link: https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-a-backup.html
'''

EXAMPLES = r'''
- name: Restore an EFS recovery point to a new encrypted file system
  privatepypi.aws.backup_restore_job:
    recovery_point_arn: arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
    iam_role_arn: arn:aws:iam::123456789012:role/pypi-prod-backup
    resource_type: EFS
    metadata:
      file-system-id: fs-0123456789abcdef0
      newFileSystem: true
      Encrypted: true
      PerformanceMode: generalPurpose
      CreationToken: pypi-prod-efs-restored-20250101T060000Z
    idempotency_token: pypi-prod-efs-restored-20250101T060000Z
    wait_timeout: 7200
  register: restore

- name: The new file system
  ansible.builtin.debug:
    msg: "{{ restore.created_resource_arn | split('/') | last }}"
'''

RETURN = r'''
restore_job_id:
  description: ID of the restore job; empty in check mode.
  returned: always
  type: str
  sample: 4F7A3E09-1F5B-4BD5-9E6C-0F0C8F2B7F5A
created_resource_arn:
  description:
    - ARN of the resource the restore created or restored into; empty in check mode, and
      until the job has completed when O(wait=false).
  returned: always
  type: str
  sample: arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0fedcba9876543210
restore_job:
  description:
    - The restore job as C(DescribeRestoreJob) reports it, keys in snake case, dates in ISO 8601.
    - Empty in check mode.
  returned: always
  type: dict
  contains:
    restore_job_id:
      description: ID of the job.
      type: str
      sample: 4F7A3E09-1F5B-4BD5-9E6C-0F0C8F2B7F5A
    status:
      description: C(PENDING), C(RUNNING), C(COMPLETED), C(ABORTED) or C(FAILED).
      type: str
      sample: COMPLETED
    status_message:
      description: Why the job has its status, when AWS Backup says so.
      type: str
      sample: ""
    recovery_point_arn:
      description: The recovery point restored.
      type: str
      sample: arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
    created_resource_arn:
      description: The resource the restore created.
      type: str
      sample: arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0fedcba9876543210
    creation_date:
      description: When the job was started.
      type: str
      sample: "2025-01-01T06:00:00+00:00"
    completion_date:
      description: When the job finished.
      type: str
      sample: "2025-01-01T06:12:31+00:00"
  sample: {"restore_job_id": "4F7A3E09-1F5B-4BD5-9E6C-0F0C8F2B7F5A", "status": "COMPLETED", "resource_type": "EFS"}
'''

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.privatepypi.aws.plugins.module_utils.backup import plain

FINISHED = frozenset(('COMPLETED', 'ABORTED', 'FAILED'))
POLL_SECONDS = 15


def as_text(value):
    """A metadata value as AWS Backup reads it: strings, booleans lower case."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def describe(client, job_id):
    return plain(client.describe_restore_job(aws_retry=True, RestoreJobId=job_id))


def wait_for_job(client, job_id, timeout):
    """Poll until the job is finished or the timeout passes: (job, timed_out)."""
    deadline = time.monotonic() + timeout
    while True:
        job = describe(client, job_id)
        if job.get('status') in FINISHED:
            return job, False
        if time.monotonic() >= deadline:
            return job, True
        time.sleep(POLL_SECONDS)


def main():
    argument_spec = dict(
        recovery_point_arn=dict(type='str', required=True),
        metadata=dict(type='dict', required=True),
        iam_role_arn=dict(type='str'),
        resource_type=dict(type='str'),
        idempotency_token=dict(type='str', no_log=False),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=3600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params['wait_timeout'] < 1:
        module.fail_json(msg='wait_timeout must be at least 1 second, got {}'.format(params['wait_timeout']))
    if not params['metadata']:
        module.fail_json(msg='metadata must name at least one key, for EFS file-system-id and newFileSystem')
    metadata = dict((str(key), as_text(value)) for key, value in params['metadata'].items())
    request = dict(RecoveryPointArn=params['recovery_point_arn'], Metadata=metadata)
    for option, key in (('iam_role_arn', 'IamRoleArn'), ('resource_type', 'ResourceType'),
                        ('idempotency_token', 'IdempotencyToken')):
        if params[option]:
            request[key] = params[option]

    result = dict(changed=True, restore_job_id='', created_resource_arn='', restore_job={})
    if module._diff:
        result['diff'] = dict(before={}, after=dict(recovery_point_arn=params['recovery_point_arn'], metadata=metadata,
                                                    iam_role_arn=params['iam_role_arn'] or '',
                                                    resource_type=params['resource_type'] or ''))
    if module.check_mode:
        module.exit_json(msg='Check mode: would restore {}.'.format(params['recovery_point_arn']), **result)

    client = module.client('backup', retry_decorator=AWSRetry.jittered_backoff())
    try:
        job_id = client.start_restore_job(aws_retry=True, **request)['RestoreJobId']
    except is_boto3_error_code('ResourceNotFoundException') as e:
        module.fail_json_aws(e, msg='Recovery point {} not found'.format(params['recovery_point_arn']), **result)
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg='Failed to start the restore of {}'.format(params['recovery_point_arn']), **result)
    result['restore_job_id'] = job_id

    try:
        if params['wait']:
            job, timed_out = wait_for_job(client, job_id, params['wait_timeout'])
        else:
            job, timed_out = describe(client, job_id), False
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f'Failed to read restore job {job_id}', **result)
    result['restore_job'] = job
    result['created_resource_arn'] = job.get('created_resource_arn') or ''
    if timed_out:
        module.fail_json(msg='Restore job {} is still {} ({} done) after {} seconds; it goes on in AWS Backup'.format(
            job_id, job.get('status'), job.get('percent_done', '?'), params['wait_timeout']), **result)
    if job.get('status') in ('FAILED', 'ABORTED'):
        module.fail_json(msg='Restore job {} of {} ended {}: {}'.format(
            job_id, params['recovery_point_arn'], job['status'], job.get('status_message') or 'no reason given'),
            **result)
    if params['wait']:
        message = 'Restore job {} completed: {}.'.format(job_id, result['created_resource_arn'])
    else:
        message = 'Restore job {} started ({}).'.format(job_id, job.get('status'))
    module.exit_json(msg=message, **result)


if __name__ == '__main__':
    main()
