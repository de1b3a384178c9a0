# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every IAM policy document of the aws_stack role, linted with parliament (policies.py renders them
from the role's own files), and the instance role's documents checked for least privilege.

Each statement is linted on its own, so a finding names its statement. A finding fails the test
unless SUPPRESSED names it with the reason; every parliament issue counts (its HIGH ones are
malformed documents only; RESOURCE_MISMATCH, UNKNOWN_ACTION and UNKNOWN_CONDITION_FOR_ACTION, the
ones that catch a wrong ARN, a typo or a condition key the action never has, are MEDIUM and LOW)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import policies  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # parliament imports pkg_resources
    import parliament  # noqa: E402 - requirements.txt pins it: a missing linter fails the stage, never skips it

TRUST = 'trust policy'
# The instance statements on "*": their actions have no resource type (parliament's RESOURCE_STAR,
# which knows the actions that have one, finds nothing in them, and test_no_unexplained_finding
# would fail if it did).
NO_RESOURCE_TYPE = {'SsmAgentSessionsAndCommands', 'AgentMetricsIntoItsNamespaceOnly', 'AgentReadsInstanceTags',
                    'FindHostedZones', 'ReadWhereTheAddressIs'}
# (document, Sid or TRUST, issue) -> why it is accepted
SUPPRESSED = {
    ('*', TRUST, 'MALFORMED'):
        'a role trust policy has no Resource element (the role itself is the resource); parliament lints it '
        'as an identity policy',
    ('deployer', 'ReadWhatTheStackLooksUp', 'RESOURCE_STAR'):
        'reads only (Describe/List/Get): most have no resource type, and the others look resources up by id '
        'before the role knows them',
    ('deployer', 'DeleteOnlyThisStacksNetworkAndInstances', 'RESOURCE_STAR'):
        'the stack\'s network and instances have random ids; the deletes are conditioned on the Stack tag',
    ('deployer', 'NetworkAndInstances', 'RESOURCE_STAR'):
        'VPCs, subnets, gateways, groups, templates and instances get random ids at creation; their create '
        'calls authorize several resource types at once',
    ('deployer', 'Certificates', 'RESOURCE_STAR'): 'a certificate ARN exists only after RequestCertificate',
    ('deployer', 'Backups', 'RESOURCE_STAR'):
        'backup plans and selections get random ids; vaults and recovery points are created through them',
    ('deployer', 'KeyGrantsForAwsBackupOnly', 'RESOURCE_STAR'):
        'the vault key is the user\'s (aws_stack_backup_kms_key_arn, any ARN); the grant is limited to AWS Backup '
        'creating it for a vault (kms:GrantIsForAWSResource, kms:ViaService)',
    ('deployer', 'RunCommandsOnThisStacksInstancesOnly', 'RESOURCE_MISMATCH'):
        'ssm:SendCommand authorizes the document and each instance separately: the instances in one statement '
        '(with the tag condition), the document in another (RunShellScriptDocument)',
    ('boundary', 'WhatTheInstancesCall', 'RESOURCE_STAR'):
        'a boundary caps the actions of the stack\'s roles; their own policies (linted above) scope the resources, '
        'whose ids (file system, address, hosted zone) exist only after the boundary is made',
    ('boundary', 'WhatAwsBackupCallsForTheFileSystem', 'RESOURCE_STAR'): 'see WhatTheInstancesCall; AWS Backup\'s '
        'own managed policies (the backup role\'s) are on "*" too',
    ('boundary', 'KeysThroughSsmAndBackupOnly', 'RESOURCE_STAR'):
        'see WhatTheInstancesCall; only through SSM, AWS Backup and EFS (kms:ViaService)',
    ('deployer', 'RunShellScriptDocument', 'RESOURCE_MISMATCH'):
        'see RunCommandsOnThisStacksInstancesOnly',
}


