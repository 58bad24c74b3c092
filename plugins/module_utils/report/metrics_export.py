# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus textfile export of one run (docs/prometheus.md).

The report stage calls :func:`export` when ``textfile_dir`` is set.  Two
halves: :func:`build_families` turns a module result into plain metric
families (pure, no prometheus_client), :func:`render` renders them
with prometheus_client's registry and exposition format and replaces
``twzrd_<job>[_<instance>].prom`` atomically (core/atomic.py: temp file in
the same directory, fsync, rename): node_exporter sees the old file or the new one,
never half a file.  prometheus_client is imported only here, only when a
run exports, so a quiet hourly run without ``textfile_dir`` never pays for it.

Naming (Prometheus conventions): ``twzrd_`` prefix, base units (bytes,
seconds, ratios 0-1), ``_total`` only on counters, bounded labels (top N
tables, PM2 app names, paths from the job's options; never a pid or a
timestamp).  Every series carries ``twzrd_job`` (not ``job``: Prometheus
sets ``job`` itself at scrape time and would rename ours to
``exported_job``); database jobs add ``database`` (the job instance).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic

from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry

GAUGE = 'gauge'
COUNTER = 'counter'
STATUS_VALUES = {'ok': 0, 'warning': 1, 'critical': 2, 'failed': 3}
FILE_MODE = 0o644
# Firing alerts become one series each, worst first, at most this many
# (one dead_rows alert per table could otherwise grow without bound).
MAX_ALERT_SERIES = 50
# Checks whose subject is not bounded (transaction_age: a backend pid).
UNBOUNDED_SUBJECT_CHECKS = frozenset(['transaction_age', 'long_queries', 'blocking'])
_SAFE_NAME = re.compile(r'[^A-Za-z0-9_-]')


def textfile_name(job, instance=None):
    """``twzrd_<job>.prom``, or ``twzrd_<job>_<instance>.prom`` for one database of a database job.

    Characters outside ``[A-Za-z0-9_-]`` become ``_``; a short hash of the
    real instance name then keeps ``app.v2`` and ``app_v2`` apart.
    """
    name = 'twzrd_%s' % _SAFE_NAME.sub('_', job)
    if instance:
        safe = _SAFE_NAME.sub('_', instance)
        if safe != instance:
            safe += '-' + hashlib.sha1(instance.encode('utf-8')).hexdigest()[:8]
        name += '_' + safe
    return name + '.prom'


class Families:
    """Metric families being built: name -> (type, help, [(own labels, value)]).

    The samples of one family may carry different labels (``twzrd_threshold``: ``path`` for disk, none for
    swap); a label a sample lacks is rendered empty, which Prometheus stores as no label at all.
    """

    def __init__(self, base_labels):
        self.base = list(base_labels)
        self.families = {}

    def add(self, name, value, help_text, labels=None, kind=GAUGE):
        """One sample; a value of None (not measured this run) is left out."""
        if value is None:
            return
        family = self.families.setdefault(name, (kind, help_text, []))
        family[2].append((dict((k, str(v)) for k, v in (labels or {}).items()), float(value)))

    def samples(self, name):
        """``[(own labels, value)]`` added to ``name`` so far (base labels not included)."""
        return list(self.families.get(name, (None, None, []))[2])

    def as_list(self):
        """``[(name, type, help, label names, [(label values, value)])]``, base labels first."""
        found = []
        for name in sorted(self.families):
            kind, help_text, samples = self.families[name]
            own = sorted(set(k for labels, dummy in samples for k in labels))
            names = [k for k, dummy in self.base] + own
            rows = [([v for dummy, v in self.base] + [labels.get(k, '') for k in own], value)
                    for labels, value in samples]
            found.append((name, kind, help_text, names, rows))
        return found


def _ratio(percent):
    return None if percent is None else percent / 100.0


