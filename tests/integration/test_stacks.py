"""Create, re-run (changed=0) and tear down each profile's stack against the AWS emulator: the prod
environment (inventories/prod, professional, with the bastion) and the dev environment (inventories/dev,
budget) side by side in one account (checks_environments.py)."""
import fnmatch
import json
import re

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.support.cloud_config import bundle_of
from tests.support.secrets_shapes import find_hashes

from .checks_backup import check_backup, check_backup_gone
from .checks_bootstrap import check_bootstrap, check_bootstrap_gone
from .checks_image import builders, check_image, check_image_gone, images
from .checks_load_balancer import check_hsts
from .checks_monitoring import check_monitoring, check_monitoring_gone
from .checks_network import check_private_routes, check_private_routes_gone
from .deployer import boundary_arn, deployer_credentials
from .helpers import REGION, ROOT, cloud_config_of, passwords_in_vars, record_timing, tags_of, user_data_of
from .strict import strict

ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles" / "aws_stack" / "defaults" / "main.yml").read_text())

INDEX_CIDRS = {"203.0.113.0/24", "198.51.100.0/25"}  # tests/integration/vars.yml
RULE_PRIORITY = 110  # aws_stack_load_balancer_rule_priority; the other application below holds 100
OTHER_HOST = "wiki.example.com"
SSH_CIDR = "192.0.2.0/28"
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # aws_stack_alb_ssl_policy's default
DOMAIN = "example.com"
# all that a new instance type and the TLS policy someone changed by hand change on a professional stack
PROFESSIONAL_TEMPLATE_CHANGE_TASKS = [
    "privatepypi.aws.aws_stack : Create the shared application load balancer and its listeners, or bring the listeners of "
    "this stack's in line",
    "privatepypi.aws.aws_stack : Create the launch template, or a new version of it when its settings changed"]
AUDIT_LOG = "/var/log/privatepypi/audit.log"


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


def _prefix_list_rules(aws, group):
    """(from, to, prefix list names) per ingress permission that admits a prefix list."""
    names = {p["PrefixListId"]: p["PrefixListName"] for p in aws("ec2").describe_managed_prefix_lists()["PrefixLists"]}
    return sorted((p.get("FromPort"), p.get("ToPort"), tuple(sorted(names[r["PrefixListId"]] for r in p["PrefixListIds"])))
                  for p in group["IpPermissions"] if p.get("PrefixListIds"))


# the index CIDRs are narrowed (vars.yml) and alerting is on: Route53's health checkers are admitted
# through AWS's prefix list, on the port the health check probes only
ROUTE53_CHECKERS = f"com.amazonaws.{REGION}.route53-healthchecks"


def _assert_no_secret(aws, stack, user_data):
    value = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    for password in passwords_in_vars():
        assert password not in user_data
    for line in value.splitlines():
        assert line.strip() and line not in user_data
        if line.startswith("#token "):  # #token name scope expires digest [patterns]
            assert line.split()[4] not in user_data
        elif not line.startswith("#"):  # name:hash (#role lines hold names and roles only)
            assert line.split(":", 1)[1] not in user_data
    # no hash at all (the host programs name the schemes they accept, never a hash)
    assert not find_hashes(user_data)


