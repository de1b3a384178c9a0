# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.privatepypi.aws.plugins.modules import htpasswd
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import patch_module_args, run_module
from passlib.apache import HtpasswdFile, htpasswd_context
from passlib.hash import apr_md5_crypt, ldap_sha1, sha256_crypt
from passlib.hash import bcrypt as bcrypt_hash

PW1 = 'correct-horse-battery-1'
PW2 = 'different-staple-2'
PW3 = 'third-secret-3'


def run_ok(args, check_mode=False, diff=False):
    return run_module(htpasswd, args, check_mode, diff)


def run_fail(args, check_mode=False):
    return run_module(htpasswd, args, check_mode, fail=True)


def read_file(path):
    ht = HtpasswdFile(str(path))
    return ht


def hash_of(path, user):
    h = read_file(path).get_hash(user)
    assert h is not None, f'user {user} not in {path}'
    return h.decode('ascii') if isinstance(h, bytes) else h


def write_entries(path, entries, extra=b''):
    """entries: list of (user, hash string)."""
    data = b''.join(to_bytes(f'{u}:{h}\n') for u, h in entries) + extra
    path.write_bytes(data)
    os.chmod(str(path), 0o600)
    return data


def assert_no_secrets(result, *passwords):
    text = json.dumps(result, sort_keys=True)
    for pw in passwords:
        assert pw not in text
    for marker in ('$2y$', '$2b$', '$6$', '$5$', '$apr1$', '{SHA}'):
        assert marker not in text


@pytest.fixture
def htfile(tmp_path):
    return tmp_path / 'htpasswd'


# --- creating and idempotency -------------------------------------------------

def test_create_file_with_bcrypt_user(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1))

    assert result['changed'] is True
    assert result['added'] == ['alice']
    assert result['removed'] == []
    assert result['updated'] == []
    assert result['users'] == ['alice']
    h = hash_of(htfile, 'alice')
    assert h.startswith('$2y$')
    assert htpasswd_context.identify(h) == 'bcrypt'
    assert bcrypt_hash.verify(PW1, h)
    assert not bcrypt_hash.verify(PW2, h)
    assert read_file(htfile).check_password('alice', PW1) is True
    assert_no_secrets(result, PW1)


def test_new_file_gets_mode_0600(htfile):
    old = os.umask(0o022)
    try:
        run_ok(dict(path=str(htfile), name='alice', password=PW1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o600


def test_new_file_honours_mode(htfile):
    run_ok(dict(path=str(htfile), name='alice', password=PW1, mode='0640'))
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o640


def test_existing_file_mode_untouched_without_mode(htfile):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2))])
    os.chmod(str(htfile), 0o644)
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1))
    assert result['changed'] is True
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o644


def test_mode_change_alone_is_a_change(htfile):
    run_ok(dict(path=str(htfile), name='alice', password=PW1))
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1, mode='0640'))
    assert result['changed'] is True
    assert result['updated'] == [] and result['added'] == []
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o640


def test_second_run_is_idempotent(htfile):
    run_ok(dict(path=str(htfile), name='alice', password=PW1))
    before = htfile.read_bytes()
    mtime = os.stat(str(htfile)).st_mtime_ns

    result = run_ok(dict(path=str(htfile), name='alice', password=PW1))

    assert result['changed'] is False
    assert result['added'] == [] and result['updated'] == [] and result['removed'] == []
    assert result['users'] == ['alice']
    assert htfile.read_bytes() == before
    assert os.stat(str(htfile)).st_mtime_ns == mtime


def test_password_change_rehashes(htfile):
    run_ok(dict(path=str(htfile), name='alice', password=PW1))
    old_hash = hash_of(htfile, 'alice')

    result = run_ok(dict(path=str(htfile), name='alice', password=PW2))

    assert result['changed'] is True
    assert result['updated'] == ['alice']
    assert result['added'] == []
    new_hash = hash_of(htfile, 'alice')
    assert new_hash != old_hash
    assert bcrypt_hash.verify(PW2, new_hash)
    assert not bcrypt_hash.verify(PW1, new_hash)
    assert_no_secrets(result, PW1, PW2)


def test_other_users_and_comments_are_kept(htfile):
    bob = sha256_crypt.hash(PW2)
    write_entries(htfile, [('bob', bob)], extra=b'# managed elsewhere\n')
    run_ok(dict(path=str(htfile), name='alice', password=PW1))
    data = htfile.read_bytes()
    assert b'# managed elsewhere\n' in data
    assert to_bytes(f'bob:{bob}\n') in data
    assert data.index(b'bob:') < data.index(b'alice:')


# --- schemes -------------------------------------------------------------------

