# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluators for twzrd_db_health: collected data + thresholds -> metrics, facts and alerts.

Pure functions, no I/O (the collectors in postgres/collect.py read the server).
The threshold checks (connections, transaction age, idle in transaction, dead rows, wraparound, latency)
are entries of the check registry (checks/postgres.py): here each collection becomes the result's metrics
and the facts those entries read, and :func:`evaluate_checks` turns facts into their alerts and readings in
one pass.  Database growth (two thresholds) and the checks that are not a threshold (pg_monitor, primary
keys, migrations, expected tables) are code here.  Alerts always carry value, threshold and remediation
(docs/db_health.md).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes, human_seconds
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import (
    CRITICAL, WARNING, make_alert, runbook,
)

DAY = 86400.0
# Growth is extrapolated to a day only from samples at least this far apart;
# two runs a minute apart would turn noise into a huge daily rate.
MIN_GROWTH_INTERVAL = 3600.0
SIZE_HISTORY = 30


def table_label(table):
    return '%s.%s' % (table['schema'], table['name'])


def table_sql(table):
    """schema.name as SQL reads it, for a statement a person pastes: the server's format('%I.%I') (it knows the
    keywords) when the row has it, else each part quoted unless plain lower case (as quote_role)."""
    if table.get('table_sql'):
        return table['table_sql']
    return '%s.%s' % (quote_role(table['schema']), quote_role(table['name']))


def evaluate_checks(entries, facts, params):
    """``(alerts, readings)`` of the registry ``entries`` over ``facts`` (one pass, registry.evaluate).

    Per check, the alerts come worst first, as the collectors order their rows (the registry goes by subject).
    """
    alerts, readings = registry.evaluate(entries, facts, params)
    order = dict((entry.name, index) for index, entry in enumerate(entries))
    alerts.sort(key=lambda alert: (order[alert['check']], -(alert['value'] or 0)))
    return alerts, readings


def lowest_threshold(params, *names):
    """The lowest of the thresholds ``names`` that are set (None when none is): below it nothing alerts."""
    values = [params.get(name) for name in names if params.get(name) is not None]
    return min(values) if values else None


def check_error(check, message):
    """A check whose query failed: critical, we cannot vouch for it."""
    return make_alert(check, CRITICAL, None, None, 'check %s could not run: %s' % (check, message),
                      runbook('Read the error; a statement timeout means the server is overloaded or '
                              'statement_timeout is too low for this database.', 'a-check-could-not-run'))


# -- connections ----------------------------------------------------------------

def sees_all_sessions(visibility):
    """``visibility`` from db_collect.collect_visibility; None (not known) counts as seeing all."""
    return visibility is None or bool(visibility.get('superuser') or visibility.get('pg_read_all_stats'))


def hidden_sessions(backends):
    """Other sessions whose state our role may not see (pg_stat_activity shows it NULL)."""
    return [b for b in backends if not b.get('own') and b.get('state') is None]


def quote_role(role):
    """The role as SQL writes it in GRANT (quoted unless a plain lower-case name)."""
    if re.match(r'^[a-z_][a-z0-9_]*$', role or ''):
        return role
    return '"%s"' % (role or '').replace('"', '""')


def evaluate_visibility(visibility, backends):
    """A warning when our role sees only its own sessions: transaction checks are blind then."""
    hidden = len(hidden_sessions(backends))
    via = None
    if visibility.get('superuser'):
        via = 'superuser'
    elif visibility.get('pg_monitor'):
        via = 'pg_monitor'
    elif visibility.get('pg_read_all_stats'):
        via = 'pg_read_all_stats'
    metrics = {'role': visibility.get('role'), 'all_sessions': via is not None, 'via': via,
               'hidden_sessions': 0 if via else hidden}
    if via:
        return [], metrics
    role = visibility.get('role')
    alert = make_alert(
        'pg_monitor', WARNING, 'no pg_monitor', 'pg_monitor or superuser',
        'role %s is neither superuser nor a member of pg_monitor: it sees only its own sessions, so the transaction '
        'age, idle-in-transaction, long-query and blocking checks cannot see the other %d session(s) (their values '
        'are not exported)'
        % (role, hidden),
        db_checks.PG_MONITOR.remediation_text(role=quote_role(role)),
        subject=role)
    return [alert], metrics


def _sessions(backends):
    """``(oldest transaction's backend or None, its age, sessions idle in transaction)`` of the other sessions."""
    others = [b for b in backends if not b.get('own')]
    in_xact = [b for b in others if b.get('xact_age') is not None]
    oldest = max(in_xact, key=lambda b: b['xact_age']) if in_xact else None
    oldest_age = round(oldest['xact_age'], 1) if oldest else 0.0
    idle = [b for b in others if (b.get('state') or '').startswith('idle in transaction')]
    return oldest, oldest_age, idle


