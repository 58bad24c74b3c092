"""The DB and PM2 jobs doing real work in a container with PostgreSQL and PM2
(molecule/fullstack)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from cronjobs import cron_entries, parse_logline, run_as_cron  # noqa: E402

PM2 = 'runuser -u app -- env HOME=/home/app PM2_HOME=/home/app/.pm2 /usr/local/bin/pm2'


def psql(host, sql, db='shop'):
    result = host.run('runuser -u postgres -- psql -At -d %s -c %s', db, sql)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def web(host):
    out = host.run('%s jlist' % PM2).stdout
    procs = json.loads(out[out.index('['):])
    return next(p for p in procs if p['name'] == 'web')


def test_db_jobs_run_as_postgres(host):
    entries, _env = cron_entries(host)
    assert entries['db_health']['user'] == 'postgres'
    assert entries['db_alerts']['user'] == 'postgres' and entries['db_alerts']['schedule'] == '15 * * * *'
    assert entries['vacuum']['user'] == 'postgres'
    for log in ('/var/log/twzrd-db-health.log', '/var/log/twzrd-db-alerts.log', '/var/log/twzrd-db-maint.log'):
        assert host.file(log).user == 'postgres'
    assert host.file('/var/lib/twzrd/postgres').user == 'postgres'


def test_services_are_up(host):
    assert psql(host, 'SELECT 1') == '1'
    assert web(host)['pm2_env']['status'] == 'online'


def expect_ran(result, new_lines, module):
    assert result.rc in (0, 1, 2), (result.rc, result.stdout, result.stderr)
    assert len(new_lines) == 1, new_lines
    line = parse_logline(new_lines[0])
    assert line['job'] == module
    assert line['status'] == {0: 'ok', 1: 'warning', 2: 'critical'}[result.rc]
    # twzrd_notify reaches the receiver: every message went there, nothing is left for cron mail.
    assert result.stdout == '', result.stdout
    return line


def test_alerts_job_sees_the_app_under_pm2(host):
    result, new_lines = run_as_cron(host, 'alerts')
    line = expect_ran(result, new_lines, 'twzrd_health')
    assert line['pm2_apps'] == '1', line  # PM2 of user app, as twzrd_pm2_user says
    assert 'pm2_missing_app' not in result.stdout and 'pm2_daemon' not in result.stdout


def test_a_job_without_pm2_settings_finds_the_app_users_pm2(host):
    """No pm2_user/pm2_home: root's job finds the daemon user app runs (issue 10 item 7), cron's PATH."""
    work = '/tmp/twzrd-discovery'
    quiet = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
             'swap_warning': 99.8, 'swap_critical': 99.9}
    args = dict(quiet, mode='alerts', pm2_expected_apps=['web'], state_file=work + '/state.json',
                log_file=work + '/alerts.log')
    assert host.run('rm -rf %s && mkdir -m 0700 %s', work, work).rc == 0
    assert host.run('printf %%s %s > %s/args.json', json.dumps({'ANSIBLE_MODULE_ARGS': args}), work).rc == 0
    result = host.run('env -i PATH=/usr/bin:/bin PYTHONPATH=/opt/twzrd/collections PYTHONDONTWRITEBYTECODE=1 '
                      '/opt/twzrd/venv/bin/python -m ansible_collections.twzrd.ops.plugins.modules.twzrd_health '
                      '%s/args.json', work)
    out = json.loads(result.stdout)
    pm2 = out['metrics']['pm2']
    assert (pm2['user'], pm2['pm2_home'], pm2['discovered'], pm2['daemon_running']) == \
        ('app', '/home/app/.pm2', True, True), pm2
    assert pm2['apps']['web']['online'] >= 1
    assert not [a for a in out['alerts'] if a['check'].startswith('pm2')], out['alerts']
    host.run('rm -rf %s', work)


def test_cron_itself_runs_the_health_job(host):
    """The health job is scheduled every minute here: cron must pick up the file and run it."""
    log = '/var/log/twzrd-health.log'
    before = len(host.file(log).content_string.splitlines())
    deadline = time.monotonic() + 130
    lines = []
    while time.monotonic() < deadline:
        lines = host.file(log).content_string.splitlines()
        if len(lines) > before:
            break
        time.sleep(3)
    assert len(lines) > before, 'cron did not run the health job within two minutes'
    line = parse_logline(lines[-1])
    assert line['job'] == 'twzrd_health' and line['mode'] == 'report'
    assert line['status'] in ('ok', 'warning', 'critical'), line


def test_db_health_job(host):
    result, new_lines = run_as_cron(host, 'db_health')
    expect_ran(result, new_lines, 'twzrd_db_health')


def test_db_alerts_job_shares_the_daily_jobs_alert_history(host):
    """The hourly acute checks as cron runs them: same state file as db_health, its alerts in db_health's history,
    the daily run's open warnings left as they are (docs/schedule.md)."""
    config = json.loads(host.file('/etc/twzrd/db_alerts.json').content_string)['ANSIBLE_MODULE_ARGS']
    daily = json.loads(host.file('/etc/twzrd/db_health.json').content_string)['ANSIBLE_MODULE_ARGS']
    assert config['scope'] == 'acute' and config['state_file'] == daily['state_file']
    with host.sudo():
        before = json.loads(host.file(daily['state_file']).content_string)['alerting']['db_health:shop']['alerts']
    result, new_lines = run_as_cron(host, 'db_alerts')
    line = expect_ran(result, new_lines, 'twzrd_db_health')
    assert line['scope'] == 'acute', line
    with host.sudo():
        state = json.loads(host.file(daily['state_file']).content_string)
    after = state['alerting']['db_health:shop']['alerts']
    # what only the daily run checks (dead rows over the scenario's threshold) is still open, as it was
    daily_only = dict((k, v) for k, v in before.items() if v['check'] in ('dead_rows', 'primary_keys', 'database_growth'))
    assert daily_only, before  # test_db_health_job left the dead_rows warning of shop.orders open
    assert dict((k, after.get(k)) for k in daily_only) == daily_only
    assert 'db_alerts:shop' not in state['alerting']


