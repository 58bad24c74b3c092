"""Threshold logic of twzrd_db_health (pure evaluators, recorded inputs)."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes, human_seconds
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks

SETTINGS = {'max_connections': 100, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
            'autovacuum_vacuum_scale_factor': 0.2}


def backend(pid, state='idle', xact_age=None, state_age=1.0, own=False):
    return {'pid': pid, 'own': own, 'state': state, 'xact_age': xact_age, 'state_age': state_age,
            'user': 'app', 'application_name': 'api', 'database': 'app'}


def table(name, dead=0, reltuples=1000, reloptions=None, has_pk=True, kind='r', size=8192):
    return {'schema': 'public', 'name': name, 'kind': kind, 'has_pk': has_pk, 'reltuples': reltuples,
            'reloptions': reloptions, 'live_rows': reltuples, 'dead_rows': dead, 'bytes': size}


def checks(alerts):
    return [(a['check'], a['level']) for a in alerts]


@pytest.mark.parametrize('count,expected', [(80, []), (81, [('connections', 'warning')]),
                                            (95, [('connections', 'warning')]), (96, [('connections', 'critical')])])
def test_connection_percentage_thresholds(count, expected):
    backends = [backend(i) for i in range(count)]
    alerts, metrics = db_checks.evaluate_connections(backends, SETTINGS, 80, 95, 3600, None, 600)
    assert checks(alerts) == expected
    assert metrics['total'] == count and metrics['used_pct'] == float(count)


def test_oldest_transaction_ignores_own_session_and_names_the_pid():
    backends = [backend(1, 'active', xact_age=99999, own=True), backend(2, 'active', xact_age=10),
                backend(3, 'idle in transaction', xact_age=4000, state_age=3990)]
    alerts, metrics = db_checks.evaluate_connections(backends, SETTINGS, 80, 95, 3600, 7200, 600)
    age = [a for a in alerts if a['check'] == 'transaction_age'][0]
    assert age['level'] == 'warning' and age['value'] == 4000 and age['subject'] == '3'
    assert 'pg_terminate_backend(3)' in age['remediation']
    idle = [a for a in alerts if a['check'] == 'idle_in_transaction'][0]
    assert idle['value'] == 1 and idle['threshold'] == 600
    assert metrics['oldest_transaction_pid'] == 3 and metrics['idle_in_transaction'] == 1
    alerts, dummy = db_checks.evaluate_connections(backends, SETTINGS, 80, 95, 3600, 3999, 600)
    assert ('transaction_age', 'critical') in checks(alerts)


def test_idle_in_transaction_below_threshold_is_quiet():
    backends = [backend(3, 'idle in transaction', xact_age=100, state_age=100)]
    alerts, metrics = db_checks.evaluate_connections(backends, SETTINGS, 80, 95, 3600, None, 600)
    assert alerts == [] and metrics['idle_in_transaction'] == 1


def test_growth_needs_an_old_enough_sample_and_warns_per_day():
    now = 1000000.0
    sizes = [{'database': 'app', 'bytes': 1100}]
    # only a sample from 10 minutes ago: no growth figure, no alert
    alerts, metrics, history = db_checks.evaluate_sizes(sizes, {'app': [[now - 600, 1000]]}, now, 10, None)
    assert alerts == [] and metrics['app']['growth_pct_per_day'] is None
    assert history['app'][-1] == [int(now), 1100] and len(history['app']) == 2
    # 10 % in half a day = 20 %/day
    alerts, metrics, dummy = db_checks.evaluate_sizes(sizes, {'app': [[now - 43200, 1000], [now - 600, 1090]]},
                                                      now, 10, None)
    assert metrics['app']['growth_pct_per_day'] == 20.0 and metrics['app']['growth_bytes_per_day'] == 200
    assert checks(alerts) == [('database_growth', 'warning')] and alerts[0]['threshold'] == 10
    # under the rate: quiet; bytes rule can still fire
    alerts, dummy, dummy = db_checks.evaluate_sizes(sizes, {'app': [[now - 86400, 1000]]}, now, 50, None)
    assert alerts == []
    alerts, dummy, dummy = db_checks.evaluate_sizes(sizes, {'app': [[now - 86400, 1000]]}, now, 50, 99)
    assert alerts[0]['value'] == 100 and alerts[0]['threshold'] == 99


def test_growth_history_is_bounded_and_tolerates_garbage():
    now = 10 ** 7
    past = [[now - 7200 * i, 1000] for i in range(1, 60)] + [['x', 'y'], 'junk']
    alerts, metrics, history = db_checks.evaluate_sizes([{'database': 'app', 'bytes': 1000}], {'app': past}, now, 10, None)
    assert len(history['app']) == db_checks.SIZE_HISTORY and history['app'][-1][0] == now
    assert metrics['app']['growth_pct_per_day'] == 0.0


@pytest.mark.parametrize('reloptions,reltuples,expected', [
    (None, 1000, (250, True)),
    (None, -1, (50, True)),  # never analyzed (PG14+): counts as 0 rows
    (['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_threshold=10'], 100000, (1010, True)),
    (['autovacuum_enabled=off'], 1000, (250, False)),
    (['autovacuum_enabled=false', 'fillfactor=80'], 0, (50, False)),
])
def test_autovacuum_trigger_honours_table_settings(reloptions, reltuples, expected):
    assert db_checks.autovacuum_trigger(table('t', reltuples=reltuples, reloptions=reloptions), SETTINGS) == expected


def test_autovacuum_off_server_wide():
    assert db_checks.autovacuum_trigger(table('t'), dict(SETTINGS, autovacuum=False))[1] is False


def test_dead_rows_worst_first_and_over_trigger_information():
    tables = [table('a', dead=100000), table('b', dead=250000, reloptions=['autovacuum_enabled=off']),
              table('c', dead=150001), table('d', dead=300), table('e', dead=10), table('p', kind='p')]
    alerts, metrics = db_checks.evaluate_dead_rows(tables, SETTINGS, 100000, top=3)
    assert [a['subject'] for a in alerts] == ['public.b', 'public.c']  # 100000 is not > 100000
    assert 'autovacuum OFF' in alerts[0]['message'] and 'autovacuum starts at' in alerts[1]['message']
    assert [t['table'] for t in metrics['worst_dead_rows']] == ['public.b', 'public.c', 'public.a']
    assert metrics['over_autovacuum_trigger_count'] == 4  # d: 300 > 250; e: 10 < 250
    assert metrics['dead_rows_total'] == 500311


def test_primary_keys_lists_tables_and_ignores_partitions():
    tables = [table('ok'), table('z_log', has_pk=False), table('a_log', has_pk=False),
              table('part_1', has_pk=True, kind='partition')]
    alerts, metrics = db_checks.evaluate_primary_keys(tables)
    assert metrics['without_primary_key'] == ['public.a_log', 'public.z_log']
    assert alerts[0]['value'] == 2 and 'public.a_log, public.z_log' in alerts[0]['message']
    assert db_checks.evaluate_primary_keys([table('ok')]) == ([], {'without_primary_key': []})


@pytest.mark.parametrize('age,level', [(1000000000, None), (1000000001, 'warning'), (1500000001, 'critical')])
def test_wraparound(age, level):
    alerts, metrics = db_checks.evaluate_wraparound([{'database': 'app', 'xid_age': age}], 1000000000, 1500000000)
    assert [a['level'] for a in alerts] == ([level] if level else [])
    assert metrics['max_xid_age'] == age


def test_migrations():
    assert checks(db_checks.evaluate_migrations('public.m', None, None)[0]) == [('migrations', 'critical')]
    assert db_checks.evaluate_migrations('public.m', 5, None)[0] == []
    assert db_checks.evaluate_migrations('public.m', 5, 5)[0] == []
    assert checks(db_checks.evaluate_migrations('public.m', 4, 5)[0]) == [('migrations', 'critical')]
    assert checks(db_checks.evaluate_migrations('public.m', 6, 5)[0]) == [('migrations', 'warning')]


def test_expected_tables():
    alerts, metrics = db_checks.evaluate_expected_tables(
        [('public', 'epochs'), ('public', 'channels'), ('audit', 'proofs')], {('public', 'channels')})
    assert metrics['missing'] == ['public.epochs', 'audit.proofs'] and alerts[0]['level'] == 'critical'
    assert db_checks.evaluate_expected_tables([('public', 'a')], {('public', 'a')})[0] == []


def test_latency_uses_the_median():
    alerts, metrics = db_checks.evaluate_latency([1, 200, 2, 3, 300], 50)
    assert alerts == [] and metrics['median_ms'] == 3
    alerts, metrics = db_checks.evaluate_latency([60, 70, 1, 80], 50, 75)
    assert metrics['median_ms'] == 65 and checks(alerts) == [('latency', 'warning')]


def test_human_units():
    assert human_bytes(512) == '512 B' and human_bytes(1536) == '1.5 kB'
    assert human_seconds(90) == '90s' and human_seconds(5400) == '90min'


def test_table_metrics_take_the_servers_totals_and_order_equal_sizes_by_name():
    """collect_tables(top=...) sends only the tables a run reports on, with the totals of all of them."""
    tables = [dict(table('b_%d' % n, dead=10 * n, size=8192), total=5000, dead_total=123456) for n in range(3)]
    tables.append(dict(table('a_big', size=8192), total=5000, dead_total=123456))
    metrics = db_checks.table_metrics(tables, SETTINGS, top=2)
    assert metrics['count'] == 5000 and metrics['dead_rows_total'] == 123456
    assert [t['table'] for t in metrics['largest']] == ['public.a_big', 'public.b_0']
    assert [t['table'] for t in metrics['worst_dead_rows']] == ['public.b_2', 'public.b_1']


def test_durations_switch_unit_where_a_person_would():
    assert [human_seconds(s) for s in (0, 119, 120, 7199, 7200, 2 * 86400 - 1, 2 * 86400, None)] == \
        ['0s', '119s', '2min', '119min', '2.0h', '48.0h', '2.0d', '0s']
