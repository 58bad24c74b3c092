"""Issue 10 item 7: with no pm2_user/pm2_home, the PM2 daemons running on the host are found and checked.

Real PM2 daemons, one owned by ``nobody`` (the app user), the module run as root like cron,
with no PM2 option but the binary (the app user's pm2 is not on root's PATH here).
"""
import json
import os
import time

import pytest

from harness import run_module
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.discovery import scan_god_daemons

QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}

# Discovery sees every PM2 daemon on the host: run alone, after the parallel part (conftest.py).
pytestmark = pytest.mark.host_wide


@pytest.fixture(autouse=True)
def no_foreign_daemons():
    """The assertions count daemons: a host running a PM2 of its own cannot run these tests.

    The harness waits for the daemons it kills to exit; a few seconds more for any other test's.
    """
    if os.getuid() != 0:
        pytest.skip('needs root to run PM2 as another user')
    deadline = time.monotonic() + 15
    while True:
        others = [(d.pid, d.shown_home) for d in scan_god_daemons()]
        if not others:
            return
        if time.monotonic() > deadline:
            pytest.skip('this host runs PM2 daemons the tests did not start: %s' % others)
        time.sleep(0.2)


def health_args(tmp_path, pm2_bin, **extra):
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2_bin, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'alerts.log'), include_system_log=False)
    args.update(extra)
    return args


def run(name, args, tmp_path):
    rc, result, out, err = run_module(name, args, tmp_path)
    assert result is not None, (rc, out, err)
    return result


def test_a_pm2_owned_by_the_app_user_is_found_and_checked(nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'owned')
    result = run('twzrd_health', health_args(tmp_path, pm2_bin, pm2_expected_apps=['owned']), tmp_path)
    assert result['status'] == 'ok', result['alerts']
    pm2 = result['metrics']['pm2']
    assert (pm2['user'], pm2['pm2_home'], pm2['discovered'], pm2['daemon_running']) == \
        ('nobody', nobody_pm2.home, True, True)
    assert pm2['apps']['owned']['online'] == 1
    assert 'PM2: 1 app(s) under %s (user nobody, found running)' % nobody_pm2.home in result['summary']
    state = json.loads((tmp_path / 'state.json').read_text())
    assert state['pm2']['daemons'][nobody_pm2.home]['user'] == 'nobody'

    report = run('twzrd_health', health_args(tmp_path, pm2_bin, mode='report'), tmp_path)
    assert [app['name'] for app in report['report']['pm2']['apps']] == ['owned']
    assert report['report']['pm2']['daemons'][0]['user'] == 'nobody'


def test_a_found_daemon_without_a_pm2_binary_is_reported_never_absent(nobody_pm2, tmp_path):
    nobody_pm2.start('steady.js', 'owned')
    result = run('twzrd_health', health_args(tmp_path, None), tmp_path)
    [alert] = result['alerts']
    assert alert['check'] == 'pm2_query' and alert['level'] == 'warning'
    assert 'runs as user nobody' in alert['message'] and 'set pm2_bin' in alert['message']
    pm2 = result['metrics']['pm2']
    assert pm2['installed'] is True and pm2['daemon_running'] is True
    assert not any('not installed' in line for line in result['summary'])


def test_a_found_daemon_that_dies_is_critical_until_it_is_back(nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'owned')
    args = health_args(tmp_path, pm2_bin)
    assert run('twzrd_health', args, tmp_path)['status'] == 'ok'
    nobody_pm2.kill()  # a reboot without `pm2 startup`: nothing runs, nothing to discover
    for _hour in range(2):
        [alert] = run('twzrd_health', args, tmp_path)['alerts']
        assert alert['check'] == 'pm2_daemon' and alert['level'] == 'critical'
        assert 'no live pid in %s/pm2.pid' % nobody_pm2.home in alert['message']
        assert 'were running at the last check: owned' in alert['message']
    nobody_pm2.start('steady.js', 'owned')
    back = run('twzrd_health', args, tmp_path)
    assert back['status'] == 'ok' and back['recovered'] == ['pm2_daemon']


