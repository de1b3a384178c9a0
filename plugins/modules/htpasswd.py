#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: htpasswd
short_description: Manage users in an htpasswd file with passlib
version_added: 0.1.0
description:
  - Add, update or remove users in an Apache-style htpasswd file, for example the
    file that pypiserver reads with its C(--passwords) option.
  - Built on the C(passlib.apache.HtpasswdFile) API, so any file that passlib (and
    therefore pypiserver) can read is supported, including comments and blank lines,
    which are kept as they are.
  - "The module is idempotent: the hash of an existing user is kept as long as the
    given O(password) still verifies against it, even though hashing the same password
    again would produce a different (salted) hash."
  - A stored hash is replaced only when the password does not verify against it, when
    the stored entry is not a real hash (plain text) or uses the C(des_crypt) scheme
    (both of which store the password in clear or silently truncate it to 8 characters),
    when the stored hash cannot be parsed, or when O(update_scheme=true) and the stored
    hash uses another scheme than O(scheme).
  - The file is written atomically (a temporary file in the same directory that is
    then renamed over O(path)). When O(path) is a symbolic link, the file it points to
    is updated and the link is kept.
  - Passwords and hashes are never returned, logged or shown in the diff; the diff and
    the return values only contain user names.
author:
  - privatepypi developers (!UNKNOWN)
requirements:
  - passlib >= 1.7 on the managed host. The maintained fork C(libpass), which installs
    the same C(passlib) import name, is recommended; passlib 1.7.4 does not work with
    bcrypt >= 4.1
  - bcrypt, when O(scheme=bcrypt) is used or bcrypt hashes have to be verified.
options:
  path:
    description:
      - Path to the htpasswd file.
    type: path
    required: true
  name:
    description:
      - Name of a single user to manage.
      - Must not be empty, must not contain V(:), tab, newline, carriage return or NUL
        characters, and must be at most 255 bytes long once encoded as UTF-8.
      - Mutually exclusive with O(users); one of O(name) and O(users) is required.
    type: str
  password:
    description:
      - Password of the user given in O(name), in clear text. Only the hash is stored.
      - Required, and must not be empty, when O(state=present). Ignored when
        O(state=absent).
      - With O(scheme=bcrypt) the password must be at most 72 bytes long (UTF-8).
    type: str
  users:
    description:
      - List of users to manage in one call, as an alternative to O(name) and
        O(password).
      - Useful together with O(exclusive=true) to make the file contain exactly these
        users.
      - Every user name may appear only once.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - User name, with the same rules as O(name).
        type: str
        required: true
      password:
        description:
          - Password of the user, in clear text. Required and non-empty when
            O(state=present); ignored when O(state=absent).
        type: str
  state:
    description:
      - V(present) adds the users, or updates their hashes when needed.
      - V(absent) removes the users. A missing file is not an error and is not created.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - When V(true), remove every user from the file that is not listed in O(users)
        (or that is not O(name)).
      - Only valid with O(state=present). Combined with O(name), the file ends up with
        that single user.
    type: bool
    default: false
  scheme:
    description:
      - Hash scheme used for new and rehashed passwords.
      - V(bcrypt) hashes use the C($2y$) prefix, like C(htpasswd -B) does; V(sha512_crypt)
        produces C($6$), V(sha256_crypt) C($5$) and V(apr_md5_crypt) C($apr1$) hashes.
      - The weak schemes C(des_crypt), C(ldap_sha1) and C(plaintext) are deliberately not
        offered; existing entries that use them can still be read and verified.
      - Existing hashes of another scheme are kept while the password verifies, unless
        O(update_scheme=true).
    type: str
    choices: [bcrypt, sha512_crypt, sha256_crypt, apr_md5_crypt]
    default: bcrypt
  update_scheme:
    description:
      - When V(true), an existing hash whose scheme differs from O(scheme) is replaced by
        a hash of the given password in O(scheme), even if the password verifies.
      - When V(false), a verifying hash is kept whatever its scheme.
      - Only has an effect with O(state=present), because a password is needed to rehash.
    type: bool
    default: false
  create:
    description:
      - Create the file if it does not exist and O(state=present).
      - When V(false) and the file does not exist, the module fails with O(state=present)
        and does nothing with O(state=absent).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  # the FQCN form does not resolve the FILES variable of this fragment (ansible-core 2.19)
  - action_common_attributes.files
attributes:
  check_mode:
    support: full
    details: Reports what would change (including the diff) without writing anything.
  diff_mode:
    support: full
    details: The diff lists the sorted user names before and after, one per line; it never
      contains passwords or hashes. A password change alone does not show in the diff,
      see RV(updated).
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
notes:
  - When the module creates the file and O(mode) is not given, the file gets mode
    V('0600') (it is never readable by others, not even briefly). The mode of an existing
    file is only changed when O(mode) is given.
  - The file is read and written as UTF-8.
  - Entries are never reordered; new users are appended at the end of the file.
seealso:
  - name: passlib HtpasswdFile documentation
    description: The passlib API used to read, verify and write htpasswd files.
    link: https://passlib.readthedocs.io/en/stable/lib/passlib.apache.html
