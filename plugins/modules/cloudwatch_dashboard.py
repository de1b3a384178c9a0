#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cloudwatch_dashboard
short_description: Create, update or delete an Amazon CloudWatch dashboard
version_added: 0.1.0
description:
  - Creates a CloudWatch dashboard or replaces its body, or deletes it.
  - The body given and the body stored are compared as JSON data, not as text, so key
    order and white space do not matter and a second run with the same body reports no
    change.
  - CloudWatch dashboards belong to the account, not to a region; each widget names the
    region of its metrics. The module still needs a region (or an endpoint) for the API
    calls.
options:
  name:
    description:
      - Name of the dashboard. Up to 255 characters of letters, digits, V(-) and V(_).
    type: str
    required: true
    aliases: [dashboard_name]
  body:
    description:
      - The dashboard body, as a dictionary or as a JSON string, in the format described in
        U(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html).
      - It must be a JSON object with at least a C(widgets) list.
      - Required when O(state=present).
    type: json
  state:
    description:
      - V(present) creates the dashboard, or replaces its body when it differs from O(body).
      - V(absent) deletes the dashboard; a dashboard that does not exist is not an error.
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
    details: Reports whether the dashboard would be created, changed or deleted, with the
      diff, without writing anything.
  diff_mode:
    support: full
    details: The diff shows the stored and the new body as indented JSON with sorted keys.
notes:
  - CloudWatch validates the body when it is written; problems that do not stop it from
    being stored are returned in RV(validation_messages).
seealso:
  - name: CloudWatch dashboard body structure and syntax
    description: The fields of a dashboard body and of its widgets.
    link: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
'''

EXAMPLES = r'''
- name: A dashboard with one CPU graph
  privatepypi.aws.cloudwatch_dashboard:
    name: pypi-prod
    region: eu-central-1
    body:
      widgets:
        - type: metric
          width: 12
          height: 6
          properties:
            title: CPU
            region: eu-central-1
            stat: Average
            period: 300
            metrics:
              - [AWS/EC2, CPUUtilization, AutoScalingGroupName, pypi-prod-asg]

- name: A dashboard rendered from a template
  privatepypi.aws.cloudwatch_dashboard:
    name: pypi-prod
    body: "{{ lookup('ansible.builtin.template', 'dashboard.json.j2') }}"

- name: Delete the dashboard
  privatepypi.aws.cloudwatch_dashboard:
    name: pypi-prod
    state: absent
'''

RETURN = r'''
dashboard_name:
  description: Name of the dashboard.
  returned: always
  type: str
  sample: pypi-prod
dashboard_arn:
  description:
    - ARN of the dashboard.
    - Empty when the dashboard does not exist (any more), or has not been created yet in
      check mode.
  returned: always
  type: str
  sample: arn:aws:cloudwatch::123456789012:dashboard/pypi-prod
body:
  description:
    - The body of the dashboard after the module ran (in check mode, the body it would
      have).
    - Empty when the dashboard does not exist.
  returned: always
  type: dict
  sample: {"widgets": []}
validation_messages:
  description: Warnings CloudWatch returned about the body it stored.
  returned: always
  type: list
  elements: dict
  sample: [{"data_path": "/widgets/0/properties/metrics/0", "message": "Should NOT have more than 2 items"}]
'''

import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def get_dashboard(module, client, name):
    """The stored dashboard as (arn, body dict), or (None, None) when it does not exist."""
    try:
        response = client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code('ResourceNotFound'):
        return None, None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f'Could not read the dashboard {name}')
    try:
        body = json.loads(response.get('DashboardBody') or '{}')
    except ValueError:
        # A body CloudWatch accepted is JSON; anything else is treated as different.
        body = response.get('DashboardBody')
    return response.get('DashboardArn'), body


def parse_body(module):
    raw = module.params['body']
    try:
        body = json.loads(raw)
    except ValueError as e:
        module.fail_json(msg=f'body is not valid JSON: {e}')
    if not isinstance(body, dict) or not isinstance(body.get('widgets'), list):
        module.fail_json(msg='body must be a JSON object with a "widgets" list.')
    return body


def as_text(body):
    if body is None:
        return ''
    return json.dumps(body, indent=2, sort_keys=True) + '\n'


def ensure_present(module, client, name, arn, current):
    desired = parse_body(module)
    changed = current != desired
    messages = []
    if changed and not module.check_mode:
        try:
            response = client.put_dashboard(aws_retry=True, DashboardName=name,
                                            DashboardBody=json.dumps(desired, sort_keys=True))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f'Could not write the dashboard {name}')
        messages = [camel_dict_to_snake_dict(m) for m in response.get('DashboardValidationMessages', [])]
        arn, dummy = get_dashboard(module, client, name)
    return changed, arn, desired, messages


def ensure_absent(module, client, name, current):
    if current is None:
        return False
    if not module.check_mode:
        try:
            client.delete_dashboards(aws_retry=True, DashboardNames=[name])
        except is_boto3_error_code('ResourceNotFound'):
            return False
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f'Could not delete the dashboard {name}')
    return True


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type='str', required=True, aliases=['dashboard_name']),
            body=dict(type='json'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        required_if=[('state', 'present', ('body',))],
        supports_check_mode=True,
    )
    name = module.params['name']
    client = module.client('cloudwatch', retry_decorator=AWSRetry.jittered_backoff())

    arn, current = get_dashboard(module, client, name)
    messages = []
    if module.params['state'] == 'present':
        changed, arn, after, messages = ensure_present(module, client, name, arn, current)
    else:
        changed = ensure_absent(module, client, name, current)
        arn, after = None, None

    result = dict(
        changed=changed,
        dashboard_name=name,
        dashboard_arn=arn or '',
        body=after or {},
        validation_messages=messages,
    )
    if module._diff:
        result['diff'] = dict(before=as_text(current), after=as_text(after),
                              before_header=f'dashboard {name} (stored)',
                              after_header=f'dashboard {name}')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
