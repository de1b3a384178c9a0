#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ssm_run_command
short_description: Run an SSM document on EC2 instances and wait for the results
version_added: 0.1.0
description:
  - Sends a command with AWS Systems Manager Run Command (C(SendCommand)) to the instances
    given by O(instance_ids) or matched by O(targets), then waits until every instance has
    reported a final status (C(GetCommandInvocation), or C(ListCommandInvocations) for
    instances found through O(targets)).
  - The module fails, naming each instance and its status, when an instance reports
    anything but C(Success) (for example C(Failed), C(TimedOut), C(Cancelled)), or when
    the results do not arrive within O(timeout) seconds.
  - Running a command is an action, not a state, so the module reports a change every time
    it sends one. With an empty O(instance_ids) list nothing is sent and nothing changes.
  - The instances must be managed by Systems Manager (the SSM agent running, with an
    instance profile such as C(AmazonSSMManagedInstanceCore)).
  - Parameters are recorded in the command history of Systems Manager; do not pass secrets in
    O(parameters).
options:
  instance_ids:
    description:
      - IDs of the instances to run the command on.
      - An empty list sends nothing.
      - Mutually exclusive with O(targets); one of them is required.
    type: list
    elements: str
  targets:
    description:
      - Instances to run the command on, chosen by Systems Manager at run time, for example
        by tag.
      - Mutually exclusive with O(instance_ids).
    type: list
    elements: dict
    suboptions:
      key:
        description:
          - Target key, such as C(tag:Stack), C(tag-key) or C(InstanceIds).
        type: str
        required: true
      values:
        description:
          - Values of the key.
        type: list
        elements: str
        required: true
  document_name:
    description:
      - Name or ARN of the SSM document to run.
    type: str
    default: AWS-RunShellScript
  parameters:
    description:
      - "Parameters of the document, for example C({commands: [uptime]}) for
        C(AWS-RunShellScript)."
      - A single string value is sent as a list of one string.
    type: dict
    default: {}
  comment:
    description:
      - Comment recorded with the command (at most 100 characters).
    type: str
  timeout:
    description:
      - Seconds to wait for every instance's final status. Also sent as the command's
        delivery timeout (at least 30 seconds).
    type: int
    default: 300
  wait:
    description:
      - Wait for the results. When V(false), the module returns once the command is sent.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - privatepypi.aws.aws
attributes:
  check_mode:
    support: full
    details: Sends nothing; reports the command and the instances it would be sent to.
  diff_mode:
    support: full
    details: The diff shows the document, its parameters and the instances or targets.
'''

EXAMPLES = r'''
- name: Make every running instance of a stack re-read its credentials now
  privatepypi.aws.ssm_run_command:
    region: eu-central-1
    instance_ids: "{{ stack_instances.instances | map(attribute='instance_id') | list }}"
    parameters:
      commands:
        - systemctl start pypiserver-htpasswd.service
    comment: refresh the htpasswd file
    timeout: 120
  register: refresh

- name: Run a script on the instances tagged with a stack, found by SSM itself
  privatepypi.aws.ssm_run_command:
    targets:
      - key: tag:Stack
        values: [pypi-prod]
    document_name: AWS-RunShellScript
    parameters:
      commands: ["df -h /srv/pypiserver"]
'''

RETURN = r'''
command_id:
  description: ID of the command sent; empty in check mode or when nothing was sent.
  returned: always
  type: str
  sample: 0b52ad3b-6a27-4ef9-8b3f-3f56a0c1b8e1
document_name:
  description: The document run.
  returned: always
  type: str
  sample: AWS-RunShellScript
parameters:
  description: The document's parameters as sent (every value a list of strings).
  returned: always
  type: dict
  sample: {"commands": ["systemctl start pypiserver-htpasswd.service"]}
instance_ids:
  description:
    - The instances the command went to (or, in check mode, would go to). With O(targets),
      those Systems Manager resolved; empty in check mode.
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
targets:
  description: The targets as sent.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "tag:Stack", "values": ["pypi-prod"]}]
