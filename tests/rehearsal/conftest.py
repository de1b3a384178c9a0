"""One stack for the whole rehearsal: budget with a domain, its certificate from Pebble, and its stack image.

Every test file runs on it (test_boot.py: the boot, its store and its users; test_https.py: the
certificate and HTTPS; test_eip_repair.py: the Elastic IP's repair; test_offline_boot.py: the image and
the network without a way out). A domain adds to the plain budget boot and takes nothing from it: the
index port still answers the health check, and every client goes through HTTPS, as it does on a
stack with a domain. One stack, not two: a site.yml run, a first boot and a teardown cost 245 s
on this machine when the rehearsal has it to itself, over 300 s beside the other lanes.

The stack is what a stack is by default: site.yml builds its image (the builder played once by a
container with a way out, rehearse.provision_with_image), and every instance of the session boots that
image on the internal network (rehearse.use_network("offline")), which reaches this machine's address on
it (the emulator with the S3 bundle, the metadata stand-in, Pebble, the agents' packages) and no package
registry. So every boot the rehearsal makes is a boot without the internet.
"""

import time

import pytest

from tests.support import rehearse

DOMAIN = "privatepypi.test"


@pytest.fixture(scope="session")
def stack():
    # first: the emulator and the stand-ins listen on the gateway of the network the instances are on
    rehearse.use_network("offline")
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
    boot tests use it for the packages and the Elastic IP, the HTTPS tests for the certificate, the
    offline tests for the 20 s target and the identical packages."""
    return rehearse.replace()