def evaluate_connections(backends, settings, warning_pct, critical_pct,
                         xact_warning, xact_critical, idle_warning, visibility=None):
    """Connection use against max_connections, oldest transaction, idle in transaction."""
    metrics = connection_metrics(backends, settings, visibility)
    alerts, dummy = evaluate_checks([db_checks.CONNECTIONS], {'connections': metrics}, {
        'connections_warning_pct': warning_pct, 'connections_critical_pct': critical_pct})
    return alerts + evaluate_sessions(backends, xact_warning, xact_critical, idle_warning), metrics


def session_facts(backends):
    """What the transaction_age and idle_in_transaction entries read from the other sessions: the oldest
    transaction (by pid) and the sessions idle in transaction with the longest idle time."""
    oldest, oldest_age, idle = _sessions(backends)
    transaction = {}
    if oldest:
        transaction[str(oldest['pid'])] = {'pid': oldest['pid'], 'age': oldest_age, 'user': oldest.get('user'),
                                           'application_name': oldest.get('application_name'),
                                           'state': oldest.get('state')}
    sessions = [{'pid': b['pid'], 'user': b.get('user'), 'application_name': b.get('application_name'),
                 'state_age': b.get('state_age')} for b in idle]
    return {'transaction_age': transaction,
            'idle_in_transaction': {'sessions': sessions,
                                    'longest_s': max([b['state_age'] or 0 for b in sessions] or [0])}}


def evaluate_sessions(backends, xact_warning, xact_critical, idle_warning):
    """The oldest transaction and the sessions idle in transaction of the other sessions."""
    alerts, dummy = evaluate_checks([db_checks.TRANSACTION_AGE, db_checks.IDLE_IN_TRANSACTION], session_facts(backends), {
        'transaction_age_warning': xact_warning, 'transaction_age_critical': xact_critical,
        'idle_in_transaction_warning': idle_warning})
    return alerts


def connection_metrics(backends, settings, visibility=None):
    """The result's ``connections``: use against max_connections (what the connections entry reads), sessions.

    With a role that does not see every session (``visibility``), what depends
    on other sessions' state is None (unknown), never 0, and their count is
    ``not_visible``; the session alerts still fire on what it does see.
    """
    max_conn = settings['max_connections']
    total = len(backends)
    by_state = {}
    for backend in backends:
        state = backend.get('state') or 'unknown'
        by_state[state] = by_state.get(state, 0) + 1
    pct = round(100.0 * total / max_conn, 1) if max_conn else 0.0
    oldest, oldest_age, idle = _sessions(backends)
    metrics = {
        'total': total,
        'max_connections': max_conn,
        'used_pct': pct,
        'active': by_state.get('active', 0),
        'idle': by_state.get('idle', 0),
        'idle_in_transaction': len(idle),
        'idle_in_transaction_max_s': round(max([b.get('state_age') or 0 for b in idle] or [0]), 1),
        'oldest_transaction_s': oldest_age,
        'oldest_transaction_pid': oldest['pid'] if oldest else None,
    }
    if not sees_all_sessions(visibility):
        # Only lower bounds: a hidden session may be older or idle in transaction.
        metrics.update(dict((key, None) for key in ('active', 'idle', 'idle_in_transaction',
                                                    'idle_in_transaction_max_s', 'oldest_transaction_s',
                                                    'oldest_transaction_pid')))
        metrics['not_visible'] = len(hidden_sessions(backends))
    return metrics


# -- database size and growth ----------------------------------------------------

def _clean_history(samples):
    """Only well-formed [epoch, bytes] pairs survive a hand-edited or old state file."""
    clean = []
    for sample in samples if isinstance(samples, list) else []:
        try:
            clean.append([int(sample[0]), int(sample[1])])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
    return clean


def growth_reference(history, now, min_interval=MIN_GROWTH_INTERVAL):
    """The newest [ts, bytes] sample at least ``min_interval`` old, or None."""
    best = None
    for sample in history or []:
        try:
            ts, size = float(sample[0]), int(sample[1])
        except (TypeError, ValueError, IndexError):
            continue
        if now - ts >= min_interval and (best is None or ts > best[0]):
            best = (ts, size)
    return best


