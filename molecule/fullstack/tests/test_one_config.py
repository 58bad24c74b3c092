"""One configuration drives cron and the playbooks (docs/configuration.md): the on-demand
db_health playbook, run from the controller against this container with molecule's own inventory
(the scenario's group_vars, shared twzrd_* names only), gives the module the options the cron
job's /etc/twzrd/db_health.json holds, and runs it with the runtime the role installed."""
import json
import os
import subprocess
import sys
import tempfile

PROJECT = os.environ['MOLECULE_PROJECT_DIRECTORY']
# Set by each way of running on its own (paths, the Prometheus export directory of the cron jobs);
# notify's URLs come back masked (no_log) from the module.
NOT_COMPARED = ('log_file', 'state_file', 'textfile_dir', 'report_dir', 'notify')


def test_db_health_playbook_gets_the_cron_jobs_options(host):
    job = json.loads(host.file('/etc/twzrd/db_health.json').content_string)['ANSIBLE_MODULE_ARGS']
    assert job['login_db'] == 'shop'
    with tempfile.TemporaryDirectory() as work:
        recorded = os.path.join(work, 'invocations.jsonl')
        env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=os.path.join(PROJECT, 'tests', 'integration', 'callbacks'),
                   ANSIBLE_CALLBACKS_ENABLED='record_invocations', TWZRD_INVOCATIONS=recorded, ANSIBLE_NOCOLOR='1')
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', os.environ['MOLECULE_INVENTORY_FILE'],
             os.path.join(PROJECT, 'playbooks', 'db_health.yml'), '-e', 'twzrd_state_file=' + job['state_file']],
            capture_output=True, text=True, env=env, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with open(recorded, encoding='utf-8') as handle:
            calls = [json.loads(line) for line in handle if '"twzrd_db_health"' in line]
    assert len(calls) == 1, calls
    assert calls[0]['python'] == '/opt/twzrd/venv/bin/python'
    on_demand = calls[0]['module_args']
    for option, value in job.items():
        # _ansible_* keys are Ansible's own settings in the job file (no_target_syslog), not module options.
        if option not in NOT_COMPARED and not option.startswith('_ansible_'):
            assert on_demand[option] == value, option
    assert on_demand['notify']['min_level'] == job['notify'].get('min_level', 'warning')
