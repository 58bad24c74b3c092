"""A recorded week of history, as the hourly, daily and weekly jobs leave it in the state file.

Built with the collection's own history functions (the same code the jobs
run), from a fixed random seed, so a report built from it has known numbers.
The disk series ends at the disk's real use now and grows so that it is full
in ``days_to_full`` days: the forecast on the real disk is then predictable.
"""
import math
import random

from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
from ansible_collections.twzrd.ops.plugins.module_utils.state import history

DAY = 86400
HOUR = 3600


def _memory(mem_pct, swap_pct):
    return {'memory': {'used_percent': mem_pct}, 'swap': {'used_percent': swap_pct}}


def hourly_history(now, path, used_now, free_now, days=7, days_to_full=10.0, seed=12):
    """Hourly samples for ``days`` before ``now`` (not including now)."""
    rng = random.Random(seed)
    rate = free_now / days_to_full  # bytes per day
    samples = []
    start = int(now) - days * DAY
    for t in range(start, int(now) - HOUR + 1, HOUR):
        daily = math.sin((t % DAY) / float(DAY) * 2 * math.pi)
        load1 = round(max(0.05, 1.5 + 1.2 * daily + rng.uniform(-0.3, 0.3)), 2)
        load = {'load1': load1, 'load5': round(load1 * 0.8, 2), 'load15': round(load1 * 0.6, 2)}
        memory = _memory(round(55 + 10 * daily + rng.uniform(-2, 2), 1), round(max(0.0, 4 + 3 * daily), 1))
        used = int(used_now - rate * (now - t) / DAY)
        sample = history.hourly_sample(t, memory, load, {path: {'used_bytes': used}})
        samples = history.append_hourly(samples, sample)
    return samples


def db_state(now, free_now, database='app', days=30, start_bytes=200 * 1048576, per_day=8 * 1048576):
    """What twzrd_db_health keeps: daily sizes, its last forecast, the dead rows of the worst tables."""
    sizes = [[int(now) - (days - i) * DAY, start_bytes + i * per_day] for i in range(days)]
    dummy, forecasts = forecast.db_size_forecasts({database: sizes[:-1]}, {database: sizes[-1][1]},
                                                  {'path': '/', 'free_bytes': free_now}, now, 7, 14, 3)
    dead = {}
    for i in range(days):
        t = int(now) - (days - 1 - i) * DAY
        dead = history.set_day(dead, t, history.worst_tables([
            {'table': 'public.events', 'dead_rows': 20000 + 3000 * i},
            {'table': 'public.sessions', 'dead_rows': 50000 - 1000 * i},
        ]), days=history.DAILY_DAYS)
    return {'sizes': {database: sizes}, 'dead_rows': {database: dead}, 'forecast': forecasts}


def pm2_restarts(now, counts_per_day):
    """``counts_per_day``: one ``{app: n}`` per day, oldest first, ending today."""
    daily = {}
    for i, counts in enumerate(counts_per_day):
        daily = history.add_counts(daily, int(now) - (len(counts_per_day) - 1 - i) * DAY, counts)
    return daily


OPEN_DB_ALERT = {
    'check': 'dead_rows', 'subject': 'public.events', 'level': 'warning', 'value': 107000, 'threshold': 100000,
    'message': 'table public.events has 107000 dead rows', 'remediation': 'Run the twzrd.ops vacuum playbook.',
    'since': 0,
}


def recorded_state(now, path, used_now, free_now, days_to_full=10.0):
    """A whole state file: alerts job history, db_health history, an open db_health alert."""
    return {
        'version': 1,
        'twzrd_health': {
            'history': hourly_history(now, path, used_now, free_now, days_to_full=days_to_full),
            'pm2_restarts': pm2_restarts(now, [{'api': 1}, {}, {'api': 2, 'worker': 1}, {}, {}, {'worker': 4}, {}]),
        },
        'twzrd_db_health': db_state(now, free_now),
        'twzrd_vacuum': {'runs': [
            {'t': int(now) - (21 - 7 * i) * DAY, 'db': 'app', 'planned': 2, 'vacuumed': 2 - (i == 1), 'skipped': int(i == 1),
             'failed': 0, 'not_started': 0, 'dead_rows_removed': 150000 + 1000 * i, 'seconds': 4.2 + i}
            for i in range(3)]},
        'alerting': {'db_health:app': {'alerts': {'dead_rows:public.events': dict(OPEN_DB_ALERT, since=int(now))}}},
    }
