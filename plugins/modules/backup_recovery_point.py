#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_recovery_point
short_description: Delete an AWS Backup recovery point
version_added: 0.1.0
description:
  - Deletes a recovery point from its AWS Backup vault (C(DeleteRecoveryPoint)) and, with
    O(wait=true), waits until the vault no longer holds it, so that the vault can be deleted
    next.
  - Recovery points are created by backup jobs, not declared, so the only state is
    V(absent). A recovery point (or vault) that does not exist is not an error.
  - The data of a deleted recovery point is gone for good.
options:
  backup_vault_name:
    description:
      - Name of the vault that holds the recovery point.
    type: str
    required: true
  recovery_point_arn:
    description:
      - ARN of the recovery point.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the recovery point.
    type: str
    choices: [absent]
    default: absent
  wait:
    description:
      - Wait until the recovery point is gone (AWS Backup deletes some, EFS ones among them,
        in the background).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the deletion.
    type: int
    default: 900
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
    details: Deletes nothing; reports whether the recovery point would be deleted.
  diff_mode:
    support: full
    details: The diff shows the recovery point (its resource, status and date) before, nothing after.
notes:
  - AWS Backup refuses to delete a recovery point that a running job uses, or that the vault's
    lock protects; the module then fails with AWS Backup's reason.
seealso:
  - module: privatepypi.aws.backup_recovery_point_info
  - module: amazon.aws.backup_vault
'''

EXAMPLES = r'''
- name: Find the recovery points of a vault
  privatepypi.aws.backup_recovery_point_info:
    backup_vault_name: pypi-prod-backup
  register: points

- name: Delete them (the vault can be deleted afterwards)
  privatepypi.aws.backup_recovery_point:
    backup_vault_name: pypi-prod-backup
    recovery_point_arn: "{{ item.recovery_point_arn }}"
    state: absent
  loop: "{{ points.recovery_points }}"
'''

RETURN = r'''
recovery_point_arn:
  description: ARN of the recovery point.
  returned: always
  type: str
  sample: arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
deleted:
  description:
    - The recovery point as it was before the deletion (snake case, dates in ISO 8601); empty
      when there was none.
  returned: always
  type: dict
  sample: {"resource_arn": "arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0123456789abcdef0",
           "resource_type": "EFS", "status": "COMPLETED", "creation_date": "2025-01-01T06:04:10+00:00"}
'''

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.privatepypi.aws.plugins.module_utils.backup import describe_recovery_point, plain

POLL_SECONDS = 10


def current(client, vault, arn):
    """The recovery point in snake case with ISO 8601 dates, or None when it does not exist."""
    point = describe_recovery_point(client, vault, arn)
    return None if point is None else plain(point)


def summary(point):
    if not point:
        return {}
    return dict((key, point.get(key)) for key in ('recovery_point_arn', 'resource_arn', 'resource_type', 'status',
                                                  'creation_date'))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            backup_vault_name=dict(type='str', required=True),
            recovery_point_arn=dict(type='str', required=True),
            state=dict(type='str', default='absent', choices=['absent']),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=900),
        ),
        supports_check_mode=True,
    )
    params = module.params
    vault, arn = params['backup_vault_name'], params['recovery_point_arn']
    client = module.client('backup', retry_decorator=AWSRetry.jittered_backoff())
    try:
        before = current(client, vault, arn)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f'Failed to read recovery point {arn}')
    result = dict(changed=before is not None, recovery_point_arn=arn, deleted=before or {})
    if module._diff:
        result['diff'] = dict(before=summary(before), after={})
    if before is None or module.check_mode:
        module.exit_json(**result)

    # one that is already being deleted only needs the wait
    if before.get('status') != 'DELETING':
        try:
            client.delete_recovery_point(aws_retry=True, BackupVaultName=vault, RecoveryPointArn=arn)
        except is_boto3_error_code('ResourceNotFoundException'):
            result['changed'] = False  # gone in between
            module.exit_json(**result)
        except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f'AWS Backup did not delete recovery point {arn} of vault {vault}')
    if params['wait']:
        deadline = time.monotonic() + params['wait_timeout']
        try:
            while current(client, vault, arn) is not None:
                if time.monotonic() >= deadline:
                    module.fail_json(msg='Recovery point {} is still in vault {} after {} seconds'.format(
                        arn, vault, params['wait_timeout']), **result)
                time.sleep(POLL_SECONDS)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg=f'Failed to read recovery point {arn}')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
