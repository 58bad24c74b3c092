"""The PM2 CLI root runs as another user gets no terminal of root's (audit-root, "not demonstrated" made so).

Root runs ``pm2 jlist`` (and ``pm2 restart``) as the daemon's owner. When a person runs a module from a
terminal (``make run``, ``ansible-playbook -c local``), that process inherited root's controlling
terminal: a process of the PM2 user's (the CLI runs as them, so they may ptrace it) could push keystrokes
into root's shell with TIOCSTI (Debian 12's kernel 6.1 still allows it). The CLI now starts in a session of
its own, without a controlling terminal. Real processes, a real pseudo-terminal as root's, as root.
"""
import json
import os
import subprocess
import sys
import tempfile

import pytest

from harness import COLLECTIONS

DRIVER = r'''
import fcntl, json, os, pty, pwd, sys, termios
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import Pm2Target, run_pm2
master, terminal = pty.openpty()
fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)  # this session's controlling terminal, as a person's shell has
user = pwd.getpwnam('nobody')
out = run_pm2(Pm2Target(sys.argv[1], '/nonexistent', 'nobody', user.pw_uid, user.pw_gid, '/'), ['jlist'])
fields = out.split(')', 1)[1].split()
print(json.dumps({'session': os.getsid(0), 'terminal': os.fstat(terminal).st_rdev,
                  'cli_session': int(fields[3]), 'cli_terminal': int(fields[4])}))
'''


@pytest.mark.skipif(os.geteuid() != 0, reason='root runs the PM2 CLI as another user')
def test_the_pm2_cli_run_as_its_owner_has_no_controlling_terminal_of_roots():
    where = tempfile.mkdtemp(prefix='twzrd-pm2-cli-')
    try:
        os.chmod(where, 0o755)
        fake_pm2 = os.path.join(where, 'pm2')
        with open(fake_pm2, 'w') as handle:
            handle.write('#!/bin/sh\ncat /proc/$$/stat\n')  # the CLI's own session and controlling terminal
        os.chmod(fake_pm2, 0o755)
        proc = subprocess.run([sys.executable, '-c', DRIVER, fake_pm2], capture_output=True, text=True, timeout=60,
                              env={'PYTHONPATH': COLLECTIONS, 'PATH': '/usr/bin:/bin'}, start_new_session=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout)
        assert seen['terminal'] != 0
        assert seen['cli_terminal'] == 0, 'the PM2 CLI (as nobody) has root\'s terminal %d' % seen['cli_terminal']
        assert seen['cli_session'] != seen['session']
    finally:
        for name in os.listdir(where):
            os.unlink(os.path.join(where, name))
        os.rmdir(where)