def evaluate_sizes(sizes, previous, now, growth_pct_warning, growth_bytes_warning,
                   min_interval=MIN_GROWTH_INTERVAL):
    """Database sizes and growth per day against the size history in state.

    ``previous`` maps database -> [[ts, bytes], ...]; returns
    ``(alerts, metrics, history)`` with the new history to store.
    """
    alerts = []
    metrics = {}
    history = {}
    for row in sizes:
        name, size = row['database'], row['bytes']
        if size is None:
            continue
        past = _clean_history((previous or {}).get(name))
        entry = {'bytes': size, 'pretty': human_bytes(size), 'growth_bytes_per_day': None,
                 'growth_pct_per_day': None, 'growth_since': None}
        ref = growth_reference(past, now, min_interval)
        if ref is not None:
            days = (now - ref[0]) / DAY
            per_day = (size - ref[1]) / days
            entry['growth_bytes_per_day'] = int(round(per_day))
            entry['growth_since'] = ref[0]
            reasons = []
            if ref[1]:
                pct = round(100.0 * per_day / ref[1], 2)
                entry['growth_pct_per_day'] = pct
                if growth_pct_warning is not None and pct > growth_pct_warning:
                    reasons.append(('%.1f%%/day > %s%%/day' % (pct, growth_pct_warning), pct, growth_pct_warning))
            if growth_bytes_warning is not None and per_day > growth_bytes_warning:
                reasons.append(('%s/day > %s/day' % (human_bytes(per_day), human_bytes(growth_bytes_warning)),
                                int(round(per_day)), growth_bytes_warning))
            if reasons:
                alerts.append(make_alert(
                    'database_growth', WARNING, reasons[0][1], reasons[0][2],
                    'database %s grows %s (%s now, %s %s ago)' % (
                        name, ' and '.join(r[0] for r in reasons), human_bytes(size), human_bytes(ref[1]),
                        human_seconds(now - ref[0])),
                    db_checks.DATABASE_GROWTH.remediation_text(),
                    subject=name))
        metrics[name] = entry
        past.append([int(now), int(size)])
        history[name] = sorted(past, key=lambda s: s[0])[-SIZE_HISTORY:]
    return alerts, metrics, history


# -- tables ----------------------------------------------------------------------

def parse_reloptions(reloptions):
    """['autovacuum_enabled=off', ...] -> {'autovacuum_enabled': 'off', ...}"""
    options = {}
    for item in reloptions or []:
        if '=' in item:
            key, value = item.split('=', 1)
            options[key.strip().lower()] = value.strip()
    return options


def _truthy(text):
    return str(text).lower() in ('on', 'true', 'yes', '1', 't', 'y')


def autovacuum_trigger(table, settings):
    """(dead-row count that triggers autovacuum, autovacuum enabled) for one table.

    threshold + scale_factor * reltuples, with per-table reloptions winning
    over the server settings, as autovacuum itself computes it.  reltuples
    is -1 for a never-analyzed table (PG14+): counted as 0.
    """
    options = parse_reloptions(table.get('reloptions'))
    try:
        threshold = int(options.get('autovacuum_vacuum_threshold', settings['autovacuum_vacuum_threshold']))
    except ValueError:
        threshold = settings['autovacuum_vacuum_threshold']
    try:
        scale = float(options.get('autovacuum_vacuum_scale_factor', settings['autovacuum_vacuum_scale_factor']))
    except ValueError:
        scale = settings['autovacuum_vacuum_scale_factor']
    reltuples = max(float(table.get('reltuples') or 0), 0.0)
    enabled = settings.get('autovacuum', True) and _truthy(options.get('autovacuum_enabled', 'on'))
    return int(threshold + scale * reltuples), enabled


def evaluate_primary_keys(tables, limit=50):
    """Tables without a primary key: one warning listing them."""
    missing = sorted(table_label(t) for t in tables if t.get('kind') in ('r', 'p') and not t.get('has_pk'))
    alerts = []
    if missing:
        shown = ', '.join(missing[:limit]) + (' (+%d more)' % (len(missing) - limit) if len(missing) > limit else '')
        alerts.append(make_alert(
            'primary_keys', WARNING, len(missing), 0,
            '%d table(s) without a primary key, above the threshold of 0: %s' % (len(missing), shown),
            db_checks.PRIMARY_KEYS.remediation_text()))
    return alerts, {'without_primary_key': missing}


def autovacuum_text(trigger, enabled):
    """How autovacuum treats a table, as a person reads it: a table with autovacuum off has no trigger."""
    if not enabled:
        return 'autovacuum OFF for this table: nothing cleans it up until someone runs VACUUM'
    return 'autovacuum starts at %d dead rows' % trigger


def _worst_dead_rows(tables):
    """The tables with statistics (not partitioned parents), most dead rows first."""
    with_stats = [t for t in tables if t.get('kind') != 'p']
    return sorted(with_stats, key=lambda t: (-(t.get('dead_rows') or 0), table_label(t)))


