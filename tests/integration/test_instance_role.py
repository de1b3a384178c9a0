"""The instance role, enforced: a budget stack against the emulator, and the calls an instance
makes with the credentials its metadata service hands it (the instance profile role assumed
through the emulator's STS, as tests/support/imds_standin.py does for the rehearsal). The
emulator enforces IAM for such role sessions (tests/support/emulator_iam.py), so what is allowed
here is allowed by the stack's own policy document, and what is refused is refused by it.

The "other stack" is what a second stack of the account would have: its credential parameter
under its own path, its Elastic IP and instance tagged with its name.
"""
import datetime
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.imds_standin import RoleCredentials

from .helpers import REGION

# one worker runs the whole module: its stack is deployed once (scripts/test.sh: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("instance-role")

STACK = "pp-iam-it"
OTHER = "pp-iam-other"
# shares STACK's name as a prefix: the policy's path must not reach it
PREFIXED = STACK + "2"


def _by_tag(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags") or item.get("TagSet") or []}


@pytest.fixture(scope="module")
def stack(emulator, aws, playbook):
    try:
        created = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={STACK}")
        assert created.rc == 0 and created.failed == 0, created
        ec2, ssm = aws("ec2"), aws("ssm")
        for name in (OTHER, PREFIXED):
            ssm.put_parameter(Name=f"/{name}/htpasswd", Value=f"{name}:$2b$12$x", Type="SecureString", Overwrite=True)
        other_eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [
            {"Key": "Stack", "Value": OTHER}, {"Key": "Name", "Value": f"{OTHER}-eip"}]}])["AllocationId"]
        instance_id = [i["InstanceId"] for g in aws("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"] for i in g["Instances"]][0]
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        other_instance = ec2.run_instances(
            ImageId=instance["ImageId"], MinCount=1, MaxCount=1, SubnetId=instance["SubnetId"],
            TagSpecifications=[{"ResourceType": t, "Tags": [{"Key": "Stack", "Value": OTHER}]}
                               for t in ("instance", "network-interface")])["Instances"][0]["InstanceId"]
        own_eip = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Addresses"][0]["AllocationId"]
        yield {"instance": instance, "own_eip": own_eip, "other_eip": other_eip, "other_instance": other_instance,
               "emulator": emulator}
    finally:
        teardown = playbook("playbooks/teardown.yml", "-e", f"aws_stack_name={STACK}")
        assert teardown.rc == 0 and teardown.failed == 0, teardown


@pytest.fixture(scope="module")
def instance_session(stack):
    """A boto3 session with exactly what the instance's metadata service hands it."""
    role_name, profile_arn, document = RoleCredentials(stack["emulator"], REGION).get(stack["instance"]["InstanceId"])
    assert role_name == f"{STACK}-instance" and profile_arn.endswith(f":instance-profile/{STACK}-instance")
    assert document["AccessKeyId"].startswith("ASIA") and document["Code"] == "Success"
    session = boto3.session.Session(aws_access_key_id=document["AccessKeyId"], region_name=REGION,
                                    aws_secret_access_key=document["SecretAccessKey"], aws_session_token=document["Token"])
    return lambda service: session.client(service, endpoint_url=stack["emulator"])


def _refused(call, code):
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code, caught.value.response
    return caught.value.response["Error"]["Message"]


def test_the_instance_is_the_role_session(instance_session, stack):
    arn = instance_session("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/{STACK}-instance/{stack['instance']['InstanceId']}")


