"""The cron runner (roles/install/files/twzrd_run.py, installed as twzrd-run) against stand-in modules: what
cron would mail (stdout), the exit code, and the log line it adds when the
module could not. Real processes, as cron runs them."""
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line
from ansible_collections.twzrd.ops.plugins.module_utils.report import sinks as report_sinks
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')

# Stand-in modules: each prints what a twzrd.ops module prints and, like them, logs itself.
MODULES = {
    'fake_ok': "emit({'status': 'ok', 'alerts': [], 'metrics': {}}, log=True)",
    'fake_warning': textwrap.dedent('''\
        emit({'status': 'warning', 'alerts': [{'check': 'disk', 'level': 'warning', 'value': 91,
              'threshold': 90, 'message': 'disk / is 91% full', 'remediation': 'free space on /'}],
              'metrics': {}}, log=True)'''),
    'fake_critical': textwrap.dedent('''\
        emit({'status': 'critical', 'alerts': [{'check': 'pm2', 'level': 'critical', 'value': 'errored',
              'threshold': 'online', 'message': 'web is errored', 'remediation': 'pm2 logs web'}],
              'metrics': {}}, log=True)'''),
    'fake_failed_logged': "emit({'failed': True, 'msg': 'cannot connect to PostgreSQL'}, log=True, rc=1)",
    'fake_failed_silent': "emit({'failed': True, 'msg': 'unsupported parameter bogus'}, rc=1)",
    'fake_ok_corrupt_state': textwrap.dedent('''\
        emit({'status': 'ok', 'alerts': [], 'metrics': {}, 'warnings': [
              {'event': {'msg': 'state file /var/lib/twzrd/state.json is corrupt (x): fresh start'}}]}, log=True)'''),
    'fake_ok_first_run': textwrap.dedent('''\
        first = 'state file /var/lib/twzrd/state.json does not exist yet: fresh start'
        emit({'status': 'ok', 'alerts': [], 'metrics': {}, 'warnings': [first], 'routine_warnings': [first]},
             log=True)'''),
    'fake_crash': "raise RuntimeError('boom')",
    'fake_garbage': "print('not json')",
    'fake_slow': "import time; time.sleep(30)",
}
PRELUDE = textwrap.dedent('''\
    import json, sys
    def emit(result, log=False, rc=0):
        args = json.load(open(sys.argv[1]))['ANSIBLE_MODULE_ARGS']
        if log:
            with open(args['log_file'], 'a') as handle:
                handle.write('ts=2026-01-01T00:00:00Z job=%s status=%s\\n' % (
                    args['name'], result.get('status', 'failed')))
        print(json.dumps(result))
        sys.exit(rc)
    ''')


@pytest.fixture
def env(tmp_path):
    modules = tmp_path / 'collections' / 'ansible_collections' / 'twzrd' / 'ops' / 'plugins' / 'modules'
    modules.mkdir(parents=True)
    for name, body in MODULES.items():
        (modules / (name + '.py')).write_text(PRELUDE + body + '\n')
    config = tmp_path / 'etc'
    config.mkdir()
    return {'tmp': tmp_path, 'config': config, 'log': tmp_path / 'job.log'}


def write_job(env, job, module, timeout=60):
    path = env['config'] / (job + '.json')
    path.write_text(json.dumps({'twzrd_run': {'module': module, 'timeout': timeout},
                                'ANSIBLE_MODULE_ARGS': {'name': module, 'log_file': str(env['log'])}}))
    return path


def run(env, *args):
    proc = subprocess.run(
        [sys.executable, RUNNER] + list(args), capture_output=True, text=True, timeout=60, check=False,
        env={'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(env['config']),
             'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': str(env['tmp'] / 'collections')})
    lines = env['log'].read_text().splitlines() if env['log'].exists() else []
    return proc, lines


