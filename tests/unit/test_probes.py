"""Pure parts of the hourly network probes (issue 19): option validation, the PostgreSQL wire protocol on
bytes recorded from a real PostgreSQL 15, the evaluators' alerts, and the shared time budget."""
import struct
import threading
import time

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.probes import Budget, budget as budget_mod, http_check, \
    postgres_ping as pp

# Recorded from PostgreSQL 15.18 (tests/integration/pg_harness.py cluster) after our StartupMessage:
# unix socket with trust: AuthenticationOk, then the unknown role
TRUST_UNKNOWN_ROLE = (b'R\x00\x00\x00\x08\x00\x00\x00\x00E\x00\x00\x00fSFATAL\x00VFATAL\x00C28000\x00Mrole '
                      b'"twzrd_ping" does not exist\x00Fmiscinit.c\x00L768\x00RInitializeSessionUserId\x00\x00')
# TCP with scram-sha-256: AuthenticationSASL
SCRAM_REQUEST = b'R\x00\x00\x00\x17\x00\x00\x00\nSCRAM-SHA-256\x00\x00'
# a standby with hot_standby = off
STANDBY = (b'E\x00\x00\x00\x95SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is not accepting connections\x00'
           b'DHot standby mode is disabled.\x00Fpostmaster.c\x00L2426\x00RProcessStartupPacket\x00\x00')


def error_response(fields):
    body = b''.join(k.encode() + v.encode() + b'\x00' for k, v in fields) + b'\x00'
    return b'E' + struct.pack('!i', 4 + len(body)) + body


# --- postgres wire protocol -----------------------------------------------------------------------

def test_startup_message_is_protocol_3_with_its_own_length():
    message = pp.startup_message()
    length, version = struct.unpack('!ii', message[:8])
    assert length == len(message) and version == 196608
    assert message[8:].split(b'\x00')[:4] == [b'user', b'twzrd_ping', b'database', b'twzrd_ping']
    assert message.endswith(b'\x00\x00')


@pytest.mark.parametrize('data,answer,error', [
    (TRUST_UNKNOWN_ROLE, 'accepting', None),
    (SCRAM_REQUEST, 'accepting', None),
    (error_response([('S', 'FATAL'), ('C', '28P01'), ('M', 'password authentication failed for user "x"')]),
     'accepting', None),
    (error_response([('S', 'FATAL'), ('C', '53300'), ('M', 'sorry, too many clients already')]), 'accepting', None),
    (error_response([('S', 'FATAL'), ('C', '57P03'), ('M', 'the database system is starting up')]),
     'rejecting', 'the database system is starting up (SQLSTATE 57P03)'),
    (STANDBY, 'rejecting', 'the database system is not accepting connections (SQLSTATE 57P03)'),
])
def test_replies_are_judged_as_pqping_does(data, answer, error):
    assert pp.reply_complete(data)
    assert pp.parse_reply(data) == (answer, error)


@pytest.mark.parametrize('data,why', [
    (b'', 'closed the connection without answering'),
    (b'HTTP/1.1 400 Bad Request\r\n', 'not as PostgreSQL (first byte 0x48)'),
    (error_response([('S', 'FATAL'), ('M', 'no code')]), 'without a SQLSTATE'),
    (b'E', 'without a SQLSTATE'),  # truncated
])
def test_anything_else_is_no_response(data, why):
    answer, error = pp.parse_reply(data)
    assert answer == 'no_response' and why in error


def test_an_error_response_is_complete_only_when_whole():
    assert not pp.reply_complete(b'')
    assert not pp.reply_complete(STANDBY[:4])
    assert not pp.reply_complete(STANDBY[:40])
    assert pp.reply_complete(STANDBY)
    assert pp.reply_complete(b'R')  # the first byte decides


