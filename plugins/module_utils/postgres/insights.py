# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weekly database insights of the vacuum job (docs/vacuum.md, "Weekly insights"). Pure: no I/O.

From what postgres/collect.py read: unused indexes, duplicate indexes (each with the statement a person would
run), the buffer cache hit ratio per database and per hot table, the slowest statements of
pg_stat_statements (or a one-line hint to enable it) and the estimated bloat of the largest tables and their
indexes.  Information for the weekly report, never an alert.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes

UNUSED_MIN_BYTES = 10 * 1024 * 1024  # an unused index smaller than this is not worth a line
LISTED = 10                          # rows of each list
TEXT_CHARS = 200                     # any name or text kept in the state file
MAXALIGN = 8                         # 64-bit servers (the estimate's alignment)
PAGE_HEADER = 24
BTREE_OPAQUE = 16
STATEMENTS_HINT = ('pg_stat_statements is not enabled in %s: to list the slowest statements add pg_stat_statements '
                   'to shared_preload_libraries, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; '
                   'in that database.')


def one_line(value, limit=TEXT_CHARS):
    """``value`` as one printable line of at most ``limit`` characters (names come from the catalog)."""
    text = '' if value is None else str(value)
    text = ''.join(ch if ch.isprintable() else '?' for ch in text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def drop_statement(index_sql):
    """What a person runs to drop an index without blocking writes (the name comes quoted by the server)."""
    return 'DROP INDEX CONCURRENTLY %s;' % index_sql


def _signature(index):
    return (index['table_sql'], index['method'], index['key'], index['opclasses'], index['collations'],
            index['options'], index['expressions'], index['predicate'])


def _keep_rank(index):
    """The index of a group of duplicates to keep: one backing a constraint, then a unique one, then the one
    used most, then the oldest."""
    return (not index.get('constraint'), not index.get('is_unique'), -(index.get('scans') or 0), index['oid'])


def duplicate_indexes(indexes):
    """Indexes with the same table, method, key columns, operator classes, collations, options, expressions and
    predicate as another: all but one of each group are redundant.

    Each entry names the index kept (``duplicate_of``) and ``drop``, the statement that removes the redundant
    one; an index that backs a constraint (or that a foreign key depends on) is not dropped on its own: ``drop``
    is None and ``note`` says to drop the constraint instead.
    """
    groups = {}
    for index in indexes:
        if not index.get('attached'):
            groups.setdefault(_signature(index), []).append(index)
    found = []
    for group in groups.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=_keep_rank)
        kept = group[0]
        for index in group[1:]:
            entry = {'index': index['index_sql'], 'table': index['table_sql'], 'columns': index.get('columns'),
                     'duplicate_of': kept['index_sql'], 'bytes': index['bytes'], 'size': human_bytes(index['bytes']),
                     'drop': None, 'note': None}
            if index.get('constraint'):
                entry['note'] = ('backs constraint %s of %s: drop the constraint instead '
                                 '(ALTER TABLE %s DROP CONSTRAINT %s;), not the index' % (
                                     index['constraint_sql'], index['table_sql'], index['table_sql'],
                                     index['constraint_sql']))
            elif index.get('referenced'):
                entry['note'] = 'a foreign key depends on it: point the foreign key at %s first' % kept['index_sql']
            else:
                entry['drop'] = drop_statement(index['index_sql'])
            found.append(entry)
    return sorted(found, key=lambda e: (-e['bytes'], e['index']))


def unused_indexes(indexes, stats_reset, min_bytes=UNUSED_MIN_BYTES):
    """Indexes never scanned since the statistics were reset, larger than ``min_bytes``, that are not unique,
    primary or backing a constraint (those enforce something even when never read)."""
    since = 'since the statistics were reset %s' % _day(stats_reset) if stats_reset else \
        'since the statistics began (never reset)'
    found = []
    for index in indexes:
        if (index.get('scans') or 0) > 0 or index['bytes'] <= min_bytes or index.get('is_unique') \
                or index.get('is_primary') or index.get('constraint') or index.get('referenced') \
                or index.get('attached'):
            continue
        found.append({'index': index['index_sql'], 'table': index['table_sql'], 'columns': index.get('columns'),
                      'bytes': index['bytes'], 'size': human_bytes(index['bytes']), 'scans': 0,
                      'since': 'no scans %s' % since, 'drop': drop_statement(index['index_sql'])})
    return sorted(found, key=lambda e: (-e['bytes'], e['index']))


def _day(epoch):
    return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(epoch))


