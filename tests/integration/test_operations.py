"""One budget stack operated the way a team runs it, with nothing but the deployer's policy: created and
re-run, its instance role probed, users and tokens changed, a recovery point restored, its instances rolled
by a template change, torn down keeping the backups and then deleting them. Each of those used to deploy a stack of its own (test_users.py,
test_restore.py, test_instance_role.py, test_deployer_policy.py); one deployment now carries them all, step
after step in one test (each step starts from what the one before left; pytest-xdist does not keep the order
of a module's tests under -k). One worker runs the module (scripts/test.sh, --dist loadgroup): the deployer
role is made once.

The deployer's policy is rendered for this stack by playbooks/deployer_policy.yml from
roles/aws_stack/templates/deployer/ (two parts that each fit one IAM managed policy, and the stack's
permissions boundary); every playbook below runs with a role session of it and nothing else, IAM enforced
by the emulator (tests/support/emulator_iam.py). What this proves and what not: every action the
playbooks call is granted by one of the policy's statements, with the conditions the emulator fills in
(iam:PolicyARN, iam:PermissionsBoundary, iam:PassedToService, kms:ViaService and the parameter's encryption
context, tags); the Resource of a statement is checked where the emulator knows the call's resource (SSM
parameters, Elastic IP claims, IAM roles and instance profiles, the EC2 deletes, S3), and for the other
actions any Resource of an allowing statement counts (the role carries the tag
EmulatorIamResources=actions-only). So a missing action fails here; a wrong ARN pattern for an action the
emulator does not model shows up only on AWS. Each way the deployer could raise its own privileges is
tried with its credentials and refused (the last tests).

The stack is the Graviton (arm64) one of test_zones_arm64.py too. Its instance role is probed with the
credentials the instance's metadata service hands it (the instance profile role assumed through the
emulator's STS, as tests/support/imds_standin.py does for the rehearsal): the emulator enforces IAM for
such role sessions, so what is allowed is allowed by the stack's own policy document (capped by the
boundary), and what is refused is refused by it. The "other stack" is what a second stack of the account
would have: its credential parameter under its own path, its Elastic IP and instance tagged with its name.
"""
import datetime
import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.amis import AMIS
from passlib.hash import bcrypt

from tests.support.imds_standin import RoleCredentials

from . import checks_image as stack_image
from . import checks_restore as restore
from . import checks_users as users
from .checks_backup import check_backup, check_backup_gone, stack_file_system
from .checks_monitoring import check_budget_monitoring
from .deployer import ACCOUNT, boundary_arn, deployer_credentials
from .helpers import REGION, record_timing, tags_of
from .strict import strict
from .test_stacks import _check_gone, _rerun_changes_nothing, _rules, _sg, _template_change_rolls_the_instances, _versions
from .test_zones_arm64 import ARM64_MISSING, check_arm64_stack

pytestmark = pytest.mark.xdist_group("operations")

# any name a user picks: nothing of the policy is tied to the collection's default prefix
STACK = "pypi-itd"
BOUNDARY = boundary_arn(STACK)
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
STACK_ARGS = ["-e", f"aws_stack_name={STACK}", "-e", f"aws_stack_permissions_boundary={BOUNDARY}"]
# all that a changed user data (the refresh interval of the users' timer) changes on a budget stack
TEMPLATE_CHANGE_TASKS = ["privatepypi.aws.aws_stack : Upload the bootstrap bundle the user data names",
                         "privatepypi.aws.aws_stack : Create the launch template, or a new version of it when its settings changed"]
# what another package set adds: a new stack image built (before the template that boots it), and after
# the template's new version, the images no version names pruned
IMAGE_BUILD_TASKS = ["privatepypi.aws.aws_stack : Launch the image builder",
                     "privatepypi.aws.aws_stack : Capture the builder as the stack image",
                     "privatepypi.aws.aws_stack : Terminate the stack's image builders"]
IMAGE_PRUNE_TASK = "privatepypi.aws.aws_stack : Remove the stack's images no version uses, with their snapshots"
# the instance role's "other stacks": one of another name, one that shares this one's as a prefix
OTHER = "pp-iam-other"
PREFIXED = STACK + "2"


@pytest.fixture(scope="module")
def deployer(aws, playbook, tmp_path_factory):
    """Credentials of a role that has the stack's deployer policy and nothing else, made as README says."""
    return deployer_credentials(aws, playbook, STACK, tmp_path_factory.mktemp("deployer-policy"), "ci-deployer-it")


@pytest.fixture(scope="module")
def operate(deployer, playbook):
    """Runs a playbook on the stack with the deployer's credentials."""
    def run(path, *args):
        return playbook(path, *STACK_ARGS, *args, env_extra=deployer)
    return run


