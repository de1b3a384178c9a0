# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The alarms on the instances' audit log, end to end on paper: the host programs write the records
(their event names), the pypiserver role's CloudWatch agent ships the audit log into the stack's log
group, the instance role may write that stream, monitoring/log_metrics.yml's metric filters match
the records the programs really write, and the catalogue's alarms watch the filters' metrics.

The emulator stores metric filters without reading their patterns (tests/integration/test_stacks.py
asserts what it stores), so the pattern is checked here against real records."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import re
import sys
from pathlib import Path

import jinja2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / 'roles' / 'pypiserver' / 'files'))
import policies  # noqa: E402
from privatepypi_host import access  # noqa: E402
from test_alarm_catalogue import agent_config, catalogue  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / 'roles' / 'aws_stack'
PROGRAMS = ROOT / 'roles' / 'pypiserver' / 'files' / 'privatepypi_host'
AUDIT_LOG = '/var/log/privatepypi/audit.log'


def audit_entries():
    return {key: alarm for key, alarm in catalogue().items() if 'event' in alarm}


def written_events():
    """Event names the host programs pass to access.audit (or to their own audit helpers)."""
    events = set()
    for path in PROGRAMS.glob('*.py'):
        text = path.read_text()
        events |= set(re.findall(r'\baudit\([^,()]+,\s*"([a-z_]+)"', text))
    return events


def filter_patterns():
    """{catalogue key: the filter pattern log_metrics.yml puts on the log group}."""
    tasks = yaml.safe_load((ROLE / 'tasks' / 'monitoring' / 'log_metrics.yml').read_text())
    [task] = [t for t in tasks if 'amazon.aws.cloudwatchlogs_log_group_metric_filter' in t]
    args = task['amazon.aws.cloudwatchlogs_log_group_metric_filter']
    env = jinja2.Environment()  # noqa: S701 - a filter pattern, not HTML
    found = {}
    for key, alarm in audit_entries().items():
        item = {'key': key, 'value': alarm}
        found[key] = env.from_string(args['filter_pattern']).render(item=item)
        assert env.from_string(args['metric_transformation']['metric_name']).render(item=item) == alarm['metric']
        assert args['metric_transformation']['metric_namespace'] == '{{ _aws_stack_log_metric_namespace }}'
        assert args['metric_transformation']['metric_value'] == '1'
    return found


def matches(pattern, line):
    """CloudWatch Logs' JSON filter pattern of the one form the role uses, { $.field = "value" }, applied
    to one log event as CloudWatch Logs does (a field that is missing or not a string never matches)."""
    parsed = re.fullmatch(r'\{ \$\.([A-Za-z_][A-Za-z0-9_]*) = "([^"*]+)" \}', pattern)
    assert parsed, f'not a JSON equality pattern: {pattern}'
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get(parsed.group(1)) == parsed.group(2)


def test_the_two_alarms_of_issue_9_watch_the_audit_log():
    entries = audit_entries()
    assert {a['event'] for a in entries.values()} == {'login_failures', 'credentials_refused'}
    for key, alarm in entries.items():
        assert alarm['namespace'] == '{logs}' and alarm['dimensions'] == [] and alarm['needs'] == 'stack', key
        assert alarm['statistic'] == 'Sum' and alarm['missing'] == 'notBreaching', key
    assert not [key for key, alarm in entries.items() if 'fixed_threshold' in alarm]  # settings, checked by preflight


def test_every_watched_event_is_one_the_host_programs_write():
    written = written_events()
    assert {'upload', 'login_failures', 'credentials_refused'} <= written
    assert {a['event'] for a in audit_entries().values()} <= written


def test_the_filter_patterns_match_the_records_the_programs_write(tmp_path):
    log = tmp_path / 'audit.log'
    access.audit(str(log), 'login_failures', who='alice', client='203.0.113.9', backoff='address')
    access.audit(str(log), 'credentials_refused', source='/stack/htpasswd', reason='line 2: not a hash')
    access.audit(str(log), 'upload', who='alice', file='demo-1.0.tar.gz', status='200 OK')
    # a client cannot smuggle an event in through a field it controls
    access.audit(str(log), 'login_failures', who='"event": "credentials_refused"', client='203.0.113.9', backoff='user')
    lines = log.read_text().splitlines()
    patterns = filter_patterns()
    counted = {key: [json.loads(line)['event'] for line in lines if matches(pattern, line)]
               for key, pattern in patterns.items()}
    assert counted == {'login_failure_bursts': ['login_failures', 'login_failures'],
                       'credentials_refused': ['credentials_refused']}
    assert not matches(patterns['credentials_refused'], 'privatepypi credentials refused: not JSON')


def test_the_agent_ships_the_audit_log_into_the_stacks_log_group():
    files = agent_config()['logs']['logs_collected']['files']['collect_list']
    audit = [f for f in files if f['file_path'] == AUDIT_LOG]
    assert audit == [{'file_path': AUDIT_LOG, 'log_group_name': '/stack/pypiserver', 'log_stream_name': '{instance_id}/audit'}]


def test_the_instance_role_may_write_the_audit_stream():
    rendered = {key: policies.plain(document) for key, document in policies.rendered_policies().items()}
    document = rendered[[k for k in rendered if k[0] == 'iam/create.yml' and k[2] == 'policy_json' and k[3] == 'budget'][0]]
    variables = policies._role_variables()  # noqa: SLF001 - the role's own defaults name the stack
    group = f"/{variables['aws_stack_name']}/pypiserver"
    stream = f"arn:aws:logs:{variables['aws_stack_region']}:123456789012:log-group:{group}:log-stream:i-0123456789abcdef0/audit"
    statements = [s for s in document['Statement'] if s['Effect'] == 'Allow']
    for action in ('logs:CreateLogStream', 'logs:PutLogEvents'):
        assert any(action in s['Action'] and any(fnmatch.fnmatchcase(stream, r) for r in s['Resource']) for s in statements
                   if isinstance(s['Action'], list) and isinstance(s['Resource'], list)), action
    # and no other log group's
    other = stream.replace(group, '/another-stack/pypiserver')
    assert not any(any(fnmatch.fnmatchcase(other, r) for r in ([s['Resource']] if isinstance(s['Resource'], str) else s['Resource']))
                   for s in statements if 'logs:PutLogEvents' in s['Action'])