def test_ok_prints_nothing_so_cron_mails_nothing(env):
    write_job(env, 'alerts', 'fake_ok')
    proc, lines = run(env, 'alerts')
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, '', '')
    assert len(lines) == 1  # the module's own line, nothing added


def test_ok_with_a_warning_worth_a_mail_prints_it(env):
    write_job(env, 'alerts', 'fake_ok_corrupt_state')
    proc, dummy = run(env, 'alerts')
    assert proc.returncode == 0
    assert 'warning: state file /var/lib/twzrd/state.json is corrupt (x): fresh start' in proc.stdout
    write_job(env, 'alerts', 'fake_ok_first_run')
    proc, dummy = run(env, 'alerts')
    assert (proc.returncode, proc.stdout) == (0, '')  # a first run is not news


@pytest.mark.parametrize('module, code, words', [
    ('fake_warning', 1, ['WARNING', 'disk / is 91% full', 'fix: free space on /']),
    ('fake_critical', 2, ['CRITICAL', 'web is errored', 'fix: pm2 logs web']),
])
def test_alerts_print_message_and_remediation(env, module, code, words):
    write_job(env, 'alerts', module)
    proc, lines = run(env, 'alerts')
    assert proc.returncode == code
    for word in words:
        assert word in proc.stdout
    assert len(lines) == 1


def test_failure_the_module_logged_is_not_logged_twice(env):
    write_job(env, 'db_health', 'fake_failed_logged')
    proc, lines = run(env, 'db_health')
    assert proc.returncode == 3
    assert 'cannot connect to PostgreSQL' in proc.stdout
    assert len(lines) == 1


@pytest.mark.parametrize('module, words', [
    ('fake_failed_silent', ['unsupported parameter bogus']),
    ('fake_crash', ['crashed', 'RuntimeError: boom']),
    ('fake_garbage', ['crashed', 'not json']),
    ('no_such_module', ['crashed', 'no_such_module']),
])
def test_runner_logs_the_failure_when_the_module_could_not(env, module, words):
    write_job(env, 'vacuum', module)
    proc, lines = run(env, 'vacuum')
    assert proc.returncode == 3
    for word in words:
        assert word in proc.stdout
    assert len(lines) == 1
    line = parse_line(lines[0])
    assert line['status'] == 'failed' and line['cron_job'] == 'vacuum' and line['job'] == module
    for word in words:
        assert word in line['msg']


def test_timeout_kills_the_module_and_logs(env):
    write_job(env, 'restart', 'fake_slow', timeout=1)
    proc, lines = run(env, 'restart')
    assert proc.returncode == 3 and 'timeout' in proc.stdout
    assert parse_line(lines[0])['status'] == 'failed'


@pytest.mark.parametrize('setup', ['missing', 'corrupt', 'no_module'])
def test_unreadable_job_file_is_reported(env, setup):
    path = env['config'] / 'health.json'
    if setup == 'corrupt':
        path.write_text('{not json')
    elif setup == 'no_module':
        path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {}}))
    proc, _lines = run(env, 'health')
    assert proc.returncode == 3
    assert 'cannot read' in proc.stdout


@pytest.mark.parametrize('args', [[], ['../etc/passwd'], ['a', 'b'], ['--bogus']])
def test_bad_arguments(env, args):
    proc, _lines = run(env, *args)
    assert proc.returncode == 3


