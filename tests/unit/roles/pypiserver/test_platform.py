"""The role runs on Debian 12 and 13 hosts only: its first task (tasks/platform.yml) stops on any other
distribution or release with a clear message, before anything changes, also in check mode. Runs the
role's platform tasks through ansible-playbook on localhost, with the host's facts stood in for by
cacheable facts (what the role's gather step finds already there)."""

import pytest
from localplay import run_play

PLAY = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.set_fact:
        distribution: "{{ host[0] }}"
        distribution_major_version: "{{ host[1] }}"
        distribution_version: "{{ host[2] }}"
        cacheable: true
      when: host is defined
    - ansible.builtin.include_role:
        name: privatepypi.aws.pypiserver
        tasks_from: platform
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    play = tmp_path_factory.mktemp("platform") / "play.yml"
    play.write_text(PLAY)
    return lambda **extra: run_play(play, extra, timeout=120)


@pytest.mark.parametrize("host", [["Debian", "12", "12.11"], ["Debian", "13", "13.2"]], ids=["bookworm", "trixie"])
def test_debian_12_and_13_pass(platform, host):
    result = platform(host=host)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_this_machine_passes_with_the_facts_the_role_gathers(platform):
    # the test machines are Debian 12: the role gathers the distribution itself (no gather_facts)
    result = platform()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Gather the host's distribution" in result.stdout


@pytest.mark.parametrize("host", [["Ubuntu", "24", "24.04"], ["Debian", "11", "11.11"], ["Debian", "14", "n/a"]],
                         ids=["ubuntu", "bullseye", "forky"])
def test_another_host_is_refused_clearly(platform, host):
    result = platform(host=host)
    assert result.returncode == 2
    assert "supports Debian 12 (bookworm) and Debian 13 (trixie) hosts only" in result.stdout
    assert f"this host is {host[0]} {host[2]}" in result.stdout and "Nothing was changed" in result.stdout
