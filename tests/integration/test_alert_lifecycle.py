"""What people are told (issue 18 items 1, 7 and 8), end to end with the real parts.

- a PostgreSQL outage (a real cluster stopped and started) resolves nothing the run did not look at;
- an on-demand playbook run tells nobody unless asked, and leaves every change for the next cron run;
- ``twzrd-run --silence`` silences a check on the host for every job until it expires, told once then.

Messages go to a real HTTP receiver (Apprise ``json://``); modules run the cron way (harness.run_module,
twzrd-run) or through the real on-demand playbooks.
"""
import json
import os
import pathlib
import pwd
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from harness import COLLECTIONS, ROOT, disk_alerts_args as health_args, run_module
from pg_harness import PgCluster, seed_dead_rows
from ansible_collections.twzrd.ops.plugins.module_utils.runs.db_health import CHECKS_OF

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
TOKEN = 'lifecycle-hook-Tk93x'


@pytest.fixture(scope='module')
def cluster():
    """A cluster of its own: this test stops and starts it."""
    try:
        pg = PgCluster()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    pg.start()
    yield pg
    pg.cleanup()


def restart(pg):
    """Start a stopped cluster again (PgCluster.start would initdb anew)."""
    pg._run([pg.pg_ctl, '-D', pg.data, '-l', pg.log, '-w', '-t', '60', 'start'])  # pylint: disable=protected-access
    pg.running = True


def texts(webhook):
    return [body for dummy, body in webhook.messages()]


# --- item 1: an outage resolves nothing it did not look at -------------------------------------

def test_database_outage_neither_resolves_nor_retells_the_other_alerts(tmp_path, cluster, webhook):
    cluster.create_database('app')
    conn = cluster.connect('app')
    try:
        seed_dead_rows(conn, 'events', 3000)
        with conn.cursor() as cur:
            cur.execute('CREATE TABLE audit_log (at timestamptz, what text)')
    finally:
        conn.close()
    args = dict(cluster.conn_params('app'), state_file=str(tmp_path / 'state.json'), dead_rows_warning=1000,
                notify={'urls': [webhook.url(TOKEN)]})

    def db_health():
        rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
        assert result is not None, (out, err)
        return result

    first = db_health()
    assert sorted(a['check'] for a in first['alerts']) == ['dead_rows', 'primary_keys'], first['alerts']
    assert len(webhook.bodies) == 1

    cluster.stop()
    try:
        down = db_health()
    finally:
        restart(cluster)
    assert down['status'] == 'critical' and [a['check'] for a in down['alerts']] == ['connection']
    message = texts(webhook)[1]
    assert 'NEW CRITICAL connection' in message
    assert 'RESOLVED' not in message, message
    assert down['recovered'] == []
    # every check a collection feeds (runs/db_health.py CHECKS_OF): none was looked at; nor was any query (the
    # name a failed query's alert carries)
    assert sorted(down['unchecked']) == sorted(set(check for checks in CHECKS_OF.values() for check in checks)
                                               | set(CHECKS_OF) | {'settings'})
    assert {'connections', 'dead_rows', 'primary_keys', 'latency'} <= set(down['unchecked'])

    back = db_health()
    assert sorted(a['check'] for a in back['alerts']) == ['dead_rows', 'primary_keys']
    assert [a['new'] for a in back['alerts']] == [False, False]  # open since before the outage
    message = texts(webhook)[2]
    assert 'RESOLVED connection' in message
    assert 'NEW' not in message, message
    assert len(webhook.bodies) == 3


def test_pm2_daemon_gone_neither_resolves_nor_retells_its_apps_alerts(pm2, tmp_path, webhook):
    pm2.start('dies.js', 'broken', extra_args=['--max-restarts', '1'])
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'errored' for p in procs))
    args = health_args(tmp_path, 99.8, 99.9, pm2_bin=pm2.bin, pm2_home=pm2.home, notify={'urls': [webhook.url(TOKEN)]})

    def alerts():
        rc, result, out, err = run_module('twzrd_health', args, tmp_path)
        assert rc == 0 and result is not None, (out, err)
        return result

    assert [a['check'] for a in alerts()['alerts']] == ['pm2_crashes']
    pm2.kill()
    gone = alerts()
    assert [a['check'] for a in gone['alerts']] == ['pm2_daemon']
    message = texts(webhook)[-1]
    assert len(webhook.bodies) == 2 and 'NEW CRITICAL pm2_daemon' in message
    assert 'RESOLVED' not in message, message
    assert gone['unchecked'] == ['pm2_crashes', 'pm2_missing_app']

    pm2.start('dies.js', 'broken', extra_args=['--max-restarts', '1'])
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'errored' for p in procs))
    back = alerts()
    assert [a['check'] for a in back['alerts']] == ['pm2_crashes'] and back['alerts'][0]['new'] is False
    message = texts(webhook)[-1]
    assert len(webhook.bodies) == 3 and 'RESOLVED pm2_daemon' in message and 'NEW' not in message, message


# --- item 7: an on-demand look tells nobody unless asked -----------------------------------------

