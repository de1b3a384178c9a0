# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' audit writer (module_utils/audit.py) and the host programs' (privatepypi_host/access.py)
write one log: the same keys, the same JSON line, the same file mode and owner. The host copy exists
because the host programs run where this collection is not installed; these tests keep the two from drifting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import sys

import pytest
from ansible_collections.privatepypi.aws.plugins.module_utils import audit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'pypiserver', 'files'))
from privatepypi_host import access  # noqa: E402

# Fields as both sides pass them, with text that JSON must escape (quotes, a newline, non-ASCII).
FIELDS = dict(who='alice', token='', project='cc-lib', file='cc-lib/cc_lib-1.0.tar.gz', sha256='ab' * 32,
              reason='broken "build"\nsee ticket', client='192.0.2.7', note='caf\u00e9 \u2713')

WRITERS = {
    'module_utils': audit.append,
    'host': access.audit,
}


@pytest.fixture(params=sorted(WRITERS))
def writer(request):
    return WRITERS[request.param]


def written(tmp_path, name, write, event='yank', **fields):
    path = tmp_path / name
    write(str(path), event, **fields)
    return path, path.read_bytes()


def shape(line):
    """A line with its time taken out, and the time checked: ISO 8601 UTC to the millisecond."""
    record = json.loads(line)
    stamp = datetime.datetime.fromisoformat(record.pop('time'))
    assert stamp.utcoffset() == datetime.timedelta(0) and stamp.microsecond % 1000 == 0
    return record


def test_both_writers_produce_the_same_line(tmp_path):
    lines = {name: written(tmp_path, name, write, **FIELDS)[1] for name, write in WRITERS.items()}
    module_line, host_line = lines['module_utils'], lines['host']
    for line in (module_line, host_line):
        assert line.endswith(b'\n') and line.count(b'\n') == 1  # one line, whatever the fields hold
        assert line.isascii()  # ensure_ascii on both sides: a log reader never meets a decoding error
    assert shape(module_line) == shape(host_line) == dict(FIELDS, event='yank')
    # Byte for byte once the time is equal: key order (sorted), separators and escapes agree.
    stamp = json.loads(module_line)['time']
    assert module_line == host_line.replace(json.loads(host_line)['time'].encode(), stamp.encode())
    assert list(json.loads(module_line)) == sorted(json.loads(module_line))


def test_same_mode_and_owner_when_created(tmp_path, writer):
    old = os.umask(0o077)  # a service's UMask=0077 must not leave a log the others cannot read
    try:
        path, _line = written(tmp_path, 'audit.log', writer, **FIELDS)
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == '0o640'
    if os.geteuid() == 0:  # a root caller leaves the log to the directory's owner (the services' user)
        directory = tmp_path / 'owned'
        directory.mkdir()
        os.chown(directory, 4321, 4322)
        path, _line = written(directory, 'audit.log', writer, **FIELDS)
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)


def test_an_existing_log_keeps_its_mode_and_is_appended_to(tmp_path, writer):
    path = tmp_path / 'audit.log'
    path.write_bytes(b'{"event": "earlier"}\n')
    path.chmod(0o600)  # an operator's choice (or logrotate's create mode) is not undone
    writer(str(path), 'token_created', token='ci', who='ops')
    writer(str(path), 'token_revoked', token='ci', who='ops')
    lines = path.read_text().splitlines()
    assert [json.loads(line)['event'] for line in lines] == ['earlier', 'token_created', 'token_revoked']
    assert oct(path.stat().st_mode & 0o777) == '0o600'


def test_an_empty_path_writes_nothing(tmp_path, writer):
    writer('', 'yank', **FIELDS)
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_cannot_be_opened(tmp_path):
    """The two differ only here, on purpose: a host program never fails a request over its log (False), while
    a module is told (OSError) and turns it into a warning."""
    missing = str(tmp_path / 'missing-dir' / 'audit.log')
    assert access.audit(missing, 'yank') is False
    with pytest.raises(OSError):
        audit.append(missing, 'yank')


@pytest.mark.parametrize('planted', ['symlink', 'dangling symlink', 'fifo', 'hard link'])
def test_a_link_or_fifo_in_the_logs_place_is_refused_never_followed(tmp_path, writer, planted):
    """Issue 17: root writes the log (the release and token modules, the credentials' refresh) in a directory
    the services' user owns, which can put anything in the log's place: a link to a file of root's must not
    get a line appended, a FIFO must not hang the writer. Before, both writers followed the link."""
    victim = tmp_path / 'passwd'
    victim.write_bytes(b'root:x:0:0::/root:/bin/sh\n')
    log = tmp_path / 'audit.log'
    if planted == 'symlink':
        log.symlink_to(victim)
    elif planted == 'dangling symlink':
        log.symlink_to(tmp_path / 'created-by-root')
    elif planted == 'fifo':
        os.mkfifo(log)
    else:
        os.link(victim, log)
    try:
        refused = writer(str(log), 'yank', **FIELDS) is False  # the host's writer says False, never raises
    except OSError:
        refused = True
    assert refused
    assert victim.read_bytes() == b'root:x:0:0::/root:/bin/sh\n'
    assert not (tmp_path / 'created-by-root').exists()


def test_the_log_itself_is_still_appended_to(tmp_path, writer):
    path, first = written(tmp_path, 'audit.log', writer, **FIELDS)
    writer(str(path), 'yank', **FIELDS)
    assert path.read_bytes().count(b'\n') == 2 and path.read_bytes().startswith(first)
