# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ssm_run_command against moto's SSM and EC2 in-process: real API calls, real assertions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import boto3
import pytest
from ansible_collections.privatepypi.aws.plugins.modules import ssm_run_command
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import FakeClock, run_module
from moto.core.exceptions import JsonRESTError
from moto.ec2.models.amis import AMIS
from moto.ssm import models as ssm_models

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
REFRESH = 'systemctl start pypiserver-htpasswd.service'


@pytest.fixture
def ssm(aws):
    return aws('ssm')


def launch(count, stack):
    ec2 = boto3.client('ec2', region_name=REGION)
    image = AMIS[0]['ami_id']  # every region has moto's images (all of them: 70% of this file's CPU to list)
    reservation = ec2.run_instances(
        ImageId=image, MinCount=count, MaxCount=count, InstanceType='t3.micro',
        TagSpecifications=[{'ResourceType': 'instance', 'Tags': [{'Key': 'Stack', 'Value': stack}]}])
    return sorted(i['InstanceId'] for i in reservation['Instances'])


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock(now=1000.0)
    monkeypatch.setattr(ssm_run_command, 'time', fake)
    return fake


def run_ok(args, check_mode=False, diff=False):
    return run_module(ssm_run_command, dict(args, region=REGION), check_mode, diff)


def run_fail(args, check_mode=False):
    return run_module(ssm_run_command, dict(args, region=REGION), check_mode, fail=True)


def commands(ssm):
    return ssm.list_commands()['Commands']


def patch_invocations(monkeypatch, rewrite):
    """Let moto's invocations pass through rewrite(invocation, call_number) when read back."""
    original = ssm_models.Command.get_invocation
    calls = {'n': 0}

    def get_invocation(self, instance_id, plugin_name):
        calls['n'] += 1
        return rewrite(dict(original(self, instance_id, plugin_name)), calls['n'])
    monkeypatch.setattr(ssm_models.Command, 'get_invocation', get_invocation)
    return calls


# --- sending and waiting --------------------------------------------------------

def test_sends_the_command_to_the_instances_and_reports_each_result(ssm, clock):
    instances = launch(2, 'pp-a')

    result = run_ok(dict(instance_ids=instances, parameters={'commands': [REFRESH]},
                         comment='refresh htpasswd', timeout=60))

    assert result['changed'] is True
    sent = commands(ssm)
    assert len(sent) == 1
    command = sent[0]
    assert command['CommandId'] == result['command_id']
    assert command['DocumentName'] == 'AWS-RunShellScript'
    assert command['Parameters'] == {'commands': [REFRESH]}
    assert sorted(command['InstanceIds']) == instances
    assert command['Comment'] == 'refresh htpasswd'
    assert command['TimeoutSeconds'] == 60
    assert sorted(result['instance_ids']) == instances
    assert sorted(i['instance_id'] for i in result['invocations']) == instances
    assert {i['status'] for i in result['invocations']} == {'Success'}
    assert all(i['response_code'] == 0 for i in result['invocations'])
    assert result['document_name'] == 'AWS-RunShellScript'
    assert result['parameters'] == {'commands': [REFRESH]}
    assert clock.sleeps == []  # moto answers Success at once: no polling


def test_targets_by_tag_reach_only_that_stacks_instances(ssm, clock):
    mine = launch(2, 'pp-a')
    launch(1, 'pp-other')

    result = run_ok(dict(targets=[{'key': 'tag:Stack', 'values': ['pp-a']}],
                         parameters={'commands': [REFRESH]}))

    command = commands(ssm)[0]
    assert command['Targets'] == [{'Key': 'tag:Stack', 'Values': ['pp-a']}]
    assert sorted(command['InstanceIds']) == mine  # resolved by SSM (moto: at once)
    assert sorted(result['instance_ids']) == mine
    assert sorted(i['instance_id'] for i in result['invocations']) == mine
    assert result['targets'] == [{'key': 'tag:Stack', 'values': ['pp-a']}]


