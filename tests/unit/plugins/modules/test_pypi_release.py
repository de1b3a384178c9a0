# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""pypi_release: yank, un-yank and removal on a real store layout (files, sidecars, metadata files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from ansible_collections.privatepypi.aws.plugins.modules import pypi_release
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module

FILES = ['My_Lib-1.2.0-py3-none-any.whl', 'my_lib-1.2.0.tar.gz', 'my_lib-1.3.0.tar.gz', 'other-1.2.0.tar.gz']


@pytest.fixture
def store(tmp_path):
    meta = tmp_path / '.privatepypi' / 'meta'
    meta.mkdir(parents=True)
    for name in FILES:
        (tmp_path / name).write_bytes(b'distribution ' + name.encode())
        (meta / (name + '.json')).write_text(json.dumps({'filename': name, 'sha256': 'a' * 64, 'yanked': False}))
        (meta / (name + '.metadata')).write_text('Metadata-Version: 2.1\n')
    return tmp_path


def sidecar(store, name):
    return json.loads((store / '.privatepypi' / 'meta' / (name + '.json')).read_text())


def run(store, check_mode=False, diff=False, fail=False, **args):
    return run_module(pypi_release, dict(dict(path=str(store), project='my-lib', version='1.2.0'), **args), check_mode, diff, fail)


def test_yank_with_reason_then_idempotent(store):
    result = run(store, state='yanked', reason='broken build', diff=True)
    assert result['changed'] and result['changed_files'] == FILES[:2]
    assert result['files'] == FILES[:2]
    assert sidecar(store, FILES[0])['yanked'] == 'broken build'
    assert sidecar(store, FILES[2])['yanked'] is False and sidecar(store, FILES[3])['yanked'] is False
    assert 'yanked: broken build' in result['diff']['after'] and 'available' in result['diff']['before']
    assert run(store, state='yanked', reason='broken build')['changed'] is False


def test_unyank(store):
    run(store, state='yanked')
    assert sidecar(store, FILES[1])['yanked'] is True
    assert run(store, state='available')['changed'] is True
    assert sidecar(store, FILES[1])['yanked'] is False
    assert run(store, state='available')['changed'] is False


def test_version_is_compared_normalized(store):
    assert run(store, state='yanked', version='1.2')['changed_files'] == FILES[:2]


def test_check_mode_changes_nothing(store):
    result = run(store, state='absent', check_mode=True)
    assert result['changed'] and result['changed_files'] == FILES[:2]
    assert all((store / name).exists() for name in FILES)
    result = run(store, state='yanked', check_mode=True)
    assert result['changed'] and sidecar(store, FILES[0])['yanked'] is False


def test_absent_removes_file_sidecar_and_metadata(store):
    result = run(store, state='absent')
    assert result['changed_files'] == FILES[:2]
    assert sorted(os.listdir(store)) == ['.privatepypi'] + FILES[2:]
    assert sorted(os.listdir(store / '.privatepypi' / 'meta')) == sorted(
        n + s for n in FILES[2:] for s in ('.json', '.metadata'))
    assert run(store, state='absent')['changed'] is False


def test_sidecar_keeps_owner_and_mode(store):
    path = store / '.privatepypi' / 'meta' / (FILES[0] + '.json')
    os.chmod(path, 0o640)
    run(store, state='yanked')
    assert oct(os.stat(path).st_mode & 0o777) == '0o640'


def test_refusals(store, tmp_path):
    assert 'no files of my-lib 9.9' in run(store, state='yanked', version='9.9', fail=True)['msg']
    assert 'only used with state=yanked' in run(store, state='available', reason='x', fail=True)['msg']
    assert 'not a directory' in run(store, state='absent', path=str(tmp_path / 'missing'), fail=True)['msg']
    os.remove(store / '.privatepypi' / 'meta' / (FILES[1] + '.json'))
    assert 'no readable sidecar yet' in run(store, state='yanked', fail=True)['msg']


def test_every_changed_file_is_audited(store, tmp_path):
    log = tmp_path / 'audit.log'
    run(store, state='yanked', reason='broken', audit_log=str(log), audit_user='alice')
    run(store, state='yanked', reason='broken', audit_log=str(log), audit_user='alice')  # no change, no line
    run(store, state='absent', audit_log=str(log), audit_user='alice', check_mode=True)  # check mode: no line
    run(store, state='absent', audit_log=str(log), audit_user='alice')
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r['event'], r['file']) for r in records] == [
        ('yank', 'My_Lib-1.2.0-py3-none-any.whl'), ('yank', 'my_lib-1.2.0.tar.gz'),
        ('remove', 'My_Lib-1.2.0-py3-none-any.whl'), ('remove', 'my_lib-1.2.0.tar.gz')]
    assert all(r['who'] == 'alice' and r['project'] == 'my-lib' and r['sha256'] == 'a' * 64 and r['time']
               for r in records)
    assert records[0]['reason'] == 'broken'
