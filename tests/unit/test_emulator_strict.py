# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator's strictness (tests/support/emulator.py, "strict as AWS"): each AWS behaviour it
models, asserted with boto3 against the emulator running as a server on loopback, with short
delays so the test is quick. The playbooks' handling of them is proven by the integration tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
import urllib.request
from pathlib import Path

import pytest

boto3 = pytest.importorskip('boto3')
from ansible_collections.privatepypi.aws.tests.support.emulator_process import running_emulator  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DELAY = 3
# Each test starts with the timed delays held this long, so that what it asserts before it lets them
# settle holds however loaded the machine is (a busy CI host took more than DELAY to create a network,
# a role and two templates); _settle then shortens them to DELAY, counted from each resource's change
# as before, and waits them out.
HELD = 3600
TIMED = ('iam_propagation', 'certificate_propagation', 'certificate_release', 'eni_linger')


@pytest.fixture(scope='module')
def endpoint():
    with running_emulator(MOTO_IAM_LOAD_MANAGED_POLICIES='false', EMULATOR_IAM_PROPAGATION_SECONDS=str(DELAY),
                          EMULATOR_CERTIFICATE_RELEASE_SECONDS=str(DELAY), EMULATOR_ENI_LINGER_SECONDS=str(DELAY),
                          EMULATOR_CERTIFICATE_PROPAGATION_SECONDS=str(DELAY), MOTO_ACM_VALIDATION_WAIT='0') as url:
        yield url


@pytest.fixture()
def aws(endpoint):
    urllib.request.urlopen(urllib.request.Request(f'{endpoint}/moto-api/reset', method='POST'), timeout=10)
    _hold(endpoint)
    session = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')
    return lambda service: session.client(service, endpoint_url=endpoint)


def _strict(endpoint, **settings):
    request = urllib.request.Request(f'{endpoint}/moto-api/privatepypi/strict', method='POST',
                                     data=json.dumps(settings).encode(), headers={'Content-Type': 'application/json'})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def _hold(endpoint, seconds=HELD):
    """Every timed delay set to `seconds`, counted from each resource's change."""
    _strict(endpoint, **{f'{delay}_seconds': seconds for delay in TIMED})


def _settle(endpoint, seconds=DELAY):
    """The timed delays shortened to `seconds` and waited out: a resource changed before is past them."""
    _hold(endpoint, seconds)
    time.sleep(seconds + 0.5)


def _code(excinfo):
    return excinfo.value.response['Error']['Code'], excinfo.value.response['Error']['Message']


def _network(aws):
    ec2 = aws('ec2')
    vpc = ec2.create_vpc(CidrBlock='10.9.0.0/16')['Vpc']['VpcId']
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'10.9.{i}.0/24', AvailabilityZone=f'us-east-1{z}')['Subnet']['SubnetId']
               for i, z in enumerate('ab')]
    group = ec2.create_security_group(GroupName='lb', Description='lb', VpcId=vpc)['GroupId']
    return vpc, subnets, group


def _template(aws, name, profile, image='ami-0d5eb1a12b0c0ffee', instance_type='t3.small'):
    """A launch template naming its instance profile by name, or by ARN (profile starting arn:) as
    amazon.aws.ec2_launch_template stores it."""
    aws('ec2').create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        'ImageId': image, 'InstanceType': instance_type,
        'IamInstanceProfile': {'Arn': profile} if profile.startswith('arn:') else {'Name': profile},
        'MetadataOptions': {'HttpTokens': 'required', 'HttpEndpoint': 'enabled'}})


def test_settings_are_read_changed_and_reset(endpoint, aws):
    assert _strict(endpoint)['iam_propagation_seconds'] == HELD  # as the fixture holds it
    assert _strict(endpoint, eni_linger_seconds=1)['eni_linger_seconds'] == 1
    aws('ec2')  # the fixture resets
    urllib.request.urlopen(urllib.request.Request(f'{endpoint}/moto-api/reset', method='POST'), timeout=10)
    assert _strict(endpoint)['eni_linger_seconds'] == DELAY
    with pytest.raises(urllib.error.HTTPError):
        _strict(endpoint, no_such_setting=1)


