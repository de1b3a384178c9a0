"""The deploying user's policy (rendered for this test's stack by playbooks/deployer_policy.yml from
roles/aws_stack/templates/deployer/: two parts that each fit one IAM managed policy, and the stack's permissions
boundary), exercised: site.yml, its re-run and the teardown of a budget stack run with nothing but a role session of
that policy, IAM enforced by the emulator (tests/support/emulator_iam.py); and each way the deployer could raise
its own privileges is tried with its credentials and refused.

What this proves and what not: every action the playbooks call is granted by one of the policy's
statements, with the conditions the emulator fills in (iam:PolicyARN, iam:PermissionsBoundary, iam:PassedToService,
kms:ViaService and the parameter's encryption context, tags); the Resource of a statement is checked where the
emulator knows the call's resource (SSM parameters, Elastic IP claims, IAM roles and instance profiles, the EC2
deletes, S3), and for the other actions any Resource of an allowing statement counts (the role carries the tag
EmulatorIamResources=actions-only). So a missing action fails here; a wrong ARN pattern for an
action the emulator does not model shows up only on AWS.
"""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from .helpers import REGION

# one worker runs the whole module: its stack is deployed once (scripts/test.sh: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("deployer-policy")

# any name a user picks: nothing of the policy is tied to the collection's default prefix
STACK = "pypi-itd"
ACCOUNT = "123456789012"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{STACK}-boundary"
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def deployer(emulator, aws, playbook, tmp_path_factory):
    """Credentials of a role that has the stack's deployer policy and nothing else, made as README says."""
    folder = tmp_path_factory.mktemp("deployer-policy")
    rendered = playbook("playbooks/deployer_policy.yml", "-e", f"aws_stack_name={STACK}",
                        "-e", f"aws_stack_deployer_policy_dir={folder}")
    assert rendered.rc == 0, rendered
    iam = aws("iam")
    iam.create_role(RoleName="ci-deployer-it", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sts:AssumeRole"}]}),
                    Tags=[{"Key": "EmulatorIamResources", "Value": "actions-only"}])
    for part in sorted(folder.glob("*.json")):
        arn = iam.create_policy(PolicyName=part.stem, PolicyDocument=part.read_text())["Policy"]["Arn"]
        if "deployer-policy" in part.stem:
            iam.attach_role_policy(RoleName="ci-deployer-it", PolicyArn=arn)
    assert {p.stem for p in folder.glob("*.json")} == {f"{STACK}-deployer-policy-1", f"{STACK}-deployer-policy-2",
                                                        f"{STACK}-boundary"}
    issued = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ci-deployer-it",
                                    RoleSessionName="ci", DurationSeconds=3600)["Credentials"]
    return {"AWS_ACCESS_KEY_ID": issued["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": issued["SessionToken"]}


def _as(credentials, aws):
    session = boto3.session.Session(aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"], region_name=REGION,
                                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=credentials["AWS_SESSION_TOKEN"])
    return lambda service: session.client(service, endpoint_url=aws("iam").meta.endpoint_url)


def test_every_playbook_needs_nothing_beyond_the_deployer_policy(deployer, playbook, aws, tmp_path):
    """site.yml, its re-run, users.yml applied now, tokens.yml, restore.yml and a teardown with an issued certificate
    in the region (acm_certificate_info then reads it: acm:GetCertificate), all with the deployer's credentials."""
    args = ["-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "-e", f"aws_stack_permissions_boundary={BOUNDARY}"]
    try:
        created = playbook("site.yml", *args, env_extra=deployer)
        assert created.rc == 0 and created.failed == 0, created.out[-5000:]
        assert aws("iam").get_role(RoleName=f"{STACK}-instance")["Role"]["PermissionsBoundary"][
            "PermissionsBoundaryArn"] == BOUNDARY
        rerun = playbook("site.yml", *args, env_extra=deployer)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        users = tmp_path / "users.json"
        users.write_text(json.dumps({"pypi_users": [{"name": "alice", "password": "emulator-only-alice-4f7c1e",
                                                     "role": "admin"},
                                                    {"name": "bob", "password": "emulator-only-bob-77c2d1"}]}))
        applied = playbook("playbooks/users.yml", *args, "-e", f"@{users}", "-e", "users_apply_now=true", env_extra=deployer)
        assert applied.rc == 0 and applied.failed == 0 and applied.changed >= 1, applied
        token = playbook("playbooks/tokens.yml", *args, "-e", "token_name=ci-release", "-e", "token_scope=upload",
                         env_extra=deployer)
        assert token.rc == 0 and token.failed == 0, token
        # a recovery point (what the plan's schedule makes), restored with the deployer's credentials
        file_system = next(f for f in aws("efs").describe_file_systems()["FileSystems"]
                           if {"Key": "Stack", "Value": STACK} in f.get("Tags", []))
        job = aws("backup").start_backup_job(
            BackupVaultName=f"{STACK}-backup", ResourceArn=file_system["FileSystemArn"],
            IamRoleArn=aws("iam").get_role(RoleName=f"{STACK}-backup")["Role"]["Arn"])
        restored = playbook("playbooks/restore.yml", *args, "-e", f"restore_recovery_point_arn={job['RecoveryPointArn']}",
                            env_extra=deployer)
        assert restored.rc == 0 and restored.failed == 0 and restored.changed > 0, restored
        # another application's issued certificate in the region
        certificate = aws("acm").request_certificate(DomainName="wiki.example.org", ValidationMethod="DNS")
        assert aws("acm").describe_certificate(CertificateArn=certificate["CertificateArn"])["Certificate"]["Status"] == "ISSUED"
    finally:
        teardown = playbook("playbooks/teardown.yml", *args, "-e", "aws_stack_teardown_delete_backups=true",
                            env_extra=deployer)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    assert not aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"]


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
    image = aws("ec2").describe_images()["Images"][0]["ImageId"]
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