def hit_percent(hit, read):
    """Share of block accesses served from shared buffers, in percent; None before any access."""
    total = (hit or 0) + (read or 0)
    if total <= 0:
        return None
    return round(100.0 * (hit or 0) / total, 2)


def cache_hits(collected):
    """``{'databases': [...], 'tables': [...]}`` with ``hit_pct`` per database and per hot table."""
    databases = [{'database': row['database'], 'hit_pct': hit_percent(row['hit'], row['read']),
                  'hit': int(row['hit'] or 0), 'read': int(row['read'] or 0)} for row in collected['databases']]
    tables = [{'table': row['table_sql'], 'hit_pct': hit_percent(row['hit'], row['read']),
               'hit': int(row['hit'] or 0), 'read': int(row['read'] or 0)} for row in collected['tables']]
    return {'databases': databases, 'tables': tables[:LISTED]}


def statements(collected, database, error=None):
    """``{'available', 'hint', 'top'}``: the slowest statements (already masked by the collector), or the hint."""
    if error or not collected or not collected.get('installed'):
        return {'available': False, 'hint': STATEMENTS_HINT % database, 'top': []}
    top = [{'query': one_line(row['query']), 'calls': int(row['calls'] or 0),
            'mean_ms': round(float(row['mean_ms'] or 0), 3), 'total_ms': round(float(row['total_ms'] or 0), 3),
            'rows': int(row.get('rows') or 0)} for row in collected['rows'][:LISTED]]
    return {'available': True, 'hint': None, 'top': top}


def _align(value, to=MAXALIGN):
    """``value`` rounded up to the next multiple of ``to`` (MAXALIGN)."""
    return int(math.ceil(value / float(to)) * to)


