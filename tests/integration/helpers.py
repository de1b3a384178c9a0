"""What the integration tests share besides fixtures: reading a launch template's user data back,
recording timings, the test passwords. Fixtures are in conftest.py; tests import these from here.
"""
import base64
import json
import os
import re
from pathlib import Path

from tests.support.cloud_config import everything_an_instance_reads

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
VARS_FILE = "tests/integration/vars.yml"
TIMINGS = {}
VENV_BIN = ROOT / ".venv" / "bin"
RECAP_RE = re.compile(
    r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def tags_of(item):
    """An AWS answer's tags as a dict, whichever of its two spellings (Tags, TagSet) the service uses."""
    return {t["Key"]: t["Value"] for t in item.get("Tags") or item.get("TagSet") or []}


class Run:
    def __init__(self, proc, seconds):
        # out: what the recap and messages are read from; err: a tool's warnings, when kept apart
        self.rc, self.out, self.seconds = proc.returncode, proc.stdout, seconds
        self.err = proc.stderr or ""
        recaps = RECAP_RE.findall(self.out)
        last = recaps[-1] if recaps else ("0", "0", "0", "0")
        self.ok, self.changed, self.unreachable, self.failed = (int(x) for x in last)

    def changed_tasks(self):
        """The tasks (with their items) that reported changed, in order."""
        found, task = [], None
        for line in self.out.splitlines():
            if line.startswith("TASK ["):
                task = line[len("TASK ["):line.rfind("]")]
            elif line.startswith("changed:") and task:
                item = line.partition("(item=")[2].rpartition(")")[0]
                found.append(task + (f" ({item})" if item else ""))
        return found

    def failures(self):
        """Each failed task's name and ansible's message for it (the first lines), in order."""
        found, task, lines = [], None, self.out.splitlines()
        for number, line in enumerate(lines):
            if line.startswith("TASK ["):
                task = line[len("TASK ["):line.rfind("]")]
            elif line.startswith("fatal:") or line.startswith("failed:"):
                found.append(f"{task}: " + " ".join(x.strip() for x in lines[number:number + 8]))
        return found

    def __repr__(self):
        # what failed first: pytest shortens a long message, and the end of the output is the recap
        failed = "".join(f"\n  FAILED: {failure[:1500]}" for failure in self.failures())
        changed = "".join(f"\n  changed: {task}" for task in self.changed_tasks()) if self.changed else ""
        return (f"<Run rc={self.rc} changed={self.changed} failed={self.failed}>{failed}{changed}\n"
                f"{self.out[-6000:]}{self.err[-2000:]}")


def cloud_config_of(aws, template_name):
    """Launch template data of the latest version and its user data as cloud-init reads it (gunzipped)."""
    version = aws("ec2").describe_launch_template_versions(
        LaunchTemplateName=template_name, Versions=["$Latest"])["LaunchTemplateVersions"][0]
    data = version["LaunchTemplateData"]
    raw = base64.b64decode(data.get("UserData", ""))
    if raw[:2] == b"\x1f\x8b":  # gzip-compressed, as cloud-init accepts it
        import gzip
        raw = gzip.decompress(raw)
    return data, raw.decode()


def user_data_of(aws, template_name):
    """Launch template data of the latest version and its user data, decoded all the way (with the
    files of the bootstrap bundle it names)."""
    data, text = cloud_config_of(aws, template_name)
    return data, everything_an_instance_reads(aws, text)


TIMINGS_DIR = ROOT / "tests" / "output" / "timings"


def record_timing(profile, phase, seconds):
    TIMINGS.setdefault(profile, {})[phase] = round(seconds, 1)
    # The tests run in several pytest-xdist workers: each keeps its own file, the summary merges them.
    TIMINGS_DIR.mkdir(parents=True, exist_ok=True)
    (TIMINGS_DIR / f"{os.getpid()}.json").write_text(json.dumps(TIMINGS))



def passwords_in_vars():
    import yaml
    data = yaml.safe_load((ROOT / VARS_FILE).read_text())
    return [u["password"] for u in data["pypi_users"]]
