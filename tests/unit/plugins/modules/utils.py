# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the module tests share: running a module's main() with arguments and catching its result.

Import it as ``ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils`` (tests/unit/conftest.py
makes that name importable); the fixtures that go with it are in conftest.py beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from unittest import mock

    @contextlib.contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))):
            yield


class AnsibleExitJson(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def exit_json(self, **kwargs):
    """Stands in for AnsibleModule.exit_json (conftest.py patches it in): raises AnsibleExitJson."""
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def fail_json(self, msg, **kwargs):
    """Stands in for AnsibleModule.fail_json (conftest.py patches it in): raises AnsibleFailJson."""
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise AnsibleFailJson(kwargs)


def run_module(module, args, check_mode=False, diff=False, fail=False):
    """Run module.main() with args in check and diff mode as asked; its result, or with fail=True its failure."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(AnsibleFailJson if fail else AnsibleExitJson) as exc:
            module.main()
    result = exc.value.result
    assert bool(result.get('failed')) == fail, result
    return result


def load_emulator():
    """The emulator's patches of moto (tests/support/emulator.py: AWS Backup's recovery points and restore jobs
    among them), applied once: Python imports a module once."""
    return importlib.import_module('ansible_collections.privatepypi.aws.tests.support.emulator')


class FakeClock:
    """time for a module: sleeping moves the clock on at once, nothing waits; on_sleep(number of sleeps so far),
    when given, runs after each sleep (it may let the background work finish)."""

    def __init__(self, on_sleep=None, now=0.0):
        self.now, self.sleeps, self.on_sleep = now, [], on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))
