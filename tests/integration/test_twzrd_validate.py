"""roles/install/files/twzrd-validate with the real crontab and logrotate: what
cron and logrotate would silently ignore must be refused (docs/design.md, "cron and logrotate facts")."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VALIDATE = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd-validate')
GOOD_CRON = ('SHELL=/bin/sh\nPATH=/usr/bin:/bin\n# alerts\n'
             '0 * * * * root /opt/twzrd/bin/twzrd-run --lock /var/lib/twzrd/lock/twzrd-alerts.lock alerts\n'
             '30 1 * * * root /bin/true\n')


def validate(kind, tmp_path, text):
    path = tmp_path / 'file'
    path.write_text(text)
    path.chmod(0o644)
    return subprocess.run([VALIDATE, kind, str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_good_cron_file_passes(tmp_path):
    proc = validate('cron', tmp_path, GOOD_CRON)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize('text, words', [
    (GOOD_CRON.rstrip('\n'), 'no newline'),
    (GOOD_CRON + '0 * * * * nosuchuser /bin/true\n', "user 'nosuchuser'"),
    (GOOD_CRON + '61 * * * * root /bin/true\n', 'bad minute'),
    (GOOD_CRON + '0 * * * * root date +%s\n', 'unescaped %'),
    (GOOD_CRON + '0 * * * * root\n', 'no user and command'),
])
def test_bad_cron_files_are_refused(tmp_path, text, words):
    proc = validate('cron', tmp_path, text)
    assert proc.returncode != 0
    assert words in proc.stderr


def test_escaped_percent_passes(tmp_path):
    proc = validate('cron', tmp_path, GOOD_CRON + '0 * * * * root date +\\%s\n')
    assert proc.returncode == 0, proc.stderr


def logrotate_conf(tmp_path, extra=''):
    log = tmp_path / 'job.log'
    log.write_text('')
    return ('%s {\n    weekly\n    rotate 8\n    compress\n    missingok\n    notifempty\n'
            '    create 0640 root adm\n%s}\n' % (log, extra))


def test_good_logrotate_config_passes(tmp_path):
    proc = validate('logrotate', tmp_path, logrotate_conf(tmp_path))
    assert proc.returncode == 0, proc.stderr


def test_unknown_logrotate_option_is_refused(tmp_path):
    # logrotate -d exits 0 here; only stderr says "error:".
    proc = validate('logrotate', tmp_path, logrotate_conf(tmp_path, '    rotatee 3\n'))
    assert proc.returncode != 0
    assert 'error:' in proc.stderr


def test_group_writable_logrotate_config_is_refused(tmp_path):
    path = tmp_path / 'conf'
    path.write_text(logrotate_conf(tmp_path))
    path.chmod(0o664)
    proc = subprocess.run([VALIDATE, 'logrotate', str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0


def test_usage(tmp_path):
    assert subprocess.run([VALIDATE], capture_output=True, timeout=60, check=False).returncode == 2
    assert subprocess.run([VALIDATE, 'nginx', VALIDATE], capture_output=True, timeout=60, check=False).returncode == 2
