# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of twzrd_db_health (the daily db job), as registry entries.

The threshold entries own their options (names, defaults, bounds, documentation) and their remediation;
``make generate`` derives the module's threshold options and their DOCUMENTATION fragment
(plugins/doc_fragments/db_health_checks.py), the module_args lookup's names, the Prometheus rules and
their tests and the docs' table (docs/db_health.md).  ``reads`` names what an entry compares in the facts
postgres/evaluate.py prepares from the collected data; ``registry.evaluate`` (runs/db_health.py) turns them
into the alerts and, in the same pass, the readings of the report stage's hysteresis.  database_growth (two
thresholds, % and bytes per day) stays code in postgres/evaluate.py with the remediation from here.
Checks that are not a threshold (migrations, expected tables, primary keys, pg_monitor, the size forecast)
are registered with ``code=True`` for their docs and runbooks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.twzrd.ops.plugins.module_utils.checks.registry import Check, LOWER, Option, Rule, Series
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes, human_seconds

YEAR = 365 * 86400
XID_LIMIT = 2147483647


def _transaction_message(f):
    return 'oldest transaction open for %s, above the %s threshold of %s (pid %s, user %s, app %r, %s)' % (
        human_seconds(f['value']), f['level'], human_seconds(f['threshold']), f['pid'], f['user'],
        f['application_name'] or '', f['state'])


def _idle_facts(idle, params, value):
    """The sessions idle in transaction longer than the threshold and the worst of them."""
    threshold = params.get('idle_in_transaction_warning')
    over = [session for session in idle['sessions'] if (session['state_age'] or 0) > threshold]
    return {'count': len(over), 'worst': max(over, key=lambda session: session['state_age'])}


def _idle_message(f):
    worst = f['worst']
    return '%d session(s) idle in transaction longer than %s; worst pid %s (user %s, app %r) idle %s' % (
        f['count'], human_seconds(f['threshold']), worst['pid'], worst['user'], worst['application_name'] or '',
        human_seconds(worst['state_age']))


CONNECTIONS = Check(
    'connections', job='db_health', modes=('db_health',), option='connections',
    option_names=('connections_warning_pct', 'connections_critical_pct'), warning=80.0, critical=95.0,
    bounds=(0, 100), unit='%', reads='connections', field='used_pct',
    message=lambda f: '%d of max_connections %d in use (%.1f%% > %s%%)' % (
        f['total'], f['max_connections'], f['value'], f['threshold']),
    option_doc=('Warn when client connections exceed this percentage of C(max_connections).',
                'Critical when client connections exceed this percentage of C(max_connections).'),
    remediation='Find who holds connections (SELECT usename, application_name, state, count(*) FROM '
                'pg_stat_activity GROUP BY 1,2,3); fix leaking pools or put PgBouncer in front; raise '
                'max_connections only with memory to spare.',
    anchor='connections-exhausted',
    doc='Client backends as % of `max_connections`. Near 100 % new connections are refused.',
    todo='Find who holds them: `SELECT usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY '
         '1,2,3`; fix leaking pools, put PgBouncer in front; raise `max_connections` only with memory to spare.',
    series=Series('twzrd_pg_connections_used_ratio', 'Client connections as a share of max_connections, 0-1.',
                  scale=0.01),
    rule=Rule('TwzrdPostgresConnectionsHigh', '{value} of max_connections in use ({level} above {threshold})',
              remediation='Find who holds them: `SELECT usename, application_name, state, count(*) FROM '
                          'pg_stat_activity GROUP BY 1,2,3`; fix leaking pools, put PgBouncer in front; raise '
                          'max_connections only with memory to spare.', percent=True))

TRANSACTION_AGE = Check(
    'transaction_age', job='db_health', modes=('db_health',), option='transaction_age',
    option_names=('transaction_age_warning', 'transaction_age_critical'), warning=3600.0, critical=None,
    bounds=(0, YEAR), unit='s', reads='transaction_age', per='pid', field='age', message=_transaction_message,
    reading=False,
    option_doc=("Warn when any other session's transaction has been open longer than this many seconds.",
                'Critical for transactions open longer than this many seconds. Unset means never critical.'),
    remediation='Long transactions hold locks and stop vacuum from removing dead rows. Ask the owner to commit, '
                'or end it: SELECT pg_terminate_backend({pid}).',
    anchor='long-or-forgotten-transactions',
    doc='Oldest open transaction of another session (subject: its pid; the message names user, application and '
        'state). It holds locks and stops vacuum from removing dead rows everywhere.',
    todo='Ask the owner to commit, or `SELECT pg_terminate_backend(pid)`.',
    series=Series('twzrd_pg_oldest_transaction_seconds', 'Age of the oldest open transaction of another session, '
                  'in seconds.'),
    rule=Rule('TwzrdPostgresLongTransaction', 'a transaction has been open for {value} (above {threshold})',
              remediation='Long transactions hold locks and stop vacuum from removing dead rows. Find it in '
                          'pg_stat_activity (oldest xact_start) and ask the owner to commit, or end it: SELECT '
                          'pg_terminate_backend(pid).', humanize='Duration', threshold_text={'warning': '1h'}, step=1))

