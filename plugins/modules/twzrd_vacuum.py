#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: twzrd_vacuum
short_description: Targeted VACUUM (ANALYZE) of the tables that need it (the weekly db job)
version_added: 0.1.0
description:
  - Runs C(VACUUM (ANALYZE, SKIP_LOCKED)) table by table, worst (most dead rows) first.
  - By default only the tables that need it, those with at least O(min_dead_rows) dead rows or, with
    O(autovacuum_trigger), more dead rows than their own autovacuum trigger (threshold plus scale factor
    times rows, per-table settings honoured). O(all_tables) or O(tables) choose otherwise.
  - Never blocks traffic. A table another session holds a conflicting lock on is skipped and reported
    with the reason; O(lock_timeout) bounds any other lock wait.
  - Gives way as autovacuum does. A second session looks every 0.2 s for sessions waiting for a lock the running
    VACUUM holds (a migration's C(ALTER TABLE), which the application's queries would queue behind); the VACUUM is
    then cancelled and its table reported skipped. Not with O(full), which blocks by design.
  - A plain VACUUM runs with C(TRUNCATE false), so it never takes the ACCESS EXCLUSIVE lock that giving empty pages at
    a table's end back to the operating system needs (a lock a hot standby replays, cancelling its queries on the
    table). O(full) gives space back.
  - On a standby (C(pg_is_in_recovery) true) nothing is vacuumed, RV(standby) says so, and the status is C(ok). VACUUM
    cannot run in recovery; the primary's reaches the standby through WAL.
  - Time-boxed. No new table is started after O(max_duration) seconds; the tables left are reported.
  - Reports per table dead rows and size before and after and the seconds taken.
  - In check mode returns the plan (tables, reason, sizes) and touches nothing.
  - Then reads the weekly insights (read-only catalog and statistics queries, never an alert) into RV(insights),
    the report message and the state file, from where the weekly health report's page shows them; see
    C(docs/vacuum.md), "Weekly insights".
  - Table names come from the catalog and are quoted as identifiers.
  - Alerts and procedures are described in C(docs/vacuum.md) of the collection.
author:
  - twzrd.ops maintainers (@twzrd)
extends_documentation_fragment:
  - twzrd.ops.common
  - twzrd.ops.postgres
  - twzrd.ops.report
options:
  tables:
    description:
      - Vacuum exactly these tables, as C(table) (schema public) or C(schema.table), taken verbatim
        (case-sensitive). Names not found are reported and skipped.
    type: list
    elements: str
    default: []
  all_tables:
    description: Vacuum every user table of O(login_db), whatever its dead rows.
    type: bool
    default: false
  min_dead_rows:
    description: A table with at least this many dead rows is due.
    type: int
    default: 10000
  autovacuum_trigger:
    description:
      - Also vacuum tables whose dead rows exceed their own autovacuum trigger (including tables with
        autovacuum turned off, which nothing else cleans).
    type: bool
    default: true
  full:
    description:
      - Run C(VACUUM FULL), which rewrites each table and gives space back to the operating system.
      - C(VACUUM FULL) takes an ACCESS EXCLUSIVE lock, blocking all reads and writes of the table while it
        runs, and needs free disk space for a full copy. Only when set explicitly; plan a maintenance window.
    type: bool
    default: false
  analyze:
    description: Update planner statistics too (C(VACUUM (ANALYZE))).
    type: bool
    default: true
  max_duration:
    description:
      - Seconds after which no new table is started. The running VACUUM finishes. C(0) means no limit.
    type: float
    default: 3600
  lock_timeout:
    description:
      - Seconds any lock wait may last before the statement gives up (the table is then reported skipped).
    type: float
    default: 5
  table_timeout:
    description:
      - Seconds one table's VACUUM may run before it is cancelled (reported failed). C(0) means no limit.
    type: float
    default: 0
  vacuum_cost_delay:
    description:
      - Session C(vacuum_cost_delay) in milliseconds, to throttle I/O. Unset keeps the server's value
        (0, no throttling, for a manual VACUUM).
    type: float
  vacuum_cost_limit:
    description: Session C(vacuum_cost_limit) (work units between sleeps). Unset keeps the server's value.
    type: int
