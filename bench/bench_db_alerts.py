"""The hourly db_alerts job (issue 20): its quiet run must cost no more than the hourly alerts run.

Side by side, alternating, ``TWZRD_BENCH_RUNS`` (15) runs each, medians of wall and CPU time:

- ``alerts``: a quiet hourly alerts run (twzrd_health mode=alerts: swap, memory, oom_kills, load, disk, inodes,
  PM2 crashes at thresholds nothing crosses here; no network checks), as bench_checks.py runs it;
- ``db_alerts``: a quiet twzrd_db_health scope=acute run, as the cron job runs it (its own state file, log file
  and textfile), against a throwaway PostgreSQL 15 cluster (tests/integration/pg_harness.py) whose database
  has ``TWZRD_BENCH_TABLES`` (1,000) tables with a serial key each (a sequence each: the sequences check reads
  them all) and some rows.

Both run from the repository's collection with bytecode, after one unmeasured run each (state files exist).
Target: db_alerts / alerts at most 1.0.  ``python -m bench db_alerts``.
"""
import os
import subprocess
import sys
import tempfile

from bench.common import COLLECTIONS, ROOT, compare, ensure_collection_link, write_module_args
from bench.bench_checks import quiet_args

sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from pg_harness import PgCluster, create_tables, flush_stats  # noqa: E402  pylint: disable=wrong-import-position

RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '15'))
TABLES = int(os.environ.get('TWZRD_BENCH_TABLES', '1000'))
TARGET = 1.0


def module_cmd(module, path):
    return ['env', 'PYTHONPATH=%s' % COLLECTIONS, sys.executable, '-m',
            'ansible_collections.twzrd.ops.plugins.modules.%s' % module, path]


def database(cluster):
    db = cluster.create_database('bench_db_alerts')
    conn = cluster.connect(db)
    create_tables(conn, ['t%05d' % i for i in range(TABLES)], columns='id serial PRIMARY KEY, v text, at timestamptz')
    with conn.cursor() as cur:
        for i in range(0, TABLES, max(TABLES // 20, 1)):
            cur.execute('INSERT INTO "t%05d" (v, at) SELECT md5(g::text), now() FROM generate_series(1, 1000) g' % i)
        cur.execute('ANALYZE')
    flush_stats(conn)
    conn.close()
    return db


def main():
    ensure_collection_link()
    cluster = PgCluster()
    cluster.start()
    try:
        db = database(cluster)
        with tempfile.TemporaryDirectory(prefix='twzrd-bench-db-alerts-') as work:
            os.makedirs(os.path.join(work, 'textfile'))
            hourly = quiet_args(work, 'alerts', textfile_dir=os.path.join(work, 'textfile'))
            acute = write_module_args(os.path.join(work, 'db_alerts.json'), {
                'login_unix_socket': cluster.socket_dir, 'login_port': cluster.port, 'login_db': db,
                'scope': 'acute', 'state_file': os.path.join(work, 'db-state.json'),
                'log_file': os.path.join(work, 'db_alerts.log'), 'textfile_dir': os.path.join(work, 'textfile')})
            out = subprocess.run(module_cmd('twzrd_db_health', acute), capture_output=True, text=True,
                                 check=False).stdout
            if '"status": "ok"' not in out or '"sequences"' not in out:
                raise SystemExit('the db_alerts run was not quiet or did not read the sequences: %s' % out[:2000])
            env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONDONTWRITEBYTECODE')
            commands = ('alerts', module_cmd('twzrd_health', hourly), 'db_alerts', module_cmd('twzrd_db_health', acute))
            compare(*commands, runs=1, env=env, cwd=ROOT)
            medians = compare(*commands, runs=RUNS, env=env, cwd=ROOT)
    finally:
        cluster.cleanup()
    (a_wall, a_cpu), (d_wall, d_cpu) = medians['alerts'], medians['db_alerts']
    ratio = d_wall / a_wall
    print('quiet hourly runs, median of %d alternating runs (wall / CPU seconds):' % RUNS)
    print('  alerts (twzrd_health mode=alerts)                     : %.3f s / %.3f s' % (a_wall, a_cpu))
    print('  db_alerts (twzrd_db_health scope=acute, %5d tables) : %.3f s / %.3f s' % (TABLES, d_wall, d_cpu))
    print('  ratio db_alerts / alerts : %.3f wall, %.3f CPU (target <= %.2f wall: %s)'
          % (ratio, d_cpu / a_cpu, TARGET, 'met' if ratio <= TARGET else 'MISSED'))
    return 0 if ratio <= TARGET else 1


if __name__ == '__main__':
    sys.exit(main())