@pytest.mark.parametrize('options,where,text', [
    ({}, ('unix', '/var/run/postgresql/.s.PGSQL.5432'), '/var/run/postgresql/.s.PGSQL.5432'),
    ({'login_unix_socket': '/tmp/pg', 'login_port': 5433}, ('unix', '/tmp/pg/.s.PGSQL.5433'), '/tmp/pg/.s.PGSQL.5433'),
    ({'login_host': 'db.internal', 'login_unix_socket': '/tmp/pg'}, ('tcp', 'db.internal', 5432), 'db.internal:5432'),
    ({'login_host': '::1', 'login_port': 6432}, ('tcp', '::1', 6432), '[::1]:6432'),
    ({'login_host': '/run/pg'}, ('unix', '/run/pg/.s.PGSQL.5432'), '/run/pg/.s.PGSQL.5432'),
])
def test_target_is_chosen_as_libpq_does(options, where, text):
    assert pp.target(options) == where
    assert pp.describe(where) == text


def test_postgres_ping_errors_name_the_parameter():
    assert pp.errors(None) == []
    assert pp.errors({'login_host': '', 'login_unix_socket': '', 'login_port': 5432, 'timeout': 5.0}) == []
    found = pp.errors({'login_host': 'a b', 'login_unix_socket': 'rel/dir', 'login_port': 70000, 'timeout': 0})
    assert found == ['postgres_ping.login_port: must be a port number (1-65535), got 70000',
                     'postgres_ping.timeout: must be > 0 and <= 300 seconds, got 0',
                     "postgres_ping.login_host: must be a host name, address or directory without whitespace or NUL, "
                     "got 'a b'",
                     "postgres_ping.login_unix_socket: must be an absolute directory, got 'rel/dir'"]
    assert pp.errors('localhost') == [
        'postgres_ping must be a dict with login_host, login_unix_socket, login_port, timeout']


def test_postgres_evaluation():
    up = {'target': '127.0.0.1:5432', 'answer': 'accepting', 'latency_ms': 1.2, 'error': None}
    assert pp.evaluate({'127.0.0.1:5432': up}) == []
    down = {'target': '/var/run/postgresql/.s.PGSQL.5432', 'answer': 'no_response', 'latency_ms': None,
            'error': 'no socket /var/run/postgresql/.s.PGSQL.5432: no server listens there'}
    alert, = pp.evaluate({down['target']: down})
    assert (alert['check'], alert['level'], alert['value'], alert['threshold'], alert['subject']) == \
        ('postgres', 'critical', 'no_response', 'accepting', down['target'])
    assert alert['message'].startswith('PostgreSQL at /var/run/postgresql/.s.PGSQL.5432 does not answer: no socket')
    assert 'expected a server accepting connections' in alert['message']
    assert 'pg_isready -h /var/run/postgresql -p 5432' in alert['remediation']
    assert alert['remediation'].endswith('(docs/runbooks.md#postgresql-does-not-answer-the-hourly-ping)')
    rejecting = {'target': '[::1]:6432', 'answer': 'rejecting', 'latency_ms': 0.8,
                 'error': 'the database system is starting up (SQLSTATE 57P03)'}
    alert, = pp.evaluate({'[::1]:6432': rejecting})
    assert alert['message'] == ('PostgreSQL at [::1]:6432 answers but takes no connections now: the database system is '
                                'starting up (SQLSTATE 57P03); expected a server accepting connections. If it does not '
                                'pass within minutes, read the server log')
    assert 'pg_isready -h ::1 -p 6432' in alert['remediation']


# --- http options and evaluation ---------------------------------------------------------------------

def test_http_checks_defaults_and_shorthand():
    checks, errors = http_check.normalize({'web': 'http://127.0.0.1:8080/health',
                                           'api': {'url': 'https://127.0.0.1/h', 'status': '204', 'timeout': 2,
                                                   'latency_warning_ms': 500}})
    assert errors == []
    assert checks == {'web': {'url': 'http://127.0.0.1:8080/health', 'status': 200, 'timeout': 5.0,
                              'latency_warning_ms': 1000.0},
                      'api': {'url': 'https://127.0.0.1/h', 'status': 204, 'timeout': 2.0,
                              'latency_warning_ms': 500.0}}
    assert http_check.normalize(None) == ({}, [])


