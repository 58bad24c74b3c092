"""twzrd_db_health and twzrd_vacuum against a real PostgreSQL (pg_harness.py).

Modules run the cron way (harness.run_module: the module file executed
directly with an args file).  Seeded tables have autovacuum off and their
stats flushed (pg_stat_force_next_flush) so counts are deterministic.
"""
import json
import os
import subprocess
import sys
import time

import psycopg2
import pytest

from harness import COLLECTIONS, ROOT, run_module
from pg_harness import PASSWORD, dead_rows, seed_dead_rows, wait_for_dead_rows

from ansible_collections.twzrd.ops.plugins.module_utils.postgres import connection as postgres
from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line


def by_check(result, check):
    return [a for a in result['alerts'] if a['check'] == check]


def health(pg_cluster, db, tmp_path, **extra):
    args = pg_cluster.conn_params(db)
    args.update(state_file=str(tmp_path / 'state.json'))
    args.update(extra)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0, (out, err)
    return result, out


def vacuum(pg_cluster, db, tmp_path, expect_rc=0, **extra):
    args = pg_cluster.conn_params(db)
    args.update(state_file=str(tmp_path / 'state.json'))
    args.update(extra)
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == expect_rc, (out, err)
    return result, out


@pytest.fixture
def seeded(pg_cluster, pg_db):
    """150k dead rows (autovacuum off), a table without PK, a 3-row migrations table."""
    conn = pg_cluster.connect(pg_db)
    seed_dead_rows(conn, 'events', 200000, delete_every=4)   # 50k deleted
    with conn.cursor() as cur:
        cur.execute('DELETE FROM events WHERE id % 4 = 1')   # +50k
        cur.execute('DELETE FROM events WHERE id % 4 = 2')   # +50k = 150k dead
        cur.execute('CREATE TABLE audit_log (at timestamptz, what text)')
        cur.execute('CREATE TABLE channels (id int PRIMARY KEY)')
        cur.execute('CREATE TABLE schema_migrations (version text PRIMARY KEY)')
        cur.execute("INSERT INTO schema_migrations VALUES ('001'), ('002'), ('003')")
        cur.execute('CREATE TABLE clean (id int PRIMARY KEY) WITH (autovacuum_enabled = off)')
        cur.execute('INSERT INTO clean SELECT generate_series(1, 100)')
    conn.close()
    conn = pg_cluster.connect(pg_db)
    cur = conn.cursor()
    cur.execute('SELECT pg_stat_force_next_flush()')
    assert wait_for_dead_rows(conn, 'events', 150000) == 150000
    yield conn
    conn.close()


def test_db_health_reports_seeded_conditions(pg_cluster, pg_db, seeded, tmp_path):
    # an application session that opened a transaction and went away
    idle = pg_cluster.connect(pg_db, autocommit=False, application_name='leaky-app')
    idle.cursor().execute('SELECT 1')
    time.sleep(1.2)
    try:
        result, out = health(
            pg_cluster, pg_db, tmp_path, log_file=str(tmp_path / 'db.log'),
            expected_tables=['channels', 'epochs', 'public.proofs'],
            migrations_table='schema_migrations', expected_migrations=4,
            idle_in_transaction_warning=1, transaction_age_warning=1,
            connections_warning_pct=1, wraparound_warning=1, wraparound_critical=2000000000)
    finally:
        idle.close()
    assert result['status'] == 'critical'

    dead = by_check(result, 'dead_rows')
    assert [a['subject'] for a in dead] == ['public.events']
    assert dead[0]['value'] == 150000 and dead[0]['threshold'] == 100000
    assert 'autovacuum OFF' in dead[0]['message']
    assert result['metrics']['tables']['worst_dead_rows'][0]['table'] == 'public.events'
    over = result['metrics']['tables']['over_autovacuum_trigger']
    assert over[0]['table'] == 'public.events' and over[0]['autovacuum_enabled'] is False

    nopk = by_check(result, 'primary_keys')
    assert nopk and 'public.audit_log' in nopk[0]['message'] and 'repack' in nopk[0]['remediation']
    assert result['metrics']['tables']['without_primary_key'] == ['public.audit_log']

    missing = by_check(result, 'expected_tables')
    assert missing[0]['level'] == 'critical'
    assert result['metrics']['expected_tables']['missing'] == ['public.epochs', 'public.proofs']

    migrations = by_check(result, 'migrations')
    assert migrations[0]['level'] == 'critical' and migrations[0]['value'] == 3

    idle_alert = by_check(result, 'idle_in_transaction')
    assert idle_alert and "'leaky-app'" in idle_alert[0]['message']
    assert by_check(result, 'transaction_age')[0]['value'] >= 1
    assert result['metrics']['connections']['idle_in_transaction'] >= 1
    assert by_check(result, 'connections')[0]['level'] == 'warning'
    assert by_check(result, 'wraparound')
    assert result['metrics']['latency']['median_ms'] is not None
    for alert in result['alerts']:
        assert alert['remediation'] and 'threshold' in alert and 'value' in alert

    state = json.loads((tmp_path / 'state.json').read_text())
    assert pg_db in state['twzrd_db_health']['sizes']
    # the report stage tracks alerts per job and database
    assert 'dead_rows:public.events' in state['alerting']['db_health:%s' % pg_db]['alerts']
    line = (tmp_path / 'db.log').read_text().splitlines()
    assert len(line) == 1
    fields = parse_line(line[0])
    assert fields['job'] == 'twzrd_db_health' and fields['status'] == 'critical' and fields['db'] == pg_db


