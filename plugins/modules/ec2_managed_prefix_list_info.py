#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ec2_managed_prefix_list_info
short_description: Find EC2 managed prefix lists by name
version_added: 0.1.0
description:
  - Describes EC2 managed prefix lists (C(DescribeManagedPrefixLists)), those AWS maintains for its
    services (such as V(com.amazonaws.eu-central-1.route53-healthchecks), Route53's health checkers)
    and the account's own, optionally only those with one of the given names.
  - A security group rule names a prefix list by its id (RV(prefix_lists[].prefix_list_id)), which
    differs per region and account; this module turns the stable name into that id.
options:
  names:
    description:
      - Only the prefix lists with one of these names. Empty or not given, all of them.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
  - privatepypi.aws.attributes.read_only
seealso:
  - module: amazon.aws.ec2_security_group
'''

EXAMPLES = r'''
- name: Find Route53's health checkers' prefix list
  privatepypi.aws.ec2_managed_prefix_list_info:
    names: ["com.amazonaws.{{ region }}.route53-healthchecks"]
  register: route53

- name: Admit them on port 8080
  amazon.aws.ec2_security_group:
    name: index
    description: the index
    vpc_id: vpc-0123456789abcdef0
    rules:
      - proto: tcp
        ports: [8080]
        ip_prefix: "{{ (route53.prefix_lists | first).prefix_list_id }}"
'''

RETURN = r'''
prefix_lists:
  description: The prefix lists found, sorted by name, keys in snake case.
  returned: always
  type: list
  elements: dict
  contains:
    prefix_list_id:
      description: Its id, as a security group rule names it.
      type: str
      sample: pl-0123456789abcdef0
    prefix_list_name:
      description: Its name.
      type: str
      sample: com.amazonaws.eu-central-1.route53-healthchecks
    owner_id:
      description: V(AWS) for the lists AWS maintains, else the owning account.
      type: str
      sample: AWS
    address_family:
      description: V(IPv4) or V(IPv6).
      type: str
      sample: IPv4
    max_entries:
      description: The most entries it may hold (what it counts against a security group's rule quota); AWS lists may leave it out.
      type: int
      sample: 25
  sample: [{"prefix_list_id": "pl-0123456789abcdef0", "prefix_list_name": "com.amazonaws.eu-central-1.route53-healthchecks",
            "owner_id": "AWS", "address_family": "IPv4"}]
'''

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def describe(client, names):
    request = {'Filters': [{'Name': 'prefix-list-name', 'Values': names}]} if names else {}
    paginator = client.get_paginator('describe_managed_prefix_lists')
    found = paginator.paginate(**request).build_full_result()['PrefixLists']
    return sorted((camel_dict_to_snake_dict(p, ignore_list=['Tags']) for p in found),
                  key=lambda p: (p.get('prefix_list_name') or '', p['prefix_list_id']))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(names=dict(type='list', elements='str', default=[])),
        supports_check_mode=True,
    )
    client = module.client('ec2', retry_decorator=AWSRetry.jittered_backoff())
    try:
        prefix_lists = describe(client, module.params['names'])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg='Failed to describe the managed prefix lists')
    module.exit_json(changed=False, prefix_lists=prefix_lists)


if __name__ == '__main__':
    main()
