#!/usr/bin/env python3
"""Local AWS API emulator for the integration tests: moto's server plus the gaps that the
amazon.aws / community.aws modules hit in moto 5.2.5 (none of them exist on real AWS).

Usage: python -m tests.support.emulator -H 172.28.0.1 -p 5000   (from the checkout's root)
       (scripts/emulator.sh starts it in the background with the right environment)

The one list of these shims, with the AWS behaviour each models and its source, is
roles/aws_stack/README.md, "What the emulator enforces"; keep it in step with this file.

Filled gaps:
- the legacy EFS tag API (DescribeTags/CreateTags/DeleteTags) that community.aws.efs calls;
- DescribeBackupVault on a missing vault: AWS answers AccessDenied, amazon.aws.backup_vault
  treats that as "absent", moto raised ResourceNotFound;
- AWS Backup selections (not implemented in moto: HTTP 500);
- AWS Backup on-demand backup jobs (StartBackupJob, DescribeBackupJob: COMPLETED at once with a
  recovery point in the vault), recovery points (ListRecoveryPointsByBackupVault / ByResource,
  DescribeRecoveryPoint, DeleteRecoveryPoint; DeleteBackupVault refuses a vault that holds any, as
  AWS does) and restore jobs (StartRestoreJob, DescribeRestoreJob, ListRestoreJobs: COMPLETED at
  once; an EFS recovery point restored with newFileSystem=true becomes a new, empty file system);
- EC2 DescribeTags resource types of NAT gateways and Elastic IPs ("natgateway",
  "elastic-ip" on AWS): amazon.aws filters on them, so tags were re-added on every run;
- public Debian 13 (the stacks' default) and Debian 12 AMIs for amd64 and arm64 and their public SSM
  parameters /aws/service/debian/release/{13,12}/latest/{amd64,arm64};
- SSM SendCommand with InstanceIds and no Targets went to every instance of the region;
- AutoScaling instance refreshes (Start/Describe/CancelInstanceRefresh): recorded with their
  preferences and reported Successful at once (the emulator's instances are not real machines).
- EC2 DeleteLaunchTemplateVersions (amazon.aws.ec2_launch_template calls it before deleting a
  template with several versions): answered per version as AWS does; the versions go with the template.

Made as strict as AWS (moto is kinder; each shim names the AWS limit it models):
- SSM PutParameter refuses a value longer than its tier allows (Standard 4,096 characters,
  Advanced 8,192) with AWS's ValidationException text, refuses an Advanced -> Standard downgrade,
  and resolves Intelligent-Tiering to the tier the value needs; moto 5.2.5 stores any length.
"""
import json
import sys
import time
import uuid
from collections import defaultdict
from urllib.parse import unquote

from . import require_moto

require_moto()  # before any patch: the patches below know moto 5.2.5 only

from moto.autoscaling.exceptions import AutoscalingClientError  # noqa: E402
from moto.autoscaling.responses import AutoScalingResponse  # noqa: E402
from moto.backup import urls as backup_urls  # noqa: E402
from moto.backup.exceptions import InvalidParameterValueException, InvalidRequestException, ResourceNotFoundException  # noqa: E402
from moto.backup.models import BackupBackend  # noqa: E402
from moto.backup.responses import BackupResponse  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.core.utils import utcnow  # noqa: E402
from moto.ec2.models import amis as _amis  # noqa: E402
from moto.ec2.responses.launch_templates import LaunchTemplates  # noqa: E402
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE  # noqa: E402
from moto.efs import urls as efs_urls  # noqa: E402
from moto.efs.responses import EFSResponse  # noqa: E402
from moto.server import main  # noqa: E402
from moto.ssm.exceptions import ValidationException as SsmValidationException  # noqa: E402
from moto.ssm.models import Command as SsmCommand  # noqa: E402
from moto.ssm.models import Parameter, ParameterDict, SimpleSystemManagerBackend  # noqa: E402

JSON = {"Content-Type": "application/json"}


# --------------------------------------------------------------------------- EFS legacy tag API
def _efs_describe_tags(self):
    fs_id = self._get_param("FileSystemId")
    return json.dumps({"Tags": self.efs_backend.list_tags_for_resource(fs_id)}), JSON


def _efs_create_tags(self):
    fs_id = self._get_param("FileSystemId")
    tags = {t["Key"]: t.get("Value") for t in (self._get_param("Tags") or [])}
    self.efs_backend.tag_resource(fs_id, tags)
    return "", JSON


def _efs_delete_tags(self):
    fs_id = self._get_param("FileSystemId")
    self.efs_backend.untag_resource(fs_id, self._get_param("TagKeys") or [])
    return "", JSON


EFSResponse.describe_tags = _efs_describe_tags
EFSResponse.create_tags = _efs_create_tags
EFSResponse.delete_tags = _efs_delete_tags
for _path in ("/2015-02-01/tags/<file_system_id>/", "/2015-02-01/create-tags/<file_system_id>/",
              "/2015-02-01/delete-tags/<file_system_id>/"):
    efs_urls.url_paths[_path] = efs_urls.response.dispatch


# --------------------------------------------------------------------------- AWS Backup
class _AccessDenied(JsonRESTError):
    code = 403


_orig_describe_backup_vault = BackupBackend.describe_backup_vault


def _describe_backup_vault(self, backup_vault_name):
    if backup_vault_name not in self.vaults:
        raise _AccessDenied("AccessDeniedException", "Insufficient privileges to perform this action.")
    return _orig_describe_backup_vault(self, backup_vault_name)


BackupBackend.describe_backup_vault = _describe_backup_vault


def _selections(self, plan_id):
    return self.backup_backend.__dict__.setdefault("_shim_selections", {}).setdefault(plan_id, {})


def _plan_and_selection(self):
    parts = self.path.split("?")[0].rstrip("/").split("/")
    i = parts.index("plans")
    return parts[i + 1], (parts[i + 3] if len(parts) > i + 3 else None)


def create_backup_selection(self):
    plan, _ = _plan_and_selection(self)
    body = json.loads(self.body)
    sel_id, now = str(uuid.uuid4()), time.time()
    _selections(self, plan)[sel_id] = {"SelectionId": sel_id, "BackupPlanId": plan, "CreationDate": now,
                                       "CreatorRequestId": body.get("CreatorRequestId"),
                                       "BackupSelection": body["BackupSelection"]}
    return json.dumps({"SelectionId": sel_id, "BackupPlanId": plan, "CreationDate": now})


def list_backup_selections(self):
    plan, _ = _plan_and_selection(self)
    return json.dumps({"BackupSelectionsList": [
        {"SelectionId": v["SelectionId"], "SelectionName": v["BackupSelection"]["SelectionName"],
         "BackupPlanId": plan, "CreationDate": v["CreationDate"],
         "IamRoleArn": v["BackupSelection"].get("IamRoleArn")} for v in _selections(self, plan).values()]})


def get_backup_selection(self):
    plan, sel = _plan_and_selection(self)
    if sel not in _selections(self, plan):
        raise ResourceNotFoundException(sel)
    return json.dumps(_selections(self, plan)[sel])


def delete_backup_selection(self):
    plan, sel = _plan_and_selection(self)
    _selections(self, plan).pop(sel, None)
    return ""


for _f in (create_backup_selection, list_backup_selections, get_backup_selection, delete_backup_selection):
    setattr(BackupResponse, _f.__name__, _f)