IDLE_IN_TRANSACTION = Check(
    'idle_in_transaction', job='db_health', modes=('db_health',), option='idle_in_transaction',
    option_names=('idle_in_transaction_warning', None), warning=600.0, bounds=(0, YEAR), unit='s',
    reads='idle_in_transaction', field='longest_s', facts=_idle_facts, message=_idle_message,
    shown=lambda f: f['count'], reading=False,
    option_doc=(['Warn when a session has been idle in transaction longer than this many seconds.'],),
    remediation='The application opened a transaction and went away: fix it to commit/rollback; set '
                'idle_in_transaction_session_timeout; end the session with pg_terminate_backend(pid).',
    anchor='long-or-forgotten-transactions',
    doc='Sessions idle inside an open transaction for longer than the threshold (value: how many; the worst is '
        'named). Typically an application that began a transaction and forgot it.',
    todo='Fix the code path to commit/rollback; set `idle_in_transaction_session_timeout`; end the session with '
         '`pg_terminate_backend(pid)`.',
    series=Series('twzrd_pg_idle_in_transaction_max_seconds', 'Longest time a session has been idle in '
                  'transaction, in seconds.'),
    rule=Rule('TwzrdPostgresIdleInTransaction', 'a session has been idle in transaction for {value} (above '
              '{threshold})', remediation='The application opened a transaction and went away: fix the code path '
              'to commit/rollback; set idle_in_transaction_session_timeout; end the session with '
              'pg_terminate_backend(pid).', humanize='Duration', threshold_text={'warning': '10 min'}, step=1))

PG_MONITOR = Check(
    'pg_monitor', code=True, job='db_health', modes=('db_health',), levels='warning', thresholds_doc='(none)',
    remediation='As a superuser: GRANT pg_monitor TO {role}; (read access to statistics only); the next run sees '
                'every session.',
    anchor='the-check-role-cannot-see-other-sessions',
    doc='The role is neither superuser nor a member of `pg_monitor` (or `pg_read_all_stats`): it sees only its own '
        'sessions, so `transaction_age`, `idle_in_transaction`, `long_queries` and `blocking` cannot see the '
        'others (subject: the role; the message says how many sessions were hidden).',
    todo='As a superuser: `GRANT pg_monitor TO role` (read access to statistics only).')

DATABASE_GROWTH = Check(
    'database_growth', job='db_health', modes=('db_health',), option='growth',
    option_names=('growth_warning_pct_per_day', None), warning=10.0, bounds=(0, 1000000), unit='%/day',
    option_doc=(['Warn when a database grows faster than this percentage per day since an earlier run.',
                 'Growth needs a size sample at least one hour old in the state file.'],),
    options=[Option('growth_warning_bytes_per_day', 'int', 'Warn when a database grows by more than this many '
                    'bytes per day. Unset disables it.', bounds=(0, None))],
    remediation='Find the growing tables (metrics.tables.largest, or pg_total_relation_size per table); '
                'check for bloat (dead rows), runaway logging tables or missing retention jobs; plan disk.',
    anchor='a-database-grows-fast',
    doc='Growth per day of a database since the newest size sample at least 1 h old in the state file (subject: '
        'database). The first run only records sizes.',
    todo='Find the growing tables (`metrics.tables.largest`), check dead rows / bloat, logging tables without '
         'retention; plan disk.',
    thresholds_doc='`growth_warning_bytes_per_day` (unset, at least 0)',
    series=Series('twzrd_pg_database_growth_ratio_per_day', 'Growth per day of a database as a share of its size '
                  '(label database).', scale=0.01),
    rule=Rule('TwzrdPostgresDatabaseGrowth', 'database {database} grows {value} per day (above '
              '{threshold})', remediation='Find the growing tables (metrics.tables.largest of the db_health '
              'result, or pg_total_relation_size per table); check for bloat (dead rows), logging tables without '
              'retention; plan disk.', percent=True))

DB_SIZE_FORECAST = Check(
    'db_size_forecast', code=True, job='db_health', modes=('db_health',), worse=LOWER, levels='warning / critical',
    thresholds_doc='full within `forecast_warning_days` (14) / `forecast_critical_days` (3)',
    remediation='(plugins/module_utils/checks/forecast.py)', anchor='disk-full',
    doc='When the database\'s growth (least squares over the daily sizes of the last `forecast_days`, 7) fills the '
        'free space of the volume of its data directory (`data_volume`, default the server\'s `data_directory` '
        'when local and readable). `value`: days left; also `rate_bytes_per_day`, `full_date`. No forecast from '
        'fewer than 3 samples over 2 days or a flat/shrinking size. [docs/report.md](report.md#forecasts)',
    todo='Act before the date: find the growing tables, vacuum bloated ones, add retention to log-like tables, or '
         'grow the volume.')

PRIMARY_KEYS = Check(
    'primary_keys', code=True, job='db_health', modes=('db_health',), levels='warning',
    thresholds_doc='none (any table)',
    remediation='Add a primary key (ALTER TABLE ... ADD PRIMARY KEY (...)): without one, rows cannot be '
                'identified for logical replication and the table cannot be repacked online (pg_repack); '
                'an append-only table may be accepted instead.',
    anchor='a-table-without-a-primary-key',
    doc='Tables without a primary key, listed. Rows cannot be identified for logical replication, and such tables '
        '**cannot be repacked online** (pg_repack needs a PK or a unique not-null index).',
    todo='`ALTER TABLE … ADD PRIMARY KEY (…)` (or add a unique not-null index).')

