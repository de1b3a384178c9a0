"""A Graviton (arm64) stack in zones that offer its instance type (issue 10, item 12). The stack is
test_operations.py's (one deployment for both); the refusal below needs none.

The emulator is told that us-east-1a does not offer t4g.micro, the budget profile's own type (as zones of
a region differ on AWS):
the stack must pick the next zone, the arm64 Debian image (its own public parameter) and render the
user data for arm64; the emulator refuses a launch in a zone without the type and an image of
another architecture, as AWS does.
"""
from .checks_image import check_image
from .helpers import REGION, user_data_of
from .strict import strict

# Debian 13, the stacks' default release
ARM64_PARAMETER = "/aws/service/debian/release/13/latest/arm64"


# test_operations.py deploys its budget stack with the profile's own instance type (playbooks/group_vars/
# budget.yml, Graviton for its cost) where this zone lacks it, and checks it with check_arm64_stack
ARM64_TYPE = "t4g.micro"
ARM64_MISSING = {f"{REGION}a": [ARM64_TYPE]}


def check_arm64_stack(aws, stack, run_output):
    """The stack went to the zone that offers its type, with the stack image built from the arm64 Debian
    image, and the arm64 user data."""
    ec2 = aws("ec2")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    # us-east-1a, the first zone by name, lacks the type: the stack went to the next one
    assert [s["AvailabilityZone"] for s in subnets] == [f"{REGION}b"]

    data, user_data = user_data_of(aws, f"{stack}-lt")
    arm64_ami = aws("ssm").get_parameter(Name=ARM64_PARAMETER)["Parameter"]["Value"]
    stack_image = check_image(aws, stack, arm64_ami, run_output)
    assert data["InstanceType"] == ARM64_TYPE and data["ImageId"] == stack_image
    base = ec2.describe_images(ImageIds=[arm64_ami])["Images"][0]
    assert base["Architecture"] == "arm64" and base["Name"].startswith("debian-13-arm64-")
    assert ec2.describe_images(ImageIds=[stack_image])["Images"][0]["Architecture"] == "arm64"
    assert user_data.strip()

    # the group launched its instance there, from the arm64 image (the emulator refuses otherwise)
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"][0]
    instances = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in asg["Instances"]])["Reservations"]
    launched = [i for r in instances for i in r["Instances"]]
    assert len(launched) == 1
    assert launched[0]["Placement"]["AvailabilityZone"] == f"{REGION}b" and launched[0]["ImageId"] == stack_image


def test_an_instance_type_no_zone_offers_enough_is_refused_before_anything_is_created(aws, playbook, emulator):
    stack = "pp-arm-no"
    strict(emulator, missing_offerings={f"{REGION}{z}": ["t4g.small"] for z in "abcdf"})
    try:
        refused = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={stack}",
                           "-e", "aws_stack_instance_type=t4g.small")
    finally:
        strict(emulator, missing_offerings={})
    assert refused.rc != 0
    assert "Instance type t4g.small is offered in 0 available zone(s)" in " ".join(refused.out.split()), refused
    assert not aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
