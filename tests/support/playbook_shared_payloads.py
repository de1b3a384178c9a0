"""ansible-playbook whose module payloads outlive the run: tests/support/fast_ansible.py says why.

Run as a script with the arguments of ansible-playbook. With CACHE_ENV naming a directory, the run's
payload cache (ansiballz_cache in its local temporary directory) is a link to it: the run uses the
payloads an earlier run of the same test process built and builds the others. Ansible's own lock guards
the directory, and an entry is the bytes a new run would build, as the collection does not change under
a test process. At exit ansible removes its temporary directory: shutil.rmtree unlinks the link and
leaves the cache.
"""
import os
import sys

CACHE_ENV = "PRIVATEPYPI_TEST_ANSIBALLZ_CACHE"


def main():
    cache = os.environ.get(CACHE_ENV)
    from ansible import constants  # makes this run's local temporary directory (ansible-local-*)

    if cache:
        os.makedirs(cache, exist_ok=True)
        os.symlink(cache, os.path.join(constants.DEFAULT_LOCAL_TMP, "ansiballz_cache"))
    from ansible.cli.playbook import main as playbook

    sys.argv[0] = "ansible-playbook"
    playbook()


if __name__ == "__main__":
    main()
