#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: alb_host_rule
short_description: One application's host rule and SNI certificate on a shared load balancer's listener
version_added: 0.1.0
description:
  - Keeps one application's share of a listener that several applications use, namely a rule that
    forwards the application's host names to its target group, at a priority of its own, and its
    certificate in the listener's certificate list (SNI), beside the default certificate.
  - Nothing else of the listener is touched, neither its default action nor its default certificate
    nor the rules and certificates of other applications. O(state=absent) removes exactly this
    application's rule and certificate.
  - A priority that another rule already holds is refused with the host names of that rule
    (AWS would answer C(PriorityInUse)); amazon.aws.elb_application_lb replaces the default certificate
    instead of adding one, and cannot leave a listener's other settings alone.
options:
  listener_arn:
    description: ARN of the listener (usually the HTTPS listener on port 443).
    type: str
    required: true
  host_names:
    description: The host names the rule matches (host-header condition), for example V(pypi.example.com).
    type: list
    elements: str
    required: true
  target_group_arn:
    description: The target group the rule forwards to. Required with O(state=present).
    type: str
  priority:
    description:
      - The rule's priority (1 to 50000, lower is evaluated first); each rule of a listener has its own.
      - Required with O(state=present).
    type: int
  certificate_arn:
    description:
      - An ACM certificate for the host names, added to the listener's certificate list (SNI).
        A certificate that is already the listener's default stays the default.
      - With O(state=absent) it is removed from the list unless it is the default certificate.
    type: str
  state:
    description: Whether the rule (and the certificate) should be on the listener.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The application's rule (priority, host names, target group) and whether its certificate is on the listener.
'''

EXAMPLES = r'''
- name: Route pypi.example.com to the index on the shared HTTPS listener
  privatepypi.aws.alb_host_rule:
    listener_arn: "{{ https_listener_arn }}"
    host_names: [pypi.example.com]
    target_group_arn: "{{ target_group.target_group_arn }}"
    priority: 110
    certificate_arn: "{{ certificate_arn }}"

- name: Take the index off the listener again (other applications stay)
  privatepypi.aws.alb_host_rule:
    listener_arn: "{{ https_listener_arn }}"
    host_names: [pypi.example.com]
    certificate_arn: "{{ certificate_arn }}"
    state: absent
'''

RETURN = r'''
rule_arn:
  description: ARN of the application's rule; empty when there is none (O(state=absent)).
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener-rule/app/shared-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d0
certificate_on_listener:
  description: Whether O(certificate_arn) is in the listener's certificate list afterwards.
  returned: always
  type: bool
  sample: true
