# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Targeted VACUUM: pick the tables that need it, vacuum them worst first.

``plan_vacuum`` and ``summarize`` are pure (unit tested with recorded
catalog rows); ``execute_plan`` is the only part that talks to the server.

Never blocks traffic: every VACUUM runs with SKIP_LOCKED, so a table that
another session holds a conflicting lock on is skipped instead of waited
for.  PostgreSQL reports that only as a WARNING notice while the statement
succeeds (docs/design.md, "PostgreSQL facts"), so notices are captured per table.  ``lock_timeout``
covers any other lock wait.  A plain VACUUM runs with TRUNCATE false: giving the empty pages at a table's
end back takes an ACCESS EXCLUSIVE lock, retried for 5 s behind any reader whatever lock_timeout says, and
WAL-logged, so a hot standby replaying it cancels its own queries on that table.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes, human_seconds
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.evaluate import (
    autovacuum_trigger, table_label,
)
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.connection import (
    fetch_one, psycopg2, query_error_message, sql,
)
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import excerpt

PLANNED = 'planned'
VACUUMED = 'vacuumed'
SKIPPED = 'skipped'
FAILED = 'failed'
NOT_STARTED = 'not_started'
CONNECTION_LOST = 'connection to the server lost'

LOCK_NOT_AVAILABLE = '55P03'
GAVE_WAY = 'gave way to %d session(s) waiting for its lock (as autovacuum does): rerun in a quieter moment'
GIVE_WAY_INTERVAL = 0.2  # seconds between two looks for sessions our VACUUM blocks
VACUUM_RUNBOOK = 'the-weekly-vacuum-skipped-or-failed-tables'
QUERY_CANCELED = '57014'


def plan_vacuum(tables, settings, requested=None, all_tables=False, min_dead_rows=10000, use_trigger=True):
    """Which tables to vacuum and why, worst (most dead rows) first.

    ``requested`` is a list of (schema, name) to vacuum regardless of dead
    rows; otherwise ``all_tables`` takes every table, else a table is due
    when it has at least ``min_dead_rows`` dead rows or, with
    ``use_trigger``, more than its own autovacuum trigger.
    Returns ``(plan, not_found)``.
    """
    by_key = dict(((t['schema'], t['name']), t) for t in tables)
    plan = []
    not_found = []
    if requested:
        seen = set()
        for key in requested:
            if key in seen:
                continue
            seen.add(key)
            table = by_key.get(key)
            if table is None:
                not_found.append('%s.%s' % key)
            else:
                plan.append(_target(table, settings, 'requested'))
    else:
        for table in tables:
            if table.get('kind') == 'p':
                continue  # partitioned parent: its partitions are listed on their own
            dead = table.get('dead_rows') or 0
            trigger, enabled = autovacuum_trigger(table, settings)
            if all_tables:
                reason = 'all_tables'
            elif min_dead_rows is not None and dead >= min_dead_rows:
                reason = '%d dead rows >= min_dead_rows %d' % (dead, min_dead_rows)
            elif use_trigger and dead > trigger:
                reason = '%d dead rows > autovacuum trigger %d%s' % (
                    dead, trigger, '' if enabled else ' (autovacuum off for this table)')
            else:
                continue
            plan.append(_target(table, settings, reason))
    plan.sort(key=lambda t: (-t['dead_rows_before'], -(t['bytes_before'] or 0), t['table']))
    return plan, not_found


def _target(table, settings, reason):
    trigger, enabled = autovacuum_trigger(table, settings)
    return {
        'schema': table['schema'],
        'name': table['name'],
        'table': table_label(table),
        'reason': reason,
        'status': PLANNED,
        'dead_rows_before': table.get('dead_rows') or 0,
        'bytes_before': table.get('bytes'),
        'size_before': human_bytes(table.get('bytes')),
        'autovacuum_trigger': trigger,
        'autovacuum_enabled': enabled,
    }


def vacuum_statement(schema, name, full=False, analyze=True):
    """VACUUM (…, SKIP_LOCKED) schema.name with the name quoted as an identifier; a plain one never
    truncates (TRUNCATE false: the truncation's ACCESS EXCLUSIVE lock, see the module docstring)."""
    options = []
    if full:
        options.append(sql.SQL('FULL'))
    else:
        options.append(sql.SQL('TRUNCATE false'))
    if analyze:
        options.append(sql.SQL('ANALYZE'))
    options.append(sql.SQL('SKIP_LOCKED'))
    return sql.SQL('VACUUM ({}) {}').format(sql.SQL(', ').join(options), sql.Identifier(schema, name))


def skip_reason(notices):
    """The 'skipping …' notice VACUUM (SKIP_LOCKED) emits instead of an error, or None."""
    for notice in notices or []:
        if 'skipping' in notice.lower():
            return excerpt(notice.replace('WARNING:  ', '').replace('WARNING: ', ''))
    return None


