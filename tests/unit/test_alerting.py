"""Alert lifecycle (report/alerting.py): what a person is told, run after run. Pure functions, no clock."""
from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import classify, make_alert

HOUR = 3600


def swap_alerts(value, warning=20.0, critical=80.0):
    level, threshold = classify(value, warning, critical)
    if level == 'ok':
        return []
    return [make_alert('swap', level, value, threshold, 'swap %s%%' % value, 'free memory')]


def run_series(values, policy=None, start=0, step=HOUR):
    """Feed one value per hourly run; return the events of each run."""
    policy = policy or alerting.Policy()
    state, told = {}, []
    for index, value in enumerate(values):
        now = start + index * step
        state, events, dummy = alerting.transition(state, swap_alerts(value), now, policy,
                                                   readings={'swap': value})
        told.append([(e['event'], e.get('level')) for e in events])
    return told


def test_persistent_warning_is_told_once_then_escalation_then_resolved():
    told = run_series([25, 26, 27, 85, 86, 30, 10, 10])
    assert told[0] == [('firing', 'warning')]
    assert told[1] == told[2] == []
    assert told[3] == [('escalated', 'critical')]
    assert told[4] == []
    assert told[5] == [('deescalated', 'warning')]
    assert told[6] == [('resolved', 'warning')]
    assert told[7] == []
    assert sum(len(t) for t in told) == 4


def test_flapping_around_the_threshold_is_told_at_most_twice_in_24_runs():
    # 19.5 / 21 / 19 / 22 ...: never 10 % below the 20 % threshold, so never "resolved".
    values = [21 if i % 2 else 19 + (i % 3) * 0.3 for i in range(24)]
    told = run_series(values)
    messages = [t for t in told if t]
    assert len(messages) <= 2
    assert messages[0] == [('firing', 'warning')]


def test_hysteresis_margin_is_settable_and_zero_means_none():
    told = run_series([21, 19, 21, 19], policy=alerting.Policy(hysteresis_pct=0))
    assert [t[0][0] for t in told] == ['firing', 'resolved', 'firing', 'resolved']
    held = run_series([21, 19, 17.9], policy=alerting.Policy(hysteresis_pct=10))
    assert held == [[('firing', 'warning')], [], [('resolved', 'warning')]]


def test_critical_held_while_value_stays_near_the_critical_threshold():
    told = run_series([85, 79, 85, 71])  # held down to 72 (80 - 10 %)
    assert told == [[('firing', 'critical')], [], [], [('deescalated', 'warning')]]


def test_reminder_after_repeat_hours_and_never_with_zero():
    told = run_series([25] * 50)
    reminders = [i for i, t in enumerate(told) if t == [('reminder', 'warning')]]
    assert reminders == [24, 48]
    assert run_series([25] * 50, policy=alerting.Policy(repeat_hours=0))[1:] == [[]] * 49


def test_a_week_of_one_persistent_warning():
    told = run_series([25] * (7 * 24) + [5])
    kinds = [e for t in told for e in t]
    assert kinds == [('firing', 'warning')] + [('reminder', 'warning')] * 6 + [('resolved', 'warning')]


def test_min_level_critical_ignores_warnings_and_treats_the_drop_as_resolved():
    policy = alerting.Policy(min_level='critical')
    told = run_series([25, 85, 30, 30], policy=policy)
    assert told == [[], [('firing', 'critical')], [('resolved', 'critical')], []]


def test_no_recovery_messages_when_disabled():
    told = run_series([25, 5], policy=alerting.Policy(recovery=False))
    assert told == [[('firing', 'warning')], []]


def test_since_and_new_follow_the_actual_level():
    state, dummy, dummy2 = alerting.transition({}, swap_alerts(25), 1000, alerting.Policy())
    alerts = swap_alerts(26)
    state, dummy, recovered = alerting.transition(state, alerts, 4600, alerting.Policy())
    assert alerts[0]['since'] == 1000 and alerts[0]['new'] is False and recovered == []
    state, dummy, recovered = alerting.transition(state, [], 8200, alerting.Policy(), readings={'swap': 1})
    assert recovered == ['swap']


