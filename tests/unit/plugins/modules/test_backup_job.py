# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""privatepypi.aws.backup_job's wait (the job itself, against the emulator's AWS Backup: the aws_stack role's
tests/unit/roles/aws_stack/test_teardown_final_backup.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

pytest.importorskip('boto3')

from ansible_collections.privatepypi.aws.plugins.modules import backup_job  # noqa: E402


class Jobs:
    def __init__(self, states):
        self.states = list(states)

    def describe_backup_job(self, aws_retry, BackupJobId):  # noqa: N803 - boto3's parameter name
        return {'BackupJobId': BackupJobId, 'State': self.states.pop(0) if len(self.states) > 1 else self.states[0]}


def test_waits_until_the_job_has_finished():
    clock = {'now': 0.0}
    job, timed_out = backup_job.wait_for_job(Jobs(['CREATED', 'RUNNING', 'COMPLETED']), 'j-1', 600,
                                             sleep=lambda s: clock.update(now=clock['now'] + s), clock=lambda: clock['now'])
    assert (job['State'], timed_out, clock['now']) == ('COMPLETED', False, 2 * backup_job.POLL_SECONDS)


def test_gives_up_at_the_timeout_with_the_last_state():
    clock = {'now': 0.0}
    job, timed_out = backup_job.wait_for_job(Jobs(['RUNNING']), 'j-2', 40,
                                             sleep=lambda s: clock.update(now=clock['now'] + s), clock=lambda: clock['now'])
    assert (job['State'], timed_out) == ('RUNNING', True) and clock['now'] >= 40
