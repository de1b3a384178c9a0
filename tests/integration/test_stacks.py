"""Create, re-run (changed=0) and tear down each profile's stack against the AWS emulator."""
import json

import pytest
from botocore.exceptions import ClientError

from .checks_backup import check_backup, check_backup_gone
from .checks_monitoring import check_monitoring, check_monitoring_gone
from .helpers import REGION, passwords_in_vars, record_timing, user_data_of

INDEX_CIDRS = {"203.0.113.0/24", "198.51.100.0/25"}  # tests/integration/vars.yml
SSH_CIDR = "192.0.2.0/28"
DOMAIN = "example.com"


def _by_tag(items, key="Tags"):
    return {t["Key"]: t["Value"] for t in items.get(key) or []}


def _sg(aws, vpc_id, name):
    groups = aws("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                          {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    assert len(groups) == 1, name
    return groups[0]


def _rules(group):
    """(from, to, cidrs, group ids) per ingress permission."""
    return sorted((p.get("FromPort"), p.get("ToPort"), tuple(sorted(r["CidrIp"] for r in p.get("IpRanges", []))),
                   tuple(sorted(g["GroupId"] for g in p.get("UserIdGroupPairs", []))))
                  for p in group["IpPermissions"])


def _assert_no_secret(aws, stack, user_data):
    value = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    for password in passwords_in_vars():
        assert password not in user_data
    for line in value.splitlines():
        assert line.strip() and line not in user_data
        assert line.split(":", 1)[1] not in user_data
    for marker in ("$2b$", "$2y$", "$2a$", "$apr1$", "$6$"):
        assert marker not in user_data


def _check_common(aws, stack, run_output):
    ec2 = aws("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
    assert len(vpcs) == 1 and _by_tag(vpcs[0])["Name"] == f"{stack}-vpc"
    vpc_id = vpcs[0]["VpcId"]

    # credentials: one SecureString with a bcrypt hash per user, nothing printed
    param = aws("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"/{stack}/htpasswd"]}])["Parameters"]
    assert [p["Type"] for p in param] == ["SecureString"]
    value = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    hashes = [line for line in value.splitlines() if not line.startswith("#")]
    assert sorted(line.split(":", 1)[0] for line in hashes) == ["alice", "ci-uploader"]
    assert all(line.split(":", 1)[1].startswith(("$2b$", "$2y$")) for line in hashes)
    # each user's role follows the htpasswd lines in the same value
    assert value.splitlines()[2:] == ["#role alice admin", "#role ci-uploader uploader"]
    for password in passwords_in_vars():
        assert password not in run_output
    assert "$2b$" not in run_output and "$2y$" not in run_output

    # encrypted EFS, NFS only from the instances' security group
    fs = [f for f in aws("efs").describe_file_systems()["FileSystems"] if _by_tag(f).get("Stack") == stack]
    assert len(fs) == 1 and fs[0]["Encrypted"] is True
    app_sg, efs_sg = _sg(aws, vpc_id, f"{stack}-app"), _sg(aws, vpc_id, f"{stack}-efs")
    assert _rules(efs_sg) == [(2049, 2049, (), (app_sg["GroupId"],))]
    targets = aws("efs").describe_mount_targets(FileSystemId=fs[0]["FileSystemId"])["MountTargets"]
    for target in targets:
        groups = aws("efs").describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])
        assert groups["SecurityGroups"] == [efs_sg["GroupId"]]

    # launch template: Debian AMI from the public parameter, IMDSv2 only, encrypted gp3 root, no secret
    data, user_data = user_data_of(aws, f"{stack}-lt")
    assert data["ImageId"] == aws("ssm").get_parameter(
        Name="/aws/service/debian/release/12/latest/amd64")["Parameter"]["Value"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
    profile = data["IamInstanceProfile"]
    assert profile.get("Name") == f"{stack}-instance" or profile["Arn"].endswith(f":instance-profile/{stack}-instance")
    assert data["SecurityGroupIds"] == [app_sg["GroupId"]]
    root = data["BlockDeviceMappings"][0]["Ebs"]
    assert root["Encrypted"] is True and root["VolumeType"] == "gp3"
    assert user_data.strip() and fs[0]["FileSystemId"] in user_data
    _assert_no_secret(aws, stack, user_data)

    # least-privilege role
    iam = aws("iam")
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=f"{stack}-instance")["AttachedPolicies"]}
    assert attached == {"AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"}
    doc = iam.get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ReadOnlyThisStacksCredentials"]["Resource"].endswith(f":parameter/{stack}/htpasswd")
    assert by_sid["ReadOnlyThisStacksCredentials"]["Action"] == "ssm:GetParameter"
    assert by_sid["DecryptThroughSsmOnly"]["Condition"] == {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}
    assert by_sid["MountThisStacksFileSystem"]["Resource"].endswith(f":file-system/{fs[0]['FileSystemId']}")
    assert not any(s["Resource"] == "*" and s["Action"] != "ec2:DescribeAddresses" for s in doc["Statement"])
    profiles = iam.list_instance_profiles_for_role(RoleName=f"{stack}-instance")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == [f"{stack}-instance"]
    return vpc_id, app_sg, data, user_data


