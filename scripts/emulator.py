#!/usr/bin/env python3
"""Local AWS API emulator for the integration tests: moto's server plus the gaps that the
amazon.aws / community.aws modules hit in moto 5.2.5 (none of them exist on real AWS).

Usage: python scripts/emulator.py -H 172.28.0.1 -p 5000
       (scripts/emulator.sh starts it in the background with the right environment)

Filled gaps:
- the legacy EFS tag API (DescribeTags/CreateTags/DeleteTags) that community.aws.efs calls;
- DescribeBackupVault on a missing vault: AWS answers AccessDenied, amazon.aws.backup_vault
  treats that as "absent", moto raised ResourceNotFound;
- AWS Backup selections (not implemented in moto: HTTP 500);
- EC2 DescribeTags resource types of NAT gateways and Elastic IPs ("natgateway",
  "elastic-ip" on AWS): amazon.aws filters on them, so tags were re-added on every run;
- a public Debian 12 AMI and its public SSM parameter /aws/service/debian/release/12/latest/amd64.
"""
import json
import sys
import time
import uuid
from collections import defaultdict

from moto.backup.exceptions import ResourceNotFoundException
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.ec2.models import amis as _amis
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE
from moto.efs import urls as efs_urls
from moto.efs.responses import EFSResponse
from moto.server import main
from moto.ssm.models import Parameter, ParameterDict

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

if __name__ == "__main__":
    sys.exit(main())
