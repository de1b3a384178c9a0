# -*- coding: utf-8 -*-

# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The attribute rows that modules of one kind would otherwise each repeat. Used after
    # ansible.builtin.action_common_attributes, which gives the rows their descriptions.

    # privatepypi.aws.attributes.read_only: an information module, which changes nothing
    # (as amazon.aws's *_info modules say it), so check mode is full and a diff has nothing to show.
    READ_ONLY = r'''
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: N/A
    details: Reads only.
'''
