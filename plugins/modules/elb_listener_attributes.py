#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: elb_listener_attributes
short_description: Attributes of a load balancer's listener (response headers such as HSTS)
version_added: 0.1.0
description:
  - Sets the named attributes of one Elastic Load Balancing listener (C(ModifyListenerAttributes)) and
    leaves every other attribute alone, for example
    C(routing.http.response.strict_transport_security.header_value), with which an application load
    balancer's HTTPS listener adds the C(Strict-Transport-Security) header to every response.
  - Only attributes whose value differs are sent; a run that changes nothing reports C(changed=false).
  - amazon.aws.elb_application_lb sets load balancer attributes, not listener attributes.
options:
  listener_arn:
    description: ARN of the listener.
    type: str
    required: true
  attributes:
    description:
      - The listener attributes to set, name to value (values are strings, as the API takes them).
    type: dict
    required: true
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
    support: full
    details: The values of the named attributes before and after.
'''

EXAMPLES = r'''
- name: HTTPS responses tell browsers to use HTTPS only, for a year
  privatepypi.aws.elb_listener_attributes:
    listener_arn: "{{ https_listener_arn }}"
    attributes:
      routing.http.response.strict_transport_security.header_value: max-age=31536000
'''

RETURN = r'''
attributes:
  description: The named attributes' values afterwards (in check mode, what they would be).
  returned: always
  type: dict
  sample: {"routing.http.response.strict_transport_security.header_value": "max-age=31536000"}
'''

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def differing(current, wanted):
    """The wanted attributes whose current value is another one (a missing attribute counts as empty)."""
    return {key: value for key, value in wanted.items() if current.get(key, '') != value}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            listener_arn=dict(type='str', required=True),
            attributes=dict(type='dict', required=True),
        ),
        supports_check_mode=True,
    )
    wanted = {str(key): '' if value is None else str(value) for key, value in module.params['attributes'].items()}
    if not wanted:
        module.fail_json(msg='attributes must name at least one attribute')
    client = module.client('elbv2', retry_decorator=AWSRetry.jittered_backoff())
    arn = module.params['listener_arn']
    try:
        answer = client.describe_listener_attributes(aws_retry=True, ListenerArn=arn)
        current = {a['Key']: a.get('Value', '') for a in answer.get('Attributes', [])}
        changes = differing(current, wanted)
        if changes and not module.check_mode:
            client.modify_listener_attributes(aws_retry=True, ListenerArn=arn,
                                              Attributes=[{'Key': k, 'Value': v} for k, v in sorted(changes.items())])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f'Failed to read or set the attributes of listener {arn}')
    before = {key: current.get(key, '') for key in wanted}
    module.exit_json(changed=bool(changes), attributes=dict(before, **changes),
                     diff=dict(before=before, after=dict(before, **changes)))


if __name__ == '__main__':
    main()