def dead_row_facts(tables, settings, top=10):
    """What the dead_rows entry reads, by table: its dead rows and what the alert says of it.

    ``listed``: the table is one of the ``top`` worst in the result (a reading for hysteresis).
    """
    facts = {}
    for rank, table in enumerate(_worst_dead_rows(tables)):
        trigger, enabled = autovacuum_trigger(table, settings)
        facts[table_label(table)] = {
            'table': table_label(table), 'table_sql': table_sql(table), 'dead_rows': table.get('dead_rows') or 0,
            'live_rows': table.get('live_rows') or 0, 'size': human_bytes(table.get('bytes')),
            'autovacuum': autovacuum_text(trigger, enabled), 'listed': rank < top and bool(table.get('dead_rows'))}
    return facts


def evaluate_dead_rows(tables, settings, dead_rows_warning, top=10):
    """Tables with too many dead rows (worst first) and tables over their autovacuum trigger."""
    alerts, dummy = evaluate_checks([db_checks.DEAD_ROWS], {'dead_rows': dead_row_facts(tables, settings, top)},
                                    {'dead_rows_warning': dead_rows_warning})
    return alerts, table_metrics(tables, settings, top)


def table_metrics(tables, settings, top=10):
    """The result's ``tables``: the worst by dead rows, those over their autovacuum trigger, the largest (equal
    sizes by name).  ``tables`` may be all or only those a run reports on (collect_tables with ``top``)."""
    with_stats = [t for t in tables if t.get('kind') != 'p']
    worst = _worst_dead_rows(tables)
    over_trigger = []
    for table in worst:
        dead = table.get('dead_rows') or 0
        if not dead:
            break
        trigger, enabled = autovacuum_trigger(table, settings)
        if dead > trigger:
            over_trigger.append({'table': table_label(table), 'dead_rows': dead, 'autovacuum_trigger': trigger,
                                 'autovacuum_enabled': enabled})
    if tables and 'total' in tables[0]:  # only the tables a run reports on (collect_tables with top): the server's sums
        count, dead_total = tables[0]['total'], tables[0]['dead_total']
    else:
        count, dead_total = len(tables), sum(t.get('dead_rows') or 0 for t in with_stats)
    metrics = {
        'count': count,
        'dead_rows_total': dead_total,
        'worst_dead_rows': [{'table': table_label(t), 'dead_rows': t.get('dead_rows') or 0,
                             'live_rows': t.get('live_rows') or 0, 'bytes': t.get('bytes'),
                             'size': human_bytes(t.get('bytes'))}
                            for t in worst[:top] if t.get('dead_rows')],
        # information only: autovacuum should pick these up by itself
        'over_autovacuum_trigger': over_trigger[:top],
        'over_autovacuum_trigger_count': len(over_trigger),
        'largest': [{'table': table_label(t), 'bytes': t.get('bytes'), 'size': human_bytes(t.get('bytes'))}
                    for t in sorted(tables, key=lambda t: (-(t.get('bytes') or 0), table_label(t)))[:top]],
    }
    return metrics


# -- wraparound, migrations, expected tables, latency -----------------------------

def wraparound_metrics(rows):
    """The result's ``wraparound``: transaction ID age by database and the highest."""
    ages = dict((row['database'], int(row['xid_age'])) for row in rows)
    return {'xid_age': ages, 'max_xid_age': max(ages.values()) if ages else 0}


def wraparound_facts(metrics):
    """What the wraparound entry reads: ``{database: {'xid_age'}}``."""
    return dict((database, {'xid_age': age}) for database, age in metrics['xid_age'].items())


def evaluate_wraparound(rows, warning, critical):
    metrics = wraparound_metrics(rows)
    alerts, dummy = evaluate_checks([db_checks.WRAPAROUND], {'wraparound': wraparound_facts(metrics)},
                                    {'wraparound_warning': warning, 'wraparound_critical': critical})
    return alerts, metrics


def evaluate_migrations(table_name, count, expected):
    """count is None when the table does not exist."""
    alerts = []
    if count is None:
        alerts.append(make_alert(
            'migrations', CRITICAL, None, table_name,
            'migrations table %s does not exist' % table_name,
            runbook('Check migrations_table and login_db (wrong database?); run the application migrations.',
                    'migrations-pending-or-tables-missing')))
    elif expected is not None and count != expected:
        level = CRITICAL if count < expected else WARNING
        alerts.append(make_alert(
            'migrations', level, count, expected,
            '%d migrations applied in %s, %d expected (%s)' % (
                count, table_name, expected, 'pending migrations' if count < expected else 'database ahead of code'),
            db_checks.MIGRATIONS.remediation_text()))
    return alerts, {'table': table_name, 'applied': count, 'expected': expected}


def evaluate_expected_tables(expected, found):
    """expected: list of (schema, name); found: the set that exists."""
    missing = ['%s.%s' % pair for pair in expected if pair not in found]
    alerts = []
    if missing:
        alerts.append(make_alert(
            'expected_tables', CRITICAL, len(missing), 0,
            '%d expected table(s) missing, above the threshold of 0: %s' % (len(missing), ', '.join(missing)),
            db_checks.EXPECTED_TABLES.remediation_text()))
    return alerts, {'expected': ['%s.%s' % pair for pair in expected], 'missing': missing}


