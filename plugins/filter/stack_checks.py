# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the aws_stack role's inputs that span several fields, as filters.

Each filter takes the settings it needs and returns a list of problems, one sentence each,
empty when the input is acceptable. The role's preflight asserts on them before its first
AWS call; rules about one field alone live in the role's meta/argument_specs.yml.
Plain Python (ipaddress, re) so that they are unit tested in milliseconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

EMAIL = re.compile(r'^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$')
USER = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$')
# a password that starts like the public examples (Pass123..., Password123...) is refused
EXAMPLE_PASSWORD = re.compile(r'^pass(word)?123', re.IGNORECASE)
NUMBER = re.compile(r'^[0-9]+(\.[0-9]+)?$')
WHOLE = re.compile(r'^[0-9]+$')
PERCENT_ALARMS = ('cpu_high', 'memory_high', 'disk_root_high')
NO_THRESHOLD_ALARMS = ('status_check_failed', 'instances_in_service_low', 'health_check_failed')
BCRYPT_MAX_BYTES = 72
# One htpasswd line: the name, ':', a 60-character bcrypt hash ($2y$12$ + 53) and a newline.
HTPASSWD_LINE_OVERHEAD = 62
# SSM's Advanced tier holds 8,192 characters (Standard 4,096; the role stores the users with
# Intelligent-Tiering, which picks Advanced only when the value needs it).
SSM_ADVANCED_MAX_CHARS = 8192


def _is_list(value):
    return isinstance(value, (list, tuple))


