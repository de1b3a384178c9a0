#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pypi_release
short_description: Yank, un-yank or remove a release in a privatepypi.aws package store
version_added: 0.2.0
description:
  - Acts on every file (wheels and sdists) of one version of one project in the package
    directory of the C(privatepypi.aws.pypiserver) role.
  - Yanking (PEP 592) and un-yanking edit the file's sidecar
    (C(.privatepypi/meta/<file>.json)); the index renderer publishes the change on the
    project's pages within its polling interval, on every instance sharing the store.
  - Removal deletes the files, their sidecars and their metadata files. It is meant for
    administrators (a leaked secret, a licence problem); releases are otherwise immutable.
  - A file without a sidecar yet (found by the renderer but not described) cannot be
    yanked; the module fails and says so, a retry a few seconds later succeeds.
author:
  - privatepypi developers (!UNKNOWN)
options:
  path:
    description: The package directory (C(pypiserver_packages_dir)).
    type: path
    default: /var/pypi
  project:
    description: Project name, in any spelling; compared after PEP 503 normalization.
    type: str
    required: true
  version:
    description: Version whose files are acted on; compared after PEP 440 normalization when C(packaging) is installed.
    type: str
    required: true
  state:
    description:
      - V(yanked) marks the files yanked, with O(reason).
      - V(available) removes the yank.
      - V(absent) removes the files from the store.
    type: str
    choices: [yanked, available, absent]
    required: true
  reason:
    description: Why the release is yanked, shown by installers. Only with O(state=yanked).
    type: str
    default: ''
  audit_log:
    description:
      - The pypiserver role's audit log (C(pypiserver_audit_log)); one JSON line per file changed is appended
        (who, what, project, file, sha256, time). Empty, none.
    type: path
    default: ''
  audit_user:
    description: The index account (an admin) that asked for the change, written in the audit lines.
    type: str
    default: ''
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the files that would change, with the diff, without writing anything.
  diff_mode:
    support: full
    details: The diff maps each file of the release to its state (available, yanked with the reason, absent) before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Yank a broken release
  privatepypi.aws.pypi_release:
    project: mylib
    version: 1.2.0
    state: yanked
    reason: corrupts the cache on Python 3.12

- name: Take the yank back
  privatepypi.aws.pypi_release:
    project: mylib
    version: 1.2.0
    state: available

- name: Remove a release that leaked a secret
  privatepypi.aws.pypi_release:
    path: /var/pypi
    project: mylib
    version: 1.2.0
    state: absent
'''

RETURN = r'''
files:
  description: The files of the release found in the store, before the change.
  returned: always
  type: list
  elements: str
  sample: [mylib-1.2.0-py3-none-any.whl, mylib-1.2.0.tar.gz]
changed_files:
  description: The files changed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [mylib-1.2.0.tar.gz]