'''

EXAMPLES = r'''
- name: Add or update one user of the package index
  privatepypi.aws.htpasswd:
    path: /etc/pypiserver/htpasswd
    name: uploader
    password: "{{ vault_pypi_uploader_password }}"
    owner: pypiserver
    group: pypiserver
    mode: "0640"

- name: Make the file contain exactly these users, removing all others
  privatepypi.aws.htpasswd:
    path: /etc/pypiserver/htpasswd
    users:
      - name: uploader
        password: "{{ vault_pypi_uploader_password }}"
      - name: ci
        password: "{{ vault_pypi_ci_password }}"
    exclusive: true

- name: Remove a user
  privatepypi.aws.htpasswd:
    path: /etc/pypiserver/htpasswd
    name: former-colleague
    state: absent

- name: Use SHA-512 crypt and migrate existing hashes of other schemes
  privatepypi.aws.htpasswd:
    path: /etc/pypiserver/htpasswd
    name: uploader
    password: "{{ vault_pypi_uploader_password }}"
    scheme: sha512_crypt
    update_scheme: true
'''

RETURN = r'''
users:
  description:
    - Sorted list of the user names in the file after the module ran (or would be in
      it, in check mode).
    - Empty when the file does not exist.
  returned: always
  type: list
  elements: str
  sample: [ci, uploader]
added:
  description: Sorted list of the user names that were (or would be) added.
  returned: always
  type: list
  elements: str
  sample: [ci]
removed:
  description: Sorted list of the user names that were (or would be) removed.
  returned: always
  type: list
  elements: str
  sample: [former-colleague]
updated:
  description:
    - Sorted list of the user names whose hash was (or would be) replaced, because the
      password changed or the hash had to be upgraded.
  returned: always
  type: list
  elements: str
  sample: [uploader]
