# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The aws_stack role's cross-field input checks (privatepypi.aws stack_checks filters), in milliseconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.privatepypi.aws.plugins.filter import stack_checks as checks

NETWORK = {'vpc_cidr': '10.42.0.0/16', 'public_subnet_cidrs': ['10.42.0.0/24', '10.42.1.0/24'],
           'private_subnet_cidrs': ['10.42.10.0/24', '10.42.11.0/24'], 'private_subnets': True,
           'index_cidrs': ['0.0.0.0/0'], 'ssh_cidrs': [], 'az_count': 2}
TOPOLOGY = {'instance_count': 2, 'instance_count_minimum': 2, 'instance_count_maximum': 4, 'elastic_ip_enabled': False,
            'instances_in_private_subnets': True, 'private_subnets': True, 'nat_gateway_enabled': True,
            'load_balancer_enabled': True, 'az_count': 2, 'certificate_arn': '', 'bastion_enabled': False,
            'ssh_cidrs': [], 'refresh_min_healthy_percentage': 50, 'refresh_max_healthy_percentage': 150}
ALARMS = {'cpu_high': {'threshold': 80, 'period': 300, 'evaluation_periods': 3},
          'status_check_failed': {'period': 60, 'evaluation_periods': 2}}
ALERTING = {'alert_emails': ['ops@example.com'], 'alarms': {}, 'alarm_defaults': ALARMS}


def with_(base, **changes):
    return dict(base, **changes)


def test_the_profiles_defaults_pass():
    assert checks.network_problems(NETWORK) == []
    assert checks.topology_problems(TOPOLOGY) == []
    assert checks.alerting_problems(ALERTING) == []
    assert checks.backup_problems({'schedule': 'cron(0 6 * * ? *)', 'retention_days': 365}) == []


@pytest.mark.parametrize('cidr', ['10.0.0.300/24', '10.0.0.0', '10.0.0.0/33', 'fe80::/64', '010.0.0.0/8', 'x/8', 42])
def test_malformed_cidrs_are_named(cidr):
    assert checks.network_problems(with_(NETWORK, index_cidrs=[cidr])) == [
        f'aws_stack_index_cidrs: {cidr} is not an IPv4 CIDR such as 203.0.113.0/24']


def test_host_bits_are_refused_and_a_host_route_is_fine():
    assert checks.network_problems(with_(NETWORK, ssh_cidrs=['192.0.2.1/24'])) == [
        'aws_stack_ssh_cidrs: 192.0.2.1/24 has host bits set (write the network address)']
    assert checks.network_problems(with_(NETWORK, ssh_cidrs=['192.0.2.1/32'])) == []


def test_network_rules_across_fields():
    problems = checks.network_problems(with_(NETWORK, index_cidrs=[], ssh_cidrs=['0.0.0.0/0'], az_count=3,
                                             vpc_cidr=['10.0.0.0/16']))
    assert problems == [
        'aws_stack_vpc_cidr: [\'10.0.0.0/16\'] is not an IPv4 CIDR such as 203.0.113.0/24',
        'aws_stack_index_cidrs must name at least one network that may use the index',
        'aws_stack_ssh_cidrs must not contain 0.0.0.0/0 (name your own network, or leave it empty and use SSM Session Manager)',
        'aws_stack_public_subnet_cidrs needs one CIDR per availability zone (aws_stack_az_count = 3)',
        'aws_stack_private_subnet_cidrs needs one CIDR per availability zone (aws_stack_az_count = 3)',
    ]
    # private subnets switched off: their list is not counted
    assert checks.network_problems(with_(NETWORK, private_subnets=False, private_subnet_cidrs=[])) == []
    assert checks.network_problems(with_(NETWORK, index_cidrs='0.0.0.0/0')) == [
        'aws_stack_index_cidrs must be a list of CIDRs']


