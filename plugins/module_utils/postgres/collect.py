# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collectors: read PostgreSQL catalogs and statistics, judge nothing.

Each function takes an open connection and returns plain data (dicts,
lists, numbers) that the evaluators in postgres/evaluate.py turn into alerts.
Only catalogs (pg_class, pg_index, pg_namespace, pg_stat_*) are queried:
information_schema is ~40x slower on a few thousand tables (docs/design.md, "PostgreSQL facts").
Another session's query text may hold secrets: only collect_activity reads it, and masks it there
(postgres/query_mask.py: literals and numbers become ?) before it returns, so no literal of it leaves the
collector.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.twzrd.ops.plugins.module_utils.postgres.connection import (
    fetch_all, fetch_one, sql, timed_roundtrips,
)
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.query_mask import mask_query

# Sizes.  pg_total_relation_size stats every file of a table, its indexes
# and TOAST (~270 ms for 5,000 tables here) and opens the table with
# AccessShareLock, which queues behind an AccessExclusiveLock held or awaited
# by someone else (a migration).  So: exact size only for tables with dead
# rows that nobody holds exclusively; the catalog's page counts (kept by
# VACUUM/ANALYZE) for the rest.  Row counts and vacuum times straight from the pg_stat_get_* functions
# pg_stat_user_tables is made of (the view's join and GROUP BY cost ~25 % of the query on 5,000 tables).
_FROM_TABLES = (
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_class t ON t.oid = c.reltoastrelid "
    "LEFT JOIN (SELECT i.indrelid, bool_or(i.indisprimary) AS has_pk, sum(ic.relpages) AS pages "
    "           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid GROUP BY i.indrelid) ix "
    "  ON ix.indrelid = c.oid "
    "LEFT JOIN (SELECT DISTINCT relation FROM pg_locks WHERE locktype = 'relation' "
    "           AND mode = 'AccessExclusiveLock' "
    "           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) busy "
    "  ON busy.relation = c.oid ")
_ESTIMATE = ("((c.relpages + COALESCE(t.relpages, 0) + COALESCE(ix.pages, 0))::bigint "
             "* current_setting('block_size')::bigint)")
_SIZE = ("CASE WHEN pg_stat_get_dead_tuples(c.oid) > 0 AND busy.relation IS NULL "
         "THEN pg_total_relation_size(c.oid) ELSE " + _ESTIMATE + " END")
_EXACT_SIZE = "CASE WHEN busy.relation IS NULL THEN pg_total_relation_size(c.oid) ELSE " + _ESTIMATE + " END"

# User tables: everything outside the system schemas (used in queries without
# parameters, so '%' is literal here).
_USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                 "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'")


