# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.instance_type_info against moto's in-process EC2 (its offering data per zone), with
the emulator's per-zone gaps (tests/support/emulator.py STRICT['missing_offerings'])."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import instance_type_info  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import load_emulator, run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'us-east-1'
EMULATOR = load_emulator()


def run(args, check_mode=False):
    return run_module(instance_type_info, dict(args, region=REGION), check_mode)


def test_an_x86_type_is_amd64_in_the_zones_that_offer_it():
    result = run(dict(instance_type='t3.small'))
    assert result['changed'] is False and result['exists'] is True
    assert result['architectures'] == ['x86_64'] and result['cpu_architecture'] == 'amd64'
    assert (result['ebs_optimized_support'], result['ebs_optimized']) == ('default', True)
    # moto's offering data mirrors us-east-1: use1-az3 (us-east-1e) offers no t3
    assert result['zones'] == ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1f']


def test_a_graviton_type_is_arm64_and_a_zone_without_it_is_left_out(monkeypatch):
    monkeypatch.setitem(EMULATOR.STRICT, 'missing_offerings', {'us-east-1a': ['t4g.small']})
    result = run(dict(instance_type='t4g.small'), check_mode=True)
    assert result['architectures'] == ['arm64'] and result['cpu_architecture'] == 'arm64'
    assert result['zones'][:2] == ['us-east-1b', 'us-east-1c'] and 'us-east-1a' not in result['zones']


def test_an_unknown_type_is_reported_not_failed():
    result = run(dict(instance_type='t9z.nano'))
    assert (result['exists'], result['architectures'], result['cpu_architecture'], result['zones']) == (False, [], '', [])
    assert (result['ebs_optimized_support'], result['ebs_optimized']) == ('', False)


def test_a_type_without_ebs_optimisation_says_so():
    """t2 cannot be EBS-optimised: a launch template asking for it never launches (issue 18, finding 5)."""
    result = run(dict(instance_type='t2.micro'))
    assert result['exists'] is True and result['cpu_architecture'] == 'amd64'
    assert (result['ebs_optimized_support'], result['ebs_optimized']) == ('unsupported', False)


def test_the_architecture_names_follow_debian():
    assert instance_type_info.cpu_architecture(['x86_64', 'i386']) == 'amd64'
    assert instance_type_info.cpu_architecture(['i386']) == ''