def median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def latency_metrics(samples_ms):
    """The result's ``latency`` (what the latency entry reads): the median and the samples."""
    value = median(samples_ms)
    value = round(value, 3) if value is not None else None
    return {'median_ms': value, 'samples_ms': [round(s, 3) for s in samples_ms]}


def evaluate_latency(samples_ms, warning_ms, critical_ms=None):
    metrics = latency_metrics(samples_ms)
    alerts, dummy = evaluate_checks([db_checks.LATENCY], {'latency': metrics},
                                    {'latency_warning_ms': warning_ms, 'latency_critical_ms': critical_ms})
    return alerts, metrics


def forecast_readings(forecasts, params):
    """The size forecasts' days left and thresholds by alert key (a forecast is code, not a registry check);
    a database without a forecast still reads None, so a "resolved" tells the thresholds configured now."""
    return dict(('db_size_forecast:%s' % database, {
        'value': forecast.get('days_left'), 'warning': params.get('forecast_warning_days'),
        'critical': params.get('forecast_critical_days')}) for database, forecast in forecasts.items())


# -- long queries and lock waits (checks long_queries, blocking) ----------------------------------------

def _is_active_client(row):
    return row.get('state') == 'active' and row.get('backend_type') == 'client backend' \
        and row.get('query_age') is not None


def _seconds_1(value):
    return None if value is None else round(max(float(value), 0.0), 1)


def activity_metrics(rows, visibility=None):
    """The result's ``activity`` from db_collect.collect_activity's rows (other sessions only).

    ``visibility`` is the result's ``visibility``: when the role does not see every session, the longest
    query and lock wait are unknown (None, not exported), never 0, and ``not_visible`` counts the sessions it
    could not look into; the alerts still fire on what it does see.
    """
    active = [row for row in rows if _is_active_client(row)]
    waiting = [row for row in rows if row.get('blockers') is not None and row.get('lock_wait') is not None]
    longest = max(active, key=lambda row: row['query_age']) if active else None
    longest_wait = max(waiting, key=lambda row: row['lock_wait']) if waiting else None
    metrics = {
        'active': len(active),
        'longest_query_s': _seconds_1(longest['query_age']) if longest else 0.0,
        'longest_query_pid': longest['pid'] if longest else None,
        'waiting_on_lock': len(waiting),
        'longest_lock_wait_s': _seconds_1(longest_wait['lock_wait']) if longest_wait else 0.0,
        'longest_lock_wait_pid': longest_wait['pid'] if longest_wait else None,
    }
    if visibility and not visibility.get('all_sessions'):
        metrics.update(dict((key, None) for key in ('active', 'longest_query_s', 'longest_query_pid', 'waiting_on_lock',
                                                    'longest_lock_wait_s', 'longest_lock_wait_pid')))
        metrics['not_visible'] = visibility.get('hidden_sessions')
    return metrics


def _session(row):
    return {'pid': row['pid'], 'user': row.get('user'), 'application_name': row.get('application_name'),
            'database': row.get('database'), 'state': row.get('state'), 'backend_type': row.get('backend_type'),
            'query': row.get('query')}


def activity_facts(rows):
    """What the long_queries and blocking entries read, by pid: the active queries with their age, the sessions
    waiting on a lock with their wait and their blockers (user, application, state, masked query)."""
    by_pid = dict((row['pid'], row) for row in rows)
    long_queries = {}
    blocking = {}
    for row in rows:
        if _is_active_client(row):
            long_queries[str(row['pid'])] = dict(_session(row), seconds=_seconds_1(row['query_age']),
                                                 waiting=row.get('wait_event_type') == 'Lock')
        if row.get('blockers') is not None and row.get('lock_wait') is not None:
            blockers = []
            for pid in row['blockers']:
                blocker = by_pid.get(pid)
                blockers.append(_session(blocker) if blocker else {'pid': pid})
            blocking[str(row['pid'])] = dict(_session(row), seconds=_seconds_1(row['lock_wait']),
                                             measured_from='waitstart' if row.get('wait_from_locks') else
                                             'state_change', blockers=blockers)
    return {'long_queries': long_queries, 'blocking': blocking}


# -- sequences and invalid indexes (issue 20) ---------------------------------------

# The integer types a sequence may feed, as regtype names them: (minimum, maximum).
INTEGER_RANGES = {'smallint': (-32768, 32767), 'integer': (-2147483648, 2147483647),
                  'bigint': (-9223372036854775808, 9223372036854775807)}
