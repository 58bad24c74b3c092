"""Issue 9: defects an audit found, each run the way cron runs the modules.

Each test names the issue item it covers (``item N``) and uses real parts:
a private PM2, real files, FIFOs, symlinks and device nodes.
"""
import json
import os
import stat
import subprocess
import time

import pytest

from harness import run_module

QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}


def god_daemons(home):
    """PIDs of PM2 God daemons serving ``home`` (from /proc, no pm2 call)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                cmdline = handle.read().decode('utf-8', 'replace')
        except OSError:
            continue
        # node overwrites its argv area with the title, so a long home is cut short
        shown = cmdline.split('God Daemon (', 1)[1].rstrip('\x00)') if 'God Daemon (' in cmdline else ''
        if shown and home.startswith(shown):
            found.append(int(entry))
    return found


@pytest.fixture
def reused_pid(pm2, tmp_path):
    """PM2 ran 'web', then died; its pm2.pid now names an unrelated live process."""
    pm2.start('steady.js', 'web')
    state_file = tmp_path / 'state' / 'state.json'
    state_file.parent.mkdir()
    state_file.write_text(json.dumps({'pm2': {'restart_baseline': {'web#0': 0}, 'own_restarts': {}}}))
    pm2.cmd('kill')
    other = subprocess.Popen(['sleep', '120'])
    (tmp_path / 'pm2home' / 'pm2.pid').write_text('%d\n' % other.pid)
    yield other, state_file
    other.kill()
    other.wait()


def test_item1_reused_daemon_pid_is_daemon_dead_and_starts_nothing(pm2, tmp_path, reused_pid):
    _other, state_file = reused_pid
    args = dict(QUIET_SYSTEM, mode='alerts', pm2_bin=pm2.bin, pm2_home=pm2.home, state_file=str(state_file))
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert result is not None, (rc, out, err)
    assert god_daemons(pm2.home) == [], 'the health check started a PM2 daemon'
    checks = [a["check"] for a in result["alerts"]]
    assert 'pm2_daemon' in checks and 'pm2_missing_app' not in checks, result['alerts']
    assert result['metrics']['pm2']['daemon_running'] is False
    assert json.loads(state_file.read_text())['pm2']['restart_baseline'] == {'web#0': 0}

    rc, result, out, err = run_module('pm2_restart', {'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home,
                                                      'state_file': str(state_file)}, tmp_path)
    assert result is not None and result.get('failed'), (rc, out, err)
    assert 'daemon is not running' in result['msg'], result['msg']
    assert god_daemons(pm2.home) == []
