# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the module tests: exit_json / fail_json caught for every test, moto's AWS for those that ask."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.module_utils import basic
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import exit_json, fail_json


@pytest.fixture(autouse=True)
def patch_exit_fail(monkeypatch):
    """AnsibleModule.exit_json and fail_json raise AnsibleExitJson and AnsibleFailJson (see utils.py)."""
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)


@pytest.fixture
def aws(request, monkeypatch):
    """A fresh in-process AWS (moto) with only fake credentials visible; a client factory to look at it,
    for the test module's REGION. A test module that needs it for every test says
    ``pytestmark = pytest.mark.usefixtures('aws')``."""
    boto3 = pytest.importorskip('boto3')
    moto = pytest.importorskip('moto')
    region = request.module.REGION
    for key in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_URL', 'AWS_ENDPOINT_URL', 'AWS_SESSION_TOKEN'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_CONFIG_FILE', '/nonexistent')
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent')
    with moto.mock_aws():
        yield lambda service: boto3.client(service, region_name=region)
