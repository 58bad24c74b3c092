"""twzrd.ops.pm2_restart against a real PM2 (private PM2_HOME) and real HTTP apps on 127.0.0.1."""
import json
import os

import pytest

from harness import free_port, run_module
from request_loop import RequestLoop

APP = 'restart_app.js'
# Short windows keep the suite quick; the logic is the same as with production defaults.
FAST = {'stable_seconds': 0.5, 'settle_seconds': 0.5, 'online_timeout': 20}


def by_name(procs):
    out = {}
    for proc in procs:
        out.setdefault(proc['name'], []).append(proc)
    return out


def pids(pm2, name):
    return sorted(p['pid'] for p in pm2.jlist() if p['name'] == name)


def all_online(names):
    def check(procs):
        found = by_name(procs)
        return all(n in found and all(p['pm2_env']['status'] == 'online' and p['pid'] for p in found[n])
                   for n in names)
    return check


class Apps:
    """Starts restart-* test apps, each on its own free port, and builds health_checks."""

    def __init__(self, pm2, tmp_path):
        self.pm2 = pm2
        self.tmp_path = tmp_path
        self.ports = {}
        self.markers = {}

    def start(self, name, instances=1, bad_mode=None):
        port = free_port()
        env = {'PORT': str(port)}
        if bad_mode:
            marker = self.tmp_path / ('%s.bad' % name)
            env.update(BAD_MARKER=str(marker), BAD_MODE=bad_mode)
            self.markers[name] = marker
        extra = ('-i', str(instances)) if instances > 1 else ()
        self.pm2.start(APP, name, env=env, extra_args=extra)
        self.ports[name] = port
        return port

    def wait(self):
        self.pm2.wait_for(all_online(list(self.ports)))

    def arm(self):
        """From now on the apps with a bad_mode misbehave when they (re)start."""
        for marker in self.markers.values():
            marker.write_text('bad')

    def health_checks(self):
        return {name: {'url': 'http://127.0.0.1:%d/health' % port, 'retries': 2, 'backoff': 0.2, 'timeout': 2}
                for name, port in self.ports.items()}


def module_args(pm2, tmp_path, **extra):
    args = {'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'state_file': str(tmp_path / 'state.json'),
            'log_file': str(tmp_path / 'restart.log')}
    args.update(FAST)
    args.update(extra)
    return args


@pytest.fixture
def apps(pm2, tmp_path):
    return Apps(pm2, tmp_path)


def test_fork_and_cluster_apps_restart_healthy_and_are_recorded(pm2, apps, tmp_path):
    apps.start('restart-cluster', instances=2)
    apps.start('restart-fork')
    apps.wait()
    before = {n: pids(pm2, n) for n in ('restart-cluster', 'restart-fork')}
    times_before = {'%s#%s' % (p['name'], p['pm_id']): p['pm2_env']['restart_time'] for p in pm2.jlist()}

    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, health_checks=apps.health_checks()),
                                      tmp_path)

    assert rc == 0, out + err
    assert result['status'] == 'ok' and result['changed'] is True
    assert result['failure'] is None and result['untouched'] == []
    done = {r['app']: r for r in result['restarted']}
    assert [r['app'] for r in result['restarted']] == ['restart-cluster', 'restart-fork']
    assert done['restart-cluster']['strategy'] == 'reload'
    assert done['restart-fork']['strategy'] == 'restart'
    for name in before:
        assert done[name]['old_pids'] == before[name]
        assert sorted(done[name]['new_pids']) == pids(pm2, name)
        assert not set(done[name]['new_pids']) & set(before[name])
        assert done[name]['health']['status'] == 200
        assert 0 < done[name]['seconds_to_healthy'] < FAST['online_timeout']
    # Every instance's restart_time grew, and exactly that growth is recorded for twzrd_health.
    grown = {'%s#%s' % (p['name'], p['pm_id']): p['pm2_env']['restart_time'] - times_before['%s#%s' % (p['name'], p['pm_id'])]
             for p in pm2.jlist()}
    state = json.loads((tmp_path / 'state.json').read_text())
    assert state['pm2']['daemons'][pm2.home]['own_restarts'] == grown == {'restart-cluster#0': 1, 'restart-cluster#1': 1, 'restart-fork#2': 1}
    line = (tmp_path / 'restart.log').read_text()
    assert line.count('\n') == 1 and 'job=pm2_restart' in line and 'restarted=2' in line and 'status=ok' in line