def _host(out, result):
    """The hourly alerts job: every registry check's series (checks/host.py), then what no check compares."""
    metrics = result.get('metrics') or {}
    registry.export_series(out, _host_checks(), metrics)
    load = metrics.get('load') or {}
    for key in ('load5', 'load15'):
        out.add('twzrd_' + key, load.get(key), 'Load average over %s minute(s), as the load alert reads it.' % key[4:])
    out.add('twzrd_cpus', load.get('cpu_count'), 'CPUs of the host (to compare the load per CPU).')
    pm2 = metrics.get('pm2') or {}
    if pm2.get('installed'):
        out.add('twzrd_pm2_daemon_up', 1 if pm2.get('daemon_running') else 0, 'Whether the PM2 daemon runs (1) or not (0).')
    for app, info in sorted((pm2.get('apps') or {}).items()):
        labels = {'app': app}
        out.add('twzrd_pm2_app_instances', info.get('instances'), 'PM2 instances of the app.', labels)
        out.add('twzrd_pm2_app_online_instances', info.get('online'), 'PM2 instances of the app that are online.', labels)
        out.add('twzrd_pm2_app_restarts', info.get('restart_time'),
                "PM2's restart counter summed over the app's instances (resets when the daemon restarts).",
                labels, kind=COUNTER)


def _report(out, result):
    """The weekly report: what only it measures (the hourly job exports the host gauges)."""
    log_errors = (result.get('report') or {}).get('log_errors') or {}
    out.add('twzrd_report_log_error_lines', log_errors.get('total'),
            'Error lines found in the logs over the report period.')


def _postgres(out, result):
    """twzrd_db_health: what postgres/evaluate.py compares, for the job's database."""
    metrics = result.get('metrics') or {}
    if not metrics:
        return
    out.add('twzrd_pg_up', 1 if metrics.get('connected') else 0, 'Whether the job could connect to PostgreSQL (1) or not (0).')
    connections = metrics.get('connections') or {}
    if connections:
        counted = 0
        for state in ('active', 'idle', 'idle_in_transaction'):
            counted += connections.get(state) or 0
            out.add('twzrd_pg_connections', connections.get(state),
                    'Client backends of the whole server by state.', {'state': state})
        hidden = connections.get('not_visible')
        if hidden is not None:  # a role without pg_monitor: their state is unknown, not 0
            counted += hidden
            out.add('twzrd_pg_connections', hidden, 'Client backends of the whole server by state.',
                    {'state': 'not_visible'})
        out.add('twzrd_pg_connections', max(0, (connections.get('total') or 0) - counted),
                'Client backends of the whole server by state.', {'state': 'other'})
        out.add('twzrd_pg_max_connections', connections.get('max_connections'), 'The server\'s max_connections.')
        out.add('twzrd_pg_connections_used_ratio', _ratio(connections.get('used_pct')),
                'Client backends as a share of max_connections, 0-1.')
        out.add('twzrd_pg_oldest_transaction_seconds', connections.get('oldest_transaction_s'),
                'Age of the oldest open transaction of another session.')
        out.add('twzrd_pg_idle_in_transaction_max_seconds', connections.get('idle_in_transaction_max_s'),
                'Longest time a session has been idle inside an open transaction (0: none).')
    visibility = metrics.get('visibility')
    if visibility:
        out.add('twzrd_pg_sees_all_sessions', 1 if visibility.get('all_sessions') else 0,
                'Whether the job\'s role sees every session (superuser or pg_monitor) (1) or only its own (0).')
    size = (metrics.get('database_size') or {}).get(metrics.get('database')) or {}
    out.add('twzrd_pg_database_size_bytes', size.get('bytes'), 'Size of the database.')
    out.add('twzrd_pg_database_growth_ratio_per_day', _ratio(size.get('growth_pct_per_day')),
            'Growth per day as a share of the size at the reference sample (0.1 = 10 %/day).')
    out.add('twzrd_pg_database_growth_bytes_per_day', size.get('growth_bytes_per_day'), 'Growth per day in bytes.')
    tables = metrics.get('tables') or {}
    if tables:
        out.add('twzrd_pg_tables', tables.get('count'), 'User tables in the database.')
        out.add('twzrd_pg_tables_without_primary_key', len(tables.get('without_primary_key') or []),
                'User tables without a primary key.')
        out.add('twzrd_pg_dead_rows', tables.get('dead_rows_total'), 'Dead rows over all user tables.')
        for table in tables.get('worst_dead_rows') or []:
            out.add('twzrd_pg_table_dead_rows', table.get('dead_rows'),
                    'Dead rows of the tables with the most (top_tables of them).', {'table': table.get('table')})
    out.add('twzrd_pg_max_xid_age', (metrics.get('wraparound') or {}).get('max_xid_age'),
            'Highest transaction ID age (age(datfrozenxid)) of any database on the server.')
    median_ms = (metrics.get('latency') or {}).get('median_ms')
    out.add('twzrd_pg_query_latency_seconds', None if median_ms is None else median_ms / 1000.0,
            'Median round trip of SELECT 1 on the open connection.')
    migrations = metrics.get('migrations') or {}
    out.add('twzrd_pg_migrations_applied', migrations.get('applied'), 'Rows in the migrations table.')
    out.add('twzrd_pg_migrations_expected', migrations.get('expected'), 'expected_migrations of the job.')
    if metrics.get('expected_tables'):
        out.add('twzrd_pg_expected_tables_missing', len(metrics['expected_tables'].get('missing') or []),
                'Tables of expected_tables that do not exist.')
    # long_queries and blocking: null (a role without pg_monitor) is unknown, no series, never 0
    activity = metrics.get('activity') or {}
    if activity:
        out.add('twzrd_pg_longest_query_seconds', activity.get('longest_query_s'),
                'How long the longest active query of another session has been running (0: none).')
        out.add('twzrd_pg_longest_lock_wait_seconds', activity.get('longest_lock_wait_s'),
                'How long the longest lock wait of a session has lasted (0: none).')
    _postgres_catalog(out, metrics)
    _postgres_replication(out, metrics)


