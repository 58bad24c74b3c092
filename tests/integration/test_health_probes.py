"""twzrd_health's ``http`` and ``postgres`` checks (registry entries, issue 19) against real servers.

A real HTTP endpoint on 127.0.0.1 (200, 500, slow), the session's PostgreSQL 15 cluster and a closed port;
the module run directly (the cron runner's code path), by the cron runner itself, and by the alerts playbook
(health_check role) from twzrd_* inventory variables. The password of a URL appears in no output.
"""
import json
import os
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT, free_port, run_module
from receivers import HealthEndpoint

PASSWORD = 'Wire-S3cret-pw'
QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'memory_warning': 99.8, 'memory_critical': 99.9,
         'inode_warning': 99.8, 'inode_critical': 99.9, 'pm2_home': '/nonexistent/pm2home'}
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')


@pytest.fixture
def endpoint():
    server = HealthEndpoint({'/health': (200, 0), '/broken': (500, 0), '/slow': (200, 0.4)}).start()
    yield server
    server.stop()


def http_checks(endpoint):
    return {'ok': endpoint.url('/health', userinfo='ops:' + PASSWORD),
            'broken': endpoint.url('/broken'),
            'slow': {'url': endpoint.url('/slow'), 'timeout': 3, 'latency_warning_ms': 200}}


def by_subject(result, check):
    return dict((a['subject'], a) for a in result['alerts'] if a['check'] == check)


def outputs(tmp_path):
    """Every file the run wrote (state, log, textfile) as one text."""
    texts = []
    for root, dummy, files in os.walk(str(tmp_path)):
        for name in files:
            if not name.startswith('twzrd_health-args'):  # our own input holds the password, by design
                with open(os.path.join(root, name), errors='replace') as handle:
                    texts.append(handle.read())
    return '\n'.join(texts)


def test_http_and_postgres_alerts_from_the_module(tmp_path, endpoint, pg_cluster):
    textfiles = tmp_path / 'textfiles'
    textfiles.mkdir()
    args = dict(QUIET, state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'run.log'),
                textfile_dir=str(textfiles), http_checks=http_checks(endpoint), probe_budget=5,
                postgres_ping={'login_unix_socket': pg_cluster.socket_dir, 'login_port': pg_cluster.port})
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'critical', (out, err)

    http = by_subject(result, 'http')
    assert sorted(http) == ['broken', 'slow']  # ok answered 200 in time, with basic auth
    assert http['broken']['level'] == 'critical' and 'answered HTTP 500, expected HTTP 200' in http['broken']['message']
    assert http['slow']['level'] == 'warning' and http['slow']['threshold'] == 200.0
    assert http['slow']['remediation'].endswith('(docs/runbooks.md#an-http-check-fails-or-is-slow)')
    assert endpoint.requests[[r['path'] for r in endpoint.requests].index('/health')]['authorization']
    assert result['metrics']['http']['ok']['status'] == 200 and result['metrics']['http']['ok']['up'] == 1
    assert result['metrics']['http']['ok']['url'].startswith('http://***@127.0.0.1')

    assert by_subject(result, 'postgres') == {}  # the session cluster answers
    socket_file = os.path.join(pg_cluster.socket_dir, '.s.PGSQL.%d' % pg_cluster.port)
    assert result['metrics']['postgres'][socket_file]['answer'] == 'accepting'

    metrics = (textfiles / 'twzrd_alerts.prom').read_text() if (textfiles / 'twzrd_alerts.prom').exists() \
        else '\n'.join(p.read_text() for p in textfiles.iterdir())
    assert 'twzrd_http_up{name="broken"' in metrics and 'twzrd_postgres_up{' in metrics
    shown = json.dumps(result) + out + err + outputs(tmp_path)
    assert PASSWORD not in shown
    assert 'ops:' not in json.dumps([result['alerts'], result['metrics']]) + outputs(tmp_path)
    assert PASSWORD not in json.dumps(result['invocation'])


def test_a_closed_postgres_port_is_critical_and_nothing_configured_probes_nothing(tmp_path):
    port = free_port()
    args = dict(QUIET, state_file=str(tmp_path / 'state.json'),
                postgres_ping={'login_host': '127.0.0.1', 'login_port': port, 'timeout': 2})
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['status'] == 'critical', (out, err)
    alert = by_subject(result, 'postgres')['127.0.0.1:%d' % port]
    assert alert['level'] == 'critical' and 'connection refused' in alert['message']
    assert 'pg_isready -h 127.0.0.1 -p %d' % port in alert['remediation']

    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=''), tmp_path)
    assert rc == 0 and 'http' not in result['metrics'] and 'postgres' not in result['metrics']


