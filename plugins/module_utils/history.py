# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The history kept in the state file for trends and forecasts. Pure: no I/O.

Everything here is bounded, whatever the schedule: hourly samples keep at
most one sample per clock hour for ``HOURLY_DAYS``; daily series keep one
entry per UTC day for ``DAILY_DAYS``.  A cron job that runs every five
minutes therefore stores no more than an hourly one (docs/design.md,
"Trends": 90 simulated days stay under 200 KB).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

HOUR = 3600
DAY = 86400
HOURLY_DAYS = 31   # load/memory/swap/disk samples: the weekly charts and the disk forecast
DAILY_DAYS = 31    # per-day counters: PM2 restarts, dead rows of the worst tables
WORST_TABLES = 5   # dead rows are kept for this many tables per day
VACUUM_RUNS = 12   # weekly vacuum results: a quarter


def day_key(epoch):
    """``2026-12-01``: the UTC day a time belongs to."""
    return time.strftime('%Y-%m-%d', time.gmtime(epoch))


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def hourly_samples(history):
    """Only well-formed samples (``{'t': epoch, ...}``) survive a hand-edited or old state file."""
    return [h for h in history or [] if isinstance(h, dict) and _number(h.get('t'))]


def hourly_sample(now, memory, load, disks):
    """One compact sample: load 1/5/15, memory and swap percent, bytes used per disk path."""
    sample = {'t': int(now), 'load1': load['load1'], 'load5': load['load5'], 'load15': load['load15'],
              'swap_pct': memory['swap']['used_percent'], 'mem_pct': memory['memory']['used_percent']}
    used = dict((path, int(disk['used_bytes'])) for path, disk in (disks or {}).items() if 'used_bytes' in disk)
    if used:
        sample['disk'] = used
    return sample


def append_hourly(history, sample, days=HOURLY_DAYS):
    """``history`` pruned to ``days`` with ``sample`` added; a sample in the same clock hour replaces the older one."""
    oldest = sample['t'] - days * DAY
    kept = [h for h in hourly_samples(history) if oldest <= h['t'] < sample['t']]
    if kept and kept[-1]['t'] // HOUR == sample['t'] // HOUR:
        kept.pop()
    kept.append(sample)
    return kept


def series(history, key, since=None, subkey=None):
    """``[(t, value), ...]`` of one field (``subkey``: e.g. a disk path under ``disk``), oldest first."""
    points = []
    for sample in hourly_samples(history):
        if since is not None and sample['t'] < since:
            continue
        value = sample.get(key)
        if subkey is not None:
            value = value.get(subkey) if isinstance(value, dict) else None
        if _number(value):
            points.append((sample['t'], value))
    return sorted(points)


def prune_days(daily, now, days=DAILY_DAYS):
    """A ``{day: ...}`` mapping without the days older than ``days``."""
    oldest = day_key(now - (days - 1) * DAY)
    return dict((day, value) for day, value in (daily if isinstance(daily, dict) else {}).items()
                if isinstance(day, str) and len(day) == 10 and day >= oldest)


def add_counts(daily, now, counts, days=DAILY_DAYS):
    """Add ``counts`` (name -> number) to today's entry of a ``{day: {name: count}}`` series."""
    kept = prune_days(daily, now, days)
    today = kept.get(day_key(now))
    today = dict(today) if isinstance(today, dict) else {}
    for name, count in counts.items():
        if count:
            today[name] = int(today.get(name) or 0) + int(count)
    kept[day_key(now)] = today
    return kept


def set_day(daily, now, values, days=DAILY_DAYS):
    """Today's entry of a ``{day: {...}}`` series becomes ``values`` (the latest run of the day wins)."""
    kept = prune_days(daily, now, days)
    kept[day_key(now)] = values
    return kept


def worst_tables(rows, top=WORST_TABLES):
    """``{table: dead_rows}`` of the ``top`` tables with the most dead rows."""
    ranked = sorted((r for r in rows or [] if r.get('dead_rows')), key=lambda r: -r['dead_rows'])[:top]
    return dict((r['table'], int(r['dead_rows'])) for r in ranked)


def daily_days(now, days):
    """The last ``days`` UTC day keys, oldest first (the x axis of the per-day charts)."""
    return [day_key(now - (days - 1 - i) * DAY) for i in range(days)]


def append_run(runs, entry, keep=VACUUM_RUNS):
    """The last ``keep`` run results (``{'t': epoch, ...}``), oldest first."""
    kept = [r for r in runs or [] if isinstance(r, dict) and _number(r.get('t'))]
    return (kept + [entry])[-keep:]
