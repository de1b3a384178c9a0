#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pypi_token
short_description: Create or revoke a named upload or read token of a privatepypi.aws package index
version_added: 0.3.0
description:
  - A token is a long random secret used as the Basic password with the user name C(__token__), so
    pip, uv, poetry, pdm and twine need nothing new.
  - Only an HMAC-SHA256 digest of the token (salted per token) is stored; the secret is returned once,
    when the token is created, and cannot be shown again.
  - An existing token is left as it is (name, scope, patterns and expiry apply at creation); revoke it
    and create it again to change it or to get a new secret.
  - The tokens file is the C(privatepypi.aws.pypiserver) role's O(path) (default C(/etc/pypiserver/tokens));
    with O(bundle=true) the file is the content of the stack's SSM users parameter, in which only the
    C(#token) lines are changed.
author:
  - privatepypi developers (!UNKNOWN)
options:
  path:
    description: The tokens file, or the users parameter's content with O(bundle=true).
    type: path
    default: /etc/pypiserver/tokens
  bundle:
    description: O(path) holds htpasswd lines, C(#role) and C(#token) lines (the SSM users parameter).
    type: bool
    default: false
  name:
    description: The token's name (letters, digits, C(.), C(_), C(@), C(+), C(-)), shown in the audit log.
    type: str
    required: true
  state:
    description: V(present) creates the token if it does not exist; V(absent) revokes it.
    type: str
    choices: [present, absent]
    default: present
  scope:
    description: V(read) lists and downloads; V(upload) also uploads new files.
    type: str
    choices: [read, upload]
    default: read
  projects:
    description:
      - fnmatch patterns of normalized project names an upload token may upload to; C(*) is every project.
      - Empty patterns grant no project, so a new upload token needs at least one.
    type: list
    elements: str
    default: []
  expires:
    description:
      - When the token stops working, in UTC, as C(YYYY-MM-DD) (the start of that day) or C(YYYY-MM-DDTHH:MM[:SS]);
        or a number of seconds since the epoch. Empty, never.
    type: str
    default: ''
  audit_log:
    description: The role's audit log; one JSON line is appended per creation or revocation. Empty, none.
    type: path
    default: ''
  audit_user:
    description: Who asked for the change, written in the audit line.
    type: str
    default: ''
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  # the FQCN form does not resolve the FILES variable of this fragment (ansible-core 2.19)
  - action_common_attributes.files
attributes:
  check_mode:
    support: full
    details: Reports what would change, with the diff, without writing anything or making a secret.
  diff_mode:
    support: full
    details: The diff lists the token names with scope, patterns and expiry, never a digest or a secret.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
'''

EXAMPLES = r'''
- name: A CI token that may upload the team's projects until the end of the year
  privatepypi.aws.pypi_token:
    name: ci-release
    scope: upload
    projects: [team-*]
    expires: "2026-12-31"
  register: token
  no_log: true

- name: Show it once
  ansible.builtin.debug:
    msg: "{{ token.token }}"
  when: token.token

- name: Revoke it
  privatepypi.aws.pypi_token:
    name: ci-release
    state: absent
'''

RETURN = r'''
token:
  description: The secret, only when the token was created by this run (else empty). It is not stored anywhere.
  returned: always
  type: str
tokens:
  description: The names of the tokens after the change.
  returned: always
  type: list
  elements: str
expires:
  description: The token's expiry in seconds since the epoch (0, never).
  returned: when state=present
  type: int
line:
  description: The stored line (name, scope, expiry, digest, patterns) when the token was created, to give other
    hosts the same token; else empty. It holds a digest, never the secret.
  returned: always
  type: str
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
'''

import base64
import datetime
import hashlib
import hmac
import os
import re
import secrets
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.privatepypi.aws.plugins.module_utils import audit as audit_log

# The formats of roles/pypiserver/files/privatepypi_host/access.py (a module cannot import the role's files;
# tests/unit/plugins/modules/test_pypi_token.py proves both agree).
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$')
PATTERN_RE = re.compile(r'^[a-z0-9*?\[\]!-]{1,100}$')
TOKEN_LINE = '#token '  # noqa: S105 - a line marker
TOKEN_PREFIX = 'ppt_'  # noqa: S105 - the visible prefix of every token


def new_secret():
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode()


def token_digest(secret, salt=None):
    salt = salt or secrets.token_hex(16)
    mac = hmac.new(bytes.fromhex(salt), secret.encode('utf-8'), hashlib.sha256).hexdigest()
    return f'hmac-sha256${salt}${mac}'


def parse_expires(value, now=None):
    value = (value or '').strip()
    if not value or value == '0':
        return 0
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f'expires {value!r} is not YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or seconds since the epoch') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


def split_lines(text, bundle):
    """(other lines kept as they are, token lines without their prefix)."""
    other, tokens = [], []
    for line in text.splitlines():
        if bundle:
            if line.startswith(TOKEN_LINE):
                tokens.append(line[len(TOKEN_LINE):])
            elif line.strip():
                other.append(line)
        elif line.strip() and not line.lstrip().startswith('#'):
            tokens.append(line.strip())
    return other, tokens


def describe(line):
    """'name scope expiry [patterns]' of a token line: what the diff shows, never the digest."""
    fields = line.split()
    return ' '.join(fields[:3] + fields[4:5])


def render(other, tokens, bundle):
    lines = list(other) + [(TOKEN_LINE + t if bundle else t) for t in tokens]
    return ''.join(f'{line}\n' for line in lines)


def write_atomic(module, path, data):
    dirname = os.path.dirname(path) or '.'
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=dirname)
    with os.fdopen(fd, 'wb') as f:
        f.write(to_bytes(data))
    old_umask = os.umask(0o077)  # a new file stays private until its mode is applied
    try:
        module.atomic_move(tmp_path, path, unsafe_writes=module.params['unsafe_writes'])
    finally:
        os.umask(old_umask)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/pypiserver/tokens'),
            bundle=dict(type='bool', default=False),
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            scope=dict(type='str', choices=['read', 'upload'], default='read'),
            projects=dict(type='list', elements='str', default=[]),
            expires=dict(type='str', default=''),
            audit_log=dict(type='path', default=''),
            audit_user=dict(type='str', default=''),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    path, name, bundle = p['path'], p['name'], p['bundle']
    if not NAME_RE.match(name):
        module.fail_json(msg=f'Invalid token name {name!r}: letters, digits, ".", "_", "@", "+" or "-", at most 100.')
    bad = [pattern for pattern in p['projects'] if not PATTERN_RE.match(pattern)]
    if bad:
        module.fail_json(msg=f'Invalid project patterns {bad}: use normalized names (lower case, "-") and * ? [ ].')
    try:
        expires = parse_expires(p['expires'])
    except ValueError as e:
        module.fail_json(msg=to_native(e))

    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        exists = True
    except FileNotFoundError:
        text, exists = '', False
    except OSError as e:
        module.fail_json(msg=f'Cannot read {path}: {to_native(e.strerror or e)}.')
    other, lines = split_lines(text, bundle)
    names = [line.split()[0] for line in lines]
    before = [describe(line) for line in lines]
    secret, changed, msg, created = '', False, '', ''

    if p['state'] == 'present':
        if name in names:
            msg = f'Token {name} exists; it is left as it is (revoke it and create it again for a new secret).'
        elif expires and expires <= datetime.datetime.now(datetime.UTC).timestamp():
            module.fail_json(msg=f'Token {name} would expire before it is created ({p["expires"]}).')
        elif p['scope'] == 'upload' and not p['projects']:
            module.fail_json(msg=f"Token {name} would upload to no project: empty patterns grant none. Give projects, "
                                 "e.g. [team-*], or ['*'] for every project.")
        else:
            changed = True
            msg = f'Token {name} created ({p["scope"]}); its secret is shown once.'
            if not module.check_mode:
                secret = new_secret()
            fields = [name, p['scope'], str(expires), token_digest(secret or 'check-mode')]
            created = ' '.join(fields + ([','.join(p['projects'])] if p['projects'] else []))
            lines.append(created)
    elif name in names:
        changed = True
        lines = [line for line in lines if line.split()[0] != name]
        msg = f'Token {name} revoked.'
    else:
        msg = f'There is no token {name}.'

    if changed and not module.check_mode:
        if not os.path.isdir(os.path.dirname(path) or '.'):
            module.fail_json(msg=f'Cannot write {path}: its directory does not exist.')
        write_atomic(module, path, render(other, lines, bundle))
        try:
            audit_log.append(p['audit_log'], 'token_created' if p['state'] == 'present' else 'token_revoked',
                             token=name, who=p['audit_user'])
        except OSError as e:
            module.warn(f'The audit line could not be written to {p["audit_log"]}: {to_native(e)}')
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(p, path=path)
        if not exists and file_args.get('mode') is None:
            file_args['mode'] = '0600'
        changed = module.set_fs_attributes_if_different(file_args, changed)

    result = dict(changed=changed, token=secret, tokens=sorted(line.split()[0] for line in lines), msg=msg,
                  line=created if secret else '')
    if p['state'] == 'present':
        result['expires'] = expires if name not in names or changed else int(
            next(line.split()[2] for line in lines if line.split()[0] == name))
    if module._diff:
        result['diff'] = dict(before_header=path, after_header=path,
                              before=''.join(f'{d}\n' for d in before),
                              after=''.join(f'{describe(line)}\n' for line in lines))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