def _int(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on', 'y', 't')
    return bool(value)


def cidr_problem(key, cidr):
    """Why cidr is not an IPv4 network address with a prefix length, or None."""
    if not isinstance(cidr, str) or '/' not in cidr:
        return f'{key}: {cidr} is not an IPv4 CIDR such as 203.0.113.0/24'
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return f'{key}: {cidr} is not an IPv4 CIDR such as 203.0.113.0/24'
    # ipaddress accepts leading zeros and IPv6; AWS wants a plain dotted quad
    if network.version != 4 or cidr.split('/')[0] != str(ipaddress.ip_address(cidr.split('/')[0])):
        return f'{key}: {cidr} is not an IPv4 CIDR such as 203.0.113.0/24'
    if str(network.network_address) != cidr.split('/')[0]:
        return f'{key}: {cidr} has host bits set (write the network address)'
    return None


def network_problems(settings):
    """CIDRs of the VPC, the subnets, the index and SSH; one subnet per availability zone.

    settings: vpc_cidr, public_subnet_cidrs, private_subnet_cidrs, private_subnets, index_cidrs,
    ssh_cidrs, az_count (the aws_stack_* variables without their prefix)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('network_problems expects a mapping of the network settings')
    problems = []
    lists = {
        'aws_stack_vpc_cidr': [settings.get('vpc_cidr')],
        'aws_stack_public_subnet_cidrs': settings.get('public_subnet_cidrs'),
        'aws_stack_private_subnet_cidrs': settings.get('private_subnet_cidrs'),
        'aws_stack_index_cidrs': settings.get('index_cidrs'),
        'aws_stack_ssh_cidrs': settings.get('ssh_cidrs'),
    }
    for key, values in lists.items():
        if not _is_list(values):
            problems.append(f'{key} must be a list of CIDRs')
            continue
        problems.extend(p for p in (cidr_problem(key, cidr) for cidr in values) if p)
    az_count = _int(settings.get('az_count'), 0)
    index_cidrs = lists['aws_stack_index_cidrs']
    if _is_list(index_cidrs) and not index_cidrs:
        problems.append('aws_stack_index_cidrs must name at least one network that may use the index')
    if _is_list(lists['aws_stack_ssh_cidrs']) and '0.0.0.0/0' in lists['aws_stack_ssh_cidrs']:
        problems.append('aws_stack_ssh_cidrs must not contain 0.0.0.0/0 (name your own network, or leave it empty '
                        'and use SSM Session Manager)')
    wanted = [('aws_stack_public_subnet_cidrs', True),
              ('aws_stack_private_subnet_cidrs', _bool(settings.get('private_subnets')))]
    for key, needed in wanted:
        if needed and _is_list(lists[key]) and len(lists[key]) < az_count:
            problems.append(f'{key} needs one CIDR per availability zone (aws_stack_az_count = {az_count})')
    return problems


def topology_problems(settings):
    """The topology switches and instance counts of a profile, taken together.

    settings: instance_count, instance_count_minimum, instance_count_maximum, elastic_ip_enabled,
    instances_in_private_subnets, private_subnets, nat_gateway_enabled, load_balancer_enabled,
    az_count, certificate_arn, bastion_enabled, ssh_cidrs, refresh_min_healthy_percentage,
    refresh_max_healthy_percentage."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('topology_problems expects a mapping of the topology settings')
    s = settings
    count, low, high = (_int(s.get(k), 0) for k in ('instance_count', 'instance_count_minimum', 'instance_count_maximum'))
    problems = []
    if not low <= count <= high or low < 1:
        problems.append(f'aws_stack_instance_count is {count} but this profile allows {low} to {high} instances '
                        '(the professional profile runs at least 2, across two availability zones)')
    if _bool(s.get('elastic_ip_enabled')) and high != 1:
        problems.append('an Elastic IP can only serve 1 instance (aws_stack_instance_count_maximum must be 1)')
    if _bool(s.get('instances_in_private_subnets')) and not (_bool(s.get('private_subnets'))
                                                             and _bool(s.get('nat_gateway_enabled'))):
        problems.append('instances in private subnets need aws_stack_private_subnets and aws_stack_nat_gateway_enabled')
    if _bool(s.get('nat_gateway_enabled')) and not _bool(s.get('private_subnets')):
        problems.append('a NAT gateway needs aws_stack_private_subnets')
    if _bool(s.get('load_balancer_enabled')) and _int(s.get('az_count'), 0) < 2:
        problems.append('a load balancer needs aws_stack_az_count >= 2')
    if _int(s.get('az_count'), 0) < 1:
        problems.append('aws_stack_az_count must be 1 or more')
    if s.get('certificate_arn') and not _bool(s.get('load_balancer_enabled')):
        problems.append('a certificate ARN needs the load balancer')
    if _bool(s.get('bastion_enabled')) and not s.get('ssh_cidrs'):
        problems.append('a bastion needs aws_stack_ssh_cidrs')
    least = _int(s.get('refresh_min_healthy_percentage'), -1)
    most = _int(s.get('refresh_max_healthy_percentage'), -1)
    if not 0 <= least <= 100 or not 100 <= most <= 200 or most - least > 100:
        problems.append('an instance refresh keeps aws_stack_refresh_min_healthy_percentage (0-100) to '
                        'aws_stack_refresh_max_healthy_percentage (100-200, at most 100 above the minimum) of the instances')
    return problems


def _alarm_problems(key, alarm):
    problems = []
    period = str(alarm.get('period', ''))
    evaluations = str(alarm.get('evaluation_periods', ''))
    if not WHOLE.match(period) or not (int(period) in (10, 30) or (int(period) > 0 and int(period) % 60 == 0)):
        problems.append(f'alarm {key}: period {period} must be 10, 30 or a multiple of 60 seconds')
    elif not WHOLE.match(evaluations) or int(evaluations) < 1 or int(evaluations) * int(period) > 86400:
        problems.append(f'alarm {key}: evaluation_periods {evaluations} must be 1 or more, and cover a day at most')
    threshold = alarm.get('threshold')
    if key in NO_THRESHOLD_ALARMS:
        if threshold is not None:
            problems.append(f'alarm {key} takes no threshold')
    elif isinstance(threshold, bool) or not NUMBER.match(str(threshold)) or float(threshold) <= 0:
        problems.append(f"alarm {key}: threshold {'(none)' if threshold is None else threshold} must be a number above 0")
    elif key in PERCENT_ALARMS and float(threshold) > 100:
        problems.append(f'alarm {key}: threshold {threshold} is a percentage, at most 100')
    return problems


def alarm_settings(defaults, overrides):
    """The alarm catalogue's settings with the user's overrides merged in, per alarm."""
    merged = {key: dict(value) for key, value in (defaults or {}).items()}
    for key, value in (overrides or {}).items():
        merged[key] = dict(merged.get(key, {}), **value) if isinstance(value, Mapping) else value
    return merged


def alerting_problems(settings):
    """The alert addresses and the alarm overrides against the catalogue's settings (the health check's
    failure threshold and the log retention are single-field choices of the role's argument spec).

    settings: alert_emails, alarms (the user's overrides), alarm_defaults (the catalogue's settings),
    enabled (the alarms made, names of alarm_defaults; absent: all)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('alerting_problems expects a mapping of the alerting settings')
    problems = []
    emails = settings.get('alert_emails')
    if not _is_list(emails):
        problems.append('aws_stack_alert_emails must be a list of e-mail addresses')
    elif not emails:
        problems.append('aws_stack_alert_emails is empty (name at least one address, or set aws_stack_contact_email)')
    else:
        problems.extend(f"alert e-mail '{address}' is not an address like ops@example.com"
                        for address in emails if not isinstance(address, str) or not EMAIL.match(address))
    defaults = settings.get('alarm_defaults') or {}
    overrides = settings.get('alarms')
    if not isinstance(overrides, Mapping):
        problems.append('aws_stack_alarms must be a mapping like {cpu_high: {threshold: 90}}')
    else:
        for key, alarm in sorted(alarm_settings(defaults, overrides).items()):
            if key not in defaults:
                problems.append(f"aws_stack_alarms names an unknown alarm {key} (known: {', '.join(defaults)})")
            elif not isinstance(alarm, Mapping):
                problems.append(f'alarm {key} must be a mapping of threshold, period and evaluation_periods')
            else:
                problems.extend(_alarm_problems(key, alarm))
    enabled = settings.get('enabled', list(defaults))
    if not _is_list(enabled):
        problems.append('aws_stack_alarms_enabled must be a list of alarm names like [instances_in_service_low, memory_high]')
    else:
        unknown = [name for name in enabled if name not in defaults]
        if unknown:
            problems.append(f"aws_stack_alarms_enabled names unknown alarms {', '.join(map(str, unknown))} "
                            f"(known: {', '.join(defaults)})")
        repeated = sorted({name for name in enabled if enabled.count(name) > 1}, key=str)
        if repeated:
            problems.append(f"aws_stack_alarms_enabled names {', '.join(map(str, repeated))} more than once")
    return problems


def backup_problems(settings):
    """The AWS Backup schedule: six cron fields in UTC with '?' as day-of-month or day-of-week.

    settings: schedule, retention_days."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('backup_problems expects a mapping of the backup settings')
    problems = []
    schedule = settings.get('schedule')
    match = re.match(r'^cron\((.*)\)$', schedule) if isinstance(schedule, str) else None
    fields = match.group(1).split() if match else []
    if len(fields) != 6 or '?' not in (fields[2], fields[4]):
        problems.append(f"aws_stack_backup_schedule '{schedule}' must be an AWS Backup cron expression of six fields "
                        "in UTC with '?' as day-of-month or day-of-week, like cron(0 6 * * ? *) (daily at 06:00 UTC)")
    days = settings.get('retention_days')
    if isinstance(days, bool) or _int(days, 0) < 1 or not WHOLE.match(str(days).strip()):
        problems.append(f"aws_stack_backup_retention_days '{days}' must be a whole number of days above 0")
    return problems


def user_problems(users, min_length=12, forbidden=(), max_users=130, max_chars=SSM_ADVANCED_MAX_CHARS):
    """The index users from the vault: names, duplicates, example, short and over-long passwords.
    The problems name users, never passwords."""
    if not _is_list(users):
        return ['aws_stack_users (pypi_users) must be a list of {name, password}']
    if not users:
        return ['no users given']
    problems, names = [], []
    min_length = _int(min_length, 12)
    for number, user in enumerate(users, start=1):
        name = user.get('name', '') if isinstance(user, Mapping) else ''
        password = str((user.get('password') or '') if isinstance(user, Mapping) else '')
        if not isinstance(name, str) or not USER.match(name):
            problems.append(f'user #{number} needs a name of letters, digits, ".", "_", "@" or "-"')
        elif name in names:
            problems.append(f'user {name} is listed twice')
        elif password in (forbidden or ()) or EXAMPLE_PASSWORD.match(password):
            problems.append(f'user {name} has the publicly documented example password')
        elif len(password) < min_length:
            problems.append(f'user {name} has an empty or short password (fewer than {min_length} characters)')
        elif len(password.encode('utf-8')) > BCRYPT_MAX_BYTES:
            problems.append(f'user {name} has a password longer than {BCRYPT_MAX_BYTES} bytes (bcrypt limit)')
        names.append(name)
    if len(users) > _int(max_users, 130):
        problems.append(f'{len(users)} users are more than the {max_users} that fit in one SSM parameter')
    size = sum(len(n) + HTPASSWD_LINE_OVERHEAD for n in names if isinstance(n, str))
    if size > _int(max_chars, SSM_ADVANCED_MAX_CHARS):
        problems.append(f'{len(users)} users need {size} characters in the users parameter, more than the {max_chars} '
                        f"that SSM's Advanced tier holds (each user takes its name plus {HTPASSWD_LINE_OVERHEAD}: "
                        "':', a 60-character bcrypt hash and a newline); use fewer users or shorter names")
    return problems


ROLES = ('reader', 'uploader', 'admin')
PROJECT_PATTERN = re.compile(r'^[a-z0-9*?\[\]!-]{1,100}$')
# '#role ' + name + ' ' + role + ' ' + patterns + newline, beside each htpasswd line in the parameter
ROLE_LINE_OVERHEAD = 17


def access_problems(users, authenticate=('list', 'download', 'update'), max_chars=SSM_ADVANCED_MAX_CHARS):
    """Roles and project patterns of the vault's users, and that nothing anonymous may upload.
    The problems name users, never passwords."""
    problems = []
    if not _is_list(authenticate) or 'update' not in authenticate:
        problems.append("pypiserver_authenticate must include 'update': nothing anonymous may ever upload")
    if not _is_list(users):
        return problems
    size = 0
    for number, user in enumerate(users, start=1):
        if not isinstance(user, Mapping):
            continue
        name = user.get('name', f'#{number}')
        role = user.get('role', 'reader')
        projects = user.get('projects') or []
        if role not in ROLES:
            problems.append(f"user {name} has the role '{role}': a role is one of {', '.join(ROLES)}")
        if not _is_list(projects) or not all(isinstance(p, str) and PROJECT_PATTERN.match(p) for p in projects):
            problems.append(f'user {name} needs projects as a list of patterns of normalized project names '
                            '(lower case letters, digits, "-" and the wildcards * ? [ ])')
        elif projects and role == 'reader':
            problems.append(f'user {name} is a reader: projects limit uploads, give the role uploader or admin')
        elif role == 'uploader' and not projects:
            # empty patterns grant no project (only an admin's role is every project): an uploader
            # without them could upload nothing, which is never what its entry means to say
            problems.append(f"user {name} is an uploader without projects: empty patterns grant no project; give "
                            "projects, e.g. [team-*], or ['*'] for every project, or the role reader")
        else:
            size += len(str(name)) + HTPASSWD_LINE_OVERHEAD + ROLE_LINE_OVERHEAD + len(','.join(projects))
    if size > _int(max_chars, SSM_ADVANCED_MAX_CHARS):
        problems.append(f'the users and their roles need {size} characters in the users parameter, more than the '
                        f'{max_chars} that SSM holds; use fewer users, shorter names or fewer project patterns')
    return problems


# Networks nobody on the internet is in: RFC 1918, loopback, link-local, shared address space
# (carrier-grade NAT, VPNs), and their IPv6 counterparts (unique local, loopback, link-local).
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10',
    'fc00::/7', '::1/128', 'fe80::/10'))


