"""The fleet summary with ansible-playbook for real, over several inventory hosts (docs/fleet.md).

Every host but one runs on this machine (``ansible_connection: local``) with host vars that drive
its status; one is an ssh host on a 127.0.0.1 port nothing listens on, so it is really unreachable.
"""
import json
import os
import stat
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT, free_port

# Thresholds no machine reaches, so a host is ok unless its own vars say otherwise.
QUIET = {'twzrd_load_warning': 9999, 'twzrd_load_critical': 10000, 'twzrd_swap_warning': 99.98,
         'twzrd_swap_critical': 99.99, 'twzrd_disk_warning': 99.98, 'twzrd_disk_critical': 99.99}
HEALTH_ORDER = [('bad-args', 'failed'), ('bad-vars', 'failed'), ('gone', 'unreachable'), ('db-crit', 'critical'),
                ('web-warn', 'warning'), ('web-ok', 'ok')]


def inventory(tmp_path, hosts, common=None):
    """A YAML inventory (JSON is YAML) of local hosts, plus the given host vars."""
    variables = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    variables.update(common or {})
    path = tmp_path / 'inventory.yml'
    path.write_text(json.dumps({'all': {'vars': variables, 'hosts': hosts}}))
    return str(path)


def health_fleet(tmp_path):
    def state(name):
        return {'twzrd_state_file': str(tmp_path / ('%s-state.json' % name))}
    hosts = {
        'web-ok': state('ok'),
        'web-warn': dict(state('warn'), twzrd_disk_warning=0.01),
        'db-crit': dict(state('crit'), twzrd_disk_warning=0.01, twzrd_disk_critical=0.02),
        # the module refuses its arguments: it ran and failed
        'bad-args': dict(state('bad-args'), twzrd_load_warning=-1),
        # the role's argument check fails before the module runs
        'bad-vars': dict(state('bad-vars'), twzrd_report_days='many'),
        'gone': {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': free_port(),
                 'ansible_user': 'nobody', 'ansible_ssh_common_args': '-o ConnectTimeout=5 -o BatchMode=yes'},
    }
    common = dict(QUIET, twzrd_pm2_home=str(tmp_path / 'no-pm2'))
    return inventory(tmp_path, hosts, common)


def play(tmp_path, inventory_path, name, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), ANSIBLE_FORKS='10',
               ANSIBLE_HOST_KEY_CHECKING='false')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory_path,
           os.path.join(ROOT, 'playbooks', name)] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)


def printed_table(stdout, job):
    """The summary lines the playbook printed (debug output of the fleet_summary role)."""
    start = stdout.index('"twzrd.ops %s' % job)
    lines = []
    for raw in stdout[start:].splitlines():
        raw = raw.strip().rstrip(',')
        if not raw.startswith('"'):
            break
        lines.append(json.loads(raw))
    return lines


def recap(stdout):
    rows = {}
    for line in stdout[stdout.index('PLAY RECAP'):].splitlines()[1:]:
        if ':' in line:
            host, counts = line.split(':', 1)
            rows[host.strip()] = dict(field.split('=') for field in counts.split())
    return rows


def read_reports(report_dir, job):
    data = json.loads((report_dir / ('fleet-%s.json' % job)).read_text())
    markdown = (report_dir / ('fleet-%s.md' % job)).read_text()
    return data, markdown


