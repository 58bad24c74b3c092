"""Issue 10 item 4: the on-demand playbooks and the cron jobs the install role writes use
the same state files and logs, so neither loses the other's history.

The role's job table (roles/install/vars/main.yml) and the playbooks' defaults are rendered
with Jinja from the YAML files themselves, for the users the jobs run as.
"""
import os

import jinja2
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def to_bool(value):
    return value if isinstance(value, bool) else str(value).lower() in ('1', 'true', 'yes', 'on')


ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
ENV.filters['bool'] = to_bool


def render(text, variables):
    """Render until no template is left (values refer to other templated values)."""
    for _depth in range(10):
        if not isinstance(text, str) or '{{' not in text:
            return text
        text = ENV.from_string(text).render(**variables)
    raise AssertionError('template does not settle: %s' % text)


def role_job(job, overrides):
    variables = dict(load('roles', 'install', 'defaults', 'main.yml'))
    variables.update(load('roles', 'install', 'vars', 'main.yml'))
    variables.update(overrides)
    entry = next(item for item in variables['install_jobs'] if item['name'] == job)
    return {key: render(entry[key], variables) for key in ('user', 'log', 'state_file')}


def play(name):
    return load('playbooks', name + '.yml')[0]


def module_args(playbook, module):
    for task in playbook['tasks']:
        for block in [task] + task.get('block', []):
            if module in block:
                return block[module]
    raise AssertionError('%s not in the playbook' % module)


OMIT = '__omit__'


def module_default(option):
    """The documented default of a shared report option (plugins/doc_fragments/common.py)."""
    from ansible_collections.twzrd.ops.plugins.doc_fragments.common import ModuleDocFragment
    return yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options'][option]['default']


def playbook_value(name, module, option, extra):
    """What the playbook passes for ``option``; an omitted option is the module's default."""
    playbook = play(name)
    variables = dict(playbook.get('vars') or {}, omit=OMIT, **extra)
    value = render(module_args(playbook, module)[option], variables)
    return module_default(option) if value == OMIT else value


def test_restart_playbook_logs_and_keeps_state_where_the_cron_job_does():
    cron = role_job('restart', {})
    assert cron['log'] == '/var/log/twzrd-restart.log'
    assert playbook_value('restart', 'twzrd.ops.pm2_restart', 'log_file', {'ansible_check_mode': False}) == cron['log']
    assert playbook_value('restart', 'twzrd.ops.pm2_restart', 'state_file', {}) == cron['state_file']


@pytest.mark.parametrize('playbook, module, job', [
    ('db_health', 'twzrd.ops.twzrd_db_health', 'db_health'),
    ('vacuum', 'twzrd.ops.twzrd_vacuum', 'vacuum'),
])
@pytest.mark.parametrize('user', ['postgres', 'root'])
def test_db_playbooks_use_the_state_file_of_the_cron_job_of_their_user(playbook, module, job, user):
    cron = role_job(job, {'install_%s_user' % job: user})
    if user == 'postgres':
        assert cron['state_file'] == '/var/lib/twzrd/postgres/state.json'
    extra = {} if user == 'postgres' else {'twzrd_db_become_user': user}
    assert playbook_value(playbook, module, 'state_file', extra) == cron['state_file']


def test_a_state_dir_set_for_the_role_moves_the_playbooks_too():
    """One setting (install_state_dir in group_vars) drives both."""
    extra = {'install_state_dir': '/srv/twzrd'}
    cron = role_job('db_health', extra)
    assert cron['state_file'] == '/srv/twzrd/postgres/state.json'
    assert playbook_value('db_health', 'twzrd.ops.twzrd_db_health', 'state_file', extra) == cron['state_file']
    cron = role_job('restart', dict(extra, install_restart_log='/srv/log/restart.log'))
    assert playbook_value('restart', 'twzrd.ops.pm2_restart', 'log_file',
                          dict(extra, ansible_check_mode=False, install_restart_log='/srv/log/restart.log')) == cron['log']


def test_docs_name_the_shared_paths():
    with open(os.path.join(ROOT, 'docs', 'restart.md')) as handle:
        restart = handle.read()
    assert '/var/log/twzrd/' not in restart and '/var/log/twzrd-restart.log' in restart
