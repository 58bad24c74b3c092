"""twzrd_health as a module: bad input, check mode, state handling, the playbooks."""
import json
import os
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT, run_module

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home'}


@pytest.mark.parametrize('args, expected', [
    ({'swap_warning': 90, 'swap_critical': 80}, 'swap_warning (90.0) must be lower than swap_critical (80.0)'),
    ({'load_warning': -1}, 'load_warning must be >= 0, got -1.0'),
    ({'disk_critical': 150}, 'disk_critical must be <= 100, got 150.0'),
    ({'swap_warning': 'lots'}, 'swap_warning'),
    ({'mode': 'weekly'}, 'value of mode must be one of: alerts, report, got: weekly'),
    ({'pm2_bin': '/nonexistent/bin/pm2'}, 'pm2_bin /nonexistent/bin/pm2 does not exist or is not executable'),
    ({'pm2_user': 'no-such-user-xyz'}, 'pm2_user no-such-user-xyz does not exist'),
    ({'error_patterns': ['(unclosed']}, "error_patterns: '(unclosed' is not a valid regular expression"),
    ({'report_days': 0}, 'report_days must be >= 1, got 0'),
    ({'crash_warning': 3, 'crash_critical': 1}, 'crash_warning (3) must be lower than crash_critical (1)'),
])
def test_bad_input_fails_clearly(tmp_path, args, expected):
    rc, result, out, err = run_module('twzrd_health', dict(args, state_file=str(tmp_path / 's.json')), tmp_path)
    assert rc == 1 and result['failed'] is True
    assert expected in result['msg']
    assert 'Traceback' not in out + err and 'exception' not in result
    assert not (tmp_path / 's.json').exists()


def test_check_mode_writes_nothing(tmp_path):
    args = dict(QUIET, state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'run.log'),
                _ansible_check_mode=True)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'ok' and result['changed'] is False, (out, err)
    assert os.listdir(str(tmp_path)) == [p for p in os.listdir(str(tmp_path)) if p.endswith('.json')]
    assert not (tmp_path / 'state.json').exists() and not (tmp_path / 'run.log').exists()


def test_corrupt_state_is_a_warning_and_a_fresh_start(tmp_path):
    state = tmp_path / 'state.json'
    state.write_text('{"pm2": {"restart_baseline": ')  # truncated by a full disk, say
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=str(state)), tmp_path)
    assert rc == 0 and result['status'] == 'ok', (out, err)
    assert 'corrupt' in json.dumps(result.get('warnings'))
    data = json.loads(state.read_text())
    assert data['version'] == 1 and len(data['twzrd_health']['history']) == 1
    assert (state.stat().st_mode & 0o777) == 0o600


def test_unwritable_log_file_fails_clearly(tmp_path):
    args = dict(QUIET, state_file='', log_file=str(tmp_path / 'no-such-dir' / 'x.log'))
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 1 and 'cannot append to log_file' in result['msg'] and 'Traceback' not in err


def test_alert_history_feeds_the_report_trend(tmp_path):
    state = str(tmp_path / 'state.json')
    for _run in range(3):
        assert run_module('twzrd_health', dict(QUIET, state_file=state), tmp_path)[0] == 0
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=state, mode='report',
                                                           include_system_log=False), tmp_path)
    assert rc == 0, err
    trend = result['report']['load']['trend']
    # one sample per clock hour (state/history.py): three runs within the hour keep the newest
    assert trend['samples'] == 1 and trend['min'] <= trend['avg'] <= trend['max']


def playbook(tmp_path, name, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           'twzrd.ops.%s' % name, '-e', 'ansible_python_interpreter=%s' % sys.executable,
           '-e', 'twzrd_state_file=%s' % (tmp_path / 'state.json'), '-e', 'twzrd_pm2_home=/nonexistent/pm2home']
    return subprocess.run(cmd + list(extra), capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)


