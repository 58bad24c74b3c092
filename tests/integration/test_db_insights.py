"""The weekly insights of twzrd_vacuum against a real PostgreSQL 15 (pg_harness.py): unused and duplicate
indexes with the DROP statement, cache hit ratios, the slowest statements of pg_stat_statements (a private
cluster that preloads it) or the hint without it, and the bloat estimate; all information, no alert.
"""
import json
import time

import pytest

from harness import run_module
from pg_harness import PgCluster, flush_stats

from ansible_collections.twzrd.ops.plugins.module_utils.report import html, trends
from ansible_collections.twzrd.ops.plugins.module_utils.state import schema as state_schema

SECRET = 'TopSecret-Literal-42'
UNUSED_INDEX = 'events_account_unused'


def vacuum(cluster, db, tmp_path, **extra):
    args = cluster.conn_params(db)
    args.update(state_file=str(tmp_path / 'state.json'))
    args.update(extra)
    started = time.monotonic()
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0, (out, err)
    return result, out, time.monotonic() - started


def index_names(entries):
    return [e['index'] for e in entries]


@pytest.fixture
def seeded(pg_cluster, pg_db):
    """events (100k rows, half deleted: dead rows for the vacuum, then a half-empty table), a 10 MB+ index never
    scanned and one that is (fillfactor 10 makes them big from few rows), two identical indexes (the second with a
    name that needs quoting) and a unique constraint that duplicates a primary key."""
    conn = pg_cluster.connect(pg_db)
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE events (id int PRIMARY KEY, account int, ref int, token text) '
                    'WITH (autovacuum_enabled = off)')
        cur.execute("INSERT INTO events SELECT g, g, g, md5(g::text) FROM generate_series(1, 100000) g")
        cur.execute('CREATE INDEX %s ON events (account) WITH (fillfactor = 10)' % UNUSED_INDEX)
        cur.execute('CREATE INDEX events_ref_used ON events (ref) WITH (fillfactor = 10)')
        cur.execute('CREATE INDEX events_token ON events (token)')
        cur.execute('CREATE INDEX "Events Token B" ON events (token)')
        cur.execute('CREATE TABLE accounts (id int PRIMARY KEY, email text)')
        # (in CREATE TABLE PostgreSQL would fold it into the primary key)
        cur.execute('ALTER TABLE accounts ADD CONSTRAINT accounts_id_uniq UNIQUE (id)')
        cur.execute('INSERT INTO accounts SELECT g, g::text FROM generate_series(1, 100) g')
        cur.execute('DELETE FROM events WHERE id % 2 = 0')
        cur.execute('ANALYZE')
        cur.execute('SET enable_seqscan = off')
        cur.execute('SELECT count(*) FROM events WHERE ref = 42')
    flush_stats(conn)
    yield conn
    conn.close()


def test_indexes_cache_and_bloat_from_one_weekly_run(pg_cluster, pg_db, seeded, tmp_path):
    result, out, dummy = vacuum(pg_cluster, pg_db, tmp_path, report_dir=str(tmp_path / 'reports'))
    assert result['metrics']['vacuumed'] == 1  # the vacuum itself is unchanged
    found = result['insights']
    assert found['errors'] == []
    assert result['status'] == 'ok' and result['alerts'] == []  # information, never an alert

    unused = dict((e['index'], e) for e in found['unused_indexes'])
    assert list(unused) == ['public.%s' % UNUSED_INDEX]  # the scanned one, the small ones, the keys: not
    entry = unused['public.%s' % UNUSED_INDEX]
    assert entry['bytes'] > 10 * 1024 * 1024 and entry['drop'] == 'DROP INDEX CONCURRENTLY public.%s;' % UNUSED_INDEX
    assert entry['since'].startswith('no scans since the statistics')

    dups = dict((e['index'], e) for e in found['duplicate_indexes'])
    assert set(dups) == {'public."Events Token B"', 'public.accounts_id_uniq'}
    token = dups['public."Events Token B"']
    assert token['duplicate_of'] == 'public.events_token'
    assert token['drop'] == 'DROP INDEX CONCURRENTLY public."Events Token B";'
    constraint = dups['public.accounts_id_uniq']
    assert constraint['duplicate_of'] == 'public.accounts_pkey' and constraint['drop'] is None
    assert 'drop the constraint' in constraint['note'] and 'DROP CONSTRAINT accounts_id_uniq' in constraint['note']

    databases = dict((d['database'], d) for d in found['cache_hits']['databases'])
    assert pg_db in databases and 0 <= databases[pg_db]['hit_pct'] <= 100
    assert databases[pg_db]['hit'] + databases[pg_db]['read'] > 0
    tables = dict((t['table'], t) for t in found['cache_hits']['tables'])
    assert 'public.events' in tables and 0 <= tables['public.events']['hit_pct'] <= 100

    # no pg_stat_statements in the session cluster: the one-line hint
    assert found['statements'] == {'available': False, 'top': [], 'hint': found['statements']['hint']}
    assert 'shared_preload_libraries' in found['statements']['hint'] and pg_db in found['statements']['hint']

    est = found['bloat']
    assert est['tables'][0]['name'] == 'public.events'  # the largest first
    # half the rows deleted and vacuumed: the pages stay, the estimate sees about half of them as bloat
    assert 35 <= est['tables'][0]['bloat_pct'] <= 65, est['tables'][0]
    assert 'public.%s' % UNUSED_INDEX in [e['name'] for e in est['indexes']]
    assert all(e['bloat_bytes'] is None or e['bloat_bytes'] >= 0 for e in est['tables'] + est['indexes'])

    text = result["message"]
    assert 'DROP INDEX CONCURRENTLY public."Events Token B";' in text
    assert 'unused indexes (no scans, > 10 MB) (1):' in text and 'estimated bloat' in text
    assert found['statements']['hint'] in text
    report = (tmp_path / 'reports').iterdir().__next__().read_text()
    assert 'DROP INDEX CONCURRENTLY public.%s;' % UNUSED_INDEX in report

    # the compact copy in the state file has the shape the health report trusts, and the page shows it
    state = json.loads((tmp_path / 'state.json').read_text())
    kept = state['twzrd_vacuum']['insights'][pg_db]
    assert kept['unused_indexes'][0]['drop'] == 'DROP INDEX CONCURRENTLY public.%s;' % UNUSED_INDEX
    checked, warnings = state_schema.validate(json.loads(json.dumps(state)))
    assert warnings == [] and checked['twzrd_vacuum']['insights'] == state['twzrd_vacuum']['insights']
    entries = trends.db_insights(state['twzrd_vacuum'], time.time() - 86400, time.time() + 60)
    page = '\n'.join(html._insights({'trends': {'db_insights': entries}}))
    assert 'DROP INDEX CONCURRENTLY public.&quot;Events Token B&quot;;' in page and 'shared_preload_libraries' in page

    # the statements are what a person would run: they work
    pg_cluster.execute([entry['drop'], token['drop']], pg_db)
    with seeded.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname IN (%s, 'Events Token B')", (UNUSED_INDEX,))
        assert cur.fetchone()[0] == 0


