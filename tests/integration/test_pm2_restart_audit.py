"""Restart audit (worktree audit-restart): sequences that broke the pm2_restart promise, real PM2 and apps."""
import json
import time

from harness import free_port, run_module
from test_pm2_restart import APP, Apps, all_online, module_args, pids


def statuses(pm2, name):
    return [(p['pm2_env']['status'], p['pm2_env']['restart_time']) for p in pm2.jlist() if p['name'] == name]


def test_an_app_name_pm2_reads_as_a_regex_restarts_nothing_else(pm2, tmp_path):
    """`pm2 restart /restart-/` restarts every app whose name matches, a stopped one included: the PM2 user
    controls app names, so such a name must never reach pm2 as a restart target."""
    apps = Apps(pm2, tmp_path)
    apps.start('restart-parked')
    apps.start('/restart-/')
    apps.wait()
    pm2.cmd('stop', 'restart-parked')
    pm2.wait_for(lambda procs: [p['pm2_env']['status'] for p in procs if p['name'] == 'restart-parked'] == ['stopped'])
    parked = statuses(pm2, 'restart-parked')

    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path), tmp_path)

    assert 'Traceback' not in out + err
    assert statuses(pm2, 'restart-parked') == parked, 'the stopped app was started: %s' % out
    assert rc != 0 and '/restart-/' in result['msg'], out


def test_a_pm2_command_that_times_out_mid_reload_is_reported_and_recorded(pm2, tmp_path):
    """pm2_timeout ends the pm2 CLI, which drives a reload instance by instance: the instance in flight is
    replaced by the daemon, the others never are. The result must not say nothing changed, and the restart
    that did happen must be recorded so twzrd_health does not count it as a crash."""
    apps = Apps(pm2, tmp_path)
    apps.start('restart-slow', instances=2)
    apps.wait()
    # Each old worker takes ~1.3 s to drain on SIGINT: the 2-instance reload outlives a 1 s pm2_timeout.
    pm2.cmd('restart', 'restart-slow', '--update-env', env={'DRAIN_MS': '1300'})
    apps.wait()
    before = pids(pm2, 'restart-slow')
    times = {p['pm_id']: p['pm2_env']['restart_time'] for p in pm2.jlist()}

    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, pm2_timeout=1), tmp_path)

    time.sleep(4)  # the daemon finishes the instance it was reloading when the CLI was ended
    pm2.wait_for(all_online(['restart-slow']))
    after = {p['pm_id']: p['pm2_env']['restart_time'] for p in pm2.jlist()}
    replaced = set(before) - set(pids(pm2, 'restart-slow'))
    assert replaced, 'precondition: the daemon replaced no instance, the timeout came too early: %s' % out
    assert rc != 0, out
    assert (result['failure']['app'], result['failure']['step']) == ('restart-slow', 'restart')
    assert result['changed'] is True, result['failure']
    assert 'cut short' in result['failure']['message'], result['failure']
    own = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons'][pm2.home].get('own_restarts', {})
    assert sum(own.values()) == sum(after[i] - times[i] for i in after), (own, times, after)
    assert result['own_restarts'] == own
    print(result['failure']['message'])


def test_an_app_deleted_during_the_rollout_is_not_restarted_through_its_namesake_namespace(pm2, tmp_path):
    """`pm2 restart shop`, once no app is called shop, restarts every app of namespace shop (stopped ones
    included). An app a person deletes while the rollout works on an earlier one must be left alone."""
    import threading
    apps = Apps(pm2, tmp_path)
    apps.start('restart-first')
    apps.start('shop')
    apps.wait()
    pm2.start(APP, 'shop-worker', env={'PORT': str(free_port())}, extra_args=('--namespace', 'shop'))
    pm2.cmd('stop', 'shop-worker')
    pm2.wait_for(lambda procs: [p['pm2_env']['status'] for p in procs if p['name'] == 'shop-worker'] == ['stopped'])
    worker = statuses(pm2, 'shop-worker')

    def delete_shop_once_first_restarted():
        first = pids(pm2, 'restart-first')
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pids(pm2, 'restart-first') == first:
            time.sleep(0.1)
        pm2.cmd('delete', 'shop')

    deleter = threading.Thread(target=delete_shop_once_first_restarted)
    deleter.start()
    rc, result, out, err = run_module('pm2_restart', module_args(
        pm2, tmp_path, apps=['restart-first', 'shop'], settle_seconds=4), tmp_path)
    deleter.join()

    assert 'shop' not in [p['name'] for p in pm2.jlist()], 'precondition: shop was deleted'
    assert statuses(pm2, 'shop-worker') == worker, 'the stopped app was started: %s' % out
    assert 'shop' not in [r['app'] for r in result['restarted']], out
    assert rc == 0 and [s['app'] for s in result['skipped']] == ['shop'] and 'deleted' in result['skipped'][0]['reason']
