"""Issue 17, data integrity items 4-7: what a hand edit, a bad disk or a clock jump leaves in the state
file never stops a run, and the report stage prunes only its own pages.

Modules run the cron way (harness.run_module), against the real disk, a real PostgreSQL cluster and
a real HTTP receiver.  A clock jump is the module's own process started with ``time.time()`` shifted
(a ``sitecustomize`` on its path): everything else in the run is real.
"""
import json
import os
import time

import pytest

from harness import COLLECTIONS, run_module
from receivers import HttpReceiver
from recorded_week import hourly_history

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home',
         'include_system_log': False}
DAY = 86400
HOUR = 3600
SHIFT_SITE = '''import os
import time
_shift = float(os.environ.get('TWZRD_TEST_CLOCK_SHIFT') or 0)
_real_time = time.time
time.time = lambda: _real_time() + _shift
'''


def run_checked(module, args, tmp_path, env=None):
    """One run: JSON out, no traceback, no NaN/Infinity, never a failed run. Returns the result."""
    rc, result, out, err = run_module(module, args, tmp_path, env=env)
    assert 'Traceback' not in err and 'Traceback' not in out, err[-3000:]
    assert result is not None, (rc, out[-2000:], err[-2000:])
    assert 'NaN' not in out and 'Infinity' not in out, out[-2000:]
    assert rc == 0 and not result.get('failed'), (result.get('msg'), err[-2000:])
    return result


def warnings_of(result):
    """The run's warnings as one text (ansible-core 2.19 returns them as strings or as dicts)."""
    return ' | '.join(w if isinstance(w, str) else json.dumps(w) for w in result.get('warnings') or [])


