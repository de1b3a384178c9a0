"""pypiserver-adopt-restore, as the role renders it into the boot bundle, run by bash on a scratch
package directory laid out as AWS Backup restores EFS (a copy in aws-backup-restore_<time>/)."""

import grp
import os
import pwd
import shutil
import subprocess
import threading

import pytest
from test_user_data import members_of, render

NEWER, OLDER = "aws-backup-restore_2026-11-25T06-00-00-000Z", "aws-backup-restore_2026-11-24T06-00-00-000Z"
PACKAGES = ["demo-1.0.0-py3-none-any.whl", "demo-1.0.0.tar.gz", ".privatepypi/meta/demo-1.0.0.tar.gz.json"]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """The rendered script with its directory and owner pointed at a scratch tree: the test's user."""
    bundle = render(tmp_path_factory.mktemp("adopt"), ssh=False)[1]
    text = members_of(bundle)["/usr/local/sbin/pypiserver-adopt-restore"][1].decode()
    assert "\ndir=/var/pypi\n" in text and " pypiserver:www-data " in text
    me = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
    return text.replace("\ndir=/var/pypi\n", '\ndir="$PACKAGES_DIR"\n').replace(" pypiserver:www-data ", f" {me} ")


def adopt(script, root, check=True):
    return subprocess.run(["bash", "-c", script], env=dict(os.environ, PACKAGES_DIR=str(root)),
                          capture_output=True, text=True, check=check, timeout=60)


def restored(root, copy=NEWER, files=None):
    for name in files or PACKAGES:
        path = root / copy / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{copy}/{name}")


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_copy_is_moved_up_once_and_nothing_else_is_left(script, tmp_path):
    restored(tmp_path)
    result = adopt(script, tmp_path)
    assert f"moved the restored copy {NEWER}" in result.stdout
    assert tree(tmp_path) == sorted(PACKAGES)
    assert (tmp_path / "demo-1.0.0.tar.gz").read_text() == f"{NEWER}/demo-1.0.0.tar.gz"
    again = adopt(script, tmp_path)
    assert again.stdout == "" and tree(tmp_path) == sorted(PACKAGES)


def test_of_two_copies_the_newest_is_served(script, tmp_path):
    restored(tmp_path, OLDER)
    restored(tmp_path, NEWER)
    adopt(script, tmp_path)
    assert (tmp_path / "demo-1.0.0.tar.gz").read_text() == f"{NEWER}/demo-1.0.0.tar.gz"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".privatepypi", OLDER, *PACKAGES[:2]])


def test_a_store_that_already_serves_is_left_alone(script, tmp_path):
    restored(tmp_path)
    (tmp_path / "served-1.0.tar.gz").write_text("served")
    adopt(script, tmp_path)
    assert tree(tmp_path) == sorted(["served-1.0.tar.gz"] + [f"{NEWER}/{name}" for name in PACKAGES])


def test_a_move_cut_short_resumes_where_it_stopped(script, tmp_path):
    """The unit stopped after two entries went up (the marker names the copy): the next run moves the
    rest, although the root no longer holds only restored copies."""
    restored(tmp_path)
    for name in (".privatepypi", "demo-1.0.0-py3-none-any.whl"):
        shutil.move(tmp_path / NEWER / name, tmp_path / name)
    (tmp_path / ".pypiserver-restore.moving").write_text(NEWER + "\n")
    result = adopt(script, tmp_path)
    assert f"resuming the move of {NEWER}" in result.stdout
    assert tree(tmp_path) == sorted(PACKAGES)
    assert not (tmp_path / ".pypiserver-restore.moving").exists()


@pytest.mark.parametrize("named", ["../etc", "/etc", "", f"{NEWER}/../..", "aws-backup-restore_"])
def test_a_marker_that_names_no_copy_moves_nothing(script, tmp_path, named):
    (tmp_path / "served-1.0.tar.gz").write_text("served")
    restored(tmp_path)
    (tmp_path / ".pypiserver-restore.moving").write_text(named)
    adopt(script, tmp_path)
    assert tree(tmp_path) == sorted(["served-1.0.tar.gz"] + [f"{NEWER}/{name}" for name in PACKAGES])
    assert not (tmp_path / ".pypiserver-restore.moving").exists()


def test_instances_booting_together_move_it_once(script, tmp_path):
    restored(tmp_path, files=PACKAGES + [f"demo-{n}.0.0.tar.gz" for n in range(2, 200)])
    results = []
    runs = [threading.Thread(target=lambda: results.append(adopt(script, tmp_path, check=False))) for _attempt in range(6)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    assert sum("moved the restored copy" in r.stdout for r in results) == 1
    assert len(tree(tmp_path)) == len(PACKAGES) + 198 and not (tmp_path / NEWER).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning files of other users takes root")
def test_a_restore_never_widens_ownership(script, tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    """Issue 17: the move re-owned the whole copy (chown -R), so the service user got the TLS private key
    that certbot keeps root's on the store. Files of another host's service user become this one's; what
    root owned stays root's, mode and all; a link is re-owned itself, not its target."""
    service = script.replace(f" {pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name} ",
                             " nobody:nogroup ")
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    restored(root)
    for path in (root / NEWER).rglob("*"):
        os.chown(path, 4242, 4242, follow_symlinks=False)
    live = root / NEWER / ".privatepypi-acme" / "live" / "pypi.example.com"
    live.mkdir(parents=True)
    (live / "privkey.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    for path in (root / NEWER / ".privatepypi-acme", live):
        path.chmod(0o700)
    (live / "privkey.pem").chmod(0o600)
    outside = tmp_path / "outside"
    outside.write_text("root's")
    (root / NEWER / "link").symlink_to(outside)
    os.chown(root / NEWER / "link", 4242, 4242, follow_symlinks=False)
    adopt(service, root)
    key = root / ".privatepypi-acme" / "live" / "pypi.example.com" / "privkey.pem"
    for path in (root / ".privatepypi-acme", key.parent, key):
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0), path
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    for name in PACKAGES:
        assert ((root / name).stat().st_uid, (root / name).stat().st_gid) == (nobody, nogroup), name
    assert (root / "link").lstat().st_uid == nobody and outside.stat().st_uid == 0


@pytest.mark.skipif(os.getuid() != 0, reason="giving files to other owners needs root")
def test_a_store_of_another_service_user_id_is_re_owned_once_roots_and_others_stay(script, tmp_path):
    """An instance from before the stack fixed the service user's id wrote the store as 999: this host's
    service user (here the test's) takes over what 999 owned; root's and a third id's files stay theirs."""
    old, third = 999, 4242
    files = {"demo-1.0.0.tar.gz": old, ".privatepypi/meta/demo-1.0.0.tar.gz.json": old, "root-only": 0, "other": third}
    for name, owner in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        os.chown(path, owner, owner)
    os.chown(tmp_path / ".privatepypi", old, old)
    os.chown(tmp_path, old, old)
    result = adopt(script, tmp_path)
    assert f"re-owned what user id {old} owned" in result.stdout
    owners = {name: os.stat(tmp_path / name).st_uid for name in files}
    assert owners == {"demo-1.0.0.tar.gz": os.getuid(), ".privatepypi/meta/demo-1.0.0.tar.gz.json": os.getuid(),
                      "root-only": 0, "other": third}
    assert os.stat(tmp_path).st_uid == os.getuid()
    assert adopt(script, tmp_path).stdout == ""  # once: the next boot finds the store its own
