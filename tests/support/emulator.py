#!/usr/bin/env python3
"""Local AWS API emulator for the integration tests: moto's server plus the gaps that the
amazon.aws / community.aws modules hit in moto 5.2.5 (none of them exist on real AWS).

Usage: python -m tests.support.emulator -H 172.28.0.1 -p 5000   (from the checkout's root)
       (scripts/emulator.sh starts it in the background with the right environment)

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
- a public Debian 12 AMI and its public SSM parameter /aws/service/debian/release/12/latest/amd64;
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
from . import emulator_iam  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(main())