def table_bloat(row):
    """``(bloat_bytes, bloat_pct)`` estimated from catalog statistics, or None when the table was never
    analysed or a column has no statistics (the estimate would mean nothing).

    The tuple width is the header (23 bytes, a null bitmap when a column has nulls) plus the average width of
    every column, aligned; rows per page follow from the block size and fillfactor, TOAST rows count four to a
    page; what the table has beyond that is the estimated bloat.
    """
    pages = row['pages'] + row['toast_pages']
    if row['tuples'] < 0 or row['with_stats'] < row['columns'] or pages <= 0 or row['columns'] == 0:
        return None
    header = 23 + ((7 + row['with_stats']) // 8 if row['max_null_frac'] > 0 else 0)
    tuple_size = 4 + _align(header) + _align(math.ceil(row['data_width']))  # 4: the line pointer
    per_page = (row['block_size'] - PAGE_HEADER) * row['fillfactor'] / (tuple_size * 100.0)
    expected = math.ceil(row['tuples'] / per_page) + math.ceil(row['toast_tuples'] / 4.0)
    return _bloat(pages, expected, row['block_size'])


def index_bloat(row):
    """``(bloat_bytes, bloat_pct)`` of a btree index estimated the same way (index tuple header 8 bytes, 12 with
    a null bitmap, the key columns' average widths, 90 % fillfactor by default), or None without statistics."""
    if row['tuples'] < 0 or row['pages'] <= 0 or not row['key_columns'] or row['with_stats'] < row['key_columns']:
        return None
    header = 8 if row['max_null_frac'] == 0 else 8 + (32 + 8 - 1) // 8
    width = _align(header) + (_align(int(round(row['data_width']))) if row['data_width'] else 0)
    per_page = math.floor((row['block_size'] - BTREE_OPAQUE - PAGE_HEADER) * row['fillfactor'] / (100.0 * (4 + width)))
    expected = 1 + math.ceil(row['tuples'] / per_page) if per_page > 0 else row['pages']
    return _bloat(row['pages'], expected, row['block_size'])


def _bloat(pages, expected, block_size):
    extra = max(pages - expected, 0)
    return int(extra * block_size), round(100.0 * extra / pages, 1)


def bloat(collected):
    """The largest tables and their btree indexes with size and estimated bloat (``estimate`` None: unknown)."""
    def entry(name, table, pages, block_size, estimate):
        size = int(pages * block_size)
        return {'name': name, 'table': table, 'bytes': size, 'size': human_bytes(size),
                'bloat_bytes': estimate[0] if estimate else None, 'bloat_pct': estimate[1] if estimate else None,
                'bloat': human_bytes(estimate[0]) if estimate else None}
    tables = [entry(row['table_sql'], row['table_sql'], row['pages'] + row['toast_pages'], row['block_size'],
                    table_bloat(row)) for row in collected['tables']]
    indexes = [entry(row['index_sql'], row['table_sql'], row['pages'], row['block_size'], index_bloat(row))
               for row in collected['indexes']]
    return {'tables': tables[:LISTED], 'indexes': sorted(indexes, key=lambda e: -e['bytes'])[:LISTED]}


def _percent(value):
    return 'n/a' if value is None else '%.1f%%' % value


def report_lines(found):
    """The insights as lines a person reads (the vacuum job's message and result ``summary``)."""
    lines = ['weekly insights of database %s (information, no alert):' % one_line(found['database'])]
    for part in found.get('errors') or []:
        lines.append('- not read: %s' % one_line(part))
    if found.get('unused_indexes') is not None:
        unused = found['unused_indexes']
        lines.append('unused indexes (no scans, > 10 MB) (%d)%s' % (len(unused), ': none' if not unused else ':'))
        for e in unused[:LISTED]:
            lines.append('- %s on %s, %s, %s: %s' % (one_line(e['index']), one_line(e['table']), e['size'],
                                                     e['since'], one_line(e['drop'])))
    if found.get('duplicate_indexes') is not None:
        dups = found['duplicate_indexes']
        lines.append('duplicate indexes (%d)%s' % (len(dups), ': none' if not dups else ':'))
        for e in dups[:LISTED]:
            lines.append('- %s duplicates %s, %s: %s' % (one_line(e['index']), one_line(e['duplicate_of']), e['size'],
                                                         one_line(e['drop'] or e['note'])))
    cache = found.get('cache_hits')
    if cache is not None:
        lines.append('cache hit ratio: %s' % (', '.join('%s %s' % (one_line(d['database']), _percent(d['hit_pct']))
                                                        for d in cache['databases']) or 'no database'))
        if cache['tables']:
            lines.append('hot tables: %s' % ', '.join('%s %s' % (one_line(t['table']), _percent(t['hit_pct']))
                                                      for t in cache['tables']))
    stmts = found.get('statements')
    if stmts is not None:
        if not stmts['available']:
            lines.append(stmts['hint'])
        else:
            lines.append('slowest statements by total time (pg_stat_statements, %d):' % len(stmts['top']))
            for s in stmts['top']:
                lines.append('- %.1f ms total, %d calls, %.3f ms mean: %s' % (s['total_ms'], s['calls'], s['mean_ms'],
                                                                              s['query']))
    est = found.get('bloat')
    if est is not None:
        lines.append('estimated bloat (catalog statistics, an estimate) of the largest tables:')
        for e in est['tables'] + est['indexes']:
            kind = 'index ' if e['name'] != e['table'] else ''
            lines.append('- %s%s: %s, bloat %s' % (kind, one_line(e['name']), e['size'], 'unknown (not analysed)'
                                                   if e['bloat_bytes'] is None else '~%s (%s)' % (
                                                       e['bloat'], _percent(e['bloat_pct']))))
    return lines


def metrics(found):
    """Counts for the result's metrics (and the run log)."""
    return {'unused_indexes': len(found.get('unused_indexes') or []),
            'duplicate_indexes': len(found.get('duplicate_indexes') or [])}


# What the state file keeps (the weekly health report shows it): few rows, short texts, plain numbers.
_STATE_FIELDS = {
    'unused_indexes': ('index', 'table', 'bytes', 'since', 'drop'),
    'duplicate_indexes': ('index', 'table', 'duplicate_of', 'bytes', 'drop', 'note'),
}


def state_copy(found, now):
    """The compact copy of ``found`` for the state file's ``twzrd_vacuum.insights.<database>``."""
    def rows(items, fields):
        return [dict((k, one_line(item.get(k)) if isinstance(item.get(k), str) else item.get(k)) for k in fields)
                for item in (items or [])[:LISTED]]
    copy = {'t': int(now)}
    for key, fields in _STATE_FIELDS.items():
        if found.get(key) is not None:
            copy[key] = rows(found[key], fields)
    if found.get('cache_hits') is not None:
        copy['cache_databases'] = rows(found['cache_hits']['databases'], ('database', 'hit_pct'))
        copy['cache_tables'] = rows(found['cache_hits']['tables'], ('table', 'hit_pct'))
    if found.get('statements') is not None:
        copy['statements'] = rows(found['statements']['top'], ('query', 'calls', 'mean_ms', 'total_ms'))
        if found['statements']['hint']:
            copy['statements_hint'] = one_line(found['statements']['hint'], 300)
    if found.get('bloat') is not None:
        copy['bloat'] = rows(found['bloat']['tables'] + found['bloat']['indexes'],
                             ('name', 'table', 'bytes', 'bloat_bytes', 'bloat_pct'))
    return copy
