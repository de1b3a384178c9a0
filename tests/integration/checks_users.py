"""playbooks/users.yml against the AWS emulator: users change in SSM only, nothing else moves.

The stack is the Graviton (arm64) one of test_zones_arm64.py as well: one deployment for both."""
import json
import re

import pytest
from botocore.exceptions import ClientError
from passlib.hash import bcrypt

from .helpers import record_timing
from .strict import strict
from .test_zones_arm64 import ARM64_ARGS, ARM64_MISSING, check_arm64_stack

STACK = "pp-users-it"
PROFILE = "users"  # key of the timings table
BEFORE = [{"name": "alice", "password": "emulator-alice-before-51c2"},
          {"name": "ci-uploader", "password": "emulator-ci-unchanged-7d3e"},
          {"name": "bob", "password": "emulator-bob-removed-2a9f"}]
# alice rotates her password, ci-uploader is untouched, bob goes, carol comes
AFTER = [{"name": "alice", "password": "emulator-alice-rotated-88b0", "role": "admin"},
         dict(BEFORE[1], role="uploader", projects=["team-*"]),
         {"name": "carol", "password": "emulator-carol-new-4e61"}]
PASSWORDS = {u["password"] for u in BEFORE + AFTER}
REFRESH = "systemctl start pypiserver-htpasswd.service"


def _users_file(tmp_path, name, users):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"pypi_users": users}))
    return f"@{path}"


def _parameter(aws):
    return aws("ssm").get_parameter(Name=f"/{STACK}/htpasswd", WithDecryption=True)["Parameter"]


def _hashes(parameter):
    # the htpasswd lines; "#role" and "#token" lines follow them in the same value
    return dict(line.split(":", 1) for line in parameter["Value"].splitlines() if line.strip() and not line.startswith("#"))


def _frozen_compute(aws):
    """What a users change must leave alone: launch template versions and the AutoScalingGroup."""
    ec2 = aws("ec2")
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{STACK}-lt")["LaunchTemplateVersions"]
    template = ec2.describe_launch_templates(LaunchTemplateNames=[f"{STACK}-lt"])["LaunchTemplates"][0]
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"][0]
    refreshes = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{STACK}-asg")["InstanceRefreshes"]
    return (len(versions), template["LatestVersionNumber"], template["DefaultVersionNumber"],
            json.dumps(asg["LaunchTemplate"], sort_keys=True), asg["DesiredCapacity"],
            sorted(i["InstanceId"] for i in asg["Instances"]), len(refreshes))


