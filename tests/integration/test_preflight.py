"""Bad inputs stop in preflight, with a message that says what to fix, before anything exists."""
import json

import pytest

STACK = "pp-bad-input"

CASES = {
    "unknown profile": (["-e", "profile=enterprise"], {}, "Choose a profile with -e profile=NAME"),
    "no profile": ([], {}, "Choose a profile with -e profile=NAME"),
    "malformed CIDR": (["-e", json.dumps({"aws_stack_index_cidrs": ["10.0.0.300/24"]})], {},
                       "10.0.0.300/24 is not an IPv4 CIDR"),
    "CIDR with host bits": (["-e", json.dumps({"aws_stack_ssh_cidrs": ["192.0.2.1/24"]})], {}, "has host bits set"),
    "malformed e-mail": (["-e", "aws_stack_contact_email=ops@@example"], {}, "aws_stack_contact_email 'ops@@example'"),
    "malformed domain": (["-e", "aws_stack_domain=-bad-.example"], {}, "aws_stack_domain '-bad-.example'"),
    "bad alert e-mail": (["-e", json.dumps({"aws_stack_alert_emails": ["ops@example.com", "on-call@@example"]})], {},
                         "alert e-mail 'on-call@@example' is not an address like ops@example.com"),
    "missing credentials": ([], {"credentials": False}, "No AWS credentials found"),
    "example password": (["-e", "@vault.example.yml"], {}, "has the publicly documented example password"),
    "short password": (["-e", json.dumps({"pypi_users": [{"name": "alice", "password": "short-pw"}]})], {},
                       "user alice has an empty or short password"),
    "empty password": (["-e", json.dumps({"pypi_users": [{"name": "alice", "password": ""}]})], {},
                       "user alice has an empty or short password"),
    "plain HTTP to the internet": (["-e", "aws_stack_plaintext_acknowledged=false"], {},
                                   "index_cidrs 203.0.113.0/24, 198.51.100.0/25 reach beyond private networks"),
    # the contract with the pypiserver role, checked by its rules before the first AWS call
    "health path without a slash": (["-e", "aws_stack_health_check_path=health"], {},
                                    "aws_stack_health_check_path 'health' must be a path such as /health"),
    "refresh interval in words": (["-e", "aws_stack_htpasswd_refresh_interval='2 minutes'"], {},
                                  "aws_stack_htpasswd_refresh_interval '2 minutes' must be a positive number"),
    "one professional instance": (["-e", "profile=professional", "-e", "aws_stack_instance_count=1"], {},
                                  "aws_stack_instance_count is 1 but this profile allows 2 to"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_anything_exists(case, reset_emulator, aws, playbook):
    args, options, message = CASES[case]
    if not any(a.startswith("profile=") for a in args) and case != "no profile":
        args = ["-e", "profile=budget", *args]
    run = playbook("site.yml", "-e", f"aws_stack_name={STACK}", *args, credentials=options.get("credentials", True))
    assert run.rc != 0 and run.failed == 1, run
    assert message in run.out, run
    for password in ("emulator-only-alice-4f7c1e", "short-pw", "Pass123-change-me!"):
        assert password not in run.out
    # nothing was created
    assert aws("resourcegroupstaggingapi").get_resources()["ResourceTagMappingList"] == []
    assert [v["IsDefault"] for v in aws("ec2").describe_vpcs()["Vpcs"]] == [True]
    assert aws("ssm").describe_parameters()["Parameters"] == []
    assert aws("iam").list_roles()["Roles"] == []
    assert aws("efs").describe_file_systems()["FileSystems"] == []
    assert aws("ec2").describe_addresses()["Addresses"] == []
