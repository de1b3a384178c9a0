"""Backup and restore of a budget stack against the AWS emulator: a recovery point of the package
file system, playbooks/restore.yml (dry run, check mode, for real), a re-run without changes, and
a teardown that keeps the vault with its recovery point until it is told to delete backups."""
import datetime
import json

import pytest
from botocore.exceptions import ClientError

from .checks_backup import check_backup, check_backup_gone, stack_file_system
from .helpers import record_timing, user_data_of
from .test_stacks import _check_gone

STACK = "pp-rest-it"
ARGS = ["-e", "profile=budget", "-e", f"aws_stack_name={STACK}"]
TD_ARGS = ["-e", f"aws_stack_name={STACK}"]


def _tags(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def _file_systems(aws):
    return {f["FileSystemId"]: f for f in aws("efs").describe_file_systems()["FileSystems"]
            if _tags(f).get("Stack") == STACK}


def _points(aws):
    return aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=f"{STACK}-backup")["RecoveryPoints"]


def _state(aws):
    """What a restore could change: file systems with their tags, restore jobs, launch template versions."""
    versions = aws("ec2").describe_launch_template_versions(LaunchTemplateName=f"{STACK}-lt")["LaunchTemplateVersions"]
    return ({k: (f["CreationToken"], _tags(f)) for k, f in _file_systems(aws).items()},
            len(aws("backup").list_restore_jobs()["RestoreJobs"]), len(versions))