def test_failed_run_keeps_other_alerts_and_tells_the_failure_once():
    policy = alerting.Policy()
    state, events, dummy = alerting.transition({}, swap_alerts(25), 0, policy)
    failure = [alerting.failure_alert('db_health', 'connection refused', 'start PostgreSQL')]
    state, events, dummy = alerting.transition(state, list(failure), HOUR, policy, failed=True)
    assert [(e['event'], e['check']) for e in events] == [('firing', 'job_failed')]
    assert 'swap' in state  # a failed run knows nothing about swap: nothing resolved
    state, events, dummy = alerting.transition(state, [dict(failure[0])], 2 * HOUR, policy, failed=True)
    assert events == []
    state, events, dummy = alerting.transition(state, swap_alerts(25), 3 * HOUR, policy, readings={'swap': 25})
    assert [(e['event'], e['check']) for e in events] == [('resolved', 'job_failed')]


def test_alert_below_its_threshold_direction_recovers_above_the_margin():
    """Forecast-style alerts (days left < threshold) recover only clearly above it."""
    policy = alerting.Policy()

    def days_left(value):
        return [make_alert('disk_forecast', 'warning', value, 14, '%s days left' % value, 'grow it')]
    state, events, dummy = alerting.transition({}, days_left(10), 0, policy)
    assert events[0]['event'] == 'firing'
    state, events, dummy = alerting.transition(state, [], HOUR, policy, readings={'disk_forecast': 15})
    assert events == []  # 15 < 14 + 1.4: held
    state, events, dummy = alerting.transition(state, [], 2 * HOUR, policy, readings={'disk_forecast': 16})
    assert [e['event'] for e in events] == ['resolved']


def test_corrupt_previous_entries_are_ignored():
    state, events, dummy = alerting.transition({'swap': 'x', 'load': None}, swap_alerts(25), 0, alerting.Policy())
    assert [e['event'] for e in events] == ['firing'] and set(state) == {'swap'}


def test_acceptance_with_expiry():
    table = make_alert('primary_keys', 'warning', 1, 0, '1 table without a primary key', 'add one',
                       subject='public.log')
    disk = make_alert('disk', 'warning', 90, 85, 'disk / 90%', 'clean', subject='/')
    accept = [{'check': 'primary_keys', 'subject': 'public.log', 'until': '2026-12-31', 'reason': 'append-only'}]
    raised, accepted, notes = alerting.apply_acceptance([table, disk], accept, now=1790000000)
    assert raised == [disk] and accepted[0]['accepted_reason'] == 'append-only' and notes == []
    later = alerting.parse_until('2027-01-01')
    raised, accepted, notes = alerting.apply_acceptance([table, disk], accept, now=later)
    assert raised == [table, disk] and accepted == []
    assert 'expired on 2026-12-31' in notes[0]


def test_acceptance_errors_name_the_entry():
    errors = alerting.acceptance_errors([{'check': 'disk', 'reason': ''},
                                         {'check': 'x', 'reason': 'y', 'until': 'next week'}])
    assert errors == ['accept[0].reason is required: say why this condition is accepted',
                      "accept[1].until must be a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDTHH:MM), got 'next week'"]


def test_parse_until():
    assert alerting.parse_until('1970-01-01') == 86400
    assert alerting.parse_until('1970-01-01T01:00') == 3600
    assert alerting.parse_until('soon') is None


def test_a_raised_threshold_resolves_at_once():
    """Hysteresis uses the thresholds configured now, not those of the old alert."""
    told = {'level': 'critical', 'value': 23.3, 'threshold': 20.8}
    assert alerting.held(told, {'value': 23.3, 'warning': 18.0, 'critical': 20.8}, 10)
    assert not alerting.held(told, {'value': 23.3, 'warning': 43.3, 'critical': 99.5}, 10)
    assert not alerting.held(told, {'value': 23.3, 'warning': 43.3, 'critical': None}, 10)
