"""The pure parts of twzrd_db_health's sequences and invalid_indexes checks (issue 20): which limit a sequence
runs into, the headroom arithmetic, the messages and statements, the metrics and their Prometheus series.
tests/integration/test_db_catalog_checks.py makes each condition in a real PostgreSQL 15 cluster."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as entries
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate
from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export

INT4_MAX = 2147483647
INT8_MAX = 9223372036854775807
PARAMS = {'sequence_warning_pct': 75.0, 'sequence_critical_pct': 90.0}


def serial(**overrides):
    """A row of collect_sequences: an int4 serial public.orders.id."""
    row = {'schema': 'public', 'name': 'orders_id_seq', 'sequence_sql': 'public.orders_id_seq', 'schema_sql': 'public',
           'type': 'integer', 'increment': 1, 'min_value': 1, 'max_value': INT4_MAX, 'cycle': False,
           'readable': True, 'busy': False, 'last_value': None, 'table_schema': 'public', 'table_name': 'orders',
           'column_name': 'id', 'table_sql': 'public.orders', 'column_sql': 'id', 'column_type': 'integer',
           'identity': False}
    row.update(overrides)
    return row


def unowned(**overrides):
    row = serial(name='ticket_seq', sequence_sql='public.ticket_seq', type='bigint', max_value=INT8_MAX,
                 table_schema=None, table_name=None, column_name=None, table_sql=None, column_sql=None,
                 column_type=None)
    row.update(overrides)
    return row


def alerts_of(rows, params=None):
    found, readings = evaluate.evaluate_checks([entries.SEQUENCES], {'sequences': evaluate.sequence_facts(rows)},
                                               params or PARAMS)
    return dict((alert['subject'], alert) for alert in found), readings


@pytest.mark.parametrize('row, limit', [
    (serial(), (INT4_MAX, 'column')),  # an int4 serial: both say 2147483647, widen the column
    (serial(type='smallint', max_value=32767, column_type='smallint'), (32767, 'column')),
    (serial(column_type='bigint'), (INT4_MAX, 'sequence')),  # widened column, sequence still AS integer
    (serial(type='bigint', max_value=INT8_MAX), (INT4_MAX, 'column')),  # a bigint sequence on an int4 column
    (serial(max_value=1000000), (1000000, 'sequence')),  # its own MAXVALUE comes first
    (serial(column_type='numeric'), (INT4_MAX, 'sequence')),  # not an integer column: its own limit
    (unowned(), (INT8_MAX, 'sequence')),
    (serial(increment=-1, min_value=-INT4_MAX - 1, max_value=-1), (-INT4_MAX - 1, 'column')),
    (unowned(increment=-1, min_value=-1000, max_value=-1), (-1000, 'sequence')),
])
def test_the_limit_is_the_nearer_of_the_column_type_and_the_sequence(row, limit):
    assert evaluate.sequence_limit(row) == limit


@pytest.mark.parametrize('last, limit, increment, expected', [
    (None, INT4_MAX, 1, (0.0, None)),  # never called: nothing used
    (1717986918, INT4_MAX, 1, (80.0, 429496729)),
    (INT4_MAX, INT4_MAX, 1, (100.0, 0)),
    (90, 100, 5, (90.0, 2)),  # 95 and 100 are left
    (-960, -1000, -1, (96.0, 40)),  # descending, towards its minimum
    (-5, INT4_MAX, 1, (0.0, INT4_MAX + 5)),  # started below zero: nothing of the maximum used yet
    (0, INT4_MAX, 1, (0.0, INT4_MAX)),
])
def test_headroom_arithmetic(last, limit, increment, expected):
    assert evaluate.sequence_usage(last, limit, increment) == expected


def test_an_int4_serial_warns_then_goes_critical_naming_column_value_maximum_and_headroom():
    found, readings = alerts_of([serial(last_value=1717986918)])
    alert = found['public.orders.id']
    assert (alert['level'], alert['value'], alert['threshold']) == ('warning', 80.0, 75.0)
    assert alert['message'] == ('column public.orders.id (int4, sequence public.orders_id_seq) at 1,717,986,918 of '
                                'the int4 maximum 2,147,483,647: 80.0% used, above the warning threshold of 75%; '
                                '429,496,729 values left')
    assert alert['remediation'].startswith('Widen the column: ALTER TABLE public.orders ALTER COLUMN id TYPE bigint; '
                                           'then ALTER SEQUENCE public.orders_id_seq AS bigint;')
    assert 'ACCESS EXCLUSIVE lock' in alert['remediation']
    assert alert['remediation'].endswith('(docs/runbooks.md#a-sequence-nears-its-maximum)')
    assert readings == {'sequences:public.orders.id': {'value': 80.0, 'warning': 75.0, 'critical': 90.0}}
    found, dummy = alerts_of([serial(last_value=2040109465)])
    assert found['public.orders.id']['level'] == 'critical'
    assert 'critical threshold of 90%' in found['public.orders.id']['message']


def test_quiet_sequences():
    bigint = serial(name='b', table_name='big', type='bigint', max_value=INT8_MAX, column_type='bigint',
                    last_value=1717986918)
    rows = [serial(last_value=None), bigint,
            serial(name='c', table_name='at', last_value=int(INT4_MAX * 0.75))]  # just below the threshold
    found, readings = alerts_of(rows)
    assert found == {} and len(readings) == 3


def test_each_limit_has_its_statement():
    identity, dummy = alerts_of([serial(identity=True, last_value=2000000000)])
    text = identity['public.orders.id']['remediation']
    assert 'ALTER TABLE public.orders ALTER COLUMN id TYPE bigint; (its identity sequence follows)' in text
    assert 'ALTER SEQUENCE' not in text
    bigint_sequence, dummy = alerts_of([serial(type='bigint', max_value=INT8_MAX, last_value=2000000000)])
    text = bigint_sequence['public.orders.id']['remediation']
    assert 'ALTER TABLE public.orders ALTER COLUMN id TYPE bigint;' in text and 'ALTER SEQUENCE' not in text
    widened, dummy = alerts_of([serial(column_type='bigint', last_value=2000000000)])
    alert = widened['public.orders.id']
    assert "of the sequence's own maximum 2,147,483,647 (AS integer)" in alert['message']
    assert alert['remediation'].startswith('Widen the sequence (a catalog change, quick): ALTER SEQUENCE '
                                           'public.orders_id_seq AS bigint;')
    custom, dummy = alerts_of([unowned(max_value=1000, last_value=990)])
    alert = custom['public.ticket_seq']
    assert alert['message'].startswith('sequence public.ticket_seq (no column owns it) at 990 of the sequence\'s '
                                       'own maximum 1,000 (AS bigint): 99.0% used')
    assert 'ALTER SEQUENCE public.ticket_seq NO MAXVALUE;' in alert['remediation']
    down, dummy = alerts_of([unowned(increment=-1, min_value=-1000, max_value=-1, last_value=-960)])
    assert "own minimum -1,000" in down['public.ticket_seq']['message']
    assert 'NO MINVALUE' in down['public.ticket_seq']['remediation']
    at_end, dummy = alerts_of([unowned(last_value=INT8_MAX - 10, cycle=True)])
    alert = at_end['public.ticket_seq']
    assert 'nothing is wider' in alert['remediation'] and '10 values left (CYCLE' in alert['message']


def test_metrics_list_the_nearest_and_say_what_was_not_read():
    rows = [serial(last_value=1000), serial(name='s2', table_name='t2', last_value=2000000000),
            serial(name='s3', table_name='t3', readable=False), serial(name='s4', table_name='t4', busy=True,
                                                                       last_value=None)]
    metrics = evaluate.sequence_metrics(rows)
    assert metrics['count'] == 4 and metrics['read'] == 2 and metrics['never_used'] == 0
    assert [w['sequence'] for w in metrics['worst']] == ['public.t2.id', 'public.orders.id']
    assert metrics['max_used_pct'] == metrics['worst'][0]['used_pct'] > 90
    assert metrics['unreadable_sequences'] == ['public.t3.id'] and metrics['busy_sequences'] == ['public.t4.id']
    assert evaluate.sequences_unread(rows) and not evaluate.sequences_unread(rows[:2])
    assert evaluate.sequence_metrics([])['max_used_pct'] == 0.0  # no sequence: no risk
    assert evaluate.sequence_metrics([serial(readable=False)])['max_used_pct'] is None  # unknown, not 0
    facts = evaluate.sequence_facts([serial(name='s%d' % i, table_name='t%d' % i, last_value=i + 1) for i in range(12)],
                                    listed=10)
    assert sum(1 for fact in facts.values() if fact['listed']) == 10


def test_a_role_that_cannot_read_gets_one_warning_with_the_grants():
    sales = serial(name='x', schema='Sales', schema_sql='"Sales"', table_schema='Sales', readable=False)
    rows = [serial(readable=False), sales, serial(name='ok', table_name='fine', last_value=5)]
    alerts = evaluate.evaluate_unreadable_sequences(rows, 'Monitor')
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert['check'], alert['subject'], alert['level'], alert['value']) == (
        'sequences', 'unreadable', 'warning', 2)
    assert alert['message'].startswith('role Monitor cannot read the value of 2 of 3 sequence(s)')
    assert 'GRANT pg_read_all_data TO "Monitor";' in alert['remediation']
    assert ('GRANT SELECT ON ALL SEQUENCES IN SCHEMA "Sales" TO "Monitor"; GRANT SELECT ON ALL SEQUENCES IN SCHEMA '
            'public TO "Monitor";') in alert['remediation']
    assert evaluate.evaluate_unreadable_sequences(rows[2:], 'Monitor') == []


def index(**overrides):
    row = {'schema': 'public', 'name': 'users_email_key', 'index_sql': 'public.users_email_key',
           'table_schema': 'public', 'table_name': 'users', 'bytes': 16384, 'ready': True, 'is_unique': True,
           'definition': 'CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)'}
    row.update(overrides)
    return row


def test_an_invalid_index_gives_the_statement_to_rebuild_it():
    alerts, metrics = evaluate.evaluate_invalid_indexes([index()])
    alert = alerts[0]
    assert (alert['check'], alert['subject'], alert['level'], alert['value']) == (
        'invalid_indexes', 'public.users_email_key', 'warning', 16384)
    assert alert['message'].startswith('index public.users_email_key on table public.users is invalid (16.0 kB, '
                                       'still updated on every write)')
    assert alert['remediation'] == (
        'REINDEX INDEX CONCURRENTLY public.users_email_key; or DROP INDEX CONCURRENTLY public.users_email_key; then '
        'CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON public.users USING btree (email); A unique index fails '
        'again until the duplicate keys it failed on are gone. (docs/runbooks.md#an-index-is-invalid)')
    assert metrics == {'count': 1, 'indexes': [{'index': 'public.users_email_key', 'table': 'public.users',
                                                'bytes': 16384, 'size': '16.0 kB', 'ready': True}]}


def test_reindex_leftovers_are_dropped_and_odd_names_stay_quoted():
    odd = index(schema='Odd', name='my "idx"', index_sql='"Odd"."my ""idx"""', is_unique=False, ready=False,
                definition='CREATE INDEX "my ""idx""" ON "Odd".t USING btree (v)')
    text = evaluate.invalid_index_statement(odd)
    assert text.startswith('REINDEX INDEX CONCURRENTLY "Odd"."my ""idx""";')
    assert 'CREATE INDEX CONCURRENTLY "my ""idx""" ON "Odd".t USING btree (v);' in text and 'duplicate' not in text
    new = evaluate.invalid_index_statement(index(name='users_email_key_ccnew1', index_sql='public.users_email_key_ccnew1'))
    assert new.startswith('DROP INDEX CONCURRENTLY public.users_email_key_ccnew1; (the new copy')
    old = evaluate.invalid_index_statement(index(name='users_email_key_ccold', index_sql='public.users_email_key_ccold'))
    assert old.startswith('DROP INDEX CONCURRENTLY public.users_email_key_ccold; (the old copy')
    assert 'not maintained' in evaluate.evaluate_invalid_indexes([odd])[0][0]['message']


