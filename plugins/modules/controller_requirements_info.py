#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: controller_requirements_info
short_description: Check the Python libraries and the AWS credentials a stack's run needs, before any AWS call
version_added: 0.1.0
description:
  - Run where the collection's AWS modules run (the controller, C(localhost)). Reports every problem
    at once, without calling an AWS service, so a run stops before it creates anything.
  - boto3 and botocore, at least the versions amazon.aws supports.
  - With O(hashing), passlib's bcrypt (the C(privatepypi.aws.htpasswd) module hashes the index's
    passwords with it), importable and working. passlib 1.7.4, the last release, fails with
    bcrypt 4.1 and later; C(libpass), its maintained fork, has the same import name.
  - AWS credentials as boto3 itself finds them, the same chain every AWS module uses, that is the options below,
    then the environment, a named or the default profile (keys, C(credential_process), SSO, an assumed
    role), web identity, the container's or the instance's role. Resolving them may ask the instance
    metadata service or SSO for the credentials; no AWS service is called with them.
options:
  hashing:
    description: Also check passlib and bcrypt (a run that hashes passwords).
    type: bool
    default: true
  access_key:
    description: AWS access key id, as the AWS modules take it (C(module_defaults)).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description: AWS secret access key.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description: AWS session token.
    type: str
    aliases: [aws_session_token]
  profile:
    description: The AWS profile to take credentials from.
    type: str
    aliases: [aws_profile]
  region:
    description: The region (a profile's settings may depend on it).
    type: str
  endpoint_url:
    description: Accepted for C(module_defaults); not called.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - privatepypi.aws.aws
  - privatepypi.aws.attributes.read_only
'''

EXAMPLES = r'''
- name: Check the controller before the first AWS call
  privatepypi.aws.controller_requirements_info:
    profile: "{{ aws_profile | default(omit) }}"
  register: controller

- name: Stop on what is missing
  ansible.builtin.assert:
    that: controller.problems | length == 0
    fail_msg: "{{ controller.problems | join('; ') }}"
'''

RETURN = r'''
problems:
  description: What is missing or broken, each with what to do; empty when the controller is ready.
  returned: always
  type: list
  elements: str
  sample: ["passlib is not installed for /usr/bin/python3: pip install libpass"]
versions:
  description: The versions found of boto3, botocore, passlib and bcrypt (empty string when missing).
  returned: always
  type: dict
  sample: {"boto3": "1.40.0", "botocore": "1.40.0", "passlib": "1.9.4", "bcrypt": "5.0.0"}
credentials_method:
  description: Where boto3 found the credentials (its own name, for example V(env), V(shared-credentials-file),
    V(sso), V(iam-role), V(assume-role)); empty when none.
  returned: always
  type: str
  sample: iam-role
python:
  description: The Python that was checked.
  returned: always
  type: str
  sample: /home/me/venv/bin/python3
'''

import importlib
import sys

from ansible.module_utils.basic import AnsibleModule

# amazon.aws 10's own minimum (module_utils/botocore.py); older ones fail there with a warning only
MINIMUM_BOTO3 = (1, 34, 0)
MINIMUM_BOTO3_TEXT = '1.34.0'
PASSWORD = 'privatepypi-preflight-password'  # noqa: S105 - hashed once to try the backend


def version_tuple(text):
    parts = []
    for part in str(text).split('.')[:3]:
        digits = ''.join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def _version(name):
    try:
        return getattr(importlib.import_module(name), '__version__', '') or 'unknown'
    except ImportError:
        return ''


def library_problems(versions, python):
    problems = []
    for name in ('boto3', 'botocore'):
        if not versions[name]:
            problems.append(f'{name} is not installed for {python}: pip install boto3')
        elif versions[name] != 'unknown' and version_tuple(versions[name]) < MINIMUM_BOTO3:
            problems.append(f'{name} {versions[name]} is older than {MINIMUM_BOTO3_TEXT}, the oldest amazon.aws '
                            f'supports: pip install --upgrade boto3')
    return problems


def hashing_problems(versions, python):
    """passlib's bcrypt hashes and verifies, or why not."""
    if not versions['passlib']:
        return [f'passlib is not installed for {python}: pip install libpass (passlib\'s maintained fork, '
                'same import name) bcrypt']
    if not versions['bcrypt']:
        return [f'bcrypt is not installed for {python}: pip install bcrypt']
    try:
        from passlib.hash import bcrypt as bcrypt_hash  # noqa: PLC0415 - only once passlib is known to be there
        hashed = bcrypt_hash.using(rounds=4).hash(PASSWORD)
        if not bcrypt_hash.verify(PASSWORD, hashed):
            raise ValueError('a hash does not verify')
    except Exception as e:  # noqa: BLE001 - any failure of the backend is the answer
        return [f'passlib {versions["passlib"]} cannot hash with bcrypt {versions["bcrypt"]} ({type(e).__name__}: {e}): '
                'pip install libpass (passlib 1.7.4 does not work with bcrypt 4.1 or later), or pip install "bcrypt<4.1"']
    return []


def credential_problems(params):
    """(problems, boto3's name for where it found the credentials)."""
    import boto3  # noqa: PLC0415 - only once boto3 is known to be there
    import botocore.exceptions  # noqa: PLC0415
    try:
        session = boto3.session.Session(
            aws_access_key_id=params['access_key'] or None, aws_secret_access_key=params['secret_key'] or None,
            aws_session_token=params['session_token'] or None, profile_name=params['profile'] or None,
            region_name=params['region'] or None)
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()  # refreshable ones (SSO, roles) resolve here
            if not (frozen.access_key and frozen.secret_key):
                credentials = None
    except botocore.exceptions.ProfileNotFound as e:
        return [f'AWS profile: {e}; name one of ~/.aws/config in aws_profile or AWS_PROFILE'], ''
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        return [f'AWS credentials were found but cannot be used ({e}); for SSO run aws sso login'], ''
    if credentials is None:
        return ['No AWS credentials found where boto3 looks (aws_access_key/aws_secret_key or aws_profile, '
                'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, ~/.aws/credentials and ~/.aws/config '
                '(keys, SSO, credential_process, a role to assume), web identity, the container\'s or the '
                'instance\'s role)'], ''
    return [], credentials.method or ''


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hashing=dict(type='bool', default=True),
            access_key=dict(type='str', aliases=['aws_access_key_id'], no_log=True),
            secret_key=dict(type='str', aliases=['aws_secret_access_key'], no_log=True),
            session_token=dict(type='str', aliases=['aws_session_token'], no_log=True),
            profile=dict(type='str', aliases=['aws_profile']),
            region=dict(type='str'),
            endpoint_url=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    python = sys.executable
    versions = {name: _version(name) for name in ('boto3', 'botocore', 'passlib', 'bcrypt')}
    problems = library_problems(versions, python)
    if module.params['hashing']:
        problems += hashing_problems(versions, python)
    method = ''
    if versions['boto3'] and versions['botocore']:
        found, method = credential_problems(module.params)
        problems += found
    module.exit_json(changed=False, problems=problems, versions=versions, credentials_method=method, python=python)


if __name__ == '__main__':
    main()