# --------------------------------------------------------------------------- AWS Backup jobs, recovery points, restores
# moto 5.2.5 has no backup jobs, recovery points or restore jobs. On-demand backup jobs complete at
# once with a recovery point in the vault; a restore of an EFS recovery point with newFileSystem=true
# creates the file system in moto's EFS backend (empty: the emulator holds no file data).
def _backup_state(self):
    return self.backup_backend.__dict__.setdefault(
        "_shim_jobs", {"recovery_points": {}, "backup_jobs": {}, "restore_jobs": {}})


def _uri_param(self, name):
    value = (self.uri_match or {}).get(name)
    if value is None:
        raise InvalidParameterValueException(msg=f"{name} is missing")
    return unquote(value)


def _vault_or_404(self, name):
    if name not in self.backup_backend.vaults:
        raise ResourceNotFoundException(msg=f"Backup vault {name} not found")
    return self.backup_backend.vaults[name]


def _resource_type(arn):
    service, rest = arn.split(":")[2], arn.split(":", 5)[5]
    if service == "elasticfilesystem":
        return "EFS"
    if service == "ec2" and rest.startswith("volume/"):
        return "EBS"
    if service == "ec2" and rest.startswith("instance/"):
        return "EC2"
    return service.upper()


def _efs_backend(self):
    from moto.efs.models import efs_backends
    return efs_backends[self.current_account][self.region]


def _efs_by_arn(self, arn):
    fs_id = arn.rsplit("/", 1)[-1]
    return _efs_backend(self).file_systems_by_id.get(fs_id)


def _sync_vault_count(self, vault_name):
    vault = self.backup_backend.vaults.get(vault_name)
    if vault is not None:
        vault.num_of_recovery_points = sum(1 for p in _backup_state(self)["recovery_points"].values()
                                           if p["BackupVaultName"] == vault_name)


def start_backup_job(self):
    body = json.loads(self.body or "{}")
    vault = _vault_or_404(self, body["BackupVaultName"])
    resource_arn, now = body["ResourceArn"], time.time()
    resource_type = _resource_type(resource_arn)
    tags = {}
    if resource_type == "EFS":
        fs = _efs_by_arn(self, resource_arn)
        if fs is None:
            raise ResourceNotFoundException(msg=f"Resource {resource_arn} not found")
        tags = _efs_backend(self).list_tags_for_resource(fs.file_system_id)
        tags = {t["Key"]: t["Value"] for t in tags}
    tags.update(body.get("RecoveryPointTags") or {})
    partition, region, account = resource_arn.split(":")[1], self.region, self.current_account
    point_arn = f"arn:{partition}:backup:{region}:{account}:recovery-point:{str(uuid.uuid4()).upper()}"
    lifecycle = body.get("Lifecycle") or {}
    point = {"RecoveryPointArn": point_arn, "BackupVaultName": vault.backup_vault_name,
             "BackupVaultArn": vault.backup_vault_arn, "ResourceArn": resource_arn, "ResourceType": resource_type,
             "ResourceName": tags.get("Name", ""), "IamRoleArn": body.get("IamRoleArn"), "Status": "COMPLETED",
             "CreationDate": now, "InitiationDate": now, "CompletionDate": now, "BackupSizeInBytes": 6144,
             "EncryptionKeyArn": vault.encryption_key_arn
             or f"arn:{partition}:kms:{region}:{account}:key/aws-backup-default",
             "IsEncrypted": True, "StorageClass": "WARM", "IsParent": False, "VaultType": "BACKUP_VAULT"}
    if lifecycle:
        point["Lifecycle"] = lifecycle
        if lifecycle.get("DeleteAfterDays"):
            point["CalculatedLifecycle"] = {"DeleteAt": now + 86400 * int(lifecycle["DeleteAfterDays"])}
    job = {"BackupJobId": str(uuid.uuid4()).upper(), "AccountId": account, "BackupVaultName": vault.backup_vault_name,
           "BackupVaultArn": vault.backup_vault_arn, "RecoveryPointArn": point_arn, "ResourceArn": resource_arn,
           "ResourceType": resource_type, "IamRoleArn": body.get("IamRoleArn"), "CreationDate": now,
           "CompletionDate": now, "State": "COMPLETED", "PercentDone": "100.0", "BackupSizeInBytes": 6144,
           "BackupType": "", "IsParent": False}
    state = _backup_state(self)
    state["recovery_points"][point_arn] = point
    state["backup_jobs"][job["BackupJobId"]] = job
    if tags:
        self.backup_backend.tag_resource(point_arn, tags)
    _sync_vault_count(self, vault.backup_vault_name)
    return json.dumps({"BackupJobId": job["BackupJobId"], "RecoveryPointArn": point_arn, "CreationDate": now,
                       "IsParent": False})


def describe_backup_job(self):
    job_id = _uri_param(self, "backupJobId")
    job = _backup_state(self)["backup_jobs"].get(job_id)
    if job is None:
        raise ResourceNotFoundException(msg=f"Backup job {job_id} not found")
    return json.dumps(job)


def _recovery_point_or_404(self, vault_name, point_arn):
    _vault_or_404(self, vault_name)
    point = _backup_state(self)["recovery_points"].get(point_arn)
    if point is None or point["BackupVaultName"] != vault_name:
        raise ResourceNotFoundException(msg=f"Recovery point {point_arn} not found")
    return point


def list_recovery_points_by_backup_vault(self):
    vault_name = _uri_param(self, "backupVaultName")
    _vault_or_404(self, vault_name)
    query = {k: v[0] for k, v in self.querystring.items()}
    points = [p for p in _backup_state(self)["recovery_points"].values() if p["BackupVaultName"] == vault_name
              and query.get("resourceArn", p["ResourceArn"]) == p["ResourceArn"]
              and query.get("resourceType", p["ResourceType"]) == p["ResourceType"]]
    return json.dumps({"RecoveryPoints": points})


def list_recovery_points_by_resource(self):
    resource_arn = _uri_param(self, "resourceArn")
    keys = ("RecoveryPointArn", "CreationDate", "Status", "EncryptionKeyArn", "BackupVaultName", "IsParent",
            "ResourceName", "VaultType")
    points = [dict({k: p[k] for k in keys if k in p}, BackupSizeBytes=p["BackupSizeInBytes"])
              for p in _backup_state(self)["recovery_points"].values() if p["ResourceArn"] == resource_arn]
    return json.dumps({"RecoveryPoints": points})


def describe_recovery_point(self):
    return json.dumps(_recovery_point_or_404(self, _uri_param(self, "backupVaultName"),
                                             _uri_param(self, "recoveryPointArn")))


def delete_recovery_point(self):
    vault_name, point_arn = _uri_param(self, "backupVaultName"), _uri_param(self, "recoveryPointArn")
    _recovery_point_or_404(self, vault_name, point_arn)
    del _backup_state(self)["recovery_points"][point_arn]
    self.backup_backend.tagger.delete_all_tags_for_resource(point_arn)
    _sync_vault_count(self, vault_name)
    return ""