DEAD_ROWS = Check(
    'dead_rows', job='db_health', modes=('db_health',), option='dead_rows', option_type='int',
    option_names=('dead_rows_warning', None), warning=100000, bounds=(0, None), unit='rows',
    reads='dead_rows', per='table', field='dead_rows', reading=lambda table: table['listed'],
    message=lambda f: 'table %s has %d dead rows, above the warning threshold of %d (%s, %d live; %s)' % (
        f['table'], f['value'], f['threshold'], f['size'], f['live_rows'], f['autovacuum']),
    option_doc=('Warn for each table with more dead rows than this.',),
    options=[Option('top_tables', 'int', 'How many tables to list in the worst-dead-rows and largest-tables '
                    'metrics.', default=10, bounds=(1, 1000))],
    remediation='Run the twzrd.ops vacuum playbook (or VACUUM (ANALYZE) {table_sql}); if autovacuum is off for the '
                'table, turn it back on (ALTER TABLE ... RESET (autovacuum_enabled)); look for long '
                'transactions holding back cleanup.',
    anchor='a-table-bloats',
    doc='One alert per table over the threshold, worst first (subject: `schema.table`), with size, live rows, '
        'whether autovacuum is on for it and its autovacuum trigger.',
    todo='Run `playbooks/vacuum.yml` (or `VACUUM (ANALYZE) table`, the alert quoting the name as SQL reads it); if '
         'autovacuum is off for the table, '
         '`ALTER TABLE … RESET (autovacuum_enabled)`; end long transactions that hold cleanup back.',
    series=Series('twzrd_pg_table_dead_rows', 'Dead rows of the worst tables (labels database, table).'),
    rule=Rule('TwzrdPostgresDeadRows', 'table {table} in {database} has {value} dead rows '
              '(above {threshold})', remediation='Run the twzrd.ops vacuum playbook (or VACUUM (ANALYZE) on '
              '{table}, each part of a name with capitals, spaces or quotes in "double quotes": the db_health '
              'alert gives the statement as SQL reads it); if autovacuum is off for the table, turn it back on (ALTER TABLE ... RESET '
              '(autovacuum_enabled)); end long transactions that hold cleanup back.', step=50000,
              labels=('database', 'table')))

WRAPAROUND = Check(
    'wraparound', job='db_health', modes=('db_health',), option='wraparound', option_type='int',
    warning=1000000000, critical=1500000000, bounds=(0, XID_LIMIT), unit='xids',
    reads='wraparound', per='database', field='xid_age',
    message=lambda f: 'database %s transaction ID age %d, above the %s threshold of %d (%.0f%% of the 2^31 limit)' % (
        f['subject'], f['value'], f['level'], f['threshold'], 100.0 * f['value'] / 2147483648),
    option_doc=("Warn when a database's transaction ID age (age of datfrozenxid) exceeds this.",
                "Critical when a database's transaction ID age exceeds this."),
    remediation='Let autovacuum freeze it or run VACUUM (FREEZE, VERBOSE) in that database in a quiet '
                'hour; end long transactions and drop stale replication slots / prepared transactions '
                'that hold the xmin horizon back.',
    anchor='wraparound-approaches',
    doc='Transaction ID age (`age(datfrozenxid)`) per database (subject: database). At ~2.1e9 PostgreSQL stops '
        'accepting writes.',
    todo='Let autovacuum freeze it or run `VACUUM (FREEZE, VERBOSE)` in that database in a quiet hour; end long '
         'transactions, drop stale replication slots and prepared transactions.',
    series=Series('twzrd_pg_max_xid_age', 'Highest transaction ID age (age of datfrozenxid) of the databases.'),
    rule=Rule('TwzrdPostgresWraparound', 'transaction ID age {value} ({level} above {threshold}; writes stop near '
              '2.1e9)', remediation='Let autovacuum freeze it or run VACUUM (FREEZE, VERBOSE) in the oldest '
              'database in a quiet hour; end long transactions and drop stale replication slots / prepared '
              'transactions that hold the xmin horizon back.',
              threshold_text={'warning': '1e9', 'critical': '1.5e9'}, step=200000000))

MIGRATIONS = Check(
    'migrations', code=True, job='db_health', modes=('db_health',), levels='critical / warning',
    thresholds_doc='`migrations_table` (unset: check skipped), `expected_migrations`',
    remediation='Pending: run the application migrations. Ahead: the deployed code is older than the schema '
                '(rollback?); update expected_migrations after a deliberate change.',
    anchor='migrations-pending-or-tables-missing',
    doc='The migrations table is missing (critical), holds fewer rows than expected (critical: pending migrations) '
        'or more (warning: database ahead of the deployed code).',
    todo='Run the application migrations; after a deliberate change, update `expected_migrations`; ahead: was the '
         'code rolled back?')

