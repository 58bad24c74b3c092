"""Issue 17 items 8, 9, 11 at the unit level: the restart lock (real files, real flock, real
processes), planning around stopped apps, and what a role without pg_monitor can vouch for."""
import json
import os
import pwd
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import rollout as ro
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import restart_lock

from test_pm2_rollout import FakeOps, OPTIONS, by_name, proc

HOME = '/home/app/.pm2'


def holder():
    return {'pid': os.getpid(), 'started': '2026-12-04T01:00:02Z', 'user': 'root', 'started_by': 'test'}


# --- the lock (item 8) ------------------------------------------------------------------

def test_a_second_acquire_in_another_process_refuses_at_once_and_names_the_holder(tmp_path):
    fd = restart_lock.acquire(str(tmp_path), HOME, holder())[0]
    try:
        script = textwrap.dedent('''\
            import sys, time
            from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import restart_lock
            started = time.monotonic()
            try:
                restart_lock.acquire(sys.argv[1], sys.argv[2], {'pid': 1})
            except restart_lock.LockHeld as held:
                print(restart_lock.describe_holder(held.holder))
                print(time.monotonic() - started)''')
        out = subprocess.run([sys.executable, '-c', script, str(tmp_path), HOME], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=True).stdout
        described, seconds = out.splitlines()
        assert described == 'pid %d, started 2026-12-04T01:00:02Z, user root, via test' % os.getpid()
        assert float(seconds) < 1.0  # no waiting
    finally:
        os.close(fd)
    # released with its holder: the next run takes it and overwrites the description
    fd = restart_lock.acquire(str(tmp_path), HOME, dict(holder(), started_by='again'))[0]
    os.close(fd)
    path = restart_lock.lock_path(str(tmp_path), HOME)
    assert json.loads(open(path, encoding='utf-8').read())['started_by'] == 'again'
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_lock_is_per_pm2_home(tmp_path):
    assert restart_lock.lock_path('/d', '/home/a/.pm2') != restart_lock.lock_path('/d', '/home/b/.pm2')
    first = restart_lock.acquire(str(tmp_path), '/home/a/.pm2', holder())[0]
    second = restart_lock.acquire(str(tmp_path), '/home/b/.pm2', holder())[0]  # another daemon: no conflict
    os.close(first)
    os.close(second)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give files to another user')
