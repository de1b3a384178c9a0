# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator's IAM enforcement for role sessions (tests/support/emulator_iam.py) and the metadata
stand-in's role credentials (tests/support/imds_standin.py), against moto's in-process AWS: real
requests signed with STS credentials, allowed or refused by real policy documents."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.tests.support import emulator_iam, imds_standin  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import load_emulator  # noqa: E402

REGION = 'us-east-1'
ACCOUNT = '123456789012'
EMULATOR_MODULE = load_emulator()
TRUST = {'Version': '2012-10-17', 'Statement': [
    {'Effect': 'Allow', 'Principal': {'Service': 'ec2.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}


def policy(*statements):
    return {'Version': '2012-10-17', 'Statement': list(statements)}


@pytest.mark.parametrize('operator,key,expected,context,holds', [
    ('StringEquals', 'aws:ResourceTag/Stack', 'a', {'aws:resourcetag/stack': ['a']}, True),
    ('StringEquals', 'aws:ResourceTag/Stack', 'a', {'aws:resourcetag/stack': ['b']}, False),
    ('StringEquals', 'aws:ResourceTag/Stack', 'a', {}, False),             # a missing key never matches
    ('StringEqualsIfExists', 'aws:ResourceTag/Stack', 'a', {}, True),
    ('StringLike', 'kms:EncryptionContext:PARAMETER_ARN', 'arn:*:parameter/a/*',
     {'kms:encryptioncontext:parameter_arn': ['arn:aws:ssm:r:1:parameter/a/h']}, True),
    ('StringLike', 'kms:EncryptionContext:PARAMETER_ARN', 'arn:*:parameter/a/*',
     {'kms:encryptioncontext:parameter_arn': ['arn:aws:ssm:r:1:parameter/a2/h']}, False),
    ('StringNotEquals', 'cloudwatch:namespace', ['CWAgent', 'X'], {'cloudwatch:namespace': ['Y']}, True),
    ('StringNotEquals', 'cloudwatch:namespace', ['CWAgent', 'X'], {'cloudwatch:namespace': ['X']}, False),
    ('ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::*:role/a-*', {'aws:principalarn': ['arn:aws:iam::1:role/a-b']}, True),
    ('Bool', 'aws:SecureTransport', 'true', {'aws:securetransport': ['True']}, True),
    ('Null', 'aws:ResourceTag/Stack', 'true', {}, True),
    ('Null', 'aws:ResourceTag/Stack', 'false', {}, False),
    ('NumericLessThan', 'aws:MultiFactorAuthAge', '3600', {'aws:multifactorauthage': ['1']}, False),  # unknown: closed
])
def test_conditions(operator, key, expected, context, holds):
    assert emulator_iam._condition_holds(operator, key, expected, context) is holds


def test_explicit_deny_wins_and_nothing_is_implicitly_allowed():
    documents = [policy({'Effect': 'Allow', 'Action': 'ssm:Get*', 'Resource': 'arn:aws:ssm:*:*:parameter/a/*'}),
                 policy({'Effect': 'Deny', 'Action': 'ssm:GetParameter', 'Resource': '*',
                         'Condition': {'StringEquals': {'aws:ResourceTag/Secret': 'yes'}}})]
    assert emulator_iam.evaluate(documents, 'ssm:getparameter', 'arn:aws:ssm:r:1:parameter/a/x', {}) == 'Allow'
    assert emulator_iam.evaluate(documents, 'ssm:GetParameter', 'arn:aws:ssm:r:1:parameter/a/x',
                                 {'aws:resourcetag/secret': ['yes']}) == 'Deny'
    assert emulator_iam.evaluate(documents, 'ssm:GetParameter', 'arn:aws:ssm:r:1:parameter/b/x', {}) is None
    assert emulator_iam.evaluate(documents, 'ssm:PutParameter', 'arn:aws:ssm:r:1:parameter/a/x', {}) is None


@pytest.fixture
def instance(aws):
    """An instance launched from a launch template whose instance profile's role may read /a/* and claim
    its own address onto instances and interfaces tagged Stack=a; the role session its metadata gives."""
    iam, ec2, ssm = aws('iam'), aws('ec2'), aws('ssm')
    for name in ('a', 'b'):
        ssm.put_parameter(Name=f'/{name}/htpasswd', Value=f'{name}:x', Type='SecureString')
    own = ec2.allocate_address(Domain='vpc')['AllocationId']
    other = ec2.allocate_address(Domain='vpc')['AllocationId']
    iam.create_role(RoleName='a-instance', AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName='a-instance', PolicyName='least', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'ssm:GetParameter', 'Resource': f'arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/a/*'},
        {'Effect': 'Allow', 'Action': 'kms:Decrypt', 'Resource': '*',
         'Condition': {'StringEquals': {'kms:ViaService': f'ssm.{REGION}.amazonaws.com'},
                       'StringLike': {'kms:EncryptionContext:PARAMETER_ARN': f'arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/a/*'}}},
        {'Effect': 'Allow', 'Action': 'ec2:AssociateAddress', 'Resource': f'arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/{own}'},
        {'Effect': 'Allow', 'Action': 'ec2:AssociateAddress',
         'Resource': [f'arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*', f'arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*'],
         'Condition': {'StringEquals': {'aws:ResourceTag/Stack': 'a'}}})))
    iam.create_instance_profile(InstanceProfileName='a-instance')
    iam.add_role_to_instance_profile(InstanceProfileName='a-instance', RoleName='a-instance')
    vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.0.0/24')['Subnet']['SubnetId']
    ec2.create_launch_template(LaunchTemplateName='a-lt', LaunchTemplateData={
        'ImageId': 'ami-12c6146b', 'IamInstanceProfile': {'Name': 'a-instance'},
        'TagSpecifications': [{'ResourceType': t, 'Tags': [{'Key': 'Stack', 'Value': 'a'}]}
                              for t in ('instance', 'network-interface')]})
    launched = ec2.run_instances(LaunchTemplate={'LaunchTemplateName': 'a-lt'}, MinCount=1, MaxCount=1,
                                 SubnetId=subnet)['Instances'][0]
    name, profile_arn, document = imds_standin.RoleCredentials(None, REGION).get(launched['InstanceId'])
    session = boto3.session.Session(aws_access_key_id=document['AccessKeyId'], aws_secret_access_key=document['SecretAccessKey'],
                                    aws_session_token=document['Token'], region_name=REGION)
    return {'id': launched['InstanceId'], 'interface': launched['NetworkInterfaces'][0]['NetworkInterfaceId'],
            'own': own, 'other': other, 'role': name, 'profile': profile_arn, 'client': session.client}


def _code(call):
    with pytest.raises(Exception) as caught:
        call()
    return caught.value.response['Error']['Code']


def test_metadata_hands_the_launch_templates_role(instance):
    assert instance['role'] == 'a-instance' and instance['profile'].endswith(':instance-profile/a-instance')
    arn = instance['client']('sts').get_caller_identity()['Arn']
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/a-instance/{instance['id']}"


def test_parameters_of_the_own_path_only(instance):
    ssm = instance['client']('ssm')
    assert ssm.get_parameter(Name='/a/htpasswd', WithDecryption=True)['Parameter']['Value'] == 'a:x'
    assert _code(lambda: ssm.get_parameter(Name='/b/htpasswd', WithDecryption=True)) == 'AccessDeniedException'


def test_decryption_needs_the_parameters_encryption_context(instance, aws):
    """The same role without the KMS statement: it may read the parameter but SSM cannot decrypt it for it."""
    aws('iam').put_role_policy(RoleName='a-instance', PolicyName='least', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'ssm:GetParameter', 'Resource': f'arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/a/*'})))
    ssm = instance['client']('ssm')
    assert ssm.get_parameter(Name='/a/htpasswd')['Parameter']['Name'] == '/a/htpasswd'
    assert _code(lambda: ssm.get_parameter(Name='/a/htpasswd', WithDecryption=True)) == 'AccessDeniedException'


