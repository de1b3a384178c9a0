"""The built artifact is the product: built, installed into an empty directory outside the checkout,
its playbooks run from another directory with the user's own inventory and (encrypted) vault.

What the user's inventory sets wins over the collection's settings and the profile's, at every level
of the inventory: group_vars/all.yml (a profile value), group_vars/budget.yml (a collection default)
and host_vars/localhost.yml (the stack's name and tags).
"""
import json
import os
import re
import subprocess
import tarfile
import time

import boto3
import pytest
import yaml

from tests.support import fast_ansible

from .checks_bootstrap import check_bootstrap_gone
from .checks_instance_tls import check_instance_tls
from .helpers import RECAP_RE, ROOT, VARS_FILE, VENV_BIN, Run, record_timing, tags_of
from .test_stacks import _check_gone

STACK = "pp-artifact-it"
VAULT_PASSWORD = "artifact-test-vault-password"
# What the product leaves out (galaxy.yml build_ignore): anything under these, and these files.
NOT_PRODUCT_DIRS = ("tests/", "scripts/", "benchmarks/", "molecule/", "inventories/", ".ci/", "changelogs/fragments/")
NOT_PRODUCT_FILES = ("vault.yml", "ansible.cfg", "site.yml", "requirements.txt", "requirements.lock",
                     "requirements-uv.txt", "requirements-uv.lock", "ruff.toml")
PLAYBOOKS = ("site", "teardown", "users", "restore", "host")