class GiveWay(object):
    """While one VACUUM runs: once another session waits for a lock our VACUUM holds, cancel the VACUUM.

    A VACUUM's SHARE UPDATE EXCLUSIVE lock blocks no reads or writes, but a migration's ALTER TABLE waits
    behind it and every query of the table then queues behind the migration.  Autovacuum cancels itself in
    that case; a manual VACUUM does not.  ``watch`` is a second connection; ``pid`` the VACUUM's backend.
    A cancel that arrives after the VACUUM ended finds the backend idle, which ignores it.
    """

    def __init__(self, watch, pid, interval=GIVE_WAY_INTERVAL):
        self.watch = watch
        self.pid = pid
        self.interval = interval
        self.waiters = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        return False

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                row = fetch_one(self.watch, 'SELECT count(*)::int AS waiting FROM pg_stat_activity '
                                            'WHERE pid <> %s AND %s = ANY(pg_blocking_pids(pid))',
                                (self.pid, self.pid))
                if row['waiting']:
                    self.waiters = row['waiting']
                    fetch_one(self.watch, 'SELECT pg_cancel_backend(%s)', (self.pid,))
                    return
            except psycopg2.Error:
                return  # the watch connection failed: the VACUUM runs on as it would without


class _NoWatch(object):
    waiters = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def execute_plan(conn, plan, full=False, analyze=True, max_duration=None, clock=time.monotonic,
                 params=None, watch=None, pid=None):
    """Vacuum the planned tables in order; mutates and returns the plan entries.

    Stops starting new tables once ``max_duration`` seconds have passed;
    the rest are marked not_started.  With a ``watch`` connection, a plain VACUUM that blocks another
    session is cancelled (GiveWay) and its table reported skipped; VACUUM FULL blocks by design (documented).
    """
    started = clock()
    for index, target in enumerate(plan):
        if max_duration and clock() - started >= max_duration:
            for rest in plan[index:]:
                rest['status'] = NOT_STARTED
                rest['message'] = 'time budget max_duration=%ss used up' % max_duration
            break
        if conn.closed:
            for rest in plan[index:]:
                rest['status'] = NOT_STARTED
                rest['message'] = CONNECTION_LOST
            break
        del conn.notices[:]
        table_started = clock()
        give_way = GiveWay(watch, pid) if watch is not None and pid and not full else _NoWatch()
        try:
            with give_way, conn.cursor() as cur:
                cur.execute(vacuum_statement(target['schema'], target['name'], full=full, analyze=analyze))
        except psycopg2.Error as exc:
            target['seconds'] = round(clock() - table_started, 3)
            code = getattr(exc, 'pgcode', None)
            if code == QUERY_CANCELED and give_way.waiters:
                target['status'] = SKIPPED
                target['message'] = GAVE_WAY % give_way.waiters
            elif code == LOCK_NOT_AVAILABLE:
                target['status'] = SKIPPED
                target['message'] = 'lock_timeout: %s' % query_error_message(exc, params)
            elif code == QUERY_CANCELED:
                target['status'] = FAILED
                target['message'] = 'cancelled by table_timeout: %s' % query_error_message(exc, params)
            else:
                target['status'] = FAILED
                target['message'] = query_error_message(exc, params)
            continue
        target['seconds'] = round(clock() - table_started, 3)
        reason = skip_reason(conn.notices)
        if reason:
            target['status'] = SKIPPED
            target['message'] = reason
        else:
            target['status'] = VACUUMED
    return plan


def apply_stats(plan, stats, when):
    """Exact dead rows and size ``when`` ('before' or 'after') the run, from collect_table_stats
    output; 'after' is filled only for the tables that were vacuumed."""
    for target in plan:
        if when == 'after' and target['status'] != VACUUMED:
            continue
        row = stats.get((target['schema'], target['name']))
        if row:
            target['dead_rows_' + when] = row['dead_rows']
            target['bytes_' + when] = row['bytes']
            target['size_' + when] = human_bytes(row['bytes'])
    return plan


def not_permitted(message):
    """Whether a skip's message says our role may not vacuum the table (PG 15: "only table or database owner
    can vacuum it"; PG 16+: "permission denied to vacuum")."""
    lowered = (message or '').lower()
    return 'owner can' in lowered or 'permission denied' in lowered


def skipped_remediation(skipped, user=None):
    """What to do about the skipped tables, by cause: a role that may not vacuum them, a lock."""
    parts = []
    denied = [t['table'] for t in skipped if not_permitted(t.get('message'))]
    if denied:
        parts.append('Role %s may not vacuum %s: run the job as the tables\' owner or a superuser (login_user; '
                     'the default postgres, over peer authentication), or skip them (tables).' % (
                         user or 'login_user', ', '.join(denied)))
    if len(denied) < len(skipped):
        parts.append('Another session held a conflicting lock: find it (SELECT pid, mode, granted FROM pg_locks '
                     'WHERE relation = \'schema.table\'::regclass) and rerun the vacuum playbook in a quieter '
                     'moment.')
    return runbook(' '.join(parts), VACUUM_RUNBOOK)


