"""The hourly ``http`` and ``postgres`` probes against real servers on this machine (issue 19).

HTTP: a real endpoint on 127.0.0.1 answering 200, 500, slowly, with a redirect; a closed port; ports that
accept and never answer, or trickle a byte at a time. PostgreSQL: the session's PostgreSQL 15 cluster (socket
and TCP) and a private cluster of this module that rejects our role in pg_hba, runs as a standby that takes no
connections, and is stopped.
"""
import base64
import json
import os
import statistics
import time

import pytest

from harness import free_port
from pg_harness import PgCluster
from receivers import HealthEndpoint, SilentServer

from ansible_collections.twzrd.ops.plugins.module_utils.probes import Budget, collect_all, http_check, postgres_ping

PASSWORD = 'Pr0be-S3cret-pw'


@pytest.fixture
def endpoint():
    server = HealthEndpoint({'/health': (200, 0), '/broken': (500, 0), '/slow': (200, 0.4),
                             '/moved': (302, 0), '/': (200, 0)}).start()
    yield server
    server.stop()


@pytest.fixture
def silent():
    servers = []

    def make(**kwargs):
        servers.append(SilentServer(**kwargs).start())
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


def normalized(raw):
    checks, errors = http_check.normalize(raw)
    assert errors == []
    return checks


def levels(alerts):
    return dict((a['subject'], a['level']) for a in alerts)


# --- http ----------------------------------------------------------------------------------------

def test_http_answers_are_ok_critical_or_slow_by_status_and_latency(endpoint):
    closed = free_port()
    checks = normalized({
        'ok': endpoint.url('/health'),
        'broken': endpoint.url('/broken'),
        'slow': {'url': endpoint.url('/slow'), 'timeout': 3, 'latency_warning_ms': 200},
        'moved': endpoint.url('/moved'),
        'gone': {'url': 'http://127.0.0.1:%d/health' % closed, 'timeout': 2},
        'teapot': {'url': endpoint.url('/broken'), 'status': 500},
    })
    results = http_check.collect(checks, Budget(10))

    assert results['ok']['status'] == 200 and results['ok']['error'] is None
    assert 0 < results['ok']['latency_ms'] < 1000
    assert results['broken']['status'] == 500
    assert results['slow']['status'] == 200 and results['slow']['latency_ms'] >= 400
    assert results['moved']['status'] == 302
    assert [r['path'] for r in endpoint.requests].count('/') == 0  # the redirect was not followed
    assert results['gone']['status'] is None and results['gone']['latency_ms'] is None
    assert 'refused' in results['gone']['error']

    alerts = http_check.evaluate(results)
    assert levels(alerts) == {'broken': 'critical', 'moved': 'critical', 'gone': 'critical', 'slow': 'warning'}
    by_name = dict((a['subject'], a) for a in alerts)
    assert 'answered HTTP 500, expected HTTP 200' in by_name['broken']['message']
    assert by_name['slow']['threshold'] == 200.0 and 'warning threshold of 200 ms' in by_name['slow']['message']
    assert 'gave no answer (connection refused), expected HTTP 200' in by_name['gone']['message']
    assert all(a['remediation'].endswith('(docs/runbooks.md#an-http-check-fails-or-is-slow)') for a in alerts)


def test_credentials_in_the_url_go_as_basic_auth_and_never_into_any_output(endpoint):
    raw = {'admin': endpoint.url('/broken', userinfo='ops:' + PASSWORD),
           'down': 'http://ops:%s@127.0.0.1:%d/health' % (PASSWORD, free_port())}
    assert PASSWORD in http_check.secrets(raw)  # the module masks these in its invocation too
    results = http_check.collect(normalized(raw), Budget(10))
    alerts = http_check.evaluate(results)

    sent = [r['authorization'] for r in endpoint.requests]
    assert sent == ['Basic ' + base64.b64encode(('ops:' + PASSWORD).encode()).decode()]
    assert results['admin']['url'] == 'http://***@127.0.0.1:%d/broken' % endpoint.port
    assert len(alerts) == 2
    shown = json.dumps([results, alerts])
    assert PASSWORD not in shown and 'ops:' not in shown


