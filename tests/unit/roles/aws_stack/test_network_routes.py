# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private tier's routes (issue 19), as ansible-playbook runs the role's network concern against
the emulator (tests/support/emulator.py as a server on loopback), looked at with boto3:

- the private route tables carry the S3 gateway endpoint, so a boot's bundle fetch needs no NAT gateway;
- aws_stack_nat_gateway_per_az gives one NAT gateway per zone, each private subnet routed through its own
  zone's; switched off again, the other zones' gateways, addresses and route tables go.

The prod environment of tests/integration/test_stacks.py runs with one NAT gateway per zone: its re-run
(changed=0) and its teardown (check_private_routes_gone) prove that setting's idempotence and removal on
the whole stack, so this test makes only the three runs of the switch itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest

boto3 = pytest.importorskip('boto3')
from ansible_collections.privatepypi.aws.tests.integration.checks_network import check_private_routes  # noqa: E402
from ansible_collections.privatepypi.aws.tests.support.emulator_process import running_emulator  # noqa: E402
from concern_play import run_concern  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
REGION = 'us-east-1'
STACK = 'routes-unit'
AZS = ['us-east-1a', 'us-east-1b']


@pytest.fixture(scope='module')
def endpoint():
    with running_emulator(MOTO_IAM_LOAD_MANAGED_POLICIES='false') as url:
        yield url


@pytest.fixture(scope='module')
def aws(endpoint):
    session = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name=REGION)
    return lambda service: session.client(service, endpoint_url=endpoint)


@pytest.fixture(scope='module')
def ec2(aws):
    return aws('ec2')


def run(endpoint, tmp_path, tasks_from, **settings):
    return run_concern(endpoint, REGION, tmp_path, tasks_from, dict({
        'aws_stack_name': STACK, 'aws_stack_region': REGION, 'aws_stack_endpoint_url': endpoint, 'aws_stack_az_count': 2,
        '_aws_stack_azs': AZS, 'aws_stack_private_subnets': True, 'aws_stack_nat_gateway_enabled': True,
        'aws_stack_instances_in_private_subnets': True}, **settings))


def _vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{'Name': 'tag:Stack', 'Values': [STACK]}])['Vpcs']
    return vpcs[0]['VpcId'] if vpcs else None


def network(ec2):
    """What the private tier looks like: {subnet's zone: (its route table's Name, the zone of the NAT gateway
    its default route goes to)}, the live NAT gateways' names, and the S3 endpoints' route table names."""
    vpc = _vpc(ec2)
    subnets = {s['SubnetId']: s for s in ec2.describe_subnets(Filters=[{'Name': 'vpc-id', 'Values': [vpc]}])['Subnets']}
    tables = ec2.describe_route_tables(Filters=[{'Name': 'vpc-id', 'Values': [vpc]}])['RouteTables']
    nats = {n['NatGatewayId']: n for n in ec2.describe_nat_gateways(Filter=[{'Name': 'vpc-id', 'Values': [vpc]}])['NatGateways']
            if n['State'] in ('pending', 'available')}
    name = {t['RouteTableId']: {x['Key']: x['Value'] for x in t.get('Tags', [])}.get('Name') for t in tables}
    private = {}
    for table in tables:
        nat = next((r.get('NatGatewayId') for r in table['Routes'] if r.get('DestinationCidrBlock') == '0.0.0.0/0'), None)
        for association in table.get('Associations', []):
            subnet = subnets.get(association.get('SubnetId'))
            if subnet and {x['Key']: x['Value'] for x in subnet.get('Tags', [])}.get('Tier') == 'private':
                private[subnet['AvailabilityZone']] = (
                    name[table['RouteTableId']], subnets[nats[nat]['SubnetId']]['AvailabilityZone'] if nat in nats else nat)
    endpoints = [e for e in ec2.describe_vpc_endpoints(Filters=[{'Name': 'vpc-id', 'Values': [vpc]}])['VpcEndpoints']
                 if e['State'].lower() in ('available', 'pending')]
    s3 = sorted(sorted(name.get(t) for t in e['RouteTableIds']) for e in endpoints if e['ServiceName'] == f'com.amazonaws.{REGION}.s3')
    nat_names = sorted({x['Key']: x['Value'] for x in n.get('Tags', [])}.get('Name') for n in nats.values())
    return private, nat_names, s3


def stack_addresses(ec2):
    return sorted(a['PublicIp'] for a in ec2.describe_addresses(Filters=[{'Name': 'tag:Stack', 'Values': [STACK]}])['Addresses'])


def test_private_routes_s3_endpoint_and_nat_per_az_switched_on_and_off(endpoint, aws, ec2, tmp_path):
    # the professional default: one NAT gateway (first zone) for both private subnets, and the S3 endpoint
    run(endpoint, tmp_path, 'network/create.yml')
    private, nats, s3 = network(ec2)
    assert private == {'us-east-1a': (f'{STACK}-private-rt', 'us-east-1a'), 'us-east-1b': (f'{STACK}-private-rt', 'us-east-1a')}
    assert nats == [f'{STACK}-nat']
    assert s3 == [[f'{STACK}-private-rt']]
    assert len(stack_addresses(ec2)) == 1
    check_private_routes(aws, STACK)  # the integration tests' check agrees

    # one NAT gateway per zone: each private subnet leaves through its own zone's; the first zone's stays
    run(endpoint, tmp_path, 'network/create.yml', aws_stack_nat_gateway_per_az=True)
    private, nats, s3 = network(ec2)
    assert private == {'us-east-1a': (f'{STACK}-private-rt', 'us-east-1a'),
                       'us-east-1b': (f'{STACK}-private-rt-us-east-1b', 'us-east-1b')}
    assert nats == [f'{STACK}-nat', f'{STACK}-nat-us-east-1b']
    assert s3 == [[f'{STACK}-private-rt'], [f'{STACK}-private-rt-us-east-1b']]
    assert len(stack_addresses(ec2)) == 2
    check_private_routes(aws, STACK, per_az=True)

    # switched off again: back to one gateway; the second zone's gateway, address and route table are gone
    run(endpoint, tmp_path, 'network/create.yml')
    private, nats, s3 = network(ec2)
    assert private == {'us-east-1a': (f'{STACK}-private-rt', 'us-east-1a'), 'us-east-1b': (f'{STACK}-private-rt', 'us-east-1a')}
    assert nats == [f'{STACK}-nat']
    assert s3 == [[f'{STACK}-private-rt']]
    assert len(stack_addresses(ec2)) == 1