@pytest.mark.parametrize('scheme, prefix', [
    ('sha512_crypt', '$6$'),
    ('sha256_crypt', '$5$'),
    ('apr_md5_crypt', '$apr1$'),
    ('bcrypt', '$2y$'),
])
def test_schemes(htfile, scheme, prefix):
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1, scheme=scheme))
    assert result['added'] == ['alice']
    h = hash_of(htfile, 'alice')
    assert h.startswith(prefix)
    assert htpasswd_context.identify(h) == scheme
    assert htpasswd_context.verify(PW1, h)
    assert_no_secrets(result, PW1)


def test_verifying_hash_of_other_scheme_is_kept_by_default(htfile):
    write_entries(htfile, [('alice', apr_md5_crypt.hash(PW1))])
    before = htfile.read_bytes()
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1, scheme='bcrypt'))
    assert result['changed'] is False
    assert htfile.read_bytes() == before


def test_update_scheme_rehashes_other_scheme(htfile):
    write_entries(htfile, [('alice', apr_md5_crypt.hash(PW1)), ('bob', sha256_crypt.hash(PW2))])
    bob_before = hash_of(htfile, 'bob')
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1, scheme='sha512_crypt', update_scheme=True))
    assert result['changed'] is True
    assert result['updated'] == ['alice']
    h = hash_of(htfile, 'alice')
    assert h.startswith('$6$') and htpasswd_context.verify(PW1, h)
    assert hash_of(htfile, 'bob') == bob_before

    again = run_ok(dict(path=str(htfile), name='alice', password=PW1, scheme='sha512_crypt', update_scheme=True))
    assert again['changed'] is False


def test_plaintext_and_broken_entries_are_rehashed(htfile):
    # 'alice' stored in clear text (verifies, but must not be kept), 'bob' has a broken bcrypt hash
    write_entries(htfile, [('alice', PW1), ('bob', '$2y$12$short')])
    result = run_ok(dict(path=str(htfile), users=[dict(name='alice', password=PW1), dict(name='bob', password=PW2)]))
    assert result['updated'] == ['alice', 'bob']
    assert bcrypt_hash.verify(PW1, hash_of(htfile, 'alice'))
    assert bcrypt_hash.verify(PW2, hash_of(htfile, 'bob'))
    assert PW1.encode() not in htfile.read_bytes()


def test_ldap_sha1_entry_kept_while_it_verifies(htfile):
    write_entries(htfile, [('alice', ldap_sha1.hash(PW1))])
    assert run_ok(dict(path=str(htfile), name='alice', password=PW1))['changed'] is False
    assert run_ok(dict(path=str(htfile), name='alice', password=PW2))['updated'] == ['alice']


# --- absent / exclusive / users list -------------------------------------------

def test_absent_removes_user(htfile):
    run_ok(dict(path=str(htfile), users=[dict(name='alice', password=PW1), dict(name='bob', password=PW2)]))

    result = run_ok(dict(path=str(htfile), name='alice', state='absent'))

    assert result['changed'] is True
    assert result['removed'] == ['alice']
    assert result['users'] == ['bob']
    assert read_file(htfile).users() == ['bob']

    again = run_ok(dict(path=str(htfile), name='alice', state='absent'))
    assert again['changed'] is False
    assert again['removed'] == []


def test_absent_on_missing_file_does_not_create_it(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', state='absent'))
    assert result['changed'] is False
    assert result['users'] == []
    assert not htfile.exists()


def test_exclusive_removes_unlisted_users(htfile):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2)), ('carol', sha256_crypt.hash(PW3))])

    result = run_ok(dict(path=str(htfile), exclusive=True,
                         users=[dict(name='alice', password=PW1), dict(name='bob', password=PW2)]))

    assert result['changed'] is True
    assert result['added'] == ['alice']
    assert result['removed'] == ['carol']
    assert result['updated'] == []
    assert result['users'] == ['alice', 'bob']
    assert sorted(read_file(htfile).users()) == ['alice', 'bob']
    assert_no_secrets(result, PW1, PW2, PW3)


def test_without_exclusive_unlisted_users_stay(htfile):
    write_entries(htfile, [('carol', sha256_crypt.hash(PW3))])
    result = run_ok(dict(path=str(htfile), users=[dict(name='alice', password=PW1)]))
    assert result['removed'] == []
    assert result['users'] == ['alice', 'carol']


def test_exclusive_with_name(htfile):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2))])
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1, exclusive=True))
    assert result['removed'] == ['bob']
    assert read_file(htfile).users() == ['alice']


def test_users_absent_removes_several(htfile):
    run_ok(dict(path=str(htfile), users=[dict(name=n, password=PW1) for n in ('a', 'b', 'c')]))
    result = run_ok(dict(path=str(htfile), state='absent', users=[dict(name='a'), dict(name='c'), dict(name='zz')]))
    assert result['removed'] == ['a', 'c']
    assert result['users'] == ['b']


