"""The install role on a fresh Debian: files, modes, validity, and every enabled
job run as cron runs it (molecule/default)."""
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from cronjobs import CRON_FILE, cron_entries, job_config, parse_logline, run_as_cron  # noqa: E402

JOBS = {
    'alerts': ('twzrd_health', '0 * * * *', '/var/log/twzrd-daily-alerts.log'),
    'health': ('twzrd_health', '0 0 * * 1', '/var/log/twzrd-health.log'),
    'db_health': ('twzrd_db_health', '30 1 * * *', '/var/log/twzrd-db-health.log'),
    'db_alerts': ('twzrd_db_health', '15 * * * *', '/var/log/twzrd-db-alerts.log'),
    'vacuum': ('twzrd_vacuum', '0 3 * * 3', '/var/log/twzrd-db-maint.log'),
    'restart': ('pm2_restart', '0 1 * * 5', '/var/log/twzrd-restart.log'),
}
# molecule.yml: db_health and db_alerts run as postgres (prepare.yml adds the user), the others as root.
USERS = {'db_health': 'postgres', 'db_alerts': 'postgres'}


def test_cron_file_mode_and_owner(host):
    cron = host.file(CRON_FILE)
    assert cron.exists and cron.is_file
    assert cron.user == 'root' and cron.group == 'root'
    assert cron.mode == 0o644  # cron ignores group/other-writable files
    assert cron.content_string.endswith('\n')  # and a last line without newline


def test_cron_file_lists_the_six_jobs_under_their_lock(host):
    entries, env = cron_entries(host)
    assert set(entries) == set(JOBS)
    assert env['SHELL'] == '/bin/sh'
    for job, (module, schedule, log) in JOBS.items():
        entry = entries[job]
        assert entry['schedule'] == schedule
        assert entry['command'] == '/opt/twzrd/bin/twzrd-run --lock /var/lib/twzrd/lock/twzrd-%s.lock %s' % (job, job)
        lock = host.file('/var/lib/twzrd/lock/twzrd-%s.lock' % job)
        assert lock.mode == 0o600  # no other user can open it and hold the flock
        config = job_config(host, job)
        assert config['twzrd_run']['module'] == module
        assert config['ANSIBLE_MODULE_ARGS']['log_file'] == log


def test_cron_file_is_valid_for_cron(host):
    with host.sudo():
        assert host.run('/opt/twzrd/bin/twzrd-validate cron %s', CRON_FILE).rc == 0
        # The same check by hand: crontab -n on the entries minus the user column.
        check = host.run("awk '/^[0-9*]/{ $6=\"\"; print; next } { print }' %s > /tmp/t.cron && crontab -n /tmp/t.cron",
                         CRON_FILE)
        assert check.rc == 0, check.stderr


def test_cron_daemon_runs(host):
    assert host.service('cron').is_running


@pytest.mark.parametrize('job', sorted(JOBS))
def test_logs_exist_with_owner_and_mode(host, job):
    log = host.file(JOBS[job][2])
    assert log.exists
    assert (log.user, log.group, log.mode) == (USERS.get(job, 'root'), 'adm', 0o640)


def test_job_files_are_private(host):
    for job in JOBS:
        config = host.file('/etc/twzrd/%s.json' % job)
        assert config.mode == 0o600 and config.user == USERS.get(job, 'root')


def test_logrotate_config_is_valid(host):
    conf = host.file('/etc/logrotate.d/twzrd')
    assert conf.mode == 0o644 and conf.user == 'root'
    for _module, _schedule, log in JOBS.values():
        assert log in conf.content_string
    assert 'create 0640 root adm' in conf.content_string
    assert 'rotate 8' in conf.content_string and 'weekly' in conf.content_string
    debug = host.run('logrotate -d /etc/logrotate.d/twzrd')
    assert debug.rc == 0
    assert 'error:' not in debug.stderr, debug.stderr


def test_logrotate_rotates_with_same_owner_and_mode(host):
    log = JOBS['alerts'][2]
    with host.sudo():
        host.run('echo "ts=2026-01-01T00:00:00Z job=test status=ok" >> %s', log)
        forced = host.run('logrotate -f -s /tmp/logrotate.state /etc/logrotate.d/twzrd')
        assert forced.rc == 0, forced.stderr
        assert host.file(log + '.1').exists
        new = host.file(log)
        assert (new.user, new.group, new.mode, new.size) == ('root', 'adm', 0o640, 0)


def test_runtime_imports_its_libraries(host):
    check = host.run('/opt/twzrd/venv/bin/python -c "import ansible, psutil, psycopg2, prometheus_client; print(ansible.__version__)"')
    assert check.rc == 0, check.stderr
    assert host.file('/opt/twzrd/collections/ansible_collections/twzrd/ops/plugins/module_utils/core/logline.py').exists


@pytest.mark.parametrize('job', ['alerts', 'health'])
def test_health_jobs_run_as_cron_runs_them(host, job):
    result, new_lines = run_as_cron(host, job)
    assert len(new_lines) == 1, new_lines
    line = parse_logline(new_lines[0])
    assert result.rc in (0, 1, 2), (result.rc, result.stdout, result.stderr)
    assert line['status'] == {0: 'ok', 1: 'warning', 2: 'critical'}[result.rc]
    assert line['job'] == 'twzrd_health'
    if job == 'health':
        # A report, and no channel configured here: cron mail is its channel, every run.
        assert result.stdout.startswith('twzrd health '), result.stdout
        # ... and kept as a dated file the log line names (install_report_dir)
        report = host.file(line['report'])
        assert line['report'].startswith('/var/lib/twzrd/reports/health-'), line
        assert (report.user, report.mode) == ('root', 0o640)
        assert report.content_string.startswith('twzrd health on ')
    else:
        assert 'report' not in line  # the hourly job keeps no report files
        if result.rc == 0:
            # Alerts are told once per change (docs/notifications.md): nothing new on a quiet run.
            assert 'NEW ' not in result.stdout and 'ESCALATED' not in result.stdout, result.stdout