def _check_common(aws, stack, run_output, agents=False, elastic_ip=False, architecture="amd64"):
    ec2 = aws("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
    assert len(vpcs) == 1 and tags_of(vpcs[0])["Name"] == f"{stack}-vpc"
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
    assert value.splitlines()[2:] == ["#role alice admin", "#role ci-uploader uploader *"]
    for password in passwords_in_vars():
        assert password not in run_output
    assert "$2b$" not in run_output and "$2y$" not in run_output

    # encrypted EFS, NFS only from the instances' security group
    fs = [f for f in aws("efs").describe_file_systems()["FileSystems"] if tags_of(f).get("Stack") == stack]
    assert len(fs) == 1 and fs[0]["Encrypted"] is True
    app_sg, efs_sg = _sg(aws, vpc_id, f"{stack}-app"), _sg(aws, vpc_id, f"{stack}-efs")
    assert _rules(efs_sg) == [(2049, 2049, (), (app_sg["GroupId"],))]
    targets = aws("efs").describe_mount_targets(FileSystemId=fs[0]["FileSystemId"])["MountTargets"]
    for target in targets:
        groups = aws("efs").describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])
        assert groups["SecurityGroups"] == [efs_sg["GroupId"]]

    # launch template: the stack image, built from Debian 13 (the default) of the instance type's architecture
    # found by its public parameter; IMDSv2 only, encrypted gp3 root, no secret
    data, user_data = user_data_of(aws, f"{stack}-lt")
    base = aws("ssm").get_parameter(Name=f"/aws/service/debian/release/13/latest/{architecture}")["Parameter"]["Value"]
    assert aws("ec2").describe_images(ImageIds=[base])["Images"][0]["Name"].startswith(f"debian-13-{architecture}-")
    assert data["ImageId"] == check_image(aws, stack, base, run_output)
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
    profile = data["IamInstanceProfile"]
    assert profile.get("Name") == f"{stack}-instance" or profile["Arn"].endswith(f":instance-profile/{stack}-instance")
    assert data["SecurityGroupIds"] == [app_sg["GroupId"]]
    root = data["BlockDeviceMappings"][0]["Ebs"]
    assert root["Encrypted"] is True and root["VolumeType"] == "gp3"
    assert user_data.strip() and fs[0]["FileSystemId"] in user_data  # in the bundle the user data names
    _assert_no_secret(aws, stack, user_data)
    check_bootstrap(aws, stack, fs[0]["FileSystemId"])

    # least-privilege role: scoped inline statements only, no AWS managed policy (which would grant
    # reads of every parameter of the account and log writes on "*")
    iam = aws("iam")
    assert iam.list_attached_role_policies(RoleName=f"{stack}-instance")["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=f"{stack}-instance")["PolicyNames"] == [f"{stack}-least-privilege"]
    doc = iam.get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    parameters = by_sid["ReadOnlyThisStacksParameters"]
    assert sorted(r.split(":parameter", 1)[1] for r in parameters["Resource"]) == [f"/{stack}", f"/{stack}/*"]
    assert parameters["Action"] == ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    assert by_sid["DecryptThisStacksParametersThroughSsmOnly"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": parameters["Resource"][1]}}
    assert by_sid["MountThisStacksFileSystem"]["Resource"].endswith(f":file-system/{fs[0]['FileSystemId']}")
    # budget runs without the agents (vars.yml): no statement of theirs; professional runs with them.
    # "*" only where the action has no resource type (the SSM agent's channel, ec2:DescribeTags, and
    # cloudwatch:PutMetricData, held to the agent's namespace by its condition)
    agent_sids = {"SsmAgentSessionsAndCommands", "AgentMetricsIntoItsNamespaceOnly",
                  "AgentLogsIntoThisStacksLogGroupOnly", "AgentReadsInstanceTags"}
    assert (agent_sids <= set(by_sid)) if agents else not agent_sids & set(by_sid)
    on_everything = {s.get("Sid") for s in doc["Statement"]
                     if "*" in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    # (and budget's claim reads where its Elastic IP is: ec2:DescribeAddresses has no resource type either)
    assert on_everything == (({"SsmAgentSessionsAndCommands", "AgentReadsInstanceTags", "AgentMetricsIntoItsNamespaceOnly"}
                              if agents else set()) | ({"ReadWhereTheAddressIs"} if elastic_ip else set()))
    profiles = iam.list_instance_profiles_for_role(RoleName=f"{stack}-instance")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == [f"{stack}-instance"]
    return vpc_id, app_sg, data, user_data


def _check_budget(aws, stack, run):
    # the profile's Graviton type (playbooks/group_vars/budget.yml): the arm64 image
    vpc_id, app_sg, _, user_data = _check_common(aws, stack, run.out, elastic_ip=True, architecture="arm64")
    ec2 = aws("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [(s["AvailabilityZone"], s["MapPublicIpOnLaunch"]) for s in subnets] == [(f"{REGION}a", True)]
    assert not ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    # 8080 from the configured CIDRs only; SSH only from the one network the test names
    assert _rules(app_sg) == [(22, 22, (SSH_CIDR,), ()), (8080, 8080, tuple(sorted(INDEX_CIDRS)), ())]
    assert _prefix_list_rules(aws, app_sg) == [(8080, 8080, (ROUTE53_CHECKERS,))]
    # the Elastic IP: one, tagged, its allocation passed to the instance (which associates it itself)
    eips = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Addresses"]
    assert len(eips) == 1 and tags_of(eips[0])["Name"] == f"{stack}-eip"
    assert eips[0]["AllocationId"] in user_data
    doc = aws("iam").get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    statements = {s["Sid"]: s for s in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert statements["AssociateOnlyThisStacksAddress"]["Resource"].endswith(f":elastic-ip/{eips[0]['AllocationId']}")
    onto = statements["AssociateOnlyToThisStacksInstances"]
    assert onto["Condition"] == {"StringEquals": {"aws:ResourceTag/Stack": stack}}
    assert sorted(r.rsplit(":", 1)[1] for r in onto["Resource"]) == ["instance/*", "network-interface/*"]
    # ...which can match only because the launch template tags the interfaces it creates
    specs = {s["ResourceType"]: tags_of(s) for s in user_data_of(aws, f"{stack}-lt")[0]["TagSpecifications"]}
    assert specs["network-interface"]["Stack"] == specs["instance"]["Stack"] == stack
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (1, 1, 1)
    assert asg["VPCZoneIdentifier"] == subnets[0]["SubnetId"] and asg["HealthCheckType"] == "EC2"
    assert asg["LaunchTemplate"]["LaunchTemplateName"] == f"{stack}-lt"
    assert f"http://{eips[0]['PublicIp']}:8080/" in run.out


def _check_professional(aws, stack, run):
    vpc_id, app_sg, _, user_data = _check_common(aws, stack, run.out, agents=True)
    ec2, elb = aws("ec2"), aws("elbv2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tiers = {}
    for s in subnets:
        tiers.setdefault(tags_of(s)["Tier"], []).append(s)
    assert sorted(s["AvailabilityZone"] for s in tiers["public"]) == [f"{REGION}a", f"{REGION}b"]
    assert sorted(s["AvailabilityZone"] for s in tiers["private"]) == [f"{REGION}a", f"{REGION}b"]
    assert not any(s["MapPublicIpOnLaunch"] for s in tiers["private"])
    private_ids = {s["SubnetId"] for s in tiers["private"]}
    nats = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]},
                                             {"Name": "state", "Values": ["available", "pending"]}])["NatGateways"]
    # prod runs with one NAT gateway per zone (checks_environments.PROD_EXTRA), each in a public subnet;
    # check_private_routes below follows each private subnet's route to its own zone's gateway
    assert len(nats) == 2 and {n["SubnetId"] for n in nats} <= {s["SubnetId"] for s in tiers["public"]}

    alb_sg = _sg(aws, vpc_id, f"{stack}-shared-alb")
    assert _rules(alb_sg) == [(80, 80, tuple(sorted(INDEX_CIDRS)), ()), (443, 443, tuple(sorted(INDEX_CIDRS)), ())]
    assert _prefix_list_rules(aws, alb_sg) == [(443, 443, (ROUTE53_CHECKERS,))]  # HTTPS: the check probes 443
    assert _prefix_list_rules(aws, app_sg) == []
    # only the load balancer, and SSH from the bastion only (checks_environments.assert_bastion)
    bastion_sg = _sg(aws, vpc_id, f"{stack}-bastion")
    assert _rules(app_sg) == [(22, 22, (), (bastion_sg["GroupId"],)), (8080, 8080, (), (alb_sg["GroupId"],))]
    assert not re.search(r"eipalloc-[0-9a-f]{8}", user_data)  # no address to claim (the self-check's pattern for one is there)

    alb = elb.describe_load_balancers(Names=[f"{stack}-shared-alb"])["LoadBalancers"][0]
    tags = tags_of(elb.describe_tags(ResourceArns=[alb["LoadBalancerArn"]])["TagDescriptions"][0])
    # created by this stack (teardown deletes it only then), in this stack's VPC
    assert tags["Application"] == "shared" and tags["Stack"] == stack and tags["CreatedBy"] == stack
    assert alb["VpcId"] == vpc_id
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
    assert len(rules) == 1 and rules[0]["Priority"] == str(RULE_PRIORITY)
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


def _check_audit_and_proxies(aws, stack, vpc_cidr):
    """Issue 9 on AWS: the audit log's two alarms name their log group (and the credentials'
    parameter), the instances may write the audit stream, and what they boot with ships the audit
    log, rotates it, and makes nginx believe X-Forwarded-For from the VPC only (the load balancer's
    subnets). The emulator stores a metric filter without reading its pattern (AWS refuses a
    malformed one): tests/unit/roles/aws_stack/test_audit_alarms.py checks it on real records."""
    alarms = aws("cloudwatch").describe_alarms(AlarmNames=[f"{stack}-login-failure-bursts",
                                                           f"{stack}-credentials-refused"])["MetricAlarms"]
    assert len(alarms) == 2
    for alarm in alarms:
        assert f"/{stack}/pypiserver" in alarm["AlarmDescription"], alarm["AlarmDescription"]
    refused = [a for a in alarms if a["AlarmName"].endswith("credentials-refused")][0]
    assert f"/{stack}/htpasswd" in refused["AlarmDescription"]

    iam, role = aws("iam"), f"{stack}-instance"
    statements = [s for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
                  for s in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]]
    stream = f"arn:aws:logs:{REGION}:123456789012:log-group:/{stack}/pypiserver:log-stream:i-0abc/audit"
    assert any("logs:PutLogEvents" in s["Action"] and any(fnmatch.fnmatchcase(stream, r) for r in s["Resource"])
               for s in statements if isinstance(s["Action"], list) and isinstance(s["Resource"], list))

    vpc = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]
    assert vpc["CidrBlock"] == vpc_cidr
    files = bundle_of(aws, cloud_config_of(aws, f"{stack}-lt")[1])
    assert files, "no bootstrap bundle"
    site = files["/etc/nginx/sites-available/pypiserver"]
    assert re.findall(r"^\s*set_real_ip_from\s+(\S+);", site, re.MULTILINE) == [vpc_cidr]
    assert "real_ip_header X-Forwarded-For;" in site and "real_ip_recursive on;" in site
    agent = json.loads(files["/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"])
    shipped = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert {"file_path": AUDIT_LOG, "log_group_name": f"/{stack}/pypiserver",
            "log_stream_name": "{instance_id}/audit"} in shipped
    assert f"{AUDIT_LOG} {{" in files["/etc/logrotate.d/privatepypi-audit"]


