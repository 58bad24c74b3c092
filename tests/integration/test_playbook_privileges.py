"""On-demand PostgreSQL playbooks as root on a host without sudo (issue 10 item 8).

db_health.yml becomes postgres for peer auth. Connecting as root it must get there with su
(docs/configuration.md, "Privileges"), since a minimal Debian host has no sudo. The module runs
with a Python that has psycopg2 and that postgres can execute, as the install role's runtime is
(a venv built from the system /usr/bin/python3).
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness import COLLECTIONS, ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='root connecting, becoming postgres')


@pytest.fixture(scope='module')
def runtime_python():
    """A venv like /opt/twzrd/venv: from the system interpreter, readable by every user."""
    base = tempfile.mkdtemp(prefix='twzrd-runtime-')
    os.chmod(base, 0o755)
    venv = os.path.join(base, 'venv')
    subprocess.run(['/usr/bin/python3', '-m', 'venv', venv], check=True, capture_output=True, timeout=120)
    subprocess.run([os.path.join(venv, 'bin', 'pip'), 'install', '-q', 'psycopg2-binary>=2.9', 'psutil>=5.9'],
                   check=True, capture_output=True, timeout=600)
    yield os.path.join(venv, 'bin', 'python')
    shutil.rmtree(base, ignore_errors=True)


def test_db_health_as_root_becomes_postgres_without_sudo(pg_cluster, pg_db, runtime_python):
    work = tempfile.mkdtemp(prefix='twzrd-priv-')
    try:
        os.chmod(work, 0o777)  # the module, as postgres, writes its log here
        state_file = os.path.join(work, 'state.json')
        log_file = os.path.join(work, 'db_health.log')  # an on-demand run writes no state, but logs
        inventory = os.path.join(work, 'inventory.yml')
        with open(inventory, 'w', encoding='utf-8') as handle:
            json.dump({'all': {'hosts': {'localhost': {
                'ansible_connection': 'local', 'ansible_python_interpreter': runtime_python,
                'twzrd_db_connection': {'login_unix_socket': pg_cluster.socket_dir, 'login_port': pg_cluster.port,
                                        'login_db': pg_db},
                'twzrd_state_file': state_file, 'twzrd_db_health_log': log_file}}}}, handle)
        env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
        env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LOCAL_TEMP=os.path.join(work, 'ansible-local'), ANSIBLE_REMOTE_TMP='/tmp')
        if shutil.which('sudo'):  # the point is a host without it: hide it from this run
            env['PATH'] = ':'.join(p for p in env['PATH'].split(':') if not os.path.exists(os.path.join(p, 'sudo')))
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
                               os.path.join(ROOT, 'playbooks', 'db_health.yml')],
                              capture_output=True, text=True, env=env, timeout=300, check=False, cwd=work)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert 'database %s: ' % pg_db in output and 'sudo: not found' not in output, output
        assert pwd.getpwuid(os.stat(log_file).st_uid).pw_name == 'postgres'
    finally:
        shutil.rmtree(work, ignore_errors=True)
