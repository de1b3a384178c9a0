"""Programs the privatepypi.aws.pypiserver role runs on a host (installed as they are).

notify() is sd_notify(3) without libsystemd."""

import contextlib
import os
import socket


def notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message.encode(), address)
