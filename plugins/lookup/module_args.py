# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared configuration (docs/configuration.md) as one module's options."""

from __future__ import annotations

DOCUMENTATION = r"""
name: module_args
author:
  - twzrd.ops maintainers (@twzrd)
version_added: 0.2.0
short_description: The options a module gets from the shared twzrd_* configuration
description:
  - Builds the options of one twzrd.ops module from the shared variables a person writes once in
    group_vars or host_vars (C(docs/configuration.md)), the names the on-demand playbooks read.
  - The install role writes the result into each cron job's argument file, so cron and the playbooks
    get the same options from the same variables.
  - Unset variables are left out (the module default applies). C(twzrd_notify) without C(urls) is left out.
  - Unknown keys in C(twzrd_db_connection), C(twzrd_db_health_options) or C(twzrd_vacuum_options) are an error
    that names the variable and the key.
  - The install role's older names still work and warn once per run (deprecated, removed in 1.0.0),
    C(install_pm2) (use C(twzrd_pm2_user), C(twzrd_pm2_home), C(twzrd_pm2_bin)), C(install_notify)
    (use C(twzrd_notify)), and an option with a shared name set in a job's C(install_JOB_args)
    (for example C(install_db_health_args.login_db); use C(twzrd_db_connection.login_db)).
options:
  _terms:
    description: The module, one of V(twzrd_health), V(twzrd_db_health), V(twzrd_vacuum), V(pm2_restart).
    required: true
  job_args:
    description:
      - Name of a variable holding one cron job's own options (the install role's C(install_JOB_args)),
        merged over the shared ones key by key.
    type: str
"""

