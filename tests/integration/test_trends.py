"""Trends end to end (issue 12): forecasts from recorded history, the weekly HTML report opened
in a real headless chromium, the report mailed with its charts inline, the health playbook.

Modules run the cron way (harness.run_module) against the real disk of this machine; the
history they read is a recorded week (recorded_week.py) ending at the disk's real use now.
"""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import time

import pytest
from PIL import Image

from harness import ROOT, run_module
from pg_harness import seed_dead_rows
from receivers import SmtpReceiver
from recorded_week import recorded_state
from test_health_module import playbook

QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home',
         'include_system_log': False}
ARTIFACTS = os.path.join(ROOT, 'tests', 'output', 'trends')
CHARTS = ['load', 'memory', 'disk', 'db_size', 'dead_rows', 'pm2_restarts', 'errors']
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars']
SMTP_PASSWORD = 'SmtpTrendsPw-3kQ9zX'


def seed(tmp_path, days_to_full=10.0):
    """A state file with a recorded week; the disk series ends at / as it is now."""
    used, free = disk_now('/')
    now = time.time()
    path = tmp_path / 'state.json'
    path.write_text(json.dumps(recorded_state(now, '/', used, free, days_to_full=days_to_full)))
    return str(path), free


def disk_now(path):
    """(used, free) as psutil counts them: used = all blocks - free blocks; free = what non-root may use."""
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_bavail * stats.f_frsize


def forecast_alert(result):
    found = [a for a in result['alerts'] if a['check'] == 'disk_forecast']
    return found[0] if found else None


def test_disk_forecast_fires_escalates_and_clears(tmp_path):
    state, free = seed(tmp_path, days_to_full=10.0)
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=state), tmp_path)
    assert rc == 0, (out, err)
    alert = forecast_alert(result)
    assert alert and alert['level'] == 'warning' and alert['subject'] == '/' and alert['threshold'] == 14
    assert 9.5 < alert['value'] < 10.5, alert
    assert abs(alert['rate_bytes_per_day'] - free / 10.0) < 0.02 * free / 10.0
    fc = result['metrics']['disk_forecast']['/']
    assert abs(time.time() + fc['days_left'] * 86400 - fc['full_at']) < 120
    expected_day = time.strftime('%Y-%m-%d', time.gmtime(fc['full_at']))
    assert alert['full_date'] == expected_day and 'on %s' % expected_day in alert['message']
    assert alert['remediation'].startswith('Act before %s' % expected_day)
    assert fc['samples'] in (7 * 24, 7 * 24 + 1)  # the oldest sample sits on the window's edge
    assert any('disk / ' in line and 'full on %s' % expected_day in line for line in result['summary'])

    state, dummy = seed(tmp_path, days_to_full=2.0)  # the alert section stays: an escalation
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=state), tmp_path)
    assert forecast_alert(result)['level'] == 'critical' and forecast_alert(result)['threshold'] == 3

    data = json.loads(open(state).read())  # the growth stops: flat history, the alert resolves
    used_now = data['twzrd_health']['history'][-1]['disk']['/']
    for sample in data['twzrd_health']['history']:
        sample['disk']['/'] = used_now
    with open(state, 'w') as handle:
        json.dump(data, handle)
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=state), tmp_path)
    assert forecast_alert(result) is None and 'disk_forecast:/' in result['recovered'], result['alerts']


def decoded_images(page):
    """{chart name: PIL image} of every data: image of the page."""
    images = {}
    for name, payload in re.findall(r'id="chart-([a-z_0-9]+)"[^>]*src="data:image/png;base64,([^"]+)"', page):
        images[name] = Image.open(io.BytesIO(base64.b64decode(payload))).convert('RGB')
    return images


def is_drawn(image):
    """A chart with more than a white background and a frame: many colours, many non-white pixels."""
    colours = image.getcolors(maxcolors=1 << 20)
    pixels = image.size[0] * image.size[1]
    non_white = pixels - sum(count for count, rgb in colours if rgb == (255, 255, 255))
    return len(colours) > 20 and non_white > 0.02 * pixels