def test_own_address_onto_own_tagged_instance_only(instance, aws):
    ec2 = instance['client']('ec2')
    ec2.associate_address(AllocationId=instance['own'], InstanceId=instance['id'], AllowReassociation=True)
    assert _code(lambda: ec2.associate_address(AllocationId=instance['other'], InstanceId=instance['id'])) == \
        'UnauthorizedOperation'
    aws('ec2').delete_tags(Resources=[instance['interface']], Tags=[{'Key': 'Stack'}])
    assert _code(lambda: ec2.associate_address(AllocationId=instance['own'], InstanceId=instance['id'],
                                               AllowReassociation=True)) == 'UnauthorizedOperation'


def test_launch_template_tags_reach_the_network_interface(instance, aws):
    interface = aws('ec2').describe_network_interfaces(NetworkInterfaceIds=[instance['interface']])['NetworkInterfaces'][0]
    assert {t['Key']: t['Value'] for t in interface['TagSet']} == {'Stack': 'a'}


def test_refusals_are_worded_as_each_service_does(instance):
    """boto3 reads the error code from each protocol's own error document."""
    assert _code(lambda: instance['client']('iam').list_roles()) == 'AccessDenied'              # query
    assert _code(lambda: instance['client']('s3').list_buckets()) == 'AccessDenied'             # rest-xml
    assert _code(lambda: instance['client']('autoscaling').describe_auto_scaling_groups()) == 'AccessDenied'
    assert _code(lambda: instance['client']('logs').describe_log_groups()) == 'AccessDeniedException'  # json
    assert _code(lambda: instance['client']('ec2').describe_addresses()) == 'UnauthorizedOperation'   # ec2


