"""Notifications end to end (issue 8): real SMTP (aiosmtpd) and a real HTTP receiver on 127.0.0.1,
Apprise ``mailto://`` and ``json://`` URLs, modules run the cron way (harness.run_module).

The alert is driven deterministically through the disk thresholds: the used share of / is measured
once, then thresholds are put below or above it.  The clock for reminders is driven through the
state file (``last_sent`` moved back), never by sleeping.
"""
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT, free_port, run_module
from receivers import SmtpReceiver

from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

SMTP_PASSWORD = 'SmtpAppPw-7f3kQ9zX'
WEBHOOK_TOKEN = 'hooktoken-Zq81LmN0pR'


@pytest.fixture
def smtp():
    server = SmtpReceiver(SMTP_PASSWORD).start()
    yield server
    server.stop()


class Host:
    """twzrd_health in alerts mode on this machine, with its own state and log."""

    def __init__(self, tmp_path, urls, notify=None):
        self.tmp = tmp_path
        self.state = tmp_path / 'state.json'
        self.log = tmp_path / 'alerts.log'
        self.notify = dict(notify or {}, urls=urls)
        self.outputs = []
        (tmp_path / 'pm2home').mkdir(exist_ok=True)
        self.disk_pct = self.run(disk_warning=99, disk_critical=99.5, notify_off=True)['metrics']['disks']['/'][
            'used_percent']

    def args(self, mode='alerts', notify_off=False, **thresholds):
        args = {'mode': mode, 'disk_paths': ['/'], 'load_warning': 1000, 'load_critical': 2000,
                'pm2_home': str(self.tmp / 'pm2home'),
                'include_system_log': False, 'include_pm2_logs': False,
                'state_file': str(self.state), 'log_file': str(self.log)}
        if not notify_off:
            args['notify'] = self.notify
        args.update(thresholds)
        return args

    def run(self, mode='alerts', notify_off=False, **thresholds):
        rc, result, out, err = run_module('twzrd_health', self.args(mode, notify_off, **thresholds), self.tmp)
        assert result is not None, (out, err)
        assert rc == 0, (out, err)
        self.outputs.append(out + err)
        return result

    # thresholds relative to the measured value (2 points of room: other processes write to / too)
    def warning(self):
        return self.run(disk_warning=max(0.0, self.disk_pct - 5), disk_critical=99.5)

    def critical(self):
        return self.run(disk_warning=max(0.0, self.disk_pct - 5), disk_critical=max(0.5, self.disk_pct - 2.5))

    def clear(self):
        return self.run(disk_warning=min(98.0, self.disk_pct + 20), disk_critical=99.5)

    def state_data(self):
        return json.loads(self.state.read_text())

    def log_lines(self):
        return [parse_line(line) for line in self.log.read_text().splitlines()]


def test_warning_told_once_escalated_resolved_then_silence(tmp_path, smtp, webhook):
    host = Host(tmp_path, [smtp.url(), webhook.url(WEBHOOK_TOKEN)])
    for dummy in range(3):
        result = host.warning()
    assert result['status'] == 'warning'
    assert len(smtp.messages) == 1 and len(webhook.bodies) == 1
    subject, body = smtp.texts()[0]
    assert re.match(r'^twzrd alerts \S+: WARNING$', subject)
    assert 'NEW WARNING disk /:' in body and 'threshold %s' % (max(0.0, host.disk_pct - 5),) in body
    assert 'what to do: Find what grew' in body
    assert webhook.messages()[0][0] == subject and 'NEW WARNING disk /' in webhook.messages()[0][1]

    host.critical()
    host.critical()
    assert len(smtp.messages) == 2 and len(webhook.bodies) == 2
    subject, body = smtp.texts()[1]
    assert subject.endswith(': CRITICAL') and 'ESCALATED WARNING -> CRITICAL disk /' in body

    result = host.clear()
    assert result['status'] == 'ok' and result['recovered'] == ['disk:/']
    subject, body = smtp.texts()[2]
    assert subject.endswith(': OK') and 'RESOLVED disk / (was CRITICAL)' in body
    host.clear()
    host.clear()
    assert len(smtp.messages) == 3 and len(webhook.bodies) == 3
    notified = [line.get('notified') for line in host.log_lines()[1:]]  # [0]: Host() measuring, no notify
    assert notified == ['1', '0', '0', '1', '0', '1', '0', '0']