def test_db_health_growth_from_state(pg_cluster, pg_db, tmp_path):
    first, dummy = health(pg_cluster, pg_db, tmp_path)
    assert first['status'] == 'ok', first['alerts']
    size = first['metrics']['database_size'][pg_db]['bytes']
    # pretend the previous sample was a day ago at half the size
    state_path = tmp_path / 'state.json'
    state = json.loads(state_path.read_text())
    state['twzrd_db_health']['sizes'][pg_db] = [[int(time.time()) - 86400, size // 2]]
    state_path.write_text(json.dumps(state))
    result, dummy = health(pg_cluster, pg_db, tmp_path)
    growth = by_check(result, 'database_growth')
    assert growth and growth[0]['subject'] == pg_db
    assert 90 < result['metrics']['database_size'][pg_db]['growth_pct_per_day'] < 110
    state = json.loads(state_path.read_text())
    assert len(state['twzrd_db_health']['sizes'][pg_db]) == 2


def test_db_health_connection_failures_are_one_clear_alert(pg_cluster, pg_db, tmp_path):
    cases = [
        (dict(pg_cluster.conn_params(pg_db), login_port=1), 'server_unreachable', 'unreachable'),
        (pg_cluster.tcp_params(pg_db, password='wrong-' + PASSWORD), 'auth_failed', 'authentication failed'),
        (pg_cluster.conn_params('no_such_db'), 'unknown_database', 'does not exist'),
    ]
    for args, kind, words in cases:
        args['state_file'] = str(tmp_path / 'state.json')
        rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
        assert rc == 0, (out, err)
        assert result['status'] == 'critical'
        assert len(result['alerts']) == 1, result['alerts']
        alert = result['alerts'][0]
        assert alert['check'] == 'connection' and alert['value'] == kind
        assert words in alert['message'] and '\n' not in alert['message']
        assert 'Traceback' not in out + err
        assert PASSWORD not in out + err
    # the right password over TCP works (scram on 127.0.0.1)
    result, out = health(pg_cluster, pg_db, tmp_path, **pg_cluster.tcp_params(pg_db))
    assert result['metrics']['connected'] is True
    assert PASSWORD not in out


def test_vacuum_check_mode_changes_nothing(pg_cluster, pg_db, seeded, tmp_path):
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'vacuum.log'),
                _ansible_check_mode=True)
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0, (out, err)
    assert result['changed'] is True
    assert [t['table'] for t in result['tables']] == ['public.events']
    plan = result['tables'][0]
    assert plan['status'] == 'planned' and plan['dead_rows_before'] == 150000 and plan['bytes_before'] > 0
    assert 'min_dead_rows' in plan['reason']
    assert dead_rows(seeded, 'events') == 150000
    assert not (tmp_path / 'state.json').exists() and not (tmp_path / 'vacuum.log').exists()
    # db health in check mode writes no state either
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), _ansible_check_mode=True)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0 and not (tmp_path / 'state.json').exists()


def test_vacuum_targets_dirty_tables_and_skips_locked(pg_cluster, pg_db, seeded, tmp_path):
    seed_dead_rows(seeded, 'Busy Table', 30000)
    assert wait_for_dead_rows(seeded, 'Busy Table', 30000) == 30000
    locker = pg_cluster.connect(pg_db, autocommit=False)
    locker.cursor().execute('LOCK TABLE "Busy Table" IN ACCESS EXCLUSIVE MODE')
    try:
        result, out = vacuum(pg_cluster, pg_db, tmp_path, log_file=str(tmp_path / 'vacuum.log'))
    finally:
        locker.rollback()
        locker.close()
    tables = dict((t['table'], t) for t in result['tables'])
    assert list(tables) == ['public.events', 'public.Busy Table']  # worst first; clean tables untouched
    events = tables['public.events']
    assert events['status'] == 'vacuumed' and events['dead_rows_before'] == 150000
    assert events['dead_rows_after'] == 0 and events['seconds'] >= 0
    busy = tables['public.Busy Table']
    assert busy['status'] == 'skipped' and 'lock not available' in busy['message']
    assert result['changed'] is True and result['status'] == 'warning'
    assert by_check(result, 'vacuum_skipped')[0]['value'] == 1
    assert result['metrics']['dead_rows_removed'] == 150000
    assert dead_rows(seeded, 'events') == 0 and dead_rows(seeded, 'Busy Table') == 30000
    fields = parse_line((tmp_path / 'vacuum.log').read_text())
    assert fields['vacuumed'] == '1' and fields['skipped'] == '1'
    # nothing left to do: not changed
    result, out = vacuum(pg_cluster, pg_db, tmp_path, tables=['clean'], analyze=False, min_dead_rows=1)
    assert [t['status'] for t in result['tables']] == ['vacuumed']