EXAMPLES = r"""
- name: The options the alerts cron job gets
  ansible.builtin.debug:
    msg: "{{ lookup('twzrd.ops.module_args', 'twzrd_health', job_args='install_alerts_args') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary of module options.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.twzrd.ops.plugins.module_utils.checks import host as host_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry

display = Display()

REMOVED_IN = '1.0.0'
COLLECTION = 'twzrd.ops'
DOC = 'docs/configuration.md'

PM2_OPTIONS = ('pm2_user', 'pm2_home', 'pm2_bin')
REPORT_OPTIONS = ('notify', 'accept', 'notify_on_demand')
CONNECTION_OPTIONS = ('login_user', 'login_password', 'login_host', 'login_unix_socket', 'login_port', 'login_db',
                      'ssl_mode', 'ca_cert', 'connect_params')
# The thresholds of twzrd_db_health's registry entries (connections_warning_pct, top_tables, ...), then the rest.
DB_HEALTH_OPTIONS = ('statement_timeout',) + tuple(registry.option_names(db_checks.CHECKS)) + (
    'migrations_table', 'expected_migrations', 'expected_tables', 'data_volume', 'forecast_days',
    'forecast_warning_days', 'forecast_critical_days')
VACUUM_OPTIONS = ('statement_timeout', 'tables', 'all_tables', 'min_dead_rows', 'autovacuum_trigger', 'full', 'analyze',
                  'max_duration', 'lock_timeout', 'table_timeout', 'vacuum_cost_delay', 'vacuum_cost_limit')
# The thresholds of the check registry's entries (swap_warning, disk_paths, ...), then the rest.
HEALTH_OPTIONS = tuple(registry.option_names(host_checks.CHECKS)) + (
    'pm2_expected_apps', 'report_days', 'log_paths', 'error_patterns', 'log_errors_warning', 'report_keep',
    'log_errors_per_day_warning', 'log_errors_per_day_critical', 'report_crash_restarts_warning',
    'report_crash_restarts_critical',
    'forecast_days', 'forecast_warning_days', 'forecast_critical_days') + PM2_OPTIONS
RESTART_OPTIONS = {'apps': 'twzrd_restart_apps', 'strategy': 'twzrd_restart_strategy',
                   'health_checks': 'twzrd_restart_health_checks', 'online_timeout': 'twzrd_restart_online_timeout',
                   'settle_seconds': 'twzrd_restart_settle_seconds'}

# module -> {module option: the variable that sets it}
SCALARS = {
    'twzrd_health': {name: 'twzrd_' + name for name in HEALTH_OPTIONS + REPORT_OPTIONS},
    'twzrd_db_health': {name: 'twzrd_' + name for name in REPORT_OPTIONS},
    'twzrd_vacuum': {name: 'twzrd_' + name for name in REPORT_OPTIONS},
    'pm2_restart': dict(RESTART_OPTIONS, **{name: 'twzrd_' + name for name in PM2_OPTIONS + REPORT_OPTIONS}),
}
# module -> [(dictionary variable whose keys are module options, the keys it may hold)]
DICTS = {
    'twzrd_db_health': [('twzrd_db_connection', CONNECTION_OPTIONS), ('twzrd_db_health_options', DB_HEALTH_OPTIONS)],
    'twzrd_vacuum': [('twzrd_db_connection', CONNECTION_OPTIONS), ('twzrd_vacuum_options', VACUUM_OPTIONS)],
}
# Per-job settings by design, never a shared name's stand-in.
JOB_ONLY = ('notify', 'ping_url')


def shared_name(module, option):
    """The variable (or variable.key) a person sets for this module option, or None."""
    if option in SCALARS[module]:
        return SCALARS[module][option]
    for variable, keys in DICTS.get(module, []):
        if option in keys:
            return '%s.%s' % (variable, option)
    return None


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        self._variables = variables or {}
        return [self._module_args(term, self.get_option('job_args')) for term in terms]

    def _value(self, name):
        """The templated value of a variable, None when it is unset or null."""
        if name not in self._variables:
            return None
        return self._templar.template(self._variables[name])

    def _module_args(self, module, job_args_name):
        if module not in SCALARS:
            raise AnsibleError('twzrd.ops.module_args: unknown module %r, expected one of %s'
                               % (module, ', '.join(sorted(SCALARS))))
        args = self._legacy_args(module)
        for option, variable in SCALARS[module].items():
            value = self._value(variable)
            if value is not None:
                args[option] = value
        for variable, keys in DICTS.get(module, []):
            args.update(self._dict_options(variable, keys, module))
        # A notify without URLs sends nothing; leaving it out keeps the job files free of it.
        if not (args.get('notify') or {}).get('urls'):
            args.pop('notify', None)
        if job_args_name:
            args = merge_hash(args, self._job_args(module, job_args_name), recursive=True)
        return args

    def _dict_options(self, variable, keys, module):
        value = self._value(variable)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise AnsibleError('%s must be a dictionary of %s options, got %s' % (variable, module, type(value).__name__))
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise AnsibleError('%s.%s is not an option %s takes from it (known: %s; see %s)'
                               % (variable, unknown[0], module, ', '.join(keys), DOC))
        return {key: item for key, item in value.items() if item is not None}

    def _legacy_args(self, module):
        """install_pm2 and install_notify, the install role's names before the shared ones."""
        args = {}
        if module in ('twzrd_health', 'pm2_restart'):
            pm2 = self._value('install_pm2') or {}
            if pm2:
                deprecate('install_pm2 is deprecated: set twzrd_pm2_user, twzrd_pm2_home and twzrd_pm2_bin, which the'
                          ' on-demand playbooks read too (%s)' % DOC)
            args.update(pm2)
        notify = self._value('install_notify') or {}
        if notify:
            deprecate('install_notify is deprecated: set twzrd_notify, which the on-demand playbooks read too (%s)' % DOC)
            args['notify'] = notify
        return args

    def _job_args(self, module, name):
        job_args = self._value(name) or {}
        if not isinstance(job_args, dict):
            raise AnsibleError('%s must be a dictionary of %s options, got %s' % (name, module, type(job_args).__name__))
        for option in sorted(job_args):
            shared = shared_name(module, option)
            if shared and option not in JOB_ONLY:
                deprecate('%s.%s sets the cron job only and is deprecated there: set %s instead, which the on-demand'
                          ' playbooks read too (%s)' % (name, option, shared, DOC))
        return job_args


def deprecate(msg):
    display.deprecated(to_native(msg), version=REMOVED_IN, collection_name=COLLECTION)
