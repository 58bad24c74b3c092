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


# --- item 4: credentials never in results or logs ---------------------------------------------------

MARK = 'Mk9-cred-7731aa0f'


class _BasicAuthServer:
    """A real HTTP server on 127.0.0.1 that answers 200 only with the right basic-auth credentials."""

    def __init__(self, user, password):
        import base64
        import http.server
        import threading
        expected = 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
        self.seen = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                seen.append(self.headers.get('Authorization'))
                self.send_response(200 if self.headers.get('Authorization') == expected else 401)
                self.end_headers()
                self.wfile.write(b'ok')

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_item4_connect_params_password_is_masked(tmp_path):
    args = {'login_host': '127.0.0.1', 'login_port': 1, 'connect_params': {'password': MARK, 'connect_timeout': 2},
            'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'db.log')}
    for module in ('twzrd_db_health', 'twzrd_vacuum'):
        rc, result, out, err = run_module(module, args, tmp_path, timeout=60)
        assert result is not None, (rc, out, err)
        assert MARK not in out and MARK not in err, out
        assert MARK not in (tmp_path / 'db.log').read_text()
        assert result['invocation']['module_args']['connect_params']['connect_timeout'] == 2


def test_item4_rejected_health_url_with_credentials_is_redacted(tmp_path):
    url = 'http://ops:%s@127.0.0.1:1/health' % MARK
    rc, result, out, err = run_module('pm2_restart', {
        'health_checks': {'api': {'url': url, 'status': 999}}, 'state_file': str(tmp_path / 'state.json')}, tmp_path)
    assert result is not None and result.get('failed'), (rc, out, err)
    assert 'health_checks[api]' in result['msg']
    assert MARK not in out and MARK not in err, out


def test_item4_health_url_with_credentials_uses_basic_auth_and_stays_secret(pm2, tmp_path):
    server = _BasicAuthServer('ops', MARK)
    try:
        pm2.start('steady.js', 'web')
        pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
        url = 'http://ops:%s@127.0.0.1:%d/health' % (MARK, server.port)
        rc, result, out, err = run_module('pm2_restart', {
            'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'stable_seconds': 0.5, 'settle_seconds': 0,
            'health_checks': {'web': {'url': url, 'timeout': 2, 'retries': 1, 'backoff': 0.2}},
            'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'restart.log')}, tmp_path)
    finally:
        server.close()
    assert result is not None and not result.get('failed'), (rc, out, err)
    assert result['restarted'][0]['health']['status'] == 200
    assert server.seen and server.seen[-1].startswith('Basic ')
    assert MARK not in out and MARK not in err
    assert MARK not in (tmp_path / 'restart.log').read_text()
    assert MARK not in (tmp_path / 'state.json').read_text()
