# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.alb_host_rule against moto's in-process Elastic Load Balancing: one application's rule
and SNI certificate on a listener that another application shares."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import alb_host_rule  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'


@pytest.fixture
def shared(aws):
    """A shared HTTPS listener whose default certificate and one rule belong to another application (wiki)."""
    ec2, elb, acm = aws('ec2'), aws('elbv2'), aws('acm')
    vpc = ec2.create_vpc(CidrBlock='10.7.0.0/16')['Vpc']['VpcId']
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'10.7.{i}.0/24', AvailabilityZone=f'us-east-1{z}')['Subnet']['SubnetId']
               for i, z in enumerate('ab')]
    lb = elb.create_load_balancer(Name='shared-alb', Subnets=subnets)['LoadBalancers'][0]['LoadBalancerArn']
    certs = {name: acm.request_certificate(DomainName=f'{name}.example.com')['CertificateArn'] for name in ('wiki', 'pypi')}
    groups = {name: elb.create_target_group(Name=f'{name}-tg', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
              for name in ('wiki', 'pypi')}
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': certs['wiki']}],
                                   DefaultActions=[{'Type': 'fixed-response', 'FixedResponseConfig': {'StatusCode': '404'}}])
    listener = listener['Listeners'][0]['ListenerArn']
    elb.create_rule(ListenerArn=listener, Priority=100, Actions=[{'Type': 'forward', 'TargetGroupArn': groups['wiki']}],
                    Conditions=[{'Field': 'host-header', 'HostHeaderConfig': {'Values': ['wiki.example.com']}}])
    return dict(listener=listener, certs=certs, groups=groups)


def run(args, check_mode=False, diff=False, fail=False):
    return run_module(alb_host_rule, dict(args, region=REGION), check_mode, diff, fail)


def pypi(shared, **extra):
    return dict(dict(listener_arn=shared['listener'], host_names=['pypi.example.com'], target_group_arn=shared['groups']['pypi'],
                     priority=110, certificate_arn=shared['certs']['pypi']), **extra)


def listener_view(aws, shared):
    elb = aws('elbv2')
    rules = sorted((r['Priority'], tuple(alb_host_rule.hosts_of(r)), alb_host_rule.forwards_to(r))
                   for r in elb.describe_rules(ListenerArn=shared['listener'])['Rules'] if not r['IsDefault'])
    certs = sorted((c['CertificateArn'], c['IsDefault']) for c in
                   elb.describe_listener_certificates(ListenerArn=shared['listener'])['Certificates'])
    return rules, certs


def test_present_adds_a_rule_and_an_sni_certificate_and_leaves_the_other_application(aws, shared):
    before = listener_view(aws, shared)
    checked = run(pypi(shared), check_mode=True, diff=True)
    assert checked['changed'] is True and listener_view(aws, shared) == before
    assert checked['diff']['after']['rule'] == dict(priority=110, host_names=['pypi.example.com'],
                                                    target_group_arn=shared['groups']['pypi'])
    result = run(pypi(shared))
    assert result['changed'] is True and result['rule_arn'] and result['certificate_on_listener'] is True
    rules, certs = listener_view(aws, shared)
    assert rules == [('100', ('wiki.example.com',), shared['groups']['wiki']),
                     ('110', ('pypi.example.com',), shared['groups']['pypi'])]
    # the other application's certificate stays the default; the index's is an SNI certificate
    assert certs == sorted([(shared['certs']['wiki'], True), (shared['certs']['pypi'], False)])
    again = run(pypi(shared), diff=True)
    assert again['changed'] is False and again['diff']['before'] == again['diff']['after']


def test_a_changed_priority_moves_the_rule(aws, shared):
    run(pypi(shared))
    assert run(pypi(shared, priority=120))['changed'] is True
    assert ('120', ('pypi.example.com',), shared['groups']['pypi']) in listener_view(aws, shared)[0]


def test_a_priority_another_application_holds_is_refused_with_its_hosts(aws, shared):
    before = listener_view(aws, shared)
    failed = run(pypi(shared, priority=100), fail=True)
    assert 'Priority 100' in failed['msg'] and 'wiki.example.com' in failed['msg']
    assert listener_view(aws, shared) == before


def test_absent_removes_only_this_applications_rule_and_certificate(aws, shared):
    before = listener_view(aws, shared)
    run(pypi(shared))
    removed = run(dict(pypi(shared), state='absent'), diff=True)
    assert removed['changed'] is True and removed['certificate_on_listener'] is False
    assert listener_view(aws, shared) == before
    assert run(dict(pypi(shared), state='absent'))['changed'] is False


def test_absent_keeps_a_default_certificate(aws, shared):
    result = run(dict(pypi(shared), certificate_arn=shared['certs']['wiki'], state='absent'))
    assert result['certificate_on_listener'] is True
    assert (shared['certs']['wiki'], True) in listener_view(aws, shared)[1]


def test_bad_input_is_refused(shared):
    assert 'at least one host' in run(pypi(shared, host_names=[]), fail=True)['msg']
    assert 'between 1 and 50000' in run(pypi(shared, priority=0), fail=True)['msg']
    assert 'target_group_arn' in run(dict(pypi(shared), target_group_arn=None), fail=True)['msg']
