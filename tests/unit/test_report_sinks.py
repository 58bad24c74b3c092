"""The report stage's sinks (plugins/module_utils/report/sinks.py), each called with a Run, no AnsibleModule:
what each one does, that a failing side output warns and never loses an alert, and the order."""
import http.server
import json
import os
import re
import socket
import threading

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.core import logline
from ansible_collections.twzrd.ops.plugins.module_utils.report import sinks
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING, make_alert
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import failure_result
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateStore

HOUR = 3600.0
T0 = 1780000000.0


def disk(level=WARNING, value=91):
    return make_alert('disk', level, value, 90, 'disk / is %s%% full' % value, 'free space on /', subject='/')


def params(tmp_path, **more):
    base = {'state_file': str(tmp_path / 'state.json'), 'log_file': None, 'notify': None, 'ping_url': None,
            'textfile_dir': None, 'accept': [], 'report_dir': None, 'report_keep': 12, 'on_demand': False,
            'notify_on_demand': False}
    base.update(more)
    return base


def new_run(tmp_path, alerts, started=T0, **kwargs):
    options = kwargs.pop('options', {})
    result = {'alerts': list(alerts), 'metrics': {'disk': {'/': 91}}, 'changed': False}
    return sinks.Run('alerts', 'twzrd_health', params(tmp_path, **options), result, started=started, host='web1',
                     **kwargs)


@pytest.fixture(autouse=True)
def no_silences(tmp_path, monkeypatch):
    monkeypatch.setenv('TWZRD_SILENCES_FILE', str(tmp_path / 'no-silences.json'))