def test_instance_counts():
    assert checks.topology_problems(with_(TOPOLOGY, instance_count=1))[0].startswith(
        'aws_stack_instance_count is 1 but this profile allows 2 to 4 instances')
    assert checks.topology_problems(with_(TOPOLOGY, instance_count='3')) == []


@pytest.mark.parametrize('changes, problem', [
    ({'elastic_ip_enabled': True}, 'an Elastic IP can only serve 1 instance'),
    ({'nat_gateway_enabled': False}, 'instances in private subnets need'),
    ({'private_subnets': False, 'instances_in_private_subnets': False}, 'a NAT gateway needs'),
    ({'az_count': 1}, 'a load balancer needs aws_stack_az_count >= 2'),
    ({'load_balancer_enabled': False, 'certificate_arn': 'arn:aws:acm:eu-central-1:123456789012:certificate/1'},
     'a certificate ARN needs the load balancer'),
    ({'bastion_enabled': True}, 'a bastion needs aws_stack_ssh_cidrs'),
    ({'refresh_min_healthy_percentage': 101}, 'an instance refresh keeps'),
    ({'refresh_max_healthy_percentage': 99}, 'an instance refresh keeps'),
    ({'refresh_min_healthy_percentage': 0, 'refresh_max_healthy_percentage': 200}, 'an instance refresh keeps'),
])
def test_topology_rules(changes, problem):
    problems = checks.topology_problems(with_(TOPOLOGY, **changes))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize('alarms, problem', [
    ({'cpu_hgh': {'threshold': 1}}, 'aws_stack_alarms names an unknown alarm cpu_hgh (known: cpu_high, status_check_failed)'),
    ({'cpu_high': 90}, 'alarm cpu_high must be a mapping of threshold, period and evaluation_periods'),
    ({'cpu_high': {'period': 45}}, 'alarm cpu_high: period 45 must be 10, 30 or a multiple of 60 seconds'),
    ({'cpu_high': {'evaluation_periods': 0}}, 'alarm cpu_high: evaluation_periods 0 must be 1 or more'),
    ({'cpu_high': {'evaluation_periods': 289}}, 'alarm cpu_high: evaluation_periods 289 must be 1 or more, and cover a day'),
    ({'cpu_high': {'threshold': 0}}, 'alarm cpu_high: threshold 0 must be a number above 0'),
    ({'cpu_high': {'threshold': 'ninety'}}, 'alarm cpu_high: threshold ninety must be a number above 0'),
    ({'cpu_high': {'threshold': 101}}, 'alarm cpu_high: threshold 101 is a percentage, at most 100'),
    ({'status_check_failed': {'threshold': 1}}, 'alarm status_check_failed takes no threshold'),
])
def test_alarm_overrides(alarms, problem):
    problems = checks.alerting_problems(with_(ALERTING, alarms=alarms))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize('enabled', [[], ['status_check_failed'], ['cpu_high', 'status_check_failed']])
def test_any_selection_of_known_alarms_passes(enabled):
    assert checks.alerting_problems(with_(ALERTING, enabled=enabled)) == []


def test_alarm_override_merges_into_the_catalogue():
    merged = checks.alarm_settings(ALARMS, {'cpu_high': {'threshold': 90}})
    assert merged['cpu_high'] == {'threshold': 90, 'period': 300, 'evaluation_periods': 3}
    assert ALARMS['cpu_high']['threshold'] == 80