def test_long_term_keys_are_not_enforced(aws):
    """The deployer's and the tests' own calls stay as they were."""
    assert aws('ec2').describe_addresses()['Addresses'] == []


def test_role_credentials_are_renewed_five_minutes_before_expiry(instance):
    now = [datetime.datetime.now(datetime.UTC)]
    source = imds_standin.RoleCredentials(None, REGION, seconds=900, clock=lambda: now[0])
    first = source.get(instance['id'])[2]
    now[0] += datetime.timedelta(minutes=9)
    assert source.get(instance['id'])[2] is first
    now[0] += datetime.timedelta(minutes=2)
    assert source.get(instance['id'])[2]['AccessKeyId'] != first['AccessKeyId']


def test_an_instance_without_a_profile_has_no_credentials(aws):
    ec2 = aws('ec2')
    launched = ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1)['Instances'][0]
    assert imds_standin.RoleCredentials(None, REGION).get(launched['InstanceId']) is None


def test_botocore_takes_the_role_credentials_from_the_stand_in(instance, tmp_path, monkeypatch):
    """What an instance's services do: botocore's own metadata provider (IMDSv2 token, role name,
    credentials document) against the stand-in, on loopback."""
    import http.server
    import threading
    instances = tmp_path / 'instances.json'
    instances.write_text(json.dumps({'127.0.0.1': instance['id']}))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), imds_standin.make_handler(
        str(instances), REGION, 'unused', imds_standin.RoleCredentials(None, REGION)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for key in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'):
            monkeypatch.delenv(key)
        monkeypatch.setenv('AWS_EC2_METADATA_SERVICE_ENDPOINT', f'http://127.0.0.1:{server.server_address[1]}')
        monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'none'))
        monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'none'))
        session = boto3.session.Session(region_name=REGION)
        credentials = session.get_credentials()
        assert credentials.method == 'iam-role' and credentials.access_key.startswith('ASIA')
        arn = session.client('sts').get_caller_identity()['Arn']
        assert arn.endswith(f":assumed-role/a-instance/{instance['id']}")
        assert _code(lambda: session.client('ssm').get_parameter(Name='/b/htpasswd')) == 'AccessDeniedException'
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize('tagged,expected', [(False, 'AccessDenied'), (True, 'allowed')])
def test_actions_only_roles_count_any_resource_where_the_emulator_knows_none(aws, tagged, expected):
    """sns:CreateTopic's resource is unknown to the emulator: a strict role needs a statement on "*",
    a role tagged EmulatorIamResources=actions-only any statement that allows the action."""
    iam = aws('iam')
    tags = [{'Key': emulator_iam.ACTIONS_ONLY_TAG, 'Value': 'actions-only'}] if tagged else []
    iam.create_role(RoleName='deployer', Tags=tags, AssumeRolePolicyDocument=json.dumps({
        'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'AWS': f'arn:aws:iam::{ACCOUNT}:root'},
                                                'Action': 'sts:AssumeRole'}]}))
    iam.put_role_policy(RoleName='deployer', PolicyName='p', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'sns:CreateTopic', 'Resource': 'arn:aws:sns:*:*:privatepypi-*'},
        {'Effect': 'Allow', 'Action': 'ssm:GetParameter', 'Resource': 'arn:aws:ssm:*:*:parameter/privatepypi-*'})))
    issued = aws('sts').assume_role(RoleArn=f'arn:aws:iam::{ACCOUNT}:role/deployer', RoleSessionName='ci')['Credentials']
    session = boto3.session.Session(aws_access_key_id=issued['AccessKeyId'], aws_secret_access_key=issued['SecretAccessKey'],
                                    aws_session_token=issued['SessionToken'], region_name=REGION)
    try:
        session.client('sns').create_topic(Name='privatepypi-alerts')
        outcome = 'allowed'
    except Exception as error:  # noqa: BLE001 - the code is what is compared
        outcome = error.response['Error']['Code']
    assert outcome == expected
    # where the emulator knows the resource, the Resource is checked in both modes
    aws('ssm').put_parameter(Name='/other/x', Value='x', Type='String')
    assert _code(lambda: session.client('ssm').get_parameter(Name='/other/x')) == 'AccessDeniedException'


