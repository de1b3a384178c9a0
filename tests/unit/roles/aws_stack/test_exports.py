# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The facts one concern of aws_stack hands to another are visible: a concern folder (network,
storage, load_balancer, ...) exports plain facts in a last task named "Export ..." of its
create.yml (or of the lookup file other concerns include, facts.yml, zones.yml, image.yml), and
every other folder, the role's vars and its templates read only those of its facts. A registered
module result or a working fact read across folders fails here, naming the reader."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import pathlib
import re
import shutil

import yaml
from policies import tasks_of

ROLE = pathlib.Path(__file__).resolve().parents[4] / 'roles' / 'aws_stack'
TASKS = ROLE / 'tasks'


def folder_of(path, role):
    """The concern a task file belongs to: its folder under tasks/, or '.' for the entry files."""
    parts = path.relative_to(role / 'tasks').parts
    return parts[0] if len(parts) > 1 else '.'


def task_files(role):
    return sorted((role / 'tasks').rglob('*.yml'))


def facts_set(task):
    """The facts a task sets: set_fact's names and register."""
    names = [name for name in task.get('ansible.builtin.set_fact') or {} if name != 'cacheable']
    if 'register' in task:
        names.append(task['register'])
    return names


def exports_of(path):
    """The facts path exports: those of its last task, when that task is a set_fact named Export ..."""
    tasks = yaml.safe_load(path.read_text()) or []
    last = tasks[-1] if tasks else {}
    if str(last.get('name', '')).startswith('Export ') and 'ansible.builtin.set_fact' in last:
        return set(last['ansible.builtin.set_fact'])
    return set()


def contract(role=ROLE):
    """(folders that set each fact, facts each folder exports, readers of each fact outside its folders)."""
    setters, exported = collections.defaultdict(set), collections.defaultdict(set)
    for path in task_files(role):
        for task in tasks_of(yaml.safe_load(path.read_text())):
            for name in facts_set(task):
                setters[name].add(folder_of(path, role))
        exported[folder_of(path, role)] |= exports_of(path)
    readers = collections.defaultdict(set)
    others = [(path, folder_of(path, role)) for path in task_files(role)]
    others += [(path, 'vars') for path in (role / 'vars').glob('*.yml')]
    # a template reads facts for the folders whose tasks render it
    others += [(path, folder_of(user, role)) for path in (role / 'templates').glob('*.j2')
               for user in task_files(role) if path.name in user.read_text()]
    for path, folder in others:
        text = path.read_text()
        for name in set(re.findall(r'\b_aws_stack_\w+', text)):
            if name in setters and folder not in setters[name]:
                readers[name].add(str(path.relative_to(role)))
    return setters, exported, readers


def unexported_reads(role=ROLE):
    setters, exported, readers = contract(role)
    return {name: sorted(paths) for name, paths in readers.items()
            if not any(name in exported[folder] for folder in setters[name])}


def test_every_fact_read_across_concerns_is_exported_by_its_concern():
    assert unexported_reads() == {}
    # the contract holds something: the network's VPC and the load balancer's address cross folders
    readers = contract()[2]
    assert {'_aws_stack_vpc_id', '_aws_stack_alb_dns_name', '_aws_stack_efs_id'} <= set(readers)


def test_each_create_ends_with_its_exports_and_exports_no_module_result():
    setters, exported, _readers = contract()
    registered = {task['register'] for path in task_files(ROLE) for task in tasks_of(yaml.safe_load(path.read_text()))
                  if 'register' in task}
    for path in TASKS.glob('*/create.yml'):
        names = [str(task.get('name', '')) for task in yaml.safe_load(path.read_text())]
        exporting = [i for i, name in enumerate(names) if name.startswith('Export ')]
        assert exporting in ([], [len(names) - 1]), f'{path.relative_to(ROLE)}: the export is not its last task'
    for folder, names in exported.items():
        assert not names & registered, (folder, names & registered)
        for name in names:
            assert folder in setters[name]


def test_a_cross_folder_read_of_a_module_result_is_caught(tmp_path):
    """The check itself: another folder reading the network's registered VPC, or the storage's
    working ARN, is reported with the file that reads it."""
    role = tmp_path / 'aws_stack'
    shutil.copytree(ROLE, role)
    outputs = role / 'tasks' / 'outputs' / 'main.yml'
    outputs.write_text(outputs.read_text().replace('_aws_stack_vpc_id', '_aws_stack_vpc.vpc.id'))
    iam = role / 'tasks' / 'iam' / 'create.yml'
    iam.write_text(iam.read_text().replace('_aws_stack_efs_arn', '_aws_stack_storage_efs_arn'))
    assert unexported_reads(role) == {'_aws_stack_vpc': ['tasks/outputs/main.yml'],
                                      '_aws_stack_storage_efs_arn': ['tasks/iam/create.yml']}


def test_the_readme_lists_every_export():
    """The role README's table of what each concern exports is the exports, no more, no fewer."""
    readme = (ROLE / 'README.md').read_text()
    table = readme[readme.index('### Between its own concerns'):readme.index('## Users without reprovisioning')]
    documented = set(re.findall(r'`(_aws_stack_\w+)`', table))
    _setters, exported, _readers = contract()
    assert documented == set().union(*exported.values())
