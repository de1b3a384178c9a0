"""acme_store.py, the check root's use of the ACME directory on the package store waits for (issue 17).

The store's root is the service user's: it can rename .privatepypi-acme away and put a directory of its
own, with renewal hooks certbot would run as root, under that name. The program is run as the role runs
it (python3 -I, its own file), on scratch package directories owned by another uid, with real bind
mounts made in a mount namespace of the test's own (unshare), as etc-privatepypi-acme.mount makes one.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
from privatepypi_host import acme_store

PROGRAM = acme_store.__file__
SERVICE_UID = 64123  # the service user: owns the package directory, never root
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="owners and bind mounts need root and unshare")


@pytest.fixture
def scratch():
    """A folder the service user can pass through (pytest's own are 0700 root)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="acme-store-", dir="/tmp"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def store(scratch):
    """A package directory as on EFS (the service user's, setgid) with root's 0700 ACME directory, and the
    local path it is mounted on."""
    tmp_path = scratch
    packages = tmp_path / "packages"
    packages.mkdir()
    os.chown(packages, SERVICE_UID, 0)
    packages.chmod(0o2750)
    acme = packages / ".privatepypi-acme"
    acme.mkdir(mode=0o700)
    (acme / "renewal").mkdir()
    (acme / "renewal" / "real.conf").write_text("[renewalparams]\n")
    return {"packages": packages, "acme": acme, "target": tmp_path / "etc" / "privatepypi" / "acme",
            "status": tmp_path / "status"}


def run(store, *shell, create=False):
    """Runs the shell commands (the mount) then the program, as the unit runs it, in a mount namespace of
    its own: the finished process, and its verdict (the status file)."""
    store["target"].mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-I", PROGRAM, "--packages-dir", str(store["packages"]), "--target", str(store["target"]),
               "--status", str(store["status"])] + (["--create"] if create else [])
    script = " && ".join([*shell, '"$@"'])
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command],
                          capture_output=True, text=True, timeout=60, check=False)
    return done, store["status"].read_text().strip() if store["status"].exists() else ""


def bind(store):
    """The mount unit's bind: by name, as mount(8) does it."""
    return f"mount --bind {store['packages']}/.privatepypi-acme {store['target']}"


def as_service_user(store, *shell):
    """Shell commands run as the service user (its uid, no capability): what it can do on its own store."""
    return subprocess.run(["setpriv", f"--reuid={SERVICE_UID}", f"--regid={SERVICE_UID}", "--clear-groups",
                           "--inh-caps=-all", "--bounding-set=-all", "sh", "-c", " && ".join(shell)],
                          cwd=store["packages"], capture_output=True, text=True, timeout=30, check=False)


def test_roots_own_directory_mounted_there_is_accepted(store):
    done, verdict = run(store, bind(store))
    assert done.returncode == 0, done.stderr
    assert verdict == f"{store['acme']} is mounted on {store['target']}"
    assert f"privatepypi-acme-store: {verdict}" in done.stderr


def test_a_directory_of_the_service_users_is_refused_and_left_as_it_is(store):
    """The attack: the real directory renamed away (the service user may: the store's root is its own) and
    one of its own, with a hook, put under the name. Refused; not re-owned, not changed."""
    planted = as_service_user(store, "mv .privatepypi-acme .kept-away", "mkdir -m 0700 .privatepypi-acme",
                              "mkdir .privatepypi-acme/renewal",
                              "printf '[renewalparams]\\npre_hook = id -u > /tmp/marker\\n' > .privatepypi-acme/renewal/x.conf")
    assert planted.returncode == 0, planted.stderr
    done, verdict = run(store, bind(store))
    assert done.returncode == 1
    assert verdict == (f"refused the ACME directory: {store['acme']} is owned by uid {SERVICE_UID}, not root; "
                       "nothing of it is used")
    # as planted: 0700, and setgid from the store's root
    assert store["acme"].stat().st_uid == SERVICE_UID and oct(store["acme"].stat().st_mode & 0o7777) == "0o2700"


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o710, 0o701])
def test_roots_directory_with_group_or_other_permissions_is_refused(store, mode):
    store["acme"].chmod(mode)
    done, verdict = run(store, bind(store))
    assert done.returncode == 1
    assert verdict == (f"refused the ACME directory: {store['acme']} has mode {mode:04o}: group or others have "
                       "permissions on it; nothing of it is used")


def test_a_link_is_refused_without_being_followed(store, scratch):
    """A link to a directory that would pass (root's, 0700): refused as a link; the mount, which follows it,
    mounted that directory, and that is not used either."""
    elsewhere = scratch / "roots-other"
    elsewhere.mkdir(mode=0o700)
    store["acme"].rename(store["packages"] / ".kept-away")
    (store["packages"] / ".privatepypi-acme").symlink_to(elsewhere)
    done, verdict = run(store, bind(store))
    assert done.returncode == 1
    assert verdict == f"refused the ACME directory: {store['acme']} is a symbolic link; nothing of it is used"


def test_a_file_and_a_missing_directory_are_refused(store):
    shutil.rmtree(store["acme"])
    done, verdict = run(store)
    assert done.returncode == 1 and verdict == f"refused the ACME directory: {store['acme']} is missing; nothing of it is used"
    store["acme"].write_text("")
    done, verdict = run(store)
    assert done.returncode == 1 and verdict == f"refused the ACME directory: {store['acme']} is not a directory; nothing of it is used"


def test_roots_directory_that_is_not_what_is_mounted_is_refused(store):
    """Passing under the name is not enough: certbot and nginx use the mounted path, which must show that very
    directory (here nothing is mounted on it)."""
    done, verdict = run(store)
    assert done.returncode == 1
    assert verdict == (f"refused the ACME directory: {store['target']} is not that directory (not mounted, or another "
                       "directory was mounted); nothing of it is used")


def test_a_rename_after_the_mount_changes_nothing_of_what_is_mounted(store):
    """Mounted and accepted, then renamed away by the service user and replaced: the mounted path still shows
    the real directory, the service user can enter neither, and a check again refuses the name's new owner."""
    script = [bind(store), f'"$@" && setpriv --reuid={SERVICE_UID} --regid={SERVICE_UID} --clear-groups --inh-caps=-all '
              f'--bounding-set=-all sh -c "cd {store["packages"]} && mv .privatepypi-acme .kept-away && mkdir .privatepypi-acme '
              f'&& ! ls {store["target"]} && ! ls .kept-away" && ls {store["target"]}/renewal']
    done, verdict = run(store, *script)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "real.conf" in done.stdout  # the mounted path: the real directory, whatever its name is now
    assert verdict.startswith(f"refused the ACME directory: {store['acme']} is owned by uid {SERVICE_UID}")


def test_create_makes_roots_0700_directory_only_when_nothing_has_the_name(store, scratch):
    shutil.rmtree(store["acme"])
    done, _verdict = run(store, create=True)
    assert done.returncode == 0 and f"created {store['acme']}" in done.stderr
    made = store["acme"].stat()
    assert made.st_uid == 0 and made.st_mode & 0o777 == 0o700
    # what is there is left for the check: a link is not followed, a planted directory not re-owned
    shutil.rmtree(store["acme"])
    victim = scratch / "victim"
    victim.mkdir(mode=0o755)
    store["acme"].symlink_to(victim)
    done, _verdict = run(store, create=True)
    assert done.returncode == 0 and "exists: left as it is" in done.stderr
    assert store["acme"].is_symlink() and victim.stat().st_mode & 0o777 == 0o755 and not list(victim.iterdir())
