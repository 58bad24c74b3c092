# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity forecasts: when is the disk (or the database's volume) full? Pure: no I/O.

The idea is Prometheus' ``predict_linear``: a least-squares line through
the samples of the last N days, extended until it reaches the capacity.
No forecast (and so no alert) from too few samples, too short a span, or a
series that is flat or shrinking.  A cleanup (a drop of more than
``DROP_SHARE`` of the capacity between two samples) starts the series
again after it: the growth before the cleanup says nothing about now.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes

DAY = 86400.0
DROP_SHARE = 0.01          # a fall of 1 % of the capacity between two samples is a cleanup
DEFAULT_WARNING_DAYS = 14
DEFAULT_CRITICAL_DAYS = 3
DEFAULT_WINDOW_DAYS = 7
DISK_MIN_SAMPLES, DISK_MIN_SPAN_DAYS = 24, 1.0    # hourly samples
DB_MIN_SAMPLES, DB_MIN_SPAN_DAYS = 3, 2.0         # daily samples
# Beyond a century a "full date" means nothing, and a nearly flat series gives years past 9999 that
# gmtime cannot take and the state file refuses (state_schema.EPOCH): no forecast then.
MAX_FORECAST_DAYS = 36500

REMEDIATION = {
    'disk_forecast': runbook('Act before DATE. Find what grows: `du -xh --max-depth=2 MOUNT | sort -h | tail`; rotate or '
                             'delete old logs (`pm2 flush`, `journalctl --vacuum-size=200M`), add retention to what '
                             'keeps growing, or grow the volume. A one-off copy that will not repeat makes the forecast '
                             'pessimistic; it corrects itself as new hourly samples come in.', 'disk-full'),
    'db_size_forecast': runbook('Act before DATE. Find the growing tables (twzrd_db_health metrics.tables.largest, '
                                '`pg_total_relation_size`); vacuum bloated ones (the twzrd.ops vacuum playbook); add '
                                'retention or archiving to log-like tables; or grow the volume that holds the data '
                                'directory.', 'a-database-grows-fast'),
}


def iso_date(epoch):
    return time.strftime('%Y-%m-%d', time.gmtime(epoch))


def least_squares(points):
    """``(slope, intercept)`` of the line that fits ``[(x, y), ...]`` best; None when x does not vary."""
    count = float(len(points))
    mean_x = sum(p[0] for p in points) / count
    mean_y = sum(p[1] for p in points) / count
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    if sxx == 0:
        return None
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
    return slope, mean_y - slope * mean_x


def since_last_drop(points, drop):
    """The points after the last fall larger than ``drop`` (all of them when there was none)."""
    start = 0
    for index in range(1, len(points)):
        if points[index - 1][1] - points[index][1] > drop:
            start = index
    return points[start:]


