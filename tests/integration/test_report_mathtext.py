"""Issue 17 item 14: a name with ``$...$`` in it (a table, a database, a PM2 app, a log file, a disk path) is
text on the weekly page's charts, never matplotlib mathtext: ``$\\x$`` made matplotlib raise and the page was
dropped.  The page is rendered by the module the cron way and opened in a real headless chromium."""
import json
import time

from harness import run_module
from test_trends import CHARTS, QUIET, chromium, decoded_images, is_drawn, seed

HOSTILE = '$\\x$'


def renamed(value, names):
    """``value`` with every key or string equal to one of ``names`` (old -> new) renamed, at any depth."""
    if isinstance(value, dict):
        return dict((names.get(k, k), renamed(v, names)) for k, v in value.items())
    if isinstance(value, list):
        return [renamed(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


def test_names_with_dollar_signs_are_drawn_as_text(tmp_path):
    state, dummy = seed(tmp_path)
    names = {'app': 'app' + HOSTILE, 'public.events': 'public.ev' + HOSTILE, 'api': 'api' + HOSTILE,
             'worker': '$worker$'}
    with open(state) as handle:
        data = renamed(json.load(handle), names)
    with open(state, 'w') as handle:
        json.dump(data, handle)
    log = tmp_path / ('err%s.log' % HOSTILE)
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 3600))
    log.write_text('%s Error: connection refused\n' % stamp)
    report_dir = tmp_path / 'reports'
    rc, result, out, err = run_module('twzrd_health', dict(QUIET, mode='report', state_file=state,
                                                           report_dir=str(report_dir), log_paths=[str(log)]),
                                      tmp_path)
    assert rc == 0, (out, err)
    assert 'HTML report not rendered' not in out, out
    trends = result['report']['trends']
    assert 'app' + HOSTILE in trends['db_sizes'] and 'api' + HOSTILE in trends['pm2_restarts']
    page = open(result['report_file']).read()
    images = decoded_images(page)
    assert sorted(images) == sorted(CHARTS)
    assert all(is_drawn(img) for img in images.values()), [n for n, i in images.items() if not is_drawn(i)]
    dom = chromium('--user-data-dir=%s' % (tmp_path / 'profile'), '--virtual-time-budget=10000', '--dump-dom',
                   'file://%s' % result['report_file'])
    assert 'app$\\x$' in dom.stdout  # the name itself, as text, on the page
