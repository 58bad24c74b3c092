"""Two pm2_restart runs at once (issue 17 item 8): real PM2, runs started together as real processes.

The module takes a per-daemon lock: one run restarts, the other refuses at once
(no waiting, no restart) and names the run that holds the lock.
"""
import json
import os
import re
import subprocess
import sys
import time

from harness import COLLECTIONS, run_module
from test_pm2_restart import Apps, module_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
# Long enough that the runs overlap for sure: each app waits this long after its health check.
SETTLE = 2.0


def restart_times(pm2):
    return dict(('%s#%s' % (p['name'], p['pm_id']), p['pm2_env']['restart_time']) for p in pm2.jlist())


def start_module(args, tmp_path, tag):
    args_file = tmp_path / ('args-%s.json' % tag)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'}
    return subprocess.Popen([sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.pm2_restart',
                             str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(tmp_path))


def finish_all(procs, started, timeout=180):
    """Each run's result and when it ended (polled together: a run's time is not its neighbour's)."""
    ended = {}
    while len(ended) < len(procs):
        for proc in procs:
            if proc.pid not in ended and proc.poll() is not None:
                ended[proc.pid] = time.monotonic() - started
        assert time.monotonic() - started < timeout, 'runs still going after %ss' % timeout
        time.sleep(0.02)
    runs = []
    for proc in procs:  # results are a few kB: they fit the pipe, nothing blocked on them
        out, err = proc.communicate()
        runs.append({'rc': proc.returncode, 'result': json.loads(out), 'err': err, 'seconds': ended[proc.pid],
                     'pid': proc.pid})
    return runs


def parent_of(pid):
    with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[1])


def two_apps(pm2, tmp_path):
    apps = Apps(pm2, tmp_path)
    apps.start('restart-one')
    apps.start('restart-two', instances=2)
    apps.wait()
    return apps


def test_two_runs_started_together_restart_each_app_once(pm2, tmp_path):
    two_apps(pm2, tmp_path)
    before = restart_times(pm2)
    args = module_args(pm2, tmp_path, settle_seconds=SETTLE)
    started = time.monotonic()
    procs = [start_module(args, tmp_path, n) for n in ('a', 'b')]
    runs = finish_all(procs, started)

    winners = [r for r in runs if r['rc'] == 0]
    losers = [r for r in runs if r['rc'] != 0]
    assert len(winners) == 1 and len(losers) == 1, [(r['rc'], r['result'].get('msg')) for r in runs]
    won, lost = winners[0], losers[0]
    assert [r['app'] for r in won['result']['restarted']] == ['restart-one', 'restart-two']
    # Each instance restarted exactly once, by the run that held the lock; recorded once.
    after = restart_times(pm2)
    assert dict((key, after[key] - before[key]) for key in before) == {
        'restart-one#0': 1, 'restart-two#1': 1, 'restart-two#2': 1}
    own = json.loads((tmp_path / 'state.json').read_text())['pm2']['daemons'][pm2.home]['own_restarts']
    assert own == {'restart-one#0': 1, 'restart-two#1': 1, 'restart-two#2': 1}
    # The other run refused at once, restarted nothing, and names the holder.
    result = lost['result']
    assert result['error'] == 'locked' and result['status'] == 'failed'
    assert 'restarted' not in result or result['restarted'] == []
    assert 'pid %d' % won['pid'] in result['msg']
    assert re.search(r'started 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ', result['msg']), result['msg']
    assert 'user root' in result['msg'] and 'via parent process' in result['msg']
    assert 'did not wait' in result['msg'] and 'two-restarts-at-once' in result['remediation']
    assert result['holder']['pid'] == won['pid']
    assert lost['seconds'] < won['seconds'] - SETTLE, (lost['seconds'], won['seconds'])
    assert 'Traceback' not in lost['err']
    # The lock is released with its run: the next run takes it.
    rc, again, out, err = run_module('pm2_restart', dict(args, settle_seconds=0), tmp_path)
    assert rc == 0 and again['status'] == 'ok', out + err