@pytest.mark.parametrize('args, expected', [
    ({'http_checks': {'web': {'url': 'ftp://x/'}}}, 'http_checks.web.url'),
    ({'http_checks': {'web': {'url': 'http://127.0.0.1/', 'latency_warning_ms': 9000}}},
     'http_checks.web.latency_warning_ms'),
    ({'postgres_ping': {'login_port': 70000}}, 'postgres_ping.login_port'),
    ({'probe_budget': 0}, 'probe_budget must be > 0'),
    ({'probe_budget': 301}, 'probe_budget must be <= 300'),
    # AnsibleModule itself raises TypeError on these (found by test_fuzz.py): SafeModule names them first
    ({'postgres_ping': [3672, {'a': 'b'}, 1.5]}, 'postgres_ping must be a dictionary of options, got list'),
    ({'postgres_ping': 5}, 'postgres_ping must be a dictionary of options, got int'),
    ({'notify': True}, 'notify must be a dictionary of options, got bool'),
    ({'accept': [{'check': 'disk', 'until': '2099-01-01', 'reason': 'x'}, 7]}, 'accept[1] must be a dictionary'),
])
def test_bad_probe_options_fail_naming_the_parameter(tmp_path, args, expected):
    rc, result, out, err = run_module('twzrd_health', dict(args, state_file=''), tmp_path)
    assert rc == 1 and expected in result['msg'] and 'Traceback' not in err, result


def test_the_cron_runner_runs_them(tmp_path, endpoint, pg_cluster):
    config = tmp_path / 'etc'
    config.mkdir()
    log = tmp_path / 'job.log'
    args = dict(QUIET, mode='alerts', log_file=str(log), state_file=str(tmp_path / 'state.json'),
                textfile_dir=str(tmp_path), http_checks=http_checks(endpoint),
                postgres_ping={'login_host': '127.0.0.1', 'login_port': free_port(), 'timeout': 2})
    (config / 'alerts.json').write_text(json.dumps({'twzrd_run': {'module': 'twzrd_health', 'timeout': 120},
                                                    'ANSIBLE_MODULE_ARGS': args}))
    proc = subprocess.run([sys.executable, RUNNER, 'alerts'], capture_output=True, text=True, timeout=180,
                          check=False, env={'PATH': '/usr/bin:/bin', 'TWZRD_CONFIG_DIR': str(config),
                                            'TWZRD_PYTHON': sys.executable, 'TWZRD_PYTHONPATH': COLLECTIONS})
    assert proc.returncode == 2, proc.stdout + proc.stderr  # critical
    assert 'http check broken' in proc.stdout and 'PostgreSQL at 127.0.0.1' in proc.stdout
    assert 'status=critical' in log.read_text()
    (config / 'alerts.json').unlink()  # the job file holds the password by design (root-only on a host)
    shown = proc.stdout + proc.stderr + outputs(tmp_path)
    assert PASSWORD not in shown


def test_the_alerts_playbook_takes_them_from_the_inventory(tmp_path, endpoint, pg_cluster):
    variables = tmp_path / 'vars.json'
    variables.write_text(json.dumps({
        'twzrd_http_checks': http_checks(endpoint), 'twzrd_probe_budget': 5,
        'twzrd_postgres_ping': {'login_unix_socket': pg_cluster.socket_dir, 'login_port': pg_cluster.port},
        'twzrd_load_warning': 1000, 'twzrd_load_critical': 2000, 'twzrd_memory_warning': 99.8,
        'twzrd_memory_critical': 99.9, 'twzrd_state_file': str(tmp_path / 'state.json'),
        'twzrd_pm2_home': '/nonexistent/pm2home'}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
         'twzrd.ops.alerts', '-v', '-e', 'ansible_python_interpreter=%s' % sys.executable, '-e', '@%s' % variables],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'http check broken' in proc.stdout and 'answered HTTP 500' in proc.stdout
    assert 'http check slow' in proc.stdout
    assert 'PostgreSQL at' not in proc.stdout and 'accepting' in proc.stdout  # the cluster answers
    assert PASSWORD not in proc.stdout + proc.stderr
