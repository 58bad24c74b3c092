"""long_queries and blocking (checks/postgres.py) over recorded collect_activity rows: levels, messages, remediation,
what a role that cannot see every session reports."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as entries
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate

PARAMS = {'long_query_warning': 300.0, 'long_query_critical': 1800.0, 'lock_wait_warning': 60.0,
          'lock_wait_critical': 300.0}


def row(pid, query_age=None, state='active', lock_wait=None, blockers=None, user='app', app='api',
        query='SELECT * FROM t WHERE id = ?', backend_type='client backend', from_locks=True):
    return {'pid': pid, 'user': user, 'application_name': app, 'database': 'appdb', 'state': state,
            'backend_type': backend_type, 'wait_event_type': 'Lock' if blockers is not None else None,
            'query_age': query_age, 'lock_wait': lock_wait, 'wait_from_locks': from_locks,
            'blockers': blockers, 'query': query}


def alerts(rows, **params):
    """The alerts of ``rows`` as the run (runs/db_health.py) makes them: the two entries over activity_facts."""
    found, dummy = evaluate.evaluate_checks([entries.LONG_QUERIES, entries.BLOCKING], evaluate.activity_facts(rows),
                                            dict(PARAMS, **params))
    return found


@pytest.mark.parametrize('age, level', [(299.0, None), (300.0, None), (301.0, 'warning'), (1800.0, 'warning'),
                                        (1801.0, 'critical')])
def test_long_query_levels(age, level):
    found = alerts([row(4242, query_age=age)])
    assert [a['level'] for a in found] == ([level] if level else [])


def test_long_query_alert_names_pid_user_app_database_duration_and_the_masked_query():
    found = alerts([row(4242, query_age=2400.0, user='reporting', app='metabase',
                        query="SELECT * FROM cards WHERE number = ?")])
    alert = found[0]
    assert alert['check'] == 'long_queries' and alert['subject'] == '4242' and alert['level'] == 'critical'
    assert alert['value'] == 2400.0 and alert['threshold'] == 1800.0
    message = alert['message']
    assert message.startswith('query of pid 4242 running for 40min, above the critical threshold of 30min')
    assert "user reporting, app 'metabase', database appdb" in message
    assert message.endswith(': SELECT * FROM cards WHERE number = ?')
    remediation = alert['remediation']
    assert remediation.index('pg_cancel_backend(4242)') < remediation.index('pg_terminate_backend(4242)')
    assert "ALTER ROLE reporting SET statement_timeout" in remediation
    assert remediation.endswith('(docs/runbooks.md#a-query-runs-for-too-long)')


def test_only_active_client_queries_count_worst_first():
    rows = [row(1, query_age=400.0), row(2, query_age=5000.0), row(3, query_age=9000.0, state='idle in transaction'),
            row(4, query_age=9000.0, backend_type='autovacuum worker'), row(5, query_age=None)]
    found = alerts(rows)
    assert [(a['subject'], a['level']) for a in found] == [('2', 'critical'), ('1', 'warning')]


def test_a_query_waiting_for_a_lock_says_so():
    found = alerts([row(7, query_age=400.0, lock_wait=10.0, blockers=[8]), row(8, state='idle in transaction')])
    assert [a['check'] for a in found] == ['long_queries']
    assert 'waiting for a lock' in found[0]['message']


def test_blocking_names_the_blocker_and_what_the_waiter_runs():
    rows = [row(100, query_age=130.0, lock_wait=125.0, blockers=[200], query='UPDATE t SET v = ? WHERE id = ?'),
            row(200, state='idle in transaction', user='admin', app='psql', query='LOCK TABLE t')]
    found = alerts(rows)
    assert len(found) == 1
    alert = found[0]
    assert alert['check'] == 'blocking' and alert['subject'] == '100' and alert['level'] == 'warning'
    assert alert['value'] == 125.0 and alert['threshold'] == 60.0
    message = alert['message']
    assert message.startswith('pid 100 has waited 2min for a lock, above the warning threshold of 60s')
    assert "blocked by pid 200 (user admin, app 'psql', idle in transaction, last query: LOCK TABLE t)" in message
    assert message.endswith('it runs: UPDATE t SET v = ? WHERE id = ?')
    remediation = alert['remediation']
    # the blocker is ended, never the waiter
    assert 'pg_cancel_backend(200)' in remediation and 'pg_terminate_backend(200)' in remediation
    assert 'pg_cancel_backend(100)' not in remediation and 'pg_terminate_backend(100)' not in remediation
    assert 'lock_timeout' in remediation
    assert remediation.endswith('(docs/runbooks.md#a-session-waits-for-a-lock)')


@pytest.mark.parametrize('wait, level', [(60.0, None), (61.0, 'warning'), (300.0, 'warning'), (301.0, 'critical')])
def test_blocking_levels(wait, level):
    found = [a for a in alerts([row(1, query_age=wait, lock_wait=wait, blockers=[2]), row(2, state='active')],
                               long_query_warning=None, long_query_critical=None)
             if a['check'] == 'blocking']
    assert [a['level'] for a in found] == ([level] if level else [])


def test_lock_wait_critical_can_be_unset():
    found = alerts([row(1, query_age=10.0, lock_wait=5000.0, blockers=[2]), row(2)], lock_wait_critical=None)
    assert [(a['check'], a['level']) for a in found] == [('blocking', 'warning')]


def test_several_blockers_a_prepared_transaction_and_one_it_cannot_see():
    rows = [row(1, query_age=100.0, lock_wait=90.0, blockers=[0, 2, 3, 9]),
            row(2, state='active', query='ALTER TABLE t ADD c int', app='migrate'),
            dict(row(3, user='other'), state=None, query='<insufficient privilege>', application_name=None)]
    message = alerts(rows)[0]['message']
    assert 'blocked by a prepared transaction (pg_prepared_xacts); ' in message
    assert "pid 2 (user app, app 'migrate', active, running: ALTER TABLE t ADD c int)" in message
    assert 'pid 3 (user other, not visible to this role)' in message
    assert '+1 more' in message and 'insufficient' not in message
    remediation = alerts(rows)[0]['remediation']
    assert 'pg_terminate_backend(2)' in remediation and 'ROLLBACK PREPARED' in remediation


def test_nothing_long_is_quiet_and_metrics_say_zero():
    rows = [row(1, query_age=0.2)]
    assert alerts(rows) == []
    metrics = evaluate.activity_metrics(rows, {'all_sessions': True, 'hidden_sessions': 0})
    assert metrics == {'active': 1, 'longest_query_s': 0.2, 'longest_query_pid': 1, 'waiting_on_lock': 0,
                       'longest_lock_wait_s': 0.0, 'longest_lock_wait_pid': None}


def test_metrics_name_the_longest_query_and_wait():
    rows = [row(1, query_age=400.0), row(2, query_age=90.0, lock_wait=80.0, blockers=[1])]
    metrics = evaluate.activity_metrics(rows)
    assert metrics['longest_query_s'] == 400.0 and metrics['longest_query_pid'] == 1
    assert metrics['longest_lock_wait_s'] == 80.0 and metrics['longest_lock_wait_pid'] == 2
    assert metrics['active'] == 2 and metrics['waiting_on_lock'] == 1


def test_a_role_that_cannot_see_every_session_never_claims_there_is_nothing():
    rows = [row(1, query_age=0.1)]
    metrics = evaluate.activity_metrics(rows, {'all_sessions': False, 'hidden_sessions': 3})
    assert metrics['longest_query_s'] is None and metrics['longest_lock_wait_s'] is None
    assert metrics['active'] is None and metrics['not_visible'] == 3
    # what it does see still alerts
    assert alerts([row(1, query_age=400.0)])[0]['check'] == 'long_queries'
    # and the pg_monitor warning names these checks among the blind ones
    warning = evaluate.evaluate_visibility({'role': 'app', 'superuser': False, 'pg_monitor': False},
                                           [{'pid': 9, 'own': False, 'state': None}])[0][0]
    assert 'long-query and blocking checks cannot see the other 1 session(s)' in warning['message']
    assert '`long_queries` and `blocking`' in entries.PG_MONITOR.doc


def test_the_facts_keep_the_masked_text_only_and_no_reading():
    facts = evaluate.activity_facts([row(1, query_age=400.0)])
    assert facts['long_queries']['1']['query'] == 'SELECT * FROM t WHERE id = ?'
    dummy, readings = evaluate.evaluate_checks([entries.LONG_QUERIES, entries.BLOCKING], facts, PARAMS)
    assert readings == {}  # a pid is not a subject to follow from run to run


def test_a_wait_measured_from_the_statement_start_says_it_is_an_upper_bound():
    """Before PostgreSQL 14 (no pg_locks.waitstart), or in the moment before waitstart is set."""
    rows = [row(1, query_age=100.0, lock_wait=100.0, blockers=[2], from_locks=False), row(2)]
    assert 'waited 100s for a lock (at most: since its statement started), above' in alerts(rows)[0]['message']
    rows = [row(1, query_age=100.0, lock_wait=90.0, blockers=[2]), row(2)]
    assert 'waited 90s for a lock, above' in alerts(rows)[0]['message']
