"""Run sequences that once told a person something false or nothing at all (the alert lifecycle audit).

Each test drives the real report stage (report/sinks.py) or the pure transition (report/alerting.py)
run after run, with a real state file where the sequence crosses runs.
"""
import json
import socket

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.report import sinks
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import WARNING, classify, make_alert
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import failure_result

HOUR = 3600.0
T0 = 1780000000.0


@pytest.fixture(autouse=True)
def no_silences(tmp_path, monkeypatch):
    monkeypatch.setenv('TWZRD_SILENCES_FILE', str(tmp_path / 'no-silences.json'))


def disk(value=91):
    return make_alert('disk', WARNING, value, 90, 'disk / is %s%% full' % value, 'free space on /', subject='/')


def cron_run(tmp_path, alerts, started, accept=()):
    params = {'state_file': str(tmp_path / 'state.json'), 'log_file': None, 'notify': None, 'ping_url': None,
              'textfile_dir': None, 'accept': list(accept), 'report_dir': None, 'report_keep': 12,
              'on_demand': False, 'notify_on_demand': False}
    run = sinks.Run('alerts', 'twzrd_health', params, {'alerts': list(alerts), 'metrics': {}, 'changed': False},
                    started=started, host='web1')
    sinks.report(run)
    return [(e['event'], e.get('check')) for e in run.events], run


def test_accepting_an_open_alert_resolves_nothing_and_removing_the_entry_tells_it_again(tmp_path):
    # The disk warning is told; a person then accepts it. The disk is as full as ever: "RESOLVED" would be false.
    accept = [{'check': 'disk', 'subject': '/', 'until': None, 'reason': 'resize on Monday'}]
    assert cron_run(tmp_path, [disk()], T0)[0] == [('firing', 'disk')]
    events, run = cron_run(tmp_path, [disk()], T0 + HOUR, accept=accept)
    assert events == [] and run.message is None and 'message' not in run.result
    assert [a['check'] for a in run.result['accepted']] == ['disk']
    assert cron_run(tmp_path, [disk()], T0 + 2 * HOUR, accept=accept)[0] == []
    # The entry removed (or expired) while the disk is still full: told again, as new.
    assert cron_run(tmp_path, [disk()], T0 + 3 * HOUR)[0] == [('firing', 'disk')]


def test_an_accepted_alert_that_ends_while_accepted_is_not_resolved_later(tmp_path):
    accept = [{'check': 'disk', 'subject': '/', 'until': None, 'reason': 'resize on Monday'}]
    cron_run(tmp_path, [disk()], T0)
    cron_run(tmp_path, [disk()], T0 + HOUR, accept=accept)
    assert cron_run(tmp_path, [], T0 + 2 * HOUR, accept=accept)[0] == []
    assert cron_run(tmp_path, [], T0 + 3 * HOUR)[0] == []


def swap(value):
    level, threshold = classify(value, 20.0, 80.0)
    return [make_alert('swap', level, value, threshold, 'swap %s%%' % value, 'free memory')] if level != 'ok' else []


def test_a_critical_held_near_its_threshold_is_still_reminded_after_repeat_hours():
    # Told critical at 85 %, then 79 % for days: still a warning, held at the told critical level (within the
    # 10 % margin of 80). It is still firing, so the policy's reminder is due every repeat_hours.
    policy, state, told = alerting.Policy(repeat_hours=24), {}, []
    for hour, value in enumerate([85] + [79] * 60):
        state, events, dummy = alerting.transition(state, swap(value), hour * HOUR, policy,
                                                   readings={'swap': {'value': value, 'warning': 20.0,
                                                                      'critical': 80.0}})
        told.append([(e['event'], e.get('level')) for e in events])
    assert told[0] == [('firing', 'critical')]
    assert [hour for hour, events in enumerate(told) if events] == [0, 24, 48]
    assert told[24] == told[48] == [('reminder', 'warning')]
    assert state['swap']['told_level'] == 'critical'  # still held: no de-escalation told by a reminder


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def db_run(tmp_path, job, scope, alerts, metrics, started, accept=(), runs=None):
    """What twzrd_db_health does with a run's findings: the result (db_result) through the report stage."""
    params = {'state_file': str(tmp_path / 'state.json'), 'log_file': None, 'notify': None, 'ping_url': None,
              'textfile_dir': None, 'accept': list(accept), 'report_dir': None, 'report_keep': 12,
              'on_demand': False, 'notify_on_demand': False}
    metrics = dict(metrics)
    readings = metrics.pop('readings', {})
    result = {'alerts': list(alerts), 'metrics': metrics, 'changed': False, 'unchecked': metrics.pop('unchecked', [])}
    run = sinks.Run(job, 'twzrd_db_health', params, result, instance='app', started=started, host='db1',
                    readings=readings, out_of_scope=db_health.out_of_scope(scope))
    sinks.report(run)
    if runs is not None:
        runs.append(run)
    return [(e['event'], e.get('check')) for e in run.events]


def server_down(scope):
    """A real run_db_health against a port nobody listens on: the connection alert and what it could not look at."""
    params = {'login_host': '127.0.0.1', 'login_port': closed_port(), 'login_user': 'twzrd', 'login_db': 'app',
              'login_password': None, 'statement_timeout': 5.0, 'ssl_mode': 'disable'}
    alerts, metrics, history = db_health.run_db_health(params, {}, now=T0, scope=scope)
    assert [a['check'] for a in alerts] == ['connection'] and history is None
    return alerts, metrics


@pytest.mark.parametrize('job, scope, collection', [('db_health', 'all', 'tables'),
                                                    ('db_alerts', 'acute', 'activity')])
