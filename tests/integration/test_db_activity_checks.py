"""long_queries and blocking (issue 20) against a real PostgreSQL 15 cluster (pg_harness.py), the module run
the cron way.

Real conditions, small thresholds: a `SELECT pg_sleep(30)` holding a card number and a secret in its text, a real
lock wait (session A holds `LOCK TABLE` in a transaction, session B's UPDATE waits).  The secret must not reach
stdout, the log line, the state file, the Prometheus textfile, the kept report or a notification.  Every session
started here is cancelled and closed (pg_stat_activity is server-wide: a leftover would show in the next test).
"""
import json
import re
import threading
import time

import psycopg2
import pytest

from harness import run_module

from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect

SECRET = 's3cr3t-card-4111111111111111'
CARD = '4111111111111111'
TOKEN = 'activity-hook-Qx81'
MONITOR = 'twzrd_act_monitor'
PLAIN = 'twzrd_act_plain'
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


class Background:
    """A query running in its own connection (a thread waits on it) until it ends or is cancelled."""

    def __init__(self, pg_cluster, db, query, autocommit=True, user=None, application_name='twzrd-test', setup=()):
        kwargs = {'application_name': application_name}
        if user:
            kwargs['user'] = user
            self.conn = psycopg2.connect(host=pg_cluster.socket_dir, port=pg_cluster.port, dbname=db, **kwargs)
            self.conn.autocommit = autocommit
        else:
            self.conn = pg_cluster.connect(db, autocommit=autocommit, **kwargs)
        with self.conn.cursor() as cur:
            for statement in setup:  # its own round trip: a SET changes how the next query string is read
                cur.execute(statement)
        self.pid = self.conn.get_backend_pid()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(query,), daemon=True)
        self.thread.start()

    def _run(self, query):
        try:
            with self.conn.cursor() as cur:
                cur.execute(query)
        except psycopg2.Error as exc:  # cancelled at the end of the test
            self.error = exc

    def stop(self, admin):
        with admin.cursor() as cur:
            cur.execute('SELECT pg_cancel_backend(%s)', (self.pid,))
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.conn.close()


