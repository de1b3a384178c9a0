"""ansible-playbook for the tests, without the two costs ansible pays again in every run.

1. Each playbook run builds each module's payload (AnsiballZ: the module and the module_utils it
   imports, found by parsing them) once, in a cache directory of its own that it deletes at exit: a
   budget site.yml spends about 18 of its 80 CPU seconds on that (py-spy, 2026-12-07).
   playbook_shared_payloads.py is ansible-playbook with that directory linked to one that the test
   processes keep for all their runs, named by the sources the payloads are built from.
2. Each AWS module task starts a Python that imports boto3 first (tests/support/warm_python.py):
   `INTERPRETER` is the ansible_python_interpreter that takes it from a server which imported it once.

`command()` and `environment()` are what the test helpers that run playbooks on the controller use.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .playbook_shared_payloads import CACHE_ENV
from .warm_python import SOCKET_ENV

HERE = Path(__file__).resolve().parent
INTERPRETER = str(HERE / "warm-python")
# the payloads of the checkout's modules, for every test process and stage (tests/output: not committed)
SHARED_PAYLOADS = HERE.parent / "output" / "ansiballz"
_state = {}


def _workdir():
    if "dir" not in _state:
        _state["dir"] = tempfile.mkdtemp(prefix="privatepypi-fast-ansible-")
        atexit.register(shutil.rmtree, _state["dir"], True)
    return Path(_state["dir"])


def _warm_socket():
    """The socket of this test process's warm-python server, started on first use."""
    if "socket" not in _state:
        path = str(_workdir() / "warm-python.sock")
        server = subprocess.Popen([sys.executable, str(HERE / "warm_python.py"), "serve", path],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                  env=dict(os.environ, PYTHONIOENCODING="utf-8"))
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the warm-python server did not start")
        atexit.register(_stop, server)
        _state["socket"] = path
    return _state["socket"]


def _stop(server):
    server.kill()
    server.wait()


def environment(cache="checkout"):
    """What a playbook run's environment needs for both: the warm interpreter's socket and a payload cache,
    or none with cache=None. The checkout's runs share one (SHARED_PAYLOADS, kept between test runs: its
    entries are named by their sources); another collection's (an installed artifact's) get one of this
    test process's, built from that collection's own files."""
    env = {SOCKET_ENV: _warm_socket()}
    if cache:
        env[CACHE_ENV] = str(SHARED_PAYLOADS if cache == "checkout" else _workdir() / f"ansiballz-{cache}")
    return env


def command(*args):
    """ansible-playbook ARGS, with the shared payload cache that environment() names and the warm
    interpreter for the controller's modules (the plays of the tests that use it run on localhost only)."""
    return [sys.executable, str(HERE / "playbook_shared_payloads.py"), *args, "-e", f"ansible_python_interpreter={INTERPRETER}"]
