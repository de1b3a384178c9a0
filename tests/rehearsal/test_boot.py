"""Boot rehearsal: the launch template's user data boots real systemd containers.

site.yml provisions the budget stack against the emulator; the user data read
back from the emulator boots an instance container through cloud-init; twine and
pip go through it; a replacement instance launched from the same template, on
the same EFS stand-in, serves the same packages and takes the Elastic IP over.
"""

import importlib.util
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("rehearse", ROOT / "scripts" / "rehearse.py")
rehearse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rehearse)


@pytest.fixture(scope="module")
def stack():
    rehearse.down("budget")
    try:
        yield rehearse.up("budget")
    finally:
        rehearse.down("budget")


def test_user_data_has_no_secret(stack):
    user_data, _ = rehearse.launch_template_user_data()
    text = user_data.decode()
    assert text.startswith("#cloud-config")
    password = rehearse.users()[0]["password"]
    assert password not in text
    assert not re.search(r"\$2[aby]\$", text)
    assert "pypiserver-bootstrap" in text


def test_first_instance_serves_and_holds_the_elastic_ip(stack):
    print("\nboot to healthy: {:.0f} s, site.yml: {:.0f} s".format(stack["boot_seconds"], stack["provision_seconds"]))
    assert stack["boot_seconds"] < 300
    rehearse.install(8080, "1.0.0")
    addresses = rehearse.aws("ec2").describe_addresses()["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [stack["instance_id"]]


def test_anonymous_requests_are_refused(stack):
    for path in ("/simple/", "/packages/privatepypi_demo-1.0.0-py3-none-any.whl"):
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8080" + path],
                              capture_output=True, text=True).stdout
        assert code == "401", path


def test_replacement_serves_the_same_packages(stack):
    replacement = rehearse.replace()
    print("\nreplacement boot to healthy: {:.0f} s".format(replacement["boot_seconds"]))
    rehearse.install(8081, "1.0.0")
    addresses = rehearse.aws("ec2").describe_addresses()["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [replacement["instance_id"]]


def test_upload_through_one_instance_is_listed_by_the_other_within_5s(stack):
    # Runs after the replacement test: both instances serve the same EFS stand-in.
    rehearse.upload(8081, "1.1.0")
    seconds = rehearse.wait_listed(8080, "1.1.0", seconds=5.0)
    print("\nlisted by the other instance after {:.1f} s".format(seconds))
    rehearse.install(8080, "1.1.0")
