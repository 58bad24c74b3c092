"""twzrd_db_health's checks in the check registry (checks/postgres.py) and what is derived from them (issue 19).

The derived files' staleness is test_check_registry.test_generated_files_are_current (it compares every output
of scripts/generate.py, the db ones included); here a db entry change must make the db files stale, and each
db option must be settable where a person sets it (the module_args lookup) and documented once, in the fragment.
"""
import importlib.util
import os
import re

import pytest
import yaml

from ansible_collections.twzrd.ops.plugins.doc_fragments.db_health_checks import ModuleDocFragment
from ansible_collections.twzrd.ops.plugins.lookup import module_args
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate
from ansible_collections.twzrd.ops.plugins.modules import twzrd_db_health

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = registry.option_names(db_checks.CHECKS)


def generator():
    spec = importlib.util.spec_from_file_location('twzrd_generate', os.path.join(ROOT, 'scripts', 'generate.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_db_thresholds_are_all_registered():
    assert OPTIONS == ['connections_warning_pct', 'connections_critical_pct', 'transaction_age_warning',
                       'transaction_age_critical', 'idle_in_transaction_warning', 'growth_warning_pct_per_day',
                       'growth_warning_bytes_per_day', 'dead_rows_warning', 'top_tables', 'wraparound_warning',
                       'wraparound_critical', 'latency_warning_ms', 'latency_critical_ms', 'latency_samples',
                       'long_query_warning', 'long_query_critical', 'lock_wait_warning', 'lock_wait_critical',
                       'archive_ready_warning', 'slot_wal_warning', 'slot_wal_critical', 'replay_lag_warning',
                       'replay_lag_critical', 'sequence_warning_pct', 'sequence_critical_pct']


@pytest.mark.parametrize('change, stale', [
    (('WRAPAROUND', 'warning', 900000000), {'plugins/doc_fragments/db_health_checks.py', 'docs/db_health.md',
                                            'extras/prometheus/twzrd.rules.yml', 'tests/prometheus/db_checks.yml'}),
    (('DEAD_ROWS', 'bounds', (0, 10 ** 9)), {'plugins/doc_fragments/db_health_checks.py', 'docs/db_health.md'}),
    (('PRIMARY_KEYS', 'doc', 'changed'), {'docs/db_health.md'}),
])
def test_a_db_entry_change_makes_its_files_stale(monkeypatch, change, stale):
    gen = generator()
    assert not set(gen.stale()) & stale
    name, attribute, value = change
    monkeypatch.setattr(getattr(db_checks, name), attribute, value)
    assert set(gen.stale()) >= stale


def test_the_db_threshold_rules_are_generated():
    with open(os.path.join(ROOT, 'extras', 'prometheus', 'twzrd.rules.yml')) as handle:
        groups = dict((group['name'], group['rules']) for group in yaml.safe_load(handle)['groups'])
    alerts = set(rule['alert'] for rule in groups['twzrd.postgres'] if 'alert' in rule)  # not the recording rules
    assert alerts >= set(entry.rule.alert for entry in db_checks.CHECKS if entry.rule)
    assert set(entry.rule.alert for entry in db_checks.CHECKS if entry.rule) == {
        'TwzrdPostgresConnectionsHigh', 'TwzrdPostgresLongTransaction', 'TwzrdPostgresIdleInTransaction',
        'TwzrdPostgresDatabaseGrowth', 'TwzrdPostgresDeadRows', 'TwzrdPostgresWraparound', 'TwzrdPostgresLatencyHigh',
        'TwzrdPostgresLongQuery', 'TwzrdPostgresLockWait', 'TwzrdPostgresArchiveBehind',
        'TwzrdPostgresReplicationSlotWal', 'TwzrdPostgresSequenceNearMax'}


def test_a_new_db_option_makes_the_configuration_stale(monkeypatch):
    gen = generator()
    monkeypatch.setattr(db_checks.LATENCY, 'options', db_checks.LATENCY.options + (
        registry.Option('latency_spread', 'int', 'new'),))
    assert 'docs/configuration.md' in gen.stale()


@pytest.mark.parametrize('option', OPTIONS)
def test_every_db_option_can_be_set_from_the_inventory(option):
    """The lookup's twzrd_db_health_options keys (cron jobs and playbooks) hold every registry option."""
    assert module_args.shared_name('twzrd_db_health', option) == 'twzrd_db_health_options.' + option
    with open(os.path.join(ROOT, 'docs', 'configuration.md')) as handle:
        assert '`%s`' % option in handle.read()


def test_the_lookup_keeps_the_options_that_are_not_thresholds():
    # scope is the job's own (the role's db_alerts job fixes it), never a shared setting
    assert set(module_args.DB_HEALTH_OPTIONS) == set(twzrd_db_health.ARGUMENT_SPEC) - {'scope'} - set(
        twzrd_db_health.postgres_argument_spec()) - set(twzrd_db_health.report_argument_spec()) | {
            'statement_timeout', 'forecast_days', 'forecast_warning_days', 'forecast_critical_days'}


def test_module_spec_and_documentation_come_from_the_registry():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(documented) == set(OPTIONS)
    for name in OPTIONS:
        spec = twzrd_db_health.ARGUMENT_SPEC[name]
        assert spec == registry.argument_spec(db_checks.CHECKS)[name]
        assert documented[name]['type'] == spec['type'], name
        assert documented[name].get('default') == spec.get('default'), name
    module_doc = yaml.safe_load(twzrd_db_health.DOCUMENTATION)
    assert 'twzrd.ops.db_health_checks' in module_doc['extends_documentation_fragment']
    assert not set(OPTIONS) & set(module_doc['options'])  # documented once, in the fragment


def _params(**overrides):
    params = dict((name, spec.get('default')) for name, spec in twzrd_db_health.ARGUMENT_SPEC.items())
    params.update(overrides)
    return params


def test_bounds_and_pairs_come_from_the_entries(monkeypatch):
    assert twzrd_db_health.parameter_errors(_params()) == []
    errors = twzrd_db_health.parameter_errors(_params(connections_warning_pct=96.0, wraparound_critical=2 ** 31,
                                                      top_tables=0, dead_rows_warning=-1))
    assert 'connections_warning_pct (96.0) must be lower than connections_critical_pct (95.0)' in errors
    assert 'wraparound_critical must be <= 2147483647, got 2147483648' in errors
    assert 'top_tables must be >= 1, got 0' in errors
    assert 'dead_rows_warning must be >= 0, got -1' in errors
    monkeypatch.setattr(db_checks.LATENCY, 'bounds', (0, 100))
    assert twzrd_db_health.parameter_errors(_params(latency_warning_ms=200.0)) == [
        'latency_warning_ms must be <= 100, got 200.0']


def test_the_alerts_take_their_remediation_from_the_entries(monkeypatch):
    rows = [{'database': 'app', 'xid_age': 1200000000}]
    alerts, dummy = evaluate.evaluate_wraparound(rows, 1000000000, 1500000000)
    assert alerts[0]['remediation'] == db_checks.WRAPAROUND.remediation_text()
    assert alerts[0]['remediation'].endswith('(docs/runbooks.md#wraparound-approaches)')
    monkeypatch.setattr(db_checks.WRAPAROUND, 'remediation', 'Freeze it.')
    alerts, dummy = evaluate.evaluate_wraparound(rows, 1000000000, 1500000000)
    assert alerts[0]['remediation'] == 'Freeze it. (docs/runbooks.md#wraparound-approaches)'


def test_every_db_entry_names_an_existing_runbook_section():
    with open(os.path.join(ROOT, 'docs', 'runbooks.md')) as handle:
        headings = set(re.sub(r'[^\w\- ]', '', line.lstrip('#').strip().lower()).replace(' ', '-')
                       for line in handle if re.match(r'^#{2,3} ', line))
    for entry in db_checks.CHECKS:
        assert entry.anchor in headings, entry.name
        assert entry.doc and entry.todo and entry.remediation, entry.name