def test_five_hanging_urls_cost_one_timeout_not_five(silent):
    servers = [silent() for dummy in range(5)]
    checks = normalized(dict(('hang%d' % i, {'url': 'http://127.0.0.1:%d/health' % s.port, 'timeout': 2})
                             for i, s in enumerate(servers)))
    started = time.monotonic()
    results = http_check.collect(checks, Budget(10))
    took = time.monotonic() - started
    print('5 hanging URLs, timeout 2 s each: %.2f s' % took)

    assert 1.9 <= took < 3.0
    assert all(s.accepted == 1 for s in servers)  # each was really connected to
    assert all(r['status'] is None and 'timed out' in r['error'] for r in results.values())
    assert levels(http_check.evaluate(results)) == dict(('hang%d' % i, 'critical') for i in range(5))


def test_the_budget_bounds_hanging_trickling_and_database_probes_together(silent):
    hanging = [silent() for dummy in range(4)]
    trickle = silent(trickle=0.05)  # one byte every 50 ms: no single read ever times out
    database = silent(prefix=b'')
    checks = dict(('hang%d' % i, {'url': 'http://127.0.0.1:%d/' % s.port, 'timeout': 5}) for i, s in enumerate(hanging))
    checks['trickle'] = {'url': 'http://127.0.0.1:%d/' % trickle.port, 'timeout': 5}
    ping = {'login_host': '127.0.0.1', 'login_unix_socket': '', 'login_port': database.port, 'timeout': 5}

    budget = Budget(1.5)
    out = collect_all(normalized(checks), ping, budget)
    took = budget.elapsed()
    print('budget 1.5 s, 6 hanging probes (timeout 5 s each): %.2f s' % took)

    assert took <= 1.6
    assert set(out['http']) == set(checks)
    assert all(r['status'] is None for r in out['http'].values())
    assert 'no complete answer within' in out['http']['trickle']['error']
    assert trickle.accepted == 1 and database.accepted == 1
    result = out['postgres']['127.0.0.1:%d' % database.port]
    assert result['answer'] == 'no_response' and 'no answer within' in result['error']


# --- postgres ------------------------------------------------------------------------------------

def ping_options(**kwargs):
    options = {'login_host': '', 'login_unix_socket': '', 'login_port': 5432, 'timeout': 3}
    options.update(kwargs)
    assert postgres_ping.errors(options) == []
    return options


def only(results):
    assert len(results) == 1
    return list(results.values())[0]


def log_size(cluster):
    return os.path.getsize(cluster.log)


def log_since(cluster, offset):
    time.sleep(0.3)  # the backend writes its FATAL line after our socket is closed
    with open(cluster.log) as handle:
        handle.seek(offset)
        return handle.read()


def test_postgres_up_via_unix_socket(pg_cluster):
    result = only(postgres_ping.collect(ping_options(login_unix_socket=pg_cluster.socket_dir,
                                                     login_port=pg_cluster.port), Budget(10)))
    assert result['target'] == os.path.join(pg_cluster.socket_dir, '.s.PGSQL.%d' % pg_cluster.port)
    assert result['answer'] == 'accepting' and result['error'] is None
    assert 0 < result['latency_ms'] < 3000


def test_postgres_up_via_tcp_asks_a_password_and_leaves_no_line_in_the_server_log(pg_cluster):
    offset = log_size(pg_cluster)
    result = only(postgres_ping.collect(ping_options(login_host='127.0.0.1', login_port=pg_cluster.port),
                                        Budget(10)))
    assert result == {'target': '127.0.0.1:%d' % pg_cluster.port, 'answer': 'accepting',
                      'latency_ms': result['latency_ms'], 'error': None}
    assert postgres_ping.evaluate({result['target']: result}) == []
    assert 'twzrd_ping' not in log_since(pg_cluster, offset)  # left during SCRAM: the server stays quiet


