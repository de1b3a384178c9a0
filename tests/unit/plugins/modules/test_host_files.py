# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat

import pytest
from ansible_collections.privatepypi.aws.plugins.modules import host_files
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import run_module

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def entry(path, content, mode="0644"):
    return {"path": str(path), "content": content, "mode": mode, "owner": ME, "group": MY_GROUP}


def run(files=(), absent=(), check_mode=False, diff=False):
    return run_module(host_files, {"files": list(files), "absent": [str(p) for p in absent]}, check_mode, diff)


def refused(files=(), absent=()):
    return run_module(host_files, {"files": list(files), "absent": [str(p) for p in absent]}, fail=True)["msg"]


def state(path):
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode), path.read_text()


def test_writes_each_file_with_its_mode_making_parents_then_changes_nothing(tmp_path):
    wanted = [entry(tmp_path / "etc/app/app.conf", "port = 8080\n"),
              entry(tmp_path / "sbin/app-hook", "#!/bin/sh\nexit 0\n", "0755")]
    result = run(wanted)
    assert result["changed"] and result["written"] == [w["path"] for w in wanted] and result["removed"] == []
    assert state(tmp_path / "etc/app/app.conf") == (0o644, "port = 8080\n")
    assert state(tmp_path / "sbin/app-hook") == (0o755, "#!/bin/sh\nexit 0\n")
    assert stat.S_IMODE(os.stat(tmp_path / "etc/app").st_mode) == 0o755
    again = run(wanted)
    assert not again["changed"] and again["written"] == [] and again["removed"] == []
    # nothing half-written or temporary is left beside the files
    assert sorted(os.listdir(tmp_path / "etc/app")) == ["app.conf"]


def test_only_what_differs_is_written_content_or_mode(tmp_path):
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    run([entry(first, "one\n"), entry(second, "two\n")])
    inode = os.stat(second).st_ino
    result = run([entry(first, "one, changed\n"), entry(second, "two\n", "0600")])
    assert result["written"] == [str(first), str(second)]
    assert state(first) == (0o644, "one, changed\n") and state(second) == (0o600, "two\n")
    assert os.stat(second).st_ino != inode  # renamed over, never rewritten in place
    assert run([entry(first, "one, changed\n"), entry(second, "two\n", "0600")])["changed"] is False


def test_check_mode_and_diff_say_what_would_change_and_touch_nothing(tmp_path):
    kept, doomed = tmp_path / "kept.conf", tmp_path / "old.timer"
    run([entry(kept, "before\n"), entry(doomed, "[Timer]\n")])
    result = run([entry(kept, "after\n"), entry(tmp_path / "new.conf", "new\n")], absent=[doomed],
                 check_mode=True, diff=True)
    assert result["changed"] and result["written"] == [str(kept), str(tmp_path / "new.conf")]
    assert result["removed"] == [str(doomed)]
    assert [(d["before"], d["after"]) for d in result["diff"]] == [("before\n", "after\n"), ("", "new\n"), ("[Timer]\n", "")]
    assert kept.read_text() == "before\n" and doomed.exists() and not (tmp_path / "new.conf").exists()


def test_absent_removes_files_and_links_not_what_a_link_points_at(tmp_path):
    target = tmp_path / "target.conf"
    target.write_text("keep me\n")
    link, plain = tmp_path / "link.conf", tmp_path / "plain.conf"
    link.symlink_to(target)
    plain.write_text("x\n")
    result = run(absent=[link, plain, tmp_path / "never-there"])
    assert result["removed"] == [str(link), str(plain)]
    assert not os.path.lexists(link) and not plain.exists() and target.read_text() == "keep me\n"
    assert run(absent=[link, plain])["changed"] is False


def test_a_link_where_a_file_belongs_is_replaced_and_its_target_untouched(tmp_path):
    target, path = tmp_path / "elsewhere", tmp_path / "unit.service"
    target.write_text("someone else's\n")
    path.symlink_to(target)
    assert run([entry(path, "[Unit]\n")])["written"] == [str(path)]
    assert not path.is_symlink() and path.read_text() == "[Unit]\n" and target.read_text() == "someone else's\n"


@pytest.mark.parametrize("files, absent, message", [
    ([{"path": "relative.conf", "content": "", "mode": "0644"}], [], "is not an absolute path"),
    ([{"path": "/tmp/x.conf", "content": "", "mode": "rw-r--r--"}], [], "is not octal"),
    ([{"path": "/tmp/x.conf", "content": "", "mode": "0644", "owner": "no-such-user-here"}], [], "no user"),
    ([{"path": "/tmp/x.conf", "content": "", "mode": "0644"}] * 2, [], "named more than once: /tmp/x.conf"),
    ([{"path": "/tmp/x.conf", "content": "", "mode": "0644"}], ["/tmp/x.conf"], "named more than once"),
    ([], ["relative"], "is not an absolute path"),
])
def test_refusals_name_the_path(files, absent, message):
    assert message in refused(files, absent)


def test_a_directory_is_never_removed(tmp_path):
    (tmp_path / "folder").mkdir()
    assert "is a directory" in refused(absent=[tmp_path / "folder"])
    assert (tmp_path / "folder").is_dir()