def _running_index_instances(aws):
    reservations = aws("ec2").describe_instances(Filters=[
        {"Name": "tag:Stack", "Values": [STACK]},
        {"Name": "tag:aws:autoscaling:groupName", "Values": [f"{STACK}-asg"]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    return sorted(i["InstanceId"] for r in reservations for i in r["Instances"])


def _commands(aws):
    return aws("ssm").list_commands()["Commands"]


def _check_gone(aws):
    """Nothing tagged with the stack is left (terminated instances stay visible for a while, on AWS too)."""
    leftovers = []
    for res in aws("resourcegroupstaggingapi").get_resources(
            TagFilters=[{"Key": "Stack", "Values": [STACK]}])["ResourceTagMappingList"]:
        arn = res["ResourceARN"]
        if ":instance/" in arn:
            state = aws("ec2").describe_instances(InstanceIds=[arn.rsplit("/", 1)[1]])
            if state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated":
                continue
        leftovers.append(arn)
    assert leftovers == []
    assert not aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"]
    assert not aws("ec2").describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Addresses"]
    assert not aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"]
    assert not [t for t in aws("ec2").describe_launch_templates()["LaunchTemplates"]
                if t["LaunchTemplateName"] == f"{STACK}-lt"]
    with pytest.raises(ClientError):
        aws("ssm").get_parameter(Name=f"/{STACK}/htpasswd")
    with pytest.raises(ClientError):
        aws("iam").get_role(RoleName=f"{STACK}-instance")


def _flat(out):
    """The output with line wraps undone (the YAML callback folds long messages)."""
    return " ".join(out.split())


def _assert_nothing_secret(out):
    for password in PASSWORDS:
        assert password not in out
    for marker in ("$2b$", "$2y$", "$2a$"):
        assert marker not in out


def test_users_change_without_reprovisioning(aws, playbook, tmp_path, emulator):
    stack = ["-e", f"aws_stack_name={STACK}"]
    before_users, after_users = _users_file(tmp_path, "before", BEFORE), _users_file(tmp_path, "after", AFTER)
    try:
        # the stack is also the Graviton one (test_zones_arm64.py): t4g.small, in a zone that offers it
        strict(emulator, missing_offerings=ARM64_MISSING)
        site = ["site.yml", "-e", "profile=budget", *stack, "-e", before_users, *ARM64_ARGS,
                "-e", "aws_stack_alerting_enabled=false", "-e", "aws_stack_backup_enabled=false"]
        created = playbook(*site)
        record_timing(PROFILE, "create", created.seconds)
        assert created.rc == 0 and created.failed == 0, created
        check_arm64_stack(aws, STACK)
        rerun = playbook(*site)  # the zone and the image chosen stay chosen
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        original = _parameter(aws)
        assert sorted(_hashes(original)) == ["alice", "bob", "ci-uploader"]
        compute = _frozen_compute(aws)
        instances = _running_index_instances(aws)
        assert len(instances) == 1
        commands_before = len(_commands(aws))

        # bad input stops before anything changes, even with the immediate refresh asked for
        bad_cases = {
            "empty password": ([BEFORE[0], {"name": "carol", "password": ""}], "carol has an empty or short password"),
            "example password": ([BEFORE[0], {"name": "carol", "password": "Pass123-change-me!"}],
                                 "carol has the publicly documented example password"),
            "colon in the name": ([BEFORE[0], {"name": "carol:admin", "password": "emulator-carol-new-4e61"}],
                                  'user #2 needs a name of letters, digits'),
        }
        for case, (users, message) in bad_cases.items():
            bad = playbook("playbooks/users.yml", *stack, "-e", _users_file(tmp_path, case.replace(" ", "-"), users),
                           "-e", "users_apply_now=true")
            assert bad.rc != 0 and bad.failed == 1, (case, bad)
            assert message in bad.out and "Nothing has been created or changed." in bad.out, (case, bad)
            assert "Check who the AWS credentials belong to" not in bad.out, case  # before the first AWS call
            _assert_nothing_secret(bad.out)
        missing = playbook("playbooks/users.yml", "-e", "aws_stack_name=pp-users-none", "-e", after_users)
        assert missing.rc != 0 and "has no users parameter /pp-users-none/htpasswd" in missing.out, missing
        assert not aws("ssm").describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": ["/pp-users-none/htpasswd"]}])["Parameters"]
        assert _parameter(aws)["Version"] == original["Version"]
        assert len(_commands(aws)) == commands_before

        # add carol, rotate alice, remove bob, leave ci-uploader alone
        changed = playbook("playbooks/users.yml", *stack, "-e", after_users)
        record_timing(PROFILE, "users", changed.seconds)
        assert changed.rc == 0 and changed.changed == 1, changed
        updated = _parameter(aws)
        hashes, old = _hashes(updated), _hashes(original)
        assert sorted(hashes) == ["alice", "carol", "ci-uploader"]
        assert all(h.startswith(("$2y$", "$2b$")) for h in hashes.values())
        assert hashes["ci-uploader"] == old["ci-uploader"]
        assert hashes["alice"] != old["alice"]
        assert bcrypt.verify(AFTER[0]["password"], hashes["alice"])
        assert not bcrypt.verify(BEFORE[0]["password"], hashes["alice"])
        assert bcrypt.verify(AFTER[2]["password"], hashes["carol"])
        assert updated["Type"] == "SecureString" and updated["Version"] == original["Version"] + 1
        assert _frozen_compute(aws) == compute
        assert len(_commands(aws)) == commands_before
        assert "Index users: alice, ci-uploader, carol" in _flat(changed.out)
        # roles ride in the same parameter; carol has none: a reader
        assert [line for line in updated["Value"].splitlines() if line.startswith("#")] == [
            "#role alice admin", "#role ci-uploader uploader team-*", "#role carol reader"]
        assert ("Running instances of pp-users-it pick the new users up within 2min, with no restart and no relaunch "
                "(pypiserver-htpasswd.timer fetches /pp-users-it/htpasswd every 2min)") in _flat(changed.out)
        _assert_nothing_secret(changed.out)

        again = playbook("playbooks/users.yml", *stack, "-e", after_users)
        record_timing(PROFILE, "users-again", again.seconds)
        assert again.rc == 0 and again.changed == 0, again
        assert _parameter(aws)["Version"] == updated["Version"]
        assert "credentials unchanged" in _flat(again.out) and "No user changed" in _flat(again.out)

        # a token: one more "#token" line with a digest; a users run keeps it; revoking removes it
        secrets = tmp_path / "token-secrets"
        token = playbook("playbooks/tokens.yml", *stack, "-e", "token_name=ci-release", "-e", "token_scope=upload",
                         "-e", '{"token_projects": ["team-*"]}', "-e", "token_expires=2099-01-01",
                         "-e", f"token_secret_dir={secrets}")
        # the token in the scratch copy, then the parameter; the secret's directory and file on the controller
        assert token.rc == 0 and token.changed == 4, token
        # the secret is written for its owner only, and never printed
        secret_file = secrets / "pp-users-it-ci-release"
        secret = secret_file.read_text().strip()
        assert re.fullmatch(r"ppt_[A-Za-z0-9_-]+", secret) and secret not in token.out and "ppt_" not in token.out
        assert (secrets.stat().st_mode & 0o777, secret_file.stat().st_mode & 0o777) == (0o700, 0o600)
        assert str(secret_file) in _flat(token.out)
        with_token = _parameter(aws)
        token_lines = [line for line in with_token["Value"].splitlines() if line.startswith("#token ")]
        assert len(token_lines) == 1 and token_lines[0].startswith("#token ci-release upload 4070908800 hmac-sha256$")
        assert token_lines[0].endswith(" team-*") and secret not in with_token["Value"]
        assert _frozen_compute(aws) == compute
        kept = playbook("playbooks/users.yml", *stack, "-e", after_users)
        assert kept.rc == 0 and kept.changed == 0 and _parameter(aws)["Value"] == with_token["Value"], kept
        same = playbook("playbooks/tokens.yml", *stack, "-e", "token_name=ci-release", "-e", "token_scope=upload")
        assert same.rc == 0 and same.changed == 0 and "ppt_" not in same.out, same
        revoked = playbook("playbooks/tokens.yml", *stack, "-e", "token_name=ci-release", "-e", "token_state=absent")
        assert revoked.rc == 0 and revoked.changed == 2, revoked
        assert _parameter(aws)["Value"] == updated["Value"]
        updated = _parameter(aws)

        # check mode: the refresh is described, not sent
        dry = playbook("playbooks/users.yml", *stack, "-e", after_users, "-e", "users_apply_now=true", "--check")
        assert dry.rc == 0 and dry.failed == 0, dry
        assert len(_commands(aws)) == commands_before
        assert f"Would refresh {instances[0]}" in _flat(dry.out)
        _assert_nothing_secret(dry.out)

        # users_apply_now: every running index instance is told to fetch the users at once
        now = playbook("playbooks/users.yml", *stack, "-e", after_users, "-e", "users_apply_now=true")
        record_timing(PROFILE, "users-apply-now", now.seconds)
        assert now.rc == 0 and now.changed == 1, now  # the command; the parameter is already right
        sent = _commands(aws)[commands_before:]
        assert len(sent) == 1
        assert sent[0]["DocumentName"] == "AWS-RunShellScript"
        assert sent[0]["Parameters"] == {"commands": [REFRESH]}
        assert sorted(sent[0]["InstanceIds"]) == instances
        assert f"Refreshed {instances[0]} (SSM command {sent[0]['CommandId']}: Success)" in _flat(now.out)
        assert _parameter(aws)["Version"] == updated["Version"]
        assert _frozen_compute(aws) == compute
        _assert_nothing_secret(now.out)
    finally:
        teardown = playbook("playbooks/teardown.yml", *stack)
        strict(emulator, missing_offerings={})
        record_timing(PROFILE, "teardown", teardown.seconds)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    _check_gone(aws)