def test_alerts_on_a_fleet_one_summary_worst_first_with_the_unreachable_host(tmp_path):
    report_dir = tmp_path / 'reports'
    proc = play(tmp_path, health_fleet(tmp_path), 'alerts.yml', '-e', 'twzrd_report_dir=%s' % report_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out  # failed and unreachable hosts fail the run

    lines = printed_table(proc.stdout, 'alerts')
    assert lines[0] == 'twzrd.ops alerts: 6 hosts: 2 failed, 1 unreachable, 1 critical, 1 warning, 1 ok'
    assert lines[1].split() == ['HOST', 'STATUS', 'CHECK', 'VALUE', 'THRESHOLD', 'DETAIL']
    assert [tuple(line.split()[:2]) for line in lines[2:]] == [(h, s.upper()) for h, s in HEALTH_ORDER]
    assert 'disk /' in lines[5] and '0.02' in lines[5]
    assert 'load_warning must be >= 0' in lines[2]
    assert 'twzrd_report_days' in lines[3]
    assert 'Failed to connect to the host via ssh' in lines[4]

    data, markdown = read_reports(report_dir, 'alerts')
    assert [(row['host'], row['status']) for row in data['hosts']] == HEALTH_ORDER
    assert data['totals'] == {'failed': 2, 'unreachable': 1, 'critical': 1, 'warning': 1, 'not_run': 0, 'ok': 1}
    assert data['job'] == 'alerts' and data['check_mode'] is False and data['hosts_total'] == 6
    assert data['failing'] == ['bad-args', 'bad-vars', 'gone'] and data['fail_on'] == 'never'
    assert "(task: Validating arguments against arg spec 'main'" in data['hosts'][1]['detail']
    crit = data['hosts'][3]
    assert (crit['check'], crit['subject'], crit['threshold']) == ('disk', '/', 0.02) and crit['value'] > 0.02
    assert '**6 hosts: 2 failed, 1 unreachable, 1 critical, 1 warning, 1 ok**' in markdown
    table = [line for line in markdown.splitlines() if line.startswith('| ')][1:]
    assert [(line.split(' | ')[0][2:], line.split(' | ')[1]) for line in table] == [
        (h, s.upper()) for h, s in HEALTH_ORDER]
    # written atomically (no temp files left) and not world-readable
    assert sorted(os.listdir(str(report_dir))) == ['fleet-alerts.json', 'fleet-alerts.md']
    assert stat.S_IMODE(os.stat(str(report_dir / 'fleet-alerts.json')).st_mode) == 0o640

    # Failed and unreachable hosts end failed (not dropped); the others do not.
    rows = recap(proc.stdout)
    assert set(rows) == set(h for h, _s in HEALTH_ORDER)
    assert [h for h, counts in sorted(rows.items()) if counts['failed'] != '0'] == ['bad-args', 'bad-vars', 'gone']


def test_health_in_check_mode_with_fail_on_fails_the_critical_host_too(tmp_path):
    report_dir = tmp_path / 'reports'
    proc = play(tmp_path, health_fleet(tmp_path), 'health.yml', '--check', '-e', 'twzrd_fail_on=critical',
                '-e', 'twzrd_fleet_report_dir=%s' % report_dir)  # the controller's directory alone
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = printed_table(proc.stdout, 'health')
    assert lines[0].startswith('twzrd.ops health (check mode): 6 hosts: 2 failed, 1 unreachable, 1 critical')
    data, markdown = read_reports(report_dir, 'health')
    assert data['check_mode'] is True and markdown.startswith('# twzrd.ops health (check mode)')
    assert [(row['host'], row['status']) for row in data['hosts']] == HEALTH_ORDER
    assert data['failing'] == ['bad-args', 'bad-vars', 'gone', 'db-crit']
    assert 'db-crit is critical: disk / ' in proc.stdout and '(twzrd_fail_on=critical)' in proc.stdout
    failed = [h for h, counts in recap(proc.stdout).items() if counts['failed'] != '0']
    assert sorted(failed) == ['bad-args', 'bad-vars', 'db-crit', 'gone']
    # check mode: the report-mode run wrote no state
    assert not list(tmp_path.glob('*-state.json'))


@pytest.fixture
def steady(pm2):
    pm2.start('steady.js', 'steady')
    pm2.wait_for(lambda procs: [p['pm2_env']['status'] for p in procs] == ['online'])
    return pm2


def steady_pid(pm2):
    return [p['pid'] for p in pm2.jlist() if p['name'] == 'steady'][0]


def test_restart_stops_at_the_failed_host_and_the_summary_lists_the_untouched_one(steady, tmp_path):
    empty_home = tmp_path / 'empty-pm2-home'
    empty_home.mkdir()
    hosts = {'r1': {'twzrd_pm2_home': steady.home}, 'r2': {'twzrd_pm2_home': str(empty_home)},
             'r3': {'twzrd_pm2_home': steady.home}}
    inventory_path = inventory(tmp_path, hosts, {'twzrd_pm2_bin': steady.bin})
    before = steady_pid(steady)
    report_dir = tmp_path / 'reports'
    extra = {'twzrd_restart_apps': ['steady'], 'twzrd_restart_settle_seconds': 0,
             'twzrd_state_file': str(tmp_path / 'state.json'), 'twzrd_restart_log_file': str(tmp_path / 'restart.log'),
             'twzrd_report_dir': str(report_dir)}
    proc = play(tmp_path, inventory_path, 'restart.yml', '-e', json.dumps(extra))
    assert proc.returncode == 2, proc.stdout + proc.stderr

    after_r1 = steady_pid(steady)
    assert after_r1 != before  # r1 restarted it; r3 (same daemon) never ran, or it would have changed again
    data, _markdown = read_reports(report_dir, 'restart')
    assert [(row['host'], row['status']) for row in data['hosts']] == [
        ('r2', 'failed'), ('r3', 'not_run'), ('r1', 'ok')]
    assert data['hosts'][0]['check'] == 'job_failed' and 'PM2 daemon is not running' in data['hosts'][0]['detail']
    assert data['hosts'][1]['detail'] == 'untouched, the rollout stopped before this host'
    lines = printed_table(proc.stdout, 'restart')
    assert lines[0] == 'twzrd.ops restart: 3 hosts: 1 failed, 1 not run, 1 ok'
    log = (tmp_path / 'restart.log').read_text().splitlines()
    assert len(log) == 2  # r1's restart and r2's failure; nothing from r3
