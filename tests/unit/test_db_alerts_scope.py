"""The hourly db_alerts job's scope (runs/db_health.py) and its share of db_health's alert history
(report/alerting.py, core/jobs.py). Pure functions; the real runs are tests/integration/test_db_alerts_job.py."""
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_entries
from ansible_collections.twzrd.ops.plugins.module_utils.core import jobs
from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health

# what the issue asks for within the hour, and what comes free with the same queries
ACUTE = {'connections', 'transaction_age', 'idle_in_transaction', 'pg_monitor', 'long_queries', 'blocking',
         'sequences', 'wraparound', 'archiving', 'replication'}


def test_the_acute_scope_looks_at_the_acute_checks_and_leaves_every_other_one_alone():
    looked_at = set(db_health.acute_checks())
    assert looked_at == ACUTE
    out = set(db_health.out_of_scope('acute'))
    assert not out & looked_at
    # every check the daily run can raise (and each collection a failed query names) is one or the other
    daily = set(db_health.unchecked_checks(['settings'])) | set(db_health.CHECKS_OF) - {'settings'}
    assert daily - {'visibility', 'connections', 'activity', 'sequences', 'wraparound', 'archiving',
                    'replication'} - ACUTE == out
    assert {'dead_rows', 'database_growth', 'db_size_forecast', 'expected_tables', 'migrations'} <= out
    assert db_health.out_of_scope('all') == []


def test_every_registry_check_is_in_one_scope_or_the_other():
    names = set(entry.name for entry in db_entries.CHECKS)
    assert names <= ACUTE | set(db_health.out_of_scope('acute')) | {'connection'}, names


def test_db_alerts_keeps_its_alerts_in_db_healths_history_with_its_own_failure():
    assert jobs.tracking_job('db_alerts') == 'db_health' and jobs.tracking_job('alerts') == 'alerts'
    assert jobs.JOBS['db_alerts'][:2] == ('twzrd_db_health', jobs.ALERTS_KIND) and 'db_alerts' in jobs.DB_JOBS
    assert alerting.failure_key('db_health') == 'job_failed'  # unchanged: open failures of old states still match
    assert alerting.failure_key('db_alerts') == 'job_failed:db_alerts'
    assert alerting.failure_key('vacuum') == 'job_failed'


def _history(*alerts):
    entries, dummy, dummy = alerting.transition({}, list(alerts), 0, alerting.Policy())
    return entries


def test_a_run_judges_only_its_own_jobs_failure():
    policy = alerting.Policy()
    daily_failed = alerting.failure_alert('db_health', 'killed', None)
    hourly_failed = alerting.failure_alert('db_alerts', 'killed', None)
    previous = _history(daily_failed, hourly_failed)
    assert set(previous) == {'job_failed', 'job_failed:db_alerts'}

    # a good hourly run resolves its own failure, not the daily job's
    entries, events, recovered = alerting.transition(previous, [], 3600, policy,
                                                     failure_key=alerting.failure_key('db_alerts'))
    assert set(entries) == {'job_failed'} and recovered == ['job_failed:db_alerts']
    assert [(e['event'], e['subject']) for e in events] == [('resolved', 'db_alerts')]

    # a failed daily run keeps the hourly job's failure as it was (told once, not again)
    entries, events, recovered = alerting.transition(previous, [dict(daily_failed)], 3600, policy, failed=True,
                                                     failure_key='job_failed')
    assert entries['job_failed:db_alerts'] == previous['job_failed:db_alerts'] and events == [] and recovered == []


def test_checks_out_of_scope_keep_their_open_alerts():
    dead = {'check': 'dead_rows', 'subject': 'public.t', 'level': 'warning', 'value': 200000, 'threshold': 100000,
            'message': 'dead rows', 'remediation': 'vacuum'}
    previous = _history(dead)
    entries, events, recovered = alerting.transition(previous, [], 3600, alerting.Policy(),
                                                     unchecked=db_health.out_of_scope('acute'))
    assert entries == previous and events == [] and recovered == []