def test_two_daemons_are_each_checked_and_named_by_owner(pm2, nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'owned')
    pm2.start('crashloop.js', 'looper', extra_args=['--restart-delay', '100'])
    args = health_args(tmp_path, pm2_bin, pm2_expected_apps=['owned', 'root/looper', 'nobody/gone'])
    first = run('twzrd_health', args, tmp_path)
    assert sorted(first['metrics']['pm2']['apps']) == ['nobody/owned', 'root/looper']
    assert sorted((d['user'], d['pm2_home']) for d in first['metrics']['pm2']['daemons']) == \
        [('nobody', nobody_pm2.home), ('root', pm2.home)]
    assert [a['subject'] for a in first['alerts']] == ['nobody/gone']  # 'owned' matches by its own name
    before = first['metrics']['pm2']['apps']['root/looper']['restart_time']
    pm2.wait_for(lambda procs: sum(p['pm2_env']['restart_time'] for p in procs) >= before + 2)
    second = run('twzrd_health', args, tmp_path)
    crash = [a for a in second['alerts'] if a['check'] == 'pm2_crashes']
    assert [a['subject'] for a in crash] == ['root/looper']
    assert 'pm2 logs looper --err' in crash[0]['remediation']
    assert any(line.startswith('PM2: 2 daemons found: user nobody, %s: 1 app(s)' % nobody_pm2.home)
               for line in second['summary'])
    daemons = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons']
    assert sorted(daemons) == sorted([pm2.home, nobody_pm2.home])


def test_a_daemon_gone_for_a_run_renames_none_of_the_other_daemons_apps(pm2, nobody_pm2, pm2_bin, tmp_path):
    """Both daemons run apps, so apps are "owner/app". nobody's daemon dies: root's apps keep their
    names (alert subjects, Prometheus labels) and the dead daemon's apps are named as before."""
    nobody_pm2.start('steady.js', 'owned')
    pm2.start('steady.js', 'web')
    args = health_args(tmp_path, pm2_bin)
    first = run('twzrd_health', args, tmp_path)
    assert sorted(first['metrics']['pm2']['apps']) == ['nobody/owned', 'root/web']
    nobody_pm2.kill()
    second = run('twzrd_health', args, tmp_path)
    assert sorted(second['metrics']['pm2']['apps']) == ['root/web']
    [alert] = second['alerts']
    assert (alert['check'], alert['subject'], alert['level']) == ('pm2_daemon', 'nobody', 'critical')
    assert alert['message'].endswith('were running at the last check: nobody/owned'), alert['message']


def test_pm2_restart_acts_on_the_only_daemon_and_asks_when_there_are_two(pm2, nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'owned')
    nobody_pm2.wait_for(lambda procs: procs and procs[0]['pm2_env']['status'] == 'online')
    restart = {'pm2_bin': pm2_bin, 'state_file': str(tmp_path / 'state.json'),
               'log_file': str(tmp_path / 'restart.log'), 'stable_seconds': 0.5, 'settle_seconds': 0.5,
               'online_timeout': 20}
    health = health_args(tmp_path, pm2_bin)
    assert run('twzrd_health', health, tmp_path)['status'] == 'ok'  # learns the restart counters
    done = run('pm2_restart', restart, tmp_path)
    assert done['status'] == 'ok' and [r['app'] for r in done['restarted']] == ['owned'], done
    own = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons'][nobody_pm2.home]['own_restarts']
    assert own == {'owned#0': 1}
    after = run('twzrd_health', health, tmp_path)  # the Friday restart is ours, not a crash
    assert after['status'] == 'ok', after['alerts']

    pm2.start('steady.js', 'web')
    before = [p['pid'] for p in nobody_pm2.jlist() + pm2.jlist()]
    refused = run('pm2_restart', restart, tmp_path)
    assert refused.get('failed') and '2 PM2 daemons run on this host' in refused['msg']
    assert 'set pm2_user or pm2_home' in refused['msg'] and nobody_pm2.home in refused['msg']
    assert [p['pid'] for p in nobody_pm2.jlist() + pm2.jlist()] == before  # nothing restarted
