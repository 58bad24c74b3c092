"""A PM2 daemon's child between fork() and exec() is not a second daemon (real processes, real /proc).

PM2 starts every app, and restarts a crashing one, with fork() then exec(); in between the
child shows the daemon's title. CI caught one under load: the run counted two root daemons and
renamed every app "root:PM2_HOME/app" (test_pm2_discovery's two-daemon test). Node's window is
too short to hit on purpose, so these processes hold it open: a process titled as a God daemon
(python run as ``exec -a TITLE``, the script on stdin, so the title is the whole command line)
forks children that never exec, one of them switching to nobody first as libuv does for an app
with a ``uid``.
"""
import os
import pwd
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.pm2.discovery import discover_targets, scan_god_daemons

FORKING_DAEMON = '''
import os, sys, time
children = []
for switch_user in (False, True):
    pid = os.fork()
    if pid == 0:
        if switch_user and os.getuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        time.sleep(600)
        os._exit(0)
    children.append(pid)
print(' '.join(str(p) for p in children), flush=True)
time.sleep(600)
'''


@pytest.fixture
def forking_daemon(tmp_path):
    home = tmp_path / 'pm2home'
    home.mkdir()
    title = 'PM2 v5.3.0: God Daemon (%s)' % home
    proc = subprocess.Popen(['bash', '-c', 'exec -a "$0" "$1"', title, sys.executable], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    proc.stdin.write(FORKING_DAEMON)
    proc.stdin.close()
    children = [int(p) for p in proc.stdout.readline().split()]
    (home / 'pm2.pid').write_text(str(proc.pid))
    try:
        yield str(home), proc.pid, children
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_forked_children_showing_the_daemon_title_are_not_daemons(forking_daemon, pm2_bin):
    home, daemon_pid, children = forking_daemon
    deadline = time.monotonic() + 10
    while not all(os.path.exists('/proc/%d/cmdline' % p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    for child in children:  # the condition holds: each child shows the daemon's title
        with open('/proc/%d/cmdline' % child, 'rb') as handle:
            assert handle.read().startswith(b'PM2 v5.3.0: God Daemon (%s)' % home.encode())
    assert [d.pid for d in scan_god_daemons() if d.shown_home == home] == [daemon_pid]
    [target] = [t for t in discover_targets(pm2_bin) if t.pm2_home == home]
    assert (target.found_pid, target.user, target.problem) == (daemon_pid, pwd.getpwuid(os.getuid()).pw_name, None)