SHORT_TYPES = {'smallint': 'int2', 'integer': 'int4', 'bigint': 'int8'}
# The sequences nearest their limit listed in the result (and exported, and given readings).
SEQUENCES_LISTED = 10
UNREADABLE_SUBJECT = 'unreadable'  # the one alert of sequences the role cannot read (a sequence's subject has a dot)


def sequence_subject(row):
    """``schema.table.column`` of the column a sequence feeds, or ``schema.sequence`` when no column owns it."""
    if row.get('table_name') and row.get('column_name'):
        return '%s.%s.%s' % (row['table_schema'], row['table_name'], row['column_name'])
    return '%s.%s' % (row['schema'], row['name'])


def sequence_limit(row):
    """``(limit, 'column' or 'sequence')``: the value the sequence runs into, whichever comes first of the
    owning integer column's maximum (minimum when it descends) and the sequence's own; the column on a tie
    (an int4 serial: widening the column is the fix, the sequence follows)."""
    descending = row['increment'] < 0
    own = row['min_value'] if descending else row['max_value']
    column = INTEGER_RANGES.get(row.get('column_type') or '')
    if column is None:
        return own, 'sequence'
    typed = column[0] if descending else column[1]
    if (typed >= own) if descending else (typed <= own):
        return typed, 'column'
    return own, 'sequence'