@pytest.mark.parametrize('changes, problem', [
    ({'alert_emails': []}, 'aws_stack_alert_emails is empty'),
    ({'alert_emails': 'ops@example.com'}, 'aws_stack_alert_emails must be a list'),
    ({'alert_emails': ['ops@example.com', 'on-call@@example']},
     "alert e-mail 'on-call@@example' is not an address like ops@example.com"),
    ({'alarms': []}, 'aws_stack_alarms must be a mapping'),
    ({'enabled': 'cpu_high'}, 'aws_stack_alarms_enabled must be a list'),
    ({'enabled': ['cpu_high', 'cpu_hihg']}, 'aws_stack_alarms_enabled names unknown alarms cpu_hihg (known: cpu_high,'),
    ({'enabled': ['cpu_high', 'cpu_high']}, 'aws_stack_alarms_enabled names cpu_high more than once'),
])
def test_alerting_rules(changes, problem):
    problems = checks.alerting_problems(with_(ALERTING, **changes))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize('schedule, days, count', [
    ('cron(0 6 * * ? *)', 365, 0), ('cron(0 6 ? * MON *)', '30', 0), ('cron(0 6 * * * *)', 1, 1),
    ('0 6 * * ? *', 1, 1), ('cron(0 6 * * ?)', 1, 1), ('cron(0 6 * * ? *)', 0, 1), ('cron(0 6 * * ? *)', '1.5', 1),
    (None, True, 2),
])
def test_backup_schedule(schedule, days, count):
    assert len(checks.backup_problems({'schedule': schedule, 'retention_days': days})) == count


def test_users_never_reveal_passwords():
    users = [{'name': 'alice', 'password': 'short-pw'}, {'name': 'bob', 'password': 'Pass123-whatever'},
             {'name': 'alice', 'password': 'a-long-enough-password'}, {'name': 'bad name', 'password': 'x' * 20},
             {'name': 'carol', 'password': 'é' * 40}, {'name': 'dave', 'password': 'Pass123-change-me!'},
             {'name': 'erin', 'password': None}]
    problems = checks.user_problems(users, 12, ['Pass123-change-me!'], 50)
    assert problems == [
        'user alice has an empty or short password (fewer than 12 characters)',
        'user bob has the publicly documented example password',
        'user alice is listed twice',
        'user #4 needs a name of letters, digits, ".", "_", "@" or "-"',
        'user carol has a password longer than 72 bytes (bcrypt limit)',
        'user dave has the publicly documented example password',
        'user erin has an empty or short password (fewer than 12 characters)',
    ]
    assert not any(u['password'] and u['password'] in ' '.join(problems) for u in users)


def test_user_list_shape_and_size():
    assert checks.user_problems({'name': 'alice'}) == ['aws_stack_users (pypi_users) must be a list of {name, password}']
    assert checks.user_problems([]) == ['no users given']
    many = [{'name': f'u{i}', 'password': 'a-long-enough-password'} for i in range(3)]
    assert checks.user_problems(many, max_users=2) == ['3 users are more than the 2 that fit in one SSM parameter']


def test_users_must_fit_an_advanced_ssm_parameter():
    def users(count, length):
        return [{'name': f'u{i:03d}'.ljust(length, 'x'), 'password': 'a-long-enough-password'} for i in range(count)]
    # 80 users with 40-character names: 80 * 102 = 8,160 characters, Advanced holds them
    assert checks.user_problems(users(80, 40)) == []
    # 50 users with 25-character names: 4,350 characters, over Standard, fine for Advanced
    assert checks.user_problems(users(50, 25)) == []
    # 100 users with 40-character names: 10,200 characters
    problems = checks.user_problems(users(100, 40))
    assert len(problems) == 1 and problems[0].startswith(
        "100 users need 10200 characters in the users parameter, more than the 8192 that SSM's Advanced tier holds")
    assert checks.user_problems(users(81, 40)) != []
    assert checks.user_problems(users(3, 10), max_chars=200) != [] and checks.user_problems(users(2, 10), max_chars=200) == []


@pytest.mark.parametrize('name', ['network_problems', 'topology_problems', 'alerting_problems', 'backup_problems'])
def test_settings_must_be_a_mapping(name):
    with pytest.raises(AnsibleFilterError):
        checks.FilterModule().filters()[name](['not', 'a', 'mapping'])


