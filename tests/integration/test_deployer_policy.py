"""The deploying user's policy (roles/aws_stack/files/deployer-policy-*.json, two parts that each fit one IAM
managed policy), exercised: site.yml and
the teardown of a budget stack run with nothing but a role session of that policy, IAM enforced by
the emulator (tests/support/emulator_iam.py).

What this proves and what not: every action the playbooks call is granted by one of the policy's
statements, with the conditions the emulator fills in (iam:PolicyARN, kms:ViaService and the
parameter's encryption context, tags); the Resource of a statement is checked where the emulator
knows the call's resource (SSM parameters, Elastic IP claims, IAM roles that exist, S3), and for
the other actions any Resource of an allowing statement counts (the role carries the tag
EmulatorIamResources=actions-only). So a missing action fails here; a wrong ARN pattern for an
action the emulator does not model shows up only on AWS.
"""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from .helpers import REGION, ROOT

# one worker runs the whole module: its stack is deployed once (scripts/test.sh: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("deployer-policy")

STACK = "privatepypi-itd"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def deployer(emulator, aws):
    iam = aws("iam")
    iam.create_role(RoleName="ci-deployer-it", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sts:AssumeRole"}]}),
                    Tags=[{"Key": "EmulatorIamResources", "Value": "actions-only"}])
    for part in sorted((ROOT / "roles" / "aws_stack" / "files").glob("deployer-policy-*.json")):
        iam.put_role_policy(RoleName="ci-deployer-it", PolicyName=part.stem, PolicyDocument=part.read_text())
    issued = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ci-deployer-it",
                                    RoleSessionName="ci", DurationSeconds=3600)["Credentials"]
    return {"AWS_ACCESS_KEY_ID": issued["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": issued["SessionToken"]}


def test_site_and_teardown_need_nothing_beyond_the_deployer_policy(deployer, playbook, aws):
    args = ["-e", "profile=budget", "-e", f"aws_stack_name={STACK}"]
    try:
        created = playbook("site.yml", *args, env_extra=deployer)
        assert created.rc == 0 and created.failed == 0, created.out[-5000:]
        rerun = playbook("site.yml", *args, env_extra=deployer)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
    finally:
        teardown = playbook("playbooks/teardown.yml", "-e", f"aws_stack_name={STACK}", env_extra=deployer)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    assert not aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"]


def test_the_deployer_cannot_touch_another_projects_role_or_make_its_own_admin(deployer, aws):
    iam = aws("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="payroll-instance", AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName="privatepypi-itd-x", AssumeRolePolicyDocument=trust)
    session = boto3.session.Session(aws_access_key_id=deployer["AWS_ACCESS_KEY_ID"], region_name=REGION,
                                    aws_secret_access_key=deployer["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=deployer["AWS_SESSION_TOKEN"])
    as_deployer = session.client("iam", endpoint_url=aws("iam").meta.endpoint_url)
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer.put_role_policy(RoleName="payroll-instance", PolicyName="x", PolicyDocument=trust)
    # nor its own role (named outside the prefix, as the README asks): no way to grant itself more
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer.put_role_policy(RoleName="ci-deployer-it", PolicyName="x", PolicyDocument=trust)
    with pytest.raises(ClientError, match="AccessDenied"):
        as_deployer.attach_role_policy(RoleName="privatepypi-itd-x",
                                       PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    as_deployer.attach_role_policy(RoleName="privatepypi-itd-x",
                                   PolicyArn="arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
    # nor grant itself the use of a key: kms:CreateGrant only for grants AWS Backup makes (issue 18, finding 4)
    key = aws("kms").create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        session.client("kms", endpoint_url=aws("kms").meta.endpoint_url).create_grant(
            KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/ci-deployer-it", Operations=["Decrypt"])
