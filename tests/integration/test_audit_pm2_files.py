"""Issue 17 items 1 and 2: root reads nothing a PM2 user points it at, and a dead daemon cannot be hidden.

Real PM2 daemons run by ``nobody`` (the app user), an impostor run by ``daemon``
(another local user), and twzrd_health run as root the way cron runs it.
Each hostile log path class (symlink to a root-only file, symlinked directory,
FIFO, device, file owned by someone else) is one case of the same test, so the
class keeps running in ``make test``.
"""
import json
import os
import pwd
import signal
import stat
import subprocess
import time

import pytest

from harness import run_module
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.discovery import scan_god_daemons

SECRET = 'Error: TOPSECRET-root-only-line-7f3a'
QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}
IMPOSTOR_USER = 'daemon'

# Discovery sees every PM2 daemon on the host: run alone, after the parallel part (conftest.py).
pytestmark = pytest.mark.host_wide


@pytest.fixture(autouse=True)
def as_root():
    if os.getuid() != 0:
        pytest.skip('needs root to run PM2 as another user')


def health_args(tmp_path, pm2_bin, **extra):
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2_bin, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'alerts.log'), include_system_log=False)
    args.update(extra)
    return args


def as_user(user, *cmd):
    subprocess.run(('runuser', '-u', user, '--') + cmd, check=True, capture_output=True, timeout=30)


def root_only_secret(directory, name='web-error.log'):
    """A file only root may read, holding a line that looks like an error."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, 'w') as handle:
        handle.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), SECRET))
    os.chmod(path, 0o600)
    return path


def mine(result, home):
    """The alerts about the PM2 under ``home``: another test's PM2 may run on this host meanwhile."""
    return [a for a in result['alerts'] if home in a['message'] or a.get('subject') in ('web', 'nobody/web')]


