"""The weekly report sees every job of the host and says OK only when it is (issue 18 items 2-4).

As installed, db_health and vacuum run as postgres and keep STATE_DIR/postgres/state.json while the
weekly report runs as root with STATE_DIR/state.json. Here the two PostgreSQL jobs really run as
postgres (runuser, peer-less trust socket of a throwaway cluster) and the report as root: it must
show their open alert, database sizes and vacuum runs, and count the alert in its status.
"""
import json
import os
import pwd
import re
import shutil
import subprocess
import sysconfig
import tempfile
import time

import pytest
from PIL import Image

from harness import COLLECTIONS, ROOT, run_module
from pg_harness import PG_USER, seed_dead_rows
from recorded_week import hourly_history
from test_trends import chromium, disk_now

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='root reading the state of the postgres user')

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home',
         'include_system_log': False, 'include_pm2_logs': False}
ARTIFACTS = os.path.join(ROOT, 'tests', 'output', 'weekly-report')


@pytest.fixture
def state_dir():
    """STATE_DIR as the install role lays it out: root's 0755, postgres's own subdirectory 0750."""
    base = tempfile.mkdtemp(prefix='twzrd-weekly-')
    os.chmod(base, 0o755)
    postgres = pwd.getpwnam(PG_USER)
    own = os.path.join(base, PG_USER)
    os.mkdir(own, 0o750)
    os.chown(own, postgres.pw_uid, postgres.pw_gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def run_as_postgres(module, args, directory):
    """The module the cron way, as the postgres user, with the system python3 (postgres cannot run ours)."""
    postgres = pwd.getpwnam(PG_USER)
    args_file = os.path.join(directory, '%s-%d.json' % (module, time.monotonic_ns()))
    with open(args_file, 'w', encoding='utf-8') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    os.chown(args_file, postgres.pw_uid, postgres.pw_gid)
    python_path = '%s:%s' % (COLLECTIONS, sysconfig.get_paths()['purelib'])  # psycopg2, psutil, ansible
    proc = subprocess.run(['runuser', '-u', PG_USER, '--', 'env', 'PYTHONPATH=' + python_path, 'LANG=C.UTF-8',
                           '/usr/bin/python3', '-m', 'ansible_collections.twzrd.ops.plugins.modules.' + module, args_file],
                          capture_output=True, text=True, timeout=180, check=False, cwd=directory)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def test_root_report_shows_what_the_postgres_jobs_recorded(pg_cluster, pg_db, state_dir, tmp_path):
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, 'churn', 4000)
        # a duplicate index whose name the page must escape (the weekly vacuum's insights)
        conn.cursor().execute('CREATE INDEX "<i>dup" ON churn (id)')
    finally:
        conn.close()
    own = os.path.join(state_dir, PG_USER)
    pg_state = os.path.join(own, 'state.json')
    db_args = dict(pg_cluster.conn_params(pg_db), state_file=pg_state)
    checked = run_as_postgres('twzrd_db_health', dict(db_args, dead_rows_warning=1000), own)
    dead = [a for a in checked['alerts'] if a['check'] == 'dead_rows']
    assert dead and dead[0]['level'] == 'warning', checked['alerts']
    vacuumed = run_as_postgres('twzrd_vacuum', dict(db_args, tables=['public.churn']), own)
    assert vacuumed['metrics']['vacuumed'] == 1
    assert pwd.getpwuid(os.stat(pg_state).st_uid).pw_name == PG_USER

    report_dir = os.path.join(state_dir, 'reports')
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', report_dir=report_dir,
                                                           state_file=os.path.join(state_dir, 'state.json')), tmp_path)
    assert rc == 0, (out, err)
    report = result['report']
    # the PostgreSQL jobs' state keys carry the database: db_health:DB, vacuum:DB
    open_checks = [(a['job'], a['check'], a['subject']) for a in report['open_alerts']]
    assert ('db_health:' + pg_db, 'dead_rows', dead[0]['subject']) in open_checks, report['open_alerts']
    assert report['trends']['db_sizes'][pg_db][-1][1] > 0
    assert report['trends']['vacuum_runs'][-1]['db'] == pg_db
    assert [(s['user'], s['jobs']) for s in report['state_files']] == [(PG_USER, ['db_health:' + pg_db, 'vacuum:' + pg_db])]
    # the open db_health warning makes the week's status, and the subject says why
    assert result['status'] == 'warning', result['summary']
    assert result['message'].splitlines()[0].startswith('twzrd health ')
    assert 'db_health:%s dead_rows public.churn' % pg_db in result['message'].splitlines()[0], result['message']

    page = open(result['report_file'], encoding='utf-8').read()
    for empty in ('No database sizes recorded', 'No vacuum runs recorded', 'None: all checks are ok'):
        assert empty not in page
    assert '(db_health:%s job)' % pg_db in page and '<td>%s</td><td>1</td><td>0</td><td>0</td><td>4000</td>' % pg_db in page
    # the vacuum job's weekly insights, recorded by postgres, shown by root's page (escaped)
    assert vacuumed['insights']['duplicate_indexes'][0]['drop'] == 'DROP INDEX CONCURRENTLY public."<i>dup";'
    assert 'id="insights-%s"' % pg_db in page and 'No database insights recorded' not in page
    assert '<code>DROP INDEX CONCURRENTLY public.&quot;&lt;i&gt;dup&quot;;</code>' in page and '<i>dup' not in page
    assert 'id="statements-hint-%s"' % pg_db in page


