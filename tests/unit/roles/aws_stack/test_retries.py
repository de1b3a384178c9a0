# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's retries of AWS's eventual consistency, evaluated as Ansible evaluates them: each task's
own `until` condition against the failure the module reports with AWS's own words. A retry must fire
for each wording AWS uses for that wait, and for nothing else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[4]
TASKS = ROOT / 'roles' / 'aws_stack' / 'tasks'
PROFILE_ARN = 'arn:aws:iam::123456789012:instance-profile/pypi-prod-instance'
ROLE_ARN = 'arn:aws:iam::123456789012:role/pypi-prod-backup'
TEMPLATE = 'You must use a valid fully-formed launch template. '


def _task(path, name):
    return next(t for t in yaml.safe_load((TASKS / path).read_text()) if t.get('name') == name)


def _stops(task, msg):
    """Whether the until loop ends on a failed call with this message (False: it is retried)."""
    result = {'failed': True, 'msg': msg}
    templar = Templar(loader=DataLoader(), variables={task['register']: result})
    return templar.evaluate_conditional(trust_as_template(task['until']))


GROUP = ('compute/create.yml', 'Create the AutoScalingGroup')
SELECTION = ('backup/create.yml', "Select the stack's package file system")
LISTENERS = ('load_balancer/shared.yml',
             "Create the shared application load balancer and its listeners, or bring the listeners of this stack's in line")
CERT_ARN = 'arn:aws:acm:eu-central-1:123456789012:certificate/0b5e6c1a-7d1f-4f4e-9c55-0e0c2a1f9d3e'

RETRIED = {
    # what ec2_launch_template stores (by ARN): terraform-provider-aws 29866, amazon-ec2-gitlab-runner 16
    'profile by ARN': (GROUP, f'Failed to create Auto Scaling Group: An error occurred (ValidationError) when calling '
                              f'the CreateAutoScalingGroup operation: {TEMPLATE}Value ({PROFILE_ARN}) for parameter '
                              'iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN'),
    'profile by name': (GROUP, f'{TEMPLATE}Value (pypi-prod-instance) for parameter iamInstanceProfile.name is invalid. '
                               'Invalid IAM Instance Profile name'),
    'backup role not assumable yet': (SELECTION, f'An error occurred (InvalidParameterValueException) when calling the '
                                                 f'CreateBackupSelection operation: IAM Role {ROLE_ARN} cannot be assumed '
                                                 'by AWS Backup'),
    'backup role policy not in effect yet': (SELECTION, f'An error occurred (InvalidParameterValueException) when calling '
                                                        f'the CreateBackupSelection operation: IAM Role {ROLE_ARN} is not '
                                                        'authorized to call tag:GetResources'),
    # terraform-provider-aws 41789, 10510: the listener right after ACM issued the certificate
    'certificate not found yet': (LISTENERS, f'Failed to create listener: An error occurred (CertificateNotFound) when '
                                             f"calling the CreateListener operation: Certificate '{CERT_ARN}' not found"),
    'certificate unsupported yet': (LISTENERS, 'An error occurred (UnsupportedCertificate) when calling the CreateListener '
                                               f"operation: The certificate '{CERT_ARN}' must have a fully-qualified domain name"),
}
NOT_RETRIED = {
    'group: another error': (GROUP, f'{TEMPLATE}The specified instance type is not supported'),
    'group: no message': (GROUP, ''),
    'selection: another error': (SELECTION, 'AccessDeniedException: not authorized to perform backup:CreateBackupSelection'),
    'listener: another error': (LISTENERS, 'An error occurred (TooManyListeners) when calling the CreateListener operation'),
}


@pytest.mark.parametrize('case', sorted(RETRIED))
def test_aws_propagation_answers_are_retried(case):
    (path, name), msg = RETRIED[case]
    task = _task(path, name)
    assert int(task['retries']) * int(task['delay']) >= 60
    assert _stops(task, msg) is False


@pytest.mark.parametrize('case', sorted(NOT_RETRIED))
def test_other_failures_stop_at_once(case):
    (path, name), msg = NOT_RETRIED[case]
    assert _stops(_task(path, name), msg) is True


@pytest.mark.parametrize('where', [GROUP, SELECTION, LISTENERS])
def test_success_ends_the_loop(where):
    task = _task(*where)
    templar = Templar(loader=DataLoader(), variables={task['register']: {'changed': True}})
    assert templar.evaluate_conditional(trust_as_template(task['until'])) is True