def test_status_lists_jobs_and_last_results(env):
    write_job(env, 'alerts', 'fake_warning')
    run(env, 'alerts')
    cron = env['tmp'] / 'cron'
    cron.write_text('SHELL=/bin/sh\n# a comment\n'
                    '0 * * * * root flock -n /var/lib/twzrd/lock/twzrd-alerts.lock /opt/twzrd/bin/twzrd-run alerts\n')
    proc = subprocess.run([sys.executable, RUNNER, '--config-dir', str(env['config']), '--status', '--json'],
                          capture_output=True, text=True, env={'TWZRD_CRON_FILE': str(cron)}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout
    jobs = json.loads(proc.stdout)['jobs']
    assert [(j['job'], j['schedule'], j['user'], j['module'], j['last_status']) for j in jobs] == [
        ('alerts', '0 * * * *', 'root', 'fake_warning', 'warning')]


def test_failure_line_parses_with_logline(env):
    write_job(env, 'alerts', 'fake_crash')
    _proc, lines = run(env, 'alerts')
    line = parse_line(lines[0])
    assert set(line) >= {'ts', 'job', 'cron_job', 'status', 'alerts', 'duration_ms', 'msg'}
    assert int(line['duration_ms']) >= 0


def load_runner():
    spec = importlib.util.spec_from_file_location('twzrd_run', RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def local(*fields):
    return time.mktime(datetime.datetime(*fields).timetuple())


@pytest.mark.parametrize('schedule, before, expected', [
    ('0 * * * *', (2026, 12, 2, 10, 59), (2026, 12, 2, 10, 0)),
    ('0 * * * *', (2026, 12, 2, 10, 0), (2026, 12, 2, 10, 0)),
    ('30 1 * * *', (2026, 12, 2, 1, 29), (2026, 12, 1, 1, 30)),
    ('0 3 * * 3', (2026, 12, 2, 2, 0), (2026, 11, 25, 3, 0)),        # Wednesdays
    ('0 1 * * fri', (2026, 12, 2, 0, 0), (2026, 11, 27, 1, 0)),
    ('0 0 * * 7', (2026, 12, 2, 0, 0), (2026, 11, 29, 0, 0)),        # 7 is Sunday too
    ('*/15 9-17 * * mon-fri', (2026, 12, 5, 12, 0), (2026, 12, 4, 17, 45)),
    ('0 0 1,15 * 1', (2026, 12, 2, 0, 0), (2026, 12, 1, 0, 0)),       # either day field matches
    ('0 0 29 2 *', (2026, 12, 2, 0, 0), (2024, 2, 29, 0, 0)),
    ('@weekly', (2026, 12, 2, 0, 0), (2026, 11, 29, 0, 0)),
])
def test_previous_run_follows_crontab5(schedule, before, expected):
    assert load_runner().previous_run(schedule, local(*before)) == local(*expected)


@pytest.mark.parametrize('schedule', ['0 * * *', '61 * * * *', '0 0 * * 8', '*/0 * * * *', 'x * * * *'])
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(ValueError):
        load_runner().previous_run(schedule, time.time())


def test_status_reads_the_rotated_log_after_logrotate(env, tmp_path):
    """logrotate (delaycompress) leaves an empty log and log.1: the last run is in log.1."""
    write_job(env, 'restart', 'fake_ok')
    run(env, 'restart')
    os.rename(str(env['log']), str(env['log']) + '.1')
    env['log'].write_text('')
    cron = tmp_path / 'cron'
    cron.write_text('0 1 * * 5 root /opt/twzrd/bin/twzrd-run restart\n')
    proc = subprocess.run([sys.executable, RUNNER, '--config-dir', str(env['config']), '--status', '--json'],
                          capture_output=True, text=True, env={'TWZRD_CRON_FILE': str(cron)}, timeout=60, check=False)
    job = json.loads(proc.stdout)['jobs'][0]
    assert (job['last_status'], job['last_run']) == ('ok', '2026-01-01T00:00:00Z')


def test_the_real_first_run_notice_is_never_mailed_but_other_state_warnings_are(tmp_path):
    """The module marks the first run's notice routine (result routine_warnings, issue 10 item 11)."""
    runner = load_runner()
    (tmp_path / 'corrupt.json').write_text('{not json')
    told = {}
    for name in ('missing', 'corrupt'):  # as the hourly job opens it: to write (a look that writes none is quiet)
        with StateStore(str(tmp_path / ('%s.json' % name))) as store:
            run = report_sinks.Run('alerts', 'twzrd_health', {}, {'alerts': []}, store=store)
            report_sinks.conditions(run)
            told[name] = (store.warning, run.result)
    first_run, corrupt = told['missing'][0], told['corrupt'][0]
    assert first_run and corrupt
    assert runner.worth_mailing([first_run], told['missing'][1]) == []
    assert runner.worth_mailing([corrupt], told['corrupt'][1]) == [corrupt]
    # ansible-core 2.19 hands warnings over as dicts: the same filter applies to their text.
    result = dict(told['missing'][1], warnings=[{'event': {'msg': first_run}}])
    assert runner.worth_mailing(runner.warning_texts(result), result) == []


# --- issue 9: items 5 and 16 ----------------------------------------------------------------------

def test_item5_a_run_that_cannot_take_its_lock_leaves_a_trace(env):
    import fcntl
    write_job(env, 'alerts', 'fake_ok')
    lock = env['tmp'] / 'twzrd-alerts.lock'
    lock.write_text('')
    os.chmod(str(lock), 0o600)
    holder = os.open(str(lock), os.O_RDONLY)  # what any user could do with a world-readable lock
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc, lines = run(env, '--lock', str(lock), 'alerts')
    finally:
        os.close(holder)
    assert proc.returncode == 3 and 'FAILED' in proc.stdout and 'lock' in proc.stdout, proc
    assert len(lines) == 1
    line = parse_line(lines[0])
    assert line['status'] == 'failed' and line['cron_job'] == 'alerts' and 'lock' in line['msg']
    proc, lines = run(env, '--lock', str(lock), 'alerts')  # free again: the job runs
    assert proc.returncode == 0 and len(lines) == 2


def test_item5_role_makes_lock_files_private():
    import yaml
    with open(os.path.join(ROOT, 'roles', 'install', 'tasks', 'present.yml')) as handle:
        tasks = yaml.safe_load(handle)
    lock_task = [t for t in tasks if t.get('name', '').startswith('Create the job lock files')][0]
    assert lock_task['ansible.builtin.file']['mode'] == '0600'
    with open(os.path.join(ROOT, 'roles', 'install', 'templates', 'twzrd.cron.j2')) as handle:
        cron = handle.read()
    assert 'flock -n' not in cron and '--lock {{ install_lock_dir }}/twzrd-{{ job.name }}.lock' in cron


@pytest.mark.parametrize('config, words, logged', [
    ({'twzrd_run': {'module': 'fake_ok'}, 'ANSIBLE_MODULE_ARGS': ['not', 'an', 'object']}, ['ANSIBLE_MODULE_ARGS'],
     False),
    ({'twzrd_run': {'module': 'fake_ok', 'timeout': '5m'}, 'ANSIBLE_MODULE_ARGS': {'log_file': 'LOG'}}, ['timeout'],
     True),
    ({'twzrd_run': {'module': 'fake_ok', 'timeout': float('inf')}, 'ANSIBLE_MODULE_ARGS': {'log_file': 'LOG'}},
     ['timeout'], True),
    ({'twzrd_run': 'fake_ok', 'ANSIBLE_MODULE_ARGS': {'log_file': 'LOG'}}, ['twzrd_run'], True),
    ({'twzrd_run': {'module': 'fake_ok'}, 'ANSIBLE_MODULE_ARGS': {'log_file': 'LOG\u0000x'}}, ['log_file'], False),
])
def test_item16_any_runner_error_is_exit_3_with_a_failed_line(env, config, words, logged):
    text = json.dumps(config).replace('LOG', str(env['log']))
    (env['config'] / 'alerts.json').write_text(text)
    proc, lines = run(env, 'alerts')
    assert proc.returncode == 3 and 'FAILED' in proc.stdout and 'Traceback' not in proc.stderr, proc
    for word in words:
        assert word in proc.stdout
    if logged:  # a log line wherever the job file names a usable log_file
        assert len(lines) == 1 and parse_line(lines[0])['status'] == 'failed', lines
