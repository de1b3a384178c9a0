"""Programs the privatepypi.aws.pypiserver role runs on a host (installed as they are).

notify() is sd_notify(3) without libsystemd; install() replaces a file atomically when its content changed."""

import contextlib
import os
import socket
import tempfile


def notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message.encode(), address)


def install(path, content, mode, owner=None):
    """Writes content (bytes) atomically with mode, and owner (a pwd entry) when running as root; False when the
    file already holds it, so that an unchanged file keeps the signature its readers watch."""
    try:
        with open(path, "rb") as f:
            if f.read() == content:
                return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix="." + os.path.basename(path) + "-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, mode)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True