def test_report_refuses_a_state_file_the_user_pointed_elsewhere(state_dir, tmp_path):
    """postgres replaces its state file with a symlink to root's secrets: root reads nothing through it."""
    secret = os.path.join(state_dir, 'root-only.json')
    with open(secret, 'w', encoding='utf-8') as handle:
        json.dump({'alerting': {'db_health': {'alerts': {'x': {
            'check': 'SECRET-FROM-ROOT', 'level': 'critical', 'since': 1, 'message': 'm'}}}}}, handle)
    os.chmod(secret, 0o600)
    subprocess.run(['runuser', '-u', PG_USER, '--', 'ln', '-s', secret, os.path.join(state_dir, PG_USER, 'state.json')],
                   check=True)
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report',
                                                           state_file=os.path.join(state_dir, 'state.json')), tmp_path)
    assert rc == 0, (out, err)
    assert 'SECRET-FROM-ROOT' not in out and result['status'] == 'ok'
    source = result['report']['state_files'][0]
    assert source['user'] == PG_USER and 'symlink' in source['warning'] and source['jobs'] == []
    assert any('symlink' in line for line in result['summary'])


def test_week_thresholds_make_the_status(tmp_path):
    """94 crash restarts and 93 error lines in a week, an alerts-job warning open: not OK, and the subject says why."""
    now = int(time.time())
    day = 86400
    restarts = {}
    for back, count in ((5, 40), (3, 30), (1, 24)):
        restarts[time.strftime('%Y-%m-%d', time.gmtime(now - back * day))] = {'api': count}
    state = tmp_path / 'state.json'
    state.write_text(json.dumps({'twzrd_health': {'pm2_restarts': restarts}}))
    log = tmp_path / 'app.log'
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - 3600))
    log.write_text(''.join('%s Error: upstream refused %d\n' % (stamp, i) for i in range(93)))
    args = dict(QUIET, mode='report', state_file=str(state), log_paths=[str(log)])
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0, (out, err)
    checks = dict((a['check'], a) for a in result['alerts'])
    assert checks['report_crash_restarts']['value'] == 94 and checks['report_crash_restarts']['subject'] == 'api'
    assert checks['report_crash_restarts']['level'] == 'critical'
    assert checks['log_errors_per_day']['value'] == 93 and checks['log_errors_per_day']['level'] == 'warning'
    assert result['status'] == 'critical'
    title = result['message'].splitlines()[0]
    assert 'CRITICAL' in title and 'report_crash_restarts api' in title, title

    # an alerts-job warning still open, the week otherwise quiet: warning, named in the subject
    state.write_text(json.dumps({'alerting': {'alerts': {'alerts': {'swap': {
        'check': 'swap', 'level': 'warning', 'since': now - 7200, 'value': 31, 'threshold': 20,
        'message': 'swap 31% used', 'remediation': 'see docs'}}, 'last_run': now - 600}}}))
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=str(state)), tmp_path)
    assert rc == 0, (out, err)
    assert result['alerts'] == [] and result['status'] == 'warning'
    assert 'alerts swap' in result['message'].splitlines()[0], result['message']


def test_new_host_page_in_a_browser(tmp_path):
    """Two days after install: the page says so, draws the three charts it has data for, no empty one (item 4)."""
    used, free = disk_now('/')
    now = time.time()
    state = tmp_path / 'state.json'
    state.write_text(json.dumps({'twzrd_health': {'history': hourly_history(now, '/', used, free, days=2, days_to_full=1000.0)}}))
    report_dir = tmp_path / 'reports'
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=str(state),
                                                           report_dir=str(report_dir)), tmp_path)
    assert rc == 0, (out, err)
    assert any(line.endswith(': 2 of 7 days so far') for line in result['summary']), result['summary']
    page = open(result['report_file'], encoding='utf-8').read()
    assert re.findall(r'id="chart-([a-z_0-9]+)"', page) == ['load', 'memory', 'disk']
    assert ': 2 of 7 days so far.</b>' in page and 'No database sizes recorded yet' in page

    shot = tmp_path / 'new-host.png'
    proc = chromium('--user-data-dir=%s' % (tmp_path / 'profile'), '--window-size=900,2200',
                    '--screenshot=%s' % shot, 'file://%s' % result['report_file'])
    assert shot.exists(), proc.stderr[-2000:]
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(str(shot), os.path.join(ARTIFACTS, 'new-host.png'))  # kept as a test artifact, looked at
    screenshot = Image.open(str(shot)).convert('RGB')
    colours = screenshot.getcolors(maxcolors=1 << 20)
    note_blue = sum(count for count, rgb in colours if rgb == (0xee, 0xf4, 0xfb))  # the "collecting" note
    assert len(colours) > 200 and note_blue > 2000, (len(colours), note_blue)
