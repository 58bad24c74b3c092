"""The weekly page (report/html.py) and the trends it reads (report/trends.py): pure parts."""
import calendar

from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html
from ansible_collections.twzrd.ops.plugins.module_utils.report import trends

NOW = calendar.timegm((2026, 12, 1, 12, 0, 0))
SINCE = NOW - 7 * 86400


def week(log_errors=None, health_state=None, db_state=None):
    return trends.weekly_trends(health_state or {}, db_state or {}, log_errors or {'sources': []}, NOW, SINCE, 7,
                                {'load_warning': 8, 'load_critical': 12})


def result(alerts=(), open_alerts=(), log_errors=None, **trend_args):
    log_errors = log_errors or {'total': 0, 'sources': []}
    report = {
        'period_days': 7, 'since': SINCE, 'host': {'hostname': 'web<1>'},
        'memory': {'used_percent': 40.0}, 'swap': {'present': False, 'used_percent': 0.0},
        'disks': {'/': {'used_bytes': 10, 'free_bytes': 90, 'total_bytes': 100, 'used_percent': 10.0}},
        'disk_forecast': {'/': {'reason': 'not growing'}}, 'pm2': {'apps': []}, 'log_errors': log_errors,
        'open_alerts': list(open_alerts), 'trends': week(log_errors=log_errors, **trend_args),
    }
    return {'status': 'warning' if alerts else 'ok', 'alerts': list(alerts), 'report': report}


CHARTS = [(name, 'title of %s' % name, b'\x89PNG-' + name.encode()) for name in report_html.CAPTIONS]


def test_page_escapes_what_comes_from_the_host_and_embeds_images():
    alert = {'check': 'log_errors', 'level': 'warning', 'message': '<script>alert(1)</script>',
             'remediation': 'read "the" logs & fix'}
    page = report_html.render_page(result(alerts=[alert]), CHARTS)
    assert '<script>' not in page and '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert 'read &quot;the&quot; logs &amp; fix' in page and 'web&lt;1&gt;' in page
    assert page.count('src="data:image/png;base64,') == len(CHARTS) and 'cid:' not in page
    assert 'WARNING</span>' in page


def test_mail_version_points_at_inline_attachments():
    page = report_html.render_page(result(), CHARTS, report_html.cid_uri)
    assert 'src="cid:load.png"' in page and 'data:' not in page
    assert 'None: all checks are ok.' in page


def test_open_alerts_of_other_jobs_are_listed_with_their_job():
    other = {'job': 'db_health:app', 'check': 'dead_rows', 'subject': 'public.t', 'level': 'warning',
             'message': 'many dead rows', 'remediation': 'vacuum it'}
    page = report_html.render_page(result(open_alerts=[other]), CHARTS)
    assert '(db_health:app job)' in page and 'What to do: vacuum it' in page


def test_trends_per_day_and_top_messages():
    health_state = {'pm2_restarts': history.add_counts({}, NOW - 86400, {'api': 2})}
    errors = {'total': 3, 'sources': [{'source': '/var/log/app.log', 'errors': 3, 'top': [
        {'count': 3, 'message': 'Error: boom'}], 'per_day': {'2026-12-01': 1, '2026-11-30': 2}}]}
    res = result(log_errors=errors, health_state=health_state)
    weekly = res['report']['trends']
    assert weekly['days'][0] == '2026-11-25' and weekly['days'][-1] == '2026-12-01'
    assert weekly['pm2_restarts'] == {'api': [0, 0, 0, 0, 0, 2, 0]}
    assert weekly['errors'][0]['per_day'] == [0, 0, 0, 0, 0, 2, 1]
    page = report_html.render_page(res, CHARTS)
    assert 'Crash restarts this week: api: 2.' in page
    assert '<td>3</td><td><code>Error: boom</code></td>' in page


def test_forecast_text():
    assert forecast.forecast_text(None) == 'no forecast'
    assert forecast.forecast_text({'reason': 'not growing'}) == 'no forecast: not growing'
    fc = {'days_left': 9.5, 'full_date': '2026-12-10', 'rate_per_day': 1288490188}
    assert forecast.forecast_text(fc) == 'full on 2026-12-10 (9.5 days) at +1.2 GB/day'


def test_only_the_newest_pages_are_kept():
    names = ['twzrd-report-2026-11-%02d.html' % d for d in (3, 10, 17, 24)] + ['notes.txt', 'twzrd-report-x.png']
    assert report_html.stale_pages(names, 2) == ['twzrd-report-2026-11-03.html', 'twzrd-report-2026-11-10.html']
    assert report_html.page_name(NOW) == 'twzrd-report-2026-12-01.html'