def _postgres_catalog(out, metrics):
    """Sequences near their limit and invalid indexes (issue 20); absent when their query failed."""
    sequences = metrics.get('sequences') or {}
    for sequence in sequences.get('worst') or []:
        out.add('twzrd_pg_sequence_used_ratio', _ratio(sequence.get('used_pct')),
                'Used share of the limit of the sequences nearest theirs (labels database, sequence), 0-1.',
                {'sequence': sequence.get('sequence')})
    if sequences:
        out.add('twzrd_pg_sequences_unreadable', sequences.get('unreadable'),
                'Sequences whose value the job\'s role cannot read (no SELECT or USAGE): not checked.')
    indexes = metrics.get('invalid_indexes')
    if indexes:
        out.add('twzrd_pg_invalid_indexes', indexes.get('count'), 'Invalid indexes (a failed CREATE INDEX or '
                'REINDEX CONCURRENTLY) in the database.')


def _postgres_replication(out, metrics):
    """Archiving and replication (issue 20); a check skipped (archive_mode off, a standby) exports nothing of it."""
    archiving = metrics.get('archiving') or {}
    if archiving and not archiving.get('skipped'):
        out.add('twzrd_pg_archive_failing', 1 if archiving.get('failing') else 0,
                'Whether WAL archiving fails (1: the last failure is later than the last success) or not (0).')
        out.add('twzrd_pg_archive_ready_segments', archiving.get('ready_count'),
                'WAL segments waiting for the archiver (.ready files; needs superuser or pg_monitor).')
        out.add('twzrd_pg_archive_oldest_ready_seconds', archiving.get('oldest_ready_s'),
                'Age of the oldest WAL segment waiting for the archiver, in seconds (0: none waiting).')
    replication = metrics.get('replication') or {}
    if not replication:
        return
    out.add('twzrd_pg_in_recovery', 1 if replication.get('in_recovery') else 0,
            'Whether the server is a standby in recovery (1) or a primary (0).')
    for slot in replication.get('slots') or []:
        if not slot.get('active'):  # an active slot's consumer moves it on; the rule reads inactive ones
            out.add('twzrd_pg_replication_slot_retained_bytes', slot.get('retained_bytes'),
                    'WAL retained by an inactive replication slot, in bytes (label slot).', {'slot': slot['slot']})
    if replication.get('in_recovery'):
        out.add('twzrd_pg_replay_lag_seconds', replication.get('replay_lag_s'),
                'How far a standby\'s replay lags behind the primary, in seconds (0 when all received WAL is '
                'replayed).')
        receiver = replication.get('wal_receiver')
        # unknown to a role without pg_read_all_stats; an archive-only standby (primary_conninfo empty) streams nothing
        if receiver and not receiver.startswith('unknown') and replication.get('primary_conninfo') is not False:
            out.add('twzrd_pg_wal_receiver_streaming', 1 if receiver == 'streaming' else 0,
                    'Whether a standby\'s WAL receiver streams from the primary (1) or not (0).')


