"""One configuration for both ways of running (issue 10 item 6, docs/configuration.md).

One inventory file with the shared twzrd_* names drives the install role's job files (the cron
path: the module run on /etc/twzrd/JOB.json, here under a temporary install_config_dir) and the
on-demand playbooks. Both runs execute the real module; their `invocation.module_args` (the
arguments after the module parsed them) must be the same, apart from the log and state paths.
"""
import json
import os
import subprocess
import sys

import pytest

from harness import COLLECTIONS, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
# Set by each path on its own (cron: the role's log and state files, install_textfile_dir,
# install_report_dir; playbooks: twzrd_state_file, *_log).
PATH_OPTIONS = ('log_file', 'state_file', 'textfile_dir', 'report_dir')
# How it runs, not what it checks: the playbooks say a person asked (docs/notifications.md).
RUN_OPTIONS = ('on_demand',)
# job -> (module, on-demand playbook)
JOBS = {
    'alerts': ('twzrd_health', 'playbooks/alerts.yml'),
    'db_health': ('twzrd_db_health', 'playbooks/db_health.yml'),
    'vacuum': ('twzrd_vacuum', 'playbooks/vacuum.yml'),
    'restart': ('pm2_restart', 'playbooks/restart.yml'),
}


def shared_config(pg_cluster, pg_db, pm2_bin, tmp_path):
    """What a person writes once in group_vars: PM2 target, database, thresholds, health checks,
    notifications, accepted conditions."""
    return {
        'twzrd_pm2_user': 'root',
        'twzrd_pm2_home': str(tmp_path / 'pm2home'),  # no daemon there: the modules say so
        'twzrd_pm2_bin': pm2_bin,
        'twzrd_pm2_expected_apps': ['web'],
        'twzrd_swap_warning': 35,
        'twzrd_disk_warning': 91,
        'twzrd_disk_paths': [str(tmp_path)],
        'twzrd_db_connection': pg_cluster.conn_params(pg_db),
        'twzrd_db_health_options': {'dead_rows_warning': 5000, 'expected_tables': ['events'], 'latency_samples': 3},
        'twzrd_vacuum_options': {'min_dead_rows': 10, 'max_duration': 60, 'lock_timeout': 2},
        'twzrd_restart_apps': ['web'],
        'twzrd_restart_health_checks': {'web': {'url': 'http://127.0.0.1:9/health', 'retries': 0}},
        'twzrd_restart_settle_seconds': 0,
        # Nothing listens on port 9: delivery fails fast, the arguments are what counts here.
        'twzrd_notify': {'urls': ['json://127.0.0.1:9/hook'], 'timeout': 2, 'min_level': 'critical'},
        'twzrd_accept': [{'check': 'swap', 'reason': 'test host, swap is a tmpfs'}],
    }


def write_inventory(path, shared, tmp_path):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    paths = {
        # cron-only settings, kept away from the real /etc, /var/log and /var/lib of this machine
        'install_config_dir': str(tmp_path / 'etc'),
        'install_state_dir': str(tmp_path / 'state'),
        'install_db_health_user': 'root',
        'install_db_alerts_user': 'root',
        'install_vacuum_user': 'root',
        'install_alerts_log': str(tmp_path / 'cron-alerts.log'),
        'install_db_health_log': str(tmp_path / 'cron-db-health.log'),
        'install_db_alerts_log': str(tmp_path / 'cron-db-alerts.log'),
        'install_vacuum_log': str(tmp_path / 'cron-vacuum.log'),
        'install_restart_log': str(tmp_path / 'cron-restart.log'),
        'install_health_log': str(tmp_path / 'cron-health.log'),
        # playbook-only paths
        'twzrd_state_file': str(tmp_path / 'playbook-state.json'),
        'twzrd_restart_log_file': str(tmp_path / 'playbook-restart.log'),
        'twzrd_db_become': False,
    }
    inventory = {'all': {'hosts': {'localhost': host}, 'vars': dict(shared, **paths)}}
    path.write_text(json.dumps(inventory, indent=2))  # JSON is YAML: the inventory plugin reads it
    return path


def ansible_env(tmp_path, **more):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, 'callbacks'))
    env.update(more)
    return env


def playbook(inventory, name, tmp_path, env=None):
    (tmp_path / 'etc').mkdir(exist_ok=True)  # present.yml creates install_config_dir before the job files
    return subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), os.path.join(ROOT, name)],
                          capture_output=True, text=True, env=env or ansible_env(tmp_path), timeout=300,
                          cwd=str(tmp_path), check=False)