EXPECTED_TABLES = Check(
    'expected_tables', code=True, job='db_health', modes=('db_health',), levels='critical',
    thresholds_doc='`expected_tables` (e.g. `[epochs, channels, proofs]`)',
    remediation='Check login_db (wrong database?) and that migrations ran; restore the table from backup if '
                'it was dropped.',
    anchor='migrations-pending-or-tables-missing',
    doc='Tables that must exist and do not (`table` means schema `public`; names are exact, case-sensitive catalog '
        'names).',
    todo='Check `login_db` (wrong database?) and that migrations ran; restore a dropped table from backup.')

LATENCY = Check(
    'latency', job='db_health', modes=('db_health',), option='latency',
    option_names=('latency_warning_ms', 'latency_critical_ms'), warning=50.0, critical=None, bounds=(0, 3600000),
    unit='ms', reads='latency', field='median_ms',
    message=lambda f: 'trivial query round trip %.1f ms (median of %d) > %s ms' % (
        f['value'], len(f['samples_ms']), f['threshold']),
    option_doc=('Warn when the median round trip of a trivial query exceeds this many milliseconds.',
                'Critical when the median round trip exceeds this many milliseconds. Unset means never critical.'),
    options=[Option('latency_samples', 'int', 'How many trivial queries to time for the median.', default=5,
                    bounds=(1, 1000))],
    remediation='The server or the host is overloaded: check CPU/IO (top, iostat), pg_stat_activity for heavy '
                'queries, and locks; check the network path when connecting over TCP.',
    anchor='queries-are-slow',
    doc='Median round trip of `SELECT 1` over `latency_samples` (5) tries on the open connection.',
    todo='Server or host overloaded: CPU/IO (`top`, `iostat`), heavy queries in `pg_stat_activity`, locks; the '
         'network path for TCP.',
    series=Series('twzrd_pg_query_latency_seconds', 'Median round trip of SELECT 1, in seconds.', scale=0.001),
    rule=Rule('TwzrdPostgresLatencyHigh', 'SELECT 1 round trip {value} (above {threshold})',
              remediation='The server or the host is overloaded: check CPU/IO (top, iostat), pg_stat_activity for '
                          'heavy queries, and locks; check the network path when connecting over TCP.',
              humanize='Duration', threshold_text={'warning': '50 ms'}, step=0.03))


# --- long_queries and blocking (issue 20): one read of pg_stat_activity (postgres/collect.py: collect_activity),
# the query text masked there (postgres/query_mask.py) -----------------------------------------------------


def _who(session):
    return 'user %s, app %r, database %s' % (session.get('user'), session.get('application_name') or '',
                                             session.get('database'))


def _long_query_message(f):
    return 'query of pid %s running for %s, above the %s threshold of %s (%s%s): %s' % (
        f['pid'], human_seconds(f['value']), f['level'], human_seconds(f['threshold']), _who(f),
        '; waiting for a lock' if f.get('waiting') else '', f.get('query'))


def _long_query_remediation(f):
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres.evaluate import quote_role  # pylint: disable=import-outside-toplevel
    return ('Ask its owner, or stop it: SELECT pg_cancel_backend({pid}) cancels the query; if it keeps running, '
            'SELECT pg_terminate_backend({pid}) ends the session. For good: look at its plan (EXPLAIN), and set a '
            "statement_timeout for the role or application (ALTER ROLE {role} SET statement_timeout = '5min').").format(
                pid=f['pid'], role=quote_role(f.get('user') or 'ROLE'))


def _blocker_text(blocker):
    if blocker.get('pid') == 0:
        return 'a prepared transaction (pg_prepared_xacts)'
    if 'state' not in blocker:
        return 'pid %s (gone or not visible)' % blocker['pid']
    if blocker.get('state') is None:
        return 'pid %s (user %s, not visible to this role)' % (blocker['pid'], blocker.get('user'))
    kind = '' if blocker.get('backend_type') in (None, 'client backend') else ', %s' % blocker['backend_type']
    return 'pid %s (user %s, app %r%s, %s, %s: %s)' % (
        blocker['pid'], blocker.get('user'), blocker.get('application_name') or '', kind, blocker['state'],
        'running' if blocker['state'] == 'active' else 'last query', blocker.get('query'))


def _blocking_message(f):
    blockers = f.get('blockers') or []
    shown = '; '.join(_blocker_text(blocker) for blocker in blockers[:3])
    if len(blockers) > 3:
        shown += '; +%d more' % (len(blockers) - 3)
    return 'pid %s has waited %s for a lock%s, above the %s threshold of %s (%s), blocked by %s; it runs: %s' % (
        f['pid'], human_seconds(f['value']), ' (at most: since its statement started)'
        if f.get('measured_from') == 'state_change' else '', f['level'], human_seconds(f['threshold']), _who(f),
        shown or 'unknown', f.get('query'))


def _blocking_remediation(f):
    pids = [blocker['pid'] for blocker in f.get('blockers') or [] if blocker.get('pid')]
    target = pids[0] if pids else 'BLOCKER_PID'
    text = ('End the blocker, not the waiter (pid {waiter}): SELECT pg_cancel_backend({pid}) cancels its statement; '
            'if it is idle in transaction or keeps the lock, SELECT pg_terminate_backend({pid}).').format(
                waiter=f['pid'], pid=target)
    if any(blocker.get('pid') == 0 for blocker in f.get('blockers') or []):
        text += ' A prepared transaction holds it: COMMIT PREPARED or ROLLBACK PREPARED its gid (pg_prepared_xacts).'
    return text + (" Run migrations with SET lock_timeout = '5s' so they give up instead of queueing every "
                   'query behind them.')