def test_a_new_instance_profile_is_invalid_for_auto_scaling_until_it_propagated(endpoint, aws):
    subnets = _network(aws)[1]
    iam = aws('iam')
    iam.create_role(RoleName='r', AssumeRolePolicyDocument='{}')
    arn = iam.create_instance_profile(InstanceProfileName='p')['InstanceProfile']['Arn']
    # AWS's words, as the form the template stores the profile in: by ARN (what the role's
    # ec2_launch_template writes) and by name
    _template(aws, 'lt-arn', arn)
    _template(aws, 'lt-name', 'p')
    answers = {}
    for template in ('lt-arn', 'lt-name'):
        with pytest.raises(ClientError) as excinfo:
            aws('autoscaling').create_auto_scaling_group(
                AutoScalingGroupName=template, LaunchTemplate={'LaunchTemplateName': template, 'Version': '$Latest'},
                MinSize=0, MaxSize=0, VPCZoneIdentifier=subnets[0])
        answers[template] = _code(excinfo)
    prefix = 'You must use a valid fully-formed launch template. '
    assert answers == {
        'lt-arn': ('ValidationError', f'{prefix}Value ({arn}) for parameter iamInstanceProfile.arn is invalid. '
                   'Invalid IAM Instance Profile ARN'),
        'lt-name': ('ValidationError', f'{prefix}Value (p) for parameter iamInstanceProfile.name is invalid. '
                    'Invalid IAM Instance Profile name')}
    _settle(endpoint)
    aws('autoscaling').create_auto_scaling_group(
        AutoScalingGroupName='g', LaunchTemplate={'LaunchTemplateName': 'lt-arn', 'Version': '$Latest'},
        MinSize=0, MaxSize=0, VPCZoneIdentifier=subnets[0])


