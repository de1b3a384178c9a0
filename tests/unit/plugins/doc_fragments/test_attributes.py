# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.attributes: the read-only rows reach every information module as ansible-doc renders it,
and no module writes those rows out again by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import json
import os
import subprocess
import sys

import ansible_collections.privatepypi.aws as collection
import pytest
import yaml
from ansible_collections.privatepypi.aws.plugins.doc_fragments.attributes import ModuleDocFragment

ROOT = collection.__path__[0]  # .../ansible_collections/privatepypi/aws, as the tests' conftest laid it out
MODULES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))
READ_ONLY = 'privatepypi.aws.attributes.read_only'


def documentation(path):
    """A module's own DOCUMENTATION, before any fragment is merged in."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == 'DOCUMENTATION' for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError(f'{path} has no DOCUMENTATION')


def fragments(path):
    return documentation(path).get('extends_documentation_fragment', [])


@pytest.fixture(scope='module')
def rendered():
    """Every module of the collection as ansible-doc renders it, with the collection found where the tests found it."""
    names = [f'privatepypi.aws.{os.path.basename(p)[:-3]}' for p in MODULES]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.dirname(os.path.dirname(os.path.dirname(ROOT))))
    env.pop('ANSIBLE_CONFIG', None)
    out = subprocess.run([sys.executable, '-m', 'ansible.cli.doc', '--json', *names], env=env, check=True,
                         capture_output=True, text=True).stdout
    docs = json.loads(out)
    assert sorted(docs) == sorted(names)  # ansible-doc answers {} and exit 0 for modules it cannot find
    return docs


def test_the_fragment_says_reads_only():
    attributes = yaml.safe_load(ModuleDocFragment.READ_ONLY)['attributes']
    assert attributes == {'check_mode': {'support': 'full', 'details': 'Reads only.'},
                          'diff_mode': {'support': 'N/A', 'details': 'Reads only.'}}


def test_every_info_module_uses_it():
    info = [p for p in MODULES if p.endswith('_info.py')]
    assert info and all(READ_ONLY in fragments(p) for p in info)


def test_no_module_repeats_the_rows(rendered):
    """A module that changes nothing says so through the fragment; one that changes something does not use it."""
    for path in MODULES:
        name = f'privatepypi.aws.{os.path.basename(path)[:-3]}'
        attributes = rendered[name]['doc']['attributes']
        own = documentation(path).get('attributes', {})
        if READ_ONLY in fragments(path):
            assert 'check_mode' not in own and 'diff_mode' not in own, name
            assert attributes['check_mode']['support'] == 'full' and attributes['diff_mode']['support'] == 'N/A'
            # the descriptions still come from ansible.builtin.action_common_attributes
            assert attributes['diff_mode']['description'].startswith('Will return details'), name
            assert attributes['platform']['platforms'] == 'posix', name  # privatepypi.aws.aws is kept
        else:
            assert attributes['diff_mode']['support'] != 'N/A', f'{name} reads only: use {READ_ONLY}'
