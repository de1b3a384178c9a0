"""The Elastic IP claim repairs itself (issue 19): claim_eip.py associates until the association holds
(EC2's view and the instance's own public address agree), and the self-check compares the instance's
public address (metadata) and EC2's view with the stack's Elastic IP, counts a difference as a failed
check, claims again, and reports the instance when it keeps failing.

Against a moto server (EC2, Auto Scaling over HTTP) and an IMDSv2 stand-in whose public-ipv4 the test sets.
"""

import functools
import json

import pytest

pytest.importorskip("moto.server")
import aws_standins as standins  # noqa: E402
from privatepypi_host import claim_eip, fetch_bundle, selfcheck  # noqa: E402

REGION = standins.REGION


class Metadata(standins.Metadata):
    """The instance and public address these tests set."""


@pytest.fixture(scope="module")
def endpoints():
    with standins.aws_endpoints(Metadata) as urls:
        yield urls


@pytest.fixture
def stack(endpoints):
    """An AutoScalingGroup with one instance (which the metadata stand-in says we are), another instance,
    and the stack's Elastic IP, free."""
    ec2, autoscaling = standins.client(endpoints, "ec2"), standins.client(endpoints, "autoscaling")
    name, instance, image = standins.group_with_one_instance(endpoints)
    other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    replacement = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    # the launch template tags the stack's instances; "other" is another application's
    ec2.create_tags(Resources=[instance, replacement], Tags=[{"Key": "Stack", "Value": name}])
    ec2.create_tags(Resources=[other], Tags=[{"Key": "Stack", "Value": "another-stack"}])
    address = ec2.allocate_address(Domain="vpc")
    Metadata.instance_id, Metadata.public_ipv4 = instance, ""
    return {"group": name, "instance": instance, "other": other, "replacement": replacement,
            "allocation": address["AllocationId"],
            "ip": address["PublicIp"], "ec2": ec2, "autoscaling": autoscaling}


def _holder(stack):
    return stack["ec2"].describe_addresses(AllocationIds=[stack["allocation"]])["Addresses"][0].get("InstanceId")


def _health(stack):
    return stack["autoscaling"].describe_auto_scaling_instances(InstanceIds=[stack["instance"]])[
        "AutoScalingInstances"][0]["HealthStatus"].upper()


@pytest.fixture
def no_pauses(monkeypatch):
    monkeypatch.setattr(claim_eip, "retry", functools.partial(fetch_bundle.retry, sleep=lambda _seconds: None))