LONG_QUERIES = Check(
    'long_queries', job='db_health', modes=('db_health',), option='long_query',
    option_names=('long_query_warning', 'long_query_critical'), warning=300.0, critical=1800.0, bounds=(0, YEAR),
    unit='s', reads='long_queries', per='pid', field='seconds', message=_long_query_message, reading=False,
    option_doc=("Warn when another session's query has been running longer than this many seconds (since its "
                'C(query_start)).', 'Critical for queries running longer than this many seconds.'),
    remediation=_long_query_remediation,
    anchor='a-query-runs-for-too-long',
    doc='Active queries of other client sessions (not autovacuum, not replication) running longer than the '
        'threshold, one alert each (subject: the pid; the message names user, application, database, how long and '
        'the first 200 characters of the query with every literal, number and comment masked as `?`).',
    todo='Ask the owner, or `SELECT pg_cancel_backend(pid)`, then `pg_terminate_backend(pid)` if it keeps running; set '
         '`statement_timeout` for the role or application.',
    series=Series('twzrd_pg_longest_query_seconds', 'How long the longest active query of another session has been '
                  'running, in seconds (0: none).'),
    rule=Rule('TwzrdPostgresLongQuery', 'a query has been running for {value} ({level} above {threshold})',
              remediation='Find it: SELECT pid, usename, application_name, now() - query_start FROM pg_stat_activity '
                          "WHERE state = 'active' ORDER BY query_start LIMIT 5; ask its owner, or SELECT "
                          'pg_cancel_backend(pid), then pg_terminate_backend(pid) if it keeps running; set a '
                          'statement_timeout for the role or application.', humanize='Duration',
              threshold_text={'warning': '5 min', 'critical': '30 min'}, step=1))

BLOCKING = Check(
    'blocking', job='db_health', modes=('db_health',), option='lock_wait',
    option_names=('lock_wait_warning', 'lock_wait_critical'), warning=60.0, critical=300.0, bounds=(0, YEAR),
    unit='s', reads='blocking', per='pid', field='seconds', message=_blocking_message, reading=False,
    option_doc=('Warn when a session has waited for a lock longer than this many seconds (since '
                'C(pg_locks.waitstart) on PostgreSQL 14 and later, else since the waiting statement started).',
                'Critical for lock waits longer than this many seconds (everything that needs the same lock queues '
                'behind the waiter).'),
    remediation=_blocking_remediation,
    anchor='a-session-waits-for-a-lock',
    doc='Sessions waiting for a lock longer than the threshold, one alert each (subject: the waiting pid), naming '
        'the blocking pid(s) from `pg_blocking_pids()` with their user, application, state and masked query, and '
        'what the waiter runs (masked). The wait counts from `pg_locks.waitstart` (PostgreSQL 14+; before, from '
        'the statement\'s start, an upper bound).',
    todo='End the blocker, not the waiter: `SELECT pg_cancel_backend(blocker)`, `pg_terminate_backend(blocker)` if it '
         'is idle in transaction; run migrations with `lock_timeout`.',
    series=Series('twzrd_pg_longest_lock_wait_seconds', 'How long the longest lock wait of a session has lasted, in '
                  'seconds (0: none).'),
    rule=Rule('TwzrdPostgresLockWait', 'a session has waited {value} for a lock ({level} above {threshold})',
              remediation='Find the blocker: SELECT pid, pg_blocking_pids(pid), now() - state_change FROM '
                          "pg_stat_activity WHERE wait_event_type = 'Lock'; end the blocker, not the waiter "
                          '(pg_cancel_backend, pg_terminate_backend if it is idle in transaction); run migrations '
                          'with lock_timeout.', humanize='Duration',
              threshold_text={'warning': '1 min', 'critical': '5 min'}, step=1))


# -- archiving and replication (issue 20) -------------------------------------------------
# postgres/evaluate.py (archiving_metrics, replication_metrics) prepares what they read: archiving a failure
# (``error``, critical) or the age of the oldest segment waiting; replication one subject per slot that is
# inactive or has lost its WAL, or on a standby the one subject STANDBY_SUBJECT with its own thresholds
# (replay_lag_warning / _critical).


def _utc(epoch):
    return 'never' if epoch is None else time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(epoch))


def _waiting(f):
    """How many segments wait for the archiver, or why that is not known."""
    if f['ready_count'] is None:
        return ('the segments waiting in pg_wal could not be counted (the role may not call '
                'pg_ls_archive_statusdir(): superuser or pg_monitor)')
    return '%d segment(s) waiting in pg_wal' % f['ready_count']


def _archive_failing_message(f):
    success = 'never' if f['last_archived_wal'] is None else '%s at %s' % (
        f['last_archived_wal'], _utc(f['last_archived_time']))
    return ('WAL archiving is failing: %s failed at %s (%s ago; failed_count %d since the statistics reset), last '
            'success: %s; %s' % (f['last_failed_wal'], _utc(f['last_failed_time']), human_seconds(f['failed_age']),
                                 f['failed_count'], success, _waiting(f)))