def test_the_series_of_both_checks():
    rows = [serial(last_value=1717986918), serial(name='r', table_name='r', readable=False)]
    result = {'metrics': {'connected': True, 'sequences': evaluate.sequence_metrics(rows),
                          'invalid_indexes': evaluate.evaluate_invalid_indexes([index()])[1]}}
    families = dict((family[0], family) for family in metrics_export.build_families(
        'db_health', 'app', result, 'warning', 0.0, 1.0))
    used = families['twzrd_pg_sequence_used_ratio']
    assert used[3] == ['twzrd_job', 'database', 'sequence'] and used[4] == [(['db_health', 'app', 'public.orders.id'], 0.8)]
    assert families['twzrd_pg_sequences_unreadable'][4] == [(['db_health', 'app'], 1.0)]
    assert families['twzrd_pg_invalid_indexes'][4] == [(['db_health', 'app'], 1.0)]
    # a query that failed: no series at all, not 0
    failed = {'metrics': {'connected': True}}
    families = dict((f[0], f) for f in metrics_export.build_families('db_health', 'app', failed, 'critical', 0.0, 1.0))
    assert not set(families) & {'twzrd_pg_sequence_used_ratio', 'twzrd_pg_sequences_unreadable',
                                'twzrd_pg_invalid_indexes'}


