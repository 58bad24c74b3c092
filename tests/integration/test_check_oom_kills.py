"""oom_kills end to end: a real kernel OOM kill (a process over the limit of its own small memory cgroup)
between two hourly runs of twzrd_health executed as cron runs it; the state file keeps the baseline."""
import json
import os
import subprocess
import sys

import pytest

from harness import run_module

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'memory_warning': 99.8, 'memory_critical': 99.9,
         'inode_warning': 99.8, 'inode_critical': 99.9, 'pm2_home': '/nonexistent/pm2home'}
GREEDY = 'b = []\nwhile True:\n    b.append(bytearray(4 << 20))\n'
# The kernel's OOM kill count is the host's: every twzrd_health run on another worker at that moment sees
# this kill as new (test_notifications' exact message counts failed on it in a rehearsal), so no other test runs.
pytestmark = pytest.mark.host_wide


def memory_cgroup(name):
    """``(directory, file the limit goes to)`` of a new memory cgroup (v1 or v2), or skip."""
    for base, limit in (('/sys/fs/cgroup/memory', 'memory.limit_in_bytes'), ('/sys/fs/cgroup', 'memory.max')):
        if os.path.exists(os.path.join(base, limit if base.endswith('memory') else 'cgroup.controllers')):
            if limit == 'memory.max':
                with open(os.path.join(base, 'cgroup.controllers')) as handle:
                    if 'memory' not in handle.read().split():
                        continue
            path = os.path.join(base, name)
            try:
                os.mkdir(path)
            except OSError as exc:
                pytest.skip('cannot make a memory cgroup here: %s' % exc)
            return path, os.path.join(path, limit)
    pytest.skip('no memory cgroup controller')


def oom_kill_one():
    """Run a process that allocates until the kernel kills it in a 32 MiB cgroup; returns its pid."""
    path, limit = memory_cgroup('twzrd-oom-test-%d' % os.getpid())
    try:
        with open(limit, 'w') as handle:
            handle.write(str(32 << 20))

        def enter():
            with open(os.path.join(path, 'cgroup.procs'), 'w') as handle:
                handle.write(str(os.getpid()))
        proc = subprocess.Popen([sys.executable, '-c', GREEDY], preexec_fn=enter)  # noqa: PLW1509
        assert proc.wait(timeout=60) == -9  # SIGKILL from the OOM killer
        return proc.pid
    finally:
        os.rmdir(path)


def state_entry(state_file):
    with open(state_file) as handle:
        return json.load(handle)['twzrd_health']['checks']['oom_kills']


def test_a_real_oom_kill_is_told_once_with_its_victim(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('making a memory cgroup needs root')
    state_file = str(tmp_path / 'state.json')
    args = dict(QUIET, state_file=state_file, log_file=str(tmp_path / 'run.log'))
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'ok', (out, err)  # the first run sets the baseline
    baseline = state_entry(state_file)

    pid = oom_kill_one()
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    [alert] = [a for a in result['alerts'] if a['check'] == 'oom_kills']
    assert alert['level'] == 'warning' and alert['value'] >= 1, alert
    assert 'since the previous check' in alert['message']
    assert '(pid %d)' % pid in alert['message'], alert['message']  # root reads /dev/kmsg
    assert state_entry(state_file)['count'] == baseline['count'] + alert['value']

    rc, result, out, err = run_module('twzrd_health', args, tmp_path)  # the next quiet hour: resolved
    assert not [a for a in result['alerts'] if a['check'] == 'oom_kills'], result['alerts']
    assert 'oom_kills' in result['recovered']


def test_check_mode_keeps_the_baseline(tmp_path):
    state_file = str(tmp_path / 'state.json')
    args = dict(QUIET, state_file=state_file)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    before = state_entry(state_file)
    with open(state_file) as handle:
        data = json.load(handle)
    data['twzrd_health']['checks']['oom_kills']['count'] = -1  # untrusted: a new baseline, no alert
    with open(state_file, 'w') as handle:
        json.dump(data, handle)
    rc, result, out, err = run_module('twzrd_health', dict(args, _ansible_check_mode=True), tmp_path)
    assert rc == 0 and not [a for a in result['alerts'] if a['check'] == 'oom_kills'], (out, err)
    assert state_entry(state_file)['count'] == -1  # check mode wrote nothing
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert not [a for a in result['alerts'] if a['check'] == 'oom_kills'], result['alerts']  # a new baseline
    assert state_entry(state_file)['count'] >= before['count'] and state_entry(state_file)['boot_time'] == before['boot_time']
