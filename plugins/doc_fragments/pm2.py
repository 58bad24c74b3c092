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
      - When not set, C(pm2) is looked up in E(PATH), then in C(/usr/local/bin) and C(/usr/bin); for a daemon
        found running (see O(pm2_home)), the C(pm2) beside its C(node) comes first.
      - When set, it must exist, otherwise the module fails before doing anything.
    type: path
  pm2_home:
    description:
      - The E(PM2_HOME) of the PM2 daemon to inspect.
      - Defaults to E(PM2_HOME) of the caller, or C(~/.pm2) of O(pm2_user).
      - When neither O(pm2_home) nor O(pm2_user) is set and the caller has no E(PM2_HOME), the PM2 daemons
        running on the host are found from C(/proc) (process title and owner, never their environment);
        M(twzrd.ops.twzrd_health) checks each, M(twzrd.ops.pm2_restart) acts on the only one and refuses to
        guess when several run. With none running, C(~/.pm2) of the caller is used.
    type: path
  pm2_user:
    description:
      - User that owns the PM2 daemon; pm2 commands run as this user (the module must run as root or as this user).
      - Defaults to the user running the module (or the owner of the daemon found, see O(pm2_home)).
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
