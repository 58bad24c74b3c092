"""Issue 9, database items (10, 15, 17) against a real PostgreSQL, modules run the cron way."""
import threading
import time

import pytest

from harness import run_module
from pg_harness import PgCluster, flush_stats, seed_dead_rows


def _run(module, args, tmp_path):
    rc, result, out, err = run_module(module, dict(args, state_file=str(tmp_path / 'state.json')), tmp_path)
    assert result is not None and 'Traceback' not in err, (rc, out, err)
    return result


def test_item10_table_names_are_taken_verbatim(pg_cluster, pg_db, tmp_path):
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, ' padded ', 20000)
    finally:
        conn.close()
    args = pg_cluster.conn_params(pg_db)
    health = _run('twzrd_db_health', dict(args, expected_tables=[' padded ']), tmp_path)
    assert not [a for a in health['alerts'] if a['check'] == 'expected_tables'], health['alerts']
    vacuum = _run('twzrd_vacuum', dict(args, tables=[' padded '], min_dead_rows=1), tmp_path)
    assert vacuum['not_found'] == [], vacuum
    assert [t['name'] for t in vacuum['tables']] == [' padded '] and vacuum['tables'][0]['status'] == 'vacuumed'
    missing = _run('twzrd_db_health', dict(args, expected_tables=['padded']), tmp_path)
    assert [a for a in missing['alerts'] if a['check'] == 'expected_tables'], missing['alerts']


def test_item17_port_zero_is_rejected_not_5432(tmp_path):
    result = _run('twzrd_db_health', {'login_port': 0}, tmp_path)
    assert result.get('failed') and 'login_port' in result['msg'], result


def test_item17_no_password_supplied_is_not_garbled(pg_cluster, pg_db, tmp_path):
    args = dict(pg_cluster.tcp_params(pg_db), login_password='')
    result = _run('twzrd_db_health', args, tmp_path)
    text = ' '.join(a['message'] for a in result['alerts'])
    assert 'no password supplied' in text and '***' not in text, text


@pytest.fixture
def own_cluster():
    """A cluster of its own: this test stops it mid-VACUUM."""
    cluster = PgCluster()
    cluster.start()
    yield cluster
    cluster.cleanup()


def test_item15_server_stopped_mid_vacuum_is_reported_as_lost_connection(own_cluster, tmp_path):
    own_cluster.execute(['CREATE DATABASE shop'])
    conn = own_cluster.connect('shop')
    try:
        for name in ('big_a', 'big_b'):
            seed_dead_rows(conn, name, 300000)
        flush_stats(conn)
    finally:
        conn.close()

    def stop_when_vacuum_runs():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                watcher = own_cluster.connect('postgres')
                with watcher.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'VACUUM%%'")
                    running = cur.fetchone()[0]
                watcher.close()
            except Exception:  # pylint: disable=broad-except
                return
            if running:
                own_cluster._run([own_cluster.pg_ctl, '-D', own_cluster.data, '-m', 'immediate', '-w', 'stop'],
                                 check=False)
                own_cluster.running = False
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_when_vacuum_runs)
    stopper.start()
    # Slow, throttled VACUUM: the stopper has time to stop the server during the first table.
    args = dict(own_cluster.conn_params('shop'), min_dead_rows=1, vacuum_cost_delay=100, vacuum_cost_limit=1,
                max_duration=3600)
    result = _run('twzrd_vacuum', args, tmp_path)
    stopper.join()
    checks = dict((a['check'], a) for a in result['alerts'])
    assert 'vacuum_incomplete' not in checks, result['alerts']
    lost = checks.get('vacuum_connection_lost')
    assert lost and lost['level'] == 'critical' and 'connection' in lost['message'], result['alerts']
    not_started = [t for t in result['tables'] if t['status'] == 'not_started']
    assert not_started and all('connection' in t['message'] for t in not_started)
