# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn the vault's users into the credential files' parts (privatepypi_host.access formats)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _users(users):
    if not isinstance(users, (list, tuple)) or not all(isinstance(u, Mapping) for u in users):
        raise AnsibleFilterError('expected a list of users, each a dict with name and password')
    return users


def htpasswd_users(users):
    """Only name and password of each user: what the htpasswd module takes."""
    return [{'name': u.get('name'), 'password': u.get('password')} for u in _users(users)]


def role_lines(users, prefix=''):
    """One 'name role [patterns]' line per user (no role: reader), each after prefix ('#role ' in the SSM value)."""
    lines = []
    for user in _users(users):
        projects = user.get('projects') or []
        line = f"{prefix}{user.get('name')} {user.get('role') or 'reader'}"
        lines.append(line + (' ' + ','.join(projects) if projects else '') + '\n')
    return ''.join(lines)


class FilterModule:
    def filters(self):
        return {'htpasswd_users': htpasswd_users, 'role_lines': role_lines}