def wait_for(admin, condition, args, timeout=10):
    """Poll pg_stat_activity until ``condition`` (a WHERE clause) holds for a row; the row's pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with admin.cursor() as cur:
            cur.execute('SELECT pg_stat_clear_snapshot()')
            cur.execute('SELECT pid FROM pg_stat_activity WHERE ' + condition, args)
            row = cur.fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError('no session with %s %r' % (condition, args))


@pytest.fixture
def admin(pg_cluster, pg_db):
    conn = pg_cluster.connect(pg_db)
    yield conn
    conn.close()


@pytest.fixture
def roles(pg_cluster):
    statements = ['DROP ROLE IF EXISTS %s' % MONITOR, 'DROP ROLE IF EXISTS %s' % PLAIN,
                  'CREATE ROLE %s LOGIN' % MONITOR, 'GRANT pg_monitor TO %s' % MONITOR, 'CREATE ROLE %s LOGIN' % PLAIN]
    pg_cluster.execute(statements)
    yield
    pg_cluster.execute(['DROP ROLE IF EXISTS %s' % MONITOR, 'DROP ROLE IF EXISTS %s' % PLAIN])


def run_health(pg_cluster, db, tmp_path, user=None, **extra):
    args = pg_cluster.conn_params(db, **({'user': user} if user else {}))
    (tmp_path / 'textfile').mkdir(exist_ok=True)
    (tmp_path / 'reports').mkdir(exist_ok=True)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'db.log'),
                textfile_dir=str(tmp_path / 'textfile'), report_dir=str(tmp_path / 'reports'))
    args.update(extra)
    started = time.monotonic()
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert result is not None, (out, err)
    return result, out + err, time.monotonic() - started


def by_check(result, check):
    return [a for a in result['alerts'] if a['check'] == check]


def samples(tmp_path):
    found = {}
    for path in (tmp_path / 'textfile').glob('*.prom'):
        for line in path.read_text().splitlines():
            match = SAMPLE.match(line)
            if match:
                found.setdefault(match.group(1), []).append(float(match.group(3)))
    return found


def everything_written(tmp_path, output, webhook=None):
    """What the run left anywhere: stdout/stderr, log, state, textfile, kept reports, notifications."""
    texts = [output]
    for pattern in ('db.log', 'state.json', 'textfile/*.prom', 'reports/*'):
        texts += [path.read_text() for path in tmp_path.glob(pattern)]
    if webhook is not None:
        texts += [json.dumps(body) for body in webhook.bodies]
    return '\n'.join(texts)


def test_a_long_query_is_named_with_its_text_masked_everywhere(pg_cluster, pg_db, admin, webhook, tmp_path):
    query = "SELECT pg_sleep(30), '%s' AS card WHERE %s > 0" % (SECRET, CARD)
    job = Background(pg_cluster, pg_db, query, application_name='card-report')
    try:
        wait_for(admin, "pid = %s AND state = 'active' AND clock_timestamp() - query_start > interval '1.2 s'",
                 (job.pid,))
        result, output, seconds = run_health(pg_cluster, pg_db, tmp_path, long_query_warning=1, long_query_critical=600,
                                             notify={'urls': [webhook.url(TOKEN)]})
    finally:
        job.stop(admin)
    assert isinstance(job.error, psycopg2.errors.QueryCanceled)

    found = by_check(result, 'long_queries')
    assert [a['subject'] for a in found] == [str(job.pid)], result['alerts']
    alert = found[0]
    assert alert['level'] == 'warning' and alert['threshold'] == 1 and 1.2 <= alert['value'] < 30
    assert 'query of pid %d running for' % job.pid in alert['message']
    assert "user postgres, app 'card-report', database %s" % pg_db in alert['message']
    assert alert['message'].endswith(': SELECT pg_sleep(?), ? AS card WHERE ? > ?')
    assert 'pg_cancel_backend(%d)' % job.pid in alert['remediation']
    assert 'pg_terminate_backend(%d)' % job.pid in alert['remediation']
    activity = result['metrics']['activity']
    assert activity['longest_query_pid'] == job.pid and activity['longest_query_s'] >= 1.2
    assert by_check(result, 'blocking') == [] and activity['waiting_on_lock'] == 0
    assert samples(tmp_path)['twzrd_pg_longest_query_seconds'][0] >= 1.2
    assert samples(tmp_path)['twzrd_pg_longest_lock_wait_seconds'] == [0.0]

    # the notification was sent and says it; the secret is nowhere
    assert any('long_queries' in (message or '') for dummy, message in webhook.messages()), webhook.messages()
    written = everything_written(tmp_path, output, webhook)
    assert 'SELECT pg_sleep(?), ? AS card' in written
    assert SECRET not in written and CARD not in written and 's3cr3t' not in written
    print('long query run: %.2f s' % seconds)


def test_a_session_with_standard_conforming_strings_off_keeps_its_secret(pg_cluster, pg_db, admin, tmp_path):
    """That session reads \\' as a quote inside a plain literal; read the default way, the literal would end at the
    backslash and the secret would be plain text."""
    query = "SELECT pg_sleep(30), 'it\\'s %s' AS card, 'b' AS tail" % SECRET
    job = Background(pg_cluster, pg_db, query, application_name='escaping-job',
                     setup=['SET standard_conforming_strings = off'])
    try:
        wait_for(admin, "pid = %s AND state = 'active' AND clock_timestamp() - query_start > interval '1.2 s'",
                 (job.pid,))
        result, output, dummy = run_health(pg_cluster, pg_db, tmp_path, long_query_warning=1, long_query_critical=600)
    finally:
        job.stop(admin)
    # the server read the literal the "off" way: the query ran until cancelled, no syntax error
    assert isinstance(job.error, psycopg2.errors.QueryCanceled), job.error
    found = by_check(result, 'long_queries')
    assert [a['subject'] for a in found] == [str(job.pid)], result['alerts']
    # either reading's literals are masked: from the first quote on, nothing of the text shows
    assert found[0]['message'].endswith(': SELECT pg_sleep(?), ?'), found[0]['message']
    written = everything_written(tmp_path, output)
    assert SECRET not in written and CARD not in written and 's3cr3t' not in written


def test_a_lock_wait_names_the_blocker_not_the_waiter(pg_cluster, pg_db, admin, tmp_path):
    pg_cluster.execute(['CREATE TABLE locked_t (id int PRIMARY KEY, v text)',
                        "INSERT INTO locked_t VALUES (4111, 'x')"], pg_db)
    holder = pg_cluster.connect(pg_db, autocommit=False, application_name='migration')
    holder.cursor().execute('LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE')
    waiter = Background(pg_cluster, pg_db, "UPDATE locked_t SET v = '%s' WHERE id = %s" % (SECRET, CARD),
                        application_name='api')
    try:
        wait_for(admin, "pid = %s AND wait_event_type = 'Lock' AND clock_timestamp() - state_change > interval "
                        "'1.2 s'", (waiter.pid,))
        result, output, dummy = run_health(pg_cluster, pg_db, tmp_path, lock_wait_warning=1)
    finally:
        holder.rollback()
        holder.close()
        waiter.thread.join(10)
        waiter.conn.close()
    assert waiter.error is None  # the UPDATE went through once the lock was gone

    found = by_check(result, 'blocking')
    assert [a['subject'] for a in found] == [str(waiter.pid)], result['alerts']
    alert = found[0]
    assert alert['level'] == 'warning' and alert['threshold'] == 1 and alert['value'] >= 1.2
    message = alert['message']
    assert message.startswith('pid %d has waited' % waiter.pid)
    assert re.search(r"blocked by pid (\d+) \(user postgres, app 'migration', idle in transaction, last query: "
                     r"LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE\)", message), message
    blocker = int(re.search(r'blocked by pid (\d+)', message).group(1))
    assert blocker != waiter.pid
    assert message.endswith('it runs: UPDATE locked_t SET v = ? WHERE id = ?')
    assert 'pg_terminate_backend(%d)' % blocker in alert['remediation']
    assert 'pg_terminate_backend(%d)' % waiter.pid not in alert['remediation']
    activity = result['metrics']['activity']
    assert activity['waiting_on_lock'] == 1 and activity['longest_lock_wait_pid'] == waiter.pid
    # the run itself did not queue behind the lock (statement_timeout/lock_timeout, catalog size estimates)
    assert result['unchecked'] == []
    written = everything_written(tmp_path, output)
    assert SECRET not in written and CARD not in written


def test_the_wait_counts_from_pg_locks_waitstart(pg_cluster, pg_db, admin, tmp_path):
    """A statement that runs 2 s before it waits: the lock wait is ~2 s shorter than the query's age."""
    pg_cluster.execute(['CREATE TABLE locked_w (id int PRIMARY KEY, v text)'], pg_db)
    holder = pg_cluster.connect(pg_db, autocommit=False, application_name='holder')
    holder.cursor().execute('LOCK TABLE locked_w IN ACCESS EXCLUSIVE MODE')
    waiter = Background(pg_cluster, pg_db, "DO $body$ BEGIN PERFORM pg_sleep(2); "
                                           "INSERT INTO locked_w VALUES (1, '%s'); END $body$" % SECRET)
    try:
        wait_for(admin, "pid = %s AND wait_event_type = 'Lock'", (waiter.pid,))
        time.sleep(1.2)
        result, output, dummy = run_health(pg_cluster, pg_db, tmp_path, lock_wait_warning=1, long_query_warning=1,
                                           long_query_critical=600)
        # what a server before 14 (no waitstart) gets: the wait from the statement's start, an upper bound
        old = [r for r in db_collect.collect_activity(admin, 130000) if r['pid'] == waiter.pid][0]
        new = [r for r in db_collect.collect_activity(admin, 150000) if r['pid'] == waiter.pid][0]
    finally:
        holder.rollback()
        holder.close()
        waiter.thread.join(10)
        waiter.conn.close()
    query = by_check(result, 'long_queries')[0]
    wait = by_check(result, 'blocking')[0]
    assert query['subject'] == wait['subject'] == str(waiter.pid)
    assert query['value'] - wait['value'] >= 1.5, (query['value'], wait['value'])
    assert 'waiting for a lock' in query['message'] and query['message'].endswith(': DO ?')
    assert 'at most' not in wait['message']
    assert old['wait_from_locks'] is False and abs(old['lock_wait'] - old['query_age']) < 0.5
    assert new['wait_from_locks'] is True and new['query_age'] - new['lock_wait'] >= 1.5
    assert old['query'] == new['query'] == 'DO ?'
    assert SECRET not in everything_written(tmp_path, output)


