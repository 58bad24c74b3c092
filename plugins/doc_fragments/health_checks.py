# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# generated from the check registry (plugins/module_utils/checks/) by scripts/generate.py, do not edit

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The threshold options of the twzrd_health checks in the check registry.
    DOCUMENTATION = r'''
options:
  swap_warning:
    description:
      - Swap used, in percent of the swap size, above which a warning is raised.
      - Between 0 and 100.
    type: float
    default: 20
  swap_critical:
    description:
      - Swap used, in percent, above which the alert is critical.
      - Between 0 and 100.
    type: float
    default: 80
  memory_warning:
    description:
      - Memory in use, in percent of the total (total minus C(MemAvailable)), above which a warning is raised. Hosts
        without swap are checked too.
      - Between 0 and 100.
    type: float
    default: 90
  memory_critical:
    description:
      - Memory in use, in percent, above which the alert is critical.
      - Between 0 and 100.
    type: float
    default: 95
  oom_kills_warning:
    description:
      - Kernel OOM kills since the previous alerts run (the C(oom_kill) counter of C(/proc/vmstat)) above which
        a warning is raised; the first run only sets the baseline, kept in the state file.
      - Between 0 and 1000000.
    type: int
    default: 0
  oom_kills_critical:
    description:
      - OOM kills since the previous run above which the alert is critical. Unset means never critical.
      - Between 0 and 1000000.
    type: int
  load_warning:
    description:
      - 1-minute load average above which a warning is raised.
      - Between 0 and 10000.
    type: float
    default: 8
  load_critical:
    description:
      - 1-minute load average above which the alert is critical.
      - Between 0 and 10000.
    type: float
    default: 12
  load_per_cpu:
    description:
      - Divide the load average by the number of CPUs before comparing it with the thresholds.
    type: bool
    default: false
  disk_warning:
    description:
      - Disk used, in percent, above which a warning is raised.
      - Between 0 and 100.
    type: float
    default: 85
  disk_critical:
    description:
      - Disk used, in percent, above which the alert is critical.
      - Between 0 and 100.
    type: float
    default: 95
  disk_paths:
    description:
      - Mount points (or any path on them) whose use is checked.
    type: list
    elements: path
    default:
      - /
  inode_warning:
    description:
      - Inodes used on each path of O(disk_paths), in percent, above which a warning is raised.
      - Between 0 and 100.
    type: float
    default: 85
  inode_critical:
    description:
      - Inodes used, in percent, above which the alert is critical.
      - Between 0 and 100.
    type: float
    default: 95
  crash_warning:
    description:
      - PM2 crashes per app above which a warning is raised. Crashes are instances in C(errored) or C(stopped) state
        plus the growth of C(restart_time) since the previous alerts run, minus the restarts this collection made
        itself (M(twzrd.ops.pm2_restart)).
      - Between 0 and 1000000.
    type: int
    default: 0
  crash_critical:
    description:
      - PM2 crashes per app above which the alert is critical. Unset means never critical.
      - Between 0 and 1000000.
    type: int
'''
