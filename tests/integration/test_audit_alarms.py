"""Issue 9 on AWS, professional profile against the emulator: the instances' audit log reaches the
stack's log group and becomes alarms, and nginx behind the load balancer takes the client's address
from X-Forwarded-For only when the VPC (the load balancer's subnets) sends it.

Asserted with boto3 after site.yml: the audit log's metric filters and their two alarms on the
stack's topic (checks_monitoring, with every other alarm), the instance role's right to write the
audit stream, and in the bootstrap bundle read from S3: the agent ships the audit log, logrotate
rotates it, nginx trusts exactly the VPC's CIDR. Then a re-run changes nothing, the teardown leaves
no filter, alarm or log group, and a second teardown changes nothing.

The emulator stores a metric filter without reading its pattern (AWS refuses a malformed one) and
keeps filters after their log group (AWS deletes them with it): tests/unit/roles/aws_stack/
test_audit_alarms.py checks the pattern against real records, and the teardown deletes the filters
itself, which check_monitoring_gone asserts.
"""
import fnmatch
import json
import re

from .checks_monitoring import check_monitoring, check_monitoring_gone
from .helpers import REGION, bundle_of, user_data_of
from .strict import strict
from .test_stacks import DOMAIN, RULE_PRIORITY, _check_gone

STACK = "pp-audit-it"
VPC_CIDR = "10.42.0.0/16"  # aws_stack_vpc_cidr's default
AUDIT_LOG = "/var/log/privatepypi/audit.log"


def _bundle(aws):
    """{path: text} of the bootstrap bundle the latest launch template version names."""
    import base64
    import gzip
    version = aws("ec2").describe_launch_template_versions(
        LaunchTemplateName=f"{STACK}-lt", Versions=["$Latest"])["LaunchTemplateVersions"][0]
    return bundle_of(aws, gzip.decompress(base64.b64decode(version["LaunchTemplateData"]["UserData"])).decode())


def _instance_statements(aws):
    iam = aws("iam")
    role = f"{STACK}-instance"
    return [s for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
            for s in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]]


def test_professional_ships_the_audit_log_alarms_on_it_and_trusts_only_the_vpc(aws, playbook, emulator):
    zone = aws("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"{STACK}-zone")["HostedZone"]["Id"]
    args = ["-e", "profile=professional", "-e", f"aws_stack_name={STACK}", "-e", f"aws_stack_domain={DOMAIN}",
            "-e", f"aws_stack_load_balancer_rule_priority={RULE_PRIORITY}",
            # the agents are off in the other tests (nothing boots here to download them); the agent's
            # configuration and the instance role's log statements come with them
            "-e", "aws_stack_instance_agents_enabled=true"]
    td_args = ["-e", f"aws_stack_name={STACK}", "-e", f"aws_stack_domain={DOMAIN}"]
    try:
        created = playbook("site.yml", *args)
        assert created.rc == 0 and created.failed == 0, created
        print(f"create: {created.seconds:.0f} s")

        # the metric filters, the two alarms on them (and every other alarm) on the stack's topic
        check_monitoring(aws, STACK, "professional")
        alarms = aws("cloudwatch").describe_alarms(AlarmNames=[f"{STACK}-login-failure-bursts",
                                                               f"{STACK}-credentials-refused"])["MetricAlarms"]
        assert len(alarms) == 2
        for alarm in alarms:
            assert f"/{STACK}/pypiserver" in alarm["AlarmDescription"], alarm["AlarmDescription"]
        refused = [a for a in alarms if a["AlarmName"].endswith("credentials-refused")][0]
        assert f"/{STACK}/htpasswd" in refused["AlarmDescription"]

        # the instances may write the audit stream of that log group
        stream = f"arn:aws:logs:{REGION}:123456789012:log-group:/{STACK}/pypiserver:log-stream:i-0abc/audit"
        assert any("logs:PutLogEvents" in s["Action"] and any(fnmatch.fnmatchcase(stream, r) for r in s["Resource"])
                   for s in _instance_statements(aws) if isinstance(s["Action"], list) and isinstance(s["Resource"], list))

        # what the instances boot with: the agent ships the audit log, logrotate rotates it, nginx
        # believes X-Forwarded-For from the VPC only (the load balancer's subnets are in it)
        vpc = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"][0]
        assert vpc["CidrBlock"] == VPC_CIDR
        files = _bundle(aws)
        assert files, "no bootstrap bundle"
        site = files["/etc/nginx/sites-available/pypiserver"]
        assert re.findall(r"^\s*set_real_ip_from\s+(\S+);", site, re.MULTILINE) == [VPC_CIDR]
        assert "real_ip_header X-Forwarded-For;" in site and "real_ip_recursive on;" in site
        agent = json.loads(files["/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"])
        shipped = agent["logs"]["logs_collected"]["files"]["collect_list"]
        assert {"file_path": AUDIT_LOG, "log_group_name": f"/{STACK}/pypiserver",
                "log_stream_name": "{instance_id}/audit"} in shipped
        assert f"{AUDIT_LOG} {{" in files["/etc/logrotate.d/privatepypi-audit"]
        _, text = user_data_of(aws, f"{STACK}-lt")
        assert "logrotate" in text

        rerun = playbook("site.yml", *args)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        print(f"re-run: {rerun.seconds:.0f} s")
    finally:
        # ACM keeps the certificate in use longer than the teardown takes from the load balancer to it
        release = strict(emulator)["certificate_release_seconds"]
        strict(emulator, certificate_release_seconds=60)
        try:
            teardown = playbook("playbooks/teardown.yml", *td_args)
        finally:
            strict(emulator, certificate_release_seconds=release)
            aws("route53").delete_hosted_zone(Id=zone)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    print(f"teardown: {teardown.seconds:.0f} s")
    check_monitoring_gone(aws, STACK)
    _check_gone(aws, STACK)
    again = playbook("playbooks/teardown.yml", *td_args)
    assert again.rc == 0 and again.changed == 0, again
