"""Bad inputs stop in preflight, with a message that says what to fix, before anything exists.

The rules themselves are unit tested, case by case, where they live (tests/unit/plugins/filter:
test_stack_checks.py, test_contract.py); here one playbook run per kind of check (profile, a
filter's problem, an assert's, the contract with the pypiserver role, credentials, passwords)
shows that it stops the run with its message and that nothing was created.
"""
import json

import pytest

STACK = "pp-bad-input"

CASES = {
    "unknown profile": (["-e", "profile=enterprise"], {}, "Choose a profile with -e profile=NAME"),
    "no profile": ([], {}, "Choose a profile with -e profile=NAME"),
    "malformed CIDR": (["-e", json.dumps({"aws_stack_index_cidrs": ["10.0.0.300/24"]})], {},
                       "10.0.0.300/24 is not an IPv4 CIDR"),
    "malformed e-mail": (["-e", "aws_stack_contact_email=ops@@example"], {}, "aws_stack_contact_email 'ops@@example'"),
    "malformed domain": (["-e", "aws_stack_domain=-bad-.example"], {}, "aws_stack_domain '-bad-.example'"),
    "missing credentials": ([], {"credentials": False}, "No AWS credentials found"),
    "example password": (["-e", "@vault.example.yml"], {}, "has the publicly documented example password"),
    "short password": (["-e", json.dumps({"pypi_users": [{"name": "alice", "password": "short-pw"}]})], {},
                       "user alice has an empty or short password"),
    "plain HTTP to the internet": (["-e", "aws_stack_plaintext_acknowledged=false"], {},
                                   "index_cidrs 203.0.113.0/24, 198.51.100.0/25 reach beyond private networks"),
    # the contract with the pypiserver role, checked by its rules before the first AWS call
    "health path without a slash": (["-e", "aws_stack_health_check_path=health"], {},
                                    "aws_stack_health_check_path 'health' must be a path such as /health"),
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
