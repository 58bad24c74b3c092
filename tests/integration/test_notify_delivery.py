"""Delivery details a person relies on (issue 17 items 12 and 15, issue 18 item 5), against real receivers on
127.0.0.1: why a channel failed, one time budget for a whole delivery, and the Apprise notify type of each message.
"""
import json
import re
import socket
import time

import pytest

from harness import free_port, run_module
from receivers import HttpReceiver, SmtpReceiver
from test_notifications import SMTP_PASSWORD, WEBHOOK_TOKEN, Host, twzrd_run, write_job

from ansible_collections.twzrd.ops.plugins.module_utils.report import notify


@pytest.fixture
def failing_webhook():
    """A receiver that answers every POST with HTTP 500."""
    server = HttpReceiver().start()
    server.status = 500
    yield server
    server.stop()


def test_failure_reasons_say_what_happened(tmp_path, failing_webhook):
    """A 500 and a refused connection each name their cause, never the bare "delivery refused"."""
    closed = 'json://127.0.0.1:%d/hooks/%s' % (free_port(), WEBHOOK_TOKEN)
    smtp_closed = SmtpReceiver(SMTP_PASSWORD, port=free_port()).url()
    urls = [failing_webhook.url(WEBHOOK_TOKEN), closed, smtp_closed]
    rc, result, out, err = run_module('twzrd_notify', {'test': True, 'notify': {'urls': urls, 'timeout': 10}},
                                      tmp_path)
    assert rc != 0 and result['failed']
    errors = [d['error'] for d in result['deliveries']]
    assert '500' in errors[0], errors
    assert 'refused' in errors[1].lower(), errors
    assert 'refused' in errors[2].lower(), errors
    assert all('delivery refused' not in e for e in errors), errors
    everything = out + err
    assert WEBHOOK_TOKEN not in everything and SMTP_PASSWORD not in everything

    # the same reasons in a job's warnings ...
    host = Host(tmp_path, urls, notify={'timeout': 10})
    result = host.warning()
    warnings = json.dumps(result.get('warnings'))
    assert re.search(r'#1 json: .*500', warnings), warnings
    assert re.search(r'#2 json: .*[Rr]efused', warnings), warnings
    assert WEBHOOK_TOKEN not in json.dumps(result)

    # ... and in twzrd-run --test-notify
    config = tmp_path / 'etc'
    config.mkdir()
    write_job(config, 'alerts', 'twzrd_health', {'notify': {'urls': urls[:2], 'timeout': 10}})
    proc = twzrd_run(config, '--test-notify')
    assert proc.returncode == 3
    assert re.search(r'#1 json\s+NOT delivered: .*500', proc.stdout), proc.stdout
    assert re.search(r'#2 json\s+NOT delivered: .*[Rr]efused', proc.stdout), proc.stdout
    assert WEBHOOK_TOKEN not in proc.stdout + proc.stderr


def test_one_time_budget_for_the_whole_delivery(tmp_path):
    """20 kept messages and a new one on a hung channel with notify.timeout 2: the run waits about 2 s, not 1 s a
    message, and every message stays kept for the next run."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(50)
    try:
        url = 'json://127.0.0.1:%d/hooks/%s' % (listener.getsockname()[1], WEBHOOK_TOKEN)
        host = Host(tmp_path, [url], notify={'timeout': 2})
        state = host.state_data()
        job = state.setdefault('alerting', {}).setdefault('alerts', {})
        job['pending'] = [{'created': int(time.time()) - 3600 + i, 'title': 'kept %d' % i, 'body': 'kept message %d' % i,
                           'targets': [notify.fingerprint(url)]} for i in range(20)]
        host.state.write_text(json.dumps(state))
        started = time.monotonic()
        result = host.warning()
        elapsed = time.monotonic() - started
        note = result['notification']
        assert note['sent'] == 0 and note['pending'] == 20  # 21 kept, the oldest beyond MAX_PENDING dropped
        duration_ms = int(host.log_lines()[-1]['duration_ms'])
        assert duration_ms < 5000, duration_ms
        assert elapsed < 15, elapsed  # the whole process, Apprise's abandoned worker included
        kept = [p['title'] for p in host.state_data()['alerting']['alerts']['pending']]
        assert kept[-1].startswith('twzrd alerts') and kept[0] == 'kept 1'
        warnings = json.dumps(result.get('warnings'))
        assert 'timed out' in warnings and 'not attempted' in warnings, warnings
    finally:
        listener.close()


def _types(webhook):
    return [b['json'].get('type') for b in webhook.bodies]


def test_notify_type_follows_the_level(tmp_path, webhook):
    """Slack, ntfy, Telegram and webhooks colour and route by Apprise's type: warning, failure, success, info."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    host.warning()
    host.critical()
    host.clear()
    assert _types(webhook) == ['warning', 'failure', 'success']
    host.run(mode='report', disk_warning=99, disk_critical=99.5)
    assert _types(webhook)[-1] == 'info'

    # a kept message keeps its type when it goes out later
    webhook.status = 500
    host.warning()
    webhook.status = 200
    host.warning()
    assert _types(webhook)[-1] == 'warning' and 'delayed' in webhook.bodies[-1]['json']['message']

    # a failed run is a failure, also for a report job
    rc, result, out, err = run_module('twzrd_notify', {
        'failure': {'job': 'vacuum', 'msg': 'cannot connect'}, 'state_file': str(tmp_path / 'v.json'),
        'notify': {'urls': [webhook.url(WEBHOOK_TOKEN)]}}, tmp_path)
    assert rc != 0 and _types(webhook)[-1] == 'failure'

    # the test message is information
    run_module('twzrd_notify', {'test': True, 'notify': {'urls': [webhook.url(WEBHOOK_TOKEN)]}}, tmp_path)
    assert _types(webhook)[-1] == 'info'