def test_unread_sequences_stay_unchecked_when_a_later_query_fails(monkeypatch):
    """A sequence the role cannot read keeps its open alert (``unchecked``), even when a query after it fails:
    the failure's own ``unchecked`` list must not replace it (the archiving query ran later and did)."""
    import psycopg2
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
    from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health

    class Conn:
        def close(self):
            pass

    def fails(*args, **kwargs):
        raise psycopg2.Error('permission denied')

    settings = {'database': 'app', 'own_pid': 1, 'server_version_num': 150000, 'max_connections': 100,
                'superuser_reserved_connections': 3, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
                'autovacuum_vacuum_scale_factor': 0.2, 'data_directory': None}
    monkeypatch.setattr(db_health, 'connect', lambda *args, **kwargs: Conn())
    for name in dir(db_collect):
        if name.startswith('collect_') or name == 'find_tables':
            monkeypatch.setattr(db_collect, name, fails)
    monkeypatch.setattr(db_collect, 'collect_settings', lambda conn: settings)
    monkeypatch.setattr(db_collect, 'collect_sequences', lambda conn, **kwargs: [serial(readable=False)])
    params = dict(login_db='app', login_user='app', statement_timeout=10, growth_warning_pct_per_day=10.0,
                  growth_warning_bytes_per_day=None, forecast_days=7, forecast_warning_days=14,
                  forecast_critical_days=3, top_tables=10, latency_samples=5, data_volume=None)
    params.update((name, spec.get('default')) for name, spec in registry_spec().items() if name not in params)
    alerts, metrics, dummy = db_health.run_db_health(params, {})
    assert 'sequences' in metrics['unchecked']
    assert {'archiving', 'replication', 'invalid_indexes'} <= set(metrics['unchecked'])
    assert [a['subject'] for a in alerts if a['check'] == 'sequences'] == ['unreadable']