ARCHIVE_FAILING_REMEDIATION = (
    "WAL piles up in pg_wal until the disk is full. Read the archive_command's error in the server log "
    "(target full or unmounted, permissions, network, credentials), fix it: PostgreSQL retries by itself. "
    "If archiving is no longer wanted, set archive_mode = off (restart). Never delete files from pg_wal by hand.")

ARCHIVING = Check(
    'archiving', job='db_health', modes=('db_health',), option='archive_ready',
    option_names=('archive_ready_warning', None), warning=600.0, bounds=(0, YEAR), unit='s',
    reads='archiving', field='oldest_ready_s',
    message=lambda f: ('the oldest WAL segment waiting for the archiver is %s old, above the warning threshold of '
                       '%s (%s; archiving works but falls behind)' % (
                           human_seconds(f['value']), human_seconds(f['threshold']), _waiting(f))),
    error_message=_archive_failing_message, error_remediation=ARCHIVE_FAILING_REMEDIATION,
    error_anchor='wal-archiving-fails', error_level=CRITICAL,
    option_doc=(['Warn when the oldest WAL segment waiting for the archiver (a C(.ready) file in '
                 'C(pg_wal/archive_status)) is older than this many seconds.',
                 'Read only by a role that may call the function C(pg_ls_archive_statusdir) (superuser or C(pg_monitor)); a '
                 'failing C(archive_command) is critical whatever this says.'],),
    remediation='The archiver keeps up too slowly: check how long one archive_command takes (server log, '
                'the target\'s speed), archive_timeout forcing many small segments, or a burst of writes; '
                'watch that the waiting segments go down.',
    anchor='wal-archiving-fails',
    doc='With `archive_mode` on (or `always` on a standby): `pg_stat_archiver.last_failed_time` later than the last '
        'success (or failures and never a success) is **critical**, naming the failed WAL file, when it failed, '
        '`failed_count`, the last success and how many segments wait (`.ready` files, counted when the role may '
        'call `pg_ls_archive_statusdir()`: superuser or `pg_monitor`). Otherwise a warning when the oldest waiting '
        'segment is older than the threshold. `archive_mode` off, or `on` on a standby: skipped, '
        '`metrics.archiving.skipped` says so.',
    todo='Read the `archive_command` error in the server log (target full or unmounted, permissions, network); '
         'fix it and PostgreSQL retries by itself. Never delete files from `pg_wal` by hand.',
    series=Series('twzrd_pg_archive_oldest_ready_seconds', 'Age of the oldest WAL segment waiting for the '
                  'archiver, in seconds (0: none waiting).'),
    rule=Rule('TwzrdPostgresArchiveBehind', 'the oldest WAL segment waiting for the archiver is {value} old (above '
              '{threshold})', remediation='The archiver falls behind or fails: read the archive_command\'s error '
              'in the server log and fix it; WAL piles up in pg_wal until the disk is full meanwhile. Never delete '
              'files from pg_wal by hand.', humanize='Duration', threshold_text={'warning': '10 min'}, step=1))

STANDBY_SUBJECT = 'standby-replay'  # never a slot name (those are [a-z0-9_]), so alert keys cannot collide


def _replication_message(f):
    if f['subject'] == STANDBY_SUBJECT:
        return ('standby replays %s behind the primary (the last replayed transaction committed %s ago, %s received '
                'and not replayed yet), above the %s threshold of %s%s' % (
                    human_seconds(f['value']), human_seconds(f['value']), human_bytes(f['waiting_bytes']), f['level'],
                    human_seconds(f['threshold']), '; replay is PAUSED (pg_wal_replay_pause)' if f['paused'] else ''))
    return ('inactive replication slot %s (%s) retains %s of WAL (%d bytes), above the %s threshold of %s '
            '(wal_status %s, max_slot_wal_keep_size %s)' % (
                f['subject'], f['type'], human_bytes(f['value']), f['value'], f['level'], human_bytes(f['threshold']),
                f['wal_status'] or 'unknown', _keep_size(f['max_slot_wal_keep_size'])))


def _keep_size(setting):
    return 'unlimited' if setting in ('-1', None) else setting + (' MB' if setting.isdigit() else '')


def _replication_remediation(f):
    if f['subject'] == STANDBY_SUBJECT:
        return ('Replay paused? SELECT pg_wal_replay_resume(). Otherwise the standby is slower than the primary '
                '(its disk or CPU) or its queries hold replay back (max_standby_streaming_delay); read its log.')
    return ("If the slot's consumer is gone for good, drop it: SELECT pg_drop_replication_slot('%s'); otherwise fix "
            "or restart the consumer so it catches up. Set max_slot_wal_keep_size so one slot can never fill the "
            "disk." % f['subject'])


