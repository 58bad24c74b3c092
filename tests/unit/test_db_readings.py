"""twzrd_db_health's threshold checks through the check registry: alerts and readings from one pass (issue 19)."""
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_entries
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate

SETTINGS = {'max_connections': 100, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
            'autovacuum_vacuum_scale_factor': 0.2}


def table(name, dead):
    return {'schema': 'public', 'name': name, 'kind': 'r', 'has_pk': True, 'reltuples': 1000,
            'reloptions': None, 'live_rows': 1000, 'dead_rows': dead, 'bytes': 8192}


def test_a_reading_flag_or_predicate_decides_which_subjects_give_readings(monkeypatch):
    metrics = {'wraparound': {'a': {'xid_age': 5}, 'b': {'xid_age': 7}}}
    params = {'wraparound_warning': 6, 'wraparound_critical': 9}
    alerts, readings = registry.evaluate([db_entries.WRAPAROUND], metrics, params)
    assert [a['subject'] for a in alerts] == ['b'] and sorted(readings) == ['wraparound:a', 'wraparound:b']
    monkeypatch.setattr(db_entries.WRAPAROUND, 'reading', lambda data: data['xid_age'] > 6)
    assert sorted(registry.evaluate([db_entries.WRAPAROUND], metrics, params)[1]) == ['wraparound:b']
    monkeypatch.setattr(db_entries.WRAPAROUND, 'reading', False)
    alerts, readings = registry.evaluate([db_entries.WRAPAROUND], metrics, params)
    assert readings == {} and [a['subject'] for a in alerts] == ['b']  # the alerts do not depend on it


def test_dead_rows_alert_worst_first_and_read_the_listed_tables_only():
    tables = [table('a', 5), table('b', 300000), table('c', 200000), table('d', 0), table('e', 300000)]
    facts = {'dead_rows': evaluate.dead_row_facts(tables, SETTINGS, top=2)}
    alerts, readings = evaluate.evaluate_checks([db_entries.DEAD_ROWS], facts, {'dead_rows_warning': 100000})
    assert [a['subject'] for a in alerts] == ['public.b', 'public.e', 'public.c']
    assert alerts[0]['message'] == ('table public.b has 300000 dead rows, above the warning threshold of 100000 '
                                    '(8.0 kB, 1000 live; autovacuum starts at 250 dead rows)')
    assert alerts[0]['remediation'].startswith('Run the twzrd.ops vacuum playbook (or VACUUM (ANALYZE) public.b)')
    # the result lists the worst two (top_tables): those are the readings, as the report stage knew them
    assert readings == {'dead_rows:public.b': {'value': 300000, 'warning': 100000, 'critical': None},
                        'dead_rows:public.e': {'value': 300000, 'warning': 100000, 'critical': None}}


def test_connections_and_latency_read_the_result_metrics():
    metrics = evaluate.connection_metrics([{'pid': i, 'state': 'idle'} for i in range(90)], SETTINGS)
    alerts, readings = evaluate.evaluate_checks([db_entries.CONNECTIONS], {'connections': metrics},
                                                {'connections_warning_pct': 80.0, 'connections_critical_pct': 95.0})
    assert [(a['level'], a['value'], a['threshold'], a['message']) for a in alerts] == [
        ('warning', 90.0, 80.0, '90 of max_connections 100 in use (90.0% > 80.0%)')]
    assert readings == {'connections': {'value': 90.0, 'warning': 80.0, 'critical': 95.0}}
    latency = evaluate.latency_metrics([40.0, 60.0, 70.0])
    alerts, readings = evaluate.evaluate_checks([db_entries.LATENCY], {'latency': latency},
                                                {'latency_warning_ms': 50.0, 'latency_critical_ms': None})
    assert alerts[0]['message'] == 'trivial query round trip 60.0 ms (median of 3) > 50.0 ms'
    assert readings == {'latency': {'value': 60.0, 'warning': 50.0, 'critical': None}}


def test_the_session_checks_compare_the_oldest_and_longest_and_give_no_reading():
    backends = [{'pid': 7, 'own': False, 'state': 'idle in transaction', 'xact_age': 4000.04, 'state_age': 700.0,
                 'user': 'app', 'application_name': None},
                {'pid': 8, 'own': False, 'state': 'idle in transaction (aborted)', 'xact_age': 900.0,
                 'state_age': 650.0, 'user': 'app', 'application_name': 'api'},
                {'pid': 9, 'own': False, 'state': 'idle in transaction', 'xact_age': 10.0, 'state_age': None,
                 'user': 'app', 'application_name': 'api'}]
    alerts, readings = evaluate.evaluate_checks(
        [db_entries.TRANSACTION_AGE, db_entries.IDLE_IN_TRANSACTION], evaluate.session_facts(backends),
        {'transaction_age_warning': 3600.0, 'transaction_age_critical': None, 'idle_in_transaction_warning': 600.0})
    assert readings == {}  # as before the registry: hysteresis for these keys would change what is told
    age, idle = alerts
    assert (age['level'], age['value'], age['threshold'], age['subject']) == ('warning', 4000.0, 3600.0, '7')
    assert age['message'] == ("oldest transaction open for 66min, above the warning threshold of 60min "
                              "(pid 7, user app, app '', idle in transaction)")
    assert 'pg_terminate_backend(7)' in age['remediation']
    # compared: the longest idle session (700 s); shown: how many are over the threshold
    assert (idle['level'], idle['value'], idle['threshold'], idle.get('subject')) == ('warning', 2, 600.0, None)
    assert idle['message'] == ("2 session(s) idle in transaction longer than 10min; worst pid 7 (user app, app '') "
                               "idle 11min")


def test_dead_rows_remediation_quotes_the_table_as_sql_reads_it():
    # the server's format('%I.%I') when the row has it; recorded rows without it are quoted here
    odd = dict(table('Order Items', 300000), schema='Shop')
    served = dict(table('b', 300000), table_sql='public."B"')
    facts = {'dead_rows': evaluate.dead_row_facts([odd, served], SETTINGS)}
    alerts, dummy = evaluate.evaluate_checks([db_entries.DEAD_ROWS], facts, {'dead_rows_warning': 100000})
    remediation = dict((a['subject'], a['remediation']) for a in alerts)
    assert 'VACUUM (ANALYZE) "Shop"."Order Items")' in remediation['Shop.Order Items']
    assert 'VACUUM (ANALYZE) public."B")' in remediation['public.b']