@pytest.mark.parametrize('raw,message', [
    (['http://x'], 'http_checks must be a dict of check name -> {url, timeout, status, latency_warning_ms}'),
    ({'web': {'status': 200}}, 'http_checks.web.url: url is required'),
    ({'web': 'ftp://127.0.0.1/'}, "http_checks.web.url: url 'ftp://127.0.0.1/' must be an http:// or https:// URL"),
    ({'web': 'http://u:Secret99@127.0.0.1:99999/'}, "http_checks.web.url: url 'http://***@127.0.0.1:99999/' is not"),
    ({'web': {'url': 'http://h/', 'retries': 3}}, 'http_checks.web: unknown keys retries (allowed: url, '
                                                  'latency_warning_ms, status, timeout)'),
    ({'web': {'url': 'http://h/', 'status': 700}}, 'http_checks.web.status: must be an HTTP status (100-599), got 700'),
    ({'web': {'url': 'http://h/', 'status': True}}, 'http_checks.web.status: must be a number, got True'),
    ({'web': {'url': 'http://h/', 'status': 200.5}}, 'http_checks.web.status: must be a whole number'),
    ({'web': {'url': 'http://h/', 'timeout': 'nan'}}, 'http_checks.web.timeout: must be a finite number'),
    ({'web': {'url': 'http://h/', 'timeout': 0}}, 'http_checks.web.timeout: must be > 0 and <= 300 seconds, got 0'),
    ({'web': {'url': 'http://h/', 'timeout': 1, 'latency_warning_ms': 1000}},
     'http_checks.web.latency_warning_ms: must be > 0 and lower than timeout (1 s = 1000 ms)'),
    ({'a web': 'http://h/'}, 'http_checks.a web: the name must be 1-64 letters'),
    ({'web': 42}, 'http_checks.web must be a dict with at least url, got int'),
])
def test_http_checks_errors_name_the_parameter(raw, message):
    errors = http_check.errors(raw)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert 'Secret99' not in errors[0]


def test_secrets_are_the_url_passwords():
    assert http_check.secrets({'a': 'http://ops:Pw-1@h/', 'b': {'url': 'http://h/'}, 'c': 3}) == ['Pw-1']
    assert http_check.secrets('nope') == []


def result(status, latency=12.0, expected=200, warning=1000.0, error=None):
    return {'url': 'http://***@127.0.0.1:8080/health', 'status': status, 'expected_status': expected,
            'latency_ms': latency, 'latency_warning_ms': warning, 'timeout': 5.0, 'error': error}


def test_http_evaluation_levels_and_messages():
    alerts = http_check.evaluate({
        'ok': result(200), 'exact': result(200, latency=1000.0), 'slow': result(200, latency=1500.5),
        'broken': result(503), 'down': result(None, latency=None, error='connection refused'),
        'nocontent': result(204, expected=204)})
    by = dict((a['subject'], a) for a in alerts)
    assert sorted(by) == ['broken', 'down', 'slow']
    assert (by['slow']['level'], by['slow']['value'], by['slow']['threshold']) == ('warning', 1500.5, 1000.0)
    assert 'answered in 1500.5 ms, slower than the warning threshold of 1000 ms' in by['slow']['message']
    assert (by['broken']['level'], by['broken']['value'], by['broken']['threshold']) == ('critical', 503, 200)
    assert 'answered HTTP 503, expected HTTP 200' in by['broken']['message']
    assert (by['down']['level'], by['down']['value'], by['down']['threshold']) == ('critical', 'connection refused', 200)
    assert 'gave no answer (connection refused), expected HTTP 200' in by['down']['message']
    assert 'pm2 logs down --err' in by['down']['remediation']
    assert 'http://***@127.0.0.1:8080/health' in by['down']['remediation']


