#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: twzrd_db_health
short_description: PostgreSQL health checks with thresholds (the daily db job and the hourly db_alerts job)
version_added: 0.1.0
description:
  - Connects to one database and checks connections, database size and growth, tables without
    a primary key, dead rows, transaction ID wraparound, applied migrations, expected tables,
    query latency, long-running queries, sessions waiting for a lock, and the server's WAL archiving
    and replication (slots on a primary, replay lag on a standby).
  - Read-only. Every query runs under O(statement_timeout) and reads only the system catalogs and
    statistics views (never C(information_schema)).
  - Returns C(status) (ok, warning, critical), C(alerts) and C(metrics) like the other twzrd.ops modules.
  - A server that is down, a failed authentication or an unknown database give one critical
    alert with a clear message, not a task failure.
  - The role needs C(pg_monitor) (or superuser) to see other sessions. Without it the run warns (check
    C(pg_monitor), naming the C(GRANT pg_monitor TO role) to run), still counts the sessions it cannot see,
    and reports what only they decide (oldest transaction, idle in transaction, longest query, longest lock
    wait) as unknown, never as 0.
  - Other sessions' query text (in the C(long_queries) and C(blocking) messages) is masked where it is read.
    Every literal, number and comment becomes C(?), and at most 200 characters are kept.
  - Database sizes are kept in O(state_file) (section C(twzrd_db_health)) to compute growth per day and to
    forecast when the volume that holds them is full (C(db_size_forecast)); the dead rows of the worst tables
    are kept per day for the weekly report's chart.
  - Alerts and their remediation are described in C(docs/db_health.md) of the collection.
author:
  - twzrd.ops maintainers (@twzrd)
extends_documentation_fragment:
  - twzrd.ops.common
  - twzrd.ops.postgres
  - twzrd.ops.report
  - twzrd.ops.forecast
  - twzrd.ops.db_health_checks