def _create_and_rerun(stack, operate, aws):
    created = operate("site.yml", *stack["site"], "-e", stack["before"])
    record_timing("operations", "create", created.seconds)
    assert created.rc == 0 and created.failed == 0, created
    assert aws("iam").get_role(RoleName=f"{STACK}-instance")["Role"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == BOUNDARY
    check_arm64_stack(aws, STACK, created.out)
    # the rest of what the budget profile chose for its cost (README, "What it costs"): an 8 GB root,
    # four alarms, no Route53 health check, no dashboard
    data = aws("ec2").describe_launch_template_versions(LaunchTemplateName=f"{STACK}-lt", Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert [m["Ebs"]["VolumeSize"] for m in data["BlockDeviceMappings"]] == [8]
    check_budget_monitoring(aws, STACK)
    check_backup(aws, STACK, "budget")
    # no SSH where nobody asked for it (aws_stack_ssh_cidrs empty, no bastion): the index port only
    vpc_id = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"][0]["VpcId"]
    assert [rule[:2] for rule in _rules(_sg(aws, vpc_id, f"{STACK}-app"))] == [(8080, 8080)]
    # the re-run changes nothing, the zone and the image chosen stay chosen (test_stacks.py's budget stack, dev, has
    # none of its own: this one is the budget re-run, under the deployer policy)
    _rerun_changes_nothing(aws, operate, "operations", STACK, [*stack["site"], "-e", stack["before"]], _versions(aws, STACK))
    assert len(stack_image.builders(aws, STACK)) == 1


# --- the instance role, enforced ---------------------------------------------------------------------

def _instance_and_another_stacks(aws, emulator):
    """The stack's instance, and what another stack of the account would have beside it."""
    ec2, ssm = aws("ec2"), aws("ssm")
    for name in (OTHER, PREFIXED):
        ssm.put_parameter(Name=f"/{name}/htpasswd", Value=f"{name}:$2b$12$x", Type="SecureString", Overwrite=True)
    other_eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [
        {"Key": "Stack", "Value": OTHER}, {"Key": "Name", "Value": f"{OTHER}-eip"}]}])["AllocationId"]
    instance_id = [i["InstanceId"] for g in aws("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"] for i in g["Instances"]][0]
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    other_instance = ec2.run_instances(
        ImageId=described["ImageId"], InstanceType=described["InstanceType"], MinCount=1, MaxCount=1,
        SubnetId=described["SubnetId"],
        TagSpecifications=[{"ResourceType": t, "Tags": [{"Key": "Stack", "Value": OTHER}]}
                           for t in ("instance", "network-interface")])["Instances"][0]["InstanceId"]
    own_eip = ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Addresses"][0]["AllocationId"]
    return {"instance": described, "own_eip": own_eip, "other_eip": other_eip, "other_instance": other_instance,
            "emulator": emulator}


def _instance_session(instance):
    """A boto3 session with exactly what the instance's metadata service hands it."""
    role_name, profile_arn, document = RoleCredentials(instance["emulator"], REGION).get(instance["instance"]["InstanceId"])
    assert role_name == f"{STACK}-instance" and profile_arn.endswith(f":instance-profile/{STACK}-instance")
    assert document["AccessKeyId"].startswith("ASIA") and document["Code"] == "Success"
    session = boto3.session.Session(aws_access_key_id=document["AccessKeyId"], region_name=REGION,
                                    aws_secret_access_key=document["SecretAccessKey"], aws_session_token=document["Token"])
    return lambda service: session.client(service, endpoint_url=instance["emulator"])


def _refused(call, code):
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code, caught.value.response
    return caught.value.response["Error"]["Message"]


def _check_the_instance_is_the_role_session(instance_session, instance):
    arn = instance_session("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/{STACK}-instance/{instance['instance']['InstanceId']}")