def playbook(name, extra_vars, tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    vars_file = tmp_path / 'vars.json'
    vars_file.write_text(json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable)))
    vars_file.chmod(0o600)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-e', '@%s' % vars_file, os.path.join(ROOT, 'playbooks', name)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def disk_used_pct(tmp_path):
    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, 99, 99.5), tmp_path)
    assert rc == 0, (out, err)
    return result['metrics']['disks']['/']['used_percent']


def test_on_demand_run_tells_nobody_and_leaves_the_change_to_cron(tmp_path, webhook):
    probe = tmp_path / 'probe'
    probe.mkdir()
    used = disk_used_pct(probe)
    warning = max(0.0, used - 5)
    state = tmp_path / 'state.json'
    notify = {'urls': [webhook.url(TOKEN)]}
    common = {'twzrd_hosts': 'localhost', 'twzrd_state_file': str(state), 'twzrd_notify': notify,
              'twzrd_disk_paths': ['/'], 'twzrd_disk_warning': warning, 'twzrd_disk_critical': 99.5,
              'twzrd_load_warning': 1000, 'twzrd_load_critical': 2000, 'twzrd_pm2_home': str(tmp_path / 'pm2home'),
              'twzrd_health_log_file': str(tmp_path / 'ondemand.log')}
    (tmp_path / 'pm2home').mkdir()

    for name in ('alerts.yml', 'health.yml'):
        proc = playbook(name, common, tmp_path)
        assert 'disk' in proc.stdout  # the person who asked sees the result
    assert webhook.bodies == []  # nobody else was told
    assert not state.exists()  # nothing the cron job relies on was written

    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, warning, 99.5, notify=notify), tmp_path)
    assert rc == 0, (out, err)
    assert len(webhook.bodies) == 1 and 'NEW WARNING disk /' in texts(webhook)[0]  # the cron run still tells it

    # asked for: the on-demand run delivers, and the cron run does not tell the same change again
    playbook('alerts.yml', dict(common, twzrd_disk_critical=max(0.5, used - 2.5), twzrd_notify_on_demand=True),
             tmp_path)
    assert len(webhook.bodies) == 2 and 'ESCALATED' in texts(webhook)[1]
    rc, result, out, err = run_module('twzrd_health', health_args(tmp_path, warning, max(0.5, used - 2.5),
                                                                  notify=notify), tmp_path)
    assert rc == 0 and len(webhook.bodies) == 2, texts(webhook)


# --- item 8: twzrd-run --silence ------------------------------------------------------------------

def runner(config_dir, *args, env=None):
    run_env = {'PATH': '/usr/bin:/bin', 'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS,
               'TWZRD_SILENCE_LOG': str(config_dir / 'silences.log'), 'SUDO_USER': 'alice'}
    run_env.update(env or {})
    return subprocess.run([sys.executable, RUNNER, '--config-dir', str(config_dir)] + list(args),
                          capture_output=True, text=True, check=False, timeout=300, env=run_env)


def write_job(config_dir, job, module, args):
    path = config_dir / (job + '.json')
    path.write_text(json.dumps({'twzrd_run': {'module': module, 'timeout': 120}, 'ANSIBLE_MODULE_ARGS': args}))
    path.chmod(0o600)


def test_silence_is_kept_on_the_host_honoured_listed_logged_and_told_once_when_it_expires(tmp_path, webhook):
    config = tmp_path / 'etc'
    config.mkdir()
    work = tmp_path / 'work'
    work.mkdir()
    used = disk_used_pct(work)
    notify = {'urls': [webhook.url(TOKEN)]}
    write_job(config, 'alerts', 'twzrd_health', health_args(work, max(0.0, used - 5), 99.5, notify=notify))
    write_job(config, 'health', 'twzrd_health', health_args(work, max(0.0, used - 5), 99.5, mode='report',
                                                            log_file=str(work / 'health.log')))

    made = runner(config, '--silence', 'disk:/', '--for', '2h', '--reason', 'volume resize booked for Friday')
    assert made.returncode == 0, made.stdout + made.stderr
    assert 'disk:/' in made.stdout and 'volume resize booked for Friday' in made.stdout
    path = config / 'silences.json'
    info = os.stat(path)
    assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o644  # readable by postgres's jobs, root writes
    log = (config / 'silences.log').read_text()
    assert 'action=silence' in log and 'by=alice' in log and 'reason="volume resize booked for Friday"' in log

    listed = runner(config, '--silences')
    assert listed.returncode == 0 and 'disk:/' in listed.stdout and 'alice' in listed.stdout
    cron = tmp_path / 'cron'
    cron.write_text('0 * * * * root /opt/twzrd/bin/twzrd-run alerts\n')
    shown = runner(config, '--status', '--json', env={'TWZRD_CRON_FILE': str(cron)})
    assert [s['check'] for s in json.loads(shown.stdout)['silences']] == ['disk']

    quiet = runner(config, 'alerts')
    assert quiet.stdout == '' and webhook.bodies == []  # silenced: nobody told, cron mail empty
    report = runner(config, 'health')
    assert any('silenced' in line and 'disk:/' in line for line in report.stdout.splitlines()), report.stdout

    # Two hours later (the clock moved through the file, never by sleeping: a busy machine must not end it early)
    data = json.loads(path.read_text())
    data['silences'][0]['until'] = int(time.time()) - 1
    moved = config / 'silences.new'
    moved.write_text(json.dumps(data))
    moved.chmod(0o644)
    moved.rename(path)
    runner(config, 'alerts')
    assert len(webhook.bodies) == 1, texts(webhook)
    message = texts(webhook)[0]
    assert 'SILENCE EXPIRED' in message and 'volume resize booked for Friday' in message
    assert 'NEW WARNING disk /' in message
    runner(config, 'alerts')
    assert len(webhook.bodies) == 1  # told once

    gone = runner(config, '--silences')
    assert 'disk:/' not in gone.stdout


