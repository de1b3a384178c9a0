"""One stack for the whole rehearsal: budget with a domain, its certificate from Pebble.

Both test files run on it (test_boot.py: the boot, its store and its users; test_https.py: the
certificate and HTTPS). A domain adds to the plain budget boot and takes nothing from it: the
index port still answers the health check, and every client goes through HTTPS, as it does on a
stack with a domain. One stack, not two: a site.yml run, a first boot and a teardown cost 245 s
on this machine when the rehearsal has it to itself, over 300 s beside the other lanes.
"""

import time

import pytest

from tests.support import rehearse

DOMAIN = "privatepypi.test"


@pytest.fixture(scope="session")
def stack():
    rehearse.down("budget")
    started = time.monotonic()
    try:
        yield dict(rehearse.up("budget", domain=DOMAIN), started=started)
    finally:
        rehearse.down("budget")
        print(f"\nrehearsal (stack up and down included): {time.monotonic() - started:.0f} s")
        assert not any(pid.exists() for pid in (rehearse.STATE / "pebble.pid", rehearse.STATE / "dns.pid"))


@pytest.fixture(scope="session")
def replacement(stack):
    """A second instance from the same template on the same EFS stand-in (rehearse.replace): the
    boot tests use it for the packages and the Elastic IP, the HTTPS tests for the certificate."""
    return rehearse.replace()