def _check_the_instance_reads_its_own_stacks_parameters(instance_session):
    ssm = instance_session("ssm")
    value = ssm.get_parameter(Name=f"/{STACK}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    # the htpasswd lines (the #role and #token lines ride in the same parameter)
    assert sorted(line.split(":", 1)[0] for line in value.splitlines() if not line.startswith("#")) == [
        "alice", "bob", "ci-uploader"]
    # the whole path: a split of the users into several parameters under it needs no policy change
    assert [p["Name"] for p in ssm.get_parameters_by_path(Path=f"/{STACK}", WithDecryption=True)["Parameters"]] == [
        f"/{STACK}/htpasswd"]


def _check_the_instance_cannot_read_another_stacks_credentials(instance_session, name):
    ssm = instance_session("ssm")
    message = _refused(lambda: ssm.get_parameter(Name=f"/{name}/htpasswd", WithDecryption=True), "AccessDeniedException")
    assert f"ssm:GetParameter on resource: arn:aws:ssm:{REGION}:" in message and f":parameter/{name}/htpasswd" in message
    _refused(lambda: ssm.get_parameters_by_path(Path=f"/{name}"), "AccessDeniedException")


def _check_the_instance_cannot_write_parameters(instance_session):
    _refused(lambda: instance_session("ssm").put_parameter(Name=f"/{STACK}/htpasswd", Value="mallory:x",
                                                           Type="SecureString", Overwrite=True), "AccessDeniedException")


def _check_the_instance_claims_its_own_elastic_ip(instance_session, instance, aws):
    instance_id = instance["instance"]["InstanceId"]
    instance_session("ec2").associate_address(AllocationId=instance["own_eip"], InstanceId=instance_id,
                                              AllowReassociation=True)
    address = aws("ec2").describe_addresses(AllocationIds=[instance["own_eip"]])["Addresses"][0]
    assert address["InstanceId"] == instance_id


def _check_the_instance_cannot_take_another_stacks_elastic_ip(instance_session, instance, aws):
    ec2 = instance_session("ec2")
    message = _refused(lambda: ec2.associate_address(AllocationId=instance["other_eip"],
                                                     InstanceId=instance["instance"]["InstanceId"],
                                                     AllowReassociation=True), "UnauthorizedOperation")
    assert f":elastic-ip/{instance['other_eip']}" in message
    assert not aws("ec2").describe_addresses(AllocationIds=[instance["other_eip"]])["Addresses"][0].get("InstanceId")


def _check_the_instance_cannot_move_its_address_onto_another_stacks_instance(instance_session, instance):
    ec2 = instance_session("ec2")
    message = _refused(lambda: ec2.associate_address(AllocationId=instance["own_eip"], InstanceId=instance["other_instance"],
                                                     AllowReassociation=True), "UnauthorizedOperation")
    assert f":instance/{instance['other_instance']}" in message


def _check_the_claim_needs_the_stack_tag_on_the_network_interface(instance_session, instance, aws):
    """Item 8: the condition on network interfaces matches only because the launch template tags them.
    Without the tag (what ASG-launched interfaces had before), the claim is refused."""
    ec2, described = aws("ec2"), instance["instance"]
    interface = described["NetworkInterfaces"][0]["NetworkInterfaceId"]
    tags = tags_of(ec2.describe_network_interfaces(NetworkInterfaceIds=[interface])["NetworkInterfaces"][0])
    assert tags["Stack"] == STACK and tags["Name"] == f"{STACK}-index"
    ec2.delete_tags(Resources=[interface], Tags=[{"Key": "Stack"}])
    try:
        message = _refused(lambda: instance_session("ec2").associate_address(
            AllocationId=instance["own_eip"], InstanceId=described["InstanceId"], AllowReassociation=True),
            "UnauthorizedOperation")
        assert f":network-interface/{interface}" in message
    finally:
        ec2.create_tags(Resources=[interface], Tags=[{"Key": "Stack", "Value": STACK}])


def _check_nothing_beyond_the_policy(instance_session, instance):
    ec2 = instance_session("ec2")
    # where its address is, it may read (the claim's repair: DescribeAddresses has no resource type); no more
    assert [a["AllocationId"] for a in ec2.describe_addresses(AllocationIds=[instance["own_eip"]])["Addresses"]] == [
        instance["own_eip"]]
    _refused(ec2.describe_instances, "UnauthorizedOperation")
    _refused(lambda: ec2.terminate_instances(InstanceIds=[instance["other_instance"]]), "UnauthorizedOperation")
    _refused(lambda: instance_session("iam").list_roles(), "AccessDenied")
    _refused(lambda: instance_session("s3").list_buckets(), "AccessDenied")


def _check_credentials_are_renewed_before_they_expire(instance):
    now = [datetime.datetime.now(datetime.UTC)]
    source = RoleCredentials(instance["emulator"], REGION, seconds=900, clock=lambda: now[0])
    instance_id = instance["instance"]["InstanceId"]
    first = source.get(instance_id)[2]
    now[0] += datetime.timedelta(minutes=5)
    assert source.get(instance_id)[2] == first  # still 10 minutes to go: the same credentials
    now[0] += datetime.timedelta(minutes=6)  # 4 minutes left: new ones, as IMDS hands them out
    renewed = source.get(instance_id)[2]
    assert renewed["AccessKeyId"] != first["AccessKeyId"] and renewed["LastUpdated"] > first["LastUpdated"]


# --- users and tokens change without reprovisioning ---------------------------------------------------

def _change_users_and_tokens(stack, operate, playbook, aws, tmp_path):
    original = users.parameter(aws, STACK)
    assert sorted(users.hashes_of(original)) == ["alice", "bob", "ci-uploader"]
    compute = users.frozen_compute(aws, STACK)
    instances = users.running_index_instances(aws, STACK)
    assert len(instances) == 1
    commands_before = len(users.commands(aws))

    # bad input stops before anything changes, even with the immediate refresh asked for
    bad_cases = {
        "empty password": ([users.BEFORE[0], {"name": "carol", "password": ""}], "carol has an empty or short password"),
        "example password": ([users.BEFORE[0], {"name": "carol", "password": "Pass123-change-me!"}],
                             "carol has the publicly documented example password"),
        "colon in the name": ([users.BEFORE[0], {"name": "carol:admin", "password": "emulator-carol-new-4e61"}],
                              'user #2 needs a name of letters, digits'),
    }
    for case, (listed, message) in bad_cases.items():
        bad = operate("playbooks/users.yml", "-e", users.users_file(tmp_path, case.replace(" ", "-"), listed),
                      "-e", "users_apply_now=true")
        assert bad.rc != 0 and bad.failed == 1, (case, bad)
        assert message in bad.out and "Nothing has been created or changed." in bad.out, (case, bad)
        assert "Check who the AWS credentials belong to" not in bad.out, case  # before the first AWS call
        users.assert_nothing_secret(bad.out)
    # a stack that does not exist (with an administrator's credentials: the deployer may not even look)
    missing = playbook("playbooks/users.yml", "-e", "aws_stack_name=pp-users-none", "-e", stack["after"])
    assert missing.rc != 0 and "has no users parameter /pp-users-none/htpasswd" in missing.out, missing
    assert not aws("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/pp-users-none/htpasswd"]}])["Parameters"]
    assert users.parameter(aws, STACK)["Version"] == original["Version"]
    assert len(users.commands(aws)) == commands_before

    # add carol, rotate alice, remove bob, leave ci-uploader alone
    changed = operate("playbooks/users.yml", "-e", stack["after"])
    record_timing("operations", "users", changed.seconds)
    assert changed.rc == 0 and changed.changed == 1, changed
    updated = users.parameter(aws, STACK)
    hashes, old = users.hashes_of(updated), users.hashes_of(original)
    assert sorted(hashes) == ["alice", "carol", "ci-uploader"]
    assert all(h.startswith(("$2y$", "$2b$")) for h in hashes.values())
    assert hashes["ci-uploader"] == old["ci-uploader"]
    assert hashes["alice"] != old["alice"]
    assert bcrypt.verify(users.AFTER[0]["password"], hashes["alice"])
    assert not bcrypt.verify(users.BEFORE[0]["password"], hashes["alice"])
    assert bcrypt.verify(users.AFTER[2]["password"], hashes["carol"])
    assert updated["Type"] == "SecureString" and updated["Version"] == original["Version"] + 1
    assert users.frozen_compute(aws, STACK) == compute
    assert len(users.commands(aws)) == commands_before
    assert "Index users: alice, ci-uploader, carol" in users.flat(changed.out)
    # roles ride in the same parameter; carol has none: a reader
    assert [line for line in updated["Value"].splitlines() if line.startswith("#")] == [
        "#role alice admin", "#role ci-uploader uploader team-*", "#role carol reader"]
    assert (f"Running instances of {STACK} pick the new users up within 2min, with no restart and no relaunch "
            f"(pypiserver-htpasswd.timer fetches /{STACK}/htpasswd every 2min)") in users.flat(changed.out)
    users.assert_nothing_secret(changed.out)

    again = operate("playbooks/users.yml", "-e", stack["after"])
    record_timing("operations", "users-again", again.seconds)
    assert again.rc == 0 and again.changed == 0, again
    assert users.parameter(aws, STACK)["Version"] == updated["Version"]
    assert "credentials unchanged" in users.flat(again.out) and "No user changed" in users.flat(again.out)

    # a token: one more "#token" line with a digest; a users run keeps it; revoking removes it
    secrets = tmp_path / "token-secrets"
    token = operate("playbooks/tokens.yml", "-e", "token_name=ci-release", "-e", "token_scope=upload",
                    "-e", '{"token_projects": ["team-*"]}', "-e", "token_expires=2099-01-01",
                    "-e", f"token_secret_dir={secrets}")
    # the token in the scratch copy, then the parameter; the secret's directory and file on the controller
    assert token.rc == 0 and token.changed == 4, token
    # the secret is written for its owner only, and never printed
    secret_file = secrets / f"{STACK}-ci-release"
    secret = secret_file.read_text().strip()
    assert re.fullmatch(r"ppt_[A-Za-z0-9_-]+", secret) and secret not in token.out and "ppt_" not in token.out
    assert (secrets.stat().st_mode & 0o777, secret_file.stat().st_mode & 0o777) == (0o700, 0o600)
    assert str(secret_file) in users.flat(token.out)
    with_token = users.parameter(aws, STACK)
    token_lines = [line for line in with_token["Value"].splitlines() if line.startswith("#token ")]
    assert len(token_lines) == 1 and token_lines[0].startswith("#token ci-release upload 4070908800 hmac-sha256$")
    assert token_lines[0].endswith(" team-*") and secret not in with_token["Value"]
    assert users.frozen_compute(aws, STACK) == compute
    kept = operate("playbooks/users.yml", "-e", stack["after"])
    assert kept.rc == 0 and kept.changed == 0 and users.parameter(aws, STACK)["Value"] == with_token["Value"], kept
    same = operate("playbooks/tokens.yml", "-e", "token_name=ci-release", "-e", "token_scope=upload")
    assert same.rc == 0 and same.changed == 0 and "ppt_" not in same.out, same
    revoked = operate("playbooks/tokens.yml", "-e", "token_name=ci-release", "-e", "token_state=absent")
    assert revoked.rc == 0 and revoked.changed == 2, revoked
    assert users.parameter(aws, STACK)["Value"] == updated["Value"]
    updated = users.parameter(aws, STACK)

    # check mode: the refresh is described, not sent
    dry = operate("playbooks/users.yml", "-e", stack["after"], "-e", "users_apply_now=true", "--check")
    assert dry.rc == 0 and dry.failed == 0, dry
    assert len(users.commands(aws)) == commands_before
    assert f"Would refresh {instances[0]}" in users.flat(dry.out)
    users.assert_nothing_secret(dry.out)

    # users_apply_now: every running index instance is told to fetch the users at once
    now = operate("playbooks/users.yml", "-e", stack["after"], "-e", "users_apply_now=true")
    record_timing("operations", "users-apply-now", now.seconds)
    assert now.rc == 0 and now.changed == 1, now  # the command; the parameter is already right
    sent = users.commands(aws)[commands_before:]
    assert len(sent) == 1
    assert sent[0]["DocumentName"] == "AWS-RunShellScript"
    assert sent[0]["Parameters"] == {"commands": [users.REFRESH]}
    assert sorted(sent[0]["InstanceIds"]) == instances
    assert f"Refreshed {instances[0]} (SSM command {sent[0]['CommandId']}: Success)" in users.flat(now.out)
    assert users.parameter(aws, STACK)["Version"] == updated["Version"]
    assert users.frozen_compute(aws, STACK) == compute
    users.assert_nothing_secret(now.out)


