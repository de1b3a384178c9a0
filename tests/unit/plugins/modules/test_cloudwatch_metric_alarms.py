# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.cloudwatch_metric_alarms against moto's in-process CloudWatch (real API calls)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import cloudwatch_metric_alarms  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module  # noqa: E402

REGION = 'eu-central-1'
TOPIC = f'arn:aws:sns:{REGION}:123456789012:pypi-unit-alerts'


def cpu(**changes):
    return dict(dict(name='pypi-unit-cpu', description='CPU above 80 %', namespace='AWS/EC2', metric_name='CPUUtilization',
                     dimensions={'AutoScalingGroupName': 'pypi-unit-asg'}, statistic='Average',
                     comparison='GreaterThanOrEqualToThreshold', threshold=80, period=300, evaluation_periods=3,
                     datapoints_to_alarm=3, alarm_actions=[TOPIC], ok_actions=[TOPIC]), **changes)


def in_service(**changes):
    return dict(dict(name='pypi-unit-in-service', namespace='AWS/AutoScaling', metric_name='GroupInServiceInstances',
                     dimensions={'AutoScalingGroupName': 'pypi-unit-asg'}, statistic='Minimum', comparison='LessThanThreshold',
                     threshold=1, period=60, evaluation_periods=10, treat_missing_data='breaching', alarm_actions=[TOPIC]),
                **changes)


def audit(**changes):  # a metric of the stack's own namespace: no dimensions
    return dict(dict(name='pypi-unit-login-failures', namespace='pypi-unit/audit', metric_name='LoginFailures',
                     statistic='Sum', comparison='GreaterThanThreshold', threshold=0, period=300, evaluation_periods=1),
                **changes)


@pytest.fixture(autouse=True)
def cloudwatch(aws):
    return aws('cloudwatch')


def run(check_mode=False, diff=False, fail=False, **args):
    return run_module(cloudwatch_metric_alarms, dict({'region': REGION}, **args), check_mode, diff, fail)


def stored(client):
    """{name: the settings AWS holds} of every metric alarm."""
    alarms = client.describe_alarms(AlarmTypes=['MetricAlarm'])['MetricAlarms']
    return {a['AlarmName']: (a['Threshold'], a['ComparisonOperator'], a.get('TreatMissingData'), a['Dimensions'],
                             a['AlarmActions'], a['OKActions'], a.get('AlarmDescription', '')) for a in alarms}


def test_creates_the_set_then_changes_nothing(cloudwatch):
    created = run(alarms=[cpu(), in_service(), audit()])
    assert created['changed'] and sorted(created['created']) == ['pypi-unit-cpu', 'pypi-unit-in-service', 'pypi-unit-login-failures']
    alarms = stored(cloudwatch)
    assert alarms['pypi-unit-cpu'] == (80.0, 'GreaterThanOrEqualToThreshold', 'missing',
                                       [{'Name': 'AutoScalingGroupName', 'Value': 'pypi-unit-asg'}], [TOPIC], [TOPIC], 'CPU above 80 %')
    assert alarms['pypi-unit-in-service'][2] == 'breaching' and alarms['pypi-unit-login-failures'][3] == []
    again = run(alarms=[cpu(), in_service(), audit()])
    assert again == dict(changed=False, created=[], updated=[], deleted=[]), again


def test_only_the_alarm_that_differs_is_written(cloudwatch):
    run(alarms=[cpu(), in_service()])
    changed = run(alarms=[cpu(threshold=90), in_service()], diff=True)
    assert (changed['changed'], changed['created'], changed['updated']) == (True, [], ['pypi-unit-cpu'])
    assert set(changed['diff']['after']) == {'pypi-unit-cpu'}
    before, after = changed['diff']['before']['pypi-unit-cpu'], changed['diff']['after']['pypi-unit-cpu']
    assert (before['Threshold'], after['Threshold']) == (80.0, 90.0)
    assert stored(cloudwatch)['pypi-unit-cpu'][0] == 90.0
    # an action, a dimension, the description and missing data each count as a change
    for different in (cpu(threshold=90, ok_actions=[]), cpu(threshold=90, dimensions={'AutoScalingGroupName': 'other'}),
                      cpu(threshold=90, description='changed'), cpu(threshold=90, treat_missing_data='ignore')):
        assert run(alarms=[different, in_service()])['updated'] == ['pypi-unit-cpu'], different
        assert run(alarms=[different, in_service()])['changed'] is False, different


def test_absent_deletes_what_exists_and_ignores_what_does_not(cloudwatch):
    run(alarms=[cpu(), in_service()])
    gone = run(alarms=[cpu()], absent=['pypi-unit-in-service', 'pypi-unit-never-made'])
    assert (gone['changed'], gone['deleted']) == (True, ['pypi-unit-in-service'])
    assert sorted(stored(cloudwatch)) == ['pypi-unit-cpu']
    assert run(alarms=[cpu()], absent=['pypi-unit-in-service'])['changed'] is False
    assert run(absent=['pypi-unit-cpu'])['deleted'] == ['pypi-unit-cpu'] and stored(cloudwatch) == {}


def test_check_mode_reports_and_writes_nothing(cloudwatch):
    planned = run(alarms=[cpu(), in_service()], check_mode=True, diff=True)
    assert planned['changed'] and sorted(planned['created']) == ['pypi-unit-cpu', 'pypi-unit-in-service']
    assert planned['diff']['before'] == {'pypi-unit-cpu': {}, 'pypi-unit-in-service': {}}
    assert stored(cloudwatch) == {}
    run(alarms=[cpu()])
    planned = run(alarms=[cpu(threshold=1)], absent=['pypi-unit-cpu-old'], check_mode=True)
    assert planned['updated'] == ['pypi-unit-cpu'] and stored(cloudwatch)['pypi-unit-cpu'][0] == 80.0


def test_more_than_a_hundred_alarms_are_read_and_deleted_in_batches(cloudwatch):
    many = [audit(name=f'pypi-unit-{n:03d}') for n in range(130)]
    assert len(run(alarms=many)['created']) == 130
    assert run(alarms=many)['changed'] is False
    assert len(run(absent=[a['name'] for a in many])['deleted']) == 130 and stored(cloudwatch) == {}


@pytest.mark.parametrize(('args', 'message'), [
    (dict(alarms=[cpu(), cpu()]), 'alarms names the same alarm more than once: pypi-unit-cpu'),
    (dict(alarms=[cpu()], absent=['pypi-unit-cpu']), 'an alarm cannot be both in alarms and in absent: pypi-unit-cpu'),
    (dict(alarms=[cpu(comparison='>=')]), 'value of comparison must be one of'),
    (dict(alarms=[cpu(threshold='high')]), 'threshold'),
])
def test_bad_input_is_refused_before_any_call(cloudwatch, args, message):
    failed = run(fail=True, **args)
    assert message in failed['msg'], failed
    assert stored(cloudwatch) == {}