def forecast(points, capacity, now, window_days=DEFAULT_WINDOW_DAYS, min_samples=DISK_MIN_SAMPLES,
             min_span_days=DISK_MIN_SPAN_DAYS):
    """When ``[(epoch, used), ...]`` reaches ``capacity`` at the least-squares rate of the last ``window_days``.

    Returns ``{'rate_per_day', 'days_left', 'full_at', 'full_date', 'samples', 'since', 'capacity'}``,
    or ``{'reason': ...}`` when there is no forecast.
    """
    recent = sorted(p for p in points if p[0] >= now - window_days * DAY and p[0] <= now)
    recent = since_last_drop(recent, capacity * DROP_SHARE)
    if len(recent) < min_samples:
        return {'reason': 'too few samples (%d, at least %d needed)' % (len(recent), min_samples)}
    span = (recent[-1][0] - recent[0][0]) / DAY
    if span < min_span_days:
        return {'reason': 'samples span %.1f days, at least %s needed' % (span, min_span_days)}
    # x in days from now keeps the numbers small (epochs squared lose precision).
    fit = least_squares([((t - now) / DAY, float(y)) for t, y in recent])
    if fit is None or fit[0] <= 0:
        return {'reason': 'not growing'}
    slope, level_now = fit
    days_left = max(0.0, (capacity - level_now) / slope)
    if days_left > MAX_FORECAST_DAYS:
        return {'reason': 'growing too slowly to be full within %d years' % (MAX_FORECAST_DAYS // 365)}
    full_at = now + days_left * DAY
    return {'rate_per_day': int(round(slope)), 'days_left': round(days_left, 2), 'full_at': int(full_at),
            'full_date': iso_date(full_at), 'samples': len(recent), 'since': int(recent[0][0]),
            'capacity': int(capacity)}


def forecast_level(days_left, warning_days, critical_days):
    """``(level, threshold)`` for days left; None when far enough away."""
    if critical_days is not None and days_left <= critical_days:
        return CRITICAL, critical_days
    if warning_days is not None and days_left <= warning_days:
        return WARNING, warning_days
    return None, None


def forecast_text(fc):
    """``full on 2026-12-10 (9.5 days) at +1.2 GB/day`` or why there is no forecast."""
    if not fc:
        return 'no forecast'
    if 'days_left' not in fc:
        return 'no forecast: %s' % fc.get('reason', 'unknown')
    return 'full on %s (%.1f days) at +%s/day' % (fc['full_date'], fc['days_left'], human_bytes(fc['rate_per_day']))


def forecast_alert(check, subject, what, place, fc, warning_days, critical_days):
    """The alert for one forecast, or None. ``what``: "disk /"; ``place``: the mount in the remediation."""
    if 'days_left' not in fc:
        return None
    level, threshold = forecast_level(fc['days_left'], warning_days, critical_days)
    if level is None:
        return None
    alert = make_alert(
        check, level, round(fc['days_left'], 1), threshold,
        '%s will be full in %.1f days (on %s) at +%s/day (least squares over %d samples since %s); '
        '%s free now; the %s horizon is %s days' % (
            what, fc['days_left'], fc['full_date'], human_bytes(fc['rate_per_day']), fc['samples'], iso_date(fc['since']),
            human_bytes(fc.get('free_bytes', 0)), level, threshold),
        REMEDIATION[check].replace('DATE', fc['full_date']).replace('MOUNT', place), subject=subject)
    alert['rate_bytes_per_day'] = fc['rate_per_day']
    alert['full_date'] = fc['full_date']
    return alert


def _points_with_now(points, now, used_now):
    """Past samples plus the value measured now (the newest point of the line)."""
    return [p for p in points if int(p[0]) < int(now)] + [(now, used_now)]


def disk_forecasts(disk_series, disks, now, window_days, warning_days, critical_days):
    """Per disk path: ``(alerts, forecasts)``. ``disk_series`` maps a path to its ``[(t, used_bytes)]``."""
    alerts, forecasts = [], {}
    for path in sorted(disks):
        disk = disks[path]
        if 'used_bytes' not in disk:
            continue
        capacity = disk['used_bytes'] + disk['free_bytes']  # what is usable: root's reserved blocks excluded
        fc = forecast(_points_with_now(disk_series.get(path) or [], now, disk['used_bytes']), capacity, now,
                      window_days, DISK_MIN_SAMPLES, DISK_MIN_SPAN_DAYS)
        fc['free_bytes'] = disk['free_bytes']
        forecasts[path] = fc
        alert = forecast_alert('disk_forecast', path, 'disk %s' % path, path, fc, warning_days, critical_days)
        if alert:
            alerts.append(alert)
    return alerts, forecasts


def db_size_forecasts(size_history, sizes_now, volume, now, window_days, warning_days, critical_days):
    """Per database: ``(alerts, forecasts)`` against the free space of the volume the data lives on.

    ``size_history`` maps a database to ``[[t, bytes], ...]``; ``sizes_now`` to its bytes now;
    ``volume`` is ``{'path', 'free_bytes'}`` or None (not on this host: no forecast).
    """
    alerts, forecasts = [], {}
    for name in sorted(sizes_now):
        if volume is None:
            forecasts[name] = {'reason': 'the volume of the data directory is unknown here'}
            continue
        size = sizes_now[name]
        past = [(float(s[0]), float(s[1])) for s in size_history.get(name) or []]
        fc = forecast(_points_with_now(past, now, size), size + volume['free_bytes'], now,
                      window_days, DB_MIN_SAMPLES, DB_MIN_SPAN_DAYS)
        fc['free_bytes'] = volume['free_bytes']
        forecasts[name] = fc
        alert = forecast_alert('db_size_forecast', name, 'the volume of database %s (%s)' % (name, volume['path']),
                               volume['path'], fc, warning_days, critical_days)
        if alert:
            alerts.append(alert)
    return alerts, forecasts


def forecast_argument_spec():
    """Options of the capacity forecasts (plugins/doc_fragments/forecast.py documents them)."""
    return dict(
        forecast_days=dict(type='int', default=DEFAULT_WINDOW_DAYS),
        forecast_warning_days=dict(type='float', default=DEFAULT_WARNING_DAYS),
        forecast_critical_days=dict(type='float', default=DEFAULT_CRITICAL_DAYS),
    )


def forecast_parameter_errors(params):
    """Fewer days left is worse: the critical horizon must be the shorter one."""
    errors = []
    if params.get('forecast_days') is not None and not 1 <= params['forecast_days'] <= 90:
        errors.append('forecast_days must be between 1 and 90, got %s' % params['forecast_days'])
    warning, critical = params.get('forecast_warning_days'), params.get('forecast_critical_days')
    for name, value in (('forecast_warning_days', warning), ('forecast_critical_days', critical)):
        if value is not None and not 0 <= value <= 3650:
            errors.append('%s must be between 0 and 3650, got %s' % (name, value))
    if warning is not None and critical is not None and critical >= warning:
        errors.append('forecast_critical_days (%s) must be lower than forecast_warning_days (%s)' % (critical, warning))
    return errors
