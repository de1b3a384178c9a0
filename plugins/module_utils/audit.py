# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pypiserver role's audit log as the modules write it: one JSON line per event.

The host programs (roles/pypiserver/files/privatepypi_host/access.py) keep their own copy of
open_log and of the line format, since they run on a server where this collection is not
installed; tests/unit/plugins/module_utils/test_audit.py holds both to the same shape.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import json
import os
import stat


def open_log(path):
    """The audit log opened for appending; a log this (root) call creates is 0640 and owned like its
    directory, so the services, which run as pypiserver, can still append to it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    except FileExistsError:
        return _existing_log(path)
    os.fchmod(fd, 0o640)
    directory = os.stat(os.path.dirname(path) or '.')
    if os.geteuid() == 0:
        os.fchown(fd, directory.st_uid, directory.st_gid)
    return fd


def _existing_log(path):
    """The log that is there, opened without following a link: the directory belongs to the services'
    user, which could put a symbolic link (to /etc/passwd), a FIFO (a root writer would block on it) or a
    hard link to another file in the log's place. Anything but a regular file with one name is refused."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, 'not a regular file with one name, refused', path)
    return fd


def record_line(event, **fields):
    """One audit line: time and event first set, then the caller's fields; sorted keys, ASCII, newline."""
    record = {'time': datetime.datetime.now(datetime.UTC).isoformat(timespec='milliseconds'), 'event': event}
    record.update(fields)
    return (json.dumps(record, sort_keys=True, ensure_ascii=True) + '\n').encode()


def append(path, event, **fields):
    """Appends one line to the audit log at path (nothing when path is empty). OSError reaches the caller,
    which decides whether a log that cannot be written is a warning."""
    if not path:
        return
    line = record_line(event, **fields)
    fd = open_log(path)
    try:
        os.write(fd, line)  # one write of one line with O_APPEND: lines from several processes never interleave
    finally:
        os.close(fd)
