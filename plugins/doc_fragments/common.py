# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options every twzrd.ops module shares: where state and the run log go.
    DOCUMENTATION = r'''
options:
  state_file:
    description:
      - JSON file that keeps what must survive between runs (previous values, alert history).
      - Shared by all twzrd.ops modules, one section each; written atomically under a lock.
      - A missing or corrupt file is a warning and a fresh start.
      - Set to an empty string to keep no state.
    type: path
    default: /var/lib/twzrd/state.json
  log_file:
    description:
      - Append one logfmt line per run to this file (created mode C(0640) when missing).
      - The format is documented in C(docs/logs.md) of the collection.
      - Nothing is written in check mode.
    type: path
'''