def test_the_launched_interface_goes_with_its_instance(instance, aws):
    ec2 = aws('ec2')
    ec2.terminate_instances(InstanceIds=[instance['id']])
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[])['NetworkInterfaces'] == []
    tagged = aws('resourcegroupstaggingapi').get_resources(TagFilters=[{'Key': 'Stack', 'Values': ['a']}])
    assert [m['ResourceARN'] for m in tagged['ResourceTagMappingList'] if ':network-interface/' in m['ResourceARN']] == []


def test_an_instance_reports_only_its_own_groups_health(instance, aws, monkeypatch):
    """SetInstanceHealth is authorized on the group the instance belongs to, with that group's tags."""
    monkeypatch.setitem(EMULATOR_MODULE.STRICT, 'iam_propagation_seconds', 0)  # the profile is seconds old
    autoscaling = aws('autoscaling')
    aws('iam').put_role_policy(RoleName='a-instance', PolicyName='health', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'autoscaling:SetInstanceHealth',
         'Resource': f'arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/a-asg',
         'Condition': {'StringEquals': {'aws:ResourceTag/Stack': 'a'}}})))
    subnet = aws('ec2').describe_subnets()['Subnets'][0]['SubnetId']
    for name in ('a', 'b'):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=f'{name}-asg', LaunchTemplate={'LaunchTemplateName': 'a-lt'}, MinSize=1, MaxSize=1,
            VPCZoneIdentifier=subnet, Tags=[{'Key': 'Stack', 'Value': name, 'PropagateAtLaunch': True}])
    members = {group['AutoScalingGroupName']: group['Instances'][0]['InstanceId']
               for group in autoscaling.describe_auto_scaling_groups()['AutoScalingGroups']}
    health = instance['client']('autoscaling')
    health.set_instance_health(InstanceId=members['a-asg'], HealthStatus='Unhealthy')
    assert autoscaling.describe_auto_scaling_instances(
        InstanceIds=[members['a-asg']])['AutoScalingInstances'][0]['HealthStatus'].upper() == 'UNHEALTHY'
    assert _code(lambda: health.set_instance_health(InstanceId=members['b-asg'], HealthStatus='Unhealthy')) == \
        'AccessDenied'