def test_check_mode_returns_plan_and_touches_nothing(pm2, apps, tmp_path):
    apps.start('restart-cluster', instances=2)
    apps.start('restart-fork')
    apps.wait()
    before = pm2.jlist()
    rc, result, out, err = run_module('pm2_restart', dict(module_args(pm2, tmp_path), _ansible_check_mode=True,
                                      apps=['restart-fork', 'restart-cluster']), tmp_path)
    assert rc == 0, out + err
    assert [(p['app'], p['strategy'], p['instances']) for p in result['plan']] == [
        ('restart-fork', 'restart', 1), ('restart-cluster', 'reload', 2)]
    assert result['restarted'] == []
    assert [(p['pid'], p['pm2_env']['restart_time']) for p in pm2.jlist()] == [
        (p['pid'], p['pm2_env']['restart_time']) for p in before]
    assert not (tmp_path / 'state.json').exists() and not (tmp_path / 'restart.log').exists()


def test_unknown_app_is_an_error_before_anything_restarts(pm2, apps, tmp_path):
    apps.start('restart-fork')
    apps.wait()
    before = pids(pm2, 'restart-fork')
    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, apps=['restart-fork', 'restart-nope']),
                                      tmp_path)
    assert rc != 0
    assert 'unknown PM2 app' in result['msg'] and 'restart-nope' in result['msg']
    assert pids(pm2, 'restart-fork') == before


def test_no_daemon_is_a_clear_failure_and_none_is_started(pm2, tmp_path):
    home = tmp_path / 'empty-home'
    home.mkdir()
    rc, result, out, err = run_module('pm2_restart', {'pm2_bin': pm2.bin, 'pm2_home': str(home),
                                                      'state_file': str(tmp_path / 'state.json')}, tmp_path)
    assert rc != 0
    assert 'not running' in result['msg'] and 'nothing restarted' in result['msg']
    assert not (home / 'pm2.pid').exists()
    assert os.listdir(str(home)) == []


@pytest.mark.parametrize('bad_mode, step', [
    ('unhealthy', 'health'),
    ('error', 'errors'),
    ('dead', 'online'),
])
def test_rollout_stops_at_the_failing_app(pm2, apps, tmp_path, bad_mode, step):
    apps.start('restart-first')
    apps.start('restart-bad', bad_mode=bad_mode)
    apps.start('restart-last', instances=2)
    apps.wait()
    first, last = pids(pm2, 'restart-first'), pids(pm2, 'restart-last')
    apps.arm()

    rc, result, out, err = run_module('pm2_restart', module_args(
        pm2, tmp_path, apps=['restart-first', 'restart-bad', 'restart-last'],
        health_checks=apps.health_checks(), online_timeout=10), tmp_path)

    assert rc != 0, out
    assert result['status'] == 'critical'
    assert [r['app'] for r in result['restarted']] == ['restart-first']
    failure = result['failure']
    assert (failure['app'], failure['step']) == ('restart-bad', step)
    assert result['untouched'] == ['restart-last']
    assert pids(pm2, 'restart-first') != first
    assert pids(pm2, 'restart-last') == last  # never touched
    alert = result['alerts'][0]
    assert alert['level'] == 'critical' and 'restart-bad' in alert['message'] and 'restart-last' in alert['remediation']
    if step == 'health':
        assert failure['evidence']['status'] == 500 and failure['evidence']['attempts'] == 3
    if step == 'errors':
        lines = failure['evidence']['error_lines']
        assert any('cannot connect to database' in line for line in lines)
        assert 'hunter2secret' not in json.dumps(result)
    if step == 'online':
        assert failure['evidence']['instances'][0]['status'] in ('errored', 'launching', 'stopped', 'waiting restart',
                                                                 'online')
    # The restarts we did (first app, and the failed app's command) are recorded; the never-touched app's are not.
    own = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons'][pm2.home]['own_restarts']
    assert own.get('restart-first#0') == 1 and own.get('restart-bad#1') == 1
    assert not any(key.startswith('restart-last') for key in own)
    log = (tmp_path / 'restart.log').read_text()
    assert 'failed_app=restart-bad' in log and 'failed_step=%s' % step in log


