"""The hourly db_alerts job (issue 20): its quiet run must cost no more than the hourly alerts run.

Side by side, in turn, ``TWZRD_BENCH_RUNS`` (15) runs each, medians of wall and CPU time:

- ``alerts``: a quiet hourly alerts run (twzrd_health mode=alerts: swap, memory, oom_kills, load, disk, inodes,
  PM2 crashes at thresholds nothing crosses here; no network checks) on a host whose PM2 daemon runs one app,
  the host this collection is for (the run reads the daemon's process list with ``pm2 jlist``);
- ``alerts_no_pm2``: the same run on a host without PM2 (an empty PM2_HOME), as bench_checks.py runs it: the
  cheapest hourly alerts run there is, reported as the worst case for the ratio;
- ``db_alerts``: a quiet twzrd_db_health scope=acute run, as the cron job runs it (its own state file, log file
  and textfile), against a throwaway PostgreSQL 15 cluster (tests/integration/pg_harness.py) whose database
  has ``TWZRD_BENCH_TABLES`` (1,000) tables with a serial key each (a sequence each: the sequences check reads
  them all) and some rows.

All run from the repository's collection with bytecode, after one unmeasured run each (state files exist).
Target: db_alerts / alerts at most 1.0 (judged on the PM2 host; the ratio to ``alerts_no_pm2`` is printed
beside it).  ``python -m bench db_alerts``.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from bench.common import COLLECTIONS, ROOT, compare_many, ensure_collection_link, write_module_args
from bench.bench_checks import quiet_args
from bench.bench_discovery import APP, PM2_BIN, pm2_apps

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
    work = tempfile.mkdtemp(prefix='twzrd-bench-db-alerts-')
    pm2_env = dict(os.environ, PM2_HOME=os.path.join(work, 'pm2-host'))
    try:
        db = database(cluster)
        os.makedirs(os.path.join(work, 'textfile'))
        subprocess.run([PM2_BIN, 'start', APP, '--name', 'web'], env=pm2_env, capture_output=True, check=True)
        with_pm2 = quiet_args(work, 'alerts', textfile_dir=os.path.join(work, 'textfile'),
                              pm2_home=pm2_env['PM2_HOME'], pm2_bin=PM2_BIN)
        without_pm2 = quiet_args(work, 'alerts_no_pm2', textfile_dir=os.path.join(work, 'textfile'))
        acute = write_module_args(os.path.join(work, 'db_alerts.json'), {
            'login_unix_socket': cluster.socket_dir, 'login_port': cluster.port, 'login_db': db,
            'scope': 'acute', 'state_file': os.path.join(work, 'db-state.json'),
            'log_file': os.path.join(work, 'db_alerts.log'), 'textfile_dir': os.path.join(work, 'textfile')})
        out = subprocess.run(module_cmd('twzrd_db_health', acute), capture_output=True, text=True,
                             check=False).stdout
        if '"status": "ok"' not in out or '"sequences"' not in out:
            raise SystemExit('the db_alerts run was not quiet or did not read the sequences: %s' % out[:2000])
        env = dict((k, v) for k, v in os.environ.items() if k not in ('PYTHONDONTWRITEBYTECODE', 'PM2_HOME'))
        # The PM2 contender must have read the daemon, the other one must have found none.
        module_env = dict(env, PYTHONPATH=COLLECTIONS)
        if pm2_apps(with_pm2, module_env) != ['web'] or pm2_apps(without_pm2, module_env) != []:
            raise SystemExit('the alerts runs must see the app web on the PM2 host and no app without PM2')
        contenders = (('alerts', module_cmd('twzrd_health', with_pm2)),
                      ('db_alerts', module_cmd('twzrd_db_health', acute)),
                      ('alerts_no_pm2', module_cmd('twzrd_health', without_pm2)))
        compare_many(contenders, runs=1, env=env, cwd=ROOT)
        medians = compare_many(contenders, runs=RUNS, env=env, cwd=ROOT)
    finally:
        subprocess.run([PM2_BIN, 'kill'], env=pm2_env, capture_output=True, check=False)
        cluster.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    (a_wall, a_cpu), (d_wall, d_cpu), (n_wall, n_cpu) = (
        medians['alerts'], medians['db_alerts'], medians['alerts_no_pm2'])
    ratio = d_wall / a_wall
    print('quiet hourly runs, median of %d runs in turn (wall / CPU seconds):' % RUNS)
    print('  alerts, PM2 host (twzrd_health mode=alerts, one app)  : %.3f s / %.3f s' % (a_wall, a_cpu))
    print('  alerts, host without PM2                              : %.3f s / %.3f s' % (n_wall, n_cpu))
    print('  db_alerts (twzrd_db_health scope=acute, %5d tables) : %.3f s / %.3f s' % (TABLES, d_wall, d_cpu))
    print('  ratio db_alerts / alerts (PM2 host): %.3f wall, %.3f CPU (target <= %.2f wall: %s)'
          % (ratio, d_cpu / a_cpu, TARGET, 'met' if ratio <= TARGET else 'MISSED'))
    print('  ratio db_alerts / alerts (no PM2)  : %.3f wall, %.3f CPU (the cheapest alerts run there is)'
          % (d_wall / n_wall, d_cpu / n_cpu))
    return 0 if ratio <= TARGET else 1


if __name__ == '__main__':
    sys.exit(main())