def _vacuum(out, result):
    metrics = result.get('metrics') or {}
    if 'planned' not in metrics:
        return
    for outcome in ('planned', 'vacuumed', 'skipped', 'failed', 'not_started', 'not_found'):
        out.add('twzrd_vacuum_tables', metrics.get(outcome), 'Tables of the last vacuum run by outcome.',
                {'outcome': outcome})
    out.add('twzrd_vacuum_dead_rows_removed', metrics.get('dead_rows_removed'), 'Dead rows the last run removed.')
    out.add('twzrd_vacuum_freed_bytes', metrics.get('bytes_freed'), 'Bytes the last run gave back to the file system.')


def _restart(out, result):
    metrics = result.get('metrics') or {}
    if 'planned' not in metrics:
        return  # the run failed before it had a plan: status says so
    outcomes = (('planned', metrics.get('planned')), ('restarted', metrics.get('restarted')),
                ('untouched', metrics.get('untouched')), ('skipped', metrics.get('skipped')),
                ('failed', 1 if result.get('failure') else 0))
    for outcome, value in outcomes:
        out.add('twzrd_restart_apps', value, 'PM2 apps of the last graceful restart by outcome.', {'outcome': outcome})


def _alerts(out, alerts):
    counts = {'warning': 0, 'critical': 0}
    seen = set()
    for alert in alerts:
        level = alert.get('level')
        counts[level] = counts.get(level, 0) + 1
        subject = '' if alert.get('check') in UNBOUNDED_SUBJECT_CHECKS else str(alert.get('subject') or '')
        key = (str(alert.get('check')), subject, str(level))
        if key in seen or len(seen) >= MAX_ALERT_SERIES:
            continue
        seen.add(key)
        out.add('twzrd_alert', 1, 'One series per firing alert of the last run (at most %d, worst first).'
                % MAX_ALERT_SERIES, {'check': key[0], 'subject': key[1], 'level': key[2]})
    for level in sorted(counts):
        out.add('twzrd_job_alerts', counts[level], 'Alerts of the last run by level.', {'level': level})


# What each job exports besides the common series; the hourly job's come from the check registry.
# db_alerts (db_health's acute checks, hourly) exports the series of what it measured, under its own job label.
JOB_SERIES = {'alerts': _host, 'health': _report, 'db_health': _postgres, 'db_alerts': _postgres, 'vacuum': _vacuum,
              'restart': _restart}


# The registry entries whose rules compare the series an exporter writes (checks/host.py, checks/postgres.py),
# imported when a job exports them: a db run never loads the host's checks (and psutil), an hourly run not the db's.
def _host_checks():
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import host  # pylint: disable=import-outside-toplevel
    return host.CHECKS


def _db_checks():
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres  # pylint: disable=import-outside-toplevel
    return postgres.CHECKS


# By exporter, so every job that exports the host's or a database's series tells its thresholds too.
EXPORTER_CHECKS = {_host: _host_checks, _postgres: _db_checks}
THRESHOLD_HELP = ('The threshold a check of the job compared its series with, in the series\' unit (a ratio for '
                  'a ratio series), per level; labels: the series\' own plus check and level. +Inf: the level is '
                  'off on this host.')