@pytest.fixture(scope='module')
def private_cluster():
    """A cluster this module may reconfigure: pg_hba rejects our role on TCP; hot_standby off for a standby."""
    try:
        cluster = PgCluster(settings={'hot_standby': 'off'})
    except RuntimeError as exc:
        pytest.fail(str(exc))
    cluster.start()
    with open(os.path.join(cluster.data, 'pg_hba.conf'), 'w') as hba:
        hba.write('local all all trust\n'
                  'host all twzrd_ping 127.0.0.1/32 reject\n'
                  'host all all 127.0.0.1/32 scram-sha-256\n')
    cluster._run([cluster.pg_ctl, '-D', cluster.data, 'reload'])  # pylint: disable=protected-access
    time.sleep(0.3)
    yield cluster
    cluster.cleanup()


def restart(cluster, standby):
    """Stop the private cluster and start it again as a primary or as a standby that takes no connections."""
    cluster.stop()
    signal_file = os.path.join(cluster.data, 'standby.signal')
    if standby:
        open(signal_file, 'w').close()
    elif os.path.exists(signal_file):
        os.unlink(signal_file)
    cluster._run([cluster.pg_ctl, '-D', cluster.data, '-l', cluster.log, '-w', '-t', '60', 'start'])  # pylint: disable=protected-access
    cluster.running = True


def test_a_server_that_refuses_our_role_is_up(private_cluster):
    if not private_cluster.running:
        restart(private_cluster, standby=False)
    offset = log_size(private_cluster)
    result = only(postgres_ping.collect(ping_options(login_host='127.0.0.1', login_port=private_cluster.port),
                                        Budget(10)))
    assert result['answer'] == 'accepting' and result['error'] is None
    assert 'pg_hba.conf rejects connection for host "127.0.0.1", user "twzrd_ping"' in log_since(private_cluster, offset)


def test_a_standby_that_takes_no_connections_is_rejecting_and_critical(private_cluster):
    restart(private_cluster, standby=True)
    try:
        for options in (ping_options(login_unix_socket=private_cluster.socket_dir, login_port=private_cluster.port),
                        ping_options(login_host='127.0.0.1', login_port=private_cluster.port)):
            results = postgres_ping.collect(options, Budget(10))
            result = only(results)
            assert result['answer'] == 'rejecting'
            assert result['error'] == 'the database system is not accepting connections (SQLSTATE 57P03)'
            alert, = postgres_ping.evaluate(results)
            assert alert['level'] == 'critical' and alert['value'] == 'rejecting'
            assert 'answers but takes no connections now' in alert['message']
    finally:
        restart(private_cluster, standby=False)


def test_a_stopped_server_gives_no_response_on_socket_and_tcp(private_cluster):
    private_cluster.stop()
    try:
        socket_result = only(postgres_ping.collect(ping_options(login_unix_socket=private_cluster.socket_dir,
                                                                login_port=private_cluster.port), Budget(10)))
        tcp_result = only(postgres_ping.collect(ping_options(login_host='127.0.0.1', login_port=private_cluster.port),
                                                Budget(10)))
    finally:
        restart(private_cluster, standby=False)
    assert socket_result['answer'] == 'no_response' and 'no socket' in socket_result['error']
    assert tcp_result['answer'] == 'no_response' and 'connection refused' in tcp_result['error']
    alerts = postgres_ping.evaluate({tcp_result['target']: tcp_result})
    assert [a['level'] for a in alerts] == ['critical']
    assert 'pg_isready -h 127.0.0.1 -p %d' % private_cluster.port in alerts[0]['remediation']


def test_a_quiet_round_of_both_checks_costs_a_few_milliseconds(endpoint, pg_cluster):
    checks = normalized({'api': endpoint.url('/health'), 'web': endpoint.url('/')})
    ping = ping_options(login_unix_socket=pg_cluster.socket_dir, login_port=pg_cluster.port)
    costs = []
    for dummy in range(20):
        started = time.perf_counter()
        out = collect_all(checks, ping, Budget(10))
        costs.append((time.perf_counter() - started) * 1000.0)
        assert http_check.evaluate(out['http']) == [] and postgres_ping.evaluate(out['postgres']) == []
    print('quiet round (2 URLs + postgres over the socket): median %.1f ms, max %.1f ms'
          % (statistics.median(costs), max(costs)))
    assert statistics.median(costs) < 250
