#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cloudwatch_metric_alarms
short_description: Bring a set of Amazon CloudWatch metric alarms in line in one call
version_added: 0.2.0
description:
  - Creates or updates every alarm of O(alarms) and deletes every alarm named in O(absent), reading
    them all with one C(DescribeAlarms) and writing only those that differ.
  - One task instead of a loop of M(amazon.aws.cloudwatch_metric_alarm) calls, so a stack's dozen
    alarms cost one module run (and one read) rather than twelve, on every run.
  - An alarm is written again only when a setting this module manages differs from what is stored,
    so a second run with the same settings reports no change.
options:
  alarms:
    description:
      - The alarms that must exist, each with the settings of C(PutMetricAlarm).
      - Names must be unique, and must not also be in O(absent).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the alarm.
        type: str
        required: true
      description:
        description: Description of the alarm.
        type: str
        default: ''
      namespace:
        description: Namespace of the metric.
        type: str
        required: true
      metric_name:
        description: Name of the metric.
        type: str
        required: true
      dimensions:
        description: The metric's dimensions, as a mapping of dimension name to value.
        type: dict
        default: {}
      statistic:
        description: Statistic applied to the metric.
        type: str
        required: true
        choices: [SampleCount, Average, Sum, Minimum, Maximum]
      comparison:
        description: How the statistic is compared with O(alarms[].threshold).
        type: str
        required: true
        choices:
          - GreaterThanOrEqualToThreshold
          - GreaterThanThreshold
          - LessThanThreshold
          - LessThanOrEqualToThreshold
      threshold:
        description: The value the statistic is compared with.
        type: float
        required: true
      period:
        description: Length of one evaluation period, in seconds.
        type: int
        required: true
      evaluation_periods:
        description: Number of periods the alarm looks at.
        type: int
        required: true
      datapoints_to_alarm:
        description:
          - Number of breaching periods, among O(alarms[].evaluation_periods), that set the alarm off.
          - Left unset, AWS uses O(alarms[].evaluation_periods).
        type: int
      treat_missing_data:
        description: What a period without data counts as.
        type: str
        default: missing
        choices: [breaching, notBreaching, ignore, missing]
      alarm_actions:
        description: ARNs notified when the alarm goes to C(ALARM).
        type: list
        elements: str
        default: []
      ok_actions:
        description: ARNs notified when the alarm goes back to C(OK).
        type: list
        elements: str
        default: []
      insufficient_data_actions:
        description: ARNs notified when the alarm goes to C(INSUFFICIENT_DATA).
        type: list
        elements: str
        default: []
  absent:
    description:
      - Names of alarms that must not exist; a name that does not exist is not an error.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
    details: Reports which alarms would be created, updated or deleted, with the diff, without writing anything.
  diff_mode:
    support: full
    details: The diff shows the managed settings of each alarm that changes, before and after.
seealso:
  - module: amazon.aws.cloudwatch_metric_alarm
    description: One alarm per call, with the options this module leaves out (metrics math, units, extended statistics).
'''

EXAMPLES = r'''
- name: Two alarms of a stack, and an old one gone
  privatepypi.aws.cloudwatch_metric_alarms:
    region: eu-central-1
    alarms:
      - name: pypi-prod-cpu-high
        description: CPU of the index's instances above 80 % for 15 minutes
        namespace: AWS/EC2
        metric_name: CPUUtilization
        dimensions: {AutoScalingGroupName: pypi-prod-asg}
        statistic: Average
        comparison: GreaterThanOrEqualToThreshold
        threshold: 80
        period: 300
        evaluation_periods: 3
        alarm_actions: [arn:aws:sns:eu-central-1:123456789012:pypi-prod-alerts]
        ok_actions: [arn:aws:sns:eu-central-1:123456789012:pypi-prod-alerts]
      - name: pypi-prod-in-service
        namespace: AWS/AutoScaling
        metric_name: GroupInServiceInstances
        dimensions: {AutoScalingGroupName: pypi-prod-asg}
        statistic: Minimum
        comparison: LessThanThreshold
        threshold: 2
        period: 60
        evaluation_periods: 10
        treat_missing_data: breaching
    absent: [pypi-prod-elb-5xx]
'''

RETURN = r'''
created:
  description: Names of the alarms created (in check mode, that would be created).
  returned: always
  type: list
  elements: str
  sample: [pypi-prod-cpu-high]
updated:
  description: Names of the alarms whose settings were written again because they differed.
  returned: always
  type: list
  elements: str
  sample: []
deleted:
  description: Names of the alarms deleted.
  returned: always
  type: list
  elements: str
  sample: [pypi-prod-elb-5xx]
