# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every entry point of the aws_stack role that talks to AWS runs site.yml's own entry checks
(preflight/stack.yml: which stack, where; preflight/connection.yml: whose credentials) before its
first AWS call, and none keeps a copy of those rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pathlib

import pytest
import yaml
from policies import tasks_of

TASKS = pathlib.Path(__file__).resolve().parents[4] / 'roles' / 'aws_stack' / 'tasks'
AWS_MODULE_PREFIXES = ('amazon.aws.', 'community.aws.', 'privatepypi.aws.')


def _imports(path):
    """The task files path runs, in order, following import_tasks/include_tasks of plain file names."""
    for task in tasks_of(yaml.safe_load(path.read_text())):
        target = task.get('ansible.builtin.import_tasks') or task.get('ansible.builtin.include_tasks')
        if isinstance(target, dict):
            target = target.get('file')
        if isinstance(target, str) and '{{' not in target:
            yield target
            yield from _imports(TASKS / target)
        elif any(str(key).startswith(AWS_MODULE_PREFIXES) for key in task):
            yield 'AWS call: ' + task.get('name', '?')


@pytest.mark.parametrize('entry', ['main.yml', 'teardown.yml', 'restore.yml', 'users.yml'])
def test_the_entry_checks_come_first_and_are_site_ymls_own(entry):
    steps = list(_imports(TASKS / entry))
    first_call = next(i for i, step in enumerate(steps) if step.startswith('AWS call: '))
    assert 'preflight/stack.yml' in steps[:first_call], steps[:first_call + 1]
    assert 'preflight/connection.yml' in steps[:first_call + 1] or steps[first_call - 1] == 'preflight/connection.yml', steps
    # no copy of the stack-name rule outside preflight/stack.yml
    text = (TASKS / entry).read_text()
    assert "aws_stack_name is match(" not in text