'''

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.privatepypi.aws.plugins.module_utils import audit as audit_log

try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # the module then compares versions as written
    Version = None

STATE_DIR = '.privatepypi'
WHEEL = re.compile(r'^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$')
SDIST = re.compile(r'^(?P<name>.+)-(?P<version>[^-]+)\.tar\.gz$')


def normalize_name(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def normalize_version(version):
    """A Version (1.2 == 1.2.0) when packaging can parse it, else the text as written."""
    if Version is not None:
        try:
            return Version(version)
        except InvalidVersion:
            pass
    return version.strip().lower()


def parse(filename):
    match = WHEEL.match(filename) or SDIST.match(filename)
    if not match:
        return None
    return normalize_name(match.group('name')), normalize_version(match.group('version'))


def release_files(root, project, version):
    """relpaths of the distribution files of project==version below root (dot directories skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        for name in filenames:
            if not name.startswith('.') and parse(name) == (project, version):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def sidecar_path(root, relpath):
    return os.path.join(root, STATE_DIR, 'meta', relpath + '.json')


def read_sidecar(root, relpath):
    with open(sidecar_path(root, relpath), 'rb') as f:
        return json.loads(f.read().decode('utf-8'))


def write_sidecar(root, relpath, sidecar):
    """Replaces the sidecar atomically, keeping its owner, group and mode (the module runs as root)."""
    path = sidecar_path(root, relpath)
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(json.dumps(sidecar, sort_keys=True, indent=1).encode('utf-8') + b'\n')
            f.flush()
            os.fsync(f.fileno())
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def describe_state(sidecar):
    yanked = sidecar.get('yanked')
    if yanked is False or yanked is None:
        return 'available'
    return 'yanked' + (': ' + yanked if isinstance(yanked, str) and yanked else '')


def audit(module, root, relpath, project, state, reason):
    """One JSON line per changed file in the role's audit log (the same shape as the host programs' lines)."""
    path = module.params['audit_log']
    if not path:
        return
    try:
        sha256 = read_sidecar(root, relpath).get('sha256', '')
    except (OSError, ValueError):
        sha256 = ''
    try:
        audit_log.append(path, {'yanked': 'yank', 'available': 'unyank', 'absent': 'remove'}[state],
                         who=module.params['audit_user'], token='', project=project, file=relpath, sha256=sha256,
                         reason=reason, client=os.environ.get('SSH_CLIENT', '').split(' ')[0])
    except OSError as e:
        module.warn(f'The audit line could not be written to {path}: {e}')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/var/pypi'),
            project=dict(type='str', required=True),
            version=dict(type='str', required=True),
            state=dict(type='str', required=True, choices=['yanked', 'available', 'absent']),
            reason=dict(type='str', default=''),
            audit_log=dict(type='path', default=''),
            audit_user=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    root, state, reason = module.params['path'], module.params['state'], module.params['reason']
    if reason and state != 'yanked':
        module.fail_json(msg='reason is only used with state=yanked')
    if not os.path.isdir(root):
        module.fail_json(msg=f'{root} is not a directory (the package store)')
    project = normalize_name(module.params['project'])
    version = normalize_version(module.params['version'])
    relpaths = release_files(root, project, version)
    if not relpaths and state != 'absent':
        module.fail_json(msg=f'no files of {project} {version} in {root}', files=[], changed_files=[])

    before, after, changes = {}, {}, []
    for relpath in relpaths:
        try:
            sidecar = read_sidecar(root, relpath)
        except (OSError, ValueError):
            if state != 'absent':
                module.fail_json(msg=f'{relpath} has no readable sidecar yet; the index renderer writes it within seconds, '
                                     'retry then', files=relpaths, changed_files=[])
            sidecar = {}
        before[relpath] = describe_state(sidecar)
        if state == 'absent':
            after[relpath] = 'absent'
            changes.append((relpath, None))
            continue
        wanted = (reason or True) if state == 'yanked' else False
        after[relpath] = describe_state(dict(sidecar, yanked=wanted))
        if sidecar.get('yanked', False) != wanted:
            changes.append((relpath, dict(sidecar, yanked=wanted)))

    if not module.check_mode:
        for relpath, sidecar in changes:
            audit(module, root, relpath, project, state, reason)
            if sidecar is not None:
                write_sidecar(root, relpath, sidecar)
                continue
            # The file first: from then on no page lists it (the renderer skips files without it).
            for path in (os.path.join(root, relpath), os.path.join(root, STATE_DIR, 'meta', relpath + '.metadata'),
                         sidecar_path(root, relpath)):
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
    changed_files = [relpath for relpath, _sidecar in changes]
    module.exit_json(
        changed=bool(changes), files=relpaths, changed_files=changed_files,
        msg='{} {}: {}'.format(project, version, ', '.join(f'{r} {after[r]}' for r in changed_files) or 'nothing to change'),
        diff=dict(before=json.dumps(before, indent=1, sort_keys=True) + '\n', after=json.dumps(after, indent=1, sort_keys=True) + '\n'))


if __name__ == '__main__':
    main()
