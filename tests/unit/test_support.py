# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test doubles' guard: they patch one moto version and refuse another, clearly."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.tests import support  # noqa: E402


def test_the_installed_moto_is_the_patched_one():
    assert support.require_moto() == support.MOTO_VERSION == moto.__version__


def test_another_moto_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(moto, '__version__', '5.3.0')
    with pytest.raises(RuntimeError, match=r'patches moto 5\.2\.5, but moto 5\.3\.0 is installed'):
        support.require_moto()