def _backup_now(aws, file_system_id):
    """An on-demand backup job of the file system, as the plan's schedule would start it."""
    account = aws("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:elasticfilesystem:us-east-1:{account}:file-system/{file_system_id}"
    role = aws("iam").get_role(RoleName=f"{STACK}-backup")["Role"]["Arn"]
    job = aws("backup").start_backup_job(BackupVaultName=f"{STACK}-backup", ResourceArn=arn, IamRoleArn=role,
                                         Lifecycle={"DeleteAfterDays": 365})
    assert aws("backup").describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    point = aws("backup").describe_recovery_point(BackupVaultName=f"{STACK}-backup",
                                                  RecoveryPointArn=job["RecoveryPointArn"])
    assert (point["Status"], point["ResourceArn"], point["ResourceType"]) == ("COMPLETED", arn, "EFS")
    return point


def _check_restored(aws, old, point):
    efs = aws("efs")
    new = stack_file_system(aws, STACK)
    assert new["FileSystemId"] != old["FileSystemId"]
    assert new["Encrypted"] is True and new["PerformanceMode"] == "generalPurpose"
    assert new["CreationToken"].startswith(f"{STACK}-efs-restored-")
    assert _tags(new).items() >= {"Stack": STACK, "Application": "privatepypi", "Name": f"{STACK}-efs"}.items()

    # the old one is kept, renamed, still the stack's (so teardown finds it), with its mount targets
    kept = efs.describe_file_systems(FileSystemId=old["FileSystemId"])["FileSystems"][0]
    assert _tags(kept)["Name"].startswith(f"{STACK}-efs-replaced-")
    assert _tags(kept)["Name"][len(f"{STACK}-efs-replaced-"):] == new["CreationToken"][len(f"{STACK}-efs-restored-"):]
    assert _tags(kept)["Stack"] == STACK
    assert efs.describe_mount_targets(FileSystemId=old["FileSystemId"])["MountTargets"]

    # the restore job that made it
    jobs = aws("backup").list_restore_jobs()["RestoreJobs"]
    assert [(j["Status"], j["RecoveryPointArn"], j["CreatedResourceArn"].rsplit("/", 1)[1]) for j in jobs] == [
        ("COMPLETED", point["RecoveryPointArn"], new["FileSystemId"])]

    # mount targets on the new one, in the instances' subnet, behind the EFS security group
    vpc_id = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"][0]["VpcId"]
    efs_sg = aws("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                          {"Name": "group-name", "Values": [f"{STACK}-efs"]}])
    subnets = aws("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    targets = efs.describe_mount_targets(FileSystemId=new["FileSystemId"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(s["SubnetId"] for s in subnets)
    for target in targets:
        groups = efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"]
        assert groups == [efs_sg["SecurityGroups"][0]["GroupId"]]

    # the instances boot onto the new file system and may mount only that one
    _, user_data = user_data_of(aws, f"{STACK}-lt")
    assert new["FileSystemId"] in user_data and old["FileSystemId"] not in user_data
    doc = aws("iam").get_role_policy(RoleName=f"{STACK}-instance", PolicyName=f"{STACK}-least-privilege")["PolicyDocument"]
    statements = {s["Sid"]: s for s in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert statements["MountThisStacksFileSystem"]["Resource"].endswith(f":file-system/{new['FileSystemId']}")

    # and the AutoScalingGroup replaces its instances with ones on the new launch template version
    refreshes = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{STACK}-asg")["InstanceRefreshes"]
    assert len(refreshes) == 1, refreshes
    return new


def test_backup_restore_teardown(aws, playbook, reset_emulator):
    try:
        created = playbook("site.yml", *ARGS)
        record_timing("restore", "create", created.seconds)
        assert created.rc == 0 and created.failed == 0, created
        check_backup(aws, STACK, "budget")
        old = stack_file_system(aws, STACK)
        point = _backup_now(aws, old["FileSystemId"])
        taken = point["CreationDate"].astimezone(datetime.UTC).isoformat()
        before = _state(aws)
        assert aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{STACK}-asg")["InstanceRefreshes"] == []

        # dry run: names the recovery point, its date and the file system it replaces; changes nothing
        dry = playbook("playbooks/restore.yml", *ARGS, "-e", "restore_dry_run=true")
        record_timing("restore", "dry-run", dry.seconds)
        assert dry.rc == 0 and dry.changed == 0, dry
        said = dry.out[dry.out.index("Dry run, nothing changed"):]
        for fact in (point["RecoveryPointArn"], taken, f"It replaces {old['FileSystemId']}", f"{STACK}-efs-restored-"):
            assert fact in " ".join(said.split()), fact
        assert _state(aws) == before

        # check mode: the same, through --check
        checked = playbook("playbooks/restore.yml", *ARGS, "--check")
        assert checked.rc == 0 and checked.changed == 0, checked
        assert point["RecoveryPointArn"] in checked.out
        assert _state(aws) == before

        # a recovery point the vault does not hold: refused before anything changes
        wrong = playbook("playbooks/restore.yml", *ARGS, "-e", f"restore_recovery_point_arn={point['RecoveryPointArn']}0")
        assert wrong.rc != 0 and "holds no completed" in wrong.out and "Nothing has been changed" in wrong.out, wrong
        assert _state(aws) == before

        restored = playbook("playbooks/restore.yml", *ARGS, "-e",
                            f"restore_recovery_point_arn={point['RecoveryPointArn']}")
        record_timing("restore", "restore", restored.seconds)
        assert restored.rc == 0 and restored.failed == 0 and restored.changed > 0, restored
        new = _check_restored(aws, old, point)
        check_backup(aws, STACK, "budget")  # the selection now picks the restored file system by its tags
        assert set(_file_systems(aws)) == {old["FileSystemId"], new["FileSystemId"]}

        rerun = playbook("site.yml", *ARGS)
        record_timing("restore", "re-run", rerun.seconds)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        assert stack_file_system(aws, STACK)["FileSystemId"] == new["FileSystemId"]
    finally:
        teardown = playbook("playbooks/teardown.yml", *TD_ARGS)
        record_timing("restore", "teardown-keep", teardown.seconds)
    assert teardown.rc == 0 and teardown.failed == 0, teardown

    # everything but the vault and its recovery point is gone: both file systems too
    assert "Kept the backup vault" in teardown.out and "aws_stack_teardown_delete_backups=true" in teardown.out
    assert [p["RecoveryPointArn"] for p in _points(aws)] == [point["RecoveryPointArn"]]
    assert not _file_systems(aws)
    assert not [p for p in aws("backup").list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == f"{STACK}-daily"]
    with pytest.raises(ClientError):
        aws("iam").get_role(RoleName=f"{STACK}-backup")
    leftovers = [r["ResourceARN"] for r in aws("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "Stack", "Values": [STACK]}])["ResourceTagMappingList"] if ":instance/" not in r["ResourceARN"]]
    assert leftovers == [aws("backup").describe_backup_vault(BackupVaultName=f"{STACK}-backup")["BackupVaultArn"]]

    kept = playbook("playbooks/teardown.yml", *TD_ARGS)
    assert kept.rc == 0 and kept.changed == 0 and "Kept the backup vault" in kept.out, kept

    purged = playbook("playbooks/teardown.yml", *TD_ARGS, "-e", "aws_stack_teardown_delete_backups=true")
    record_timing("restore", "teardown-delete-backups", purged.seconds)
    assert purged.rc == 0 and purged.failed == 0 and purged.changed > 0, purged
    assert "Kept the backup vault" not in purged.out
    _check_gone(aws, STACK)
    check_backup_gone(aws, STACK)

    again = playbook("playbooks/teardown.yml", *TD_ARGS, "-e", "aws_stack_teardown_delete_backups=true")
    assert again.rc == 0 and again.changed == 0, again
