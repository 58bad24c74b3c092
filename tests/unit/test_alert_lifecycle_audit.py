"""Run sequences that once told a person something false or nothing at all (the alert lifecycle audit).

Each test drives the real report stage (report/sinks.py) or the pure transition (report/alerting.py)
run after run, with a real state file where the sequence crosses runs.
"""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.report import sinks
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import WARNING, classify, make_alert

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
