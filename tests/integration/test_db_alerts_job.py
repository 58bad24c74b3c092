"""The hourly db_alerts job (issue 20, "Within the hour"): twzrd_db_health with scope=acute, against a real
PostgreSQL 15 cluster (pg_harness.py), the module run the cron way.

What matters beside "it finds a long query within the hour": the two jobs share one alert history, so a condition
is told once whichever job sees it; the hourly run never resolves what only the daily run looks at (no false
RESOLVED); each job's failure is its own alert; the hourly run writes no size sample (growth per day and the
forecast stay the daily run's).
"""
import json
import re

import psycopg2

from harness import run_module
from receivers import HttpReceiver
from test_db_activity_checks import Background, wait_for

TOKEN = 'db-alerts-hook-Zr27'
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
DAILY_ONLY = ('database_size', 'tables', 'db_size_forecast', 'latency', 'invalid_indexes', 'expected_tables')


def run(pg_cluster, db, tmp_path, webhook, scope, **extra):
    args = pg_cluster.conn_params(db)
    (tmp_path / 'textfile').mkdir(exist_ok=True)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / ('%s.log' % scope)),
                textfile_dir=str(tmp_path / 'textfile'), notify={'urls': [webhook.url(TOKEN)]},
                expected_tables=['orders'], scope=scope)
    args.update(extra)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0 and result is not None, (out, err)
    return result


def notify_failure(tmp_path, webhook, job, db):
    """What the cron runner does when a job's module could not report (killed, timed out): twzrd_notify."""
    rc, result, out, err = run_module('twzrd_notify', {
        'failure': {'job': job, 'msg': 'killed after 3000s (timeout)', 'instance': db},
        'state_file': str(tmp_path / 'state.json'), 'notify': {'urls': [webhook.url(TOKEN)]}}, tmp_path)
    assert rc != 0 and result is not None, (out, err)


def told(webhook, start):
    """The messages sent since ``start`` (an index into the receiver's bodies)."""
    return [message or '' for dummy, message in webhook.messages()[start:]]


def history(tmp_path, db):
    state = json.loads((tmp_path / 'state.json').read_text())
    return state['alerting']['db_health:%s' % db]['alerts'], state.get('twzrd_db_health') or {}


def test_one_alert_history_for_the_daily_and_the_hourly_run(pg_cluster, pg_db, tmp_path):
    webhook = HttpReceiver().start()
    admin = pg_cluster.connect(pg_db)
    try:
        # the daily run: a missing expected table (a check only it runs) is told
        daily = run(pg_cluster, pg_db, tmp_path, webhook, 'all')
        assert [a['check'] for a in daily['alerts']] == ['expected_tables']
        assert len(told(webhook, 0)) == 1 and 'expected_tables' in told(webhook, 0)[0]
        entries, section = history(tmp_path, pg_db)
        sizes = section['sizes']
        assert set(entries) == {'expected_tables'} and sizes

        # an hour later a query has run too long: the hourly run tells it, and only it
        sent = len(webhook.bodies)
        job = Background(pg_cluster, pg_db, 'SELECT pg_sleep(30)', application_name='report')
        try:
            wait_for(admin, "pid = %s AND state = 'active' AND clock_timestamp() - query_start > interval '1.2 s'",
                     (job.pid,))
            hourly = run(pg_cluster, pg_db, tmp_path, webhook, 'acute', long_query_warning=1)
            # the daily run at the same time: the long query is still open, told already
            daily = run(pg_cluster, pg_db, tmp_path, webhook, 'all', long_query_warning=1)
        finally:
            job.stop(admin)
        assert isinstance(job.error, psycopg2.errors.QueryCanceled)
        assert [a['check'] for a in hourly['alerts']] == ['long_queries'] and hourly['unchecked'] == []
        assert not set(DAILY_ONLY) & set(hourly['metrics']), sorted(hourly['metrics'])
        messages = told(webhook, sent)
        assert len(messages) == 1, "\n----\n".join(messages)
        assert 'long_queries' in messages[0] and 'RESOLVED' not in messages[0] and 'expected_tables' not in messages[0]
        assert sorted(a['check'] for a in daily['alerts']) == ['expected_tables', 'long_queries']
        assert not any(a['new'] for a in daily['alerts'])
        entries, section = history(tmp_path, pg_db)
        assert set(entries) == {'expected_tables', 'long_queries:%d' % job.pid}
        # the hourly run kept no size sample: one per daily run only
        assert [len(v) for v in section['sizes'].values()] == [len(v) + 1 for v in sizes.values()]

        # the query is gone: the next hourly run tells it is resolved, and nothing about the missing table
        sent = len(webhook.bodies)
        hourly = run(pg_cluster, pg_db, tmp_path, webhook, 'acute', long_query_warning=1)
        assert hourly['status'] == 'ok' and hourly['alerts'] == []
        messages = told(webhook, sent)
        assert len(messages) == 1 and 'RESOLVED' in messages[0] and 'long_queries' in messages[0], messages
        assert 'expected_tables' not in messages[0]
        entries, dummy = history(tmp_path, pg_db)
        assert set(entries) == {'expected_tables'}  # still open: only the daily run looks

        # a quiet hour: no message; the daily run's condition is still told once only
        sent = len(webhook.bodies)
        run(pg_cluster, pg_db, tmp_path, webhook, 'acute')
        run(pg_cluster, pg_db, tmp_path, webhook, 'all')
        assert told(webhook, sent) == []

        # the hourly job's own log and textfile, under its own name
        line = (tmp_path / 'acute.log').read_text().splitlines()[-1]
        assert 'scope=acute' in line and 'db=%s' % pg_db in line
        prom = (tmp_path / 'textfile' / ('twzrd_db_alerts_%s.prom' % pg_db)).read_text()
        assert 'twzrd_job_status{database="%s",twzrd_job="db_alerts"} 0.0' % pg_db in prom
        assert 'twzrd_pg_longest_query_seconds{' in prom and 'twzrd_pg_database_size_bytes' not in prom
    finally:
        admin.close()
        webhook.stop()