def test_access_problems_roles_patterns_and_anonymous_upload():
    users = [{'name': 'alice', 'password': 'x' * 16, 'role': 'admin'},
             {'name': 'ci', 'password': 'y' * 16, 'role': 'uploader', 'projects': ['team-*', 'tools']},
             {'name': 'rita', 'password': 'z' * 16}]
    assert checks.access_problems(users) == []
    assert checks.access_problems(users, ['list', 'download']) == [
        "pypiserver_authenticate must include 'update': nothing anonymous may ever upload"]
    bad = [{'name': 'a', 'role': 'owner'}, {'name': 'b', 'role': 'uploader', 'projects': ['Team_*']},
           {'name': 'c', 'role': 'uploader', 'projects': 'team-*'}, {'name': 'd', 'projects': ['x']}]
    problems = checks.access_problems(bad)
    assert problems[0] == "user a has the role 'owner': a role is one of reader, uploader, admin"
    assert [p.split(' ')[1] for p in problems[1:]] == ['b', 'c', 'd'] and 'is a reader' in problems[3]
    # empty patterns grant no project: an uploader without any is refused, '*' is every project
    for projects in ({}, {'projects': []}):
        assert checks.access_problems([{'name': 'e', 'role': 'uploader', **projects}]) == [
            "user e is an uploader without projects: empty patterns grant no project; give projects, e.g. [team-*], "
            "or ['*'] for every project, or the role reader"]
    assert checks.access_problems([{'name': 'e', 'role': 'uploader', 'projects': ['*']}]) == []
    many = [{'name': f'u{n:03d}'.ljust(40, 'x'), 'role': 'reader'} for n in range(70)]
    assert 'need 8330 characters' in checks.access_problems(many)[0]
    assert checks.access_problems(many[:45]) == []


def test_access_problems_never_names_a_password():
    users = [{'name': 'alice', 'password': 'secret-password-1', 'role': 'boss'}]
    assert 'secret-password-1' not in ' '.join(checks.access_problems(users))


PLAIN = {'https_enabled': False, 'acknowledged': False}


@pytest.mark.parametrize('cidrs', [
    ['10.0.0.0/8'], ['172.16.5.0/24', '192.168.1.7/32'], ['127.0.0.0/8', '172.28.0.0/24'],
    ['100.64.0.0/10'], ['fd00::/8'], [],
])
def test_plain_http_to_private_networks_needs_no_acknowledgement(cidrs):
    assert checks.plaintext_problems(dict(PLAIN, index_cidrs=cidrs)) == []


@pytest.mark.parametrize('cidrs, named', [
    (['0.0.0.0/0'], '0.0.0.0/0'),
    (['10.0.0.0/8', '203.0.113.0/24'], '203.0.113.0/24'),
    # wider than a private range: it reaches beyond it
    (['172.0.0.0/8'], '172.0.0.0/8'),
    (['::/0'], '::/0'),
])
def test_plain_http_beyond_private_networks_is_refused(cidrs, named):
    problems = checks.plaintext_problems(dict(PLAIN, index_cidrs=cidrs))
    assert len(problems) == 1 and named in problems[0] and 'aws_stack_plaintext_acknowledged' in problems[0]
    assert '10.0.0.0/8' not in problems[0]


@pytest.mark.parametrize('change', [{'https_enabled': True}, {'acknowledged': True}, {'acknowledged': 'yes'}])
def test_https_or_an_acknowledgement_allows_public_cidrs(change):
    assert checks.plaintext_problems(dict(PLAIN, index_cidrs=['0.0.0.0/0'], **change)) == []


def test_malformed_cidrs_are_left_to_the_network_check():
    assert checks.plaintext_problems(dict(PLAIN, index_cidrs=['10.0.0.300/24', 'nonsense'])) == []


def test_plaintext_problems_wants_a_dict():
    with pytest.raises(AnsibleFilterError):
        checks.plaintext_problems(['0.0.0.0/0'])