def test_flapping_value_sends_at_most_two_messages_in_24_runs(tmp_path, webhook):
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    value, fired = host.disk_pct, 0
    for run in range(24):
        # The value ends up 1 point above, then 1 point below its threshold, alternately; within the
        # default 10 % hysteresis margin.  The threshold follows the last measured value: other
        # processes write to / while the test runs.
        offset = -1.0 if run % 2 == 0 else 1.0
        result = host.run(disk_warning=max(0.0, value + offset), disk_critical=99.5)
        fired += bool(result['alerts'])
        value = result['metrics']['disks']['/']['used_percent']
    assert fired >= 12  # it did cross the threshold, run after run
    assert 1 <= len(webhook.bodies) <= 2


def test_reminder_after_repeat_hours(tmp_path, webhook):
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)], notify={'repeat_hours': 6})
    host.warning()
    host.warning()
    assert len(webhook.bodies) == 1
    state = host.state_data()
    entry = state['alerting']['alerts']['alerts']['disk:/']
    entry['last_sent'] -= 6 * 3600 + 1  # six hours pass
    host.state.write_text(json.dumps(state))
    host.warning()
    assert len(webhook.bodies) == 2
    title, message = webhook.messages()[1]
    assert title.endswith(': WARNING') and 'STILL FIRING WARNING disk /' in message and 'firing since' in message
    host.warning()
    assert len(webhook.bodies) == 2


def test_channel_down_then_up_delivers_the_kept_message(tmp_path, webhook):
    port = free_port()
    smtp = SmtpReceiver(SMTP_PASSWORD, port=port)  # not started: connection refused
    host = Host(tmp_path, [smtp.url(), webhook.url(WEBHOOK_TOKEN)], notify={'timeout': 10})
    webhook.status = 500
    result = host.warning()
    assert result['status'] == 'warning'  # the job's result is intact
    note = result['notification']
    assert [d['ok'] for d in note['deliveries']] == [False, False] and note['pending'] == 1
    assert [d['channel'] for d in note['deliveries']] == ['#1 mailto', '#2 json']
    assert 'NEW WARNING disk /' in note['undelivered']  # the runner prints it: cron mail as a fallback
    line = host.log_lines()[-1]
    assert line['notify_failed'] == '#1 mailto,#2 json' and line['notify_pending'] == '1'
    assert line['status'] == 'warning'

    smtp.start()
    webhook.status = 200
    try:
        result = host.warning()  # nothing new this run: only the kept message goes out
        assert result['notification']['pending'] == 0
        assert len(smtp.messages) == 1 and len(webhook.bodies) == 1
        subject, body = smtp.texts()[0]
        assert subject.endswith(': WARNING') and body.startswith('(delayed: first attempt at ')
        assert 'NEW WARNING disk /' in body
        host.warning()
        assert len(smtp.messages) == 1 and len(webhook.bodies) == 1
    finally:
        smtp.stop()