def test_other_document_and_single_string_parameters(ssm, clock):
    instances = launch(1, 'pp-a')

    result = run_ok(dict(instance_ids=instances, document_name='AWS-RunPowerShellScript',
                         parameters={'commands': 'Get-Date', 'executionTimeout': 30}, timeout=5))

    command = commands(ssm)[0]
    assert command['DocumentName'] == 'AWS-RunPowerShellScript'
    assert command['Parameters'] == {'commands': ['Get-Date'], 'executionTimeout': ['30']}
    assert command['TimeoutSeconds'] == 30  # SSM's smallest delivery timeout
    assert result['parameters'] == command['Parameters']


def test_waits_while_the_instances_are_busy(ssm, clock, monkeypatch):
    instances = launch(1, 'pp-a')

    def in_progress_twice(invocation, n):
        if n <= 2:
            invocation.update(Status='InProgress', StatusDetails='InProgress', ResponseCode=-1)
        return invocation
    patch_invocations(monkeypatch, in_progress_twice)

    result = run_ok(dict(instance_ids=instances, parameters={'commands': [REFRESH]}))

    assert clock.sleeps == [ssm_run_command.POLL_SECONDS] * 2
    assert [i['status'] for i in result['invocations']] == ['Success']


# --- failures -------------------------------------------------------------------

def test_an_instance_that_reports_failed_fails_the_task_and_is_named(ssm, clock, monkeypatch):
    instances = launch(2, 'pp-a')
    broken = instances[1]

    def fail_one(invocation, n):
        if invocation['InstanceId'] == broken:
            invocation.update(Status='Failed', StatusDetails='Failed', ResponseCode=5,
                              StandardErrorContent='Job for pypiserver-htpasswd.service failed.\n')
        return invocation
    patch_invocations(monkeypatch, fail_one)

    result = run_fail(dict(instance_ids=instances, parameters={'commands': [REFRESH]}))

    assert result['failed'] is True and result['changed'] is True
    assert result['command_id'] == commands(ssm)[0]['CommandId']
    assert broken in result['msg'] and instances[0] not in result['msg']
    assert 'Failed' in result['msg'] and 'exit code 5' in result['msg']
    assert 'Job for pypiserver-htpasswd.service failed.' in result['msg']
    assert 'did not succeed on 1 of 2 instance(s)' in result['msg']
    by_id = {i['instance_id']: i['status'] for i in result['invocations']}
    assert by_id == {instances[0]: 'Success', broken: 'Failed'}


def test_gives_up_after_the_timeout_and_says_which_instances_are_unfinished(ssm, clock, monkeypatch):
    instances = launch(1, 'pp-a')

    def never_done(invocation, n):
        invocation.update(Status='InProgress', StatusDetails='InProgress', ResponseCode=-1)
        return invocation
    patch_invocations(monkeypatch, never_done)

    result = run_fail(dict(instance_ids=instances, parameters={'commands': [REFRESH]}, timeout=10))

    assert 'gave up waiting after 10 seconds' in result['msg']
    assert instances[0] + ': InProgress' in result['msg']
    assert sum(clock.sleeps) >= 10 and len(clock.sleeps) == 4


def test_an_instance_ssm_cannot_reach_fails_with_advice(ssm, clock, monkeypatch):
    instances = launch(1, 'pp-a')

    def refuse(self, **kwargs):
        raise JsonRESTError('InvalidInstanceId', f'Instances [[{instances[0]}]] not in a valid state for account')
    monkeypatch.setattr(ssm_models.SimpleSystemManagerBackend, 'send_command', refuse)

    result = run_fail(dict(instance_ids=instances, parameters={'commands': [REFRESH]}))

    assert 'Systems Manager cannot reach instances ' + instances[0] in result['msg']
    assert 'AmazonSSMManagedInstanceCore' in result['msg']
    assert commands(ssm) == []


