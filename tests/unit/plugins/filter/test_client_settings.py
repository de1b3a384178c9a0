# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client settings site.yml prints last (issue 18, finding 7): each snippet is what its client reads
(pip.conf through configparser as pip reads it, uv's index table as TOML), and a plain-HTTP index gets
pip's --trusted-host, without which pip ignores the index."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser
import tomllib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.privatepypi.aws.plugins.filter.client_settings import client_settings

HTTPS = {'simple_url': 'https://pypi.example.com/simple/', 'upload_url': 'https://pypi.example.com/', 'user': 'alice'}
HTTP = {'simple_url': 'http://203.0.113.7:8080/simple/', 'upload_url': 'http://203.0.113.7:8080/', 'user': 'alice'}


def _block(lines, title):
    """The indented lines after the line starting with title, unindented."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith('  '):
            break
        block.append(line[2:])
    return block


def _pip_conf(lines):
    config = configparser.RawConfigParser()
    config.read_string('\n'.join(_block(lines, '~/.config/pip/pip.conf')))
    return dict(config['global'])


def _uv_index(lines):
    toml = '\n'.join(line for line in _block(lines, 'uv ') if not line.startswith('then:'))
    return tomllib.loads(toml)['tool']['uv']['index']


def test_https_needs_no_trust_and_names_the_user():
    lines = client_settings(HTTPS)
    assert '  pip install --index-url https://alice@pypi.example.com/simple/ PACKAGE' in lines
    assert _pip_conf(lines) == {'index-url': 'https://alice@pypi.example.com/simple/'}
    assert _uv_index(lines) == [{'name': 'privatepypi', 'url': 'https://pypi.example.com/simple/', 'default': True}]
    assert '  poetry source add --priority=primary privatepypi https://pypi.example.com/simple/' in lines
    assert '  twine upload --repository-url https://pypi.example.com/ -u alice dist/*' in lines
    assert not [line for line in lines if 'trusted-host' in line or 'Plain HTTP' in line]


def test_plain_http_gets_trusted_host_and_the_advice():
    lines = client_settings(HTTP)
    # pip compares the host without the port
    assert '  pip install --index-url http://alice@203.0.113.7:8080/simple/ --trusted-host 203.0.113.7 PACKAGE' in lines
    assert _pip_conf(lines) == {'index-url': 'http://alice@203.0.113.7:8080/simple/', 'trusted-host': '203.0.113.7'}
    assert lines[-1].startswith('Plain HTTP: passwords and packages cross the network unencrypted. Prefer HTTPS')


def test_no_password_is_asked_for_in_the_settings():
    assert not [line for line in client_settings(HTTPS) if ':alice' in line or 'password =' in line]


@pytest.mark.parametrize('bad', [{}, dict(HTTPS, simple_url='https://pypi.example.com/'), dict(HTTPS, user=''),
                                 dict(HTTPS, simple_url='ftp://x/simple/'), 'https://pypi.example.com/simple/'])
def test_bad_input_is_refused(bad):
    with pytest.raises(AnsibleFilterError):
        client_settings(bad)
