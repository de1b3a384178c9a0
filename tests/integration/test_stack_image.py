"""The stack image (aws_stack_image_enabled) against the emulator: the image the run builds, its
tags and its snapshot's, the launch template that boots it, its reuse by a run with the same
package set, a new image for a changed one, the pruning of an image no template version names,
and teardown removing every image and snapshot of the stack. The emulator's builder stand-in
(tests/support/emulator.py) powers a builder off as the bootstrap's image mode does; the boot
rehearsal (tests/rehearsal/test_offline_boot.py) plays it in a container and boots the image.
"""
import re

from .helpers import ROOT, tags_of

STACK = "pp-image-it"
SITE = ("-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "-e", "aws_stack_image_enabled=true")
TEARDOWN = ("-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "-e", f"confirm={STACK}",
            "-e", "aws_stack_teardown_delete_backups=true")
DEBIAN_13 = "/aws/service/debian/release/13/latest/amd64"


def _images(ec2):
    return {i["ImageId"]: i for i in ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "tag:Stack", "Values": [STACK]}])["Images"]}


def _snapshots(ec2):
    return {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:Stack", "Values": [STACK]}])["Snapshots"]}


def _template_images(ec2):
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{STACK}-lt")["LaunchTemplateVersions"]
    latest = max(versions, key=lambda v: v["VersionNumber"])
    return latest["LaunchTemplateData"]["ImageId"], {v["LaunchTemplateData"]["ImageId"] for v in versions}


def _builders(ec2):
    return [(i["InstanceId"], i["State"]["Name"]) for r in ec2.describe_instances(Filters=[
        {"Name": "tag:Stack", "Values": [STACK]}, {"Name": "tag:Role", "Values": ["image-builder"]}])["Reservations"]
        for i in r["Instances"]]


def _orphan_image(ec2, base):
    """An image of the stack no template version names: what a run that failed after CreateImage leaves."""
    instance = ec2.run_instances(ImageId=base, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "Stack", "Value": STACK}]
    image = ec2.create_image(InstanceId=instance, Name=f"{STACK}-orphan", TagSpecifications=[
        {"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}])["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance])
    return image


def test_the_stack_image_is_built_reused_rebuilt_pruned_and_torn_down(aws, playbook, reset_emulator, tmp_path):
    ec2 = aws("ec2")
    base = aws("ssm").get_parameter(Name=DEBIAN_13)["Parameter"]["Value"]
    torn_down = False
    try:
        created = playbook("site.yml", *SITE)
        assert created.rc == 0 and created.failed == 0, created
        images = _images(ec2)
        assert len(images) == 1, images
        (image_id, image), = images.items()
        tags = tags_of(image)
        assert re.fullmatch(r"[0-9a-f]{64}", tags["PackageSet"]) and tags["BaseImage"] == base
        assert image["Name"] == f"{STACK}-{tags['PackageSet'][:16]}-{base}"
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        assert _snapshots(ec2) == {snapshot}
        assert _template_images(ec2) == (image_id, {image_id})
        assert [state for _, state in _builders(ec2)] == ["terminated"]
        # the instances' template boots it; the builder booted the same bundle in image mode
        assert "Launch the image builder" in created.out and "Capture the builder as the stack image" in created.out

        rerun = playbook("site.yml", *SITE)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
        assert set(_images(ec2)) == {image_id} and len(_builders(ec2)) == 1

        # another package set (a lock of one's own): a new image the new template version boots; the old
        # one stays while a version names it; an image no version names goes, with its snapshot
        orphan = _orphan_image(ec2, base)
        orphan_snapshot = _images(ec2)[orphan]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        lock = tmp_path / "other.lock"
        lock.write_text((ROOT / "roles/pypiserver/files/requirements-host.lock").read_text()
                        + "# another package set\n")
        changed = playbook("site.yml", *SITE, "-e", f"pypiserver_pip_lock={lock}")
        assert changed.rc == 0 and changed.failed == 0, changed
        images = _images(ec2)
        latest, named = _template_images(ec2)
        assert latest not in (image_id, orphan) and named == {image_id, latest}
        assert set(images) == {image_id, latest}
        assert tags_of(images[latest])["PackageSet"] != tags["PackageSet"]
        assert orphan_snapshot not in _snapshots(ec2) and len(_snapshots(ec2)) == 2

        removed = playbook("playbooks/teardown.yml", *TEARDOWN)
        assert removed.rc == 0 and removed.failed == 0, removed
        torn_down = True
        assert _images(ec2) == {} and _snapshots(ec2) == set()
        assert {state for _, state in _builders(ec2)} <= {"terminated"}
    finally:
        if not torn_down:
            playbook("playbooks/teardown.yml", *TEARDOWN)
