"""Run sequences of the real cron runner (twzrd-run) and modules that once told a person something false
or nothing at all (the alert lifecycle audit): real PostgreSQL cluster, state file, locks and an HTTP receiver."""
import fcntl
import json
import os
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT, disk_alerts_args, run_module

RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
TOKEN = 'audit-hook-Qz81v'


def runner(config_dir, *args):
    env = {'PATH': '/usr/bin:/bin', 'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS,
           'TWZRD_SILENCES_FILE': str(config_dir / 'silences.json')}
    return subprocess.run([sys.executable, RUNNER, '--config-dir', str(config_dir)] + list(args),
                          capture_output=True, text=True, check=False, timeout=300, env=env)


def write_job(config_dir, job, module, args):
    path = config_dir / (job + '.json')
    path.write_text(json.dumps({'twzrd_run': {'module': module, 'timeout': 120}, 'ANSIBLE_MODULE_ARGS': args}))
    path.chmod(0o600)


def texts(webhook):
    return [body for dummy, body in webhook.messages()]


@pytest.mark.parametrize('option', ['login_db', 'db'])
def test_a_runner_reported_failure_of_a_db_job_is_resolved_by_its_next_good_run_whatever_the_db_option_is_named(
        tmp_path, pg_cluster, pg_db, webhook, option):
    # The database named by its option or by the documented alias `db` (install_db_health_args: {db: app}).
    config = tmp_path / 'etc'
    config.mkdir()
    args = pg_cluster.conn_params(pg_db)
    args[option] = args.pop('login_db')
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'twzrd.log'),
                notify={'urls': [webhook.url(TOKEN)]})
    write_job(config, 'db_health', 'twzrd_db_health', args)
    lock = tmp_path / 'twzrd-db_health.lock'
    lock.write_text('')
    lock.chmod(0o600)

    # Run 1: the previous run still holds the lock: the runner reports the failure (twzrd_notify).
    holder = os.open(str(lock), os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        failed = runner(config, '--lock', str(lock), 'db_health')
    finally:
        os.close(holder)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert len(webhook.bodies) == 1 and 'job_failed' in texts(webhook)[0], texts(webhook)

    # Run 2: the lock is free and the job runs well: the failure told is over, and the person is told so.
    good = runner(config, '--lock', str(lock), 'db_health')
    assert good.returncode in (0, 1), good.stdout + good.stderr
    assert len(webhook.bodies) == 2, (texts(webhook), good.stdout)
    assert 'RESOLVED job_failed' in texts(webhook)[1], texts(webhook)[1]
    with open(str(tmp_path / 'state.json')) as handle:
        history = json.load(handle)['alerting']
    assert not [key for key, job in history.items() if 'job_failed' in (job.get('alerts') or {})], history


def test_a_disk_path_that_vanishes_while_its_warning_is_open_is_told(tmp_path, webhook):
    volume = tmp_path / 'volume'
    volume.mkdir()
    notify = {'urls': [webhook.url(TOKEN)]}
    rc, result, out, err = run_module('twzrd_health', disk_alerts_args(tmp_path, 0.5, 99.9, disk_paths=[str(volume)], notify=notify),
                                      tmp_path)
    assert rc == 0 and [a['check'] for a in result['alerts']] == ['disk'], (out, err)
    assert len(webhook.bodies) == 1 and 'NEW WARNING disk' in texts(webhook)[0]
    volume.rmdir()  # unmounted: the path is gone
    rc, result, out, err = run_module('twzrd_health', disk_alerts_args(tmp_path, 0.5, 99.9, disk_paths=[str(volume)], notify=notify),
                                      tmp_path)
    assert rc == 0 and 'cannot be checked' in result['alerts'][0]['message'], (out, err)
    assert len(webhook.bodies) == 2, texts(webhook)