'''

import os
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native

PASSLIB_IMP_ERR = None
try:
    from passlib.apache import HtpasswdFile, htpasswd_context
    from passlib.exc import MissingBackendError
except ImportError:
    PASSLIB_IMP_ERR = traceback.format_exc()
    HAS_PASSLIB = False
else:
    HAS_PASSLIB = True

SCHEMES = ('bcrypt', 'sha512_crypt', 'sha256_crypt', 'apr_md5_crypt')
# Entries that verify but are not worth keeping: 'plaintext' stores the password in
# clear, 'des_crypt' silently ignores everything after the 8th character.
ALWAYS_REHASH_SCHEMES = ('plaintext', 'des_crypt')
INVALID_NAME_CHARS = (':', '\t', '\n', '\r', '\x00')
MAX_NAME_BYTES = 255
BCRYPT_MAX_PASSWORD_BYTES = 72


def _names_text(names):
    """One user name per line, as shown in the diff."""
    return ''.join(f'{n}\n' for n in sorted(names))


def validate_entries(module, entries, state, scheme):
    seen = set()
    for name, password in entries:
        if name is None or name == '':
            module.fail_json(msg='A user name must not be empty.')
        if ':' in name:
            module.fail_json(msg=f"Invalid user name {name!r}: it must not contain ':'.")
        bad = [c for c in INVALID_NAME_CHARS if c in name]
        if bad:
            module.fail_json(msg=f'Invalid user name {name!r}: it must not contain tab, newline, carriage return or NUL characters.')
        if len(to_bytes(name, errors='surrogate_or_strict')) > MAX_NAME_BYTES:
            module.fail_json(msg=f'Invalid user name {name!r}: it must be at most {MAX_NAME_BYTES} bytes long.')
        if name in seen:
            module.fail_json(msg=f'User {name!r} is listed more than once.')
        seen.add(name)
        if state == 'present':
            if password is None or password == '':
                module.fail_json(msg=f'The password of user {name!r} must not be empty when state=present.')
            if scheme == 'bcrypt' and len(to_bytes(password, errors='surrogate_or_strict')) > BCRYPT_MAX_PASSWORD_BYTES:
                module.fail_json(msg=f'The password of user {name!r} is longer than {BCRYPT_MAX_PASSWORD_BYTES} bytes, which '
                                     'scheme=bcrypt cannot hash; use a shorter password or another scheme such as sha512_crypt.')


def load_htpasswd(module, path, scheme):
    """Return (HtpasswdFile, exists)."""
    if os.path.isdir(path):
        module.fail_json(msg=f'Cannot read htpasswd file {path}: it is a directory.')
    ht = HtpasswdFile(default_scheme=scheme)
    if not os.path.exists(path):
        return ht, False
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        module.fail_json(msg=f'Cannot read htpasswd file {path}: {to_native(e.strerror or e)}.')
    try:
        ht.load_string(data)
        ht.users()  # user names are only decoded on access
    except (ValueError, UnicodeError) as e:
        module.fail_json(msg=f'Cannot parse htpasswd file {path}: {to_native(e)}. It must contain one "user:hash" entry per line (UTF-8).')
    return ht, True


def needs_rehash(ht, name, password, scheme, update_scheme):
    stored = ht.get_hash(name)
    stored_scheme = htpasswd_context.identify(stored, required=False)
    if stored_scheme in ALWAYS_REHASH_SCHEMES:
        return True
    try:
        verified = ht.check_password(name, password)
    except (ValueError, TypeError):
        # malformed hash, or a password this hash cannot take (e.g. > 72 bytes for bcrypt)
        verified = False
    if not verified:
        return True
    return bool(update_scheme and stored_scheme != scheme)


def set_password(module, ht, name, password, scheme):
    try:
        ht.set_password(name, password)
    except MissingBackendError:
        module.fail_json(msg=missing_required_lib(scheme, reason=f'to create {scheme} hashes'),
                         exception=traceback.format_exc())
    except ValueError as e:
        module.fail_json(msg=f'Cannot hash the password of user {name!r} with scheme {scheme}: {to_native(e)}')


def write_atomic(module, path, data, creating):
    dirname = os.path.dirname(path) or '.'
    if not os.path.isdir(dirname):
        module.fail_json(msg=f'Cannot create htpasswd file {path}: directory {dirname} does not exist.')
    try:
        fd, tmp_path = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=dirname)
    except OSError as e:
        module.fail_json(msg=f'Cannot write htpasswd file {path}: {to_native(e.strerror or e)}.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        module.cleanup(tmp_path)
        module.fail_json(msg=f'Cannot write htpasswd file {path}: {to_native(e.strerror or e)}.')
    # atomic_move gives a new file 0666 & ~umask; a tight umask keeps the hashes private
    # until the requested (or default 0600) mode is applied.
    old_umask = os.umask(0o077) if creating else None
    try:
        module.atomic_move(tmp_path, path, unsafe_writes=module.params['unsafe_writes'])
    except Exception as e:
        module.cleanup(tmp_path)
        module.fail_json(msg=f'Cannot write htpasswd file {path}: {to_native(e)}')
    finally:
        if old_umask is not None:
            os.umask(old_umask)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            name=dict(type='str'),
            password=dict(type='str', no_log=True),
            users=dict(
                type='list',
                elements='dict',
                options=dict(
                    name=dict(type='str', required=True),
                    password=dict(type='str', no_log=True),
                ),
            ),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            exclusive=dict(type='bool', default=False),
            scheme=dict(type='str', default='bcrypt', choices=list(SCHEMES)),
            update_scheme=dict(type='bool', default=False),
            create=dict(type='bool', default=True),
        ),
        mutually_exclusive=[('name', 'users'), ('password', 'users')],
        required_one_of=[('name', 'users')],
        add_file_common_args=True,
        supports_check_mode=True,
    )

    if not HAS_PASSLIB:
        module.fail_json(msg=missing_required_lib('passlib', reason='to manage htpasswd files'),
                         exception=PASSLIB_IMP_ERR)

    params = module.params
    path = params['path']
    state = params['state']
    scheme = params['scheme']
    exclusive = params['exclusive']

    if scheme not in htpasswd_context.schemes():
        supported = ', '.join(s for s in SCHEMES if s in htpasswd_context.schemes())
        module.fail_json(msg=f'Unknown scheme {scheme!r}: the installed passlib supports {supported} for htpasswd files.')
    if exclusive and state != 'present':
        module.fail_json(msg='exclusive=true can only be used with state=present.')

    if params['users'] is not None:
        entries = [(u['name'], u['password']) for u in params['users']]
    else:
        entries = [(params['name'], params['password'])]
    validate_entries(module, entries, state, scheme)

    # Update the target of a symlink rather than replacing the link by a file.
    if os.path.islink(path):
        path = os.path.realpath(path)

    ht, exists = load_htpasswd(module, path, scheme)
    if not exists and state == 'present' and not params['create']:
        module.fail_json(msg=f'The htpasswd file {path} does not exist and create=false.')

    before = sorted(ht.users())
    added, removed, updated = [], [], []

    if state == 'present':
        for name, password in entries:
            if ht.get_hash(name) is None:
                set_password(module, ht, name, password, scheme)
                added.append(name)
            elif needs_rehash(ht, name, password, scheme, params['update_scheme']):
                set_password(module, ht, name, password, scheme)
                updated.append(name)
        if exclusive:
            wanted = set(name for name, dummy in entries)
            for name in ht.users():
                if name not in wanted:
                    ht.delete(name)
                    removed.append(name)
    elif exists:
        for name, _dummy in entries:
            if ht.delete(name):
                removed.append(name)

    after = sorted(ht.users())
    creating = not exists and state == 'present'
    changed = bool(added or removed or updated or creating)

    if changed and not module.check_mode:
        write_atomic(module, path, ht.to_string(), creating)

    if os.path.exists(path):
        file_args = module.load_file_common_arguments(params, path=path)
        if creating and file_args.get('mode') is None:
            file_args['mode'] = '0600'
        changed = module.set_fs_attributes_if_different(file_args, changed)

    result = dict(
        changed=changed,
        users=after,
        added=sorted(added),
        removed=sorted(removed),
        updated=sorted(updated),
    )
    if module._diff:
        result['diff'] = dict(
            before_header=path,
            after_header=path,
            before=_names_text(before),
            after=_names_text(after),
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