def _replication_error_message(f):
    if f['subject'] == STANDBY_SUBJECT:
        return ('standby is not streaming WAL from the primary (WAL receiver %s): it falls behind until it '
                'reconnects' % (f['wal_receiver'],))
    return ('replication slot %s (%s, %s) has wal_status %s: %s' % (
        f['subject'], f['type'], 'active' if f['active'] else 'inactive', f['wal_status'],
        'its consumer needs WAL that is already removed' if f['wal_status'] == 'lost' else
        'it is past max_slot_wal_keep_size and the next checkpoint removes WAL its consumer needs'))


def _replication_error_remediation(f):
    if f['subject'] == STANDBY_SUBJECT:
        return ("Read the standby's log (cannot connect to the primary, authentication, slot missing); check that the "
                "primary runs and primary_conninfo points at it.")
    return ("Its consumer cannot resume from this slot: drop it (SELECT pg_drop_replication_slot('%s')) and rebuild "
            "the consumer (a standby: a new pg_basebackup; a logical subscriber: resynchronise)." % f['subject'])


REPLICATION = Check(
    'replication', job='db_health', modes=('db_health',), option='slot_wal', option_type='int',
    option_names=('slot_wal_warning', 'slot_wal_critical'), warning=1073741824, critical=None, bounds=(0, None),
    unit='bytes', reads='replication', per='slot', field='value', subject_thresholds=True,
    message=_replication_message, remediation=_replication_remediation,
    error_message=_replication_error_message, error_remediation=_replication_error_remediation,
    error_anchor='replication-slots-and-standbys',
    option_doc=('Warn when an inactive replication slot retains more WAL than this many bytes '
                '(the current WAL position minus its C(restart_lsn), on a primary).',
                'Critical when an inactive replication slot retains more WAL than this many bytes. Unset means never '
                'critical by size (a slot whose C(wal_status) is C(lost) or C(unreserved) is critical anyway).'),
    options=[
        Option('replay_lag_warning', 'float', [
            'On a standby, warn when replay lags more than this many seconds behind the primary (now minus '
            'C(pg_last_xact_replay_timestamp)) while received WAL waits to be replayed.',
            'With everything received replayed (an idle primary) there is no lag.'], default=300.0, bounds=(0, YEAR)),
        Option('replay_lag_critical', 'float', 'On a standby, critical when replay lags more than this many seconds. '
               'Unset means never critical.', bounds=(0, YEAR))],
    anchor='replication-slots-and-standbys',
    doc='On a primary: each replication slot that is inactive, with the WAL it retains (`pg_current_wal_lsn() - '
        'restart_lsn`; subject: the slot); `wal_status` `lost` or `unreserved` is critical, active or not. On a '
        'standby (`pg_is_in_recovery()`; subject `standby-replay`): replay lag against `replay_lag_warning` (300 s) / '
        '`replay_lag_critical` (unset), counted only while received WAL waits to be replayed, and a WAL receiver '
        'that is not streaming (warning, unless `primary_conninfo` is empty: an archive-only standby). What needs a '
        'primary is skipped on a standby, `metrics.replication.skipped` says so.',
    todo="Consumer gone: `SELECT pg_drop_replication_slot('name')`; otherwise fix the consumer; set "
         '`max_slot_wal_keep_size` as a guard. Standby behind: `pg_wal_replay_resume()` if paused, its log, its disk.',
    thresholds_doc='`replay_lag_warning` (300 s) / `replay_lag_critical` (unset), 0-31536000',
    series=Series('twzrd_pg_replication_slot_retained_bytes', 'WAL retained by an inactive replication slot, in '
                  'bytes (label slot).'),
    rule=Rule('TwzrdPostgresReplicationSlotWal', 'inactive replication slot {slot} retains {value}B of WAL (above '
              '{threshold})', remediation="If the slot's consumer is gone for good, drop it: SELECT "
              "pg_drop_replication_slot('{slot}'); otherwise fix the consumer so it catches up. Set "
              'max_slot_wal_keep_size so one slot can never fill the disk.', humanize='1024',
              threshold_text={'warning': '1 GiB'}, step=1073741824, labels=('database', 'slot')))

# In the order docs/db_health.md lists them.
CHECKS = [CONNECTIONS, TRANSACTION_AGE, IDLE_IN_TRANSACTION, PG_MONITOR, DATABASE_GROWTH, DB_SIZE_FORECAST,
          PRIMARY_KEYS, DEAD_ROWS, WRAPAROUND, MIGRATIONS, EXPECTED_TABLES, LATENCY, LONG_QUERIES, BLOCKING,
          ARCHIVING, REPLICATION]
BY_NAME = dict((entry.name, entry) for entry in CHECKS)


# --- sequences and invalid indexes (issue 20) ----------------------------------------------

BIGINT_MIN, BIGINT_MAX = -9223372036854775808, 9223372036854775807


def _count(value):
    return '{:,}'.format(value)


def _sequence_message(f):
    """Which column (or sequence) is how near which limit, and how many values are left."""
    end = 'minimum' if f['increment'] < 0 else 'maximum'
    if f['owned']:
        what = 'column %s (%s, sequence %s)' % (f['subject'], f['short_type'], f['sequence'])
    else:
        what = 'sequence %s (no column owns it)' % f['sequence']
    if f['limit_of'] == 'column':
        limit = 'the %s %s %s' % (f['short_type'], end, _count(f['limit']))
    else:
        limit = "the sequence's own %s %s (AS %s)" % (end, _count(f['limit']), f['type'])
    return '%s at %s of %s: %.1f%% used, above the %s threshold of %s%%; %s values left%s' % (
        what, _count(f['last_value']), limit, f['value'], f['level'], '%g' % f['threshold'], _count(f['remaining']),
        '' if not f['cycle'] else ' (CYCLE: then it starts over and reuses values)')