def test_vacuum_list_full_and_not_found(pg_cluster, pg_db, seeded, tmp_path):
    before = dead_rows(seeded, 'events')
    result, out = vacuum(pg_cluster, pg_db, tmp_path, tables=['public.events', 'nope'], full=True)
    events = result['tables'][0]
    assert events['status'] == 'vacuumed' and events['bytes_after'] < events['bytes_before']
    assert result['not_found'] == ['public.nope'] and by_check(result, 'vacuum_not_found')
    assert before == 150000 and dead_rows(seeded, 'events') == 0
    # nothing due: no change
    result, out = vacuum(pg_cluster, pg_db, tmp_path)
    assert result['changed'] is False and result['tables'] == [] and result['status'] == 'ok'


def test_vacuum_bad_connection_is_a_critical_alert(pg_cluster, tmp_path):
    """Like twzrd_db_health (plugins/module_utils/core/job_module.py): the database is what is watched, not a failure."""
    result, out = vacuum(pg_cluster, 'no_such_db', tmp_path)
    assert not result.get('failed') and result['status'] == 'critical' and result['changed'] is False
    assert [a['check'] for a in result['alerts']] == ['connection'] and 'does not exist' in result['alerts'][0]['message']
    assert 'does not exist' in result['summary'][0]
    args = pg_cluster.tcp_params('postgres', password='wrong-' + PASSWORD)
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0 and 'authentication failed' in result['alerts'][0]['message'] and PASSWORD not in out + err
    result, out = vacuum(pg_cluster, 'postgres', tmp_path, expect_rc=1, tables=['a'], all_tables=True)
    assert 'mutually exclusive' in result['msg']


def test_playbooks_print_summaries(pg_cluster, pg_db, seeded, tmp_path):
    """Both playbooks end to end with ansible-playbook (local connection, no become)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    extra = {'twzrd_db_become': False, 'twzrd_state_file': str(tmp_path / 'state.json'),
             'twzrd_db_connection': pg_cluster.conn_params(pg_db)}
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

    def play(name, **more):
        variables = dict(extra, **more)
        return subprocess.run([ansible_playbook, '-i', 'localhost,', '-c', 'local',
                               os.path.join(ROOT, 'playbooks', name), '-e', json.dumps(variables)],
                              capture_output=True, text=True, env=env, timeout=180, check=False)

    proc = play('db_health.yml')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'CRITICAL' not in proc.stdout and 'public.events' in proc.stdout
    assert 'WARNING' in proc.stdout
    proc = play('db_health.yml', twzrd_fail_on='warning')
    assert proc.returncode != 0 and 'twzrd_fail_on' in proc.stdout
    proc = play('vacuum.yml')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'public.events' in proc.stdout and 'vacuumed' in proc.stdout
    assert 'insights: 0 unused index(es), 0 duplicate index(es)' in proc.stdout, proc.stdout
    assert dead_rows(seeded, 'events') == 0


def test_db_health_does_not_wait_for_a_locked_table(pg_cluster, pg_db, seeded, tmp_path):
    """A migration holding ACCESS EXCLUSIVE must not stall or break the read-only health check."""
    locker = pg_cluster.connect(pg_db, autocommit=False)
    locker.cursor().execute('LOCK TABLE events IN ACCESS EXCLUSIVE MODE')
    try:
        started = time.monotonic()
        result, out = health(pg_cluster, pg_db, tmp_path, statement_timeout=30)
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    assert elapsed < 10, elapsed
    assert not [a for a in result['alerts'] if 'could not run' in a['message']], result['alerts']
    assert by_check(result, 'dead_rows')[0]['subject'] == 'public.events'


def test_every_session_runs_under_statement_and_lock_timeouts(pg_cluster):
    """The timeouts are set at connection start (-c options), so they hold from the first query."""
    conn = postgres.connect(pg_cluster.conn_params(), statement_timeout=0.2, lock_timeout=0.1)
    try:
        with conn.cursor() as cur:
            cur.execute('SHOW statement_timeout')
            assert cur.fetchone()[0] == '200ms'
            cur.execute('SHOW lock_timeout')
            assert cur.fetchone()[0] == '100ms'
            started = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled):
                cur.execute('SELECT pg_sleep(5)')
            assert time.monotonic() - started < 2
    finally:
        conn.close()
