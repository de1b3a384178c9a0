# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.autoscaling_capacity_info against moto's in-process AWS with the emulator's shims
(tests/support/emulator.py): a launch EC2 refuses is a Failed scaling activity, as on AWS, and the
module reports it with AWS's reason at its first look instead of waiting out its timeout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import autoscaling_capacity_info  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import FakeClock, load_emulator, run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
EMULATOR = load_emulator()


@pytest.fixture()
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(autoscaling_capacity_info.time, 'monotonic', fake.monotonic)
    monkeypatch.setattr(autoscaling_capacity_info.time, 'sleep', fake.sleep)
    return fake


def run(args, check_mode=False, fail=False):
    return run_module(autoscaling_capacity_info, dict(args, region=REGION), check_mode=check_mode, fail=fail)


def _group(aws, instance_type, ebs_optimized=True, desired=1):
    """A group of one launch template, as compute/create.yml makes it (EBS optimisation asked for)."""
    ec2 = aws('ec2')
    image = next(i['ImageId'] for i in ec2.describe_images(Owners=['amazon'])['Images'] if i['Architecture'] == 'x86_64')
    vpc = ec2.create_vpc(CidrBlock='10.8.0.0/16')['Vpc']['VpcId']
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock='10.8.0.0/24', AvailabilityZone='us-east-1a')['Subnet']['SubnetId']
    ec2.create_launch_template(LaunchTemplateName='index-lt', LaunchTemplateData={
        'ImageId': image, 'InstanceType': instance_type, 'EbsOptimized': ebs_optimized})
    # AWS: the group is created whether or not EC2 takes its launches
    aws('autoscaling').create_auto_scaling_group(
        AutoScalingGroupName='g', LaunchTemplate={'LaunchTemplateName': 'index-lt', 'Version': '$Latest'},
        MinSize=desired, MaxSize=desired, DesiredCapacity=desired, VPCZoneIdentifier=subnet)


def test_a_full_group_is_reported_at_once(aws, clock):
    _group(aws, 't3.small')
    result = run({'name': 'g'})
    assert (result['changed'], result['desired_capacity'], result['in_service']) == (False, 1, 1)
    assert clock.sleeps == []


def test_a_refused_launch_fails_with_aws_reason_without_waiting(aws, clock):
    """t2 cannot be EBS-optimised (issue 18, finding 5): before, the run waited 600 s and said only that."""
    _group(aws, 't2.micro')
    activity = aws('autoscaling').describe_scaling_activities(AutoScalingGroupName='g')['Activities'][0]
    assert activity['StatusCode'] == 'Failed'
    result = run({'name': 'g'}, fail=True)
    assert 'cannot launch its instances (0 of 1 in service)' in result['msg']
    assert 'AWS says: EBS-optimized instances are not supported for your requested configuration' in result['msg']
    assert result['failed_activity']['status_code'] == 'Failed'
    assert clock.sleeps == []


def test_without_ebs_optimisation_t2_launches(aws, clock):
    _group(aws, 't2.micro', ebs_optimized=False)
    assert run({'name': 'g'})['in_service'] == 1


def test_an_old_failure_is_history(aws, clock):
    _group(aws, 't2.micro')
    result = run({'name': 'g', 'since_seconds': -3600, 'timeout': 20, 'delay': 5}, fail=True)
    assert 'after 20 seconds, and reports no failed launch' in result['msg']
    assert clock.sleeps == [5, 5, 5, 5]


def test_check_mode_looks_once(aws, clock):
    assert run({'name': 'missing'}, check_mode=True)['in_service'] == 0
    _group(aws, 't2.micro')
    assert run({'name': 'g'}, check_mode=True)['in_service'] == 0
    assert clock.sleeps == []


def test_a_missing_group_fails():
    assert 'does not exist' in run({'name': 'missing'}, fail=True)['msg']
