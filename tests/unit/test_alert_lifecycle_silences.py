"""Alert lifecycle rules (issue 18 items 1 and 8): what a run that did not look, and a silence, do to the
alert history; the runner's check names and durations."""
import importlib.util
import os

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.checks import host as host_checks
from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health
from ansible_collections.twzrd.ops.plugins.module_utils.state import silences
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import WARNING, make_alert

from test_runbook_links import all_alerts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOUR = 3600.0


def load_runner():
    spec = importlib.util.spec_from_file_location('twzrd_run', os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNNER = load_runner()


def dead_rows(subject='public.events'):
    return make_alert('dead_rows', WARNING, 3000, 1000, 'dead rows', 'vacuum (docs/runbooks.md#a-table-bloats)',
                      subject=subject)


def told_state():
    state, events, dummy = alerting.transition({}, [dead_rows()], 0, alerting.Policy())
    assert [e['event'] for e in events] == [alerting.FIRING]
    return state


def test_the_runner_knows_every_check_a_job_can_raise():
    raised = set(a['check'] for a in all_alerts())
    collections = set(db_health.CHECKS_OF) | {'settings'}  # db_checks.check_error names the collection
    registered = set(entry.name for entry in host_checks.CHECKS)  # the runner's generated block takes these
    assert raised | collections | registered == set(RUNNER.KNOWN_CHECKS)
    assert {'memory', 'inodes', 'oom_kills', 'http', 'postgres'} <= set(RUNNER.KNOWN_CHECKS)


def test_a_run_that_did_not_look_resolves_nothing_and_keeps_what_was_told():
    state = told_state()
    kept, events, recovered = alerting.transition(state, [], HOUR, alerting.Policy(), unchecked=['dead_rows'])
    assert events == [] and recovered == [] and kept == state
    # looked at again and still there: nothing new to tell
    dummy, events, dummy = alerting.transition(kept, [dead_rows()], 2 * HOUR, alerting.Policy())
    assert events == []


def test_a_failed_collection_names_the_checks_it_feeds():
    assert db_health.unchecked_checks(['tables']) == ['dead_rows', 'primary_keys']
    assert 'latency' in db_health.unchecked_checks(['settings'])
    assert db_health.unchecked_checks([]) == []


def test_a_silenced_alert_is_not_resolved_and_is_told_again_if_it_outlives_the_silence():
    state = told_state()
    key = 'dead_rows:public.events'
    held, events, dummy = alerting.transition(state, [], HOUR, alerting.Policy(), silenced={key})
    assert events == [] and key in held and 'told_level' not in held[key]
    dummy, events, dummy = alerting.transition(held, [dead_rows()], 2 * HOUR, alerting.Policy())
    assert [e['event'] for e in events] == [alerting.FIRING]
    # gone while silenced: no "resolved" for something the person asked not to hear about
    dummy, events, dummy = alerting.transition(held, [], 2 * HOUR, alerting.Policy())
    assert events == []


def test_silences_match_check_and_subject_until_they_end():
    entries = [{'id': 'a1', 'check': 'dead_rows', 'subject': 'public.events', 'until': 100, 'reason': 'batch', 'by': 'alice'},
               {'id': 'b2', 'check': 'disk', 'subject': None, 'until': 100, 'reason': 'resize', 'by': 'bob'}]
    alerts = [dead_rows(), dead_rows('public.other'), make_alert('disk', WARNING, 91, 90, 'm', 'r', subject='/')]
    raised, silenced = silences.apply(alerts, entries, 50)
    assert [a['subject'] for a in raised] == ['public.other']
    assert [(a['check'], a['silence_id'], a['silenced_by']) for a in silenced] == [('dead_rows', 'a1', 'alice'),
                                                                                   ('disk', 'b2', 'bob')]
    raised, silenced = silences.apply(alerts, entries, 100)
    assert len(raised) == 3 and silenced == []


@pytest.mark.parametrize('text, seconds', [('90s', 90), ('2h', 7200), ('1h30m', 5400), ('3d', 259200), ('1w', 604800)])
def test_durations(text, seconds):
    assert RUNNER.parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['', '2', 'h', '1fortnight', '0m', '-1h', '400d', '1.5h', '2 h'])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(RUNNER.SilenceError, match='^--for: bad duration'):
        RUNNER.parse_duration(text)


def test_targets():
    assert RUNNER.parse_target('disk:/var/lib/postgresql') == ('disk', '/var/lib/postgresql')
    assert RUNNER.parse_target('primary_keys') == ('primary_keys', None)
    assert RUNNER.parse_target('disk:*') == ('disk', None)
    for bad in ('dsik', '', ':x'):
        with pytest.raises(RUNNER.SilenceError, match='^CHECK: unknown check'):
            RUNNER.parse_target(bad)
    for bad in ('disk:', 'disk:a\nb', 'disk:a\u2028b'):
        with pytest.raises(RUNNER.SilenceError, match='^SUBJECT'):
            RUNNER.parse_target(bad)
