"""Issue 17, data integrity items 4-7, at the level of the functions: the state schema checks every
number at every depth, the hourly history survives clock jumps, page pruning takes only its own pages."""
import json

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html
from ansible_collections.twzrd.ops.plugins.module_utils.state import schema as state_schema
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateStore, read_state

NOW = 1796083200  # 2026-12-01T00:00:00Z
DAY = 86400
HOUR = 3600


def load(tmp_path, text):
    path = tmp_path / 'state.json'
    path.write_text(text)
    return read_state(str(path))


# --- item 4 ------------------------------------------------------------------------------------------

DEEP_NON_FINITE = [
    # (section, JSON text of the section with a 1e999 / -1e999 / huge integer somewhere deep)
    ('twzrd_health', '{"history": [{"t": 1, "disk": {"/": 1e999}}]}'),
    ('twzrd_health', '{"history": [{"t": 1, "mem_pct": -1e999}]}'),
    ('twzrd_health', '{"levels": {"load": [1, {"x": 1e999}]}}'),
    ('twzrd_health', '{"pm2_restarts": {"2026-12-01": {"web": 1e999}}}'),
    ('twzrd_db_health', '{"forecast": {"app": {"days_left": 1e999}}}'),
    ('twzrd_db_health', '{"dead_rows": {"app": {"2026-12-01": {"public.t": %s}}}}' % ('9' * 400)),
    ('twzrd_vacuum', '{"last_metrics": {"tables": [{"dead_rows_before": 1e999}]}}'),
    ('twzrd_vacuum', '{"runs": [{"t": 1, "planned": 1e999}]}'),
    ('pm2', '{"daemons": {"/home/a/.pm2": {"user": "a", "restart_baseline": {"web#0": 1e999}}}}'),
    ('someone_else', '{"a": [[[1e999]]]}'),
]


@pytest.mark.parametrize('name,section', DEEP_NON_FINITE, ids=[s[0] + ':' + s[1][:30] for s in DEEP_NON_FINITE])
def test_item4_a_non_finite_or_huge_number_at_any_depth_drops_its_section_and_the_state_saves(tmp_path, name, section):
    text = '{"twzrd_health": {"history": [{"t": 5, "load1": 0.5}]}, "other": {"kept": 1}, "%s": %s}' % (name, section)
    data, warning = load(tmp_path, text)
    assert name not in data, data
    assert 'state section %s' % name in warning and 'fresh start' in warning, warning
    assert data['other'] == {'kept': 1}
    path = tmp_path / 'state.json'
    with StateStore(str(path)) as store:
        store.save()  # never "Out of range float values are not JSON compliant"
    assert name not in json.loads(path.read_text())


def test_item4_the_warning_names_the_number_that_is_not_finite(tmp_path):
    dummy, warning = load(tmp_path, '{"twzrd_health": {"history": [{"t": 1}, {"t": 2, "disk": {"/var": 1e999}}]}}')
    assert 'twzrd_health.history[1].disk./var is not a finite number' in warning, warning


def test_item4_nan_written_by_python_json_is_dropped_too(tmp_path):
    data, warning = load(tmp_path, '{"alerting": {"alerts": {"alerts": {"load": {"check": "load", "level": '
                                   '"warning", "since": 1, "told_value": NaN}}}, "db": {"alerts": {}}}}')
    assert data['alerting'] == {'db': {'alerts': {}}} and 'alerting.alerts' in warning


def test_item4_deep_nesting_inside_a_free_section_is_not_a_crash(tmp_path):
    data, warning = load(tmp_path, '{"someone_else": %s1e999%s}' % ('[' * 900, ']' * 900))
    assert 'someone_else' not in data and warning


# --- item 5 ------------------------------------------------------------------------------------------

