"""textfile_dir: every job's metrics through Debian's real node_exporter (docs/prometheus.md).

Each test runs a module the cron way with ``textfile_dir``, scrapes the real
prometheus-node-exporter (textfile collector on 127.0.0.1) and compares the
twzrd_ series with the module's own result; every file passes
``promtool check metrics``.  Failures: a failed run rewrites status and last
run but keeps last success; a run that cannot write keeps the previous file
whole and leaves no temp file behind.
"""
import json
import os
import resource
import subprocess
import sys
import time

import pytest

from harness import COLLECTIONS, run_module
from node_exporter import NodeExporter
from pg_harness import seed_dead_rows, wait_for_dead_rows

STATUS = {'ok': 0, 'warning': 1, 'critical': 2, 'failed': 3}
QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'swap_warning': 99.8, 'swap_critical': 99.9}


@pytest.fixture
def textfile_dir(tmp_path):
    path = tmp_path / 'textfile'
    path.mkdir()
    return path


@pytest.fixture
def exporter(textfile_dir):
    try:
        daemon = NodeExporter(textfile_dir).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield daemon
    daemon.stop()


def value(samples, name, **labels):
    """The value of the one series with exactly these labels, or None."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def promtool_check(path):
    proc = subprocess.run(['promtool', 'check', 'metrics'], stdin=open(path, 'rb'), capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, (path, proc.stdout, proc.stderr)


def run(module, args, tmp_path, expect_rc=0, env=None):
    rc, result, out, err = run_module(module, args, tmp_path, env=env)
    assert rc == expect_rc and result is not None, (out, err)
    return result


def assert_job_series(samples, job, result, before, after, **instance):
    labels = dict(instance, twzrd_job=job)
    assert value(samples, 'twzrd_job_status', **labels) == STATUS[result['status']]
    last_run = value(samples, 'twzrd_job_last_run_timestamp_seconds', **labels)
    assert before <= last_run <= after
    duration = value(samples, 'twzrd_job_duration_seconds', **labels)
    assert 0 < duration <= after - before + 1
    alerts = dict(((dict(k[1])['check'], dict(k[1]).get('subject', ''), dict(k[1])['level']), v)
                  for k, v in samples.items() if k[0] == 'twzrd_alert' and dict(k[1])['twzrd_job'] == job
                  and all(dict(k[1]).get(n) == str(v) for n, v in instance.items()))
    expected = set((a['check'], str(a.get('subject') or ''), a['level']) for a in result['alerts'])
    assert set(alerts) == expected and set(alerts.values()) <= {1.0}
    for level in ('warning', 'critical'):
        assert value(samples, 'twzrd_job_alerts', level=level, **labels) == \
            len([a for a in result['alerts'] if a['level'] == level])
    return labels


def run_and_scrape(module, args, tmp_path, exporter, job, **instance):
    """Run the module once, check its file with promtool, scrape node_exporter and check the
    job's own series against the result; returns (result, samples, the job's labels)."""
    before = time.time()
    result = run(module, args, tmp_path)
    after = time.time()
    name = 'twzrd_%s%s.prom' % (job, ''.join('_' + v for v in instance.values()))
    promtool_check(os.path.join(args['textfile_dir'], name))
    samples = exporter.scrape()
    return result, samples, assert_job_series(samples, job, result, before, after, **instance)


def test_alerts_job_exports_host_and_pm2(pm2, exporter, textfile_dir, tmp_path):
    pm2.start('steady.js', 'web')
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2.bin, pm2_home=pm2.home, disk_paths=['/', str(tmp_path)],
                disk_warning=0.01, disk_critical=99.99,  # every real disk is above 0.01 %: a warning per path
                state_file=str(tmp_path / 'state.json'), textfile_dir=str(textfile_dir))
    result, samples, labels = run_and_scrape('twzrd_health', args, tmp_path, exporter, 'alerts')
    assert sorted(os.listdir(textfile_dir)) == ['twzrd_alerts.prom']
    assert (os.stat(textfile_dir / 'twzrd_alerts.prom').st_mode & 0o777) == 0o644
    assert result['status'] == 'warning' and {a['check'] for a in result['alerts']} == {'disk'}
    assert value(samples, 'twzrd_job_last_success_timestamp_seconds', **labels) == \
        value(samples, 'twzrd_job_last_run_timestamp_seconds', **labels)
    metrics = result['metrics']
    assert value(samples, 'twzrd_memory_used_ratio', **labels) == pytest.approx(metrics['memory']['used_percent'] / 100)
    swap = metrics['swap']['used_percent'] / 100 if metrics['swap']['present'] else 0
    assert value(samples, 'twzrd_swap_used_ratio', **labels) == pytest.approx(swap)
    for key in ('load1', 'load5', 'load15'):
        assert value(samples, 'twzrd_' + key, **labels) == pytest.approx(metrics['load'][key])
    assert value(samples, 'twzrd_cpus', **labels) == metrics['load']['cpu_count']
    for disk_path, disk in metrics['disks'].items():
        assert value(samples, 'twzrd_disk_used_ratio', path=disk_path, **labels) == pytest.approx(disk['used_percent'] / 100)
    app = metrics['pm2']['apps']['web']
    assert value(samples, 'twzrd_pm2_daemon_up', **labels) == 1
    assert value(samples, 'twzrd_pm2_app_instances', app='web', **labels) == app['instances'] == 1
    assert value(samples, 'twzrd_pm2_app_online_instances', app='web', **labels) == app['online'] == 1
    assert value(samples, 'twzrd_pm2_app_restarts_total', app='web', **labels) == app['restart_time']
    assert value(samples, 'twzrd_pm2_app_crashes', app='web', **labels) == app['crashes'] == 0

    # the next run replaces the file: the alert is gone from the series, values follow the result
    args.update(disk_warning=99.8, disk_critical=99.9)
    result = run('twzrd_health', args, tmp_path)
    samples = exporter.scrape()
    assert result['status'] == 'ok'
    assert value(samples, 'twzrd_job_status', **labels) == 0
    assert not [k for k in samples if k[0] == 'twzrd_alert']
    assert sorted(os.listdir(textfile_dir)) == ['twzrd_alerts.prom']


def test_report_job_exports_log_errors(pm2, exporter, textfile_dir, tmp_path):
    log = tmp_path / 'app.log'
    now = time.strftime('%Y-%m-%dT%H:%M:%S')
    log.write_text(''.join('%s ERROR something broke %d\n' % (now, i) for i in range(3)) + '%s all fine\n' % now)
    args = dict(QUIET_SYSTEM, mode='report', pm2_bin=pm2.bin, pm2_home=pm2.home, log_paths=[str(log)],
                include_system_log=False, include_pm2_logs=False, log_errors_warning=2,
                state_file=str(tmp_path / 'state.json'), textfile_dir=str(textfile_dir))
    result, samples, labels = run_and_scrape('twzrd_health', args, tmp_path, exporter, 'health')
    assert result['report']['log_errors']['total'] == 3
    assert value(samples, 'twzrd_report_log_error_lines', **labels) == 3
    assert value(samples, 'twzrd_alert', check='log_errors', subject='', level='warning', **labels) == 1
    # the weekly job leaves the hourly gauges to the alerts job
    assert value(samples, 'twzrd_swap_used_ratio', **labels) is None


@pytest.fixture
def dirty_db(pg_cluster, pg_db):
    """100k dead rows in events (autovacuum off), a table without a primary key, a migrations table."""
    conn = pg_cluster.connect(pg_db)
    seed_dead_rows(conn, 'events', 150000, delete_every=3)  # 50k dead
    with conn.cursor() as cur:
        cur.execute('DELETE FROM events WHERE id % 3 = 1')  # +50k = 100k dead
        cur.execute('CREATE TABLE audit_log (at timestamptz, what text)')
        cur.execute('CREATE TABLE schema_migrations (version text PRIMARY KEY)')
        cur.execute("INSERT INTO schema_migrations VALUES ('001'), ('002')")
        cur.execute('SELECT pg_stat_force_next_flush()')
    assert wait_for_dead_rows(conn, 'events', 100000) == 100000
    yield pg_db
    conn.close()


def test_db_health_exports_one_file_per_database(pg_cluster, dirty_db, exporter, textfile_dir, tmp_path):
    other = pg_cluster.create_database('t_metrics_other')
    try:
        common = dict(state_file=str(tmp_path / 'state.json'), textfile_dir=str(textfile_dir), dead_rows_warning=60000,
                      migrations_table='schema_migrations', expected_migrations=3, expected_tables=['events', 'epochs'])
        before = time.time()
        result = run('twzrd_db_health', dict(pg_cluster.conn_params(dirty_db), **common), tmp_path)
        other_result = run('twzrd_db_health', dict(pg_cluster.conn_params(other), state_file=common['state_file'],
                                                   textfile_dir=common['textfile_dir']), tmp_path)
        after = time.time()
    finally:
        pg_cluster.execute('DROP DATABASE IF EXISTS t_metrics_other WITH (FORCE)')
    files = sorted(os.listdir(textfile_dir))
    assert files == sorted(['twzrd_db_health_%s.prom' % dirty_db, 'twzrd_db_health_t_metrics_other.prom'])
    for name in files:
        promtool_check(textfile_dir / name)

    samples = exporter.scrape()
    labels = assert_job_series(samples, 'db_health', result, before, after, database=dirty_db)
    assert_job_series(samples, 'db_health', other_result, before, after, database='t_metrics_other')
    assert result['status'] == 'critical'  # pending migrations, a missing expected table
    assert {'dead_rows', 'primary_keys', 'migrations', 'expected_tables'} <= {a['check'] for a in result['alerts']}
    metrics = result['metrics']
    conn = metrics['connections']
    assert value(samples, 'twzrd_pg_up', **labels) == 1
    for state in ('active', 'idle', 'idle_in_transaction'):
        assert value(samples, 'twzrd_pg_connections', state=state, **labels) == conn[state]
    assert sum(v for k, v in samples.items() if k[0] == 'twzrd_pg_connections'
               and dict(k[1]).get('database') == dirty_db) == conn['total']
    assert value(samples, 'twzrd_pg_max_connections', **labels) == conn['max_connections'] == 50
    assert value(samples, 'twzrd_pg_connections_used_ratio', **labels) == pytest.approx(conn['used_pct'] / 100)
    assert value(samples, 'twzrd_pg_oldest_transaction_seconds', **labels) == pytest.approx(conn['oldest_transaction_s'])
    assert value(samples, 'twzrd_pg_database_size_bytes', **labels) == metrics['database_size'][dirty_db]['bytes']
    tables = metrics['tables']
    assert value(samples, 'twzrd_pg_tables', **labels) == tables['count'] == 3
    assert value(samples, 'twzrd_pg_tables_without_primary_key', **labels) == len(tables['without_primary_key']) == 1
    assert value(samples, 'twzrd_pg_dead_rows', **labels) == tables['dead_rows_total']
    assert value(samples, 'twzrd_pg_table_dead_rows', table='public.events', **labels) == 100000
    assert value(samples, 'twzrd_pg_max_xid_age', **labels) == metrics['wraparound']['max_xid_age']
    assert value(samples, 'twzrd_pg_query_latency_seconds', **labels) == \
        pytest.approx(metrics['latency']['median_ms'] / 1000)
    assert value(samples, 'twzrd_pg_migrations_applied', **labels) == 2
    assert value(samples, 'twzrd_pg_migrations_expected', **labels) == 3
    assert value(samples, 'twzrd_pg_expected_tables_missing', **labels) == 1
    # growth needs a sample an hour old: not known on a first run, so no series
    assert value(samples, 'twzrd_pg_database_growth_ratio_per_day', **labels) is None


def test_db_health_that_cannot_connect_says_so(pg_cluster, exporter, textfile_dir, tmp_path):
    args = dict(pg_cluster.conn_params('no_such_db'), state_file=str(tmp_path / 'state.json'),
                textfile_dir=str(textfile_dir))
    result = run('twzrd_db_health', args, tmp_path)
    samples = exporter.scrape()
    labels = {'twzrd_job': 'db_health', 'database': 'no_such_db'}
    assert result['status'] == 'critical'
    assert value(samples, 'twzrd_pg_up', **labels) == 0
    assert value(samples, 'twzrd_job_status', **labels) == 2
    assert value(samples, 'twzrd_alert', check='connection', subject='', level='critical', **labels) == 1


def test_vacuum_exports_its_outcome(pg_cluster, dirty_db, exporter, textfile_dir, tmp_path):
    args = dict(pg_cluster.conn_params(dirty_db), state_file=str(tmp_path / 'state.json'),
                textfile_dir=str(textfile_dir), tables=['events', 'missing_table'])
    result, samples, labels = run_and_scrape('twzrd_vacuum', args, tmp_path, exporter, 'vacuum', database=dirty_db)
    metrics = result['metrics']
    assert metrics['vacuumed'] == 1 and metrics['not_found'] == 1 and metrics['dead_rows_removed'] == 100000
    for outcome in ('planned', 'vacuumed', 'skipped', 'failed', 'not_started', 'not_found'):
        assert value(samples, 'twzrd_vacuum_tables', outcome=outcome, **labels) == metrics[outcome]
    assert value(samples, 'twzrd_vacuum_dead_rows_removed', **labels) == 100000
    assert value(samples, 'twzrd_vacuum_freed_bytes', **labels) == metrics['bytes_freed']


def test_restart_exports_outcome_and_a_failed_run_keeps_last_success(pm2, exporter, textfile_dir, tmp_path):
    pm2.start('steady.js', 'web')
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
    args = dict(pm2_bin=pm2.bin, pm2_home=pm2.home, apps=['web'], stable_seconds=0.5, settle_seconds=0.5,
                state_file=str(tmp_path / 'state.json'), textfile_dir=str(textfile_dir))
    before = time.time()
    result, samples, labels = run_and_scrape('pm2_restart', args, tmp_path, exporter, 'restart')
    after = time.time()
    assert result['status'] == 'ok'
    expected = {'planned': 1, 'restarted': 1, 'untouched': 0, 'failed': 0}
    for outcome, count in expected.items():
        assert value(samples, 'twzrd_restart_apps', outcome=outcome, **labels) == count
    success = value(samples, 'twzrd_job_last_success_timestamp_seconds', **labels)
    assert before <= success <= after

    # The daemon is gone: the run fails (status 3) but last_success stays from the state file.
    pm2.kill()
    time.sleep(1)
    failed = run('pm2_restart', args, tmp_path, expect_rc=1)
    samples = exporter.scrape()
    assert failed['status'] == 'failed'
    assert value(samples, 'twzrd_job_status', **labels) == 3
    assert value(samples, 'twzrd_job_last_run_timestamp_seconds', **labels) > success
    assert value(samples, 'twzrd_job_last_success_timestamp_seconds', **labels) == int(success)
    assert value(samples, 'twzrd_alert', check='job_failed', subject='', level='critical', **labels) == 1
    assert not [k for k in samples if k[0] == 'twzrd_restart_apps']  # nothing restarted: no outcome claimed
    promtool_check(textfile_dir / 'twzrd_restart.prom')


def test_a_run_that_fails_mid_write_keeps_the_previous_file(exporter, textfile_dir, tmp_path):
    """The write dies half way (file size limit: EFBIG after 1 kB): a warning, the job's result
    untouched, the previous file whole and still scraped, no temp file left behind."""
    args = dict(QUIET_SYSTEM, mode='alerts', disk_warning=99.8, disk_critical=99.9, pm2_bin='/bin/false',
                pm2_home=str(tmp_path / 'pm2'), state_file='', textfile_dir=str(textfile_dir))
    result = run('twzrd_health', args, tmp_path)
    path = textfile_dir / 'twzrd_alerts.prom'
    previous = path.read_bytes()
    assert result['status'] == 'ok' and len(previous) > 2048
    before = exporter.scrape()

    args_file = tmp_path / 'limited-args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, disk_warning=0.01)}))

    def limit_file_size():  # Python ignores SIGXFSZ, so the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health',
                           str(args_file)], capture_output=True, text=True, timeout=120, cwd=str(tmp_path), check=False,
                          env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'},
                          preexec_fn=limit_file_size)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result['status'] == 'warning', (proc.stdout, proc.stderr)
    warnings = ' '.join(str(w) for w in result.get('warnings') or [])
    assert 'cannot write' in warnings and 'previous file is kept' in warnings, warnings
    assert path.read_bytes() == previous
    assert os.listdir(textfile_dir) == ['twzrd_alerts.prom']
    after = exporter.scrape()
    assert value(after, 'twzrd_job_status', twzrd_job='alerts') == 0
    assert dict((k, v) for k, v in after.items() if k[0].startswith('twzrd_')) == \
        dict((k, v) for k, v in before.items() if k[0].startswith('twzrd_'))


def test_prometheus_client_is_loaded_only_when_exporting(exporter, textfile_dir, tmp_path):
    """A prometheus_client that refuses to import: runs without textfile_dir never notice;
    with it the run warns and still reports."""
    poison = tmp_path / 'poison'
    (poison / 'prometheus_client').mkdir(parents=True)
    (poison / 'prometheus_client' / '__init__.py').write_text('raise ImportError("poisoned for the test")\n')
    env = {'PYTHONPATH': '%s:%s' % (poison, COLLECTIONS)}
    args = dict(QUIET_SYSTEM, mode='alerts', disk_warning=99.8, disk_critical=99.9, pm2_bin='/bin/false',
                pm2_home=str(tmp_path / 'pm2'), state_file=str(tmp_path / 'state.json'))
    result = run('twzrd_health', args, tmp_path, env=env)
    assert 'not exported' not in ' '.join(str(w) for w in result.get('warnings') or [])
    result = run('twzrd_health', dict(args, textfile_dir=str(textfile_dir)), tmp_path, env=env)
    assert result['status'] == 'ok'
    assert 'prometheus_client is not installed' in ' '.join(str(w) for w in result.get('warnings') or [])
    assert os.listdir(textfile_dir) == []


def test_a_missing_directory_is_a_warning(tmp_path):
    args = dict(QUIET_SYSTEM, mode='alerts', disk_warning=99.8, disk_critical=99.9, pm2_bin='/bin/false',
                pm2_home=str(tmp_path / 'pm2'), state_file=str(tmp_path / 'state.json'),
                textfile_dir=str(tmp_path / 'nowhere'))
    result = run('twzrd_health', args, tmp_path)
    assert result['status'] == 'ok'
    assert 'is not a directory' in ' '.join(str(w) for w in result.get('warnings') or [])
    assert not os.path.exists(tmp_path / 'nowhere')


def test_check_mode_exports_nothing(textfile_dir, tmp_path):
    args = dict(QUIET_SYSTEM, mode='alerts', disk_warning=99.8, disk_critical=99.9, pm2_bin='/bin/false',
                pm2_home=str(tmp_path / 'pm2'), state_file=str(tmp_path / 'state.json'),
                textfile_dir=str(textfile_dir), _ansible_check_mode=True)
    run('twzrd_health', args, tmp_path)
    assert os.listdir(textfile_dir) == []
