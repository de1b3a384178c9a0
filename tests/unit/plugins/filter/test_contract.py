# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract between the aws_stack and pypiserver roles, held where it is crossed: the settings
the instances serve with (host_settings_problems, one set of rules for both roles' preflights) and
the public endpoint that the security groups, the health check and the outputs all read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pathlib

import pytest
import yaml
from ansible_collections.privatepypi.aws.plugins.filter import stack_checks as checks

ROLES = pathlib.Path(__file__).resolve().parents[4] / 'roles'
GOOD = {'health_endpoint': '/health', 'htpasswd_refresh_interval': '2min', 'port': 8080, 'backend_port': 8081,
        'https_port': 443, 'acme_domain': '', 'acme_email': '', 'acme_directory_url': 'https://acme.example/directory'}
AWS_NAMES = yaml.safe_load((ROLES / 'aws_stack' / 'vars' / 'main.yml').read_text())['_aws_stack_host_setting_names']


def test_the_defaults_of_both_roles_pass():
    assert checks.host_settings_problems(GOOD) == []
    assert checks.host_settings_problems(GOOD, AWS_NAMES) == []


@pytest.mark.parametrize('changes, wanted', [
    ({'health_endpoint': 'health'}, "aws_stack_health_check_path 'health' must be a path such as /health"),
    ({'health_endpoint': '/health check'}, "aws_stack_health_check_path '/health check' must be a path"),
    ({'health_endpoint': '/health/../simple'}, "must be a path"),
    ({'health_endpoint': '/simple/health'}, "is under a path the index serves"),
    ({'health_endpoint': '/packages'}, "is under a path the index serves"),
    ({'htpasswd_refresh_interval': '2 minutes'}, "aws_stack_htpasswd_refresh_interval '2 minutes' must be a positive number"),
    ({'htpasswd_refresh_interval': '0min'}, "must be a positive number"),
    ({'port': 70000}, "aws_stack_index_port '70000' must be a TCP port"),
    ({'port': 8081}, "aws_stack_index_port (8081) must differ from the instances' pypiserver port"),
    ({'port': 8082}, "must differ from the instances' pypiserver port (8081) and the three ports after it"),
    ({'port': 8083}, "must differ from the instances' pypiserver port (8081) and the three ports after it"),
    ({'port': 8084}, "must differ from the instances' pypiserver port (8081) and the three ports after it"),
    ({'port': 443, 'acme_domain': 'pypi.example.com'}, "aws_stack_index_port (443) must differ from the instances' HTTPS"),
    ({'acme_email': 'ops@@example'}, "aws_stack_acme_email 'ops@@example' must be an e-mail address"),
    ({'acme_directory_url': 'http://acme.example/directory'}, "aws_stack_acme_directory_url 'http://acme.example/directory'"),
])
def test_each_rule_names_the_variable_the_user_set(changes, wanted):
    problems = checks.host_settings_problems(dict(GOOD, **changes), AWS_NAMES)
    assert len(problems) == 1 and wanted in problems[0], problems
    # the pypiserver role's own preflight names its own options
    assert 'pypiserver_' in checks.host_settings_problems(dict(GOOD, **changes))[0]


UPSTREAM_ON = {'upstream_enabled': True, 'upstream_url': 'https://upstream.example/simple/',
               'upstream_file_hosts': ['files.upstream.example'], 'upstream_reserved_patterns': ['acme-*'],
               'upstream_claimed_names': ['acme-tools'], 'upstream_cooldown_days': 7, 'upstream_cooldown_exceptions': []}


@pytest.mark.parametrize('changes, wanted', [
    ({'upstream_url': ''}, "aws_stack_upstream_url '' must be the http(s) URL of a PEP 691 index"),
    ({'upstream_url': 'ftp://upstream.example/simple/'}, "aws_stack_upstream_url 'ftp://upstream.example/simple/'"),
    ({'upstream_file_hosts': ['files.example/path']}, "aws_stack_upstream_file_hosts must be a list of host or host:port"),
    ({'upstream_reserved_patterns': ['Acme_*']}, "aws_stack_upstream_reserved_patterns must be a list of normalized"),
    ({'upstream_claimed_names': 'acme-*'}, "aws_stack_upstream_claimed_names must be a list"),
    ({'upstream_cooldown_days': 'a week'}, "aws_stack_upstream_cooldown_days 'a week' must be 0"),
    ({'upstream_cooldown_exceptions': ['libx*']}, "aws_stack_upstream_cooldown_exceptions must be a list of normalized"),
    # the instance metadata service (the instance's credentials) is never an index
    ({'upstream_url': 'http://169.254.169.254/latest/'}, "aws_stack_upstream_url 'http://169.254.169.254/latest/' is a link-local"),
    # one object: the key becomes the instance role's s3:GetObject resource, where '*' and '?' are wildcards
    ({'upstream_block_list_s3_uri': 's3://acme-security/osv/*.json'},
     "aws_stack_upstream_block_list_s3_uri 's3://acme-security/osv/*.json' must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://acme-security/osv/mal?.json'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://acme-security/osv/'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://acme-security'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 'https://acme-security.s3.amazonaws.com/osv.json'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://Acme_Security/osv.json'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://acme-security/osv/../other.json'}, "must name one S3 object"),
    ({'upstream_block_list_s3_uri': 's3://acme-security/osv list.json'}, "must name one S3 object"),
])
def test_the_upstream_rules_name_the_variable_the_user_set(changes, wanted):
    assert checks.host_settings_problems(dict(GOOD, **UPSTREAM_ON), AWS_NAMES) == []
    problems = checks.host_settings_problems(dict(GOOD, **dict(UPSTREAM_ON, **changes)), AWS_NAMES)
    assert len(problems) == 1 and wanted in problems[0], problems
    assert 'pypiserver_upstream_' in checks.host_settings_problems(dict(GOOD, **dict(UPSTREAM_ON, **changes)))[0]
    # off, nothing of it is asked for
    assert checks.host_settings_problems(dict(GOOD, **dict(UPSTREAM_ON, upstream_enabled=False, **changes))) == []


def test_a_block_list_object_passes():
    for uri in ('', 's3://acme-security/osv/malicious.json', 's3://a.b-c/MAL-2026-1.json', 's3://abc/x'):
        assert checks.host_settings_problems(dict(GOOD, **UPSTREAM_ON, upstream_block_list_s3_uri=uri), AWS_NAMES) == [], uri


GITHUB = {'issuer': 'github', 'projects': ['acme-tools'], 'repository': 'acme/tools', 'workflow': 'release.yml'}
GITLAB = {'issuer': 'gitlab', 'projects': ['acme-*'], 'repository': 'acme/platform/lib', 'workflow': '.gitlab-ci.yml',
          'ref': 'refs/tags/v*', 'environment': 'release', 'issuer_url': 'https://gitlab.example.com'}
CUSTOM = {'issuer': 'https://ci.example.com', 'projects': ['acme-bot'], 'claims': {'sub': 'pipeline:acme/bot'},
          'algorithms': ['ES256'], 'name': 'buildbot'}


@pytest.mark.parametrize('changes, wanted', [
    ({'oidc_audience': ''}, "aws_stack_oidc_audience '' must be 1 to 128"),
    ({'oidc_token_minutes': 0}, "aws_stack_oidc_token_minutes '0' must be 1 to 60"),
    ({'oidc_token_minutes': 120}, "aws_stack_oidc_token_minutes '120' must be 1 to 60"),
    ({'oidc_publishers': 'github'}, "aws_stack_oidc_publishers must be a list"),
    ({'oidc_publishers': [dict(GITHUB, projects=[])]}, "trusted publisher 1: projects must be a non-empty list"),
    ({'oidc_publishers': [dict(GITHUB, projects=['Acme_Tools'])]}, "projects must be a non-empty list of normalized"),
    ({'oidc_publishers': [dict(GITHUB, issuer='travis')]}, "issuer 'travis' must be github, gitlab or the https URL"),
    ({'oidc_publishers': [dict(CUSTOM, issuer='http://ci.example.com')]}, "must be github, gitlab or the https URL"),
    ({'oidc_publishers': [dict(GITHUB, repository='acme')]}, "trusted publisher 1: repository must be owner/name"),
    ({'oidc_publishers': [dict(GITLAB, repository='lib')]}, "repository must be group/project"),
    ({'oidc_publishers': [dict(GITHUB, workflow='.github/workflows/release.yml')]}, "workflow must be the workflow file name"),
    ({'oidc_publishers': [dict(GITHUB, claims={'sub': 'x'})]}, "claims not known for issuer github"),
    ({'oidc_publishers': [dict(GITHUB, ref='')]}, "ref must be a non-empty string"),
    ({'oidc_publishers': [dict(GITLAB, issuer_url='http://gitlab.example.com')]}, "issuer_url 'http://gitlab.example.com'"),
    ({'oidc_publishers': [dict(CUSTOM, claims={})]}, "trusted publisher 1 (buildbot): claims must map"),
    ({'oidc_publishers': [dict(CUSTOM, algorithms=['HS256'])]}, "algorithms must be a list of RS256, ES256"),
    ({'oidc_publishers': [dict(CUSTOM, name='Build Bot')]}, "name must be lower-case letters"),
    ({'oidc_publishers': [CUSTOM, CUSTOM]}, "two trusted publishers have one name"),
    ({'oidc_publishers': ['acme-tools']}, "trusted publisher 1 must be a mapping"),
])
def test_the_trusted_publisher_rules_name_the_variable_the_user_set(changes, wanted):
    good = dict(GOOD, oidc_publishers=[GITHUB, GITLAB, CUSTOM], oidc_audience='pypi.example.com', oidc_token_minutes=15)
    assert checks.host_settings_problems(good, AWS_NAMES) == []
    problems = checks.host_settings_problems(dict(good, **changes), AWS_NAMES)
    assert len(problems) == 1 and wanted in problems[0], problems
    assert 'pypiserver_oidc_' in checks.host_settings_problems(dict(good, **changes))[0]


def test_http_issuers_only_when_the_setting_allows_them():
    publisher = dict(GITHUB, issuer_url='http://172.17.0.1:18092')
    assert checks.host_settings_problems({'oidc_publishers': [publisher]})
    assert checks.host_settings_problems({'oidc_publishers': [publisher], 'oidc_insecure_issuers': True}) == []


def test_a_setting_left_out_is_not_checked():
    assert checks.host_settings_problems({'port': 8080}) == []


def test_the_aws_stack_role_hands_over_exactly_the_settings_it_checks():
    """compute/create.yml passes each checked setting from _aws_stack_host_settings, and preflight
    checks all of them: nothing is handed over unchecked under another expression."""
    role_vars = yaml.safe_load((ROLES / 'aws_stack' / 'vars' / 'main.yml').read_text())
    settings = role_vars['_aws_stack_host_settings']
    assert set(settings) == set(checks.HOST_SETTINGS) == set(AWS_NAMES)
    task = yaml.safe_load((ROLES / 'aws_stack' / 'tasks' / 'compute' / 'create.yml').read_text())[0]
    assert task['ansible.builtin.include_role']['tasks_from'] == 'user_data'
    handed = task['vars']
    for key in settings:
        assert f'_aws_stack_host_settings.{key}' in handed[f'pypiserver_{key}'], key
    preflight = (ROLES / 'aws_stack' / 'tasks' / 'preflight' / 'main.yml').read_text()
    assert '_aws_stack_host_settings | privatepypi.aws.host_settings_problems(_aws_stack_host_setting_names)' in preflight
    # ... before the first AWS call
    assert preflight.index('host_settings_problems') < preflight.index('preflight/connection.yml')


BUDGET = {'load_balancer_enabled': False, 'elastic_ip_enabled': True, 'https_enabled': False, 'index_port': 8080,
          'fqdn': '', 'load_balancer_dns_name': '', 'elastic_ip': '203.0.113.7'}
PROFESSIONAL = {'load_balancer_enabled': True, 'elastic_ip_enabled': False, 'https_enabled': True, 'index_port': 8080,
                'fqdn': 'pypi.example.com', 'load_balancer_dns_name': 'shared-alb-1.elb.example', 'elastic_ip': ''}


@pytest.mark.parametrize('settings, url, port, health', [
    (BUDGET, 'http://203.0.113.7:8080/', 8080, {'type': 'HTTP', 'port': 8080, 'ip_address': '203.0.113.7'}),
    (dict(BUDGET, https_enabled=True, fqdn='pypi.example.com'), 'https://pypi.example.com/', 443,
     {'type': 'HTTPS', 'port': 443, 'fqdn': 'pypi.example.com'}),
    (PROFESSIONAL, 'https://pypi.example.com/', 443, {'type': 'HTTPS', 'port': 443, 'fqdn': 'pypi.example.com'}),
    (dict(PROFESSIONAL, fqdn=''), 'https://shared-alb-1.elb.example/', 443,
     {'type': 'HTTPS', 'port': 443, 'fqdn': 'shared-alb-1.elb.example'}),
    (dict(PROFESSIONAL, https_enabled=False, fqdn=''), 'http://shared-alb-1.elb.example/', 80,
     {'type': 'HTTP', 'port': 80, 'fqdn': 'shared-alb-1.elb.example'}),
    (dict(BUDGET, elastic_ip_enabled=False, elastic_ip=''), '', 8080, {}),
], ids=['budget', 'budget-tls', 'professional', 'professional-certificate-only', 'professional-http', 'no-public-address'])
def test_one_public_endpoint_for_every_reader(settings, url, port, health):
    endpoint = checks.public_endpoint(settings)
    assert (endpoint['url'], endpoint['port'], endpoint['health']) == (url, port, health)
    assert endpoint['simple_url'] == (url + 'simple/' if url else '')
    # the security groups read the port before the host exists
    unknown = checks.public_endpoint(dict(settings, fqdn='', load_balancer_dns_name='', elastic_ip=''))
    assert unknown['port'] == port and unknown['url'] in ('', url)


def test_the_readers_of_the_public_endpoint_compute_none_of_their_own():
    tasks = ROLES / 'aws_stack' / 'tasks'
    readers = {'security_groups/create.yml': '_aws_stack_public_endpoint.port',
               'monitoring/health_check.yml': '_aws_stack_public_endpoint.health',
               'outputs/main.yml': '_aws_stack_public_endpoint.url'}
    for path, read in readers.items():
        text = (tasks / path).read_text()
        assert read in text, path
        # the security groups also admit the instances' own port (aws_stack_index_port) from the load
        # balancer or the index's networks; only the public port is the endpoint's
        if path != 'security_groups/create.yml':
            assert 'aws_stack_index_port' not in text and '_aws_stack_https_enabled' not in text, \
                f'{path} works out an endpoint of its own'
