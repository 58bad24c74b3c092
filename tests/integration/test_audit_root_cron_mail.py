"""What cron mails from a root job is root's lines only (audit-root).

A PM2 log path is the PM2 user's choice, line breaks included (``pm2 start --error
$'/x\\nFORGED'`` is accepted).  The weekly health job (root) refuses a log file the user turned
into a FIFO, and warns naming its path; the runner printed that warning as it was, so the user
wrote whole lines of their choosing into root's cron mail.  Real PM2 run by ``nobody``, the real
module through the real runner, as root the way cron runs it.
"""
import json
import os
import subprocess
import sys

import pytest

from harness import ROOT

pytestmark = pytest.mark.host_wide  # discovery sees every PM2 daemon on the host

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
FORGED = 'twzrd health: all checks OK, nothing to do'
QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
                'swap_warning': 99.8, 'swap_critical': 99.9}


def as_user(user, *cmd):
    subprocess.run(('runuser', '-u', user, '--') + cmd, check=True, capture_output=True, timeout=30)


def test_a_pm2_log_path_forges_no_line_in_the_cron_mail(nobody_pm2, pm2_bin, tmp_path):
    err_log = os.path.join(nobody_pm2.home, 'logs', 'web\n%s\rerr.log' % FORGED)
    nobody_pm2.start('steady.js', 'web', extra_args=['--error', err_log])
    [proc] = nobody_pm2.wait_for(lambda procs: procs and procs[0]['pm2_env']['status'] == 'online')
    assert proc['pm2_env']['pm_err_log_path'] == err_log
    as_user('nobody', 'rm', '-f', err_log)
    as_user('nobody', 'mkfifo', err_log)  # refused: a warning naming the path
    (tmp_path / 'etc').mkdir()
    args = dict(QUIET_SYSTEM, mode='report', pm2_bin=pm2_bin, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'health.log'), include_system_log=False)
    (tmp_path / 'etc' / 'health.json').write_text(json.dumps(
        {'twzrd_run': {'module': 'twzrd_health', 'timeout': 120}, 'ANSIBLE_MODULE_ARGS': args}))
    (tmp_path / 'cron').write_text('0 0 * * 1 root /opt/twzrd/bin/twzrd-run health\n')
    env = {'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(tmp_path / 'etc'), 'TWZRD_PYTHON': sys.executable,
           'TWZRD_PYTHONPATH': COLLECTIONS, 'TWZRD_CRON_FILE': str(tmp_path / 'cron'), 'HOME': str(tmp_path)}
    run = subprocess.run([sys.executable, RUNNER, 'health'], capture_output=True, timeout=180, check=False,
                         env=env)
    mail = run.stdout.decode('utf-8', 'replace')
    assert 'skipped' in mail and 'web' in mail, (mail, run.stderr)  # the warning is mailed, naming the file
    assert not any(line.startswith(FORGED) for line in mail.splitlines()), mail
    assert '\r' not in mail, repr(mail)