def test_playbooks_print_a_summary_and_fail_only_when_asked(tmp_path):
    ok = playbook(tmp_path, 'health', '-e', 'twzrd_load_warning=1000', '-e', 'twzrd_load_critical=2000')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert 'errors in logs over 7 days' in ok.stdout and 'status ' in ok.stdout

    # high load thresholds: only the PM2 alert is raised, whatever else runs on this machine
    expected_apps = ['-e', '{"twzrd_pm2_expected_apps": ["api"]}', '-e', 'twzrd_load_warning=1000',
                     '-e', 'twzrd_load_critical=2000']
    tolerated = playbook(tmp_path, 'alerts', *expected_apps)
    assert tolerated.returncode == 0, tolerated.stdout + tolerated.stderr
    assert 'PM2 daemon is not running' in tolerated.stdout

    failed = playbook(tmp_path, 'alerts', '-e', 'twzrd_fail_on=critical', *expected_apps)
    assert failed.returncode != 0
    assert 'localhost is critical: PM2 daemon is not running' in failed.stdout


@pytest.mark.parametrize('look', [
    {'mode': 'report'},                        # the weekly report, and `make run`
    {'mode': 'alerts', 'on_demand': True},     # a person's quiet look (playbooks/alerts.yml)
    {'mode': 'alerts', '_ansible_check_mode': True},
])
def test_a_look_that_writes_no_state_does_not_warn_that_there_is_none_yet(tmp_path, look):
    """`make run` on a machine the hourly job never ran on printed "[WARNING]: state file ... does not exist
    yet: fresh start": nothing is wrong and nothing starts (the report itself says there is no history yet)."""
    state = tmp_path / 'state.json'
    args = dict(QUIET, state_file=str(state), log_file=str(tmp_path / 'run.log'), **look)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'ok', (out, err)
    assert not result.get('warnings'), result.get('warnings')
    assert not state.exists()
    state.write_text('{"twzrd_health": ')  # what is wrong is still told, however the run looks
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and 'corrupt' in json.dumps(result.get('warnings')), (out, err)


def test_the_first_run_that_keeps_state_still_says_it_starts_one(tmp_path):
    """A run that creates the state file says so (the cron runner marks it routine and mails it not)."""
    state = tmp_path / 'state.json'
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=str(state)), tmp_path)
    assert rc == 0 and state.exists(), (out, err)
    assert any('does not exist yet' in str(w) for w in result['warnings'])
    assert result['routine_warnings'] == ['state file %s does not exist yet: fresh start' % state]


def test_a_fresh_start_keeps_the_damaged_state_file_as_it_was(tmp_path):
    """A corrupt state file was replaced at the run's save: every job's history, baselines and open alerts gone,
    with nothing left to look at or mend. The run that replaces it keeps it as ``<state>.corrupt`` (one copy)."""
    state = tmp_path / 'state.json'
    damaged = b'{"twzrd_health": {"history": [' + b'1' * 100 + b'\x00'  # cut off by a full disk, say
    state.write_bytes(damaged)
    state.chmod(0o600)
    args = dict(QUIET, state_file=str(state))
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'ok', (out, err)
    kept = tmp_path / 'state.json.corrupt'
    assert kept.read_bytes() == damaged and (kept.stat().st_mode & 0o777) == 0o600
    said = json.dumps(result.get('warnings'))
    assert 'corrupt' in said and str(kept) in said, said
    assert json.loads(state.read_text())['version'] == 1  # the fresh start itself, saved
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)  # a clean file: nothing more to keep
    assert rc == 0 and not result.get('warnings') and kept.read_bytes() == damaged, (out, err)


def test_a_look_that_writes_no_state_keeps_no_copy_of_a_damaged_file(tmp_path):
    state = tmp_path / 'state.json'
    state.write_text('{"twzrd_health": ')
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=str(state),
                                                           log_file=str(tmp_path / 'run.log')), tmp_path)
    assert rc == 0 and 'corrupt' in json.dumps(result.get('warnings')), (out, err)
    assert not (tmp_path / 'state.json.corrupt').exists() and state.read_text() == '{"twzrd_health": '
