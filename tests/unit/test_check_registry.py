"""The check registry (plugins/module_utils/checks/) and everything derived from it (issue 19 item 1).

The derived files are compared with what scripts/generate.py writes now: a registry change without
`make generate` fails here. Then each registry option is followed to where a person sets it (the
inventory variable in the module_args lookup, the health_check role's task line and argument spec),
parsed from those files, not from the generator: leaving one out fails here too.
"""
import importlib.util
import os
import re

import pytest
import yaml

from ansible_collections.twzrd.ops.plugins.doc_fragments.health_checks import ModuleDocFragment
from ansible_collections.twzrd.ops.plugins.lookup import module_args
from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING, alert_key
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry
from ansible_collections.twzrd.ops.plugins.modules import twzrd_health

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = registry.option_names(host.CHECKS)


def generator():
    spec = importlib.util.spec_from_file_location('twzrd_generate', os.path.join(ROOT, 'scripts', 'generate.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current():
    stale = generator().stale()
    assert not stale, 'stale (run `make generate`): %s' % ', '.join(stale)


def test_a_registry_change_makes_the_files_stale(monkeypatch):
    gen = generator()
    monkeypatch.setattr(host.SWAP, 'warning', 21)
    assert set(gen.stale()) >= {'plugins/doc_fragments/health_checks.py', 'extras/prometheus/twzrd.rules.yml',
                                'tests/prometheus/checks.yml', 'docs/alerts.md', 'docs/quick-reference.md',
                                'roles/health_check/meta/argument_specs.yml'}


def test_generated_files_say_so():
    for path, (kind, dummy) in generator().outputs().items():
        with open(os.path.join(ROOT, path)) as handle:
            assert 'generated from the check registry' in handle.read(), path


@pytest.mark.parametrize('option', OPTIONS)
def test_every_registry_option_can_be_set_from_the_inventory(option):
    """The issue's complaint: an option the lookup or the role forgot silently cannot be set."""
    assert module_args.SCALARS['twzrd_health'].get(option) == 'twzrd_' + option  # cron jobs (install role)
    with open(os.path.join(ROOT, 'roles', 'health_check', 'tasks', 'main.yml')) as handle:
        task = yaml.safe_load(handle)[0]['twzrd.ops.twzrd_health']
    assert task.get(option) == '{{ twzrd_%s | default(omit) }}' % option  # the playbooks
    with open(os.path.join(ROOT, 'roles', 'health_check', 'meta', 'argument_specs.yml')) as handle:
        role_options = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert role_options['twzrd_' + option]['type'] == twzrd_health.ARGUMENT_SPEC[option]['type']


def test_module_spec_and_documentation_come_from_the_registry():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(documented) == set(OPTIONS)
    for name in OPTIONS:
        spec = twzrd_health.ARGUMENT_SPEC[name]
        assert documented[name]['type'] == spec['type'], name
        assert documented[name].get('default') == spec.get('default'), name
    module_doc = yaml.safe_load(twzrd_health.DOCUMENTATION)
    assert 'twzrd.ops.health_checks' in module_doc['extends_documentation_fragment']
    assert not set(OPTIONS) & set(module_doc['options'])  # documented once, in the fragment


def _params(**overrides):
    params = dict((name, spec.get('default')) for name, spec in twzrd_health.ARGUMENT_SPEC.items())
    params.update(overrides)
    return params


def test_bounds_and_pairs_are_checked_from_the_entries():
    assert twzrd_health.parameter_errors(_params()) == []
    errors = twzrd_health.parameter_errors(_params(swap_warning=90.0, disk_critical=101.0, load_warning=20000.0))
    assert 'swap_warning (90.0) must be lower than swap_critical (80)' in errors
    assert 'disk_critical must be <= 100, got 101.0' in errors
    assert 'load_warning must be <= 10000, got 20000.0' in errors


def test_evaluate_returns_alerts_and_readings_in_one_pass():
    metrics = {'swap': {'present': True, 'used_percent': 25.0, 'used_bytes': 1 << 30, 'total_bytes': 4 << 30},
               'load': {'load1': 0.5, 'cpu_count': 2},
               'disks': {'/': {'used_percent': 96.0, 'free_bytes': 1 << 30},
                         '/data': {'used_percent': 10.0, 'free_bytes': 9 << 30},
                         '/gone': {'error': 'No such file or directory'}},
               'pm2': {'apps': {}}, 'disk_forecast': {'/': {'days_left': 9.5}, '/data': {'reason': 'flat'}}}
    alerts, readings = registry.evaluate(host.CHECKS, metrics, _params())
    assert sorted((alert_key(a), a['level']) for a in alerts) == [
        ('disk:/', CRITICAL), ('disk:/gone', WARNING), ('swap', WARNING)]
    assert readings == {
        'swap': {'value': 25.0, 'warning': 20, 'critical': 80},
        'load': {'value': 0.5, 'warning': 8, 'critical': 12},
        'disk:/': {'value': 96.0, 'warning': 85, 'critical': 95},
        'disk:/data': {'value': 10.0, 'warning': 85, 'critical': 95},
        'disk_forecast:/': {'value': 9.5, 'warning': 14, 'critical': 3},
    }


def test_readings_keep_the_hysteresis_of_the_report_stage():
    """A disk told at 86 % (warning 85) that is at 80 % now is held (margin 10 % of 85), at 76 % it recovered."""
    policy = alerting.Policy()
    disk = {'/': {'used_percent': 86.0, 'free_bytes': 1 << 30}}
    alerts, readings = registry.evaluate([host.DISK], {'disks': disk}, _params())
    state, events, dummy = alerting.transition({}, alerts, 0, policy, readings=readings)
    for value, recovered in ((80.0, False), (76.0, True)):
        alerts, readings = registry.evaluate([host.DISK], {'disks': {'/': dict(disk['/'], used_percent=value)}},
                                             _params())
        assert alerts == []
        dummy, events, gone = alerting.transition(state, alerts, 3600, policy, readings=readings)
        assert (gone == ['disk:/']) is recovered, (value, gone)


def test_lower_is_worse_and_disabled_thresholds():
    assert registry.classify(2.0, 14, 3, registry.LOWER) == (CRITICAL, 3)
    assert registry.classify(10.0, 14, 3, registry.LOWER) == (WARNING, 14)
    assert registry.classify(14.0, 14, 3, registry.LOWER) == ('ok', None)
    assert registry.classify(5, 0, None) == (WARNING, 0)


def test_a_probe_with_an_error_per_subject_fits():
    """What an HTTP or PostgreSQL probe returns: unreachable is critical, slow is a warning."""
    probe = registry.Check(
        'probe', doc='', todo='', anchor='a-job-failed', remediation='Look at {subject}.', reads='probes', per='name',
        field='latency_ms', option='probe_latency', option_type='int', warning=500, critical=None,
        bounds=(1, 60000), option_doc=('slow', 'slower'), unit='ms',
        message='{subject} answered in {value} ms, above the {level} threshold of {threshold} ms',
        error_message='{subject} does not answer: {error}', error_remediation='Start {subject}.',
        error_anchor='a-job-failed', error_level=CRITICAL)
    metrics = {'probes': {'api': {'latency_ms': 900, 'error': None}, 'db': {'error': 'connection refused'},
                          'web': {'latency_ms': 20, 'error': None}}}
    alerts, readings = registry.evaluate([probe], metrics, {'probe_latency_warning': 500})
    assert [(a['subject'], a['level']) for a in alerts] == [('api', WARNING), ('db', CRITICAL)]
    assert alerts[1]['message'] == 'db does not answer: connection refused'
    assert alerts[1]['remediation'] == 'Start db. (docs/runbooks.md#a-job-failed)'
    assert set(readings) == {'probe:api', 'probe:web'}
    assert registry.argument_spec([probe]) == {'probe_latency_warning': {'type': 'int', 'default': 500},
                                               'probe_latency_critical': {'type': 'int'}}
    # per-subject thresholds (an HTTP check's own latency_warning_ms), no module-wide option
    probe.subject_thresholds, probe.option = True, None
    metrics['probes']['web']['warning'] = 10
    alerts, readings = registry.evaluate([probe], metrics, {})
    assert [(a['subject'], a['level'], a['threshold']) for a in alerts] == [('db', CRITICAL, None), ('web', WARNING, 10)]
    assert readings == {'probe:api': {'value': 900, 'warning': None, 'critical': None},
                        'probe:web': {'value': 20, 'warning': 10, 'critical': None}}


def test_every_entry_names_an_existing_runbook_section():
    with open(os.path.join(ROOT, 'docs', 'runbooks.md')) as handle:
        headings = set(re.sub(r'[^\w\- ]', '', line.lstrip('#').strip().lower()).replace(' ', '-')
                       for line in handle if re.match(r'^#{2,3} ', line))
    for entry in host.CHECKS:
        assert entry.anchor in headings, entry.name
        assert entry.error_anchor is None or entry.error_anchor in headings, entry.name
        assert entry.doc and entry.todo, entry.name


QUIET_IMPORTS = '''
import sys, time
from ansible_collections.twzrd.ops.plugins.modules import twzrd_health
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry
params = dict((name, spec.get('default')) for name, spec in twzrd_health.ARGUMENT_SPEC.items())
params.update(%s)
metrics, states = registry.collect(registry.for_mode(host.CHECKS, 'alerts'), params, {}, time.time())
print(sorted(key for key in ('http', 'postgres') if key in metrics))
print(sorted(name for name in ('ssl', 'http.client', 'urllib.request') if name in sys.modules))
'''


@pytest.mark.parametrize('params, probed', [
    ({}, '[]'),  # not configured: no probe, no import
    ({'http_checks': {'web': 'http://127.0.0.1:1/health'}, 'postgres_ping': {'login_port': 1, 'timeout': 0.2},
      'probe_budget': 1}, "['http', 'postgres']"),
])
def test_the_network_checks_cost_a_quiet_run_no_http_library(params, probed):
    """urllib.request pulls in http.client, email and ssl: only an https:// check may load them."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    out = subprocess.run([sys.executable, '-c', QUIET_IMPORTS % repr(params)], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.build', 'collections')),
                         ).stdout.splitlines()
    assert out == [probed, '[]']


def test_network_check_secrets_and_shared_collection():
    raw = {'web': 'http://ops:S3cret@127.0.0.1/health'}
    assert 'S3cret' in registry.secrets(host.CHECKS, {'http_checks': raw})
    calls = []

    def collector(params, state, now):
        calls.append(1)
        return {'http': {'web': {'up': 1}}}, None
    entries = [registry.Check('a', '', '', 'x', '', reads='http', collect=collector, collect_shared=True),
               registry.Check('b', '', '', 'x', '', reads='postgres', collect=collector, collect_shared=True)]
    metrics, dummy = registry.collect(entries, {}, {}, 0)
    assert calls == [1] and metrics == {'http': {'web': {'up': 1}}}  # one round; postgres not configured
