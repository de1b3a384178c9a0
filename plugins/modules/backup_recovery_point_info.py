#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_recovery_point_info
short_description: List the recovery points of an AWS Backup vault
version_added: 0.1.0
description:
  - Lists the recovery points stored in an AWS Backup vault
    (C(ListRecoveryPointsByBackupVault)), newest first, optionally only those of one resource
    or of one resource type, or describes one recovery point (C(DescribeRecoveryPoint)).
  - A vault that does not exist has no recovery points; RV(vault_exists) tells it apart.
options:
  backup_vault_name:
    description:
      - Name of the backup vault.
    type: str
    required: true
  resource_arn:
    description:
      - Only the recovery points of this resource, for example an EFS file system's ARN.
    type: str
  resource_type:
    description:
      - Only the recovery points of this resource type, such as V(EFS) or V(EBS).
    type: str
  recovery_point_arn:
    description:
      - Only this recovery point (an empty list when the vault does not hold it).
      - Mutually exclusive with O(resource_arn) and O(resource_type).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
  - privatepypi.aws.attributes.read_only
seealso:
  - module: privatepypi.aws.backup_recovery_point
  - module: privatepypi.aws.backup_restore_job
'''

EXAMPLES = r'''
- name: The newest completed recovery point of a file system
  privatepypi.aws.backup_recovery_point_info:
    backup_vault_name: pypi-prod-backup
    resource_arn: arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0123456789abcdef0
  register: points

- name: Show it
  ansible.builtin.debug:
    msg: "{{ (points.recovery_points | selectattr('status', 'equalto', 'COMPLETED') | first).recovery_point_arn }}"
'''

RETURN = r'''
vault_exists:
  description: Whether the vault exists.
  returned: always
  type: bool
  sample: true
recovery_points:
  description:
    - The recovery points, newest first, keys in snake case and dates in ISO 8601.
  returned: always
  type: list
  elements: dict
  contains:
    recovery_point_arn:
      description: ARN of the recovery point.
      type: str
      sample: arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
    resource_arn:
      description: The resource it is a backup of.
      type: str
      sample: arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0123456789abcdef0
    resource_type:
      description: Type of that resource.
      type: str
      sample: EFS
    status:
      description: C(COMPLETED), C(PARTIAL), C(DELETING), C(EXPIRED), C(AVAILABLE), C(STOPPED) or C(CREATING).
      type: str
      sample: COMPLETED
    creation_date:
      description: When the backup was taken.
      type: str
      sample: "2025-01-01T06:04:10+00:00"
    backup_vault_name:
      description: The vault that holds it.
      type: str
      sample: pypi-prod-backup
  sample: [{"recovery_point_arn": "arn:aws:backup:eu-central-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45",
            "resource_type": "EFS", "status": "COMPLETED", "creation_date": "2025-01-01T06:04:10+00:00"}]
'''

import datetime

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.privatepypi.aws.plugins.module_utils.backup import describe_recovery_point, plain


def newest_first(points):
    """Sorted by the dates themselves (their ISO text does not sort across time zones)."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return sorted(points, key=lambda point: point.get('CreationDate') or epoch, reverse=True)


def list_points(client, params):
    request = dict(BackupVaultName=params['backup_vault_name'])
    if params['resource_arn']:
        request['ByResourceArn'] = params['resource_arn']
    if params['resource_type']:
        request['ByResourceType'] = params['resource_type']
    paginator = client.get_paginator('list_recovery_points_by_backup_vault')
    return paginator.paginate(**request).build_full_result()['RecoveryPoints']


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            backup_vault_name=dict(type='str', required=True),
            resource_arn=dict(type='str'),
            resource_type=dict(type='str'),
            recovery_point_arn=dict(type='str'),
        ),
        mutually_exclusive=[('recovery_point_arn', 'resource_arn'), ('recovery_point_arn', 'resource_type')],
        supports_check_mode=True,
    )
    params = module.params
    client = module.client('backup', retry_decorator=AWSRetry.jittered_backoff())
    vault = params['backup_vault_name']
    try:
        if params['recovery_point_arn']:
            point = describe_recovery_point(client, vault, params['recovery_point_arn'])
            if point is None:
                # the vault or the point is missing: which one, the list below tells
                list_points(client, dict(params, recovery_point_arn=None, resource_arn=None, resource_type=None))
                points = []
            else:
                points = [point]
        else:
            points = list_points(client, params)
    except is_boto3_error_code('ResourceNotFoundException'):
        module.exit_json(changed=False, vault_exists=False, recovery_points=[])
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f'Failed to list the recovery points of vault {vault}')
    module.exit_json(changed=False, vault_exists=True, recovery_points=[plain(p) for p in newest_first(points)])


if __name__ == '__main__':
    main()