def test_each_job_failure_is_its_own_alert_in_the_shared_history(pg_cluster, pg_db, tmp_path):
    webhook = HttpReceiver().start()
    try:
        run(pg_cluster, pg_db, tmp_path, webhook, 'all', expected_tables=[])
        # the hourly job was killed: its failure is told, under its own name
        sent = len(webhook.bodies)
        notify_failure(tmp_path, webhook, 'db_alerts', pg_db)
        messages = told(webhook, sent)
        assert len(messages) == 1 and 'the db_alerts job failed' in messages[0], messages
        entries, dummy = history(tmp_path, pg_db)
        assert set(entries) == {'job_failed:db_alerts'}

        # the daily job runs fine: that says nothing about the hourly job (no false RESOLVED)
        sent = len(webhook.bodies)
        run(pg_cluster, pg_db, tmp_path, webhook, 'all', expected_tables=[])
        assert told(webhook, sent) == []
        assert set(history(tmp_path, pg_db)[0]) == {'job_failed:db_alerts'}

        # the daily job fails too: a second alert; the hourly job's stays as it was (not told again)
        sent = len(webhook.bodies)
        notify_failure(tmp_path, webhook, 'db_health', pg_db)
        messages = told(webhook, sent)
        assert len(messages) == 1 and 'the db_health job failed' in messages[0] and 'db_alerts' not in messages[0]
        assert set(history(tmp_path, pg_db)[0]) == {'job_failed', 'job_failed:db_alerts'}

        # the hourly job runs fine: its failure is resolved, the daily job's stays open
        sent = len(webhook.bodies)
        hourly = run(pg_cluster, pg_db, tmp_path, webhook, 'acute', expected_tables=[])
        messages = told(webhook, sent)
        assert len(messages) == 1 and 'RESOLVED' in messages[0] and 'db_alerts' in messages[0], messages
        assert 'db_health job' not in messages[0]
        assert set(history(tmp_path, pg_db)[0]) == {'job_failed'}
        assert hourly['status'] == 'ok'

        # and the daily one resolves its own
        sent = len(webhook.bodies)
        run(pg_cluster, pg_db, tmp_path, webhook, 'all', expected_tables=[])
        messages = told(webhook, sent)
        assert len(messages) == 1 and 'RESOLVED' in messages[0] and 'db_health job' in messages[0], messages
        assert history(tmp_path, pg_db)[0] == {}
    finally:
        webhook.stop()


def test_check_mode_and_an_unreachable_server(pg_cluster, pg_db, tmp_path):
    webhook = HttpReceiver().start()
    try:
        args = pg_cluster.conn_params(pg_db)
        args.update(scope='acute', state_file=str(tmp_path / 'state.json'), _ansible_check_mode=True)
        rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
        assert rc == 0 and result['status'] == 'ok', (out, err)
        assert not (tmp_path / 'state.json').exists()

        # the server down is the most acute finding of all: critical, told by the hourly run
        result = run(pg_cluster, pg_db, tmp_path, webhook, 'acute', login_port=1)
        assert [a['check'] for a in result['alerts']] == ['connection'] and result['status'] == 'critical'
        assert result['unchecked'] and not set(result['unchecked']) & {'dead_rows', 'database_growth', 'latency'}
        assert any('connection' in m for m in told(webhook, 0))
    finally:
        webhook.stop()
