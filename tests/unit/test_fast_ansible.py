# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test playbooks' controller speed-ups (tests/support/warm_python.py, playbook_shared_payloads.py,
fast_ansible.py): a module run through them behaves as one run by python, and nothing of a run
reaches the next."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import time

import pytest
from ansible_collections.privatepypi.aws.tests.support import fast_ansible, playbook_shared_payloads
from ansible_collections.privatepypi.aws.tests.support.warm_python import SOCKET_ENV

SCRIPT = """
import os, sys
import boto3
print("args", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("PROBE"), "main", __name__)
print("seen before", getattr(boto3, "probe_mark", None))
boto3.probe_mark = "set by an earlier run"
print("stdin", sys.stdin.read().strip())
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def _warm(args, stdin="", **env):
    return subprocess.run([fast_ansible.INTERPRETER, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **fast_ansible.environment(cache=None), **env})


@pytest.fixture()
def script(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(SCRIPT)
    return path


def test_a_script_runs_with_the_callers_arguments_streams_directory_and_environment(script, tmp_path):
    # separators of any kind inside an argument or a value arrive as sent
    done = _warm([str(script), "a b", "c\x01=d"], stdin="payload\n", PROBE="seen\x01x=y", EXIT="3")
    assert done.returncode == 3, done.stderr
    assert f"args ['a b', 'c\\x01=d'] cwd {os.getcwd()} env seen\x01x=y main __main__" in done.stdout
    assert "stdin payload" in done.stdout


def test_nothing_of_a_run_reaches_the_next(script):
    first, second = _warm([str(script)]), _warm([str(script)])
    assert "seen before None" in first.stdout and "seen before None" in second.stdout, (first, second)


MODEL_PROBE = """
import boto3, botocore.loaders
read = []
load_file = botocore.loaders.JSONFileLoader.load_file
def counted(self, path):
    found = load_file(self, path)
    if found is not None:  # a file that exists (the probes for optional ones find none)
        read.append(path)
    return found
botocore.loaders.JSONFileLoader.load_file = counted
client = boto3.session.Session().client("ec2", region_name="us-east-1")
print("files read", len(read), "seen before", "probe_mark" in client.meta.service_model._service_description)
client.meta.service_model._service_description["probe_mark"] = True
"""


def test_a_client_is_made_from_models_parsed_once_and_a_change_to_them_stays_in_its_run(tmp_path):
    path = tmp_path / "model_probe.py"
    path.write_text(MODEL_PROBE)
    first, second = _warm([str(path)]), _warm([str(path)])
    assert "files read 0 seen before False" in first.stdout and "files read 0 seen before False" in second.stdout, (first, second)
    # the venv's Python itself reads them
    cold = _warm([str(path)], **{SOCKET_ENV: "/nonexistent/warm-python.sock"})
    assert "files read 0" not in cold.stdout and "seen before False" in cold.stdout, cold


ZIP_PROBE = """
import builtins, sys, zipfile
import ansible.module_utils.common.text.converters as on_disk
compiled = []
compile_ = builtins.compile
builtins.compile = lambda *args, **kwargs: compiled.append(args[1]) or compile_(*args, **kwargs)
source = open(on_disk.__file__, "rb").read()
with zipfile.ZipFile(sys.argv[1], "w") as payload:
    payload.writestr("probe_same.py", source)
    payload.writestr("probe_changed.py", source + b"\\nCHANGED = True\\n")
sys.path.insert(0, sys.argv[1])
import probe_same, probe_changed
print("compiled", sorted({name.rsplit("/", 1)[-1] for name in compiled}))
print("same code", probe_same.to_text.__code__.co_filename == probe_same.__file__ == sys.argv[1] + "/probe_same.py")
print("works", probe_same.to_text(b"x") == "x", probe_changed.CHANGED)
"""


def test_a_payload_file_like_its_source_is_compiled_once_and_named_as_imported(tmp_path):
    """A module's payload imports module_utils from a zip: a file whose bytes are those of its source in the
    venv or a collection takes the server's code, named as the import names it; any other is compiled."""
    path = tmp_path / "zip_probe.py"
    path.write_text(ZIP_PROBE)
    warm = _warm([str(path), str(tmp_path / "payload.zip")])
    assert "compiled ['probe_changed.py']" in warm.stdout and "same code True" in warm.stdout \
        and "works True True" in warm.stdout, warm
    cold = _warm([str(path), str(tmp_path / "cold.zip")], **{SOCKET_ENV: "/nonexistent/warm-python.sock"})
    assert "compiled ['probe_changed.py', 'probe_same.py']" in cold.stdout and "same code True" in cold.stdout, cold


def test_code_on_standard_input_runs_as_main(tmp_path):
    """Pipelining: ansible writes the module to python's standard input."""
    done = _warm([], stdin="import sys\nprint('piped', __name__)\nsys.exit(5)\n")
    assert done.returncode == 5 and "piped __main__" in done.stdout, done


def test_an_uncaught_exception_is_printed_and_exits_1(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise ValueError('broken module')\n")
    done = _warm([str(path)])
    assert done.returncode == 1 and "ValueError: broken module" in done.stderr and "Traceback" in done.stderr


def test_without_a_server_it_is_the_venvs_python(script):
    """No socket (or options such as -c): the interpreter itself runs the caller's arguments."""
    done = _warm(["-c", "import sys; print(sys.prefix)"])
    assert done.returncode == 0 and done.stdout.strip() == sys.prefix, done
    gone = _warm([str(script)], **{SOCKET_ENV: "/nonexistent/warm-python.sock", "EXIT": "4"})
    assert gone.returncode == 4 and "seen before None" in gone.stdout, gone


def test_a_playbook_run_leaves_its_module_payloads_to_the_next(tmp_path):
    play = tmp_path / "ping.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"), **fast_ansible.environment(cache="unit-test"))
    cache = os.path.join(env["PRIVATEPYPI_TEST_ANSIBALLZ_CACHE"], playbook_shared_payloads.sources_digest())
    for _run in ("builds the payload", "finds it built"):
        done = subprocess.run(fast_ansible.command(str(play)),
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and "ok=1" in done.stdout, done.stdout + done.stderr
        assert [name for name in os.listdir(cache) if not name.endswith(".lock")] == \
            ["ansible.modules.ping-ZIP_DEFLATED-none"]
        # the run's own temporary directory went at exit, its link with it; the cache stayed
        assert os.listdir(tmp_path / "local") == []


def test_payloads_of_other_sources_are_never_taken_and_go_after_a_day(tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    (plugins / "modules").mkdir(parents=True)
    module = plugins / "modules" / "probe.py"
    module.write_text("VERSION = 1\n")
    monkeypatch.setattr(playbook_shared_payloads, "PLUGINS", plugins)
    root = tmp_path / "ansiballz"
    first = playbook_shared_payloads.payload_cache(root)
    assert playbook_shared_payloads.payload_cache(root) == first  # the same sources: the same payloads
    module.write_text("VERSION = 2\n")
    second = playbook_shared_payloads.payload_cache(root)
    assert second != first and sorted(root.iterdir()) == sorted([first, second])
    day_ago = time.time() - playbook_shared_payloads.STALE_SECONDS - 60
    os.utime(first, (day_ago, day_ago))
    module.write_text("VERSION = 1\n")  # back to the first sources: their directory is taken up again, not removed
    assert playbook_shared_payloads.payload_cache(root) == first and first.is_dir()
    os.utime(second, (day_ago, day_ago))
    assert playbook_shared_payloads.payload_cache(root) == first and list(root.iterdir()) == [first]