def test_a_probe_that_could_not_run_is_said_so():
    checks = {'web': {'url': 'http://u:pw1234@h/', 'status': 200, 'timeout': 5.0, 'latency_warning_ms': 1000.0}}
    out = http_check.results(checks, {('http', 'web'): budget_mod.NotRun('not run: the probe budget of 10s was spent',
                                                                         0.0)})
    assert out['web']['status'] is None and out['web']['url'] == 'http://***@h/'
    assert 'not run: the probe budget' in http_check.evaluate(out)[0]['message']


# --- budget ---------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_budget_gives_each_probe_the_smaller_of_its_timeout_and_what_is_left():
    clock = Clock()
    budget = Budget(10, clock=clock)
    assert budget.remaining() == 10 and budget.timeout(5) == 5
    clock.now += 6
    assert budget.remaining() == 4 and budget.timeout(5) == 4 - budget_mod.GRACE
    clock.now += 20
    assert budget.remaining() == 0 and budget.timeout(5) == 0


def test_run_concurrently_runs_at_once_and_stops_waiting_at_the_budget():
    release = threading.Event()

    def quick(timeout):
        return ('quick', timeout)

    def hung(timeout):
        release.wait(30)  # ignores its timeout, as a slow name lookup would
        return 'late'

    def broken(timeout):
        raise ValueError('bug')
    started = time.monotonic()
    out = budget_mod.run_concurrently({'a': (5, quick), 'b': (5, hung), 'c': (5, hung), 'd': (5, broken)}, Budget(0.6))
    took = time.monotonic() - started
    release.set()
    assert took < 0.8  # two hung jobs cost one budget, not two
    assert out['a'] == ('quick', pytest.approx(0.6 - budget_mod.GRACE, abs=0.05))
    assert isinstance(out['b'], budget_mod.NotRun) and out['b'].reason.startswith('no complete answer within 0.3')
    assert 'probe failed: ValueError: bug' == out['d'].reason


def test_a_spent_budget_runs_nothing():
    clock = Clock()
    budget = Budget(1, clock=clock)
    clock.now += 1
    ran = []
    out = budget_mod.run_concurrently({'a': (5, ran.append)}, budget)
    assert ran == [] and out['a'].reason == 'not run: the probe budget of 1s was spent'


# --- option specs and their documentation ---------------------------------------------------------

PROBE_OPTIONS = ('http_checks', 'postgres_ping', 'probe_budget')


def probe_spec():
    """The probes' options as the module gets them: from their registry entries (checks/host.py)."""
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry
    spec = registry.argument_spec(host.CHECKS)
    return dict((name, spec[name]) for name in PROBE_OPTIONS)


def test_option_specs_validate_as_ansible_does_and_postgres_ping_is_off_unless_set():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    validator = ArgumentSpecValidator(probe_spec())
    quiet = validator.validate({})
    assert quiet.errors.errors == []
    assert quiet.validated_parameters == {'http_checks': {}, 'postgres_ping': None, 'probe_budget': 10.0}
    local = validator.validate({'postgres_ping': {'port': '6432'}}).validated_parameters['postgres_ping']
    assert (local['login_port'], local['timeout'], pp.describe(pp.target(local))) == \
        (6432, 5.0, '/var/run/postgresql/.s.PGSQL.6432')
    assert pp.errors(local) == []


def test_the_documentation_fragment_matches_the_specs():
    import yaml
    from ansible_collections.twzrd.ops.plugins.doc_fragments.health_checks import ModuleDocFragment
    docs = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    for name, option in probe_spec().items():
        assert docs[name]['type'] == option['type'] and docs[name].get('default') == option.get('default'), name
        for sub, sub_spec in (option.get('options') or {}).items():
            documented = docs[name]['suboptions'][sub]
            assert (documented['type'], documented['default'], documented.get('aliases')) == \
                (sub_spec['type'], sub_spec['default'], sub_spec.get('aliases')), sub