notes:
  - Supports check mode; then nothing is vacuumed and neither the state file nor the log file is written.
  - O(statement_timeout) applies to the catalog queries; VACUUM statements use O(table_timeout).
  - The state file keeps a small summary of the last run in section C(twzrd_vacuum), and per database a compact copy
    of RV(insights) (C(insights.DB), 10 rows of each list, kept 35 days).
  - 'Bounds: O(login_port) 1-65535, O(statement_timeout) and O(lock_timeout) above 0 and at most 3600 s,
    O(max_duration) and O(table_timeout) 0-604800 s, O(vacuum_cost_delay) 0-100 ms, O(vacuum_cost_limit) 1-10000.'
  - Table names in O(tables) are taken verbatim, spaces included.
  - A database that does not answer (down, unreachable, login refused, no such database) is a critical C(connection)
    alert, as in M(twzrd.ops.twzrd_db_health), not a module failure.
  - A connection lost during the run (server stopped) is a critical C(vacuum_connection_lost) alert naming the tables
    not started.
seealso:
  - module: twzrd.ops.twzrd_db_health
'''

EXAMPLES = r'''
- name: Weekly targeted vacuum, at most 30 minutes, throttled
  become: true
  become_user: postgres
  twzrd.ops.twzrd_vacuum:
    login_db: app
    max_duration: 1800
    vacuum_cost_delay: 2
    state_file: /var/lib/twzrd/postgres/state.json  # the vacuum cron job's, as postgres
    log_file: /var/log/twzrd-db-maint.log
  register: vacuum

- name: What would be vacuumed (check mode)
  twzrd.ops.twzrd_vacuum:
    login_db: app
  check_mode: true

- name: Give space back from two bloated tables in a maintenance window
  twzrd.ops.twzrd_vacuum:
    login_db: app
    tables: [public.events, audit_log]
    full: true
'''

RETURN = r'''
changed:
  description: True when at least one table was vacuumed (in check mode, when the plan is not empty).
  returned: always
  type: bool
status:
  description: C(ok), C(warning) (skipped, not started or not found tables) or C(critical) (a VACUUM failed).
  returned: always
  type: str
alerts:
  description: Alerts (vacuum_skipped, vacuum_failed, vacuum_incomplete, vacuum_not_found) with remediation.
  returned: always
  type: list
  elements: dict
tables:
  description: One entry per planned table, worst first.
  returned: always
  type: list
  elements: dict
  contains:
    table:
      description: schema.table
      type: str
    reason:
      description: Why it was chosen.
      type: str
    status:
      description: planned (check mode), vacuumed, skipped, failed or not_started.
      type: str
    message:
      description: Why it was skipped, failed or not started.
      type: str
    dead_rows_before:
      description: Dead rows before.
      type: int
    dead_rows_after:
      description: Dead rows after (vacuumed tables).
      type: int
    bytes_before:
      description: Total size with indexes and TOAST before.
      type: int
    bytes_after:
      description: Total size after (vacuumed tables).
      type: int
    seconds:
      description: Time the VACUUM took.
      type: float
  sample:
    - table: public.events
      reason: 150000 dead rows >= min_dead_rows 10000
      status: vacuumed
      dead_rows_before: 150000
      dead_rows_after: 0
      bytes_before: 22487040
      size_before: 21.4 MB
      bytes_after: 22487040
      size_after: 21.4 MB
      seconds: 0.412
metrics:
  description:
    - Counts (planned, vacuumed, skipped, failed, not_started, not_found), dead rows removed, bytes freed, seconds.
    - C(unused_indexes) and C(duplicate_indexes), the counts of RV(insights) (when read).
  returned: always
  type: dict
