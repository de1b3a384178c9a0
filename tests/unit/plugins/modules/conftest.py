# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the module tests: exit_json / fail_json caught for every test (moto's AWS: ../../conftest.py)."""

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
