"""Report file names and retention (report/files.py), and the restart's summary lines."""
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import rollout as pm2_rollout
from ansible_collections.twzrd.ops.plugins.module_utils.report import files as report_file

WEEK = 1796601600  # 2026-12-07 00:00 UTC, a Monday


def test_names_are_dated_and_safe_for_any_database_name():
    assert report_file.file_name('health', WEEK) == 'health-2026-12-07T0000Z.txt'
    assert report_file.file_name('vacuum:shop', WEEK + 3 * 3600) == 'vacuum-shop-2026-12-07T0300Z.txt'
    name = report_file.file_name('vacuum:../etc/x y', WEEK)
    assert name == 'vacuum-.._etc_x_y-2026-12-07T0000Z.txt' and '/' not in name and ' ' not in name


def test_stale_keeps_the_newest_of_this_job_only():
    names = ['health-2026-11-%02dT0000Z.txt' % d for d in (2, 9, 16, 23, 30)] + [
        'health-2026-11-30T0000Z.txt.tmp', 'healthy-2026-11-02T0000Z.txt', 'vacuum-health-2026-11-02T0000Z.txt',
        'vacuum-shop-2026-11-04T0300Z.txt', 'twzrd-report-2026-11-30.html']
    assert report_file.stale(names, 'health', 2) == ['health-2026-11-%02dT0000Z.txt' % d for d in (2, 9, 16)]
    assert report_file.stale(names, 'vacuum:shop', 1) == []
    # a database whose name ends like another's date part is not confused with it
    assert report_file.stale(['vacuum-shop-2026-11-04T0300Z.txt'], 'vacuum:shop-2026', 0) == []


def test_restart_summary_lines():
    result = {'restarted': [{'app': 'api', 'strategy': 'reload', 'old_pids': [1, 2], 'new_pids': [3, 4],
                             'seconds_to_healthy': 2.7}],
              'failure': {'app': 'worker', 'step': 'errors', 'message': 'worker logged 1 new error line',
                          'evidence': {'error_lines': ['Error: db down']}},
              'untouched': ['web']}
    assert pm2_rollout.summary_lines(result) == [
        'restarted api (reload): pids 1,2 -> 3,4, healthy after 2.7s',
        'FAILED worker at step errors: worker logged 1 new error line',
        '  | Error: db down',
        'untouched: web']
    assert pm2_rollout.summary_lines({'restarted': [], 'failure': None}) == ['nothing to restart: PM2 runs no app']
