#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: autoscaling_capacity_info
short_description: Wait for an Auto Scaling group's instances, reporting a failed launch with AWS's reason
version_added: 0.1.0
description:
  - Waits until the group has as many healthy instances in service as it desires, as
    amazon.aws.autoscaling_group's O(amazon.aws.autoscaling_group#module:wait_for_instances) does.
  - A launch that EC2 refuses (an instance type a zone does not offer, EBS optimisation the type
    lacks, an image of another architecture, a quota) does not fail the group's own call; AWS records
    it as a scaling activity with status V(Failed) and tries again later. amazon.aws.autoscaling_group
    waits out its whole timeout then and reports only the timeout; this module reads the group's
    scaling activities (C(DescribeScalingActivities)) on each poll and fails at once with the
    reason AWS gives (C(StatusMessage)).
  - Only activities that started since the module started, less O(since_seconds), count, so a failure
    already dealt with is not reported again.
  - In check mode it looks once and does not wait.
options:
  name:
    description: The Auto Scaling group.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the instances before failing.
    type: int
    default: 600
  delay:
    description: Seconds between polls.
    type: int
    default: 5
  since_seconds:
    description:
      - Failed launch activities that started this many seconds before the module started count too
        (the call that created or updated the group came just before; AWS's clock is not the controller's).
    type: int
    default: 120
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
  - privatepypi.aws.attributes.read_only
seealso:
  - module: amazon.aws.autoscaling_group
'''

EXAMPLES = r'''
- name: Create the group without waiting in the module
  amazon.aws.autoscaling_group:
    name: index-asg
    launch_template:
      launch_template_name: index-lt
    min_size: 1
    max_size: 1
    desired_capacity: 1
    vpc_zone_identifier: [subnet-0123456789abcdef0]
    wait_for_instances: false

- name: Wait for its instance, or report why it does not launch
  privatepypi.aws.autoscaling_capacity_info:
    name: index-asg
    timeout: 600
'''

RETURN = r'''
desired_capacity:
  description: The group's desired capacity.
  returned: success
  type: int
  sample: 2
in_service:
  description: The healthy instances in service when the wait ended.
  returned: success
  type: int
  sample: 2
failed_activity:
  description: The failed launch activity, when the module failed on one (keys in snake case).
  returned: failure on a failed launch
  type: dict
  sample: {"status_code": "Failed", "status_message": "EBS-optimized instances are not supported for your requested configuration."}
'''

import datetime
import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def capacity(client, name):
    """(desired capacity, healthy instances in service); None when the group does not exist."""
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups']
    if not groups:
        return None
    group = groups[0]
    in_service = [i for i in group.get('Instances', [])
                  if i.get('LifecycleState') == 'InService' and i.get('HealthStatus') == 'Healthy']
    return int(group.get('DesiredCapacity', 0)), len(in_service)


def failed_launch(client, name, since):
    """The newest failed launch activity of the group that started at or after since, or None."""
    activities = client.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=20)['Activities']
    for activity in activities:  # newest first
        started = activity.get('StartTime')
        if isinstance(started, datetime.datetime) and started.tzinfo is None:
            started = started.replace(tzinfo=datetime.UTC)
        if isinstance(started, datetime.datetime) and started < since:
            return None
        if activity.get('StatusCode') in ('Failed', 'Cancelled') and 'launch' in activity.get('Description', '').lower():
            return activity
        if activity.get('StatusCode') == 'Successful' and 'launch' in activity.get('Description', '').lower():
            return None  # a later launch worked: the earlier failure is history
    return None


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type='str', required=True), timeout=dict(type='int', default=600),
                           delay=dict(type='int', default=5), since_seconds=dict(type='int', default=120)),
        supports_check_mode=True,
    )
    name, delay = module.params['name'], max(1, module.params['delay'])
    client = module.client('autoscaling', retry_decorator=AWSRetry.jittered_backoff())
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=module.params['since_seconds'])
    deadline = time.monotonic() + module.params['timeout']
    while True:
        try:
            found = capacity(client, name)
            if found is None:
                # check mode before the group exists: there is nothing to wait for
                if module.check_mode:
                    module.exit_json(changed=False, desired_capacity=0, in_service=0)
                module.fail_json(msg=f'Auto Scaling group {name} does not exist')
            desired, in_service = found
            # check mode: the group is as it is, one look is the answer
            if in_service >= desired or module.check_mode:
                module.exit_json(changed=False, desired_capacity=desired, in_service=in_service)
            failure = failed_launch(client, name, since)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg=f'Failed to describe Auto Scaling group {name}')
        if failure is not None:
            module.fail_json(
                msg=(f"Auto Scaling group {name} cannot launch its instances ({in_service} of {desired} in service); "
                     f"AWS says: {failure.get('StatusMessage') or failure.get('Description')}"),
                failed_activity=camel_dict_to_snake_dict(failure))
        if time.monotonic() >= deadline:
            module.fail_json(msg=f'Auto Scaling group {name} has {in_service} of {desired} instances healthy and in '
                                 f"service after {module.params['timeout']} seconds, and reports no failed launch")
        time.sleep(delay)


if __name__ == '__main__':
    main()