def _env(base):
    """A user's shell: nothing of the checkout (no ansible.cfg, no collections link, an empty home),
    collections only from the directory the artifact was installed into."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(HOME=str(base / "home"), ANSIBLE_COLLECTIONS_PATH=str(base / "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="0",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return env


def _run(base, *cmd, check=True):
    """Runs a tool of the venv as the user would. stdout stays apart from stderr, which carries the
    tool's and its libraries' warnings: whatever parses the output (JSON, the recap) reads stdout alone."""
    proc = subprocess.run([str(VENV_BIN / cmd[0]), *cmd[1:]], cwd=base / "user", env=_env(base),
                          capture_output=True, text=True, timeout=900)
    assert not check or proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Builds the artifact from the checkout and installs it into an empty directory; returns the
    base directory (collections/, home/, user/) and the tarball's member names."""
    base = tmp_path_factory.mktemp("artifact")
    assert not str(base).startswith(str(ROOT))
    for sub in ("collections", "home", "user", "build"):
        (base / sub).mkdir()
    # as README.md says: scripts/build.sh (the changelog from the fragments, then ansible-galaxy collection build)
    built = subprocess.run([str(ROOT / "scripts" / "build.sh"), str(base / "build")], cwd=base / "user", env=_env(base),
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    tarballs = list((base / "build").glob("privatepypi-aws-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    # no Galaxy here: --offline takes amazon.aws and community.aws from the installed ansible bundle
    _run(base, "ansible-galaxy", "collection", "install", "--offline", str(tarballs[0]))
    return base, names, manifest


def test_artifact_holds_the_product_only(installed):
    base, names, manifest = installed
    leaked = [n for n in names if n.startswith(NOT_PRODUCT_DIRS) or n in NOT_PRODUCT_FILES
              or any(part.startswith(".") for part in n.split("/"))
              or "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    assert leaked == []
    for wanted in ("COPYING", "README.md", "meta/runtime.yml", "roles/aws_stack/tasks/main.yml",
                   "roles/pypiserver/tasks/main.yml", "plugins/modules/htpasswd.py", "playbooks/profile.yml",
                   "playbooks/group_vars/all.yml", "playbooks/group_vars/budget.yml",
                   "playbooks/group_vars/professional.yml", *(f"playbooks/{p}.yml" for p in PLAYBOOKS)):
        assert wanted in names, wanted
    # a Galaxy release: the changelog made from the fragments, the execution environment's needs, and every file
    # the shipped README links (issue 18)
    for wanted in ("CHANGELOG.rst", "changelogs/changelog.yaml", "meta/execution-environment.yml", "meta/ee-requirements.txt"):
        assert wanted in names, wanted
    with tarfile.open(next((base / "build").glob("privatepypi-aws-*.tar.gz"))) as tar:
        changelog = tar.extractfile("CHANGELOG.rst").read().decode()
        readme = tar.extractfile("README.md").read().decode()
        environment = yaml.safe_load(tar.extractfile("meta/execution-environment.yml"))
        needs = tar.extractfile(environment["dependencies"]["python"]).read().decode()
    assert "v" + manifest["collection_info"]["version"] in changelog
    fragment = yaml.safe_load((ROOT / "changelogs" / "fragments" / "deployer-policy-per-stack.yml").read_text())
    assert " ".join(fragment["breaking_changes"][0].split()[:6]) in " ".join(changelog.split())
    assert {"boto3", "botocore", "libpass", "bcrypt"} <= {re.split(r"[<>=]", line)[0] for line in needs.splitlines()
                                                        if line and not line.startswith("#")}
    links = {link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", readme)
             if not link.startswith(("http://", "https://", "#", "mailto:"))}
    assert links and [link for link in links if link.rstrip("/") not in {n.rstrip("/") for n in names}] == []
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    assert manifest["collection_info"]["license_file"] in (None, "")

    # installed in the empty directory, and only there: the user's runs cannot reach the checkout
    listed = json.loads(_run(base, "ansible-galaxy", "collection", "list", "privatepypi.aws",
                             "--format", "json").stdout)
    assert list(listed) == [str(base / "collections" / "ansible_collections")]
    # every playbook resolves by its collection name from the user's directory
    for name in PLAYBOOKS:
        proc = _run(base, "ansible-playbook", f"privatepypi.aws.{name}", "--syntax-check", check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]


# what the emulator cannot do (tests/integration/vars.yml): the only settings the test adds to the README's
EMULATOR_SWITCHES = ("aws_stack_instance_agents_enabled", "aws_stack_launch_template_tags_enabled",
                     "aws_stack_alb_drop_invalid_header_fields")


def readme_quick_start():
    """The files README.md ("On AWS") has the user write: {path: YAML text}, as written there."""
    text = (ROOT / "README.md").read_text()
    return dict(re.findall(r"^cat > (inventory/\S+) <<'YAML'\n(.*?)^YAML$", text, re.MULTILINE | re.DOTALL))


def _user_inventory(base, emulator):
    """The user's own inventory and encrypted vault, written the way README.md ("On AWS") says: its
    hosts.yml and group_vars/all.yml as written there, with the emulator's endpoint and switches."""
    user = base / "user"
    test_vars = yaml.safe_load((ROOT / VARS_FILE).read_text())
    users = test_vars.pop("pypi_users")
    quick_start = readme_quick_start()
    readme_all = yaml.safe_load(quick_start["inventory/group_vars/all.yml"])
    # the README's own example: HTTPS through its domain, not the plaintext acknowledgement
    assert "aws_stack_plaintext_acknowledged" not in readme_all and readme_all["aws_stack_domain"]
    # on top, values that differ from the collection's and the profile's, at three levels
    group_all = dict(readme_all, **{k: test_vars[k] for k in EMULATOR_SWITCHES},
                     aws_endpoint_url=emulator, aws_stack_instance_type="t2.micro")
    # the budget profile's own alarms replaced by two: down, and the Route53 health check over HTTPS
    # (what README "What it costs" says it adds; checks_instance_tls.py checks the check)
    group_budget = {"aws_stack_backup_enabled": False,
                    "aws_stack_alarms_enabled": ["instances_in_service_low", "health_check_failed"]}
    host = {"aws_stack_name": STACK, "aws_stack_tags": {"Environment": "artifact-test"}}
    inventory = user / "inventory"
    (inventory / "hosts.yml").parent.mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(quick_start["inventory/hosts.yml"])
    for path, data in (("group_vars/all.yml", group_all), ("group_vars/budget.yml", group_budget),
                       ("host_vars/localhost.yml", host)):
        (inventory / path).parent.mkdir(parents=True, exist_ok=True)
        (inventory / path).write_text("---\n" + yaml.safe_dump(data, sort_keys=False))
    (user / "vault-password").write_text(VAULT_PASSWORD + "\n")
    (user / "vault.yml").write_text(yaml.safe_dump({"pypi_users": users}))
    _run(base, "ansible-vault", "encrypt", "--vault-password-file", "vault-password", "vault.yml")
    assert (user / "vault.yml").read_text().startswith("$ANSIBLE_VAULT;")
    return ["-i", "inventory", "-e", "@vault.yml", "--vault-password-file", "vault-password"]


def _playbook(base, name, *args):
    """ansible-playbook privatepypi.aws.NAME as the user runs it, its modules' payloads built from the installed
    artifact once for the test's runs and boto3 imported once (tests/support/fast_ansible.py)."""
    start = time.monotonic()
    proc = subprocess.run(fast_ansible.command(f"privatepypi.aws.{name}", *args),
                          cwd=base / "user", env=dict(_env(base), **fast_ansible.environment(cache="artifact")),
                          capture_output=True, text=True, timeout=900)
    run = Run(proc, time.monotonic() - start)
    assert RECAP_RE.search(run.out), run
    return run


def _check_created(aws, run):
    ec2 = aws("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Vpcs"]
    assert len(vpcs) == 1
    # host_vars/localhost.yml: the user's tags replace the collection's ManagedBy
    tags = tags_of(vpcs[0])
    assert tags["Environment"] == "artifact-test" and "ManagedBy" not in tags
    # group_vars/all.yml: the user's instance type over the profile's t4g.micro; a t2 cannot be
    # EBS-optimised (EC2 refuses the launch, recorded in the group's scaling activities), so the
    # template does not ask for it and the instance launched
    template = ec2.describe_launch_template_versions(LaunchTemplateName=f"{STACK}-lt", Versions=["$Latest"])
    data = template["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert (data["InstanceType"], data.get("EbsOptimized")) == ("t2.micro", False)
    assert not aws("autoscaling").describe_scaling_activities(AutoScalingGroupName=f"{STACK}-asg")["Activities"]
    # the rest of the budget profile, which the user left alone: one instance behind an Elastic IP
    asg = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])["AutoScalingGroups"]
    assert [(g["MinSize"], g["MaxSize"], g["DesiredCapacity"], len(g["Instances"])) for g in asg] == [(1, 1, 1, 1)]
    assert ec2.describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["Addresses"]
    assert not [lb for lb in aws("elbv2").describe_load_balancers()["LoadBalancers"]
                if lb["LoadBalancerName"].startswith(STACK)]
    # group_vars/budget.yml: the user's alarms over the profile's four (the health check's is in us-east-1,
    # test_installed_artifact_runs_the_stack reads it); backups off, although the collection turns them on
    assert [a["AlarmName"] for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]] \
        == [f"{STACK}-instances-in-service-low"]
    assert not [v for v in aws("backup").list_backup_vaults()["BackupVaultList"]
                if v["BackupVaultName"] == f"{STACK}-backup"]
    # the collection's default the user kept: alerts on, to the contact address
    assert [t for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{STACK}-alerts")]
    # the encrypted vault's users, hashed into the stack's parameter, no password printed
    value = aws("ssm").get_parameter(Name=f"/{STACK}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    assert sorted(line.split(":", 1)[0] for line in value.splitlines() if not line.startswith("#")) == ["alice", "ci-uploader"]
    assert value.splitlines()[2:] == ["#role alice admin", "#role ci-uploader uploader *"]
    for user in yaml.safe_load((ROOT / VARS_FILE).read_text())["pypi_users"]:
        assert user["password"] not in run.out + run.err


def test_readme_quick_start_is_what_a_careful_user_runs():
    """HTTPS (a domain), a named network, a stack name of the user's own (the deployer policy is made for it)."""
    readme_all = yaml.safe_load(readme_quick_start()["inventory/group_vars/all.yml"])
    assert readme_all["aws_stack_domain"] and readme_all["aws_stack_index_cidrs"] != ["0.0.0.0/0"]
    assert not readme_all["aws_stack_name"].startswith("privatepypi")  # playbooks/deployer_policy.yml makes its policy


def test_installed_artifact_runs_the_stack(installed, reset_emulator):
    """The README's quick start, from the installed artifact, in the README's region."""
    base = installed[0]
    args = _user_inventory(base, reset_emulator)
    readme_all = yaml.safe_load(readme_quick_start()["inventory/group_vars/all.yml"])
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=readme_all["aws_region"])
    clients = {}

    def aws(service):
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=reset_emulator)
        return clients[service]
    # the zone the user owns (the README asks for one); the index gets pypi.<domain> in it
    zone = aws("route53").create_hosted_zone(Name=readme_all["aws_stack_domain"], CallerReference=STACK)["HostedZone"]["Id"]
    try:
        created = _playbook(base, "site", *args, "-e", "profile=budget")
        record_timing("artifact", "create", created.seconds)
        assert created.rc == 0 and created.failed == 0 and created.changed > 0, created
        _check_created(aws, created)
        # HTTPS, and no warning of plain HTTP; the last lines are settings to copy for pip, uv and poetry
        fqdn = f"pypi.{readme_all['aws_stack_domain']}"
        assert f"https://{fqdn}/" in created.out and "PLAINTEXT:" not in created.out
        tail = created.out[created.out.rindex("How to use the index"):]
        for line in (f"pip install --index-url https://alice@{fqdn}/simple/ PACKAGE", f"index-url = https://alice@{fqdn}/simple/",
                     f'url = \\"https://{fqdn}/simple/\\"', f"poetry source add --priority=primary privatepypi https://{fqdn}/simple/"):
            assert line in tail, line
        assert "trusted-host" not in tail
        # the instance terminates TLS itself (budget with a domain): what it is given for that
        check_instance_tls(aws, STACK, fqdn, readme_all["aws_stack_index_cidrs"], readme_all["aws_region"])
        # ...and its alarm, where Route53 reports
        in_us_east_1 = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                             region_name="us-east-1").client("cloudwatch", endpoint_url=reset_emulator)
        assert [a["AlarmName"] for a in in_us_east_1.describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]] \
            == [f"{STACK}-health-check-failed"]
        # nothing a user would have to wonder about (deprecations are amazon.aws's: README, "Troubleshooting"),
        # not even ansible-core's import of DSA, which cryptography 51 warns about (requirements.txt holds it below)
        warnings = [line for line in (created.out + created.err).splitlines() if "WARNING" in line or "Warning:" in line]
        assert warnings == [], warnings

        rerun = _playbook(base, "site", *args, "-e", "profile=budget")
        record_timing("artifact", "re-run", rerun.seconds)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
    finally:
        teardown = _playbook(base, "teardown", *args, "-e", "profile=budget", "-e", f"confirm={STACK}", "-e", "final_backup=false")
        record_timing("artifact", "teardown", teardown.seconds)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    _check_gone(aws, STACK)
    check_bootstrap_gone(aws, STACK)
    # the user's zone keeps only its own records (the emulator is reset before the next test)
    records = aws("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert {r["Type"] for r in records} == {"NS", "SOA"}, records
