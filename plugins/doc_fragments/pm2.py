# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # How to reach PM2: binary, home, owner. Never spawns a daemon.
    DOCUMENTATION = r'''
options:
  pm2_bin:
    description:
      - Path of the C(pm2) executable.
      - When not set, C(pm2) is looked up in E(PATH), then in C(/usr/local/bin) and C(/usr/bin).
      - When set, it must exist, otherwise the module fails before doing anything.
    type: path
  pm2_home:
    description:
      - The E(PM2_HOME) of the PM2 daemon to inspect.
      - Defaults to E(PM2_HOME) of the caller, or C(~/.pm2) of O(pm2_user).
    type: path
  pm2_user:
    description:
      - User that owns the PM2 daemon; pm2 commands run as this user (the module must run as root or as this user).
      - Defaults to the user running the module.
    type: str
  pm2_timeout:
    description:
      - Seconds to wait for one pm2 command.
    type: int
    default: 30
notes:
  - A PM2 daemon is never started by this module. C(pm2 jlist) would spawn one, so the daemon's
    C(pm2.pid) is checked first and pm2 is not called when it is not running.
  - Nothing from the environment PM2 keeps for each app (C(pm2_env)) is returned or logged.
'''