def plaintext_problems(settings):
    """Index CIDRs outside private networks while the index serves plain HTTP, unless acknowledged.

    settings: index_cidrs, https_enabled (the stack terminates TLS in front of the index),
    acknowledged (aws_stack_plaintext_acknowledged). Malformed CIDRs are network_problems' to report.
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('plaintext_problems expects a dict of settings')
    if _bool(settings.get('https_enabled')) or _bool(settings.get('acknowledged')):
        return []
    cidrs = settings.get('index_cidrs') or []
    if not _is_list(cidrs):
        return []
    public = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        if not any(network.version == p.version and network.subnet_of(p) for p in PRIVATE_NETWORKS):
            public.append(str(cidr))
    if not public:
        return []
    return [f"index_cidrs {', '.join(public)} reach beyond private networks while the index serves plain HTTP "
            "(no HTTPS: aws_stack_domain): passwords and packages would cross them in clear "
            "text. Give a domain for HTTPS, limit aws_stack_index_cidrs to private ranges, or accept it "
            "knowingly with aws_stack_plaintext_acknowledged: true"]


# ---------------------------------------------------------------- the contract with the pypiserver role
# The settings the aws_stack role hands to the pypiserver role (and a host's inventory sets
# directly), checked by one set of rules wherever they are crossed: the pypiserver role's own
# preflight, and the aws_stack role's before its first AWS call (a bad value there would otherwise
# fail the run halfway, after the network, EFS and IAM exist).
HEALTH_PATH = re.compile(r'^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$')
# paths nginx answers for the index itself: a health endpoint there would shadow them
INDEX_PATHS = ('/simple', '/packages', '/_', '/metadata')
REFRESH_INTERVAL = re.compile(r'^\s*([0-9]+)\s*(s|sec|m|min|h|hr)?\s*$')
ACME_EMAIL = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
HOST_SETTINGS = ('health_endpoint', 'htpasswd_refresh_interval', 'port', 'backend_port', 'https_port',
                 'acme_domain', 'acme_email', 'acme_directory_url', 'upstream_enabled', 'upstream_url',
                 'upstream_file_hosts', 'upstream_reserved_patterns', 'upstream_claimed_names',
                 'upstream_cooldown_days', 'upstream_cooldown_exceptions', 'upstream_block_list_s3_uri',
                 'oidc_publishers', 'oidc_audience', 'oidc_token_minutes', 'oidc_insecure_issuers')
UPSTREAM_URL = re.compile(r'^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$')
FILE_HOST = re.compile(r'^[A-Za-z0-9.-]+(:[0-9]{1,5})?$')
NAME_PATTERN = re.compile(r'^[a-z0-9*?\[\]-]+$')
PROJECT_NAME = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')
# One object: a bucket name as S3 allows it, then a key. The key becomes the instance role's
# s3:GetObject resource, where '*' and '?' are wildcards (they would grant more than the one object);
# a key ending in '/' names a folder, not an object.
S3_OBJECT_URI = re.compile(r'^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([A-Za-z0-9!_.()\'/=+,@&:;$-]{1,1024})$')


def _upstream_problems(settings, names):
    """The upstream's settings, when it is on: what to ask (a PEP 691 index, the file hosts its
    pages name) and which names never to ask about (normalized project names and patterns)."""
    if not _bool(settings.get('upstream_enabled')):
        return []
    problems = []
    url = str(settings.get('upstream_url') or '')
    if not UPSTREAM_URL.match(url):
        problems.append(f"{names['upstream_url']} '{url}' must be the http(s) URL of a PEP 691 index's simple API "
                        "(the upstream is on: name it)")
    elif getattr(_upstream_host(url)[1], 'is_link_local', False):
        problems.append(f"{names['upstream_url']} '{url}' is a link-local address (on AWS the instance metadata "
                        "service, which holds the instance's credentials): never an index")
    lists = (('upstream_file_hosts', FILE_HOST, 'host or host:port'),
             ('upstream_reserved_patterns', NAME_PATTERN, 'normalized project names or patterns (a-z 0-9 - * ? [])'),
             ('upstream_claimed_names', NAME_PATTERN, 'normalized project names or patterns (a-z 0-9 - * ? [])'),
             ('upstream_cooldown_exceptions', PROJECT_NAME, 'normalized project names (a-z 0-9 -)'))
    for key, rule, shape in lists:
        if key not in settings:
            continue
        values = settings[key]
        wrong = [str(v) for v in values if not rule.match(str(v))] if _is_list(values) else [str(values)]
        if wrong:
            problems.append(f"{names[key]} must be a list of {shape}: not {', '.join(wrong)}")
    uri = str(settings.get('upstream_block_list_s3_uri') or '')
    match = S3_OBJECT_URI.match(uri)
    if uri and (not match or match.group(2).endswith('/') or '..' in match.group(1)
                or any(part in ('', '.', '..') for part in match.group(2).split('/'))):
        problems.append(f"{names['upstream_block_list_s3_uri']} '{uri}' must name one S3 object, s3://bucket/key "
                        "(a bucket name, then a key without '*', '?', spaces or empty, '.' or '..' segments)")
    if 'upstream_cooldown_days' in settings:
        days = str(settings['upstream_cooldown_days'])
        if not NUMBER.match(days):
            problems.append(f"{names['upstream_cooldown_days']} '{days}' must be 0 (no cooldown) or a positive number of days")
    return problems


def _upstream_host(url):
    """The host of an upstream URL (lower-case), and its address when it is an IP literal (else None)."""
    host = re.sub(r'^https?://', '', url).split('/')[0].rsplit(':', 1)[0].lower() if '://' in url else ''
    try:
        return host, ipaddress.ip_address(host)
    except ValueError:
        return host, None


def upstream_reach_problems(settings):
    """Whether the instances of a stack can reach the upstream at all, from the network settings.

    settings: upstream_enabled, upstream_url, instances_in_private_subnets, nat_gateway_enabled, vpc_cidr
    (the aws_stack_* variables without their prefix). The instances' security group lets every
    connection out, so only the route decides: instances in public subnets have the internet
    gateway; in private subnets the NAT gateway (one, or one per zone) or nothing but the VPC itself.
    An instance's own loopback serves only the index (asking it would ask the index itself)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('upstream_reach_problems expects a mapping of the upstream and network settings')
    if not _bool(settings.get('upstream_enabled')):
        return []
    url = str(settings.get('upstream_url') or '')
    host, address = _upstream_host(url)
    if host == 'localhost' or (address is not None and address.is_loopback):
        return [f"aws_stack_upstream_url '{url}' names the instance itself: only the index listens there"]
    inside = False
    if address is not None:
        try:
            inside = address in ipaddress.ip_network(str(settings.get('vpc_cidr')), strict=False)
        except ValueError:
            inside = False
    if (_bool(settings.get('instances_in_private_subnets')) and not _bool(settings.get('nat_gateway_enabled'))
            and not inside):
        return [f"aws_stack_upstream_url '{url}' is unreachable: the instances are in private subnets and "
                "aws_stack_nat_gateway_enabled is false, so nothing routes them out of the VPC (turn the NAT gateway on, "
                "or name an upstream inside aws_stack_vpc_cidr)"]
    return []