# --- a recovery point restored ------------------------------------------------------------------------

def _restore_a_recovery_point(stack, operate, aws, folder):
    old = stack_file_system(aws, STACK)
    point = restore.backup_now(aws, STACK, old["FileSystemId"])
    stack["point"] = point
    taken = point["CreationDate"].astimezone(datetime.UTC).isoformat()
    before = restore.restorable_state(aws, STACK)
    assert aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{STACK}-asg")["InstanceRefreshes"] == []

    # dry run: names the recovery point, its date and the file system it replaces; changes nothing
    dry = operate("playbooks/restore.yml", *stack["site"], "-e", stack["after"], "-e", "restore_dry_run=true")
    record_timing("operations", "restore-dry-run", dry.seconds)
    assert dry.rc == 0 and dry.changed == 0, dry
    said = dry.out[dry.out.index("Dry run, nothing changed"):]
    for fact in (point["RecoveryPointArn"], taken, f"It replaces {old['FileSystemId']}", f"{STACK}-efs-restored-"):
        assert fact in " ".join(said.split()), fact
    assert restore.restorable_state(aws, STACK) == before

    # check mode: the same, through --check
    checked = operate("playbooks/restore.yml", *stack["site"], "-e", stack["after"], "--check")
    assert checked.rc == 0 and checked.changed == 0, checked
    assert point["RecoveryPointArn"] in checked.out
    assert restore.restorable_state(aws, STACK) == before

    # a recovery point the vault does not hold: refused before anything changes
    wrong = operate("playbooks/restore.yml", *stack["site"], "-e", stack["after"],
                    "-e", f"restore_recovery_point_arn={point['RecoveryPointArn']}0")
    assert wrong.rc != 0 and "holds no completed" in wrong.out and "Nothing has been changed" in wrong.out, wrong
    assert restore.restorable_state(aws, STACK) == before

    restored = operate("playbooks/restore.yml", *stack["site"], "-e", stack["after"],
                       "-e", f"restore_recovery_point_arn={point['RecoveryPointArn']}")
    record_timing("operations", "restore", restored.seconds)
    assert restored.rc == 0 and restored.failed == 0 and restored.changed > 0, restored
    new = restore.check_restored(aws, STACK, old, point)
    check_backup(aws, STACK, "budget")  # the selection now picks the restored file system by its tags
    assert set(restore.file_systems(aws, STACK)) == {old["FileSystemId"], new["FileSystemId"]}

    # site.yml with the users users.yml left, a changed user data and another package set (a role upgrade
    # brings both): the restored file system stays, and nothing but a new stack image, the new launch
    # template version and the roll it starts changes (a restore leaves nothing for site.yml to undo).
    # The image before stays while a template version names it; an image no version names goes.
    before_image, _ = stack_image.template_images(aws, STACK)
    orphan = stack_image.orphan_image(aws, STACK, aws("ssm").get_parameter(
        Name="/aws/service/debian/release/13/latest/amd64")["Parameter"]["Value"])
    rolled = _template_change_rolls_the_instances(aws, operate, "budget", STACK, [*stack["site"], "-e", stack["after"]],
                                                  extra=["-e", f"pypiserver_pip_lock={stack_image.another_package_set(folder)}"])
    upload, template = TEMPLATE_CHANGE_TASKS
    assert rolled.changed_tasks() == [upload, *IMAGE_BUILD_TASKS, template, f"{IMAGE_PRUNE_TASK} ({orphan[0]} ({STACK}-orphan))"], \
        rolled.changed_tasks()
    stack_image.check_image_replaced(aws, STACK, before_image, orphan)
    assert stack_file_system(aws, STACK)["FileSystemId"] == new["FileSystemId"]


