"""Backup and restore of a stack's package file system (playbooks/restore.yml), read back with boto3: a
recovery point taken now, the state a restore could change, the restored file system and what points
at it, the vault kept by a teardown. test_operations.py runs them on its stack."""
import json

from .checks_backup import stack_file_system
from .helpers import tags_of, user_data_of


def file_systems(aws, stack):
    return {f["FileSystemId"]: f for f in aws("efs").describe_file_systems()["FileSystems"]
            if tags_of(f).get("Stack") == stack}


def recovery_points(aws, stack):
    return aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=f"{stack}-backup")["RecoveryPoints"]


def restorable_state(aws, stack):
    """What a restore could change: file systems with their tags, restore jobs, launch template versions."""
    versions = aws("ec2").describe_launch_template_versions(LaunchTemplateName=f"{stack}-lt")["LaunchTemplateVersions"]
    return ({k: (f["CreationToken"], tags_of(f)) for k, f in file_systems(aws, stack).items()},
            len(aws("backup").list_restore_jobs()["RestoreJobs"]), len(versions))


def backup_now(aws, stack, file_system_id):
    """An on-demand backup job of the file system, as the plan's schedule would start it."""
    account = aws("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:elasticfilesystem:us-east-1:{account}:file-system/{file_system_id}"
    role = aws("iam").get_role(RoleName=f"{stack}-backup")["Role"]["Arn"]
    job = aws("backup").start_backup_job(BackupVaultName=f"{stack}-backup", ResourceArn=arn, IamRoleArn=role,
                                         Lifecycle={"DeleteAfterDays": 365})
    assert aws("backup").describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    point = aws("backup").describe_recovery_point(BackupVaultName=f"{stack}-backup",
                                                  RecoveryPointArn=job["RecoveryPointArn"])
    assert (point["Status"], point["ResourceArn"], point["ResourceType"]) == ("COMPLETED", arn, "EFS")
    return point


def check_restored(aws, stack, old, point):
    efs = aws("efs")
    new = stack_file_system(aws, stack)
    assert new["FileSystemId"] != old["FileSystemId"]
    assert new["Encrypted"] is True and new["PerformanceMode"] == "generalPurpose"
    assert new["CreationToken"].startswith(f"{stack}-efs-restored-")
    assert tags_of(new).items() >= {"Stack": stack, "Application": "privatepypi", "Name": f"{stack}-efs"}.items()

    # the old one is kept, renamed, still the stack's (so teardown finds it), with its mount targets
    kept = efs.describe_file_systems(FileSystemId=old["FileSystemId"])["FileSystems"][0]
    assert tags_of(kept)["Name"].startswith(f"{stack}-efs-replaced-")
    assert tags_of(kept)["Name"][len(f"{stack}-efs-replaced-"):] == new["CreationToken"][len(f"{stack}-efs-restored-"):]
    assert tags_of(kept)["Stack"] == stack
    assert efs.describe_mount_targets(FileSystemId=old["FileSystemId"])["MountTargets"]

    # the restore job that made it
    jobs = aws("backup").list_restore_jobs()["RestoreJobs"]
    assert [(j["Status"], j["RecoveryPointArn"], j["CreatedResourceArn"].rsplit("/", 1)[1]) for j in jobs] == [
        ("COMPLETED", point["RecoveryPointArn"], new["FileSystemId"])]

    # mount targets on the new one, in the instances' subnet, behind the EFS security group
    vpc_id = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]["VpcId"]
    efs_sg = aws("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                          {"Name": "group-name", "Values": [f"{stack}-efs"]}])
    subnets = aws("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    targets = efs.describe_mount_targets(FileSystemId=new["FileSystemId"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(s["SubnetId"] for s in subnets)
    for target in targets:
        groups = efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"]
        assert groups == [efs_sg["SecurityGroups"][0]["GroupId"]]

    # the instances boot onto the new file system and may mount only that one
    _, user_data = user_data_of(aws, f"{stack}-lt")
    assert new["FileSystemId"] in user_data and old["FileSystemId"] not in user_data
    doc = aws("iam").get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    statements = {s["Sid"]: s for s in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert statements["MountThisStacksFileSystem"]["Resource"].endswith(f":file-system/{new['FileSystemId']}")

    # and the AutoScalingGroup replaces its instances with ones on the new launch template version
    refreshes = aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=f"{stack}-asg")["InstanceRefreshes"]
    assert len(refreshes) == 1, refreshes
    return new
