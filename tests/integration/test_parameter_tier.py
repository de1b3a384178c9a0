"""The users parameter against SSM's size limits per tier (the emulator enforces them as AWS does:
Standard 4,096 characters, Advanced 8,192). An htpasswd line is name + ':' + 60-character bcrypt
hash + newline."""
import json

import pytest

from .helpers import record_timing

STACK = "pp-tier-it"
PROFILE = "users"


def _users(count, name_length):
    return [{"name": f"u{n:03d}".ljust(name_length, "x"), "password": f"emulator-tier-pw-{n:03d}-9c1d"}
            for n in range(count)]


def _users_file(tmp_path, name, users):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"pypi_users": users}))
    return f"@{path}"


def test_a_parameter_over_4096_characters_is_stored_as_advanced(reset_emulator, aws, playbook, tmp_path):
    # 45 users with 40-character names: 45 * (40 + 1 + 60 + 1) = 4,590 characters, over Standard's
    # 4,096 and within Advanced's 8,192 (kept to 45 users so that bcrypt stays quick)
    users = _users(45, 40)
    run = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "--tags", "credentials",
                   "-e", _users_file(tmp_path, "many", users))
    record_timing(PROFILE, "credentials 45 users", run.seconds)
    assert run.rc == 0 and run.failed == 0, run.out[-2500:]
    ssm = aws("ssm")
    value = ssm.get_parameter(Name=f"/{STACK}/htpasswd", WithDecryption=True)["Parameter"]["Value"]
    # each user's htpasswd line, then its role line: "#role " + name + " reader" + newline
    assert len(value) == 45 * 102 + 45 * (6 + 40 + 8)
    assert value.splitlines()[45:] == [f"#role {u['name']} reader" for u in users]
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"/{STACK}/htpasswd"]}])["Parameters"]
    assert [p["Tier"] for p in described] == ["Advanced"]
    again = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={STACK}", "--tags", "credentials",
                     "-e", _users_file(tmp_path, "many", users))
    assert again.rc == 0 and again.changed == 0, again


@pytest.mark.parametrize("count", [100])
def test_users_that_cannot_fit_8192_characters_are_refused_before_any_aws_call(
        count, reset_emulator, aws, playbook, tmp_path):
    # 100 users with 40-character names need 100 * 102 = 10,200 characters: more than even the
    # Advanced tier holds, so preflight refuses them before the first AWS call
    run = playbook("site.yml", "-e", "profile=budget", "-e", f"aws_stack_name={STACK}",
                   "-e", _users_file(tmp_path, "too-many", _users(count, 40)))
    assert run.rc != 0 and run.failed == 1, run
    assert "need 10200 characters in the users parameter, more than the 8192 that SSM's Advanced tier holds" \
        in " ".join(run.out.split()), run
    assert "Check who the AWS credentials belong to" not in run.out
    assert aws("ssm").describe_parameters()["Parameters"] == []
