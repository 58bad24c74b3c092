"""Parameter validation and session settings of the db modules (no server)."""
from ansible_collections.twzrd.ops.plugins.modules import twzrd_db_health, twzrd_vacuum


def defaults(spec):
    return dict((name, option.get('default')) for name, option in spec.items())


def test_db_health_defaults_are_valid_and_bad_values_are_named():
    params = defaults(twzrd_db_health.ARGUMENT_SPEC)
    assert twzrd_db_health.parameter_errors(params) == []
    params.update(connections_warning_pct=96, dead_rows_warning=-1, statement_timeout=0, expected_migrations=3,
                  latency_samples=0, expected_tables=['ok', ' '])
    errors = twzrd_db_health.parameter_errors(params)
    text = '; '.join(errors)
    for name in ('connections_warning_pct', 'dead_rows_warning', 'statement_timeout', 'migrations_table',
                 'latency_samples', 'expected_tables'):
        assert name in text, (name, errors)


def test_vacuum_defaults_are_valid_and_bad_values_are_named():
    params = defaults(twzrd_vacuum.ARGUMENT_SPEC)
    assert twzrd_vacuum.parameter_errors(params) == []
    params.update(min_dead_rows=0, lock_timeout=0, max_duration=-1, vacuum_cost_limit=20000)
    text = '; '.join(twzrd_vacuum.parameter_errors(params))
    for name in ('min_dead_rows', 'lock_timeout', 'max_duration', 'vacuum_cost_limit'):
        assert name in text


def test_vacuum_session_settings():
    params = defaults(twzrd_vacuum.ARGUMENT_SPEC)
    assert twzrd_vacuum.session_settings(params) == [('lock_timeout', '5000ms'), ('statement_timeout', '0ms')]
    params.update(table_timeout=0.0001, vacuum_cost_delay=2.5, vacuum_cost_limit=500, lock_timeout=0.25)
    assert twzrd_vacuum.session_settings(params) == [
        ('lock_timeout', '250ms'), ('statement_timeout', '1ms'), ('vacuum_cost_delay', '2.5ms'),
        ('vacuum_cost_limit', '500')]