def summarize(plan, not_found, max_duration=None, check_mode=False, user=None):
    """(alerts, metrics) of a run or, in check mode, of the plan; ``user`` is the role that vacuumed."""
    counts = dict((status, 0) for status in (PLANNED, VACUUMED, SKIPPED, FAILED, NOT_STARTED))
    for target in plan:
        counts[target['status']] += 1
    done = [t for t in plan if t['status'] == VACUUMED]
    metrics = {
        'planned': len(plan),
        'vacuumed': counts[VACUUMED],
        'skipped': counts[SKIPPED],
        'failed': counts[FAILED],
        'not_started': counts[NOT_STARTED],
        'not_found': len(not_found),
        'dead_rows_before': sum(t['dead_rows_before'] for t in plan),
        'dead_rows_removed': sum(max(t['dead_rows_before'] - t.get('dead_rows_after', t['dead_rows_before']), 0)
                                 for t in done),
        'bytes_freed': sum(max((t['bytes_before'] or 0) - t.get('bytes_after', t['bytes_before'] or 0), 0)
                           for t in done),
        'seconds': round(sum(t.get('seconds') or 0 for t in plan), 3),
    }
    alerts = []
    if check_mode:
        return alerts, metrics
    skipped = [t for t in plan if t['status'] == SKIPPED]
    if skipped:
        listed = '; '.join('%s (%s)' % (t['table'], t.get('message')) for t in skipped)
        alerts.append(make_alert(
            'vacuum_skipped', WARNING, len(skipped), 0,
            '%d table(s) skipped, above the threshold of 0: %s' % (len(skipped), listed),
            skipped_remediation(skipped, user)))
    failed = [t for t in plan if t['status'] == FAILED]
    if failed:
        listed = '; '.join('%s (%s)' % (t['table'], t.get('message')) for t in failed)
        alerts.append(make_alert(
            'vacuum_failed', CRITICAL, len(failed), 0,
            '%d table(s) failed, above the threshold of 0: %s' % (len(failed), listed),
            runbook('Read the error; a cancelled VACUUM keeps its partial work: raise table_timeout or rerun; '
                    'check the PostgreSQL log for I/O or permission problems.', VACUUM_RUNBOOK)))
    lost = [t for t in plan if t['status'] == NOT_STARTED and t.get('message') == CONNECTION_LOST]
    if lost:
        alerts.append(make_alert(
            'vacuum_connection_lost', CRITICAL, len(lost), 0,
            'connection to PostgreSQL lost during the vacuum: %d table(s) not started, above the threshold of 0: %s' % (
                len(lost), ', '.join(t['table'] for t in lost)),
            runbook('Check that PostgreSQL runs (systemctl status postgresql; its log for a crash or restart), '
                    'then run the vacuum playbook again.', 'postgresql-down-or-refusing-connections')))
    left = [t for t in plan if t['status'] == NOT_STARTED and t not in lost]
    if left:
        alerts.append(make_alert(
            'vacuum_incomplete', WARNING, len(left), max_duration,
            '%d table(s) not started after the %s budget: %s' % (
                len(left), human_seconds(max_duration or 0), ', '.join(t['table'] for t in left)),
            runbook('Raise max_duration, run the vacuum playbook again (it starts with the worst tables), or '
                    'lower vacuum_cost_delay to go faster.', VACUUM_RUNBOOK)))
    if not_found:
        alerts.append(make_alert(
            'vacuum_not_found', WARNING, len(not_found), 0,
            '%d requested table(s) not found, above the threshold of 0: %s' % (len(not_found), ', '.join(not_found)),
            runbook('Check the names in tables (schema.table, case-sensitive) and login_db.', VACUUM_RUNBOOK)))
    return alerts, metrics


def report_lines(database, plan, metrics, not_found=()):
    """The vacuum run as lines a person reads (result ``summary``, the weekly message):
    totals, then each table with its size and dead rows before -> after."""
    lines = ['database %s: %d table(s) planned, %d vacuumed, %d skipped, %d failed, %d not started in %ss' % (
        database, metrics['planned'], metrics['vacuumed'], metrics['skipped'], metrics['failed'],
        metrics['not_started'], metrics['seconds'])]
    if metrics['planned']:
        lines.append('dead rows removed %d of %d, space freed %s' % (
            metrics['dead_rows_removed'], metrics['dead_rows_before'], human_bytes(metrics['bytes_freed'])))
    for target in plan:
        after = ''
        if 'dead_rows_after' in target:
            after = ' -> %d (%s)' % (target['dead_rows_after'], target.get('size_after') or '?')
        note = ' (%s)' % target['message'] if target.get('message') else ''
        lines.append('- %s: %s, %s, dead rows %d%s%s' % (
            target['table'], target['status'], target.get('size_before') or human_bytes(target.get('bytes_before')),
            target['dead_rows_before'], after, note))
    if not_found:
        lines.append('not found: %s' % ', '.join(not_found))
    return lines
