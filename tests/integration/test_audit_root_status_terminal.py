"""`twzrd-run --status` as root prints nothing a job user wrote as it is (audit-root).

The database jobs run as postgres and own their logs (the role's ``create ... postgres adm``):
the last line of such a log is that user's text.  --status escaped its ``msg`` for the terminal,
but printed its ``ts`` and ``status`` fields as they were: a quoted value may hold ESC and CR, so
the postgres user could drive root's terminal (set its title, clear or overwrite lines, OSC 52
writes to the clipboard) and make a failed job read as ok.  Real files, the real runner;
the log is written by user nobody through runuser, the way a job user writes its own log.
"""
import json
import os
import pathlib
import pwd
import subprocess
import sys

import pytest
import shutil
import tempfile

from harness import ROOT

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
HOSTILE = ('ts="\x1b]0;owned\x07\x1b[2K\r2099-01-01T00:00:00Z" job=twzrd_db_health status="\x1b[1A\x1b[2Kok\r" '
           'msg="fine"\n')


def test_status_escapes_what_a_job_user_wrote_in_its_log(tmp_path):
    if os.getuid() != 0:
        pytest.skip('needs root to write the log as another user')
    etc = tmp_path / 'etc'
    etc.mkdir()
    logs = tempfile.mkdtemp(prefix='twzrd-audit-logs-')  # pytest's tmp dirs are private to root
    os.chmod(logs, 0o755)
    log = pathlib.Path(logs) / 'db-health.log'
    (etc / 'db_health.json').write_text(json.dumps({'twzrd_run': {'module': 'twzrd_db_health', 'timeout': 120},
                                                    'ANSIBLE_MODULE_ARGS': {'log_file': str(log)}}))
    (tmp_path / 'cron').write_text('30 1 * * * nobody /opt/twzrd/bin/twzrd-run db_health\n')
    log.touch()
    nobody = pwd.getpwnam('nobody')
    os.chown(str(log), nobody.pw_uid, nobody.pw_gid)  # the job user's log, as the role creates it
    try:
        _hostile_status(tmp_path, etc, log)
    finally:
        shutil.rmtree(logs)


def _hostile_status(tmp_path, etc, log):
    subprocess.run(['runuser', '-u', 'nobody', '--', 'sh', '-c', 'cat >> "$1"', 'sh', str(log)],
                   input=HOSTILE.encode('utf-8'), check=True, timeout=30)
    env = {'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(etc), 'TWZRD_PYTHON': sys.executable,
           'TWZRD_PYTHONPATH': COLLECTIONS, 'TWZRD_CRON_FILE': str(tmp_path / 'cron'), 'HOME': str(tmp_path)}
    proc = subprocess.run([sys.executable, RUNNER, '--status'], capture_output=True, timeout=120, check=False,
                          env=env)
    out = proc.stdout.decode('utf-8', 'replace')
    assert proc.returncode == 0, out + proc.stderr.decode('utf-8', 'replace')
    assert 'db_health' in out, out
    assert '\x1b' not in out and '\r' not in out and '\x07' not in out, repr(out)
