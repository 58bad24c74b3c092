# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # PostgreSQL connection options, named as in community.postgresql so
    # existing variables carry over (no dependency on that collection).
    DOCUMENTATION = r'''
options:
  login_user:
    description:
      - Role to connect as.
      - With the default peer authentication the module must run as the OS user of the same name
        (for example with C(become_user=postgres)).
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description:
      - Password of O(login_user). Leave empty for peer or trust authentication (the default).
      - Never returned or logged.
    type: str
    default: ''
  login_host:
    description:
      - Host name or IP address of the server. Takes precedence over O(login_unix_socket).
      - When neither is set, the local unix socket directory C(/var/run/postgresql) is used.
    type: str
    default: ''
    aliases: [host]
  login_unix_socket:
    description:
      - Directory holding the server's unix socket.
    type: str
    default: ''
    aliases: [unix_socket]
  login_port:
    description:
      - Server port (also names the unix socket file).
    type: int
    default: 5432
    aliases: [port]
  login_db:
    description:
      - Database to connect to and check.
    type: str
    default: postgres
    aliases: [db]
  ssl_mode:
    description:
      - libpq C(sslmode) for TCP connections.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file to verify the server with (libpq C(sslrootcert)).
    type: str
    aliases: [ssl_rootcert]
  connect_params:
    description:
      - 'Further libpq connection parameters, for example C({connect_timeout: 5}).'
      - An C(options) entry is kept and the statement timeout is appended to it.
      - Values of secret keys (C(password), C(sslpassword), C(dsn)) are masked in results and logs; prefer O(login_password).
    type: dict
    default: {}
  statement_timeout:
    description:
      - Seconds any single catalog or statistics query may run before the server cancels it.
      - Set for the whole session when connecting.
    type: float
    default: 5.0
requirements:
  - psycopg2 (psycopg2-binary) on the managed host
notes:
  - Does not need the community.postgresql collection; only its option names are reused.
  - Server down, failed authentication and an unknown database are reported as one clear line,
    never with the password.
'''