HAND_EDITS = [
    ('alerting', '{"alerts": {"pending": [{"created": 1e300, "title": "t", "body": "b", "targets": []}]}}',
     'alerting.alerts.pending[0].created'),
    ('alerting', '{"alerts": {"alerts": {"load": {"check": "load", "level": "warning", "since": -5}}}}',
     'alerting.alerts.alerts.load.since'),
    ('alerting', '{"alerts": {"alerts": {"load": {"check": "load", "level": "warning", "since": 1, '
                 '"last_sent": 1e18}}}}', 'alerting.alerts.alerts.load.last_sent'),
    ('alerting', '{"alerts": {"alerts": {"load": {"check": "load", "level": "warning", "since": 1, '
                 '"told_level": "bogus"}}}}', 'alerting.alerts.alerts.load.told_level'),
    ('alerting', '{"alerts": {"alerts": {"load": {"check": "load", "level": ["warning"], "since": 1}}}}',
     'alerting.alerts.alerts.load.level'),
    ('twzrd_health', '{"pm2_restarts": {"2026-12-01": {"web": "3"}}}', 'twzrd_health.pm2_restarts.2026-12-01.web'),
    ('twzrd_health', '{"pm2_restarts": {"yesterday": {"web": 3}}}', 'twzrd_health.pm2_restarts'),
    ('twzrd_health', '{"history": [{"t": 1e300}]}', 'twzrd_health.history[0].t'),
    ('twzrd_db_health', '{"sizes": {"app": [[1, "7.5MB"]]}}', 'twzrd_db_health.sizes.app[0][1]'),
    ('twzrd_db_health', '{"sizes": {"app": [[1]]}}', 'twzrd_db_health.sizes.app[0]'),
    ('twzrd_db_health', '{"dead_rows": {"app": {"2026-12-01": {"public.t": "many"}}}}',
     'twzrd_db_health.dead_rows.app.2026-12-01.public.t'),
    ('twzrd_db_health', '{"forecast": {"app": {"days_left": "soon"}}}', 'twzrd_db_health.forecast.app.days_left'),
    ('twzrd_vacuum', '{"runs": [{"t": "monday"}]}', 'twzrd_vacuum.runs[0].t'),
]


@pytest.mark.parametrize('name,section,where', HAND_EDITS, ids=[h[2] for h in HAND_EDITS])
def test_item5_a_hand_edited_value_is_a_warning_naming_it_and_a_fresh_start_of_its_section(tmp_path, name, section,
                                                                                           where):
    data, warning = load(tmp_path, '{"%s": %s}' % (name, section))
    assert where in warning and 'fresh start' in warning, warning
    assert name not in data or data[name] == {}, data


def test_item5_good_values_of_every_section_load_without_a_warning(tmp_path):
    good = {
        'twzrd_health': {'history': [{'t': NOW, 'load1': 0.1, 'load5': 0, 'load15': 1, 'mem_pct': 50.5,
                                      'swap_pct': 0, 'disk': {'/': 10 ** 12}}],
                         'pm2_restarts': {'2026-12-01': {'web': 3}}, 'future_noted': NOW},
        'twzrd_db_health': {'sizes': {'app': [[NOW, 8000000]], 'gone': None}, 'last_run': NOW, 'last_status': 'ok',
                            'dead_rows': {'app': {'2026-12-01': {'public.t': 5}}},
                            'forecast': {'app': {'reason': 'not growing'},
                                         'b': {'rate_per_day': -3, 'days_left': 2.5, 'full_at': NOW, 'full_date':
                                               '2026-12-01', 'samples': 3, 'since': NOW, 'capacity': 10,
                                               'free_bytes': 5}}},
        'twzrd_vacuum': {'last_run': NOW, 'last_status': 'ok', 'last_metrics': {'planned': 1},
                         'runs': [{'t': NOW, 'db': 'app', 'planned': 2}]},
        'alerting': {'alerts': {'alerts': {'load': {'check': 'load', 'level': 'warning', 'since': NOW,
                                                    'told_value': 2.5, 'last_sent': NOW}},
                                'pending': [{'created': NOW, 'title': 't', 'body': 'b', 'targets': ['abc']}],
                                'last_run': NOW, 'last_success': NOW, 'last_status': 'ok'}},
    }
    data, warning = load(tmp_path, json.dumps(good))
    assert warning is None and data == good


def test_item5_every_time_field_is_a_time_in_range():
    assert state_schema.problem(NOW, state_schema.EPOCH, 'x') is None
    for bad in (-1, 1e300, 253402300800, True, '1'):
        assert 'x' in state_schema.problem(bad, state_schema.EPOCH, 'x'), bad


# --- item 6 ------------------------------------------------------------------------------------------

def month(now=NOW):
    return [{'t': now - (720 - i) * HOUR, 'load1': 0.5} for i in range(720)]


def test_item6_a_run_40_days_ahead_keeps_the_month():
    ahead = history.append_hourly(month(), {'t': NOW + 40 * DAY, 'load1': 1})
    assert len(ahead) == 721
    back = history.append_hourly(ahead, {'t': NOW + 60, 'load1': 2})
    assert len(back) == 722
    assert history.future_samples(back, NOW + 60) == [NOW + 40 * DAY]
    assert [p[0] for p in history.series(back, 'load1', now=NOW + 60)][-1] == NOW + 60