def test_max_used_pct_is_the_highest_share_even_when_none_are_listed():
    """``listed`` only cuts the ``worst`` list; the highest share is of every sequence read."""
    rows = [serial(last_value=1000), serial(name='s2', table_name='t2', last_value=int(INT4_MAX * 0.5))]
    for listed in (0, 1, 2):
        metrics = evaluate.sequence_metrics(rows, listed=listed)
        assert len(metrics['worst']) == listed
        assert metrics['max_used_pct'] == 50.0
    facts = evaluate.sequence_facts(rows, listed=0)
    assert evaluate.sequence_metrics(rows, listed=0, facts=facts)['max_used_pct'] == 50.0


def registry_spec():
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
    return registry.argument_spec(entries.CHECKS)


def test_metrics_count_with_the_servers_totals_when_it_sent_only_some_sequences():
    """collect_sequences(above_pct=...) sends the sequences a run reports on, each row with the server's totals
    of all of them: count, read and never_used come from those, not from the rows."""
    rows = [serial(last_value=int(INT4_MAX * 0.8), total=5000, read_total=4990, never_used_total=4000),
            serial(name='x_seq', table_name='x', readable=False, total=5000, read_total=4990, never_used_total=4000)]
    metrics = evaluate.sequence_metrics(rows)
    assert (metrics['count'], metrics['read'], metrics['never_used']) == (5000, 4990, 4000)
    assert metrics['max_used_pct'] == 80.0 and metrics['unreadable'] == 1
    alert, = evaluate.evaluate_unreadable_sequences(rows, 'app')
    assert 'cannot read the value of 1 of 5000 sequence(s)' in alert['message']
    # every row, no totals: counted here as before
    assert evaluate.sequence_metrics([serial(last_value=5), serial(name='y_seq', table_name='y')])['count'] == 2


@pytest.mark.parametrize('params, lowest', [
    ({'sequence_warning_pct': 75, 'sequence_critical_pct': 90}, 75),
    ({'sequence_warning_pct': None, 'sequence_critical_pct': 90}, 90),
    ({'sequence_warning_pct': 95, 'sequence_critical_pct': 90}, 90),
    ({'sequence_warning_pct': None, 'sequence_critical_pct': None}, None),
])
def test_the_lowest_threshold_set(params, lowest):
    assert evaluate.lowest_threshold(params, 'sequence_warning_pct', 'sequence_critical_pct') == lowest
