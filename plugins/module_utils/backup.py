# -*- coding: utf-8 -*-

# Copyright: (c) 2025, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the AWS Backup modules share: boto3 answers shaped for results, and recovery points read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code


def dates_as_text(data):
    """Every date, however deep, as ISO 8601 text in UTC (boto3 gives them in the local time zone)."""
    if isinstance(data, datetime.datetime):
        return (data.astimezone(datetime.UTC) if data.tzinfo else data).isoformat()
    if isinstance(data, dict):
        return dict((key, dates_as_text(value)) for key, value in data.items())
    if isinstance(data, list):
        return [dates_as_text(value) for value in data]
    return data


def plain(data):
    """A boto3 answer in snake case with ISO 8601 dates, without the response metadata."""
    data = dict(data)
    data.pop('ResponseMetadata', None)
    return camel_dict_to_snake_dict(dates_as_text(data))


def describe_recovery_point(client, vault, arn):
    """DescribeRecoveryPoint's answer as boto3 gives it, or None when the vault or the recovery point does
    not exist. client is an AWSRetry-wrapped AWS Backup client."""
    try:
        return client.describe_recovery_point(aws_retry=True, BackupVaultName=vault, RecoveryPointArn=arn)
    except is_boto3_error_code('ResourceNotFoundException'):
        return None
