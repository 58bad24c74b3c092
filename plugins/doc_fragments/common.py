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
      - A missing or corrupt file is a warning and a fresh start; so is a section of the wrong shape (only that section).
      - Only a regular file (or a missing one) is used; a symlink, FIFO, directory or device is refused with an
        error and never read or replaced. Files larger than 16 MiB are a fresh start.
      - Set to an empty string to keep no state.
    type: path
    default: /var/lib/twzrd/state.json
  log_file:
    description:
      - Append one logfmt line per run to this file (created mode C(0640) when missing).
      - The format is documented in C(docs/logs.md) of the collection.
      - Nothing is written in check mode.
    type: path
notes:
  - Every option is checked before anything happens; a bad value fails with a message naming the option.
    Strings and paths must not hold NUL bytes; numbers must be finite (no C(nan), C(inf)) and within
    +/- 2**53; the counts and durations each module bounds are listed in its notes and in C(docs/alerts.md).
'''