def sequence_usage(last_value, limit, increment):
    """``(used percent, values left)``: how far ``last_value`` has come towards ``limit`` (as a share of the
    limit, 0 while on the other side of zero) and how many ``nextval`` calls remain; a never-called sequence
    (``last_value`` None) has used nothing."""
    if last_value is None:
        return 0.0, None
    left = max(0, abs(limit - last_value) // abs(increment or 1))
    if limit == 0 or (last_value > 0) != (limit > 0) or last_value == 0:
        return 0.0, left
    return round(100.0 * last_value / limit, 4), left


def _sequence_fact(row):
    limit, limit_of = sequence_limit(row)
    used_pct, left = sequence_usage(row.get('last_value'), limit, row['increment'])
    return {
        'sequence': '%s.%s' % (row['schema'], row['name']), 'sequence_sql': row['sequence_sql'],
        'owned': bool(row.get('table_name') and row.get('column_name')), 'identity': bool(row.get('identity')),
        'table_sql': row.get('table_sql'), 'column_sql': row.get('column_sql'),
        'column_type': row.get('column_type'), 'type': row['type'], 'increment': row['increment'],
        'short_type': SHORT_TYPES.get(row.get('column_type'), row.get('column_type')),
        'cycle': bool(row.get('cycle')), 'last_value': row.get('last_value'), 'limit': limit, 'limit_of': limit_of,
        'used_pct': used_pct, 'remaining': left}


def _read(row):
    return row.get('readable') and not row.get('busy')


def sequence_facts(rows, listed=SEQUENCES_LISTED):
    """What the sequences entry reads, by subject: the sequences whose value was read (``listed``: among the
    ``listed`` nearest their limit, for readings)."""
    facts = {}
    for row in rows:
        if _read(row):
            facts[sequence_subject(row)] = _sequence_fact(row)
    for rank, subject in enumerate(sorted(facts, key=lambda s: (-facts[s]['used_pct'], s))):
        facts[subject]['listed'] = rank < listed
    return facts


def _sequence_totals(rows, facts):
    """``(count, read, never used)`` of the database's sequences: the totals the server counted when ``rows``
    are only the ones a run reports on (collect_sequences with ``above_pct``), else counted here."""
    if rows and 'total' in rows[0]:
        return rows[0]['total'], rows[0]['read_total'], rows[0]['never_used_total']
    return len(rows), len(facts), len([row for row in rows if _read(row) and row.get('last_value') is None])


def sequence_metrics(rows, listed=SEQUENCES_LISTED, facts=None):
    """The result's ``sequences``: how many, how many read, the highest share used (None when none could
    be read), the ``listed`` nearest their limit, and those whose value is unknown this run (``unreadable``:
    no SELECT/USAGE for our role; ``busy``: someone holds a lock on them that reading would wait for).
    ``facts``: :func:`sequence_facts` of the same rows when the caller has them (5,000 sequences: ~30 ms).
    ``rows`` may be every sequence or only those a run reports on (with the server's totals)."""
    facts = sequence_facts(rows, listed) if facts is None else facts
    worst = sorted(facts.items(), key=lambda item: (-item[1]['used_pct'], item[0]))[:listed]
    unreadable = [sequence_subject(row) for row in rows if not row.get('readable')]
    busy = [sequence_subject(row) for row in rows if row.get('readable') and row.get('busy')]
    count, read, never_used = _sequence_totals(rows, facts)
    if facts:
        highest = max(fact['used_pct'] for fact in facts.values())  # of all read, however few are listed
    else:
        highest = None if rows else 0.0
    return {
        'count': count, 'read': read,
        'never_used': never_used,
        'max_used_pct': highest,
        'worst': [{'sequence': subject, 'used_pct': fact['used_pct'], 'last_value': fact['last_value'],
                   'limit': fact['limit'], 'remaining': fact['remaining']} for subject, fact in worst],
        'unreadable': len(unreadable), 'unreadable_sequences': unreadable[:50],
        'busy': len(busy), 'busy_sequences': busy[:50]}


def evaluate_unreadable_sequences(rows, role, limit=10):
    """One warning when our role cannot read some sequences' values: for them the check knows nothing."""
    unreadable = [row for row in rows if not row.get('readable')]
    if not unreadable:
        return []
    names = sorted(sequence_subject(row) for row in unreadable)
    shown = ', '.join(names[:limit]) + (' (+%d more)' % (len(names) - limit) if len(names) > limit else '')
    schemas = sorted(set(row.get('schema_sql') or row['schema'] for row in unreadable))
    grants = ' '.join('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s;' % (schema, quote_role(role))
                      for schema in schemas)
    return [make_alert(
        'sequences', WARNING, len(unreadable), None,
        'role %s cannot read the value of %d of %d sequence(s) (no SELECT or USAGE on them; pg_monitor does not '
        'give it), so how near their maximum they are is unknown: %s' % (
            role, len(unreadable), rows[0]['total'] if 'total' in rows[0] else len(rows), shown),
        runbook('As a superuser: GRANT pg_read_all_data TO %s; (PostgreSQL 14+, reads every table too) or, '
                'narrower, %s and ALTER DEFAULT PRIVILEGES for sequences created later; or run the job as '
                'postgres.' % (quote_role(role), grants), 'the-check-role-cannot-read-sequences'),
        subject=UNREADABLE_SUBJECT)]


def sequences_unread(rows):
    """Whether some sequence's value could not be read this run (the check's open alerts then stay as they
    were: ``unchecked``)."""
    return any(not _read(row) for row in rows)


_REINDEX_LEFTOVER = re.compile(r'_cc(new|old)[0-9]*$')


def invalid_index_statement(index):
    """What a person runs for an invalid index: rebuild it, or drop what a failed REINDEX CONCURRENTLY left."""
    leftover = _REINDEX_LEFTOVER.search(index['name'])
    drop = 'DROP INDEX CONCURRENTLY %s;' % index['index_sql']
    if leftover and leftover.group(1) == 'new':
        return ('%s (the new copy a failed REINDEX CONCURRENTLY left behind), then run that REINDEX again'
                % drop)
    if leftover:
        return '%s (the old copy a REINDEX CONCURRENTLY rebuilt but could not drop)' % drop
    create = re.sub(r'^CREATE (UNIQUE )?INDEX ', lambda m: 'CREATE %sINDEX CONCURRENTLY ' % (m.group(1) or ''),
                    index.get('definition') or '')
    text = 'REINDEX INDEX CONCURRENTLY %s; or %s then %s;' % (index['index_sql'], drop, create)
    if index.get('is_unique'):
        text += ' A unique index fails again until the duplicate keys it failed on are gone.'
    return text


def evaluate_invalid_indexes(rows):
    """One warning per invalid index, with the statement to rebuild it; and the result's ``invalid_indexes``."""
    alerts = []
    listed = []
    for index in rows:
        subject = '%s.%s' % (index['schema'], index['name'])
        table = '%s.%s' % (index['table_schema'], index['table_name'])
        upkeep = 'still updated on every write' if index.get('ready') else 'not maintained'
        alerts.append(make_alert(
            'invalid_indexes', WARNING, index.get('bytes'), None,
            'index %s on table %s is invalid (%s, %s): queries do not use it; a CREATE INDEX CONCURRENTLY or '
            'REINDEX CONCURRENTLY failed' % (subject, table, human_bytes(index.get('bytes')), upkeep),
            db_checks.INVALID_INDEXES.remediation_text(statement=invalid_index_statement(index)),
            subject=subject))
        listed.append({'index': subject, 'table': table, 'bytes': index.get('bytes'),
                       'size': human_bytes(index.get('bytes')), 'ready': bool(index.get('ready'))})
    return alerts, {'count': len(rows), 'indexes': listed}


# -- archiving and replication (issue 20) ------------------------------------------------

def archiving_metrics(data):
    """``(metrics, facts)`` of collect_archiving: the result's ``archiving`` and what the archiving entry reads.

    No facts when there is nothing to check: ``archive_mode`` off, or ``on`` on a standby (only ``always``
    archives during recovery); ``metrics['skipped']`` says why.  Failing: a failure later than the last success,
    or failures and never a success.
    """
    mode = data.get('archive_mode')
    metrics = dict((key, data.get(key)) for key in (
        'archive_mode', 'archived_count', 'last_archived_wal', 'last_archived_time', 'failed_count',
        'last_failed_wal', 'last_failed_time', 'ready_count'))
    metrics['in_recovery'] = bool(data.get('in_recovery'))
    ready_count = data.get('ready_count')
    metrics['oldest_ready_s'] = None if ready_count is None else (
        round(max(0.0, data.get('oldest_ready_age') or 0.0), 1) if ready_count else 0.0)
    if ready_count is None:
        metrics['ready_unknown'] = ('the role may not call pg_ls_archive_statusdir() (superuser or pg_monitor): '
                                    'waiting segments not counted')
    if mode == 'off':
        metrics['skipped'] = 'archive_mode is off: nothing is archived, nothing to check'
        return metrics, {}
    if metrics['in_recovery'] and mode != 'always':
        metrics['skipped'] = 'standby with archive_mode = %s: only archive_mode = always archives during recovery' % mode
        return metrics, {}
    failed, archived = data.get('last_failed_time'), data.get('last_archived_time')
    metrics['failing'] = bool(data.get('failed_count')) and failed is not None and (archived is None or failed > archived)
    facts = dict(metrics, failed_age=data.get('failed_age'), error='failing' if metrics['failing'] else None)
    return metrics, {'archiving': facts}


def replication_metrics(data, params):
    """``(metrics, facts)`` of collect_replication: the result's ``replication`` and what its entry reads.

    Primary: every slot in the metrics; a subject for each inactive slot (compared by the WAL it retains) and
    each whose ``wal_status`` is lost or unreserved (critical, active or not).  Standby: the slot checks need
    pg_current_wal_lsn() and are skipped (said in ``skipped``); one subject (``STANDBY_SUBJECT``) with the replay
    lag and the thresholds ``replay_lag_warning`` / ``_critical``.  The lag counts only while received WAL waits
    to be replayed (receive lsn beyond replay lsn): with everything received replayed, an idle primary has
    nothing to send and the age of the last replayed transaction is not lag.  A WAL receiver that is not
    streaming is a warning, unless ``primary_conninfo`` is empty (an archive-only standby: nothing to stream).
    """
    if data['in_recovery']:
        standby = data['standby']
        receivers, status = standby.get('receivers') or 0, standby.get('receiver_status')
        receiver = status if status else ('none' if not receivers else 'unknown (role without pg_read_all_stats)')
        if standby.get('wal_waiting'):
            age = standby.get('last_replay_age')
            lag = None if age is None else round(max(0.0, age), 1)
            rule = 'received WAL waits to be replayed: lag = now() - pg_last_xact_replay_timestamp()'
        elif standby.get('receive_lsn') is None:
            lag, rule = None, 'no WAL received by streaming: lag unknown'
        else:
            lag, rule = 0.0, 'everything received is replayed: no lag (an idle primary sends nothing)'
        metrics = {'role': 'standby', 'in_recovery': True, 'receive_lsn': standby.get('receive_lsn'),
                   'replay_lsn': standby.get('replay_lsn'), 'waiting_bytes': standby.get('waiting_bytes'),
                   'replay_lag_s': lag, 'lag_rule': rule, 'paused': bool(standby.get('paused')),
                   'wal_receiver': receiver, 'primary_conninfo': standby.get('primary_conninfo'),
                   'skipped': 'replication slots: their retained WAL needs pg_current_wal_lsn(), which a standby '
                              'cannot call; checked on the primary'}
        error = None
        if not receivers and standby.get('primary_conninfo') is not False:
            error = 'not streaming'
        elif status and status != 'streaming':
            error = status
        fact = dict(metrics, value=lag, error=error, warning=params.get('replay_lag_warning'),
                    critical=params.get('replay_lag_critical'))
        return metrics, {'replication': {db_checks.STANDBY_SUBJECT: fact}}
    keep = data.get('max_slot_wal_keep_size')
    slots, facts = [], {}
    for row in data['slots']:
        retained = row.get('retained_bytes')
        slot = {'slot': row['slot'], 'type': row['type'], 'active': bool(row['active']), 'database': row['database'],
                'wal_status': row['wal_status'], 'retained_bytes': None if retained is None else int(retained),
                'retained': None if retained is None else human_bytes(retained)}
        slots.append(slot)
        lost = slot['wal_status'] in ('lost', 'unreserved')
        if lost or not slot['active']:
            facts[slot['slot']] = dict(slot, value=slot['retained_bytes'], max_slot_wal_keep_size=keep,
                                       error=slot['wal_status'] if lost else None, error_level=CRITICAL)
    metrics = {'role': 'primary', 'in_recovery': False, 'slots': slots,
               'inactive_slots': len([slot for slot in slots if not slot['active']]), 'max_slot_wal_keep_size': keep}
    return metrics, {'replication': facts}