def _kind(key, document):
    if key[0] == 'templates/deployer/deployer-policy':
        return 'deployer'
    if key[0] == 'templates/deployer/boundary':
        return 'boundary'
    if key[2] == 'assume_role_policy_document':
        return 'trust'
    return 'instance' if key[0] == 'iam/create.yml' else key[0]


@pytest.fixture(scope='module')
def rendered():
    return {key: policies.plain(document) for key, document in policies.rendered_policies().items()}


def findings(document, trust=False):
    """(Sid or TRUST, issue, severity, detail) of every parliament finding, statement by statement."""
    found = []
    for statement in document['Statement']:
        single = {'Version': document['Version'], 'Statement': [statement]}
        policy = parliament.analyze_policy_string(json.dumps(single), include_community_auditors=False)
        for raw in policy.findings:
            finding = parliament.enhance_finding(raw)
            found.append((TRUST if trust else statement.get('Sid', '?'), finding.issue, finding.severity, finding.detail))
    return found


def test_every_policy_the_role_writes_is_found(rendered):
    """The renderer finds the documents the role is known to write; a new one is linted without change here."""
    names = {(key[0], key[2]) for key in rendered}
    assert {('iam/create.yml', 'policy_json'), ('iam/create.yml', 'assume_role_policy_document'),
            ('backup/create.yml', 'assume_role_policy_document'), ('templates/deployer/deployer-policy', 'policy')} <= names
    for document in rendered.values():
        assert document['Version'] == '2012-10-17' and document['Statement']


def test_no_unexplained_finding(rendered):
    unexplained, explained = [], set()
    for key, document in rendered.items():
        kind = _kind(key, document)
        for sid, issue, severity, detail in findings(document, trust=kind == 'trust'):
            reason = SUPPRESSED.get((kind, sid, issue)) or SUPPRESSED.get(('*', sid, issue))
            if reason:
                explained.add((kind if sid != TRUST else '*', sid, issue))
            else:
                unexplained.append((key[0], key[3], sid, issue, severity, detail))
    assert unexplained == []
    # every suppression is still needed: one that no longer matches anything must go
    assert explained == set(SUPPRESSED)


def test_a_broken_statement_is_caught():
    """The linter is live: a typo in an action, a wrong ARN and an unknown condition key are findings."""
    document = {'Version': '2012-10-17', 'Statement': [
        {'Sid': 'Typo', 'Effect': 'Allow', 'Action': 'ssm:GetParamter', 'Resource': '*'},
        {'Sid': 'WrongArn', 'Effect': 'Allow', 'Action': 'ssm:GetParameter',
         'Resource': 'arn:aws:s3:::bucket/key'},
        {'Sid': 'WrongKey', 'Effect': 'Allow', 'Action': 'ec2:AssociateAddress', 'Resource': '*',
         'Condition': {'StringEquals': {'s3:prefix': 'x'}}}]}
    issues = {(sid, issue) for sid, issue, dummy, dummy in findings(document)}
    assert {('Typo', 'UNKNOWN_ACTION'), ('WrongArn', 'RESOURCE_MISMATCH'), ('WrongKey', 'UNKNOWN_CONDITION_FOR_ACTION')} <= issues


def _instance_policy(rendered, scenario):
    return rendered[('iam/create.yml', 'Attach the least-privilege inline policy', 'policy_json', scenario)]


def _resources(statement):
    resource = statement['Resource']
    return resource if isinstance(resource, list) else [resource]


def test_instance_role_has_no_managed_policy():
    """AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter; CloudWatchAgentServerPolicy
    writes any log group. The role attaches no managed policy (and purges the ones earlier versions attached)."""
    tasks = [task for path, task in policies.role_tasks() if path == 'iam/create.yml' and 'amazon.aws.iam_role' in task]
    assert len(tasks) == 1
    assert tasks[0]['amazon.aws.iam_role']['managed_policies'] == []
    assert tasks[0]['amazon.aws.iam_role']['purge_policies'] is True


