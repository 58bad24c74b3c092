"""The kept report files (report_dir, issue 10 item 3): real module runs, the cron way.

The weekly health report and the vacuum (real PostgreSQL: tables vacuumed and skipped with
sizes and dead rows before/after) keep their report as a dated 0640 file the log line names;
old files are pruned per job; a failed run keeps its report too; a directory that cannot be
written is a warning, never a lost result.
"""
import json
import os
import re
import stat
import subprocess
import sys

from harness import COLLECTIONS, ROOT, default_pm2_bin, run_module
from pg_harness import seed_dead_rows, wait_for_dead_rows

from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home'}
STAMP = r'\d{4}-\d{2}-\d{2}T\d{4}Z'
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')


def weekly_health(tmp_path, **extra):
    args = dict(QUIET, mode='report', include_system_log=False, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'health.log'), report_dir=str(tmp_path / 'reports'))
    args.update(extra)
    return run_module('twzrd_health', args, tmp_path)


def test_weekly_health_report_is_kept_and_named_by_the_log_line(tmp_path):
    rc, result, out, err = weekly_health(tmp_path)
    assert rc == 0, err
    path = result['report_text_file']
    assert re.match(r'^%s/health-%s\.txt$' % (re.escape(str(tmp_path / 'reports')), STAMP), path), path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(str(tmp_path / 'reports')).st_mode) == 0o750
    text = open(path).read()
    assert text.startswith('twzrd health on ')
    # the report's content, not only its counts: every summary line the module returned
    assert result['summary'] and all(line in text for line in result['summary'])
    fields = parse_line(open(str(tmp_path / 'health.log')).read())
    assert fields['report'] == path and fields['mode'] == 'report'
    # no temp file left behind by the atomic write (the other file is the weekly HTML page)
    kept = [os.path.basename(path), os.path.basename(result['report_file'])]
    assert sorted(os.listdir(str(tmp_path / 'reports'))) == sorted(kept)


def test_check_mode_keeps_no_report(tmp_path):
    rc, result, out, err = weekly_health(tmp_path, _ansible_check_mode=True)
    assert rc == 0, err
    assert 'report_text_file' not in result and not (tmp_path / 'reports').exists()


def test_old_reports_of_the_job_are_pruned_others_left_alone(tmp_path):
    reports = tmp_path / 'reports'
    reports.mkdir()
    old = ['health-2026-01-%02dT0000Z.txt' % day for day in range(1, 6)]
    others = ['vacuum-app-2026-01-01T0300Z.txt', 'twzrd-report-2026-01-01.html', 'notes.txt']
    for name in old + others:
        (reports / name).write_text('x\n')
    rc, result, out, err = weekly_health(tmp_path, report_keep=3)
    assert rc == 0, err
    kept = sorted(n for n in os.listdir(str(reports)) if n.startswith('health-'))
    assert kept == old[-2:] + [os.path.basename(result['report_text_file'])]
    assert all((reports / name).exists() for name in others)


def test_report_keep_out_of_range_is_refused(tmp_path):
    rc, result, out, err = weekly_health(tmp_path, report_keep=0)
    assert rc == 1 and 'report_keep must be between 1 and 1000, got 0' in result['msg']


def test_unwritable_report_dir_is_a_warning_and_the_result_stays(tmp_path):
    (tmp_path / 'a-file').write_text('')
    rc, result, out, err = weekly_health(tmp_path, report_dir=str(tmp_path / 'a-file' / 'reports'))
    assert rc == 0, err
    assert 'report_text_file' not in result and result['summary']
    assert any('report not kept in report_dir' in str(w) for w in result.get('warnings') or [])
    assert 'report' not in parse_line(open(str(tmp_path / 'health.log')).read())


def test_vacuum_report_lists_tables_vacuumed_and_skipped_before_and_after(pg_cluster, pg_db, tmp_path):
    conn = pg_cluster.connect(pg_db)
    seed_dead_rows(conn, 'events', 40000, delete_every=2)          # 20k dead
    seed_dead_rows(conn, 'Busy Table', 30000)
    assert wait_for_dead_rows(conn, 'events', 20000) == 20000
    assert wait_for_dead_rows(conn, 'Busy Table', 30000) == 30000
    locker = pg_cluster.connect(pg_db, autocommit=False)
    locker.cursor().execute('LOCK TABLE "Busy Table" IN ACCESS EXCLUSIVE MODE')
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'vacuum.log'),
                report_dir=str(tmp_path / 'reports'))
    try:
        rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    finally:
        locker.rollback()
        locker.close()
        conn.close()
    assert rc == 0, (out, err)
    path = result['report_text_file']
    assert re.match(r'.*/vacuum-%s-%s\.txt$' % (re.escape(pg_db), STAMP), path), path
    text = open(path).read()
    events = [line for line in text.splitlines() if line.startswith('- public.events:')][0]
    assert re.match(r'^- public\.events: vacuumed, [\d.]+ [kMG]?B, dead rows 20000 -> 0 \([\d.]+ [kMG]?B\)$', events), events
    busy = [line for line in text.splitlines() if line.startswith('- public.Busy Table:')][0]
    assert busy.startswith('- public.Busy Table: skipped, ') and 'dead rows 30000' in busy
    assert 'lock not available' in busy
    assert 'vacuum_skipped' in text and 'docs/runbooks.md#the-weekly-vacuum-skipped-or-failed-tables' in text
    fields = parse_line(open(str(tmp_path / 'vacuum.log')).read())
    assert fields['report'] == path and fields['vacuumed'] == '1' and fields['skipped'] == '1'


