# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters that turn the vault's users into the credential files' parts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.privatepypi.aws.plugins.filter import access_data

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'pypiserver', 'files'))
from privatepypi_host import access  # noqa: E402

USERS = [{'name': 'alice', 'password': 'a' * 16, 'role': 'admin'},
         {'name': 'ci', 'password': 'b' * 16, 'role': 'uploader', 'projects': ['team-*', 'tools']},
         {'name': 'rita', 'password': 'c' * 16}]


def test_htpasswd_users_keeps_name_and_password_only():
    assert access_data.htpasswd_users(USERS) == [{'name': u['name'], 'password': u['password']} for u in USERS]


def test_role_lines_are_what_the_host_parses():
    text = access_data.role_lines(USERS)
    assert text == 'alice admin\nci uploader team-*,tools\nrita reader\n'
    assert access.parse_roles(text) == {'alice': ('admin', ()), 'ci': ('uploader', ('team-*', 'tools')),
                                        'rita': ('reader', ())}
    bundle = access_data.role_lines(USERS, '#role ')
    assert access.split_bundle(bundle)[1] == text


def test_refuses_what_is_not_a_list_of_users():
    for bad in ('alice', [1], None):
        with pytest.raises(AnsibleFilterError):
            access_data.role_lines(bad)