def month_of_history(now):
    """720 hourly samples ending an hour before ``now``, the disk series at / as it is now."""
    stats = os.statvfs('/')
    used, free = (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_bavail * stats.f_frsize
    return hourly_history(now, '/', used, free, days=30)


def load_state(path):
    with open(str(path)) as handle:
        return json.load(handle)  # strict enough: Python's parser would take 1e999, so check below too


# --- item 4: a non-finite number anywhere ------------------------------------------------------------

def test_item4_infinite_disk_value_deep_in_history_is_dropped_with_a_warning_and_state_saves(tmp_path):
    state = tmp_path / 'state.json'
    now = time.time()
    history = month_of_history(now)
    text = json.dumps({'twzrd_health': {'history': history}})
    # 1e999 is valid JSON text and Python's parser makes it inf: the edit the audit made
    state.write_text(text.replace('"disk": {"/": ', '"disk": {"/": 1e999, "/x": ', 1))
    args = dict(QUIET, mode='alerts', state_file=str(state))

    first = run_checked('twzrd_health', args, tmp_path)
    said = warnings_of(first)
    assert 'twzrd_health.history[0].disk./' in said and 'not a finite number' in said and 'fresh start' in said, said
    assert 'Out of range float' not in said and 'cannot write state file' not in said, said
    saved = state.read_text()
    assert 'Infinity' not in saved and '1e999' not in saved
    assert len(load_state(state)['twzrd_health']['history']) == 1  # a fresh start of that section, saved
    assert load_state(state)['alerting']['alerts']['last_run'] >= int(now)

    second = run_checked('twzrd_health', args, tmp_path)
    assert 'fresh start' not in warnings_of(second) and 'Out of range' not in warnings_of(second), second['warnings']


# --- item 5: hand-edited values ----------------------------------------------------------------------

def test_item5_pending_message_created_in_year_10_to_the_300_is_a_warning_not_a_crash(tmp_path):
    from ansible_collections.twzrd.ops.plugins.module_utils.report import notify  # the fingerprint the state file keeps
    receiver = HttpReceiver().start()
    try:
        url = receiver.url('hook')
        state = tmp_path / 'state.json'
        pending = [{'created': 1e300, 'title': 'old', 'body': 'old body', 'targets': [notify.fingerprint(url)]}]
        state.write_text(json.dumps({'alerting': {'alerts': {'pending': pending, 'alerts': {}}}}))
        args = dict(QUIET, mode='alerts', state_file=str(state), notify={'urls': [url]},
                    disk_warning=1, disk_critical=99.9)  # one alert (disk / is more than 1 % full): a message is due
        result = run_checked('twzrd_health', args, tmp_path)
        said = warnings_of(result)
        assert 'alerting.alerts' in said and 'pending[0].created' in said and 'fresh start' in said, said
        assert result['notification']['sent'] == 1 and len(receiver.messages()) == 1  # this run's alert went out
    finally:
        receiver.stop()


def test_item5_infinite_restart_count_does_not_crash_the_weekly_report(tmp_path):
    state = tmp_path / 'state.json'
    today = time.strftime('%Y-%m-%d', time.gmtime())
    state.write_text('{"twzrd_health": {"pm2_restarts": {"%s": {"web": 1e999}}}}' % today)
    args = dict(QUIET, mode='report', state_file=str(state))
    result = run_checked('twzrd_health', args, tmp_path)
    said = warnings_of(result)
    assert 'twzrd_health.pm2_restarts.%s.web' % today in said and 'fresh start' in said, said
    assert result['report']['trends']['pm2_restarts'] == {}


def test_item5_database_size_written_as_text_is_a_warning_and_a_fresh_size_history(pg_cluster, pg_db, tmp_path):
    state = tmp_path / 'state.json'
    now = int(time.time())
    sizes = [[now - (3 - i) * DAY, 8000000 + i] for i in range(3)] + [[now - 3600, '7.5MB']]
    state.write_text(json.dumps({'twzrd_db_health': {'sizes': {pg_db: sizes}, 'last_run': now - 3600}}))
    args = dict(pg_cluster.conn_params(pg_db), state_file=str(state))
    result = run_checked('twzrd_db_health', args, tmp_path)
    said = warnings_of(result)
    assert 'twzrd_db_health.sizes.%s[3][1]' % pg_db in said and 'fresh start' in said, said
    assert result['status'] in ('ok', 'warning'), result['alerts']
    assert len(load_state(state)['twzrd_db_health']['sizes'][pg_db]) == 1  # this run's size, saved


# --- item 6: clock jumps -----------------------------------------------------------------------------

@pytest.fixture
def clock(tmp_path):
    """``clock(seconds)``: the env of a module run whose time.time() is that far off."""
    site = tmp_path / 'clock-site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(SHIFT_SITE)

    def shifted(seconds):
        return {'PYTHONPATH': '%s:%s' % (COLLECTIONS, site), 'TWZRD_TEST_CLOCK_SHIFT': str(seconds)}
    return shifted


@pytest.mark.parametrize('jump_days', [40, -40])
def test_item6_one_run_with_the_clock_off_by_40_days_keeps_the_hourly_history(tmp_path, clock, jump_days):
    state = tmp_path / 'state.json'
    now = time.time()
    history = month_of_history(now)
    assert len(history) == 720
    state.write_text(json.dumps({'twzrd_health': {'history': history}}))
    args = dict(QUIET, mode='alerts', state_file=str(state))

    jumped = run_checked('twzrd_health', args, tmp_path, env=clock(jump_days * DAY))
    assert len(load_state(state)['twzrd_health']['history']) == 721, 'the jumped run discarded history'
    if jump_days < 0:  # every stored sample is from its future
        assert '720 hourly samples from the future' in warnings_of(jumped), jumped.get('warnings')

    back = run_checked('twzrd_health', args, tmp_path, env=clock(0))
    kept = load_state(state)['twzrd_health']['history']
    month = [h for h in kept if time.time() - 31 * DAY <= h['t'] <= time.time()]
    assert len(month) == 721 and [h['t'] for h in month][:720] == [h['t'] for h in history]
    if jump_days > 0:
        assert '1 hourly sample from the future' in warnings_of(back), back.get('warnings')
        # the forecast did not take the future sample: its samples all lie in the past week
        fc = back['metrics']['disk_forecast']['/']
        assert fc.get('samples', 0) <= 7 * 24 + 1, fc
    again = run_checked('twzrd_health', args, tmp_path, env=clock(0))
    assert 'from the future' not in warnings_of(again), 'said more than once: %s' % again.get('warnings')


def test_item6_clock_ahead_for_hours_costs_at_most_those_hours(tmp_path, clock):
    state = tmp_path / 'state.json'
    now = time.time()
    state.write_text(json.dumps({'twzrd_health': {'history': month_of_history(now)}}))
    args = dict(QUIET, mode='alerts', state_file=str(state))
    for hour in range(3):
        run_checked('twzrd_health', args, tmp_path, env=clock(40 * DAY + hour * HOUR))
    assert len(load_state(state)['twzrd_health']['history']) == 723


# --- item 7: report pruning --------------------------------------------------------------------------

def test_item7_weekly_run_prunes_only_the_pages_it_writes(tmp_path):
    report_dir = tmp_path / 'reports'
    report_dir.mkdir()
    ours = ['twzrd-report-2026-11-16.html', 'twzrd-report-2026-11-23.html']
    foreign = ['twzrd-report-2026-11-30.annotated-by-ops.html', 'twzrd-report-notes.html']
    for name in ours + foreign:
        (report_dir / name).write_text('kept by a person')
    args = dict(QUIET, mode='report', state_file=str(tmp_path / 'state.json'), report_dir=str(report_dir),
                report_keep=2)
    result = run_checked('twzrd_health', args, tmp_path)
    today = 'twzrd-report-%s.html' % time.strftime('%Y-%m-%d', time.gmtime())
    pages = sorted(name for name in os.listdir(str(report_dir)) if name.endswith('.html'))
    # the foreign files neither deleted nor counted: the newest two of ours are 11-23 and today's
    assert pages == sorted(foreign + ['twzrd-report-2026-11-23.html', today]), (pages, result.get('warnings'))