def test_insights_never_wait_for_a_lock_held_by_ddl(pg_cluster, pg_db, seeded, tmp_path):
    """A migration holds ACCESS EXCLUSIVE on events: the run does not queue behind it (lock_timeout 60 s)."""
    holder = pg_cluster.connect(pg_db, autocommit=False)
    holder.cursor().execute('LOCK TABLE events IN ACCESS EXCLUSIVE MODE')
    try:
        result, dummy, seconds = vacuum(pg_cluster, pg_db, tmp_path, lock_timeout=60, statement_timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert seconds < 20, seconds
    assert result['insights']['errors'] == []
    assert 'public.%s' % UNUSED_INDEX in index_names(result['insights']['unused_indexes'])
    assert [t['status'] for t in result['tables']] == ['skipped']


def test_check_mode_reports_insights_and_writes_nothing(pg_cluster, pg_db, seeded, tmp_path):
    result, dummy, dummy = vacuum(pg_cluster, pg_db, tmp_path, _ansible_check_mode=True)
    assert result['tables'][0]['status'] == 'planned'
    assert 'public."Events Token B"' in index_names(result['insights']['duplicate_indexes'])
    assert not (tmp_path / 'state.json').exists()


@pytest.fixture(scope='module')
def stats_cluster():
    """A private cluster that preloads pg_stat_statements."""
    cluster = PgCluster(settings={'shared_preload_libraries': "'pg_stat_statements'"})
    cluster.start()
    yield cluster
    cluster.cleanup()


def test_slowest_statements_from_pg_stat_statements_masked(stats_cluster, tmp_path):
    db = stats_cluster.create_database('app_%d' % (time.monotonic_ns() % 100000))
    stats_cluster.execute(['CREATE EXTENSION pg_stat_statements', 'CREATE TABLE t (id int)',
                           'SELECT pg_sleep(0.05)', 'SELECT pg_sleep(0.06)', 'SELECT pg_sleep(0.07)',
                           # a utility statement keeps its literals in pg_stat_statements
                           "DO $$ BEGIN PERFORM pg_sleep(0.3); PERFORM '%s'; END $$" % SECRET], db)
    conn = stats_cluster.connect(db)
    with conn.cursor() as cur:
        cur.execute('SELECT query FROM pg_stat_statements')
        assert any(SECRET in row[0] for row in cur.fetchall())  # so the masking below is what hides it
    conn.close()

    result, out, dummy = vacuum(stats_cluster, db, tmp_path, report_dir=str(tmp_path / 'reports'))
    statements = result['insights']['statements']
    assert statements['available'] and statements['hint'] is None
    top = statements['top']
    assert 1 <= len(top) <= 10
    assert [s['total_ms'] for s in top] == sorted((s['total_ms'] for s in top), reverse=True)
    assert top[0]['query'] == 'DO ?' and top[0]['calls'] == 1 and top[0]['total_ms'] >= 300
    sleep = [s for s in top if s['query'] == 'SELECT pg_sleep($1)']
    assert sleep and sleep[0]['calls'] == 3 and sleep[0]['total_ms'] >= 180
    assert 55 <= sleep[0]['mean_ms'] <= sleep[0]['total_ms'] / 3 + 1
    assert all(len(s['query']) <= 200 for s in top)
    assert 'slowest statements by total time' in result['message']
    everything = out + (tmp_path / 'state.json').read_text() + ''.join(
        p.read_text() for p in (tmp_path / 'reports').iterdir())
    assert SECRET not in everything
    kept = json.loads((tmp_path / 'state.json').read_text())['twzrd_vacuum']['insights'][db]
    assert kept['statements'][0]['query'] == 'DO ?' and 'statements_hint' not in kept


def test_created_but_not_preloaded_is_the_hint(pg_cluster, pg_db, tmp_path):
    """CREATE EXTENSION works without the library preloaded, reading the view does not: the hint, no error."""
    pg_cluster.execute('CREATE EXTENSION pg_stat_statements', pg_db)
    result, dummy, dummy = vacuum(pg_cluster, pg_db, tmp_path)
    assert result['insights']['errors'] == []
    assert not result['insights']['statements']['available']
    assert 'shared_preload_libraries' in result['insights']['statements']['hint']
