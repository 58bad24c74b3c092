"""Audit: the weekly VACUUM must never hold up application traffic (audit-db).

A manual VACUUM holds SHARE UPDATE EXCLUSIVE on its table until it ends.  That blocks no reads or writes by
itself, but a migration's ALTER TABLE (ACCESS EXCLUSIVE) then waits behind it, and every query of the table
queues behind the migration: the application stalls for as long as the VACUUM runs.  Autovacuum cancels itself
when it blocks someone; the job must do the same.  The VACUUM is throttled (vacuum_cost_delay) so it runs long.
"""
import threading
import time

import psycopg2

from harness import run_module
from pg_harness import seed_dead_rows


def progress(pg_cluster, db):
    conn = pg_cluster.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_progress_vacuum p JOIN pg_class c ON c.oid = p.relid "
                        "WHERE c.relname = 'big'")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_vacuum_gives_way_to_a_migration_instead_of_stalling_the_application(pg_cluster, pg_db, tmp_path):
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, 'big', 200000, delete_every=2)
    finally:
        conn.close()
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), tables=['big'], vacuum_cost_delay=100,
                vacuum_cost_limit=1, table_timeout=20)
    outcome = {}
    job = threading.Thread(target=lambda: outcome.update(run=run_module('twzrd_vacuum', args, tmp_path)))
    job.start()
    migration = None
    try:
        deadline = time.monotonic() + 15
        while not progress(pg_cluster, pg_db):
            assert time.monotonic() < deadline, 'the VACUUM never started'
            time.sleep(0.05)

        def migrate():
            mconn = pg_cluster.connect(pg_db)
            try:
                with mconn.cursor() as cur:
                    cur.execute('ALTER TABLE big ADD COLUMN note text')  # a deploy's migration, no lock_timeout
                outcome['migrated'] = time.monotonic()
            finally:
                mconn.close()
        migration = threading.Thread(target=migrate)
        migration.start()
        time.sleep(0.5)

        app = pg_cluster.connect(pg_db, options='-c statement_timeout=5000')
        try:
            with app.cursor() as cur:
                started = time.monotonic()
                try:
                    cur.execute('SELECT count(*) FROM big')  # the application's query
                    waited = time.monotonic() - started
                except psycopg2.errors.QueryCanceled:
                    waited = None
        finally:
            app.close()
        assert waited is not None, 'the application query waited 5 s behind the migration behind the VACUUM'
    finally:
        job.join(60)
        if migration is not None:
            migration.join(60)
    rc, result, out, err = outcome['run']
    assert rc == 0 and result is not None, (out, err)
    target, = result['tables']
    assert target['status'] == 'skipped' and 'waiting' in target['message'], target
    assert result['status'] == 'warning' and 'migrated' in outcome