invocations:
  description: Final (or, on timeout, last known) result per instance.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
      sample: i-0123456789abcdef0
    status:
      description: C(Success), C(Failed), C(TimedOut), C(Cancelled), or C(Pending)/C(InProgress) on timeout.
      type: str
      sample: Success
    status_details:
      description: More detailed status, such as C(Undeliverable) or C(ExecutionTimedOut).
      type: str
      sample: Success
    response_code:
      description: Exit code of the command (-1 while unknown).
      type: int
      sample: 0
    standard_output:
      description: Start of the command's standard output (Systems Manager keeps 24000 characters).
      type: str
      sample: ""
    standard_error:
      description: Start of the command's standard error.
      type: str
      sample: ""
  sample: [{"instance_id": "i-0123456789abcdef0", "status": "Success", "status_details": "Success",
            "response_code": 0, "standard_output": "", "standard_error": ""}]
'''

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Statuses after which an invocation or a command will not change any more.
UNFINISHED = frozenset(('Pending', 'InProgress', 'Delayed', 'Cancelling'))
POLL_SECONDS = 3
MIN_DELIVERY_TIMEOUT = 30


def normalize_parameters(parameters):
    """SSM wants every parameter value as a list of strings."""
    result = {}
    for key, value in (parameters or {}).items():
        if isinstance(value, (list, tuple)):
            result[key] = [str(item) for item in value]
        else:
            result[key] = [str(value)]
    return result


def _invocation(instance_id, status, details='', code=-1, stdout='', stderr=''):
    return dict(instance_id=instance_id, status=status, status_details=details or status,
                response_code=code, standard_output=stdout, standard_error=stderr)


def get_invocation(client, command_id, instance_id):
    """The invocation on one instance; Pending until Systems Manager has created it."""
    try:
        item = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id, aws_retry=True)
    except is_boto3_error_code('InvocationDoesNotExist'):
        return _invocation(instance_id, 'Pending')
    return _invocation(instance_id, item.get('Status', 'Pending'), item.get('StatusDetails', ''),
                       item.get('ResponseCode', -1), item.get('StandardOutputContent', ''),
                       item.get('StandardErrorContent', ''))


def list_invocations(client, command_id):
    """Invocations of a command sent to targets (the instances are known only to SSM)."""
    result = []
    paginator = client.get_paginator('list_command_invocations')
    for page in paginator.paginate(CommandId=command_id, Details=True):
        for item in page.get('CommandInvocations', []):
            plugins = item.get('CommandPlugins') or [{}]
            result.append(_invocation(
                item['InstanceId'], item.get('Status', 'Pending'), item.get('StatusDetails', ''),
                plugins[-1].get('ResponseCode', -1), plugins[-1].get('Output', ''), ''))
    return result


def current_invocations(client, command_id, instance_ids):
    """(invocations, finished) for the command right now."""
    command = client.list_commands(CommandId=command_id, aws_retry=True)['Commands'][0]
    ids = instance_ids or command.get('InstanceIds') or []
    if ids:
        invocations = [get_invocation(client, command_id, instance_id) for instance_id in ids]
    else:
        invocations = list_invocations(client, command_id)
    finished = (command.get('Status') not in UNFINISHED
                and all(item['status'] not in UNFINISHED for item in invocations))
    return invocations, finished


def wait_for_invocations(client, command_id, instance_ids, timeout):
    """Poll until every invocation is final or the timeout passes: (invocations, timed_out)."""
    deadline = time.monotonic() + timeout
    while True:
        invocations, finished = current_invocations(client, command_id, instance_ids)
        if finished:
            return invocations, False
        if time.monotonic() >= deadline:
            return invocations, True
        time.sleep(POLL_SECONDS)


def failed_invocations(invocations):
    """The invocations that did not succeed."""
    return [item for item in invocations if item['status'] != 'Success']


def describe_failures(command_id, failures, total, timeout=None):
    """One readable message naming every instance that did not succeed and why."""
    if not failures:
        return f'SSM command {command_id}: no instance reported a result within {timeout} seconds'
    parts = []
    for item in failures:
        text = '{}: {}'.format(item['instance_id'], item['status'])
        if item['status_details'] and item['status_details'] != item['status']:
            text += ' ({})'.format(item['status_details'])
        if item['response_code'] not in (-1, None):
            text += ', exit code {}'.format(item['response_code'])
        error = (item['standard_error'] or '').strip().splitlines()
        if error:
            text += ': ' + error[-1][:200]
        parts.append(text)
    message = 'SSM command {} did not succeed on {} of {} instance(s): {}'.format(
        command_id, len(failures), total, '; '.join(parts))
    if timeout is not None:
        message += f' (gave up waiting after {timeout} seconds)'
    return message


def _describe_command(params, parameters):
    """What is (or would be) sent, for the diff."""
    return dict(document_name=params['document_name'], parameters=parameters,
                instance_ids=params['instance_ids'] or [], targets=params['targets'] or [])


def main():
    argument_spec = dict(
        instance_ids=dict(type='list', elements='str'),
        targets=dict(type='list', elements='dict', options=dict(
            key=dict(type='str', required=True, no_log=False),
            values=dict(type='list', elements='str', required=True),
        )),
        document_name=dict(type='str', default='AWS-RunShellScript'),
        parameters=dict(type='dict', default={}),
        comment=dict(type='str'),
        timeout=dict(type='int', default=300),
        wait=dict(type='bool', default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('instance_ids', 'targets')],
        required_one_of=[('instance_ids', 'targets')],
        supports_check_mode=True,
    )
    params = module.params
    if params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second, got {}'.format(params['timeout']))
    if params['targets'] is not None and not params['targets']:
        module.fail_json(msg='targets must name at least one key and its values')
    parameters = normalize_parameters(params['parameters'])
    instance_ids = params['instance_ids'] or []
    targets = params['targets'] or []
    result = dict(changed=False, command_id='', document_name=params['document_name'], parameters=parameters,
                  instance_ids=list(instance_ids), targets=targets, invocations=[])

    if params['instance_ids'] is not None and not instance_ids:
        module.exit_json(msg='No instance given: nothing sent.', **result)

    result['changed'] = True
    if module._diff:
        result['diff'] = dict(before={}, after=_describe_command(params, parameters))
    where = ('instances ' + ', '.join(instance_ids)) if instance_ids else 'the instances matching the targets'
    if module.check_mode:
        module.exit_json(msg='Check mode: would run {} on {}.'.format(params['document_name'], where), **result)

    client = module.client('ssm', retry_decorator=AWSRetry.jittered_backoff())
    request = dict(DocumentName=params['document_name'], Parameters=parameters,
                   TimeoutSeconds=max(params['timeout'], MIN_DELIVERY_TIMEOUT))
    if instance_ids:
        request['InstanceIds'] = instance_ids
    else:
        request['Targets'] = [dict(Key=item['key'], Values=item['values']) for item in targets]
    if params['comment']:
        request['Comment'] = params['comment']
    try:
        command = client.send_command(aws_retry=True, **request)['Command']
    except is_boto3_error_code('InvalidInstanceId') as e:
        module.fail_json_aws(e, msg=f'Systems Manager cannot reach {where}: an instance must be running, with the SSM agent '
                                    'and an instance profile that allows it (AmazonSSMManagedInstanceCore)',
                             **result)
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg='Failed to send the command', **result)
    result['command_id'] = command['CommandId']
    result['instance_ids'] = command.get('InstanceIds') or list(instance_ids)
    if not params['wait']:
        module.exit_json(msg='Command {} sent to {}.'.format(command['CommandId'], where), **result)

    try:
        invocations, timed_out = wait_for_invocations(client, command['CommandId'], instance_ids, params['timeout'])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg='Failed to read the results of command {}'.format(command['CommandId']), **result)
    result['invocations'] = invocations
    if not instance_ids:
        result['instance_ids'] = [item['instance_id'] for item in invocations]
    failures = failed_invocations(invocations)
    if failures or timed_out:
        module.fail_json(msg=describe_failures(command['CommandId'], failures, len(invocations),
                                               params['timeout'] if timed_out else None), **result)
    module.exit_json(msg='Command {} succeeded on {} instance(s).'.format(command['CommandId'], len(invocations)),
                     **result)


if __name__ == '__main__':
    main()