def _check_budget(aws, stack, run):
    vpc_id, app_sg, _, user_data = _check_common(aws, stack, run.out)
    ec2 = aws("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [(s["AvailabilityZone"], s["MapPublicIpOnLaunch"]) for s in subnets] == [(f"{REGION}a", True)]
    assert not ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    # 8080 from the configured CIDRs only; SSH only from the one network the test names
    assert _rules(app_sg) == [(22, 22, (SSH_CIDR,), ()), (8080, 8080, tuple(sorted(INDEX_CIDRS)), ())]
    # the Elastic IP: one, tagged, its allocation passed to the instance (which associates it itself)
    eips = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Addresses"]
    assert len(eips) == 1 and _by_tag(eips[0])["Name"] == f"{stack}-eip"
    assert eips[0]["AllocationId"] in user_data
    doc = aws("iam").get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    statements = {s["Sid"]: s for s in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert statements["AssociateOnlyThisStacksAddress"]["Resource"].endswith(f":elastic-ip/{eips[0]['AllocationId']}")
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (1, 1, 1)
    assert asg["VPCZoneIdentifier"] == subnets[0]["SubnetId"] and asg["HealthCheckType"] == "EC2"
    assert asg["LaunchTemplate"]["LaunchTemplateName"] == f"{stack}-lt"
    assert f"http://{eips[0]['PublicIp']}:8080/" in run.out


def _check_professional(aws, stack, run):
    vpc_id, app_sg, _, user_data = _check_common(aws, stack, run.out)
    ec2, elb = aws("ec2"), aws("elbv2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tiers = {}
    for s in subnets:
        tiers.setdefault(_by_tag(s)["Tier"], []).append(s)
    assert sorted(s["AvailabilityZone"] for s in tiers["public"]) == [f"{REGION}a", f"{REGION}b"]
    assert sorted(s["AvailabilityZone"] for s in tiers["private"]) == [f"{REGION}a", f"{REGION}b"]
    assert not any(s["MapPublicIpOnLaunch"] for s in tiers["private"])
    private_ids = {s["SubnetId"] for s in tiers["private"]}
    nats = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]},
                                             {"Name": "state", "Values": ["available", "pending"]}])["NatGateways"]
    assert len(nats) == 1 and nats[0]["SubnetId"] in {s["SubnetId"] for s in tiers["public"]}
    routes = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": sorted(private_ids)}])
    assert all(any(r.get("NatGatewayId") == nats[0]["NatGatewayId"] for r in t["Routes"]) for t in routes["RouteTables"])

    alb_sg = _sg(aws, vpc_id, f"{stack}-shared-alb")
    assert _rules(alb_sg) == [(80, 80, tuple(sorted(INDEX_CIDRS)), ()), (443, 443, tuple(sorted(INDEX_CIDRS)), ())]
    assert _rules(app_sg) == [(8080, 8080, (), (alb_sg["GroupId"],))]  # only the load balancer, no SSH
    assert "eipalloc-" not in user_data

    alb = elb.describe_load_balancers(Names=[f"{stack}-shared-alb"])["LoadBalancers"][0]
    tags = _by_tag(elb.describe_tags(ResourceArns=[alb["LoadBalancerArn"]])["TagDescriptions"][0])
    assert tags["Application"] == "shared" and tags["Stack"] == stack
    tg = elb.describe_target_groups(Names=[f"{stack}-tg"])["TargetGroups"][0]
    assert (tg["Port"], tg["Protocol"], tg["HealthCheckPath"]) == (8080, "HTTP", "/health")
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    cert_arn = listeners[443]["Certificates"][0]["CertificateArn"]
    cert = aws("acm").describe_certificate(CertificateArn=cert_arn)["Certificate"]
    assert cert["DomainName"] == f"pypi.{DOMAIN}" and cert["Status"] == "ISSUED"
    rules = [r for r in elb.describe_rules(ListenerArn=listeners[443]["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert len(rules) == 1
    assert rules[0]["Conditions"][0]["Field"] == "host-header"
    assert f"pypi.{DOMAIN}" in json.dumps(rules[0]["Conditions"])
    assert rules[0]["Actions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (2, 2, 2)
    assert set(asg["VPCZoneIdentifier"].split(",")) == private_ids
    assert asg["HealthCheckType"] == "ELB" and asg["TargetGroupARNs"] == [tg["TargetGroupArn"]]

    zone_id = aws("route53").list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"][0]["Id"]
    records = aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    alias = [r for r in records if r["Name"] == f"pypi.{DOMAIN}." and r["Type"] == "A"]
    assert alias and alias[0]["AliasTarget"]["DNSName"].rstrip(".").lower() == alb["DNSName"].lower()
    assert f"https://pypi.{DOMAIN}/" in run.out


def _check_gone(aws, stack):
    leftovers = []
    for res in aws("resourcegroupstaggingapi").get_resources(
            TagFilters=[{"Key": "Stack", "Values": [stack]}])["ResourceTagMappingList"]:
        arn = res["ResourceARN"]
        if ":instance/" in arn:  # terminated instances stay visible for a while, on AWS too
            state = aws("ec2").describe_instances(InstanceIds=[arn.rsplit("/", 1)[1]])
            if state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated":
                continue
        if ":natgateway/" in arn:  # so do deleted NAT gateways
            nat = aws("ec2").describe_nat_gateways(NatGatewayIds=[arn.rsplit("/", 1)[1]])["NatGateways"][0]
            if nat["State"] == "deleted":
                continue
        leftovers.append(arn)
    assert leftovers == []
    ec2 = aws("ec2")
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
    assert not ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Addresses"]
    # the emulator ignores tag filters on NAT gateways: compare the tags here
    nats = ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["pending", "available", "deleting"]}])
    assert not [n for n in nats["NatGateways"] if _by_tag(n).get("Stack") == stack]
    assert not [f for f in aws("efs").describe_file_systems()["FileSystems"] if f.get("Name") == f"{stack}-efs"]
    assert not aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"]
    assert not [t for t in ec2.describe_launch_templates()["LaunchTemplates"] if t["LaunchTemplateName"] == f"{stack}-lt"]
    with pytest.raises(ClientError):
        aws("iam").get_role(RoleName=f"{stack}-instance")
    with pytest.raises(ClientError):
        aws("iam").get_instance_profile(InstanceProfileName=f"{stack}-instance")
    with pytest.raises(ClientError):
        aws("ssm").get_parameter(Name=f"/{stack}/htpasswd")
    assert not [lb for lb in aws("elbv2").describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"].startswith(stack)]
    assert not [tg for tg in aws("elbv2").describe_target_groups()["TargetGroups"] if tg["TargetGroupName"].startswith(stack)]
    assert not [c for c in aws("acm").list_certificates()["CertificateSummaryList"] if c["DomainName"] == f"pypi.{DOMAIN}"]
    for zone in aws("route53").list_hosted_zones()["HostedZones"]:
        types = {r["Type"] for r in aws("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]}
        assert types == {"NS", "SOA"}


@pytest.mark.parametrize("profile", ["budget", "professional"])
def test_stack_lifecycle(profile, aws, playbook):
    stack = f"pp-{profile[:4]}-it"
    args = ["-e", f"profile={profile}", "-e", f"aws_stack_name={stack}"]
    if profile == "budget":
        args += ["-e", json.dumps({"aws_stack_ssh_cidrs": [SSH_CIDR]})]
    if profile == "professional":
        aws("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"{stack}-zone")
        args += ["-e", f"aws_stack_domain={DOMAIN}"]
    td_args = ["-e", f"aws_stack_name={stack}"] + (["-e", f"aws_stack_domain={DOMAIN}"] if profile == "professional" else [])
    try:
        created = playbook("site.yml", *args)
        record_timing(profile, "create", created.seconds)
        assert created.rc == 0 and created.failed == 0, created
        assert created.changed > 0
        # the last thing printed: the index URL and how to use it, without any password
        tail = created.out[created.out.rindex("TASK [privatepypi.aws.aws_stack : How to use the index]"):]
        assert "pip install --index-url" in tail and "twine upload" in tail
        (_check_budget if profile == "budget" else _check_professional)(aws, stack, created)
        check_monitoring(aws, stack, profile)
        check_backup(aws, stack, profile)
        before = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]

        rerun = playbook("site.yml", *args)
        record_timing(profile, "re-run", rerun.seconds)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        after = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]
        assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])
        autoscaling = aws("autoscaling")
        assert autoscaling.describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"] == []

        # a new launch template version rolls the instances, within the profile's healthy bounds
        changed = playbook("site.yml", *args, "-e", "aws_stack_instance_type=t3.medium")
        record_timing(profile, "template-change", changed.seconds)
        assert changed.rc == 0 and changed.failed == 0, changed
        refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"]
        assert len(refreshes) == 1, refreshes
        bounds = {"budget": (0, 100), "professional": (100, 200)}[profile]
        preferences = refreshes[0]["Preferences"]
        assert (preferences["MinHealthyPercentage"], preferences["MaxHealthyPercentage"]) == bounds
        assert preferences["SkipMatching"] is True and preferences["InstanceWarmup"] == 300
        said = "the index is unavailable from the old instance" in " ".join(changed.out.split())
        assert said == (profile == "budget")

    finally:
        teardown = playbook("playbooks/teardown.yml", *td_args)
        record_timing(profile, "teardown", teardown.seconds)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    _check_gone(aws, stack)
    check_monitoring_gone(aws, stack)
    check_backup_gone(aws, stack)

    again = playbook("playbooks/teardown.yml", *td_args)
    record_timing(profile, "teardown-again", again.seconds)
    assert again.rc == 0 and again.changed == 0, again