'''

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

BATCH = 100  # DescribeAlarms and DeleteAlarms take at most 100 names
OPTIONS = dict(
    name=dict(type='str', required=True),
    description=dict(type='str', default=''),
    namespace=dict(type='str', required=True),
    metric_name=dict(type='str', required=True),
    dimensions=dict(type='dict', default={}),
    statistic=dict(type='str', required=True, choices=['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum']),
    comparison=dict(type='str', required=True, choices=['GreaterThanOrEqualToThreshold', 'GreaterThanThreshold',
                                                        'LessThanThreshold', 'LessThanOrEqualToThreshold']),
    threshold=dict(type='float', required=True),
    period=dict(type='int', required=True),
    evaluation_periods=dict(type='int', required=True),
    datapoints_to_alarm=dict(type='int'),
    treat_missing_data=dict(type='str', default='missing', choices=['breaching', 'notBreaching', 'ignore', 'missing']),
    alarm_actions=dict(type='list', elements='str', default=[]),
    ok_actions=dict(type='list', elements='str', default=[]),
    insufficient_data_actions=dict(type='list', elements='str', default=[]),
)


def wanted(alarm):
    """The PutMetricAlarm parameters of one alarm, in the shape DescribeAlarms returns them."""
    settings = dict(
        AlarmName=alarm['name'],
        AlarmDescription=alarm['description'],
        ActionsEnabled=True,
        OKActions=sorted(alarm['ok_actions']),
        AlarmActions=sorted(alarm['alarm_actions']),
        InsufficientDataActions=sorted(alarm['insufficient_data_actions']),
        MetricName=alarm['metric_name'],
        Namespace=alarm['namespace'],
        Statistic=alarm['statistic'],
        Dimensions=[dict(Name=str(k), Value=str(v)) for k, v in sorted(alarm['dimensions'].items())],
        Period=alarm['period'],
        EvaluationPeriods=alarm['evaluation_periods'],
        Threshold=float(alarm['threshold']),
        ComparisonOperator=alarm['comparison'],
        TreatMissingData=alarm['treat_missing_data'],
    )
    if alarm['datapoints_to_alarm'] is not None:
        settings['DatapointsToAlarm'] = alarm['datapoints_to_alarm']
    return settings


def wanted_keys():
    """The settings this module manages, for the diff of an alarm it deletes."""
    return ('AlarmName', 'AlarmDescription', 'Namespace', 'MetricName', 'Dimensions', 'Statistic', 'ComparisonOperator',
            'Threshold', 'Period', 'EvaluationPeriods', 'DatapointsToAlarm', 'TreatMissingData', 'AlarmActions', 'OKActions')


def stored(alarm, keys):
    """A described alarm's settings among keys, normalised as wanted() writes them (AWS leaves out what is unset)."""
    settings = {}
    for key in keys:
        value = alarm.get(key)
        if key in ('OKActions', 'AlarmActions', 'InsufficientDataActions'):
            value = sorted(value or [])
        elif key == 'Dimensions':
            value = sorted(({'Name': d['Name'], 'Value': d['Value']} for d in value or []), key=lambda d: d['Name'])
        elif key == 'Threshold' and value is not None:
            value = float(value)
        elif key == 'AlarmDescription':
            value = value or ''
        elif key == 'TreatMissingData':
            value = value or 'missing'
        settings[key] = value
    return settings


def describe(module, client, names):
    found = {}
    for start in range(0, len(names), BATCH):
        try:
            pages = client.get_paginator('describe_alarms').paginate(AlarmNames=names[start:start + BATCH],
                                                                     AlarmTypes=['MetricAlarm'])
            for alarm in pages.build_full_result().get('MetricAlarms', []):
                found[alarm['AlarmName']] = alarm
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg='Could not read the alarms')
    return found


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            alarms=dict(type='list', elements='dict', default=[], options=OPTIONS),
            absent=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    alarms, absent = module.params['alarms'], module.params['absent']
    names = [a['name'] for a in alarms]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        module.fail_json(msg=f"alarms names the same alarm more than once: {', '.join(twice)}")
    both = sorted(set(names) & set(absent))
    if both:
        module.fail_json(msg=f"an alarm cannot be both in alarms and in absent: {', '.join(both)}")

    client = module.client('cloudwatch', retry_decorator=AWSRetry.jittered_backoff())
    existing = describe(module, client, names + [n for n in absent if n not in names])
    created, updated, before, after = [], [], {}, {}
    for alarm in alarms:
        settings = wanted(alarm)
        current = existing.get(alarm['name'])
        if current is not None and stored(current, settings) == settings:
            continue
        (updated if current is not None else created).append(alarm['name'])
        before[alarm['name']] = stored(current, settings) if current is not None else {}
        after[alarm['name']] = settings
        if not module.check_mode:
            try:
                client.put_metric_alarm(aws_retry=True, **settings)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not write the alarm {alarm['name']}")
    deleted = [n for n in absent if n in existing]
    for name in deleted:
        before[name], after[name] = stored(existing[name], wanted_keys()), {}
    if deleted and not module.check_mode:
        for start in range(0, len(deleted), BATCH):
            try:
                client.delete_alarms(aws_retry=True, AlarmNames=deleted[start:start + BATCH])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not delete the alarms {', '.join(deleted)}")
    result = dict(changed=bool(created or updated or deleted), created=created, updated=updated, deleted=deleted)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