@pytest.mark.parametrize('scenario', sorted(policies.SCENARIOS))
def test_instance_policy_is_scoped_to_this_stack(rendered, scenario):
    document = _instance_policy(rendered, scenario)
    by_sid = {s['Sid']: s for s in document['Statement']}
    assert all(s['Effect'] == 'Allow' for s in document['Statement'])
    stack, partition_region_account = 'privatepypi-dev', 'aws:ssm:eu-central-1:123456789012'
    assert _resources(by_sid['ReadOnlyThisStacksParameters']) == [
        f'arn:{partition_region_account}:parameter/{stack}', f'arn:{partition_region_account}:parameter/{stack}/*']
    assert by_sid['DecryptThisStacksParametersThroughSsmOnly']['Condition']['StringLike'] == {
        'kms:EncryptionContext:PARAMETER_ARN': f'arn:{partition_region_account}:parameter/{stack}/*'}
    assert _resources(by_sid['MountThisStacksFileSystem']) == [policies.RUNTIME_FACTS['_aws_stack_efs_arn']]
    settings = policies.SCENARIOS[scenario]
    assert ('AssociateOnlyThisStacksAddress' in by_sid) == settings['aws_stack_elastic_ip_enabled']
    assert ('SsmAgentSessionsAndCommands' in by_sid) == settings['aws_stack_instance_agents_enabled']
    assert ('AgentLogsIntoThisStacksLogGroupOnly' in by_sid) == (
        settings['aws_stack_alerting_enabled'] and settings['aws_stack_instance_agents_enabled'])
    # "*" only where the action has no resource type
    assert {s['Sid'] for s in document['Statement'] if '*' in _resources(s)} <= NO_RESOURCE_TYPE
    # no action that reads or writes outside the stack's own resources
    actions = {a for s in document['Statement'] for a in ([s['Action']] if isinstance(s['Action'], str) else s['Action'])}
    assert not {a for a in actions if a.endswith('*') or a.startswith(('iam:', 's3:', 'ssm:Put', 'ssm:Delete', 'ec2:Describe'))} - {
        'ec2:DescribeTags',  # the agent's AutoScalingGroupName dimension (AgentReadsInstanceTags)
        'ec2:DescribeAddresses',  # where the stack's Elastic IP is: the claim and the self-check (ReadWhereTheAddressIs)
        's3:GetObject'}  # the boot reads its bundle (the stack's own bucket and prefix) and the block list object (below)
    assert _resources(by_sid['ReadThisStacksBootstrapBundles']) == [f'arn:aws:s3:::{stack}-boot-123456789012-eu-central-1/bootstrap/*']
    # the upstream's block list: the one object the user named, never its bucket, and only when named
    block_list = settings.get('aws_stack_upstream_block_list_s3_uri', '')
    assert ('ReadTheUpstreamBlockListOnly' in by_sid) == bool(block_list)
    if block_list:
        assert by_sid['ReadTheUpstreamBlockListOnly']['Action'] == 's3:GetObject'
        assert _resources(by_sid['ReadTheUpstreamBlockListOnly']) == ['arn:aws:s3:::acme-security/osv/malicious.json']


def test_certificate_statements_only_with_the_instances_own_tls(rendered):
    for scenario in policies.SCENARIOS:
        by_sid = {s['Sid']: s for s in _instance_policy(rendered, scenario)['Statement']}
        own_tls = scenario == 'budget_domain'
        assert ('WriteOnlyThisIndexsAcmeChallenge' in by_sid) == own_tls, scenario
    challenge = {s['Sid']: s for s in _instance_policy(rendered, 'budget_domain')['Statement']}['WriteOnlyThisIndexsAcmeChallenge']
    assert challenge['Action'] == 'route53:ChangeResourceRecordSets'
    # the one TXT record that proves the domain, nothing else of the zone
    assert challenge['Condition'] == {'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.pypi.example.com'],
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT']}}


