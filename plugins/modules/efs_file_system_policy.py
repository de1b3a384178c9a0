#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: efs_file_system_policy
short_description: Set or remove the resource policy of an Amazon EFS file system
version_added: 0.2.0
description:
  - Puts a file system policy (an IAM resource policy) on an EFS file system, or deletes it.
  - The policy given and the policy stored are compared as JSON data, so key order and white
    space do not matter and a second run with the same policy reports no change.
  - A typical policy denies every access without C(aws:SecureTransport) (NFS not through TLS)
    and allows C(elasticfilesystem:ClientMount) and C(ClientWrite) to one role only.
options:
  file_system_id:
    description:
      - Id of the file system, for example V(fs-0123456789abcdef0).
    type: str
    required: true
  policy:
    description:
      - The policy document, as a dictionary or as a JSON string. Required when O(state=present).
    type: json
  bypass_policy_lockout_safety_check:
    description:
      - Let EFS accept a policy that would lock the caller out of changing it later.
    type: bool
    default: false
  state:
    description:
      - V(present) sets the policy when it differs from O(policy).
      - V(absent) deletes the policy; a file system without one is not an error.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
    details: Reports whether the policy would be set or deleted, with the diff, without writing anything.
  diff_mode:
    support: full
    details: The diff shows the stored and the new policy as indented JSON with sorted keys.
seealso:
  - name: Using IAM to control file system data access
    description: The actions and condition keys of an EFS file system policy.
    link: https://docs.aws.amazon.com/efs/latest/ug/iam-access-control-nfs-efs.html
'''

EXAMPLES = r'''
- name: Only TLS, and only the instances' role may mount and write
  privatepypi.aws.efs_file_system_policy:
    file_system_id: fs-0123456789abcdef0
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: DenyWithoutTls
          Effect: Deny
          Principal: {AWS: "*"}
          Action: "*"
          Resource: arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0
          Condition: {Bool: {"aws:SecureTransport": "false"}}
        - Sid: MountAndWriteByTheInstanceRole
          Effect: Allow
          Principal: {AWS: arn:aws:iam::123456789012:role/pypi-instance}
          Action: [elasticfilesystem:ClientMount, elasticfilesystem:ClientWrite]
          Resource: arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0

- name: Remove the policy
  privatepypi.aws.efs_file_system_policy:
    file_system_id: fs-0123456789abcdef0
    state: absent
'''

RETURN = r'''
file_system_id:
  description: Id of the file system.
  returned: always
  type: str
  sample: fs-0123456789abcdef0
policy:
  description: The policy after the module ran (in check mode, the one it would set); empty when there is none.
  returned: always
  type: dict
  sample: {"Version": "2012-10-17", "Statement": []}
'''

import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def get_policy(module, client, file_system_id):
    """The stored policy as data, or None when the file system has none."""
    try:
        response = client.describe_file_system_policy(aws_retry=True, FileSystemId=file_system_id)
    except is_boto3_error_code('PolicyNotFound'):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f'Could not read the policy of {file_system_id}')
    try:
        return json.loads(response.get('Policy') or 'null')
    except ValueError:
        return response.get('Policy')  # not JSON: treated as different


def parse_policy(module):
    try:
        policy = json.loads(module.params['policy'])
    except ValueError as e:
        module.fail_json(msg=f'policy is not valid JSON: {e}')
    if not isinstance(policy, dict) or not isinstance(policy.get('Statement'), list) or not policy['Statement']:
        module.fail_json(msg='policy must be a JSON object with a non-empty "Statement" list.')
    return policy


def as_text(policy):
    return '' if policy is None else json.dumps(policy, indent=2, sort_keys=True) + '\n'


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            file_system_id=dict(type='str', required=True),
            policy=dict(type='json'),
            bypass_policy_lockout_safety_check=dict(type='bool', default=False),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        required_if=[('state', 'present', ('policy',))],
        supports_check_mode=True,
    )
    file_system_id = module.params['file_system_id']
    if not file_system_id.startswith('fs-') or not file_system_id[3:].isalnum():
        module.fail_json(msg=f'file_system_id must look like fs-0123456789abcdef0, got {file_system_id!r}')
    client = module.client('efs', retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=['IncorrectFileSystemLifeCycleState']))
    current = get_policy(module, client, file_system_id)

    if module.params['state'] == 'present':
        after = parse_policy(module)
        changed = current != after
        if changed and not module.check_mode:
            try:
                client.put_file_system_policy(
                    aws_retry=True, FileSystemId=file_system_id, Policy=json.dumps(after, sort_keys=True),
                    BypassPolicyLockoutSafetyCheck=module.params['bypass_policy_lockout_safety_check'])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f'Could not set the policy of {file_system_id}')
    else:
        after = None
        changed = current is not None
        if changed and not module.check_mode:
            try:
                client.delete_file_system_policy(aws_retry=True, FileSystemId=file_system_id)
            except is_boto3_error_code('PolicyNotFound'):
                changed = False
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f'Could not delete the policy of {file_system_id}')

    result = dict(changed=changed, file_system_id=file_system_id, policy=after or {})
    if module._diff:
        result['diff'] = dict(before=as_text(current), after=as_text(after),
                              before_header=f'{file_system_id} policy (stored)', after_header=f'{file_system_id} policy')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
