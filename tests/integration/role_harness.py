"""Run tasks of the install role on this machine with ansible-playbook, against a
prefix under a temporary directory: the role's real tasks, real files, real tools.

Extra vars beat role vars, so a test points every path the role writes (prefix,
config, state, cron and logrotate files) into its own directory.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
BIN = os.path.dirname(sys.executable)

PLAYBOOK = """---
- name: Run part of twzrd.ops.install
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Include the role's tasks under test
      ansible.builtin.include_role:
        name: twzrd.ops.install
        tasks_from: "{{ twzrd_test_tasks }}"
"""


def shared_tmpdir():
    """A directory every user can traverse (pytest's tmp_path is 0700 under /tmp/pytest-of-root),
    so jobs that run as postgres can reach what the role puts there."""
    path = tempfile.mkdtemp(prefix='twzrd-role-')
    os.chmod(path, 0o755)
    return path


def paths(base):
    """Role variables that send every file the role writes under ``base``."""
    return {
        'install_prefix': os.path.join(base, 'opt'),
        'install_config_dir': os.path.join(base, 'etc'),
        'install_state_dir': os.path.join(base, 'state'),
        'install_cron_path_full': os.path.join(base, 'cron.d', 'twzrd'),
        'install_logrotate_file': os.path.join(base, 'logrotate.d', 'twzrd'),
    }


def run_role(tasks_from, extra_vars, base, check=False, diff=False, path_prefix=None, timeout=600):
    """ansible-playbook with the role's ``tasks_from`` file; returns the CompletedProcess."""
    playbook = os.path.join(base, 'play.yml')
    with open(playbook, 'w') as handle:
        handle.write(PLAYBOOK)
    variables = dict(extra_vars, twzrd_test_tasks=tasks_from, ansible_python_interpreter=sys.executable)
    vars_file = os.path.join(base, 'vars.json')
    with open(vars_file, 'w') as handle:
        json.dump(variables, handle)
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-e', '@' + vars_file, playbook]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    path = os.environ.get('PATH', '/usr/bin:/bin')
    env = {
        # An operator's activated venv (or any other python3 first on PATH) is what the role must not use.
        'PATH': (path_prefix + os.pathsep + path) if path_prefix else path,
        'HOME': os.environ.get('HOME', '/root'),
        'LANG': 'C.UTF-8',
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
    }
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=base, timeout=timeout, check=False)


def run_as(user, *argv):
    return subprocess.run(['runuser', '-u', user, '--'] + list(argv), capture_output=True, text=True,
                          timeout=60, check=False)
