"""The role's preflight refuses failed-login limits that would break a counter (0 or less), by name, before
anything is installed; the defaults and the client scenario's settings pass. Runs the role's own
preflight tasks through ansible-playbook on localhost (they only assert)."""

import pytest
from localplay import role_play, run_play


@pytest.fixture(scope="module")
def preflight(tmp_path_factory):
    play = tmp_path_factory.mktemp("preflight") / "play.yml"
    play.write_text(role_play("preflight"))
    return lambda **extra: run_play(play, extra, timeout=120)


# molecule/clients raises nginx's limit far above the service's, so its tests reach the service's back-off
CLIENTS = {"pypiserver_auth_failure_limit": 1000, "pypiserver_auth_backoff_after": 60, "pypiserver_auth_backoff_max_seconds": 4}


@pytest.mark.parametrize("extra", [{}, CLIENTS], ids=["defaults", "molecule-clients"])
def test_sensible_limits_pass(preflight, extra):
    result = preflight(**extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


@pytest.mark.parametrize("name", ["pypiserver_auth_failure_window_seconds", "pypiserver_auth_backoff_after"])
def test_a_zero_is_refused_by_name(preflight, name):
    result = preflight(**{name: 0})
    assert result.returncode == 2
    assert "Check the failed-login limits" in result.stdout and f"{name} (0)" in result.stdout
    assert "must each be at least 1" in result.stdout


PUBLISHER = {"issuer": "github", "projects": ["acme-tools"], "repository": "acme/tools", "workflow": "release.yml"}


def test_trusted_publishers_are_checked_by_name(preflight):
    assert preflight(pypiserver_oidc_publishers=[PUBLISHER]).returncode == 0
    result = preflight(pypiserver_oidc_publishers=[dict(PUBLISHER, repository="acme")])
    assert result.returncode == 2 and "pypiserver_oidc_publishers: trusted publisher 1: repository must be owner/name" in result.stdout
    result = preflight(pypiserver_oidc_publishers=[PUBLISHER], pypiserver_frontend_enabled=False)
    assert result.returncode == 2 and "pypiserver_oidc_publishers needs the nginx front end" in result.stdout


@pytest.mark.parametrize("scheme", ["sha512_crypt", "apr_md5_crypt", "plaintext"])
def test_only_bcrypt_hashes_new_passwords(preflight, scheme):
    """Issue 17: pypiserver_hash_scheme took any passlib scheme the htpasswd module knows."""
    result = preflight(pypiserver_hash_scheme=scheme)
    assert result.returncode == 2, result.stdout[-3000:]
    assert f"pypiserver_hash_scheme is {scheme}: only bcrypt is accepted" in result.stdout


def test_turning_the_front_end_off_says_what_it_gives_up(preflight):
    """Issue 17: pypiserver_frontend_enabled: false dropped the back-off, the verdict cache and TLS without a word."""
    result = preflight(pypiserver_frontend_enabled=False)
    assert result.returncode == 0, result.stdout[-3000:]
    printed = " ".join(result.stdout.split())  # the callback folds long lines
    assert "WARNING: pypiserver_frontend_enabled is false" in printed
    for given_up in ("online password guessing is unlimited", "every read runs a bcrypt", "user names can be told",
                     "Basic credentials cross the network in clear"):
        assert given_up in printed
    assert "WARNING: pypiserver_frontend_enabled" not in preflight().stdout


def test_an_uploader_without_project_patterns_is_refused_by_name(preflight):
    """Issue 17: empty patterns granted every project; now they grant none, and preflight says so."""
    users = [{"name": "ada", "password": "x", "role": "admin"}, {"name": "bob", "password": "x", "role": "uploader"},
             {"name": "cy", "password": "x", "role": "uploader", "projects": []},
             {"name": "dee", "password": "x", "role": "uploader", "projects": ["*"]}, {"name": "eve", "password": "x"}]
    result = preflight(pypiserver_users=users)
    assert result.returncode == 2, result.stdout[-3000:]
    printed = " ".join(result.stdout.split())
    # the rule the AWS side's preflight shares (plugins/filter/stack_checks.py, access_problems)
    for name in ("bob", "cy"):
        assert f"user {name} is an uploader without projects: empty patterns grant no project" in printed
    assert preflight(pypiserver_users=users[:1] + users[3:]).returncode == 0


@pytest.mark.parametrize("seconds", [0, -5])
def test_a_verdict_lifetime_below_a_second_is_refused(preflight, seconds):
    """Issue 17 (revocation): nginx keeps a verdict min(pypiserver_auth_cache_seconds, refresh interval) seconds,
    and its shared memory keeps one set with 0 (or less) for ever: a removed user would keep working wherever
    nothing flushes the verdicts. Refused by name before anything is installed."""
    result = preflight(pypiserver_auth_cache_seconds=seconds)
    assert result.returncode == 2
    assert "Check the verdict cache's lifetime" in result.stdout
    assert f"pypiserver_auth_cache_seconds ({seconds}) must be at least 1" in result.stdout
