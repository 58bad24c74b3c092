"""The shared configuration has one table (plugins/lookup/module_args.py) that the install role uses;
the on-demand playbooks spell the same mapping out task by task. These must not drift: an option a
playbook reads from a twzrd_* variable is in the table under that variable, and the other way round,
and every option the table gives a module is one the module takes."""
import os
import re

import yaml

from ansible_collections.twzrd.ops.plugins.lookup import module_args
from ansible_collections.twzrd.ops.plugins.modules import twzrd_db_health, twzrd_health, twzrd_vacuum

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where each module runs on demand, and the names the play gives the shared dictionaries.
ON_DEMAND = {
    'twzrd_health': ('roles/health_check/tasks/main.yml', {}),
    'twzrd_db_health': ('playbooks/db_health.yml', {'twzrd_conn': 'twzrd_db_connection',
                                                    'twzrd_opts': 'twzrd_db_health_options'}),
    'twzrd_vacuum': ('playbooks/vacuum.yml', {'twzrd_conn': 'twzrd_db_connection', 'twzrd_opts': 'twzrd_vacuum_options'}),
    'pm2_restart': ('playbooks/restart.yml', {}),
}
# Set by each way of running on its own: paths and the mode (the install role's job table fixes it).
NOT_SHARED = {'state_file', 'log_file', 'mode', 'report_dir'}
READS = re.compile(r"^\{\{ (twzrd_\w+(?:\.\w+)?) \| default\(omit\) \}\}$")


def module_tasks(node, module):
    """Every task in a play/task tree that calls twzrd.ops.<module>."""
    if isinstance(node, list):
        for item in node:
            yield from module_tasks(item, module)
    elif isinstance(node, dict):
        if 'twzrd.ops.' + module in node:
            yield node['twzrd.ops.' + module]
        for key in ('tasks', 'block', 'rescue', 'always'):
            yield from module_tasks(node.get(key), module)


def on_demand_mapping(module):
    path, aliases = ON_DEMAND[module]
    with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
        tasks = list(module_tasks(yaml.safe_load(handle), module))
    assert len(tasks) == 1, (path, module)
    mapping = {}
    for option, value in tasks[0].items():
        match = READS.match(str(value))
        if option in NOT_SHARED or not match:
            continue
        variable, key = (match.group(1).split('.') + [''])[:2]
        mapping[option] = '%s.%s' % (aliases.get(variable, variable), key) if key else variable
    return mapping


def table_mapping(module):
    options = set(module_args.SCALARS[module])
    for _variable, keys in module_args.DICTS.get(module, []):
        options.update(keys)
    return {option: module_args.shared_name(module, option) for option in options}


def test_playbooks_and_the_install_role_read_the_same_variables():
    for module in ON_DEMAND:
        assert on_demand_mapping(module) == table_mapping(module), module


def test_the_table_gives_modules_only_options_they_take():
    specs = {'twzrd_health': twzrd_health.ARGUMENT_SPEC, 'twzrd_db_health': twzrd_db_health.ARGUMENT_SPEC,
             'twzrd_vacuum': twzrd_vacuum.ARGUMENT_SPEC}
    for module, spec in specs.items():
        assert set(table_mapping(module)) - set(spec) == set(), module


def test_job_options_and_old_names_are_recognised():
    assert module_args.shared_name('twzrd_db_health', 'login_db') == 'twzrd_db_connection.login_db'
    assert module_args.shared_name('twzrd_vacuum', 'max_duration') == 'twzrd_vacuum_options.max_duration'
    assert module_args.shared_name('pm2_restart', 'health_checks') == 'twzrd_restart_health_checks'
    assert module_args.shared_name('twzrd_health', 'pm2_user') == 'twzrd_pm2_user'
    assert module_args.shared_name('twzrd_health', 'ping_url') is None