def test_route53_changes_only_to_the_one_challenge_record(instance, aws):
    """certbot's DNS-01 on the instance (the aws_stack role's scoped statement): the TXT record
    _acme-challenge.<fqdn> in any zone, nothing else; GetChange and ListHostedZones as needed."""
    iam, route53 = aws('iam'), aws('route53')
    zone = route53.create_hosted_zone(Name='example.test', CallerReference='z')['HostedZone']['Id']
    iam.put_role_policy(RoleName='a-instance', PolicyName='acme', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'route53:ListHostedZones', 'Resource': '*'},
        {'Effect': 'Allow', 'Action': 'route53:GetChange', 'Resource': 'arn:aws:route53:::change/*'},
        {'Effect': 'Allow', 'Action': 'route53:ChangeResourceRecordSets', 'Resource': 'arn:aws:route53:::hostedzone/*',
         'Condition': {'ForAllValues:StringEquals': {
             'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.pypi.example.test'],
             'route53:ChangeResourceRecordSetsRecordTypes': ['TXT']}}})))
    client = instance['client']('route53')

    def change(name, kind, value):
        return lambda: client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={'Changes': [
            {'Action': 'UPSERT', 'ResourceRecordSet': {'Name': name, 'Type': kind, 'TTL': 10,
                                                       'ResourceRecords': [{'Value': value}]}}]})

    assert [z['Id'] for z in client.list_hosted_zones()['HostedZones']] == [zone]
    changed = change('_ACME-challenge.pypi.example.test.', 'TXT', '"token"')()
    assert client.get_change(Id=changed['ChangeInfo']['Id'])['ChangeInfo']['Status'] == 'INSYNC'
    assert _code(change('pypi.example.test', 'A', '192.0.2.1')) == 'AccessDenied'
    assert _code(change('_acme-challenge.other.example.test', 'TXT', '"x"')) == 'AccessDenied'
    assert _code(change('_acme-challenge.pypi.example.test', 'CNAME', 'evil.example.org')) == 'AccessDenied'
    assert _code(lambda: client.delete_hosted_zone(Id=zone)) == 'AccessDenied'


def _role_session(aws, name, document, boundary=None, actions_only=True):
    """A role session of a role with one inline policy (and a permissions boundary, a managed policy's ARN)."""
    iam = aws('iam')
    extra = {'PermissionsBoundary': boundary} if boundary else {}
    tags = [{'Key': emulator_iam.ACTIONS_ONLY_TAG, 'Value': 'actions-only'}] if actions_only else []
    iam.create_role(RoleName=name, Tags=tags, AssumeRolePolicyDocument=json.dumps({
        'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'AWS': f'arn:aws:iam::{ACCOUNT}:root'},
                                                'Action': 'sts:AssumeRole'}]}), **extra)
    iam.put_role_policy(RoleName=name, PolicyName='p', PolicyDocument=json.dumps(document))
    issued = aws('sts').assume_role(RoleArn=f'arn:aws:iam::{ACCOUNT}:role/{name}', RoleSessionName='ci')['Credentials']
    return boto3.session.Session(aws_access_key_id=issued['AccessKeyId'], aws_secret_access_key=issued['SecretAccessKey'],
                                 aws_session_token=issued['SessionToken'], region_name=REGION).client