class Receiver:
    """A real HTTP endpoint an Apprise json:// URL posts to."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  # the http.server name
                bodies.append(json.loads(self.rfile.read(int(self.headers['Content-Length']))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return 'json://127.0.0.1:%d/hook' % self.server.server_address[1]


@pytest.fixture
def receiver():
    served = Receiver()
    yield served
    served.server.shutdown()
    served.server.server_close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_the_order_is_the_design():
    names = [s.__name__ for s in sinks.SINKS]
    assert names == ['conditions', 'tracking', 'summary', 'message', 'report_file', 'page', 'outbox',
                     'save_state', 'ping', 'textfile', 'log_line']
    # every sink's name is in the module docstring's list, in this order
    positions = [sinks.__doc__.index('``%s``' % name) for name in names]
    assert positions == sorted(positions)


def test_conditions_accept_an_alert_and_set_the_status(tmp_path):
    accept = [{'check': 'disk', 'subject': '/', 'until': None, 'reason': 'resize on Monday'}]
    run = new_run(tmp_path, [disk(), make_alert('load', CRITICAL, 20, 12, 'load 20', 'look')],
                  options={'accept': accept})
    sinks.conditions(run)
    assert [a['check'] for a in run.result['alerts']] == ['load'] and run.result['status'] == CRITICAL
    assert [a['check'] for a in run.result['accepted']] == ['disk'] and run.result['twzrd_reported'] is True


def test_tracking_tells_a_new_alert_once_and_the_message_says_it(tmp_path):
    first = new_run(tmp_path, [disk()])
    for sink in (sinks.conditions, sinks.tracking, sinks.summary, sinks.message, sinks.save_state):
        sink(first)
    assert [e['event'] for e in first.events] == [alerting.FIRING]
    assert first.message[0].endswith('WARNING') and 'disk / is 91% full' in first.result['message']
    with StateStore(str(tmp_path / 'state.json'), read_only=True) as store:
        assert list(store.section(sinks.SECTION)['alerts']['alerts']) == ['disk:/']
    again = new_run(tmp_path, [disk(value=92)], started=T0 + HOUR)
    for sink in (sinks.conditions, sinks.tracking, sinks.message):
        sink(again)
    assert again.events == [] and again.message is None and 'message' not in again.result


def test_a_quiet_on_demand_run_tracks_but_saves_nothing(tmp_path):
    run = new_run(tmp_path, [disk()], options={'on_demand': True})
    sinks.report(run)
    assert run.quiet and run.events and 'message' in run.result  # what cron would tell
    assert not os.path.exists(tmp_path / 'state.json')


def test_the_log_line_is_last_and_counts_what_the_others_did(tmp_path, receiver):
    log = tmp_path / 'twzrd.log'
    run = new_run(tmp_path, [disk()], log_extra=[('mode', 'alerts')], log_metrics=[('disk_pct', 91)],
                  options={'log_file': str(log), 'notify': {'urls': [receiver.url()], 'timeout': 10}})
    sinks.report(run)
    assert run.warnings == [] and len(receiver.bodies) == 1
    line = logline.parse_line(log.read_text())
    assert line['job'] == 'twzrd_health' and line['mode'] == 'alerts' and line['status'] == 'warning'
    assert line['disk_pct'] == '91' and line['notified'] == '1' and line['msg'] == 'WARNING disk / is 91% full'
    assert run.result['notification']['sent'] == 1


def test_a_channel_down_keeps_the_message_pending_and_the_alert(tmp_path):
    url = 'json://127.0.0.1:%d/hook' % closed_port()
    run = new_run(tmp_path, [disk()], options={'notify': {'urls': [url], 'timeout': 5}})
    sinks.report(run)
    assert run.result['status'] == WARNING and run.result['alerts'][0]['check'] == 'disk'
    assert 'disk / is 91% full' in run.result['notification']['undelivered']
    assert any(w.startswith('notification not delivered via') for w in run.warnings)
    with StateStore(str(tmp_path / 'state.json'), read_only=True) as store:
        pending = store.section(sinks.SECTION)['alerts']['pending']
    assert len(pending) == 1 and 'disk / is 91% full' in pending[0]['body']


def test_every_side_output_failing_warns_and_keeps_the_alert(tmp_path):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    run = new_run(tmp_path, [disk(level=CRITICAL, value=99)],
                  options={'state_file': str(blocker / 'state.json'), 'log_file': str(blocker / 'x.log'),
                           'report_dir': str(blocker / 'reports'), 'textfile_dir': str(blocker / 'textfile'),
                           'ping_url': 'http://127.0.0.1:%d/ping' % closed_port()})
    sinks.report(run)
    said = '\n'.join(run.warnings)
    for words in ('alert history not kept', 'report not kept in report_dir', "dead-man's switch",
                  'cannot append to log_file'):
        assert words in said, (words, said)
    assert run.result['status'] == CRITICAL and [a['check'] for a in run.result['alerts']] == ['disk']
    assert run.events and 'disk / is 99% full' in run.result['message']  # no history: told as new


def test_a_required_log_line_that_cannot_be_written_is_the_run_s_error(tmp_path):
    run = new_run(tmp_path, [], log_required=True, options={'log_file': str(tmp_path / 'no' / 'dir.log')})
    sinks.report(run)
    assert run.log_error.startswith('cannot append to log_file') and run.warnings == []


def test_report_file_and_page_keep_the_weekly_report(tmp_path):
    reports = tmp_path / 'reports'
    result = {'alerts': [], 'metrics': {}}
    run = sinks.Run('health', 'twzrd_health', params(tmp_path, report_dir=str(reports)), result,
                    kind=sinks.REPORT_KIND, started=T0, host='web1', summarize=lambda r: ['all good'],
                    page=lambda r: {'file': '<html>%s</html>' % r['status'], 'mail': '', 'images': []})
    sinks.report(run)
    assert run.warnings == []
    text = open(result['report_text_file']).read()
    assert 'all good' in text and run.message[1] in text
    assert open(result['report_file']).read() == '<html>ok</html>'


def test_a_page_that_cannot_render_is_a_warning_and_the_text_report_stays(tmp_path):
    def broken(result):
        raise ValueError('no fonts')
    run = sinks.Run('health', 'twzrd_health', params(tmp_path, report_dir=str(tmp_path / 'r')),
                    {'alerts': [disk()], 'metrics': {}}, kind=sinks.REPORT_KIND, started=T0, page=broken)
    sinks.report(run)
    assert run.warnings == ['HTML report not rendered: no fonts'] and 'report_file' not in run.result
    assert os.path.exists(run.result['report_text_file']) and run.result['status'] == WARNING


def test_check_mode_writes_nothing(tmp_path):
    run = new_run(tmp_path, [disk()], check_mode=True,
                  options={'log_file': str(tmp_path / 'x.log'), 'report_dir': str(tmp_path / 'r'),
                           'textfile_dir': str(tmp_path / 't')})
    sinks.report(run)
    assert sorted(os.listdir(tmp_path)) == [] and run.warnings == []


def test_textfile_exports_the_job_and_a_failure_keeps_the_last_success(tmp_path):
    textfile = tmp_path / 'textfile'
    textfile.mkdir()
    good = new_run(tmp_path, [disk()], options={'textfile_dir': str(textfile)})
    sinks.report(good)
    result = failure_result('alerts', 'cannot read the state', error='state')
    failed = sinks.Run('alerts', 'twzrd_health', params(tmp_path, textfile_dir=str(textfile)), result,
                       started=T0 + HOUR, failed=True)
    sinks.report(failed)
    assert failed.status == sinks.FAILED and failed.job_state['last_success'] == int(T0)
    exported = ''.join(open(os.path.join(textfile, name)).read() for name in os.listdir(textfile))
    value = re.search(r'^twzrd_job_last_success_timestamp_seconds\{twzrd_job="alerts"\} (\S+)$', exported, re.M)
    assert float(value.group(1)) == int(T0) and 'twzrd_job_status{twzrd_job="alerts"} 3.0' in exported


def test_a_first_run_s_state_warning_is_marked_routine_and_a_corrupt_file_s_is_not(tmp_path):
    state = tmp_path / 'state.json'
    with StateStore(str(state)) as store:
        run = new_run(tmp_path, [], store=store)
        sinks.conditions(run)
    assert store.first_run and run.result['routine_warnings'] == [store.warning]
    assert store.warning.endswith('does not exist yet: fresh start')
    state.write_text('{not json')
    with StateStore(str(state)) as store:
        run = new_run(tmp_path, [], store=store)
        sinks.conditions(run)
    assert not store.first_run and 'corrupt' in store.warning and 'routine_warnings' not in run.result
