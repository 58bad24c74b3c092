"""Audit: twzrd_vacuum run by a role that may not vacuum a table (pg_monitor only) (audit-db).

PostgreSQL skips such a table with a WARNING ("only table or database owner can vacuum it") while the
statement succeeds, as it does for a busy table; the alert must say what to do about this cause, not send
the reader hunting for a lock that does not exist.
"""
from harness import run_module
from pg_harness import seed_dead_rows


def test_a_table_the_role_may_not_vacuum_says_so_and_what_to_do(pg_cluster, pg_db, tmp_path):
    pg_cluster.execute(['DROP ROLE IF EXISTS twzrd_audit_monitor', 'CREATE ROLE twzrd_audit_monitor LOGIN',
                        'GRANT pg_monitor TO twzrd_audit_monitor'])
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, 'events', 20000, delete_every=2)
    finally:
        conn.close()
    try:
        args = pg_cluster.conn_params(pg_db, user='twzrd_audit_monitor')
        args.update(state_file=str(tmp_path / 'state.json'), tables=['events'])
        rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
        assert rc == 0 and result is not None, (out, err)
        target, = result['tables']
        assert target['status'] == 'skipped' and 'owner' in target['message'], target
        alert, = [a for a in result['alerts'] if a['check'] == 'vacuum_skipped']
        assert alert['value'] == 1 and alert['threshold'] == 0
        # what to do fits the cause: the owner (or a superuser) must run it; no lock to look for
        assert 'owner' in alert['remediation'] and 'twzrd_audit_monitor' in alert['remediation'], alert
    finally:
        pg_cluster.execute('DROP OWNED BY twzrd_audit_monitor', dbname=pg_db)
        pg_cluster.execute('DROP ROLE twzrd_audit_monitor')
