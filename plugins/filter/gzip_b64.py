# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gzip_b64 filter: gzip a string reproducibly and base64-encode it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text


def gzip_b64(data):
    """gzip with a fixed timestamp, so the same text always gives the same output
    (a launch template must not get a new version on every run)."""
    if not isinstance(data, (str, bytes)):
        raise AnsibleFilterError(f"gzip_b64 expects a string, got {type(data).__name__}")
    return to_text(base64.b64encode(gzip.compress(to_bytes(data), compresslevel=9, mtime=0)))


class FilterModule:
    def filters(self):
        return {"gzip_b64": gzip_b64}