def warnings(result):
    """The texts of the module's warnings (ansible-core 2.19 wraps each in an event)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


def started_web(nobody_pm2):
    nobody_pm2.start('steady.js', 'web')
    [proc] = nobody_pm2.wait_for(lambda procs: procs and procs[0]['pm2_env']['status'] == 'online')
    return proc['pm2_env']['pm_err_log_path']


def hostile_symlink(err_log, tmp_path):
    as_user('nobody', 'ln', '-sf', root_only_secret(str(tmp_path / 'rootonly')), err_log)


def hostile_symlinked_dir(err_log, tmp_path):
    logs = os.path.dirname(err_log)
    root_only_secret(str(tmp_path / 'rootdir'), os.path.basename(err_log))
    os.chmod(str(tmp_path), 0o755)  # the user may name the directory; it still may not read its files
    as_user('nobody', 'mv', logs, logs + '.away')
    as_user('nobody', 'ln', '-s', str(tmp_path / 'rootdir'), logs)


def hostile_fifo(err_log, _tmp_path):
    as_user('nobody', 'rm', '-f', err_log)
    as_user('nobody', 'mkfifo', err_log)


def hostile_foreign_owner(err_log, _tmp_path):
    """A world-readable file of root's in the user's log dir (a hard link or a copy root made)."""
    as_user('nobody', 'rm', '-f', err_log)
    with open(err_log, 'w') as handle:
        handle.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), SECRET))
    os.chmod(err_log, 0o644)


def hostile_kmsg(err_log, _tmp_path):
    """As root, a read of /proc/kmsg blocks until the kernel logs something (it hung the weekly job)."""
    as_user('nobody', 'ln', '-sf', '/proc/kmsg', err_log)


def hostile_device(err_log, _tmp_path):
    as_user('nobody', 'ln', '-sf', '/dev/zero', err_log)


HOSTILE = {
    'symlink to a root-only file': (hostile_symlink, 'symbolic link'),
    'symlinked directory': (hostile_symlinked_dir, 'symbolic link'),
    'FIFO': (hostile_fifo, 'not a regular file'),
    'file owned by root': (hostile_foreign_owner, 'owned by'),
    'symlink to a device': (hostile_device, 'symbolic link'),
    'symlink to /proc/kmsg': (hostile_kmsg, 'symbolic link'),
}


@pytest.mark.parametrize('case', sorted(HOSTILE))
def test_a_hostile_pm2_log_path_is_skipped_with_a_warning_never_read_as_root(case, nobody_pm2, pm2_bin, tmp_path):
    err_log = started_web(nobody_pm2)
    make, reason = HOSTILE[case]
    make(err_log, tmp_path)
    started = time.monotonic()
    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, pm2_bin, mode='report'), tmp_path,
                                      timeout=90)
    took = time.monotonic() - started
    assert result is not None, (rc, out, err)
    assert 'TOPSECRET' not in out and 'TOPSECRET' not in err
    [source] = [s for s in result['report']['log_errors']['sources'] if s['source'] == err_log]
    assert source['errors'] == 0 and reason in source['error'], source
    assert any(err_log in w and 'skipped' in w for w in warnings(result)), warnings(result)
    assert took < 30, took


@pytest.mark.parametrize('err_log, reason', [
    ('/dev/zero', 'not a regular file (a character device)'),  # as root, a read that never ends
])
def test_a_pm2_log_path_on_a_special_file_is_not_read(err_log, reason, nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'web', extra_args=['--error', err_log])
    [proc] = nobody_pm2.wait_for(lambda procs: len(procs) == 1)
    assert proc['pm2_env']['pm_err_log_path'] == err_log
    started = time.monotonic()
    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, pm2_bin, mode='report'), tmp_path,
                                      timeout=90)
    assert result is not None, (rc, out, err)
    [source] = [s for s in result['report']['log_errors']['sources'] if s['source'] == err_log]
    assert source['errors'] == 0 and reason in source['error'], source
    assert time.monotonic() - started < 30


def test_the_app_users_own_log_is_still_read(nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'web', env={'TWZRD_TEST_SECRET': 'hunter2-value-xyz'})
    [proc] = nobody_pm2.wait_for(lambda procs: procs and procs[0]['pm2_env']['status'] == 'online')
    err_log = proc['pm2_env']['pm_err_log_path']
    deadline = time.monotonic() + 10
    while os.path.getsize(err_log) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, pm2_bin, mode='report'), tmp_path)
    assert result is not None, (rc, out, err)
    [source] = [s for s in result['report']['log_errors']['sources'] if s['source'] == err_log]
    assert source['errors'] == 1 and 'error' not in source, source
    assert 'cannot reach upstream' in source['last'] and 'hunter2-value-xyz' not in out
    assert not [w for w in warnings(result) if 'skipped' in w], warnings(result)


def impostor(home, tmp_path):
    """A process of another user titled as the God daemon of ``home`` (node sets its title as PM2 does)."""
    script = 'process.title = %s; setInterval(() => {}, 1000); // %s' % (
        json.dumps('PM2 v5.3.0: God Daemon (%s)' % home), 'x' * len(home))  # argv room for the title
    proc = subprocess.Popen(['runuser', '-u', IMPOSTOR_USER, '--', 'node', '-e', script], cwd='/')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = [d.pid for d in scan_god_daemons() if d.shown_home == home]
        if pids:
            return proc, pids[0]
        time.sleep(0.05)
    proc.terminate()
    raise AssertionError('the impostor never took the title')


def stop(runner, pid):
    """End the impostor (node, by its pid) and the runuser that started it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    runner.wait(timeout=10)


