#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: acm_dns_certificate
short_description: Request or delete a public, DNS-validated ACM certificate
version_added: 0.2.0
description:
  - Requests a public AWS Certificate Manager certificate for one domain name, validated through
    DNS, and returns the CNAME record that proves the domain is yours; or deletes it.
  - The certificate is found again by its C(Name) tag (O(name_tag)) and its domain name, so a
    second run reuses it and reports no change.
  - Only a certificate that is V(PENDING_VALIDATION) or V(ISSUED) is reused; one whose validation
    failed or timed out, or that expired or is inactive, is left alone and a new one is requested.
    O(state=absent) deletes every certificate with the tag, whatever its status.
  - C(community.aws.acm_certificate) only imports certificates; this module requests them.
  - With O(wait_issued=true) the module waits until ACM has issued the certificate, which it does
    once the validation record is published in the domain's authoritative DNS.
options:
  name_tag:
    description:
      - Value of the certificate's C(Name) tag, which identifies it on later runs.
    type: str
    required: true
  domain_name:
    description:
      - The fully qualified domain name the certificate is for.
      - Required when O(state=present); with O(state=absent) it narrows the search.
    type: str
  tags:
    description:
      - Further tags of a certificate this module requests (C(Name) is O(name_tag)).
      - Tags of an existing certificate are not changed.
    type: dict
    default: {}
  state:
    description:
      - V(present) requests the certificate unless one with this O(name_tag) and O(domain_name) exists.
      - V(absent) deletes the certificate with this O(name_tag); none is not an error.
    type: str
    choices: [present, absent]
    default: present
  wait_issued:
    description:
      - Wait until the certificate is issued, and fail when it is not within O(wait_timeout).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the validation record to appear, and with O(wait_issued=true) for the certificate to be issued.
    type: int
    default: 900
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
    details: Reports whether a certificate would be requested or deleted, without doing it; a
      certificate that would be requested has no ARN and no validation record yet.
  diff_mode:
    support: full
    details: The diff shows the certificate (ARN, domain name, status) before and after.
'''

EXAMPLES = r'''
- name: Request a certificate for the index
  privatepypi.aws.acm_dns_certificate:
    name_tag: pypi-prod-cert
    domain_name: pypi.example.com
    tags:
      Stack: pypi-prod
  register: certificate

- name: Publish the validation record
  amazon.aws.route53:
    zone: example.com
    record: "{{ item.name }}"
    type: "{{ item.type }}"
    value: "{{ item.value }}"
    ttl: 300
    overwrite: true
  loop: "{{ certificate.validation_records }}"

- name: Wait until ACM has issued it
  privatepypi.aws.acm_dns_certificate:
    name_tag: pypi-prod-cert
    domain_name: pypi.example.com
    wait_issued: true

- name: Delete it
  privatepypi.aws.acm_dns_certificate:
    name_tag: pypi-prod-cert
    state: absent
'''

RETURN = r'''
certificate_arn:
  description: ARN of the certificate; empty when there is none (deleted, or only to be requested in check mode).
  returned: always
  type: str
  sample: arn:aws:acm:eu-central-1:123456789012:certificate/0d4c3a1e-9b1f-4c4e-8f0e-8a7e2d3b5c6d
status:
  description: ACM's status of the certificate (V(PENDING_VALIDATION), V(ISSUED), ...); empty when there is none.
  returned: always
  type: str
  sample: ISSUED
validation_records:
  description: The DNS records that validate the certificate.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Record name.
      type: str
      sample: _3b2c.pypi.example.com.
    type:
      description: Record type.
      type: str
      sample: CNAME
    value:
      description: Record value.
      type: str
      sample: _9f1e.acm-validations.aws.
