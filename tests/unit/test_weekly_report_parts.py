"""Issue 18 items 2-4, the pure parts: another user's state read safely, merged into one view of the
host; week-level checks; the subject that says why; a new host's page without empty charts."""
import calendar
import json
import os
import pwd

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.runs import health
from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as health_checks
from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.state import job_states
from ansible_collections.twzrd.ops.plugins.module_utils.report import notify
from ansible_collections.twzrd.ops.plugins.module_utils.report import charts as report_charts
from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html
from ansible_collections.twzrd.ops.plugins.module_utils.state import store as state
from ansible_collections.twzrd.ops.plugins.module_utils.report import trends

NOW = calendar.timegm((2026, 12, 1, 12, 0, 0))
SINCE = NOW - 7 * 86400
DAYS = history.daily_days(NOW, 7)
NOBODY = pwd.getpwnam('nobody')
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='chown to another user')


def user_dir(base, content=None, owner=NOBODY, file_owner=None):
    """STATE_DIR/nobody as the install role makes it, with a state.json of ``content``."""
    directory = base / owner.pw_name
    directory.mkdir()
    os.chown(directory, owner.pw_uid, owner.pw_gid)
    if content is not None:
        path = directory / 'state.json'
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        owner_of_file = file_owner or owner
        os.chown(path, owner_of_file.pw_uid, owner_of_file.pw_gid)
    return directory


DB_STATE = {'twzrd_db_health': {'last_run': NOW - 3600, 'sizes': {'app': [[NOW - 86400, 1000], [NOW - 3600, 2000]]}},
            'twzrd_vacuum': {'last_run': NOW - 7200, 'runs': [{'t': NOW - 7200, 'db': 'app', 'vacuumed': 2}]},
            'alerting': {'db_health:app': {'last_run': NOW - 3600, 'alerts': {'dead_rows|public.t': {
                'check': 'dead_rows', 'subject': 'public.t', 'level': 'warning', 'since': NOW - 3600,
                'message': 'many\ndead rows\u2028here', 'remediation': 'vacuum'}}}}}


@needs_root
def test_another_users_state_is_found_and_merged(tmp_path):
    user_dir(tmp_path, DB_STATE)
    (tmp_path / 'reports').mkdir()
    others = job_states.discover(str(tmp_path / 'state.json'))
    assert [(o['user'], o['warning']) for o in others] == [('nobody', None)]
    own = {'alerting': {'alerts': {'last_run': NOW - 60, 'alerts': {}}, 'health': {'last_run': NOW - 600}}}
    view = job_states.merged(own, others, ('twzrd_health', 'twzrd_db_health', 'twzrd_vacuum'))
    assert view['twzrd_db_health']['sizes']['app'][-1] == [NOW - 3600, 2000]
    assert view['twzrd_vacuum']['runs'][0]['vacuumed'] == 2 and view['twzrd_health'] == {}
    opened = health.other_jobs_alerts(view['alerting'], own_job='health')
    assert [(a['job'], a['check']) for a in opened] == [('db_health:app', 'dead_rows')]
    assert opened[0]['message'] == 'many?dead rows?here'  # one line, whatever the other user wrote
    assert job_states.source_summary(others)[0]['jobs'] == ['db_health:app']


def test_the_freshest_copy_of_a_section_wins():
    old = {'twzrd_db_health': {'last_run': 10, 'sizes': {'old': []}}, 'alerting': {'db_health:app': {'last_run': 10}}}
    new = {'twzrd_db_health': {'last_run': 20, 'sizes': {'new': []}}, 'alerting': {'db_health:app': {'last_run': 20}}}
    view = job_states.merged(old, [{'data': new}], ('twzrd_db_health',))
    assert view['twzrd_db_health']['sizes'] == {'new': []} and view['alerting']['db_health:app']['last_run'] == 20


@needs_root
@pytest.mark.parametrize('case', ['symlink', 'file_owner', 'dir_owner', 'fifo', 'too_big', 'bad_shape', 'dir_symlink'])
def test_what_root_refuses_to_believe(tmp_path, case):
    secret = tmp_path / 'secret.json'
    secret.write_text(json.dumps(DB_STATE))
    if case == 'dir_symlink':
        target = tmp_path / 'elsewhere'
        target.mkdir()
        os.chown(target, NOBODY.pw_uid, NOBODY.pw_gid)
        os.symlink(str(target), str(tmp_path / 'nobody'))
    elif case == 'dir_owner':
        directory = tmp_path / 'nobody'
        directory.mkdir()
        (directory / 'state.json').write_text(json.dumps(DB_STATE))
        os.chown(directory / 'state.json', NOBODY.pw_uid, NOBODY.pw_gid)
    else:
        directory = user_dir(tmp_path)
        path = directory / 'state.json'
        if case == 'symlink':
            os.symlink(str(secret), str(path))
        elif case == 'file_owner':
            path.write_text(json.dumps(DB_STATE))  # root's file in nobody's directory: not nobody's record
        elif case == 'fifo':
            os.mkfifo(str(path))
        elif case == 'too_big':
            path.write_text(' ' * (state.MAX_STATE_BYTES + 10) + '{}')
        elif case == 'bad_shape':
            path.write_text(json.dumps({'twzrd_db_health': {'sizes': 'not a map'}, 'alerting': {'x': []}}))
        if case not in ('symlink', 'file_owner'):
            os.chown(str(path), NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)
    others = job_states.discover(str(tmp_path / 'state.json'))
    assert len(others) == 1 and others[0]['user'] == 'nobody', others
    assert others[0]['warning'], others
    assert 'twzrd_db_health' not in others[0]['data'] and not (others[0]['data'].get('alerting') or {})
    if case != 'bad_shape':
        assert others[0]['data'] == {}