def _admit_health_checkers_only_while_the_cidrs_are_narrowed(stack, operate, aws):
    """Without the health check (the budget profile's default) no rule for its checkers; with it, since
    vars.yml narrows aws_stack_index_cidrs, Route53's prefix list on the index port; opened to everyone,
    the rule goes (0.0.0.0/0 admits the checkers already)."""
    ec2 = aws("ec2")
    names = {p["PrefixListId"]: p["PrefixListName"] for p in ec2.describe_managed_prefix_lists()["PrefixLists"]}

    def prefix_rules():
        group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{STACK}-app"]}])["SecurityGroups"][0]
        return [(p["FromPort"], [names[r["PrefixListId"]] for r in p["PrefixListIds"]])
                for p in group["IpPermissions"] if p.get("PrefixListIds")]

    assert prefix_rules() == []
    checked = json.dumps({"aws_stack_alarms_enabled": ["instances_in_service_low", "health_check_failed"]})
    narrowed = operate("site.yml", *stack["site"], "-e", stack["after"], "--tags", "security_groups,network",
                       "-e", checked)
    assert narrowed.rc == 0 and narrowed.failed == 0, narrowed
    assert prefix_rules() == [(8080, [f"com.amazonaws.{REGION}.route53-healthchecks"])]
    opened = operate("site.yml", *stack["site"], "-e", stack["after"], "--tags", "security_groups,network",
                     "-e", checked, "-e", json.dumps({"aws_stack_index_cidrs": ["0.0.0.0/0"]}))
    assert opened.rc == 0 and opened.failed == 0, opened
    assert prefix_rules() == []