def test_a_run_that_cannot_connect_keeps_its_report_with_what_to_do(pg_cluster, tmp_path):
    """A database that does not answer is a critical alert (plugins/module_utils/core/job_module.py), reported as such."""
    args = pg_cluster.conn_params('no_such_db')
    args.update(state_file='', log_file=str(tmp_path / 'vacuum.log'), report_dir=str(tmp_path / 'reports'))
    rc, result, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0 and result['status'] == 'critical' and 'does not exist' in result['alerts'][0]['message']
    text = open(result['report_text_file']).read()
    assert ': CRITICAL' in text.splitlines()[0]
    assert 'connection' in text and 'docs/runbooks.md#postgresql-down-or-refusing-connections' in text
    assert parse_line(open(str(tmp_path / 'vacuum.log')).read())['report'] == result['report_text_file']


def test_a_failed_run_keeps_its_report_with_what_to_do(tmp_path):
    """A vacuum run that could not report itself (the runner hands it to twzrd_notify) keeps a FAILED report."""
    args = {'failure': {'job': 'vacuum', 'instance': 'shop', 'msg': 'twzrd_vacuum crashed (exit 1): boom',
                        'remediation': 'Read docs/runbooks.md#a-job-failed'},
            'state_file': '', 'log_file': str(tmp_path / 'vacuum.log'), 'report_dir': str(tmp_path / 'reports')}
    rc, result, out, err = run_module('twzrd_notify', args, tmp_path)
    assert rc == 1 and 'crashed' in result['msg']
    text = open(result['report_text_file']).read()
    assert ': FAILED' in text.splitlines()[0]
    assert 'job_failed' in text and 'docs/runbooks.md#a-job-failed' in text
    assert parse_line(open(str(tmp_path / 'vacuum.log')).read())['report'] == result['report_text_file']


def test_restart_that_cannot_start_keeps_its_report(tmp_path):
    """No PM2 daemon runs under this PM2_HOME: nothing restarted, the report says what to do."""
    args = {'pm2_bin': default_pm2_bin(), 'pm2_home': str(tmp_path / 'pm2'), 'state_file': '',
            'log_file': str(tmp_path / 'restart.log'), 'report_dir': str(tmp_path / 'reports')}
    rc, result, out, err = run_module('pm2_restart', args, tmp_path)
    assert rc == 1 and 'PM2 daemon is not running' in result['msg']
    assert os.path.basename(result['report_text_file']).startswith('restart-')
    text = open(result['report_text_file']).read()
    assert 'docs/runbooks.md#pm2-gone-after-a-reboot' in text
    assert not (tmp_path / 'pm2' / 'pm2.pid').exists()  # no daemon was spawned


def test_a_job_the_runner_killed_keeps_its_failed_report(tmp_path):
    """The cron runner hands a failure the module could not report to twzrd_notify: with the job's
    report_dir, the failed run's report (what happened, what to do) is kept like any other."""
    config = tmp_path / 'etc'
    config.mkdir()
    args = dict(QUIET, mode='report', include_system_log=False, state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'health.log'), report_dir=str(tmp_path / 'reports'))
    job = config / 'health.json'
    job.write_text(json.dumps({'twzrd_run': {'module': 'twzrd_health', 'timeout': 0.01}, 'ANSIBLE_MODULE_ARGS': args}))
    job.chmod(0o600)
    proc = subprocess.run([sys.executable, RUNNER, '--config-dir', str(config), 'health'], capture_output=True,
                          text=True, check=False, timeout=300,
                          env={'PATH': '/usr/bin:/bin', 'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    [name] = os.listdir(str(tmp_path / 'reports'))
    assert re.match(r'^health-%s\.txt$' % STAMP, name)
    text = (tmp_path / 'reports' / name).read_text()
    assert ': FAILED' in text.splitlines()[0] and 'killed after 0.01s (timeout)' in text
    assert 'raise install_job_timeout' in text and '(docs/runbooks.md#a-job-failed)' in text
    line = parse_line((tmp_path / 'health.log').read_text().splitlines()[-1])
    assert line['status'] == 'failed' and line['report'] == str(tmp_path / 'reports' / name)