def test_a_hung_channel_does_not_hold_the_job(tmp_path):
    """A TCP server that accepts and never answers: the delivery budget ends the wait."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(5)
    try:
        url = 'json://127.0.0.1:%d/hooks/%s' % (listener.getsockname()[1], WEBHOOK_TOKEN)
        host = Host(tmp_path, [url], notify={'timeout': 2})
        result = host.warning()
        assert result['notification']['deliveries'][0]['ok'] is False
        assert result['notification']['pending'] == 1
        assert int(host.log_lines()[-1]['duration_ms']) < 15000
    finally:
        listener.close()


def test_database_down_notifies_once_and_recovery_once(tmp_path, pg_cluster, webhook):
    state = str(tmp_path / 'state.json')
    notify = {'urls': [webhook.url(WEBHOOK_TOKEN)]}

    def db_health(port):
        args = pg_cluster.conn_params('postgres')
        args.update(login_port=port, state_file=state, notify=notify, login_unix_socket=None,
                    login_host='127.0.0.1', login_user='postgres')
        if port == pg_cluster.port:
            args = dict(pg_cluster.conn_params('postgres'), state_file=state, notify=notify)
        rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
        assert result is not None, (out, err)
        return result

    down = free_port()
    assert db_health(down)['status'] == 'critical'
    assert db_health(down)['status'] == 'critical'
    assert len(webhook.bodies) == 1
    title, message = webhook.messages()[0]
    assert title.endswith(': CRITICAL') and 'NEW CRITICAL connection' in message
    assert db_health(pg_cluster.port)['status'] == 'ok'
    assert len(webhook.bodies) == 2
    assert 'RESOLVED connection' in webhook.messages()[1][1]
    db_health(pg_cluster.port)
    assert len(webhook.bodies) == 2


def test_vacuum_report_every_run_and_failure(tmp_path, pg_cluster, pg_db, webhook):
    notify = {'urls': [webhook.url(WEBHOOK_TOKEN)]}
    args = dict(pg_cluster.conn_params(pg_db), state_file=str(tmp_path / 'state.json'), notify=notify)
    for dummy in range(2):
        rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
        assert rc == 0, (out, err)
    assert len(webhook.bodies) == 2  # a report goes out every run
    title, message = webhook.messages()[0]
    assert re.match(r'^twzrd vacuum \S+: OK$', title)
    assert 'database %s: 0 table(s) planned' % pg_db in message

    down = dict(args, login_port=free_port(), login_unix_socket=None, login_host='127.0.0.1')
    rc, result, out, err = run_module('twzrd_vacuum', down, tmp_path)
    # a database that does not answer is a critical alert, as in db_health (core/job_module.py), not a failure
    assert rc == 0 and not result.get('failed') and result['status'] == 'critical'
    assert result['twzrd_reported'] is True
    title, message = webhook.messages()[-1]
    assert ': CRITICAL' in title and 'connection' in title, title
    assert 'server unreachable' in message and 'what to do:' in message, message


def test_weekly_report_is_one_readable_message(tmp_path, smtp):
    host = Host(tmp_path, [smtp.url()])
    host.run(mode='report', disk_warning=99, disk_critical=99.5)
    assert len(smtp.messages) == 1
    subject, body = smtp.texts()[0]
    assert re.match(r'^twzrd health \S+: OK$', subject)
    assert 'memory' in body and 'disk /' in body
    host.run(mode='report', disk_warning=max(0.0, host.disk_pct - 5), disk_critical=99.5)
    assert len(smtp.messages) == 2
    subject, body = smtp.texts()[1]
    # email gets the HTML page (issue 12); its text part is the page as text
    # the subject says why (issue 18 item 3)
    assert subject.endswith(': WARNING: disk /') and 'Open alerts' in body and 'What to do:' in body


def test_accepted_condition_raises_nothing(tmp_path, webhook):
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    accept = [{'check': 'disk', 'subject': '/', 'until': '2999-01-01', 'reason': 'big volume, cleaned monthly'}]
    result = host.run(disk_warning=max(0.0, host.disk_pct - 5), disk_critical=99.5, accept=accept)
    assert result['status'] == 'ok' and result['alerts'] == []
    assert result['accepted'][0]['accepted_reason'] == 'big volume, cleaned monthly'
    assert webhook.bodies == []
    expired = [dict(accept[0], until='2000-01-01')]
    rc, result, out, err = run_module('twzrd_health', dict(host.args(disk_warning=max(0.0, host.disk_pct - 5),
                                                                     disk_critical=99.5), accept=expired), tmp_path)
    assert result['status'] == 'warning' and 'expired on 2000-01-01' in out
    assert len(webhook.bodies) == 1


def test_no_secret_in_any_output(tmp_path, smtp, webhook):
    down = SmtpReceiver(SMTP_PASSWORD, port=free_port())  # one channel down: error paths too
    ping = 'http://127.0.0.1:%d/ping/%s' % (free_port(), 'pingtoken-Qw3rTy99')
    host = Host(tmp_path, [smtp.url(), webhook.url(WEBHOOK_TOKEN), down.url()])
    host.notify['timeout'] = 5
    rc, result, out, err = run_module('twzrd_health', dict(host.args(disk_warning=max(0.0, host.disk_pct - 5),
                                                                     disk_critical=99.5), ping_url=ping), tmp_path)
    assert result['notification']['sent'] == 1
    bad_url = {'urls': ['user:%s@smtp.example.com' % SMTP_PASSWORD]}
    rc2, bad, out2, err2 = run_module('twzrd_health', dict(host.args(), notify=bad_url), tmp_path)
    assert bad['failed'] and 'notify.urls[0]' in bad['msg']
    test_rc, tested, out3, err3 = run_module('twzrd_notify', {'test': True, 'notify': host.notify}, tmp_path)
    assert [d['ok'] for d in tested['deliveries']] == [True, True, False]
    everything = '\n'.join(host.outputs + [out, err, out2, err2, out3, err3, host.log.read_text(),
                                           host.state.read_text()])
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN, 'pingtoken-Qw3rTy99'):
        assert secret not in everything
    assert oct(os.stat(host.state).st_mode & 0o777) == '0o600'
    assert "dead-man's switch" in json.dumps(result.get('warnings'))  # a failed ping warns, never fails


def test_notify_test_reports_each_channel(tmp_path, smtp, webhook):
    urls = [smtp.url(), webhook.url(WEBHOOK_TOKEN), 'json://127.0.0.1:%d/x' % free_port(), 'nosuchscheme://x']
    rc, result, out, err = run_module('twzrd_notify', {'test': True, 'notify': {'urls': urls, 'timeout': 5}},
                                      tmp_path)
    assert rc != 0 and result['failed']
    assert [(d['channel'], d['ok']) for d in result['deliveries']] == [
        ('#1 mailto', True), ('#2 json', True), ('#3 json', False), ('#4 nosuchscheme', False)]
    assert 'not a valid Apprise URL' in result['deliveries'][3]['error']
    assert len(smtp.messages) == 1 and 'test message' in smtp.texts()[0][0]


def test_quiet_run_does_not_import_apprise(tmp_path, webhook):
    """Nothing to send: the hourly run must not pay for importing Apprise."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    host.clear()
    script = (
        'import json, sys, runpy\n'
        'sys.argv = ["m", sys.argv[1]]\n'
        'try:\n'
        '    runpy.run_module("ansible_collections.twzrd.ops.plugins.modules.twzrd_health", run_name="__main__")\n'
        'finally:\n'
        '    sys.stderr.write("APPRISE=%s" % ("apprise" in sys.modules))\n')
    args_file = tmp_path / 'quiet.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': host.args(disk_warning=min(98.0, host.disk_pct + 20),
                                                                      disk_critical=99.5)}))
    proc = subprocess.run([sys.executable, '-c', script, str(args_file)], capture_output=True, text=True, check=False,
                          env={'PYTHONPATH': COLLECTIONS, 'PATH': os.environ['PATH']}, cwd=str(tmp_path))
    assert 'APPRISE=False' in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)['status'] == 'ok'
    assert webhook.bodies == []