def _sequence_remediation(f):
    """The statement that moves the limit: widen the column (and a serial's sequence), or the sequence."""
    bound = 'MINVALUE' if f['increment'] < 0 else 'MAXVALUE'
    if f['limit_of'] == 'column' and f['short_type'] in ('int2', 'int4'):
        text = 'Widen the column: ALTER TABLE %s ALTER COLUMN %s TYPE bigint;' % (f['table_sql'], f['column_sql'])
        if f['identity']:
            text += ' (its identity sequence follows).'
        elif f['type'] != 'bigint':
            text += (" then ALTER SEQUENCE %s AS bigint; (a serial's sequence keeps its own %s limit)."
                     % (f['sequence_sql'], f['type']))
        return (text + ' The ALTER TABLE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock (no '
                'reads or writes until done, about as long as a VACUUM FULL): plan a window, or migrate online (a '
                'new bigint column filled in batches, then swapped); widen the columns that reference it too.')
    if f['type'] in ('smallint', 'integer'):
        return ('Widen the sequence (a catalog change, quick): ALTER SEQUENCE %s AS bigint;%s' % (
            f['sequence_sql'], '' if f['owned'] else ' once what stores its values holds a bigint.'))
    if f['limit'] not in (BIGINT_MIN, BIGINT_MAX):
        return ('Raise its limit: ALTER SEQUENCE %s NO %s; (or a farther one) once what stores its values holds '
                'them.' % (f['sequence_sql'], bound))
    return ('Sequence and column are bigint already, nothing is wider: find out what calls nextval so often (a '
            'retry loop, a job inserting and deleting), or whether the values may start over (CYCLE).')


SEQUENCES = Check(
    'sequences', job='db_health', modes=('db_health',), option='sequence',
    option_names=('sequence_warning_pct', 'sequence_critical_pct'), warning=75.0, critical=90.0,
    bounds=(0, 100), unit='%', reads='sequences', per='sequence', field='used_pct',
    reading=lambda sequence: sequence['listed'], message=_sequence_message,
    option_doc=("Warn when a sequence has used more than this percentage of its column type's maximum (or of "
                "its own maximum, when that comes first).",
                "Critical when a sequence has used more than this percentage of its column type's maximum."),
    remediation=_sequence_remediation,
    anchor='a-sequence-nears-its-maximum',
    doc='How far a sequence (serial or identity) has come towards the maximum of the integer column it feeds '
        '(`int2`/`int4`/`int8`; its own `MAXVALUE` when that comes first or no column owns it; the minimum for a '
        'descending one). At the end `nextval` fails and inserts stop. Subject: `schema.table.column` (or '
        '`schema.sequence`); the message names the value, the limit and the values left. A role without SELECT or '
        'USAGE on a sequence cannot read its value (`pg_monitor` does not give it): one warning (subject '
        '`unreadable`) lists those.',
    todo='`ALTER TABLE … ALTER COLUMN … TYPE bigint` (rewrites the table under an ACCESS EXCLUSIVE lock: plan a '
         'window or migrate online) and `ALTER SEQUENCE … AS bigint` for a serial; a bigint column with an `int4` '
         'sequence needs only `ALTER SEQUENCE … AS bigint`.',
    series=Series('twzrd_pg_sequence_used_ratio', 'Used share of the limit of the sequences nearest theirs (labels '
                  'database, sequence), 0-1.', scale=0.01),
    rule=Rule('TwzrdPostgresSequenceNearMax', 'sequence {sequence} at {value} of its limit ({level} above '
              '{threshold})',
              remediation='Widen the column: ALTER TABLE ... ALTER COLUMN ... TYPE bigint (rewrites the table under '
                          'an ACCESS EXCLUSIVE lock: plan a window or migrate online) and, for a serial, ALTER '
                          'SEQUENCE ... AS bigint; the db_health result names the exact statements.',
              percent=True, labels=('database', 'sequence')))

INVALID_INDEXES = Check(
    'invalid_indexes', code=True, job='db_health', modes=('db_health',), levels='warning',
    thresholds_doc='none (any invalid index)',
    remediation='{statement}',
    anchor='an-index-is-invalid',
    doc='Indexes left invalid (`indisvalid` false) by a failed `CREATE INDEX CONCURRENTLY` or `REINDEX '
        'CONCURRENTLY` (subject: `schema.index`; the message names the table, the size and whether writes still '
        'maintain it). Queries never use such an index. One being built right now is left out.',
    todo='`REINDEX INDEX CONCURRENTLY schema.index;` (the alert gives it with the names quoted), or `DROP INDEX '
         'CONCURRENTLY` and create it again; a unique one only after removing the duplicates it failed on.')

CHECKS += [SEQUENCES, INVALID_INDEXES]
BY_NAME.update((entry.name, entry) for entry in (SEQUENCES, INVALID_INDEXES))