def test_a_new_role_cannot_be_assumed_by_aws_backup_until_it_propagated(endpoint, aws):
    trust = {'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Principal': {'Service': 'backup.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}
    arn = aws('iam').create_role(RoleName='b', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']
    plan = aws('backup').create_backup_plan(BackupPlan={'BackupPlanName': 'daily', 'Rules': [
        {'RuleName': 'd', 'TargetBackupVaultName': 'Default'}]})['BackupPlanId']
    selection = {'SelectionName': 's', 'IamRoleArn': arn, 'Resources': ['*']}
    with pytest.raises(ClientError) as excinfo:
        aws('backup').create_backup_selection(BackupPlanId=plan, BackupSelection=selection)
    assert _code(excinfo) == ('InvalidParameterValueException', f'IAM Role {arn} cannot be assumed by AWS Backup')
    _settle(endpoint)
    aws('backup').create_backup_selection(BackupPlanId=plan, BackupSelection=selection)


def test_a_selection_by_tags_waits_for_the_roles_policy_too(endpoint, aws):
    """A selection by tags, as backup/create.yml makes it: the role must be assumable and its policy in effect."""
    trust = {'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Principal': {'Service': 'backup.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}
    iam = aws('iam')
    arn = iam.create_role(RoleName='b', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']
    created = time.time()
    plan = aws('backup').create_backup_plan(BackupPlan={'BackupPlanName': 'daily', 'Rules': [
        {'RuleName': 'd', 'TargetBackupVaultName': 'Default'}]})['BackupPlanId']
    selection = {'SelectionName': 's', 'IamRoleArn': arn, 'Resources': ['*'], 'Conditions': {'StringEquals': [
        {'ConditionKey': 'aws:ResourceTag/Stack', 'ConditionValue': 'x'}]}}

    def answer():
        with pytest.raises(ClientError) as excinfo:
            aws('backup').create_backup_selection(BackupPlanId=plan, BackupSelection=selection)
        return _code(excinfo)
    assert answer() == ('InvalidParameterValueException', f'IAM Role {arn} cannot be assumed by AWS Backup')
    # the trust is in effect after half the propagation time, a policy after the whole: with 4 DELAYs,
    # the role is past its half once it is 2 DELAYs old, and a policy attached then has 4 DELAYs to be
    # refused in
    _strict(endpoint, iam_propagation_seconds=4 * DELAY)
    time.sleep(max(0.0, created + 2 * DELAY + 0.5 - time.time()))
    not_authorized = ('InvalidParameterValueException', f'IAM Role {arn} is not authorized to call tag:GetResources')
    assert answer() == not_authorized  # assumable now, but no policy at all
    policy = iam.create_policy(PolicyName='tags', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Action': 'tag:GetResources', 'Resource': '*'}]}))['Policy']['Arn']
    iam.attach_role_policy(RoleName='b', PolicyArn=policy)
    assert answer() == not_authorized  # the policy just attached is not in effect yet
    _settle(endpoint)
    aws('backup').create_backup_selection(BackupPlanId=plan, BackupSelection=selection)


def test_a_certificate_stays_in_use_and_network_interfaces_linger_after_the_load_balancer(endpoint, aws):
    vpc, subnets, group = _network(aws)
    elb, acm, ec2 = aws('elbv2'), aws('acm'), aws('ec2')
    cert = acm.request_certificate(DomainName='pypi.example.com', ValidationMethod='DNS')['CertificateArn']
    lb = elb.create_load_balancer(Name='shared', Subnets=subnets, SecurityGroups=[group])['LoadBalancers'][0]
    tg = elb.create_target_group(Name='tg', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
    elb.create_listener(LoadBalancerArn=lb['LoadBalancerArn'], Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': cert}],
                        DefaultActions=[{'Type': 'forward', 'TargetGroupArn': tg}])
    with pytest.raises(ClientError) as excinfo:
        acm.delete_certificate(CertificateArn=cert)
    assert _code(excinfo)[0] == 'ResourceInUseException'
    with pytest.raises(ClientError) as excinfo:
        ec2.delete_security_group(GroupId=group)
    assert _code(excinfo) == ('DependencyViolation', f'resource {group} has a dependent object')
    elb.delete_load_balancer(LoadBalancerArn=lb['LoadBalancerArn'])
    for call, args, message in [
            (acm.delete_certificate, {'CertificateArn': cert}, f'Certificate {cert} in use by {lb["LoadBalancerArn"]}'),
            (ec2.delete_security_group, {'GroupId': group}, f'resource {group} has a dependent object'),
            (ec2.delete_subnet, {'SubnetId': subnets[0]}, f"The subnet '{subnets[0]}' has dependencies and cannot be deleted.")]:
        with pytest.raises(ClientError) as excinfo:
            call(**args)
        assert _code(excinfo)[1] == message
    _settle(endpoint)
    acm.delete_certificate(CertificateArn=cert)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnets[0])


def test_a_certificate_just_issued_is_not_found_by_load_balancing_for_a_while(endpoint, aws):
    vpc, subnets, group = _network(aws)
    elb, acm = aws('elbv2'), aws('acm')
    cert = acm.request_certificate(DomainName='pypi.example.com', ValidationMethod='DNS')['CertificateArn']
    assert acm.describe_certificate(CertificateArn=cert)['Certificate']['Status'] == 'ISSUED'  # what the role waits for
    lb = elb.create_load_balancer(Name='shared', Subnets=subnets, SecurityGroups=[group])['LoadBalancers'][0]
    tg = elb.create_target_group(Name='tg', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
    listener = dict(LoadBalancerArn=lb['LoadBalancerArn'], Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': cert}],
                    DefaultActions=[{'Type': 'forward', 'TargetGroupArn': tg}])
    with pytest.raises(ClientError) as excinfo:
        elb.create_listener(**listener)
    assert _code(excinfo) == ('CertificateNotFound', f"Certificate '{cert}' not found")
    _settle(endpoint)
    arn = elb.create_listener(**listener)['Listeners'][0]['ListenerArn']
    # another application's certificate (SNI) stays when the default one changes, as on AWS
    other = acm.request_certificate(DomainName='wiki.example.com', ValidationMethod='DNS')['CertificateArn']
    elb.add_listener_certificates(ListenerArn=arn, Certificates=[{'CertificateArn': other}])
    _hold(endpoint)
    third = acm.request_certificate(DomainName='pypi2.example.com', ValidationMethod='DNS')['CertificateArn']
    acm.describe_certificate(CertificateArn=third)
    with pytest.raises(ClientError) as excinfo:
        elb.modify_listener(ListenerArn=arn, Certificates=[{'CertificateArn': third}])
    assert _code(excinfo)[0] == 'CertificateNotFound'
    _settle(endpoint)
    elb.modify_listener(ListenerArn=arn, Certificates=[{'CertificateArn': third}])
    listed = [c['CertificateArn'] for c in elb.describe_listener_certificates(ListenerArn=arn)['Certificates']]
    assert listed[0] == third and other in listed and cert not in listed


def test_a_load_balancer_refuses_subnets_and_security_groups_of_another_vpc(aws):
    subnets, group = _network(aws)[1:]
    ec2, elb = aws('ec2'), aws('elbv2')
    other = ec2.create_vpc(CidrBlock='10.8.0.0/16')['Vpc']['VpcId']
    other_subnet = ec2.create_subnet(VpcId=other, CidrBlock='10.8.0.0/24', AvailabilityZone='us-east-1a')['Subnet']['SubnetId']
    other_group = ec2.create_security_group(GroupName='lb2', Description='lb', VpcId=other)['GroupId']
    with pytest.raises(ClientError) as excinfo:
        elb.create_load_balancer(Name='mixed', Subnets=subnets, SecurityGroups=[other_group])
    assert _code(excinfo)[0] == 'InvalidSecurityGroup'
    arn = elb.create_load_balancer(Name='shared', Subnets=subnets, SecurityGroups=[group])['LoadBalancers'][0]['LoadBalancerArn']
    with pytest.raises(ClientError) as excinfo:
        elb.set_subnets(LoadBalancerArn=arn, Subnets=[other_subnet])
    assert _code(excinfo)[0] == 'InvalidSubnet'
    with pytest.raises(ClientError) as excinfo:
        elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[other_group])
    assert _code(excinfo)[0] == 'InvalidSecurityGroup'


def test_zones_offer_only_some_instance_types_and_architectures_must_match(endpoint, aws):
    subnets = _network(aws)[1]
    _strict(endpoint, missing_offerings={'us-east-1a': ['t4g.small']})
    offered = aws('ec2').describe_instance_type_offerings(
        LocationType='availability-zone', Filters=[{'Name': 'instance-type', 'Values': ['t4g.small']}])
    zones = {o['Location'] for o in offered['InstanceTypeOfferings']}
    assert 'us-east-1a' not in zones and 'us-east-1b' in zones
    ec2 = aws('ec2')
    arm64 = aws('ssm').get_parameter(Name='/aws/service/debian/release/13/latest/arm64')['Parameter']['Value']
    assert ec2.describe_images(ImageIds=[arm64])['Images'][0]['Architecture'] == 'arm64'
    with pytest.raises(ClientError) as excinfo:
        ec2.run_instances(ImageId=arm64, InstanceType='t4g.small', MinCount=1, MaxCount=1, SubnetId=subnets[0])
    assert _code(excinfo)[0] == 'Unsupported' and '(us-east-1a)' in _code(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        ec2.run_instances(ImageId='ami-0d5eb1a12b0c0ffee', InstanceType='t4g.small', MinCount=1, MaxCount=1,
                          SubnetId=subnets[1])
    assert _code(excinfo)[0] == 'InvalidParameterValue' and "architecture 'x86_64' of the specified AMI" in _code(excinfo)[1]
    ec2.run_instances(ImageId=arm64, InstanceType='t4g.small', MinCount=1, MaxCount=1, SubnetId=subnets[1])


def test_debian_13_and_12_images_are_published_for_both_architectures(aws):
    ec2, ssm = aws('ec2'), aws('ssm')
    for release in ('13', '12'):
        for arch, ec2_arch in (('amd64', 'x86_64'), ('arm64', 'arm64')):
            ami = ssm.get_parameter(Name=f'/aws/service/debian/release/{release}/latest/{arch}')['Parameter']['Value']
            image = ec2.describe_images(ImageIds=[ami])['Images'][0]
            assert image['Architecture'] == ec2_arch and image['Name'].startswith(f'debian-{release}-{arch}-')
            assert image['Public'] is True and image['OwnerId'] == '136693071363'


def test_describe_answers_carry_the_fields_aws_adds(aws):
    _template(aws, 'lt-shape', 'p')
    data = aws('ec2').describe_launch_template_versions(LaunchTemplateName='lt-shape')['LaunchTemplateVersions'][0]
    assert data['LaunchTemplateData']['MetadataOptions'] == {'HttpTokens': 'required', 'HttpEndpoint': 'enabled',
                                                             'State': 'applied'}


def test_auto_scaling_groups_carry_their_traffic_sources_and_zone_distribution(endpoint, aws):
    _strict(endpoint, iam_propagation_seconds=0)
    vpc, subnets = _network(aws)[:2]
    aws('iam').create_instance_profile(InstanceProfileName='p')
    _template(aws, 'lt-asg', 'p')
    tg = aws('elbv2').create_target_group(Name='tg', Protocol='HTTP', Port=80, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
    aws('autoscaling').create_auto_scaling_group(
        AutoScalingGroupName='g', LaunchTemplate={'LaunchTemplateName': 'lt-asg', 'Version': '$Latest'}, MinSize=0,
        MaxSize=0, VPCZoneIdentifier=subnets[0], TargetGroupARNs=[tg])
    group = aws('autoscaling').describe_auto_scaling_groups(AutoScalingGroupNames=['g'])['AutoScalingGroups'][0]
    assert group['TrafficSources'] == [{'Identifier': tg, 'Type': 'elbv2'}]
    assert group['AvailabilityZoneDistribution'] == {'CapacityDistributionStrategy': 'balanced-best-effort'}


def test_a_certificate_stays_in_use_after_its_listener_is_deleted(endpoint, aws):
    vpc, subnets, group = _network(aws)
    elb, acm = aws('elbv2'), aws('acm')
    cert = acm.request_certificate(DomainName='pypi.example.com', ValidationMethod='DNS')['CertificateArn']
    lb = elb.create_load_balancer(Name='shared', Subnets=subnets, SecurityGroups=[group])['LoadBalancers'][0]['LoadBalancerArn']
    tg = elb.create_target_group(Name='tg', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': cert}],
                                   DefaultActions=[{'Type': 'forward', 'TargetGroupArn': tg}])['Listeners'][0]['ListenerArn']
    elb.delete_listener(ListenerArn=listener)
    with pytest.raises(ClientError) as excinfo:
        acm.delete_certificate(CertificateArn=cert)
    assert _code(excinfo) == ('ResourceInUseException', f'Certificate {cert} in use by {lb}')
    _settle(endpoint)
    acm.delete_certificate(CertificateArn=cert)


def test_delays_counted_as_refusals_refuse_each_resource_that_often_and_never_wait(endpoint, aws):
    """With a delay's "_refusals" set (the integration tests), the calls each of the four delays
    refuses are refused exactly that many times per resource, the delay's seconds never spent."""
    _strict(endpoint, iam_propagation_seconds=3600, certificate_propagation_seconds=3600, certificate_release_seconds=3600,
            eni_linger_seconds=3600, iam_propagation_refusals=2, certificate_propagation_refusals=2,
            certificate_release_refusals=2, eni_linger_refusals=2)
    started = time.monotonic()

    def refused(call, **args):
        with pytest.raises(ClientError) as excinfo:
            call(**args)
        return _code(excinfo)

    vpc, subnets, group = _network(aws)
    iam, elb, acm, ec2 = aws('iam'), aws('elbv2'), aws('acm'), aws('ec2')
    # the instance profile: twice, then the group is created
    iam.create_role(RoleName='r', AssumeRolePolicyDocument='{}')
    profile = iam.create_instance_profile(InstanceProfileName='p')['InstanceProfile']['Arn']
    _template(aws, 'lt-counted', profile)
    group_args = dict(AutoScalingGroupName='g', LaunchTemplate={'LaunchTemplateName': 'lt-counted', 'Version': '$Latest'},
                      MinSize=0, MaxSize=0, VPCZoneIdentifier=subnets[0])
    for _attempt in range(2):
        assert refused(aws('autoscaling').create_auto_scaling_group, **group_args)[0] == 'ValidationError'
    aws('autoscaling').create_auto_scaling_group(**group_args)
    # the backup role selecting by tags: once for its trust, once for its policy, then accepted
    trust = {'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Principal': {'Service': 'backup.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}
    role = iam.create_role(RoleName='b', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']
    policy = iam.create_policy(PolicyName='tags', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [
        {'Effect': 'Allow', 'Action': 'tag:GetResources', 'Resource': '*'}]}))['Policy']['Arn']
    iam.attach_role_policy(RoleName='b', PolicyArn=policy)
    plan = aws('backup').create_backup_plan(BackupPlan={'BackupPlanName': 'daily', 'Rules': [
        {'RuleName': 'd', 'TargetBackupVaultName': 'Default'}]})['BackupPlanId']
    selection = dict(BackupPlanId=plan, BackupSelection={
        'SelectionName': 's', 'IamRoleArn': role, 'Resources': ['*'],
        'Conditions': {'StringEquals': [{'ConditionKey': 'aws:ResourceTag/Stack', 'ConditionValue': 'x'}]}})
    assert [refused(aws('backup').create_backup_selection, **selection)[1] for _attempt in range(2)] == [
        f'IAM Role {role} cannot be assumed by AWS Backup', f'IAM Role {role} is not authorized to call tag:GetResources']
    aws('backup').create_backup_selection(**selection)
    # the certificate just issued: twice CertificateNotFound, then the listener
    cert = acm.request_certificate(DomainName='pypi.example.com', ValidationMethod='DNS')['CertificateArn']
    assert acm.describe_certificate(CertificateArn=cert)['Certificate']['Status'] == 'ISSUED'
    lb = elb.create_load_balancer(Name='shared', Subnets=subnets, SecurityGroups=[group])['LoadBalancers'][0]['LoadBalancerArn']
    tg = elb.create_target_group(Name='tg', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn']
    listener = dict(LoadBalancerArn=lb, Protocol='HTTPS', Port=443, Certificates=[{'CertificateArn': cert}],
                    DefaultActions=[{'Type': 'forward', 'TargetGroupArn': tg}])
    for _attempt in range(2):
        assert refused(elb.create_listener, **listener)[0] == 'CertificateNotFound'
    elb.create_listener(**listener)
    # after the load balancer: the certificate in use twice; its lingering interfaces refuse two
    # deletes they block, whichever (they are gone after that, as after the seconds)
    elb.delete_load_balancer(LoadBalancerArn=lb)
    for _attempt in range(2):
        assert refused(acm.delete_certificate, CertificateArn=cert)[0] == 'ResourceInUseException'
    acm.delete_certificate(CertificateArn=cert)
    assert refused(ec2.delete_security_group, GroupId=group)[0] == 'DependencyViolation'
    assert refused(ec2.delete_subnet, SubnetId=subnets[0])[0] == 'DependencyViolation'
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnets[0])
    assert time.monotonic() - started < 60  # none of the hour-long delays was waited out


def test_an_image_builder_powers_itself_off_unless_the_rehearsal_plays_it(endpoint, aws):
    """A stack image's builder (tag Role=image-builder) reads as stopped once image_builder_seconds
    passed since its launch, as the bootstrap's image mode powers it off; other instances stay running;
    below 0 nothing stops by itself (the rehearsal's container does the work, then StopInstances)."""
    ec2, ssm = aws('ec2'), aws('ssm')
    ami = ssm.get_parameter(Name='/aws/service/debian/release/13/latest/amd64')['Parameter']['Value']

    def launch(role):
        return ec2.run_instances(ImageId=ami, InstanceType='t3.small', MinCount=1, MaxCount=1, TagSpecifications=[
            {'ResourceType': 'instance', 'Tags': [{'Key': 'Role', 'Value': role}]}])['Instances'][0]['InstanceId']

    def state(instance_id):
        return ec2.describe_instances(InstanceIds=[instance_id])['Reservations'][0]['Instances'][0]['State']['Name']

    _strict(endpoint, image_builder_seconds=-1)
    played = launch('image-builder')
    assert state(played) == 'running'
    _strict(endpoint, image_builder_seconds=HELD)
    builder, other = launch('image-builder'), launch('index')
    assert state(builder) == 'running'
    _strict(endpoint, image_builder_seconds=1)  # counted from the launch, as the timed delays
    time.sleep(1.5)
    assert (state(builder), state(other)) == ('stopped', 'running')
    assert state(played) == 'stopped'  # launched long enough ago, once the stand-in runs again
    # captured as amazon.aws.ec2_ami does, its tags on the image and on its snapshot
    tags = [{'Key': 'Stack', 'Value': 's'}]
    image = ec2.create_image(InstanceId=builder, Name='stack-image', TagSpecifications=[
        {'ResourceType': 'image', 'Tags': tags}, {'ResourceType': 'snapshot', 'Tags': tags}])['ImageId']
    found = ec2.describe_images(ImageIds=[image])['Images'][0]
    assert found['State'] == 'available' and found['Tags'] == tags
    snapshot = found['BlockDeviceMappings'][0]['Ebs']['SnapshotId']
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])['Snapshots'][0]['Tags'] == tags


def test_an_instances_groups_are_its_primary_interfaces_however_the_launch_named_them(aws):
    """AWS answers DescribeInstanceAttribute groupSet with the groups of the primary interface; moto left
    the groups given on the interface (as amazon.aws.ec2_instance sends them) off the instance."""
    ec2 = aws('ec2')
    vpc_id, subnets = _network(aws)[:2]
    group = ec2.create_security_group(GroupName='builder-app', Description='app', VpcId=vpc_id)['GroupId']
    on_interface = ec2.run_instances(ImageId='ami-0d5eb1a12b0c0ffee', InstanceType='t3.small', MinCount=1, MaxCount=1,
                                     NetworkInterfaces=[{'DeviceIndex': 0, 'SubnetId': subnets[0], 'Groups': [group]}])
    by_id = ec2.run_instances(ImageId='ami-0d5eb1a12b0c0ffee', InstanceType='t3.small', MinCount=1, MaxCount=1,
                              SubnetId=subnets[0], SecurityGroupIds=[group])
    for launched in (on_interface, by_id):
        instance_id = launched['Instances'][0]['InstanceId']
        assert ec2.describe_instance_attribute(InstanceId=instance_id, Attribute='groupSet')['Groups'] == [{'GroupId': group}]
        described = ec2.describe_instances(InstanceIds=[instance_id])['Reservations'][0]['Instances'][0]
        assert [g['GroupId'] for g in described['SecurityGroups']] == [group]
