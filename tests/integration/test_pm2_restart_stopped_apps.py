"""pm2_restart never starts an app that is stopped (issue 17 item 9): real PM2, real apps."""
import json

from harness import run_module
from test_pm2_restart import Apps, all_online, module_args, pids


def statuses(pm2, name):
    return [(p['pm2_env']['status'], p['pm2_env']['restart_time']) for p in pm2.jlist() if p['name'] == name]


def stop(pm2, name):
    pm2.cmd('stop', name)
    pm2.wait_for(lambda procs: all(p['pm2_env']['status'] == 'stopped' for p in procs if p['name'] == name))


def test_weekly_restart_leaves_a_stopped_app_stopped_and_lists_it(pm2, tmp_path):
    apps = Apps(pm2, tmp_path)
    apps.start('restart-first')
    apps.start('restart-parked', instances=2)
    apps.start('restart-last')
    apps.wait()
    stop(pm2, 'restart-parked')
    parked = statuses(pm2, 'restart-parked')

    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path), tmp_path)

    assert rc == 0, out + err
    assert result['status'] == 'ok'
    assert [r['app'] for r in result['restarted']] == ['restart-first', 'restart-last']
    assert [s['app'] for s in result['skipped']] == ['restart-parked']
    assert 'stopped' in result['skipped'][0]['reason'] and 'pm2 start restart-parked' in result['skipped'][0]['reason']
    assert result['metrics']['skipped'] == 1
    assert statuses(pm2, 'restart-parked') == parked  # still stopped, not even restarted once
    assert any('left alone restart-parked' in line for line in result['summary'])
    log = (tmp_path / 'restart.log').read_text()
    assert 'skipped=restart-parked' in log
    own = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons'][pm2.home]['own_restarts']
    assert not any(key.startswith('restart-parked') for key in own)


def test_check_mode_plan_shows_the_stopped_app_as_skipped(pm2, tmp_path):
    apps = Apps(pm2, tmp_path)
    apps.start('restart-first')
    apps.start('restart-parked')
    apps.wait()
    stop(pm2, 'restart-parked')
    rc, result, out, err = run_module('pm2_restart', dict(module_args(pm2, tmp_path), _ansible_check_mode=True),
                                      tmp_path)
    assert rc == 0, out + err
    assert [p['app'] for p in result['plan']] == ['restart-first']
    assert [s['app'] for s in result['skipped']] == ['restart-parked']


def test_a_stopped_app_named_in_apps_is_refused_and_nothing_restarts(pm2, tmp_path):
    apps = Apps(pm2, tmp_path)
    apps.start('restart-first')
    apps.start('restart-parked')
    apps.wait()
    stop(pm2, 'restart-parked')
    first, parked = pids(pm2, 'restart-first'), statuses(pm2, 'restart-parked')

    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, apps=['restart-first', 'restart-parked']),
                                      tmp_path)

    assert rc != 0, out
    assert 'restart-parked is stopped' in result['msg'] and 'never starts stopped apps' in result['msg']
    assert 'pm2 start restart-parked' in result['msg']
    assert 'Traceback' not in out + err
    assert pids(pm2, 'restart-first') == first
    assert statuses(pm2, 'restart-parked') == parked


def test_a_cluster_app_with_one_stopped_instance_is_left_alone(pm2, tmp_path):
    """Restarting the app would start the stopped instance too: the whole app is left for a person."""
    apps = Apps(pm2, tmp_path)
    apps.start('restart-half', instances=2)
    apps.wait()
    first_id = min(p['pm_id'] for p in pm2.jlist() if p['name'] == 'restart-half')
    pm2.cmd('stop', str(first_id))
    pm2.wait_for(lambda procs: [p['pm2_env']['status'] for p in procs if p['name'] == 'restart-half']
                 in (['stopped', 'online'], ['online', 'stopped']))
    before = statuses(pm2, 'restart-half')
    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path), tmp_path)
    assert rc == 0, out + err
    assert result['restarted'] == [] and [s['app'] for s in result['skipped']] == ['restart-half']
    assert 'instance %d of 2 stopped' % first_id in result['skipped'][0]['reason']
    assert statuses(pm2, 'restart-half') == before
    assert all_online(['restart-half'])(pm2.jlist()) is False