def test_elastic_ip_claim_is_bound_to_this_stack(rendered):
    by_sid = {s['Sid']: s for s in _instance_policy(rendered, 'budget')['Statement']}
    address = by_sid['AssociateOnlyThisStacksAddress']
    assert _resources(address) == ['arn:aws:ec2:eu-central-1:123456789012:elastic-ip/'
                                   + policies.RUNTIME_FACTS['_aws_stack_eip_allocation_id']]
    onto = by_sid['AssociateOnlyToThisStacksInstances']
    assert sorted(_resources(onto)) == ['arn:aws:ec2:eu-central-1:123456789012:instance/*',
                                        'arn:aws:ec2:eu-central-1:123456789012:network-interface/*']
    assert onto['Condition'] == {'StringEquals': {'aws:ResourceTag/Stack': 'privatepypi-dev'}}


def test_launch_template_tags_the_network_interfaces():
    """The condition above can match a network interface only if it carries the Stack tag."""
    # compute/create.yml writes the template's settings down once (their digest decides whether a new
    # version is made) and passes them to amazon.aws.ec2_launch_template
    tasks = [task for path, task in policies.role_tasks() if path == 'compute/create.yml' and '_aws_stack_lt_settings' in
             task.get('ansible.builtin.set_fact', {})]
    assert len(tasks) == 1
    specs = {s['resource_type']: s['tags'] for s in tasks[0]['ansible.builtin.set_fact']['_aws_stack_lt_settings']['tag_specifications']}
    assert '_aws_stack_common_tags' in specs['network-interface'] and '_aws_stack_common_tags' in specs['instance']


def test_trust_policies_let_only_their_service_assume_the_role(rendered):
    services = {'iam/create.yml': 'ec2.amazonaws.com', 'backup/create.yml': 'backup.amazonaws.com'}
    for key, document in rendered.items():
        if key[2] == 'assume_role_policy_document':
            assert document['Statement'] == [{'Effect': 'Allow', 'Principal': {'Service': services[key[0]]},
                                              'Action': 'sts:AssumeRole'}]


def _actions(statement):
    return [statement['Action']] if isinstance(statement['Action'], str) else statement['Action']


DEPLOYER = ('templates/deployer/deployer-policy', 'the deploying user', 'policy', 'any')
BOUNDARY = 'arn:aws:iam::????????????:policy/pypi-prod-boundary'


def test_deployer_policy_passes_only_the_stacks_roles(rendered):
    document = rendered[DEPLOYER]
    by_sid = {s['Sid']: s for s in document['Statement']}
    assert by_sid['PassTheseRolesToEc2AndBackupOnly']['Resource'] == 'arn:aws:iam::*:role/pypi-prod-*'
    assert by_sid['PassTheseRolesToEc2AndBackupOnly']['Condition'] == {
        # IfExists: AddRoleToInstanceProfile asks for iam:PassRole with no service named yet
        'StringEqualsIfExists': {'iam:PassedToService': ['ec2.amazonaws.com', 'backup.amazonaws.com']}}
    allowed = [s for s in document['Statement'] if s['Effect'] == 'Allow']
    assert not {a for s in allowed for a in _actions(s) if a.startswith('iam:') and '*' in a}
    for statement in allowed:
        if any(a.startswith('iam:') for a in _actions(statement)):
            assert all(r.startswith(('arn:aws:iam::*:role/pypi-prod-', 'arn:aws:iam::*:instance-profile/pypi-prod-',
                                     'arn:aws:iam::*:role/aws-service-role/')) for r in _resources(statement))


