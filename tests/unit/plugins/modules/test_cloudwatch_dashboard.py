# -*- coding: utf-8 -*-
# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.cloudwatch_dashboard against moto's in-process CloudWatch (real API calls)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import cloudwatch_dashboard  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import (  # noqa: E402
    AnsibleExitJson,
    patch_module_args,
    run_module,
)

REGION = 'eu-central-1'
NAME = 'pypi-unit'
BODY = {
    'widgets': [
        {'type': 'metric', 'width': 12, 'height': 6,
         'properties': {'title': 'CPU', 'region': REGION, 'stat': 'Average', 'period': 300,
                        'metrics': [['AWS/EC2', 'CPUUtilization', 'AutoScalingGroupName', 'pypi-unit-asg']]}},
        {'type': 'text', 'width': 12, 'height': 3, 'properties': {'markdown': '# pypi-unit'}},
    ],
}


@pytest.fixture(autouse=True)
def cloudwatch(aws):
    """A fresh in-process AWS for each test, and a boto3 client to look at it."""
    return aws('cloudwatch')


def run_ok(args, check_mode=False, diff=False):
    return run_module(cloudwatch_dashboard, dict({'name': NAME, 'region': REGION}, **args), check_mode, diff)


def run_fail(args, check_mode=False):
    return run_module(cloudwatch_dashboard, dict({'name': NAME, 'region': REGION}, **args), check_mode, fail=True)


def stored(client, name=NAME):
    """The stored body as data, or None when the dashboard does not exist."""
    entries = client.list_dashboards(DashboardNamePrefix=name)['DashboardEntries']
    if name not in [e['DashboardName'] for e in entries]:
        return None
    return json.loads(client.get_dashboard(DashboardName=name)['DashboardBody'])


def changed_body():
    body = json.loads(json.dumps(BODY))
    body['widgets'][0]['properties']['stat'] = 'Maximum'
    return body


# --- present ------------------------------------------------------------------------------

def test_create(cloudwatch):
    result = run_ok(dict(body=BODY))
    assert result['changed'] is True
    assert result['dashboard_name'] == NAME
    assert result['dashboard_arn'].endswith(':dashboard/' + NAME)
    assert result['body'] == BODY
    assert stored(cloudwatch) == BODY


def test_rerun_unchanged(cloudwatch):
    run_ok(dict(body=BODY))
    arn = cloudwatch.get_dashboard(DashboardName=NAME)['DashboardArn']
    result = run_ok(dict(body=BODY))
    assert result['changed'] is False
    assert result['dashboard_arn'] == arn
    assert result['body'] == BODY


def test_same_body_as_json_text_in_other_key_order_is_unchanged(cloudwatch):
    run_ok(dict(body=BODY))
    reordered = {'widgets': [dict(reversed(list(w.items()))) for w in BODY['widgets']]}
    text = json.dumps(reordered, indent=4)
    assert text != json.dumps(BODY)
    result = run_ok(dict(body=text))
    assert result['changed'] is False


def test_body_stored_by_someone_else_as_compact_text_is_unchanged(cloudwatch):
    cloudwatch.put_dashboard(DashboardName=NAME, DashboardBody=json.dumps(BODY, separators=(',', ':')))
    assert run_ok(dict(body=BODY))['changed'] is False


def test_change(cloudwatch):
    run_ok(dict(body=BODY))
    result = run_ok(dict(body=changed_body()))
    assert result['changed'] is True
    assert result['body'] == changed_body()
    assert stored(cloudwatch) == changed_body()
    assert run_ok(dict(body=changed_body()))['changed'] is False


# --- check mode and diff --------------------------------------------------------------------

def test_check_mode_create_does_not_write(cloudwatch):
    result = run_ok(dict(body=BODY), check_mode=True)
    assert result['changed'] is True
    assert result['dashboard_arn'] == ''
    assert stored(cloudwatch) is None


def test_check_mode_change_does_not_write(cloudwatch):
    run_ok(dict(body=BODY))
    result = run_ok(dict(body=changed_body()), check_mode=True)
    assert result['changed'] is True
    assert stored(cloudwatch) == BODY


def test_check_mode_absent_does_not_delete(cloudwatch):
    run_ok(dict(body=BODY))
    result = run_ok(dict(state='absent'), check_mode=True)
    assert result['changed'] is True
    assert stored(cloudwatch) == BODY


def test_diff_on_create(cloudwatch):
    result = run_ok(dict(body=BODY), diff=True)
    assert result['diff']['before'] == ''
    assert json.loads(result['diff']['after']) == BODY
    assert result['diff']['after'] == json.dumps(BODY, indent=2, sort_keys=True) + '\n'


def test_diff_shows_the_changed_value(cloudwatch):
    run_ok(dict(body=BODY))
    result = run_ok(dict(body=changed_body()), check_mode=True, diff=True)
    before, after = result['diff']['before'], result['diff']['after']
    assert json.loads(before) == BODY and json.loads(after) == changed_body()
    removed = set(before.splitlines()) - set(after.splitlines())
    added = set(after.splitlines()) - set(before.splitlines())
    assert [line.strip() for line in removed] == ['"stat": "Average",']
    assert [line.strip() for line in added] == ['"stat": "Maximum",']


def test_no_diff_without_diff_mode(cloudwatch):
    assert 'diff' not in run_ok(dict(body=BODY))


def test_diff_on_absent(cloudwatch):
    run_ok(dict(body=BODY))
    result = run_ok(dict(state='absent'), diff=True)
    assert json.loads(result['diff']['before']) == BODY
    assert result['diff']['after'] == ''


# --- absent -----------------------------------------------------------------------------------

def test_absent(cloudwatch):
    run_ok(dict(body=BODY))
    cloudwatch.put_dashboard(DashboardName=NAME + '-other', DashboardBody=json.dumps(BODY))
    result = run_ok(dict(state='absent'))
    assert result['changed'] is True
    assert result['dashboard_arn'] == '' and result['body'] == {}
    assert stored(cloudwatch) is None
    assert stored(cloudwatch, NAME + '-other') == BODY


def test_absent_again(cloudwatch):
    run_ok(dict(body=BODY))
    run_ok(dict(state='absent'))
    result = run_ok(dict(state='absent'))
    assert result['changed'] is False
    assert stored(cloudwatch) is None


def test_absent_never_existed(cloudwatch):
    assert run_ok(dict(state='absent'), check_mode=True)['changed'] is False
    assert run_ok(dict(state='absent'))['changed'] is False


# --- bad input ------------------------------------------------------------------------------

def test_present_needs_a_body(cloudwatch):
    result = run_fail(dict())
    assert 'body' in result['msg']
    assert stored(cloudwatch) is None


@pytest.mark.parametrize('body', ['{"widgets": [', '[]', '{"no": "widgets"}'])
def test_bad_body_is_refused_before_writing(cloudwatch, body):
    result = run_fail(dict(body=body))
    assert 'body' in result['msg']
    assert stored(cloudwatch) is None


def test_alias_dashboard_name(cloudwatch):
    with patch_module_args(dict(dashboard_name='aliased', region=REGION, body=BODY)):
        with pytest.raises(AnsibleExitJson) as exc:
            cloudwatch_dashboard.main()
    assert exc.value.result['changed'] is True
    assert stored(cloudwatch, 'aliased') == BODY
