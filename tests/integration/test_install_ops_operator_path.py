"""Issue 18, operator path, with the install role's real tasks on this machine:
item 9, an on-demand run as root before the install never blocks it (the project's own
directory is traversable and the role owns the mode of the directories twzrd created);
item 10, --check --diff of a first install with install_textfile_dir shows the plan;
item 13, uninstall removes the textfile group, memberships and directory it created (and
lists what it leaves, with why); verify.yml on a host without the jobs says so."""
import grp
import json
import os
import shutil
import stat
import subprocess

import pytest

from role_harness import BIN, COLLECTIONS, ROOT, paths, run_as, run_role, shared_tmpdir

MARKER = '.created-by-twzrd'


@pytest.fixture
def base():
    path = shared_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def ansible_env():
    return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': os.environ.get('HOME', '/root'), 'LANG': 'C.UTF-8',
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS, 'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
            'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_LOCALHOST_WARNING': 'false', 'ANSIBLE_RETRY_FILES_ENABLED': 'false'}


def on_demand_alerts(state_file, umask):
    """An on-demand playbook as root on this host that keeps state, before the install.

    A quiet on-demand look (the default since issue 18 item 7) writes no state at all; one that is
    asked to notify (twzrd_notify_on_demand) keeps its history, creating the state directory, as
    `make run` did before."""
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           os.path.join(ROOT, 'playbooks', 'alerts.yml'),
                           '-e', json.dumps({'ansible_python_interpreter': os.path.join(BIN, 'python'),
                                             'twzrd_state_file': state_file, 'twzrd_notify_on_demand': True})],
                          capture_output=True, text=True, env=ansible_env(), timeout=300, check=False, umask=umask)


# Item 9 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('umask', [0o022, 0o077])
def test_an_on_demand_run_as_root_before_the_install_does_not_block_it(base, umask):
    variables = paths(base)  # db_health and vacuum run as postgres: they keep state in STATE/postgres
    state_dir = variables['install_state_dir']
    run = on_demand_alerts(os.path.join(state_dir, 'state.json'), umask)
    assert run.returncode == 0, run.stdout + run.stderr
    # Job users must traverse it to reach their own subdirectory, whatever root's umask.
    assert mode(state_dir) == 0o755
    assert mode(os.path.join(state_dir, 'state.json')) == 0o600

    install = run_role('directories.yml', variables, base)
    assert install.returncode == 0, install.stdout
    postgres_dir = os.path.join(state_dir, 'postgres')
    assert (mode(postgres_dir), os.stat(postgres_dir).st_uid) == (0o700, int(run_as('postgres', 'id', '-u').stdout))
    assert run_as('postgres', 'test', '-w', postgres_dir, '-a', '-x', postgres_dir).returncode == 0
    assert os.path.exists(os.path.join(state_dir, 'state.json'))  # the on-demand run's state stays


def test_the_role_sets_the_mode_of_the_state_directory_twzrd_created(base):
    variables = paths(base)
    state_dir = variables['install_state_dir']
    assert on_demand_alerts(os.path.join(state_dir, 'state.json'), 0o022).returncode == 0
    assert os.path.isfile(os.path.join(state_dir, MARKER))
    os.chmod(state_dir, 0o750)  # what earlier versions' on-demand runs left
    install = run_role('directories.yml', variables, base)
    assert install.returncode == 0, install.stdout
    assert mode(state_dir) == 0o755
    assert mode(os.path.join(state_dir, 'postgres')) == 0o700

    # A state directory the role created is twzrd's too: its mode comes back on the next install.
    fresh = shared_tmpdir()
    try:
        fresh_vars = paths(fresh)
        assert run_role('directories.yml', fresh_vars, fresh).returncode == 0
        assert os.path.isfile(os.path.join(fresh_vars['install_state_dir'], MARKER))
        os.chmod(fresh_vars['install_state_dir'], 0o700)
        again = run_role('directories.yml', fresh_vars, fresh)
        assert again.returncode == 0, again.stdout
        assert mode(fresh_vars['install_state_dir']) == 0o755
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


# Items 10 and 13 ------------------------------------------------------------------------------

def group_members(name):
    try:
        return grp.getgrnam(name).gr_mem
    except KeyError:
        return None  # no such group


@pytest.fixture
def textfile_group():
    """A group name of this test's own; whatever the test left is removed after it."""
    name = 'twzrd-t%d' % os.getpid()
    assert group_members(name) is None
    yield name
    if group_members(name) is not None:
        subprocess.run(['groupdel', name], check=False)


def textfile_vars(base, group):
    return dict(paths(base), install_textfile_dir=os.path.join(base, 'node-exporter'), install_textfile_group=group)


