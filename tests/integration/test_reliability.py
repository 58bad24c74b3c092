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


def warnings_text(result):
    """All warnings of a result as one text (ansible-core 2.19 returns them as structured events)."""
    return json.dumps(result.get('warnings') or [])


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


def _make_kind(path, kind, tmp_path):
    if kind == 'null_device':
        os.mknod(str(path), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == 'zero_device':
        os.mknod(str(path), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    elif kind == 'fifo':
        os.mkfifo(str(path))
    elif kind == 'symlink':
        real = tmp_path / 'real-state.json'
        real.write_text('{}')
        os.symlink(str(real), str(path))
    elif kind == 'directory':
        path.mkdir()


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('kind', ['null_device', 'zero_device', 'fifo', 'symlink', 'directory'])
def test_item2_state_file_that_is_not_a_regular_file_is_refused_untouched(tmp_path, kind, check_mode):
    path = tmp_path / 'state.json'
    _make_kind(path, kind, tmp_path)
    before = os.lstat(str(path))
    args = dict(QUIET_SYSTEM, mode='alerts', state_file=str(path), log_file=str(tmp_path / 'run.log'),
                pm2_home=str(tmp_path / 'no-pm2'), _ansible_check_mode=check_mode)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path, timeout=30)
    assert result is not None and 'Traceback' not in err, (rc, out, err)
    assert result.get('failed') and 'state_file' in result['msg'] and 'not a regular file' in result['msg'], result
    after = os.lstat(str(path))
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert not os.path.exists(str(path) + '.lock')


def _run_with_state(tmp_path, state, check_mode=False):
    path = tmp_path / 'state' / 'state.json'
    path.parent.mkdir(exist_ok=True)
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    args = dict(QUIET_SYSTEM, mode='alerts', state_file=str(path), pm2_home=str(tmp_path / 'no-pm2'),
                _ansible_check_mode=check_mode)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path, timeout=60)
    assert result is not None and 'Traceback' not in err, (rc, out, err)
    return result, path


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('state', [
    {'pm2': {'restart_baseline': ['web#0']}},
    {'pm2': {'restart_baseline': {'web#0': '3'}}},
    {'pm2': {'own_restarts': {'web#0': 'x'}}},
    {'pm2': {'own_restarts': [1]}},
    {'twzrd_health': {'history': [{'t': 'yesterday', 'load1': 1}]}},
    {'twzrd_health': {'history': {'t': 1}}},
    {'twzrd_health': {'levels': ['warning']}},
    {'alerting': {'alerts': {'alerts': {'load': {'check': 'load', 'level': 'warning', 'since': 1,
                                                 'told_level': 'warning', 'last_sent': 'noon'}}}}},
    {'alerting': {'alerts': {'pending': [{'title': 1, 'body': 'b'}]}}},
    {'alerting': ['alerts']},
    '[' * 100000 + ']' * 100000,
    '{"pm2": ' + '[' * 100000 + ']' * 100000 + '}',
], ids=lambda s: json.dumps(s)[:60] if not isinstance(s, str) else 'deep')
def test_item3_wrong_shapes_are_a_warning_and_a_fresh_section(tmp_path, state, check_mode):
    result, path = _run_with_state(tmp_path, state, check_mode)
    assert not result.get('failed'), result
    assert result['status'] in ('ok', 'warning', 'critical')
    assert 'fresh start' in warnings_text(result), result.get('warnings')
    if not check_mode:  # the bad section is rewritten, so the next run is clean
        again, _path = _run_with_state(tmp_path, path.read_text())
        assert 'fresh start' not in warnings_text(again), again.get('warnings')