insights:
  description:
    - The weekly insights of O(login_db), information and never an alert; absent when the database did not
      answer or the connection was lost. Each part is absent when the server refused it (then named in C(errors)).
    - C(unused_indexes) (no scans since the statistics reset, larger than 10 MB, not unique, primary or backing a
      constraint) and C(duplicate_indexes) (C(duplicate_of) names the index kept), each with C(index), C(table),
      C(bytes), C(size) and C(drop), the C(DROP INDEX CONCURRENTLY) to run (null with a C(note) for an index that
      backs a constraint or a foreign key).
    - C(cache_hits) with C(databases) and C(tables) (C(hit_pct), C(hit), C(read)).
    - C(statements) with C(available), C(top) (the 10 slowest by total time of pg_stat_statements, C(query) cut to
      200 characters and masked, C(calls), C(mean_ms), C(total_ms), C(rows)) or C(hint) when the extension is not
      enabled.
    - C(bloat) with C(tables) and C(indexes), the largest 10 with C(bytes) and the estimated C(bloat_bytes) and
      C(bloat_pct) (null when not analysed), an estimate from catalog statistics.
  returned: when the database answered
  type: dict
  sample:
    database: app
    errors: []
    unused_indexes:
      - index: public.events_account
        table: public.events
        bytes: 21700608
        size: 20.7 MB
        scans: 0
        since: "no scans since the statistics were reset 2026-10-01 09:12 UTC"
        drop: DROP INDEX CONCURRENTLY public.events_account;
    duplicate_indexes: []
    cache_hits: {databases: [{database: app, hit_pct: 99.2, hit: 1203311, read: 9620}], tables: []}
    statements: {available: false, top: [], hint: "pg_stat_statements is not enabled in app: ..."}
    bloat: {tables: [{name: public.events, table: public.events, bytes: 7651328, size: 7.3 MB,
                      bloat_bytes: 3842048, bloat_pct: 50.2, bloat: 3.7 MB}], indexes: []}
standby:
  description: True when the server is a standby (in recovery); then nothing is planned or vacuumed.
  returned: always
  type: bool
not_found:
  description: Requested tables that do not exist.
  returned: always
  type: list
  elements: str
silenced:
  description:
    - Alerts matched by a silence of the host (C(twzrd-run --silence), C(docs/notifications.md)), with
      C(silenced_reason), C(silenced_by), C(silenced_until) and C(silence_id); they raise nothing.
  returned: when an alert was silenced
  type: list
  elements: dict
accepted:
  description: Alerts matched by an O(accept) entry, with C(accepted_reason) and C(accepted_until); they raise nothing.
  returned: when an alert was accepted
  type: list
  elements: dict
message:
  description:
    - The message this run has for a person (title, blank line, body), with or without O(notify.urls) set.
      Absent when nothing changed since the last run (alerts are told once per change, see O(notify)).
    - The cron runner prints it when no channel took it, so cron mail stays a fallback.
  returned: when the run has something to tell
  type: str
  sample: |-
    twzrd alerts web1: WARNING

    twzrd alerts on web1 at 2026-12-01 10:00 UTC: WARNING

    NEW WARNING disk /: disk / is 91% full
      value 91, threshold 90
      what to do: free space on /
