"""Users and tokens of a running stack (playbooks/users.yml, playbooks/tokens.yml), read back with boto3:
users change in SSM only, nothing else moves. test_operations.py runs them on its stack."""
import json

BEFORE = [{"name": "alice", "password": "emulator-alice-before-51c2"},
          {"name": "ci-uploader", "password": "emulator-ci-unchanged-7d3e"},
          {"name": "bob", "password": "emulator-bob-removed-2a9f"}]
# alice rotates her password, ci-uploader is untouched, bob goes, carol comes
AFTER = [{"name": "alice", "password": "emulator-alice-rotated-88b0", "role": "admin"},
         dict(BEFORE[1], role="uploader", projects=["team-*"]),
         {"name": "carol", "password": "emulator-carol-new-4e61"}]
PASSWORDS = {u["password"] for u in BEFORE + AFTER}
REFRESH = "systemctl start pypiserver-htpasswd.service"


def users_file(tmp_path, name, users):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"pypi_users": users}))
    return f"@{path}"


def parameter(aws, stack):
    return aws("ssm").get_parameter(Name=f"/{stack}/htpasswd", WithDecryption=True)["Parameter"]


def hashes_of(parameter):
    # the htpasswd lines; "#role" and "#token" lines follow them in the same value
    return dict(line.split(":", 1) for line in parameter["Value"].splitlines() if line.strip() and not line.startswith("#"))


def frozen_compute(aws, stack):
    """What a users change must leave alone: launch template versions and the AutoScalingGroup."""
    ec2 = aws("ec2")
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{stack}-lt")["LaunchTemplateVersions"]
    template = ec2.describe_launch_templates(LaunchTemplateNames=[f"{stack}-lt"])["LaunchTemplates"][0]
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-asg"])["AutoScalingGroups"][0]
    refreshes = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"]
    return (len(versions), template["LatestVersionNumber"], template["DefaultVersionNumber"],
            json.dumps(asg["LaunchTemplate"], sort_keys=True), asg["DesiredCapacity"],
            sorted(i["InstanceId"] for i in asg["Instances"]), len(refreshes))


def running_index_instances(aws, stack):
    reservations = aws("ec2").describe_instances(Filters=[
        {"Name": "tag:Stack", "Values": [stack]},
        {"Name": "tag:aws:autoscaling:groupName", "Values": [f"{stack}-asg"]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    return sorted(i["InstanceId"] for r in reservations for i in r["Instances"])


def commands(aws):
    return aws("ssm").list_commands()["Commands"]


def flat(out):
    """The output with line wraps undone (the YAML callback folds long messages)."""
    return " ".join(out.split())


def assert_nothing_secret(out):
    for password in PASSWORDS:
        assert password not in out
    for marker in ("$2b$", "$2y$", "$2a$"):
        assert marker not in out