def test_messages_read_right_at_the_receiver(tmp_path, webhook):
    """Issue 18 item 6 at the webhook: a resolved alert shows the threshold configured now, and non-numeric
    checks (PostgreSQL unreachable, a failed job) read as sentences, not "value job, threshold a successful run"."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    told = max(0.0, host.disk_pct - 5)
    host.warning()
    raised = min(98.0, host.disk_pct + 20)
    host.run(disk_warning=raised, disk_critical=99.5)
    resolved = webhook.messages()[-1][1]
    assert 'RESOLVED disk /' in resolved and 'threshold now %s' % raised in resolved, resolved
    assert 'threshold %s' % told not in resolved, resolved

    notify_opts = {'urls': [webhook.url(WEBHOOK_TOKEN)]}
    rc, result, out, err = run_module('twzrd_db_health', {
        'login_host': '127.0.0.1', 'login_port': free_port(), 'login_db': 'app', 'login_user': 'nobody',
        'login_unix_socket': None, 'state_file': str(tmp_path / 'db.json'), 'notify': notify_opts}, tmp_path)
    unreachable = webhook.messages()[-1][1]
    assert 'NEW CRITICAL connection' in unreachable, unreachable
    assert 'value server_unreachable' not in unreachable and 'threshold connect' not in unreachable, unreachable

    rc, result, out, err = run_module('twzrd_notify', {
        'failure': {'job': 'alerts', 'msg': 'killed after 60s (timeout)'}, 'state_file': str(tmp_path / 'f.json'),
        'notify': notify_opts}, tmp_path)
    failed = webhook.messages()[-1][1]
    assert 'the alerts job failed: killed after 60s' in failed, failed
    assert 'value job' not in failed and 'threshold a successful run' not in failed, failed


def test_an_expired_acceptance_is_told_once(tmp_path, webhook):
    """Issue 17 item 15: the hourly run warns (and cron mails) an expired accept entry once, not every hour."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    expired = [{'check': 'disk', 'subject': '/', 'until': '2000-01-01', 'reason': 'big volume, cleaned monthly'}]
    args = dict(host.args(disk_warning=max(0.0, host.disk_pct - 5), disk_critical=99.5), accept=expired)
    outputs = [run_module('twzrd_health', args, tmp_path)[2] for dummy in range(3)]
    assert ['expired on 2000-01-01' in out for out in outputs] == [True, False, False]
    assert len(webhook.bodies) == 1  # the alert itself: told once, as any alert

    renewed = [dict(expired[0], until='2000-02-01')]  # renewed, and expired again: a new note
    out = run_module('twzrd_health', dict(args, accept=renewed), tmp_path)[2]
    assert 'expired on 2000-02-01' in out


def _column_starts(line, names):
    return [line.index(name) for name in names]


def test_weekly_mail_text_part_aligns_its_tables(tmp_path):
    """Issue 18 item 6: the plain-text part of the weekly mail (what text-only readers show) prints each table
    as aligned columns, a row per line, not one cell per line."""
    from test_trends import QUIET, seed  # pylint: disable=import-outside-toplevel
    smtp = SmtpReceiver(SMTP_PASSWORD).start()
    try:
        state, dummy = seed(tmp_path)
        rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=state,
                                                               notify={'urls': [smtp.url()]}), tmp_path)
        assert rc == 0 and result['notification']['sent'] == 1, (out, err)
    finally:
        smtp.stop()
    text = smtp.messages[0].get_body(preferencelist=('plain',)).get_content()
    lines = text.splitlines()
    [header] = [line for line in lines if line.lstrip().startswith('vacuum run')]
    columns = ['database', 'vacuumed', 'skipped', 'failed', 'dead rows removed', 'seconds']
    starts = _column_starts(header, columns)
    rows = [line for line in lines if re.match(r'^\s*\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+app\s', line)]
    assert len(rows) == 3, text
    for row in rows:
        assert row[starts[0]:].startswith('app'), (header, row)
        assert re.match(r'\d+', row[starts[-2]:]), (header, row)  # dead rows removed, under its heading
    assert '\nvacuumed\n' not in text  # no cell alone on its line
    # the HTML part shows the same aligned rows (the page file in report_dir keeps its HTML tables)
    html = smtp.messages[0].get_body(preferencelist=('html',)).get_content()
    assert '<pre class="table">' in html and header.strip() in html