REPORT_FROM_JOB_FILE = (
    "import json; "
    "args = json.load(open('/etc/twzrd/health.json'))['ANSIBLE_MODULE_ARGS']; "
    "args.update(log_file=None, state_file=''); "
    "open('/tmp/report.json', 'w').write(json.dumps({'ANSIBLE_MODULE_ARGS': args}))"
)


def test_weekly_report_counts_errors_from_the_systemd_journal(host):
    """The real journald of a systemd host: an err-priority message shows up in the report."""
    marker = 'twzrd-molecule-journal-check'
    assert host.run('logger -t twzrd-test -p user.err "Error: %s"' % marker).rc == 0
    assert host.run('/opt/twzrd/venv/bin/python -c "%s"' % REPORT_FROM_JOB_FILE).rc == 0
    run = ('PYTHONPATH=/opt/twzrd/collections /opt/twzrd/venv/bin/python '
           '-m ansible_collections.twzrd.ops.plugins.modules.twzrd_health /tmp/report.json')
    for _attempt in range(10):  # journald may take a moment to store the message
        result = host.run(run)
        assert result.rc == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)['report']
        journal = [s for s in report['log_errors']['sources'] if s['source'] == 'journal']
        if journal and any(marker in t['message'] for t in journal[0]['top']):
            break
        time.sleep(1)
    else:
        raise AssertionError('no journal entry with the marker in %s' % report['log_errors'])
    assert journal[0]['errors'] >= 1


@pytest.mark.parametrize('job', ['db_health', 'db_alerts', 'vacuum', 'restart'])
def test_jobs_without_their_service_fail_loudly(host, job):
    """No PostgreSQL or PM2 here: cron must mail, and the log must say so."""
    # A failure is told once (docs/notifications.md). cron itself may already have run the job in
    # this container (db_health at 01:30, say) and told it: forget that, so this run is the first.
    with host.sudo():
        host.run('rm -f %s', job_config(host, job)['ANSIBLE_MODULE_ARGS']['state_file'])
    result, new_lines = run_as_cron(host, job)
    assert result.rc != 0
    assert result.stdout.strip(), 'a failed job must print something for cron to mail'
    assert len(new_lines) == 1, new_lines
    assert parse_logline(new_lines[0])['status'] in ('failed', 'critical')


def test_a_run_that_finds_its_lock_held_fails_loudly(host):
    with host.sudo():
        log = JOBS['alerts'][2]
        before = host.file(log).size
        # flock(1) holds the lock while a second run, as cron would start it, tries.
        held = host.run("flock -n /var/lib/twzrd/lock/twzrd-alerts.lock sh -c '/opt/twzrd/bin/twzrd-run "
                        "--lock /var/lib/twzrd/lock/twzrd-alerts.lock alerts; echo second=$?'")
        assert 'second=3' in held.stdout and 'FAILED' in held.stdout, held.stdout
        assert host.file(log).size > before
        # a good run resolves that failure, so the next test's failure is news again
        assert host.run('/opt/twzrd/bin/twzrd-run --lock /var/lib/twzrd/lock/twzrd-alerts.lock alerts').rc in (0, 1, 2)


def test_runner_reports_a_broken_job_file(host):
    with host.sudo():
        host.run('cp /etc/twzrd/alerts.json /tmp/alerts.json.bak')
        host.run("sed -i 's/twzrd_health/no_such_module/' /etc/twzrd/alerts.json")
        try:
            result, new_lines = run_as_cron(host, 'alerts')
        finally:
            host.run('cp /tmp/alerts.json.bak /etc/twzrd/alerts.json')
    assert result.rc == 3
    assert 'no_such_module' in result.stdout
    line = parse_logline(new_lines[0])
    assert line['status'] == 'failed' and line['cron_job'] == 'alerts'


def test_runner_status_lists_the_jobs(host):
    with host.sudo():
        status = host.run('/opt/twzrd/bin/twzrd-run --status')
    assert status.rc == 0
    for job in JOBS:
        assert job in status.stdout


def test_status_names_each_failed_job_once_and_sees_cron(host):
    """What playbooks/verify.yml fails on: the jobs above that failed here (no PostgreSQL, no PM2)."""
    with host.sudo():
        status = json.loads(host.check_output('/opt/twzrd/bin/twzrd-run --status --json'))
    assert status['cron_running'] is True and status['problems'] == []
    ended_badly = [line.split(':')[0] for line in status['problem_lines']
                   if 'ended failed' in line or 'ended critical' in line]
    for job in ('db_health', 'db_alerts', 'vacuum', 'restart'):
        assert ended_badly.count(job) == 1, status['problem_lines']


def test_runtime_venv_is_built_from_the_system_python(host):
    cfg = host.file('/opt/twzrd/venv/pyvenv.cfg').content_string
    assert 'home = /usr/bin\n' in cfg, cfg