def test_the_instance_reads_its_own_stacks_parameters(instance_session):
    ssm = instance_session("ssm")
    value = ssm.get_parameter(Name=f"/{STACK}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    # the htpasswd lines (the #role and #token lines ride in the same parameter)
    assert sorted(line.split(":", 1)[0] for line in value.splitlines() if not line.startswith("#")) == ["alice", "ci-uploader"]
    # the whole path: a split of the users into several parameters under it needs no policy change
    assert [p["Name"] for p in ssm.get_parameters_by_path(Path=f"/{STACK}", WithDecryption=True)["Parameters"]] == [
        f"/{STACK}/htpasswd"]


@pytest.mark.parametrize("name", [OTHER, PREFIXED])
def test_the_instance_cannot_read_another_stacks_credentials(instance_session, name):
    ssm = instance_session("ssm")
    message = _refused(lambda: ssm.get_parameter(Name=f"/{name}/htpasswd", WithDecryption=True), "AccessDeniedException")
    assert f"ssm:GetParameter on resource: arn:aws:ssm:{REGION}:" in message and f":parameter/{name}/htpasswd" in message
    _refused(lambda: ssm.get_parameters_by_path(Path=f"/{name}"), "AccessDeniedException")


def test_the_instance_cannot_write_parameters(instance_session):
    _refused(lambda: instance_session("ssm").put_parameter(Name=f"/{STACK}/htpasswd", Value="mallory:x",
                                                           Type="SecureString", Overwrite=True), "AccessDeniedException")


def test_the_instance_claims_its_own_elastic_ip(instance_session, stack, aws):
    instance_id = stack["instance"]["InstanceId"]
    instance_session("ec2").associate_address(AllocationId=stack["own_eip"], InstanceId=instance_id,
                                              AllowReassociation=True)
    address = aws("ec2").describe_addresses(AllocationIds=[stack["own_eip"]])["Addresses"][0]
    assert address["InstanceId"] == instance_id


def test_the_instance_cannot_take_another_stacks_elastic_ip(instance_session, stack, aws):
    ec2 = instance_session("ec2")
    message = _refused(lambda: ec2.associate_address(AllocationId=stack["other_eip"], InstanceId=stack["instance"]["InstanceId"],
                                                     AllowReassociation=True), "UnauthorizedOperation")
    assert f":elastic-ip/{stack['other_eip']}" in message
    assert not aws("ec2").describe_addresses(AllocationIds=[stack["other_eip"]])["Addresses"][0].get("InstanceId")


def test_the_instance_cannot_move_its_address_onto_another_stacks_instance(instance_session, stack):
    ec2 = instance_session("ec2")
    message = _refused(lambda: ec2.associate_address(AllocationId=stack["own_eip"], InstanceId=stack["other_instance"],
                                                     AllowReassociation=True), "UnauthorizedOperation")
    assert f":instance/{stack['other_instance']}" in message


def test_the_claim_needs_the_stack_tag_on_the_network_interface(instance_session, stack, aws):
    """Item 8: the condition on network interfaces matches only because the launch template tags them.
    Without the tag (what ASG-launched interfaces had before), the claim is refused."""
    ec2, instance = aws("ec2"), stack["instance"]
    interface = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    tags = _by_tag(ec2.describe_network_interfaces(NetworkInterfaceIds=[interface])["NetworkInterfaces"][0])
    assert tags["Stack"] == STACK and tags["Name"] == f"{STACK}-index"
    ec2.delete_tags(Resources=[interface], Tags=[{"Key": "Stack"}])
    try:
        message = _refused(lambda: instance_session("ec2").associate_address(
            AllocationId=stack["own_eip"], InstanceId=instance["InstanceId"], AllowReassociation=True), "UnauthorizedOperation")
        assert f":network-interface/{interface}" in message
    finally:
        ec2.create_tags(Resources=[interface], Tags=[{"Key": "Stack", "Value": STACK}])


def test_nothing_beyond_the_policy(instance_session, stack):
    ec2 = instance_session("ec2")
    _refused(ec2.describe_addresses, "UnauthorizedOperation")
    _refused(lambda: ec2.terminate_instances(InstanceIds=[stack["other_instance"]]), "UnauthorizedOperation")
    _refused(lambda: instance_session("iam").list_roles(), "AccessDenied")
    _refused(lambda: instance_session("s3").list_buckets(), "AccessDenied")


def test_credentials_are_renewed_before_they_expire(stack):
    now = [datetime.datetime.now(datetime.UTC)]
    source = RoleCredentials(stack["emulator"], REGION, seconds=900, clock=lambda: now[0])
    instance_id = stack["instance"]["InstanceId"]
    first = source.get(instance_id)[2]
    now[0] += datetime.timedelta(minutes=5)
    assert source.get(instance_id)[2] == first  # still 10 minutes to go: the same credentials
    now[0] += datetime.timedelta(minutes=6)  # 4 minutes left: new ones, as IMDS hands them out
    renewed = source.get(instance_id)[2]
    assert renewed["AccessKeyId"] != first["AccessKeyId"] and renewed["LastUpdated"] > first["LastUpdated"]


def test_health_checkers_are_admitted_only_while_the_cidrs_are_narrowed(stack, aws, playbook):
    """vars.yml narrows aws_stack_index_cidrs: Route53's prefix list on the index port; opened to
    everyone, the rule goes (0.0.0.0/0 admits the checkers already)."""
    ec2 = aws("ec2")
    names = {p["PrefixListId"]: p["PrefixListName"] for p in ec2.describe_managed_prefix_lists()["PrefixLists"]}

    def prefix_rules():
        group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{STACK}-app"]}])["SecurityGroups"][0]
        return [(p["FromPort"], [names[r["PrefixListId"]] for r in p["PrefixListIds"]])
                for p in group["IpPermissions"] if p.get("PrefixListIds")]

    assert prefix_rules() == [(8080, [f"com.amazonaws.{REGION}.route53-healthchecks"])]
    opened = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "--tags", "security_groups,network",
                      "-e", json.dumps({"aws_stack_index_cidrs": ["0.0.0.0/0"]}))
    assert opened.rc == 0 and opened.failed == 0, opened
    assert prefix_rules() == []
