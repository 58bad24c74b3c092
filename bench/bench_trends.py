"""What trends cost (issue 12), each against a baseline run side by side:

- the hourly alerts run with a full history (31 days of hourly samples: the bound, plus the disk
  forecast over it) against the same run without a state file;
- the weekly report with the HTML page (matplotlib, seven charts) against the text-only report;
- the size of the state file with that full history.
"""
import json
import os
import sys
import tempfile
import time

from bench.common import COLLECTIONS, ROOT, compare, ensure_collection_link, write_module_args

RUNS = 5


def full_history_state(path):
    """31 days of hourly samples, as the alerts job leaves them (state/history.py's bound)."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.twzrd.ops.plugins.module_utils.state import history  # pylint: disable=import-outside-toplevel
    now = int(time.time())
    samples = []
    for hour in range(history.HOURLY_DAYS * 24, 0, -1):
        t = now - hour * 3600
        memory = {'memory': {'used_percent': 55.5}, 'swap': {'used_percent': 3.25}}
        load = {'load1': 1.23, 'load5': 1.01, 'load15': 0.87}
        samples = history.append_hourly(samples, history.hourly_sample(
            t, memory, load, {'/': {'used_bytes': 10 ** 10 + hour * 10 ** 6}}))
    with open(path, 'w') as handle:
        json.dump({'version': 1, 'twzrd_health': {'history': samples}}, handle)


def module_cmd(work, name, args):
    path = write_module_args(os.path.join(work, '%s.json' % name), args)
    return [sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health', path]


def main():
    ensure_collection_link()
    work = tempfile.mkdtemp(prefix='twzrd-bench-trends-')
    state = os.path.join(work, 'state.json')
    full_history_state(state)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    base = {'pm2_home': os.path.join(work, 'pm2'), 'load_warning': 1000, 'load_critical': 2000}
    hourly = compare('no state', module_cmd(work, 'bare', dict(base, state_file='')),
                     'full history', module_cmd(work, 'full', dict(base, state_file=state)),
                     runs=RUNS, env=env, cwd=ROOT)
    report = dict(base, mode='report', state_file=state, include_system_log=False)
    weekly = compare('text report', module_cmd(work, 'text', report),
                     'HTML report', module_cmd(work, 'html', dict(report, report_dir=os.path.join(work, 'r'))),
                     runs=RUNS, env=env, cwd=ROOT)
    print('median of %d runs (wall / CPU seconds):' % RUNS)
    for label, medians in (('alerts', hourly), ('report', weekly)):
        (a_label, a), (b_label, b) = sorted(medians.items(), key=lambda item: item[1][0])
        print('  %-7s %-13s %.3f s / %.3f s' % (label, a_label, a[0], a[1]))
        ratios = (b[0] / a[0], b[1] / a[1])
        print('  %-7s %-13s %.3f s / %.3f s  (%.2fx wall, %.2fx CPU)' % ((label, b_label, b[0], b[1]) + ratios))
    pages = [os.path.join(work, 'r', n) for n in os.listdir(os.path.join(work, 'r'))]
    print('  state file with 31 days of hourly samples: %d bytes' % os.path.getsize(state))
    print('  HTML page: %d bytes' % os.path.getsize(pages[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
