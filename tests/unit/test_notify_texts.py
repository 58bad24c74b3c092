"""What a message says and hides (report/notify.py, issue 17 item 15, issue 18 items 5 and 6). Pure functions."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.report import notify
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import make_alert

PING = 'https://hc-ping.example.com/ping/pingtoken-Qw3rTy99'


# --- scrubbing: the secret parts of a URL, not its words ---------------------------------

def test_scrub_keeps_words_that_also_appear_in_the_url():
    text = "dead-man's switch (http ping_url) not reached: <urlopen error [Errno 111] Connection refused>"
    assert notify.scrub(text, [PING, 'json://127.0.0.1:8080/hooks/hooktoken-Zq81LmN0pR']) == text


@pytest.mark.parametrize('url, secrets, words', [
    (PING, ['pingtoken-Qw3rTy99'], ['ping', 'hc-ping.example.com']),
    ('json://127.0.0.1:8080/hooks/hooktoken-Zq81LmN0pR', ['hooktoken-Zq81LmN0pR'], ['hooks']),
    ('mailtos://alerts%40example.com:SmtpAppPw-7f3kQ9zX@smtp.example.com:587?from=twzrd@example.com',
     ['SmtpAppPw-7f3kQ9zX', 'alerts@example.com', 'alerts%40example.com'], ['smtp.example.com']),
    ('mailto://ops:hunter@smtp.example.com', ['hunter'], ['smtp.example.com']),
    ('slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts',
     ['T1JJ3T3L2', 'A1BRTD4JD', 'TIiajkdnlazkcOXrIdevi7FQ'], ['alerts']),
    ('tgram://123456789:ABCdefGhIJKlmnOPQRstuVWxyz/987654321',
     ['123456789', 'ABCdefGhIJKlmnOPQRstuVWxyz', '987654321'], []),
    ('json://hooks.example.com/notify?token=abc&mode=insecure', ['abc'], ['hooks.example.com', 'insecure']),
])
def test_scrub_masks_userinfo_and_tokens(url, secrets, words):
    text = 'failed: %s; %s; via %s' % (url, ' '.join(secrets), ' '.join(words))
    scrubbed = notify.scrub(text, [url])
    for secret in secrets:
        assert secret not in scrubbed, scrubbed
    for word in words:
        assert word in scrubbed, scrubbed


# --- notify types: the worst content of the message -----------------------------------

def _event(kind, level):
    return dict(make_alert('disk', level, 91, 90, 'disk / is 91% full', 'free space'), event=kind, subject='/')


@pytest.mark.parametrize('report, status, events, expected', [
    (False, 'warning', [_event(alerting.FIRING, 'warning')], 'warning'),
    (False, 'critical', [_event(alerting.ESCALATED, 'critical')], 'failure'),
    (False, 'critical', [_event(alerting.REMINDER, 'critical')], 'failure'),
    (False, 'warning', [_event(alerting.DEESCALATED, 'warning')], 'warning'),
    (False, 'ok', [_event(alerting.RESOLVED, 'critical')], 'success'),
    (False, 'warning', [_event(alerting.FIRING, 'warning'), _event(alerting.RESOLVED, 'critical')], 'warning'),
    (False, 'critical', [_event(alerting.RESOLVED, 'warning'), _event(alerting.FIRING, 'critical'),
                         _event(alerting.FIRING, 'warning')], 'failure'),
    (False, 'failed', [_event(alerting.FIRING, 'critical')], 'failure'),
    (True, 'critical', [], 'info'),
    (True, 'ok', [], 'info'),
    (True, 'failed', [], 'failure'),
])
def test_message_type(report, status, events, expected):
    assert notify.message_type(report, status, events) == expected


# --- texts a person reads -------------------------------------------------------------

def _body(events, firing=()):
    return notify.compose_alert_message('alerts', 'web1', 'ok', events, list(firing), 0)[1]


def test_resolved_shows_the_threshold_configured_now():
    """Told at threshold 1.5; the threshold was raised to 3 and load is 2.5: the message says 3, not 1.5."""
    policy = alerting.Policy()
    told = make_alert('load', 'warning', 1.9, 1.5, 'load 1.9 above 1.5', 'find the busy process')
    entries, events, dummy = alerting.transition({}, [told], 0, policy)
    reading = {'load': {'value': 2.5, 'warning': 3.0, 'critical': 6.0}}
    entries, events, dummy = alerting.transition(entries, [], 3600, policy, readings=reading)
    [resolved] = events
    body = _body(events)
    assert 'value now 2.5, threshold now 3.0' in body, body
    assert '1.5;' not in body and 'threshold 1.5' not in body


def test_non_numeric_checks_read_as_sentences():
    unreachable = dict(make_alert('connection', 'critical', 'server_unreachable', 'connect',
                                  'cannot connect to PostgreSQL at 127.0.0.1:5999: connection refused',
                                  'start PostgreSQL'), event=alerting.FIRING)
    failed = dict(alerting.failure_alert('alerts', 'killed after 60s (timeout)', None, error='job'),
                  event=alerting.FIRING)
    body = _body([unreachable, failed])
    for nonsense in ('value server_unreachable', 'threshold connect', 'value job', 'threshold a successful run'):
        assert nonsense not in body, body
    assert 'cannot connect to PostgreSQL' in body and 'the alerts job failed: killed after 60s' in body
    gone = dict(unreachable, event=alerting.RESOLVED, value=None, previous_level='critical')
    body = _body([gone])
    assert 'threshold connect' not in body and 'no longer raised' in body


def test_numeric_checks_keep_value_and_threshold():
    body = _body([dict(make_alert('disk', 'warning', 91, 90, 'disk / is 91% full', 'free space'),
                       event=alerting.FIRING, subject='/')])
    assert '  value 91, threshold 90' in body


def test_autovacuum_off_has_no_trigger():
    settings = {'max_connections': 100, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
                'autovacuum_vacuum_scale_factor': 0.2}
    table = {'schema': 'public', 'name': 'events', 'kind': 'r', 'has_pk': True, 'reltuples': 1000,
             'reloptions': ['autovacuum_enabled=off'], 'live_rows': 1000, 'dead_rows': 150000, 'bytes': 8192}
    message = db_checks.evaluate_dead_rows([table], settings, 100000)[0][0]['message']
    assert 'triggers at' not in message and 'autovacuum OFF for this table' in message, message
    table['reloptions'] = None
    message = db_checks.evaluate_dead_rows([table], settings, 100000)[0][0]['message']
    assert 'autovacuum starts at 250 dead rows' in message, message


def test_mail_tables_are_aligned_text_and_stay_escaped():
    from ansible_collections.twzrd.ops.plugins.module_utils.report import text_table  # pylint: disable=import-outside-toplevel
    html = ('<p>x</p><table><tr><th>app</th><th>status</th></tr><tr><td>&lt;script&gt;</td><td>online</td></tr>'
            '<tr><td>web</td><td><code>errored</code></td></tr></table><p>y</p>')
    out = text_table.tables_as_text(html)
    assert out.startswith('<p>x</p><pre class="table">') and out.endswith('</pre><p>y</p>')
    assert '<script>' not in out and '&lt;script&gt;  online' in out
    assert text_table.align([['app', 'status'], ['<script>', 'online'], ['web', 'errored']]).splitlines() == [
        'app       status', '--------  -------', '<script>  online', 'web       errored']