def test_cron_and_playbook_send_the_same_messages(tmp_path, webhook):
    """One code path: the module run by ansible-playbook tells the same story as the cron way."""
    (tmp_path / 'cron').mkdir()
    cron = Host(tmp_path / 'cron', [webhook.url('cron')])
    play_dir = tmp_path / 'play'
    play_dir.mkdir()
    sequence = [('warning', max(0.0, cron.disk_pct - 5), 99.5), ('warning', max(0.0, cron.disk_pct - 5), 99.5),
                ('critical', max(0.0, cron.disk_pct - 5), max(0.5, cron.disk_pct - 2.5)),
                ('clear', min(98.0, cron.disk_pct + 20), 99.5)]
    config = tmp_path / 'etc'
    config.mkdir()
    for dummy, warning, critical in sequence:  # the cron way: twzrd-run alerts, as installed
        write_job(config, 'alerts', 'twzrd_health', cron.args(disk_warning=warning, disk_critical=critical))
        assert twzrd_run(config, 'alerts').stdout == ''  # the channel took every message
    cron_messages = list(webhook.messages())

    play_args = dict(cron.args(disk_warning=0, disk_critical=0), state_file=str(play_dir / 'state.json'),
                     log_file=str(play_dir / 'alerts.log'), notify={'urls': [webhook.url('play')]})
    tasks = []
    for dummy, warning, critical in sequence:
        task_args = dict(play_args, disk_warning=warning, disk_critical=critical)
        tasks.append({'name': 'alerts run', 'twzrd.ops.twzrd_health': task_args})
    playbook = play_dir / 'play.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c',
                           'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    play_messages = list(webhook.messages())[len(cron_messages):]

    def normalized(messages):  # the time and the measured disk share move between the two runs
        return [(title, re.sub(r'\d+(\.\d+)?', 'N', body)) for title, body in messages]
    assert len(cron_messages) == 3
    assert normalized(play_messages) == normalized(cron_messages)
    assert WEBHOOK_TOKEN not in proc.stdout


