"""Audit: table names with odd characters in what db_health tells a person to run (audit-db).

An alert's remediation that quotes SQL must quote the table the way PostgreSQL reads it: a name with capitals,
a space or a keyword copied from "VACUUM (ANALYZE) public.Order Items" is a syntax error, or another table.
"""
import re

import pytest

from harness import run_module
from pg_harness import seed_dead_rows


@pytest.mark.parametrize('table', ['Order Items', 'order', 'Events'])
def test_dead_rows_remediation_sql_runs_as_written(pg_cluster, pg_db, tmp_path, table):
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, table, 2000)  # 2000 dead rows
    finally:
        conn.close()
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), dead_rows_warning=1000)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0 and result is not None, (out, err)
    alert, = [a for a in result['alerts'] if a['check'] == 'dead_rows']
    statement = re.search(r'\(or (VACUUM \(ANALYZE\) .*?)\); if autovacuum', alert['remediation']).group(1)
    pg_cluster.execute(statement, dbname=pg_db)   # what a person pastes into psql
    conn = pg_cluster.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT pg_stat_clear_snapshot()')
            cur.execute('SELECT n_dead_tup, last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s',
                        (table,))
            assert cur.fetchone() == (0, True), statement
    finally:
        conn.close()
