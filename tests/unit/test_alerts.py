import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core import alerts


def test_classify_strictly_greater():
    assert alerts.classify(20, 20, 80) == ('ok', None)
    assert alerts.classify(20.1, 20, 80) == ('warning', 20)
    assert alerts.classify(80.5, 20, 80) == ('critical', 80)
    assert alerts.classify(None, 20, 80) == ('ok', None)


def test_classify_disabled_thresholds():
    assert alerts.classify(1000, None, None) == ('ok', None)
    assert alerts.classify(5, None, 4) == ('critical', 4)
    assert alerts.classify(5, 4, None) == ('warning', 4)


def test_make_alert_refuses_ok_level():
    with pytest.raises(ValueError):
        alerts.make_alert('swap', 'ok', 1, 2, 'm', 'r')


def test_build_result_orders_worst_first_and_sets_status():
    result = alerts.build_result([
        alerts.make_alert('swap', 'warning', 25, 20, 'm1', 'r1'),
        alerts.make_alert('disk', 'critical', 97, 95, 'm2', 'r2', subject='/'),
    ], {'x': 1}, mode='alerts')
    assert result['status'] == 'critical'
    assert [a['check'] for a in result['alerts']] == ['disk', 'swap']
    assert result['mode'] == 'alerts' and result['metrics'] == {'x': 1}
    assert alerts.build_result([], {})['status'] == 'ok'


def test_track_alerts_keeps_since_and_reports_recovery():
    first = [alerts.make_alert('swap', 'warning', 25, 20, 'm', 'r'),
             alerts.make_alert('pm2_crashes', 'warning', 2, 0, 'm', 'r', subject='api')]
    levels, recovered = alerts.track_alerts(first, {}, now=1000)
    assert recovered == [] and all(a['new'] for a in first)
    assert levels == {'swap': {'level': 'warning', 'since': 1000},
                      'pm2_crashes:api': {'level': 'warning', 'since': 1000}}

    second = [alerts.make_alert('swap', 'warning', 30, 20, 'm', 'r')]
    levels, recovered = alerts.track_alerts(second, levels, now=4600)
    assert second[0]['since'] == 1000 and second[0]['new'] is False
    assert recovered == ['pm2_crashes:api']

    escalated = [alerts.make_alert('swap', 'critical', 90, 80, 'm', 'r')]
    alerts.track_alerts(escalated, levels, now=8200)
    assert escalated[0]['new'] is True and escalated[0]['since'] == 8200
