#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: instance_type_info
short_description: Where an EC2 instance type is offered, its CPU architecture and EBS optimisation
version_added: 0.1.0
description:
  - Describes one EC2 instance type in the region (C(DescribeInstanceTypes)) and lists the
    availability zones that offer it (C(DescribeInstanceTypeOfferings) with location type
    C(availability-zone)).
  - Not every zone offers every type, and a Graviton type (C(t4g), C(m7g), ...) needs an arm64 image, so
    a stack picks its zones and its image from this answer instead of assuming them.
  - Not every type can be EBS-optimised (C(t2) cannot, a launch asking for it fails), so a launch
    template asks for it only where the type supports it.
  - amazon.aws has no module for either call.
options:
  instance_type:
    description:
      - The instance type, for example V(t3.small) or V(t4g.small).
    type: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
  - privatepypi.aws.attributes.read_only
'''

EXAMPLES = r'''
- name: Where can t4g.small run, and on which architecture
  privatepypi.aws.instance_type_info:
    instance_type: t4g.small
  register: type_info

- name: Use the first two zones that offer it
  ansible.builtin.debug:
    msg: "{{ type_info.zones[:2] }} ({{ type_info.cpu_architecture }})"
'''

RETURN = r'''
exists:
  description: Whether the region knows the instance type at all.
  returned: always
  type: bool
  sample: true
architectures:
  description: The CPU architectures the type supports, as EC2 names them (C(x86_64), C(arm64), C(i386)).
  returned: always
  type: list
  elements: str
  sample: [arm64]
cpu_architecture:
  description:
    - The architecture as Debian names it, V(amd64) or V(arm64) (the image parameter and the agents'
      download URLs use these names); empty when the type is unknown or supports neither.
  returned: always
  type: str
  sample: arm64
ebs_optimized_support:
  description:
    - The type's EBS optimisation as EC2 reports it, V(default) (always on), V(supported) (optional) or
      V(unsupported); empty when the type is unknown.
  returned: always
  type: str
  sample: default
ebs_optimized:
  description:
    - Whether a launch may ask for EBS optimisation, that is the type supports it (V(default) or V(supported)).
  returned: always
  type: bool
  sample: true
zones:
  description: The availability zones of the region that offer the type, sorted by name.
  returned: always
  type: list
  elements: str
  sample: [eu-central-1a, eu-central-1b, eu-central-1c]
'''

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# EC2's architecture names -> Debian's (the AMI parameter /aws/service/debian/release/13/latest/<arch>)
DEBIAN_ARCHITECTURES = {'x86_64': 'amd64', 'arm64': 'arm64'}


def describe(client, instance_type):
    """(architectures, EBS optimisation support, zones) of the type; ([], '', []) when the region does not know it."""
    try:
        types = client.describe_instance_types(InstanceTypes=[instance_type])['InstanceTypes']
    except is_boto3_error_code('InvalidInstanceType'):
        return [], '', []
    architectures = types[0].get('ProcessorInfo', {}).get('SupportedArchitectures', []) if types else []
    ebs = types[0].get('EbsInfo', {}).get('EbsOptimizedSupport', '') if types else ''
    paginator = client.get_paginator('describe_instance_type_offerings')
    offerings = paginator.paginate(
        LocationType='availability-zone',
        Filters=[{'Name': 'instance-type', 'Values': [instance_type]}]).build_full_result()['InstanceTypeOfferings']
    return architectures, ebs, sorted({o['Location'] for o in offerings if o.get('InstanceType') == instance_type})


def cpu_architecture(architectures):
    for name in architectures:  # EC2 lists x86_64 before i386; arm64 types list arm64 alone
        if name in DEBIAN_ARCHITECTURES:
            return DEBIAN_ARCHITECTURES[name]
    return ''


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(instance_type=dict(type='str', required=True)),
        supports_check_mode=True,
    )
    client = module.client('ec2', retry_decorator=AWSRetry.jittered_backoff())
    instance_type = module.params['instance_type']
    try:
        architectures, ebs, zones = describe(client, instance_type)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f'Failed to describe instance type {instance_type}')
    module.exit_json(changed=False, exists=bool(architectures), architectures=architectures,
                     cpu_architecture=cpu_architecture(architectures), ebs_optimized_support=ebs,
                     ebs_optimized=ebs in ('default', 'supported'), zones=zones)


if __name__ == '__main__':
    main()
