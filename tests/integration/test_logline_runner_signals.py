"""Signals to the runner (issue 17 item 10): the lock means "a run of this job is going on".

Real processes as cron starts them: the runner with --lock, a stand-in module that starts a
grandchild (as modules start pm2, psql, runuser) and records both pids.  Whatever ends the
runner (SIGTERM, SIGINT, SIGHUP, its timeout, even SIGKILL), no process of the run outlives the
lock, and a run that was stopped leaves a status=failed line.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness import ROOT
from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
MODULES = {
    # module + grandchild, both long-lived; records "module_pid grandchild_pid" once both run
    'fake_tree': textwrap.dedent('''\
        import json, os, subprocess, sys, time
        args = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())['ANSIBLE_MODULE_ARGS']
        child = subprocess.Popen(['sleep', '300'])
        with open(args['pids'] + '.tmp', 'w') as handle:
            handle.write('%d %d' % (os.getpid(), child.pid))
        os.rename(args['pids'] + '.tmp', args['pids'])
        time.sleep(300)
        '''),
    # like fake_tree, but ignores SIGTERM (a module stuck in a C call): needs SIGKILL
    'fake_stubborn': textwrap.dedent('''\
        import json, os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        args = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())['ANSIBLE_MODULE_ARGS']
        child = subprocess.Popen(['sleep', '300'])
        with open(args['pids'] + '.tmp', 'w') as handle:
            handle.write('%d %d' % (os.getpid(), child.pid))
        os.rename(args['pids'] + '.tmp', args['pids'])
        time.sleep(300)
        '''),
    # finishes ok but leaves a grandchild behind in its process group
    'fake_leaves_child': textwrap.dedent('''\
        import json, os, subprocess, sys
        args = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())['ANSIBLE_MODULE_ARGS']
        child = subprocess.Popen(['sleep', '300'])
        with open(args['pids'], 'w') as handle:
            handle.write('%d %d' % (os.getpid(), child.pid))
        with open(args['log_file'], 'a') as handle:
            handle.write('ts=2026-01-01T00:00:00Z job=fake status=ok alerts=0 msg="all checks ok"\\n')
        print(json.dumps({'status': 'ok', 'alerts': [], 'metrics': {}, 'twzrd_reported': True}))
        '''),
    # finishes ok; a program it started detached (own session, like a PM2 daemon) keeps its stdout open
    'fake_detaches': textwrap.dedent('''\
        import json, os, subprocess, sys
        args = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())['ANSIBLE_MODULE_ARGS']
        child = subprocess.Popen(['sleep', '300'], start_new_session=True)
        with open(args['pids'], 'w') as handle:
            handle.write('%d %d' % (os.getpid(), child.pid))
        print(json.dumps({'status': 'ok', 'alerts': [], 'metrics': {}, 'twzrd_reported': True}))
        '''),
    'fake_quick': textwrap.dedent('''\
        import json, sys
        args = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())['ANSIBLE_MODULE_ARGS']
        with open(args['log_file'], 'a') as handle:
            handle.write('ts=2026-01-01T00:00:00Z job=fake status=ok alerts=0 msg="all checks ok"\\n')
        print(json.dumps({'status': 'ok', 'alerts': [], 'metrics': {}, 'twzrd_reported': True}))
        '''),
}


@pytest.fixture
def env(tmp_path):
    modules = tmp_path / 'collections' / 'ansible_collections' / 'twzrd' / 'ops' / 'plugins' / 'modules'
    modules.mkdir(parents=True)
    for name, body in MODULES.items():
        (modules / (name + '.py')).write_text(body)
    (tmp_path / 'etc').mkdir()
    started = []
    yield {'tmp': tmp_path, 'log': tmp_path / 'job.log', 'pids': tmp_path / 'pids', 'lock': tmp_path / 'job.lock',
           'started': started}
    # End what the test started, by pid, should an assertion have left it running.
    for pid in started + recorded_pids(tmp_path / 'pids'):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def recorded_pids(path):
    try:
        return [int(pid) for pid in path.read_text().split()]
    except (OSError, ValueError):
        return []


def write_job(env, module, timeout=60):
    (env['tmp'] / 'etc' / 'job.json').write_text(json.dumps({
        'twzrd_run': {'module': module, 'timeout': timeout},
        'ANSIBLE_MODULE_ARGS': {'log_file': str(env['log']), 'pids': str(env['pids'])}}))


def runner_env(env):
    return {'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(env['tmp'] / 'etc'), 'TWZRD_PYTHON': sys.executable,
            'TWZRD_PYTHONPATH': str(env['tmp'] / 'collections'), 'TWZRD_KILL_GRACE': '2'}


def start(env):
    proc = subprocess.Popen([sys.executable, RUNNER, '--lock', str(env['lock']), 'job'], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=runner_env(env))
    env['started'].append(proc.pid)
    return proc


def run_now(env):
    return subprocess.run([sys.executable, RUNNER, '--lock', str(env['lock']), 'job'], capture_output=True,
                          text=True, timeout=60, check=False, env=runner_env(env))


def wait_for_pids(env, proc):
    deadline = time.time() + 20
    while time.time() < deadline:
        pids = recorded_pids(env['pids'])
        if len(pids) == 2:
            return pids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError('the module never started')


def alive(pid):
    """Running, not a zombie waiting to be reaped."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def log_lines(env):
    return env['log'].read_text().splitlines() if env['log'].exists() else []


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize('module', ['fake_tree', 'fake_stubborn'])
def test_a_signal_to_the_runner_ends_the_whole_run_before_the_lock_is_free(env, signum, module):
    write_job(env, module)
    proc = start(env)
    pids = wait_for_pids(env, proc)
    second = run_now(env)
    assert second.returncode == 3 and 'held by another process' in second.stdout, second.stdout
    sent = time.time()
    proc.send_signal(signum)
    out, _err = proc.communicate(timeout=30)
    elapsed = time.time() - sent
    # The runner exits only once the module and its grandchild are gone (SIGKILL after the grace if need be).
    assert [pid for pid in pids if alive(pid)] == [], (pids, out)
    assert elapsed < 15, elapsed
    assert proc.returncode == 3 and 'FAILED' in out and signum.name in out, out
    stopped = [parse_line(line) for line in log_lines(env) if 'status=failed' in line and 'held by' not in line]
    assert len(stopped) == 1 and signum.name in stopped[0]['msg'], log_lines(env)
    # The lock is free at once for the next run.
    write_job(env, 'fake_quick')
    assert run_now(env).returncode == 0