def _check_gone(aws, stack, domain_shared=False):
    """Nothing of the stack is left; with domain_shared, another stack still holds the test domain's
    certificate and records (the dev environment beside prod)."""
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
    check_image_gone(aws, stack)
    ec2 = aws("ec2")
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
    assert not ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Addresses"]
    # the emulator ignores tag filters on NAT gateways: compare the tags here
    nats = ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["pending", "available", "deleting"]}])
    assert not [n for n in nats["NatGateways"] if tags_of(n).get("Stack") == stack]
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
    if domain_shared:
        return
    assert not [c for c in aws("acm").list_certificates()["CertificateSummaryList"] if c["DomainName"] == f"pypi.{DOMAIN}"]
    for zone in aws("route53").list_hosted_zones()["HostedZones"]:
        types = {r["Type"] for r in aws("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]}
        assert types == {"NS", "SOA"}


def _retried(run, task):
    """How often the run retried the task (Ansible prints one line per retry of an until: loop)."""
    return run.out.count(f"FAILED - RETRYING: [localhost]: {task}")


def _https_listener(aws, stack):
    elb = aws("elbv2")
    alb = elb.describe_load_balancers(Names=[f"{stack}-shared-alb"])["LoadBalancers"][0]
    return next(x for x in elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"] if x["Port"] == 443)


def _add_other_application(aws, stack, vpc_id):
    """Another application on the shared load balancer: its target group, host rule (priority 100) and SNI certificate."""
    elb, acm = aws("elbv2"), aws("acm")
    listener = _https_listener(aws, stack)["ListenerArn"]
    tg = elb.create_target_group(Name="wiki-tg", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    cert = acm.request_certificate(DomainName=OTHER_HOST, ValidationMethod="DNS")["CertificateArn"]
    elb.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": cert}])
    rule = elb.create_rule(ListenerArn=listener, Priority=100, Actions=[{"Type": "forward", "TargetGroupArn": tg}],
                           Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [OTHER_HOST]}}])
    return dict(listener=listener, tg=tg, cert=cert, rule=rule["Rules"][0]["RuleArn"])


def _other_application(aws, other):
    """(its rule's priority and hosts, whether its certificate is on the listener) as the listener has them now."""
    elb = aws("elbv2")
    rules = [(r["Priority"], json.dumps(r["Conditions"])) for r in elb.describe_rules(ListenerArn=other["listener"])["Rules"]
             if r["RuleArn"] == other["rule"]]
    certs = [c["CertificateArn"] for c in elb.describe_listener_certificates(ListenerArn=other["listener"])["Certificates"]]
    return rules, other["cert"] in certs


def _remove_other_application(aws, other):
    elb = aws("elbv2")
    try:
        elb.delete_rule(RuleArn=other["rule"])
        elb.remove_listener_certificates(ListenerArn=other["listener"], Certificates=[{"CertificateArn": other["cert"]}])
    except ClientError:  # the listener is gone already
        pass
    elb.delete_target_group(TargetGroupArn=other["tg"])


def _versions(aws, stack):
    return len(aws("ec2").describe_launch_template_versions(LaunchTemplateName=f"{stack}-lt")["LaunchTemplateVersions"])


def _created(aws, playbook, emulator, profile, stack, args):
    """site.yml for a new stack, with the emulator's delay the profile's run must wait out, then the checks
    of what it made; the launch template's version count."""
    # AWS's eventual consistency, counted as refusals (tests/support/emulator.py): the run must retry
    # through each, as it waits out the seconds on AWS
    if profile == "budget":  # IAM: the new instance profile for the group, the new role for AWS Backup
        delay = {"iam_propagation_refusals": 2}
    else:  # Elastic Load Balancing learns of the new certificate later than the run reaches the listener
        delay = {"certificate_propagation_refusals": 2}
    try:
        strict(emulator, **delay)
        created = playbook("site.yml", *args)
    finally:
        strict(emulator, **{name: 0 for name in delay})
    record_timing(profile, "create", created.seconds)
    assert created.rc == 0 and created.failed == 0, created
    assert created.changed > 0
    # the last thing printed: the index URL and how to use it, without any password
    tail = created.out[created.out.rindex("TASK [privatepypi.aws.aws_stack : How to use the index]"):]
    assert "pip install --index-url" in tail and "twine upload" in tail
    (_check_budget if profile == "budget" else _check_professional)(aws, stack, created)
    check_monitoring(aws, stack, profile)
    check_backup(aws, stack, profile)
    if profile == "budget":
        # the emulator answers as AWS does right after IAM created the instance profile and the
        # backup role (tests/support/emulator.py, items 1 and 2): the run waited those out
        assert _retried(created, "Create the AutoScalingGroup") == 2, created
        assert _retried(created, "Select the stack's package file system") == 2, created
    else:
        from . import checks_environments as environments
        _check_audit_and_proxies(aws, stack, environments.ENVIRONMENTS["prod"][2])
        # the HTTPS listener right after ACM issued the certificate (CertificateNotFound): retried, then added
        assert _retried(created, "Create the shared application load balancer and its listeners, or bring the "
                                 "listeners of this stack's in line") == 2, created
        assert _https_listener(aws, stack)["SslPolicy"] == ALB_SSL_POLICY
        check_hsts(aws, stack)
        check_private_routes(aws, stack, per_az=True)  # a NAT gateway per zone, the S3 endpoint
    return _versions(aws, stack)


def _rerun_changes_nothing(aws, playbook, profile, stack, args, versions):
    before = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]
    stack_images, image_builders = set(images(aws, stack)), builders(aws, stack)
    # the emulator's describe answers carry fields AWS adds (not an echo of the request): still no change
    rerun = playbook("site.yml", *args)
    record_timing(profile, "re-run", rerun.seconds)
    assert rerun.rc == 0 and rerun.changed == 0, rerun
    # the same package set on the same base image: the image is reused, no builder launched
    assert set(images(aws, stack)) == stack_images and builders(aws, stack) == image_builders
    after = aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]
    assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])
    assert aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"] == []
    assert _versions(aws, stack) == versions