def test_vacuum_job_vacuums_the_dead_rows(host):
    assert int(psql(host, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'")) > 0
    before = psql(host, "SELECT coalesce(vacuum_count, 0) FROM pg_stat_user_tables WHERE relname = 'orders'")
    result, new_lines = run_as_cron(host, 'vacuum')
    line = expect_ran(result, new_lines, 'twzrd_vacuum')
    after = psql(host, "SELECT coalesce(vacuum_count, 0) FROM pg_stat_user_tables WHERE relname = 'orders'")
    assert int(after) > int(before), 'the vacuum job did not vacuum shop.orders'
    # the audit trail: the log line names the kept report, which lists the table before -> after
    report = host.file(line['report'])
    assert line['report'].startswith('/var/lib/twzrd/reports/postgres/vacuum-shop-'), line
    assert (report.user, report.mode) == ('postgres', 0o640)
    assert 'public.orders: vacuumed' in report.content_string and ' -> ' in report.content_string


def test_restart_job_restarts_the_app(host):
    before = web(host)['pm2_env']['restart_time']
    result, new_lines = run_as_cron(host, 'restart')
    expect_ran(result, new_lines, 'pm2_restart')
    after = web(host)
    assert after['pm2_env']['restart_time'] > before
    assert after['pm2_env']['status'] == 'online'


RECEIVED = '/var/tmp/twzrd-received.jsonl'
TOKEN = 'fullstack-secret-token'


def received(host):
    content = host.file(RECEIVED).content_string if host.file(RECEIVED).exists else ''
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def test_the_vacuum_report_reached_the_webhook(host):
    """Runs after the vacuum test: its weekly report is a message every run, through twzrd_notify."""
    titles = [m['title'] for m in received(host)]
    assert any(t.startswith('twzrd vacuum ') for t in titles), titles
    report = [m for m in received(host) if m['title'].startswith('twzrd vacuum ')][-1]
    assert 'shop' in report['message'] and 'orders' in report['message']


def test_test_notify_reaches_every_channel(host):
    before = len(received(host))
    with host.sudo():
        result = host.run('/opt/twzrd/bin/twzrd-run --test-notify')
    assert result.rc == 0, result.stdout + result.stderr
    assert 'delivered' in result.stdout and 'NOT delivered' not in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    # cron runs the health report every minute here, and it is a message when the host is loaded: count test messages
    new = [m for m in received(host)[before:] if m['title'].startswith('twzrd test message')]
    assert len(new) == 1 and 'test message' in new[0]['message'], new  # all jobs share one channel list


def test_notification_urls_stay_in_the_job_files(host):
    with host.sudo():
        assert TOKEN not in host.file('/etc/cron.d/twzrd').content_string
        for job, user in (('alerts', 'root'), ('vacuum', 'postgres')):
            for name in ('/etc/twzrd/%s.json' % job, '/etc/twzrd/%s.notify.json' % job):
                config = host.file(name)
                assert config.mode == 0o600 and config.user == user, name
            assert TOKEN in host.file('/etc/twzrd/%s.json' % job).content_string
        for log in ('/var/log/twzrd-db-maint.log', '/var/log/twzrd-daily-alerts.log', '/var/log/twzrd-health.log'):
            assert TOKEN not in host.file(log).content_string


TEXTFILE_DIR = '/var/lib/prometheus/node-exporter'


def test_jobs_export_metrics_for_node_exporter(host):
    """After the jobs above ran: one file per job (and database), written by the job's own user
    through the textfile group, readable by node_exporter, with the run's status."""
    directory = host.file(TEXTFILE_DIR)
    assert (directory.user, directory.group, directory.mode) == ('root', 'twzrd-metrics', 0o1775)
    assert 'twzrd-metrics' in host.user('postgres').groups
    expected = {'twzrd_alerts.prom': ('root', 'alerts', ''), 'twzrd_restart.prom': ('root', 'restart', ''),
                'twzrd_db_health_shop.prom': ('postgres', 'db_health', 'database="shop",'),
                'twzrd_db_alerts_shop.prom': ('postgres', 'db_alerts', 'database="shop",'),
                'twzrd_vacuum_shop.prom': ('postgres', 'vacuum', 'database="shop",')}
    for name, (owner, job, database) in expected.items():
        export = host.file('%s/%s' % (TEXTFILE_DIR, name))
        assert export.exists, name
        assert (export.user, export.mode) == (owner, 0o644), name
        content = export.content_string
        assert '# TYPE twzrd_job_status gauge' in content, name
        status = [line for line in content.splitlines()
                  if line.startswith('twzrd_job_status{%stwzrd_job="%s"}' % (database, job))]
        assert len(status) == 1 and float(status[0].split()[-1]) in (0, 1, 2), (name, status)
    assert not [f for f in host.run('ls -A %s', TEXTFILE_DIR).stdout.split() if f.endswith('.tmp')]