def test_a_timeout_ends_the_grandchildren_too(env):
    write_job(env, 'fake_stubborn', timeout=2)
    proc = start(env)
    pids = wait_for_pids(env, proc)
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == 3 and 'timeout' in out, out
    assert [pid for pid in pids if alive(pid)] == [], pids
    assert any('status=failed' in line and 'timeout' in line for line in log_lines(env)), log_lines(env)


def test_what_a_module_leaves_behind_is_ended_before_the_lock_is_released(env):
    write_job(env, 'fake_leaves_child')
    proc = start(env)
    out, _err = proc.communicate(timeout=30)
    pids = recorded_pids(env['pids'])
    assert len(pids) == 2 and [pid for pid in pids if alive(pid)] == [], pids
    assert proc.returncode == 0 and 'left' in out, out


def test_the_lock_outlives_a_killed_runner_while_its_module_runs(env):
    """SIGKILL cannot be forwarded: the module holds the lock itself until it ends."""
    write_job(env, 'fake_tree')
    proc = start(env)
    pids = wait_for_pids(env, proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert alive(pids[0])
    second = run_now(env)
    assert second.returncode == 3 and 'held by another process' in second.stdout, second.stdout
    os.killpg(pids[0], signal.SIGKILL)   # the module's own group: what this test started
    deadline = time.time() + 10
    while alive(pids[0]) and time.time() < deadline:
        time.sleep(0.05)
    write_job(env, 'fake_quick')
    assert run_now(env).returncode == 0


def test_a_detached_program_holding_the_output_does_not_hang_the_run(env):
    """Outside the group (its own session) it is not the run's to end; the runner stops reading and reports."""
    write_job(env, 'fake_detaches')
    proc = start(env)
    sent = time.time()
    out, _err = proc.communicate(timeout=60)
    assert time.time() - sent < 20
    assert proc.returncode == 0, out
    pids = recorded_pids(env['pids'])
    assert alive(pids[1])   # not ours to end: the fixture ends it (this test started it)