REACH = {'upstream_enabled': True, 'upstream_url': 'https://upstream.example/simple/',
         'instances_in_private_subnets': True, 'nat_gateway_enabled': True, 'vpc_cidr': '10.42.0.0/16'}


@pytest.mark.parametrize('changes', [
    {},  # professional: private subnets through the NAT gateway
    {'instances_in_private_subnets': False, 'nat_gateway_enabled': False},  # budget: the internet gateway
    {'nat_gateway_enabled': False, 'upstream_url': 'http://10.42.7.9:3141/root/pypi/+simple/'},  # a mirror in the VPC
    {'upstream_enabled': False, 'nat_gateway_enabled': False, 'upstream_url': 'http://127.0.0.1/'},  # off: not asked
])
def test_an_upstream_the_instances_can_reach_passes(changes):
    assert checks.upstream_reach_problems(with_(REACH, **changes)) == []


@pytest.mark.parametrize('changes, wanted', [
    ({'nat_gateway_enabled': False},
     "aws_stack_upstream_url 'https://upstream.example/simple/' is unreachable: the instances are in private subnets and "
     "aws_stack_nat_gateway_enabled is false"),
    ({'nat_gateway_enabled': 'false', 'upstream_url': 'http://192.168.5.5/simple/'}, "is unreachable"),
    ({'upstream_url': 'http://127.0.0.1:8080/simple/'}, "aws_stack_upstream_url 'http://127.0.0.1:8080/simple/' names the instance itself"),
    ({'upstream_url': 'http://localhost:3141/simple/'}, "names the instance itself"),
])
def test_an_upstream_the_instances_cannot_reach_is_named(changes, wanted):
    problems = checks.upstream_reach_problems(with_(REACH, **changes))
    assert len(problems) == 1 and wanted in problems[0], problems


def test_upstream_reach_wants_a_mapping():
    with pytest.raises(AnsibleFilterError):
        checks.upstream_reach_problems(['not', 'a', 'mapping'])


LOCK = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver", "files", "requirements-host.lock")
SHA = "--hash=sha256:" + "0" * 64


def test_the_roles_own_lock_is_hash_pinned():
    with open(LOCK, encoding="utf-8") as f:
        assert checks.pip_lock_problems(f.read()) == []


@pytest.mark.parametrize(("text", "problem"), [
    ("boto3 " + SHA + "\n", "is not pinned with == to one version"),
    ("boto3>=1.30 " + SHA + "\n", "is not pinned with == to one version"),
    ("boto3==1.30.0\n", "has no --hash=sha256"),
    ("boto3==1.30.0 \\\n    --hash=md5:0123\n", "is not a sha256 hash"),
    ("--index-url http://elsewhere.example/simple/\nboto3==1.30.0 " + SHA + "\n", "the option --index-url is not allowed"),
    ("--find-links /tmp/wheels\n", "the option --find-links is not allowed"),
    ("-e ./src\n", "the option -e is not allowed"),
    ("-r other.txt\n", "the option -r is not allowed"),
    ("demo @ https://files.example/demo-1.0-py3-none-any.whl " + SHA + "\n", "is not pinned with == to one version"),
    ("# nothing but comments\n\n", "the lock lists no requirement"),
])
def test_pip_lock_problems_refuse_what_pip_would_not_install_exactly(text, problem):
    problems = checks.pip_lock_problems(text)
    assert any(problem in p for p in problems), problems


def test_pip_lock_problems_accept_markers_extras_and_continued_lines():
    text = ("cffi==2.1.1 ; platform_python_implementation != 'PyPy' \\\n    " + SHA + " \\\n    " + SHA + "\n"
            "    # via cryptography\nuvicorn[standard]==0.30.0 " + SHA + "  # a comment\n")
    assert checks.pip_lock_problems(text) == []


def test_pip_lock_problems_need_text():
    with pytest.raises(AnsibleFilterError):
        checks.pip_lock_problems(["boto3==1.0"])
