"""Notifications (issue 8): what they cost, how fast they go, how many a week sends.

1. A quiet hourly run (nothing to send) with ``notify`` configured, against the
   same run without ``notify`` (what notifications themselves add; target:
   under 10 % more wall time), and against the collection before notifications
   (git ref ``TWZRD_BENCH_BASELINE``, default the last commit before the report
   stage; that ratio also holds everything else merged since: history,
   forecasts, input validation), alternating, medians.
2. One message delivered to a local SMTP server (aiosmtpd) and a local JSON
   webhook together: the module run that sends it against the same quiet run.
3. A simulated week of hourly runs with one persistent warning: the real module,
   169 runs, the clock moved one hour back in the state file between runs.
   Target: 1 + reminders (one a day) + 1 resolved.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import COLLECTIONS, ROOT, collections_at, compare, ensure_collection_link, write_module_args

sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from receivers import HttpReceiver, SmtpReceiver  # noqa: E402  pylint: disable=wrong-import-position

BASELINE = os.environ.get('TWZRD_BENCH_BASELINE', 'df4466648e2beb38cc1665bba961696405dc5aec')
RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '9'))
MODULE = 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health'


def args_file(work, name, **args):
    return write_module_args(os.path.join(work, name + '.json'), args)


def common_args(work, name, **extra):
    os.makedirs(os.path.join(work, 'pm2'), exist_ok=True)
    args = {'mode': 'alerts', 'state_file': os.path.join(work, name + '-state.json'),
            'log_file': os.path.join(work, name + '.log'), 'pm2_home': os.path.join(work, 'pm2'),
            'disk_paths': ['/'], 'disk_warning': 99, 'disk_critical': 99.5, 'load_warning': 1000,
            'load_critical': 2000}
    args.update(extra)
    return args


def module_cmd(collections, path):
    return ['env', 'PYTHONPATH=%s' % collections, sys.executable, '-m', MODULE, path]


def quiet_cost(work, webhook, smtp):
    base = collections_at(BASELINE, work)
    notify = {'urls': [smtp.url(), webhook.url('token')]}
    before = args_file(work, 'before', **common_args(work, 'before'))
    off = args_file(work, 'off', **common_args(work, 'off'))
    after = args_file(work, 'after', **common_args(work, 'after', notify=notify))
    medians = compare('off', module_cmd(COLLECTIONS, off), 'after', module_cmd(COLLECTIONS, after), runs=RUNS,
                      cwd=ROOT)
    medians.update(compare('before', module_cmd(base, before), 'now', module_cmd(COLLECTIONS, after), runs=RUNS,
                           cwd=ROOT))
    assert not webhook.bodies, 'a quiet run sent something'
    return medians


def delivery_time(work, webhook, smtp):
    """Each 'send' run starts from a fresh state, so it has one new warning to tell."""
    notify = {'urls': [smtp.url(), webhook.url('token')]}
    used = json.loads(subprocess.run(module_cmd(COLLECTIONS, args_file(work, 'probe', **common_args(work, 'probe'))),
                                     capture_output=True, check=True).stdout)['metrics']['disks']['/']['used_percent']
    send_times, quiet_times = [], []
    for index in range(RUNS):
        state = os.path.join(work, 'send-%d-state.json' % index)
        send = args_file(work, 'send', **common_args(
            work, 'send', notify=notify, state_file=state, disk_warning=max(0.0, used - 5)))
        quiet = args_file(work, 'quiet', **common_args(work, 'quiet', notify=notify))
        for times, path in ((send_times, send), (quiet_times, quiet)):
            start = time.perf_counter()
            subprocess.run(module_cmd(COLLECTIONS, path), capture_output=True, check=True)
            times.append(time.perf_counter() - start)
    assert len(smtp.messages) == RUNS and len(webhook.bodies) == RUNS, (len(smtp.messages), len(webhook.bodies))
    return statistics.median(send_times), statistics.median(quiet_times), used


def simulated_week(work, webhook, used):
    notify = {'urls': [webhook.url('week')], 'repeat_hours': 24}
    state = os.path.join(work, 'week-state.json')
    warn = args_file(work, 'week-warn', **common_args(
        work, 'week', notify=notify, state_file=state, disk_warning=max(0.0, used - 5)))
    clear = args_file(work, 'week-clear', **common_args(work, 'week', notify=notify, state_file=state))
    before = len(webhook.bodies)
    for hour in range(7 * 24 + 1):
        subprocess.run(module_cmd(COLLECTIONS, warn if hour < 7 * 24 else clear), capture_output=True, check=True)
        with open(state) as handle:
            data = json.load(handle)
        for entry in data['alerting']['alerts']['alerts'].values():  # one hour passes
            for key in ('since', 'last_sent'):
                if key in entry:
                    entry[key] -= 3600
        with open(state, 'w') as handle:
            json.dump(data, handle)
    return [title.split(': ')[-1] + ' ' + message.split('\n')[2].split(' ')[0]
            for title, message in webhook.messages()[before:]]


def main():
    ensure_collection_link()
    work = tempfile.mkdtemp(prefix='twzrd-bench-notify-')
    webhook = HttpReceiver().start()
    smtp = SmtpReceiver('bench-password').start()
    try:
        medians = quiet_cost(work, webhook, smtp)
        send, quiet, used = delivery_time(work, webhook, smtp)
        week = simulated_week(work, webhook, used)
    finally:
        webhook.stop()
        smtp.stop()
    (o_wall, o_cpu), (a_wall, a_cpu) = medians['off'], medians['after']
    (b_wall, b_cpu), (n_wall, n_cpu) = medians['before'], medians['now']
    added = (a_wall / o_wall - 1) * 100
    print('quiet hourly run, median of %d (wall / CPU seconds):' % RUNS)
    print('  this collection, no notify          : %.3f s / %.3f s' % (o_wall, o_cpu))
    print('  this collection, notify configured  : %.3f s / %.3f s' % (a_wall, a_cpu))
    print('  added by notifications              : %+.1f %% wall (target < 10 %%)' % added)
    print('  before notifications (%s), alternated with the notify run: %.3f s / %.3f s vs %.3f s / %.3f s '
          '(%+.1f %% wall; everything merged since, not only notifications)'
          % (BASELINE[:10], b_wall, b_cpu, n_wall, n_cpu, (n_wall / b_wall - 1) * 100))
    print('one message to local SMTP + JSON webhook, median of %d: run that sends %.3f s, quiet run %.3f s, '
          'delivery %.3f s' % (RUNS, send, quiet, send - quiet))
    print('simulated week (169 hourly runs, one persistent warning, repeat_hours 24): %d messages: %s'
          % (len(week), ', '.join(week)))
    expected = 1 + 6 + 1
    print('  target: 1 new + 6 reminders + 1 resolved = %d' % expected)
    return 0 if added < 10 and len(week) == expected else 1


if __name__ == '__main__':
    sys.exit(main())