def test_quiet_while_nothing_runs_or_waits_long_enough(pg_cluster, pg_db, admin, tmp_path):
    pg_cluster.execute(['CREATE TABLE locked_q (id int PRIMARY KEY)'], pg_db)
    holder = pg_cluster.connect(pg_db, autocommit=False, application_name='holder')
    holder.cursor().execute('LOCK TABLE locked_q IN ACCESS EXCLUSIVE MODE')
    waiter = Background(pg_cluster, pg_db, 'SELECT * FROM locked_q')
    sleeper = Background(pg_cluster, pg_db, 'SELECT pg_sleep(30)')
    try:
        wait_for(admin, "pid = %s AND wait_event_type = 'Lock'", (waiter.pid,))
        wait_for(admin, "pid = %s AND state = 'active'", (sleeper.pid,))
        result, dummy, dummy = run_health(pg_cluster, pg_db, tmp_path, long_query_warning=120, lock_wait_warning=120)
    finally:
        sleeper.stop(admin)
        holder.rollback()
        holder.close()
        waiter.thread.join(10)
        waiter.conn.close()
    assert by_check(result, 'long_queries') == [] and by_check(result, 'blocking') == []
    activity = result['metrics']['activity']
    # both were seen, below the thresholds
    assert activity['active'] >= 2 and activity['waiting_on_lock'] == 1
    assert 0 < activity['longest_query_s'] < 120 and 0 <= activity['longest_lock_wait_s'] < 120

    # nothing at all: zeros, still no alert with the smallest thresholds
    result, dummy, dummy = run_health(pg_cluster, pg_db, tmp_path, long_query_warning=1, lock_wait_warning=1)
    assert by_check(result, 'long_queries') == [] and by_check(result, 'blocking') == []
    assert result['metrics']['activity'] == {'active': 0, 'longest_query_s': 0.0, 'longest_query_pid': None,
                                             'waiting_on_lock': 0, 'longest_lock_wait_s': 0.0,
                                             'longest_lock_wait_pid': None}
    assert samples(tmp_path)['twzrd_pg_longest_query_seconds'] == [0.0]