ADMIN = policy({'Effect': 'Allow', 'Action': '*', 'Resource': '*'})


def test_a_permissions_boundary_caps_the_role(aws):
    """AWS allows an action to a role with a boundary only when its policies and its boundary both allow it; the
    emulator used to read the policies alone (issue 18: an admin policy on a bounded role must stay bounded)."""
    boundary = aws('iam').create_policy(PolicyName='a-boundary', PolicyDocument=json.dumps(policy(
        {'Effect': 'Allow', 'Action': 'ssm:GetParameter', 'Resource': f'arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/a/*'})))
    for name in ('a', 'b'):
        aws('ssm').put_parameter(Name=f'/{name}/x', Value='x', Type='String')
    bounded = _role_session(aws, 'a-bounded', ADMIN, boundary['Policy']['Arn'], actions_only=False)
    assert bounded('ssm').get_parameter(Name='/a/x')['Parameter']['Value'] == 'x'
    assert _code(lambda: bounded('ssm').get_parameter(Name='/b/x')) == 'AccessDeniedException'
    assert _code(lambda: bounded('iam').create_user(UserName='backdoor')) == 'AccessDenied'
    unbounded = _role_session(aws, 'a-unbounded', ADMIN, actions_only=False)
    unbounded('iam').create_user(UserName='backdoor')


def test_roles_are_authorized_by_name_with_their_boundary(aws):
    """IAM actions on the role they name, with iam:PermissionsBoundary (the request's, or the role's own); moto
    authorizes them on "*", so a statement on some roles allowed every role and a boundary condition never held."""
    boundary = f'arn:aws:iam::{ACCOUNT}:policy/a-boundary'
    aws('iam').create_policy(PolicyName='a-boundary', PolicyDocument=json.dumps(ADMIN))
    client = _role_session(aws, 'deployer', policy(
        {'Effect': 'Allow', 'Action': ['iam:CreateRole', 'iam:PutRolePolicy'], 'Resource': 'arn:aws:iam::*:role/a-*',
         'Condition': {'ArnLike': {'iam:PermissionsBoundary': boundary}}}))
    trust = json.dumps(TRUST)
    assert _code(lambda: client('iam').create_role(RoleName='a-x', AssumeRolePolicyDocument=trust)) == 'AccessDenied'
    assert _code(lambda: client('iam').create_role(RoleName='b-x', AssumeRolePolicyDocument=trust,
                                                   PermissionsBoundary=boundary)) == 'AccessDenied'
    client('iam').create_role(RoleName='a-x', AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)
    client('iam').put_role_policy(RoleName='a-x', PolicyName='p', PolicyDocument=json.dumps(ADMIN))
    aws('iam').create_role(RoleName='a-legacy', AssumeRolePolicyDocument=trust)
    assert _code(lambda: client('iam').put_role_policy(RoleName='a-legacy', PolicyName='p',
                                                       PolicyDocument=json.dumps(ADMIN))) == 'AccessDenied'


def test_launching_with_a_profile_passes_its_role(aws):
    """RunInstances with an instance profile needs iam:PassRole on its role, passed to EC2."""
    iam = aws('iam')
    for name in ('a-instance', 'b-instance'):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    client = _role_session(aws, 'deployer', policy(
        {'Effect': 'Allow', 'Action': 'ec2:RunInstances', 'Resource': '*'},
        {'Effect': 'Allow', 'Action': 'iam:PassRole', 'Resource': 'arn:aws:iam::*:role/a-*',
         'Condition': {'StringEquals': {'iam:PassedToService': 'ec2.amazonaws.com'}}}))
    client('ec2').run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1, IamInstanceProfile={'Name': 'a-instance'})
    assert _code(lambda: client('ec2').run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1,
                                                     IamInstanceProfile={'Name': 'b-instance'})) == 'UnauthorizedOperation'


