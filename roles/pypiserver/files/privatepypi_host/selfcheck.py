"""Self-check of an instance, run by a timer: does the index answer its health endpoint?

A failed check starts whatever of the index is down (the package mount comes with it), so a
late file system or a crashed service heals by itself. Only after a grace period (counted from
this boot's first check: the state lives in /run) and several failed checks in a row does the
instance report itself Unhealthy to its
AutoScalingGroup (EC2 health checks alone never see a dead index), which replaces it.
Standard library only, run by the system python3: it must work when the venv does not.

With the stack's Elastic IP (budget), the check also compares this instance's public address
(metadata) and EC2's view of the address with the stack's Elastic IP (claim_eip.verdict): an
address lost or never held is a failed check like a silent index (one another instance of the stack took
over, a replacement, is not). It starts the claim again
(pypiserver-eip.service, which associates until it holds) and, when it keeps failing, reports.
The allocation is --eip-allocation-id, or the one the claim's unit names.

A unit that refuses what it checks (acme_store.py: the ACME directory on the store) writes its verdict to
a file (--verdict-file): when the index does not answer and such a verdict is a refusal, the report
says so, as the boot's own report would (after a reboot nothing else would name the cause).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from privatepypi_host import fetch_bundle

STATE = "/run/pypiserver-selfcheck.json"
EIP_UNIT = "pypiserver-eip.service"
EIP_UNIT_FILE = "/etc/systemd/system/" + EIP_UNIT
ALLOCATION = re.compile(r"--allocation-id[ =](eipalloc-[0-9a-f]+)\b")


def healthy(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback http URL from the unit
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def allocation_of(unit_file):
    """The allocation id the Elastic IP claim's unit names, or '' (no such unit: no Elastic IP)."""
    try:
        with open(unit_file, encoding="utf-8") as f:
            found = ALLOCATION.search(f.read())
    except OSError:
        return ""
    return found.group(1) if found else ""


def address_problem(allocation_id, region, endpoint_url, imds):
    """'' when the stack's Elastic IP is this instance's public address, or another instance of the stack
    took it over (a replacement: not this one's failure, and not to be taken back); otherwise why not. An
    answer that cannot be had (EC2 or the metadata service unreachable) is no verdict: ''."""
    # installed beside this file with the Elastic IP only: a top-level import would break the others' check
    from privatepypi_host import claim_eip  # noqa: PLC0415
    try:
        state, why = claim_eip.verdict(allocation_id, fetch_bundle.instance_id(imds), region, endpoint_url, imds)
    except (OSError, ValueError) as error:
        fetch_bundle.log(f"could not check the Elastic IP {allocation_id}: {error}")
        return ""
    if state == "moved":
        fetch_bundle.log(f"{why}: leaving it there")
    return why if state == "lost" else ""


def refusals(paths):
    """The verdicts among paths that are refusals (their text begins with 'refused'), one line each."""
    found = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(2000).strip()
        except OSError:
            continue
        if text.startswith("refused"):
            found.append(text.splitlines()[0])
    return found


def load(path, now):
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        if isinstance(state, dict) and isinstance(state.get("since"), (int, float)):
            return state
    except (OSError, ValueError):
        pass
    return {"since": now, "failures": 0, "reported": False}


def save(path, state):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(temporary, path)


def check(url, state, grace, failures, now, probe=healthy):
    """One check: returns (new state, action) where action is 'ok', 'repair' or 'report'."""
    if probe(url):
        return {"since": state["since"], "failures": 0, "reported": False}, "ok"
    state = dict(state, failures=state.get("failures", 0) + 1)
    if now - state["since"] >= grace and state["failures"] >= failures and not state.get("reported"):
        return state, "report"
    return state, "repair"


def main(argv=None, probe=healthy, report=fetch_bundle.set_unhealthy, run=subprocess.run, clock=time.time,
         address=address_problem):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--grace", type=float, default=900)
    parser.add_argument("--failures", type=int, default=4)
    parser.add_argument("--state", default=STATE)
    parser.add_argument("--repair", action="append", default=[], help="unit to start when the check fails")
    parser.add_argument("--autoscaling-group", default="")
    parser.add_argument("--region", default="")
    parser.add_argument("--endpoint-url", type=fetch_bundle.http_endpoint, default=None)
    parser.add_argument("--imds", type=fetch_bundle.http_endpoint, default=fetch_bundle.IMDS)
    parser.add_argument("--eip-allocation-id", default=None,
                        help="the stack's Elastic IP; default: the one " + EIP_UNIT_FILE + " claims, if any")
    parser.add_argument("--eip-unit-file", default=EIP_UNIT_FILE, help=argparse.SUPPRESS)
    parser.add_argument("--verdict-file", action="append", default=[],
                        help="a unit's verdict; a refusal in it is part of the reason reported")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error("--url must be a loopback http URL")
    allocation = args.eip_allocation_id if args.eip_allocation_id is not None else allocation_of(args.eip_unit_file)

    now = clock()
    problems = [] if probe(args.url) else [f"{args.url} does not answer", *refusals(args.verdict_file)]
    lost = address(allocation, args.region, args.endpoint_url, args.imds) if allocation else ""
    if lost:
        problems.append(lost)
        fetch_bundle.log(f"unhealthy: {lost}")
    state, action = check(args.url, load(args.state, now), args.grace, args.failures, now, lambda _url: not problems)
    if action == "report":
        reason = f"{'; '.join(problems)}: {state['failures']} failed checks in a row"
        if args.autoscaling_group:
            try:
                report(args.autoscaling_group, args.region, args.endpoint_url, args.imds, reason)
                state["reported"] = True
            except (OSError, ValueError) as error:
                fetch_bundle.log(f"could not report: {error}")  # next check tries again
        else:
            fetch_bundle.log(f"unhealthy ({reason}), no AutoScalingGroup to report to")
    if action != "ok" and args.repair:
        # --no-block: a mount that hangs must not hold the check; the next one sees the result
        run(["systemctl", "start", "--no-block", *args.repair], check=False)
        fetch_bundle.log(f"check {state['failures']} failed: starting {' '.join(args.repair)}")
    if lost:
        # the claim is a oneshot that stays active once done: restart, not start, claims again
        run(["systemctl", "restart", "--no-block", EIP_UNIT], check=False)
        fetch_bundle.log(f"claiming {allocation} again ({EIP_UNIT})")
    save(args.state, state)
    # 0 even when failing: the verdict is in the state file and the journal, and a unit that
    # ends in "failed" must not be what decides whether its timer keeps firing
    return 0


if __name__ == "__main__":
    sys.exit(main())