def _template_change_rolls_the_instances(aws, playbook, profile, stack, args, extra=()):
    """A new launch template version rolls the instances, within the profile's healthy bounds: a changed
    user data (budget) or instance type (professional), with what extra changes besides, makes exactly
    one. Returns the run."""
    change = (["-e", "aws_stack_htpasswd_refresh_interval=5min"] if profile == "budget"
              else ["-e", "aws_stack_instance_type=t3.medium"]) + list(extra)
    if profile == "professional":
        # someone changed the TLS policy of this stack's load balancer: the next run brings it back
        aws("elbv2").modify_listener(ListenerArn=_https_listener(aws, stack)["ListenerArn"], SslPolicy="ELBSecurityPolicy-2016-08")
    versions = _versions(aws, stack)

    def refreshes():
        return aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"]
    before = {r["InstanceRefreshId"] for r in refreshes()}
    changed = playbook("site.yml", *args, *change)
    record_timing(profile, "template-change", changed.seconds)
    assert changed.rc == 0 and changed.failed == 0, changed
    assert _versions(aws, stack) == versions + 1
    started = [r for r in refreshes() if r["InstanceRefreshId"] not in before]
    assert len(started) == 1, started
    bounds = {"budget": (0, 100), "professional": (100, 200)}[profile]
    preferences = started[0]["Preferences"]
    assert (preferences["MinHealthyPercentage"], preferences["MaxHealthyPercentage"]) == bounds
    assert preferences["SkipMatching"] is True and preferences["InstanceWarmup"] == 300
    said = "the index is unavailable from the old instance" in " ".join(changed.out.split())
    assert said == (profile == "budget")
    if profile == "professional":
        assert _https_listener(aws, stack)["SslPolicy"] == ALB_SSL_POLICY
    return changed