def chromium(*args, timeout=90):
    binary = shutil.which('chromium') or shutil.which('chromium-browser')
    if binary is None:
        pytest.fail('chromium is not installed: run scripts/install-system-deps.sh')
    return subprocess.run([binary] + CHROMIUM_FLAGS + list(args), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_weekly_html_report_from_a_recorded_week(tmp_path):
    state, dummy = seed(tmp_path)
    report_dir = tmp_path / 'reports'
    log = tmp_path / 'app-error.log'
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 3600))
    log.write_text(''.join('%s Error: connection refused to db %d\n' % (stamp, i) for i in range(3)))
    args = dict(QUIET, mode='report', state_file=state, report_dir=str(report_dir), report_keep=2,
                log_paths=[str(log)])
    (report_dir).mkdir()
    for old in ('twzrd-report-2026-01-01.html', 'twzrd-report-2026-01-08.html'):
        (report_dir / old).write_text('old')
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0, (out, err)

    # numbers: the report is built from the recorded week
    recorded = json.loads(open(state).read())
    trends = result['report']['trends']
    week = [h for h in recorded['twzrd_health']['history'] if h['t'] >= result['report']['since']]
    assert trends['hourly']['load1'] == [h['load1'] for h in week] and len(week) >= 7 * 24 - 1
    assert result['report']['load']['trend']['max'] == max(h['load1'] for h in week)
    assert trends['pm2_restarts'] == {'api': [1, 0, 2, 0, 0, 0, 0], 'worker': [0, 0, 1, 0, 0, 4, 0]}
    assert trends['db_sizes']['app'][-1][1] == recorded['twzrd_db_health']['sizes']['app'][-1][1]
    assert trends['dead_rows']['app']['public.events'][-1] == 20000 + 3000 * 29
    assert [a['check'] for a in result['report']['open_alerts']] == ['dead_rows']
    assert trends['errors'][0]['per_day'][-1] + trends['errors'][0]['per_day'][-2] == 3
    assert forecast_alert(result)['level'] == 'warning'

    # the file: one page, kept report_keep deep, all charts drawn
    page_path = result['report_file']
    pages = [name for name in os.listdir(str(report_dir)) if name.endswith('.html')]  # beside the text report
    assert sorted(pages) == sorted(['twzrd-report-2026-01-08.html', os.path.basename(page_path)])
    assert (os.stat(page_path).st_mode & 0o777) == 0o640
    page = open(page_path).read()
    assert 'src="http' not in page and 'cid:' not in page  # self-contained
    images = decoded_images(page)
    assert sorted(images) == sorted(CHARTS)
    assert all(is_drawn(img) for img in images.values()), [n for n, i in images.items() if not is_drawn(i)]
    assert 'max %.2f' % result['report']['load']['trend']['max'] in page
    assert 'Run the twzrd.ops vacuum playbook.' in page
    assert '<td>3</td><td><code>Error: connection refused to db 0</code>' in page  # grouped: one row, 3 lines
    assert 'api: 3, worker: 5' in page
    assert '<td>app</td><td>1</td><td>1</td><td>0</td><td>151000</td><td>5.2</td>' in page  # the vacuum runs
    assert '<h2>The week in numbers</h2><pre>' in page

    # the browser: every image decoded, and the screenshot shows them
    checker = tmp_path / 'check.html'
    checker.write_text(page.replace('</body>', '<script>window.addEventListener("load", function () {'
                                    'var ok = 0, im = document.images; for (var i = 0; i < im.length; i++) {'
                                    'if (im[i].complete && im[i].naturalWidth > 0) ok++; }'
                                    'document.body.setAttribute("data-images-ok", ok + "/" + im.length);});'
                                    '</script></body>'))
    dom = chromium('--user-data-dir=%s' % (tmp_path / 'profile1'), '--virtual-time-budget=10000',
                   '--dump-dom', 'file://%s' % checker)
    assert 'data-images-ok="7/7"' in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / 'report.png'
    proc = chromium('--user-data-dir=%s' % (tmp_path / 'profile2'), '--window-size=900,3400',
                    '--screenshot=%s' % shot, 'file://%s' % page_path)
    assert shot.exists(), proc.stderr[-2000:]
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(str(shot), os.path.join(ARTIFACTS, 'weekly-report.png'))  # kept as a test artifact
    screenshot = Image.open(str(shot)).convert('RGB')
    assert screenshot.size == (900, 3400)
    colours = screenshot.getcolors(maxcolors=1 << 20)
    assert len(colours) > 200  # text, status badge, seven drawn charts: not a blank page
    load_blue = sum(count for count, rgb in colours if abs(rgb[0] - 0x1f) < 12 and abs(rgb[1] - 0x77) < 12
                    and abs(rgb[2] - 0xb4) < 12)
    assert load_blue > 500  # the chart lines made it to the screen