def collect_settings(conn):
    """Server settings the evaluators need, and who we are."""
    rows = fetch_all(conn, (
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('max_connections', 'superuser_reserved_connections', 'autovacuum', "
        "'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor', 'server_version_num', "
        "'data_directory')"))
    settings = dict((row['name'], row['setting']) for row in rows)
    info = fetch_one(conn, 'SELECT current_database() AS database, pg_backend_pid() AS pid, '
                           'pg_is_in_recovery() AS in_recovery')
    return {
        'database': info['database'],
        'own_pid': info['pid'],
        'in_recovery': info['in_recovery'],  # a standby: what needs a primary (VACUUM) is not attempted
        'server_version_num': int(settings.get('server_version_num', 0)),
        'max_connections': int(settings.get('max_connections', 100)),
        'superuser_reserved_connections': int(settings.get('superuser_reserved_connections', 3)),
        'autovacuum': settings.get('autovacuum') == 'on',
        'autovacuum_vacuum_threshold': int(settings.get('autovacuum_vacuum_threshold', 50)),
        'autovacuum_vacuum_scale_factor': float(settings.get('autovacuum_vacuum_scale_factor', 0.2)),
        # only superusers and pg_read_all_settings see it; None otherwise
        'data_directory': settings.get('data_directory'),
    }


def collect_visibility(conn):
    """Whether our role sees every session's state in pg_stat_activity.

    Only superusers and roles with the privileges of pg_read_all_stats (which
    pg_monitor includes) do; any other role sees state, xact_start and
    state_change of its own sessions only, NULL for the rest.
    """
    row = fetch_one(conn, (
        "SELECT current_user AS role, COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) "
        "AS superuser, pg_has_role(current_user, 'pg_monitor', 'USAGE') AS pg_monitor, "
        "pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS pg_read_all_stats"))
    return {'role': row['role'], 'superuser': bool(row['superuser']), 'pg_monitor': bool(row['pg_monitor']),
            'pg_read_all_stats': bool(row['pg_read_all_stats'])}


def collect_backends(conn):
    """Client backends of the whole server with their state and ages (seconds).

    Our own backend is included in the count but flagged, so the evaluator
    can ignore its transaction.  A role without pg_monitor sees another
    user's session with backend_type and state NULL: such a row with a
    database and a user is counted too (with state None), so connections
    are not undercounted (it may also be a parallel worker of a session).
    """
    return fetch_all(conn, (
        "SELECT pid, pid = pg_backend_pid() AS own, datname AS database, usename AS user, "
        "application_name, state, "
        "EXTRACT(EPOCH FROM (clock_timestamp() - xact_start))::float8 AS xact_age, "
        "EXTRACT(EPOCH FROM (clock_timestamp() - state_change))::float8 AS state_age "
        "FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL)"))


def collect_database_sizes(conn):
    """Size in bytes of every database we may connect to (templates excluded)."""
    return fetch_all(conn, (
        "SELECT datname AS database, pg_database_size(oid) AS bytes FROM pg_database "
        "WHERE datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT') "
        "ORDER BY datname"))


def collect_wraparound(conn):
    """Transaction ID age of every database (age of datfrozenxid)."""
    return fetch_all(conn, 'SELECT datname AS database, age(datfrozenxid)::bigint AS xid_age '
                           'FROM pg_database ORDER BY 2 DESC')


_TABLES = (
    "SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS table_sql, "
    "CASE WHEN c.relispartition THEN 'partition' ELSE c.relkind::text END AS kind, "
    "COALESCE(ix.has_pk, false) AS has_pk, c.reltuples::float8 AS reltuples, c.reloptions AS reloptions, "
    "pg_stat_get_live_tuples(c.oid) AS live_rows, pg_stat_get_dead_tuples(c.oid) AS dead_rows, "
    + _SIZE + " AS bytes, busy.relation IS NOT NULL AS locked, "
    "EXTRACT(EPOCH FROM GREATEST(pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid)))::float8 "
    "AS last_vacuum "
    + _FROM_TABLES +
    "WHERE c.relkind IN ('r', 'p') AND " + _USER_SCHEMAS)
# Only the tables a db_health run reports on (collect_tables with ``top``), judged by the server as
# evaluate.py would: those without a primary key (all listed), the ``top`` largest and the ``top`` worst by dead
# rows (evaluate's orders: bytes or dead rows descending, then schema.name in code point order), those over
# ``dead_rows_warning`` and those that may be over their autovacuum trigger (the server settings' trigger,
# less one for evaluate's rounding down; every table with its own autovacuum_vacuum_* reloptions, which
# evaluate parses).  Every row carries ``total`` (tables) and ``dead_total`` (dead rows of all but
# partitioned parents) for the metrics.
_TABLE_CANDIDATES = (
    "WITH q AS (" + _TABLES.replace('%', '%%') + "), "
    "r AS (SELECT q.*, count(*) OVER () AS total, "
    "  (sum(dead_rows) FILTER (WHERE kind <> 'p') OVER ())::bigint AS dead_total, "
    "  row_number() OVER (ORDER BY kind <> 'p' DESC, dead_rows DESC, (schema || '.' || name) COLLATE \"C\") "
    "    AS dead_rank, "
    "  row_number() OVER (ORDER BY COALESCE(bytes, 0) DESC, (schema || '.' || name) COLLATE \"C\") AS size_rank "
    "  FROM q) "
    "SELECT schema, name, kind, has_pk, reltuples, reloptions, live_rows, dead_rows, bytes, locked, last_vacuum, "
    "total, COALESCE(dead_total, 0)::bigint AS dead_total FROM r "
    "WHERE (kind IN ('r', 'p') AND NOT has_pk) OR size_rank <= %(top)s "
    "OR (kind <> 'p' AND dead_rows > 0 AND (dead_rank <= %(top)s OR dead_rows > %(warning)s "
    "  OR array_to_string(reloptions, ',') LIKE '%%autovacuum_vacuum_%%' "
    "  OR dead_rows > current_setting('autovacuum_vacuum_threshold')::float8 "
    "    + current_setting('autovacuum_vacuum_scale_factor')::float8 * greatest(reltuples, 0) - 1))")


def collect_tables(conn, only_dirty=False, top=None, dead_rows_warning=None):
    """Every user table of the current database with its vacuum-relevant facts.

    One catalog query: primary key presence (pg_index), live/dead rows
    (the pg_stat_get_* functions behind pg_stat_user_tables), reltuples and per-table reloptions (pg_class),
    total size with indexes and TOAST (exact for tables with dead rows).
    Partitions are tables of their own for vacuum (kind 'partition'); the
    primary key check looks at their parent.  ``only_dirty`` keeps tables
    with dead rows only (what a targeted vacuum can pick from).

    With ``top`` (how many the metrics list) only the tables a db_health run reports on (_TABLE_CANDIDATES,
    ``dead_rows_warning`` the alert threshold or None), each row with the totals ``total`` and ``dead_total``:
    5,000 tables are judged by the server, not sent and judged one by one here.
    """
    if top is not None:
        return fetch_all(conn, _TABLE_CANDIDATES, {
            'top': int(top), 'warning': float('inf') if dead_rows_warning is None else float(dead_rows_warning)})
    query = _TABLES
    if only_dirty:
        query += " AND pg_stat_get_dead_tuples(c.oid) > 0"
    return fetch_all(conn, query)


def collect_table_stats(conn, tables):
    """Dead rows and exact size now, for (schema, name) pairs (vacuum before/after)."""
    if not tables:
        return {}
    rows = fetch_all(conn, (
        "SELECT n.nspname AS schema, c.relname AS name, pg_stat_get_dead_tuples(c.oid) AS dead_rows, "
        + _EXACT_SIZE + " AS bytes "
        + _FROM_TABLES +
        "JOIN unnest(%s::text[], %s::text[]) AS want(schema, name) "
        "ON want.schema = n.nspname AND want.name = c.relname WHERE c.relkind IN ('r', 'p')"),
        ([schema for schema, dummy in tables], [name for dummy, name in tables]))
    return dict(((row['schema'], row['name']), row) for row in rows)


def clear_stats_snapshot(conn):
    """Forget cached statistics so the next read sees the newest counters."""
    fetch_all(conn, 'SELECT pg_stat_clear_snapshot()')


def find_tables(conn, tables):
    """Which (schema, name) pairs exist as tables or views: the set found."""
    if not tables:
        return set()
    rows = fetch_all(conn, (
        "SELECT n.nspname AS schema, c.relname AS name FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN unnest(%s::text[], %s::text[]) AS t(schema, name) "
        "ON t.schema = n.nspname AND t.name = c.relname "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"),
        ([schema for schema, dummy in tables], [name for dummy, name in tables]))
    return set((row['schema'], row['name']) for row in rows)


def collect_migrations(conn, schema, table):
    """Row count of the migrations table, or None when it does not exist."""
    if not find_tables(conn, [(schema, table)]):
        return None
    row = fetch_one(conn, sql.SQL('SELECT count(*) AS n FROM {}').format(sql.Identifier(schema, table)))
    return row['n']


def collect_latency(conn, samples=5):
    """Round trips of a trivial query in milliseconds."""
    return timed_roundtrips(conn, samples)


def collect_volume(path):
    """``{'path', 'free_bytes'}`` of the volume holding ``path`` (for non-root users), or None."""
    try:
        stats = os.statvfs(path)
    except (IOError, OSError):
        return None
    return {'path': path, 'free_bytes': stats.f_bavail * stats.f_frsize}


# --- Long queries and lock waits (checks long_queries, blocking) ------------------------------------
# One read of pg_stat_activity serves both.  It is the one query that reads another session's query text:
# the text is masked (postgres/query_mask.py) before collect_activity returns, so no literal or number of it
# reaches a result, a log line, a notification or the state file.  pg_blocking_pids() and pg_locks only for
# the sessions waiting on a lock.  A role without pg_monitor sees state and query of its own sessions only:
# the others are not here at all (evaluate.activity_metrics says so).
QUERY_READ_CHARS = 8192  # read at most this much of a query; a literal cut here is masked to the end

_ACTIVITY = (
    "WITH a AS (SELECT pid, datname, usename, application_name, state, backend_type, wait_event_type, "
    "           wait_event, query_start, state_change, left(query, %d) AS query "
    "           FROM pg_stat_activity WHERE pid <> pg_backend_pid()), "
    "waiting AS (SELECT pid, pg_blocking_pids(pid) AS blockers FROM a "
    "            WHERE wait_event_type = 'Lock' AND backend_type = 'client backend'), "
    "since AS ({since}) "
    "SELECT a.pid, a.datname AS database, a.usename AS user, a.application_name, a.state, a.backend_type, "
    "a.wait_event_type, a.wait_event, "
    "EXTRACT(EPOCH FROM (clock_timestamp() - a.query_start))::float8 AS query_age, "
    "EXTRACT(EPOCH FROM (clock_timestamp() - COALESCE(since.waitstart, a.state_change)))::float8 AS lock_wait, "
    "since.waitstart IS NOT NULL AS wait_from_locks, w.blockers, a.query "
    "FROM a LEFT JOIN waiting w ON w.pid = a.pid LEFT JOIN since ON since.pid = a.pid "
    "WHERE (a.state = 'active' AND a.backend_type = 'client backend') "
    "OR a.pid IN (SELECT unnest(blockers) FROM waiting) "
    "ORDER BY a.query_start" % QUERY_READ_CHARS)
# pg_locks.waitstart (PostgreSQL 14+): when the wait for the lock began.  It can be NULL for a moment after
# the wait starts, and before 14 it does not exist: then state_change (when the waiting statement started,
# an upper bound of the wait) stands in.
_WAITSTART = ("SELECT pid, min(waitstart) AS waitstart FROM pg_locks "
              "WHERE NOT granted AND pid IN (SELECT pid FROM waiting) GROUP BY pid")
_NO_WAITSTART = "SELECT NULL::int AS pid, NULL::timestamptz AS waitstart WHERE false"


def collect_activity(conn, server_version_num):
    """Active client backends of other sessions, the ones waiting on a lock with their blockers' pids, and the
    blocking sessions themselves (whatever their state), each with its query masked.

    Ages in seconds: ``query_age`` since query_start, ``lock_wait`` since pg_locks.waitstart (PG 14+,
    ``wait_from_locks``) or else since state_change.  ``blockers`` is None for a session that does not wait
    on a lock; pid 0 in it is a prepared transaction.
    """
    since = _WAITSTART if server_version_num >= 140000 else _NO_WAITSTART
    rows = fetch_all(conn, _ACTIVITY.replace('{since}', since))
    for row in rows:
        row['query'] = mask_query(row.get('query'))
        row['blockers'] = list(row['blockers']) if row.get('blockers') is not None else None
    return rows


# --- sequences and invalid indexes (issue 20) ----------------------------------------------
# Locks a reader of a sequence's value (RowExclusiveLock, as pg_sequence_last_value takes it until the
# statement ends: the connection is autocommit) would queue behind: an ALTER SEQUENCE or a DROP in an open
# transaction.  Such a sequence is left unread (``busy``) rather than making the whole check wait out
# lock_timeout.
_SEQUENCE_LOCKS = "('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')"


_SEQUENCES_FROM = (
    "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "CROSS JOIN LATERAL (SELECT has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable) p "
    "LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    "  AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') "
    "LEFT JOIN pg_class t ON t.oid = d.refobjid "
    "LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace "
    "LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
    "LEFT JOIN (SELECT DISTINCT relation FROM pg_locks WHERE locktype = 'relation' AND mode IN "
    + _SEQUENCE_LOCKS + " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) busy "
    "  ON busy.relation = c.oid "
    "WHERE NOT pg_is_other_temp_schema(n.oid) ")
# What a sequence row says, names quoted by the server too (``*_sql``) for the statements the remediation gives.
_SEQUENCE_COLUMNS = (
    "n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS sequence_sql, "
    "quote_ident(n.nspname) AS schema_sql, "
    "s.seqtypid::regtype::text AS type, s.seqincrement AS increment, s.seqmin AS min_value, "
    "s.seqmax AS max_value, s.seqcycle AS cycle, "
    "p.readable, busy.relation IS NOT NULL AS busy, "
    "CASE WHEN busy.relation IS NULL AND p.readable THEN pg_sequence_last_value(c.oid) END AS last_value, "
    "tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name, "
    "CASE WHEN t.oid IS NOT NULL THEN format('%I.%I', tn.nspname, t.relname) END AS table_sql, "
    "quote_ident(a.attname) AS column_sql, "
    "a.atttypid::regtype::text AS column_type, d.deptype = 'i' AS identity ")

# Only the sequences a run reports on (collect_sequences with ``above_pct``): the server computes each one's
# used share (evaluate.sequence_usage's arithmetic in float8, the limit as evaluate.sequence_limit finds it:
# int2/int4/int8 by type oid) and returns the unread ones, those at or near ``above_pct`` and the ``listed``
# nearest their limit in evaluate.sequence_facts' order (share rounded to 4 places, then the subject in code
# point order: COLLATE "C").  Where the server's rounding (numeric, from 15 digits) and Python's (the exact
# binary value) may part, at a share within 1e-10 of a half of the 4th place, the row is returned too and one
# more is listed, so the nearest ``listed`` by Python's order are always among the rows.  Every row carries the
# totals the metrics need (``total``, ``read_total``, ``never_used_total``).
_SEQUENCE_CANDIDATES = (
    "WITH q AS (SELECT n.nspname AS schema, c.relname AS name, s.seqtypid, s.seqincrement AS increment, "
    "  s.seqmin AS min_value, s.seqmax AS max_value, s.seqcycle AS cycle, p.readable, "
    "  busy.relation IS NOT NULL AS busy, p.readable AND busy.relation IS NULL AS read, "
    "  CASE WHEN busy.relation IS NULL AND p.readable THEN pg_sequence_last_value(c.oid) END AS last_value, "
    "  tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name, t.oid IS NOT NULL AS owned, "
    "  a.atttypid, d.deptype = 'i' AS identity, "
    "  CASE a.atttypid WHEN 21 THEN -32768 WHEN 23 THEN -2147483648 "
    "    WHEN 20 THEN '-9223372036854775808'::bigint END::bigint AS tmin, "
    "  CASE a.atttypid WHEN 21 THEN 32767 WHEN 23 THEN 2147483647 WHEN 20 THEN 9223372036854775807 END::bigint AS tmax, "
    "  CASE WHEN t.relname IS NOT NULL AND a.attname IS NOT NULL "
    "    THEN tn.nspname || '.' || t.relname || '.' || a.attname ELSE n.nspname || '.' || c.relname END AS subject "
    + _SEQUENCES_FROM + "), "
    "l AS (SELECT q.*, CASE WHEN increment < 0 "
    "  THEN (CASE WHEN tmin IS NOT NULL AND tmin >= min_value THEN tmin ELSE min_value END) "
    "  ELSE (CASE WHEN tmax IS NOT NULL AND tmax <= max_value THEN tmax ELSE max_value END) END AS lim FROM q), "
    "u AS (SELECT l.*, CASE WHEN last_value IS NULL OR lim = 0 OR last_value = 0 OR (last_value > 0) <> (lim > 0) "
    "  THEN 0::float8 ELSE 100.0::float8 * last_value::float8 / lim::float8 END AS x FROM l), "
    "h AS (SELECT u.*, abs(x * 10000 - floor(x * 10000) - 0.5) < 1e-6 AS near_half FROM u), "
    "r AS (SELECT h.*, count(*) OVER () AS total, count(*) FILTER (WHERE read) OVER () AS read_total, "
    "  count(*) FILTER (WHERE read AND last_value IS NULL) OVER () AS never_used_total, "
    "  count(*) FILTER (WHERE read AND near_half) OVER () AS near_total, "
    "  row_number() OVER (ORDER BY read DESC, round(x::numeric, 4) DESC, subject COLLATE \"C\") AS rank FROM h) "
    "SELECT schema, name, format('%%I.%%I', schema, name) AS sequence_sql, quote_ident(schema) AS schema_sql, "
    "seqtypid::regtype::text AS type, increment, min_value, max_value, cycle, readable, busy, last_value, "
    "table_schema, table_name, column_name, "
    "CASE WHEN owned THEN format('%%I.%%I', table_schema, table_name) END AS table_sql, "
    "quote_ident(column_name) AS column_sql, atttypid::regtype::text AS column_type, identity, "
    "total, read_total, never_used_total FROM r "
    "WHERE NOT read OR near_half OR rank <= greatest(%(listed)s, 1) + near_total OR x >= %(above)s - 0.001 "
    "ORDER BY schema, name")


def collect_sequences(conn, above_pct=None, listed=None):
    """Every sequence of the current database with its value, its limits and the column it feeds.

    One catalog query.  ``last_value`` is pg_sequences' (the same expression: NULL for a never-called
    sequence and for one our role has neither SELECT nor USAGE on, so ``readable`` says which); the owning
    column (serial: pg_depend type 'a', identity: 'i') gives the type whose maximum counts.  Names come
    quoted by the server too (``*_sql``), for the statements the remediation gives.

    With ``above_pct`` (the lowest threshold) and ``listed`` (how many the result lists), only the sequences
    a run reports on (_SEQUENCE_CANDIDATES): 5,000 sequences cost the server their values still, but neither
    side formats or judges the rest.  Each row then carries ``total``, ``read_total`` and ``never_used_total``
    (evaluate.sequence_metrics counts with them).
    """
    if above_pct is None and listed is None:
        return fetch_all(conn, "SELECT " + _SEQUENCE_COLUMNS + _SEQUENCES_FROM + "ORDER BY n.nspname, c.relname")
    return fetch_all(conn, _SEQUENCE_CANDIDATES, {'listed': int(listed or 0),
                                                  'above': float('inf') if above_pct is None else float(above_pct)})


def collect_invalid_indexes(conn):
    """Indexes marked invalid (``indisvalid`` false: a failed CREATE INDEX / REINDEX CONCURRENTLY).

    An index of a table that has a CREATE INDEX or REINDEX in progress right now
    (pg_stat_progress_create_index, whose rows a role without pg_read_all_stats sees without their
    relation) is left out: it is invalid because it is being built.  The size is the catalog's page count
    (no lock taken); ``ready`` (``indisready``) means writes still maintain it.
    """
    return fetch_all(conn, (
        "SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS index_sql, "
        "tn.nspname AS table_schema, t.relname AS table_name, "
        "(c.relpages::bigint * current_setting('block_size')::bigint) AS bytes, i.indisready AS ready, "
        "i.indisunique AS is_unique, pg_get_indexdef(c.oid) AS definition "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        "WHERE NOT i.indisvalid AND NOT pg_is_other_temp_schema(n.oid) "
        "AND t.oid NOT IN (SELECT relid FROM pg_stat_progress_create_index "
        "                  WHERE relid IS NOT NULL AND datname = current_database()) "
        "ORDER BY n.nspname, c.relname"))


# -- archiving and replication (issue 20) ------------------------------------------------
# Server-wide views and functions: pg_stat_archiver, pg_ls_archive_statusdir() (superuser or pg_monitor),
# pg_replication_slots, pg_stat_wal_receiver.  pg_current_wal_lsn() and the slots' retained WAL need a
# primary (it errors during recovery) and the pg_last_wal_*() functions a standby, so each collector asks
# pg_is_in_recovery() first and sends only the queries that fit the server's role.

def collect_archiving(conn):
    """archive_mode, recovery, pg_stat_archiver (times as epoch seconds, ages from the server's clock) and,
    when our role may list pg_wal/archive_status, the segments waiting for the archiver (``.ready``)."""
    row = fetch_one(conn, (
        "SELECT current_setting('archive_mode') AS archive_mode, pg_is_in_recovery() AS in_recovery, "
        "archived_count, last_archived_wal, EXTRACT(EPOCH FROM last_archived_time)::float8 AS last_archived_time, "
        "failed_count, last_failed_wal, EXTRACT(EPOCH FROM last_failed_time)::float8 AS last_failed_time, "
        "EXTRACT(EPOCH FROM now() - last_failed_time)::float8 AS failed_age, "
        "has_function_privilege('pg_ls_archive_statusdir()', 'EXECUTE') AS may_list_ready "
        "FROM pg_stat_archiver"))
    data = dict(row)
    data['ready_count'] = data['oldest_ready_age'] = None
    if data['may_list_ready'] and data['archive_mode'] != 'off':
        ready = fetch_one(conn, (
            "SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(modification))::float8 AS oldest "
            "FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"))
        data['ready_count'], data['oldest_ready_age'] = int(ready['n']), ready['oldest']
    return data


def collect_replication(conn, server_version_num=0):
    """``{'in_recovery', 'standby': {...}}`` on a standby (receive/replay positions, replay lag's inputs, the
    WAL receiver), ``{'in_recovery', 'slots': [...]}`` on a primary (each slot with the WAL it retains).

    The receiver's status is NULL for a role without pg_read_all_stats; primary_conninfo (never read,
    only whether it is set) is hidden from one without pg_read_all_settings: both are None then.
    """
    recovery = fetch_one(conn, 'SELECT pg_is_in_recovery() AS in_recovery')['in_recovery']
    if recovery:
        standby = fetch_one(conn, (
            "SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn, "
            "COALESCE(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false) AS wal_waiting, "
            "GREATEST(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8 "
            "AS waiting_bytes, "
            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS last_replay_age, "
            "pg_is_wal_replay_paused() AS paused, "
            "(SELECT count(*) FROM pg_stat_wal_receiver) AS receivers, "
            "(SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status, "
            "(SELECT setting <> '' FROM pg_settings WHERE name = 'primary_conninfo') AS primary_conninfo"))
        return {'in_recovery': True, 'standby': dict(standby)}
    newer = server_version_num >= 130000  # wal_status, safe_wal_size, max_slot_wal_keep_size: PostgreSQL 13
    slots = fetch_all(conn, (
        "SELECT slot_name AS slot, slot_type AS type, active, database, "
        + ("wal_status, " if newer else "NULL::text AS wal_status, ") +
        "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained_bytes "
        "FROM pg_replication_slots ORDER BY slot_name"))
    keep = fetch_one(conn, "SELECT current_setting('max_slot_wal_keep_size') AS v")['v'] if newer and slots else None
    return {'in_recovery': False, 'slots': slots, 'max_slot_wal_keep_size': keep}


# --- weekly insights (issue 20): index use, duplicates, cache hits, slowest statements, bloat -------------
# Read by the weekly vacuum job for its report (postgres/insights.py shapes them); nothing here is an alert.
# Catalog and statistics views only: sizes are the catalog's page counts (pg_relation_size would take an
# AccessShareLock that queues behind a migration's AccessExclusiveLock), expressions and predicates are compared
# as stored node trees (pg_get_expr may open the table), so no query waits for another session's DDL.
_BLOCK = "current_setting('block_size')::bigint"
_INDEX_KEY_NAMES = (
    "(SELECT string_agg(CASE WHEN u.k = 0 THEN 'expression' ELSE a.attname::text END, ', ' ORDER BY u.o) "
    " FROM unnest(string_to_array(i.indkey::text, ' ')::int[]) WITH ORDINALITY AS u(k, o) "
    " LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.k)")
# a stored node tree without its parse locations: the same expression written at another place is equal
_NODE_TREE = "regexp_replace(COALESCE(%s::text, ''), ':location -?[0-9]+', '', 'g')"


def collect_stats_reset(conn):
    """When the statistics of the current database were last reset (epoch seconds), None when never."""
    row = fetch_one(conn, "SELECT EXTRACT(EPOCH FROM stats_reset)::float8 AS reset FROM pg_stat_database "
                          "WHERE datname = current_database()")
    return row['reset'] if row else None


def collect_indexes(conn):
    """Every valid index of a user table with what a duplicate is compared on, its scans and its size.

    ``signature`` parts: access method, key columns (indkey, INCLUDE columns too), operator classes,
    collations, options (DESC, NULLS FIRST), expressions and predicate.  ``constraint`` names the primary key,
    unique or exclusion constraint the index backs; ``referenced`` says a foreign key depends on it;
    ``attached`` that it is a partition's part of a partitioned index (not dropped on its own).
    """
    return fetch_all(conn, (
        "SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS index_sql, "
        "format('%I.%I', tn.nspname, t.relname) AS table_sql, tn.nspname AS table_schema, t.relname AS table_name, "
        "i.indexrelid::bigint AS oid, am.amname AS method, i.indkey::text AS key, i.indclass::text AS opclasses, "
        "i.indcollation::text AS collations, i.indoption::text AS options, "
        + _NODE_TREE % 'i.indexprs' + " AS expressions, " + _NODE_TREE % 'i.indpred' + " AS predicate, "
        + _INDEX_KEY_NAMES + " AS columns, "
        "i.indisunique AS is_unique, i.indisprimary AS is_primary, con.conname AS constraint, "
        "quote_ident(con.conname) AS constraint_sql, "
        "EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid) AS referenced, "
        "EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) AS attached, "
        "COALESCE(s.idx_scan, 0) AS scans, c.relpages::bigint * " + _BLOCK + " AS bytes "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        "JOIN pg_am am ON am.oid = c.relam "
        "LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
        "  AND con.contype IN ('p', 'u', 'x') "
        "WHERE c.relkind = 'i' AND i.indisvalid AND NOT pg_is_other_temp_schema(tn.oid) AND "
        + _USER_SCHEMAS.replace('n.nspname', 'tn.nspname') +
        " ORDER BY tn.nspname, t.relname, c.relname"))


def collect_cache_hits(conn, tables=10):
    """Buffer cache hits and reads of every database we may connect to, and of the ``tables`` user tables of
    the current database with the most block accesses (heap, indexes and TOAST together)."""
    databases = fetch_all(conn, (
        "SELECT d.datname AS database, s.blks_hit AS hit, s.blks_read AS read FROM pg_stat_database s "
        "JOIN pg_database d ON d.oid = s.datid WHERE d.datallowconn AND NOT d.datistemplate ORDER BY d.datname"))
    hit = ("COALESCE(heap_blks_hit, 0) + COALESCE(idx_blks_hit, 0) + COALESCE(toast_blks_hit, 0) "
           "+ COALESCE(tidx_blks_hit, 0)")
    read = ("COALESCE(heap_blks_read, 0) + COALESCE(idx_blks_read, 0) + COALESCE(toast_blks_read, 0) "
            "+ COALESCE(tidx_blks_read, 0)")
    hot = fetch_all(conn, (
        "SELECT schemaname AS schema, relname AS name, format('%%I.%%I', schemaname, relname) AS table_sql, "
        + hit + " AS hit, " + read + " AS read FROM pg_statio_user_tables WHERE " + hit + " + " + read + " > 0 "
        "ORDER BY " + hit + " + " + read + " DESC, 1, 2 LIMIT %s"), (tables,))
    return {'databases': databases, 'tables': hot}


STATEMENT_CHARS = 200  # of a statement's text read from pg_stat_statements (then masked)


def collect_statements(conn, server_version_num, limit=10):
    """``{'installed', 'error', 'rows'}``: the ``limit`` statements of the current database with the most total
    execution time in pg_stat_statements, their text cut to STATEMENT_CHARS and masked (postgres/query_mask.py:
    PostgreSQL replaces constants by $n, but not in every utility statement).

    ``installed`` is False when the extension is not created in this database; ``error`` holds the server's
    message when it is but cannot be read (not in shared_preload_libraries).  Times in milliseconds.
    """
    ext = fetch_one(conn, "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n "
                          "ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'")
    if not ext:
        return {'installed': False, 'error': None, 'rows': []}
    total, mean = ('total_exec_time', 'mean_exec_time') if server_version_num >= 130000 else ('total_time', 'mean_time')
    query = sql.SQL(
        "SELECT left(s.query, %s) AS query, s.calls, s.{total}::float8 AS total_ms, s.{mean}::float8 AS mean_ms, "
        "s.rows FROM {view} s WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "ORDER BY s.{total} DESC LIMIT %s").format(
            total=sql.Identifier(total), mean=sql.Identifier(mean),
            view=sql.Identifier(ext['schema'], 'pg_stat_statements'))
    rows = fetch_all(conn, query, (STATEMENT_CHARS, limit))
    for row in rows:
        row['query'] = mask_query(row.get('query'), limit=STATEMENT_CHARS)
    return {'installed': True, 'error': None, 'rows': rows}


# What the bloat estimate (postgres/insights.py) needs of the largest tables and of their btree indexes: page
# and row counts (pg_class, kept by VACUUM/ANALYZE) and the column statistics of pg_stats (null fraction,
# average width), as in the well-known estimate without pgstattuple (ioguix/pgsql-bloat-estimation,
# check_postgres).  A column without statistics (never analysed) makes the estimate unknown.
_LARGEST = (
    "WITH big AS (SELECT c.oid, n.nspname, c.relname, c.relpages, c.reltuples, c.reloptions, c.reltoastrelid "
    "             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "             WHERE c.relkind IN ('r', 'm') AND NOT pg_is_other_temp_schema(n.oid) AND "
    + _USER_SCHEMAS.replace('%', '%%') +  # a query with parameters
    "             ORDER BY c.relpages DESC, n.nspname, c.relname LIMIT %s) ")


def collect_bloat_inputs(conn, tables=10):
    """``{'tables': [...], 'indexes': [...]}`` for the ``tables`` largest user tables (by pages) and their
    btree indexes."""
    table_rows = fetch_all(conn, _LARGEST + (
        "SELECT b.nspname AS schema, b.relname AS name, format('%%I.%%I', b.nspname, b.relname) AS table_sql, "
        "b.relpages::bigint AS pages, b.reltuples::float8 AS tuples, COALESCE(t.relpages, 0)::bigint AS toast_pages, "
        "GREATEST(COALESCE(t.reltuples, 0), 0)::float8 AS toast_tuples, "
        "COALESCE(substring(array_to_string(b.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::int, 100) AS fillfactor, "
        + _BLOCK + " AS block_size, "
        "(SELECT count(*) FROM pg_attribute a WHERE a.attrelid = b.oid AND a.attnum > 0 AND NOT a.attisdropped) "
        "AS columns, st.with_stats, st.max_null_frac, st.data_width "
        "FROM big b LEFT JOIN pg_class t ON t.oid = b.reltoastrelid "
        "LEFT JOIN LATERAL (SELECT count(*) AS with_stats, COALESCE(max(s.null_frac), 0)::float8 AS max_null_frac, "
        "                   COALESCE(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width "
        "                   FROM pg_stats s WHERE s.schemaname = b.nspname AND s.tablename = b.relname "
        "                   AND NOT s.inherited) st ON true "
        "ORDER BY b.relpages DESC, b.nspname, b.relname"), (tables,))
    index_rows = fetch_all(conn, _LARGEST + (
        "SELECT n.nspname AS schema, c.relname AS name, format('%%I.%%I', n.nspname, c.relname) AS index_sql, "
        "format('%%I.%%I', b.nspname, b.relname) AS table_sql, c.relpages::bigint AS pages, "
        "c.reltuples::float8 AS tuples, "
        "COALESCE(substring(array_to_string(c.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::int, 90) AS fillfactor, "
        + _BLOCK + " AS block_size, st.key_columns, st.with_stats, st.max_null_frac, st.data_width "
        "FROM big b JOIN pg_index i ON i.indrelid = b.oid JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree' "
        "LEFT JOIN LATERAL ("
        "  SELECT count(*) AS key_columns, count(s.attname) AS with_stats, "
        "  COALESCE(max(s.null_frac), 0)::float8 AS max_null_frac, "
        "  COALESCE(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width "
        "  FROM generate_series(1, i.indnatts) AS pos "
        "  CROSS JOIN LATERAL (SELECT (string_to_array(i.indkey::text, ' ')::int[])[pos] AS k) key "
        "  LEFT JOIN pg_attribute a ON (key.k <> 0 AND a.attrelid = i.indrelid AND a.attnum = key.k) "
        "    OR (key.k = 0 AND a.attrelid = i.indexrelid AND a.attnum = pos) "
        "  LEFT JOIN pg_stats s ON s.attname = a.attname AND NOT s.inherited AND ("
        "    (key.k <> 0 AND s.schemaname = b.nspname AND s.tablename = b.relname) "
        "    OR (key.k = 0 AND s.schemaname = n.nspname AND s.tablename = c.relname))) st ON true "
        "WHERE c.relkind = 'i' AND i.indisvalid "
        "ORDER BY c.relpages DESC, n.nspname, c.relname"), (tables,))
    return {'tables': table_rows, 'indexes': index_rows}