def cron_invocation(job_file, tmp_path):
    """The module run on the job file, as twzrd-run runs it."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'}
    module = json.loads(job_file.read_text())['twzrd_run']['module']
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.' + module,
                           str(job_file)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(tmp_path), check=False)
    return module, json.loads(proc.stdout)['invocation']['module_args']


def without_paths(args):
    return {key: value for key, value in args.items() if key not in PATH_OPTIONS + RUN_OPTIONS}


@pytest.fixture
def installed(pg_cluster, pg_db, pm2_bin, tmp_path):
    """The inventory, and the job files the install role wrote from it."""
    shared = shared_config(pg_cluster, pg_db, pm2_bin, tmp_path)
    inventory = write_inventory(tmp_path / 'inventory.yml', shared, tmp_path)
    proc = playbook(inventory, 'tests/integration/playbooks/install_job_files.yml', tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'DEPRECATION' not in proc.stdout + proc.stderr  # only shared names here
    return shared, inventory


def test_one_inventory_drives_cron_jobs_and_playbooks(installed, tmp_path):
    shared, inventory = installed
    config_dir = tmp_path / 'etc'
    job = json.loads((config_dir / 'db_health.json').read_text())['ANSIBLE_MODULE_ARGS']
    assert job['login_db'] == shared['twzrd_db_connection']['login_db'] and job['dead_rows_warning'] == 5000
    # the hourly db_alerts job: the daily job's options and state file (one alert history), its acute scope
    hourly = json.loads((config_dir / 'db_alerts.json').read_text())['ANSIBLE_MODULE_ARGS']
    assert hourly.pop('scope') == 'acute' and 'scope' not in job
    assert hourly.pop('log_file') == str(tmp_path / 'cron-db-alerts.log')
    assert dict(hourly, log_file=job['log_file']) == job
    restart = json.loads((config_dir / 'restart.json').read_text())['ANSIBLE_MODULE_ARGS']
    assert restart['health_checks'] == shared['twzrd_restart_health_checks'] and restart['pm2_user'] == 'root'

    recorded = tmp_path / 'invocations.jsonl'
    env = ansible_env(tmp_path, ANSIBLE_CALLBACKS_ENABLED='record_invocations', TWZRD_INVOCATIONS=str(recorded))
    for job_name, (module, name) in JOBS.items():
        proc = playbook(inventory, name, tmp_path, env=env)
        assert 'Traceback' not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        on_demand = [json.loads(line) for line in recorded.read_text().splitlines()]
        on_demand = [entry['module_args'] for entry in on_demand if entry['module'] == module]
        assert on_demand, (name, proc.stdout + proc.stderr)
        cron_module, cron_args = cron_invocation(config_dir / ('%s.json' % job_name), tmp_path)
        assert cron_module == module
        assert without_paths(on_demand[-1]) == without_paths(cron_args), job_name
        recorded.unlink()


def test_the_install_roles_old_names_still_work_and_warn_once(pm2_bin, tmp_path):
    """install_pm2, install_notify and shared options in install_JOB_args (what shipped before
    the shared names) give the same job files, with one deprecation warning each."""
    inventory = {'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                 'ansible_python_interpreter': sys.executable}},
                         'vars': {'install_config_dir': str(tmp_path / 'etc'),
                                  'install_state_dir': str(tmp_path / 'state'),
                                  'install_db_health_user': 'root', 'install_db_alerts_user': 'root', 'install_vacuum_user': 'root',
                                  'install_pm2': {'pm2_user': 'app', 'pm2_bin': pm2_bin},
                                  'install_notify': {'urls': ['json://127.0.0.1:9/hook']},
                                  'install_db_health_args': {'login_db': 'shop', 'ping_url': 'http://127.0.0.1:9/p',
                                                             'notify': {'min_level': 'critical'}}}}}
    path = tmp_path / 'old.yml'
    path.write_text(json.dumps(inventory))
    proc = playbook(path, 'tests/integration/playbooks/install_job_files.yml', tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    for old, new in (('install_pm2', 'twzrd_pm2_user'), ('install_notify', 'twzrd_notify'),
                     ('install_db_health_args.login_db', 'twzrd_db_connection.login_db')):
        warnings = [line for line in output.splitlines() if 'DEPRECATION' in line and old + ' ' in line]
        assert len(warnings) == 1 and new in warnings[0], (old, output)
    # Per-job notify and ping_url are per-job settings by design: no warning.
    assert 'install_db_health_args.notify' not in output and 'install_db_health_args.ping_url' not in output

    def args(job):
        return json.loads((tmp_path / 'etc' / ('%s.json' % job)).read_text())['ANSIBLE_MODULE_ARGS']
    assert args('alerts')['pm2_user'] == 'app' and args('restart')['pm2_bin'] == pm2_bin
    assert 'pm2_user' not in args('db_health')
    assert args('db_health')['login_db'] == 'shop'
    assert args('db_health')['notify'] == {'urls': ['json://127.0.0.1:9/hook'], 'min_level': 'critical'}
    assert args('vacuum')['notify'] == {'urls': ['json://127.0.0.1:9/hook']}


def test_unknown_option_in_a_shared_dictionary_names_it(tmp_path):
    """A typo would otherwise reach the cron job and fail at night (or be ignored by a playbook)."""
    inventory = {'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                 'ansible_python_interpreter': sys.executable}},
                         'vars': {'install_config_dir': str(tmp_path / 'etc'),
                                  'install_state_dir': str(tmp_path / 'state'),
                                  'twzrd_db_health_options': {'dead_row_warning': 10}}}}
    path = tmp_path / 'typo.yml'
    path.write_text(json.dumps(inventory))
    proc = playbook(path, 'tests/integration/playbooks/install_job_files.yml', tmp_path)
    assert proc.returncode != 0
    assert 'twzrd_db_health_options.dead_row_warning is not an option' in proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stdout + proc.stderr