def test_item6_a_run_40_days_behind_keeps_the_month_it_sees_as_future():
    behind = history.append_hourly(month(), {'t': NOW - 40 * DAY, 'load1': 1})
    assert len(behind) == 721
    assert len(history.future_samples(behind, NOW - 40 * DAY)) == 720
    assert history.series(behind, 'load1', now=NOW - 40 * DAY) == [(NOW - 40 * DAY, 1)]


def test_item6_the_history_stays_bounded_by_count_whatever_the_clock_does():
    samples = month()
    for hour in range(100):
        samples = history.append_hourly(samples, {'t': NOW + 40 * DAY + hour * HOUR, 'load1': 1})
    assert len(samples) == history.HOURLY_DAYS * 24 + 1
    assert samples[-1]['t'] == NOW + 40 * DAY + 99 * HOUR and samples[0]['t'] == NOW - 645 * HOUR


def test_item6_future_samples_are_told_once():
    section = {'history': history.append_hourly(month(), {'t': NOW + 40 * DAY})}
    first = history.note_future_samples(section, NOW + HOUR)
    assert first and first.startswith('1 hourly sample from the future'), first
    assert history.note_future_samples(section, NOW + 2 * HOUR) is None
    section['history'].append({'t': NOW + 41 * DAY})
    assert history.note_future_samples(section, NOW + 3 * HOUR).startswith('2 hourly samples from the future')


def test_item6_daily_series_survive_a_jump_ahead():
    daily = dict((history.day_key(NOW - i * DAY), {'web': 1}) for i in range(30))
    ahead = history.add_counts(daily, NOW + 40 * DAY, {'web': 2})
    assert len(ahead) == history.DAILY_DAYS and history.day_key(NOW) in ahead
    back = history.add_counts(ahead, NOW + HOUR, {'web': 1})
    assert back[history.day_key(NOW)] == {'web': 2} and len(back) == history.DAILY_DAYS
    assert history.day_key(NOW - 29 * DAY) in back  # nothing lost: the future day takes the place of none


# --- item 7 ------------------------------------------------------------------------------------------

def test_item7_pruning_takes_only_names_the_stage_writes(tmp_path):
    mine = ['twzrd-report-2026-11-%02d.html' % d for d in (16, 23, 30)]
    foreign = ['twzrd-report-2026-11-30.annotated-by-ops.html', 'twzrd-report-notes.html',
               'twzrd-report-2026-12-31-copy.html', 'twzrd-report-2026-1-1.html', 'twzrd-report-2026-11-09.html.bak']
    for name in mine + foreign:
        (tmp_path / name).write_text('x')
    assert report_html.stale_pages(mine + foreign, 2) == ['twzrd-report-2026-11-16.html']
    assert report_html.prune(str(tmp_path), 2) == ['twzrd-report-2026-11-16.html']
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(mine[1:] + foreign)


def test_item6_a_run_with_the_clock_a_few_days_behind_overwrites_no_sample():
    samples = month()
    taken = samples[-72]
    behind = history.append_hourly(samples, {'t': taken['t'] + 60, 'load1': 9})
    assert behind == samples  # that hour was measured when the clock was right (newer samples exist)
    newest = history.append_hourly(samples, {'t': samples[-1]['t'] + 60, 'load1': 9})
    assert newest[-1] == {'t': samples[-1]['t'] + 60, 'load1': 9} and len(newest) == 720  # the same hour, later: it replaces


def test_item5_a_nearly_flat_database_gives_no_forecast_the_state_would_refuse(tmp_path):
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
    # one byte of growth in a week: least squares says full in a billion years, past what gmtime takes
    points = [(NOW - 7 * DAY + i * HOUR, 10 ** 10 + (1 if i > 100 else 0)) for i in range(168)]
    fc = forecast.forecast(points, 10 ** 11, NOW)
    assert fc == {'reason': 'growing too slowly to be full within 100 years'}
    # a 2 TB volume: the date was past what gmtime takes at all (OSError EOVERFLOW: a traceback every hour)
    assert forecast.forecast(points, 2 * 10 ** 12, NOW) == fc
    path = tmp_path / 'state.json'
    path.write_text(json.dumps({'twzrd_db_health': {'sizes': {'app': [[NOW, 10 ** 10]]}, 'forecast': {'app': fc}}}))
    assert read_state(str(path))[1] is None  # the section (and its size history) survives the next load