def test_a_claim_taken_away_right_after_it_is_made_is_made_again_until_it_holds(endpoints, stack, no_pauses, monkeypatch):
    """The first association is lost at once (an instance of another application takes the address); the
    claim notices and associates again."""
    associations = []
    real = claim_eip.associate

    def associate_then_lose(allocation_id, instance_id, region, endpoint_url, imds):
        real(allocation_id, instance_id, region, endpoint_url, imds)
        associations.append(instance_id)
        if len(associations) == 1:
            stack["ec2"].associate_address(AllocationId=allocation_id, InstanceId=stack["other"], AllowReassociation=True)

    monkeypatch.setattr(claim_eip, "associate", associate_then_lose)
    assert claim_eip.main(["--allocation-id", stack["allocation"], "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "60"]) == 0
    assert len(associations) == 2 and _holder(stack) == stack["instance"]


def test_a_claim_whose_public_address_never_shows_is_not_taken_as_holding(endpoints, stack, no_pauses, capsys):
    """EC2 says the address is ours, but the instance's own public address (metadata) is another one:
    the claim keeps trying, and says why when it gives up."""
    Metadata.public_ipv4 = "198.51.100.7"
    code = claim_eip.main(["--allocation-id", stack["allocation"], "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "0"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"this instance's public address 198.51.100.7 (metadata) is not the stack's Elastic IP {stack['ip']}" in err
    Metadata.public_ipv4 = stack["ip"]
    assert claim_eip.main(["--allocation-id", stack["allocation"], "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "0"]) == 0


def test_the_selfcheck_sees_a_lost_address_claims_again_and_reports_when_it_stays_lost(endpoints, stack, tmp_path):
    state = str(tmp_path / "state.json")
    started = []
    common = ["--url", "http://127.0.0.1:9/health", "--state", state, "--grace", "60", "--failures", "2",
              "--autoscaling-group", stack["group"], "--region", REGION, "--endpoint-url", endpoints["aws"],
              "--imds", endpoints["imds"], "--repair", "pypiserver.service", "--eip-allocation-id", stack["allocation"]]

    def run(command, check):
        started.append(command)

    def check(now):
        selfcheck.main(common, probe=lambda _url: True, run=run, clock=lambda: now)
        return json.load(open(state))

    stack["ec2"].associate_address(AllocationId=stack["allocation"], InstanceId=stack["instance"])
    Metadata.public_ipv4 = stack["ip"]
    assert check(1000) == {"since": 1000, "failures": 0, "reported": False} and started == []

    # the association removed behind the instance's back: the index still answers, the check fails and claims again
    association = stack["ec2"].describe_addresses(AllocationIds=[stack["allocation"]])["Addresses"][0]["AssociationId"]
    stack["ec2"].disassociate_address(AssociationId=association)
    Metadata.public_ipv4 = "198.51.100.7"  # AWS gives the instance another public address (its subnet maps one)
    assert check(1030)["failures"] == 1
    assert ["systemctl", "restart", "--no-block", "pypiserver-eip.service"] in started
    assert _health(stack) == "HEALTHY"  # within the grace: claims again, does not report

    # the claim the check started restores it (the metadata follows the association): healthy again
    Metadata.public_ipv4 = stack["ip"]
    assert claim_eip.main(["--allocation-id", stack["allocation"], "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "0"]) == 0
    assert check(1060) == {"since": 1000, "failures": 0, "reported": False}

    # taken by another instance and never given back: after the grace and the failures in a row, reported
    stack["ec2"].associate_address(AllocationId=stack["allocation"], InstanceId=stack["other"], AllowReassociation=True)
    check(1090)
    assert _health(stack) == "HEALTHY"
    assert check(1120) == {"since": 1000, "failures": 2, "reported": True}
    assert _health(stack) == "UNHEALTHY"


def test_the_selfcheck_finds_the_allocation_in_the_claims_unit_and_without_it_checks_no_address(endpoints, stack, tmp_path):
    unit = tmp_path / "pypiserver-eip.service"
    unit.write_text("[Service]\nExecStart=/opt/venv/bin/python -m privatepypi_host.claim_eip \\\n"
                    f"    --allocation-id {stack['allocation']} --imds http://169.254.169.254\n")
    assert selfcheck.allocation_of(str(unit)) == stack["allocation"]
    assert selfcheck.allocation_of(str(tmp_path / "absent.service")) == ""
    state = str(tmp_path / "state.json")
    asked = []

    def address(*args):
        asked.append(args)
        return "lost"

    base = ["--url", "http://127.0.0.1:9/health", "--state", state, "--region", REGION]
    selfcheck.main([*base, "--eip-unit-file", str(unit)], probe=lambda _url: True, run=lambda *a, **k: None,
                   clock=lambda: 5, address=address)
    assert asked and asked[0][0] == stack["allocation"] and json.load(open(state))["failures"] == 1
    asked.clear()
    selfcheck.main([*base, "--eip-unit-file", str(tmp_path / "absent.service")], probe=lambda _url: True,
                   run=lambda *a, **k: None, clock=lambda: 5, address=address)
    assert asked == [] and json.load(open(state))["failures"] == 0


def test_ec2_out_of_reach_is_no_verdict_on_the_address(endpoints, stack):
    """An EC2 or metadata outage must not make a serving instance count as failed (and be replaced)."""
    assert selfcheck.address_problem(stack["allocation"], REGION, endpoints["aws"] + "/no-such-service",
                                     endpoints["imds"]) == ""


def test_an_address_a_replacement_of_the_stack_took_over_is_left_to_it(endpoints, stack, tmp_path, no_pauses):
    """A replacement claims the address at its boot while the instance it replaces still runs: the old one's
    check is not failed by it and does not take the address back (no tug of war), nor does its claim."""
    stack["ec2"].associate_address(AllocationId=stack["allocation"], InstanceId=stack["replacement"])
    Metadata.public_ipv4 = "198.51.100.7"
    state = str(tmp_path / "state.json")
    started = []
    selfcheck.main(["--url", "http://127.0.0.1:9/health", "--state", state, "--region", REGION,
                    "--endpoint-url", endpoints["aws"], "--imds", endpoints["imds"],
                    "--eip-allocation-id", stack["allocation"]],
                   probe=lambda _url: True, run=lambda command, check: started.append(command), clock=lambda: 10)
    assert json.load(open(state))["failures"] == 0 and started == []
    assert claim_eip.verdict(stack["allocation"], stack["instance"], REGION, endpoints["aws"], endpoints["imds"])[0] == "moved"
    # the boot claim itself takes it over (the newest instance wins), and holds
    Metadata.public_ipv4 = stack["ip"]
    assert claim_eip.main(["--allocation-id", stack["allocation"], "--imds", endpoints["imds"],
                           "--endpoint-url", endpoints["aws"], "--timeout", "0"]) == 0
    assert _holder(stack) == stack["instance"]
