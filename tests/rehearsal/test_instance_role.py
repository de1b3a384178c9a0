"""IAM enforced on a booted instance: the rehearsal's container gets its instance profile role's
credentials from the metadata stand-in (the emulator's STS), and the emulator enforces IAM for them.
Its boot already needed the policy (the users' parameter, the Elastic IP claim); here the same
credential chain, inside the instance, is refused what belongs to another stack.
"""

import json
import subprocess

import pytest

from tests.support import rehearse

INSTANCE = "privatepypi-instance-1"
OTHER = "privatepypi-other"
# The instance's own Python, with the metadata endpoint its services use (their units set it).
PROBE = """
import json, sys, boto3, botocore
session = boto3.session.Session(region_name=sys.argv[1])
def attempt(call):
    try:
        call()
        return "allowed"
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
ssm, ec2 = session.client("ssm", endpoint_url=sys.argv[2]), session.client("ec2", endpoint_url=sys.argv[2])
print(json.dumps({
    "identity": session.client("sts", endpoint_url=sys.argv[2]).get_caller_identity()["Arn"],
    "method": session.get_credentials().method,
    "own": attempt(lambda: ssm.get_parameter(Name=sys.argv[3], WithDecryption=True)),
    "other": attempt(lambda: ssm.get_parameter(Name=sys.argv[4], WithDecryption=True)),
    "other_eip": attempt(lambda: ec2.associate_address(AllocationId=sys.argv[5], InstanceId=sys.argv[6],
                                                       AllowReassociation=True)),
}))
"""


@pytest.fixture(scope="module")
def stack():
    rehearse.down("budget")
    try:
        yield rehearse.up("budget")
    finally:
        rehearse.down("budget")


def test_the_instance_is_refused_what_belongs_to_another_stack(stack):
    ec2, ssm = rehearse.aws("ec2"), rehearse.aws("ssm")
    ssm.put_parameter(Name=f"/{OTHER}/htpasswd", Value="other:$2b$12$x", Type="SecureString", Overwrite=True)
    other_eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [
        {"Key": "Stack", "Value": OTHER}]}])["AllocationId"]
    result = subprocess.run(
        ["docker", "exec", "-e", f"AWS_EC2_METADATA_SERVICE_ENDPOINT={rehearse.IMDS_URL}", INSTANCE,
         "/opt/pypiserver/venv/bin/python", "-c", PROBE, rehearse.REGION, rehearse.EMULATOR_URL,
         f"/{rehearse.STACK}/htpasswd", f"/{OTHER}/htpasswd", other_eip, stack["instance_id"]],
        capture_output=True, text=True, check=True)
    seen = json.loads(result.stdout)
    print("\ninside the instance:", seen)
    assert seen["method"] == "iam-role"
    assert seen["identity"].endswith(f":assumed-role/{rehearse.STACK}-instance/{stack['instance_id']}")
    assert seen["own"] == "allowed"
    assert seen["other"] == "AccessDeniedException"
    assert seen["other_eip"] == "UnauthorizedOperation"
    # its own address, claimed at boot under the same enforcement
    addresses = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [rehearse.STACK]}])["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [stack["instance_id"]]