def test_ec2_deletes_are_authorized_on_their_tagged_resource(aws):
    ec2 = aws('ec2')
    ids = {}
    for stack in ('a', 'b'):
        ids[stack] = ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1, TagSpecifications=[
            {'ResourceType': 'instance', 'Tags': [{'Key': 'Stack', 'Value': stack}]}])['Instances'][0]['InstanceId']
    client = _role_session(aws, 'deployer', policy(
        {'Effect': 'Allow', 'Action': 'ec2:TerminateInstances', 'Resource': '*',
         'Condition': {'StringEquals': {'aws:ResourceTag/Stack': 'a'}}}))
    assert _code(lambda: client('ec2').terminate_instances(InstanceIds=[ids['b']])) == 'UnauthorizedOperation'
    client('ec2').terminate_instances(InstanceIds=[ids['a']])


def test_a_vpc_endpoint_is_deleted_only_with_its_stacks_tag(aws):
    """DeleteVpcEndpoints is authorized on the endpoint with its tags, as AWS does (a professional stack's S3
    gateway endpoint, deleted by its teardown under the deployer policy)."""
    ec2 = aws('ec2')
    vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
    table = ec2.create_route_table(VpcId=vpc)['RouteTable']['RouteTableId']
    endpoints = {}
    for stack in ('a', 'b'):
        tags = [{'ResourceType': 'vpc-endpoint', 'Tags': [{'Key': 'Stack', 'Value': stack}]}]
        endpoints[stack] = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType='Gateway', ServiceName='com.amazonaws.us-east-1.s3',
                                                   RouteTableIds=[table], TagSpecifications=tags)['VpcEndpoint']['VpcEndpointId']
    client = _role_session(aws, 'deployer', policy(
        {'Effect': 'Allow', 'Action': 'ec2:DeleteVpcEndpoints', 'Resource': '*',
         'Condition': {'StringEquals': {'aws:ResourceTag/Stack': 'a'}}}))
    assert _code(lambda: client('ec2').delete_vpc_endpoints(VpcEndpointIds=[endpoints['b']])) == 'UnauthorizedOperation'
    client('ec2').delete_vpc_endpoints(VpcEndpointIds=[endpoints['a']])
    assert [e['VpcEndpointId'] for e in ec2.describe_vpc_endpoints()['VpcEndpoints'] if e['State'].lower() != 'deleted'] == [endpoints['b']]


def test_an_image_and_its_snapshot_are_deleted_only_with_their_stacks_tag(aws):
    """DeregisterImage and DeleteSnapshot are authorized on the image and the snapshot with their tags,
    as AWS does (a stack image's pruning and teardown under the deployer policy)."""
    ec2 = aws('ec2')
    images = {}
    for stack in ('a', 'b'):
        instance = ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1)['Instances'][0]['InstanceId']
        tags = [{'Key': 'Stack', 'Value': stack}]
        image = ec2.create_image(InstanceId=instance, Name=f'stack-{stack}', TagSpecifications=[
            {'ResourceType': 'image', 'Tags': tags}, {'ResourceType': 'snapshot', 'Tags': tags}])['ImageId']
        images[stack] = (image, ec2.describe_images(ImageIds=[image])['Images'][0]['BlockDeviceMappings'][0]['Ebs']['SnapshotId'])
    client = _role_session(aws, 'deployer', policy(
        {'Effect': 'Allow', 'Action': ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'], 'Resource': '*',
         'Condition': {'StringEquals': {'aws:ResourceTag/Stack': 'a'}}}))
    assert _code(lambda: client('ec2').deregister_image(ImageId=images['b'][0])) == 'UnauthorizedOperation'
    assert _code(lambda: client('ec2').delete_snapshot(SnapshotId=images['b'][1])) == 'UnauthorizedOperation'
    client('ec2').deregister_image(ImageId=images['a'][0])
    client('ec2').delete_snapshot(SnapshotId=images['a'][1])
