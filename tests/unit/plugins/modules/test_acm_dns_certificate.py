# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.acm_dns_certificate against moto's in-process ACM (real API calls)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.plugins.modules import acm_dns_certificate  # noqa: E402
from ansible_collections.privatepypi.aws.tests.unit.plugins.modules.utils import FakeClock, run_module  # noqa: E402
from moto import settings as moto_settings  # noqa: E402

REGION = 'eu-central-1'
DOMAIN = 'pypi.example.com'
NAME = 'pp-unit-cert'


@pytest.fixture(autouse=True)
def acm(aws, monkeypatch):
    """A fresh in-process AWS for each test, a boto3 client to look at it; ACM issues at once."""
    monkeypatch.setattr(moto_settings, 'ACM_VALIDATION_WAIT', -1)
    return aws('acm')


def run(args=None, check_mode=False, diff=False, fail=False):
    args = dict({'name_tag': NAME, 'domain_name': DOMAIN, 'region': REGION, 'tags': {'Stack': 'pp-unit'}}, **(args or {}))
    return run_module(acm_dns_certificate, args, check_mode, diff, fail)


def certificates(client):
    return client.list_certificates()['CertificateSummaryList']


def test_request_then_reuse(acm):
    first = run()
    assert first['changed'] is True
    assert first['certificate_arn'].startswith('arn:aws:acm:' + REGION)
    assert first['validation_records'] and first['validation_records'][0]['type'] == 'CNAME'
    tags = {t['Key']: t['Value'] for t in acm.list_tags_for_certificate(CertificateArn=first['certificate_arn'])['Tags']}
    assert tags == {'Name': NAME, 'Stack': 'pp-unit'}
    detail = acm.describe_certificate(CertificateArn=first['certificate_arn'])['Certificate']
    assert detail['DomainName'] == DOMAIN and detail['Type'] == 'AMAZON_ISSUED'
    second = run()
    assert second['changed'] is False and second['certificate_arn'] == first['certificate_arn']
    assert second['validation_records'] == first['validation_records']
    assert len(certificates(acm)) == 1


def test_another_name_tag_gets_its_own_certificate(acm):
    first = run()
    other = run({'name_tag': 'other-cert'})
    assert other['changed'] is True and other['certificate_arn'] != first['certificate_arn']
    assert len(certificates(acm)) == 2


def test_check_mode_requests_nothing_and_shows_the_diff(acm):
    result = run(check_mode=True, diff=True)
    assert result['changed'] is True and result['certificate_arn'] == '' and result['validation_records'] == []
    after = {'certificate_arn': '', 'domain_name': DOMAIN, 'status': 'PENDING_VALIDATION'}
    assert result['diff'] == {'before': {}, 'after': after}
    assert certificates(acm) == []


def test_wait_until_issued(acm):
    result = run({'wait_issued': True})
    assert result['status'] == 'ISSUED'


def test_wait_gives_up_after_the_timeout(acm, monkeypatch):
    monkeypatch.setattr(moto_settings, 'ACM_VALIDATION_WAIT', 3600)
    clock = FakeClock()
    monkeypatch.setattr(acm_dns_certificate, 'time', clock)
    result = run({'wait_issued': True, 'wait_timeout': 60}, fail=True)
    assert 'is PENDING_VALIDATION: not issued' in result['msg'] and result['certificate_arn']
    assert sum(clock.sleeps) >= 60


def test_delete_and_delete_again(acm):
    arn = run()['certificate_arn']
    check = run({'state': 'absent'}, check_mode=True, diff=True)
    assert check['changed'] is True and check['diff']['before']['certificate_arn'] == arn and check['diff']['after'] == {}
    assert len(certificates(acm)) == 1
    assert run({'state': 'absent'})['changed'] is True
    assert certificates(acm) == []
    assert run({'state': 'absent', 'domain_name': None})['changed'] is False


def test_present_needs_a_domain_name():
    result = run({'domain_name': None}, fail=True)
    assert 'domain_name' in result['msg']


def force_status(arn, status):
    """Puts moto's certificate into a status ACM reaches on its own (validation failed or timed out)."""
    from moto.acm.models import acm_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    acm_backends[DEFAULT_ACCOUNT_ID][REGION]._certificates[arn].status = status


@pytest.mark.parametrize('status', ['FAILED', 'VALIDATION_TIMED_OUT', 'EXPIRED', 'INACTIVE'])
def test_a_failed_or_timed_out_certificate_is_not_reused(acm, status):
    dead = run()['certificate_arn']
    force_status(dead, status)
    fresh = run()
    assert fresh['changed'] is True and fresh['certificate_arn'] != dead
    assert fresh['status'] in ('PENDING_VALIDATION', 'ISSUED')
    again = run()
    assert again['changed'] is False and again['certificate_arn'] == fresh['certificate_arn']


def test_a_pending_certificate_is_reused(acm, monkeypatch):
    monkeypatch.setattr(moto_settings, 'ACM_VALIDATION_WAIT', 3600)
    first = run()
    assert first['status'] == 'PENDING_VALIDATION'
    second = run()
    assert second['changed'] is False and second['certificate_arn'] == first['certificate_arn']


def test_absent_deletes_a_failed_certificate_too(acm):
    arn = run()['certificate_arn']
    force_status(arn, 'FAILED')
    assert run({'state': 'absent'})['changed'] is True
    assert certificates(acm) == []
