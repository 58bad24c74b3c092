# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One db health run: connect, collect (db_collect), evaluate (db_checks).

Glue only.  A failed connection is one critical alert with a clean message
(server down, authentication, unknown database); a failed query marks
only its own check as failed and the other checks still run.  Either way
the checks that were not looked at are named in ``metrics['unchecked']``,
so their open alerts are neither resolved nor told again (report/alerting.py).

The threshold checks are the registry's entries (checks/postgres.py): each collection's facts go through
``registry.evaluate`` once, which gives their alerts and the readings of the report stage's hysteresis.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_entries
from ansible_collections.twzrd.ops.plugins.module_utils.state import history as trend_history
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.connection import (
    PgConnectError, connect, connection_alert, psycopg2, query_error_message, split_table_name,
)

STATE_SECTION = 'twzrd_db_health'
HEALTH_LOCK_TIMEOUT = 1.0
LOCAL_HOSTS = ('', 'localhost', '127.0.0.1', '::1')
# What each collection feeds: when it fails, these checks were not looked at this run.
CHECKS_OF = {
    'visibility': ('pg_monitor',),
    'connections': ('connections', 'transaction_age', 'idle_in_transaction', 'pg_monitor'),
    'database_size': ('database_growth', 'db_size_forecast'),
    'tables': ('primary_keys', 'dead_rows'),
    'wraparound': ('wraparound',),
    'migrations': ('migrations',),
    'expected_tables': ('expected_tables',),
    'latency': ('latency',),
    'activity': ('long_queries', 'blocking'),
    'sequences': ('sequences',),
    'invalid_indexes': ('invalid_indexes',),
    # archiving and replication (issue 20)
    'archiving': ('archiving',),
    'replication': ('replication',),
}


# The hourly db_alerts job (scope=acute, docs/schedule.md): what cannot wait for the daily run. The connection
# and its sessions, long queries and lock waits, sequences and wraparound (cheap catalog reads), archiving and
# replication. The other collections are the daily run's: sizes (their samples make growth per day), table
# scans, migrations, expected tables, latency and invalid indexes.
ACUTE_COLLECTIONS = ('settings', 'visibility', 'connections', 'wraparound', 'activity', 'sequences', 'archiving',
                     'replication')
SCOPES = ('all', 'acute')


def acute_checks():
    """The checks a run of scope ``acute`` looks at (the Prometheus rules of these read the newer db job's series)."""
    return sorted(unchecked_checks([name for name in ACUTE_COLLECTIONS if name != 'settings']))  # settings: all


def out_of_scope(scope):
    """The checks a run of ``scope`` never looks at (and the names their failed queries' alerts carry)."""
    if scope != 'acute':
        return []
    looked_at = set(acute_checks())
    daily = [name for name in CHECKS_OF if name not in ACUTE_COLLECTIONS]
    return sorted((set(unchecked_checks(daily)) | set(daily)) - looked_at)


def unchecked_checks(collections, scope='all'):
    """The checks the failed ``collections`` feed (``settings``: every one) that a run of ``scope`` looks at, sorted."""
    if 'settings' in collections:
        collections = CHECKS_OF
    fed = set(check for name in collections for check in CHECKS_OF.get(name, ()))
    return sorted(fed - set(out_of_scope(scope)))


def not_looked_at(collections, scope='all'):
    """What a run whose ``collections`` failed did not look at: the checks they feed, and the collections
    themselves, whose failed query's alert (``check tables could not run``) carries the collection's name: it
    stays open until that query runs again, not "resolved" by a run that could not even try it."""
    names = set(CHECKS_OF) | set(['settings']) if 'settings' in collections else set(collections)
    return sorted((set(unchecked_checks(collections, scope)) | names) - set(out_of_scope(scope)))


