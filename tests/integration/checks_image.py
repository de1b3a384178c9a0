"""The stack image (aws_stack_image_enabled, on by default) as the emulator holds it: the image a run
built from the base image's public parameter, its tags and its snapshot's, the one builder that
made it, the launch template that boots it; kept by a run with the same package set, replaced by a
run with another one (the old image kept while a template version names it, an image no version
names pruned with its snapshot); gone with the stack. The emulator's builder stand-in
(tests/support/emulator.py) powers a builder off as the bootstrap's image mode does; the boot
rehearsal plays the builder in a container and boots the image it captured.
"""
import re

from .helpers import ROOT, tags_of


def images(aws, stack):
    """The stack's own images by id."""
    return {i["ImageId"]: i for i in aws("ec2").describe_images(Owners=["self"], Filters=[
        {"Name": "tag:Stack", "Values": [stack]}])["Images"]}


def snapshots(aws, stack):
    return {s["SnapshotId"] for s in aws("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:Stack", "Values": [stack]}])["Snapshots"]}


def template_images(aws, stack):
    """(the image the latest launch template version boots, the images every version names)."""
    versions = aws("ec2").describe_launch_template_versions(LaunchTemplateName=f"{stack}-lt")["LaunchTemplateVersions"]
    latest = max(versions, key=lambda v: v["VersionNumber"])
    return latest["LaunchTemplateData"]["ImageId"], {v["LaunchTemplateData"]["ImageId"] for v in versions}


def builders(aws, stack):
    """(instance id, state) of every image builder the stack launched."""
    return [(i["InstanceId"], i["State"]["Name"]) for r in aws("ec2").describe_instances(Filters=[
        {"Name": "tag:Stack", "Values": [stack]}, {"Name": "tag:Role", "Values": ["image-builder"]}])["Reservations"]
        for i in r["Instances"]]


def check_image(aws, stack, base, run_output):
    """One image of the stack, built from the base image by one builder (terminated since), named and
    tagged after its package set and base, its snapshot tagged; the launch template boots it.
    Returns its id."""
    found = images(aws, stack)
    assert len(found) == 1, found
    (image_id, image), = found.items()
    tags = tags_of(image)
    assert re.fullmatch(r"[0-9a-f]{64}", tags["PackageSet"]) and tags["BaseImage"] == base, tags
    assert image["Name"] == f"{stack}-{tags['PackageSet'][:16]}-{base}"
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert snapshots(aws, stack) == {snapshot}
    assert template_images(aws, stack) == (image_id, {image_id})
    assert [state for _, state in builders(aws, stack)] == ["terminated"]
    assert "Launch the image builder" in run_output and "Capture the builder as the stack image" in run_output
    return image_id


def orphan_image(aws, stack, base):
    """An image of the stack no template version names: what a run that failed after CreateImage leaves.
    Returns (its id, its snapshot's id)."""
    ec2 = aws("ec2")
    instance = ec2.run_instances(ImageId=base, InstanceType="t3.small", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "Stack", "Value": stack}]
    image = ec2.create_image(InstanceId=instance, Name=f"{stack}-orphan", TagSpecifications=[
        {"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}])["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance])
    return image, images(aws, stack)[image]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]


def another_package_set(folder):
    """A lock of one's own (pypiserver_pip_lock) that differs from the role's: another package set."""
    lock = folder / "other.lock"
    lock.write_text((ROOT / "roles/pypiserver/files/requirements-host.lock").read_text() + "# another package set\n")
    return lock


def check_image_replaced(aws, stack, before, orphan):
    """After a run with another package set: a new image the latest template version boots; the image of
    before stays while an older version names it; the orphan went with its snapshot."""
    orphan_id, orphan_snapshot = orphan
    found = images(aws, stack)
    latest, named = template_images(aws, stack)
    assert latest not in (before, orphan_id) and named == {before, latest}, (latest, named)
    assert set(found) == {before, latest}
    assert tags_of(found[latest])["PackageSet"] != tags_of(found[before])["PackageSet"]
    assert orphan_snapshot not in snapshots(aws, stack) and len(snapshots(aws, stack)) == 2


def check_image_gone(aws, stack):
    """Teardown removed every image of the stack and its snapshots, and no builder is left running."""
    assert images(aws, stack) == {} and snapshots(aws, stack) == set()
    assert {state for _, state in builders(aws, stack)} <= {"terminated"}