def test_a_pg_monitor_role_sees_other_users_queries(pg_cluster, pg_db, admin, roles, tmp_path):  # pylint: disable=unused-argument
    job = Background(pg_cluster, pg_db, "SELECT pg_sleep(30), '%s'" % SECRET, application_name='superuser-job')
    try:
        wait_for(admin, "pid = %s AND clock_timestamp() - query_start > interval '1.2 s'", (job.pid,))
        result, output, dummy = run_health(pg_cluster, pg_db, tmp_path, user=MONITOR, long_query_warning=1,
                                           long_query_critical=600)
    finally:
        job.stop(admin)
    assert by_check(result, 'pg_monitor') == []
    found = by_check(result, 'long_queries')
    assert [a['subject'] for a in found] == [str(job.pid)]
    assert "user postgres, app 'superuser-job'" in found[0]['message']
    assert found[0]['message'].endswith(': SELECT pg_sleep(?), ?')
    assert result['metrics']['activity']['longest_query_pid'] == job.pid
    assert SECRET not in everything_written(tmp_path, output)


def test_a_plain_role_sees_only_its_own_and_says_it_cannot_see_the_rest(pg_cluster, pg_db, admin, roles, tmp_path):  # pylint: disable=unused-argument
    other = Background(pg_cluster, pg_db, "SELECT pg_sleep(30), '%s'" % SECRET, application_name='other-user')
    own = Background(pg_cluster, pg_db, 'SELECT pg_sleep(30)', user=PLAIN, application_name='own-role')
    try:
        for job in (other, own):
            wait_for(admin, "pid = %s AND clock_timestamp() - query_start > interval '1.2 s'", (job.pid,))
        result, output, dummy = run_health(pg_cluster, pg_db, tmp_path, user=PLAIN, long_query_warning=1,
                                           long_query_critical=600)
    finally:
        other.stop(admin)
        own.stop(admin)
    # it alerts on what it sees (a session of its own role), never on what it cannot
    found = by_check(result, 'long_queries')
    assert [a['subject'] for a in found] == [str(own.pid)], result['alerts']
    blind = by_check(result, 'pg_monitor')
    assert len(blind) == 1 and 'long-query and blocking checks cannot see' in blind[0]['message']
    # and never claims there is nothing long: unknown, not 0, no series
    activity = result['metrics']['activity']
    assert activity['longest_query_s'] is None and activity['longest_lock_wait_s'] is None
    assert activity['not_visible'] >= 1
    assert 'twzrd_pg_longest_query_seconds' not in samples(tmp_path)
    assert 'twzrd_pg_longest_lock_wait_seconds' not in samples(tmp_path)
    assert SECRET not in everything_written(tmp_path, output)
