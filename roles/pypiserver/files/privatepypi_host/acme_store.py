"""Checks the ACME directory on the package store, and that it is what is mounted where root uses it.

With EFS, certbot's configuration directory (the account key, the certificate's private key, and the
renewal settings whose hooks certbot runs as root) is kept on the store, so that a replacement
instance serves the same certificate without asking the CA again. The store's root directory is the
service user's: the name <packages>/.privatepypi-acme is the service user's to rename, and to give to
a directory of its own with hooks in it. So root never uses that name. A bind mount
(etc-privatepypi-acme.mount) puts what has that name on a local root-owned path, which certbot's
configuration, its unit and nginx name instead; then this program opens the name relative to the
package directory without following a link (O_PATH|O_NOFOLLOW|O_DIRECTORY) and accepts it only if it
is a directory owned by root with no group or other permission (one the service user can neither have
made nor enter) and the very directory mounted there (same device and inode). Whatever the name was
when it was mounted, what passes is root's own directory; a rename after that changes nothing of what
is mounted. certbot and nginx require this check: a refused directory is used by neither, and it is
never re-owned or changed.

Every verdict goes to the journal (stderr) and to the status file, which the boot reports as the
reason when the instance cannot serve. Exit status: 0 accepted, 1 refused.
--create (the boot and the SSH path, as root, before the mount) only makes the directory, when nothing
has its name: what is there is left for the check to judge. Standard library only, run by the system python3.
"""

import argparse
import os
import stat
import sys

NAME = ".privatepypi-acme"
TARGET = "/etc/privatepypi/acme"
STATUS = "/run/privatepypi-acme-store.status"


class Refused(Exception):
    """The directory on the store is not one root may use."""


def log(message):
    print(f"privatepypi-acme-store: {message}", file=sys.stderr, flush=True)


def open_packages(packages_dir):
    try:
        return os.open(packages_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise Refused(f"cannot open the package directory {packages_dir}: {error.strerror}") from error


def create(packages_dir, name=NAME):
    """Makes <packages_dir>/<name> (0700, root's as whoever runs this) unless something has that name:
    True when made. What is there already is left as it is, for check() to judge."""
    parent = open_packages(packages_dir)
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
        return True
    except FileExistsError:
        return False
    finally:
        os.close(parent)


def check(packages_dir, name=NAME):
    """Opens <packages_dir>/<name> without following a link and returns the O_PATH descriptor of that
    directory when root may use it; raises Refused with the reason otherwise."""
    path = os.path.join(packages_dir, name)
    parent = open_packages(packages_dir)
    try:
        try:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError as error:
            raise Refused(f"{path} is missing") from error
        except OSError as error:
            # O_NOFOLLOW|O_DIRECTORY: a link (ELOOP/ENOTDIR) or a file (ENOTDIR) is refused without being followed
            try:
                kind = "a symbolic link" if stat.S_ISLNK(os.lstat(name, dir_fd=parent).st_mode) else "not a directory"
            except OSError:
                kind = error.strerror
            raise Refused(f"{path} is {kind}") from error
    finally:
        os.close(parent)
    found = os.fstat(fd)
    problem = ""
    if not stat.S_ISDIR(found.st_mode):
        problem = "is not a directory"
    elif found.st_uid != 0:
        problem = f"is owned by uid {found.st_uid}, not root"
    elif found.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(found.st_mode):04o}: group or others have permissions on it"
    if problem:
        os.close(fd)
        raise Refused(f"{path} {problem}")
    return fd


def mounted(fd, target):
    """'' when target shows the directory open as fd; otherwise why not."""
    found = os.fstat(fd)
    try:
        shown = os.stat(target)
    except OSError as error:
        return f"{target}: {error.strerror}"
    if (shown.st_dev, shown.st_ino) != (found.st_dev, found.st_ino):
        return f"{target} is not that directory (not mounted, or another directory was mounted)"
    return ""


def write_status(path, text):
    if not path:
        return
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages-dir", required=True, help="the package directory (the store's mount point)")
    parser.add_argument("--name", default=NAME, help="the ACME directory's name in it")
    parser.add_argument("--target", default=TARGET, help="the local path root uses (certbot's config-dir)")
    parser.add_argument("--status", default=STATUS, help="file for the verdict ('' for none)")
    parser.add_argument("--create", action="store_true", help="only make the directory, when nothing has its name")
    args = parser.parse_args(argv)
    os.umask(0o077)
    path = os.path.join(args.packages_dir, args.name)
    try:
        if args.create:
            log(f"created {path}" if create(args.packages_dir, args.name) else f"{path} exists: left as it is")
            return 0
        fd = check(args.packages_dir, args.name)
    except Refused as refused:
        verdict = f"refused the ACME directory: {refused}; nothing of it is used"
        log(verdict)
        write_status(args.status, verdict)
        return 1
    try:
        problem = mounted(fd, args.target)
    finally:
        os.close(fd)
    verdict = f"refused the ACME directory: {problem}; nothing of it is used" if problem else f"{path} is mounted on {args.target}"
    log(verdict)
    write_status(args.status, verdict)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