notification:
  description:
    - What was sent this run, when O(notify.urls) is set. C(messages) (this run's and pending ones), C(sent),
      C(deliveries) (per channel C(channel), C(ok), C(error); channels are V(#N scheme), never the URL),
      C(pending) (kept for the next run) and C(undelivered) (the text of a message no channel took).
    - In check mode C(would_send) instead.
  returned: when notify.urls is set
  type: dict
  sample: {messages: 1, sent: 1, pending: 0, deliveries: [{channel: "#1 mailto", ok: true, error: null}]}
report_text_file:
  description: The report file this run kept in O(report_dir) (its log line names it too).
  returned: when report_dir is set and the file was written
  type: str
  sample: /var/lib/twzrd/reports/health-2026-12-07T0000Z.txt
twzrd_reported:
  description: This run logged and notified itself (the cron runner then adds nothing).
  returned: always
  type: bool
routine_warnings:
  description: The warnings (C(warnings)) that need no person (a first run's missing state file); the cron runner mails them not.
  returned: on a first run
  type: list
  elements: str
'''

import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import build_result, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import insights as db_insights
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import vacuum as db_vacuum
from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.core import job_module
from ansible_collections.twzrd.ops.plugins.module_utils.core.params import bounds_errors
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.connection import (
    CONNECTION_BOUNDS, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, PgConnectError, connect, connection_alert, mask_secrets,
    postgres_argument_spec, psycopg2,
    query_error_message, set_session, split_table_name,
)
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import (
    REPORT_KIND, ReportStage, report_argument_spec, report_parameter_errors)
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore

STATE_SECTION = 'twzrd_vacuum'
STANDBY_LINE = ('database %s: the server is a standby (in recovery), nothing vacuumed: VACUUM runs on the primary '
                'and reaches the standby through WAL')
INSIGHTS_KEEP_DAYS = 35   # a database's insights older than this leave the state file (its job stopped)
INSIGHTS_DATABASES = 16   # at most this many databases' insights in the state file
NOT_PRELOADED = '55000'   # object_not_in_prerequisite_state: pg_stat_statements created but not loaded
CATALOG_REMEDIATION = runbook('Check that login_user may read the catalogs of login_db and that the server is '
                              'not overloaded (statement_timeout); read the PostgreSQL log.', 'a-job-failed')


ARGUMENT_SPEC = postgres_argument_spec()
ARGUMENT_SPEC.update(report_argument_spec())
ARGUMENT_SPEC.update(
    tables=dict(type='list', elements='str', default=[]),
    all_tables=dict(type='bool', default=False),
    min_dead_rows=dict(type='int', default=10000),
    autovacuum_trigger=dict(type='bool', default=True),
    full=dict(type='bool', default=False),
    analyze=dict(type='bool', default=True),
    max_duration=dict(type='float', default=3600.0),
    lock_timeout=dict(type='float', default=5.0),
    table_timeout=dict(type='float', default=0.0),
    vacuum_cost_delay=dict(type='float'),
    vacuum_cost_limit=dict(type='int'),
)


# Documented maxima (docs/vacuum.md, "Bounds"); vacuum_cost_* are PostgreSQL's own limits.
BOUNDS = dict(CONNECTION_BOUNDS,
              min_dead_rows=(1, None), vacuum_cost_limit=(1, 10000), vacuum_cost_delay=(0, 100),
              max_duration=(0, 7 * 86400), table_timeout=(0, 7 * 86400), lock_timeout=(('>', 0), 3600))


def parameter_errors(params):
    errors = bounds_errors(params, BOUNDS)
    for name in params['tables']:
        if not name or not name.strip():
            errors.append('tables: empty table name')
    errors += report_parameter_errors(params)
    return errors


def session_settings(params):
    """Maintenance session: lock_timeout always, per-table statement timeout, optional throttling."""
    table_ms = int(round((params['table_timeout'] or 0) * 1000))
    if params['table_timeout']:
        table_ms = max(1, table_ms)  # 0 would mean no limit at all
    settings = [('lock_timeout', '%dms' % max(1, int(round(params['lock_timeout'] * 1000)))),
                ('statement_timeout', '%dms' % table_ms)]
    if params.get('vacuum_cost_delay') is not None:
        settings.append(('vacuum_cost_delay', '%gms' % params['vacuum_cost_delay']))
    if params.get('vacuum_cost_limit') is not None:
        settings.append(('vacuum_cost_limit', str(params['vacuum_cost_limit'])))
    return settings


def collect_insights(conn, settings, params):
    """The weekly insights (postgres/insights.py): read-only catalog and statistics queries under the session's
    statement_timeout and lock_timeout.  Each part stands alone: one the server refuses is named in ``errors``
    and the others still come."""
    found = {'database': params['login_db'], 'errors': []}

    def part(name, read):
        try:
            return read()
        except psycopg2.Error as exc:
            found['errors'].append('%s: %s' % (name, query_error_message(exc, params)))
            return None

    reset = part('statistics reset time', lambda: db_collect.collect_stats_reset(conn))
    indexes = part('indexes', lambda: db_collect.collect_indexes(conn))
    if indexes is not None:
        found['unused_indexes'] = db_insights.unused_indexes(indexes, reset)
        found['duplicate_indexes'] = db_insights.duplicate_indexes(indexes)
    cache = part('cache hit ratio', lambda: db_collect.collect_cache_hits(conn))
    if cache is not None:
        found['cache_hits'] = db_insights.cache_hits(cache)
    try:
        found['statements'] = db_insights.statements(
            db_collect.collect_statements(conn, settings['server_version_num']), params['login_db'])
    except psycopg2.Error as exc:
        if getattr(exc, 'pgcode', None) == NOT_PRELOADED:  # created, but not in shared_preload_libraries
            found['statements'] = db_insights.statements(None, params['login_db'], error=exc.pgcode)
        else:
            found['errors'].append('slowest statements: %s' % query_error_message(exc, params))
    estimate = part('bloat estimate', lambda: db_collect.collect_bloat_inputs(conn))
    if estimate is not None:
        found['bloat'] = db_insights.bloat(estimate)
    return found


def keep_insights(section, found, now):
    """The state section's ``insights`` per database with this run's copy, the stale and the surplus gone."""
    kept = section.get('insights') if isinstance(section.get('insights'), dict) else {}
    kept = dict((db, entry) for db, entry in kept.items()
                if isinstance(entry, dict) and entry.get('t', 0) >= now - INSIGHTS_KEEP_DAYS * 86400)
    kept[found['database']] = db_insights.state_copy(found, now)
    newest = sorted(kept, key=lambda db: -kept[db]['t'])[:INSIGHTS_DATABASES]
    return dict((db, kept[db]) for db in newest)


def run(module, stage, params):
    """(plan, not_found, down, insights, standby): ``down`` holds the critical ``connection`` alert of a database that
    does not answer (core/job_module.py: an alert, never a module failure); fails the module with one line on
    catalog errors of a database that does answer.  ``insights`` (collect_insights) is None when the
    database did not answer or the connection was lost; ``standby`` is True on a server in recovery, where
    nothing is vacuumed."""
    try:
        conn = connect(params, statement_timeout=params['statement_timeout'], lock_timeout=params['lock_timeout'])
    except PgConnectError as exc:
        return [], [], [connection_alert(exc)], None, False
    try:
        try:
            settings = db_collect.collect_settings(conn)
            if settings['in_recovery']:
                # VACUUM errors during recovery; the primary's reaches the standby through WAL
                return [], [], [], collect_insights(conn, settings, params), True
            # a targeted run only ever picks tables with dead rows: let the server filter
            only_dirty = not (params["tables"] or params["all_tables"])
            tables = db_collect.collect_tables(conn, only_dirty=only_dirty)
        except psycopg2.Error as exc:
            stage.fail('cannot read the catalog: %s' % query_error_message(exc, params),
                       remediation=CATALOG_REMEDIATION, error='query', log_extra=[('db', params['login_db'])])
        requested = [split_table_name(name) for name in params['tables']]
        plan, not_found = db_vacuum.plan_vacuum(
            tables, settings, requested=requested, all_tables=params['all_tables'],
            min_dead_rows=params['min_dead_rows'], use_trigger=params['autovacuum_trigger'])
        if plan:
            try:
                # exact sizes for the chosen few (the catalog listing estimates clean tables)
                db_vacuum.apply_stats(plan, db_collect.collect_table_stats(
                    conn, [(t['schema'], t['name']) for t in plan]), 'before')
            except psycopg2.Error as exc:
                module.warn('cannot read table sizes before vacuum: %s' % query_error_message(exc, params))
        if module.check_mode or not plan:
            return plan, not_found, [], collect_insights(conn, settings, params), False
        try:
            set_session(conn, session_settings(params))
        except psycopg2.Error as exc:
            stage.fail('cannot set up the maintenance session: %s' % query_error_message(exc, params),
                       remediation=CATALOG_REMEDIATION, error='query', log_extra=[('db', params['login_db'])])
        try:  # a second session watches for sessions our VACUUM blocks (postgres/vacuum.py, GiveWay)
            watch = connect(params, statement_timeout=params['statement_timeout'], lock_timeout=params['lock_timeout'])
        except PgConnectError as exc:
            watch = None
            module.warn('cannot open the session that makes VACUUM give way to waiting sessions: %s' % exc.message)
        try:
            db_vacuum.execute_plan(conn, plan, full=params['full'], analyze=params['analyze'],
                                   max_duration=params['max_duration'], params=params, watch=watch,
                                   pid=settings['own_pid'])
        finally:
            if watch is not None:
                watch.close()
        if not conn.closed:
            try:
                # VACUUM reports its counts to shared statistics; drop our cached snapshot to read them.
                set_session(conn, [('statement_timeout', '%dms' % max(1, int(round(params['statement_timeout'] * 1000))))])
                db_collect.clear_stats_snapshot(conn)
                done = [(t['schema'], t['name']) for t in plan if t['status'] == db_vacuum.VACUUMED]
                db_vacuum.apply_stats(plan, db_collect.collect_table_stats(conn, done), 'after')
            except psycopg2.Error as exc:
                module.warn('cannot read statistics after vacuum: %s' % query_error_message(exc, params))
        if conn.closed:
            return plan, not_found, [], None, False
        return plan, not_found, [], collect_insights(conn, settings, params), False
    finally:
        conn.close()


def main():
    module = job_module.start(ARGUMENT_SPEC, parameter_errors, mask=mask_secrets,
                              requirements=[(HAS_PSYCOPG2, 'psycopg2', PSYCOPG2_IMPORT_ERROR)],
                              mutually_exclusive=[('tables', 'all_tables')])
    params = module.params

    started = time.time()
    stage = ReportStage(module, 'vacuum', 'twzrd_vacuum', kind=REPORT_KIND, instance=params['login_db'],
                        started=started)
    plan, not_found, down, insights, standby = run(module, stage, params)
    alerts, metrics = db_vacuum.summarize(plan, not_found, max_duration=params['max_duration'],
                                          check_mode=module.check_mode, user=params['login_user'])
    alerts = down + alerts
    if module.check_mode:
        changed = bool(plan)
    else:
        changed = metrics['vacuumed'] > 0
    if insights is not None:
        metrics.update(db_insights.metrics(insights))
    result = build_result(alerts, metrics, changed=changed, tables=plan, not_found=not_found,
                          database=params['login_db'], standby=standby)
    if insights is not None:
        result['insights'] = insights
    if standby:
        lines = [STANDBY_LINE % params['login_db']]
    else:
        lines = db_vacuum.report_lines(params['login_db'], plan, metrics, not_found)
    finish = dict(log_extra=[('db', params['login_db'])],
                  log_metrics=[(key, metrics[key]) for key in ('planned', 'vacuumed', 'skipped', 'failed',
                                                               'not_started', 'dead_rows_removed', 'seconds')],
                  summarize=lambda res: [a['message'] for a in down] + lines + (
                      db_insights.report_lines(insights) if insights is not None else []))
    try:
        with StateStore(params['state_file'], read_only=module.check_mode) as store:
            job_module.warn_state(module, store)
            if not store.read_only:
                section = store.section(STATE_SECTION)
                section['last_run'] = int(started)
                section['last_status'] = result['status']
                counted = ('planned', 'vacuumed', 'skipped', 'failed', 'not_started')
                section['last_metrics'] = dict((k, metrics[k]) for k in counted)
                # the weekly report lists the recent runs (state/history.py bounds them)
                section['runs'] = history.append_run(section.get('runs'), dict(
                    section['last_metrics'], t=int(started), db=params['login_db'],
                    dead_rows_removed=metrics['dead_rows_removed'], seconds=metrics['seconds']))
                if insights is not None:  # the weekly health report shows them (report/html.py)
                    section['insights'] = keep_insights(section, insights, int(started))
            stage.finish(result, store=store, **finish)
    except StateError as exc:
        module.warn('%s: last run not recorded' % exc)
        stage.finish(result, **finish)


if __name__ == '__main__':
    main()
