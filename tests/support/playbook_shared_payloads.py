"""ansible-playbook whose module payloads outlive the run: tests/support/fast_ansible.py says why.

Run as a script with the arguments of ansible-playbook. With CACHE_ENV naming a directory, the run's
payload cache (ansiballz_cache in its local temporary directory) is a link to a subdirectory of it
named by what the payloads are built from (sources_digest: ansible-core, the collections installed
with it, this checkout's plugins): the run uses the payloads any earlier run built from the same
sources (another test process's, another stage's, an earlier test run's) and builds the others. A
changed plugin, or another ansible, gives another subdirectory: a payload is never older than its
sources. Ansible locks each entry with a file of its own and writes it whole (a rename), so runs may
share the directory at once. At exit ansible removes its temporary directory: shutil.rmtree unlinks
the link and leaves the cache. Its subdirectory jinja keeps the templates' compiled code the same way
(jinja_code_cache.py).

The plugins the tasks' templates call are loaded once, before the first task (PRELOADED_PLUGINS):
ansible loads a filter, test or lookup plugin in the worker it forks for a task, which exits with it,
so every task that used one imported it again (the amazon.aws lookup imports boto3: 1.1 CPU s of a
budget re-run, 2026-12-07). Loaded in the controller, each worker has them from its fork.
"""
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

CACHE_ENV = "PRIVATEPYPI_TEST_ANSIBALLZ_CACHE"
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
STALE_SECONDS = 24 * 3600  # subdirectories of other sources no run has written to for a day are removed
# a plugin of each file the playbooks' templates use: loading one loads its whole file (builtin
# filters and tests: all of their files; a collection's filters: all of that collection's)
PRELOADED_PLUGINS = (("filter", "ansible.builtin.combine"), ("test", "ansible.builtin.match"),
                     ("filter", "privatepypi.aws.network_problems"), ("lookup", "amazon.aws.ssm_parameter"),
                     ("lookup", "ansible.builtin.template"), ("lookup", "ansible.builtin.file"))
# what a worker imports to pass a module its arguments and read its answer
PRELOADED_MODULES = ("ansible.module_utils._internal._json._profiles._module_legacy_c2m",
                     "ansible.module_utils._internal._json._profiles._module_legacy_m2c")


def sources_digest():
    """What a payload is made of: ansible-core's modules and module_utils (its version), the installed
    collections' (the bundle's version), and this checkout's plugins (their bytes)."""
    import ansible
    from ansible import release

    # the bundle's version file read, not imported: importing ansible_collections before ansible's
    # collection loader would hide every collection outside site-packages (an installed artifact's)
    bundle = Path(ansible.__file__).resolve().parents[1] / "ansible_collections" / "ansible_release.py"
    digest = hashlib.sha256(release.__version__.encode() + b"\0" + (bundle.read_bytes() if bundle.exists() else b""))
    for path in sorted(PLUGINS.rglob("*.py")):
        digest.update(b"\0%s\0%s" % (str(path.relative_to(PLUGINS)).encode(), path.read_bytes()))
    return digest.hexdigest()[:16]


def payload_cache(root):
    """The cache directory under root for this checkout's sources; others no run used for a day go."""
    cache = Path(root) / sources_digest()
    cache.mkdir(parents=True, exist_ok=True)
    for other in Path(root).iterdir():
        if other != cache and other.is_dir() and time.time() - other.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(other, ignore_errors=True)
    return cache


def preload_plugins():
    """PRELOADED_PLUGINS and PRELOADED_MODULES, loaded where the workers fork from. A plugin that does not
    load here is left to the worker, which loads it (or fails) as without this."""
    import contextlib
    import importlib

    from ansible.plugins import loader

    for kind, name in PRELOADED_PLUGINS:
        with contextlib.suppress(Exception):  # any failure is the worker's to report, as before
            getattr(loader, f"{kind}_loader").get(name)
    for name in PRELOADED_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def preload_before_the_tasks():
    """PlaybookExecutor.run with preload_plugins() first: the collections are known by then."""
    from ansible.executor.playbook_executor import PlaybookExecutor

    run = PlaybookExecutor.run

    def run_preloaded(self):
        preload_plugins()
        return run(self)

    PlaybookExecutor.run = run_preloaded


def main():
    root = os.environ.get(CACHE_ENV)
    from ansible import constants  # makes this run's local temporary directory (ansible-local-*)

    if root:
        cache = payload_cache(root)
        os.symlink(cache, os.path.join(constants.DEFAULT_LOCAL_TMP, "ansiballz_cache"))
        import jinja_code_cache  # beside this script, which runs as one (its folder is sys.path[0])

        jinja_code_cache.install(cache / "jinja")
    preload_before_the_tasks()
    from ansible.cli.playbook import main as playbook

    sys.argv[0] = "ansible-playbook"
    playbook()


if __name__ == "__main__":
    main()