def test_deployer_policy_is_made_for_the_stack_the_user_names():
    """Issue 18, finding 4: the policy named privatepypi-* while the README's example stack was pypi-prod."""
    for stack in ('pypi-prod', 'team-a-index'):
        texts = policies.deployer_parts(stack) + [policies.render_deployer(policies.BOUNDARY_TEMPLATE, stack)]
        assert not [t for t in texts if 'privatepypi' in t], stack
        document = {'Statement': [s for t in texts for s in json.loads(t)['Statement']]}
        named = [r for s in document['Statement'] for r in _resources(s) if r != '*' and 'aws-service-role' not in r
                 and 'aws/service/debian' not in r and 'document/AWS-RunShellScript' not in r
                 and not r.endswith((':key/*', ':instance/*', ':file-system/*', ':hostedzone/*', ':healthcheck/*'))]
        assert named and all(stack in r for r in named), [r for r in named if stack not in r]


def test_roles_are_made_and_given_policies_only_with_the_stacks_boundary(rendered):
    """Issue 18, finding 4: the deployer could make a role of the stack with any inline policy, pass it to EC2 and
    launch an instance with it, or rewrite its trust policy. Now a role is created, and given policies, only with
    the boundary the policy names (which the deployer cannot change), and nothing rewrites a trust policy."""
    document = rendered[DEPLOYER]
    bounded = {'iam:CreateRole', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:AttachRolePolicy',
               'iam:DetachRolePolicy', 'iam:PutRolePermissionsBoundary'}
    allowed = [s for s in document['Statement'] if s['Effect'] == 'Allow']
    for statement in allowed:
        if bounded & set(_actions(statement)):
            assert statement['Condition']['ArnLike'] == {'iam:PermissionsBoundary': BOUNDARY}, statement['Sid']
    assert bounded <= {a for s in allowed for a in _actions(s)}
    never = {'iam:UpdateAssumeRolePolicy', 'iam:DeleteRolePermissionsBoundary', 'iam:CreatePolicyVersion',
             'iam:SetDefaultPolicyVersion', 'iam:CreatePolicy', 'iam:DeletePolicy'}
    assert not never & {a for s in allowed for a in _actions(s)}
    denied = {a for s in document['Statement'] if s['Effect'] == 'Deny' for a in _actions(s)}
    assert {'iam:UpdateAssumeRolePolicy', 'iam:DeleteRolePermissionsBoundary'} <= denied


def test_the_collections_roles_are_created_with_the_boundary():
    made = [(path, task) for path, task in policies.role_tasks() if 'amazon.aws.iam_role' in task
            and task['amazon.aws.iam_role'].get('state', 'present') == 'present']
    assert {path for path, dummy in made} == {'iam/create.yml', 'backup/create.yml'}
    for path, task in made:
        assert 'aws_stack_permissions_boundary' in task['amazon.aws.iam_role']['boundary'], path


def test_network_and_instances_are_deleted_only_with_the_stacks_tag(rendered):
    deletes = [s for s in rendered[DEPLOYER]['Statement'] if s['Effect'] == 'Allow' and _resources(s) == ['*']
               and any(a.startswith(('ec2:Delete', 'ec2:Terminate')) for a in _actions(s))]
    unconditioned = {a for s in deletes if not s.get('Condition') for a in _actions(s) if a.startswith(('ec2:Delete', 'ec2:Terminate'))}
    # a launch template is not tagged (aws_stack_launch_template_tags_enabled: the emulator copies its tags)
    assert unconditioned == {'ec2:DeleteLaunchTemplate', 'ec2:DeleteLaunchTemplateVersions', 'ec2:DeleteRoute', 'ec2:DeleteTags'}
    for statement in deletes:
        if statement.get('Condition'):
            assert statement['Condition'] == {'StringEquals': {'aws:ResourceTag/Stack': 'pypi-prod'}}


def _covers(pattern, value):
    return fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(pattern, value) or pattern == '*'