def test_cluster_reload_under_load_fails_no_request(pm2, apps, tmp_path):
    port = apps.start('restart-cluster', instances=2)
    apps.wait()
    old = pids(pm2, 'restart-cluster')
    # A slow answer is reported (max_ms), not counted as failed: only errors and non-200 are.
    loop = RequestLoop('http://127.0.0.1:%d/' % port, max_requests=20000, max_seconds=40, timeout=10)
    loop.start()
    try:
        rc, result, out, err = run_module('pm2_restart', module_args(
            pm2, tmp_path, apps=['restart-cluster'], health_checks=apps.health_checks()), tmp_path)
    finally:
        loop.stop()
    summary = loop.summary()
    print('reload under load: %s' % summary)
    assert rc == 0, out + err
    assert result['restarted'][0]['strategy'] == 'reload'
    assert summary['requests'] > 100
    assert summary['failed'] == 0, summary['first_errors']
    # Both the old and the new workers answered during the run.
    responders = set(int(body.split()[1]) for body in loop.bodies)
    assert responders & set(old) and responders - set(old)


def test_bad_parameters_fail_cleanly_before_pm2_is_touched(tmp_path):
    rc, result, out, err = run_module('pm2_restart', {
        'pm2_bin': '/nonexistent/pm2', 'pm2_home': str(tmp_path / 'home'), 'online_timeout': 0,
        'error_patterns': ['('], 'health_checks': {'api': {'url': 'localhost:3000', 'status': 999}}}, tmp_path)
    assert rc != 0 and result is not None, out + err
    assert 'Traceback' not in out + err
    for fragment in ('online_timeout must be >= 1', 'error_patterns', 'health_checks[api]: url',
                     'health_checks[api]: status'):
        assert fragment in result['msg']
    rc, result, out, err = run_module('pm2_restart', {'pm2_bin': '/nonexistent/pm2', 'pm2_home': str(tmp_path)}, tmp_path)
    assert rc != 0 and 'pm2_bin /nonexistent/pm2 does not exist' in result['msg']


HEALTH_MODULE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             'plugins', 'modules', 'twzrd_health.py')


@pytest.mark.skipif(not os.path.exists(HEALTH_MODULE), reason='twzrd_health not in this tree')
def test_twzrd_health_does_not_count_our_restarts_as_crashes(pm2, apps, tmp_path):
    apps.start('restart-cluster', instances=2)
    apps.start('restart-fork')
    apps.wait()
    state = str(tmp_path / 'state.json')
    health = {'mode': 'alerts', 'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'state_file': state,
              'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
              'swap_warning': 99.8, 'swap_critical': 99.9}
    rc, first, out, err = run_module('twzrd_health', health, tmp_path)
    assert rc == 0, out + err  # learns the restart baseline
    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, state_file=state), tmp_path)
    assert rc == 0 and len(result['restarted']) == 2, out + err
    rc, after, out, err = run_module('twzrd_health', health, tmp_path)
    assert rc == 0, out + err
    assert [a for a in after['alerts'] if a['check'] == 'pm2_crashes'] == []
    # ...while the growth was real: PM2's counters moved by what pm2_restart recorded.
    assert sum(p['pm2_env']['restart_time'] for p in pm2.jlist()) == 3
