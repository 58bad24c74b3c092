# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hourly ``postgres`` check: does a PostgreSQL server answer at all (like pg_isready)?

No credentials and no psycopg2: the probe speaks the first step of the wire
protocol itself (https://www.postgresql.org/docs/15/protocol-flow.html).  It
sends a StartupMessage (protocol 3.0) for a role that needs not exist and
reads the first reply.  An authentication request (``R``) or an
ErrorResponse (``E``: unknown role, wrong password, pg_hba) comes from a
server that is up, exactly as libpq's PQping counts it; only SQLSTATE 57P03
(cannot_connect_now: starting up, shutting down, a standby not open for
reads) means it answers but takes no connections.  The probe then just
closes the socket: a client that leaves during authentication is not logged
by the server (a Terminate message there would be).  An unknown role or a
pg_hba rejection is logged by the server as one FATAL line per probe, as for
pg_isready.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import struct
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.probes.budget import NotRun, run_concurrently

CHECK = 'postgres'
OPTION = 'postgres_ping'
ACCEPTING = 'accepting'
REJECTING = 'rejecting'
NO_RESPONSE = 'no_response'
DEFAULT_SOCKET_DIR = '/var/run/postgresql'  # as module_utils/postgres/connection.py and Debian's libpq
DEFAULT_PORT = 5432
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 300.0
PING_ROLE = 'twzrd_ping'
PROTOCOL_3_0 = 3 << 16
CANNOT_CONNECT_NOW = '57P03'
MAX_REPLY = 4096  # an ErrorResponse is a few hundred bytes; never read more than this

# The option's suboptions with their documentation (the check registry derives spec and docs from them).
SUBOPTIONS = {
    'login_host': dict(type='str', default='', aliases=['host'], description=[
        'Host name or IP address of the server. Takes precedence over O(postgres_ping.login_unix_socket).',
        'When neither is set, the unix socket directory C(/var/run/postgresql) is used.']),
    'login_unix_socket': dict(type='str', default='', aliases=['unix_socket'], description=[
        "Directory holding the server's unix socket (C(.s.PGSQL.PORT) in it)."]),
    'login_port': dict(type='int', default=DEFAULT_PORT, aliases=['port'], description=[
        'Server port (also names the unix socket file).']),
    'timeout': dict(type='float', default=DEFAULT_TIMEOUT, description=[
        'Seconds to wait for the answer (at most 300, never more than what is left of O(probe_budget)).']),
}
ANCHOR = 'postgresql-does-not-answer-the-hourly-ping'
REMEDIATION_TEXT = ('See whether PostgreSQL runs and why not: `pg_lsclusters`, `systemctl status postgresql`, '
                    '`sudo tail -50 /var/log/postgresql/postgresql-*-main.log`; start it again once the cause '
                    '(full disk, memory) is fixed. Check by hand: `pg_isready -h HOST -p PORT`.')
REMEDIATION = runbook(REMEDIATION_TEXT, ANCHOR)


def errors(ping):
    """Messages naming the parameter (``postgres_ping.login_port: ...``); ``ping`` None = check disabled."""
    if ping is None:
        return []
    if not isinstance(ping, dict):
        return ['%s must be a dict with login_host, login_unix_socket, login_port, timeout' % OPTION]
    found = []
    port = ping.get('login_port', DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        found.append('%s.login_port: must be a port number (1-65535), got %r' % (OPTION, port))
    timeout = ping.get('timeout', DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        found.append('%s.timeout: must be > 0 and <= %g seconds, got %r' % (OPTION, MAX_TIMEOUT, timeout))
    for key in ('login_host', 'login_unix_socket'):
        value = ping.get(key) or ''
        if not isinstance(value, str) or '\x00' in value or any(ch.isspace() for ch in value):
            found.append('%s.%s: must be a host name, address or directory without whitespace or NUL, got %r'
                         % (OPTION, key, value))
    socket_dir = ping.get('login_unix_socket') or ''
    if isinstance(socket_dir, str) and socket_dir and not socket_dir.startswith('/'):
        found.append('%s.login_unix_socket: must be an absolute directory, got %r' % (OPTION, socket_dir))
    return found


def target(ping):
    """``('unix', socket file)`` or ``('tcp', host, port)``, chosen as libpq does from the options."""
    host = ping.get('login_host') or ping.get('login_unix_socket') or DEFAULT_SOCKET_DIR
    port = ping.get('login_port') or DEFAULT_PORT
    if host.startswith('/'):
        return ('unix', os.path.join(host, '.s.PGSQL.%d' % port))
    return ('tcp', host, port)


def describe(where):
    """The subject and ``target`` text: the socket file, or ``host:port`` (``[v6]:port``)."""
    if where[0] == 'unix':
        return where[1]
    host = '[%s]' % where[1] if ':' in where[1] else where[1]
    return '%s:%d' % (host, where[2])


# --- the wire protocol (pure) --------------------------------------------------------------------

def startup_message(user=PING_ROLE, database=PING_ROLE):
    """A protocol 3.0 StartupMessage: Int32 length, Int32 version, name/value C strings, a final NUL."""
    body = b''.join(part.encode('utf-8') + b'\x00' for part in
                    ('user', user, 'database', database, 'application_name', 'twzrd_ping')) + b'\x00'
    return struct.pack('!ii', 8 + len(body), PROTOCOL_3_0) + body


def reply_complete(data):
    """True once ``data`` holds the first whole backend message (or enough to decide)."""
    if not data:
        return False
    if data[:1] != b'E':
        return True  # R and anything else: the first byte decides
    if len(data) < 5:
        return False
    return len(data) >= min(1 + struct.unpack('!i', data[1:5])[0], MAX_REPLY)


def error_fields(data):
    """``{field type: text}`` of an ErrorResponse (``E``, Int32 length, ``<type><text>\\0``..., ``\\0``)."""
    if len(data) < 5:
        return {}
    length = struct.unpack('!i', data[1:5])[0]
    fields = {}
    for part in data[5:1 + max(4, length)].split(b'\x00'):
        if part:
            fields[part[:1].decode('ascii', 'replace')] = part[1:].decode('utf-8', 'replace')
    return fields


def parse_reply(data):
    """``(answer, error)`` from the first bytes the server sent, as PQping judges them."""
    if not data:
        return NO_RESPONSE, 'the server closed the connection without answering'
    kind = data[:1]
    if kind in (b'R', b'v'):  # authentication request; NegotiateProtocolVersion is PostgreSQL too
        return ACCEPTING, None
    if kind == b'E':
        fields = error_fields(data)
        code = fields.get('C', '')
        if len(code) != 5:
            return NO_RESPONSE, 'the answer is an error without a SQLSTATE: not a PostgreSQL 7.4+ server'
        if code == CANNOT_CONNECT_NOW:
            return REJECTING, '%s (SQLSTATE %s)' % (fields.get('M') or 'cannot connect now', code)
        return ACCEPTING, None  # it did not like our role, database or address: it is up
    return NO_RESPONSE, 'something answered, but not as PostgreSQL (first byte 0x%02x)' % ord(kind)


# --- the probe (network) -------------------------------------------------------------------------

def _connect(where, timeout):
    if where[0] == 'unix':
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(where[1])
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection((where[1], where[2]), timeout=timeout)


def _reason(exc, where, timeout):
    if isinstance(exc, socket.timeout):
        return 'no answer within %gs' % round(timeout, 3)
    if isinstance(exc, FileNotFoundError):
        return 'no socket %s: no server listens there' % where[1]
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused: no server listens there'
    if isinstance(exc, socket.gaierror):
        return 'cannot resolve %s: %s' % (where[1], exc.strerror or exc)
    return getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__


def ping(where, timeout):
    """One probe of ``where`` (see :func:`target`): ``(answer, latency_ms, error)``."""
    started = time.monotonic()
    deadline = started + timeout
    data = b''
    try:
        sock = _connect(where, timeout)
        try:
            sock.sendall(startup_message())
            while not reply_complete(data) and len(data) < MAX_REPLY:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = sock.recv(MAX_REPLY - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()  # no Terminate: leaving mid-authentication is not logged, a Terminate there is
    except (OSError, socket.error) as exc:
        if not data:
            return NO_RESPONSE, None, _reason(exc, where, timeout)
    answer, error = parse_reply(data)
    return answer, round((time.monotonic() - started) * 1000.0, 1), error


def jobs(ping_options):
    """run_concurrently jobs, keyed ``('postgres', subject)``; none when the check is disabled."""
    if ping_options is None:
        return {}
    where = target(ping_options)
    timeout = ping_options.get('timeout') or DEFAULT_TIMEOUT
    return {(CHECK, describe(where)): (timeout, lambda seconds: ping(where, seconds))}


def results(ping_options, outcomes):
    """``{subject: {target, answer, latency_ms, error}}``; the subject is the target text."""
    out = {}
    for key in jobs(ping_options):
        outcome = outcomes.get(key)
        if isinstance(outcome, NotRun) or outcome is None:
            answer, latency, error = NO_RESPONSE, None, outcome.reason if outcome is not None else 'not run'
        else:
            answer, latency, error = outcome
        out[key[1]] = {'target': key[1], 'answer': answer, 'latency_ms': latency, 'error': error}
    return out


def collect(postgres_ping, budget):
    """Ping the server named by ``postgres_ping`` (None: disabled, returns {}) within ``budget``."""
    if postgres_ping is None:
        return {}
    return results(postgres_ping, run_concurrently(jobs(postgres_ping), budget))


# --- evaluating (pure) ---------------------------------------------------------------------------

def remediation_text(subject):
    """What to do when the server at ``subject`` does not answer, without the runbook link."""
    return _remediation(subject, REMEDIATION_TEXT)


def _remediation(subject, template=REMEDIATION):
    if subject.startswith('/'):
        host, port = os.path.dirname(subject), subject.rsplit('.', 1)[-1]
    else:
        host, port = subject.rsplit(':', 1)
        host = host.strip('[]')  # pg_isready takes ::1, not [::1]
    return template.replace('HOST', host).replace('PORT', port)


def evaluate(results_by_subject):
    """Critical unless the server answers and takes connections."""
    alerts = []
    for subject in sorted(results_by_subject):
        result = results_by_subject[subject]
        if result['answer'] == ACCEPTING:
            continue
        alerts.append(make_alert(CHECK, CRITICAL, result['answer'], ACCEPTING, message(subject, result),
                                 _remediation(subject), subject=subject))
    return alerts


def message(subject, result):
    """The alert message for a server that does not accept connections."""
    if result['answer'] == REJECTING:
        text = ('answers but takes no connections now: %s; expected a server accepting connections. If it does '
                'not pass within minutes, read the server log' % result['error'])
    else:
        text = ('does not answer: %s; expected a server accepting connections. Find out why it is down and '
                'start it again' % (result['error'] or 'no answer'))
    return 'PostgreSQL at %s %s' % (subject, text)
