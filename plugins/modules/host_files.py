#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: host_files
short_description: Writes a set of small text files and removes others, in one run on the host
version_added: 0.1.0
description:
  - Brings a host's files in line with a list rendered on the controller, for example the files of the
    privatepypi.aws.pypiserver role, whose bootstrap bundle carries the same list to instances.
  - Each file whose content, mode, owner or group differs is written to a temporary file beside it
    and renamed over it, so that no reader sees it half-written; a missing parent directory is made
    (mode C(0755), owned by root). Files that are already right are not touched.
  - Each path in O(absent) is removed if it exists; a directory there is refused, never removed.
  - One module run for the whole set, where a loop of M(ansible.builtin.copy) or
    M(ansible.builtin.template) makes a connection and a module run per file.
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: str
        required: true
      content:
        description: The whole content of the file (text, written as UTF-8).
        type: str
        required: true
      mode:
        description: Permissions, in octal (for example C('0644')).
        type: str
        required: true
      owner:
        description: The file's owner, by name.
        type: str
        default: root
      group:
        description: The file's group, by name.
        type: str
        default: root
  absent:
    description: Absolute paths of files or links to remove.
    type: list
    elements: str
    default: []
author:
  - privatepypi developers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The content of each file written or removed, before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Install the service files and remove those of switched-off features
  privatepypi.aws.host_files:
    files:
      - path: /etc/systemd/system/myapp.service
        content: "{{ lookup('ansible.builtin.template', 'myapp.service.j2') }}"
        mode: "0644"
      - path: /opt/myapp/helper.py
        content: "{{ lookup('ansible.builtin.file', 'helper.py', rstrip=false) }}"
        mode: "0644"
    absent:
      - /etc/systemd/system/myapp-old.timer
  notify: Restart myapp
'''

RETURN = r'''
written:
  description: The files written (in check mode, that would be written).
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/system/myapp.service"]
removed:
  description: The paths removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/system/myapp-old.timer"]
'''

import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def current_state(path):
    """(content bytes, mode, uid, gid) of the regular file at path, or None if there is none. A link
    or anything but a regular file counts as different from every wanted file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return (None, None, None, None)
    with open(path, 'rb') as handle:
        return (handle.read(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def wanted_state(module, spec):
    path = spec['path']
    if not os.path.isabs(path):
        module.fail_json(msg=f"host_files: {path!r} is not an absolute path")
    try:
        mode = int(spec['mode'], 8)
    except ValueError:
        module.fail_json(msg=f"host_files: the mode {spec['mode']!r} of {path} is not octal")
    try:
        uid, gid = pwd.getpwnam(spec['owner']).pw_uid, grp.getgrnam(spec['group']).gr_gid
    except KeyError:
        module.fail_json(msg=f"host_files: {path}: no user {spec['owner']!r} or no group {spec['group']!r} on this host")
    return (to_bytes(spec['content'], errors='surrogate_or_strict'), mode, uid, gid)


def write(path, content, mode, uid, gid):
    """Writes the file beside itself and renames it over the old one."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(content)
            os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), mode)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def text_of(content):
    return '' if content is None else to_text(content, errors='surrogate_or_replace')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='str', required=True),
                content=dict(type='str', required=True),
                mode=dict(type='str', required=True),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='root'),
            )),
            absent=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    written, removed, diffs = [], [], []
    paths = [spec['path'] for spec in module.params['files']]
    doubled = sorted({p for p in paths if paths.count(p) > 1} | (set(paths) & set(module.params['absent'])))
    if doubled:
        module.fail_json(msg=f"host_files: named more than once: {', '.join(doubled)}")
    for spec in module.params['files']:
        path, wanted = spec['path'], wanted_state(module, spec)
        current = current_state(path)
        if current == wanted:
            continue
        written.append(path)
        if module._diff:
            diffs.append(dict(before_header=path, after_header=path, before=text_of(current and current[0]),
                              after=text_of(wanted[0])))
        if not module.check_mode:
            try:
                write(path, *wanted)
            except OSError as error:
                module.fail_json(msg=f"host_files: cannot write {path}: {error}", written=written[:-1])
    for path in module.params['absent']:
        if not os.path.isabs(path):
            module.fail_json(msg=f"host_files: {path!r} is not an absolute path")
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            module.fail_json(msg=f"host_files: {path} is a directory; only files and links are removed")
        removed.append(path)
        if module._diff:  # the removed file's content is read only to show it
            current = current_state(path)
            diffs.append(dict(before_header=path, after_header=f"{path} (absent)", before=text_of(current and current[0]),
                              after=''))
        if not module.check_mode:
            os.unlink(path)
    result = dict(changed=bool(written or removed), written=written, removed=removed)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