def start_restore_job(self):
    body = json.loads(self.body or "{}")
    point_arn, metadata, now = body["RecoveryPointArn"], body.get("Metadata") or {}, time.time()
    token = body.get("IdempotencyToken")
    for job in _backup_state(self)["restore_jobs"].values():
        if token and job.get("_token") == (token, point_arn):  # a retried request: the same job, no new one
            return json.dumps({"RestoreJobId": job["RestoreJobId"]})
    point = _backup_state(self)["recovery_points"].get(point_arn)
    if point is None:
        raise ResourceNotFoundException(msg=f"Recovery point {point_arn} not found")
    created = point["ResourceArn"]
    if point["ResourceType"] == "EFS" and metadata.get("newFileSystem", "false").lower() == "true":
        encrypted = metadata.get("Encrypted", "false").lower() == "true"
        if metadata.get("KmsKeyId") and not encrypted:
            raise InvalidParameterValueException(msg="KmsKeyId needs Encrypted=true")
        fs = _efs_backend(self).create_file_system(
            creation_token=metadata.get("CreationToken") or f"aws-backup-restore-{uuid.uuid4()}",
            performance_mode=metadata.get("PerformanceMode") or "generalPurpose", encrypted=encrypted,
            kms_key_id=metadata.get("KmsKeyId"), throughput_mode=None, provisioned_throughput_in_mibps=None,
            availability_zone_name=None, backup=False, tags=[])
        created = created.rsplit("/", 1)[0] + "/" + fs.file_system_id
    elif point["ResourceType"] == "EFS" and _efs_by_arn(self, created) is None:
        raise InvalidParameterValueException(
            msg="The source file system no longer exists; restore with newFileSystem=true")
    job = {"RestoreJobId": str(uuid.uuid4()).upper(), "AccountId": self.current_account,
           "RecoveryPointArn": point_arn, "SourceResourceArn": point["ResourceArn"],
           "BackupVaultArn": point["BackupVaultArn"], "CreationDate": now, "CompletionDate": now,
           "Status": "COMPLETED", "PercentDone": "100.00%", "BackupSizeInBytes": point["BackupSizeInBytes"],
           "IamRoleArn": body.get("IamRoleArn"), "ExpectedCompletionTimeMinutes": 0, "CreatedResourceArn": created,
           "ResourceType": body.get("ResourceType") or point["ResourceType"],
           "RecoveryPointCreationDate": point["CreationDate"], "IsParent": False}
    _backup_state(self)["restore_jobs"][job["RestoreJobId"]] = dict(job, _token=(token, point_arn))
    point["LastRestoreTime"] = now
    return json.dumps({"RestoreJobId": job["RestoreJobId"]})


def describe_restore_job(self):
    job_id = _uri_param(self, "restoreJobId")
    job = _backup_state(self)["restore_jobs"].get(job_id)
    if job is None:
        raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
    return json.dumps({k: v for k, v in job.items() if k != "_token"})


def list_restore_jobs(self):
    query = {k: v[0] for k, v in self.querystring.items()}
    jobs = [{k: v for k, v in j.items() if k != "_token"} for j in _backup_state(self)["restore_jobs"].values()
            if query.get("status", j["Status"]) == j["Status"]
            and query.get("resourceType", j["ResourceType"]) == j["ResourceType"]
            and query.get("accountId", j["AccountId"]) == j["AccountId"]]
    return json.dumps({"RestoreJobs": jobs})


_orig_delete_backup_vault = BackupBackend.delete_backup_vault


def _delete_backup_vault(self, backup_vault_name):
    if any(p["BackupVaultName"] == backup_vault_name
           for p in self.__dict__.get("_shim_jobs", {}).get("recovery_points", {}).values()):
        raise InvalidRequestException(msg="Backup vault cannot be deleted because it contains recovery points.")
    return _orig_delete_backup_vault(self, backup_vault_name)


BackupBackend.delete_backup_vault = _delete_backup_vault
for _f in (start_backup_job, describe_backup_job, list_recovery_points_by_backup_vault, list_recovery_points_by_resource,
           describe_recovery_point, delete_recovery_point, start_restore_job, describe_restore_job, list_restore_jobs):
    setattr(BackupResponse, _f.__name__, _f)
# A trailing "/" where the API has one: werkzeug does not match ".../recovery-points/" to a rule without it.
for _path in ("{0}/backup-jobs/?$", "{0}/backup-jobs/(?P<job>[^/]+)$", "{0}/restore-jobs/?$",
              "{0}/restore-jobs/(?P<job>[^/]+)$", "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$",
              "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<point>[^/]+)$",
              "{0}/resources/(?P<resource>.+)/recovery-points/$"):
    backup_urls.url_paths[_path] = backup_urls.response.dispatch

# --------------------------------------------------------------------------- AutoScaling instance refresh
def _refreshes(self):
    return self.autoscaling_backend.__dict__.setdefault("_shim_instance_refreshes", [])


def start_instance_refresh(self):
    group = self._get_param("AutoScalingGroupName")
    if not self.autoscaling_backend.describe_auto_scaling_groups([group]):
        raise AutoscalingClientError("ValidationError", f"AutoScalingGroup name not found - {group}")
    if any(r["AutoScalingGroupName"] == group and r["Status"] in ("Pending", "InProgress", "Cancelling")
           for r in _refreshes(self)):
        raise AutoscalingClientError("InstanceRefreshInProgress", "An Instance Refresh is already in progress.")
    params = self._get_params()
    refresh = {"InstanceRefreshId": str(uuid.uuid4()), "AutoScalingGroupName": group, "Status": "Successful",
               "StatusReason": "emulator: recorded, no instance replaced", "StartTime": utcnow(),
               "EndTime": utcnow(), "PercentageComplete": 100, "InstancesToUpdate": 0,
               "Preferences": params.get("Preferences") or {}, "Strategy": params.get("Strategy", "Rolling")}
    _refreshes(self).append(refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def describe_instance_refreshes(self):
    group = self._get_param("AutoScalingGroupName")
    ids = self._get_param("InstanceRefreshIds") or []
    found = [r for r in reversed(_refreshes(self))  # newest first, as on AWS
             if r["AutoScalingGroupName"] == group and (not ids or r["InstanceRefreshId"] in ids)]
    return ActionResult({"InstanceRefreshes": found})


def cancel_instance_refresh(self):
    group = self._get_param("AutoScalingGroupName")
    active = [r for r in _refreshes(self) if r["AutoScalingGroupName"] == group and r["Status"] in ("Pending", "InProgress")]
    if not active:
        raise AutoscalingClientError("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found.")
    active[0]["Status"] = "Cancelled"
    return ActionResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})


for _f in (start_instance_refresh, describe_instance_refreshes, cancel_instance_refresh):
    setattr(AutoScalingResponse, _f.__name__, _f)

# --------------------------------------------------------------------------- EC2 launch template versions
# amazon.aws.ec2_launch_template (state: absent) deletes the non-default versions before the template.
def delete_launch_template_versions(self):
    name, template_id = self._get_param("LaunchTemplateName"), self._get_param("LaunchTemplateId")
    template = self.ec2_backend.describe_launch_templates(
        template_names=[name] if name else None, template_ids=[template_id] if template_id else None, filters=None)[0]
    deleted = template.__dict__.setdefault("_shim_deleted_versions", set())
    done, refused = [], []
    for version in self._get_param("Versions") or []:
        entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": int(version)}
        if not 1 <= int(version) <= len(template.versions) or int(version) in deleted:
            refused.append(dict(entry, ResponseError={"Code": "launchTemplateVersionDoesNotExist",
                                                      "Message": "The specified launch template version does not exist."}))
        elif int(version) == template.default_version_number:
            refused.append(dict(entry, ResponseError={"Code": "unexpectedError",
                                                      "Message": "You cannot delete the default version."}))
        else:  # the version stays in moto's list (it indexes versions by position); it goes with the template
            deleted.add(int(version))
            done.append(entry)
    return ActionResult({"SuccessfullyDeletedLaunchTemplateVersions": done,
                         "UnsuccessfullyDeletedLaunchTemplateVersions": refused})


if not hasattr(LaunchTemplates, "delete_launch_template_versions"):  # moto 5.2.5 has none
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions

# --------------------------------------------------------------------------- SSM SendCommand targets
# moto adds the instances matched by Targets to the named InstanceIds, and with no Targets it matches
# every instance of the region (terminated ones too): AWS sends only to the instances it is given.
_orig_targets = SsmCommand._get_instance_ids_from_targets


