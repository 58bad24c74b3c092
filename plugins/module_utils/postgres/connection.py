# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for twzrd.ops modules (docs/design.md, "PostgreSQL facts").

Option names follow community.postgresql so users' variables carry over,
without depending on that collection.  The default is peer authentication
over the local unix socket as ``postgres``: no password anywhere.

* Every session runs under ``statement_timeout`` (set at connect time via
  the libpq ``options`` string, so even the first query is covered).
* Connection failures become one line with a kind (server down, auth,
  unknown database) and never contain the password.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time

try:
    import psycopg2
    from psycopg2 import sql
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module with missing_required_lib
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import excerpt, url_credentials

DEFAULT_SOCKET_DIR = '/var/run/postgresql'
DEFAULT_CONNECT_TIMEOUT = 10
APPLICATION_NAME = 'twzrd.ops'

SERVER_UNREACHABLE = 'server_unreachable'
AUTH_FAILED = 'auth_failed'
UNKNOWN_DATABASE = 'unknown_database'
CONNECTION_FAILED = 'connection_failed'

_REMEDIATION = {
    SERVER_UNREACHABLE: 'Check that PostgreSQL runs (systemctl status postgresql; pg_lsclusters) and '
                        'that login_host/login_unix_socket/login_port point at it.',
    AUTH_FAILED: 'Check login_user/login_password and pg_hba.conf; with peer auth (the default) run the '
                 'job as the OS user named by login_user (postgres).',
    UNKNOWN_DATABASE: 'Check login_db: list databases with psql -l.',
    CONNECTION_FAILED: 'Read the message; check the connection options and the PostgreSQL server log.',
}


# Documented maxima shared by both database modules (docs/db_health.md, "Bounds").
CONNECTION_BOUNDS = {'login_port': (1, 65535), 'statement_timeout': (('>', 0), 3600)}