def test_report_is_mailed_as_html_with_inline_charts(tmp_path):
    smtp = SmtpReceiver(SMTP_PASSWORD).start()
    try:
        state, dummy = seed(tmp_path)
        args = dict(QUIET, mode='report', state_file=state, notify={'urls': [smtp.url()]})
        rc, result, out, err = run_module('twzrd_health', args, tmp_path)
        assert rc == 0 and result['notification']['sent'] == 1, (out, err, result.get('notification'))
        assert 'report_file' not in result  # no report_dir: mailed only
    finally:
        smtp.stop()
    message = smtp.messages[0]
    html = message.get_body(preferencelist=('html',)).get_content()
    refs = re.findall(r'src="cid:([a-z_0-9]+\.png)"', html)
    # no error lines this week (no log scanned): no errors chart, a sentence instead (issue 18 item 4)
    assert refs == ['%s.png' % c for c in CHARTS if c != 'errors']
    assert 'id="not-drawn-errors">No error lines in the logs over 7 days.' in html
    parts = dict((p.get('Content-ID', '').strip('<>'), p) for p in message.walk() if p.get_content_type() == 'image/png')
    assert sorted(parts) == sorted(refs), list(parts)
    for part in parts.values():
        assert part.get_content_disposition() == 'inline'
        assert is_drawn(Image.open(io.BytesIO(part.get_content())).convert('RGB'))
    assert SMTP_PASSWORD not in html


def test_alerts_run_never_imports_matplotlib(tmp_path):
    """The hourly job must not pay for plotting: matplotlib is not even imported."""
    probe = tmp_path / 'sitecustomize.py'
    probe.write_text('import atexit, sys\n'
                     'atexit.register(lambda: open(%r, "w").write(str("matplotlib" in sys.modules)))\n'
                     % str(tmp_path / 'imported'))
    env = {'PYTHONPATH': '%s:%s' % (tmp_path, os.path.join(ROOT, '.build', 'collections'))}
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, state_file=str(tmp_path / 's.json')), tmp_path,
                                      env=env)
    assert rc == 0, err
    assert (tmp_path / 'imported').read_text() == 'False'