def test_a_failed_query_told_is_not_resolved_by_a_run_that_cannot_connect(tmp_path, job, scope, collection):
    # Run 1: one query fails (a statement timeout): "check tables could not run" is told (what attempt() records).
    failed = [db_checks.check_error(collection, 'canceling statement due to statement timeout')]
    unchecked = {'unchecked': db_health.unchecked_checks([collection], scope)}
    assert db_run(tmp_path, job, scope, failed, unchecked, T0) == [('firing', collection)]
    # Run 2: the server is down. Only the connection is news: the query did not run again, it is not "resolved".
    alerts, metrics = server_down(scope)
    assert db_run(tmp_path, job, scope, alerts, metrics, T0 + HOUR) == [('firing', 'connection')]
    # Run 3: the server is back and the query still fails: nothing new about it (it was never resolved).
    assert db_run(tmp_path, job, scope, failed, unchecked, T0 + 2 * HOUR) == [('resolved', 'connection')]


def write_silences(tmp_path, monkeypatch, *entries):
    path = tmp_path / 'silences.json'
    path.write_text(json.dumps({'silences': list(entries)}))
    path.chmod(0o644)  # root-owned (the tests run as root), like twzrd-run --silence writes it
    monkeypatch.setenv('TWZRD_SILENCES_FILE', str(path))


def dead_rows():
    return make_alert('dead_rows', WARNING, 200000, 100000, 'public.events has 200000 dead rows', 'vacuum it',
                      subject='public.events')


def test_a_silence_that_ends_is_told_by_the_job_that_looks_at_the_check_not_by_the_hourly_one(tmp_path, monkeypatch):
    write_silences(tmp_path, monkeypatch, {'id': 's1', 'check': 'dead_rows', 'subject': None, 'until': T0 + 2 * HOUR,
                                           'reason': 'vacuum booked for Sunday', 'by': 'alice'})
    # The daily db_health run: dead rows, silenced.
    assert db_run(tmp_path, 'db_health', 'all', [dead_rows()], {}, T0) == []
    # The silence has ended; the hourly db_alerts job never looks at dead_rows: it has nothing to say about it
    # ("the silence ended: it is not raised now" would be false).
    assert db_run(tmp_path, 'db_alerts', 'acute', [], {}, T0 + 3 * HOUR) == []
    # The next daily run looks, and the dead rows are still there: the silence ended, the alert is told.
    assert db_run(tmp_path, 'db_health', 'all', [dead_rows()], {}, T0 + 24 * HOUR) == [
        ('silence_expired', 'dead_rows'), ('firing', 'dead_rows')]


def test_a_silence_that_ends_during_a_failed_run_is_told_by_the_next_run_that_looks(tmp_path, monkeypatch):
    write_silences(tmp_path, monkeypatch, {'id': 's1', 'check': 'disk', 'subject': '/', 'until': T0 + 2 * HOUR,
                                           'reason': 'volume resize booked', 'by': 'alice'})
    assert cron_run(tmp_path, [disk()], T0)[0] == []
    params = {'state_file': str(tmp_path / 'state.json'), 'log_file': None, 'notify': None, 'ping_url': None,
              'textfile_dir': None, 'accept': [], 'report_dir': None, 'report_keep': 12, 'on_demand': False,
              'notify_on_demand': False}
    failed = sinks.Run('alerts', 'twzrd_health', params, failure_result('alerts', 'PM2 could not be read'),
                       started=T0 + 3 * HOUR, host='web1', failed=True)
    sinks.report(failed)
    assert [(e['event'], e.get('check')) for e in failed.events] == [('firing', 'job_failed')]
    assert cron_run(tmp_path, [disk()], T0 + 4 * HOUR)[0] == [
        ('silence_expired', 'disk'), ('firing', 'disk'), ('resolved', 'job_failed')]


def test_reminders_resume_after_the_clock_is_set_back():
    # The clock ran a year ahead when the alert was told (a bad RTC, fixed by NTP an hour later): the reminder
    # is due repeat_hours after the clock is right again, not a year later.
    policy, state, told = alerting.Policy(repeat_hours=24), {}, []
    year = 365 * 24 * HOUR
    times = [T0 + year] + [T0 + hour * HOUR for hour in range(1, 60)]
    for now in times:
        state, events, dummy = alerting.transition(state, swap(30), now, policy, readings={'swap': 30})
        told.append([e['event'] for e in events])
    assert told[0] == ['firing']
    assert [index for index, events in enumerate(told) if events == ['reminder']] == [25, 49]


def test_an_expired_accept_entry_of_a_daily_check_is_warned_once_though_the_hourly_job_runs_between(tmp_path):
    # twzrd_accept is shared: both database jobs have the entry, which expired yesterday.
    accept = [{'check': 'dead_rows', 'subject': None, 'until': '2026-05-01', 'reason': 'append-only table'}]
    runs = []
    db_run(tmp_path, 'db_health', 'all', [dead_rows()], {}, T0, accept=accept, runs=runs)
    assert [w for w in runs[-1].warnings if 'expired' in w]  # told once, by the first run that finds it
    for hour in range(1, 24):  # the hourly job never looks at dead_rows: it neither warns nor forgets the warning
        db_run(tmp_path, 'db_alerts', 'acute', [], {}, T0 + hour * HOUR, accept=accept, runs=runs)
        assert not [w for w in runs[-1].warnings if 'expired' in w]
    db_run(tmp_path, 'db_health', 'all', [dead_rows()], {}, T0 + 24 * HOUR, accept=accept, runs=runs)
    assert not [w for w in runs[-1].warnings if 'expired' in w], runs[-1].warnings