def _gone(aws, stack, teardown, domain_shared=False):
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    _check_gone(aws, stack, domain_shared=domain_shared)
    check_monitoring_gone(aws, stack)
    check_backup_gone(aws, stack)
    check_bootstrap_gone(aws, stack)


def test_two_environments_from_creation_to_teardown(aws, playbook, emulator, tmp_path):
    """prod (professional, inventories/prod, with the bastion) and dev (budget, inventories/dev) side by
    side in one account, as copies of an inventory folder make them; every run on prod with the credentials
    of a role that has prod's deployer policy alone (deployer.py; test_operations.py does the same for a
    budget stack), dev's with an administrator's. Each created and checked, re-run
    without change; prod rolled by a template change (a budget stack's is made by test_operations.py, after
    its restore); dev torn down alone leaves prod whole and as it was (prod's re-run comes after it); prod's
    teardown is refused while another application uses its load balancer, then takes everything."""
    from . import checks_environments as environments  # it reads this module's helpers: imported once both exist

    prod, dev = environments.ENVIRONMENTS["prod"][0], environments.ENVIRONMENTS["dev"][0]
    aws("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"{prod}-zone")
    prod_deployer = deployer_credentials(aws, playbook, prod, tmp_path, "prod-deployer-it")

    def deploy_prod(path, *args):
        return playbook(path, *args, env_extra=prod_deployer)
    prod_td = [*environments.inventory("prod"), "-e", f"aws_stack_domain={DOMAIN}",
               "-e", f"aws_stack_permissions_boundary={boundary_arn(prod)}"]
    prod_args = [*prod_td, "-e", "profile=professional", *environments.PROD_EXTRA,
                 "-e", f"aws_stack_load_balancer_rule_priority={RULE_PRIORITY}",
                 # the agents are off in the other tests (nothing boots here to download them); with them
                 # come the agent's configuration, the instance role's log statements, the audit alarms
                 "-e", "aws_stack_instance_agents_enabled=true"]
    dev_td = environments.inventory("dev")
    # dev: a budget stack with the role's whole monitoring (every alarm, the health check and its checkers'
    # rule, the dashboard) instead of the profile's few alarms, so the budget layout of each is checked;
    # test_operations.py's budget stack keeps the profile's (check_budget_monitoring)
    dev_args = [*dev_td, "-e", "profile=budget", "-e", json.dumps({
        "aws_stack_ssh_cidrs": [SSH_CIDR], "aws_stack_dashboard_enabled": True,
        "aws_stack_alarms_enabled": ROLE_DEFAULTS["aws_stack_alarms_enabled"]})]
    # confirmed by name, and without the final recovery point (a vault holding it would be kept:
    # test_operations.py proves that path), so that teardown leaves nothing
    prod_td = [*prod_td, "-e", f"confirm={prod}", "-e", "final_backup=false"]
    dev_td = [*dev_td, "-e", f"confirm={dev}", "-e", "final_backup=false"]
    other, dev_up = None, True
    try:
        prod_versions = _created(aws, deploy_prod, emulator, "professional", prod, prod_args)
        vpc_id = aws("elbv2").describe_load_balancers(Names=[f"{prod}-shared-alb"])["LoadBalancers"][0]["VpcId"]
        other = _add_other_application(aws, prod, vpc_id)
        rules, cert_on_listener = _other_application(aws, other)
        assert [r[0] for r in rules] == ["100"] and cert_on_listener
        # the re-run changes nothing, and leaves the other application its rule and its certificate
        _rerun_changes_nothing(aws, deploy_prod, "professional", prod, prod_args, prod_versions)
        rules, cert_on_listener = _other_application(aws, other)
        assert [r[0] for r in rules] == ["100"] and OTHER_HOST in rules[0][1] and cert_on_listener

        _created(aws, playbook, emulator, "budget", dev, dev_args)
        # each environment whole and its own
        environments.assert_whole(aws, "dev")
        prod_vpc = environments.assert_whole(aws, "prod")
        environments.assert_bastion(aws, prod_vpc, prod)

        # (a budget stack's re-run and template change: test_operations.py makes them, the one after its
        # creation, the other after its restore)

        # dev goes alone: prod stays whole, and exactly as it was: prod's next run, a template change,
        # changes what the change asks for and nothing else
        teardown = playbook("playbooks/teardown.yml", *dev_td)
        record_timing("budget", "teardown", teardown.seconds)
        # (a second teardown of a budget stack changes nothing: test_operations.py runs it)
        _gone(aws, dev, teardown, domain_shared=True)
        dev_up = False
        environments.assert_whole(aws, "prod")
        environments.assert_bastion(aws, prod_vpc, prod)
        rolled = _template_change_rolls_the_instances(aws, deploy_prod, "professional", prod, prod_args)
        assert rolled.changed_tasks() == PROFESSIONAL_TEMPLATE_CHANGE_TASKS, rolled.changed_tasks()
        # the other application keeps its rule and its certificate (SNI)
        rules, cert_on_listener = _other_application(aws, other)
        assert [r[0] for r in rules] == ["100"] and OTHER_HOST in rules[0][1] and cert_on_listener

        # the load balancer is prod's, and another application still uses it: nothing is deleted
        refused = deploy_prod("playbooks/teardown.yml", *prod_td)
        assert refused.rc != 0 and OTHER_HOST in refused.out and "nothing has been deleted" in refused.out, refused
        assert aws("elbv2").describe_load_balancers(Names=[f"{prod}-shared-alb"])["LoadBalancers"]
        assert aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prod}-asg"])["AutoScalingGroups"]
        assert _other_application(aws, other)[1]
    finally:
        if dev_up:
            playbook("playbooks/teardown.yml", *dev_td)
        if other:  # the other application leaves first
            _remove_other_application(aws, other)
        # ACM keeps the certificate in use after the teardown took the load balancer away, and the
        # network interfaces of the load balancer and the mount targets linger (as on AWS; counted as
        # refusals, off unless a test turns them on)
        try:
            strict(emulator, certificate_release_refusals=2, eni_linger_refusals=1)
            teardown = deploy_prod("playbooks/teardown.yml", *prod_td)
        finally:
            strict(emulator, certificate_release_refusals=0, eni_linger_refusals=0)
        record_timing("professional", "teardown", teardown.seconds)
    # ACM kept the certificate in use after its load balancer, the network interfaces lingered
    # (tests/support/emulator.py, item 3): the teardown waited, and went on to EFS, IAM and the VPC
    assert _retried(teardown, "Delete the requested certificate") == 2, teardown
    _gone(aws, prod, teardown)
    check_private_routes_gone(aws, prod_vpc)
    again = deploy_prod("playbooks/teardown.yml", *prod_td)
    record_timing("professional", "teardown-again", again.seconds)
    assert again.rc == 0 and again.changed == 0, again
