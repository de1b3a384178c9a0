# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootstrap_bundle filter: pack files into a reproducible tar.gz, named by its sha256."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import io
import posixpath
import tarfile

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text


def bootstrap_bundle(files, prefix="bootstrap/"):
    """Same files, same bytes: sorted members, fixed owner and time, gzip without a timestamp,
    so an unchanged host changes neither the key nor the launch template."""
    if not isinstance(files, list):
        raise AnsibleFilterError(f"bootstrap_bundle expects a list of files, got {type(files).__name__}")
    members = {}
    for entry in files:
        if not isinstance(entry, dict) or not {"path", "mode", "content"} <= set(entry):
            raise AnsibleFilterError(f"bootstrap_bundle: each file needs path, mode and content, got {entry!r}")
        path = str(entry["path"])
        name = posixpath.normpath(path).lstrip("/")
        if not path.startswith("/") or ".." in path.split("/") or name in ("", "."):
            raise AnsibleFilterError(f"bootstrap_bundle: {path!r} is not an absolute file path")
        if name in members:
            raise AnsibleFilterError(f"bootstrap_bundle: {path} is listed twice")
        members[name] = (int(str(entry["mode"]), 8), to_bytes(entry["content"]))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            mode, content = members[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(content))
    data = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    digest = hashlib.sha256(data).hexdigest()
    return {
        "content_base64": to_text(base64.b64encode(data)),
        "sha256": digest,
        "key": f"{prefix}{digest}.tar.gz",
        "size": len(data),
        "files": sorted("/" + name for name in members),
    }


class FilterModule:
    def filters(self):
        return {"bootstrap_bundle": bootstrap_bundle}
