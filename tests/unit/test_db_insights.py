"""The weekly database insights (postgres/insights.py), their state copy and the page (no server)."""
import calendar
import json

from ansible_collections.twzrd.ops.plugins.module_utils.postgres import insights
from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html
from ansible_collections.twzrd.ops.plugins.module_utils.report import trends
from ansible_collections.twzrd.ops.plugins.module_utils.state import schema as state_schema

NOW = calendar.timegm((2026, 12, 7, 3, 0, 0))
MB = 1024 * 1024


def index(name, oid, table='public.t', key='2', scans=0, size=20 * MB, **extra):
    row = {'index_sql': name, 'table_sql': table, 'oid': oid, 'method': 'btree', 'key': key, 'opclasses': '1978',
           'collations': '0', 'options': '0', 'expressions': '', 'predicate': '', 'columns': 'v', 'is_unique': False,
           'is_primary': False, 'constraint': None, 'constraint_sql': None, 'referenced': False, 'attached': False,
           'scans': scans, 'bytes': size}
    row.update(extra)
    return row


def test_duplicates_keep_the_constraint_then_unique_then_used_then_oldest():
    rows = [index('public.a', 10), index('public."B b"', 11, scans=5), index('public.c', 12),
            index('public.other_pred', 13, predicate='{OPEXPR}'), index('public.on_u', 14, table='public.u')]
    found = insights.duplicate_indexes(rows)
    assert [(e['index'], e['duplicate_of']) for e in found] == [('public.a', 'public."B b"'),
                                                                ('public.c', 'public."B b"')]
    assert found[0]['drop'] == 'DROP INDEX CONCURRENTLY public.a;' and found[0]['size'] == '20.0 MB'
    unique = insights.duplicate_indexes([index('public.plain', 1, scans=9), index('public.uq', 2, is_unique=True)])
    assert [(e['index'], e['duplicate_of']) for e in unique] == [('public.plain', 'public.uq')]


def test_duplicate_that_backs_a_constraint_says_drop_the_constraint():
    rows = [index('public.t_pkey', 1, is_unique=True, is_primary=True, constraint='t_pkey', constraint_sql='t_pkey'),
            index('public."T u"', 2, is_unique=True, constraint='T u', constraint_sql='"T u"'),
            index('public.fk_target', 3, is_unique=True, referenced=True)]
    found = dict((e['index'], e) for e in insights.duplicate_indexes(rows))
    assert found['public."T u"']['drop'] is None
    assert 'drop the constraint instead (ALTER TABLE public.t DROP CONSTRAINT "T u";)' in found['public."T u"']['note']
    assert found['public.fk_target']['drop'] is None and 'foreign key' in found['public.fk_target']['note']


def test_partition_parts_are_never_duplicates_or_unused():
    rows = [index('public.p1_a', 1, attached=True), index('public.p1_b', 2, attached=True)]
    assert insights.duplicate_indexes(rows) == [] and insights.unused_indexes(rows, None) == []


def test_unused_is_unscanned_large_and_enforces_nothing():
    rows = [index('public.big', 1), index('public.small', 2, size=10 * MB), index('public.used', 3, scans=1),
            index('public.uq', 4, is_unique=True), index('public.con', 5, constraint='x'),
            index('public.bigger', 6, size=30 * MB)]
    found = insights.unused_indexes(rows, NOW - 86400)
    assert [e['index'] for e in found] == ['public.bigger', 'public.big']
    assert found[1]['since'] == 'no scans since the statistics were reset 2026-12-06 03:00 UTC'
    assert found[1]['drop'] == 'DROP INDEX CONCURRENTLY public.big;'
    assert insights.unused_indexes(rows, None)[0]['since'] == 'no scans since the statistics began (never reset)'


def test_hit_ratio_is_a_percentage_or_none():
    assert insights.hit_percent(99, 1) == 99.0 and insights.hit_percent(0, 5) == 0.0
    assert insights.hit_percent(0, 0) is None and insights.hit_percent(None, None) is None
    shaped = insights.cache_hits({'databases': [{'database': 'app', 'hit': 3, 'read': 1}],
                                  'tables': [{'table_sql': 'public.t', 'hit': 1, 'read': 0}] * 12})
    assert shaped['databases'] == [{'database': 'app', 'hit_pct': 75.0, 'hit': 3, 'read': 1}]
    assert len(shaped['tables']) == 10 and shaped['tables'][0]['hit_pct'] == 100.0


def test_statements_or_the_hint():
    absent = insights.statements({'installed': False, 'rows': []}, 'app')
    assert absent['available'] is False and absent['top'] == [] and 'CREATE EXTENSION pg_stat_statements' in absent['hint']
    assert '\n' not in absent['hint'] and ' app:' in absent['hint']
    assert insights.statements(None, 'app', error='55000')['hint'] == absent['hint']
    rows = [{'query': 'SELECT $1\nFROM t', 'calls': 3, 'mean_ms': 1.23456, 'total_ms': 3.7, 'rows': 3}]
    present = insights.statements({'installed': True, 'rows': rows}, 'app')
    assert present['hint'] is None
    assert present['top'] == [{'query': 'SELECT $1?FROM t', 'calls': 3, 'mean_ms': 1.235, 'total_ms': 3.7, 'rows': 3}]


def table_row(**extra):
    row = {'table_sql': 'public.t', 'pages': 1000, 'tuples': 100000.0, 'toast_pages': 0, 'toast_tuples': 0.0,
           'fillfactor': 100, 'block_size': 8192, 'columns': 2, 'with_stats': 2, 'max_null_frac': 0.0,
           'data_width': 8.0}
    row.update(extra)
    return row


