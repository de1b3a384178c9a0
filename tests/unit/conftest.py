# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.privatepypi.aws`` importable for plain ``pytest`` runs.

Three layouts are supported, first match wins:

1. the checkout already lives at ``.../ansible_collections/privatepypi/aws``
   (``ansible-test units``, or a copy made for ``ansible-test sanity``);
2. ``<checkout>/.collections/ansible_collections/privatepypi/aws`` links back to the
   checkout (created by ``scripts/setup.sh``);
3. otherwise a throw-away directory with that symlink is made for this test session.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import shutil
import sys
import tempfile

import pytest

NAMESPACE = 'privatepypi'
NAME = 'aws'

COLLECTION_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def _collections_path():
    parent = os.path.dirname(COLLECTION_ROOT)
    grandparent = os.path.dirname(parent)
    if (os.path.basename(COLLECTION_ROOT) == NAME and os.path.basename(parent) == NAMESPACE
            and os.path.basename(grandparent) == 'ansible_collections'):
        return os.path.dirname(grandparent)

    local = os.path.join(COLLECTION_ROOT, '.collections')
    link = os.path.join(local, 'ansible_collections', NAMESPACE, NAME)
    if os.path.isdir(link) and os.path.realpath(link) == COLLECTION_ROOT:
        return local

    farm = tempfile.mkdtemp(prefix='privatepypi-unit-')
    atexit.register(shutil.rmtree, farm, True)
    os.makedirs(os.path.join(farm, 'ansible_collections', NAMESPACE))
    os.symlink(COLLECTION_ROOT, os.path.join(farm, 'ansible_collections', NAMESPACE, NAME))
    return farm


_path = _collections_path()
if _path not in sys.path:
    sys.path.insert(0, _path)


@pytest.fixture
def aws(request, monkeypatch):
    """A fresh in-process AWS (moto) with only fake credentials visible; a client factory to look at it,
    for the test module's REGION. A test module that needs it for every test says
    ``pytestmark = pytest.mark.usefixtures('aws')``."""
    boto3 = pytest.importorskip('boto3')
    moto = pytest.importorskip('moto')
    region = getattr(request.module, 'REGION', 'us-east-1')
    for key in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_URL', 'AWS_ENDPOINT_URL', 'AWS_SESSION_TOKEN'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_CONFIG_FILE', '/nonexistent')
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent')
    with moto.mock_aws():
        yield lambda service: boto3.client(service, region_name=region)


# CPU seconds of the slowest files (2026-12-07, a quiet 2-core machine). pytest-xdist's loadfile hands whole
# files to whichever worker is free, in collection order: the longest first, so that the run does not end
# with one worker on a long file while the other has nothing left.
SLOWEST_FILES = {'test_network_routes.py': 76, 'test_emulator_strict.py': 44, 'test_user_data.py': 42,
                 'test_upstream_credentials.py': 32, 'test_ssm_run_command.py': 27, 'test_htpasswd.py': 25,
                 'test_emulator_iam.py': 24, 'test_preflight_limits.py': 23, 'test_oidc.py': 22}


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: -SLOWEST_FILES.get(item.path.name, 0))  # stable: the rest keep their order
