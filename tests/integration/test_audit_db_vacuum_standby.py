"""Audit of twzrd_vacuum's promises on a primary with a hot standby (audit-db).

"Never blocks traffic": a plain VACUUM ends by truncating the empty pages at the end of a table, and for that
it takes an ACCESS EXCLUSIVE lock.  On the primary it only tries (and retries for 5 s while a reader holds the
table); but the lock is WAL-logged, and the standby replaying it must wait for, then cancel, every standby
query on that table.  Safe on a standby: a VACUUM there cannot run at all.  The module runs the cron way.
"""
import time

import psycopg2
import pytest

from harness import run_module
from pg_harness import PgCluster, PgStandby


def vacuum(cluster, tmp_path, **extra):
    args = cluster.conn_params('postgres')
    args.update(state_file=str(tmp_path / 'state.json'))
    args.update(extra)
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0 and result is not None, (out, err)
    return result


@pytest.fixture(scope='module')
def pair():
    """A primary and its streaming hot standby, which cancels a conflicting standby query after 1 s."""
    try:
        primary = PgCluster()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    standby = PgStandby(primary, settings={'max_standby_streaming_delay': '1s', 'hot_standby_feedback': 'off'})
    try:
        primary.start()
        standby.start()
        standby.wait_caught_up()
        yield primary, standby
    finally:
        standby.cleanup()
        primary.cleanup()


def wait_rows(standby, table, rows, timeout=30):
    """Until a fresh standby session sees ``rows`` rows in ``table`` (replayed and visible)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = standby.connect()
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT count(*) FROM %s' % table)
                if cur.fetchone()[0] == rows:
                    return
        except psycopg2.Error:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise AssertionError('standby never showed %d rows in %s' % (rows, table))
        time.sleep(0.1)


def empty_tail(cluster, table):
    """A table whose last pages hold only dead rows: what VACUUM truncates."""
    cluster.execute(['DROP TABLE IF EXISTS %s' % table,
                     'CREATE TABLE %s (id int, v text) WITH (autovacuum_enabled = off)' % table,
                     "INSERT INTO %s SELECT g, md5(g::text) FROM generate_series(1, 20000) g" % table,
                     'DELETE FROM %s WHERE id > 1000' % table])


def test_vacuum_never_takes_an_access_exclusive_lock_a_standby_reader_pays_for(pair, tmp_path):
    primary, standby = pair
    empty_tail(primary, 'tail')
    wait_rows(standby, 'tail', 1000)
    reader = standby.connect(autocommit=False)
    try:
        with reader.cursor() as cur:
            cur.execute('SELECT count(*) FROM tail')   # a report on the replica, its transaction still open
            assert cur.fetchone()[0] == 1000
        result = vacuum(primary, tmp_path, tables=['tail'])
        assert result['tables'][0]['status'] == 'vacuumed' and result['standby'] is False, result['tables']
        standby.wait_caught_up()
        time.sleep(1.5)  # beyond max_standby_streaming_delay
        with reader.cursor() as cur:
            cur.execute('SELECT count(*) FROM tail')   # fails when the replayed lock cancelled this session
            assert cur.fetchone()[0] == 1000
        reader.rollback()
    finally:
        reader.close()


def test_vacuum_does_not_wait_for_a_lock_a_reader_holds(pair, tmp_path):
    primary, dummy = pair
    empty_tail(primary, 'tail2')
    reader = primary.connect(autocommit=False)
    try:
        with reader.cursor() as cur:
            cur.execute('SELECT count(*) FROM tail2')  # AccessShareLock until the transaction ends
        started = time.monotonic()
        result = vacuum(primary, tmp_path, tables=['tail2'], lock_timeout=1)
        took = time.monotonic() - started
        assert result['tables'][0]['status'] == 'vacuumed', result['tables']
        # ACCESS SHARE conflicts with nothing VACUUM needs; the truncation's lock retries for 5 s
        assert took < 4, took
    finally:
        reader.close()


def test_vacuum_on_a_standby_is_skipped_and_said_so_never_failed(pair, tmp_path):
    primary, standby = pair
    empty_tail(primary, 'tail3')
    wait_rows(standby, 'tail3', 1000)
    result = vacuum(standby, tmp_path, tables=['tail3'])
    assert result['status'] != 'critical', result['alerts']
    assert not [a for a in result['alerts'] if a['check'] == 'vacuum_failed'], result['alerts']
    # recognised and said so: nothing planned, the flag and the summary line tell why
    assert result['status'] == 'ok' and result['standby'] is True and result['tables'] == []
    assert result['changed'] is False and 'is a standby (in recovery), nothing vacuumed' in result['summary'][0]