def test_health_playbook_writes_the_report_and_prints_the_week(tmp_path):
    seed(tmp_path)  # tmp_path/state.json: where playbook() points twzrd_state_file
    report_dir = tmp_path / 'reports'
    proc = playbook(tmp_path, 'health', '-e', 'twzrd_load_warning=1000', '-e', 'twzrd_load_critical=2000',
                    '-e', 'twzrd_report_dir=%s' % report_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [n for n in os.listdir(str(report_dir)) if n.endswith('.html')]
    assert re.search(u'load +[\u2581-\u2588 ]{42}  max', proc.stdout), proc.stdout
    assert 'disk_forecast' in proc.stdout or 'full on' in proc.stdout


def db_health(pg_cluster, db, tmp_path, **extra):
    args = dict(pg_cluster.conn_params(db), state_file=str(tmp_path / 'state.json'), **extra)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0, (out, err)
    return result


def test_db_size_forecast_against_the_data_directory_volume(pg_cluster, pg_db, tmp_path):
    """A real cluster: the volume comes from the server's data_directory; growth from the size history."""
    conn = pg_cluster.connect(pg_db)
    try:
        with conn.cursor() as cur:  # ~150 MB: rows under 2 kB are stored as they are (no TOAST compression)
            cur.execute("CREATE TABLE filler AS SELECT g AS id, repeat('x', 1900) AS pad "
                        "FROM generate_series(1, 80000) g")
        seed_dead_rows(conn, 'churn', 3000)
    finally:
        conn.close()
    first = db_health(pg_cluster, pg_db, tmp_path)
    fc = first['metrics']['db_size_forecast'][pg_db]
    assert fc['reason'].startswith('too few samples (1,'), fc
    state = json.loads((tmp_path / 'state.json').read_text())
    section = state['twzrd_db_health']
    assert list(section['dead_rows'][pg_db].values()) == [{'public.churn': 3000}]
    assert section['forecast'][pg_db] == fc

    # the database grew by a third of its size per day over the last two days
    size = first['metrics']['database_size'][pg_db]['bytes']
    rate = size // 3
    now = int(time.time())
    section['sizes'][pg_db] = [[now - 2 * 86400, size - 2 * rate], [now - 86400, size - rate]]
    (tmp_path / 'state.json').write_text(json.dumps(state))
    free = os.statvfs(pg_cluster.data).f_bavail * os.statvfs(pg_cluster.data).f_frsize
    expected_days = free / float(rate)
    if expected_days > 3000:
        pytest.fail('this test needs less than %d GB free on %s' % (rate * 3000 // 10 ** 9, pg_cluster.data))
    result = db_health(pg_cluster, pg_db, tmp_path, forecast_warning_days=3650, forecast_critical_days=3)
    fc = result['metrics']['db_size_forecast'][pg_db]
    assert abs(fc['rate_per_day'] - rate) < 0.01 * rate and abs(fc['days_left'] - expected_days) < 0.02 * expected_days
    alerts = [a for a in result['alerts'] if a['check'] == 'db_size_forecast']
    assert len(alerts) == 1 and alerts[0]['subject'] == pg_db and alerts[0]['level'] == 'warning'
    assert alerts[0]['threshold'] == 3650 and alerts[0]['full_date'] == fc['full_date']
    assert pg_cluster.data in alerts[0]['message'] and 'Act before %s' % fc['full_date'] in alerts[0]['remediation']
    assert result['metrics']['db_size_forecast']['postgres']['reason'].startswith('too few samples')

    unknown = db_health(pg_cluster, pg_db, tmp_path, data_volume=str(tmp_path / 'no-such-dir'))
    assert 'unknown' in unknown['metrics']['db_size_forecast'][pg_db]['reason']
    assert not [a for a in unknown['alerts'] if a['check'] == 'db_size_forecast']


def test_report_charts_what_the_real_db_jobs_recorded(pg_cluster, pg_db, tmp_path):
    """db_health and vacuum leave their history in the shared state file; the weekly report draws it."""
    conn = pg_cluster.connect(pg_db)
    try:
        seed_dead_rows(conn, 'churn', 4000)
    finally:
        conn.close()
    db_health(pg_cluster, pg_db, tmp_path)
    args = dict(pg_cluster.conn_params(pg_db), state_file=str(tmp_path / 'state.json'), tables=['public.churn'])
    rc, vacuumed, out, err = run_module('twzrd_vacuum', args, tmp_path)
    assert rc == 0 and vacuumed['metrics']['vacuumed'] == 1, (out, err)
    state = json.loads((tmp_path / 'state.json').read_text())
    run = state['twzrd_vacuum']['runs'][-1]
    assert run['db'] == pg_db and run['vacuumed'] == 1 and run['dead_rows_removed'] == 4000

    report_dir = tmp_path / 'reports'
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=str(tmp_path / 'state.json'),
                                                           report_dir=str(report_dir)), tmp_path)
    assert rc == 0, (out, err)
    trends = result['report']['trends']
    assert trends['dead_rows'][pg_db]['public.churn'][-1] == 4000
    assert trends['db_sizes'][pg_db][-1][1] > 0 and trends['vacuum_runs'][-1]['vacuumed'] == 1
    page = open(result['report_file']).read()
    assert '%s public.churn: 4000 dead rows on the last day' % pg_db in page
    assert '<td>%s</td><td>1</td><td>0</td><td>0</td><td>4000</td>' % pg_db in page


@pytest.mark.parametrize('module, args, expected', [
    ('twzrd_health', {'forecast_warning_days': 2, 'forecast_critical_days': 5},
     'forecast_critical_days (5.0) must be lower than forecast_warning_days (2.0)'),
    ('twzrd_health', {'forecast_days': 0}, 'forecast_days must be between 1 and 90, got 0'),
    ('twzrd_health', {'mode': 'report', 'report_keep': 0}, 'report_keep must be between 1 and 1000, got 0'),
    ('twzrd_db_health', {'forecast_days': 91}, 'forecast_days must be between 1 and 90, got 91'),
])
def test_bad_forecast_and_report_options_fail_clearly(tmp_path, module, args, expected):
    rc, result, out, err = run_module(module, dict(args, state_file=str(tmp_path / 's.json')), tmp_path)
    assert rc == 1 and expected in result['msg'] and 'Traceback' not in out + err
    assert not (tmp_path / 's.json').exists()


def test_unwritable_report_dir_is_a_warning_and_the_report_goes_on(tmp_path):
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('a file where the directory should be')
    args = dict(QUIET, mode='report', state_file='', report_dir=str(blocker / 'reports'))
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and result['summary'] and 'report_file' not in result, (out, err)
    assert 'HTML report not written to report_dir' in json.dumps(result['warnings'])


def test_check_mode_renders_and_writes_no_page(tmp_path):
    args = dict(QUIET, mode='report', state_file='', report_dir=str(tmp_path / 'reports'), _ansible_check_mode=True)
    rc, result, out, err = run_module('twzrd_health', args, tmp_path)
    assert rc == 0 and 'report_file' not in result and not (tmp_path / 'reports').exists(), (out, err)
