# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # What every AWS module of this collection says alike: who wrote it, where it runs and how
    # module_defaults reach it. Used with amazon.aws.common.modules, amazon.aws.region.modules,
    # amazon.aws.boto3 and ansible.builtin.action_common_attributes.
    DOCUMENTATION = r'''
author:
  - privatepypi developers (!UNKNOWN)
notes:
  - The module belongs to the C(privatepypi.aws.aws) action group; C(module_defaults) for
    C(group/amazon.aws.aws) do not reach it, those for C(group/privatepypi.aws.aws) do.
attributes:
  platform:
    platforms: posix
    details: Runs wherever boto3 reaches the AWS API, usually the controller.
'''