def host_settings_problems(settings, names=None):
    """Problems with the settings a host serves with, named as the caller's user set them.

    settings: health_endpoint, htpasswd_refresh_interval, port, backend_port, https_port,
    acme_domain, acme_email, acme_directory_url, and the upstream's (upstream_enabled, upstream_url,
    upstream_file_hosts, upstream_reserved_patterns, upstream_claimed_names, upstream_cooldown_days,
    upstream_cooldown_exceptions: checked when upstream_enabled) and trusted publishing's (oidc_publishers,
    oidc_audience, oidc_token_minutes, oidc_insecure_issuers) — the pypiserver role's options
    without their prefix; a missing key is not checked. names: {setting: variable the user sets}; by default
    the pypiserver role's own (pypiserver_<setting>).
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('host_settings_problems expects a dict of settings')
    names = dict({key: f'pypiserver_{key}' for key in HOST_SETTINGS}, **(names or {}))
    problems = []
    if 'health_endpoint' in settings:
        path = str(settings['health_endpoint'])
        if not HEALTH_PATH.match(path) or any(segment in ('.', '..') for segment in path.split('/')):
            problems.append(f"{names['health_endpoint']} '{path}' must be a path such as /health: a leading '/', "
                            "then letters, digits, '.', '_', '~', '-' and '/' between segments")
        elif any(path == p or path.startswith(p + '/') for p in INDEX_PATHS):
            problems.append(f"{names['health_endpoint']} '{path}' is under a path the index serves ({', '.join(INDEX_PATHS)})")
    if 'htpasswd_refresh_interval' in settings:
        interval = REFRESH_INTERVAL.match(str(settings['htpasswd_refresh_interval']))
        if not interval or int(interval.group(1)) == 0:
            problems.append(f"{names['htpasswd_refresh_interval']} '{settings['htpasswd_refresh_interval']}' must be a "
                            "positive number with s, min or h, such as 2min (it bounds how long nginx remembers a verdict)")
    ports = {}
    for key in ('port', 'backend_port', 'https_port'):
        if key in settings:
            port = _int(settings[key])
            if port is None or not 1 <= port <= 65535:
                problems.append(f"{names[key]} '{settings[key]}' must be a TCP port, 1 to 65535")
            else:
                ports[key] = port
    if 'port' in ports and 'backend_port' in ports and ports['port'] - ports['backend_port'] in (0, 1, 2, 3):
        problems.append(f"{names['port']} ({ports['port']}) must differ from {names['backend_port']} and the three ports "
                        "after it (pypiserver, the credential, upstream and trusted publishing services listen there, "
                        "nginx on the other)")
    domain = str(settings.get('acme_domain') or '')
    if domain and 'port' in ports and ports.get('https_port') == ports['port']:
        problems.append(f"{names['port']} ({ports['port']}) must differ from {names['https_port']}: with "
                        f"{names['acme_domain']} nginx serves HTTPS there and redirects plain HTTP from the other")
    email = str(settings.get('acme_email') or '')
    if email and not ACME_EMAIL.match(email):
        problems.append(f"{names['acme_email']} '{email}' must be an e-mail address or empty")
    if 'acme_directory_url' in settings and not str(settings['acme_directory_url']).startswith('https://'):
        problems.append(f"{names['acme_directory_url']} '{settings['acme_directory_url']}' must be an https URL")
    return problems + _upstream_problems(settings, names) + _oidc_problems(settings, names)


OIDC_ISSUER_URL = re.compile(r'^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$')
OIDC_NAME = re.compile(r'^[a-z0-9][a-z0-9._-]{0,63}$')
OIDC_AUDIENCE = re.compile(r'^[A-Za-z0-9._:/-]{1,128}$')
OIDC_REPOSITORY = {'github': re.compile(r'^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'),
                   'gitlab': re.compile(r'^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$')}
OIDC_WORKFLOW = {'github': re.compile(r'^[A-Za-z0-9_.-]+\.ya?ml$'),
                 'gitlab': re.compile(r'^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\.ya?ml$')}
OIDC_KEYS = {'github': {'repository', 'workflow', 'ref', 'environment', 'issuer_url'},
             'gitlab': {'repository', 'workflow', 'ref', 'environment', 'issuer_url'},
             'custom': {'claims'}}
OIDC_VALUE = re.compile(r'^[^\x00-\x1f]{1,300}$')


def _oidc_publisher_problems(index, entry, insecure):
    where = f'trusted publisher {index + 1}'
    if not isinstance(entry, Mapping):
        return [f'{where} must be a mapping (projects, issuer, ...)']
    problems = []
    if entry.get('name') is not None:
        where = f"trusted publisher {index + 1} ({entry['name']})"
        if not OIDC_NAME.match(str(entry['name'])):
            problems.append(f"{where}: name must be lower-case letters, digits, '.', '_' or '-' (64 at most)")
    projects = entry.get('projects')
    if not _is_list(projects) or not projects or any(not NAME_PATTERN.match(str(p)) for p in projects):
        problems.append(f'{where}: projects must be a non-empty list of normalized project names or patterns '
                        '(a-z 0-9 - * ? [])')
    issuer = str(entry.get('issuer') or '')
    url_rule = re.compile(OIDC_ISSUER_URL.pattern.replace('https', 'https?')) if insecure else OIDC_ISSUER_URL
    kind = issuer if issuer in ('github', 'gitlab') else 'custom'
    if kind == 'custom' and not url_rule.match(issuer):
        # the other fields depend on the issuer: nothing more to say until it is right
        return problems + [f"{where}: issuer '{issuer}' must be github, gitlab or the https URL of an OIDC issuer"]
    unknown = set(entry) - OIDC_KEYS[kind] - {'name', 'projects', 'issuer', 'algorithms'}
    if unknown:
        problems.append(f"{where}: {', '.join(sorted(map(str, unknown)))} not known for issuer {issuer or '(none)'} "
                        f"(it takes {', '.join(sorted(OIDC_KEYS[kind]))})")
    algorithms = entry.get('algorithms', ['RS256'])
    if not _is_list(algorithms) or not algorithms or any(a not in ('RS256', 'ES256') for a in algorithms):
        problems.append(f'{where}: algorithms must be a list of RS256, ES256')
    if kind == 'custom':
        claims = entry.get('claims')
        values = [v for c in claims.values() for v in (c if _is_list(c) else [c])] if isinstance(claims, Mapping) else []
        if (not isinstance(claims, Mapping) or not claims or not values
                or any(not isinstance(v, str) or not OIDC_VALUE.match(v) for v in values)):
            problems.append(f'{where}: claims must map each claim the token must carry to a string (or a list of '
                            'strings), at least one')
        return problems
    if entry.get('issuer_url') is not None and not url_rule.match(str(entry['issuer_url'])):
        problems.append(f"{where}: issuer_url '{entry['issuer_url']}' must be an https URL")
    shapes = {'github': ('owner/name', 'the workflow file name in .github/workflows, e.g. release.yml'),
              'gitlab': ('group/project', 'the CI configuration file path, e.g. .gitlab-ci.yml')}[kind]
    if not OIDC_REPOSITORY[kind].match(str(entry.get('repository') or '')):
        problems.append(f'{where}: repository must be {shapes[0]}')
    if not OIDC_WORKFLOW[kind].match(str(entry.get('workflow') or '')):
        problems.append(f'{where}: workflow must be {shapes[1]}')
    for key in ('ref', 'environment'):
        if entry.get(key) is not None and not (isinstance(entry[key], str) and OIDC_VALUE.match(entry[key])):
            problems.append(f'{where}: {key} must be a non-empty string')
    return problems


def _oidc_problems(settings, names):
    """Trusted publishers (oidc_publishers, oidc_audience, oidc_token_minutes, oidc_insecure_issuers)."""
    problems = []
    if 'oidc_audience' in settings and not OIDC_AUDIENCE.match(str(settings['oidc_audience'])):
        problems.append(f"{names['oidc_audience']} '{settings['oidc_audience']}' must be 1 to 128 letters, digits or . _ : / -")
    if 'oidc_token_minutes' in settings:
        minutes = _int(settings['oidc_token_minutes'])
        if minutes is None or not 1 <= minutes <= 60:
            problems.append(f"{names['oidc_token_minutes']} '{settings['oidc_token_minutes']}' must be 1 to 60 minutes")
    publishers = settings.get('oidc_publishers') or []
    if not _is_list(publishers):
        return problems + [f"{names['oidc_publishers']} must be a list of trusted publishers"]
    insecure = _bool(settings.get('oidc_insecure_issuers'))
    found = [p for i, entry in enumerate(publishers) for p in _oidc_publisher_problems(i, entry, insecure)]
    named = [str(e['name']) for e in publishers if isinstance(e, Mapping) and e.get('name') is not None]
    if len(named) != len(set(named)):
        found.append('two trusted publishers have one name')
    return problems + [f"{names['oidc_publishers']}: {problem}" for problem in found]


def public_endpoint(settings):
    """The index's public endpoint, worked out once for what reads it: the security groups (port),
    the Route53 health check (health), the outputs (url, simple_url).

    settings: load_balancer_enabled, elastic_ip_enabled, https_enabled (TLS at the load balancer or
    on the instance), index_port (the instances' port), and, once they exist, fqdn, load_balancer_dns_name,
    elastic_ip. Returns scheme, port, host (empty until known), url_port ('' or ':<port>'), url,
    simple_url and health ({} when nothing public is probed; else type, port and fqdn or ip_address).
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('public_endpoint expects a dict of settings')
    load_balancer, https = _bool(settings.get('load_balancer_enabled')), _bool(settings.get('https_enabled'))
    elastic_ip = _bool(settings.get('elastic_ip_enabled'))
    port = 443 if https else (80 if load_balancer else _int(settings.get('index_port'), 8080))
    scheme = 'https' if https else 'http'
    fqdn, dns_name = str(settings.get('fqdn') or ''), str(settings.get('load_balancer_dns_name') or '')
    address = str(settings.get('elastic_ip') or '')
    host = fqdn or (dns_name if load_balancer else address)
    url_port = '' if port == {'https': 443, 'http': 80}[scheme] else f':{port}'
    health = {}
    if load_balancer or elastic_ip:
        health = {'type': scheme.upper(), 'port': port}
        # the load balancer's own name when there is no DNS name of the index's (plain HTTP)
        if load_balancer or fqdn:
            health['fqdn'] = fqdn if https and fqdn else dns_name
        else:
            health['ip_address'] = address
    url = f'{scheme}://{host}{url_port}/' if host else ''
    return {'scheme': scheme, 'port': port, 'host': host, 'url_port': url_port, 'url': url,
            'simple_url': url + 'simple/' if url else '', 'health': health}


# one requirement of a lock: name==version, optional extras and environment marker
PINNED = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+\s*(;.*)?$')
SHA256 = re.compile(r'^--hash=sha256:[0-9a-f]{64}$')


def pip_lock_problems(text):
    """Problems with a hash-pinned requirements file (the pypiserver role's pypiserver_pip_lock):
    every requirement pinned with == and given at least one sha256, nothing pip would fetch from
    elsewhere (a URL, a path, an index or find-links option, an editable or included file)."""
    if not isinstance(text, str):
        raise AnsibleFilterError('pip_lock_problems expects the text of a requirements file')
    problems, requirements = [], 0
    # pip's own line joining: a trailing backslash continues the line; a comment ends it
    logical = re.sub(r'\\\n', ' ', text)
    for number, raw in enumerate(logical.splitlines(), start=1):
        line = re.sub(r'(^|\s)#.*$', '', raw).strip()
        if not line:
            continue
        words = line.split()
        hashes = [w for w in words if w.startswith('--hash')]
        rest = ' '.join(w for w in words if not w.startswith('--hash'))
        if rest.startswith('-'):
            problems.append(f'line {number}: the option {rest.split()[0]} is not allowed in a lock (only requirements with --hash)')
            continue
        requirements += 1
        if not PINNED.match(rest):
            problems.append(f'line {number}: {rest[:80]!r} is not pinned with == to one version')
        if not hashes:
            problems.append(f'line {number}: {rest[:80]!r} has no --hash=sha256:...')
        problems.extend(f'line {number}: {h[:80]!r} is not a sha256 hash' for h in hashes if not SHA256.match(h))
    if not requirements:
        problems.append('the lock lists no requirement')
    return problems


class FilterModule:
    def filters(self):
        return {
            'network_problems': network_problems,
            'topology_problems': topology_problems,
            'alerting_problems': alerting_problems,
            'backup_problems': backup_problems,
            'user_problems': user_problems,
            'access_problems': access_problems,
            'plaintext_problems': plaintext_problems,
            'host_settings_problems': host_settings_problems,
            'upstream_reach_problems': upstream_reach_problems,
            'public_endpoint': public_endpoint,
            'pip_lock_problems': pip_lock_problems,
        }
