"""twzrd_health against a real PM2, run the way cron runs it (module executed directly)."""
import json
import os
import time

from harness import run_module
from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

SECRET = 'twzrd-marker-7f3a9c1e5b'
# Thresholds out of reach so only PM2 decides the outcome on a busy CI machine.
QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}


def alerts_args(pm2, tmp_path, **extra):
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2.bin, pm2_home=pm2.home,
                state_file=str(tmp_path / 'state' / 'state.json'), log_file=str(tmp_path / 'alerts.log'))
    args.update(extra)
    return args


def run_ok(args, tmp_path):
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result is not None, (out, err)
    assert not result.get('failed'), result
    return result


def restart_time(procs, name):
    return sum(p['pm2_env']['restart_time'] for p in procs if p['name'] == name)


def test_healthy_host_is_ok_and_silent(pm2, tmp_path):
    pm2.start('steady.js', 'web')
    args = alerts_args(pm2, tmp_path, pm2_expected_apps=['web'])
    first = run_ok(args, tmp_path)
    second = run_ok(args, tmp_path)
    for result in (first, second):
        assert result['status'] == 'ok' and result['alerts'] == []
        assert result['metrics']['pm2']['apps']['web']['online'] == 1
    lines = (tmp_path / 'alerts.log').read_text().splitlines()
    assert len(lines) == 2
    fields = parse_line(lines[-1])
    assert fields['job'] == 'twzrd_health' and fields['mode'] == 'alerts' and fields['status'] == 'ok'
    assert fields['pm2_apps'] == '1' and fields['msg'] == 'all checks ok'
    state = json.loads((tmp_path / 'state' / 'state.json').read_text())
    assert state['pm2']['daemons'] == {pm2.home: {'user': 'root', 'restart_baseline': {'web#0': 0}, 'own_restarts': {}}}


def test_crash_looping_app_is_reported_with_value_threshold_remediation(pm2, tmp_path):
    pm2.start('steady.js', 'web')
    pm2.start('crashloop.js', 'looper', extra_args=['--restart-delay', '100'])
    args = alerts_args(pm2, tmp_path)
    baseline = run_ok(args, tmp_path)  # first run: learns the counters
    before = baseline['metrics']['pm2']['apps']['looper']['restart_time']
    pm2.wait_for(lambda procs: restart_time(procs, 'looper') >= before + 2)
    result = run_ok(args, tmp_path)
    assert result['status'] == 'warning'
    [alert] = result['alerts']
    assert alert['check'] == 'pm2_crashes' and alert['subject'] == 'looper'
    assert alert['value'] >= 2 and alert['threshold'] == 0
    assert 'crash restarts since the last check' in alert['message']
    assert 'pm2 logs looper --err' in alert['remediation']
    assert alert['new'] is True
    line = parse_line((tmp_path / 'alerts.log').read_text().splitlines()[-1])
    assert line['status'] == 'warning' and 'PM2 app looper' in line['msg']


def test_errored_app_is_reported(pm2, tmp_path):
    pm2.start('dies.js', 'broken', extra_args=['--max-restarts', '1'])
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'errored' for p in procs))
    result = run_ok(alerts_args(pm2, tmp_path), tmp_path)
    [alert] = result['alerts']
    assert alert['subject'] == 'broken' and alert['level'] == 'warning'
    assert '1 of 1 instance errored' in alert['message']


def test_restarts_made_by_the_collection_are_not_crashes(pm2, tmp_path):
    pm2.start('steady.js', 'web')
    args = alerts_args(pm2, tmp_path)
    run_ok(args, tmp_path)
    pm2.cmd('restart', 'web')
    state_path = tmp_path / 'state' / 'state.json'
    state = json.loads(state_path.read_text())
    state['pm2']['daemons'][pm2.home]['own_restarts'] = {'web#0': 1}  # what pm2_restart records
    state_path.write_text(json.dumps(state))
    result = run_ok(args, tmp_path)
    assert result['status'] == 'ok', result['alerts']
    assert json.loads(state_path.read_text())['pm2']['daemons'][pm2.home]['own_restarts'] == {}
    pm2.cmd('restart', 'web')  # a restart nobody recorded counts
    assert run_ok(args, tmp_path)['alerts'][0]['subject'] == 'web'


