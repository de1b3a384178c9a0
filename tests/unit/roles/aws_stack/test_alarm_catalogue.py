# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The aws_stack alarm catalogue (vars/main.yml) against what can actually produce data: every alarm on
a CloudWatch agent metric must watch a metric the agent configuration of the pypiserver role collects,
and none may watch a metric that cannot move (issue 10, item 11)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / 'roles' / 'aws_stack'
PACKAGES_DIR = '/var/pypi'  # the EFS mount (roles/aws_stack/vars/main.yml: _aws_stack_packages_dir)


def catalogue():
    return yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text())['_aws_stack_alarm_catalogue']


def agent_config():
    """The pypiserver role's CloudWatch agent configuration, rendered as the role renders it."""
    # JSON, not HTML: rendered without escaping, as Ansible renders templates
    env = jinja2.Environment()  # noqa: S701
    env.filters['to_json'] = json.dumps
    template = env.from_string((ROOT / 'roles' / 'pypiserver' / 'templates' / 'amazon-cloudwatch-agent.json.j2').read_text())
    return json.loads(template.render(pypiserver_cloudwatch_namespace='CWAgent', pypiserver_packages_dir=PACKAGES_DIR,
                                      pypiserver_cloudwatch_log_group='/stack/pypiserver',
                                      pypiserver_audit_log='/var/log/privatepypi/audit.log'))


def agent_metrics(config):
    """metric name -> the disk paths it is collected for (None: not per path)."""
    collected = {}
    for section, spec in config['metrics']['metrics_collected'].items():
        for measurement in spec.get('measurement', []):
            name = measurement if measurement.startswith(section + '_') else f'{section}_{measurement}'
            collected[name] = spec.get('resources')
    return collected


def test_every_agent_alarm_watches_a_metric_the_agent_collects():
    collected = agent_metrics(agent_config())
    dimensions = {'root': '/', 'packages': PACKAGES_DIR}
    agent_alarms = {k: v for k, v in catalogue().items() if v['namespace'] == '{agent}'}
    assert agent_alarms
    for name, alarm in agent_alarms.items():
        assert alarm['metric'] in collected, name
        paths = [dimensions[d] for d in alarm['dimensions'] if d in dimensions]
        for path in paths:
            assert path in (collected[alarm['metric']] or []), name


def test_memory_has_an_alarm_and_swap_none():
    # the Debian 12 AMI has no swap: swap_used_percent stays 0 (or absent) whatever memory does
    alarms = catalogue()
    assert [k for k, v in alarms.items() if v['metric'] == 'mem_used_percent'] == ['memory_high']
    assert alarms['memory_high']['namespace'] == '{agent}' and alarms['memory_high']['dimensions'] == ['asg']
    assert not [k for k, v in alarms.items() if v['metric'].startswith('swap')]


def test_the_package_store_is_watched_through_efs_metrics_only():
    # EFS reports a size of about 8 EiB to df, so disk_used_percent of the NFS mount stays near 0
    alarms = catalogue()
    assert not [k for k, v in alarms.items() if 'packages' in v['dimensions']]
    assert {v['metric'] for v in alarms.values() if v['namespace'] == 'AWS/EFS'} >= {'StorageBytes', 'BurstCreditBalance'}


def test_every_alarm_has_default_settings():
    defaults = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())['aws_stack_alarm_defaults']
    specs = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())
    spec_defaults = specs['argument_specs']['main']['options']['aws_stack_alarm_defaults']['default']
    # health_check_failed lives with the health check in us-east-1 (monitoring/health_check.yml)
    assert sorted(defaults) == sorted(list(catalogue()) + ['health_check_failed'])
    assert spec_defaults == defaults


def test_the_audit_log_is_shipped():
    files = agent_config()['logs']['logs_collected']['files']['collect_list']
    assert {'file_path': '/var/log/privatepypi/audit.log', 'log_group_name': '/stack/pypiserver',
            'log_stream_name': '{instance_id}/audit'} in files
