import json
import os

from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as checks
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client as pm2

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'pm2_jlist.json')
GIB = 1073741824


def recorded_processes():
    with open(FIXTURE) as handle:
        return [pm2.summarize_process(p) for p in json.load(handle)]


def swap(pct, total=4 * GIB):
    return {'present': total > 0, 'total_bytes': total, 'used_bytes': int(total * pct / 100), 'used_percent': pct}


def test_swap_levels():
    assert checks.check_swap(swap(20.0), 20, 80) == []
    [alert] = checks.check_swap(swap(25.0), 20, 80)
    assert (alert['level'], alert['value'], alert['threshold']) == ('warning', 25.0, 20)
    assert 'swap 25.0% used (1.0 GiB of 4.0 GiB), above the warning threshold of 20' in alert['message']
    assert alert['remediation']
    assert checks.check_swap(swap(81.0), 20, 80)[0]['level'] == 'critical'


def test_no_swap_is_ok():
    assert checks.check_swap({'present': False, 'total_bytes': 0, 'used_bytes': 0, 'used_percent': 0.0}, 20, 80) == []


def test_load_absolute_and_per_cpu():
    load = {'load1': 9.0, 'load5': 5.0, 'load15': 3.0, 'cpu_count': 4}
    [alert] = checks.check_load(load, 8, 12)
    assert alert['level'] == 'warning' and alert['value'] == 9.0
    assert checks.check_load(load, 8, 12, per_cpu=True) == []
    [alert] = checks.check_load(dict(load, load1=13.0), 2, 3, per_cpu=True)
    assert alert['level'] == 'critical' and alert['value'] == 3.25 and 'per CPU' in alert['message']


def test_disks_levels_and_missing_path():
    disks = {
        '/': {'total_bytes': 100, 'used_bytes': 90, 'free_bytes': 10, 'used_percent': 90.0},
        '/data': {'total_bytes': 100, 'used_bytes': 96, 'free_bytes': 4, 'used_percent': 96.0},
        '/srv': {'total_bytes': 100, 'used_bytes': 10, 'free_bytes': 90, 'used_percent': 10.0},
        '/gone': {'error': 'No such file or directory'},
    }
    alerts = {a['subject']: a for a in checks.check_disks(disks, 85, 95)}
    assert alerts['/']['level'] == 'warning' and alerts['/data']['level'] == 'critical'
    assert '/srv' not in alerts
    assert alerts['/gone']['level'] == 'warning' and 'No such file' in alerts['/gone']['message']
    assert 'du -xh --max-depth=2 /data' in alerts['/data']['remediation']


def test_restart_growth_fresh_start_counts_nothing():
    procs = recorded_processes()
    growth, baseline = checks.restart_growth(procs, {}, {})
    assert set(growth.values()) == {0}
    assert baseline == {'api#0': 0, 'api#1': 0, 'worker#2': 9, 'cron-job#3': 0}


def test_restart_growth_subtracts_own_restarts_and_handles_resets():
    procs = recorded_processes()  # worker#2 has restart_time 9
    growth, _baseline = checks.restart_growth(procs, {'worker#2': 4, 'api#0': 0, 'api#1': 0, 'cron-job#3': 0}, {'worker#2': 2})
    assert growth['worker#2'] == 3
    growth, _baseline = checks.restart_growth(procs, {'worker#2': 20}, {})  # counter went down: reset
    assert growth['worker#2'] == 9
    growth, _baseline = checks.restart_growth(procs, {'other#9': 1}, {})  # new process: all of it is new
    assert growth['worker#2'] == 9 and growth['api#0'] == 0
    growth, _baseline = checks.restart_growth(procs, {'worker#2': 4}, {'worker#2': 50})  # never negative
    assert growth['worker#2'] == 0


def test_pm2_crash_alerts_from_recorded_jlist():
    procs = recorded_processes()
    growth, _baseline = checks.restart_growth(procs, {'worker#2': 4, 'api#0': 0, 'api#1': 0, 'cron-job#3': 0}, {})
    apps = checks.summarize_apps(procs, growth)
    assert apps['api']['instances'] == 2 and apps['api']['crashes'] == 0
    alerts = {a['subject']: a for a in checks.check_pm2_crashes(apps, 0)}
    assert set(alerts) == {'worker', 'cron-job'}
    assert alerts['worker']['value'] == 5 and alerts['worker']['threshold'] == 0
    assert alerts['worker']['message'] == \
        'PM2 app worker: 5 crash restarts since the last check (threshold: more than 0)'
    assert 'pm2 logs worker --err' in alerts['worker']['remediation']
    assert alerts['cron-job']['message'] == 'PM2 app cron-job: 1 of 1 instance stopped (threshold: more than 0)'


def test_pm2_crash_critical_and_errored():
    procs = recorded_processes()
    procs[0]['status'] = 'errored'
    apps = checks.summarize_apps(procs, {'api#0': 4})
    [alert] = [a for a in checks.check_pm2_crashes(apps, 0, 3) if a['subject'] == 'api']
    assert alert['level'] == 'critical' and alert['value'] == 5
    assert '4 crash restarts since the last check, 1 of 2 instances errored' in alert['message']


def test_pm2_presence():
    assert checks.check_pm2_presence(False, {}, [], '/h') == []
    [alert] = checks.check_pm2_presence(False, {}, ['api', 'worker'], '/home/app/.pm2')
    assert alert['level'] == 'critical' and alert['check'] == 'pm2_daemon'
    assert 'not running (no live pid in /home/app/.pm2/pm2.pid) but 2 app(s) are expected: api, worker' in alert['message']
    [alert] = checks.check_pm2_presence(False, {}, [], '/h', seen_last_time=['web', 'api', 'web'])
    assert alert['check'] == 'pm2_daemon' and alert['level'] == 'critical'
    assert alert['message'].endswith('but 2 app(s) were running at the last check: api, web')
    assert checks.check_pm2_presence(True, {}, [], '/h', seen_last_time=['web']) == []
    [alert] = checks.check_pm2_presence(True, {'api': {}}, ['api', 'worker'], '/h')
    assert alert['check'] == 'pm2_missing_app' and alert['subject'] == 'worker' and alert['level'] == 'critical'


def test_log_errors_threshold_optional():
    errors = {'total': 12, 'sources': [{'source': '/var/log/a.log', 'errors': 12}]}
    assert checks.check_log_errors(errors, None, 7) == []
    [alert] = checks.check_log_errors(errors, 10, 7)
    assert alert['value'] == 12 and alert['threshold'] == 10 and '/var/log/a.log (12)' in alert['message']
