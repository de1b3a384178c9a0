"""Backups of a stack's package file system (roles/aws_stack/tasks/backup/), read back with boto3.

check_backup(aws, stack, profile) runs after site.yml, check_backup_gone(aws, stack) after the teardown.
The profile does not matter: both back up the one EFS file system the same way.
"""
import json

import pytest
from botocore.exceptions import ClientError

SCHEDULE = "cron(0 6 * * ? *)"  # group_vars/all.yml
RETENTION_DAYS = 365
MANAGED_POLICIES = {"AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"}


def _tags(tag_list):
    return {t["Key"]: t["Value"] for t in tag_list or []}


def _vault_names(aws):
    return [v["BackupVaultName"] for v in aws("backup").list_backup_vaults()["BackupVaultList"]]


def _plans(aws, stack):
    return [p for p in aws("backup").list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == f"{stack}-daily"]


def stack_file_system(aws, stack):
    """The file system the stack uses: tagged Name=<stack>-efs and Stack=<stack>."""
    found = [f for f in aws("efs").describe_file_systems()["FileSystems"]
             if _tags(f.get("Tags")).get("Stack") == stack and _tags(f.get("Tags")).get("Name") == f"{stack}-efs"]
    assert len(found) == 1, found
    return found[0]


def check_backup(aws, stack, profile):
    backup, iam = aws("backup"), aws("iam")
    account = aws("sts").get_caller_identity()["Account"]
    common = {"Stack": stack, "Application": "privatepypi"}

    # the vault: one, named after the stack, tagged (AWS Backup encrypts every vault)
    assert _vault_names(aws).count(f"{stack}-backup") == 1
    vault = backup.describe_backup_vault(BackupVaultName=f"{stack}-backup")
    vault_tags = backup.list_tags(ResourceArn=vault["BackupVaultArn"])["Tags"]
    assert vault_tags.items() >= dict(common, Name=f"{stack}-backup").items()

    # the plan: one daily rule into that vault, kept RETENTION_DAYS
    plans = _plans(aws, stack)
    assert len(plans) == 1, plans
    plan = backup.get_backup_plan(BackupPlanId=plans[0]["BackupPlanId"])
    rules = plan["BackupPlan"]["Rules"]
    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == SCHEDULE
    assert rules[0]["TargetBackupVaultName"] == f"{stack}-backup"
    assert rules[0]["Lifecycle"]["DeleteAfterDays"] == RETENTION_DAYS
    assert "MoveToColdStorageAfterDays" not in rules[0]["Lifecycle"]
    plan_tags = backup.list_tags(ResourceArn=plan["BackupPlanArn"])["Tags"]
    assert plan_tags.items() >= dict(common, Name=f"{stack}-daily").items()

    # the role AWS Backup assumes: backup.amazonaws.com only, the two AWS managed policies, tagged
    role = iam.get_role(RoleName=f"{stack}-backup")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "backup.amazonaws.com"}]
    attached = iam.list_attached_role_policies(RoleName=f"{stack}-backup")["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == MANAGED_POLICIES
    assert all(p["PolicyArn"].startswith("arn:aws:iam::aws:policy/service-role/") for p in attached)
    assert not iam.list_role_policies(RoleName=f"{stack}-backup")["PolicyNames"]
    assert _tags(role.get("Tags")).items() >= dict(common, Name=f"{stack}-backup").items()

    # the selection: that role, EFS file systems only, picked by the stack's tag AND the current name
    selections = backup.list_backup_selections(BackupPlanId=plans[0]["BackupPlanId"])["BackupSelectionsList"]
    assert [s["SelectionName"] for s in selections] == [f"{stack}-efs"]
    selection = backup.get_backup_selection(BackupPlanId=plans[0]["BackupPlanId"],
                                            SelectionId=selections[0]["SelectionId"])["BackupSelection"]
    assert selection["IamRoleArn"] == role["Arn"]
    assert selection["Resources"] == [f"arn:aws:elasticfilesystem:us-east-1:{account}:file-system/*"]
    assert not selection.get("ListOfTags") and not selection.get("NotResources")
    conditions = selection["Conditions"]
    assert sorted((c["ConditionKey"], c["ConditionValue"]) for c in conditions["StringEquals"]) == [
        ("aws:ResourceTag/Name", f"{stack}-efs"), ("aws:ResourceTag/Stack", stack)]
    assert not any(conditions.get(k) for k in ("StringLike", "StringNotEquals", "StringNotLike"))

    # and the stack's file system carries exactly those tags, so the selection picks it
    stack_file_system(aws, stack)


def check_backup_gone(aws, stack):
    assert f"{stack}-backup" not in _vault_names(aws)
    assert not _plans(aws, stack)
    with pytest.raises(ClientError):
        aws("iam").get_role(RoleName=f"{stack}-backup")
