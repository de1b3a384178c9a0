# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.elb_listener_attributes against moto's in-process Elastic Load Balancing (moto stores
listener attributes as AWS does, without knowing their names), and the aws_stack role's use of it: the
shared load balancer's HTTPS listener sends HSTS (issue 17)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import elb_listener_attributes  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
HSTS = 'routing.http.response.strict_transport_security.header_value'
ROLE = Path(__file__).resolve().parents[4] / 'roles' / 'aws_stack'


@pytest.fixture
def listener(aws):
    ec2, elb, acm = aws('ec2'), aws('elbv2'), aws('acm')
    vpc = ec2.create_vpc(CidrBlock='10.8.0.0/16')['Vpc']['VpcId']
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'10.8.{i}.0/24', AvailabilityZone=f'us-east-1{z}')['Subnet']['SubnetId']
               for i, z in enumerate('ab')]
    lb = elb.create_load_balancer(Name='shared-alb', Subnets=subnets)['LoadBalancers'][0]['LoadBalancerArn']
    cert = acm.request_certificate(DomainName='pypi.example.com')['CertificateArn']
    return elb.create_listener(LoadBalancerArn=lb, Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': cert}],
                               DefaultActions=[{'Type': 'fixed-response', 'FixedResponseConfig': {'StatusCode': '404'}}]
                               )['Listeners'][0]['ListenerArn']


def run(args, check_mode=False, diff=False, fail=False):
    return run_module(elb_listener_attributes, dict(args, region=REGION), check_mode, diff, fail)


def attributes(aws, arn):
    return {a['Key']: a['Value'] for a in aws('elbv2').describe_listener_attributes(ListenerArn=arn)['Attributes']}


def test_sets_hsts_once_then_changes_nothing(aws, listener):
    args = dict(listener_arn=listener, attributes={HSTS: 'max-age=31536000'})
    planned = run(args, check_mode=True, diff=True)
    assert planned['changed'] is True and attributes(aws, listener).get(HSTS, '') == ''
    assert planned['diff'] == {'before': {HSTS: ''}, 'after': {HSTS: 'max-age=31536000'}}
    done = run(args)
    assert done['changed'] is True and done['attributes'] == {HSTS: 'max-age=31536000'}
    assert attributes(aws, listener)[HSTS] == 'max-age=31536000'
    assert run(args)['changed'] is False
    # another value is applied; attributes not named are left alone
    aws('elbv2').modify_listener_attributes(ListenerArn=listener, Attributes=[
        {'Key': 'routing.http.response.server.enabled', 'Value': 'false'}])
    assert run(dict(args, attributes={HSTS: 'max-age=63072000'}))['changed'] is True
    after = attributes(aws, listener)
    assert after[HSTS] == 'max-age=63072000' and after['routing.http.response.server.enabled'] == 'false'


def test_an_unknown_listener_fails_with_a_message(aws):
    arn = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/none/0123456789abcdef/0123456789abcdef'
    failed = run(dict(listener_arn=arn, attributes={HSTS: 'max-age=1'}), fail=True)
    assert failed['failed'] is True and 'Failed to read or set the attributes of listener' in failed['msg']


def test_the_role_sends_hsts_from_its_https_listener():
    """The role's shared load balancer task sets the HSTS attribute of the 443 listener, by default for a year
    (and no includeSubDomains: other applications' names share the listener); the defaults and the argument
    spec agree."""
    tasks = yaml.safe_load((ROLE / 'tasks' / 'load_balancer' / 'shared.yml').read_text())
    task = next(t for t in tasks if 'privatepypi.aws.elb_listener_attributes' in t)
    args = task['privatepypi.aws.elb_listener_attributes']
    assert args['attributes'] == {HSTS: '{{ aws_stack_alb_hsts }}'}
    assert "selectattr('port', 'equalto', 443)" in args['listener_arn']
    assert '_aws_stack_alb_applied is not skipped' in task['when']  # only the stack that made it changes it
    default = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())['aws_stack_alb_hsts']
    spec = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())
    assert spec['argument_specs']['main']['options']['aws_stack_alb_hsts']['default'] == default
    assert int(default.split('max-age=')[1].split(';')[0]) >= 31536000 and 'includeSubDomains' not in default