options:
  scope:
    description:
      - V(all) runs every check (the daily C(db_health) job).
      - V(acute) runs only what cannot wait a day, for the hourly C(db_alerts) job of the install role
        (C(docs/schedule.md)), namely the connection and C(connections), C(transaction_age), C(idle_in_transaction),
        C(pg_monitor), C(long_queries), C(blocking), C(sequences), C(wraparound), C(archiving) and C(replication).
        It keeps no size samples and no trends (growth per day stays the daily run's), and shares the daily job's
        alert history in O(state_file), so a condition either run finds is told once, and the checks it does not
        run keep their open alerts (never a false resolved).
    type: str
    choices: [all, acute]
    default: all
  data_volume:
    description:
      - A path on the volume that holds the database files, for the database growth forecast
        (C(db_size_forecast)), which projects when the growth fills the free space of that volume.
      - Default is the server's C(data_directory) when the server runs on this host and the login role may read
        it (superuser or C(pg_read_all_settings)); without either there is no forecast.
    type: path
  migrations_table:
    description:
      - Table holding one row per applied migration, as C(table) (schema public) or C(schema.table).
      - Names are taken verbatim (case-sensitive, as in the catalog).
      - Unset skips the migrations check; a set table that does not exist is critical.
    type: str
  expected_migrations:
    description:
      - Number of rows O(migrations_table) should hold. Fewer is critical (pending migrations), more is a warning.
    type: int
  expected_tables:
    description:
      - Tables that must exist, as C(table) (schema public) or C(schema.table), taken verbatim.
      - A missing one is critical.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode; in check mode the state file and the log file are not written.
  - 'Bounds: O(login_port) 1-65535, O(statement_timeout) above 0 and at most 3600 s, O(latency_samples) 1-1000,
    O(top_tables) 1-1000, O(growth_warning_bytes_per_day) at least 0, O(expected_migrations) 0-2147483647; each
    threshold as its description says, warning below critical.'
  - Table names in O(expected_tables) and O(migrations_table) are taken verbatim, spaces included.
seealso:
  - module: twzrd.ops.twzrd_vacuum
'''

EXAMPLES = r'''
- name: Daily database health of the application database (peer auth as postgres)
  become: true
  become_user: postgres
  twzrd.ops.twzrd_db_health:
    login_db: app
    expected_tables: [epochs, channels, proofs]
    migrations_table: knex_migrations
    expected_migrations: 42
    state_file: /var/lib/twzrd/postgres/state.json  # the db_health cron job's, as postgres
    log_file: /var/log/twzrd-db-health.log
  register: db

- name: Hourly, only what cannot wait a day (the install role's db_alerts job)
  become: true
  become_user: postgres
  twzrd.ops.twzrd_db_health:
    login_db: app
    scope: acute
    state_file: /var/lib/twzrd/postgres/state.json  # the same as the daily run's: one alert history
    log_file: /var/log/twzrd-db-alerts.log

- name: Over TCP with a password from the vault
  twzrd.ops.twzrd_db_health:
    login_host: 127.0.0.1
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    login_db: app
    dead_rows_warning: 50000
'''

RETURN = r'''
status:
  description: Worst alert level, C(ok), C(warning) or C(critical).
  returned: always
  type: str
  sample: warning
alerts:
  description: Alerts, worst first; each says what crossed which threshold and what to do.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: >-
        connection, connections, transaction_age, idle_in_transaction, pg_monitor (the role sees only its own
        sessions), database_growth, primary_keys, dead_rows, wraparound, migrations, expected_tables, latency,
        long_queries, blocking, archiving, replication, or the check whose query failed.
      type: str
    level:
      description: warning or critical.
      type: str
    value:
      description: The measured value.
      type: raw
    threshold:
      description: The threshold it crossed.
      type: raw
    message:
      description: One line for a person.
      type: str
    remediation:
      description: What to do about it.
      type: str
    subject:
      description: The table, database or session concerned, when there are several.
      type: str
    since:
      description: Epoch seconds since when this alert has been at this level (from the state file).
      type: float
    new:
      description: True on the first run at this level.
      type: bool
  sample:
    - check: dead_rows
      level: warning
      value: 150000
      threshold: 100000
      message: "table public.events has 150000 dead rows (21.4 MB, 50000 live; autovacuum OFF for this table: nothing cleans it up until someone runs VACUUM)"
      remediation: Run the twzrd.ops vacuum playbook ...
      subject: public.events
recovered:
  description: Alert keys that were active on the previous run and are gone now.
  returned: always
  type: list
  elements: str
metrics:
  description:
    - Measured values per check (connections, database_size, tables, wraparound, migrations, expected_tables, latency,
      activity, sequences, invalid_indexes, archiving, replication).
    - C(sequences) has C(count), C(read), C(never_used), C(max_used_pct) (null when none could be read), C(worst) (the
      10 nearest their limit with C(used_pct), C(last_value), C(limit), C(remaining)), C(unreadable) and
      C(unreadable_sequences) (no SELECT or USAGE for the role), C(busy) and C(busy_sequences) (locked this run).
    - C(invalid_indexes) has C(count) and C(indexes) (C(index), C(table), C(bytes), C(size), C(ready)).
    - C(activity) has C(active), C(longest_query_s), C(longest_query_pid), C(waiting_on_lock), C(longest_lock_wait_s)
      and C(longest_lock_wait_pid) (0 or null when there is none); null and C(not_visible) without C(pg_monitor).
    - C(archiving) (pg_stat_archiver, the segments waiting, C(failing)) and C(replication) (C(role) V(primary) with its
      C(slots), or V(standby) with C(replay_lag_s) and C(wal_receiver)); what a server cannot be checked for (archive_mode
      off, the slots on a standby) is named in their C(skipped), never failed.
    - C(visibility) says whether the role sees every session (C(role), C(all_sessions), C(via) V(superuser),
      V(pg_monitor) or V(pg_read_all_stats), C(hidden_sessions)). Without it, C(connections) keeps C(total)
      and adds C(not_visible), and what other sessions' state decides (C(active), C(idle), C(idle_in_transaction),
      C(idle_in_transaction_max_s), C(oldest_transaction_s)) is null (unknown), never 0.
    - C(db_size_forecast) per database, either C(rate_per_day), C(days_left), C(full_date), C(full_at), C(samples),
      C(since), C(capacity), C(free_bytes), or C(reason) when there is no forecast.
  returned: always
  type: dict
  sample:
    connected: true
    database: app
    query_ms: 84.2
    connections: {total: 7, max_connections: 100, used_pct: 7.0, active: 1, idle: 5, idle_in_transaction: 1}
    visibility: {role: postgres, all_sessions: true, via: superuser, hidden_sessions: 0}
    database_size: {app: {bytes: 123456789, pretty: 117.7 MB, growth_bytes_per_day: 1048576, growth_pct_per_day: 0.85}}
    tables: {count: 12, dead_rows_total: 150321, without_primary_key: [public.audit_log]}
    wraparound: {max_xid_age: 1234567}
    latency: {median_ms: 0.08}
    activity: {active: 1, longest_query_s: 0.2, longest_query_pid: 4242, waiting_on_lock: 0, longest_lock_wait_s: 0.0}
silenced:
  description:
    - Alerts matched by a silence of the host (C(twzrd-run --silence), C(docs/notifications.md)), with
      C(silenced_reason), C(silenced_by), C(silenced_until) and C(silence_id); they raise nothing.
  returned: when an alert was silenced
  type: list
  elements: dict
unchecked:
  description:
    - Checks this run could not look at (the server was down, or the query that feeds them failed), and
      C(sequences) when the role could not read some sequences' values. Their open alerts are neither resolved nor
      told again until a run looks at them.
    - The queries that did not run are named too (C(settings), C(tables), C(activity) ...), so the open alert of a
      query that failed before (C(check tables could not run)) resolves only when that query runs again.
    - With O(scope=acute) only the checks of that scope are named; the daily-only checks it never runs keep their
      open alerts the same way without being listed.
  returned: always
  type: list
  elements: str
  sample: [dead_rows, primary_keys]
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

from ansible_collections.twzrd.ops.plugins.module_utils.core import job_module
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import build_result
from ansible_collections.twzrd.ops.plugins.module_utils.runs.db_health import (
    SCOPES, STATE_SECTION, out_of_scope, remember_trends, run_db_health)
from ansible_collections.twzrd.ops.plugins.module_utils.checks.forecast import forecast_argument_spec, forecast_parameter_errors
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.core.params import bounds_errors
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.connection import (
    CONNECTION_BOUNDS, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, mask_secrets, postgres_argument_spec,
)
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import (
    ReportStage, report_argument_spec, report_parameter_errors)
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore


ARGUMENT_SPEC = postgres_argument_spec()
ARGUMENT_SPEC.update(report_argument_spec())
ARGUMENT_SPEC.update(forecast_argument_spec())
# The thresholds of the checks (and the options they own: top_tables, latency_samples, ...) come from the
# check registry (checks/postgres.py), documented by the generated db_health_checks fragment.
ARGUMENT_SPEC.update(registry.argument_spec(db_checks.CHECKS))
ARGUMENT_SPEC.update(
    migrations_table=dict(type='str'),
    expected_migrations=dict(type='int'),
    expected_tables=dict(type='list', elements='str', default=[]),
    data_volume=dict(type='path'),
    scope=dict(type='str', choices=list(SCOPES), default='all'),
)


BOUNDS = dict(CONNECTION_BOUNDS, expected_migrations=(0, 2147483647))


def parameter_errors(params):
    # bounds and warning-below-critical of the registry's entries (docs/db_health.md, "Bounds")
    errors = bounds_errors(params, BOUNDS) + registry.parameter_errors(db_checks.CHECKS, params)
    if params.get('expected_migrations') is not None and not params.get('migrations_table'):
        errors.append('expected_migrations needs migrations_table')
    for name in params.get('expected_tables') or []:
        if not name or not name.strip():
            errors.append('expected_tables: empty table name')
    errors += forecast_parameter_errors(params)
    errors += report_parameter_errors(params)
    return errors


def log_metrics(params, metrics):
    db = params.get('login_db')
    size = (metrics.get('database_size') or {}).get(db) or {}
    worst = ((metrics.get('tables') or {}).get('worst_dead_rows') or [{}])[0]
    return [
        ('connections', (metrics.get('connections') or {}).get('total')),
        ('db_bytes', size.get('bytes')),
        ('growth_pct_day', size.get('growth_pct_per_day')),
        ('max_dead_rows', worst.get('dead_rows', 0) if metrics.get('tables') else None),
        ('xid_age', (metrics.get('wraparound') or {}).get('max_xid_age')),
        ('latency_ms', (metrics.get('latency') or {}).get('median_ms')),
        ('query_ms', metrics.get('query_ms')),
    ]


def db_result(alerts, metrics):
    """The module result; checks a failed connection or query kept from looking at are ``unchecked``."""
    unchecked = metrics.pop('unchecked', [])
    result = build_result(alerts, metrics, changed=False)
    result['unchecked'] = unchecked
    return result


def main():
    module = job_module.start(ARGUMENT_SPEC, parameter_errors, mask=mask_secrets,
                              requirements=[(HAS_PSYCOPG2, 'psycopg2', PSYCOPG2_IMPORT_ERROR)])
    params = module.params

    started = time.time()
    scope = params['scope']
    acute = scope == 'acute'
    stage = ReportStage(module, 'db_alerts' if acute else 'db_health', 'twzrd_db_health',
                        instance=params.get('login_db'), started=started, out_of_scope=out_of_scope(scope))
    log_extra = [('db', params.get('login_db'))] + ([('scope', scope)] if acute else [])
    try:
        with StateStore(params['state_file'], read_only=module.check_mode or stage.quiet) as store:
            job_module.warn_state(module, store)
            section = store.section(STATE_SECTION)
            alerts, metrics, history = run_db_health(params, section, now=started, scope=scope)
            readings = metrics.pop('readings', {})
            if not store.read_only and not acute:  # the daily run's data: sizes, trends, its last run
                section.pop('alerts', None)  # alert history now lives in the report stage's section
                section['last_run'] = int(started)
                section['last_status'] = build_result(alerts, {})['status']
                if history is not None:
                    section['sizes'] = history
                remember_trends(section, params.get('login_db'), metrics, started)
            stage.finish(db_result(alerts, metrics), store=store, log_extra=log_extra,
                         log_metrics=log_metrics(params, metrics), readings=readings)
    except StateError as exc:
        # The health report matters more than its history: report, warn, go on.
        module.warn('%s: growth and alert history not kept this run' % exc)
        alerts, metrics, dummy = run_db_health(params, {}, now=started, scope=scope)
        readings = metrics.pop('readings', {})
        stage.finish(db_result(alerts, metrics), log_extra=log_extra,
                     log_metrics=log_metrics(params, metrics), readings=readings)


if __name__ == '__main__':
    main()
