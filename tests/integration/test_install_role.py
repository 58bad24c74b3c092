"""Issue 10 item 11: tasks of the install role run for real against a temporary prefix:
existing directory modes are left alone, --check --diff summarises the scripts instead of
printing their source, and the uninstall says what it leaves."""
import os
import subprocess
import shutil
import stat

import pytest

from role_harness import paths, run_role, shared_tmpdir

ROOT_JOBS = {'install_db_health_user': 'root', 'install_db_alerts_user': 'root', 'install_vacuum_user': 'root'}


@pytest.fixture
def base():
    path = shared_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_existing_directory_modes_are_left_alone(base):
    variables = dict(paths(base), **ROOT_JOBS)
    os.makedirs(variables['install_state_dir'])
    os.chmod(variables['install_state_dir'], 0o750)
    run = run_role('directories.yml', variables, base)
    assert run.returncode == 0, run.stdout
    assert mode(variables['install_state_dir']) == 0o750
    # What the role created has its mode.
    assert mode(variables['install_config_dir']) == 0o755
    assert mode(os.path.join(variables['install_state_dir'], 'lock')) == 0o755
    again = run_role('directories.yml', variables, base)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout


def test_a_mode_that_locks_a_job_user_out_fails_the_install_and_stays(base):
    """postgres jobs keep state in STATE/postgres: a 0750 root-owned STATE shuts them out."""
    variables = paths(base)
    os.makedirs(variables['install_state_dir'])
    os.chmod(variables['install_state_dir'], 0o750)
    run = run_role('directories.yml', variables, base)
    assert run.returncode != 0
    assert 'postgres cannot write %s/postgres' % variables['install_state_dir'] in run.stdout, run.stdout
    assert 'chmod o+x' in run.stdout
    assert mode(variables['install_state_dir']) == 0o750
    postgres_dir = os.path.join(variables['install_state_dir'], 'postgres')
    assert mode(postgres_dir) == 0o700


def test_check_diff_summarises_the_scripts_instead_of_their_source(base):
    variables = paths(base)
    os.makedirs(os.path.join(variables['install_prefix'], 'bin'))
    check = run_role('scripts.yml', variables, base, check=True, diff=True)
    assert check.returncode == 0, check.stdout
    # Lines of the runner's and the validator's source never appear.
    assert 'def main(argv)' not in check.stdout and 'import json' not in check.stdout, check.stdout
    assert 'crontab -n' not in check.stdout
    runner = os.path.join(variables['install_prefix'], 'bin', 'twzrd-run')
    assert '%s: would be installed from twzrd.ops' % runner in check.stdout, check.stdout
    assert not os.path.exists(runner)

    run = run_role('scripts.yml', variables, base, diff=True)
    assert run.returncode == 0 and os.access(runner, os.X_OK)
    assert 'def main(argv)' not in run.stdout
    again = run_role('scripts.yml', variables, base, check=True, diff=True)
    assert 'changed=0' in again.stdout and 'would be installed' not in again.stdout, again.stdout


def test_uninstall_lists_what_it_leaves(base):
    variables = dict(paths(base), install_alerts_log=os.path.join(base, 'alerts.log'))
    os.makedirs(variables['install_prefix'])
    run = run_role('absent.yml', variables, base)
    assert run.returncode == 0, run.stdout
    assert not os.path.exists(variables['install_prefix'])
    for words in ['Debian packages python3, python3-venv', os.path.join(base, 'alerts.log'),
                  '/var/log/twzrd-restart.log', 'state %s' % variables['install_state_dir'],
                  'install_purge_state=true']:
        assert words in run.stdout, (words, run.stdout)
    purged = run_role('absent.yml', dict(variables, install_purge_state=True), base)
    assert purged.returncode == 0 and 'state %s' % variables['install_state_dir'] not in purged.stdout


# Issue 10 item 10: what the old CRONTAB_SETUP.sh left in a user crontab, with real crontab(1).
# 30 February never comes: the host's running cron never fires these.
LEGACY = '0 1 30 2 * /home/twzrd/scripts/weekly-restart.sh >> /var/log/twzrd-restart.log 2>&1'
OTHER = '15 4 30 2 * /usr/bin/true nightly-backup'
COMMENT = '# twzrd monitoring (CRONTAB_SETUP.sh)'
CRONTAB_USER = 'nobody'


def crontab(*args, stdin=None):
    return subprocess.run(['crontab'] + list(args), input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def legacy_crontab():
    """nobody's crontab with one old twzrd job; the previous crontab (if any) comes back after."""
    before = crontab('-l', '-u', CRONTAB_USER)
    assert crontab('-u', CRONTAB_USER, '-', stdin='\n'.join([COMMENT, LEGACY, OTHER]) + '\n').returncode == 0
    yield
    if before.returncode == 0:
        crontab('-u', CRONTAB_USER, '-', stdin=before.stdout)
    else:
        crontab('-r', '-u', CRONTAB_USER)


def current_crontab():
    return crontab('-l', '-u', CRONTAB_USER).stdout.splitlines()


def test_legacy_crontab_entries_are_reported_and_removed_only_when_asked(base, legacy_crontab):
    variables = paths(base)
    report = run_role('legacy_crontab.yml', variables, base)
    assert report.returncode == 0, report.stdout
    assert 'The crontab of %s still runs twzrd jobs' % CRONTAB_USER in report.stdout, report.stdout
    assert LEGACY in report.stdout and OTHER not in report.stdout
    assert 'install_remove_legacy_crontab=true' in report.stdout
    assert current_crontab() == [COMMENT, LEGACY, OTHER]

    check = run_role('legacy_crontab.yml', dict(variables, install_remove_legacy_crontab=True), base, check=True)
    assert check.returncode == 0, check.stdout
    assert 'Removing them' in check.stdout
    assert current_crontab() == [COMMENT, LEGACY, OTHER], 'check mode must change nothing'

    remove = run_role('legacy_crontab.yml', dict(variables, install_remove_legacy_crontab=True), base)
    assert remove.returncode == 0 and 'changed=1' in remove.stdout, remove.stdout
    assert current_crontab() == [COMMENT, OTHER]

    again = run_role('legacy_crontab.yml', dict(variables, install_remove_legacy_crontab=True), base)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout
    assert 'The crontab of %s' % CRONTAB_USER not in again.stdout
