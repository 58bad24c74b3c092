# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trends of the weekly report, gathered from the history the other jobs keep. Pure: no I/O.

Hourly samples and PM2 restarts come from the alerts job's section of the
state file, database sizes, dead rows and the database forecast from the
db_health job's, error lines per day from this report's own log scan.
Everything is plain lists and numbers: the text summary, the charts
(report/charts.py) and the HTML page (report/html.py) all read this.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.state import history as trend_history

DB_DAYS = 30     # the database size chart covers a month: growth is slow
TOP_SOURCES = 6  # error sources drawn in the chart (the worst ones)

HOURLY_FIELDS = ('load1', 'load5', 'load15', 'mem_pct', 'swap_pct')


def hourly(history, since, until):
    """``{'t': [...], 'load1': [...], ..., 'disk': {path: [...]}}`` of the samples from ``since`` to ``until``."""
    samples = [h for h in trend_history.hourly_samples(history) if since <= h['t'] <= until]
    samples.sort(key=lambda h: h['t'])
    out = {'t': [h['t'] for h in samples]}
    for field in HOURLY_FIELDS:
        out[field] = [h.get(field) for h in samples]
    paths = sorted(set(p for h in samples for p in (h.get('disk') or {})))
    out['disk'] = dict((p, [(h.get('disk') or {}).get(p) for h in samples]) for p in paths)
    return out


def per_day(daily, days):
    """``{name: [count per day]}`` over ``days`` (day keys, oldest first) of a ``{day: {name: n}}`` series."""
    names = sorted(set(n for d in days for n in ((daily or {}).get(d) or {})))
    return dict((n, [int(((daily or {}).get(d) or {}).get(n) or 0) for d in days]) for n in names)


def db_sizes(sizes, since, until):
    """``{db: [[t, bytes], ...]}`` from ``since`` to ``until``, from db_health's size history (state_schema
    checked its shape when the file was read)."""
    out = {}
    for name, samples in (sizes or {}).items():
        kept = sorted([int(t), int(size)] for t, size in samples or [] if since <= t <= until)
        if kept:
            out[name] = kept
    return out


def error_days(log_errors, days, top=TOP_SOURCES):
    """The worst sources with their error lines per day and their top messages."""
    sources = [s for s in log_errors.get('sources') or [] if s.get('errors')][:top]
    return [{'source': s['source'], 'per_day': [int((s.get('per_day') or {}).get(d) or 0) for d in days],
             'top': s.get('top') or []} for s in sources]


def vacuum_runs(vacuum_state, since, until):
    """The vacuum job's runs from ``since`` to ``until`` (it keeps its last 12), oldest first."""
    runs = (vacuum_state or {}).get('runs') if isinstance(vacuum_state, dict) else None
    return [r for r in runs or [] if isinstance(r, dict) and isinstance(r.get('t'), (int, float)) and since <= r['t'] <= until]


def db_insights(vacuum_state, since, until):
    """The weekly insights the vacuum job recorded per database (indexes, cache hits, slowest statements,
    bloat), those from ``since`` to ``until``, by database name: ``[{'database': name, 't': ..., ...}]``."""
    found = (vacuum_state or {}).get('insights') if isinstance(vacuum_state, dict) else None
    if not isinstance(found, dict):
        return []
    return [dict(entry, database=name) for name, entry in sorted(found.items())
            if isinstance(entry, dict) and isinstance(entry.get('t'), (int, float)) and since <= entry['t'] <= until]


def collecting(history, now, period_days):
    """Since when the hourly job records this host, and how much of the period that covers.

    ``{'since': epoch or None, 'days': days with samples so far (at most period_days), 'period_days': ...}``;
    a new host's report says "2 of 7 days so far" instead of drawing a mostly empty week.
    """
    times = [h['t'] for h in trend_history.hourly_samples(history)]
    if not times:
        return {'since': None, 'days': 0, 'period_days': period_days}
    first = min(times)
    days = int((now - first) / float(trend_history.DAY) + 0.5)  # to the nearest day: 47 hours are 2 days
    return {'since': int(first), 'days': max(1, min(period_days, days)), 'period_days': period_days}


def drawn_charts(trends):
    """The charts that have something to draw; the others are one sentence on the page (report/html.py)."""
    hourly = trends['hourly']
    has = {
        'load': any(v is not None for v in hourly['load1'] + hourly['load5'] + hourly['load15']),
        'memory': any(v is not None for v in hourly['mem_pct'] + hourly['swap_pct']),
        'disk': any(v is not None for values in hourly['disk'].values() for v in values),
        'db_size': bool(trends['db_sizes']),
        'dead_rows': any(tables for tables in trends['dead_rows'].values()),
        'pm2_restarts': any(sum(counts) for counts in trends['pm2_restarts'].values()),
        'errors': any(sum(source['per_day']) for source in trends['errors']),
    }
    return set(name for name, drawn in has.items() if drawn)


def weekly_trends(health_state, db_state, log_errors, now, since, period_days, thresholds, vacuum_state=None):
    """Everything the charts draw; ``thresholds`` holds the load and disk levels to draw as lines."""
    days = trend_history.daily_days(now, period_days)
    db_state = db_state if isinstance(db_state, dict) else {}
    dead = db_state.get('dead_rows') if isinstance(db_state.get('dead_rows'), dict) else {}
    db_days = trend_history.daily_days(now, DB_DAYS)
    return {
        'since': int(since),
        'until': int(now),
        'days': days,
        'thresholds': thresholds,
        'hourly': hourly(health_state.get('history'), since, now),
        'pm2_restarts': per_day(health_state.get('pm2_restarts'), days),
        'db_days': db_days,
        'db_sizes': db_sizes(db_state.get('sizes'), now - DB_DAYS * trend_history.DAY, now),
        'dead_rows': dict((db, per_day(series, db_days)) for db, series in sorted(dead.items())),
        'db_forecast': db_state.get('forecast') if isinstance(db_state.get('forecast'), dict) else {},
        'errors': error_days(log_errors, days),
        'vacuum_runs': vacuum_runs(vacuum_state, now - DB_DAYS * trend_history.DAY, now),
        'db_insights': db_insights(vacuum_state, now - DB_DAYS * trend_history.DAY, now),
        'collecting': collecting(health_state.get('history'), now, period_days),
    }