def pm2_processes_for(home):
    """PIDs of PM2 daemons whose PM2_HOME is ``home`` (read from /proc)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % pid, 'rb') as handle:
                env = handle.read().split(b'\0')
        except OSError:
            continue
        if ('PM2_HOME=%s' % home).encode() in env:
            found.append(int(pid))
    return found


def test_no_daemon_is_ever_spawned(pm2, tmp_path):
    os.makedirs(pm2.home)
    args = alerts_args(pm2, tmp_path)
    quiet = run_ok(args, tmp_path)
    assert quiet['status'] == 'ok' and quiet['metrics']['pm2']['daemon_running'] is False
    report = run_ok(dict(args, mode='report'), tmp_path)
    assert report['report']['pm2']['daemon_running'] is False
    expected = run_ok(dict(args, pm2_expected_apps=['api', 'worker']), tmp_path)
    [alert] = expected['alerts']
    assert alert['check'] == 'pm2_daemon' and alert['level'] == 'critical'
    assert 'but 2 app(s) are expected: api, worker' in alert['message'] and 'pm2 resurrect' in alert['remediation']
    time.sleep(0.5)
    assert not os.path.exists(os.path.join(pm2.home, 'pm2.pid'))
    assert pm2_processes_for(pm2.home) == []


def test_a_daemon_that_died_is_critical_until_it_is_back(pm2, tmp_path):
    pm2.start('steady.js', 'web')
    args = alerts_args(pm2, tmp_path)  # no pm2_expected_apps: the last check's apps count
    assert run_ok(args, tmp_path)['status'] == 'ok'
    pm2.kill()
    for _hour in range(2):
        [alert] = run_ok(args, tmp_path)['alerts']
        assert alert['check'] == 'pm2_daemon' and alert['level'] == 'critical'
        assert 'but 1 app(s) were running at the last check: web' in alert['message']
    pm2.start('steady.js', 'web')
    back = run_ok(args, tmp_path)
    assert back['status'] == 'ok' and back['recovered'] == ['pm2_daemon']


def test_stale_pid_file_does_not_spawn_a_daemon(pm2, tmp_path):
    pm2.start('steady.js', 'web')
    pm2.kill()
    with open(os.path.join(pm2.home, 'pm2.pid'), 'w') as handle:
        handle.write('999999999')  # a daemon that died without cleaning up
    result = run_ok(alerts_args(pm2, tmp_path, pm2_expected_apps=['web']), tmp_path)
    assert result['alerts'][0]['check'] == 'pm2_daemon'
    assert pm2_processes_for(pm2.home) == []


def test_no_secret_from_the_pm2_environment_leaks(pm2, tmp_path):
    pm2.start('steady.js', 'web', env={'TWZRD_TEST_SECRET': SECRET, 'DB_PASSWORD': SECRET + '-db'})
    pm2.start('crashloop.js', 'looper', env={'API_TOKEN': SECRET})
    pm2.wait_for(lambda procs: restart_time(procs, 'looper') >= 1)
    time.sleep(0.5)  # let the steady app's stderr line reach its log
    assert SECRET in (tmp_path / 'pm2home' / 'logs' / 'web-error.log').read_text()
    outputs = []
    for mode in ('alerts', 'report'):
        args = alerts_args(pm2, tmp_path, mode=mode, log_file=str(tmp_path / ('%s.log' % mode)),
                           include_system_log=False)
        rc, result, out, err = run_module('twzrd_health', args, tmp_path)
        assert rc == 0 and result['status'] in ('ok', 'warning'), (out, err)
        outputs += [out, err]
    report = json.loads(outputs[2])['report']
    web_log = [s for s in report['log_errors']['sources'] if s['source'].endswith('web-error.log')][0]
    assert web_log['errors'] == 1 and '***' in web_log['last']
    for path in ('alerts.log', 'report.log', 'state/state.json'):
        outputs.append((tmp_path / path).read_text())
    for text in outputs:
        assert SECRET not in text
        assert 'TWZRD_TEST_SECRET' not in text and 'DB_PASSWORD' not in text


def test_report_mode_counts_log_errors_and_leaves_state_alone(pm2, tmp_path):
    pm2.start('crashloop.js', 'looper')
    pm2.wait_for(lambda procs: restart_time(procs, 'looper') >= 2)
    app_log = tmp_path / 'app.log'
    app_log.write_text('2020-01-01T00:00:00Z Error: ancient\n'
                       '%s Error: recent failure id=42\n' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    args = alerts_args(pm2, tmp_path, mode='report', log_paths=[str(tmp_path / '*.log')],
                       include_system_log=False, log_errors_warning=1000)
    result = run_ok(args, tmp_path)
    report = result['report']
    assert report['period_days'] == 7
    [looper] = report['pm2']['apps']
    assert looper['name'] == 'looper' and looper['restarts'] >= 2
    sources = dict((s['source'], s) for s in report['log_errors']['sources'])
    assert sources[str(app_log)]['errors'] == 1
    looper_log = [s for name, s in sources.items() if name.endswith('looper-error.log')][0]
    assert looper_log['errors'] >= 2 and 'ECONNREFUSED' in looper_log['top'][0]['message']
    assert any(line.startswith('errors in logs over 7 days:') for line in result['summary'])
    assert not (tmp_path / 'state').exists()  # report mode never writes state


def test_pm2_owned_by_another_user(nobody_pm2, tmp_path):
    """PM2 runs as its own user; the module (root, like cron) reads it as that user."""
    nobody_pm2.start('steady.js', 'owned')
    args = alerts_args(nobody_pm2, tmp_path, pm2_user='nobody', pm2_expected_apps=['owned'])
    result = run_ok(args, tmp_path)
    assert result['status'] == 'ok', result['alerts']
    assert result['metrics']['pm2']['user'] == 'nobody'
    assert result['metrics']['pm2']['apps']['owned']['online'] == 1
