# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.ec2_managed_prefix_list_info against moto's in-process AWS with the emulator's
Route53 health checkers' prefix lists (tests/support/emulator_iam.py): real API calls."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import ec2_managed_prefix_list_info  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import load_emulator, run_module  # noqa: E402

pytestmark = pytest.mark.usefixtures('aws')

REGION = 'eu-central-1'
EMULATOR_MODULE = load_emulator()
CHECKERS = f'com.amazonaws.{REGION}.route53-healthchecks'


def run(args, check_mode=False, fail=False):
    return run_module(ec2_managed_prefix_list_info, dict({'region': REGION}, **args), check_mode=check_mode, fail=fail)


def test_finds_route53_health_checkers_by_name(aws):
    result = run({'names': [CHECKERS]})
    assert result['changed'] is False
    assert [(p['prefix_list_name'], p['owner_id'], p['address_family']) for p in result['prefix_lists']] == [
        (CHECKERS, 'AWS', 'IPv4')]
    expected = aws('ec2').describe_managed_prefix_lists(
        Filters=[{'Name': 'prefix-list-name', 'Values': [CHECKERS]}])['PrefixLists'][0]['PrefixListId']
    assert result['prefix_lists'][0]['prefix_list_id'] == expected and expected.startswith('pl-')


def test_several_names_sorted_and_unknown_names_absent():
    result = run({'names': [CHECKERS, f'com.amazonaws.{REGION}.s3', 'no-such-list']}, check_mode=True)
    assert [p['prefix_list_name'] for p in result['prefix_lists']] == [CHECKERS, f'com.amazonaws.{REGION}.s3']


def test_no_names_lists_all_including_the_accounts_own(aws):
    aws('ec2').create_managed_prefix_list(PrefixListName='office', AddressFamily='IPv4', MaxEntries=5,
                                          Entries=[{'Cidr': '203.0.113.0/24'}])
    names = [p['prefix_list_name'] for p in run({})['prefix_lists']]
    assert names == sorted(names) and 'office' in names and CHECKERS in names
    own = run({'names': ['office']})['prefix_lists']
    assert own[0]['max_entries'] == 5 and own[0]['owner_id'] != 'AWS'