def test_cron_run_holding_the_lock_is_named_to_a_playbook_run(pm2, tmp_path):
    """The weekly cron job (through the real runner) holds the lock; a run started meanwhile says so."""
    two_apps(pm2, tmp_path)
    config = tmp_path / 'etc'
    config.mkdir()
    args = module_args(pm2, tmp_path, settle_seconds=SETTLE)
    (config / 'restart.json').write_text(json.dumps({'twzrd_run': {'module': 'pm2_restart', 'timeout': 120},
                                                     'ANSIBLE_MODULE_ARGS': args}))
    os.chmod(str(config / 'restart.json'), 0o600)
    runner = subprocess.Popen(
        [sys.executable, RUNNER, '--config-dir', str(config), 'restart'], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={'PATH': '/usr/bin:/bin', 'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS})
    try:
        holder = wait_for_holder(tmp_path)
        holder_parent = parent_of(holder['pid'])
        started = time.monotonic()
        rc, result, dummy, dummy = run_module('pm2_restart', args, tmp_path)
        assert time.monotonic() - started < 10
    finally:
        cron_out, cron_err = runner.communicate(timeout=180)
    assert runner.returncode == 0, cron_out + cron_err
    assert rc != 0 and result['error'] == 'locked'
    assert 'via the cron runner (twzrd-run restart)' in result['msg'], result['msg']
    assert 'pid %d' % holder['pid'] in result['msg']
    assert holder_parent == runner.pid  # the pid named is the cron runner's module process


def test_lock_in_a_directory_others_can_write_is_refused(pm2, tmp_path):
    """Root never creates its lock where another user could plant a symlink or hold the file."""
    two_apps(pm2, tmp_path)
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(str(shared), 0o1777)
    before = restart_times(pm2)
    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path, state_file=str(shared / 'state.json')),
                                      tmp_path)
    assert rc != 0 and result['error'] == 'lock', out + err
    assert 'Traceback' not in err
    assert 'writable by group or others' in result['msg'] and 'nothing restarted' in result['msg']
    assert restart_times(pm2) == before
    assert not [n for n in os.listdir(str(shared)) if n.startswith('pm2_restart.')]


def test_a_planted_symlink_at_the_lock_path_is_not_followed(pm2, tmp_path):
    from ansible_collections.twzrd.ops.plugins.module_utils.pm2.restart_lock import lock_path  # new in this change
    two_apps(pm2, tmp_path)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    mode = os.stat(str(victim)).st_mode
    os.symlink(str(victim), lock_path(str(tmp_path), pm2.home))
    before = restart_times(pm2)
    rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path), tmp_path)
    assert rc != 0 and result['error'] == 'lock' and 'symlink' in result['msg'], out + err
    assert victim.read_text() == 'precious\n' and os.stat(str(victim)).st_mode == mode
    assert restart_times(pm2) == before


def wait_for_holder(tmp_path, timeout=60):
    """What the run holding the restart lock wrote about itself, once it holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir(str(tmp_path)):
            if name.startswith('pm2_restart.') and name.endswith('.lock'):
                text = (tmp_path / name).read_text()
                if text.strip():
                    return json.loads(text)
        time.sleep(0.05)
    raise AssertionError('no run took the restart lock')


def test_playbook_run_holding_the_lock_is_named_to_a_cron_run(pm2, tmp_path):
    """playbooks/restart.yml (real ansible-playbook, local connection) holds the lock; a run started meanwhile
    refuses at once and says a playbook holds it; the playbook's rollout is not disturbed."""
    two_apps(pm2, tmp_path)
    before = restart_times(pm2)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {'web1': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'twzrd_pm2_bin': pm2.bin, 'twzrd_pm2_home': pm2.home}}}}))
    extra = {'twzrd_restart_settle_seconds': SETTLE, 'twzrd_state_file': str(tmp_path / 'state.json'),
             'twzrd_restart_log_file': str(tmp_path / 'restart.log')}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    playbook = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
         os.path.join(ROOT, 'playbooks', 'restart.yml'), '-e', json.dumps(extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        holder = wait_for_holder(tmp_path)
        rc, result, out, err = run_module('pm2_restart', module_args(pm2, tmp_path), tmp_path)
    finally:
        play_out, play_err = playbook.communicate(timeout=300)
    assert playbook.returncode == 0, play_out + play_err
    assert rc != 0 and result['error'] == 'locked', out + err
    assert holder['started_by'] == 'ansible-playbook restart.yml'
    assert 'via ansible-playbook restart.yml' in result['msg'] and 'pid %d' % holder['pid'] in result['msg']
    after = restart_times(pm2)
    assert dict((key, after[key] - before[key]) for key in before) == {
        'restart-one#0': 1, 'restart-two#1': 1, 'restart-two#2': 1}