def test_create_false_with_absent_and_missing_file(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', state='absent', create=False))
    assert result['changed'] is False
    assert not htfile.exists()


def test_empty_users_list_creates_empty_file(htfile):
    result = run_ok(dict(path=str(htfile), users=[]))
    assert result['changed'] is True
    assert htfile.read_bytes() == b''
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o600


def test_symlink_target_is_updated(tmp_path):
    target = tmp_path / 'real'
    link = tmp_path / 'link'
    os.symlink(str(target), str(link))
    run_ok(dict(path=str(link), name='alice', password=PW1))
    assert os.path.islink(str(link))
    assert read_file(target).users() == ['alice']


def test_no_temp_files_left_behind(tmp_path):
    run_ok(dict(path=str(tmp_path / 'htpasswd'), name='alice', password=PW1))
    run_ok(dict(path=str(tmp_path / 'htpasswd'), name='alice', password=PW2))
    assert sorted(os.listdir(str(tmp_path))) == ['htpasswd']


# --- check mode and diff ---------------------------------------------------------

def test_check_mode_does_not_create_file(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1), check_mode=True)
    assert result['changed'] is True
    assert result['added'] == ['alice']
    assert result['users'] == ['alice']
    assert not htfile.exists()


def test_check_mode_does_not_modify_file(htfile):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2)), ('carol', sha256_crypt.hash(PW3))])
    before = htfile.read_bytes()
    mtime = os.stat(str(htfile)).st_mtime_ns

    result = run_ok(dict(path=str(htfile), exclusive=True, mode='0640',
                         users=[dict(name='alice', password=PW1), dict(name='bob', password=PW1)]),
                    check_mode=True)

    assert result['changed'] is True
    assert result['added'] == ['alice']
    assert result['updated'] == ['bob']
    assert result['removed'] == ['carol']
    assert htfile.read_bytes() == before
    assert os.stat(str(htfile)).st_mtime_ns == mtime
    assert stat.S_IMODE(os.stat(str(htfile)).st_mode) == 0o600
    assert sorted(os.listdir(str(htfile.parent))) == ['htpasswd']


def test_check_mode_reports_no_change_when_in_sync(htfile):
    run_ok(dict(path=str(htfile), name='alice', password=PW1))
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1), check_mode=True)
    assert result['changed'] is False


def test_diff_contains_user_names_only(htfile):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2)), ('carol', sha256_crypt.hash(PW3))])

    result = run_ok(dict(path=str(htfile), exclusive=True,
                         users=[dict(name='alice', password=PW1), dict(name='bob', password=PW3)]),
                    diff=True)

    diff = result['diff']
    assert diff['before'] == 'bob\ncarol\n'
    assert diff['after'] == 'alice\nbob\n'
    assert diff['before_header'] == str(htfile)
    assert '$' not in diff['before'] + diff['after']
    assert_no_secrets(result, PW1, PW2, PW3)


def test_diff_in_check_mode_for_new_file(htfile):
    result = run_ok(dict(path=str(htfile), users=[dict(name='bob', password=PW2), dict(name='alice', password=PW1)]),
                    check_mode=True, diff=True)
    assert result['diff']['before'] == ''
    assert result['diff']['after'] == 'alice\nbob\n'
    assert not htfile.exists()
    assert_no_secrets(result, PW1, PW2)


def test_no_diff_key_without_diff_mode(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', password=PW1))
    assert 'diff' not in result


def test_real_exit_json_masks_password(htfile, monkeypatch, capsys):
    """Through the real exit_json: the invocation must not echo the passwords."""
    monkeypatch.undo()  # restore the real exit_json / fail_json
    args = dict(path=str(htfile), users=[dict(name='alice', password=PW1)], _ansible_check_mode=False, _ansible_diff=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            htpasswd.main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result['changed'] is True
    assert result['users'] == ['alice']
    assert_no_secrets(result, PW1)


# --- errors ------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (dict(name='', password=PW1), 'must not be empty'),
    (dict(name='al:ice', password=PW1), "must not contain ':'"),
    (dict(name='al\nice', password=PW1), 'newline'),
    (dict(name='a' * 256, password=PW1), 'at most 255 bytes'),
    (dict(name='alice', password=''), 'password of user'),
    (dict(name='alice'), 'password of user'),
    (dict(users=[dict(name='alice', password=PW1), dict(name='alice', password=PW2)]), 'more than once'),
    (dict(users=[dict(name='alice')]), 'password of user'),
    (dict(users=[dict(name='', password=PW1)]), 'must not be empty'),
    (dict(name='alice', password='x' * 73), 'longer than 72 bytes'),
    (dict(name='alice', password=PW1, scheme='md5_crypt'), 'scheme'),
    (dict(name='alice', password=PW1, scheme='plaintext'), 'scheme'),
    (dict(name='alice', state='absent', exclusive=True), 'exclusive=true can only be used with state=present'),
    (dict(name='alice', password=PW1, users=[dict(name='bob', password=PW2)]), 'mutually exclusive'),
    (dict(password=PW1), 'one of the following is required'),
])
def test_invalid_arguments(htfile, args, message):
    args = dict(args, path=str(htfile))
    result = run_fail(args)
    assert message in result['msg']
    assert not htfile.exists()
    assert_no_secrets(result, PW1, PW2)


