"""The deploying role of a stack, made as README says: the policy rendered for the stack by
playbooks/deployer_policy.yml, created as customer managed policies by an administrator, attached to a
role, and a session of that role (tests/support/emulator_iam.py enforces IAM for it)."""
import json

ACCOUNT = "123456789012"


def boundary_arn(stack):
    """The permissions boundary the stack's policy demands on every role it creates."""
    return f"arn:aws:iam::{ACCOUNT}:policy/{stack}-boundary"


def deployer_credentials(aws, playbook, stack, folder, role):
    """Credentials of role, which has the stack's deployer policy and nothing else (AWS_* variables)."""
    rendered = playbook("playbooks/deployer_policy.yml", "-e", f"aws_stack_name={stack}",
                        "-e", f"aws_stack_deployer_policy_dir={folder}")
    assert rendered.rc == 0, rendered
    iam = aws("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sts:AssumeRole"}]}),
                    Tags=[{"Key": "EmulatorIamResources", "Value": "actions-only"}])
    for part in sorted(folder.glob("*.json")):
        arn = iam.create_policy(PolicyName=part.stem, PolicyDocument=part.read_text())["Policy"]["Arn"]
        if "deployer-policy" in part.stem:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert {p.stem for p in folder.glob("*.json")} == {f"{stack}-deployer-policy-1", f"{stack}-deployer-policy-2",
                                                        f"{stack}-boundary"}
    issued = aws("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                    RoleSessionName="ci", DurationSeconds=3600)["Credentials"]
    return {"AWS_ACCESS_KEY_ID": issued["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": issued["SessionToken"]}