def test_describe_failures_names_status_details_and_last_error_line():
    failures = [
        dict(instance_id='i-1', status='TimedOut', status_details='DeliveryTimedOut', response_code=-1,
             standard_output='', standard_error=''),
        dict(instance_id='i-2', status='Failed', status_details='Failed', response_code=1,
             standard_output='out', standard_error='first\nsecond line\n'),
    ]
    assert ssm_run_command.failed_invocations(failures + [dict(failures[0], instance_id='i-3', status='Success')]) \
        == failures
    message = ssm_run_command.describe_failures('cmd-1', failures, 3)
    assert message == ('SSM command cmd-1 did not succeed on 2 of 3 instance(s): i-1: TimedOut (DeliveryTimedOut); '
                       'i-2: Failed, exit code 1: second line')
    assert ssm_run_command.describe_failures('cmd-2', [], 0, timeout=30) == \
        'SSM command cmd-2: no instance reported a result within 30 seconds'


def test_an_invocation_not_created_yet_counts_as_pending(ssm):
    instances = launch(1, 'pp-a')
    command_id = ssm.send_command(InstanceIds=instances, DocumentName='AWS-RunShellScript',
                                  Parameters={'commands': ['true']})['Command']['CommandId']
    client = boto3.client('ssm', region_name=REGION)
    client_with_retry = _RetryTolerant(client)

    assert ssm_run_command.get_invocation(client_with_retry, command_id, 'i-0000000000000000f')['status'] == 'Pending'
    assert ssm_run_command.get_invocation(client_with_retry, command_id, instances[0])['status'] == 'Success'


class _RetryTolerant:
    """A plain boto3 client that accepts the aws_retry keyword of AWSRetry-wrapped clients."""

    def __init__(self, client):
        self._client = client

    def get_command_invocation(self, aws_retry=False, **kwargs):
        return self._client.get_command_invocation(**kwargs)


# --- check mode, diff, nothing to do, bad arguments ----------------------------

def test_check_mode_sends_nothing_and_says_what_it_would_do(ssm, clock):
    instances = launch(2, 'pp-a')

    result = run_ok(dict(instance_ids=instances, parameters={'commands': [REFRESH]}), check_mode=True, diff=True)

    assert commands(ssm) == []
    assert result['changed'] is True and result['command_id'] == ''
    assert result['instance_ids'] == instances and result['invocations'] == []
    assert 'would run AWS-RunShellScript on instances ' + ', '.join(instances) in result['msg']
    assert result['diff'] == {'before': {}, 'after': {
        'document_name': 'AWS-RunShellScript', 'parameters': {'commands': [REFRESH]},
        'instance_ids': instances, 'targets': []}}


def test_check_mode_with_targets_sends_nothing(ssm, clock):
    launch(1, 'pp-a')

    result = run_ok(dict(targets=[{'key': 'tag:Stack', 'values': ['pp-a']}], parameters={'commands': [REFRESH]}),
                    check_mode=True)

    assert commands(ssm) == [] and result['changed'] is True
    assert 'the instances matching the targets' in result['msg']


def test_no_instances_sends_nothing_and_changes_nothing(ssm, clock):
    result = run_ok(dict(instance_ids=[], parameters={'commands': [REFRESH]}))

    assert result['changed'] is False and result['command_id'] == ''
    assert commands(ssm) == []


@pytest.mark.parametrize('args, message', [
    (dict(instance_ids=['i-1'], targets=[{'key': 'tag:Stack', 'values': ['x']}]), 'mutually exclusive'),
    (dict(parameters={'commands': ['true']}), 'one of the following is required'),
    (dict(instance_ids=['i-1'], timeout=0), 'timeout must be at least 1 second'),
    (dict(targets=[]), 'targets must name at least one key'),
])
def test_bad_arguments_fail_before_any_call(ssm, args, message):
    result = run_fail(args)

    assert message in result['msg']
    assert commands(ssm) == []
