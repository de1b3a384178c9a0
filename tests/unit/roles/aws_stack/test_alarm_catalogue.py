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


def published_series(config):
    """The custom metrics the agent publishes with this configuration, as (metric, dimension names, path):
    each measurement with the appended dimensions (disk adds path, fstype and, unless dropped, device),
    and again for each aggregation whose dimensions it has. Each is a metric CloudWatch bills."""
    metrics = config['metrics']
    appended = set(metrics.get('append_dimensions', {}))
    series = set()
    for section, spec in metrics['metrics_collected'].items():
        for measurement in spec['measurement']:
            name = measurement if measurement.startswith(section + '_') else f'{section}_{measurement}'
            own = {'path', 'fstype'} | (set() if spec.get('drop_device') else {'device'}) if section == 'disk' else set()
            for path in spec.get('resources', [None]):
                raw = frozenset(appended | own)
                series.add((name, raw, path))
                for aggregation in metrics.get('aggregation_dimensions', []):
                    if set(aggregation) <= raw:
                        series.add((name, frozenset(aggregation), path if 'path' in aggregation else None))
    return series


def test_the_agent_publishes_three_metrics_the_alarms_read_and_none_per_instance():
    # $0.30 a month each: memory and the root disk, per AutoScalingGroup; no swap (there is none), no
    # inode count, no disk percentage of EFS (about 8 EiB to df), no instance id (a replaced instance
    # would add a set of its own)
    series = published_series(agent_config())
    assert all('InstanceId' not in dims for _name, dims, _path in series)
    assert sorted((name, sorted(dims), path) for name, dims, path in series) == [
        ('disk_used_percent', ['AutoScalingGroupName', 'fstype', 'path'], '/'),
        ('disk_used_percent', ['AutoScalingGroupName', 'path'], '/'),
        ('mem_used_percent', ['AutoScalingGroupName'], None)]
    names = {'asg': 'AutoScalingGroupName', 'root': 'path'}
    for key, alarm in catalogue().items():
        if alarm['namespace'] == '{agent}':
            wanted = (alarm['metric'], frozenset(names[d] for d in alarm['dimensions']), '/' if 'root' in alarm['dimensions'] else None)
            assert wanted in series, key


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


def role_defaults():
    return yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())


def test_every_alarm_is_made_by_default_and_each_can_be_left_out():
    defaults = role_defaults()
    # the health check's alarm is not in the region's catalogue (it lives in us-east-1 with the check)
    assert sorted(defaults['aws_stack_alarms_enabled']) == sorted(defaults['aws_stack_alarm_defaults'])
    assert sorted(defaults['aws_stack_alarm_defaults']) == sorted([*catalogue(), 'health_check_failed'])


def test_the_budget_profile_names_a_few_known_alarms_and_no_dashboard():
    budget = yaml.safe_load((ROOT / 'playbooks' / 'group_vars' / 'budget.yml').read_text())['privatepypi_profile_settings']
    chosen = budget['aws_stack_alarms_enabled']
    assert chosen and set(chosen) < set(role_defaults()['aws_stack_alarm_defaults'])
    # what says the index is down or about to fail stays; the Route53 health check (and its checkers' rule) goes
    assert 'instances_in_service_low' in chosen and 'health_check_failed' not in chosen
    assert budget['aws_stack_dashboard_enabled'] is False