'''

import hashlib
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

STATUSES = ['PENDING_VALIDATION', 'ISSUED', 'INACTIVE', 'EXPIRED', 'VALIDATION_TIMED_OUT', 'FAILED']
# Only these can still become or be a usable certificate: one whose validation FAILED or
# TIMED_OUT (72 hours without the DNS record), EXPIRED or INACTIVE stays so forever, and
# reusing it would keep a stack without a certificate on every run. A new one is requested.
LIVE_STATUSES = ['PENDING_VALIDATION', 'ISSUED']
POLL_SECONDS = 5


def find_certificates(client, domain_name, name_tag, statuses):
    """ARNs of the certificates for domain_name (any, when None) tagged Name=name_tag in one of statuses."""
    paginator = client.get_paginator('list_certificates')
    summaries = paginator.paginate(CertificateStatuses=statuses).build_full_result().get('CertificateSummaryList', [])
    found = []
    for summary in summaries:
        if domain_name and summary.get('DomainName') != domain_name:
            continue
        tags = client.list_tags_for_certificate(aws_retry=True, CertificateArn=summary['CertificateArn']).get('Tags', [])
        if {'Key': 'Name', 'Value': name_tag} in tags:
            found.append(summary['CertificateArn'])
    return found


def records_of(certificate):
    records = [option.get('ResourceRecord') for option in certificate.get('DomainValidationOptions', [])]
    if not records or not all(records):
        return None
    return [{'name': r['Name'], 'type': r['Type'], 'value': r['Value']} for r in records]


def wait_for(module, client, arn, ready, what):
    """Describe the certificate until ready(certificate) is true; fail after wait_timeout seconds."""
    deadline = time.monotonic() + module.params['wait_timeout']
    while True:
        certificate = client.describe_certificate(aws_retry=True, CertificateArn=arn)['Certificate']
        if ready(certificate):
            return certificate
        if time.monotonic() >= deadline:
            module.fail_json(msg=f"Certificate {arn} is {certificate.get('Status')}: {what} within "
                                 f"{module.params['wait_timeout']} s", certificate_arn=arn,
                             status=certificate.get('Status', ''), validation_records=records_of(certificate) or [])
        time.sleep(POLL_SECONDS)


def request(module, client, dead=()):
    params = module.params
    tags = dict(params['tags'] or {}, Name=params['name_tag'])
    # the same token for the same name, domain and dead certificates: a retried request returns the
    # same certificate; after a certificate failed, a new token (ACM keeps a token for an hour and
    # would hand the failed certificate back)
    seed = '/'.join([params['name_tag'], params['domain_name']] + sorted(dead))
    token = hashlib.sha256(seed.encode()).hexdigest()[:32]
    return client.request_certificate(
        aws_retry=True,
        DomainName=params['domain_name'],
        ValidationMethod='DNS',
        IdempotencyToken=token,
        Options={'CertificateTransparencyLoggingPreference': 'ENABLED'},
        Tags=[{'Key': k, 'Value': str(v)} for k, v in sorted(tags.items())],
    )['CertificateArn']


def view(arn, domain_name, status):
    return {'certificate_arn': arn or '', 'domain_name': domain_name or '', 'status': status or ''} if arn or status else {}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name_tag=dict(type='str', required=True),
            domain_name=dict(type='str'),
            tags=dict(type='dict', default={}),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            wait_issued=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=900),
        ),
        required_if=[('state', 'present', ('domain_name',))],
        supports_check_mode=True,
    )
    params = module.params
    # required_if counts a key given as null as given
    if params['state'] == 'present' and not params['domain_name']:
        module.fail_json(msg='domain_name is required with state=present')
    client = module.client('acm', retry_decorator=AWSRetry.jittered_backoff())
    result = dict(changed=False, certificate_arn='', status='', validation_records=[])
    try:
        # absent removes every certificate with the tag (dead ones too); present reuses a live one only
        arns = find_certificates(client, params['domain_name'], params['name_tag'], STATUSES)
        live = find_certificates(client, params['domain_name'], params['name_tag'], LIVE_STATUSES) if arns else []
        dead = [a for a in arns if a not in live]
        arn = ((arns if params['state'] == 'absent' else live) or [None])[0]
        before = {}
        if arn:
            current = client.describe_certificate(aws_retry=True, CertificateArn=arn)['Certificate']
            before = view(arn, current.get('DomainName'), current.get('Status'))
        after = before
        if params['state'] == 'absent':
            if arns:
                if not module.check_mode:
                    for dead_or_alive in arns:
                        client.delete_certificate(aws_retry=True, CertificateArn=dead_or_alive)
                result['changed'] = True
                after = {}
        elif not arn and module.check_mode:
            result['changed'] = True
            after = view('', params['domain_name'], 'PENDING_VALIDATION')
        else:
            if not arn:
                arn = request(module, client, dead)
                result['changed'] = True
            # ACM fills the validation record in a few seconds after the request
            certificate = wait_for(module, client, arn, records_of, 'no DNS validation record')
            if params['wait_issued']:
                certificate = wait_for(module, client, arn, lambda c: c.get('Status') != 'PENDING_VALIDATION',
                                       'not issued (is the validation record published in the domain\'s DNS?)')
                if certificate.get('Status') != 'ISSUED':
                    module.fail_json(msg=f"Certificate {arn} is {certificate.get('Status')}, not ISSUED",
                                     certificate_arn=arn, status=certificate.get('Status', ''))
            result.update(certificate_arn=arn, status=certificate.get('Status', ''),
                          validation_records=records_of(certificate))
            after = view(arn, certificate.get('DomainName'), certificate.get('Status'))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"ACM request for {params['name_tag']} failed")
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