def test_check_diff_of_a_first_install_with_a_textfile_dir_shows_the_plan(base, textfile_group):
    variables = textfile_vars(base, textfile_group)
    check = run_role('textfile.yml', variables, base, check=True, diff=True)
    assert check.returncode == 0, check.stdout
    assert 'would add postgres to group %s' % textfile_group in check.stdout, check.stdout
    assert '"state": "directory"' in check.stdout  # the directory's diff
    assert group_members(textfile_group) is None and not os.path.exists(variables['install_textfile_dir'])

    # node_exporter's package created the directory already: its owner and mode stay in a dry run.
    os.makedirs(variables['install_textfile_dir'])
    os.chmod(variables['install_textfile_dir'], 0o755)
    check = run_role('textfile.yml', variables, base, check=True, diff=True)
    assert check.returncode == 0, check.stdout
    assert 'would add postgres to group %s' % textfile_group in check.stdout
    assert mode(variables['install_textfile_dir']) == 0o755 and group_members(textfile_group) is None


def test_uninstall_removes_the_textfile_group_membership_and_directory_it_created(base, textfile_group):
    variables = textfile_vars(base, textfile_group)
    assert run_role('directories.yml', variables, base).returncode == 0
    install = run_role('textfile.yml', variables, base)
    assert install.returncode == 0, install.stdout
    textfile_dir = variables['install_textfile_dir']
    assert group_members(textfile_group) == ['postgres']
    assert mode(textfile_dir) == 0o1775 and os.stat(textfile_dir).st_gid == grp.getgrnam(textfile_group).gr_gid
    again = run_role('textfile.yml', variables, base)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout
    with open(os.path.join(textfile_dir, 'twzrd_alerts.prom'), 'w') as handle:
        handle.write('twzrd_up 1\n')

    absent = run_role('absent.yml', variables, base)
    assert absent.returncode == 0, absent.stdout
    assert group_members(textfile_group) is None
    assert not os.path.exists(textfile_dir)
    assert textfile_group not in absent.stdout.split('Left in place')[-1], absent.stdout
    again = run_role('absent.yml', variables, base)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout


def test_uninstall_restores_a_textfile_directory_it_did_not_create(base, textfile_group):
    variables = textfile_vars(base, textfile_group)
    textfile_dir = variables['install_textfile_dir']
    os.makedirs(textfile_dir)
    os.chmod(textfile_dir, 0o750)
    with open(os.path.join(textfile_dir, 'node.prom'), 'w') as handle:
        handle.write('other_metric 1\n')
    assert run_role('directories.yml', variables, base).returncode == 0
    assert run_role('textfile.yml', variables, base).returncode == 0
    assert mode(textfile_dir) == 0o1775

    absent = run_role('absent.yml', variables, base)
    assert absent.returncode == 0, absent.stdout
    # Someone else's directory: back to its owner and mode, with their file in it.
    assert mode(textfile_dir) == 0o750 and os.stat(textfile_dir).st_gid == 0
    assert os.path.exists(os.path.join(textfile_dir, 'node.prom'))
    assert group_members(textfile_group) is None


def test_uninstall_lists_a_textfile_group_and_directory_it_has_no_record_of(base, textfile_group):
    """An install by an earlier version recorded nothing: uninstall names what it leaves and why."""
    variables = textfile_vars(base, textfile_group)
    assert subprocess.run(['groupadd', '--system', textfile_group], check=False).returncode == 0
    assert subprocess.run(['usermod', '-a', '-G', textfile_group, 'postgres'], check=False).returncode == 0
    os.makedirs(variables['install_textfile_dir'])
    os.chown(variables['install_textfile_dir'], 0, grp.getgrnam(textfile_group).gr_gid)
    os.chmod(variables['install_textfile_dir'], 0o1775)
    absent = run_role('absent.yml', variables, base)
    assert absent.returncode == 0, absent.stdout
    left = absent.stdout.split('Left in place')[-1]
    assert 'group %s (members: postgres)' % textfile_group in left, absent.stdout
    assert 'gpasswd -d postgres %s' % textfile_group in left and 'groupdel %s' % textfile_group in left
    assert variables['install_textfile_dir'] in left
    assert group_members(textfile_group) == ['postgres']  # not ours to remove


# Item 13: verify.yml -------------------------------------------------------------------------

def test_verify_on_a_host_without_the_jobs_says_so(base):
    extra = dict(paths(base), ansible_python_interpreter=os.path.join(BIN, 'python'), ansible_become=False)
    run = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', json.dumps(extra),
                          os.path.join(ROOT, 'playbooks', 'verify.yml')],
                         capture_output=True, text=True, env=ansible_env(), timeout=300, check=False)
    assert run.returncode != 0
    assert 'twzrd.ops is not installed on localhost' in run.stdout, run.stdout
    assert 'Error executing command' not in run.stdout + run.stderr
