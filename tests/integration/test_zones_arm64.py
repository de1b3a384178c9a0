"""A Graviton (arm64) stack in zones that offer its instance type (issue 10, item 12).

The emulator is told that us-east-1a does not offer t4g.small (as zones of a region differ on AWS):
the stack must pick the next zone, the arm64 Debian image (its own public parameter) and render the
user data for arm64; the emulator refuses a launch in a zone without the type and an image of
another architecture, as AWS does.
"""
from .helpers import REGION, record_timing, user_data_of
from .strict import strict

STACK = "pp-arm-it"
ARM64_PARAMETER = "/aws/service/debian/release/12/latest/arm64"


def test_arm64_stack_in_the_zones_that_offer_its_type(aws, playbook, emulator):
    args = ["-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "-e", "aws_stack_instance_type=t4g.small",
            "-e", "aws_stack_backup_enabled=false", "-e", "aws_stack_alerting_enabled=false"]
    strict(emulator, missing_offerings={f"{REGION}a": ["t4g.small"]})
    try:
        created = playbook("site.yml", *args)
        record_timing("arm64", "create", created.seconds)
        assert created.rc == 0 and created.failed == 0, created
        ec2 = aws("ec2")
        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"][0]["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        # us-east-1a, the first zone by name, lacks the type: the stack went to the next one
        assert [s["AvailabilityZone"] for s in subnets] == [f"{REGION}b"]

        data, user_data = user_data_of(aws, f"{STACK}-lt")
        arm64_ami = aws("ssm").get_parameter(Name=ARM64_PARAMETER)["Parameter"]["Value"]
        assert data["InstanceType"] == "t4g.small" and data["ImageId"] == arm64_ami
        assert ec2.describe_images(ImageIds=[arm64_ami])["Images"][0]["Architecture"] == "arm64"
        assert user_data.strip()

        # the group launched its instance there, from the arm64 image (the emulator refuses otherwise)
        asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"][0]
        instances = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in asg["Instances"]])["Reservations"]
        launched = [i for r in instances for i in r["Instances"]]
        assert len(launched) == 1
        assert launched[0]["Placement"]["AvailabilityZone"] == f"{REGION}b" and launched[0]["ImageId"] == arm64_ami

        rerun = playbook("site.yml", *args)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
    finally:
        teardown = playbook("playbooks/teardown.yml", "-e", f"aws_stack_name={STACK}")
        record_timing("arm64", "teardown", teardown.seconds)
        strict(emulator, missing_offerings={})
    assert teardown.rc == 0 and teardown.failed == 0, teardown


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