# Series whose rule is written by hand in the rules file but whose thresholds are the job's options all the same:
# exporter -> [(series, check, [(level, option)])] (a standby's replay lag: the replication entry's own thresholds).
OTHER_THRESHOLDS = {_postgres: [('twzrd_pg_replay_lag_seconds', 'replication',
                                 (('warning', 'replay_lag_warning'), ('critical', 'replay_lag_critical')))]}


def _thresholds(out, exporter, params, metrics):
    """``twzrd_threshold`` beside each exported sample a registry rule compares: the thresholds this run used.

    Only for the subjects exported now (the same labels as the value series), so the rules compare each value
    with its own host's thresholds and the cardinality follows the value series'.
    """
    for entry in registry.ruled(EXPORTER_CHECKS[exporter]() if exporter in EXPORTER_CHECKS else []):
        samples = out.samples(entry.series.name)
        if not samples:
            continue
        levels = registry.series_thresholds(entry, params, metrics)
        for labels, dummy in samples:
            for level, threshold in levels:
                out.add('twzrd_threshold', threshold, THRESHOLD_HELP, dict(labels, check=entry.name, level=level))
    for series, check, options in OTHER_THRESHOLDS.get(exporter, []):
        for labels, dummy in out.samples(series):
            for level, option in options:
                threshold = params.get(option)
                out.add('twzrd_threshold', registry.NEVER[registry.HIGHER] if threshold is None else threshold,
                        THRESHOLD_HELP, dict(labels, check=check, level=level))


def build_families(job, instance, result, status, started, finished, last_success=None, params=None):
    """The metric families of one run: ``[(name, type, help, label names, [(label values, value)])]``.

    ``status`` is ok/warning/critical/failed; ``last_success`` comes from the
    state (a failed run keeps the previous one; None when none is known).
    ``params`` (the module's) give the thresholds exported beside the series (none without).
    """
    out = Families([('twzrd_job', job)] + ([('database', instance)] if instance else []))
    out.add('twzrd_job_status', STATUS_VALUES.get(status, 3),
            'Result of the last run: 0 ok, 1 warning, 2 critical, 3 failed.')
    out.add('twzrd_job_last_run_timestamp_seconds', started, 'When the last run started (Unix time).')
    out.add('twzrd_job_last_success_timestamp_seconds', last_success,
            'When the last run that did its job started (Unix time); a failed run keeps the previous one.')
    out.add('twzrd_job_duration_seconds', max(0.0, finished - started), 'How long the last run took.')
    _alerts(out, result.get('alerts') or [])
    exporter = JOB_SERIES.get(job)
    if exporter is not None:
        exporter(out, result)
    if params is not None:
        _thresholds(out, exporter, params, result.get('metrics') or {})
    return out.as_list()


def render(families):
    """The exposition text (bytes) of the families, by prometheus_client."""
    from prometheus_client import CollectorRegistry  # pylint: disable=import-outside-toplevel
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # pylint: disable=import-outside-toplevel
    from prometheus_client.exposition import generate_latest  # pylint: disable=import-outside-toplevel

    class RunCollector:
        def collect(self):
            for name, kind, help_text, labels, samples in families:
                cls = CounterMetricFamily if kind == COUNTER else GaugeMetricFamily
                family = cls(name, help_text, labels=labels)
                for values, value in samples:
                    family.add_metric(values, value)
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector())
    return generate_latest(registry)


def export(directory, job, instance, result, status, started, finished, last_success=None, params=None):
    """Write this run's textfile; returns None or one line saying why it was not written."""
    if not os.path.isdir(directory):
        return 'textfile_dir %s is not a directory: metrics not exported' % directory
    path = os.path.join(directory, textfile_name(job, instance))
    try:
        data = render(build_families(job, instance, result, status, started, finished, last_success, params))
    except ImportError:
        return ('prometheus_client is not installed in the job\'s Python (pip install prometheus-client): '
                'metrics not exported')
    try:
        write_atomic(path, data, mode=FILE_MODE)
    except OSError as exc:
        return 'cannot write %s: %s (the previous file is kept)' % (path, exc.strerror or exc)
    return None
