# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every IAM policy document the aws_stack role writes, rendered from the role's own files.

The role's task files are read as Ansible reads them; every module argument that carries a policy
document (POLICY_ARGUMENTS) is templated with Ansible's own templar over the role's defaults, its
vars, every fact its tasks set (with those tasks' vars) and a scenario's settings, so what is
linted is what the role sends to AWS, never a hand-made copy. The deploying user's policy and the stack's
permissions boundary are templates of the role (templates/deployer/, rendered for a stack by
playbooks/deployer_policy.yml); they are rendered here for DEPLOYER_STACK, the deployer's parts linted as the one
document they make together.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / 'roles' / 'aws_stack'
# the deploying user's policy, in parts that each fit one IAM managed policy (6,144 characters)
DEPLOYER_TEMPLATES = sorted((ROLE / 'templates' / 'deployer').glob('deployer-policy-*.json.j2'))
BOUNDARY_TEMPLATE = ROLE / 'templates' / 'deployer' / 'boundary.json.j2'
DEPLOYER_STACK = 'pypi-prod'  # any name a user picks; the README's example


def render_deployer(template, stack=DEPLOYER_STACK, shared_prefix=None, block_list=''):
    """One template of templates/deployer/ as text, rendered as tasks/deployer_policy.yml renders it."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    variables = {'_deployer_stack': stack, '_deployer_shared_prefix': shared_prefix or stack,
                 '_deployer_upstream_block_list': block_list}
    text = template.read_text()
    return Templar(loader=DataLoader(), variables=variables).template(_trusted(text))


def _trusted(text):
    from ansible.template import trust_as_template
    return trust_as_template(text)


def deployer_parts(stack=DEPLOYER_STACK):
    """The deployer's parts as texts, each one managed policy."""
    return [render_deployer(path, stack) for path in DEPLOYER_TEMPLATES]


def deployer_policy(stack=DEPLOYER_STACK):
    """The deployer's parts as one document: every statement of every part."""
    parts = [json.loads(text) for text in deployer_parts(stack)]
    return {'Version': parts[0]['Version'], 'Statement': [s for part in parts for s in part['Statement']]}


def boundary_policy(stack=DEPLOYER_STACK, block_list=''):
    return json.loads(render_deployer(BOUNDARY_TEMPLATE, stack, block_list=block_list))


# module argument -> the kind of document it carries (identity: whom it grants; resource: with a Principal)
POLICY_ARGUMENTS = {
    'policy_json': 'identity',                  # amazon.aws.iam_policy
    'assume_role_policy_document': 'resource',  # amazon.aws.iam_role (trust policy)
    'policy_document': 'identity',
    'policy': 'any',                            # amazon.aws.iam_managed_policy, s3_bucket, kms_key, ...
    'file_system_policy': 'resource',
    'bucket_policy': 'resource',
    'key_policy': 'resource',
}
# What the facts the role learns at run time look like (preflight, storage, address, compute).
RUNTIME_FACTS = {
    '_aws_stack_account_id': '123456789012',
    '_aws_stack_partition': 'aws',
    '_aws_stack_efs_id': 'fs-0123456789abcdef0',
    # the storage concern's own registered result, which its file system policy reads before the export
    '_aws_stack_efs': {'efs': {'file_system_id': 'fs-0123456789abcdef0'}},
    '_aws_stack_efs_arn': 'arn:aws:elasticfilesystem:eu-central-1:123456789012:file-system/fs-0123456789abcdef0',
    '_aws_stack_eip_allocation_id': 'eipalloc-0123456789abcdef0',
}
# The switches that change which statements a document has: every statement appears in one of them.
SCENARIOS = {
    'budget': {'aws_stack_elastic_ip_enabled': True, 'aws_stack_load_balancer_enabled': False,
               'aws_stack_alerting_enabled': True, 'aws_stack_instance_agents_enabled': True,
               'aws_stack_backup_enabled': True},
    # with the upstream's block list from the user's S3 object
    'professional': {'aws_stack_elastic_ip_enabled': False, 'aws_stack_load_balancer_enabled': True,
                     'aws_stack_alerting_enabled': True, 'aws_stack_instance_agents_enabled': True,
                     'aws_stack_backup_enabled': True, 'aws_stack_upstream_enabled': True,
                     'aws_stack_upstream_url': 'https://upstream.example/simple/',
                     'aws_stack_upstream_block_list_s3_uri': 's3://acme-security/osv/malicious.json'},
    # without a load balancer, a domain: the instance's own certificate (certbot, DNS-01 on Route53)
    'budget_domain': {'aws_stack_elastic_ip_enabled': True, 'aws_stack_load_balancer_enabled': False,
                      'aws_stack_alerting_enabled': True, 'aws_stack_instance_agents_enabled': True,
                      'aws_stack_backup_enabled': True, 'aws_stack_domain': 'example.com'},
    'bare': {'aws_stack_elastic_ip_enabled': False, 'aws_stack_alerting_enabled': False,
             'aws_stack_instance_agents_enabled': False},
}


def tasks_of(entries):
    """Every task of a task list, blocks opened (the blocks themselves are not tasks)."""
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        if 'block' in entry:
            for key in ('block', 'rescue', 'always'):
                yield from tasks_of(entry.get(key))
        else:
            yield entry


def _module_args(task):
    """(module name, its arguments) of a task."""
    for key, value in task.items():
        if '.' in key and isinstance(value, dict):
            return key, value
    return None, {}


def role_tasks():
    """(task file relative to tasks/, task) for every task of the role, read as Ansible reads them."""
    from ansible.parsing.dataloader import DataLoader
    loader = DataLoader()
    for path in sorted((ROLE / 'tasks').rglob('*.yml')):
        for task in tasks_of(loader.load_from_file(str(path), trusted_as_template=True)):
            yield str(path.relative_to(ROLE / 'tasks')), task


def _role_variables():
    from ansible.parsing.dataloader import DataLoader
    loader = DataLoader()
    variables = {}
    for name in ('defaults', 'vars'):
        variables.update(loader.load_from_file(str(ROLE / name / 'main.yml'), trusted_as_template=True))
    for _path, task in role_tasks():
        module, args = _module_args(task)
        if module == 'ansible.builtin.set_fact':
            variables.update(task.get('vars') or {})
            variables.update({k: v for k, v in args.items() if k != 'cacheable'})
    return variables


def policy_arguments():
    """(task file, task name, argument, raw value, task vars) of every policy-carrying argument."""
    for path, task in role_tasks():
        module, args = _module_args(task)
        for argument in POLICY_ARGUMENTS:
            if argument in args and not (module or '').startswith('ansible.builtin.'):
                yield path, task.get('name', ''), argument, args[argument], task.get('vars') or {}


def rendered_policies():
    """{(task file, task name, argument, scenario): document} for every scenario, plus the deployer's."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    base = _role_variables()
    found = {}
    for scenario, settings in SCENARIOS.items():
        for path, name, argument, raw, task_vars in policy_arguments():
            variables = dict(base, **RUNTIME_FACTS, **settings, **task_vars)
            document = Templar(loader=DataLoader(), variables=variables).template(raw)
            found[(path, name, argument, scenario)] = json.loads(document) if isinstance(document, str) else document
    found[('templates/deployer/deployer-policy', 'the deploying user', 'policy', 'any')] = deployer_policy()
    # written with the block list object the scenarios name (deployer_policy.yml -e aws_stack_upstream_block_list_s3_uri=)
    found[('templates/deployer/boundary', 'the stack\'s permissions boundary', 'policy', 'any')] = boundary_policy(
        block_list=SCENARIOS['professional']['aws_stack_upstream_block_list_s3_uri'])
    return found


def plain(document):
    """The document as JSON types only (the templar's lazy containers serialise as their values)."""
    return json.loads(json.dumps(document))
