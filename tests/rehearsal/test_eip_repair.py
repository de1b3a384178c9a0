"""The Elastic IP repairs itself (issue 19), on the rehearsal's shared stack: an association removed behind the
instances' back, through the emulator, is restored by a self-check (pypiserver-selfcheck.timer, every
pypiserver_selfcheck_interval_seconds: 30 by default) and reported in its journal, within two self-check periods.

Runs after test_boot.py (its replacement fixture: two instances of the stack run, the replacement holds the
address), so whichever instance's check comes first claims it again; the other sees it on an instance of its
own stack and leaves it there.
"""

import subprocess
import time

from tests.support import rehearse

SELFCHECK_PERIOD = 30  # the pypiserver role's default, which the rehearsal keeps
REPAIR_DEADLINE = 2 * SELFCHECK_PERIOD + 10  # seconds: the next self-check, or the one after if it just ran


def _address():
    found = rehearse.aws("ec2").describe_addresses(
        Filters=[{"Name": "tag:Stack", "Values": [rehearse.STACK], }, {"Name": "tag:Name", "Values": [f"{rehearse.STACK}-eip"]}])
    return found["Addresses"][0]


def _journal(container, since):
    return subprocess.run(["docker", "exec", container, "journalctl", "-u", "pypiserver-selfcheck", "--no-pager", "-o", "cat",
                           "--since", f"@{since:.0f}"], capture_output=True, text=True).stdout


def test_a_removed_association_is_restored_and_reported_within_two_selfcheck_periods(replacement):
    before = _address()
    assert before.get("InstanceId") in rehearse.asg_instance_ids() + [replacement["instance_id"]], before
    since = time.time() - 1
    rehearse.aws("ec2").disassociate_address(AssociationId=before["AssociationId"])
    assert not _address().get("InstanceId")
    started = time.monotonic()
    while not _address().get("InstanceId"):
        assert time.monotonic() - started < REPAIR_DEADLINE, "the Elastic IP was not claimed again"
        time.sleep(1)
    restored = time.monotonic() - started
    print(f"\nElastic IP association restored {restored:.0f} s after its removal")
    holder = _address()["InstanceId"]
    assert holder in rehearse.asg_instance_ids() + [replacement["instance_id"]]
    running = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()
    # the check that claimed the address reports it as it finishes, and journald takes the line from its
    # stream a moment later: the report is looked for until the second period's end
    while True:
        journals = {name: _journal(name, since) for name in rehearse.INSTANCE_NAMES if name in running}
        reported = [name for name, text in journals.items()
                    if f"unhealthy: the Elastic IP {before['PublicIp']}" in text and "associated with no instance" in text]
        if reported or time.monotonic() - started > REPAIR_DEADLINE:
            break
        time.sleep(1)
    assert reported, journals
    assert any("claiming " + before["AllocationId"] + " again" in journals[name] for name in reported)