def test_an_impostor_cannot_hide_a_dead_daemon(nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'web')
    args = health_args(tmp_path, pm2_bin)
    first = run_module('twzrd_health', args, tmp_path)[1]
    assert mine(first, nobody_pm2.home) == [], first['alerts']
    nobody_pm2.kill()  # the daemon dies
    fake, pid = impostor(nobody_pm2.home, tmp_path)
    try:
        # The kernel hands the dead daemon's pid to the impostor: pm2.pid names it, as it did the daemon.
        as_user('nobody', 'sh', '-c', 'echo %d > %s/pm2.pid' % (pid, nobody_pm2.home))
        for _hour in range(2):
            rc, result, out, err = run_module('twzrd_health', args, tmp_path)
            assert result is not None, (rc, out, err)
            daemon_alerts = [a for a in result['alerts'] if a['check'] == 'pm2_daemon' and nobody_pm2.home in a['message']]
            assert result['status'] == 'critical' and len(daemon_alerts) == 1, result['alerts']
            message = daemon_alerts[0]['message']
            assert 'were running at the last check:' in message and message.endswith('web'), message
            assert 'pid %d' % pid in message and 'user %s' % IMPOSTOR_USER in message, message
            state = json.loads((tmp_path / 'state.json').read_text())
            assert state['pm2']['daemons'][nobody_pm2.home]['user'] == 'nobody'
            assert [d for d in state['pm2']['daemons'].values() if d.get('user') == IMPOSTOR_USER] == []
    finally:
        stop(fake, pid)


def test_an_impostor_claiming_a_home_it_does_not_own_is_named_and_not_asked(nobody_pm2, pm2_bin, tmp_path):
    """No state yet: a God daemon title for a home another user owns is a warning that names it."""
    os.makedirs(nobody_pm2.home)
    os.chown(nobody_pm2.home, pwd.getpwnam('nobody').pw_uid, pwd.getpwnam('nobody').pw_gid)
    fake, pid = impostor(nobody_pm2.home, tmp_path)
    try:
        as_user('nobody', 'sh', '-c', 'echo %d > %s/pm2.pid' % (pid, nobody_pm2.home))
        rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, pm2_bin), tmp_path)
        assert result is not None, (rc, out, err)
        [alert] = [a for a in result['alerts'] if a['check'] == 'pm2_query' and nobody_pm2.home in a['message']]
        assert 'pid %d' % pid in alert['message'] and 'user %s' % IMPOSTOR_USER in alert['message']
        assert 'owned by user nobody' in alert['message'], alert['message']
        state = json.loads((tmp_path / 'state.json').read_text())
        assert IMPOSTOR_USER not in [d.get('user') for d in state.get('pm2', {}).get('daemons', {}).values()]
        assert not os.path.exists(os.path.join(nobody_pm2.home, 'rpc.sock'))  # its pm2 was never run there
    finally:
        stop(fake, pid)
    assert stat.S_ISDIR(os.stat(nobody_pm2.home).st_mode)


HOSTILE_PIDS = ['1', str(os.getpid()), '0', '-1', '4294967297', '99999999999999999999', 'abc', '12 34', '']


def test_a_dead_daemons_pid_file_with_any_content_leaves_it_critical(nobody_pm2, pm2_bin, tmp_path):
    """pm2.pid is the PM2 user's file: whatever it names (init, root's job, nonsense), the daemon is gone."""
    nobody_pm2.start('steady.js', 'web')
    args = health_args(tmp_path, pm2_bin)
    assert mine(run_module('twzrd_health', args, tmp_path)[1], nobody_pm2.home) == []
    nobody_pm2.kill()
    for content in HOSTILE_PIDS:
        as_user('nobody', 'sh', '-c', 'printf %%s "%s" > %s/pm2.pid' % (content, nobody_pm2.home))
        rc, result, out, err = run_module('twzrd_health', args, tmp_path)
        assert result is not None and 'Traceback' not in err, (content, rc, out, err)
        # Another test's PM2 may run meanwhile: then apps are named "nobody/web".
        [alert] = [a for a in result['alerts'] if a['check'] == 'pm2_daemon' and nobody_pm2.home in a['message']]
        assert alert['level'] == 'critical' and 'were running at the last check:' in alert['message'], content
        assert alert['message'].endswith('web'), (content, alert['message'])
        state = json.loads((tmp_path / 'state.json').read_text())
        assert state['pm2']['daemons'][nobody_pm2.home]['user'] == 'nobody', content
