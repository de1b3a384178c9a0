"""The bootstrap bucket and the EFS file system policy of a stack, as the emulator holds them."""

import json

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.support.cloud_config import bundle_of

from .helpers import ROOT, cloud_config_of, tags_of


def _bucket(aws, stack):
    return [b["Name"] for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith(f"{stack}-boot-")]


def check_tls_only_statement(aws):
    """The role's TLS-only bucket statement (vars/main.yml) on a bucket of the test's own: the
    emulator, which evaluates bucket policies as S3 does, refuses a plain-http request under it
    and serves the same request once the statement is gone."""
    s3 = aws("s3")
    bucket = f"tls-only-check-{len(s3.list_buckets()['Buckets'])}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="bootstrap/x.tar.gz", Body=b"bundle")
    statement = yaml.safe_load((ROOT / "roles" / "aws_stack" / "vars" / "main.yml").read_text())[
        "_aws_stack_bootstrap_bucket_policy"]
    policy = json.dumps(statement).replace("{{ _aws_stack_bootstrap_bucket_arn }}", f"arn:aws:s3:::{bucket}")
    assert "{{" not in policy
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    try:
        with pytest.raises(ClientError, match="Forbidden|AccessDenied"):
            s3.get_object(Bucket=bucket, Key="bootstrap/x.tar.gz")
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="bootstrap/x.tar.gz")["Body"].read() == b"bundle"
    s3.delete_object(Bucket=bucket, Key="bootstrap/x.tar.gz")
    s3.delete_bucket(Bucket=bucket)


def check_bootstrap(aws, stack, file_system_id):
    s3 = aws("s3")
    names = _bucket(aws, stack)
    assert len(names) == 1, names
    bucket = names[0]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    # TLS only on an https endpoint (AWS's); the emulator is reached over plain http, where that
    # statement refuses every request (check_tls_only_statement proves it), so the bucket has none here
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)
    check_tls_only_statement(aws)
    tags = tags_of(s3.get_bucket_tagging(Bucket=bucket))
    assert tags["Stack"] == stack

    # the user data is a fetcher and a key; the bundle under that key holds the host
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys and all(k.startswith("bootstrap/") and k.endswith(".tar.gz") for k in keys)
    files = bundle_of(aws, cloud_config_of(aws, f"{stack}-lt")[1])
    assert "/usr/local/sbin/pypiserver-bootstrap" in files
    assert f"connect = {file_system_id}.efs." in files["/etc/pypiserver/efs-tunnel.conf"]
    assert "What=127.0.0.1:/" in files["/etc/systemd/system/var-pypi.mount"]
    assert f"--autoscaling-group {stack}-asg" in files["/etc/systemd/system/pypiserver-selfcheck.service"]

    # the instances may read bundles and report their own group's health, nothing wider
    doc = aws("iam").get_role_policy(RoleName=f"{stack}-instance", PolicyName=f"{stack}-least-privilege")["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert by_sid["ReadThisStacksBootstrapBundles"]["Resource"] == f"arn:aws:s3:::{bucket}/bootstrap/*"
    assert by_sid["ReportHealthToThisStacksGroupOnly"]["Resource"].endswith(f":autoScalingGroupName/{stack}-asg")

    # EFS refuses any client that does not come through TLS
    efs_policy = json.loads(aws("efs").describe_file_system_policy(FileSystemId=file_system_id)["Policy"])
    statements = {s["Sid"]: s for s in efs_policy["Statement"]}
    assert statements["DenyWithoutTls"]["Effect"] == "Deny"
    assert statements["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["MountAndWriteThroughMountTargetsOnly"]["Condition"] == {
        "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}


def check_bootstrap_gone(aws, stack):
    assert _bucket(aws, stack) == []
