# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot rehearsal's helpers that run without a stack (tests/support/rehearse.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest

pytest.importorskip('boto3')

from ansible_collections.privatepypi.aws.tests.support import rehearse  # noqa: E402


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('unshare'), reason='a mount namespace needs root')
def test_resolving_maps_one_name_for_one_command_only():
    command = rehearse.resolving('pypi.example.test', '192.0.2.7', ['getent', 'hosts', 'pypi.example.test'])
    assert subprocess.run(command, capture_output=True, text=True, check=True).stdout.split() == ['192.0.2.7', 'pypi.example.test']
    # this machine's own resolution is untouched
    assert subprocess.run(['getent', 'hosts', 'pypi.example.test'], capture_output=True, check=False).returncode != 0


def test_domain_vars_point_the_stack_at_pebble(tmp_path, monkeypatch):
    assert rehearse.domain_vars(None) == {}
    monkeypatch.setattr(rehearse, 'PEBBLE', tmp_path)
    (tmp_path / 'listener.pem').write_text('PEM')
    assert rehearse.domain_vars('example.test') == {
        'aws_stack_domain': 'example.test', 'aws_stack_acme_directory_url': 'https://172.28.0.1:14000/dir',
        'aws_stack_acme_email': 'ops@example.test', 'pypiserver_acme_ca_bundle': 'PEM'}


def test_pebble_issuances_are_counted_from_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(rehearse, 'PEBBLE', tmp_path)
    assert rehearse.pebble_issued() == 0
    (tmp_path / 'pebble.log').write_text('Pebble 2026/11/28 08:48:42 Added order "x" to the db\n'
                                         'Pebble 2026/11/28 08:48:50 Issued certificate serial 1a for order x\n')
    assert rehearse.pebble_issued() == 1


def test_clients_reach_an_instance_by_the_index_name_on_a_stack_with_a_domain(tmp_path, monkeypatch):
    monkeypatch.setattr(rehearse, 'STATE', tmp_path)
    user = {'name': 'demo', 'password': 'secret'}
    # no domain: the instance's plain index port on loopback, the command as it is
    assert rehearse.index_url('privatepypi-instance-2', user) == 'http://demo:secret@127.0.0.1:8081/'
    assert rehearse.client('privatepypi-instance-2', 'pip', 'install') == ['pip', 'install']
    (tmp_path / 'domain').write_text('example.test\n')
    assert rehearse.index_url('privatepypi-instance-2', user) == 'https://demo:secret@pypi.example.test/'
    command = rehearse.client('privatepypi-instance-2', 'pip', 'install')
    assert command[:2] == ['unshare', '--mount'] and command[-2:] == ['pip', 'install']
    assert (tmp_path / 'hosts-pypi.example.test-172.28.0.12').read_text().splitlines()[-1] == '172.28.0.12 pypi.example.test'


def test_instances_join_the_callers_cpu_group_when_given_one(monkeypatch):
    monkeypatch.setattr(rehearse, 'CGROUP_PARENT', '')
    plain = rehearse.container_options()
    assert '--cgroup-parent' not in plain and '--cgroupns=host' in plain
    monkeypatch.setattr(rehearse, 'CGROUP_PARENT', '/privatepypi-rehearsal')
    assert rehearse.container_options() == plain + ['--cgroup-parent', '/privatepypi-rehearsal']