'''

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def hosts_of(rule):
    found = []
    for condition in rule.get('Conditions', []):
        if condition.get('Field') == 'host-header':
            found += condition.get('HostHeaderConfig', {}).get('Values') or condition.get('Values') or []
    return sorted(found)


def forwards_to(rule):
    for action in rule.get('Actions', []):
        if action.get('Type') == 'forward':
            if action.get('TargetGroupArn'):
                return action['TargetGroupArn']
            groups = action.get('ForwardConfig', {}).get('TargetGroups', [])
            if len(groups) == 1:
                return groups[0]['TargetGroupArn']
    return ''


def view(rule):
    if not rule:
        return {}
    return dict(priority=int(rule['Priority']), host_names=hosts_of(rule), target_group_arn=forwards_to(rule))


def listener_state(client, listener_arn):
    rules = client.describe_rules(aws_retry=True, ListenerArn=listener_arn)['Rules']
    paginator = client.get_paginator('describe_listener_certificates')
    certificates = paginator.paginate(ListenerArn=listener_arn).build_full_result()['Certificates']
    return [r for r in rules if not r.get('IsDefault')], certificates


def ensure_present(module, client, params, rules, certificates, result):
    wanted_hosts = sorted(params['host_names'])
    ours = next((r for r in rules if hosts_of(r) == wanted_hosts), None)
    holder = next((r for r in rules if int(r['Priority']) == params['priority'] and r is not ours), None)
    if holder is not None:
        module.fail_json(msg=f"Priority {params['priority']} of listener {params['listener_arn']} is taken by another "
                             f"application's rule (hosts: {', '.join(hosts_of(holder)) or 'none'}); "
                             "choose a free priority for this application.", **result)
    actions = [{'Type': 'forward', 'TargetGroupArn': params['target_group_arn']}]
    conditions = [{'Field': 'host-header', 'HostHeaderConfig': {'Values': wanted_hosts}}]
    if ours is None:
        result['changed'] = True
        if not module.check_mode:
            ours = client.create_rule(aws_retry=True, ListenerArn=params['listener_arn'], Priority=params['priority'],
                                      Conditions=conditions, Actions=actions)['Rules'][0]
        else:
            ours = dict(Priority=str(params['priority']), Conditions=conditions, Actions=actions)
    else:
        if forwards_to(ours) != params['target_group_arn']:
            result['changed'] = True
            if not module.check_mode:
                client.modify_rule(aws_retry=True, RuleArn=ours['RuleArn'], Conditions=conditions, Actions=actions)
        if int(ours['Priority']) != params['priority']:
            result['changed'] = True
            if not module.check_mode:
                client.set_rule_priorities(aws_retry=True, RulePriorities=[
                    {'RuleArn': ours['RuleArn'], 'Priority': params['priority']}])
        ours = dict(ours, Priority=str(params['priority']), Actions=actions)
    result['rule_arn'] = ours.get('RuleArn', '')
    result['after']['rule'] = view(ours)
    cert = params['certificate_arn']
    if cert:
        if cert not in [c['CertificateArn'] for c in certificates]:
            result['changed'] = True
            if not module.check_mode:
                client.add_listener_certificates(aws_retry=True, ListenerArn=params['listener_arn'],
                                                 Certificates=[{'CertificateArn': cert}])
        result['certificate_on_listener'] = result['after']['certificate_on_listener'] = True


def ensure_absent(module, client, params, rules, certificates, result):
    wanted_hosts = sorted(params['host_names'])
    ours = next((r for r in rules if hosts_of(r) == wanted_hosts
                 and (not params['target_group_arn'] or forwards_to(r) == params['target_group_arn'])), None)
    if ours is not None:
        result['changed'] = True
        if not module.check_mode:
            client.delete_rule(aws_retry=True, RuleArn=ours['RuleArn'])
    cert = params['certificate_arn']
    if cert:
        listed = [c for c in certificates if c['CertificateArn'] == cert]
        is_default = any(c.get('IsDefault') for c in listed)
        if listed and not is_default:
            result['changed'] = True
            if not module.check_mode:
                client.remove_listener_certificates(aws_retry=True, ListenerArn=params['listener_arn'],
                                                    Certificates=[{'CertificateArn': cert}])
        result['certificate_on_listener'] = result['after']['certificate_on_listener'] = is_default


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            listener_arn=dict(type='str', required=True),
            host_names=dict(type='list', elements='str', required=True),
            target_group_arn=dict(type='str'),
            priority=dict(type='int'),
            certificate_arn=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        required_if=[('state', 'present', ('target_group_arn', 'priority'))],
        supports_check_mode=True,
    )
    params = module.params
    if not params['host_names']:
        module.fail_json(msg='host_names must name at least one host')
    if params['state'] == 'present' and not (params['target_group_arn'] and params['priority'] is not None):
        module.fail_json(msg='state=present needs target_group_arn and priority')
    if params['priority'] is not None and not 1 <= params['priority'] <= 50000:
        module.fail_json(msg=f"priority must be between 1 and 50000, got {params['priority']}")
    client = module.client('elbv2', retry_decorator=AWSRetry.jittered_backoff())
    result = dict(changed=False, rule_arn='', certificate_on_listener=False)
    try:
        rules, certificates = listener_state(client, params['listener_arn'])
        wanted_hosts = sorted(params['host_names'])
        before_rule = next((r for r in rules if hosts_of(r) == wanted_hosts), None)
        on_listener = bool(params['certificate_arn']) and params['certificate_arn'] in [c['CertificateArn'] for c in certificates]
        result['before'] = dict(rule=view(before_rule), certificate_on_listener=on_listener)
        result['after'] = dict(rule={}, certificate_on_listener=on_listener)
        result['certificate_on_listener'] = on_listener
        if params['state'] == 'present':
            ensure_present(module, client, params, rules, certificates, result)
        else:
            ensure_absent(module, client, params, rules, certificates, result)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage the host rule on listener {params['listener_arn']}")
    before, after = result.pop('before'), result.pop('after')
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