def test_a_lock_file_owned_by_another_user_is_refused(tmp_path):
    path = restart_lock.lock_path(str(tmp_path), HOME)
    open(path, 'w', encoding='utf-8').close()
    nobody = pwd.getpwnam('nobody')
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(restart_lock.LockError, match='owned by uid %d' % nobody.pw_uid):
        restart_lock.acquire(str(tmp_path), HOME, holder())


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give files to another user')
def test_a_directory_owned_by_another_user_is_refused(tmp_path):
    directory = tmp_path / 'theirs'
    directory.mkdir(mode=0o755)
    nobody = pwd.getpwnam('nobody')
    os.chown(str(directory), nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(restart_lock.LockError, match='owned by uid'):
        restart_lock.acquire(str(directory), HOME, holder())
    assert os.listdir(str(directory)) == []


def test_a_hard_linked_or_symlinked_lock_file_is_refused(tmp_path):
    path = restart_lock.lock_path(str(tmp_path), HOME)
    other = tmp_path / 'other'
    other.write_text('x')
    os.link(str(other), path)
    with pytest.raises(restart_lock.LockError, match='2 hard links'):
        restart_lock.acquire(str(tmp_path), HOME, holder())
    os.unlink(path)
    os.symlink(str(other), path)
    with pytest.raises(restart_lock.LockError, match='symlink'):
        restart_lock.acquire(str(tmp_path), HOME, holder())
    assert other.read_text() == 'x'


def test_a_symlinked_lock_directory_is_refused(tmp_path):
    real = tmp_path / 'real'
    real.mkdir(mode=0o700)
    os.symlink(str(real), str(tmp_path / 'link'))
    with pytest.raises(restart_lock.LockError, match='symlink'):
        restart_lock.acquire(str(tmp_path / 'link'), HOME, holder())


@pytest.mark.parametrize('argv, expected', [
    (['/usr/bin/python3', '/usr/local/bin/twzrd-run', '--lock', '/var/lib/twzrd/lock/x.lock', 'restart'],
     'the cron runner (twzrd-run restart)'),
    (['/opt/venv/bin/python', '/opt/venv/bin/ansible-playbook', '-i', 'inv', 'playbooks/restart.yml',
      '-e', 'login_password=hunter2secret'], 'ansible-playbook restart.yml'),
    (['/usr/bin/python3', '/usr/bin/ansible-playbook', '-i', 'hosts.yml', '--extra-vars', '@vars.yml', '-e',
      'x.yml', '--limit=web1', 'site.yml'], 'ansible-playbook site.yml'),
    (['/usr/bin/python3', '-m', 'pytest'], None),
])
def test_launcher_names_the_way_a_run_was_started_never_its_arguments(argv, expected):
    assert restart_lock._launcher(argv) == expected  # pylint: disable=protected-access


def test_started_by_names_the_parent_when_no_launcher_is_known():
    assert restart_lock.started_by().startswith('parent process %d (' % os.getppid())
    assert restart_lock.started_by(ansible_task=True).startswith(('an Ansible task', 'ansible-playbook'))


def test_a_holder_description_cannot_break_a_log_line():
    text = restart_lock.describe_holder({'pid': 7, 'user': 'evil\nstatus=ok\u2028x', 'started_by': 'x' * 500})
    assert '\n' not in text and '\u2028' not in text and len(text) < 300
    assert 'not described itself' in restart_lock.describe_holder({})


# --- stopped apps (item 9) ----------------------------------------------------------------

FLEET = [proc('api', 0, 100, exec_mode='cluster'), proc('api', 1, 101, exec_mode='cluster'),
         proc('parked', 2, 0, status='stopped'), proc('web', 3, 300)]


def test_without_apps_a_stopped_app_is_left_out_and_listed():
    plan, skipped, errors = ro.plan_restart(by_name(FLEET), [], 'auto', {'parked': {'url': 'http://127.0.0.1/'}})
    assert errors == []
    assert [p['app'] for p in plan] == ['api', 'web']
    assert skipped == [{'app': 'parked', 'reason': 'stopped (instance 2): only a person starts it (`pm2 start parked`)',
                        'statuses': ['stopped']}]


def test_a_stopped_app_named_in_apps_is_an_error_and_nothing_is_planned():
    plan, skipped, errors = ro.plan_restart(by_name(FLEET), ['api', 'parked'], 'auto', {})
    assert plan == [] and skipped == []
    assert len(errors) == 1 and 'parked is stopped' in errors[0] and 'never starts stopped apps' in errors[0]


def test_an_app_stopped_after_the_plan_is_left_alone_not_started():
    fleet = [proc('api', 0, 100), proc('web', 1, 200)]
    plan = ro.plan_restart(by_name(fleet), [], 'auto', {})[0]
    ops = FakeOps(fleet, {})
    ops.procs[1]['status'] = 'stopped'  # `pm2 stop web` while api restarts
    out = ro.execute(plan, ops, OPTIONS)
    assert [r['app'] for r in out['restarted']] == ['api'] and out['failure'] is None
    assert [s['app'] for s in out['skipped']] == ['web']
    assert ops.restarted == [('api', 'restart')]
    assert 'left alone web' in ro.summary_lines(out)[1]


# --- a role without pg_monitor (item 11) ----------------------------------------------------

SETTINGS = {'max_connections': 100}


def session(pid, state='idle in transaction', xact_age=900.0, state_age=900.0, own=False):
    return {'pid': pid, 'own': own, 'state': state, 'xact_age': xact_age, 'state_age': state_age,
            'user': 'app', 'application_name': 'api', 'database': 'app'}


HIDDEN = session(9, state=None, xact_age=None, state_age=None)


def test_visibility_without_pg_monitor_is_a_warning_naming_the_grant():
    alerts, metrics = db_checks.evaluate_visibility(
        {'role': 'Check Role', 'superuser': False, 'pg_monitor': False, 'pg_read_all_stats': False},
        [session(1, 'active', own=True), HIDDEN])
    assert metrics == {'role': 'Check Role', 'all_sessions': False, 'via': None, 'hidden_sessions': 1}
    assert alerts[0]['check'] == 'pg_monitor' and alerts[0]['level'] == 'warning'
    assert 'GRANT pg_monitor TO "Check Role";' in alerts[0]['remediation']


@pytest.mark.parametrize('flags, via', [({'superuser': True}, 'superuser'),
                                        ({'pg_monitor': True, 'pg_read_all_stats': True}, 'pg_monitor'),
                                        ({'pg_read_all_stats': True}, 'pg_read_all_stats')])
def test_visibility_with_the_privilege_is_quiet(flags, via):
    alerts, metrics = db_checks.evaluate_visibility(dict({'role': 'r'}, **flags), [session(1)])
    assert alerts == [] and metrics['via'] == via and metrics['all_sessions'] is True


def test_blind_connections_report_unknown_not_zero_and_still_count_hidden_sessions():
    blind = {'role': 'r', 'superuser': False, 'pg_monitor': False, 'pg_read_all_stats': False}
    alerts, metrics = db_checks.evaluate_connections([session(1, 'active', None, 1.0, own=True), HIDDEN], SETTINGS,
                                                     80, 95, 60, None, 60, visibility=blind)
    assert alerts == []
    assert metrics['total'] == 2 and metrics['not_visible'] == 1
    for key in ('oldest_transaction_s', 'idle_in_transaction_max_s', 'idle_in_transaction', 'active', 'idle'):
        assert metrics[key] is None, key
    families = metrics_export.build_families('db_health', 'app', {'metrics': {
        'connected': True, 'database': 'app', 'connections': metrics,
        'visibility': {'all_sessions': False}}, 'alerts': []}, 'ok', 0, 1)
    text = metrics_export.render(families).decode()
    assert 'twzrd_pg_sees_all_sessions' in text and 'state="not_visible"' in text
    assert 'twzrd_pg_idle_in_transaction_max_seconds' not in text and 'twzrd_pg_oldest_transaction_seconds' not in text


def test_blind_role_still_alerts_on_its_own_long_transaction():
    blind = {'role': 'r', 'superuser': False, 'pg_monitor': False, 'pg_read_all_stats': False}
    alerts, dummy = db_checks.evaluate_connections([session(1, 'active', 7200.0, 1.0), HIDDEN], SETTINGS,
                                                   80, 95, 3600, None, 600, visibility=blind)
    assert [a['check'] for a in alerts] == ['transaction_age']


def test_a_previous_runs_description_is_not_taken_for_the_holders(tmp_path):
    """The holder has locked but not yet written: the file still describes a run that is gone."""
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True,
                          check=True)
    gone_pid = int(dead.stdout)
    fd = restart_lock.acquire(str(tmp_path), HOME, dict(holder(), pid=gone_pid))[0]
    try:
        with pytest.raises(restart_lock.LockHeld) as held:
            restart_lock.acquire(str(tmp_path), HOME, holder())
        assert held.value.holder == {}
    finally:
        os.close(fd)


def test_a_run_from_a_controller_is_told_apart_from_cron_by_the_controllers_arguments():
    from ansible_collections.twzrd.ops.plugins.modules.pm2_restart import from_controller

    class Module:  # what AnsibleModule sets from _ansible_version ('0.0' when cron's args file has none)
        def __init__(self, version):
            self.ansible_version = version
    assert from_controller(Module('2.19.4')) is True
    assert from_controller(Module('0.0')) is False
