import json
import os

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client as pm2

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'pm2_jlist.json')


@pytest.fixture
def jlist_text():
    with open(FIXTURE) as handle:
        return handle.read()


def test_parse_plain_json(jlist_text):
    procs = pm2.parse_jlist(jlist_text)
    assert [p['name'] for p in procs] == ['api', 'api', 'worker', 'cron-job']


def test_parse_tolerates_banner_before_json(jlist_text):
    banner = ('>>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\n'
              '[PM2] Spawning PM2 daemon with pm2_home=/x\n[PM2] PM2 Successfully daemonized\n')
    assert len(pm2.parse_jlist(banner + jlist_text)) == 4


def test_parse_empty_list_and_garbage():
    assert pm2.parse_jlist('[]\n') == []
    with pytest.raises(pm2.Pm2Error):
        pm2.parse_jlist('[PM2] something went wrong\n')


def test_summary_keeps_no_environment(jlist_text):
    raw = pm2.parse_jlist(jlist_text)
    summaries = [pm2.summarize_process(p, now_ms=raw[0]['pm2_env']['pm_uptime'] + 60000) for p in raw]
    dumped = json.dumps(summaries)
    assert 'hunter2-marker' not in dumped and 'tok-0123456789abcdef' not in dumped
    assert 'DB_PASSWORD' not in dumped and '/home/app"' not in dumped
    api = summaries[0]
    assert api['exec_mode'] == 'cluster' and api['status'] == 'online'
    assert api['uptime_seconds'] == 60
    worker = summaries[2]
    assert worker['exec_mode'] == 'fork' and worker['restart_time'] == 9
    assert summaries[3]['status'] == 'stopped' and 'uptime_seconds' not in summaries[3]
    assert set(api) == {'name', 'pm_id', 'pid', 'status', 'exec_mode', 'restart_time', 'unstable_restarts',
                        'started_at', 'memory_bytes', 'cpu_percent', 'error_log', 'out_log', 'uptime_seconds'}


def test_secret_values_are_collected_for_redaction_only(jlist_text):
    secrets = pm2.secret_values(pm2.parse_jlist(jlist_text))
    assert secrets == {'hunter2-marker', 'tok-0123456789abcdef'}


def test_summarize_survives_odd_input():
    summary = pm2.summarize_process({'name': 'x', 'pm2_env': {'restart_time': 'many', 'exec_mode': None}})
    assert summary['restart_time'] == 0 and summary['exec_mode'] == 'fork' and summary['pm_id'] == -1


def test_daemon_pid(tmp_path):
    assert pm2.daemon_pid(str(tmp_path)) is None
    (tmp_path / 'pm2.pid').write_text(str(os.getpid()))
    assert pm2.daemon_pid(str(tmp_path)) is None  # alive, but not PM2's God daemon (issue 9, item 1)
    (tmp_path / 'pm2.pid').write_text('not a pid')
    assert pm2.daemon_pid(str(tmp_path)) is None
    (tmp_path / 'pm2.pid').write_text('999999999')
    assert pm2.daemon_pid(str(tmp_path)) is None


def test_find_pm2_bin(tmp_path):
    with pytest.raises(pm2.Pm2Error, match='pm2_bin /nonexistent/pm2 does not exist'):
        pm2.find_pm2_bin('/nonexistent/pm2')
    fake = tmp_path / 'pm2'
    fake.write_text('#!/bin/sh\n')
    fake.chmod(0o755)
    assert pm2.find_pm2_bin(None, search_path=str(tmp_path)) == str(fake)


def test_resolve_target_unknown_user():
    with pytest.raises(pm2.Pm2Error, match='pm2_user no-such-user-xyz does not exist'):
        pm2.resolve_target(pm2_user='no-such-user-xyz')


def test_record_own_restarts_adds_up():
    class Store:
        def __init__(self):
            self.data = {}

        def section(self, name):
            return self.data.setdefault(name, {})
    store = Store()
    app = pm2.Pm2Target('/usr/bin/pm2', '/home/app/.pm2', 'app', 1000, 1000, '/home/app')
    other = pm2.Pm2Target('/usr/bin/pm2', '/srv/pm2', 'web', 1001, 1001, '/srv')
    pm2.record_own_restarts(store, {'api#0': 1, 'api#1': 1}, app)
    pm2.record_own_restarts(store, {'api#0': 2}, app)
    pm2.record_own_restarts(store, {'api#0': 1}, other)  # same name and id in another daemon: kept apart
    assert store.data['pm2']['daemons'] == {
        '/home/app/.pm2': {'user': 'app', 'own_restarts': {'api#0': 3, 'api#1': 1}},
        '/srv/pm2': {'user': 'web', 'own_restarts': {'api#0': 1}}}


def test_another_users_pm2_without_root_is_a_clear_error_not_a_traceback(monkeypatch):
    """Before, the failed setuid in preexec_fn surfaced as an uncaught SubprocessError."""
    monkeypatch.setattr(pm2.os, 'getuid', lambda: 65534)
    monkeypatch.setattr(pm2.os, 'geteuid', lambda: 65534)
    target = pm2.Pm2Target('/bin/true', '/home/app/.pm2', 'app', 1000, 1000, '/home/app')
    with pytest.raises(pm2.Pm2Error, match='PM2 runs as user app and this job runs as nobody.*run the job as root or as app'):
        pm2.run_pm2(target, ['jlist'])
