# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

from ansible_collections.privatepypi.aws.plugins.modules import pypi_token
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module

# The host program that checks tokens: the module must write what it reads.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'pypiserver', 'files'))
from privatepypi_host import access  # noqa: E402


def test_create_prints_once_and_stores_only_a_digest(tmp_path):
    path = tmp_path / 'tokens'
    log = tmp_path / 'audit.log'
    args = dict(path=str(path), name='ci', scope='upload', projects=['cc-*'], expires='2099-01-01',
                audit_log=str(log), audit_user='ops')
    result = run_module(pypi_token, args, diff=True)
    secret = result['token']
    assert result['changed'] and secret.startswith('ppt_') and len(secret) >= 40
    text = path.read_text()
    assert secret not in text and oct(path.stat().st_mode & 0o777) == '0o600'
    token = access.parse_tokens(text)['ci']
    assert (token.scope, token.patterns, token.expires) == ('upload', ('cc-*',), 4070908800)
    assert access.find_token({'ci': token}, secret) is token  # the credential service accepts it
    assert result['diff']['after'] == 'ci upload 4070908800 cc-*\n' and 'hmac' not in result['diff']['after']
    assert result['line'] == text.strip() and secret not in result['line']
    again = run_module(pypi_token, args)
    assert not again['changed'] and again['token'] == '' and again['line'] == '' and path.read_text() == text
    assert [json.loads(line)['event'] for line in log.read_text().splitlines()] == ['token_created']


def test_revoke_and_check_mode(tmp_path):
    path = tmp_path / 'tokens'
    run_module(pypi_token, dict(path=str(path), name='a'))
    run_module(pypi_token, dict(path=str(path), name='b', scope='upload', projects=['*']))
    before = path.read_text()
    checked = run_module(pypi_token, dict(path=str(path), name='c'), check_mode=True, diff=True)
    assert checked['changed'] and checked['token'] == '' and path.read_text() == before
    assert 'c read 0\n' in checked['diff']['after']
    check_revoke = run_module(pypi_token, dict(path=str(path), name='a', state='absent'), check_mode=True)
    assert check_revoke['changed'] and path.read_text() == before
    revoked = run_module(pypi_token, dict(path=str(path), name='a', state='absent'))
    assert revoked['changed'] and revoked['tokens'] == ['b'] and list(access.parse_tokens(path.read_text())) == ['b']
    assert not run_module(pypi_token, dict(path=str(path), name='a', state='absent'))['changed']


def test_bundle_changes_only_token_lines(tmp_path):
    path = tmp_path / 'bundle'
    hashed = '$2b$12$' + 'a' * 53
    path.write_text(f'alice:{hashed}\n#role alice uploader\n#token old read 0 {access.token_digest("x")}\n')
    result = run_module(pypi_token, dict(path=str(path), bundle=True, name='ci', scope='upload', projects=['cc-*']))
    htpasswd, roles, tokens = access.split_bundle(path.read_text())
    assert htpasswd == f'alice:{hashed}\n' and roles == 'alice uploader\n'
    assert set(access.parse_tokens(tokens)) == {'old', 'ci'}
    assert access.find_token(access.parse_tokens(tokens), result['token']).name == 'ci'
    run_module(pypi_token, dict(path=str(path), bundle=True, name='old', state='absent'))
    assert list(access.parse_tokens(access.split_bundle(path.read_text())[2])) == ['ci']
    assert access.split_bundle(path.read_text())[:2] == (htpasswd, roles)


def test_refusals(tmp_path):
    path = str(tmp_path / 'tokens')
    for args, message in (
        (dict(name='bad name'), 'Invalid token name'),
        (dict(name='ci', projects=['CC']), 'Invalid project patterns'),
        (dict(name='ci', expires='next week'), 'is not YYYY-MM-DD'),
        (dict(name='ci', expires='2001-01-01'), 'would expire before it is created'),
        # empty patterns grant no project: a new upload token without any would upload nothing
        (dict(name='ci', scope='upload'), 'would upload to no project: empty patterns grant none'),
    ):
        failed = run_module(pypi_token, dict(args, path=path), fail=True)
        assert message in failed['msg']
    assert not os.path.exists(path)
    assert pypi_token.parse_expires('1700000000') == 1700000000
    assert pypi_token.parse_expires('2030-01-01T12:00') == 1893499200
