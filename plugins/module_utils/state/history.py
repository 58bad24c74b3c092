# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The history kept in the state file for trends and forecasts. Pure: no I/O.

Everything here is bounded, whatever the schedule: hourly samples keep at
most one sample per clock hour, the newest ``HOURLY_DAYS`` * 24 + 1 of them;
daily series keep one entry per UTC day, the newest ``DAILY_DAYS``.  A cron
job that runs every five minutes therefore stores no more than an hourly one
(docs/design.md, "Trends: history, forecasts, the weekly HTML report": 90 simulated
days stay under 200 KB).

Bounded by count, never by the clock: one run with the clock 40 days ahead
would otherwise find the whole month "too old" and prune it, and one run 40
days behind would find it in the future.  Readers take the samples up to
now only (``series(now=...)``); samples from the future are kept and told
once (:func:`note_future_samples`): either they or the clock now are wrong.
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
    """``history`` with ``sample`` added, oldest first: one sample per clock hour, ``days`` of hours kept
    (``days * 24 + 1`` samples: an hourly schedule keeps both ends of the span, as it did when pruned by time)."""
    hour = sample['t'] // HOUR
    kept = hourly_samples(history)
    same_hour = [h for h in kept if h['t'] // HOUR == hour]
    clock_went_back = any(h['t'] // HOUR > hour for h in kept)
    if not (same_hour and clock_went_back):  # a clock gone back must not overwrite the hour it lands in
        kept = [h for h in kept if h['t'] // HOUR != hour] + [sample]
    kept.sort(key=lambda h: h['t'])
    return kept[-(days * 24 + 1):]


def future_samples(history, now):
    """The times of the samples taken after ``now``, oldest first: the clock was ahead then, or is behind now."""
    return sorted(h['t'] for h in hourly_samples(history) if h['t'] > now)


def note_future_samples(section, now):
    """Why some hourly samples are ignored this run, once per batch of them (None when there are none,
    or when they were told already); remembers what it told in ``section['future_noted']``."""
    future = future_samples(section.get('history'), now)
    if not future:
        section.pop('future_noted', None)
        return None
    if _number(section.get('future_noted')) and section['future_noted'] >= future[-1]:
        return None
    section['future_noted'] = future[-1]
    return ('%d hourly sample%s from the future (%s to %s; the clock says %s now) kept but left out of charts and '
            'forecasts until their time comes: the clock was ahead when they were taken or is behind now; check '
            'time sync (`timedatectl`, `chronyc tracking`)' % (
                len(future), '' if len(future) == 1 else 's', _iso(future[0]), _iso(future[-1]), _iso(now)))


def _iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime(epoch))


def series(history, key, since=None, subkey=None, now=None):
    """``[(t, value), ...]`` of one field (``subkey``: e.g. a disk path under ``disk``), oldest first.

    ``now``: leave out samples from the future (a clock that jumped, see the module docstring).
    """
    points = []
    for sample in hourly_samples(history):
        if (since is not None and sample['t'] < since) or (now is not None and sample['t'] > now):
            continue
        value = sample.get(key)
        if subkey is not None:
            value = value.get(subkey) if isinstance(value, dict) else None
        if _number(value):
            points.append((sample['t'], value))
    return sorted(points)


def prune_days(daily, now, days=DAILY_DAYS):
    """A ``{day: ...}`` mapping of today and the newest other days, ``days`` in all (by count: see above)."""
    today = day_key(now)
    valid = dict((day, value) for day, value in (daily if isinstance(daily, dict) else {}).items()
                 if isinstance(day, str) and len(day) == 10)
    kept = sorted(day for day in valid if day != today)[-(days - 1):] if days > 1 else []
    if today in valid:
        kept.append(today)
    return dict((day, valid[day]) for day in kept)


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