def test_no_state_dir_means_no_other_users(tmp_path):
    assert job_states.discover(str(tmp_path / 'missing' / 'state.json')) == []


def test_week_checks_and_their_defaults():
    daily = {DAYS[1]: {'api': 40}, DAYS[3]: {'api': 30, 'worker': 2}, DAYS[5]: {'api': 24}, '2020-01-01': {'old': 99}}
    alerts = health_checks.check_report_crash_restarts(daily, DAYS, 5, 50)
    assert [(a['subject'], a['value'], a['level'], a['threshold']) for a in alerts] == [('api', 94, 'critical', 50)]
    assert 'docs/runbooks.md#an-app-crash-loops' in alerts[0]['remediation']
    errors = {'sources': [{'per_day': {DAYS[6]: 60}}, {'per_day': {DAYS[6]: 33, DAYS[2]: 4}}]}
    found = health_checks.check_log_errors_per_day(errors, DAYS, 10, 500)
    assert [(a['value'], a['level'], a['threshold']) for a in found] == [(93, 'warning', 10)]
    assert DAYS[6] in found[0]['message']
    assert health_checks.check_log_errors_per_day({'sources': []}, DAYS, 10, 500) == []


def test_subject_says_why():
    alerts = [{'check': 'report_crash_restarts', 'subject': 'api', 'level': 'critical'},
              {'check': 'log_errors_per_day', 'level': 'warning'},
              {'job': 'db_health:app', 'check': 'dead_rows', 'subject': 'public.t\nBcc: x', 'level': 'critical'}]
    title, body = notify.compose_report_message('health', 'web1', 'critical', [], alerts, [], NOW)
    assert title == 'twzrd health web1: CRITICAL: report_crash_restarts api, db_health:app dead_rows public.t?Bcc: x'
    assert '- WARNING log_errors_per_day: None' in body
    title, body = notify.compose_report_message('health', 'web1', 'ok', [], [], [], NOW)
    assert title == 'twzrd health web1: OK'


def new_host_report(health_state=None, db_state=None):
    weekly = trends.weekly_trends(health_state or {}, db_state or {}, {'sources': []}, NOW, SINCE, 7,
                                  {'load_warning': 8, 'load_critical': 12})
    report = {'period_days': 7, 'since': SINCE, 'host': {'hostname': 'new1'}, 'memory': {'used_percent': 30.0},
              'swap': {'present': False, 'used_percent': 0.0}, 'disks': {}, 'disk_forecast': {},
              'pm2': {'apps': []}, 'log_errors': {'total': 0, 'sources': []}, 'open_alerts': [], 'trends': weekly}
    return {'status': 'ok', 'alerts': [], 'report': report}


def two_days_of_samples():
    samples = []
    for t in range(NOW - 2 * 86400 + 3600, NOW, 3600):
        sample = history.hourly_sample(t, {'memory': {'used_percent': 40.0}, 'swap': {'used_percent': 0.0}},
                                       {'load1': 0.5, 'load5': 0.4, 'load15': 0.3}, {'/': {'used_bytes': 5 << 30}})
        samples = history.append_hourly(samples, sample)
    return samples


def test_a_new_host_draws_no_chart_and_says_what_is_collected():
    result = new_host_report()
    assert report_charts.render_charts(result['report']) == []
    page = report_html.render_page(result, [])
    assert '<img' not in page and 'New host: nothing recorded yet.' in page
    assert 'No hourly samples yet: the hourly alerts job records' in page
    assert 'No database sizes recorded yet: the daily db_health job' in page


def test_two_days_in_the_page_says_so_and_draws_only_what_it_has():
    result = new_host_report(health_state={'history': two_days_of_samples()})
    assert result['report']['trends']['collecting']['days'] == 2
    charts = report_charts.render_charts(result['report'])
    assert [name for name, dummy, dummy in charts] == ['load', 'memory', 'disk']
    page = report_html.render_page(result, charts)
    assert 'Collecting since 2026-11-29 13:00 UTC: 2 of 7 days so far.' in page
    assert page.count('<img') == 3 and 'No PM2 crash restarts this week.' in page
    assert 'No error lines in the logs over 7 days.' in page and 'id="chart-db_size"' not in page


def test_a_full_week_has_no_collecting_note():
    samples = []
    for t in range(NOW - 8 * 86400, NOW, 3600):
        samples = history.append_hourly(samples, {'t': t, 'load1': 0.1})
    assert trends.collecting(samples, NOW, 7) == {'since': NOW - 8 * 86400, 'days': 7, 'period_days': 7}
    result = new_host_report(health_state={'history': samples})
    assert 'id="collecting"' not in report_html.render_page(result, [])