@pytest.fixture
def shared_dir():
    """A directory postgres can traverse (pytest's tmp_path is root's alone), like /etc/twzrd."""
    with tempfile.TemporaryDirectory(prefix='twzrd-silences-') as name:
        os.chmod(name, 0o755)
        yield pathlib.Path(name)


def test_silence_read_by_a_postgres_job_never_writable_by_it(tmp_path, shared_dir, cluster):
    config = shared_dir
    made = runner(config, '--silence', 'primary_keys', '--for', '2h', '--reason', 'audit_log is append-only')
    assert made.returncode == 0, made.stdout + made.stderr
    silences = str(config / 'silences.json')
    cannot = subprocess.run(['runuser', '-u', 'postgres', '--', 'sh', '-c', 'echo x >> %s' % silences],
                            capture_output=True, text=True, check=False)
    assert cannot.returncode != 0

    # The test venv's interpreter lives under /root: postgres reads the file with the system Python,
    # through the same code the jobs' report stage uses.
    script = ('import json; from ansible_collections.twzrd.ops.plugins.module_utils.state import silences; '
              'print(json.dumps(silences.read(%r)))' % silences)
    proc = subprocess.run(['runuser', '-u', 'postgres', '--', '/usr/bin/python3', '-c', script],
                          capture_output=True, text=True, check=False, cwd='/', timeout=60,
                          env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'PYTHONPATH': COLLECTIONS})
    assert proc.returncode == 0, proc.stderr
    entries, warning = json.loads(proc.stdout)
    assert warning is None and [e['check'] for e in entries] == ['primary_keys']

    # and the database job honours it (run the cron way, as root here)
    cluster.create_database('silenced')
    cluster.execute('CREATE TABLE audit_log (at timestamptz)', dbname='silenced')
    args = dict(cluster.conn_params('silenced'), state_file=str(tmp_path / 'state.json'))
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path, env={'TWZRD_SILENCES_FILE': silences})
    assert result is not None, (out, err)
    assert result['status'] == 'ok', result
    assert [s['check'] for s in result['silenced']] == ['primary_keys']
    assert result['silenced'][0]['silenced_reason'] == 'audit_log is append-only'


def test_silences_file_another_user_could_write_is_not_believed(tmp_path):
    config = tmp_path / 'etc'
    config.mkdir()
    assert runner(config, '--silence', 'disk', '--for', '1h', '--reason', 'r').returncode == 0
    silences = config / 'silences.json'
    nobody = pwd.getpwnam('nobody')
    os.chown(silences, nobody.pw_uid, nobody.pw_gid)
    work = tmp_path / 'work'
    work.mkdir()
    rc, result, out, err = run_module('twzrd_health', health_args(work, 0, 99.9), work,
                                      env={'TWZRD_SILENCES_FILE': str(silences)})
    assert rc == 0, (out, err)
    assert [a['check'] for a in result['alerts']] == ['disk'] and not result.get('silenced')
    assert any('silences' in str(w) and 'not owned by root' in str(w) for w in result.get('warnings') or []), result


@pytest.mark.parametrize('argv, error', [
    (['--silence', 'dsik', '--for', '1h', '--reason', 'r'], 'CHECK: unknown check dsik'),
    (['--silence', 'disk', '--for', '1fortnight', '--reason', 'r'], '--for: bad duration'),
    (['--silence', 'disk', '--for', '0m', '--reason', 'r'], '--for: bad duration'),
    (['--silence', 'disk', '--for', '1h'], '--reason is required'),
    (['--silence', 'disk', '--reason', 'r'], '--for is required'),
    (['--unsilence', 'nope'], 'no silence'),
])
def test_silence_bad_input_gets_a_clear_error(tmp_path, argv, error):
    proc = runner(tmp_path, *argv)
    assert proc.returncode == 3
    assert error in proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stdout + proc.stderr


def test_unsilence_removes_it_and_logs_who(tmp_path):
    assert runner(tmp_path, '--silence', 'dead_rows:public.events', '--for', '1d', '--reason', 'batch delete').returncode == 0
    assert runner(tmp_path, '--unsilence', 'dead_rows:public.events').returncode == 0
    assert 'dead_rows' not in runner(tmp_path, '--silences').stdout
    log = (tmp_path / 'silences.log').read_text().splitlines()
    assert 'action=unsilence' in log[-1] and 'by=alice' in log[-1]