# --- torn down: the backups kept, then deleted --------------------------------------------------------

def _tear_down_keeping_then_deleting_the_backups(stack, operate, aws):
    # another application's issued certificate in the region (acm_certificate_info then reads it: acm:GetCertificate)
    certificate = aws("acm").request_certificate(DomainName="wiki.example.org", ValidationMethod="DNS")
    assert aws("acm").describe_certificate(CertificateArn=certificate["CertificateArn"])["Certificate"]["Status"] == "ISSUED"
    point, serving = stack["point"], stack_file_system(aws, STACK)
    # without the stack's name given (nobody at a terminal to type it): refused before anything is deleted
    unconfirmed = operate("playbooks/teardown.yml")
    assert unconfirmed.rc != 0 and f"Teardown of {STACK} not confirmed: nothing has been deleted" in " ".join(
        unconfirmed.out.split()), unconfirmed
    assert "Check who the AWS credentials belong to" not in unconfirmed.out
    assert stack_file_system(aws, STACK)["FileSystemId"] == serving["FileSystemId"]

    teardown = operate("playbooks/teardown.yml", "-e", f"confirm={STACK}")
    record_timing("operations", "teardown-keep", teardown.seconds)
    assert teardown.rc == 0 and teardown.failed == 0, teardown

    # everything but the vault and its recovery points is gone: both file systems too. The vault holds the
    # point restored from and a final one of the file system that served, taken before anything was deleted
    assert "Kept the backup vault" in teardown.out and "aws_stack_teardown_delete_backups=true" in teardown.out
    points = restore.recovery_points(aws, STACK)
    final = [p for p in points if p["RecoveryPointArn"] != point["RecoveryPointArn"]]
    assert len(points) == 2 and len(final) == 1, points
    assert final[0]["ResourceArn"].endswith(f":file-system/{serving['FileSystemId']}") and final[0]["Status"] == "COMPLETED"
    assert final[0]["RecoveryPointArn"] in " ".join(teardown.out.split())
    assert not restore.file_systems(aws, STACK)
    assert not [p for p in aws("backup").list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == f"{STACK}-daily"]
    with pytest.raises(ClientError):
        aws("iam").get_role(RoleName=f"{STACK}-backup")
    leftovers = [r["ResourceARN"] for r in aws("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "Stack", "Values": [STACK]}])["ResourceTagMappingList"] if ":instance/" not in r["ResourceARN"]]
    assert leftovers == [aws("backup").describe_backup_vault(BackupVaultName=f"{STACK}-backup")["BackupVaultArn"]]

    kept = operate("playbooks/teardown.yml", "-e", f"confirm={STACK}")  # no file system left: no final point
    assert kept.rc == 0 and kept.changed == 0 and "Kept the backup vault" in kept.out, kept
    assert len(restore.recovery_points(aws, STACK)) == 2

    purged = operate("playbooks/teardown.yml", "-e", f"confirm={STACK}", "-e", "aws_stack_teardown_delete_backups=true")
    record_timing("operations", "teardown-delete-backups", purged.seconds)
    assert purged.rc == 0 and purged.failed == 0 and purged.changed > 0, purged
    assert "Kept the backup vault" not in purged.out
    _check_gone(aws, STACK)
    check_backup_gone(aws, STACK)

    again = operate("playbooks/teardown.yml", "-e", f"confirm={STACK}", "-e", "aws_stack_teardown_delete_backups=true")
    assert again.rc == 0 and again.changed == 0, again


def test_a_budget_stack_operated_with_the_deployer_policy_alone(operate, playbook, aws, emulator, tmp_path):
    """Created with the users of checks_users.BEFORE and re-run; its instance role probed; users and tokens
    changed; a recovery point restored; its instances rolled by a template change; the health checkers'
    rule; torn down keeping the backups, then deleting them. In this order, in one test: each step starts from what the one before left."""
    stack = {"before": users.users_file(tmp_path, "before", users.BEFORE),
             "after": users.users_file(tmp_path, "after", users.AFTER),
             "site": ["-e", "profile=budget"], "point": None}
    torn_down = False
    strict(emulator, missing_offerings=ARM64_MISSING)  # arm64 in a zone that offers the type
    try:
        _create_and_rerun(stack, operate, aws)

        instance = _instance_and_another_stacks(aws, emulator)
        session = _instance_session(instance)
        _check_the_instance_is_the_role_session(session, instance)
        _check_the_instance_reads_its_own_stacks_parameters(session)
        for name in (OTHER, PREFIXED):
            _check_the_instance_cannot_read_another_stacks_credentials(session, name)
        _check_the_instance_cannot_write_parameters(session)
        _check_the_instance_claims_its_own_elastic_ip(session, instance, aws)
        _check_the_instance_cannot_take_another_stacks_elastic_ip(session, instance, aws)
        _check_the_instance_cannot_move_its_address_onto_another_stacks_instance(session, instance)
        _check_the_claim_needs_the_stack_tag_on_the_network_interface(session, instance, aws)
        _check_nothing_beyond_the_policy(session, instance)
        _check_credentials_are_renewed_before_they_expire(instance)

        _change_users_and_tokens(stack, operate, playbook, aws, tmp_path)
        _restore_a_recovery_point(stack, operate, aws, tmp_path)
        _admit_health_checkers_only_while_the_cidrs_are_narrowed(stack, operate, aws)
        _tear_down_keeping_then_deleting_the_backups(stack, operate, aws)
        torn_down = True
    finally:
        strict(emulator, missing_offerings={})
        if not torn_down:
            operate("playbooks/teardown.yml", "-e", f"confirm={STACK}", "-e", "aws_stack_teardown_delete_backups=true")


# --- the deployer's own privileges ---------------------------------------------------------------------

def _as(credentials, aws):
    session = boto3.session.Session(aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"], region_name=REGION,
                                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=credentials["AWS_SESSION_TOKEN"])
    return lambda service: session.client(service, endpoint_url=aws("iam").meta.endpoint_url)


def test_the_deployer_cannot_touch_another_projects_role_or_make_its_own_admin(deployer, aws):
    iam = aws("iam")
    iam.create_role(RoleName="payroll-instance", AssumeRolePolicyDocument=EC2_TRUST)
    as_deployer = _as(deployer, aws)
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer("iam").put_role_policy(RoleName="payroll-instance", PolicyName="x", PolicyDocument=ADMIN)
    # nor its own role (named outside the prefix, as the README asks): no way to grant itself more
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer("iam").put_role_policy(RoleName="ci-deployer-it", PolicyName="x", PolicyDocument=ADMIN)
    # nor grant itself the use of a key: kms:CreateGrant only for grants AWS Backup makes (issue 18, finding 4)
    key = aws("kms").create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer("kms").create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/ci-deployer-it",
                                        Operations=["Decrypt"])


ESCALATIONS = [
    "role without boundary", "role with another boundary", "inline policy on an unbounded role",
    "managed policy on an unbounded role", "trust policy rewritten to the deployer", "boundary removed",
    "boundary replaced", "instance role makes an IAM user", "instance role attaches policies to the deployer",
    "instance role reads another application's parameter", "another application's role put into the stack's profile",
    "another application's role passed to EC2", "another application's instance terminated",
    "another application's security group deleted", "another application's VPC deleted"]


def test_each_way_to_raise_the_deployers_privileges_is_refused(deployer, aws):
    """Issue 18, finding 4: most of these succeeded with the policy before (and the emulator evaluated neither
    permissions boundaries nor iam:PassRole): a role of the stack's name made with any policy, and its instance."""
    assert escalations(deployer, aws, "ci-deployer-it") == ESCALATIONS


def escalations(deployer, aws, deployer_role, other="payroll"):
    """The attempts the deployer's credentials were refused, of ESCALATIONS."""
    iam, as_deployer = aws("iam"), _as(deployer, aws)
    deployer_iam = as_deployer("iam")
    refused = []

    def attempt(what, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                refused.append(what)
                return
            raise
    # a role of the stack's name without the boundary, or with a boundary of its own choosing
    attempt("role without boundary", deployer_iam.create_role, RoleName=f"{STACK}-{other}-escalate",
            AssumeRolePolicyDocument=EC2_TRUST)
    attempt("role with another boundary", deployer_iam.create_role, RoleName=f"{STACK}-{other}-escalate2",
            AssumeRolePolicyDocument=EC2_TRUST, PermissionsBoundary="arn:aws:iam::aws:policy/AdministratorAccess")
    # a role of the stack's name that an administrator made without the boundary: no policy goes onto it
    iam.create_role(RoleName=f"{STACK}-{other}-legacy", AssumeRolePolicyDocument=EC2_TRUST)
    attempt("inline policy on an unbounded role", deployer_iam.put_role_policy, RoleName=f"{STACK}-{other}-legacy",
            PolicyName="admin", PolicyDocument=ADMIN)
    attempt("managed policy on an unbounded role", deployer_iam.attach_role_policy, RoleName=f"{STACK}-{other}-legacy",
            PolicyArn="arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
    # a bounded role of its own, with an administrator's inline policy: allowed, and the boundary caps it
    deployer_iam.create_role(RoleName=f"{STACK}-{other}-bounded", AssumeRolePolicyDocument=EC2_TRUST, PermissionsBoundary=BOUNDARY)
    deployer_iam.put_role_policy(RoleName=f"{STACK}-{other}-bounded", PolicyName="admin", PolicyDocument=ADMIN)
    deployer_iam.create_instance_profile(InstanceProfileName=f"{STACK}-{other}-bounded")
    attempt("trust policy rewritten to the deployer", deployer_iam.update_assume_role_policy, RoleName=f"{STACK}-{other}-bounded",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
    attempt("boundary removed", deployer_iam.delete_role_permissions_boundary, RoleName=f"{STACK}-{other}-bounded")
    attempt("boundary replaced", deployer_iam.put_role_permissions_boundary, RoleName=f"{STACK}-{other}-bounded",
            PermissionsBoundary="arn:aws:iam::aws:policy/AdministratorAccess")
    # what an instance of that role could do (its credentials, as the metadata service hands them out)
    issued = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{other}-bounded",
                                    RoleSessionName="i-0123456789abcdef0")["Credentials"]
    as_instance = _as({"AWS_ACCESS_KEY_ID": issued["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": issued["SessionToken"]}, aws)
    attempt("instance role makes an IAM user", as_instance("iam").create_user, UserName="backdoor")
    attempt("instance role attaches policies to the deployer", as_instance("iam").attach_role_policy,
            RoleName=deployer_role, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    aws("ssm").put_parameter(Name=f"/{other}/secret", Value="x", Type="String")
    attempt("instance role reads another application's parameter", as_instance("ssm").get_parameter, Name=f"/{other}/secret")
    # another application's role, passed to an instance the deployer launches
    iam.create_role(RoleName=f"{other}-app", AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName=f"{other}-app")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{other}-app", RoleName=f"{other}-app")
    attempt("another application's role put into the stack's profile", deployer_iam.add_role_to_instance_profile,
            InstanceProfileName=f"{STACK}-{other}-bounded", RoleName=f"{other}-app")
    image = AMIS[0]["ami_id"]  # in every region of the emulator (listing all of its images costs seconds)
    attempt("another application's role passed to EC2", as_deployer("ec2").run_instances, ImageId=image, MinCount=1,
            MaxCount=1, InstanceType="t3.micro", IamInstanceProfile={"Name": f"{other}-app"})
    # another application's network and instances
    vpc = aws("ec2").create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Stack", "Value": other}]}])["Vpc"]["VpcId"]
    group = aws("ec2").create_security_group(GroupName=other, Description=other, VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "Stack", "Value": other}]}])["GroupId"]
    instance = aws("ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Stack", "Value": other}]}])["Instances"][0]["InstanceId"]
    attempt("another application's instance terminated", as_deployer("ec2").terminate_instances, InstanceIds=[instance])
    attempt("another application's security group deleted", as_deployer("ec2").delete_security_group, GroupId=group)
    attempt("another application's VPC deleted", as_deployer("ec2").delete_vpc, VpcId=vpc)
    return refused