def test_long_password_is_fine_with_sha512(htfile):
    result = run_ok(dict(path=str(htfile), name='alice', password='x' * 100, scheme='sha512_crypt'))
    assert result['added'] == ['alice']
    assert read_file(htfile).check_password('alice', 'x' * 100)


def test_unknown_scheme_runtime_check(htfile, monkeypatch):
    monkeypatch.setattr(htpasswd, 'htpasswd_context', type('Ctx', (), {'schemes': staticmethod(lambda: ('bcrypt',))})())
    result = run_fail(dict(path=str(htfile), name='alice', password=PW1, scheme='sha512_crypt'))
    assert "Unknown scheme 'sha512_crypt'" in result['msg']


def test_path_is_a_directory(tmp_path):
    result = run_fail(dict(path=str(tmp_path), name='alice', password=PW1))
    assert 'is a directory' in result['msg']
    assert str(tmp_path) in result['msg']


def test_unreadable_file_permission_denied():
    """The module run as a process of an unprivileged user (root reads any file, and CI runs as
    root: then the process drops to nobody), on a file only root may read."""
    folder = tempfile.mkdtemp(prefix='htpasswd-unreadable-')
    try:
        os.chmod(folder, 0o755)  # noqa: S103 - nobody must reach the file to be refused by its mode
        htfile = pathlib.Path(folder) / 'htpasswd'
        write_entries(htfile, [('bob', sha256_crypt.hash(PW2))])
        os.chmod(str(htfile), 0)
        arguments = pathlib.Path(folder) / 'args.json'
        arguments.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(path=str(htfile), name='alice', password=PW1)}))
        os.chmod(str(arguments), 0o644)
        unprivileged = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] if os.geteuid() == 0 else []
        process = subprocess.run(
            [*unprivileged, sys.executable, '-m', htpasswd.__name__, str(arguments)],
            capture_output=True, text=True, timeout=60, check=False, cwd=folder,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), HOME=folder))
        result = json.loads(process.stdout)
        assert process.returncode != 0 and result.get('failed'), result
        assert 'Cannot read htpasswd file' in result['msg']
        assert 'Permission denied' in result['msg']
        assert PW1 not in process.stdout + process.stderr
    finally:
        shutil.rmtree(folder)


def test_unreadable_file_permission_denied_simulated(htfile, monkeypatch):
    write_entries(htfile, [('bob', sha256_crypt.hash(PW2))])
    before = htfile.read_bytes()

    def denied(path, *args, **kwargs):
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(htpasswd, 'open', denied, raising=False)
    result = run_fail(dict(path=str(htfile), name='alice', password=PW1))
    assert result['msg'] == f'Cannot read htpasswd file {htfile}: Permission denied.'
    assert htfile.read_bytes() == before


@pytest.mark.parametrize('content', [
    b'this line has no colon\n',
    b'\x7fELF\x02\x01\x01\x00\x00\x00binary',
    b'\xff\xfeal:$2y$12$abc\n',
])
def test_garbage_file(htfile, content):
    htfile.write_bytes(content)
    result = run_fail(dict(path=str(htfile), name='alice', password=PW1))
    assert f'Cannot parse htpasswd file {htfile}' in result['msg']
    assert htfile.read_bytes() == content


def test_create_false_and_missing_file(htfile):
    result = run_fail(dict(path=str(htfile), name='alice', password=PW1, create=False))
    assert 'does not exist and create=false' in result['msg']
    assert not htfile.exists()


def test_missing_directory(tmp_path):
    result = run_fail(dict(path=str(tmp_path / 'nope' / 'htpasswd'), name='alice', password=PW1))
    assert 'does not exist' in result['msg']


def test_missing_passlib(htfile, monkeypatch):
    monkeypatch.setattr(htpasswd, 'HAS_PASSLIB', False)
    monkeypatch.setattr(htpasswd, 'PASSLIB_IMP_ERR', 'Traceback: ImportError: No module named passlib')
    result = run_fail(dict(path=str(htfile), name='alice', password=PW1))
    assert 'passlib' in result['msg']
    assert 'Failed to import the required Python library' in result['msg']
    assert not htfile.exists()
