"""Install role audit (docs/install.md promises), each test the role's real tasks run by
ansible-playbook against this machine under a temporary prefix (role_harness)."""
import os
import shutil
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
