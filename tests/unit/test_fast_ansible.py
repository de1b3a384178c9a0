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
from ansible_collections.privatepypi.aws.tests.support import fast_ansible, jinja_code_cache, playbook_shared_payloads
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
        assert [name for name in os.listdir(cache) if not name.endswith(".lock") and name != "jinja"] == \
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


@pytest.fixture()
def jinja_cache(tmp_path, monkeypatch):
    """jinja2's compile through a cache in tmp_path, for this test only."""
    jinja2 = pytest.importorskip("jinja2")
    # the key reads ansible's switches: importing ansible compiles its configuration's templates
    jinja_code_cache.key(jinja2.Environment(autoescape=True), "", None, None, False)
    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)
    jinja_code_cache.install(tmp_path / "jinja")
    return tmp_path / "jinja"


def test_a_template_compiled_once_is_taken_from_the_cache_by_the_next_environment(jinja_cache):
    import jinja2

    assert jinja2.Environment(autoescape=True).from_string("{{ a }}-one").render(a=1) == "1-one"
    (entry,) = list(jinja_cache.iterdir())
    # the entry is what the next compile of that text uses: given another template's code, it renders that
    other = jinja2.Environment(autoescape=True).compile("{{ a }}-other")
    entry.write_bytes(__import__("marshal").dumps(other))
    assert jinja2.Environment(autoescape=True).from_string("{{ a }}-one").render(a=2) == "2-other"


def test_other_syntax_settings_or_names_are_other_entries(jinja_cache):
    import jinja2

    plain = jinja2.Environment(autoescape=True)
    brackets = jinja2.Environment(autoescape=True, variable_start_string="[[", variable_end_string="]]")
    assert plain.from_string("[[ a ]] {{ a }}").render(a=1) == "[[ a ]] 1"
    assert brackets.from_string("[[ a ]] {{ a }}").render(a=1) == "1 {{ a }}"
    plain.from_string("[[ a ]] {{ a }}", template_class=None)
    plain.compile("[[ a ]] {{ a }}", name="named")
    assert len(list(jinja_cache.iterdir())) == 3


def test_a_template_that_does_not_compile_fails_every_time_and_leaves_nothing(jinja_cache):
    import jinja2

    for _attempt in range(2):
        with pytest.raises(jinja2.TemplateSyntaxError):
            jinja2.Environment(autoescape=True).from_string("{% if %}")
    assert list(jinja_cache.iterdir()) == []


def test_ansibles_compile_switches_are_part_of_the_key():
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext

    environment = AnsibleEnvironment()
    keys = set()
    for escape in (True, False):
        with _TemplateCompileContext(escape_backslashes=escape):
            keys.add(jinja_code_cache.key(environment, "{{ 'a\\b' }}", None, None, False))
    keys.add(jinja_code_cache.key(environment, "{{ 'a\\b' }}", None, None, False))  # outside a compile context
    assert len(keys) == 3
    # the same in another process: nothing in the key is an address
    again = subprocess.run([sys.executable, "-c", (
        "from ansible._internal._templating._jinja_bits import AnsibleEnvironment\n"
        "from ansible_collections.privatepypi.aws.tests.support import jinja_code_cache\n"
        "print(jinja_code_cache.key(AnsibleEnvironment(), \"{{ 'a\\\\b' }}\", None, None, False))")],
        capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert again.stdout.strip() in keys


PRELOAD_PROBE = """
import sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.privatepypi.aws.tests.support import playbook_shared_payloads as shared
shared.PRELOADED_PLUGINS += (("lookup", "no_such.collection.lookup"), ("filter", "ansible.builtin.no_such_filter"))
shared.PRELOADED_MODULES += ("no_such_module",)
shared.preload_plugins()
print(sorted(name.rsplit("_", 1)[0] if name.startswith("ansible.plugins.") else name for name in sys.modules if name in {
    "ansible_collections.amazon.aws.plugins.lookup.ssm_parameter", "ansible_collections.privatepypi.aws.plugins.filter.stack_checks",
    "ansible_collections.ansible.builtin.plugins.lookup.template", "ansible._internal._templating._jinja_plugins"}
    or name.startswith(("ansible.plugins.filter.core_", "ansible.plugins.test.core_"))))
"""


def test_the_plugins_the_templates_use_are_loaded_before_the_workers_fork():
    """preload_plugins() loads them in the controller (a name that does not load is left to the worker)."""
    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, "ansible_collections", "privatepypi", "aws")))
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE, collections], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted([
        "ansible._internal._templating._jinja_plugins", "ansible.plugins.filter.core", "ansible.plugins.test.core",
        "ansible_collections.amazon.aws.plugins.lookup.ssm_parameter", "ansible_collections.ansible.builtin.plugins.lookup.template",
        "ansible_collections.privatepypi.aws.plugins.filter.stack_checks"])), done.stdout
