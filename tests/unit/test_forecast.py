"""Forecast math on recorded series with exact expected dates (checks/forecast.py)."""
import calendar
import random

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast

GB = 10 ** 9
DAY = 86400
HOUR = 3600
NOW = calendar.timegm((2026, 12, 1, 0, 0, 0))


def hourly(days, used_now, per_day, now=NOW, noise=None):
    """Hourly samples over ``days`` up to and including ``now``, growing ``per_day``."""
    points = []
    for hours_back in range(days * 24, -1, -1):
        t = now - hours_back * HOUR
        value = used_now - per_day * hours_back / 24.0
        points.append((t, value + (noise(t) if noise else 0)))
    return points


def test_linear_growth_gives_the_exact_date():
    fc = forecast.forecast(hourly(7, 50 * GB, 1 * GB), 60 * GB, NOW)
    assert fc['rate_per_day'] == 1 * GB
    assert fc['days_left'] == 10.0
    assert fc['full_date'] == '2026-12-11' and fc['full_at'] == NOW + 10 * DAY
    assert fc['samples'] == 7 * 24 + 1 and fc['since'] == NOW - 7 * DAY


def test_only_the_window_counts():
    # fast growth long ago, 1 GB/day in the last 7 days
    old = [(NOW - (30 - d) * DAY, 10 * GB * d) for d in range(20)]
    fc = forecast.forecast(old + hourly(7, 50 * GB, 1 * GB), 60 * GB, NOW, window_days=7)
    assert fc['rate_per_day'] == 1 * GB and fc['full_date'] == '2026-12-11'


def test_noisy_growth_lands_within_a_day():
    rng = random.Random(7)
    points = hourly(7, 50 * GB, 1 * GB, noise=lambda t: rng.uniform(-0.3, 0.3) * GB)
    fc = forecast.forecast(points, 60 * GB, NOW)
    assert abs(fc['rate_per_day'] - GB) < 0.05 * GB
    assert 9.0 < fc['days_left'] < 11.0
    assert fc['full_date'] in ('2026-12-10', '2026-12-11', '2026-12-12')


@pytest.mark.parametrize('per_day', [0, -1 * GB])
def test_flat_or_shrinking_has_no_forecast(per_day):
    fc = forecast.forecast(hourly(7, 50 * GB, per_day), 60 * GB, NOW)
    assert fc == {'reason': 'not growing'}


def test_too_few_samples_or_too_short_a_span():
    few = hourly(7, 50 * GB, 1 * GB)[-10:]
    assert forecast.forecast(few, 60 * GB, NOW) == {'reason': 'too few samples (10, at least 24 needed)'}
    dense = [(NOW - i * 60, 50 * GB - i * 1000) for i in range(100)]  # 100 minutes of samples
    assert 'span' in forecast.forecast(dense, 60 * GB, NOW)['reason']


def test_a_cleanup_starts_the_series_again():
    before = hourly(6, 58 * GB, 1 * GB, now=NOW - 2 * DAY)         # heading for full, then...
    after = hourly(2, 44 * GB, 2 * GB)[1:]                           # ...20 GB deleted, 2 GB/day since
    fc = forecast.forecast(before + after, 60 * GB, NOW)
    assert fc['rate_per_day'] == 2 * GB
    assert fc['days_left'] == 8.0 and fc['full_date'] == '2026-12-09'
    assert fc['since'] == NOW - 2 * DAY + HOUR


def test_a_line_already_past_the_capacity_is_full_now():
    fc = forecast.forecast(hourly(7, 61 * GB, 1 * GB), 60 * GB, NOW)
    assert fc['days_left'] == 0.0 and fc['full_date'] == '2026-12-01'


def disk(used, free):
    return {'used_bytes': used, 'free_bytes': free, 'total_bytes': used + free}


def test_disk_alert_fires_escalates_and_clears_on_the_right_days():
    """A disk filling at 1 GB/day toward 60 GB: warning at 14 days left, critical at 3, gone after a cleanup."""
    start = NOW - 40 * DAY
    samples = []
    levels = {}
    for hour in range(0, 40 * 24 + 1):
        t = start + hour * HOUR
        day = hour // 24
        used = (30 + hour / 24.0) * GB if day < 29 else 20 * GB + (hour - 29 * 24) * 1000.0
        alerts, forecasts = forecast.disk_forecasts({'/': samples}, {'/': disk(used, 60 * GB - used)}, t, 7, 14, 3)
        samples.append((t, used))
        if hour % 24 == 0:
            levels[day] = alerts[0]['level'] if alerts else forecasts['/'].get('reason', 'ok')
    # used(d) = 30 + d GB: 14 days left at day 16, 3 days left at day 27; 10 GB deleted at day 29
    assert [levels[d] for d in (15, 16, 26, 27, 28)] == ['ok', 'warning', 'warning', 'critical', 'critical']
    assert levels[29].startswith('too few samples')        # the cleanup: the series starts again
    # slow growth again (24 kB/day): no alert; full in 4,000 years is no forecast (issue 17: no date past 9999)
    assert levels[35] == 'growing too slowly to be full within 100 years'


def test_disk_alert_carries_value_threshold_rate_date_and_remediation():
    alerts, forecasts = forecast.disk_forecasts({'/var': hourly(7, 58 * GB, 1 * GB)[:-1]},
                                                {'/var': disk(58 * GB, 2 * GB)}, NOW, 7, 14, 3)
    alert = alerts[0]
    assert alert['check'] == 'disk_forecast' and alert['subject'] == '/var' and alert['level'] == 'critical'
    assert alert['value'] == 2.0 and alert['threshold'] == 3
    assert alert['rate_bytes_per_day'] == GB and alert['full_date'] == '2026-12-03'
    assert 'on 2026-12-03' in alert['message'] and 'Act before 2026-12-03' in alert['remediation']
    assert 'du -xh --max-depth=2 /var' in alert['remediation']
    assert forecasts['/var']['free_bytes'] == 2 * GB


def test_db_forecast_against_the_volume_free_space():
    day = 24 * HOUR
    history = {'app': [[NOW - 3 * day, 1 * GB], [NOW - 2 * day, 2 * GB], [NOW - day, 3 * GB]]}
    alerts, forecasts = forecast.db_size_forecasts(history, {'app': 4 * GB}, {'path': '/pg', 'free_bytes': 10 * GB},
                                                   NOW, 7, 14, 3)
    assert forecasts['app']['rate_per_day'] == GB and forecasts['app']['full_date'] == '2026-12-11'
    assert alerts[0]['check'] == 'db_size_forecast' and alerts[0]['level'] == 'warning'
    assert alerts[0]['subject'] == 'app' and alerts[0]['value'] == 10.0 and alerts[0]['threshold'] == 14
    none, unknown = forecast.db_size_forecasts(history, {'app': 4 * GB}, None, NOW, 7, 14, 3)
    assert none == [] and 'unknown' in unknown['app']['reason']


@pytest.mark.parametrize('params, message', [
    ({'forecast_days': 0}, 'forecast_days must be between 1 and 90, got 0'),
    ({'forecast_warning_days': 3, 'forecast_critical_days': 5},
     'forecast_critical_days (5) must be lower than forecast_warning_days (3)'),
    ({'forecast_warning_days': -1}, 'forecast_warning_days must be between 0 and 3650, got -1'),
])
def test_parameter_errors_name_the_parameter(params, message):
    full = {'forecast_days': 7, 'forecast_warning_days': 14, 'forecast_critical_days': 3}
    full.update(params)
    assert message in forecast.forecast_parameter_errors(full)
