"""Issue 10 item 5: playbooks/verify.yml fails, once per job and readably, when a job never ran
although it was due, its last result is critical or failed, its last run is older than its
schedule allows, or the cron daemon is not running; it passes a healthy install.

The install is laid out under a temporary directory as the role lays it out (runner, validator,
cron file, job files, logs); the playbook runs against this machine, whose cron daemon is real.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from role_harness import BIN, COLLECTIONS, ROOT, shared_tmpdir

FILES = os.path.join(ROOT, 'roles', 'install', 'files')
JOBS = ('alerts', 'health', 'db_health', 'vacuum', 'restart')
HOURLY = '0 * * * *'
EVERY_MINUTE = '* * * * *'
LEAP_DAY = '0 0 29 2 *'   # last due long before any test's job file was written


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


@pytest.fixture(scope='module')
def cron_daemon():
    """This machine's cron daemon; started for the test (and stopped after) when none runs."""
    if subprocess.run(['pgrep', '-x', 'cron'], capture_output=True, check=False).returncode == 0:
        yield
        return
    daemon = subprocess.Popen(['/usr/sbin/cron', '-f'])
    time.sleep(0.5)
    yield
    daemon.terminate()
    daemon.wait(timeout=30)


class Install:
    """Runner, validator, cron file, job files and logs as the role installs them."""

    def __init__(self, base):
        self.base = base
        self.prefix = os.path.join(base, 'opt')
        self.config = os.path.join(base, 'etc')
        self.cron = os.path.join(base, 'cron.d-twzrd')
        self.logrotate = os.path.join(base, 'logrotate-twzrd')
        os.makedirs(os.path.join(self.prefix, 'bin'))
        os.makedirs(self.config)
        with open(os.path.join(FILES, 'twzrd_run.py')) as handle:
            self.write(os.path.join(self.prefix, 'bin', 'twzrd-run'), '#!/usr/bin/python3\n' + handle.read(), 0o755)
        shutil.copy(os.path.join(FILES, 'twzrd-validate'), os.path.join(self.prefix, 'bin', 'twzrd-validate'))
        self.schedules = {}

    @staticmethod
    def write(path, text, mode=0o644):
        with open(path, 'w') as handle:
            handle.write(text)
        os.chmod(path, mode)

    def log(self, job):
        return os.path.join(self.base, 'twzrd-%s.log' % job)

    def job(self, job, schedule, last=None, status='ok', msg=None, installed=None):
        """One job: its schedule, its last log line (ts, status) and when its job file was written."""
        self.schedules[job] = schedule
        path = os.path.join(self.config, job + '.json')
        self.write(path, json.dumps({'twzrd_run': {'module': 'twzrd_health', 'timeout': 60},
                                     'ANSIBLE_MODULE_ARGS': {'log_file': self.log(job)}}), 0o600)
        if installed is not None:
            os.utime(path, (installed, installed))
        line = '' if last is None else 'ts=%s job=twzrd_health status=%s alerts=0 duration_ms=5%s\n' % (
            iso(last), status, ' msg="%s"' % msg if msg else '')
        self.write(self.log(job), line, 0o640)

    def finish(self):
        entries = ''.join('%s root flock -n /tmp/twzrd-%s.lock %s/bin/twzrd-run %s\n' % (
            self.schedules[job], job, self.prefix, job) for job in JOBS if job in self.schedules)
        self.write(self.cron, 'SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n' + entries)
        self.write(self.logrotate, ''.join('%s {\n    weekly\n    missingok\n}\n' % self.log(job)
                                           for job in self.schedules))

    def verify(self, env=None):
        extra = {'install_prefix': self.prefix, 'install_config_dir': self.config,
                 'twzrd_verify_cron_file': self.cron, 'install_logrotate_file': self.logrotate,
                 'ansible_python_interpreter': sys.executable, 'ansible_become': False}
        run_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': os.environ.get('HOME', '/root'),
                   'LANG': 'C.UTF-8', 'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS, 'ANSIBLE_NOCOLOR': '1',
                   'ANSIBLE_LOCALHOST_WARNING': 'false', 'ANSIBLE_RETRY_FILES_ENABLED': 'false'}
        run_env.update(env or {})
        return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                               '-e', json.dumps(extra), os.path.join(ROOT, 'playbooks', 'verify.yml')],
                              capture_output=True, text=True, env=run_env, timeout=300, check=False)


@pytest.fixture
def install():
    base = shared_tmpdir()
    yield Install(base)
    shutil.rmtree(base, ignore_errors=True)


def test_a_healthy_install_passes(install, cron_daemon):
    now = time.time()
    for job in ('alerts', 'health', 'db_health'):
        install.job(job, EVERY_MINUTE, last=now - 90)
    install.job('vacuum', LEAP_DAY)                  # installed now, not due yet: not a problem
    install.job('restart', HOURLY, last=now - 30, status='warning', msg='disk 91%')
    install.finish()
    run = install.verify()
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'cron daemon: running' in run.stdout
    assert 'vacuum [0 0 29 2 * as root] twzrd_health: last run never' in run.stdout


def test_each_problem_fails_verify_once_per_job(install, cron_daemon):
    now = time.time()
    install.job('alerts', EVERY_MINUTE, last=now - 60, status='critical', msg='disk / is 97% full')
    install.job('health', EVERY_MINUTE, last=now - 60, status='failed', msg='twzrd_health crashed')
    install.job('db_health', HOURLY, last=now - 3 * 86400)
    install.job('vacuum', HOURLY, installed=now - 3 * 86400)
    install.job('restart', EVERY_MINUTE, last=now - 60)
    install.finish()
    run = install.verify()
    assert run.returncode != 0
    expected = {
        'alerts': 'alerts: last run %s ended critical: disk / is 97%% full' % iso(now - 60),
        'health': 'health: last run %s ended failed: twzrd_health crashed' % iso(now - 60),
        'db_health': 'db_health: last run %s is older than its schedule allows' % iso(now - 3 * 86400),
        'vacuum': 'vacuum: never ran, although a run was due at',
    }
    for words in expected.values():
        assert run.stdout.count(words) == 1, (words, run.stdout)
    assert 'restart: ' not in run.stdout
    # Readable: no JSON of the status or of a loop item.
    assert '"last_status"' not in run.stdout and '"problems"' not in run.stdout, run.stdout


def test_cron_not_running_fails_verify(install, cron_daemon):
    install.job('alerts', EVERY_MINUTE, last=time.time() - 60)
    install.finish()
    # No process has this name: what the runner sees on a host where cron is stopped.
    run = install.verify(env={'TWZRD_CRON_DAEMONS': 'no-such-cron'})
    assert run.returncode != 0
    assert run.stdout.count('cron: the cron daemon is not running') == 1, run.stdout
    assert 'cron daemon: NOT running' in run.stdout