def _instance_ids_from_targets(self):
    return _orig_targets(self) if self.targets else []


SsmCommand._get_instance_ids_from_targets = _instance_ids_from_targets

# --------------------------------------------------------------------------- EC2 tag resource types
EC2_PREFIX_TO_RESOURCE.update({"nat": "natgateway", "eipalloc": "elastic-ip"})

# --------------------------------------------------------------------------- Debian 12 AMI
DEBIAN_PARAM = "/aws/service/debian/release/12/latest/amd64"
DEBIAN_AMI = {"ami_id": "ami-0d5eb1a12b0c0ffee", "state": "available", "public": True,
              "owner_id": "136693071363", "image_location": "136693071363/debian-12-amd64-20250610-2140",
              "sriov": "simple", "root_device_type": "ebs", "root_device_name": "/dev/xvda",
              "description": "Debian 12 (20250610-2140)", "image_type": "machine", "platform": None,
              "architecture": "x86_64", "name": "debian-12-amd64-20250610-2140",
              "virtualization_type": "hvm", "hypervisor": "xen", "creation_date": "2025-06-10T21:40:00.000Z"}
_amis.AMIS.append(DEBIAN_AMI)

_orig_check_loading_status = ParameterDict._check_loading_status


def _check_loading_status(self, key):
    _orig_check_loading_status(self, key)
    if str(key or "").startswith("/aws/service/debian") and not getattr(self, "_debian_loaded", False):
        self._debian_loaded = True
        defaultdict.__getitem__(self, DEBIAN_PARAM).append(Parameter(
            account_id=self.account_id, name=DEBIAN_PARAM, value=DEBIAN_AMI["ami_id"], parameter_type="String",
            description=None, allowed_pattern=None, keyid=None, last_modified_date=utcnow(), version=1,
            data_type="aws:ec2:image"))


ParameterDict._check_loading_status = _check_loading_status

