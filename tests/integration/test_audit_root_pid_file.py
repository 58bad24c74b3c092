"""Root opens no pm2.pid the PM2 user made into something else (audit-root).

``$PM2_HOME/pm2.pid`` is in a directory the PM2 user owns: that user may make it a
FIFO.  Root reads it (discovery and the daemon check) on every hourly run: a plain
``open()`` of a FIFO blocks until someone writes to it, so one ``mkfifo`` by the app
user hung the alerts job until the runner's timeout killed it, every hour, and nothing
was checked meanwhile.  Real PM2 daemon run by ``nobody``, twzrd_health run as root the way
cron runs it.
"""
import os
import subprocess
import time

import pytest

from harness import run_module

pytestmark = pytest.mark.host_wide  # discovery sees every PM2 daemon on the host

QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}


def as_user(user, *cmd):
    subprocess.run(('runuser', '-u', user, '--') + cmd, check=True, capture_output=True, timeout=30)


def test_a_fifo_for_pm2_pid_does_not_hang_the_root_job(nobody_pm2, pm2_bin, tmp_path):
    nobody_pm2.start('steady.js', 'web')
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2_bin, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'alerts.log'), include_system_log=False)
    first = run_module('twzrd_health', args, tmp_path, timeout=60)[1]
    assert first is not None
    pid_file = os.path.join(nobody_pm2.home, 'pm2.pid')
    daemon = nobody_pm2.daemon_pid()
    as_user('nobody', 'rm', '-f', pid_file)
    as_user('nobody', 'mkfifo', pid_file)
    started = time.monotonic()
    try:
        rc, result, out, err = run_module('twzrd_health', args, tmp_path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail('twzrd_health (root) hung on a FIFO the PM2 user put at %s' % pid_file)
    finally:  # the fixture's `pm2 kill` reads the pid file too
        as_user('nobody', 'rm', '-f', pid_file)
        as_user('nobody', 'sh', '-c', 'echo %d > %s' % (daemon, pid_file))
    assert result is not None, (rc, out, err)
    assert time.monotonic() - started < 30
    # The daemon's home cannot be told from a pid file that is not one: reported, never silent.
    mine = [a for a in result['alerts'] if nobody_pm2.home in a['message']]
    assert mine and all(a['check'] in ('pm2_query', 'pm2_daemon') for a in mine), result['alerts']
