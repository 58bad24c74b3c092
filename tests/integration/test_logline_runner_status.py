"""`twzrd-run --status` believes only what a run wrote (issue 17 items 3 and 13).

The real twzrd_health module runs through the real runner with a disk path whose name holds a
line break of each kind followed by a forged "status=ok" line; --status must still show the
critical run.  A run whose line is longer than any read buffer must still be the last run.
"""
import json
import os
import subprocess
import sys

import pytest
from psycopg2 import sql

from harness import ROOT
from ansible_collections.twzrd.ops.plugins.module_utils.core import logline
from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
LINE_BREAKS = ['\n', '\r', '\x0b', '\x0c', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029']
FORGED = 'ts=2099-01-01T00:00:00Z job=twzrd_health mode=alerts status=ok alerts=0 duration_ms=1 msg="all checks ok"'


def runner(tmp_path, *args):
    env = {'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(tmp_path / 'etc'), 'TWZRD_PYTHON': sys.executable,
           'TWZRD_PYTHONPATH': COLLECTIONS, 'TWZRD_CRON_FILE': str(tmp_path / 'cron'), 'HOME': str(tmp_path)}
    return subprocess.run([sys.executable, RUNNER] + list(args), capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def install_job(tmp_path, job, module, args):
    (tmp_path / 'etc').mkdir(exist_ok=True)
    (tmp_path / 'etc' / (job + '.json')).write_text(json.dumps(
        {'twzrd_run': {'module': module, 'timeout': 120}, 'ANSIBLE_MODULE_ARGS': args}))
    (tmp_path / 'cron').write_text('0 * * * * root /opt/twzrd/bin/twzrd-run %s\n' % job)


def status(tmp_path):
    proc = runner(tmp_path, '--status', '--json')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize('char', LINE_BREAKS, ids=lambda c: 'U+%04X' % ord(c))
def test_a_path_name_cannot_forge_the_status_of_a_real_run(tmp_path, char):
    hostile = tmp_path / ('data' + char + FORGED.replace('/', '_'))
    hostile.mkdir()
    log = tmp_path / 'alerts.log'
    install_job(tmp_path, 'alerts', 'twzrd_health', {
        'mode': 'alerts', 'disk_paths': [str(hostile)], 'disk_warning': 0.001, 'disk_critical': 0.002,
        'include_system_log': False, 'state_file': str(tmp_path / 'state.json'), 'log_file': str(log),
        'pm2_home': str(tmp_path / 'no-pm2')})
    proc = runner(tmp_path, 'alerts')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = log.read_text(encoding='utf-8')
    assert len(text.splitlines()) == 1 and text.count('\n') == 1, text
    assert parse_line(text)['status'] == 'critical'
    job = status(tmp_path)['jobs'][0]
    assert job['last_status'] == 'critical' and job['last_run'] != '2099-01-01T00:00:00Z', job
    assert any('ended critical' in problem for problem in job['problems']), job
    plain = runner(tmp_path, '--status').stdout
    lines = plain.split('\n')
    assert lines[0].startswith('alerts ') and lines[0].endswith(' critical'), plain
    assert char == '\n' or char not in plain, plain
    assert not any(line.startswith('ts=') for line in lines), plain


def test_a_line_longer_than_any_buffer_is_still_the_last_run(tmp_path):
    """A line written before the size bound (or by another tool) is read whole, whatever its length."""
    log = tmp_path / 'alerts.log'
    install_job(tmp_path, 'alerts', 'twzrd_health', {'mode': 'alerts', 'log_file': str(log)})
    earlier = 'ts=2026-12-01T00:00:00Z job=twzrd_health mode=alerts status=ok alerts=0 msg="all checks ok"\n'
    long_msg = '; '.join('CRITICAL app web-%04d is errored (pm2 status errored, 14 restarts)' % n for n in range(1500))
    last = 'ts=2026-12-01T01:00:00Z job=twzrd_health mode=alerts status=critical alerts=1500 msg="%s"\n' % long_msg
    assert len(last) > 65536
    log.write_text(earlier + last)
    job = status(tmp_path)['jobs'][0]
    assert (job['last_run'], job['last_status']) == ('2026-12-01T01:00:00Z', 'critical'), job
    # A line still being written (no newline yet) is not the last run.
    with open(str(log), 'a') as handle:
        handle.write('ts=2026-12-01T02:00:00Z job=twzrd_health status=o')
    job = status(tmp_path)['jobs'][0]
    assert (job['last_run'], job['last_status']) == ('2026-12-01T01:00:00Z', 'critical'), job


def test_a_failure_the_runner_logs_is_escaped_and_bounded(tmp_path):
    """The runner's own status=failed line: a crash message cannot forge a line or grow without bound."""
    modules = tmp_path / 'mods' / 'ansible_collections' / 'twzrd' / 'ops' / 'plugins' / 'modules'
    modules.mkdir(parents=True)
    (modules / 'fake_fail.py').write_text(
        'import json, sys\nprint(json.dumps({"failed": True, "msg": "table x\\u2028\\x1e%s " + "y" * 200000}))\n'
        'sys.exit(1)\n' % FORGED.replace('"', ''))
    log = tmp_path / 'db.log'
    install_job(tmp_path, 'vacuum', 'fake_fail', {'log_file': str(log)})
    env = {'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(tmp_path / 'etc'), 'TWZRD_PYTHON': sys.executable,
           'TWZRD_PYTHONPATH': str(tmp_path / 'mods')}
    proc = subprocess.run([sys.executable, RUNNER, 'vacuum'], capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    assert proc.returncode == 3
    data = log.read_bytes()
    assert data.count(b'\n') == 1 and len(data) <= getattr(logline, "MAX_LINE_BYTES", 32768)
    assert len(data.decode('utf-8').splitlines()) == 1
    assert parse_line(data.decode('utf-8'))['status'] == 'failed'


def test_table_names_with_every_line_break_cannot_forge_the_db_health_line(pg_cluster, pg_db, tmp_path):
    """A database user names tables; the root-read log line and --status stay true (real PostgreSQL)."""
    conn = pg_cluster.connect(pg_db)
    with conn.cursor() as cur:
        for char in LINE_BREAKS + ['\x1b', '\u202e']:
            cur.execute(sql.SQL('CREATE TABLE {} (v text)').format(
                sql.Identifier('t%s ts=2099-01-01T00:00:00Z status=ok' % char)))
    conn.close()
    log = tmp_path / 'db.log'
    args = pg_cluster.conn_params(pg_db)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(log))
    install_job(tmp_path, 'db_health', 'twzrd_db_health', args)
    proc = runner(tmp_path, 'db_health')
    assert proc.returncode == 1, proc.stdout + proc.stderr   # the primary_keys warning names the tables
    text = log.read_text(encoding='utf-8')
    assert text.count('\n') == 1 and len(text.splitlines()) == 1, text
    fields = parse_line(text)
    assert fields['status'] == 'warning' and 'status=ok' in fields['msg'], fields
    job = status(tmp_path)['jobs'][0]
    assert (job['last_status'], job['last_run']) == ('warning', fields['ts']), job


def test_status_escapes_what_an_old_log_line_holds(tmp_path):
    """A line written before names were escaped still cannot drive the terminal of whoever runs --status."""
    log = tmp_path / 'alerts.log'
    install_job(tmp_path, 'alerts', 'twzrd_health', {'mode': 'alerts', 'log_file': str(log)})
    log.write_text('ts=2026-12-01T01:00:00Z job=twzrd_health status=critical alerts=1 '
                   'msg="CRITICAL app \x1b[2J\x1b]0;owned\x07web\u202e is errored"\n')
    plain = runner(tmp_path, '--status').stdout
    assert '\x1b' not in plain and '\x07' not in plain and '\u202e' not in plain, repr(plain)
    assert '\\x1b[2J' in plain, plain
