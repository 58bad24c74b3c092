"""metrics_export: result -> metric families (pure), file names, the textfile (written by core/atomic.py)."""
import os

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export as mx


def samples(families):
    """{(name, frozenset(labels)): value} of build_families' output."""
    out = {}
    for name, dummy_kind, dummy_help, labels, rows in families:
        for values, value in rows:
            out[(name, frozenset(zip(labels, values)))] = value
    return out


def key(name, **labels):
    return (name, frozenset(labels.items()))


def test_file_names_are_per_job_and_per_database():
    assert mx.textfile_name('alerts') == 'twzrd_alerts.prom'
    assert mx.textfile_name('db_health', 'app') == 'twzrd_db_health_app.prom'
    # unsafe characters never reach the path, and two names that clean up alike stay apart
    dotted, underscored = mx.textfile_name('vacuum', 'app.v2'), mx.textfile_name('vacuum', 'app_v2')
    assert dotted != underscored and dotted.startswith('twzrd_vacuum_app_v2-') and '/' not in mx.textfile_name('x', '../etc')


def test_common_series_and_status_values():
    result = {'alerts': [], 'metrics': {}}
    for status, number in (('ok', 0), ('warning', 1), ('critical', 2), ('failed', 3)):
        got = samples(mx.build_families('restart', None, result, status, 100.0, 102.5, last_success=90))
        assert got[key('twzrd_job_status', twzrd_job='restart')] == number
        assert got[key('twzrd_job_last_run_timestamp_seconds', twzrd_job='restart')] == 100.0
        assert got[key('twzrd_job_last_success_timestamp_seconds', twzrd_job='restart')] == 90
        assert got[key('twzrd_job_duration_seconds', twzrd_job='restart')] == 2.5
    # no success known (no state, never succeeded): no series rather than a made-up time
    got = samples(mx.build_families('restart', None, result, 'failed', 100.0, 101.0, last_success=None))
    assert not [k for k in got if k[0] == 'twzrd_job_last_success_timestamp_seconds']


def test_alert_series_are_bounded():
    alerts = [{'check': 'dead_rows', 'subject': 'public.t%03d' % i, 'level': 'warning'} for i in range(80)]
    alerts.append({'check': 'transaction_age', 'subject': '48213', 'level': 'warning'})  # a pid
    got = samples(mx.build_families('db_health', 'app', {'alerts': alerts, 'metrics': {}}, 'warning', 1.0, 2.0))
    series = [dict(k[1]) for k in got if k[0] == 'twzrd_alert']
    assert len(series) == mx.MAX_ALERT_SERIES
    assert all(s['database'] == 'app' and s['twzrd_job'] == 'db_health' for s in series)
    # the counts are not capped
    assert got[key('twzrd_job_alerts', twzrd_job='db_health', database='app', level='warning')] == 81
    got = samples(mx.build_families('db_health', 'app', {'alerts': alerts[-1:], 'metrics': {}}, 'warning', 1.0, 2.0))
    assert got[key('twzrd_alert', twzrd_job='db_health', database='app', check='transaction_age', subject='',
                   level='warning')] == 1


def test_host_metrics_in_base_units():
    metrics = {
        'memory': {'used_percent': 42.4}, 'swap': {'present': False, 'used_percent': 0.0},
        'load': {'load1': 0.5, 'load5': 0.4, 'load15': 0.3, 'cpu_count': 2},
        'disks': {'/': {'used_percent': 23.3}, '/gone': {'error': 'No such file or directory'}},
        'pm2': {'installed': True, 'daemon_running': False, 'apps': {
            'api': {'instances': 2, 'online': 1, 'down': 1, 'restart_time': 7, 'crashes': 3}}},
    }
    got = samples(mx.build_families('alerts', None, {'alerts': [], 'metrics': metrics}, 'ok', 1.0, 2.0))
    job = {'twzrd_job': 'alerts'}
    assert got[key('twzrd_memory_used_ratio', **job)] == pytest.approx(0.424)
    assert got[key('twzrd_swap_used_ratio', **job)] == 0.0  # no swap: nothing used
    assert got[key('twzrd_load15', **job)] == 0.3 and got[key('twzrd_cpus', **job)] == 2
    assert got[key('twzrd_disk_used_ratio', path='/', **job)] == pytest.approx(0.233)
    assert not [k for k in got if k[0] == 'twzrd_disk_used_ratio' and ('path', '/gone') in k[1]]
    assert got[key('twzrd_pm2_daemon_up', **job)] == 0
    assert got[key('twzrd_pm2_app_restarts', app='api', **job)] == 7
    assert got[key('twzrd_pm2_app_crashes', app='api', **job)] == 3
    kinds = dict((f[0], f[1]) for f in mx.build_families('alerts', None, {'alerts': [], 'metrics': metrics}, 'ok', 1, 2))
    assert kinds['twzrd_pm2_app_restarts'] == mx.COUNTER and kinds['twzrd_pm2_app_crashes'] == mx.GAUGE


