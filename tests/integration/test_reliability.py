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


# --- items 6-9: bad input fails before anything happens, naming the parameter ----------------------

def _float_options(module_name):
    """Every float option of a module, from its real argument spec (suboptions as parent.child)."""
    from ansible_collections.twzrd.ops.plugins.modules import pm2_restart, twzrd_db_health, twzrd_health, twzrd_vacuum
    specs = {'twzrd_health': twzrd_health.ARGUMENT_SPEC, 'twzrd_db_health': twzrd_db_health.ARGUMENT_SPEC,
             'twzrd_vacuum': twzrd_vacuum.ARGUMENT_SPEC,
             'pm2_restart': pm2_restart.ARGUMENT_SPEC}
    found = []
    for name, spec in sorted(specs[module_name].items()):
        if spec.get('type') == 'float':
            found.append((name, None))
        for sub, sub_spec in sorted((spec.get('options') or {}).items()):
            if sub_spec.get('type') == 'float':
                found.append((name, sub))
    return found


def _bad_run(tmp_path, module, args, timeout=60):
    args = dict({'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'run.log')}, **args)
    started = time.monotonic()
    rc, result, out, err = run_module(module, args, tmp_path, timeout=timeout)
    assert result is not None and 'Traceback' not in err and 'Traceback' not in out, (rc, out[-2000:], err[-2000:])
    assert result.get('failed'), result
    assert 'NaN' not in out and 'Infinity' not in out.replace('"inf"', ''), out
    return result, time.monotonic() - started


NON_FINITE = [float('nan'), float('inf'), float('-inf'), 1e308]


@pytest.mark.parametrize('module', ['twzrd_health', 'twzrd_db_health', 'twzrd_vacuum', 'pm2_restart'])
def test_item7_non_finite_numbers_are_rejected_for_every_float_option(tmp_path, module):
    for name, sub in _float_options(module):
        for value in NON_FINITE:
            args = {name: {sub: value}} if sub else {name: value}
            if module == 'pm2_restart':
                args['apps'] = ['web']
            result, _seconds = _bad_run(tmp_path, module, args)
            shown = '%s.%s' % (name, sub) if sub else name
            assert shown in result['msg'], (shown, value, result['msg'])


def test_item7_full_disk_with_nan_threshold_is_not_ok(tmp_path):
    result, _seconds = _bad_run(tmp_path, 'twzrd_health', {'disk_warning': float('nan'),
                                                           'pm2_home': str(tmp_path / 'none')})
    assert 'disk_warning' in result['msg'] and result.get('status') != 'ok'


@pytest.mark.parametrize('module, name, value', [
    ('twzrd_health', 'disk_paths', ['/\x00etc']),
    ('twzrd_health', 'state_file', '/tmp/st\x00ate.json'),
    ('twzrd_health', 'log_file', '/tmp/lo\x00g'),
    ('twzrd_health', 'pm2_user', 'ro\x00ot'),
    ('twzrd_health', 'pm2_home', '/tmp/p\x00m2'),
    ('twzrd_health', 'error_patterns', ['err\x00or']),
    ('twzrd_db_health', 'login_user', 'post\x00gres'),
    ('twzrd_db_health', 'login_host', '127.0.0.1\x00'),
    ('twzrd_db_health', 'login_unix_socket', '/run/\x00pg'),
    ('twzrd_db_health', 'ca_cert', '/etc/ca\x00.pem'),
    ('twzrd_db_health', 'migrations_table', 'mig\x00rations'),
    ('twzrd_db_health', 'expected_tables', ['users', 'ord\x00ers']),
    ('twzrd_vacuum', 'tables', ['ord\x00ers']),
    ('twzrd_vacuum', 'login_db', 'ap\x00p'),
    ('pm2_restart', 'apps', ['we\x00b']),
    ('pm2_restart', 'pm2_user', 'ro\x00ot'),
    ('twzrd_notify', 'state_file', '/tmp/st\x00ate.json'),
])
def test_item6_nul_bytes_are_rejected_naming_the_parameter(tmp_path, module, name, value):
    args = {name: value}
    if module == 'twzrd_notify':
        args['test'] = True
    result, _seconds = _bad_run(tmp_path, module, args)
    assert name in result['msg'] and 'NUL' in result['msg'], result['msg']


@pytest.mark.parametrize('module, args, name', [
    ('pm2_restart', {'pm2_timeout': 2 ** 63, '_ansible_check_mode': True}, 'pm2_timeout'),
    ('twzrd_health', {'pm2_timeout': 2 ** 63}, 'pm2_timeout'),
    ('twzrd_db_health', {'latency_samples': 10 ** 9}, 'latency_samples'),
    ('twzrd_db_health', {'statement_timeout': 1e9}, 'statement_timeout'),
    ('twzrd_vacuum', {'lock_timeout': 1e9}, 'lock_timeout'),
    ('pm2_restart', {'settle_seconds': 1e9, 'apps': ['web']}, 'settle_seconds'),
    ('pm2_restart', {'online_timeout': 10 ** 9, 'apps': ['web']}, 'online_timeout'),
    ('twzrd_health', {'report_days': 10 ** 6, 'mode': 'report'}, 'report_days'),
])
def test_item8_counts_and_durations_have_a_maximum(tmp_path, module, args, name):
    result, seconds = _bad_run(tmp_path, module, args)
    assert name in result['msg'] and ('<=' in result['msg'] or 'between' in result['msg']), result['msg']
    assert seconds < 30


@pytest.mark.parametrize('extra, words', [
    ({'settle_seconds': float('inf')}, ['settle_seconds']),
    ({'health_checks': {'web': {'url': 'http://127.0.0.1:1/', 'backoff': float('nan')}}}, ['backoff']),
    ({'health_checks': {'web': {'url': 'http://127.0.0.1:1/', 'timeout': 1e300}}}, ['timeout']),
    ({'health_checks': {'web': {'url': 123}}}, ['health_checks[web]', 'url']),
    ({'health_checks': {'web': {'url': 'http://127.0.0.1:1/', 'retries': float('inf')}}}, ['retries']),
    ({'stable_seconds': 30, 'online_timeout': 10}, ['stable_seconds', 'online_timeout']),
])
def test_item9_pm2_restart_rejects_bad_input_before_restarting(pm2, tmp_path, extra, words):
    pm2.start('steady.js', 'web')
    procs = pm2.wait_for(lambda ps: any(p['pm2_env']['status'] == 'online' for p in ps))
    pid_before = [p['pid'] for p in procs if p['name'] == 'web']
    args = dict({'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home}, **extra)
    result, _seconds = _bad_run(tmp_path, 'pm2_restart', args)
    for word in words:
        assert word in result['msg'], result['msg']
    procs = pm2.jlist()
    assert [p['pid'] for p in procs if p['name'] == 'web'] == pid_before
    assert [p['pm2_env']['restart_time'] for p in procs if p['name'] == 'web'] == [0]


# --- item 11: a state that cannot be saved never drops the alerts --------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A real 1 MiB tmpfs mounted for this test (root only), unmounted afterwards."""
    mount = tmp_path / 'fs'
    mount.mkdir()
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mount)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        pytest.fail('cannot mount a tmpfs (the integration tests run as root): %s' % proc.stderr)
    yield mount
    subprocess.run(['umount', str(mount)], check=False)


def _fill(mount):
    fd = os.open(str(mount / 'filler'), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b'\0' * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.parametrize('how', ['full', 'read_only'])
def test_item11_unsavable_state_keeps_and_reports_the_alerts(small_fs, tmp_path, how):
    state = small_fs / 'state' / 'state.json'
    log = tmp_path / 'alerts.log'
    args = {'mode': 'alerts', 'disk_paths': [str(small_fs)], 'disk_warning': 50, 'disk_critical': 90,
            'load_warning': 1000, 'load_critical': 2000, 'swap_warning': 99.8, 'swap_critical': 99.9,
            'state_file': str(state), 'log_file': str(log), 'pm2_home': str(tmp_path / 'no-pm2')}
    first_rc, first, out, err = run_module('twzrd_health', args, tmp_path)  # creates state and lock
    assert first is not None and not first.get('failed'), (out, err)
    _fill(small_fs)
    if how == 'read_only':
        subprocess.run(['mount', '-o', 'remount,ro', str(small_fs)], check=True)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert result is not None and 'Traceback' not in err, (out, err)
    disk = [a for a in result['alerts'] if a['check'] == 'disk']
    assert disk and disk[0]['level'] == 'critical', result
    assert result['status'] == 'critical' and not result.get('failed'), result
    assert rc == 0
    assert 'state' in warnings_text(result)
    last = log.read_text().splitlines()[-1]
    assert 'status=critical' in last, last


def test_item17_read_only_state_is_named_and_nothing_restarts(pm2, small_fs, tmp_path):
    pm2.start('steady.js', 'web')
    procs = pm2.wait_for(lambda ps: any(p['pm2_env']['status'] == 'online' for p in ps))
    state = small_fs / 'state.json'
    state.write_text('{}')
    subprocess.run(['mount', '-o', 'remount,ro', str(small_fs)], check=True)
    rc, result, out, err = run_module('pm2_restart', {'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home,
                                                      'state_file': str(state)}, tmp_path)
    assert result is not None and result.get('failed'), (rc, out, err)
    assert 'state file' in result['msg'] and 'pm2 itself refused' not in out, result
    assert [p['pid'] for p in pm2.jlist()] == [p['pid'] for p in procs]


# --- item 14: a trickling health endpoint cannot hold the rollout -------------------------------

class _TrickleServer:
    """Accepts, then sends one byte per second forever (headers never complete)."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import threading
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        try:
            conn.recv(4096)
            for byte in b'HTTP/1.1 200 OK\r\nX-Slow: ' + b'a' * 1000:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(1)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def test_item14_trickling_endpoint_is_bounded_by_a_total_deadline(pm2, tmp_path):
    server = _TrickleServer()
    try:
        pm2.start('steady.js', 'web')
        pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
        started = time.monotonic()
        rc, result, out, err = run_module('pm2_restart', {
            'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'stable_seconds': 0.5, 'settle_seconds': 0,
            'health_checks': {'web': {'url': 'http://127.0.0.1:%d/health' % server.port, 'timeout': 2,
                                      'retries': 1, 'backoff': 0.2}},
            'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'restart.log')},
            tmp_path, timeout=75)
        seconds = time.monotonic() - started
    finally:
        server.close()
    assert result is not None, (rc, out, err)
    assert result['failure']['step'] == 'health' and 'within 2' in result['failure']['message'], result['failure']
    assert seconds < 30, seconds  # 2 attempts x 2 s + 0.2 s backoff + the restart itself
    assert 'status=critical' in (tmp_path / 'restart.log').read_text()


# --- item 13: a PM2_HOME the job user cannot read is "cannot tell", not "daemon dead" -------------

def test_item13_unreadable_pm2_home_is_not_reported_as_a_dead_daemon(tmp_path):
    import shutil
    import tempfile
    from harness import ROOT
    # The job user (nobody) cannot reach the venv; pm2/client.py (and core/redact.py it imports) need only the
    # standard library, so run those very files with the system Python, as nobody, against a
    # root-only PM2_HOME.
    code_dir = tempfile.mkdtemp(prefix='twzrd-item13-')
    home = tempfile.mkdtemp(prefix='twzrd-item13-home-')
    try:
        package = os.path.join(code_dir, 'ansible_collections', 'twzrd', 'ops', 'plugins', 'module_utils')
        os.makedirs(package)
        for name in ('pm2/client.py', 'core/redact.py'):
            os.makedirs(os.path.dirname(os.path.join(package, name)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, 'plugins', 'module_utils', name), os.path.join(package, name))
        for directory, _dirs, files in os.walk(code_dir):
            os.chmod(directory, 0o755)
            for name in files:
                os.chmod(os.path.join(directory, name), 0o644)
        with open(os.path.join(home, 'pm2.pid'), 'w') as handle:
            handle.write(str(os.getpid()))
        os.chmod(home, 0o700)
        script = ('import sys; sys.path.insert(0, %r)\n'
                  'from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client as pm2\n'
                  'try:\n    print("running" if pm2.daemon_pid(%r) else "dead")\n'
                  'except pm2.Pm2HomeUnreadable as exc:\n    print("unreadable:", exc)\n' % (code_dir, home))
        proc = subprocess.run(['runuser', '-u', 'nobody', '--', '/usr/bin/python3', '-c', script],
                              capture_output=True, text=True, timeout=60, check=False, cwd='/')
    finally:
        shutil.rmtree(code_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    assert proc.stdout.startswith('unreadable:') and 'nobody' in proc.stdout, (proc.stdout, proc.stderr)


# --- item 18 and the secrets test: a marker in every secret-bearing place never comes out ---------

LEAKS = {  # PM2 env values of several shapes, under names that do not say "secret"
    'STRIPE_SK': 'sk_live_51Hx' + MARK.replace('-', ''),
    'GH': 'ghp_' + MARK.replace('-', '') + 'abcdefghij',
    'SLACK': 'xoxb-1234-' + MARK,
    'UPSTREAM': 'https://svc:' + MARK + '@api.example.test/v1',
    'RANDOM_BLOB': 'a9F3kQ7zX1' + MARK.replace('-', '') + 'Lp0Wm',
}


def _leaked(text):
    return [value for value in LEAKS.values() if value in text] + ([MARK] if MARK in text else [])


def test_item18_secret_values_are_masked_whatever_the_variable_is_called(pm2, tmp_path):
    env = dict(LEAKS, LEAK_VARS=','.join(sorted(LEAKS)))
    pm2.start('leaky.js', 'web', env=env)
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
    time.sleep(1)
    report_args = dict(QUIET_SYSTEM, mode='report', pm2_bin=pm2.bin, pm2_home=pm2.home,
                       include_system_log=False, state_file=str(tmp_path / 'state.json'),
                       log_file=str(tmp_path / 'health.log'))
    rc, report, out, err = run_module('twzrd_health', report_args, tmp_path)
    assert report is not None, (rc, out, err)
    assert report['report']['log_errors']['total'] >= len(LEAKS), report['report']['log_errors']
    assert _leaked(out + err) == []

    rc, restart, out2, err2 = run_module('pm2_restart', {
        'apps': ['web'], 'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'stable_seconds': 0.5, 'settle_seconds': 1,
        'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'restart.log')}, tmp_path)
    assert restart is not None and restart['failure']['step'] == 'errors', (rc, out2, err2)
    assert restart['failure']['evidence']['error_lines'], restart['failure']
    assert _leaked(out2 + err2) == []
    for name in ('state.json', 'health.log', 'restart.log'):
        assert _leaked((tmp_path / name).read_text()) == [], name


def test_secrets_marker_in_every_secret_option_never_comes_out(tmp_path):
    """login_password, connect_params, notify.urls, ping_url, health URL credentials."""
    common = {'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'run.log'),
              'notify': {'urls': ['json://user:%s@127.0.0.1:1/hook' % MARK], 'timeout': 1},
              'ping_url': 'http://127.0.0.1:1/ping/%s' % MARK}
    runs = [
        ('twzrd_db_health', {'login_host': '127.0.0.1', 'login_port': 1, 'login_password': MARK,
                             'connect_params': {'password': MARK, 'connect_timeout': 1}}),
        ('twzrd_vacuum', {'login_host': '127.0.0.1', 'login_port': 1, 'login_password': MARK,
                          'connect_params': {'sslpassword': MARK}}),
        ('pm2_restart', {'pm2_home': str(tmp_path / 'no-pm2'), 'pm2_bin': '/bin/true',
                         'health_checks': {'web': 'http://ops:%s@127.0.0.1:1/' % MARK}}),
        ('twzrd_health', dict(QUIET_SYSTEM, pm2_home=str(tmp_path / 'no-pm2'))),
    ]
    for module, args in runs:
        rc, result, out, err = run_module(module, dict(common, **args), tmp_path, timeout=90)
        assert result is not None, (module, rc, out, err)
        assert MARK not in out and MARK not in err, (module, out)
    written = [p for p in tmp_path.iterdir() if p.is_file() and '-args-' not in p.name]  # not our own input
    assert written, 'the runs wrote no state or log file to check'
    for path in written:
        assert MARK not in path.read_text(errors='replace'), path
