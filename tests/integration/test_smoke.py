"""The fast tier's one deployment (scripts/test.sh smoke, part of scripts/test.sh fast): one whole
professional site.yml with a domain, the bastion, the instance agents and the stack image on, against a fresh
emulator, checked as the full suite checks those parts.

The full run leaves it out (-m "not smoke"): test_stacks.py's professional lifecycle, the prod
environment with the bastion, deploys the same parts and asserts more.
"""
import pytest

from .checks_environments import assert_bastion
from .checks_image import check_image
from .checks_load_balancer import check_hsts
from .checks_monitoring import check_monitoring
from .checks_network import check_private_routes
from .helpers import tags_of
from .test_stacks import DOMAIN, REGION, SSH_CIDR

pytestmark = pytest.mark.smoke
STACK = "pp-smoke-it"


def test_one_professional_site_with_domain_bastion_and_agents(aws, playbook, reset_emulator):
    aws("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"{STACK}-zone")
    created = playbook("site.yml", "-e", "profile=professional", "-e", f"aws_stack_name={STACK}",
                       "-e", f"aws_stack_domain={DOMAIN}", "-e", "aws_stack_bastion_enabled=true",
                       "-e", f'{{"aws_stack_ssh_cidrs": ["{SSH_CIDR}"]}}',
                       "-e", "aws_stack_instance_agents_enabled=true")
    assert created.rc == 0 and created.failed == 0 and created.changed > 0, created
    # the last thing printed: how to use the index, at its HTTPS name
    tail = created.out[created.out.rindex("TASK [privatepypi.aws.aws_stack : How to use the index]"):]
    assert f"--index-url https://alice@pypi.{DOMAIN}/simple/" in tail, tail

    ec2, elb = aws("ec2"), aws("elbv2")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"][0]["VpcId"]
    tiers = {}
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        tiers.setdefault(tags_of(subnet)["Tier"], []).append(subnet["AvailabilityZone"])
    assert {tier: sorted(zones) for tier, zones in tiers.items()} == {
        "public": [f"{REGION}a", f"{REGION}b"], "private": [f"{REGION}a", f"{REGION}b"]}
    assert_bastion(aws, vpc_id, STACK)

    alb = elb.describe_load_balancers(Names=[f"{STACK}-shared-alb"])["LoadBalancers"][0]
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    check_hsts(aws, STACK)
    check_private_routes(aws, STACK)
    certificate = aws("acm").describe_certificate(
        CertificateArn=listeners[443]["Certificates"][0]["CertificateArn"])["Certificate"]
    assert (certificate["DomainName"], certificate["Status"]) == (f"pypi.{DOMAIN}", "ISSUED")
    groups = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])
    assert [(g["MinSize"], g["HealthCheckType"]) for g in groups["AutoScalingGroups"]] == [(2, "ELB")]
    check_monitoring(aws, STACK, "professional")
    # the instances boot the stack image built from Debian 13's public image
    check_image(aws, STACK, aws("ssm").get_parameter(Name="/aws/service/debian/release/13/latest/amd64")["Parameter"]["Value"],
                created.out)
