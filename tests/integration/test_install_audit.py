"""Install role audit (docs/install.md promises), each test the role's real tasks run by
ansible-playbook against this machine under a temporary prefix (role_harness)."""
import os
import shutil
import subprocess
import stat

import pytest

from role_harness import paths, run_role, shared_tmpdir

SECRET = 'hc-s3cret-pw'


@pytest.fixture
def base():
    path = shared_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_health_check_password_never_shows_in_the_install_output(base):
    """pm2_restart takes http://user:password@host/ health checks (basic auth, masked by the module):
    `install.yml --diff` printed the restart job file, password included."""
    variables = dict(paths(base), twzrd_restart_health_checks={
        'api': {'url': 'http://monitor:%s@127.0.0.1:3000/health' % SECRET}})
    os.makedirs(variables['install_config_dir'])
    for check in (True, False):
        run = run_role('job_files.yml', variables, base, check=check, diff=True)
        assert run.returncode == 0, run.stdout
        assert SECRET not in run.stdout + run.stderr, run.stdout
    job_file = os.path.join(variables['install_config_dir'], 'restart.json')
    with open(job_file) as handle:
        assert SECRET in handle.read()  # the job needs it: only in its 0600 file
    assert stat.S_IMODE(os.stat(job_file).st_mode) == 0o600


JOBS = ('alerts', 'health', 'db_health', 'db_alerts', 'vacuum', 'restart')


def install_vars(base, **extra):
    """The whole role (main.yml), every path it writes under ``base``; a venv with pip only (no download)."""
    variables = dict(paths(base), install_runtime_packages=['pip'], install_system_packages=['cron', 'logrotate'],
                     install_report_dir=os.path.join(base, 'reports'))
    for job in JOBS:
        variables['install_%s_log' % job] = os.path.join(base, 'log', 'twzrd-%s.log' % job)
    for directory in ('log', 'cron.d', 'logrotate.d'):  # /var/log, /etc/cron.d, /etc/logrotate.d on a host
        os.makedirs(os.path.join(base, directory), exist_ok=True)
    variables.update(extra)
    return variables


def test_a_log_mode_written_as_yaml_0640_gives_rotated_logs_mode_0640(base):
    """`install_log_mode: 0640` unquoted in an inventory is the integer 416 (YAML octal): the logs got 0640,
    but logrotate read `create 416` as octal 0416: after the first rotation every job log was writable by
    any user (r----xrw-) and the postgres jobs could no longer append to theirs."""
    variables = install_vars(base, install_log_mode=0o640)
    run = run_role('main.yml', variables, base)
    assert run.returncode == 0, run.stdout
    logs = [variables['install_%s_log' % job] for job in JOBS]
    for log in logs:
        with open(log, 'w') as handle:
            handle.write('ts=2026-01-01T00:00:00Z job=x status=ok\n')
    rotate = subprocess.run(['logrotate', '--force', '--state', os.path.join(base, 'logrotate.state'),
                             variables['install_logrotate_file']], capture_output=True, text=True, timeout=120, check=False)
    assert rotate.returncode == 0, rotate.stderr
    for log in logs:
        assert os.path.exists(log + '.1')
        assert oct(stat.S_IMODE(os.stat(log).st_mode)) == oct(0o640), log


@pytest.mark.parametrize('value', ['rw-r-----', '0666', 'u=rw,g=r'])
def test_a_bad_log_mode_fails_first_naming_the_variable(base, value):
    variables = install_vars(base, install_log_mode=value)
    run = run_role('main.yml', variables, base)
    assert run.returncode != 0
    assert 'install_log_mode must be an octal mode' in run.stdout, run.stdout
    assert not os.path.exists(variables['install_prefix']), 'nothing may change before the check'


@pytest.mark.parametrize('schedule', ['0 3 * *', '0 25 * * *', '0 3 * * 3 4', '@weekly'])
def test_a_bad_schedule_fails_first_naming_the_variable_in_check_mode_too(base, schedule):
    """`--check` said all was well; the real run then failed at its last task, after writing the job files, with
    "user '/opt/twzrd/bin/twzrd-run' does not exist ... bad day-of-week" on line 23 of a temporary file."""
    variables = install_vars(base, install_vacuum_schedule=schedule,
                             twzrd_db_connection={'login_password': 'db-' + SECRET})
    for check in (True, False):
        run = run_role('main.yml', variables, base, check=check)
        assert run.returncode != 0, run.stdout
        assert "install_vacuum_schedule '%s'" % schedule in run.stdout, run.stdout
        assert SECRET not in run.stdout + run.stderr  # the failed item is printed: never a job's args
        assert not os.path.exists(variables['install_prefix']), 'nothing may change before the check'
        assert not os.listdir(os.path.join(base, 'cron.d'))


def cron_entries(path):
    with open(path) as handle:
        return [line.split() for line in handle if line.strip() and not line.startswith('#') and '=' not in line.split()[0]]


def test_install_is_idempotent_follows_changes_and_uninstalls_cleanly(base):
    """The whole role as install.yml runs it: a second run and a dry run change nothing, a changed schedule and a
    disabled job leave no old cron line or job file, the uninstall leaves only the logs, state and reports."""
    variables = install_vars(base)
    first = run_role('main.yml', variables, base)
    assert first.returncode == 0, first.stdout
    cron_file = variables['install_cron_path_full']
    entries = cron_entries(cron_file)
    assert sorted(entry[-1] for entry in entries) == sorted(JOBS)
    assert {entry[-1]: ' '.join(entry[:6]) for entry in entries}['db_alerts'] == '15 * * * * postgres'
    for again, check in ((run_role('main.yml', variables, base), False), (run_role('main.yml', variables, base, check=True), True)):
        assert again.returncode == 0 and 'changed=0' in again.stdout, (check, again.stdout)

    changed = dict(variables, install_alerts_schedule='5 * * * *', install_vacuum_enabled=False)
    run = run_role('main.yml', changed, base)
    assert run.returncode == 0, run.stdout
    entries = {entry[-1]: ' '.join(entry[:5]) for entry in cron_entries(cron_file)}
    assert 'vacuum' not in entries and entries['alerts'] == '5 * * * *', entries
    assert not os.path.exists(os.path.join(variables['install_config_dir'], 'vacuum.json'))
    check = subprocess.run(['logrotate', '-d', variables['install_logrotate_file']], capture_output=True, text=True,
                           timeout=120, check=False)
    assert check.returncode == 0 and 'error:' not in check.stderr, check.stderr

    absent = run_role('main.yml', dict(changed, install_state='absent'), base)
    assert absent.returncode == 0, absent.stdout
    left = sorted(os.path.relpath(os.path.join(root, name), base)
                  for root, dirs, files in os.walk(base) for name in dirs + files)
    logs = ['log/twzrd-%s.log' % job for job in JOBS]
    assert left == sorted(['cron.d', 'logrotate.d', 'log', 'play.yml', 'vars.json', 'state', 'state/.created-by-twzrd',
                           'state/postgres', 'reports', 'reports/postgres'] + logs), left
