"""The launch template's user data, rendered by the role exactly as on AWS, fits EC2's limit.

Runs the role's user_data tasks through ansible-playbook on localhost with every feature
that adds to the user data switched on (both agents, htpasswd from SSM, Elastic IP claim,
EFS), then checks the gzip size against EC2's 16 KB and that every host program is
written byte for byte as the role's file (the same bytes the SSH path copies).
"""

import gzip
import json
import os
import subprocess
import sys

import pytest
import yaml

ROLE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver"))
EC2_USER_DATA_LIMIT = 16 * 1024

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: privatepypi.aws.pypiserver
        tasks_from: user_data
    - ansible.builtin.copy:
        content: "{{ pypiserver_user_data }}"
        dest: "{{ out }}"
        mode: "0600"
"""

AWS_VARS = {
    "pypiserver_htpasswd_source": "ssm",
    "pypiserver_htpasswd_ssm_parameter": "/privatepypi/prod/htpasswd",
    "pypiserver_aws_region": "eu-west-1",
    "pypiserver_eip_allocation_id": "eipalloc-0123456789abcdef0",
    "pypiserver_efs_enabled": True,
    "pypiserver_efs_filesystem_id": "fs-0123456789abcdef0",
    "pypiserver_cloudwatch_agent_enabled": True,
    "pypiserver_ssm_agent_enabled": True,
}


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    import conftest as unit_conftest  # noqa: F401 - tests/unit/conftest.py put the collection on sys.path

    collections = next(p for p in sys.path if os.path.isdir(os.path.join(p, "ansible_collections", "privatepypi", "aws")))
    work = tmp_path_factory.mktemp("user-data")
    (work / "play.yml").write_text(PLAYBOOK)
    out = work / "user-data.yml"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(work / "play.yml"),
         "-e", json.dumps(dict(AWS_VARS, out=str(out)))],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out.read_bytes()


def test_gzip_size_under_ec2_limit(user_data):
    size = len(gzip.compress(user_data, 9))
    print(f"user data: {len(user_data)} bytes, {size} bytes gzip")
    assert size < EC2_USER_DATA_LIMIT


def test_host_programs_are_written_byte_for_byte(user_data):
    assert user_data.startswith(b"#cloud-config\n")
    files = {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}
    programs = os.path.join(ROLE, "files", "privatepypi_host")
    for name in sorted(os.listdir(programs)):
        if name.endswith(".py"):
            with open(os.path.join(programs, name), encoding="utf-8") as f:
                assert files[f"/opt/pypiserver/privatepypi_host/{name}"] == f.read(), name
    assert "Type=notify" in files["/etc/systemd/system/pypiserver-index.service"]
    assert "libnginx-mod-http-lua" in yaml.safe_load(user_data)["packages"]
