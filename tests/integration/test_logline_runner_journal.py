"""Cron runs log nothing to the journal unless asked (issue 18 item 12).

AnsibleModule logs "Invoked with <arguments>" through syslog(3) (or the journal's own API when
python-systemd is there, not here): a datagram to /dev/log.  No syslog daemon runs on this test
machine, so the test binds /dev/log itself and reads what arrives: the real path, nothing
patched.  The job files come from the install role's own tasks, the runs from the real runner
and real modules.  Other processes of this machine may log meanwhile: only datagrams that name
this test's temporary directory count.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness import COLLECTIONS, ROOT

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
LOGIN, PASSWORD = 'you%40gmail.com', 'hunter2pw'
URL = 'mailtos://%s:%s@127.0.0.1:9?to=ops@example.com' % (LOGIN, PASSWORD)


class Syslog:
    """A datagram socket at /dev/log (what syslog(3) writes to), drained at once by a thread:
    a full queue would block every process of the machine that logs."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind('/dev/log')
        self.sock.settimeout(0.2)
        self.messages, self.running = [], True
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while self.running:
            try:
                self.messages.append(self.sock.recv(1 << 20).decode('utf-8', 'replace'))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()

    def received(self, marker):
        time.sleep(0.5)   # a datagram sent just before the run ended
        return [message for message in list(self.messages) if marker in message]


@pytest.fixture
def syslog():
    if os.getuid() != 0:
        pytest.skip('binding /dev/log needs root')
    if os.path.exists('/dev/log'):
        pytest.skip('a syslog daemon owns /dev/log on this machine (read the journal there instead)')
    capture = Syslog()
    try:
        yield capture
    finally:
        capture.close()
        os.unlink('/dev/log')


def install_job_files(tmp_path, **settings):
    inventory = {'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                 'ansible_python_interpreter': sys.executable}},
                         'vars': dict({
                             'install_config_dir': str(tmp_path / 'etc'), 'install_state_dir': str(tmp_path / 'state'),
                             'install_alerts_log': str(tmp_path / 'alerts.log'),
                             'install_db_health_user': 'root', 'install_db_alerts_user': 'root', 'install_vacuum_user': 'root',
                             'twzrd_pm2_home': str(tmp_path / 'no-pm2'), 'twzrd_disk_paths': [str(tmp_path)],
                             'twzrd_notify': {'urls': [URL], 'timeout': 2}}, **settings)}}
    (tmp_path / 'inventory.yml').write_text(json.dumps(inventory))
    (tmp_path / 'etc').mkdir(exist_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), ANSIBLE_NO_TARGET_SYSLOG='true')
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(tmp_path / 'inventory.yml'),
                           os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'install_job_files.yml')],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / 'etc' / 'alerts.json'


def run_job(tmp_path, job='alerts'):
    return subprocess.run([sys.executable, RUNNER, job], capture_output=True, text=True, timeout=300, check=False,
                          env={'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(tmp_path / 'etc'),
                               'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS})


def test_a_cron_run_logs_nothing_to_the_journal(syslog, tmp_path):
    job_file = install_job_files(tmp_path)
    assert json.loads(job_file.read_text())['ANSIBLE_MODULE_ARGS']['_ansible_no_log'] is True
    proc = run_job(tmp_path)
    assert proc.returncode in (0, 1, 2), proc.stdout
    assert (tmp_path / 'alerts.log').exists()   # the run happened, and logged where it should
    assert syslog.received(str(tmp_path)) == []


def test_a_failed_run_reported_by_the_runner_logs_nothing_either(syslog, tmp_path):
    """The runner hands a failure to twzrd_notify (with the notify URLs): that run stays quiet too."""
    job_file = install_job_files(tmp_path)
    job = json.loads(job_file.read_text())
    job['ANSIBLE_MODULE_ARGS']['bogus_option'] = 1   # refused before the module logs: the runner reports it
    job_file.write_text(json.dumps(job))
    proc = run_job(tmp_path)
    assert proc.returncode == 3, proc.stdout
    assert 'status=failed' in (tmp_path / 'alerts.log').read_text()   # twzrd_notify logged the failure
    assert syslog.received(str(tmp_path)) == []


def test_asked_for_the_journal_gets_the_invocation_without_the_login(syslog, tmp_path):
    job_file = install_job_files(tmp_path, install_journal_invocations=True)
    assert json.loads(job_file.read_text())['ANSIBLE_MODULE_ARGS']['_ansible_no_log'] is False
    run_job(tmp_path)
    messages = syslog.received(str(tmp_path))
    assert len(messages) == 1 and 'Invoked with' in messages[0], messages
    for secret in (LOGIN, 'you@gmail.com', PASSWORD, '********@'):
        assert secret not in messages[0], messages[0]
