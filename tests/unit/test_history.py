"""The trend history stays bounded (state/history.py), and the state file after 90 days stays small."""
import calendar
import json
import os

from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.state import store as state
from ansible_collections.twzrd.ops.plugins.module_utils.postgres.evaluate import SIZE_HISTORY
from ansible_collections.twzrd.ops.plugins.module_utils.report.sparkline import sparkline, week_line

DAY = 86400
HOUR = 3600
START = calendar.timegm((2026, 9, 1, 0, 0, 0))
MEMORY = {'memory': {'used_percent': 63.25}, 'swap': {'used_percent': 12.5}}
LOAD = {'load1': 1.52, 'load5': 1.25, 'load15': 0.97}
DISKS = {'/': {'used_bytes': 123456789012}, '/var/lib/postgresql': {'used_bytes': 98765432109}}
BOUND = 200 * 1024   # bytes: docs/design.md promises "under 200 KB"


def test_one_sample_per_clock_hour_however_often_the_job_runs():
    samples = []
    for minute in range(0, 3 * 60, 5):  # every 5 minutes for 3 hours
        samples = history.append_hourly(samples, history.hourly_sample(START + minute * 60, MEMORY, LOAD, DISKS))
    assert [s['t'] for s in samples] == [START + 55 * 60, START + 115 * 60, START + 175 * 60]


def test_hourly_history_keeps_31_days():
    samples = []
    for hour in range(60 * 24):
        samples = history.append_hourly(samples, history.hourly_sample(START + hour * HOUR, MEMORY, LOAD, DISKS))
    assert len(samples) == history.HOURLY_DAYS * 24 + 1
    assert samples[0]['t'] == samples[-1]['t'] - history.HOURLY_DAYS * DAY


def test_daily_counts_add_up_and_expire():
    daily = {}
    for hour in range(40 * 24):
        daily = history.add_counts(daily, START + hour * HOUR, {'api': 1 if hour % 6 == 0 else 0, 'worker': 0})
    assert len(daily) == history.DAILY_DAYS
    assert all(v == {'api': 4} for v in daily.values())  # zero counts are not stored
    assert min(daily) == history.day_key(START + 39 * DAY - (history.DAILY_DAYS - 1) * DAY)
    assert max(daily) == history.day_key(START + 39 * DAY)


def test_garbage_in_the_state_file_is_dropped():
    assert history.hourly_samples([{'t': 'x'}, None, 3, {'t': 5}]) == [{'t': 5}]
    assert history.prune_days({'junk': 1, 5: 2, '2026-09-01': {}}, START) == {'2026-09-01': {}}
    assert history.series([{'t': 1, 'disk': {'/': 7}}, {'t': 2, 'disk': 'x'}], 'disk', subkey='/') == [(1, 7)]


def test_worst_tables_keeps_the_top_five():
    rows = [{'table': 't%d' % i, 'dead_rows': i} for i in range(10)]
    assert history.worst_tables(rows) == {'t9': 9, 't8': 8, 't7': 7, 't6': 6, 't5': 5}


def simulate_90_days(path, apps=8, databases=3, tables=history.WORST_TABLES):
    """The state file as the jobs leave it after 90 days: hourly alerts, daily db_health, weekly report."""
    data = {}
    for hour in range(90 * 24):
        now = START + hour * HOUR
        section = data.setdefault('twzrd_health', {})
        section['history'] = history.append_hourly(section.get('history'), history.hourly_sample(
            now, MEMORY, dict(LOAD, load1=1 + hour % 7 / 3.0), DISKS))
        section['pm2_restarts'] = history.add_counts(section.get('pm2_restarts'), now,
                                                     dict(('app-%d' % a, hour % 3) for a in range(apps)))
        if hour % 24 == 3:  # the daily db job
            db = data.setdefault('twzrd_db_health', {})
            sizes = db.setdefault('sizes', {})
            for d in range(databases):
                name = 'database_%d' % d
                sizes[name] = (sizes.get(name, []) + [[now, 10 ** 9 + hour * 12345]])[-SIZE_HISTORY:]
                dead = db.setdefault('dead_rows', {})
                dead[name] = history.set_day(dead.get(name), now, history.worst_tables(
                    [{'table': 'public.table_with_a_long_name_%d' % t, 'dead_rows': 100000 + t} for t in range(20)],
                    tables))
            last_forecast = {'rate_per_day': 12345 * 24, 'days_left': 1234.5, 'full_at': now + 10 ** 8,
                             'full_date': '2030-01-01', 'samples': 30, 'since': now, 'capacity': 10 ** 11,
                             'free_bytes': 10 ** 10}
            db['forecast'] = dict(('database_%d' % d, dict(last_forecast)) for d in range(databases))
    store = state.StateStore(str(path))
    with store:
        store.data.update(data)
        store.save()
    return os.path.getsize(str(path)), data


def test_state_file_after_90_days_stays_under_its_bound(tmp_path, capsys):
    size, data = simulate_90_days(tmp_path / 'state.json')
    with capsys.disabled():
        print('\nstate file after 90 simulated days (2 disks, 8 apps, 3 databases x 5 tables): %d bytes (%.1f KB)'
              % (size, size / 1024.0))
    assert size < BOUND
    assert len(data['twzrd_health']['history']) == history.HOURLY_DAYS * 24 + 1
    assert len(data['twzrd_health']['pm2_restarts']) == history.DAILY_DAYS
    assert json.loads((tmp_path / 'state.json').read_text())['version'] == state.FORMAT_VERSION


def test_sparkline():
    assert sparkline([0, 1, 2, 4, None, 8]) == u'\u2581\u2582\u2583\u2585 \u2588'
    assert sparkline([]) == ''
    assert sparkline([3, 3]) == u'\u2588\u2588'
    line = week_line('load', [(START + h * HOUR, 1.0 + (h == 30) * 2) for h in range(168)], START, START + 7 * DAY)
    assert line.startswith('load ') and line.endswith('max 3') and len(line.split()[1]) == 42
    assert week_line('swap', [], START, START + 7 * DAY) == 'swap  (no samples yet)'
