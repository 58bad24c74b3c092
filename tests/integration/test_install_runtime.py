"""Issue 10 item 1: the runtime venv is built from the system interpreter, whatever python3
the controller's PATH finds first, and a venv the job users cannot run is rebuilt.

The "activated venv" here is a copy of the system python under a root-only (0700)
directory, first on PATH: what installing from an activated venv under /root did.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from role_harness import paths, run_as, run_role, shared_tmpdir

SYSTEM_PYTHON = '/usr/bin/python3'
# A tiny requirement that is already in every new venv: no download.
NO_DOWNLOAD = {'install_runtime_packages': ['pip']}


@pytest.fixture
def base():
    path = shared_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def private_python(base):
    """A python3 that only root can run, like one in an activated venv under /root (mode 0700)."""
    private = os.path.join(base, 'root-only')
    os.makedirs(os.path.join(private, 'bin'))
    os.chmod(private, 0o700)
    shutil.copy2(os.path.realpath(SYSTEM_PYTHON), os.path.join(private, 'bin', 'python3'))
    return os.path.join(private, 'bin')


def pyvenv_home(venv):
    with open(os.path.join(venv, 'pyvenv.cfg')) as handle:
        for line in handle:
            key, _sep, value = line.partition('=')
            if key.strip() == 'home':
                return value.strip()
    return None


def assert_postgres_runs_the_venv(venv):
    run = run_as('postgres', os.path.join(venv, 'bin', 'python'), '-c', 'import sys; print(sys.prefix)')
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == venv


def test_private_python_reproduces_the_defect(base, private_python):
    """The setup is a faithful reproduction: a venv built from it cannot be run by postgres."""
    venv = os.path.join(base, 'bad-venv')
    subprocess.run([os.path.join(private_python, 'python3'), '-m', 'venv', '--without-pip', venv], check=True)
    run = run_as('postgres', os.path.join(venv, 'bin', 'python'), '-c', 'pass')
    assert run.returncode != 0 and 'Permission denied' in run.stderr


# A stand-in for a DB module (the venv here has no ansible): logs one line and reports ok.
STAND_IN = """import json, sys
args = json.load(open(sys.argv[1]))['ANSIBLE_MODULE_ARGS']
open(args['log_file'], 'a').write('ts=2026-01-01T00:00:00Z job=stand_in status=ok\\n')
print(json.dumps({'status': 'ok', 'alerts': [], 'metrics': {}}))
"""


def run_job_as_postgres(base, prefix):
    """twzrd-run db_health as cron runs it as postgres, with the venv the role built."""
    modules = os.path.join(base, 'modules', 'ansible_collections', 'twzrd', 'ops', 'plugins', 'modules')
    os.makedirs(modules)
    with open(os.path.join(modules, 'stand_in.py'), 'w') as handle:
        handle.write(STAND_IN)
    config = os.path.join(base, 'jobs')
    os.makedirs(config)
    log = os.path.join(base, 'db-health.log')
    with open(os.path.join(config, 'db_health.json'), 'w') as handle:
        json.dump({'twzrd_run': {'module': 'stand_in', 'timeout': 60}, 'ANSIBLE_MODULE_ARGS': {'log_file': log}}, handle)
    open(log, 'w').close()
    for path in (config, os.path.join(config, 'db_health.json'), log):
        shutil.chown(path, 'postgres')
    for root, dirs, _files in os.walk(os.path.join(base, 'modules')):
        for name in dirs + ['.']:
            os.chmod(os.path.join(root, name), 0o755)
    return run_as('postgres', 'env', 'TWZRD_PYTHONPATH=' + os.path.join(base, 'modules'),
                  os.path.join(prefix, 'bin', 'twzrd-run'), '--config-dir', config, 'db_health')


def test_venv_is_built_from_the_system_python_not_the_path(base, private_python):
    variables = dict(paths(base), **NO_DOWNLOAD)
    venv = os.path.join(variables['install_prefix'], 'venv')
    run = run_role('runtime.yml', variables, base, path_prefix=private_python)
    assert run.returncode == 0, run.stdout + run.stderr
    assert pyvenv_home(venv) == os.path.dirname(SYSTEM_PYTHON)
    assert_postgres_runs_the_venv(venv)
    # The job as cron starts it: before the fix, "cannot run .../venv/bin/python: Permission denied".
    os.makedirs(os.path.join(variables['install_prefix'], 'bin'))
    scripts = run_role('scripts.yml', variables, base, path_prefix=private_python)
    assert scripts.returncode == 0, scripts.stdout
    job = run_job_as_postgres(base, variables['install_prefix'])
    assert (job.returncode, job.stdout, job.stderr) == (0, '', '')


def test_a_venv_built_from_another_python_is_rebuilt(base, private_python):
    variables = dict(paths(base), **NO_DOWNLOAD)
    venv = os.path.join(variables['install_prefix'], 'venv')
    os.makedirs(variables['install_prefix'])
    # What the earlier install left: a venv on the root-only interpreter.
    subprocess.run([os.path.join(private_python, 'python3'), '-m', 'venv', venv], check=True)
    assert run_as('postgres', os.path.join(venv, 'bin', 'python'), '-c', 'pass').returncode != 0

    check = run_role('runtime.yml', variables, base, check=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'not the system interpreter' in check.stdout, check.stdout
    assert pyvenv_home(venv) == private_python, 'check mode must change nothing'

    run = run_role('runtime.yml', variables, base)
    assert run.returncode == 0, run.stdout + run.stderr
    assert pyvenv_home(venv) == os.path.dirname(SYSTEM_PYTHON)
    assert_postgres_runs_the_venv(venv)

    again = run_role('runtime.yml', variables, base)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout


def test_a_venv_a_job_user_cannot_run_is_rebuilt(base):
    """Right interpreter, but its files unreadable to postgres (a umask 077 install)."""
    variables = dict(paths(base), **NO_DOWNLOAD)
    venv = os.path.join(variables['install_prefix'], 'venv')
    os.makedirs(variables['install_prefix'])
    subprocess.run([SYSTEM_PYTHON, '-m', 'venv', '--without-pip', venv], check=True)
    os.chmod(os.path.join(venv, 'bin'), 0o700)
    run = run_role('runtime.yml', variables, base)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'postgres cannot run' in run.stdout, run.stdout
    assert_postgres_runs_the_venv(venv)


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))