# --- the cron runner (twzrd-run) with the real collection ------------------------------------

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')


def write_job(config_dir, job, module, args, timeout=120):
    path = config_dir / (job + '.json')
    path.write_text(json.dumps({'twzrd_run': {'module': module, 'timeout': timeout}, 'ANSIBLE_MODULE_ARGS': args}))
    path.chmod(0o600)
    return path


def twzrd_run(config_dir, *args):
    """The runner the way cron starts it (its PATH, no inherited environment)."""
    return subprocess.run([sys.executable, RUNNER, '--config-dir', str(config_dir)] + list(args),
                          capture_output=True, text=True, check=False, timeout=300,
                          env={'PATH': '/usr/bin:/bin', 'TWZRD_PYTHON': sys.executable,
                               'TWZRD_PYTHONPATH': COLLECTIONS})


def test_runner_mails_only_what_no_channel_took(tmp_path, webhook):
    """Cron mail is the fallback: silent when a channel took the message, the message when none did,
    and told once per change when no channel is configured at all."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    config = tmp_path / 'etc'
    config.mkdir()
    warn = dict(disk_warning=max(0.0, host.disk_pct - 5), disk_critical=99.5)

    write_job(config, 'alerts', 'twzrd_health', host.args(**warn))
    proc = twzrd_run(config, 'alerts')
    assert (proc.returncode, proc.stdout) == (1, '') and len(webhook.bodies) == 1

    escalate = dict(warn)
    escalate['disk_critical'] = max(0.5, host.disk_pct - 2.5)
    write_job(config, 'alerts', 'twzrd_health', host.args(**escalate))
    webhook.status = 500
    proc = twzrd_run(config, 'alerts')
    assert proc.returncode == 2
    assert 'ESCALATED WARNING -> CRITICAL disk /' in proc.stdout and WEBHOOK_TOKEN not in proc.stdout

    no_channel = tmp_path / 'quiet'
    no_channel.mkdir()
    args = dict(host.args(notify_off=True, **warn), state_file=str(no_channel / 'state.json'))
    write_job(config, 'alerts', 'twzrd_health', args)
    first, second = twzrd_run(config, 'alerts'), twzrd_run(config, 'alerts')
    assert 'NEW WARNING disk /' in first.stdout and 'what to do:' in first.stdout
    assert (second.returncode, second.stdout) == (1, '')  # no hourly mail for the same warning


def test_runner_reports_a_timeout_once_and_its_recovery(tmp_path, webhook):
    """A job the runner had to kill is a failure of that job: told once through its channels, resolved
    by its next good run, in the job's own log."""
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    config = tmp_path / 'etc'
    config.mkdir()
    args = host.args(disk_warning=min(98.0, host.disk_pct + 20), disk_critical=99.5)
    write_job(config, 'alerts', 'twzrd_health', args, timeout=0.01)
    first = twzrd_run(config, 'alerts')
    assert first.returncode == 3
    assert first.stdout == ''  # the channel took it: nothing for cron to mail
    [(title, body)] = webhook.messages()
    assert title.endswith(': FAILED') and 'killed after 0.01s (timeout)' in body
    assert 'raise install_job_timeout' in body
    second = twzrd_run(config, 'alerts')
    assert (second.returncode, second.stdout) == (3, '') and len(webhook.bodies) == 1

    write_job(config, 'alerts', 'twzrd_health', args)
    third = twzrd_run(config, 'alerts')
    assert (third.returncode, third.stdout) == (0, '')
    assert len(webhook.bodies) == 2 and 'RESOLVED job_failed' in webhook.messages()[1][1]
    statuses = [line['status'] for line in host.log_lines()[-3:]]
    assert statuses == ['failed', 'failed', 'ok']  # one line per run, none twice


