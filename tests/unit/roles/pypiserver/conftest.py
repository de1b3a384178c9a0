"""Fixtures for the host programs of the pypiserver role (roles/pypiserver/files/privatepypi_host).

They are plain Python run by the role's services; the tests import them from the role's
files directory, exactly the bytes the role installs.
"""

import os
import sys

import pytest

FILES = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver", "files"))
if FILES not in sys.path:
    sys.path.insert(0, FILES)


@pytest.fixture
def store_root(tmp_path):
    root = tmp_path / "packages"
    root.mkdir()
    return str(root)
