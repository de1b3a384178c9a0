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

import shutil
import subprocess
import threading
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


# Today's image, the base image that installs at boot, booted from the same user data: on the internal network it
# must fail (TODAY), and with a way out it gives the figure before the image (BEFORE). test_offline_boot.py asserts both.
TODAY, BEFORE = rehearse.INSTANCE_NAMES[5:7]
BEFORE_ADDRESS = "172.28.0.40"  # on the project's network, outside the addresses rehearse.INSTANCES gives there


def sh(container, command):
    """A shell command in the container: its CompletedProcess."""
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True)


def boot_log(container):
    """What the boot wrote (cloud-init's output: the fetcher and the bootstrap)."""
    return sh(container, "cat /var/log/cloud-init-output.log").stdout


def network_of(container):
    """The names of the container's networks, space-separated."""
    return subprocess.run(["docker", "inspect", "-f", "{{range $net, $v := .NetworkSettings.Networks}}{{$net}} {{end}}",
                           container], capture_output=True, text=True).stdout.strip()


def _watch(name, started, limit, came, outcome):
    """Polls the container until came(name) or limit seconds from started, then records the seconds (None at the
    limit), its boot log, its network and whether the index was installed, and removes it: it would only
    load the machine for the tests after."""
    while time.monotonic() - started < limit:
        if came(name):
            outcome["seconds"] = time.monotonic() - started
            break
        time.sleep(2)
    outcome.update(log=boot_log(name), network=network_of(name),
                   installed=sh(name, "test -x /opt/pypiserver/venv/bin/pypi-server").returncode == 0)
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture(scope="session")
def base_image_boots(stack):
    """The base image booted twice at once: TODAY on the internal network, with an instance id of its own (its
    report of itself as unhealthy must not be the stack instance's, which the never-appearing store's test
    asserts), and BEFORE on the project's network with a way out, under the stack instance's id as the degraded
    boots (the Elastic IP it claims stays that instance's). test_boot.py's degraded boots start them beside their
    own: all of them wait on retries and downloads, not the CPU. A watcher per boot records what it came to.
    Their store is a copy of the session's (certificate included, so BEFORE asks Pebble for none): a base-image
    boot creates the service user before it installs the
    packages, an image's boot after the packages' own users, so the two get different uids, and the store is
    shared by uid (as EFS is): BEFORE on the session's store left it owned by a uid the image's instances do not
    have (uploads refused: Permission denied on /var/pypi/.privatepypi)."""
    launched = rehearse.aws("ec2").run_instances(
        LaunchTemplate={"LaunchTemplateId": rehearse.launch_template_user_data()[1]["LaunchTemplateId"], "Version": "$Latest"},
        MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    boots = {TODAY: {"seconds": None}, BEFORE: {"seconds": None}}
    store = rehearse.STATE / "efs-base-image"
    shutil.rmtree(store, ignore_errors=True)
    rehearse.run("cp", "-a", rehearse.STATE / "efs", store)
    watchers = {}
    for name, instance_id, network, address, limit, came in (
            (TODAY, launched, None, None, 240 + rehearse.BOOT_RETRY_SECONDS,
             lambda n: "reporting this instance unhealthy" in boot_log(n)),
            (BEFORE, stack["instance_id"], "privatepypi", BEFORE_ADDRESS, 600,
             lambda n: sh(n, f"python3 -c \"import urllib.request; urllib.request.urlopen("
                                f"'http://{BEFORE_ADDRESS}:8080/health', timeout=2)\"").returncode == 0)):
        started = time.monotonic()
        rehearse.start(name, instance_id, efs=store, image=rehearse.IMAGE, network=network, ip=address)
        watchers[name] = threading.Thread(target=_watch, args=(name, started, limit, came, boots[name]), daemon=True)
        watchers[name].start()
    try:
        yield {"boots": boots, "watchers": watchers}
    finally:
        for watcher in watchers.values():
            watcher.join()
        shutil.rmtree(store, ignore_errors=True)