def test_table_bloat_estimate():
    # 2 ints: header 23 -> 24, data 8, line pointer 4: 36 bytes, 226.9 rows a page -> 441 pages expected
    assert insights.table_bloat(table_row()) == ((1000 - 441) * 8192, 55.9)
    assert insights.table_bloat(table_row(pages=400)) == (0, 0.0)  # never negative
    assert insights.table_bloat(table_row(with_stats=1)) is None    # a column never analysed
    assert insights.table_bloat(table_row(tuples=-1.0)) is None     # the table never analysed (PG 14+)
    # a null bitmap and a lower fillfactor mean more pages expected, so less bloat
    assert insights.table_bloat(table_row(max_null_frac=0.1, fillfactor=50))[0] < insights.table_bloat(table_row())[0]


def test_index_bloat_estimate():
    row = {'index_sql': 'public.i', 'table_sql': 'public.t', 'pages': 500, 'tuples': 100000.0, 'fillfactor': 90,
           'block_size': 8192, 'key_columns': 1, 'with_stats': 1, 'max_null_frac': 0.0, 'data_width': 4.0}
    # int key: tuple 8 + 8 + 4 (line pointer) = 20 bytes, 366 a page at 90 % -> 1 + 274 pages
    assert insights.index_bloat(row) == ((500 - 275) * 8192, 45.0)
    assert insights.index_bloat(dict(row, with_stats=0)) is None
    assert insights.index_bloat(dict(row, pages=0)) is None


FOUND = {
    'database': 'app', 'errors': [],
    'unused_indexes': insights.unused_indexes([index('public.big\nx', 1)], None),
    'duplicate_indexes': insights.duplicate_indexes([index('public.a', 1), index('public.b', 2)]),
    'cache_hits': insights.cache_hits({'databases': [{'database': 'app', 'hit': 99, 'read': 1}],
                                       'tables': [{'table_sql': 'public.t', 'hit': 0, 'read': 0}]}),
    'statements': insights.statements({'installed': True, 'rows': [
        {'query': 'SELECT ?', 'calls': 2, 'mean_ms': 5.0, 'total_ms': 10.0, 'rows': 2}]}, 'app'),
    'bloat': insights.bloat({'tables': [table_row()], 'indexes': []}),
}


def test_report_lines():
    lines = insights.report_lines(FOUND)
    text = '\n'.join(lines)
    assert lines[0] == 'weekly insights of database app (information, no alert):'
    assert '- public.big?x on public.t, 20.0 MB, no scans since the statistics began (never reset): ' \
           'DROP INDEX CONCURRENTLY public.big?x;' in lines  # one line each, whatever a name holds
    assert '- public.b duplicates public.a, 20.0 MB: DROP INDEX CONCURRENTLY public.b;' in lines
    assert 'cache hit ratio: app 99.0%' in lines and 'hot tables: public.t n/a' in lines
    assert '- 10.0 ms total, 2 calls, 5.000 ms mean: SELECT ?' in lines
    assert '- public.t: 7.8 MB, bloat ~4.4 MB (55.9%)' in lines and 'an estimate' in text
    hint = dict(FOUND, statements=insights.statements(None, 'app'), errors=['indexes: canceling statement'])
    hinted = insights.report_lines(hint)
    assert hinted[1] == '- not read: indexes: canceling statement' and hint['statements']['hint'] in hinted
    assert insights.metrics(FOUND) == {'unused_indexes': 1, 'duplicate_indexes': 1}


def test_state_copy_fits_the_schema_and_the_page_shows_it():
    copy = insights.state_copy(dict(FOUND, database='app<b>'), NOW)
    state = {'twzrd_vacuum': {'insights': {'app<b>': copy}}}
    checked, warnings = state_schema.validate(json.loads(json.dumps(state)))
    assert warnings == [] and checked == state
    assert copy['unused_indexes'][0]['index'] == 'public.big?x' and 'columns' not in copy['unused_indexes'][0]
    entries = trends.db_insights(state['twzrd_vacuum'], NOW - 86400, NOW)
    assert [e['database'] for e in entries] == ['app<b>']
    assert trends.db_insights(state['twzrd_vacuum'], NOW + 1, NOW + 2) == []
    page = '\n'.join(report_html._insights({'trends': {'db_insights': entries}}))
    assert 'Database app&lt;b&gt;' in page and '<b>' not in page
    assert '<code>DROP INDEX CONCURRENTLY public.b;</code>' in page and '<code>SELECT ?</code>' in page
    assert 'an estimate, not a measurement' in page and '~4.4 MB (55.9%)' in page
    hinted = insights.state_copy(dict(FOUND, statements=insights.statements(None, 'app')), NOW)
    page = '\n'.join(report_html._insights({'trends': {'db_insights': [dict(hinted, database='app')]}}))
    assert 'id="statements-hint-app"' in page and 'shared_preload_libraries' in page
    assert 'No database insights recorded' in '\n'.join(report_html._insights({'trends': {}}))


def test_a_hand_edited_insights_entry_is_dropped_not_trusted():
    bad = {'twzrd_vacuum': {'runs': [], 'insights': {'app': {'t': NOW, 'unused_indexes': [{'bytes': 'big'}]}}}}
    checked, warnings = state_schema.validate(bad)
    assert 'twzrd_vacuum' not in checked and 'insights.app.unused_indexes[0].bytes' in warnings[0]