def run_db_health(params, section, now=None, scope='all'):
    """Returns (alerts, metrics, size_history or None when not connected or not looked at).

    ``scope`` ``acute`` runs only :data:`ACUTE_COLLECTIONS` (the hourly db_alerts job); ``metrics['unchecked']``
    names only what this scope meant to look at and could not.

    ``metrics['readings']`` holds what each threshold check measured, by alert key, for the report
    stage; the module takes it out before the result is returned.
    """
    now = time.time() if now is None else now
    started = time.perf_counter()
    try:
        # A short lock_timeout too: a read-only check must never queue behind a migration's lock.
        conn = connect(params, statement_timeout=params['statement_timeout'],
                       lock_timeout=min(HEALTH_LOCK_TIMEOUT, params['statement_timeout']))
    except PgConnectError as exc:
        return [connection_alert(exc)], {'connected': False, 'error': exc.kind,
                                         'unchecked': not_looked_at(['settings'], scope)}, None
    alerts = []
    metrics = {'connected': True, 'database': params.get('login_db'),
               'connect_ms': round((time.perf_counter() - started) * 1000.0, 3)}
    history = None
    failed = []
    readings = {}

    def measure(entries, facts):
        """The registry entries' alerts and readings over this collection's ``facts`` (one pass)."""
        found, values = db_checks.evaluate_checks(entries, facts, params)
        alerts.extend(found)
        readings.update(values)

    partly = set()  # checks whose collection ran but could not look at every subject (unreadable sequences)
    daily = scope != 'acute'

    def mark_unchecked():
        metrics['unchecked'] = sorted(set(not_looked_at(failed, scope)) | partly)

    def attempt(check, collect):
        try:
            return True, collect()
        except psycopg2.Error as exc:
            alerts.append(db_checks.check_error(check, query_error_message(exc, params)))
            failed.append(check)
            mark_unchecked()
            return False, None

    try:
        ok, settings = attempt('settings', lambda: db_collect.collect_settings(conn))
        if not ok:
            return alerts, metrics, None
        metrics['server_version_num'] = settings['server_version_num']

        ok, visibility = attempt('visibility', lambda: db_collect.collect_visibility(conn))
        ok, backends = attempt('connections', lambda: db_collect.collect_backends(conn))
        if ok:
            if visibility is not None:
                found, metrics['visibility'] = db_checks.evaluate_visibility(visibility, backends)
                alerts.extend(found)
            metrics['connections'] = db_checks.connection_metrics(backends, settings, visibility=visibility)
            measure([db_entries.CONNECTIONS, db_entries.TRANSACTION_AGE, db_entries.IDLE_IN_TRANSACTION],
                    dict(db_checks.session_facts(backends), connections=metrics['connections']))

        if daily:  # sizes and table scans: the daily run's (an hourly size sample would starve growth)
            ok, sizes = attempt('database_size', lambda: db_collect.collect_database_sizes(conn))
            if ok:
                previous = (section or {}).get('sizes') or {}
                found, values, history = db_checks.evaluate_sizes(
                    sizes, previous, now, params['growth_warning_pct_per_day'], params['growth_warning_bytes_per_day'])
                alerts.extend(found)
                metrics['database_size'] = values
                found, metrics['db_size_forecast'] = forecast.db_size_forecasts(
                    previous, dict((name, v['bytes']) for name, v in values.items()), data_volume(params, settings),
                    now, params['forecast_days'], params['forecast_warning_days'], params['forecast_critical_days'])
                alerts.extend(found)
                readings.update(db_checks.forecast_readings(metrics['db_size_forecast'], params))

            ok, tables = attempt('tables', lambda: db_collect.collect_tables(
                conn, top=params['top_tables'], dead_rows_warning=params.get('dead_rows_warning')))
            if ok:
                found, values = db_checks.evaluate_primary_keys(tables)
                alerts.extend(found)
                measure([db_entries.DEAD_ROWS],
                        {'dead_rows': db_checks.dead_row_facts(tables, settings, top=params['top_tables'])})
                table_metrics = db_checks.table_metrics(tables, settings, top=params['top_tables'])
                table_metrics.update(values)
                metrics['tables'] = table_metrics

        ok, ages = attempt('wraparound', lambda: db_collect.collect_wraparound(conn))
        if ok:
            metrics['wraparound'] = db_checks.wraparound_metrics(ages)
            measure([db_entries.WRAPAROUND], {'wraparound': db_checks.wraparound_facts(metrics['wraparound'])})

        if daily:
            if params.get('migrations_table'):
                schema, table = split_table_name(params['migrations_table'])
                ok, count = attempt('migrations', lambda: db_collect.collect_migrations(conn, schema, table))
                if ok:
                    found, values = db_checks.evaluate_migrations(
                        '%s.%s' % (schema, table), count, params.get('expected_migrations'))
                    alerts.extend(found)
                    metrics['migrations'] = values

            if params.get('expected_tables'):
                wanted = [split_table_name(name) for name in params['expected_tables']]
                ok, present = attempt('expected_tables', lambda: db_collect.find_tables(conn, wanted))
                if ok:
                    found, values = db_checks.evaluate_expected_tables(wanted, present)
                    alerts.extend(found)
                    metrics['expected_tables'] = values

            ok, samples = attempt('latency', lambda: db_collect.collect_latency(conn, params['latency_samples']))
            if ok:
                metrics['latency'] = db_checks.latency_metrics(samples)
                measure([db_entries.LATENCY], {'latency': metrics['latency']})

        # long queries and lock waits: one read of pg_stat_activity, the query text masked in the collector
        ok, activity = attempt('activity', lambda: db_collect.collect_activity(conn, settings['server_version_num']))
        if ok:
            seen = metrics.get('visibility')  # None when the connections query failed: judge by the role alone
            if seen is None and visibility is not None:
                seen = {'all_sessions': db_checks.sees_all_sessions(visibility), 'hidden_sessions': None}
            metrics['activity'] = db_checks.activity_metrics(activity, seen)
            measure([db_entries.LONG_QUERIES, db_entries.BLOCKING], db_checks.activity_facts(activity))

        # issue 20: sequences near their column type's maximum, invalid indexes
        ok, sequences = attempt('sequences', lambda: db_collect.collect_sequences(
            conn, above_pct=db_checks.lowest_threshold(params, 'sequence_warning_pct', 'sequence_critical_pct'),
            listed=db_checks.SEQUENCES_LISTED))
        if ok:
            facts = db_checks.sequence_facts(sequences)
            metrics['sequences'] = db_checks.sequence_metrics(sequences, facts=facts)
            measure([db_entries.SEQUENCES], {'sequences': facts})
            alerts.extend(db_checks.evaluate_unreadable_sequences(
                sequences, (visibility or {}).get('role') or params.get('login_user')))
        if daily:
            ok, indexes = attempt('invalid_indexes', lambda: db_collect.collect_invalid_indexes(conn))
            if ok:
                found, metrics['invalid_indexes'] = db_checks.evaluate_invalid_indexes(indexes)
                alerts.extend(found)
        if sequences and db_checks.sequences_unread(sequences):  # what it could not read keeps its open alerts
            partly.add('sequences')
            mark_unchecked()

        # archiving and replication (issue 20): each collector asks pg_is_in_recovery() first; on a standby what
        # needs a primary is not queried, and the metrics say it was skipped
        ok, archiver = attempt('archiving', lambda: db_collect.collect_archiving(conn))
        if ok:
            metrics['archiving'], facts = db_checks.archiving_metrics(archiver)
            measure([db_entries.ARCHIVING], facts)
        ok, replication = attempt('replication', lambda: db_collect.collect_replication(
            conn, settings['server_version_num']))
        if ok:
            metrics['replication'], facts = db_checks.replication_metrics(replication, params)
            measure([db_entries.REPLICATION], facts)
    finally:
        conn.close()
    metrics['readings'] = readings
    metrics['query_ms'] = round((time.perf_counter() - started) * 1000.0, 3)
    return alerts, metrics, history


def data_volume(params, settings):
    """Free space of the volume the database files live on: O(data_volume), or the server's
    data_directory when the server runs on this host; None when unknown."""
    path = params.get('data_volume')
    if not path:
        host = params.get('login_host') or ''
        if host not in LOCAL_HOSTS and not host.startswith('/'):
            return None  # a remote server's data_directory is not a path here
        path = settings.get('data_directory')
    return db_collect.collect_volume(path) if path else None


def remember_trends(section, database, metrics, now):
    """Keep what the weekly report charts: the dead rows of the worst tables per day, the last forecast."""
    tables = metrics.get('tables')
    if tables is not None and database:
        dead = section.get('dead_rows') if isinstance(section.get('dead_rows'), dict) else {}
        dead[database] = trend_history.set_day(dead.get(database), now,
                                               trend_history.worst_tables(tables.get('worst_dead_rows')))
        section['dead_rows'] = dead
    if metrics.get('db_size_forecast') is not None:
        section['forecast'] = metrics['db_size_forecast']