def test_runner_reports_an_unreadable_job_file_through_its_notify_file(tmp_path, webhook):
    host = Host(tmp_path, [webhook.url(WEBHOOK_TOKEN)])
    config = tmp_path / 'etc'
    config.mkdir()
    (config / 'db_health.json').write_text('{"twzrd_run": {"module": "twzrd_db_health"}, ')
    (config / 'db_health.notify.json').write_text(json.dumps(
        {'notify': host.notify, 'state_file': str(host.state), 'log_file': str(tmp_path / 'db.log'),
         'login_db': 'app'}))
    proc = twzrd_run(config, 'db_health')
    assert proc.returncode == 3
    [(title, body)] = webhook.messages()
    assert 'twzrd db_health' in title and 'cannot read %s' % (config / 'db_health.json') in body
    assert 'Re-run the install playbook' in body
    assert 'db_health:app' in host.state_data()['alerting']
    assert parse_line((tmp_path / 'db.log').read_text().splitlines()[-1])['status'] == 'failed'


def test_runner_test_notify_tries_each_channel_list_once(tmp_path, smtp, webhook):
    config = tmp_path / 'etc'
    config.mkdir()
    shared = {'urls': [smtp.url(), webhook.url(WEBHOOK_TOKEN)], 'timeout': 5}
    write_job(config, 'alerts', 'twzrd_health', {'notify': shared})
    write_job(config, 'health', 'twzrd_health', {'notify': shared})
    write_job(config, 'vacuum', 'twzrd_vacuum', {'notify': {'urls': ['json://127.0.0.1:%d/x' % free_port()],
                                                            'timeout': 3}})
    write_job(config, 'restart', 'pm2_restart', {})
    proc = twzrd_run(config, '--test-notify')
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout
    assert 'channels of alerts, health:' in out and 'channels of vacuum:' in out
    assert re.search(r'#1 mailto\s+delivered', out) and re.search(r'#2 json\s+delivered', out)
    assert re.search(r'#1 json\s+NOT delivered', out)
    assert 'restart: no notify.urls configured' in out
    assert len(smtp.messages) == 1 and len(webhook.bodies) == 1  # one test per distinct channel list
    assert SMTP_PASSWORD not in out and WEBHOOK_TOKEN not in out
    only = twzrd_run(config, '--test-notify', 'alerts')
    assert only.returncode == 0 and 'vacuum' not in only.stdout


def run_playbook(name, extra_vars, tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    vars_file = tmp_path / 'vars.json'
    vars_file.write_text(json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable)))
    vars_file.chmod(0o600)
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-e', '@%s' % vars_file, os.path.join(ROOT, 'playbooks', name)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False, timeout=300)


def test_notify_test_playbook_reports_each_channel(tmp_path, smtp, webhook):
    good = {'urls': [smtp.url(), webhook.url(WEBHOOK_TOKEN)], 'timeout': 5}
    proc = run_playbook('notify_test.yml', {'twzrd_notify': good}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '#1 mailto: delivered' in proc.stdout and '#2 json: delivered' in proc.stdout
    assert len(smtp.messages) == 1 and len(webhook.bodies) == 1

    down = dict(good, urls=good['urls'] + ['json://127.0.0.1:%d/x' % free_port()])
    proc = run_playbook('notify_test.yml', {'twzrd_notify': down}, tmp_path)
    assert proc.returncode != 0
    assert '#3 json: NOT delivered' in proc.stdout
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN):
        assert secret not in proc.stdout + proc.stderr

    proc = run_playbook('notify_test.yml', {}, tmp_path)
    assert proc.returncode != 0 and 'Set twzrd_notify.urls' in proc.stdout


def test_runner_prints_a_failed_jobs_alert_with_what_to_do(tmp_path):
    """Issue 10 item 2: a job that found PostgreSQL down is mailed with its alert and remediation,
    not one bare line; told once, like any alert. A database down is a critical alert, not a failure
    (plugins/module_utils/core/job_module.py): exit code 2, status critical."""
    config = tmp_path / 'etc'
    config.mkdir()
    write_job(config, 'vacuum', 'twzrd_vacuum', {
        'login_host': '127.0.0.1', 'login_port': free_port(), 'login_db': 'app', 'login_user': 'nobody',
        'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'vacuum.log')})
    proc = twzrd_run(config, 'vacuum')
    assert proc.returncode == 2
    out = proc.stdout
    assert 'CRITICAL' in out and 'connection' in out and 'what to do:' in out, out
    assert 'docs/runbooks.md#postgresql-down-or-refusing-connections' in out  # the remediation's runbook section
    line = parse_line((tmp_path / 'vacuum.log').read_text().splitlines()[-1])
    assert line['status'] == 'critical'
