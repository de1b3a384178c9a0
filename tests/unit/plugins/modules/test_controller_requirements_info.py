# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.controller_requirements_info: the controller's libraries and AWS credentials as boto3
finds them (issue 18, finding 6: a controller on EC2 with its instance role was refused by a
hand-written check; one without passlib created 13 resources before failing)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.server
import json
import threading

import pytest

pytest.importorskip('boto3')

from ansible_collections.privatepypi.aws.plugins.modules import controller_requirements_info as module  # noqa: E402
from ansible_collections.privatepypi.aws.tests.support.imds_standin import make_handler  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module  # noqa: E402


@pytest.fixture()
def nowhere(monkeypatch, tmp_path):
    """No credentials anywhere boto3 looks, and no instance metadata service."""
    for key in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE',
                'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
                'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_ROLE_ARN'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'credentials'))
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')
    return tmp_path


def run(**args):
    return run_module(module, dict({'hashing': True}, **args))


def test_a_ready_controller_has_no_problems(nowhere, monkeypatch):
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    result = run()
    assert result['problems'] == [] and result['credentials_method'] == 'env' and result['changed'] is False
    assert all(result['versions'][name] for name in ('boto3', 'botocore', 'passlib', 'bcrypt'))


def test_no_credentials_anywhere_is_named(nowhere):
    result = run()
    assert [p for p in result['problems'] if p.startswith('No AWS credentials found where boto3 looks')]
    assert result['credentials_method'] == ''


def test_the_instance_role_is_credentials(nowhere, monkeypatch):
    """What the old hand-written check refused: a controller on EC2 with nothing but its instance role."""
    instances = nowhere / 'instances.json'
    instances.write_text(json.dumps({'127.0.0.1': 'i-0123456789abcdef0'}))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), make_handler(str(instances), 'us-east-1', 'controller-role'))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv('AWS_EC2_METADATA_DISABLED')
        monkeypatch.setenv('AWS_EC2_METADATA_SERVICE_ENDPOINT', f'http://127.0.0.1:{server.server_address[1]}/')
        result = run()
    finally:
        server.shutdown()
    assert result['problems'] == [] and result['credentials_method'] == 'iam-role'


def test_a_profile_with_a_credential_process_is_credentials(nowhere):
    process = nowhere / 'credentials.sh'
    process.write_text('#!/bin/sh\necho \'{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "x"}\'\n')
    process.chmod(0o755)
    (nowhere / 'config').write_text(f'[profile ci]\ncredential_process = {process}\n')
    result = run(profile='ci')
    assert result['problems'] == [] and result['credentials_method'] == 'custom-process'


def test_an_unknown_profile_is_named(nowhere):
    problems = run(profile='nonesuch')['problems']
    assert len(problems) == 1 and 'nonesuch' in problems[0]


def test_missing_passlib_is_found_before_any_aws_call(nowhere, monkeypatch):
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    real_version = module._version
    monkeypatch.setattr(module, '_version', lambda name: '' if name == 'passlib' else real_version(name))
    problems = run()['problems']
    assert len(problems) == 1 and problems[0].startswith('passlib is not installed for ') and 'pip install libpass' in problems[0]
    assert run(hashing=False)['problems'] == []


def test_a_broken_bcrypt_backend_is_named(nowhere, monkeypatch):
    """passlib 1.7.4 with bcrypt 4.1 or later fails on its first hash."""
    import passlib.hash

    class Broken:
        @staticmethod
        def hash(secret):
            raise AttributeError("module 'bcrypt' has no attribute '__about__'")
    monkeypatch.setattr(passlib.hash.bcrypt, 'using', lambda **kwargs: Broken)
    problems = module.hashing_problems({'passlib': '1.7.4', 'bcrypt': '4.2.0'}, '/usr/bin/python3')
    assert len(problems) == 1 and 'cannot hash with bcrypt 4.2.0 (AttributeError' in problems[0] and 'libpass' in problems[0]


def test_old_boto3_is_named():
    problems = module.library_problems({'boto3': '1.28.0', 'botocore': '1.34.10'}, '/usr/bin/python3')
    assert problems == ['boto3 1.28.0 is older than 1.34.0, the oldest amazon.aws supports: pip install --upgrade boto3']
    assert module.library_problems({'boto3': '', 'botocore': ''}, 'py')[0] == 'boto3 is not installed for py: pip install boto3'