@pytest.mark.parametrize('scenario', sorted(policies.SCENARIOS))
def test_the_boundary_lets_the_instances_do_what_their_policy_allows(rendered, scenario):
    """The boundary caps the instance role: each action its policy allows must be inside the boundary."""
    boundary = rendered[('templates/deployer/boundary', 'the stack\'s permissions boundary', 'policy', 'any')]
    document = _instance_policy(rendered, scenario)
    for statement in document['Statement']:
        for action in _actions(statement):
            for arn in _resources(statement):
                resource = arn.replace('privatepypi-dev', 'pypi-prod')
                assert any(fnmatch.fnmatchcase(action, a) for s in boundary['Statement'] for a in _actions(s)
                           if any(_covers(r, resource) for r in _resources(s))), (statement['Sid'], action, resource)


def test_the_boundary_names_the_upstreams_block_list_only_when_asked():
    """Written without -e aws_stack_upstream_block_list_s3_uri the boundary lets the instances read no object
    outside the stack's boot bucket; with it, that one object and nothing else of its bucket."""
    def reads(document):
        return sorted(r for s in document['Statement'] if 's3:GetObject' in _actions(s) for r in _resources(s))
    assert reads(policies.boundary_policy()) == ['arn:aws:s3:::pypi-prod-boot-*/*']
    assert reads(policies.boundary_policy(block_list='s3://acme-security/osv/malicious.json')) == [
        'arn:aws:s3:::acme-security/osv/malicious.json', 'arn:aws:s3:::pypi-prod-boot-*/*']


def test_the_boundary_lets_aws_backup_work_on_the_file_system(rendered):
    """What AWS Backup's two managed policies (the backup role's) allow on EFS, tags and keys."""
    boundary = rendered[('templates/deployer/boundary', 'the stack\'s permissions boundary', 'policy', 'any')]
    allowed = {a for s in boundary['Statement'] for a in _actions(s)}
    assert {'elasticfilesystem:Backup', 'elasticfilesystem:Restore', 'elasticfilesystem:CreateFilesystem',
            'tag:GetResources', 'backup:CopyIntoBackupVault', 'kms:CreateGrant'} <= allowed
    assert not {a for a in allowed if a.startswith(('iam:', 'sts:', 'ssm:SendCommand', 'ssm:Put'))}


def test_deployer_policy_grants_what_teardown_restore_and_users_call(rendered):
    """Issue 18, finding 4: teardown reads issued certificates (acm_certificate_info calls GetCertificate), restore
    lists the file system's tags, users.yml with users_apply_now lists its commands."""
    document = rendered[DEPLOYER]
    actions = {a for s in document['Statement'] if s['Effect'] == 'Allow' and not s.get('Condition')
               for a in ([s['Action']] if isinstance(s['Action'], str) else s['Action'])}
    assert {'acm:GetCertificate', 'elasticfilesystem:ListTagsForResource', 'ssm:ListCommands'} <= actions


def test_deployer_policy_grants_key_grants_only_to_aws_backup(rendered):
    """kms:CreateGrant without a condition lets the deployer grant itself any key it can see."""
    document = rendered[DEPLOYER]
    granting = [s for s in document['Statement']
                if 'kms:CreateGrant' in ([s['Action']] if isinstance(s['Action'], str) else s['Action'])]
    wanted = {'Bool': {'kms:GrantIsForAWSResource': 'true'}, 'StringLike': {'kms:ViaService': 'backup.*.amazonaws.com'}}
    assert [s['Condition'] for s in granting] == [wanted]


def test_each_part_of_the_deployer_policy_fits_one_managed_policy():
    """IAM counts a policy's characters without whitespace: 6,144 for a managed policy, 10,240 for all of a role's
    inline policies together, 2,048 for a user's. The one document of 10,400 fitted none (issue 18, finding 4)."""
    texts = policies.deployer_parts('a' * 24) + [policies.render_deployer(policies.BOUNDARY_TEMPLATE, 'a' * 24)]
    assert len(texts) == 3
    sids = []
    for text in texts:
        assert len(''.join(text.split())) <= 6144
        sids += [s['Sid'] for s in json.loads(text)['Statement'] if 'Sid' in s]
    assert len(sids) == len(set(sids))