def test_postgres_metrics_only_what_was_measured():
    metrics = {'connected': True, 'database': 'app',
               'connections': {'total': 7, 'max_connections': 100, 'used_pct': 7.0, 'active': 1, 'idle': 4,
                               'idle_in_transaction': 1, 'idle_in_transaction_max_s': 12.5,
                               'oldest_transaction_s': 30.0},
               'database_size': {'app': {'bytes': 1000, 'growth_pct_per_day': None, 'growth_bytes_per_day': None},
                                 'other': {'bytes': 5}},
               'latency': {'median_ms': 0.25}}
    got = samples(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': metrics}, 'ok', 1.0, 2.0))
    db = {'twzrd_job': 'db_health', 'database': 'app'}
    assert got[key('twzrd_pg_connections', state='other', **db)] == 1
    assert got[key('twzrd_pg_connections_used_ratio', **db)] == pytest.approx(0.07)
    assert got[key('twzrd_pg_idle_in_transaction_max_seconds', **db)] == 12.5
    assert got[key('twzrd_pg_database_size_bytes', **db)] == 1000
    assert got[key('twzrd_pg_query_latency_seconds', **db)] == pytest.approx(0.00025)
    names = set(k[0] for k in got)
    # not measured this run (a failed query, no history yet, options unset): absent, not zero
    for absent in ('twzrd_pg_database_growth_ratio_per_day', 'twzrd_pg_tables', 'twzrd_pg_max_xid_age',
                   'twzrd_pg_migrations_applied', 'twzrd_pg_expected_tables_missing'):
        assert absent not in names


def test_render_is_prometheus_text(tmp_path):
    families = mx.build_families('restart', None, {'alerts': [], 'metrics': {'planned': 2, 'restarted': 1, 'untouched': 1},
                                                   'failure': {'app': 'b'}}, 'critical', 1.0, 2.0, last_success=1.0)
    text = mx.render(families).decode()
    assert '# TYPE twzrd_restart_apps gauge' in text
    assert 'twzrd_restart_apps{outcome="failed",twzrd_job="restart"} 1.0' in text


def test_export_reports_problems_as_one_line(tmp_path):
    result = {'alerts': [], 'metrics': {}}
    message = mx.export(str(tmp_path / 'missing'), 'alerts', None, result, 'ok', 1.0, 2.0)
    assert 'is not a directory' in message and 'not exported' in message


def test_export_writes_the_textfile_0644_whatever_the_umask(tmp_path):
    result = {'alerts': [], 'metrics': {'planned': 0, 'restarted': 0, 'untouched': 0}}
    old_umask = os.umask(0o077)  # the job's umask must not decide who can read the file (node_exporter)
    try:
        assert mx.export(str(tmp_path), 'restart', None, result, 'ok', 1.0, 2.0) is None
    finally:
        os.umask(old_umask)
    path = tmp_path / 'twzrd_restart.prom'
    assert (os.stat(str(path)).st_mode & 0o777) == 0o644 and os.listdir(str(tmp_path)) == ['twzrd_restart.prom']
    assert b'twzrd_restart_apps' in path.read_bytes()


def thresholds(families):
    """{(check, level, frozenset(other labels)): value} of twzrd_threshold; empty labels dropped as Prometheus does."""
    out = {}
    for name, dummy_kind, dummy_help, labels, rows in families:
        if name != 'twzrd_threshold':
            continue
        for values, value in rows:
            found = dict((k, v) for k, v in zip(labels, values) if v != '')
            out[(found.pop('check'), found.pop('level'), frozenset(found.items()))] = value
    return out


HOST_PARAMS = {'swap_warning': 20, 'swap_critical': 80, 'memory_warning': 90, 'memory_critical': 95,
               'load_warning': 8, 'load_critical': 12, 'load_per_cpu': False, 'disk_warning': 50.0,
               'disk_critical': None, 'inode_warning': 85, 'inode_critical': 95, 'oom_kills_warning': 0,
               'oom_kills_critical': None, 'crash_warning': 0, 'crash_critical': 3}
HOST_METRICS = {'memory': {'used_percent': 42.4}, 'swap': {'present': False, 'used_percent': 0.0},
                'load': {'load1': 0.5, 'load5': 0.4, 'load15': 0.3, 'cpu_count': 4},
                'disks': {'/': {'used_percent': 60.0}, '/srv': {'used_percent': 10.0},
                          '/gone': {'error': 'No such file or directory'}},
                'pm2': {'installed': True, 'daemon_running': True, 'apps': {'api': {'crashes': 0}}}}


def test_host_thresholds_beside_the_series_they_judge():
    families = mx.build_families('alerts', None, {'alerts': [], 'metrics': HOST_METRICS}, 'warning', 1.0, 2.0,
                                 params=HOST_PARAMS)
    got = thresholds(families)
    job = ('twzrd_job', 'alerts')
    # the series' unit: a ratio series gets ratio thresholds; one per measured subject, with its labels
    assert got[('disk', 'warning', frozenset([job, ('path', '/')]))] == 0.5
    assert got[('disk', 'warning', frozenset([job, ('path', '/srv')]))] == 0.5
    assert got[('memory', 'critical', frozenset([job]))] == 0.95
    assert got[('swap', 'warning', frozenset([job]))] == 0.2  # no swap: the series is 0, thresholds still told
    # a level that is off on this host: never crossed, not absent (absent means "an older host: use the defaults")
    assert got[('disk', 'critical', frozenset([job, ('path', '/')]))] == float('inf')
    assert got[('pm2_crashes', 'critical', frozenset([job, ('app', 'api')]))] == 3
    assert got[('load', 'warning', frozenset([job]))] == 8
    # nothing for a path that could not be measured, a check that measured nothing (oom_kills), a fixed rule
    assert not [k for k in got if ('path', '/gone') in k[2]]
    assert set(k[0] for k in got) == {'swap', 'memory', 'load', 'disk', 'pm2_crashes'}
    # the textfile renders the mixed label sets: a label a sample lacks is empty (Prometheus drops it)
    text = mx.render(families).decode()
    assert 'twzrd_threshold{app="",check="disk",level="critical",path="/",twzrd_job="alerts"} +Inf' in text
    assert 'twzrd_threshold{app="",check="swap",level="warning",path="",twzrd_job="alerts"} 0.2' in text
    # without the module's params (older callers): no thresholds, the rules use the defaults
    assert not thresholds(mx.build_families('alerts', None, {'alerts': [], 'metrics': HOST_METRICS}, 'ok', 1, 2))


def test_load_per_cpu_threshold_is_told_in_the_series_unit():
    params = dict(HOST_PARAMS, load_per_cpu=True, load_warning=1.5, load_critical=3)
    got = thresholds(mx.build_families('alerts', None, {'alerts': [], 'metrics': HOST_METRICS}, 'ok', 1.0, 2.0,
                                       params=params))
    # the host compares load1 / 4 CPUs with 1.5; twzrd_load1 is load1: its threshold is 1.5 * 4
    assert got[('load', 'warning', frozenset([('twzrd_job', 'alerts')]))] == 6
    assert got[('load', 'critical', frozenset([('twzrd_job', 'alerts')]))] == 12


def test_db_thresholds_per_database_and_table():
    metrics = {'connected': True, 'database': 'app',
               'connections': {'total': 7, 'max_connections': 100, 'used_pct': 7.0, 'oldest_transaction_s': 30.0,
                               'idle_in_transaction_max_s': 0.0},
               'tables': {'count': 2, 'worst_dead_rows': [{'table': 'public.a', 'dead_rows': 10},
                                                          {'table': 'public.b', 'dead_rows': 5}]},
               'latency': {'median_ms': 0.25}}
    params = {'connections_warning_pct': 70.0, 'connections_critical_pct': 90.0, 'transaction_age_warning': 60.0,
              'transaction_age_critical': None, 'idle_in_transaction_warning': 600.0, 'dead_rows_warning': 5000,
              'latency_warning_ms': 20.0, 'latency_critical_ms': None}
    got = thresholds(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': metrics}, 'ok', 1.0, 2.0,
                                       params=params))
    db = [('twzrd_job', 'db_health'), ('database', 'app')]
    assert got[('connections', 'warning', frozenset(db))] == 0.7
    assert got[('transaction_age', 'critical', frozenset(db))] == float('inf')
    assert got[('latency', 'warning', frozenset(db))] == 0.02  # ms -> seconds, as twzrd_pg_query_latency_seconds
    assert got[('dead_rows', 'warning', frozenset(db + [('table', 'public.b')]))] == 5000
    assert ('idle_in_transaction', 'critical', frozenset(db)) not in got  # a warning-only check
    # not measured (no sequences, no archiving): no thresholds either
    assert set(k[0] for k in got) == {'connections', 'transaction_age', 'idle_in_transaction', 'dead_rows', 'latency'}


def test_a_standby_tells_its_replay_lag_thresholds():
    metrics = {'connected': True, 'database': 'app', 'replication': {'in_recovery': True, 'replay_lag_s': 12.0}}
    params = {'replay_lag_warning': 600.0, 'replay_lag_critical': None}
    got = thresholds(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': metrics}, 'ok', 1.0, 2.0,
                                       params=params))
    db = frozenset([('twzrd_job', 'db_health'), ('database', 'app')])
    assert got == {('replication', 'warning', db): 600.0, ('replication', 'critical', db): float('inf')}