def postgres_argument_spec():
    """Connection options (documented in the twzrd.ops.postgres doc fragment)."""
    return dict(
        login_user=dict(type='str', default='postgres', aliases=['login']),
        login_password=dict(type='str', default='', no_log=True),
        login_host=dict(type='str', default='', aliases=['host']),
        login_unix_socket=dict(type='str', default='', aliases=['unix_socket']),
        login_port=dict(type='int', default=5432, aliases=['port']),
        login_db=dict(type='str', default='postgres', aliases=['db']),
        ssl_mode=dict(type='str', default='prefer',
                      choices=['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='str', aliases=['ssl_rootcert']),
        connect_params=dict(type='dict', default={}),
        statement_timeout=dict(type='float', default=5.0),
    )


# connect_params keys whose values are secrets (libpq: password, sslpassword; a dsn may hold a password).
_SECRET_CONNECT_KEY = re.compile(r'(?i)(pass(?!file)|secret|token|dsn)')


def connection_secrets(params):
    """Every secret value a connection uses: login_password and secret connect_params values."""
    values = [params.get('login_password') or '']
    for key, value in (params.get('connect_params') or {}).items():
        if _SECRET_CONNECT_KEY.search(str(key)) and value not in (None, ''):
            values.append(str(value))
            values.extend(url_credentials(str(value)))
    return [v for v in values if v]


def mask_secrets(module):
    """connect_params stays readable (timeouts); only its secret values are masked in every result."""
    module.no_log_values.update(connection_secrets(module.params))


class PgConnectError(Exception):
    """Connecting failed; ``kind`` says why, ``str()`` is one clean line."""

    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind
        self.message = message

    @property
    def remediation(self):
        return runbook(_REMEDIATION[self.kind], 'postgresql-down-or-refusing-connections')


def connection_alert(exc):
    """A database that does not answer is a critical alert, never a module failure (core/job_module.py)."""
    return make_alert('connection', CRITICAL, exc.kind, 'connect', exc.message, exc.remediation)


def connection_kwargs(params, statement_timeout=None, lock_timeout=None):
    """psycopg2.connect() keyword arguments from module params (pure)."""
    host = params.get('login_host') or params.get('login_unix_socket') or DEFAULT_SOCKET_DIR
    kwargs = {
        'host': host,
        'port': params.get('login_port') or 5432,
        'user': params.get('login_user') or 'postgres',
        'dbname': params.get('login_db') or 'postgres',
        'sslmode': params.get('ssl_mode') or 'prefer',
        'connect_timeout': DEFAULT_CONNECT_TIMEOUT,
        'application_name': APPLICATION_NAME,
    }
    if params.get('login_password'):
        kwargs['password'] = params['login_password']
    if params.get('ca_cert'):
        kwargs['sslrootcert'] = params['ca_cert']
    extra = dict(params.get('connect_params') or {})
    options = extra.pop('options', '')
    kwargs.update(extra)
    if statement_timeout is not None:
        # -c at startup: the timeout holds from the very first statement.
        timeout_option = '-c statement_timeout=%d' % max(1, int(round(statement_timeout * 1000)))
        options = ('%s %s' % (options, timeout_option)).strip()
    if lock_timeout is not None:
        options = ('%s -c lock_timeout=%d' % (options, max(1, int(round(lock_timeout * 1000))))).strip()
    if options:
        kwargs['options'] = options
    return kwargs


def describe_connect_error(text, params):
    """(kind, one-line message) for a libpq connection error text (pure)."""
    lines = [line.strip() for line in (text or '').strip().splitlines() if line.strip()]
    first = lines[0] if lines else 'unknown error'
    # "connection to server ... failed: FATAL:  reason" -> keep where + reason
    detail = first.replace('FATAL:  ', '').replace('FATAL: ', '')
    lowered = text.lower() if text else ''
    if 'database' in lowered and 'does not exist' in lowered:
        kind = UNKNOWN_DATABASE
    elif any(marker in lowered for marker in (
            'authentication failed', 'no password supplied', 'no pg_hba.conf entry',
            'password authentication', 'peer authentication', 'role "', 'permission denied for database')):
        kind = AUTH_FAILED
    elif any(marker in lowered for marker in (
            'connection refused', 'no such file or directory', 'timeout expired', 'could not translate host',
            'is the server running', 'could not connect', 'server closed the connection',
            'network is unreachable', 'no route to host', 'the database system is starting up',
            'the database system is shutting down')):
        kind = SERVER_UNREACHABLE
    else:
        kind = CONNECTION_FAILED
    prefix = {
        SERVER_UNREACHABLE: 'PostgreSQL server unreachable',
        AUTH_FAILED: 'PostgreSQL authentication failed',
        UNKNOWN_DATABASE: 'PostgreSQL database %r does not exist' % (params.get('login_db') or 'postgres'),
        CONNECTION_FAILED: 'cannot connect to PostgreSQL',
    }[kind]
    secrets = connection_secrets(params)
    return kind, excerpt('%s: %s' % (prefix, detail), secrets=secrets)


def connect(params, statement_timeout=None, lock_timeout=None):
    """An autocommit connection; raises PgConnectError with a clean message.

    Autocommit: VACUUM cannot run in a transaction block, and health reads
    each get a fresh statistics snapshot.
    """
    kwargs = connection_kwargs(params, statement_timeout=statement_timeout, lock_timeout=lock_timeout)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        kind, message = describe_connect_error(str(exc), params)
        raise PgConnectError(kind, message)
    conn.autocommit = True
    return conn


def query_error_message(exc, params=None):
    """One redacted line for a psycopg2 error raised by a query."""
    text = getattr(exc, 'pgerror', None) or str(exc)
    secrets = connection_secrets(params or {})
    return excerpt(text.replace('ERROR:  ', ''), secrets=secrets)


def fetch_all(conn, query, args=None):
    """Rows as dicts (column name -> value)."""
    with conn.cursor() as cur:
        cur.execute(query, args)
        if cur.description is None:
            return []
        names = [column[0] for column in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def fetch_one(conn, query, args=None):
    rows = fetch_all(conn, query, args)
    return rows[0] if rows else None


def set_session(conn, settings):
    """SET name = value for the session; names are identifiers, values parameters."""
    with conn.cursor() as cur:
        for name, value in settings:
            cur.execute(sql.SQL('SELECT set_config({}, %s, false)').format(sql.Literal(name)), (str(value),))


def timed_roundtrips(conn, count):
    """Wall-clock milliseconds of ``count`` trivial queries (for latency)."""
    samples = []
    with conn.cursor() as cur:
        for dummy in range(count):
            started = time.perf_counter()
            cur.execute('SELECT 1')
            cur.fetchone()
            samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def qualified_identifier(schema, name):
    """schema.name as a quoted SQL identifier (never string formatting)."""
    return sql.Identifier(schema, name)


def split_table_name(text, default_schema='public'):
    """'schema.table' or 'table' -> (schema, table); names taken verbatim, spaces included (pure)."""
    text = text or ''
    if '.' in text:
        schema, name = text.split('.', 1)
        return schema, name
    return default_schema, text
