"""Two environments, cloned by copying an inventory folder, coexist in one account: what each has of its
own, and the bastion's access in prod. test_stacks.py's professional lifecycle is prod (inventories/prod,
with the bastion); it creates dev (inventories/dev, budget) beside it, and tears dev down alone.
"""
import json

from .helpers import tags_of
from .test_stacks import SSH_CIDR, _rules, _sg

ENVIRONMENTS = {"dev": ("privatepypi-dev", "budget", "10.42.0.0/16"),
                "prod": ("privatepypi-prod", "professional", "10.43.0.0/16")}
# prod with one NAT gateway per zone: its re-run and teardown prove that setting on a whole stack (the
# smoke test and tests/unit/roles/aws_stack/test_network_routes.py prove the one-gateway default)
PROD_EXTRA = ["-e", "aws_stack_bastion_enabled=true", "-e", json.dumps({"aws_stack_ssh_cidrs": [SSH_CIDR]}),
              "-e", "aws_stack_nat_gateway_per_az=true"]


def inventory(env):
    return ["-i", f"inventories/{env}/hosts.yml"]


def assert_whole(aws, env):
    """The environment's own resources, named and tagged for it."""
    stack, _, cidr = ENVIRONMENTS[env]
    ec2 = aws("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
    assert [(v["CidrBlock"], tags_of(v)["Name"], tags_of(v)["Environment"]) for v in vpcs] == [
        (cidr, f"{stack}-vpc", env)]
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"]
    assert len(asg) == 1 and {t["Key"]: t["Value"] for t in asg[0]["Tags"]}["Environment"] == env
    assert aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    assert [f for f in aws("efs").describe_file_systems()["FileSystems"] if tags_of(f).get("Stack") == stack]
    return vpcs[0]["VpcId"]


def assert_bastion(aws, vpc_id, stack):
    """Access in professional: SSH reaches the bastion from the named network only, and the
    instances from the bastion only; the instances have no public address."""
    ec2 = aws("ec2")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Stack", "Values": [stack]},
                                                   {"Name": "tag:Role", "Values": ["bastion"]},
                                                   {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    bastions = [i for r in reservations["Reservations"] for i in r["Instances"]]
    assert len(bastions) == 1
    public = {s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "tag:Tier", "Values": ["public"]}])["Subnets"]}
    assert bastions[0]["SubnetId"] in public
    assert bastions[0]["MetadataOptions"]["HttpTokens"] == "required"
    bastion_sg = _sg(aws, vpc_id, f"{stack}-bastion")
    assert _rules(bastion_sg) == [(22, 22, (SSH_CIDR,), ())]
    alb_sg = _sg(aws, vpc_id, f"{stack}-shared-alb")
    assert _rules(_sg(aws, vpc_id, f"{stack}-app")) == [(22, 22, (), (bastion_sg["GroupId"],)),
                                                        (8080, 8080, (), (alb_sg["GroupId"],))]