# --------------------------------------------------------------------------- SSM parameter size per tier
# AWS Systems Manager User Guide, "Managing parameter tiers": a Standard parameter value holds at most
# 4 KB (4,096 characters), an Advanced one 8 KB (8,192). PutParameter over the limit fails with
# ValidationException; an update without Tier keeps the parameter's tier; an Advanced parameter
# cannot be turned back into a Standard one; Intelligent-Tiering stores Standard when the value
# fits and Advanced otherwise (and never downgrades). moto 5.2.5 stores any length in any tier.
SSM_TIER_MAX_CHARS = {"Standard": 4096, "Advanced": 8192}
SSM_STANDARD_TOO_LONG = (
    "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
    "parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see "
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
SSM_NO_DOWNGRADE = (
    "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter "
    "tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as "
    "a standard parameter.")
_orig_put_parameter = SimpleSystemManagerBackend.put_parameter


def _put_parameter(self, name, description, value, parameter_type, *args, tier=None, **kwargs):
    history = self._parameters.get(name) if name in self._parameters else None
    previous = history[-1].tier if history else None
    effective = tier or previous or self.default_parameter_tier
    if effective == "Intelligent-Tiering":
        effective = "Advanced" if previous == "Advanced" or len(value or "") > 4096 else "Standard"
    if previous == "Advanced" and effective == "Standard":
        raise SsmValidationException(SSM_NO_DOWNGRADE)
    if value and len(value) > SSM_TIER_MAX_CHARS.get(effective, 4096):
        if effective == "Standard":
            raise SsmValidationException(SSM_STANDARD_TOO_LONG)
        raise SsmValidationException(
            "1 validation error detected: Value at 'value' failed to satisfy constraint: "
            "Member must have length less than or equal to 8192.")
    return _orig_put_parameter(self, name, description, value, parameter_type, *args, tier=effective, **kwargs)


SimpleSystemManagerBackend.put_parameter = _put_parameter

# The instance role's additions (Route53's prefix lists, network interface tags, IAM enforced for
# role sessions): tests/support/emulator_iam.py
# =========================================================================== strict as AWS (issue 10)
# Each shim below models one AWS behaviour that moto 5.2.5 lacks and that broke, or would break, a
# first run in a real account. The AWS source each one follows is named beside it; the list with
# the same sources is roles/aws_stack/README.md, "What the emulator enforces".
# Knobs: seconds of eventual consistency and the instance types missing per zone. Defaults come
# from the environment (EMULATOR_IAM_PROPAGATION_SECONDS, ...); a test changes them for the running
# emulator with POST /moto-api/privatepypi/strict (JSON), reads them with GET, and
# /moto-api/reset puts them back to the defaults.
import copy  # noqa: E402
import os  # noqa: E402

from moto.acm.models import AWSCertificateManagerBackend, CertBundle  # noqa: E402
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup  # noqa: E402
from moto.ec2.exceptions import DependencyViolationError, EC2ClientError  # noqa: E402
from moto.ec2.models.instance_types import INSTANCE_TYPES, InstanceTypeOfferingBackend  # noqa: E402
from moto.ec2.models.instances import InstanceBackend  # noqa: E402
from moto.ec2.models.security_groups import SecurityGroupBackend  # noqa: E402
from moto.ec2.models.subnets import SubnetBackend  # noqa: E402
from moto.ec2.models.vpcs import VPCBackend  # noqa: E402
from moto.efs.models import EFSBackend  # noqa: E402
from moto.elbv2.exceptions import ELBClientError as RESTError  # noqa: E402
from moto.elbv2.models import ELBv2Backend  # noqa: E402
from moto.iam.models import IAMBackend  # noqa: E402
from moto.moto_api._internal import urls as moto_api_urls  # noqa: E402
from moto.moto_api._internal.models import moto_api_backend  # noqa: E402

from . import emulator_iam  # noqa: E402, F401

# Each delay below is modelled in one of two ways. In seconds of wall time after the resource's
# change, as AWS does: the stand-in's own tests and the rehearsals. Or, when its "_refusals" setting
# is above 0, as that many refusals of the calls that meet it, per resource, whatever the clock says:
# the integration tests, whose runs must retry as often as AWS makes them without sleeping out the
# seconds (a refusal costs a run one retry delay of its own, not the whole propagation time).
DELAYS = ("iam_propagation", "certificate_propagation", "certificate_release", "eni_linger")


def _strict_defaults():
    env = os.environ.get
    return {
        **{f"{delay}_refusals": int(env(f"EMULATOR_{delay.upper()}_REFUSALS", "0")) for delay in DELAYS},
        # IAM -> EC2 Auto Scaling / AWS Backup propagation of a new instance profile or role
        "iam_propagation_seconds": float(env("EMULATOR_IAM_PROPAGATION_SECONDS", "10")),
        # a certificate ACM has just issued is not yet known to Elastic Load Balancing
        "certificate_propagation_seconds": float(env("EMULATOR_CERTIFICATE_PROPAGATION_SECONDS", "10")),
        # ACM keeps a certificate "in use" after the load balancer that served it is deleted
        "certificate_release_seconds": float(env("EMULATOR_CERTIFICATE_RELEASE_SECONDS", "30")),
        # network interfaces of a deleted load balancer or mount target linger in their subnets
        "eni_linger_seconds": float(env("EMULATOR_ENI_LINGER_SECONDS", "20")),
        # a stack image's builder (tag Role=image-builder) runs its user data and powers off this many
        # seconds after its launch; below 0, never by itself (the rehearsal boots it in a container
        # and stops it once the container powered off)
        "image_builder_seconds": float(env("EMULATOR_IMAGE_BUILDER_SECONDS", "0")),
        # {"us-east-1a": ["t4g.small"]}: instance types a zone does not offer (besides moto's own data)
        "missing_offerings": json.loads(env("EMULATOR_MISSING_OFFERINGS", "{}")),
    }


STRICT = _strict_defaults()


def _strict_config(request, full_url, headers):
    if request.method == "POST":
        size = int(headers.get("Content-Length") or 0)
        body = json.loads(request.environ["wsgi.input"].read(size).decode() or "{}")
        unknown = sorted(set(body) - set(STRICT))
        if unknown:
            return 400, JSON, json.dumps({"error": f"unknown settings: {unknown}"})
        STRICT.update(body)
    return 200, JSON, json.dumps(STRICT)


moto_api_urls.url_paths["{0}/moto-api/privatepypi/strict"] = _strict_config
_orig_moto_api_reset = moto_api_backend.reset


# (delay, resource, when it changed) -> refusals answered so far; forgotten on reset with the resources
_REFUSED = {}


def _reset_with_strict_defaults():
    _orig_moto_api_reset()
    STRICT.clear()
    STRICT.update(_strict_defaults())
    _REFUSED.clear()


moto_api_backend.reset = _reset_with_strict_defaults


def _age_seconds(created):
    return (utcnow() - created).total_seconds() if created else float("inf")


def _settling(delay, resource, since):
    """Whether a call meeting `resource` (changed at `since`, a datetime or an epoch second) is
    refused under `delay`: the first STRICT[delay_refusals] such calls when that is set, counted per
    resource and change; else while it is younger than STRICT[delay_seconds]."""
    refusals = int(STRICT[f"{delay}_refusals"])
    if refusals > 0:
        key = (delay, resource, since)
        answered = _REFUSED.get(key, 0)
        if answered < refusals:
            _REFUSED[key] = answered + 1
            return True
        return False
    age = time.time() - since if isinstance(since, (int, float)) else _age_seconds(since)
    return age < STRICT[f"{delay}_seconds"]


def _iam(account_id):
    from moto.iam.models import iam_backends
    return iam_backends[account_id]["global"]


# --------------------------------------------------------------------------- item 1: instance profile propagation
# AWS: a new instance profile reaches EC2 Auto Scaling seconds later. CreateAutoScalingGroup (and
# UpdateAutoScalingGroup) with a launch template naming it answers, meanwhile, "ValidationError: You
# must use a valid fully-formed launch template. Value (...) for parameter iamInstanceProfile.<arn|name>
# is invalid. Invalid IAM Instance Profile <ARN|name>", in the form the template stores the profile:
# by ARN (what amazon.aws.ec2_launch_template writes) "Value (arn:aws:iam::...:instance-profile/...)
# for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"
# (terraform-provider-aws issue 29866, titled with it; aws-samples/amazon-ec2-gitlab-runner issue 16),
# by name "... iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name" (issue 5217, the
# retry of PR 40088; eksctl issue 8039). A profile that does not exist at all gets the same answer.
def _check_instance_profile_propagated(backend, launch_template):
    if not launch_template:
        return
    ec2 = backend.ec2_backend
    template = (ec2.get_launch_template(launch_template["LaunchTemplateId"]) if launch_template.get("LaunchTemplateId")
                else ec2.get_launch_template_by_name(launch_template.get("LaunchTemplateName")))
    data = template.get_version(launch_template.get("Version") or "$Default").data
    profile = data.get("IamInstanceProfile") or {}
    arn = profile.get("Arn") or ""
    name = profile.get("Name") or arn.rsplit("/", 1)[-1]
    if not name:
        return
    found = _iam(backend.account_id).instance_profiles.get(name)
    if found is None or _settling("iam_propagation", found.arn, found.create_date):
        value, field, kind = (arn, "arn", "ARN") if arn else (name, "name", "name")
        raise AutoscalingClientError(
            "ValidationError", f"You must use a valid fully-formed launch template. Value ({value}) for parameter "
            f"iamInstanceProfile.{field} is invalid. Invalid IAM Instance Profile {kind}")


_orig_create_asg = AutoScalingBackend.create_auto_scaling_group
_orig_update_asg = AutoScalingBackend.update_auto_scaling_group


def _create_asg_after_propagation(self, *args, **kwargs):
    _check_instance_profile_propagated(self, kwargs.get("launch_template"))
    return _orig_create_asg(self, *args, **kwargs)


def _update_asg_after_propagation(self, *args, **kwargs):
    _check_instance_profile_propagated(self, kwargs.get("launch_template"))
    return _orig_update_asg(self, *args, **kwargs)


AutoScalingBackend.create_auto_scaling_group = _create_asg_after_propagation
AutoScalingBackend.update_auto_scaling_group = _update_asg_after_propagation


# --------------------------------------------------------------------------- item 2: backup role propagation
# AWS: CreateBackupSelection right after the role is created answers "InvalidParameterValueException:
# IAM Role <arn> cannot be assumed by AWS Backup" until IAM has propagated (terraform-provider-aws
# issue 9297, PRs 9298 and 12017). A role whose trust policy does not name backup.amazonaws.com
# never can be, and gets the same answer. A selection by tags (Conditions, ListOfTags) has AWS Backup
# call tag:GetResources with the role: once the role can be assumed but before the policies attached
# to it are in effect (or when none is attached) it answers "IAM Role <arn> is not authorized to call
# tag:GetResources". Modelled: the trust is in effect half the propagation time after the role's
# creation, the policies the whole propagation time after their last attachment, so a role created
# and given its policies at once meets both answers in turn.
def _check_backup_role(self, role_arn, by_tags):
    role = next((r for r in _iam(self.current_account).roles.values() if r.arn == role_arn), None)
    trusted = role is not None and "backup.amazonaws.com" in json.dumps(role.assume_role_policy_document)
    cannot_assume = f"IAM Role {role_arn} cannot be assumed by AWS Backup"
    not_authorized = f"IAM Role {role_arn} is not authorized to call tag:GetResources"
    if not trusted:
        raise InvalidParameterValueException(msg=cannot_assume)
    attached = getattr(role, "privatepypi_policy_attached", None)
    without_policy = by_tags and (not role.managed_policies or attached is None)
    refusals = int(STRICT["iam_propagation_refusals"])
    if refusals > 0:  # counted: the first half of them for the trust, the rest for the policies
        key = ("iam_propagation", role_arn, role.create_date)
        answered, for_trust = _REFUSED.get(key, 0), (refusals + 1) // 2
        if answered < (refusals if by_tags else for_trust):
            _REFUSED[key] = answered + 1
            raise InvalidParameterValueException(msg=cannot_assume if answered < for_trust else not_authorized)
    else:
        propagation = STRICT["iam_propagation_seconds"]
        if _age_seconds(role.create_date) < propagation / 2:
            raise InvalidParameterValueException(msg=cannot_assume)
        without_policy = without_policy or (by_tags and _age_seconds(attached) < propagation)
    if without_policy:
        raise InvalidParameterValueException(msg=not_authorized)


_orig_attach_role_policy = IAMBackend.attach_role_policy


def _attach_role_policy_noting_when(self, policy_arn, role_name):
    _orig_attach_role_policy(self, policy_arn, role_name)
    self.get_role(role_name).privatepypi_policy_attached = utcnow()


IAMBackend.attach_role_policy = _attach_role_policy_noting_when
_shim_create_backup_selection = BackupResponse.create_backup_selection


def _create_backup_selection_after_propagation(self):
    selection = json.loads(self.body).get("BackupSelection") or {}
    by_tags = bool(selection.get("ListOfTags") or any((selection.get("Conditions") or {}).values()))
    _check_backup_role(self, selection.get("IamRoleArn", ""), by_tags)
    return _shim_create_backup_selection(self)


BackupResponse.create_backup_selection = _create_backup_selection_after_propagation


# --------------------------------------------------------------------------- item 3: certificate in use, lingering ENIs
# AWS: ACM refuses DeleteCertificate with "ResourceInUseException: Certificate <arn> in use by <lb
# arn>" while a listener serves it, and for a while after its load balancer is deleted
# (terraform-provider-aws issue 3866, aws-cdk issue 4179). The network interfaces of a deleted load
# balancer or EFS mount target stay in their subnet for minutes: deleting their security group,
# subnet or VPC meanwhile answers DependencyViolation ("resource sg-... has a dependent object",
# "The subnet '...' has dependencies and cannot be deleted.", EC2 API error codes). A security group
# that a live load balancer uses is refused the same way.
class _ResourceInUse(JsonRESTError):
    code = 400


def _elbv2(account_id, region):
    from moto.elbv2.models import elbv2_backends
    return elbv2_backends[account_id][region]


def _lingering(backend):
    return backend.__dict__.setdefault("_shim_lingering", [])


def _linger(ec2_backend, vpc_id, subnet_ids, group_ids):
    _lingering(ec2_backend).append({"vpc": vpc_id, "subnets": set(subnet_ids), "groups": set(group_ids),
                                    "since": time.time(), "id": len(_lingering(ec2_backend))})


def _lingering_now(ec2_backend, depends):
    """The lingering interfaces a delete meets (depends(x): whether it needs x gone), each refusing it."""
    return [x for x in _lingering(ec2_backend) if depends(x) and _settling("eni_linger", x["id"], x["since"])]


_orig_delete_lb = ELBv2Backend.delete_load_balancer
_orig_delete_listener = ELBv2Backend.delete_listener


def _release_later(backend, lb_arn, listener):
    released = backend.__dict__.setdefault("_shim_released_certificates", {})
    for cert in listener.certificates or []:
        released[cert] = (lb_arn, time.time())


def _delete_lb_leaving_enis(self, arn):
    lb = self.load_balancers.get(arn)
    if lb is not None:
        for listener in lb.listeners.values():
            _release_later(self, arn, listener)
        _linger(self.ec2_backend, lb.vpc_id, [s.id for s in lb.subnets], lb.security_groups or [])
    return _orig_delete_lb(self, arn)


# amazon.aws.elb_application_lb (state: absent) deletes the listeners first, then the load balancer:
# ACM's record of who uses a certificate lags behind either deletion.
def _delete_listener_releasing_later(self, listener_arn):
    for lb in self.load_balancers.values():
        if listener_arn in lb.listeners:
            _release_later(self, lb.arn, lb.listeners[listener_arn])
    return _orig_delete_listener(self, listener_arn)


ELBv2Backend.delete_load_balancer = _delete_lb_leaving_enis
ELBv2Backend.delete_listener = _delete_listener_releasing_later

_orig_delete_certificate = AWSCertificateManagerBackend.delete_certificate


def _delete_certificate_unless_in_use(self, arn):
    elbv2 = _elbv2(self.account_id, self.region_name)
    for lb in elbv2.load_balancers.values():
        if any(arn in (listener.certificates or []) for listener in lb.listeners.values()):
            raise _ResourceInUse("ResourceInUseException", f"Certificate {arn} in use by {lb.arn}")
    lb_arn, since = elbv2.__dict__.get("_shim_released_certificates", {}).get(arn, (None, None))
    if since is not None and _settling("certificate_release", arn, since):
        raise _ResourceInUse("ResourceInUseException", f"Certificate {arn} in use by {lb_arn}")
    return _orig_delete_certificate(self, arn)


AWSCertificateManagerBackend.delete_certificate = _delete_certificate_unless_in_use

# --------------------------------------------------------------------------- a certificate just issued
# AWS: right after ACM reports a certificate ISSUED, Elastic Load Balancing may not know it yet:
# CreateListener (and ModifyListener) with it answer "CertificateNotFound: Certificate '<arn>' not
# found" (or UnsupportedCertificate) for a while (terraform-provider-aws issues 41789 and 10510).
# Modelled: for STRICT["certificate_propagation_seconds"] after a describe first saw it ISSUED.
_orig_cert_check = CertBundle.check


def _check_noting_issuance(self):
    before = self.status
    _orig_cert_check(self)
    if before != "ISSUED" and self.status == "ISSUED":
        self.__dict__["privatepypi_issued_at"] = utcnow()


CertBundle.check = _check_noting_issuance


def _refuse_certificate_just_issued(backend, certificate_arns):
    from moto.acm.models import acm_backends
    certificates = acm_backends[backend.account_id][backend.region_name]._certificates
    for arn in certificate_arns:
        issued = certificates[arn].__dict__.get("privatepypi_issued_at") if arn in certificates else None
        if issued is not None and _settling("certificate_propagation", arn, issued):
            raise RESTError("CertificateNotFound", f"Certificate '{arn}' not found")


_orig_create_listener = ELBv2Backend.create_listener
_orig_modify_listener = ELBv2Backend.modify_listener


def _create_listener_after_propagation(self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs):
    _refuse_certificate_just_issued(self, [certificate] if certificate else [])
    return _orig_create_listener(self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs)


# ModifyListener's Certificates is the default certificate alone: AWS keeps the listener's other
# (SNI) certificates, moto 5.2.5 replaced the whole list with it.
def _modify_listener_after_propagation(self, arn, port=None, protocol=None, ssl_policy=None, certificates=None, actions=None):
    _refuse_certificate_just_issued(self, [c.get("CertificateArn") for c in certificates or []])
    before = list(self.describe_listeners(load_balancer_arn=None, listener_arns=[arn])[0].certificates or [])
    listener = _orig_modify_listener(self, arn, port, protocol, ssl_policy, certificates, actions)
    if certificates and before:
        default = certificates[0]["CertificateArn"]
        listener.certificates = [default] + [c for c in before[1:] if c != default]
    return listener


ELBv2Backend.create_listener = _create_listener_after_propagation
ELBv2Backend.modify_listener = _modify_listener_after_propagation

_orig_delete_mount_target = EFSBackend.delete_mount_target


def _delete_mount_target_leaving_eni(self, mount_target_id):
    target = self.mount_targets_by_id.get(mount_target_id)
    if target is not None:
        subnet = self.ec2_backend.get_subnet(target.subnet_id)
        _linger(self.ec2_backend, subnet.vpc_id, [target.subnet_id], list(target.security_groups or []))
    return _orig_delete_mount_target(self, mount_target_id)


EFSBackend.delete_mount_target = _delete_mount_target_leaving_eni

_orig_delete_sg = SecurityGroupBackend.delete_security_group
_orig_delete_subnet = SubnetBackend.delete_subnet
_orig_delete_vpc = VPCBackend.delete_vpc


def _delete_sg_without_dependants(self, name=None, group_id=None):
    group = self.get_security_group_by_name_or_id(group_id or name) if (group_id or name) else None
    if group is not None:
        in_use = _lingering_now(self, lambda x: group.id in x["groups"]) or any(
            group.id in (lb.security_groups or []) for lb in _elbv2(self.account_id, self.region_name).load_balancers.values())
        if in_use:
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
    return _orig_delete_sg(self, name=name, group_id=group_id)


def _delete_subnet_without_enis(self, subnet_id):
    if _lingering_now(self, lambda x: subnet_id in x["subnets"]):
        raise DependencyViolationError(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
    return _orig_delete_subnet(self, subnet_id)


def _delete_vpc_without_enis(self, vpc_id):
    if _lingering_now(self, lambda x: vpc_id == x["vpc"]):
        raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    return _orig_delete_vpc(self, vpc_id)


SecurityGroupBackend.delete_security_group = _delete_sg_without_dependants
SubnetBackend.delete_subnet = _delete_subnet_without_enis
VPCBackend.delete_vpc = _delete_vpc_without_enis


# --------------------------------------------------------------------------- item 7: a load balancer stays in its VPC
# AWS: a load balancer's subnets and security groups all belong to its VPC. CreateLoadBalancer with
# security groups of another VPC, SetSubnets with a subnet of another VPC and SetSecurityGroups with
# a group of another VPC are refused (Elastic Load Balancing API reference: InvalidConfigurationRequest,
# InvalidSecurityGroup, InvalidSubnet); moto 5.2.5 accepts them.
def _refuse_foreign_groups(backend, vpc_id, group_ids):
    for group_id in group_ids or []:
        group = backend.ec2_backend.get_security_group_from_id(group_id)
        if group is not None and group.vpc_id != vpc_id:
            raise RESTError("InvalidSecurityGroup",
                            f"Security group '{group_id}' does not belong to VPC '{vpc_id}'")


_orig_create_lb = ELBv2Backend.create_load_balancer
_orig_set_subnets = ELBv2Backend.set_subnets
_orig_set_security_groups = ELBv2Backend.set_security_groups


def _create_lb_in_one_vpc(self, name, security_groups, subnet_ids, *args, **kwargs):
    vpcs = {self.ec2_backend.get_subnet(s).vpc_id for s in subnet_ids or []}
    if len(vpcs) > 1:
        raise RESTError("InvalidConfigurationRequest", "The subnets must all belong to the same VPC")
    if vpcs:
        _refuse_foreign_groups(self, vpcs.pop(), security_groups)
    return _orig_create_lb(self, name, security_groups, subnet_ids, *args, **kwargs)


def _set_subnets_in_its_vpc(self, arn, subnets, subnet_mappings):
    lb = self.load_balancers.get(arn)
    if lb is not None:
        for subnet_id in list(subnets or []) + [m["SubnetId"] for m in subnet_mappings or []]:
            subnet = self.ec2_backend.get_subnet(subnet_id)
            if subnet.vpc_id != lb.vpc_id:
                raise RESTError("InvalidSubnet", f"Subnet '{subnet_id}' is not in VPC '{lb.vpc_id}'")
    return _orig_set_subnets(self, arn, subnets, subnet_mappings)


def _set_security_groups_in_its_vpc(self, arn, sec_groups):
    lb = self.load_balancers.get(arn)
    if lb is not None:
        _refuse_foreign_groups(self, lb.vpc_id, sec_groups)
    return _orig_set_security_groups(self, arn, sec_groups)


ELBv2Backend.create_load_balancer = _create_lb_in_one_vpc
ELBv2Backend.set_subnets = _set_subnets_in_its_vpc
ELBv2Backend.set_security_groups = _set_security_groups_in_its_vpc


# --------------------------------------------------------------------------- item 12: offerings per zone, architectures
# AWS: not every zone offers every instance type (DescribeInstanceTypeOfferings with LocationType
# availability-zone lists what each zone has); a launch in a zone without the type fails with
# "Unsupported: Your requested instance type (<type>) is not supported in your requested Availability
# Zone (<zone>)", and an AMI of another architecture than the type's with InvalidParameterValue. On
# AWS an Auto Scaling group records the failure in its scaling activities; here the create call
# itself fails, which a test sees at once. STRICT["missing_offerings"] removes types from zones.
_orig_offerings = InstanceTypeOfferingBackend.describe_instance_type_offerings


def _offerings_without_missing(self, location_type=None, filters=None):
    found = _orig_offerings(self, location_type=location_type, filters=filters)
    if location_type in ("availability-zone", "availability-zone-id"):
        missing = STRICT["missing_offerings"]
        found = [o for o in found if o.get("InstanceType") not in missing.get(o.get("Location"), [])]
    return found


InstanceTypeOfferingBackend.describe_instance_type_offerings = _offerings_without_missing

_orig_run_instances = InstanceBackend.run_instances


def _run_instances_where_offered(self, image_id, count, user_data, security_group_names, **kwargs):
    instance_type = kwargs.get("instance_type")
    if kwargs.get("launch_template") and kwargs.get("is_instance_type_default", True):
        instance_type = self._get_template_from_args(kwargs["launch_template"]).data.get("InstanceType", instance_type)
    zone = self.get_subnet(kwargs["subnet_id"]).availability_zone if kwargs.get("subnet_id") else kwargs.get("placement")
    if instance_type and zone and instance_type in STRICT["missing_offerings"].get(zone, []):
        raise EC2ClientError("Unsupported", f"Your requested instance type ({instance_type}) is not supported in your "
                             f"requested Availability Zone ({zone}). Please retry your request by not specifying an "
                             "Availability Zone or choosing another zone.")
    wanted = (INSTANCE_TYPES.get(instance_type or "") or {}).get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    image = self.amis.get(image_id) if image_id else None
    if wanted and image is not None and image.architecture not in wanted:
        raise EC2ClientError(
            "InvalidParameterValue", f"The architecture '{wanted[0]}' of the specified instance type does not match the "
            f"architecture '{image.architecture}' of the specified AMI. Specify an instance type and an AMI that have "
            "matching architectures, and try again.")
    template_data = self._get_template_from_args(kwargs["launch_template"]).data if kwargs.get("launch_template") else {}
    ebs_optimized = kwargs.get("ebs_optimized") or str(template_data.get("EbsOptimized", "")).lower() == "true"
    support = (INSTANCE_TYPES.get(instance_type or "") or {}).get("EbsInfo", {}).get("EbsOptimizedSupport")
    if ebs_optimized and support == "unsupported":
        raise EC2ClientError("InvalidParameterCombination", "EBS-optimized instances are not supported for your "
                             "requested configuration. Please check the documentation for supported configurations.")
    reservation = _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    # AWS: an instance's security groups are its primary network interface's, however the launch named
    # them. moto keeps the groups given on the interface (NetworkInterfaces[0].Groups, which
    # amazon.aws.ec2_instance sends for a subnet and groups) off the instance: DescribeInstanceAttribute
    # groupSet answered [], and the module then called ModifyInstanceAttribute, which AWS never needs.
    for instance in reservation.instances:
        primary = instance.nics.get(0)
        if primary is not None and not instance.security_groups and primary.group_set:
            instance.security_groups = list(primary.group_set)
    return reservation


InstanceBackend.run_instances = _run_instances_where_offered


# --------------------------------------------------------------------------- failed launches: scaling activities
# AWS: an Auto Scaling group's launch that EC2 refuses (a zone without the type, EBS optimisation the
# type lacks, an image of another architecture) does not fail CreateAutoScalingGroup or
# UpdateAutoScalingGroup: the group is created and records the refusal as a scaling activity
# (StatusCode Failed, StatusMessage EC2's message; Auto Scaling User Guide, "Troubleshoot Amazon EC2
# Auto Scaling: EC2 instance launch failures"), then tries again later. moto 5.2.5 let the EC2 error
# fail the group's call and answers DescribeScalingActivities with nothing.
_orig_replace_instances = FakeAutoScalingGroup.replace_autoscaling_group_instances


def _replace_instances_recording_failures(self, count_needed, propagated_tags):
    try:
        _orig_replace_instances(self, count_needed, propagated_tags)
    except EC2ClientError as error:
        now = utcnow()
        capacity = len(self.instance_states)
        activities = self.__dict__.setdefault("privatepypi_activities", [])
        activities.insert(0, {
            "ActivityId": str(uuid.uuid4()), "AutoScalingGroupName": self.name,
            "Description": f"Launching a new EC2 instance.  Status Reason: {error.message}",
            "Cause": (f"At {now:%Y-%m-%dT%H:%M:%SZ} an instance was started in response to a difference between "
                      f"desired and actual capacity, increasing the capacity from {capacity} to "
                      f"{capacity + count_needed}."),
            "StartTime": now, "EndTime": now, "StatusCode": "Failed", "StatusMessage": error.message,
            "Progress": 100, "Details": "{}"})


FakeAutoScalingGroup.replace_autoscaling_group_instances = _replace_instances_recording_failures


def _describe_scaling_activities(self):
    name = self._get_param("AutoScalingGroupName")
    groups = self.autoscaling_backend.autoscaling_groups
    activities = [a for group in groups.values() if name in (None, group.name)
                  for a in group.__dict__.get("privatepypi_activities", [])]
    return ActionResult({"Activities": activities[:int(self._get_param("MaxRecords") or 100)]})


AutoScalingResponse.describe_scaling_activities = _describe_scaling_activities

# The Debian 12 arm64 AMI and its public parameter, beside the amd64 one above.
DEBIAN_ARM64_PARAM = "/aws/service/debian/release/12/latest/arm64"
DEBIAN_ARM64_AMI = dict(DEBIAN_AMI, ami_id="ami-0a64deb1a12b0cafe", architecture="arm64",
                        image_location="136693071363/debian-12-arm64-20250610-2140", name="debian-12-arm64-20250610-2140")
_amis.AMIS.append(DEBIAN_ARM64_AMI)
_debian_check_loading_status = ParameterDict._check_loading_status


def _check_loading_status_arm64(self, key):
    _debian_check_loading_status(self, key)
    if str(key or "").startswith("/aws/service/debian") and not getattr(self, "_debian_arm64_loaded", False):
        self._debian_arm64_loaded = True
        defaultdict.__getitem__(self, DEBIAN_ARM64_PARAM).append(Parameter(
            account_id=self.account_id, name=DEBIAN_ARM64_PARAM, value=DEBIAN_ARM64_AMI["ami_id"],
            parameter_type="String", description=None, allowed_pattern=None, keyid=None,
            last_modified_date=utcnow(), version=1, data_type="aws:ec2:image"))


ParameterDict._check_loading_status = _check_loading_status_arm64

# Debian 13 (trixie, the current stable: the stacks' default image), amd64 and arm64, as AWS publishes
# them: their own AMIs under the same public parameter family, release 13. Debian 12's stay above.
DEBIAN13_AMIS = {
    f"/aws/service/debian/release/13/latest/{arch}": dict(
        DEBIAN_AMI, ami_id=ami_id, architecture=ec2_arch, description="Debian 13 (20251117-2300)",
        image_location=f"136693071363/debian-13-{arch}-20251117-2300", name=f"debian-13-{arch}-20251117-2300",
        creation_date="2025-11-17T23:00:00.000Z")
    for arch, ec2_arch, ami_id in (("amd64", "x86_64", "ami-0d13deb1a13b0c0de"),
                                   ("arm64", "arm64", "ami-0a13deb1a13b0cafe"))}
_amis.AMIS.extend(DEBIAN13_AMIS.values())
_debian12_check_loading_status = ParameterDict._check_loading_status


def _check_loading_status_debian13(self, key):
    _debian12_check_loading_status(self, key)
    if str(key or "").startswith("/aws/service/debian") and not getattr(self, "_debian13_loaded", False):
        self._debian13_loaded = True
        for name, ami in DEBIAN13_AMIS.items():
            defaultdict.__getitem__(self, name).append(Parameter(
                account_id=self.account_id, name=name, value=ami["ami_id"],
                parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                last_modified_date=utcnow(), version=1, data_type="aws:ec2:image"))


ParameterDict._check_loading_status = _check_loading_status_debian13


# --------------------------------------------------------------------------- item 14: describe answers shaped like AWS's
# AWS's describe answers are not an echo of the request: the response types carry fields the
# request types lack. EC2 API reference: LaunchTemplateInstanceMetadataOptions (the response) has
# State (pending | applied), LaunchTemplateInstanceMetadataOptionsRequest has not. Auto Scaling API
# reference: AutoScalingGroup has TrafficSources (the target groups again, Type elbv2) and
# AvailabilityZoneDistribution (CapacityDistributionStrategy balanced-best-effort by default).
# moto 5.2.5 echoes the launch template data and leaves those out.
_orig_describe_lt_versions = LaunchTemplates.describe_launch_template_versions


def _describe_lt_versions_like_aws(self):
    result = _orig_describe_lt_versions(self)
    shaped = copy.deepcopy(result.result)
    for version in shaped["LaunchTemplateVersions"]:
        options = version["LaunchTemplateData"].get("MetadataOptions")
        if options is not None:
            options.setdefault("State", "applied")
    return ActionResult(shaped)


LaunchTemplates.describe_launch_template_versions = _describe_lt_versions_like_aws
FakeAutoScalingGroup.traffic_sources = property(
    lambda self: [{"Identifier": arn, "Type": "elbv2"} for arn in self.target_group_arns or []])
FakeAutoScalingGroup.availability_zone_distribution = property(
    lambda self: {"CapacityDistributionStrategy": "balanced-best-effort"})


# --------------------------------------------------------------------------- a stack image's builder
# AWS: a builder instance runs its user data (the pypiserver bootstrap's image mode), which powers it
# off; its shutdown behaviour "stop" leaves it stopped, ready to be captured. The emulator runs no user
# data: a builder tagged Role=image-builder reads as stopped once STRICT["image_builder_seconds"] have
# passed since its launch (never while that is below 0: the rehearsal's container does the work).
_orig_all_reservations = InstanceBackend.all_reservations


def _all_reservations_with_builders_done(self, filters=None):
    wait = STRICT["image_builder_seconds"]
    if wait >= 0:
        for reservation in self.reservations.values():
            for instance in reservation.instances:
                tags = {t["key"]: t["value"] for t in instance.get_tags()}
                if (tags.get("Role") == "image-builder" and instance.state == "running"
                        and _age_seconds(instance.launch_time) >= wait):
                    instance.stop()
    return _orig_all_reservations(self, filters)


InstanceBackend.all_reservations = _all_reservations_with_builders_done


# --------------------------------------------------------------------------- CreateImage tagging its snapshot
# AWS: CreateImage with TagSpecifications for "image" and "snapshot" (what amazon.aws.ec2_ami sends with
# tags) tags the new image and its snapshots. moto raises NotImplementedError for the snapshot's: the
# image is created without them, then its snapshot gets the tags.
from moto.ec2.models.amis import AmiBackend  # noqa: E402

_orig_create_image = AmiBackend.create_image


def _create_image_tagging_snapshots(self, instance_id, name, description, tag_specifications):
    snapshot_tags = [tag for spec in tag_specifications if spec["ResourceType"] == "snapshot" for tag in spec["Tags"]]
    image = _orig_create_image(self, instance_id, name, description,
                               [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"])
    snapshot = getattr(image, "ebs_snapshot", None)
    if snapshot is not None and snapshot_tags:
        self.create_tags([snapshot.id], {tag["Key"]: tag["Value"] for tag in snapshot_tags})
    return image


AmiBackend.create_image = _create_image_tagging_snapshots


if __name__ == "__main__":
    sys.exit(main())
